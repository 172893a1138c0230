//! The guard's default-deny policy and signature rules against a real broker: an unknown code
//! and `GET_BROKER_CONFIG` refused unsigned (never reaching the broker) and served signed;
//! `acl-v1` refused where it is not enabled, and a key restricted by `acl_v1_codes` unable to
//! sign other codes (nor to have its signature moved to another code); one replay cache for
//! every listener of the agent, kept across a reload; `targets` binding a signature to its
//! broker, also through `rmq-agent admin --target`; and the `guard-policy` command.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmq_agent::config::{Config, GuardKey, GuardListener};
use rmq_agent::guard::Scheme;
use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::body::TopicConfigWrapper;
use rmq_protocol::request::{CommandHeader as _, CreateTopicRequestHeader};
use rmq_protocol::sign::{SigningKey, acl_v1, hmac_v1};
use rmq_protocol::{ExtFields, Header, RequestCode, ResponseCode, SerializeType};
use rmq_testkit::{Cluster, free_port, wire};

const BIN: &str = env!("CARGO_BIN_EXE_rmq-agent");
const OPS: &[u8] = b"policy-ops-secret";
const DASH: &[u8] = b"policy-dashboard-secret";
const WAIT: Duration = Duration::from_secs(30);

/// The agent with four guarded listeners in front of one real broker.
struct Guarded {
    /// Default listener: rmq-hmac-v1 only, no targets.
    main: SocketAddr,
    /// The VIP port, same policy.
    vip: SocketAddr,
    /// Accepts acl-v1 as well.
    acl: SocketAddr,
    /// Requires `RmqTarget` ∈ {broker-a, DefaultCluster}.
    bound: SocketAddr,
    agent: support::Agent,
    reload: tokio::sync::mpsc::Sender<()>,
    keys: tempfile::TempDir,
}

fn key_file(dir: &Path, name: &str, secret: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, secret).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn addr() -> SocketAddr {
    format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap()
}

async fn start() -> (&'static Cluster, Guarded) {
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.broker.enabled = false;
    cfg.host.enabled = false;
    cfg.guard.keys = vec![
        GuardKey::new("ops-1", key_file(keys.path(), "ops-1", OPS)),
        // A dashboard's key: with acl-v1 it may sign GET_BROKER_RUNTIME_INFO and nothing else.
        GuardKey {
            acl_v1_codes: Some(vec![RequestCode::GET_BROKER_RUNTIME_INFO.get()]),
            ..GuardKey::new("dash", key_file(keys.path(), "dash", DASH))
        },
    ];
    let (main, vip, acl, bound) = (addr(), addr(), addr(), addr());
    let listener = |name: &str, listen: SocketAddr, upstream: SocketAddr| {
        let mut l = GuardListener::new(name, listen, upstream);
        l.limits.connect_timeout = Duration::from_secs(15);
        l
    };
    cfg.guard.listeners = vec![
        listener("main", main, cluster.broker.addr()),
        listener("vip", vip, cluster.broker.vip_addr()),
        GuardListener {
            schemes: vec![Scheme::AclV1, Scheme::RmqHmacV1],
            ..listener("acl", acl, cluster.broker.addr())
        },
        GuardListener {
            targets: vec!["broker-a".into(), "DefaultCluster".into()],
            ..listener("bound", bound, cluster.broker.addr())
        },
    ];
    cfg.validate().unwrap();
    let (reload, rx) = tokio::sync::mpsc::channel(1);
    let reload_cfg = cfg.clone();
    let load = Box::new(move || Ok(reload_cfg.clone()));
    let agent = support::Agent::start_with_reload(cfg, Some(rmq_agent::app::Reloader { requests: rx, load })).await;
    (cluster, Guarded { main, vip, acl, bound, agent, reload, keys })
}

fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{:016x}{:016x}", now_ms(), N.fetch_add(1, Ordering::Relaxed))
}

fn request(code: RequestCode, ext: ExtFields) -> Header {
    let mut h = Header::request(code, 31);
    h.ext_fields = Some(ext);
    h
}

/// `h` signed with rmq-hmac-v1 by ops-1.
fn hmac_signed(mut h: Header) -> Header {
    let code = h.code;
    hmac_v1::sign(
        h.ext_fields.get_or_insert_with(ExtFields::new),
        code,
        b"",
        "ops-1",
        &SigningKey::new(OPS),
        now_ms(),
        &nonce(),
    );
    h
}

