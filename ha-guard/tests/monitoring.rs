//! The shipped alerting rules and dashboard: promtool checks and unit-tests the rules, and
//! every metric name the rules and the dashboard use is exported by rmq-agent or
//! rmq-ha-guard, running here against the real broker with each feature exercised.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rmq_agent::config::{Config, GuardKey, GuardListener, RemoteWriteEndpoint};
use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::fastjson::{self, Value};
use rmq_protocol::request::{CommandHeader as _, CreateTopicRequestHeader};
use rmq_protocol::sign::{SigningKey, ha_v1};
use rmq_protocol::{RequestCode, ResponseCode};
use rmq_testkit::{Cluster, http, wire};
use support::{Guard, SECRET, free_addr, key_file};

fn monitoring() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../monitoring")
}

/// Metric names in a PromQL expression (identifiers with the families' prefixes).
fn names_in(expr: &str, out: &mut BTreeSet<String>) {
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let starts_word = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let rest = &expr[i..];
        if starts_word && ["rocketmq_", "rmq_", "node_", "process_"].iter().any(|p| rest.starts_with(p)) {
            let len = rest.bytes().take_while(|c| c.is_ascii_alphanumeric() || *c == b'_').count();
            out.insert(rest[..len].to_owned());
            i += len;
        } else {
            i += 1;
        }
    }
}

/// `expr:` values of the rules file (one line or an indented block).
fn rule_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string(monitoring().join("alerts.yml")).unwrap();
    let mut out = BTreeSet::new();
    let mut in_expr: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(ind) = in_expr {
            if indent > ind && !line.trim().is_empty() {
                names_in(line, &mut out);
                continue;
            }
            in_expr = None;
        }
        if let Some(rest) = line.trim_start().strip_prefix("expr:") {
            names_in(rest, &mut out);
            in_expr = Some(indent);
        }
    }
    out
}

fn walk(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(_) => {
            for (k, val) in v.members() {
                if matches!(k.as_str(), Some("expr" | "query"))
                    && let Some(s) = val.as_str()
                {
                    names_in(s, out);
                }
                walk(val, out);
            }
        }
        Value::Array(_) => v.items().iter().for_each(|x| walk(x, out)),
        _ => {}
    }
}

