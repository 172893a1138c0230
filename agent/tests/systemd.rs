//! The shipped systemd units and example configurations: `systemd-analyze verify` is clean,
//! `systemd-analyze security --offline=yes` scores each unit 2.0 or better, and every example
//! configuration passes `rmq-agent check-config` (with its key and state paths pointed at a
//! temporary directory).

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
        std::fs::write(&copy, text).unwrap();
        let out = Command::new(BIN).arg("check-config").arg(&copy).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        n += 1;
    }
    assert_eq!(n, 3, "master, slave and name-server examples");
}
