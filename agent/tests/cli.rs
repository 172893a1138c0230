//! The `rmq-agent` binary: configuration errors, exit codes, and a graceful stop on SIGTERM.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::Command;
use std::time::Duration;

use rmq_testkit::{KillOnDrop, free_port, http, wire};

const BIN: &str = env!("CARGO_BIN_EXE_rmq-agent");

/// `rmq-agent run` serving on `listen`, its broker address a free port nothing answers on,
/// logging warnings only.
fn run_without_broker(listen: &str) -> Command {
    let dead_broker = free_port().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--listen", listen, "--broker-addr", &format!("127.0.0.1:{dead_broker}")])
        .env("RMQ_AGENT_LOG", "warn");
    cmd
}

#[test]
fn check_config_reports_every_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[broker]\ninterval_seconds = 0\nconcurrency = 0\n[http]\nmax_connections = 0\n").unwrap();
    let out = Command::new(BIN).args(["check-config", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for path in ["broker.interval_seconds", "broker.concurrency", "http.max_connections"] {
        assert!(err.contains(path), "{path} not reported: {err}");
    }

    // A value of the wrong kind (an address, a choice, a duration) stops the reading at its
    // key, which the message names with its line.
    for (text, path) in [
        ("[broker]\naddr = \"nope\"\n", "broker.addr"),
        ("[log]\nformat = \"xml\"\n", "log.format"),
        ("[host]\ninterval_seconds = \"15s\"\n", "host.interval_seconds"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let out = Command::new(BIN).args(["check-config", bad.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(64));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{path}: ")) && err.contains("line 2"), "{path} not reported: {err}");
    }

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[broker]\nadress = \"127.0.0.1:10911\"\n").unwrap();
    let out = Command::new(BIN).args(["check-config", unknown.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("adress"));

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[broker]\naddr = \"127.0.0.1:10911\"\n").unwrap();
    let out = Command::new(BIN).args(["check-config", good.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(Command::new(BIN).arg("--bogus").output().unwrap().status.code(), Some(64));
}

#[test]
fn runs_without_a_broker_and_stops_on_sigterm() {
    // No broker at the default address's port here: the agent must still serve host metrics.
    let port = free_port().unwrap();
    let mut child = KillOnDrop(run_without_broker(&format!("127.0.0.1:{port}")).spawn().unwrap());
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let body = wire::wait_for("agent serving host metrics with the broker down", Duration::from_secs(60), || {
        let r = http::get(addr, "/metrics", None)?;
        Ok((r.body.contains("node_cpu_seconds_total")
            && r.body.contains("rocketmq_broker_up{")
            && r.body.contains("} 0"))
        .then_some(r.body))
    })
    .unwrap();
    assert!(rmq_testkit::expo::value(&body, "rocketmq_broker_up", &[]) == Some(0.0), "{body}");
    assert_eq!(http::get(addr, "/healthz", None).unwrap().status, 200);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = wire::wait_for("agent exit after SIGTERM", Duration::from_secs(30), || Ok(child.try_wait()?)).unwrap();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn a_port_in_use_is_reported_once_with_its_cause() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let out = run_without_broker(&listen).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // The failure is one log line naming the address, and the OS's reason appears once in it.
    assert_eq!(err.matches(&format!("cannot listen on {listen}")).count(), 1, "{err}");
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
}

#[test]
fn tells_systemd_it_is_ready_pings_the_watchdog_and_says_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let port = free_port().unwrap();
    let mut child = KillOnDrop(
        run_without_broker(&format!("127.0.0.1:{port}"))
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "200000")
            .spawn()
            .unwrap(),
    );
    let recv = || {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = recv();
    assert!(first.starts_with("READY=1"), "{first}");
    // Ready means serving.
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(http::get(addr, "/healthz", None).unwrap().status, 200);
    assert_eq!(recv(), "WATCHDOG=1");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    // Watchdog pings may still be queued before the stop notice.
    let stopping = (0..100).map(|_| recv()).find(|m| m != "WATCHDOG=1");
    assert_eq!(stopping.as_deref(), Some("STOPPING=1"));
    let status = wire::wait_for("agent exit after SIGTERM", Duration::from_secs(30), || Ok(child.try_wait()?)).unwrap();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn keygen_writes_a_private_random_secret_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ops-1");
    let out = Command::new(BIN).arg("keygen").arg(&key).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let secret = rmq_runtime::secret::read_file(&key).unwrap();
    assert_eq!(secret.len(), 64);
    assert!(secret.iter().all(u8::is_ascii_hexdigit));
    // Never overwritten; a second key is different.
    let again = Command::new(BIN).arg("keygen").arg(&key).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(rmq_runtime::secret::read_file(&key).unwrap(), secret);
    let other = dir.path().join("ops-2");
    assert!(Command::new(BIN).arg("keygen").arg(&other).status().unwrap().success());
    assert_ne!(rmq_runtime::secret::read_file(&other).unwrap(), secret);
}
