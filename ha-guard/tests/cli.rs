//! The binary's command line: `check-config` and `inspect-hello` exit codes and messages.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};

use rmq_protocol::sign::{SigningKey, ha_v1};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmq-ha-guard"))
}

#[test]
fn check_config_reports_problems_and_unsafe_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = support::key_file(dir.path(), "ha-1", "s");
    let good = format!(
        "[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n[[accept]]\nlisten = \"127.0.0.1:10912\"\nupstream = \"127.0.0.1:10922\"\nbroker_name = \"broker-a\"\n",
        key.display()
    );
    let path = dir.path().join("g.toml");
    std::fs::write(&path, &good).unwrap();
    let out = bin().arg("check-config").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 accept, 0 connect)"));

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = bin().arg("check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&key.display().to_string()));

    std::fs::write(&path, good.replace("broker_name = \"broker-a\"", "broker_name = \"\"\nidle_timeout_seconds = 5"))
        .unwrap();
    let out = bin().arg("check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("accept[0].broker_name") && err.contains("accept[0].idle_timeout_seconds"), "{err}");

    // A connect end signs for whoever reaches it: a public listen address is refused, by
    // name, unless explicitly allowed.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let connect = |extra: &str| {
        format!(
            "[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n[[connect]]\nlisten = \"0.0.0.0:10912\"\n\
             remote = \"10.0.0.1:10912\"\nbroker_name = \"broker-a\"\nkey_id = \"ha-1\"\n{extra}",
            key.display()
        )
    };
    std::fs::write(&path, connect("")).unwrap();
    let out = bin().arg("check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connect[0].listen") && err.contains("allow_non_loopback_listen = true"), "{err}");
    std::fs::write(&path, connect("allow_non_loopback_listen = true\n")).unwrap();
    let out = bin().arg("check-config").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn inspect_hello_prints_the_fields_or_says_why_not() {
    let hello = ha_v1::encode_hello("ha-1", &SigningKey::new(b"s"), 1_700_000_000_000, [7; 16], "broker-a").unwrap();
    let run = |input: &[u8]| {
        let mut c = bin()
            .arg("inspect-hello")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input).unwrap();
        c.wait_with_output().unwrap()
    };
    let out = run(&hello);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("broker-a") && text.contains("ha-1") && text.contains("1700000000000"), "{text}");
    let out = run(b"99999999");
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad magic"));
}

#[test]
fn example_configurations_pass_check_config() {
    let dir = tempfile::tempdir().unwrap();
    support::key_file(dir.path(), "ha-1", "example");
    std::fs::rename(dir.path().join("key-ha-1"), dir.path().join("ha-1")).unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/examples");
    let mut n = 0;
    for e in std::fs::read_dir(examples).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("ha-guard-") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/run/credentials/rmq-ha-guard.service", &dir.path().display().to_string());
        let copy = dir.path().join(&name);
        std::fs::write(&copy, text).unwrap();
        let out = bin().arg("check-config").arg(&copy).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        n += 1;
    }
    assert_eq!(n, 2, "master and slave examples");
}

#[test]
fn tells_systemd_when_every_tunnel_end_listens() {
    let dir = tempfile::tempdir().unwrap();
    let key = support::key_file(dir.path(), "ha-1", "s");
    let accept = support::free_addr();
    let http = support::free_addr();
    let cfg = dir.path().join("g.toml");
    std::fs::write(
        &cfg,
        format!(
            "[http]\nlisten = \"{http}\"\n[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n[[accept]]\nlisten = \"{accept}\"\nupstream = \"127.0.0.1:9\"\nbroker_name = \"broker-a\"\n",
            key.display()
        ),
    )
    .unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut child = rmq_testkit::KillOnDrop(
        bin()
            .args(["run", "--config"])
            .arg(&cfg)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("RMQ_HA_GUARD_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("READY=1"));
    // Ready means the tunnel port and /healthz both answer.
    assert!(std::net::TcpStream::connect(accept).is_ok());
    assert_eq!(rmq_testkit::http::get(http, "/healthz", None).unwrap().status, 200);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_port_in_use_is_reported_once_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let key = support::key_file(dir.path(), "ha-1", "s");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let accept = taken.local_addr().unwrap();
    let cfg = dir.path().join("g.toml");
    std::fs::write(
        &cfg,
        format!(
            "[http]\nlisten = \"{}\"\n[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n[[accept]]\nlisten = \"{accept}\"\nupstream = \"127.0.0.1:9\"\nbroker_name = \"broker-a\"\n",
            support::free_addr(),
            key.display()
        ),
    )
    .unwrap();
    let out = bin().args(["run", "--config"]).arg(&cfg).env("RMQ_HA_GUARD_LOG", "warn").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // The failure is one log line naming the address, and the OS's reason appears once in it.
    assert_eq!(err.matches(&format!("cannot listen on {accept}")).count(), 1, "{err}");
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
}
