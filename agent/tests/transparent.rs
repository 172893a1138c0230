//! Transparent mode for 4.x-style brokers (bound to every interface), in network namespaces:
//! a "broker host" namespace runs a real name server and broker bound to 0.0.0.0, the admin
//! guard, and the shipped nftables rules; a "client host" namespace reaches the broker's
//! ports only through the guard. The outer test builds the namespaces and runs the inner
//! test inside the broker host's namespace.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use rmq_testkit::{BrokerOptions, Cluster, ManagedProcess, free_port, http, wire};

const BIN: &str = env!("CARGO_BIN_EXE_rmq-agent");
const BROKER_IP: &str = "10.77.0.1";
const CLIENT_IP: &str = "10.77.0.2";
const DONE: &str = "transparent-mode checks done";

fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Deletes the namespaces (and with them the veth pair and the rules) at the end.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn transparent_mode_in_network_namespaces() {
    let id = std::process::id();
    let (b, c) = (format!("rmqb{id}"), format!("rmqc{id}"));
    let (vb, vc) = (format!("vb{id}"), format!("vc{id}"));
    run(&["ip", "netns", "add", &b]);
    let _ns = Namespaces(vec![b.clone(), c.clone()]);
    run(&["ip", "netns", "add", &c]);
    run(&["ip", "link", "add", &vb, "netns", &b, "type", "veth", "peer", "name", &vc, "netns", &c]);
    for (ns, dev, ip) in [(&b, &vb, BROKER_IP), (&c, &vc, CLIENT_IP)] {
        run(&["ip", "-n", ns, "addr", "add", &format!("{ip}/24"), "dev", dev]);
        run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    let out = Command::new("ip")
        .args(["netns", "exec", &b])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "inside_the_broker_host", "--ignored", "--nocapture"])
        .env("RMQ_TRANSPARENT_CLIENT_NS", &c)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The marker proves the inner test ran its checks (it returns early outside a namespace).
    assert!(out.status.success() && text.contains(DONE), "inner test failed:\n{text}");
}

/// `rmq-agent` run from the client host's namespace.
fn from_client(ns: &str, args: &[&str]) -> Output {
    Command::new("ip").args(["netns", "exec", ns, BIN]).args(args).output().unwrap()
}

#[test]
#[ignore = "runs inside the broker host's namespace; transparent_mode_in_network_namespaces starts it"]
fn inside_the_broker_host() {
    let Ok(client_ns) = std::env::var("RMQ_TRANSPARENT_CLIENT_NS") else { return };
    // A broker bound to every interface, registering the host's address, as 4.x does.
    let opts = BrokerOptions {
        bind_address: Some("0.0.0.0".into()),
        advertised_ip: Some(BROKER_IP.into()),
        ..BrokerOptions::default()
    };
    let cluster = Cluster::start(opts).unwrap();
    let port = cluster.broker.port();
    let vip = port - 2;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ops-1");
    std::fs::write(&key, "transparent-secret").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (guard_port, guard_vip, http_port) = (free_port().unwrap(), free_port().unwrap(), free_port().unwrap());
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[http]\nlisten = \"127.0.0.1:{http_port}\"\n[broker]\nenabled = false\n[host]\nenabled = false\n\
             [[guard.keys]]\nid = \"ops-1\"\nsecret_file = \"{}\"\n\
             [[guard.listeners]]\nname = \"broker\"\nlisten = \"0.0.0.0:{guard_port}\"\nupstream = \"127.0.0.1:{port}\"\n\
             [[guard.listeners]]\nname = \"broker-vip\"\nlisten = \"0.0.0.0:{guard_vip}\"\nupstream = \"127.0.0.1:{vip}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let _guard = ManagedProcess::spawn(
        "rmq-agent",
        Path::new(BIN),
        &["run".into(), "--config".into(), cfg.display().to_string()],
        dir.path(),
        &[],
        dir.path().join("agent.log"),
    )
    .unwrap();
    let h = std::net::SocketAddr::from(([127, 0, 0, 1], http_port));
    wire::wait_for("guard", Duration::from_secs(30), || Ok(http::get(h, "/healthz", None).ok().map(drop))).unwrap();
    let target = format!("{BROKER_IP}:{port}");
    let target_vip = format!("{BROKER_IP}:{vip}");

    // Control, before the rules: the client host reaches the broker itself, unsigned admin
    // requests included — the hole transparent mode closes.
    let out = from_client(&client_ns, &["admin", "--addr", &target, "create-topic", "before-rules"]);
    assert!(out.status.success(), "control: {}", String::from_utf8_lossy(&out.stderr));

    // The shipped rules, with this test's ports.
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/nftables/rmq-sidecar-transparent.nft"),
    )
    .unwrap();
    let ha_port = port + 1;
    let rules: String = rules
        .lines()
        .map(|l| match l.split_whitespace().nth(1) {
            Some("broker_port") => format!("define broker_port = {port}"),
            Some("broker_vip_port") => format!("define broker_vip_port = {vip}"),
            Some("ha_port") => format!("define ha_port = {ha_port}"),
            Some("guard_port") => format!("define guard_port = {guard_port}"),
            Some("guard_vip_port") => format!("define guard_vip_port = {guard_vip}"),
            Some("ha_guard_port") => format!("define ha_guard_port = {}", free_port().unwrap()),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let rules_file = dir.path().join("rules.nft");
    std::fs::write(&rules_file, rules).unwrap();
    run(&["nft", "-f", &rules_file.display().to_string()]);

    for addr in [&target, &target_vip] {
        // An unsigned admin request from another host is refused by the guard (its remark says
        // so): the broker's real port is not reachable from outside any more.
        let out = from_client(&client_ns, &["admin", "--addr", addr, "create-topic", "after-rules"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("NO_PERMISSION") && err.contains("rmq-sidecar"), "{addr}: {err}");
        // Data flows through the guard (a consumer's GET_MAX_OFFSET, unsigned).
        let out = from_client(
            &client_ns,
            &["admin", "--addr", addr, "raw", "--code", "30", "--ext", "topic=TBW102", "--ext", "queueId=0"],
        );
        assert!(out.status.success(), "{addr}: {}", String::from_utf8_lossy(&out.stderr));
        // A signed admin request goes through.
        let out = from_client(
            &client_ns,
            &[
                "admin",
                "--addr",
                addr,
                "--key-id",
                "ops-1",
                "--key-file",
                &key.display().to_string(),
                "create-topic",
                "signed-topic",
            ],
        );
        assert!(out.status.success(), "{addr}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The guard itself still reaches the broker over loopback, which the rules leave alone;
    // and on the broker host, loopback clients still reach the broker directly.
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (hdr, _) = wire::call(
        local,
        &rmq_protocol::Header::request(rmq_protocol::RequestCode::GET_BROKER_RUNTIME_INFO, 1),
        rmq_protocol::SerializeType::JSON,
        &[],
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(hdr.response_code(), rmq_protocol::ResponseCode::SUCCESS);
    drop(cluster);
    #[allow(clippy::print_stdout)]
    {
        println!("{DONE}");
    }
}
