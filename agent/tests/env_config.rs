//! `rmq-agent run` configured by environment variables, as in a container: with no file at
//! all against a real broker and name server, and the order flags > environment > file.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rmq_testkit::expo::{all, value};
use rmq_testkit::{Cluster, free_port, http, wire};

const BIN: &str = env!("CARGO_BIN_EXE_rmq-agent");
const WAIT: Duration = Duration::from_secs(60);

/// A running agent; killed when dropped.
struct Agent {
    child: Child,
    addr: SocketAddr,
}

impl Agent {
    /// Starts the agent with exactly `env` and `args` (nothing inherited from this process's
    /// environment) and returns once it tells systemd it is ready (its endpoint is bound).
    fn start(dir: &Path, env: &[(&str, String)], args: &[String], addr: SocketAddr) -> Agent {
        let sock_path = dir.join(format!("notify-{}.sock", addr.port()));
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let stderr = std::fs::File::create(dir.join(format!("agent-{}.log", addr.port()))).unwrap();
        let child = Command::new(BIN)
            .arg("run")
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("NOTIFY_SOCKET", &sock_path)
            .stderr(stderr)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut agent = Agent { child, addr };
        let mut buf = [0u8; 256];
        match sock.recv(&mut buf) {
            Ok(n) if buf[..n].starts_with(b"READY=1") => agent,
            other => {
                let status = agent.child.try_wait().unwrap();
                panic!("agent not ready ({other:?}, exit {status:?}): {}", agent.log(dir));
            }
        }
    }

    fn log(&self, dir: &Path) -> String {
        std::fs::read_to_string(dir.join(format!("agent-{}.log", self.addr.port()))).unwrap_or_default()
    }

    fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let addr = self.addr;
        wire::wait_for(what, WAIT, || {
            let body = http::get(addr, "/metrics", None)?.body;
            Ok(cond(&body).then_some(body))
        })
        .unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()))
}

fn broker_up(body: &str, cluster: &str) -> Option<f64> {
    value(body, "rocketmq_broker_up", &[("cluster", cluster)])
}