/// `h` signed with acl-v1 by `ak`.
fn acl_signed(mut h: Header, ak: &str, secret: &[u8]) -> Header {
    acl_v1::sign(h.ext_fields.get_or_insert_with(ExtFields::new), b"", ak, &SigningKey::new(secret), None);
    h
}

fn create_topic(topic: &str) -> Header {
    request(RequestCode::UPDATE_AND_CREATE_TOPIC, CreateTopicRequestHeader::new(topic, 2).to_ext_fields())
}

async fn call(addr: SocketAddr, h: &Header) -> (Header, bytes::Bytes) {
    let h = h.clone();
    tokio::task::spawn_blocking(move || {
        wire::call(addr, &h, SerializeType::JSON, &[], Duration::from_secs(10)).unwrap()
    })
    .await
    .unwrap()
}

/// Asserts the guard itself refused `h` on `addr` with `reason`.
async fn refused(addr: SocketAddr, h: &Header, reason: &str) -> String {
    let (resp, _) = call(addr, h).await;
    let remark = resp.remark.clone().unwrap_or_default();
    assert_eq!(resp.response_code(), ResponseCode::NO_PERMISSION, "{remark}");
    assert!(remark.starts_with("rmq-sidecar: ") && remark.contains(reason), "want {reason}: {remark}");
    remark
}

async fn topic_exists(cluster: &Cluster, topic: &str) -> bool {
    let direct = Client::new(ClientConfig::new(cluster.broker.addr().to_string()));
    let w: TopicConfigWrapper = direct.fetch(RequestCode::GET_ALL_TOPIC_CONFIG, None).await.unwrap();
    w.topic_config_table.contains_key(topic)
}

