//! Routes that only their broker can change, against a real RocketMQ-Rust 1.0 broker and name
//! server: the broker's `namesrvAddr` is the egress port of the agent on its host, which signs
//! its route writes with the host's key; the name server sits behind a guard that requires
//! them signed, by a key scoped to `broker-a` at its address. Clients route through the
//! guarded name server and produce and consume. From other connections, unsigned
//! registrations and unregistrations of `broker-a`, the same signed by `broker-b`'s key, and
//! a local process asking the egress itself to move `broker-a` are all refused, and the route
//! stays as the broker registered it. After an agent restart and a name-server restart the
//! route comes back by the broker's own next registration (its period is 10 s here).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
#![recursion_limit = "512"]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use rmq_agent::commands::admin::{Signer, sign};
use rmq_agent::config::{Config, GuardKey, GuardListener, GuardRole};
use rmq_agent::egress::{EgressConfig, EgressRoute};
use rmq_agent::guard::Scheme;
use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::request::CreateTopicRequestHeader;
use rmq_protocol::sign::SigningKey;
use rmq_protocol::{ExtFields, RequestCode, ResponseCode};
use rmq_testkit::{Broker, BrokerOptions, Namesrv, RocketmqBins, free_port, free_port_run};
use support::clients::{self, Clients};

const WAIT: Duration = Duration::from_secs(60);
const HOST_A: &[u8] = b"broker-a-host-secret";
const HOST_B: &[u8] = b"broker-b-host-secret";
const HOST_A_SLAVE: &[u8] = b"broker-a-slave-host-secret";
/// The address broker-a's slave would register (nothing listens there).
const SLAVE_A: &str = "127.0.0.1:2";

fn key_file(dir: &Path, name: &str, secret: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, secret).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn own_uid() -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap())
}

fn signer(key_id: &str, secret: &[u8]) -> Signer {
    Signer { scheme: Scheme::RmqHmacV1, key_id: key_id.into(), key: SigningKey::new(secret), target: None }
}

/// Where the name server lists `name`: broker id → address.
fn listed(ns: &Namesrv, name: &str) -> Option<std::collections::BTreeMap<i64, String>> {
    let info = ns.cluster_info().ok()?;
    info.broker_addr_table.get(name).map(|b| b.broker_addrs.clone().into_iter().collect())
}

