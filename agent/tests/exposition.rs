//! What the agent serves, checked by the real consumers: a Prometheus server scraping it,
//! promtool and the Python reference OpenMetrics parser reading it, and node_exporter
//! reporting the same host values.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use rmq_testkit::expo::value;
use rmq_testkit::{Cluster, ManagedProcess, free_port, http};
use support::{Agent, fast_config};

const WAIT: Duration = Duration::from_secs(60);

/// rocketmq-exporter names that break Prometheus conventions, kept for its dashboards.
const EXPORTER_COMPAT_NAMES: [&str; 3] = [
    "rocketmq_brokeruntime_put_message_size_total",
    "rocketmq_brokeruntime_putmessage_times_total",
    "rocketmq_group_count",
];

async fn agent_with_data() -> (Agent, String) {
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    let agent = Agent::start(fast_config(cluster.broker.addr())).await;
    let body = agent
        .wait_for("broker and host families", WAIT, |b| {
            value(b, "rocketmq_broker_up", &[]) == Some(1.0) && value(b, "node_load1", &[]).is_some()
        })
        .await;
    (agent, body)
}

fn fetch(addr: SocketAddr, accept: Option<&str>) -> http::HttpResponse {
    http::get(addr, "/metrics", accept).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_negotiation_and_reference_parsers() {
    let (agent, _) = agent_with_data().await;
    let addr = agent.addr;
    let (om, text) = tokio::task::spawn_blocking(move || {
        (fetch(addr, Some("application/openmetrics-text; version=1.0.0,text/plain;q=0.5")), fetch(addr, None))
    })
    .await
    .unwrap();
    assert!(om.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    assert!(om.body.ends_with("# EOF\n"));
    assert!(text.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));

    // The OpenMetrics output through the reference parser (Python prometheus_client).
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
                  fams = list(p(sys.stdin.read()))\nprint(len(fams), sum(len(f.samples) for f in fams))\n";
    let mut py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    py.stdin.take().unwrap().write_all(om.body.as_bytes()).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "OpenMetrics parser rejected the exposition: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts = String::from_utf8_lossy(&out.stdout);
    let families: usize = counts.split_whitespace().next().unwrap().parse().unwrap();
    assert!(families > 100, "{counts}");

    // The classic text output through promtool. Its lint flags names we keep on purpose:
    // node_exporter's camelCase ones (node_memory_MemTotal_bytes …) and three
    // rocketmq-exporter names that dashboards depend on. Anything else fails.
    let mut pt = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    pt.stdin.take().unwrap().write_all(text.body.as_bytes()).unwrap();
    let out = pt.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let problems: Vec<&str> = report
        .lines()
        .filter(|l| !l.contains("should be written in 'snake_case' not 'camelCase'"))
        .filter(|l| !EXPORTER_COMPAT_NAMES.iter().any(|n| l.starts_with(&format!("{n} "))))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(problems.is_empty(), "promtool: {problems:#?}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_and_queries_the_agent() {
    let (agent, _) = agent_with_data().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: rmq\n    static_configs:\n      - targets: ['{}']\n", agent.addr),
    )
    .unwrap();
    let prom_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let args: Vec<String> = vec![
        format!("--config.file={}", dir.path().join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address={prom_addr}"),
    ];
    let _prom = ManagedProcess::spawn(
        "prometheus",
        std::path::Path::new("/usr/bin/prometheus"),
        &args,
        dir.path(),
        &[],
        dir.path().join("prometheus.log"),
    )
    .unwrap();
    let query = move |q: &str| {
        let path = format!("/api/v1/query?query={q}");
        move || -> anyhow::Result<Option<String>> {
            let r = http::get(prom_addr, &path, None)?;
            // A result with a value means the series was scraped and stored.
            Ok((r.status == 200 && r.body.contains("\"value\":[")).then_some(r.body))
        }
    };
    let up = tokio::task::spawn_blocking(move || {
        rmq_testkit::wire::wait_for("prometheus scraping the agent", WAIT, query("up%7Bjob%3D%22rmq%22%7D%3D%3D1"))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(up.contains("\"job\":\"rmq\""), "{up}");
    for q in [
        "rocketmq_broker_up",
        "node_cpu_seconds_total",
        "rocketmq_broker_put_latency_seconds_bucket",
        "rmq_agent_build_info",
    ] {
        let body =
            tokio::task::spawn_blocking(move || rmq_testkit::wire::wait_for(q, WAIT, query(q))).await.unwrap().unwrap();
        assert!(body.contains(&format!("\"__name__\":\"{q}\"")) || body.contains("\"value\":["), "{q}: {body}");
    }
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_values_agree_with_node_exporter() {
    let (agent, _) = agent_with_data().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let ne_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _ne = ManagedProcess::spawn(
        "node_exporter",
        std::path::Path::new("/usr/bin/prometheus-node-exporter"),
        &[format!("--web.listen-address={ne_addr}")],
        dir.path(),
        &[],
        dir.path().join("node_exporter.log"),
    )
    .unwrap();
    let ne = tokio::task::spawn_blocking(move || {
        rmq_testkit::wire::wait_for("node_exporter", WAIT, || {
            Ok(http::get(ne_addr, "/metrics", None).ok().filter(|r| r.status == 200))
        })
    })
    .await
    .unwrap()
    .unwrap()
    .body;
    let ours = agent.scrape().await;

    // Exact: values the kernel reports as constants.
    for (name, labels) in [
        ("node_memory_MemTotal_bytes", &[][..]),
        ("node_memory_SwapTotal_bytes", &[]),
        ("node_boot_time_seconds", &[]),
        ("node_filefd_maximum", &[]),
        ("node_filesystem_size_bytes", &[("mountpoint", "/")]),
        ("node_filesystem_files", &[("mountpoint", "/")]),
    ] {
        let (a, b) = (value(&ours, name, labels), value(&ne, name, labels));
        assert!(a.is_some(), "{name} missing from the agent");
        assert_eq!(a, b, "{name} {labels:?}");
    }
    // Counters: within what can change between the two scrapes.
    for (name, labels, tolerance) in [
        ("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")][..], 5.0),
        ("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "user")], 5.0),
        ("node_context_switches_total", &[], 1e6),
    ] {
        let a = value(&ours, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} missing from the agent"));
        let b = value(&ne, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} missing from node_exporter"));
        assert!((a - b).abs() <= tolerance, "{name} {labels:?}: agent {a} vs node_exporter {b}");
    }
    // Every network device and disk node_exporter reports, we report too, with close values.
    for (name, tolerance) in [
        ("node_network_receive_bytes_total", 5e7),
        ("node_network_transmit_packets_total", 1e5),
        ("node_disk_reads_completed_total", 1e4),
        ("node_disk_written_bytes_total", 1e9),
    ] {
        let theirs = rmq_testkit::expo::all(&ne, name, &[]);
        assert!(!theirs.is_empty(), "node_exporter reports no {name}");
        for line in theirs {
            let dev = &line.labels.iter().find(|(k, _)| k == "device").unwrap().1;
            let a = value(&ours, name, &[("device", dev)])
                .unwrap_or_else(|| panic!("{name} device={dev} missing from the agent"));
            assert!((a - line.value).abs() <= tolerance, "{name} {dev}: agent {a} vs node_exporter {}", line.value);
        }
    }
    // Memory that moves slowly: within 5 %.
    let (a, b) = (
        value(&ours, "node_memory_MemAvailable_bytes", &[]).unwrap(),
        value(&ne, "node_memory_MemAvailable_bytes", &[]).unwrap(),
    );
    assert!((a - b).abs() / b < 0.05, "MemAvailable agent {a} vs node_exporter {b}");
    agent.stop().await;
}