fn metric(body: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    rmq_testkit::expo::value(body, name, labels).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_code_unsigned_is_refused_and_never_reaches_the_broker() {
    let (_cluster, g) = start().await;
    let unknown = request(RequestCode(9999), ExtFields::new());
    let remark = refused(g.main, &unknown, "missing").await;
    assert!(remark.contains("(9999) requires a signature"), "{remark}");
    // Refused by the guard, not answered by the broker: nothing of class "unknown" was timed
    // at the broker. Signed, the same code is forwarded and the broker answers it.
    let forwarded =
        |b: &str| metric(b, "rmq_guard_broker_response_seconds_count", &[("listener", "main"), ("class", "unknown")]);
    let missing =
        |b: &str| metric(b, "rmq_guard_admin_requests_total", &[("listener", "main"), ("outcome", "missing")]);
    let body = g.agent.wait_for("the refusal counted", WAIT, |b| missing(b) == 1.0).await;
    assert_eq!(forwarded(&body), 0.0);
    let (resp, _) = call(g.main, &hmac_signed(unknown)).await;
    assert_ne!(resp.response_code(), ResponseCode::NO_PERMISSION, "{:?}", resp.remark);
    assert!(!resp.remark.unwrap_or_default().starts_with("rmq-sidecar"));
    g.agent.wait_for("the signed unknown code timed at the broker", WAIT, |b| forwarded(b) == 1.0).await;
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_config_is_a_signed_read() {
    let (_cluster, g) = start().await;
    let get = request(RequestCode::GET_BROKER_CONFIG, ExtFields::new());
    for addr in [g.main, g.vip] {
        let remark = refused(addr, &get, "missing").await;
        assert!(remark.contains("GET_BROKER_CONFIG (26)"), "{remark}");
    }
    let (resp, body) = call(g.main, &hmac_signed(get)).await;
    assert_eq!(resp.response_code(), ResponseCode::SUCCESS, "{:?}", resp.remark);
    assert!(String::from_utf8_lossy(&body).contains("brokerName"), "the broker's configuration");
    // The data path stays unsigned: a consumer's GET_MAX_OFFSET and a send.
    let ext: ExtFields = [("topic", "TBW102"), ("queueId", "0")].into_iter().collect();
    let (resp, _) = call(g.main, &request(RequestCode::GET_MAX_OFFSET, ext)).await;
    assert_eq!(resp.response_code(), ResponseCode::SUCCESS, "{:?}", resp.remark);
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_v1_is_opt_in_and_restricted_per_key() {
    let (cluster, g) = start().await;
    // Not enabled on the default listener: refused, saying why.
    let h = acl_signed(create_topic("policy-acl-off"), "ops-1", OPS);
    let remark = refused(g.main, &h, "scheme_not_accepted").await;
    assert!(remark.contains("acl-v1 is not accepted"), "{remark}");
    assert!(!topic_exists(cluster, "policy-acl-off").await);

    // Enabled: the unrestricted key signs any code.
    let (resp, _) = call(g.acl, &acl_signed(create_topic("policy-acl-on"), "ops-1", OPS)).await;
    assert_eq!(resp.response_code(), ResponseCode::SUCCESS, "{:?}", resp.remark);
    assert!(topic_exists(cluster, "policy-acl-on").await);

    // The dashboard key signs its one code...
    let runtime = acl_signed(request(RequestCode::GET_BROKER_RUNTIME_INFO, ExtFields::new()), "dash", DASH);
    let (resp, _) = call(g.acl, &runtime).await;
    assert_eq!(resp.response_code(), ResponseCode::SUCCESS, "{:?}", resp.remark);
    // ...and nothing else: ACL 1.0 does not sign the code, so its captured signature is valid
    // for GET_BROKER_CONFIG too; acl_v1_codes is what refuses it.
    let mut moved = runtime.clone();
    moved.code = RequestCode::GET_BROKER_CONFIG.get();
    let remark = refused(g.acl, &moved, "code_not_allowed").await;
    assert!(remark.contains("\"dash\"") && remark.contains("28"), "{remark}");
    refused(g.acl, &acl_signed(create_topic("policy-acl-dash"), "dash", DASH), "code_not_allowed").await;
    assert!(!topic_exists(cluster, "policy-acl-dash").await);
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replay_cache_for_every_listener_and_across_reloads() {
    let (cluster, g) = start().await;
    let signed = hmac_signed(create_topic("policy-replay"));
    let (resp, _) = call(g.main, &signed).await;
    assert_eq!(resp.response_code(), ResponseCode::SUCCESS, "{:?}", resp.remark);
    assert!(topic_exists(cluster, "policy-replay").await);
    // The same signed request on the VIP port of the same agent is a replay.
    refused(g.vip, &signed, "replayed").await;
    refused(g.acl, &signed, "replayed").await;
    // A reload replaces policies and keys, not what the cache remembers.
    g.reload.send(()).await.unwrap();
    g.agent
        .wait_for("reload applied", WAIT, |b| metric(b, "rmq_agent_config_reloads_total", &[("outcome", "ok")]) == 1.0)
        .await;
    refused(g.main, &signed, "replayed").await;
    refused(g.vip, &signed, "replayed").await;
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_bind_a_signature_to_its_broker() {
    let (cluster, g) = start().await;
    let for_target = |topic: &str, target: Option<&str>| {
        let mut h = create_topic(topic);
        if let Some(t) = target {
            h.set_ext(hmac_v1::TARGET, t);
        }
        hmac_signed(h)
    };
    let (resp, _) = call(g.bound, &for_target("policy-target-a", Some("broker-a"))).await;
    assert_eq!(resp.response_code(), ResponseCode::SUCCESS, "{:?}", resp.remark);
    let (resp, _) = call(g.bound, &for_target("policy-target-cluster", Some("DefaultCluster"))).await;
    assert_eq!(resp.response_code(), ResponseCode::SUCCESS, "{:?}", resp.remark);
    let remark = refused(g.bound, &for_target("policy-target-b", Some("broker-b")), "wrong_target").await;
    assert!(remark.contains("\"broker-b\""), "{remark}");
    refused(g.bound, &for_target("policy-target-none", None), "wrong_target").await;
    // Moving the signed target to the accepted one breaks the signature.
    let mut moved = for_target("policy-target-moved", Some("broker-b"));
    moved.set_ext(hmac_v1::TARGET, "broker-a");
    refused(g.bound, &moved, "bad_signature").await;
    for t in ["policy-target-b", "policy-target-none", "policy-target-moved"] {
        assert!(!topic_exists(cluster, t).await, "{t}");
    }
    assert!(topic_exists(cluster, "policy-target-a").await && topic_exists(cluster, "policy-target-cluster").await);

    // `rmq-agent admin --target` signs the field.
    let key = g.keys.path().join("ops-1");
    let bound = g.bound.to_string();
    let admin = |extra: &[&str], topic: &str| {
        let mut cmd = Command::new(BIN);
        cmd.args(["admin", "--addr", &bound, "--key-id", "ops-1", "--key-file"]).arg(&key).args(extra);
        cmd.args(["create-topic", topic]);
        async move { tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap() }
    };
    let out = admin(&["--target", "broker-a"], "policy-target-cli").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(topic_exists(cluster, "policy-target-cli").await);
    let out = admin(&[], "policy-target-cli-none").await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("wrong_target"), "{err}");
    let out = admin(&["--target", "not a name"], "policy-target-cli-bad").await;
    assert_eq!(out.status.code(), Some(64), "{}", String::from_utf8_lossy(&out.stderr));
    g.agent.stop().await;
}

fn guard_policy(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).arg("guard-policy").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The codes of the listing's table lines.
fn listed_codes(out: &str) -> Vec<i32> {
    out.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect()
}

#[test]
fn guard_policy_prints_the_default_lists() {
    let (code, out, err) = guard_policy(&["--role", "namesrv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed_codes(&out), [105, 106, 901]);
    assert!(out.contains("GET_ROUTEINFO_BY_TOPIC") && out.contains("data_read"), "{out}");
    assert!(out.contains("GET_BROKER_MEMBER_GROUP") && out.contains("internal_read"), "{out}");
    assert!(!out.contains("REGISTER_BROKER"), "route writes are signed by default:\n{out}");

    let (code, out, _) = guard_policy(&["--role", "broker"]);
    assert_eq!(code, 0);
    let codes = listed_codes(&out);
    for c in [10, 11, 15, 30, 34, 310] {
        assert!(codes.contains(&c), "{c} unsigned on a broker:\n{out}");
    }
    for c in [17, 21, 25, 26, 28, 54, 906, 1008, 3004] {
        assert!(!codes.contains(&c), "{c} signed on a broker:\n{out}");
    }
    // Without --role, both roles.
    let (_, out, _) = guard_policy(&[]);
    assert!(out.contains("# role broker") && out.contains("# role namesrv"), "{out}");
    let (code, _, _) = guard_policy(&["--role", "controller"]);
    assert_eq!(code, 64, "an unknown role is a usage error");
}

#[test]
fn guard_policy_prints_a_listeners_effective_list() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    let write = |extra: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[[guard.keys]]\nid = \"ops-1\"\nsecret_file = \"/nonexistent\"\n\
                 [[guard.listeners]]\nname = \"broker\"\nlisten = \"10.0.0.1:10911\"\nupstream = \"127.0.0.1:10911\"\n\
                 allow_unsigned = [21, 43]\nrequire_signed = [15]\n{extra}\
                 [[guard.listeners]]\nname = \"namesrv\"\nrole = \"namesrv\"\nlisten = \"10.0.0.1:9876\"\nupstream = \"127.0.0.1:9876\"\n"
            ),
        )
        .unwrap();
    };
    write("");
    let path = cfg.display().to_string();
    let (code, out, err) = guard_policy(&["--config", &path, "--listener", "broker"]);
    assert_eq!(code, 0, "{err}");
    let codes = listed_codes(&out);
    assert!(codes.contains(&21) && codes.contains(&43) && codes.contains(&10) && !codes.contains(&15), "{out}");
    assert!(out.lines().any(|l| l.contains("GET_ALL_TOPIC_CONFIG") && l.ends_with("allow_unsigned")), "{out}");
    assert!(out.lines().any(|l| l.contains("SEND_MESSAGE ") && l.ends_with("default")), "{out}");
    assert!(out.contains("require_signed): 15"), "{out}");
    assert!(!out.contains("# listener namesrv"), "only the one asked for");
    // Every listener without --listener.
    let (_, out, _) = guard_policy(&["--config", &path]);
    assert!(out.contains("# listener broker") && out.contains("# listener namesrv"), "{out}");
    let (code, _, err) = guard_policy(&["--config", &path, "--listener", "nope"]);
    assert!(code == 64 && err.contains("no guard listener named \"nope\""), "{err}");
    // The retired keys are refused with what replaced them.
    write("add_codes = [26]\n");
    let (code, _, err) = guard_policy(&["--config", &path]);
    assert!(code == 64 && err.contains("`add_codes` was removed") && err.contains("require_signed"), "{err}");
    let out = Command::new(BIN).arg("check-config").arg(&cfg).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("`add_codes` was removed"));
}
