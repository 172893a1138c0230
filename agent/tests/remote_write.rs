//! Remote-write against real receivers: Prometheus (`--web.enable-remote-write-receiver`) and
//! VictoriaMetrics from Debian. The agent pushes; the receivers' query APIs must return the
//! series with the right labels and values; a receiver outage loses nothing, even across an
//! agent restart; a full spool drops its oldest and says so; an unusable spool stops the start.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rmq_agent::config::{Config, RemoteWriteEndpoint};
use rmq_protocol::fastjson::{self, Value};
use rmq_testkit::{ManagedProcess, free_port, http, wire};
use support::Agent;

const WAIT: Duration = Duration::from_secs(90);

fn addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()))
}

/// A remote-write receiver process.
struct Receiver {
    process: Option<ManagedProcess>,
    addr: SocketAddr,
    dir: std::path::PathBuf,
    kind: &'static str,
    extra: Vec<String>,
    scheme: &'static str,
}

impl Receiver {
    fn prometheus(dir: &Path) -> Self {
        Self::prometheus_with(dir, Vec::new(), "http")
    }

    fn prometheus_with(dir: &Path, extra: Vec<String>, scheme: &'static str) -> Self {
        std::fs::write(dir.join("prometheus.yml"), "global:\n  scrape_interval: 1m\n").unwrap();
        let mut r = Self { process: None, addr: addr(), dir: dir.into(), kind: "prometheus", extra, scheme };
        r.start();
        r
    }

    fn victoria_metrics(dir: &Path) -> Self {
        Self::victoria_metrics_with(dir, Vec::new())
    }

    fn victoria_metrics_with(dir: &Path, extra: Vec<String>) -> Self {
        let mut r =
            Self { process: None, addr: addr(), dir: dir.into(), kind: "victoria-metrics", extra, scheme: "http" };
        r.start();
        r
    }

