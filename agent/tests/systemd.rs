//! The shipped systemd units and example configurations: `systemd-analyze verify` is clean,
//! `systemd-analyze security --offline=yes` scores each unit 2.0 or better, and every example
//! configuration passes `rmq-agent check-config` (with its key and state paths pointed at a
//! temporary directory), and the master's guard lets stock slaves' sync reads through.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rmq-agent");
const UNITS: [&str; 2] = ["rmq-agent.service", "rmq-ha-guard.service"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The unit with its ExecStart pointed at a binary that exists here (verify checks it).
fn unit_copy(dir: &Path, unit: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("systemd").join(unit)).unwrap();
    let text = text.replace("/usr/bin/rmq-agent", BIN).replace("/usr/bin/rmq-ha-guard", BIN);
    let p = dir.join(unit);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn units_verify_cleanly_and_score_2_or_better() {
    let dir = tempfile::tempdir().unwrap();
    for unit in UNITS {
        let p = unit_copy(dir.path(), unit);
        let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&p).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "{unit}: {stderr}");
        let out = Command::new("systemd-analyze").args(["security", "--offline=yes"]).arg(&p).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let score: f64 = text
            .lines()
            .find_map(|l| l.split("Overall exposure level for").nth(1))
            .and_then(|rest| rest.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no score for {unit}:\n{text}"));
        assert!(score <= 2.0, "{unit} scores {score}:\n{text}");
    }
}

#[test]
fn example_agent_configurations_pass_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let key = creds.join("ops-1");
    std::fs::write(&key, "example-secret").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(repo().join("systemd/examples")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("agent-") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/run/credentials/rmq-agent.service", &creds.display().to_string())
            .replace("/var/lib/rmq-agent", &dir.path().join("state").display().to_string());
        let copy = dir.path().join(&name);
        std::fs::write(&copy, &text).unwrap();
        let out = Command::new(BIN).arg("check-config").arg(&copy).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        // The guard denies by default; the master's ports let stock slaves' sync reads through.
        if name == "agent-master.toml" {
            let cfg = rmq_agent::config::Config::parse(&text).unwrap();
            assert_eq!(cfg.guard.listeners.len(), 2);
            for l in &cfg.guard.listeners {
                let policy = rmq_agent::app::guard_policy(l, &cfg.guard, std::collections::HashMap::new());
                for code in rmq_protocol::policy::SLAVE_SYNC_READS {
                    assert!(!policy.needs_signature(code.get()), "{name} {}: {code} for slaves", l.listener.name);
                }
                assert!(policy.needs_signature(26) && policy.needs_signature(906), "{name} {}", l.listener.name);
            }
        }
        n += 1;
    }
    assert_eq!(n, 3, "master, slave and name-server examples");
}

#[test]
fn install_host_stages_every_file_with_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("root");
    let bins = Path::new(BIN).parent().unwrap();
    // rmq-ha-guard's binary may not be built when only this crate's tests run: stage
    // rmq-agent's in its place (the script only copies it). Symlinks: debug binaries are large.
    let fake = dir.path().join("bins");
    std::fs::create_dir(&fake).unwrap();
    std::os::unix::fs::symlink(BIN, fake.join("rmq-agent")).unwrap();
    let ha = bins.join("rmq-ha-guard");
    std::os::unix::fs::symlink(if ha.exists() { ha } else { BIN.into() }, fake.join("rmq-ha-guard")).unwrap();
    let out = Command::new(repo().join("scripts/install-host.sh"))
        .env("DESTDIR", &stage)
        .env("RMQ_BIN_DIR", &fake)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = |p: &str| std::fs::metadata(stage.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("usr/bin/rmq-agent"), 0o755);
    assert_eq!(mode("usr/bin/rmq-ha-guard"), 0o755);
    assert_eq!(mode("etc/rmq-sidecar/keys"), 0o700);
    for f in [
        "usr/lib/systemd/system/rmq-agent.service",
        "usr/lib/systemd/system/rmq-ha-guard.service",
        "usr/lib/sysusers.d/rmq-sidecar.conf",
        "etc/rmq-sidecar/rmq-sidecar-transparent.nft",
        "etc/rmq-sidecar/agent.toml",
        "etc/rmq-sidecar/agent.env",
        "etc/rmq-sidecar/ha-guard.env",
        "usr/share/doc/rmq-sidecar/install.md",
        "usr/share/doc/rmq-sidecar/examples/agent-master.toml",
        "usr/share/doc/rmq-sidecar/examples/ha-guard-slave.toml",
        "usr/share/rmq-sidecar/monitoring/alerts.yml",
        "usr/share/rmq-sidecar/monitoring/grafana-dashboard.json",
    ] {
        assert!(stage.join(f).is_file(), "{f} missing");
    }
    // A second run keeps edited configuration files.
    for f in ["rmq-sidecar-transparent.nft", "agent.toml"] {
        std::fs::write(stage.join("etc/rmq-sidecar").join(f), "edited").unwrap();
    }
    let again = Command::new(repo().join("scripts/install-host.sh"))
        .env("DESTDIR", &stage)
        .env("RMQ_BIN_DIR", &fake)
        .output()
        .unwrap();
    assert!(again.status.success());
    for f in ["rmq-sidecar-transparent.nft", "agent.toml"] {
        assert_eq!(std::fs::read_to_string(stage.join("etc/rmq-sidecar").join(f)).unwrap(), "edited", "{f}");
    }
}

#[test]
fn the_installed_agent_toml_passes_check_config_and_the_environment_files_set_nothing() {
    let out = Command::new(BIN).arg("check-config").arg(repo().join("systemd/agent.toml")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The environment files ship as documentation: every line a comment, so a fresh host runs
    // on agent.toml and ha-guard.toml alone.
    for f in ["agent.env", "ha-guard.env"] {
        let text = std::fs::read_to_string(repo().join("systemd").join(f)).unwrap();
        assert!(text.lines().all(|l| l.is_empty() || l.starts_with('#')), "{f} sets a variable");
    }
}