#[test]
fn configured_by_environment_alone_against_a_real_broker() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let addr = loopback();
    let spool = dir.path().join("spool");
    // The receiver is not running: the endpoint is configured and queues, which is what
    // shows here (pushing itself is tests/remote_write.rs's subject).
    let receiver = loopback();
    let env = [
        ("RMQ_AGENT_BROKER_ADDR", cluster.broker.addr().to_string()),
        ("RMQ_AGENT_NAMESRV_ADDR", cluster.namesrv.addr().to_string()),
        ("RMQ_AGENT_LISTEN", addr.to_string()),
        ("RMQ_AGENT_LOG_FORMAT", "json".to_owned()),
        ("RMQ_AGENT_LOG", "info".to_owned()),
        ("RMQ_AGENT_CLUSTER", "env-cluster".to_owned()),
        ("RMQ_AGENT_STORE_DIR", cluster.broker.store_dir().display().to_string()),
        ("RMQ_AGENT_HOST_METRICS", "false".to_owned()),
        ("RMQ_AGENT_REMOTE_WRITE_URL", format!("http://{receiver}/api/v1/write")),
        ("RMQ_AGENT_REMOTE_WRITE_SPOOL_DIR", spool.display().to_string()),
        ("RMQ_AGENT_EXTERNAL_LABELS", "pod=broker-a-0,namespace=mq".to_owned()),
    ];
    let agent = Agent::start(dir.path(), &env, &[], addr);
    let body = agent.wait_for("the broker's metrics, labelled with the cluster from the environment", |b| {
        broker_up(b, "env-cluster") == Some(1.0)
            && value(b, "rocketmq_namesrv_up", &[]) == Some(1.0)
            && value(b, "rocketmq_brokeruntime_msg_put_total_today_now", &[("cluster", "env-cluster")]).is_some()
    });
    assert!(
        all(&body, "rocketmq_brokeruntime_commitlog_disk_ratio", &[("cluster", "env-cluster")]).len() == 1,
        "{body}"
    );
    // RMQ_AGENT_HOST_METRICS=false: no host families.
    assert!(all(&body, "node_cpu_seconds_total", &[]).is_empty(), "host metrics despite HOST_METRICS=false");
    // The remote-write endpoint exists, named `default`, spooling where the variable says.
    assert!(value(&body, "rmq_remote_write_queue_requests", &[("endpoint", "default")]).is_some(), "{body}");
    assert!(spool.is_dir(), "spool directory {} not created", spool.display());
    // RMQ_AGENT_LOG_FORMAT=json at RMQ_AGENT_LOG=info: JSON lines, the start-up line among them.
    let log = agent.log(dir.path());
    assert!(log.lines().all(|l| l.starts_with('{') && l.ends_with('}')), "not JSON lines: {log}");
    assert!(log.contains("\"level\":\"INFO\"") && log.contains("serving /metrics"), "{log}");
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let (file_addr, env_addr, flag_addr) = (loopback(), loopback(), loopback());
    let dead_broker = loopback();
    let file = dir.path().join("agent.toml");
    std::fs::write(
        &file,
        format!(
            "[http]\nlisten = \"{file_addr}\"\n[broker]\naddr = \"{dead_broker}\"\ncluster = \"file\"\n\
             interval_seconds = 1\ntimeout_seconds = 1\n[host]\nenabled = false\n"
        ),
    )
    .unwrap();
    let env = [
        ("RMQ_AGENT_CONFIG", file.display().to_string()),
        ("RMQ_AGENT_LISTEN", env_addr.to_string()),
        ("RMQ_AGENT_BROKER_ADDR", cluster.broker.addr().to_string()),
        ("RMQ_AGENT_CLUSTER", "env".to_owned()),
        ("RMQ_AGENT_LOG", "warn".to_owned()),
    ];

    // Flags over the environment over the file: the flag's address and cluster, the
    // environment's broker, and the file's other keys (1 s cycles, no host metrics).
    let flags = ["--listen".to_owned(), flag_addr.to_string(), "--cluster=flag".to_owned()];
    let agent = Agent::start(dir.path(), &env, &flags, flag_addr);
    let body = agent.wait_for("broker up, cluster from the flag", |b| broker_up(b, "flag") == Some(1.0));
    assert!(all(&body, "node_cpu_seconds_total", &[]).is_empty(), "the file's host.enabled = false was lost");
    for unused in [file_addr, env_addr] {
        assert!(std::net::TcpStream::connect(unused).is_err(), "{unused} answers; only the flag's address should");
    }
    drop(agent);

    // Without the flags: the environment's address and cluster.
    let agent = Agent::start(dir.path(), &env, &[], env_addr);
    agent.wait_for("broker up, cluster from the environment", |b| broker_up(b, "env") == Some(1.0));
    assert!(std::net::TcpStream::connect(file_addr).is_err(), "the file's address answers");
    drop(agent);

    // The file alone (through --config): its address, cluster and (dead) broker.
    let agent = Agent::start(dir.path(), &[], &["--config".to_owned(), file.display().to_string()], file_addr);
    agent.wait_for("broker down, cluster from the file", |b| broker_up(b, "file") == Some(0.0));
}

#[test]
fn bad_values_from_the_environment_are_reported_with_the_key_they_set() {
    let out = Command::new(BIN).arg("run").env_clear().env("RMQ_AGENT_BROKER_ADDR", "no-port").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    // A value that is not an address is refused as the option is read, naming the option.
    assert!(err.contains("--broker-addr") && err.contains("no-port"), "{err}");
    let out = Command::new(BIN).arg("run").env_clear().env("RMQ_AGENT_LOG", "rmq_agent=loud").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--log-level") && err.contains("rmq_agent=loud"), "{err}");
    // Malformed for its type: clap's usage error, naming the option the variable stands for.
    let out = Command::new(BIN).arg("run").env_clear().env("RMQ_AGENT_PUT_PROBE", "yes").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'yes'") && err.contains("--put-probe"), "{err}");
}

#[derive(Debug, clap::Parser)]
struct Cli {
    #[command(flatten)]
    run: rmq_agent::cli::RunArgs,
}

#[test]
fn every_variable_and_flag_is_in_the_documentation() {
    use clap::CommandFactory as _;
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/environment.md")).unwrap();
    for arg in Cli::command().get_arguments() {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env().and_then(|e| e.to_str())) else { continue };
        let row = doc.lines().find(|l| l.starts_with(&format!("| `--{long}"))).unwrap_or_else(|| {
            panic!("docs/environment.md has no row for --{long}");
        });
        assert!(row.contains(&format!("`{env}`")), "docs/environment.md: --{long} is not given {env}: {row}");
    }
}