    fn start(&mut self) {
        let d = &self.dir;
        let (program, mut args, ready) = match self.kind {
            "prometheus" => (
                "/usr/bin/prometheus",
                vec![
                    "--web.enable-remote-write-receiver".to_owned(),
                    format!("--config.file={}", d.join("prometheus.yml").display()),
                    format!("--storage.tsdb.path={}", d.join("prom-data").display()),
                    format!("--web.listen-address={}", self.addr),
                ],
                "/-/ready",
            ),
            _ => (
                "/usr/bin/victoria-metrics",
                vec![
                    format!("-httpListenAddr={}", self.addr),
                    format!("-storageDataPath={}", d.join("vm-data").display()),
                    // Answer queries up to now (the default hides the last 30 s).
                    "-search.latencyOffset=0s".to_owned(),
                ],
                "/health",
            ),
        };
        args.extend(self.extra.iter().cloned());
        let p =
            ManagedProcess::spawn(self.kind, Path::new(program), &args, d, &[], d.join(format!("{}.log", self.kind)))
                .unwrap();
        let a = self.addr;
        let started = if self.scheme == "https" {
            // The plain-HTTP probe cannot speak TLS: ready is the port accepting.
            wire::wait_for(self.kind, WAIT, || Ok(std::net::TcpStream::connect(a).ok().map(drop)))
        } else {
            wire::wait_for(self.kind, WAIT, || Ok(http::get(a, ready, None).ok().filter(|r| r.status == 200).map(drop)))
        };
        if let Err(e) = started {
            panic!("{e:#}\n{}", p.log_tail(20));
        }
        self.process = Some(p);
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    fn write_url(&self) -> String {
        format!("{}://{}/api/v1/write", self.scheme, self.addr)
    }

    /// `/api/v1/query` result vector (instant query, or a range selector's raw samples).
    fn query(&self, q: &str) -> Vec<Value> {
        let path = format!("/api/v1/query?query={}", encode(q));
        let r = http::get(self.addr, &path, None).unwrap();
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        let v = fastjson::parse(r.body.as_bytes()).unwrap();
        v.get("data").and_then(|d| d.get("result")).map(|r| r.items().to_vec()).unwrap_or_default()
    }

    fn wait_query(&self, what: &str, q: &str, cond: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let r = wire::wait_for(what, WAIT, || {
            let res = self.query(q);
            Ok(cond(&res).then_some(res))
        });
        match r {
            Ok(v) => v,
            Err(e) => panic!("{}: {e:#}", self.kind),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_-.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

fn label<'a>(series: &'a Value, name: &str) -> Option<&'a str> {
    series.get("metric")?.get(name)?.as_str()
}

fn instant_value(series: &Value) -> f64 {
    series.get("value").and_then(|v| v.items().get(1)).and_then(Value::as_str).unwrap().parse().unwrap()
}

fn endpoint(name: &str, url: String, spool: &Path) -> RemoteWriteEndpoint {
    RemoteWriteEndpoint {
        max_samples_per_request: 2000,
        timeout: Duration::from_secs(5),
        max_backoff: Duration::from_secs(2),
        ..RemoteWriteEndpoint::new(name, url, spool.join(name))
    }
}

/// Host metrics and the agent's own, pushed every second with external labels.
fn push_config(endpoints: Vec<RemoteWriteEndpoint>) -> Config {
    let mut c = Config::default();
    c.broker.enabled = false;
    c.host.interval = Duration::from_secs(1);
    c.remote_write.interval = Duration::from_secs(1);
    c.remote_write.external_labels =
        [("cluster".to_owned(), "c1".to_owned()), ("broker".into(), "broker-a".into())].into();
    c.remote_write.endpoints = endpoints;
    c.validate().unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_and_victoria_metrics_receive_the_series_and_stale_markers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let (prom, vm) =
        tokio::task::spawn_blocking(move || (Receiver::prometheus(&d), Receiver::victoria_metrics(&d))).await.unwrap();
    // A broker too, so that a deleted topic's series must end (staleness markers).
    let cluster = tokio::task::spawn_blocking(rmq_testkit::Cluster::shared).await.unwrap();
    let mut cfg =
        push_config(vec![endpoint("prom", prom.write_url(), dir.path()), endpoint("vm", vm.write_url(), dir.path())]);
    let fast = support::fast_config(cluster.broker.addr());
    cfg.broker = fast.broker;
    let agent = Agent::start(cfg).await;
    let topic = "rw-stale-topic";
    let client =
        rmq_agent::remoting::Client::new(rmq_agent::remoting::ClientConfig::new(cluster.broker.addr().to_string()));
    client.call(&rmq_protocol::request::CreateTopicRequestHeader::new(topic, 2), &[]).await.unwrap();

    let host = rmq_agent::push::hostname();
    let checks = tokio::task::spawn_blocking(move || {
        for r in [&prom, &vm] {
            // The agent's build info, with the external labels and the host label.
            let s =
                r.wait_query("build info pushed", "rmq_agent_build_info{cluster=\"c1\",broker=\"broker-a\"}", |v| {
                    !v.is_empty()
                });
            assert_eq!(label(&s[0], "host"), Some(host.as_str()), "{}", r.kind);
            assert_eq!(label(&s[0], "version"), Some(env!("CARGO_PKG_VERSION")));
            assert_eq!(instant_value(&s[0]), 1.0);
            // Host metrics under node_exporter names, and the pusher's own counters.
            r.wait_query("host metrics pushed", "node_memory_MemTotal_bytes", |v| {
                v.first().is_some_and(|s| instant_value(s) > 0.0)
            });
            r.wait_query("sent counter pushed", "rmq_remote_write_samples_total{outcome=\"sent\"}", |v| {
                v.len() == 2 && v.iter().all(|s| instant_value(s) > 0.0)
            });
        }
        (prom, vm)
    })
    .await
    .unwrap();
    let (prom, vm) = checks;
    let q = format!("rocketmq_producer_offset{{topic=\"{topic}\"}}");
    let q2 = q.clone();
    let (prom, vm) = tokio::task::spawn_blocking(move || {
        prom.wait_query("topic series in Prometheus", &q2, |v| !v.is_empty());
        vm.wait_query("topic series in VictoriaMetrics", &q2, |v| !v.is_empty());
        (prom, vm)
    })
    .await
    .unwrap();
    // Delete the topic: its series disappear from /metrics and get one staleness marker, so
    // Prometheus stops returning them at once instead of after its 5-minute lookback.
    let del = rmq_protocol::request::DeleteTopicRequestHeader { topic: topic.into() };
    client.call(&del, &[]).await.unwrap();
    tokio::task::spawn_blocking(move || {
        prom.wait_query("deleted topic's series ended (stale marker)", &q, <[Value]>::is_empty);
        drop(vm);
    })
    .await
    .unwrap();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_minute_receiver_outage_and_an_agent_restart_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let mut prom = tokio::task::spawn_blocking(move || Receiver::prometheus(&d)).await.unwrap();
    let cfg = push_config(vec![endpoint("prom", prom.write_url(), dir.path())]);
    let agent = Agent::start(cfg.clone()).await;
    let q_up = "rmq_agent_build_info{cluster=\"c1\"}";
    let prom = tokio::task::spawn_blocking(move || {
        prom.wait_query("first samples", q_up, |v| !v.is_empty());
        prom.stop();
        prom
    })
    .await
    .unwrap();
    let queued = |min_age: f64| {
        move |b: &str| {
            rmq_testkit::expo::value(b, "rmq_remote_write_queue_oldest_age_seconds", &[("endpoint", "prom")])
                .is_some_and(|v| v >= min_age)
        }
    };
    // One minute into the outage, restart the agent: the spool carries over.
    agent.wait_for("a minute of queued samples", Duration::from_secs(120), queued(60.0)).await;
    agent.stop().await;
    let agent = Agent::start(cfg).await;
    agent.wait_for("two minutes of queued samples", Duration::from_secs(120), queued(120.0)).await;
    let mut prom = prom;
    let prom = tokio::task::spawn_blocking(move || {
        prom.start();
        prom
    })
    .await
    .unwrap();
    agent
        .wait_for("spool drained", WAIT, |b| {
            rmq_testkit::expo::value(b, "rmq_remote_write_queue_requests", &[("endpoint", "prom")]) == Some(0.0)
        })
        .await;
    let body = agent.scrape().await;
    let sent = rmq_testkit::expo::value(&body, "rmq_remote_write_samples_total", &[("outcome", "sent")]).unwrap();
    assert!(sent > 0.0);
    for outcome in ["failed", "dropped_size", "dropped_age", "dropped_write"] {
        assert_eq!(
            rmq_testkit::expo::value(&body, "rmq_remote_write_samples_total", &[("outcome", outcome)]),
            Some(0.0),
            "{outcome}"
        );
    }
    agent.stop().await;
    // Every second of the outage is there: the raw samples of the last 4 minutes have no gap
    // longer than the agent's restart plus an interval or two.
    tokio::task::spawn_blocking(move || {
        let r = prom.query("rmq_agent_build_info{cluster=\"c1\"}[4m]");
        assert_eq!(r.len(), 1, "one series");
        let ts: Vec<f64> = r[0].get("values").unwrap().items().iter().map(|p| p.items()[0].as_f64().unwrap()).collect();
        let span = ts.last().unwrap() - ts.first().unwrap();
        let max_gap = ts.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        assert!(span >= 120.0, "samples cover {span} s");
        assert!(max_gap <= 5.0, "a gap of {max_gap} s in the pushed samples");
        assert!(ts.len() as f64 >= span * 0.9, "{} samples over {span} s", ts.len());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_drops_its_oldest_and_an_unusable_one_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody listens here: every request fails and the spool fills.
    let mut ep = endpoint("down", format!("http://{}/api/v1/write", addr()), dir.path());
    ep.max_spool_bytes = 40_000;
    let agent = Agent::start(push_config(vec![ep])).await;
    let body = agent
        .wait_for("oldest samples dropped", WAIT, |b| {
            rmq_testkit::expo::value(b, "rmq_remote_write_samples_total", &[("outcome", "dropped_size")])
                .is_some_and(|v| v > 0.0)
        })
        .await;
    let bytes = rmq_testkit::expo::value(&body, "rmq_remote_write_queue_bytes", &[("endpoint", "down")]).unwrap();
    assert!(bytes <= 40_000.0, "spool holds {bytes} bytes");
    // Still serving.
    let addr = agent.addr;
    tokio::task::spawn_blocking(move || assert_eq!(http::get(addr, "/healthz", None).unwrap().status, 200))
        .await
        .unwrap();
    agent.stop().await;
    // On disk, once the agent has stopped: a running spool writes each new request before it
    // drops the oldest, so a listing taken between the two would see one request too many.
    let on_disk: u64 =
        std::fs::read_dir(dir.path().join("down")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(on_disk <= 40_000, "{on_disk} bytes on disk");

    // A spool directory that cannot exist: the start fails, naming it.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let mut ep = endpoint("bad", "http://127.0.0.1:9/api/v1/write".into(), &file);
    ep.spool_dir = file.join("spool");
    let mut cfg = push_config(vec![ep]);
    cfg.http.listen = "127.0.0.1:0".parse().unwrap();
    let err = rmq_agent::app::run(cfg, async {}, None, None).await.unwrap_err().to_string();
    assert!(err.contains("a-file/spool") && err.contains("bad"), "{err}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
fn pki(
    dir: &Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    use std::os::unix::fs::PermissionsExt as _;
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.extended_key_usages = vec![usage];
        (p.signed_by(&key, &ca, &ca_key).unwrap(), key)
    };
    let (srv, srv_key) = leaf(vec!["127.0.0.1".into()], ExtendedKeyUsagePurpose::ServerAuth);
    let (cli, cli_key) = leaf(vec!["rmq-agent".into()], ExtendedKeyUsagePurpose::ClientAuth);
    let write = |name: &str, pem: String, private: bool| {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        if private {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        p
    };
    (
        write("ca.pem", ca.pem(), false),
        write("server.pem", srv.pem(), false),
        write("server-key.pem", srv_key.serialize_pem(), true),
        write("client.pem", cli.pem(), false),
        write("client-key.pem", cli_key.serialize_pem(), true),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_and_basic_auth_are_presented_and_a_refusal_is_not_retried() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let (ca, srv, srv_key, cli, cli_key) = pki(dir.path());
    // Prometheus over TLS, requiring a client certificate from our CA.
    std::fs::write(
        dir.path().join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            srv.display(),
            srv_key.display(),
            ca.display()
        ),
    )
    .unwrap();
    let d = dir.path().to_owned();
    let web = format!("--web.config.file={}", dir.path().join("web.yml").display());
    let (prom, vm) = tokio::task::spawn_blocking(move || {
        let prom = Receiver::prometheus_with(&d, vec![web], "https");
        // VictoriaMetrics behind basic auth.
        let vm = Receiver::victoria_metrics_with(
            &d,
            vec!["-httpAuth.username=rmq".into(), "-httpAuth.password=s3cret".into()],
        );
        (prom, vm)
    })
    .await
    .unwrap();
    let pw = |name: &str, secret: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, secret).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    };
    let mut mtls = endpoint("mtls", prom.write_url(), dir.path());
    mtls.tls_ca_file = Some(ca.clone());
    mtls.tls_cert_file = Some(cli);
    mtls.tls_key_file = Some(cli_key);
    let mut no_cert = endpoint("no-cert", prom.write_url(), dir.path());
    no_cert.tls_ca_file = Some(ca);
    let mut basic = endpoint("basic", vm.write_url(), dir.path());
    basic.basic_auth_username = Some("rmq".into());
    basic.basic_auth_password_file = Some(pw("vm-password", "s3cret"));
    let mut wrong = endpoint("wrong-password", vm.write_url(), dir.path());
    wrong.basic_auth_username = Some("rmq".into());
    wrong.basic_auth_password_file = Some(pw("vm-wrong", "guess"));
    let agent = Agent::start(push_config(vec![mtls, no_cert, basic, wrong])).await;
    let v = |b: &str, ep: &str, outcome: &str| {
        rmq_testkit::expo::value(b, "rmq_remote_write_samples_total", &[("endpoint", ep), ("outcome", outcome)])
            .unwrap_or(0.0)
    };
    let body = agent
        .wait_for("every endpoint has an outcome", WAIT, |b| {
            v(b, "mtls", "sent") > 0.0
                && v(b, "no-cert", "retried") > 0.0
                && v(b, "basic", "sent") > 0.0
                && v(b, "wrong-password", "failed") > 0.0
        })
        .await;
    // Without a client certificate the TLS handshake fails: kept and retried, never sent.
    assert_eq!(v(&body, "no-cert", "sent"), 0.0);
    // A 401 is final: dropped, not retried.
    assert_eq!(v(&body, "wrong-password", "retried"), 0.0);
    assert_eq!(v(&body, "wrong-password", "sent"), 0.0);
    // `sent` counts only 2xx answers: from a Prometheus that requires a client certificate
    // from our CA, and from a VictoriaMetrics that requires the password.
    agent.stop().await;
    drop((prom, vm));
}