/// Polls the name server (protocol readiness, not a sleep) until `cond` holds on how it lists
/// broker-a, or fails with the last view.
async fn until(ns: &Namesrv, what: &str, cond: impl Fn(Option<&std::collections::BTreeMap<i64, String>>) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = tokio::task::block_in_place(|| listed(ns, "broker-a"));
        if cond(now.as_ref()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}; broker-a is listed as {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A request to `addr`, signed by `by` if given; returns the response code and remark.
async fn send(
    addr: &str,
    code: RequestCode,
    fields: &[(&str, &str)],
    body: &[u8],
    by: Option<&Signer>,
) -> (ResponseCode, String) {
    let mut ext: ExtFields = fields.iter().copied().collect();
    if let Some(s) = by {
        sign(s, code, &mut ext, body).unwrap();
    }
    let client = Client::new(ClientConfig::new(addr));
    let r = client.request(code, Some(ext), body, Some(Duration::from_secs(10))).await.unwrap();
    (r.code(), r.header.remark.clone().unwrap_or_default())
}

fn registration(name: &str, addr: &str) -> Vec<(&'static str, String)> {
    vec![
        ("brokerName", name.to_owned()),
        ("brokerAddr", addr.to_owned()),
        ("clusterName", "TestCluster".to_owned()),
        ("haServerAddr", addr.to_owned()),
        ("brokerId", "0".to_owned()),
        ("compressed", "false".to_owned()),
        ("bodyCrc32", "0".to_owned()),
    ]
}

const REGISTER_BODY: &[u8] = br#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"hijacked":{"topicName":"hijacked","readQueueNums":1,"writeQueueNums":1,"perm":6}},"dataVersion":{"stateVersion":0,"timestamp":1,"counter":99}},"filterServerList":[]}"#;

fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

fn metric(body: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    rmq_testkit::expo::value(body, name, labels).unwrap_or(0.0)
}

/// Produces 10 messages to `topic` and consumes them, with clients that know only `ns`.
async fn produce_and_consume(ns: &str, topic: &str) {
    let clients = Clients::start("egress-client-test");
    let mut producer = clients.producer("egress-pg", ns, false).await;
    clients::send(&mut producer, topic, 10).await;
    let (mut consumer, consumed) = clients.consumer("egress-cg", ns, topic).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while consumed.load(Ordering::SeqCst) < 10 {
        assert!(tokio::time::Instant::now() < deadline, "consumed {} of 10", consumed.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    consumer.shutdown().await;
    producer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_only_their_broker_can_change() {
    let bins = RocketmqBins::locate().unwrap();
    let mut ns = tokio::task::block_in_place(|| Namesrv::start(&bins)).unwrap();
    let (guard_port, egress_port, broker_port) =
        (free_port().unwrap(), free_port().unwrap(), free_port_run(2, 1).unwrap());
    let guard = format!("127.0.0.1:{guard_port}");
    let egress = format!("127.0.0.1:{egress_port}");
    let broker_a = format!("127.0.0.1:{broker_port}");
    let keys = tempfile::tempdir().unwrap();

    // The name server's host: a guard requiring signed route writes, with each broker host's
    // key scoped to its broker and address.
    let mut ns_cfg = Config::default();
    ns_cfg.broker.enabled = false;
    ns_cfg.host.enabled = false;
    ns_cfg.guard.keys = vec![
        GuardKey {
            brokers: Some(vec![format!("broker-a@{broker_a}#0")]),
            ..GuardKey::new("broker-a-host", key_file(keys.path(), "a", HOST_A))
        },
        GuardKey {
            brokers: Some(vec!["broker-b@127.0.0.1:1#0".into()]),
            ..GuardKey::new("broker-b-host", key_file(keys.path(), "b", HOST_B))
        },
        // broker-a's slave host: its key speaks for broker-a at the slave's address, id 1.
        GuardKey {
            brokers: Some(vec![format!("broker-a@{SLAVE_A}#1")]),
            ..GuardKey::new("broker-a-slave-host", key_file(keys.path(), "a-slave", HOST_A_SLAVE))
        },
    ];
    ns_cfg.guard.listeners = vec![GuardListener {
        role: GuardRole::Namesrv,
        ..GuardListener::new("namesrv", guard.parse().unwrap(), ns.addr())
    }];
    let ns_agent = support::Agent::start(ns_cfg).await;

    // The broker's host: the egress, one port for the one name server.
    let mut host_cfg = Config::default();
    host_cfg.broker.enabled = false;
    host_cfg.host.enabled = false;
    host_cfg.namesrv_egress = EgressConfig {
        key_id: "broker-a-host".into(),
        key_file: Some(key_file(keys.path(), "egress", HOST_A)),
        routes: vec![EgressRoute { listen: egress.parse().unwrap(), upstream: guard.parse().unwrap(), target: None }],
        // The broker runs as the test's user: only that user's processes are relayed.
        allowed_uids: Some(vec![own_uid()]),
        ..EgressConfig::default()
    };
    let host_agent = support::Agent::start(host_cfg.clone()).await;

    // The broker knows only the egress; Broker::start returns once the name server lists it.
    let options = BrokerOptions {
        namesrv_addr: Some(egress.clone()),
        listen_port: Some(broker_port),
        extra_broker_toml: "registerNameServerPeriod = 10000".into(),
        ..BrokerOptions::default()
    };
    let mut broker = tokio::task::block_in_place(|| Broker::start(&bins, &ns, options)).unwrap();
    let registered = |v: Option<&std::collections::BTreeMap<i64, String>>| {
        v.is_some_and(|m| m.len() == 1 && m.get(&0) == Some(&broker_a))
    };
    until(&ns, "broker-a registered through the egress", registered).await;
    // Metrics are published every second: wait for them rather than scrape once.
    host_agent
        .wait_for("the registration signed and accepted", WAIT, |b| {
            metric(b, "rmq_namesrv_egress_requests_total", &[("code", "REGISTER_BROKER"), ("outcome", "signed")]) >= 1.0
                && metric(b, "rmq_namesrv_egress_answers_total", &[("code", "REGISTER_BROKER"), ("outcome", "success")])
                    >= 1.0
        })
        .await;
    ns_agent
        .wait_for("the registration allowed by the guard", WAIT, |b| {
            metric(b, "rmq_guard_route_changes_total", &[("code", "REGISTER_BROKER"), ("outcome", "allowed")]) >= 1.0
        })
        .await;
    // The broker's real configuration goes through the egress, and the start-time check says so.
    let conf = broker.config_path();
    assert_eq!(rmq_agent::egress::broker_conf::check(&conf, &[egress.parse().unwrap()]), Ok(vec![]));
    let e = rmq_agent::egress::broker_conf::check(&conf, &[guard.parse().unwrap()]).unwrap_err();
    assert!(e.contains("not an egress port"), "{e}");

    // A topic created on the broker reaches the name server (signed), and clients that know
    // only the guarded name server produce and consume.
    let topic = "egress-topic";
    Client::new(ClientConfig::new(broker.addr().to_string()))
        .call(&CreateTopicRequestHeader::new(topic, 4), &[])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = Client::new(ClientConfig::new(guard.clone()))
            .request(RequestCode::GET_ROUTEINFO_BY_TOPIC, Some([("topic", topic)].into_iter().collect()), &[], None)
            .await
            .unwrap();
        if r.code() == ResponseCode::SUCCESS {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no route for {topic}: {:?}", r.header.remark);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    produce_and_consume(&guard, topic).await;
    // The consumer's retry topic is registered by the broker on its own (217): signed, its body
    // read for the broker it names, allowed.
    ns_agent
        .wait_for("a topic registration signed and allowed", WAIT, |b| {
            metric(b, "rmq_guard_route_changes_total", &[("code", "REGISTER_TOPIC_IN_NAMESRV"), ("outcome", "allowed")])
                >= 1.0
        })
        .await;

    // From other connections: unsigned, signed by another broker's key, or signed by the
    // egress itself for a local process — none moves or removes broker-a.
    let elsewhere = "127.0.0.1:9";
    let hijack = registration("broker-a", elsewhere);
    let mut unregister = registration("broker-a", &broker_a);
    unregister.truncate(5);
    let b_at_a = registration("broker-b", &broker_a);
    let host_b = signer("broker-b-host", HOST_B);
    // The slave's key, its own address, but id 0: the name server keeps a broker's addresses
    // by id, so this would replace the master's (RocketMQ-Rust and Java alike).
    let slave_as_master = registration("broker-a", SLAVE_A);
    let mut slave_unregisters_master = registration("broker-a", SLAVE_A);
    slave_unregisters_master.truncate(5);
    let host_a_slave = signer("broker-a-slave-host", HOST_A_SLAVE);
    type Attempt<'a> = (&'a str, RequestCode, Vec<(&'static str, &'a str)>, &'a [u8], Option<&'a Signer>, &'a str);
    let attempts: Vec<Attempt<'_>> = vec![
        (&guard, RequestCode::REGISTER_BROKER, as_refs(&hijack), REGISTER_BODY, None, "missing"),
        (&guard, RequestCode::UNREGISTER_BROKER, as_refs(&unregister), b"", None, "missing"),
        (&guard, RequestCode::REGISTER_BROKER, as_refs(&hijack), REGISTER_BODY, Some(&host_b), "out_of_scope"),
        (&guard, RequestCode::UNREGISTER_BROKER, as_refs(&unregister), b"", Some(&host_b), "out_of_scope"),
        (&guard, RequestCode::REGISTER_BROKER, as_refs(&b_at_a), REGISTER_BODY, Some(&host_b), "out_of_scope"),
        (
            &guard,
            RequestCode::REGISTER_BROKER,
            as_refs(&slave_as_master),
            REGISTER_BODY,
            Some(&host_a_slave),
            "out_of_scope",
        ),
        (
            &guard,
            RequestCode::UNREGISTER_BROKER,
            as_refs(&slave_unregisters_master),
            b"",
            Some(&host_a_slave),
            "out_of_scope",
        ),
        // A local process on the broker's host gets the host's signature, but not another
        // address for its broker.
        (&egress, RequestCode::REGISTER_BROKER, as_refs(&hijack), REGISTER_BODY, None, "out_of_scope"),
    ];
    for (to, code, f, body, by, reason) in attempts {
        let (got, remark) = send(to, code, &f, body, by).await;
        assert_eq!(got, ResponseCode::NO_PERMISSION, "{code} to {to}: {remark}");
        assert!(remark.contains(reason), "{code} to {to}: {remark}");
        until(&ns, "broker-a unchanged", registered).await;
    }
    assert_eq!(tokio::task::block_in_place(|| listed(&ns, "broker-b")), None);
    ns_agent
        .wait_for("every attempt counted by the guard", WAIT, |b| {
            let routes = |code: &str, outcome: &str| {
                metric(b, "rmq_guard_route_changes_total", &[("code", code), ("outcome", outcome)])
            };
            routes("REGISTER_BROKER", "missing") >= 1.0
                && routes("UNREGISTER_BROKER", "missing") >= 1.0
                && routes("REGISTER_BROKER", "out_of_scope") >= 4.0
                && routes("UNREGISTER_BROKER", "out_of_scope") >= 2.0
        })
        .await;
    host_agent
        .wait_for("the egress's refused answer counted", WAIT, |b| {
            metric(b, "rmq_namesrv_egress_answers_total", &[("code", "REGISTER_BROKER"), ("outcome", "refused")]) >= 1.0
        })
        .await;

    // The agent on the broker's host restarts: the name server drops the route with the
    // connection, and the broker's next registration (within one period) brings it back.
    host_agent.stop().await;
    until(&ns, "broker-a dropped with its connection", |v| v.is_none()).await;
    let host_agent = support::Agent::start(host_cfg).await;
    until(&ns, "broker-a registered again after the agent restart", registered).await;

    // The name server restarts empty: the broker's next registration fills it again.
    tokio::task::block_in_place(|| ns.restart(&bins)).unwrap();
    until(&ns, "broker-a registered again after the name-server restart", registered).await;

    // The broker's shutdown unregistration is signed too, and accepted.
    tokio::task::block_in_place(|| broker.stop());
    host_agent
        .wait_for("the shutdown unregistration signed and accepted", WAIT, |b| {
            metric(b, "rmq_namesrv_egress_answers_total", &[("code", "UNREGISTER_BROKER"), ("outcome", "success")])
                >= 1.0
        })
        .await;
    until(&ns, "broker-a unregistered", |v| v.is_none()).await;
    host_agent.stop().await;
    ns_agent.stop().await;
}

#[tokio::test]
async fn the_agent_refuses_to_start_when_the_broker_goes_around_the_egress() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "host-a", HOST_A);
    let broker_conf = dir.path().join("broker.conf");
    // One entry is the name server itself: that registration would go unsigned.
    std::fs::write(&broker_conf, "brokerName=broker-a\nnamesrvAddr=127.0.0.1:19876;10.0.0.9:9876\n").unwrap();
    let agent_toml = dir.path().join("agent.toml");
    std::fs::write(
        &agent_toml,
        format!(
            "[namesrv_egress]\nkey_id = \"host-a\"\nkey_file = \"{}\"\nbroker_config = \"{}\"\nallowed_uids = [{}]\n\
             [[namesrv_egress.routes]]\nlisten = \"127.0.0.1:19876\"\nupstream = \"10.0.0.9:9876\"\n",
            key.display(),
            broker_conf.display(),
            own_uid()
        ),
    )
    .unwrap();
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rmq-agent"))
            .arg("check-config")
            .arg(&agent_toml)
            .output()
            .unwrap()
    };
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("namesrv_egress.broker_config") && err.contains("10.0.0.9:9876, not an egress port"), "{err}");
    // Loading it fails the same way, and an agent given it in-process does not start.
    let e = Config::load(&agent_toml).unwrap_err().to_string();
    assert!(e.contains("namesrv_egress.broker_config") && e.contains("not an egress port"), "{e}");
    let mut c = Config::default();
    c.broker.enabled = false;
    c.host.enabled = false;
    c.http.listen = "127.0.0.1:0".parse().unwrap();
    c.namesrv_egress = EgressConfig {
        key_id: "host-a".into(),
        key_file: Some(key),
        broker_config: Some(broker_conf.clone()),
        allowed_uids: Some(vec![own_uid()]),
        routes: vec![EgressRoute {
            listen: "127.0.0.1:19876".parse().unwrap(),
            upstream: "10.0.0.9:9876".parse().unwrap(),
            target: None,
        }],
        ..EgressConfig::default()
    };
    let e = rmq_agent::app::run(c, std::future::pending(), None, None).await.unwrap_err();
    assert!(e.to_string().contains("not an egress port"), "{e}");
    // Listing only the egress port passes.
    std::fs::write(&broker_conf, "namesrvAddr=127.0.0.1:19876\n").unwrap();
    let out = check();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn only_the_brokers_user_gets_its_route_writes_signed() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port().unwrap());
    let mut cfg = Config::default();
    cfg.broker.enabled = false;
    cfg.host.enabled = false;
    cfg.namesrv_egress = EgressConfig {
        key_id: "host-a".into(),
        key_file: Some(key_file(dir.path(), "host-a", HOST_A)),
        // Not this process's user; nothing listens upstream either: nothing is dialled.
        routes: vec![EgressRoute {
            listen: listen.parse().unwrap(),
            upstream: format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap(),
            target: None,
        }],
        allowed_uids: Some(vec![own_uid() + 1]),
        ..EgressConfig::default()
    };
    let agent = support::Agent::start(cfg).await;
    let r = Client::new(ClientConfig::new(listen))
        .request(
            RequestCode::REGISTER_BROKER,
            Some(as_refs(&registration("broker-a", "127.0.0.1:1")).into_iter().collect()),
            REGISTER_BODY,
            Some(Duration::from_secs(10)),
        )
        .await;
    assert!(r.is_err(), "the connection is closed unanswered: {r:?}");
    agent
        .wait_for("the refusal counted", WAIT, |b| {
            metric(b, "rmq_namesrv_egress_connection_errors_total", &[("reason", "peer_uid")]) == 1.0
                && metric(b, "rmq_namesrv_egress_connections_total", &[("outcome", "upstream_unreachable")]) == 0.0
                && metric(b, "rmq_namesrv_egress_requests_total", &[("outcome", "signed")]) == 0.0
        })
        .await;
    agent.stop().await;
}
