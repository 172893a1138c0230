//! `rmq-ha-guard run` configured through environment variables, as in a container: the file
//! named by `RMQ_HA_GUARD_CONFIG`, its `http.listen` overridden by `RMQ_HA_GUARD_LISTEN`,
//! which a flag overrides in turn.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rmq_testkit::KillOnDrop;
use support::{free_addr, key_file};

/// Starts the guard with exactly `env` and `args`, waits for READY=1 (every listener bound).
/// It is killed when the handle drops, a failed assertion included.
fn start(dir: &Path, env: &[(&str, String)], args: &[String]) -> KillOnDrop {
    let sock_path = dir.join(format!("notify-{}.sock", args.len()));
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_rmq-ha-guard"))
            .arg("run")
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("NOTIFY_SOCKET", &sock_path)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut buf = [0u8; 64];
    let ready = sock.recv(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"READY=1"));
    if !ready {
        let _ = child.kill();
        panic!("rmq-ha-guard not ready: {:?}", child.wait());
    }
    child
}

fn healthy(addr: SocketAddr) -> bool {
    rmq_testkit::http::get(addr, "/healthz", None).is_ok_and(|r| r.status == 200)
}

#[test]
fn the_file_and_listen_address_come_from_the_environment_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "ha-1", support::SECRET);
    let (file_http, env_http, flag_http) = (free_addr(), free_addr(), free_addr());
    let cfg = dir.path().join("ha-guard.toml");
    std::fs::write(
        &cfg,
        format!(
            "[http]\nlisten = \"{file_http}\"\n[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n\
             [[accept]]\nlisten = \"{}\"\nupstream = \"127.0.0.1:9\"\nbroker_name = \"broker-a\"\n",
            key.display(),
            free_addr()
        ),
    )
    .unwrap();
    let env = [
        ("RMQ_HA_GUARD_CONFIG", cfg.display().to_string()),
        ("RMQ_HA_GUARD_LISTEN", env_http.to_string()),
        ("RMQ_HA_GUARD_LOG", "warn".to_owned()),
    ];

    let mut guard = start(dir.path(), &env, &[]);
    assert!(healthy(env_http), "not serving on RMQ_HA_GUARD_LISTEN");
    assert!(std::net::TcpStream::connect(file_http).is_err(), "serving on the file's address");
    guard.kill().unwrap();
    guard.wait().unwrap();

    let mut guard = start(dir.path(), &env, &["--listen".to_owned(), flag_http.to_string()]);
    assert!(healthy(flag_http), "not serving on --listen");
    assert!(std::net::TcpStream::connect(env_http).is_err(), "serving on RMQ_HA_GUARD_LISTEN despite --listen");
    guard.kill().unwrap();
    guard.wait().unwrap();

    // Without a file from either place the guard has nothing to run: a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_rmq-ha-guard")).arg("run").env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[derive(Debug, clap::Parser)]
struct Cli {
    #[command(flatten)]
    run: rmq_ha_guard::cli::RunArgs,
}

#[test]
fn every_variable_and_flag_is_in_the_documentation() {
    use clap::CommandFactory as _;
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/environment.md")).unwrap();
    let section = doc.split("## rmq-ha-guard run").nth(1).expect("an rmq-ha-guard run section");
    for arg in Cli::command().get_arguments() {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env().and_then(|e| e.to_str())) else { continue };
        let row = section.lines().find(|l| l.starts_with(&format!("| `--{long}"))).unwrap_or_else(|| {
            panic!("docs/environment.md (rmq-ha-guard run) has no row for --{long}");
        });
        assert!(row.contains(&format!("`{env}`")), "docs/environment.md: --{long} is not given {env}: {row}");
    }
}