fn dashboard_names() -> BTreeSet<String> {
    let text = std::fs::read(monitoring().join("grafana-dashboard.json")).unwrap();
    let mut out = BTreeSet::new();
    walk(&fastjson::parse(&text).unwrap(), &mut out);
    out
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let out = Command::new("promtool").arg("check").arg("rules").arg(monitoring().join("alerts.yml")).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let out = Command::new("promtool")
        .arg("test")
        .arg("rules")
        .arg("alerts.test.yml")
        .current_dir(monitoring())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Every alert has a firing case in the tests and a runbook section.
    let rules = std::fs::read_to_string(monitoring().join("alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(monitoring().join("alerts.test.yml")).unwrap();
    let runbook = std::fs::read_to_string(monitoring().join("../docs/runbook.md")).unwrap();
    let alerts: Vec<&str> = rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).collect();
    assert!(alerts.len() >= 20, "{alerts:?}");
    for a in alerts {
        assert!(
            tests.contains(&format!("alertname: {a}\n        exp_alerts:\n          - exp_labels")),
            "{a}: no firing test"
        );
        assert!(runbook.contains(&format!("## {a}\n")), "{a}: no runbook section");
        assert!(rules.contains(&format!("runbook.md#{}\"", a.to_lowercase())), "{a}: runbook link");
    }
}

/// A synthetic master for the HA guard: reads the first report, sends one transfer block.
fn fake_master() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut report = [0u8; 8];
                if s.read_exact(&mut report).is_ok() {
                    let mut block = rmq_protocol::ha::TransferHeader { phy_offset: 0, body_size: 4 }.encode().to_vec();
                    block.extend_from_slice(b"data");
                    let _ = s.write_all(&block);
                    let mut sink = [0u8; 64];
                    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_rules_and_dashboard_use_is_exported() {
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ops-1");
    std::fs::write(&key, "ops-secret").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A topic with a lagging group.
    let broker = cluster.broker.addr();
    tokio::task::spawn_blocking(move || {
        rmq_testkit::fixtures::lagging_group(broker, "itest-mon-topic", "itest-mon-group", 4, 1)
    })
    .await
    .unwrap()
    .unwrap();

    // The agent with every feature on: collectors, name server, a guard, the probe, a push.
    let guard_addr = free_addr();
    let mut cfg = Config::default();
    cfg.http.listen = "127.0.0.1:0".parse().unwrap();
    cfg.broker.addr = cluster.broker.addr().into();
    cfg.broker.interval = Duration::from_secs(1);
    cfg.broker.timeout = Duration::from_secs(1);
    cfg.host.interval = Duration::from_secs(1);
    cfg.namesrv.addr = Some(cluster.namesrv.addr().into());
    cfg.guard.keys = vec![GuardKey::new("ops-1", key.clone())];
    cfg.guard.listeners = vec![GuardListener::new("broker", guard_addr, cluster.broker.addr())];
    // The name-server egress (no broker dials it here: its families start at 0).
    cfg.namesrv_egress = rmq_agent::egress::EgressConfig {
        key_id: "ops-1".into(),
        key_file: Some(key.clone()),
        routes: vec![rmq_agent::egress::EgressRoute {
            listen: free_addr(),
            upstream: free_addr().to_string().parse().unwrap(),
            target: None,
        }],
        // No broker connects here: whose processes are relayed does not matter.
        allow_any_local_user: true,
        ..rmq_agent::egress::EgressConfig::default()
    };
    cfg.put_probe.enabled = true;
    cfg.put_probe.interval = Duration::from_millis(200);
    cfg.remote_write.interval = Duration::from_secs(1);
    cfg.remote_write.endpoints = vec![RemoteWriteEndpoint {
        timeout: Duration::from_secs(1),
        max_backoff: Duration::from_secs(1),
        ..RemoteWriteEndpoint::new("down", format!("http://{}/api/v1/write", free_addr()), dir.path().join("spool"))
    }];
    cfg.validate().unwrap();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let (stop_tx, stop) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(rmq_agent::app::run(
        cfg,
        async move {
            let _ = stop.await;
        },
        Some(ready_tx),
        None,
    ));
    let agent_http = ready.await.unwrap();
    // Through the guard: a data request, and an unsigned admin request (refused).
    let via_guard = Client::new(ClientConfig::new(guard_addr.to_string()));
    let offset_of: rmq_protocol::ExtFields = [("topic", "TBW102"), ("queueId", "0")].into_iter().collect();
    let _ = via_guard.request(RequestCode::GET_MAX_OFFSET, Some(offset_of), &[], None).await.unwrap();
    let refused = via_guard
        .request(
            RequestCode::UPDATE_AND_CREATE_TOPIC,
            Some(CreateTopicRequestHeader::new("x", 1).to_ext_fields()),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(refused.code(), ResponseCode::NO_PERMISSION);

    // rmq-ha-guard with a tunnel carrying a report and a block, and a refused connection.
    let hdir = tempfile::tempdir().unwrap();
    let hkey = key_file(hdir.path(), "ha-1", SECRET);
    let accept = free_addr();
    let ha = Guard::start(
        hdir.path(),
        "accept",
        &format!(
            "[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n[[accept]]\nlisten = \"{accept}\"\nupstream = \"{}\"\nbroker_name = \"broker-a\"\n",
            hkey.display(),
            fake_master()
        ),
    );
    // Families that need a broker state this test cannot create on demand, and why.
    let conditional: [(&str, &str); 9] = [
        ("rmq_put_probe_failures_total", "series appear per response code at the first failure"),
        (
            "rocketmq_brokeruntime_send_threadpoolqueue_headwait_timemills",
            "Java brokers report sendThreadPoolQueueHeadWaitTimeMills; RocketMQ-Rust 1.0 does not",
        ),
        (
            "rocketmq_brokeruntime_pull_threadpoolqueue_headwait_timemills",
            "Java brokers report pullThreadPoolQueueHeadWaitTimeMills; RocketMQ-Rust 1.0 does not",
        ),
        ("rocketmq_topic_retry_offset", "a group's %RETRY% topic exists only after a consumer sends a message back"),
        ("rocketmq_topic_dlq_offset", "a %DLQ% topic exists only after a message exhausts its retries"),
        ("rocketmq_replication_lag_bytes", "5.x masters answering GET_BROKER_HA_STATUS (907) with a connected slave"),
        ("rocketmq_broker_commitlog_diff", "a master with a slave registered (agent/tests/replication_diff.rs)"),
        (
            "rocketmq_schedule_overdue_seconds",
            "a delay level that has held a message (agent/tests/schedule_and_reads.rs)",
        ),
        (
            "rocketmq_broker_put_latency_seconds_bucket",
            "filled minute by minute from the broker's putMessageDistributeTime",
        ),
    ];
    // Every family the rules and the dashboard use, but those.
    let wanted: BTreeSet<String> =
        rule_names().union(&dashboard_names()).filter(|n| !conditional.iter().any(|(c, _)| c == *n)).cloned().collect();
    tokio::task::spawn_blocking(move || {
        let now =
            u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis())
                .unwrap();
        let hello = ha_v1::encode_hello("ha-1", &SigningKey::new(SECRET.as_bytes()), now, [9; 16], "broker-a").unwrap();
        let mut t = TcpStream::connect(accept).unwrap();
        t.write_all(&hello).unwrap();
        let mut answer = [0u8; ha_v1::ACCEPT_LEN];
        t.read_exact(&mut answer).unwrap();
        t.write_all(&4i64.to_be_bytes()).unwrap();
        let mut block = [0u8; 16];
        t.read_exact(&mut block).unwrap();
        let mut bad = TcpStream::connect(accept).unwrap();
        bad.write_all(b"99999999").unwrap();
        // The slave's report (offset 4) was read: the tunnel's series exist.
        ha.wait_value("tunnel inspected", "rmq_ha_guard_slave_ack_offset", &[], |v| v == 4.0);
        ha.wait_value("refusal counted", "rmq_ha_guard_rejected_total", &[("reason", "bad_magic")], |v| v == 1.0);
        // Each collector publishes on its own schedule, and a cycle that fails part-way (1 s
        // timeouts here) leaves families out of that snapshot: wait until both processes
        // export every family at once rather than judge one scrape.
        let all_there = wire::wait_for("every family the rules and the dashboard use", Duration::from_secs(60), || {
            let agent_body = http::get(agent_http, "/metrics", None)?.body;
            let ha_body = http::get(ha.http, "/metrics", None)?.body;
            let features = [
                "rmq_put_probe_latency_seconds_bucket",
                "rocketmq_consumer_lag_seconds",
                "rmq_guard_admin_requests_total",
                "rocketmq_namesrv_up",
                "rmq_remote_write_queue_oldest_age_seconds",
                "rmq_namesrv_egress_answers_total",
            ];
            let absent: Vec<&str> = features.into_iter().filter(|n| !agent_body.contains(n)).collect();
            let mut exported = BTreeSet::new();
            for l in rmq_testkit::expo::samples(&agent_body).into_iter().chain(rmq_testkit::expo::samples(&ha_body)) {
                exported.insert(l.name);
            }
            let missing: Vec<&String> = wanted.iter().filter(|n| !exported.contains(*n)).collect();
            anyhow::ensure!(
                absent.is_empty() && missing.is_empty(),
                "features not exported: {absent:?}; used by the rules or the dashboard but not exported: {missing:?}"
            );
            Ok(Some(()))
        });
        drop(t);
        if let Err(e) = all_there {
            panic!("{e:#}");
        }
    })
    .await
    .unwrap();

    // The conditional ones are real families of the agent (named in its collectors' source).
    let mut src = String::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/src/collector")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                src.push_str(&std::fs::read_to_string(p).unwrap());
            }
        }
    }
    for (n, why) in conditional {
        let base = n
            .trim_end_matches("_bucket")
            .trim_end_matches("_total")
            .trim_end_matches("_seconds")
            .trim_end_matches("_bytes");
        assert!(src.contains(&format!("\"{base}")), "{n} ({why}) is not an agent family");
    }
    stop_tx.send(()).unwrap();
    agent.await.unwrap().unwrap();
}
