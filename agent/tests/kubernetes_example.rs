//! docs/examples/kubernetes-sidecar.yaml: valid YAML (yamllint), valid Kubernetes objects
//! (kubernetes-validate --strict, the API's JSON schemas offline), only variables the agent
//! reads, and a guard file the agent accepts. Nothing here runs it on a cluster.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory as _;

const BIN: &str = env!("CARGO_BIN_EXE_rmq-agent");

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/kubernetes-sidecar.yaml")
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .arg(manifest())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/install-test-deps.sh installs it)"));
    assert!(
        out.status.success(),
        "{program} {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_manifest_is_valid_yaml() {
    // yamllint's defaults, with lines up to 110 characters (a URL, a name-server list).
    run("yamllint", &["--strict", "-d", "{extends: default, rules: {line-length: {max: 110}}}"]);
}

#[test]
fn the_manifest_is_valid_for_kubernetes_1_30_and_1_37() {
    for version in ["1.30.0", "1.37.0"] {
        run("kubernetes-validate", &["--strict", "--kubernetes-version", version]);
    }
}

#[derive(Debug, clap::Parser)]
struct Cli {
    #[command(flatten)]
    run: rmq_agent::cli::RunArgs,
}

#[test]
fn the_manifest_sets_only_variables_the_agent_reads() {
    let known: Vec<String> =
        Cli::command().get_arguments().filter_map(|a| a.get_env()?.to_str().map(str::to_owned)).collect();
    let text = std::fs::read_to_string(manifest()).unwrap();
    let mut used = 0;
    for line in text.lines() {
        let Some(name) = line.trim().strip_prefix("- name: ") else { continue };
        if name.starts_with("RMQ_") {
            assert!(known.iter().any(|k| k == name), "{name} is not a variable of rmq-agent run ({known:?})");
            used += 1;
        }
    }
    assert!(used >= 8, "the example sets {used} variables");
}

/// The lines of a `key: |` block scalar, unindented.
fn block(text: &str, key: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim() != format!("{key}: |")).skip(1);
    let first = lines.next().unwrap_or_else(|| panic!("no `{key}: |` block"));
    let indent = first.len() - first.trim_start().len();
    std::iter::once(first)
        .chain(lines.take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent))
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_guard_file_of_the_example_passes_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ops-1");
    std::fs::write(&key, "0123456789abcdef").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o440)).unwrap();
    let text = std::fs::read_to_string(manifest()).unwrap();
    let file = block(&text, "agent.toml.in")
        .replace("@POD_IP@", "10.1.2.3")
        .replace("/var/run/secrets/rmq-sidecar/ops-1", key.to_str().unwrap());
    assert!(file.contains("listen = \"10.1.2.3:10911\"") && file.contains("[[guard.keys]]"), "{file}");
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, &file).unwrap();
    let out = Command::new(BIN).arg("check-config").arg(&path).output().unwrap();
    assert!(out.status.success(), "{file}\n{}", String::from_utf8_lossy(&out.stderr));
}
