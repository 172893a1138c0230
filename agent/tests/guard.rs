//! The admin guard in front of a real broker: unsigned admin requests refused with
//! NO_PERMISSION and never reaching the broker; signed ones (either scheme, either header
//! type) going through; replayed, expired, wrong-key and tampered ones refused; the data
//! path untouched on the main and VIP ports; bad frames and slow clients costing one
//! connection; many connections at once.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmq_agent::config::{Config, GuardKey, GuardListener};
use rmq_agent::guard::Scheme;
use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::body::TopicConfigWrapper;
use rmq_protocol::request::{
    CommandHeader as _, CreateTopicRequestHeader, SendMessageRequestHeaderV2, subscription_group_body,
};
use rmq_protocol::sign::{SigningKey, acl_v1, hmac_v1};
use rmq_protocol::{ExtFields, Header, RequestCode, ResponseCode, SerializeType};
use rmq_testkit::{Cluster, free_port, wire};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SECRET: &[u8] = b"guard-test-secret";

struct Guarded {
    main: SocketAddr,
    vip: SocketAddr,
    /// Like `main`, with a three-second idle timeout.
    idle: SocketAddr,
    agent: support::Agent,
    _keys: tempfile::TempDir,
}

async fn start() -> (&'static Cluster, Guarded) {
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("ops-1");
    std::fs::write(&key_file, SECRET).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (main, vip): (SocketAddr, SocketAddr) = (
        format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap(),
        format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap(),
    );
    let mut cfg = Config::default();
    cfg.broker.enabled = false;
    cfg.host.enabled = false;
    cfg.guard.keys = vec![GuardKey::new("ops-1", key_file)];
    let listener = |name: &str, listen: SocketAddr, upstream: SocketAddr| {
        let mut l = GuardListener::new(name, listen, upstream);
        // Short, so a half-sent frame is closed soon; long enough that a new connection's first
        // frame (due whole within this of the accept) makes it on a loaded machine while 1,000
        // clients and the guard share the test's two runtime threads.
        l.limits.frame_timeout = Duration::from_secs(5);
        l.limits.connect_timeout = Duration::from_secs(15);
        // These tests sign with both schemes; acl-v1 is opt-in.
        l.schemes = vec![Scheme::AclV1, Scheme::RmqHmacV1];
        // Every test client is 127.0.0.1, and one test holds 1,000 connections at once.
        l.limits.max_connections_per_source = 2_000;
        l
    };
    let idle: SocketAddr = format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap();
    cfg.guard.listeners =
        vec![listener("main", main, cluster.broker.addr()), listener("vip", vip, cluster.broker.vip_addr()), {
            // Idle counts from the last frame either way, the request included: the broker's
            // answer must come within it, also from a broker busy with the other tests.
            let mut l = listener("idle", idle, cluster.broker.addr());
            l.limits.idle_timeout = Duration::from_secs(3);
            l
        }];
    cfg.validate().unwrap();
    let agent = support::Agent::start(cfg).await;
    (cluster, Guarded { main, vip, idle, agent, _keys: keys })
}

fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{:016x}{:016x}", now_ms(), N.fetch_add(1, Ordering::Relaxed))
}

/// A data-path read every consumer sends (GET_MAX_OFFSET): unsigned through the guard.
fn max_offset_ext() -> ExtFields {
    [("topic", "TBW102"), ("queueId", "0")].into_iter().collect()
}

/// A GET_MAX_OFFSET request with `opaque`.
fn max_offset(opaque: i32) -> Header {
    let mut h = Header::request(RequestCode::GET_MAX_OFFSET, opaque);
    h.ext_fields = Some(max_offset_ext());
    h
}

/// Sends GET_MAX_OFFSET through `c` and returns the answer's code.
async fn data_read(c: &Client) -> ResponseCode {
    c.request(RequestCode::GET_MAX_OFFSET, Some(max_offset_ext()), &[], None).await.unwrap().code()
}

fn create_topic_ext(topic: &str) -> ExtFields {
    CreateTopicRequestHeader::new(topic, 2).to_ext_fields()
}

async fn topic_exists(cluster: &Cluster, topic: &str) -> bool {
    let direct = Client::new(ClientConfig::new(cluster.broker.addr().to_string()));
    let w: TopicConfigWrapper = direct.fetch(RequestCode::GET_ALL_TOPIC_CONFIG, None).await.unwrap();
    w.topic_config_table.contains_key(topic)
}

/// Sends one raw request through `addr` and returns the response header.
async fn call(addr: SocketAddr, header: &Header, ty: SerializeType, body: &[u8]) -> Header {
    let (h, b) = (header.clone(), body.to_vec());
    tokio::task::spawn_blocking(move || wire::call(addr, &h, ty, &b, Duration::from_secs(10)).unwrap().0).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_admin_is_refused_and_never_reaches_the_broker() {
    let (cluster, g) = start().await;
    for ty in [SerializeType::JSON, SerializeType::ROCKETMQ] {
        let topic = format!("guard-unsigned-{}", ty.get());
        let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 77);
        h.ext_fields = Some(create_topic_ext(&topic));
        let resp = call(g.main, &h, ty, &[]).await;
        assert_eq!(resp.response_code(), ResponseCode::NO_PERMISSION);
        assert_eq!(resp.opaque, 77);
        assert!(resp.is_response());
        let remark = resp.remark.unwrap();
        assert!(remark.contains("UPDATE_AND_CREATE_TOPIC (17)") && remark.contains("missing"), "{remark}");
        assert!(!topic_exists(cluster, &topic).await, "{topic} must not have been created");
    }
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_admin_goes_through_with_either_scheme_and_header_type() {
    let (cluster, g) = start().await;
    let key = SigningKey::new(SECRET);
    for ty in [SerializeType::JSON, SerializeType::ROCKETMQ] {
        let topic = format!("guard-hmac-{}", ty.get());
        let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 5);
        let mut ext = create_topic_ext(&topic);
        hmac_v1::sign(&mut ext, 17, b"", "ops-1", &key, now_ms(), &nonce());
        h.ext_fields = Some(ext);
        let resp = call(g.main, &h, ty, &[]).await;
        assert_eq!(resp.response_code(), ResponseCode::SUCCESS, "{:?}", resp.remark);
        assert!(topic_exists(cluster, &topic).await);

        let topic = format!("guard-acl-{}", ty.get());
        let mut ext = create_topic_ext(&topic);
        acl_v1::sign(&mut ext, b"", "ops-1", &key, None);
        let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 6);
        h.ext_fields = Some(ext);
        let resp = call(g.vip, &h, ty, &[]).await;
        assert_eq!(resp.response_code(), ResponseCode::SUCCESS, "{:?}", resp.remark);
        assert!(topic_exists(cluster, &topic).await);
    }
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_expired_wrong_key_and_tampered_are_refused() {
    let (cluster, g) = start().await;
    let key = SigningKey::new(SECRET);
    let signed = |topic: &str, ts: u64, k: &SigningKey, id: &str| {
        let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 9);
        let mut ext = create_topic_ext(topic);
        hmac_v1::sign(&mut ext, 17, b"", id, k, ts, &nonce());
        h.ext_fields = Some(ext);
        h
    };
    // Replay: the same signed request twice.
    let h = signed("guard-replay", now_ms(), &key, "ops-1");
    assert_eq!(call(g.main, &h, SerializeType::JSON, &[]).await.response_code(), ResponseCode::SUCCESS);
    let again = call(g.main, &h, SerializeType::JSON, &[]).await;
    assert_eq!(again.response_code(), ResponseCode::NO_PERMISSION);
    assert!(again.remark.unwrap().contains("replayed"));

    let cases: Vec<(&str, Header, Vec<u8>, &str)> = vec![
        ("guard-expired", signed("guard-expired", now_ms() - 3_600_000, &key, "ops-1"), vec![], "expired"),
        (
            "guard-wrongkey",
            signed("guard-wrongkey", now_ms(), &SigningKey::new(b"not-the-secret"), "ops-1"),
            vec![],
            "bad_signature",
        ),
        ("guard-unknownkey", signed("guard-unknownkey", now_ms(), &key, "nobody"), vec![], "unknown_key"),
    ];
    for (topic, h, body, reason) in cases {
        let resp = call(g.main, &h, SerializeType::ROCKETMQ, &body).await;
        assert_eq!(resp.response_code(), ResponseCode::NO_PERMISSION, "{topic}");
        assert!(resp.remark.clone().unwrap().contains(reason), "{topic}: {:?}", resp.remark);
        assert!(!topic_exists(cluster, topic).await);
    }
    // Tampered body: a subscription group signed with one body, sent with another.
    let good = subscription_group_body("guard-group-good");
    let evil = subscription_group_body("guard-group-evil");
    let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 11);
    let mut ext = ExtFields::new();
    hmac_v1::sign(&mut ext, 200, &good, "ops-1", &key, now_ms(), &nonce());
    h.ext_fields = Some(ext);
    let resp = call(g.main, &h, SerializeType::JSON, &evil).await;
    assert_eq!(resp.response_code(), ResponseCode::NO_PERMISSION);
    assert!(resp.remark.unwrap().contains("bad_signature"));
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_path_passes_on_main_and_vip_ports() {
    let (_cluster, g) = start().await;
    for addr in [g.main, g.vip] {
        let c = Client::new(ClientConfig::new(addr.to_string()));
        assert_eq!(data_read(&c).await, ResponseCode::SUCCESS);
        let h = SendMessageRequestHeaderV2 {
            producer_group: "g".into(),
            topic: "TBW102".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            born_timestamp: 1,
            ..Default::default()
        };
        let r = c.call(&h, b"through the guard").await.unwrap();
        assert_eq!(r.code(), ResponseCode::SUCCESS);
    }
    // Both sends were counted per (client host, topic), and broker latency was measured.
    let m = |b: &str, name: &str, labels: &[(&str, &str)]| rmq_testkit::expo::value(b, name, labels).unwrap_or(0.0);
    g.agent
        .wait_for("send counts and response latency", Duration::from_secs(30), |b| {
            m(b, "rmq_guard_send_requests_total", &[("listener", "main"), ("client", "127.0.0.1"), ("topic", "TBW102")])
                == 1.0
                && m(b, "rmq_guard_send_requests_total", &[("listener", "vip"), ("topic", "TBW102")]) == 1.0
                && m(b, "rmq_guard_broker_response_seconds_count", &[("listener", "main"), ("class", "data_write")])
                    == 1.0
                && m(b, "rmq_guard_broker_response_seconds_count", &[("listener", "main"), ("class", "data_read")])
                    >= 1.0
        })
        .await;
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_and_slow_clients_cost_one_connection() {
    let (_cluster, g) = start().await;
    let closed = |mut s: tokio::net::TcpStream| async move {
        let mut b = [0u8; 64];
        // The guard closes it: reading ends (EOF or reset) within the deadline.
        let r =
            tokio::time::timeout(Duration::from_secs(30), s.read(&mut b)).await.expect("guard closes the connection");
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    };
    // Oversized length prefix.
    let mut s = tokio::net::TcpStream::connect(g.main).await.unwrap();
    s.write_all(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]).await.unwrap();
    closed(s).await;
    // Unknown serialize type.
    let mut s = tokio::net::TcpStream::connect(g.main).await.unwrap();
    s.write_all(&[0, 0, 0, 8, 5, 0, 0, 2, 0, 0]).await.unwrap();
    closed(s).await;
    // A frame that starts and never finishes (frame_timeout_ms = 5000 in this config).
    let mut s = tokio::net::TcpStream::connect(g.main).await.unwrap();
    s.write_all(&[0, 0, 0, 100, 0, 0, 0, 10]).await.unwrap();
    closed(s).await;
    // A connection that goes quiet after a request (idle_timeout_seconds = 3 on "idle").
    let c = Client::new(ClientConfig::new(g.idle.to_string()));
    assert_eq!(data_read(&c).await, ResponseCode::SUCCESS);
    let idle_closes = |b: &str| {
        rmq_testkit::expo::value(b, "rmq_guard_connection_errors_total", &[("listener", "idle"), ("reason", "timeout")])
            .unwrap_or(0.0)
    };
    g.agent.wait_for("idle connection closed", Duration::from_secs(30), |b| idle_closes(b) >= 1.0).await;
    // The answer arrives, then the quiet connection is closed: read_to_end returns.
    let mut s = tokio::net::TcpStream::connect(g.idle).await.unwrap();
    let req = rmq_protocol::frame::encode_to_bytes(&max_offset(7), SerializeType::JSON, &[]).unwrap();
    s.write_all(&req).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut got)).await.expect("idle close").unwrap();
    assert_eq!(rmq_protocol::RawFrame::parse(bytes::Bytes::from(got)).unwrap().header().unwrap().opaque, 7);
    // Meanwhile, a well-behaved client is unaffected.
    let c = Client::new(ClientConfig::new(g.main.to_string()));
    assert_eq!(data_read(&c).await, ResponseCode::SUCCESS);
    // Each closed connection was counted with its reason.
    let v = |b: &str, reason: &str| {
        rmq_testkit::expo::value(b, "rmq_guard_connection_errors_total", &[("listener", "main"), ("reason", reason)])
            .unwrap_or(0.0)
    };
    g.agent
        .wait_for("guard error counters", Duration::from_secs(30), |b| {
            v(b, "malformed_frame") >= 2.0 && v(b, "timeout") >= 1.0
        })
        .await;
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_still_gets_the_owed_response() {
    let (_cluster, g) = start().await;
    let mut s = tokio::net::TcpStream::connect(g.main).await.unwrap();
    let req = rmq_protocol::frame::encode_to_bytes(&max_offset(42), SerializeType::JSON, &[]).unwrap();
    s.write_all(&req).await.unwrap();
    s.shutdown().await.unwrap(); // no more requests from this client
    let mut got = Vec::new();
    // The response arrives, then the guard closes: read_to_end returns.
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut got))
        .await
        .expect("guard closes after the response")
        .unwrap();
    let f = rmq_protocol::RawFrame::parse(bytes::Bytes::from(got)).expect("exactly one whole frame");
    let h = f.header().unwrap();
    assert_eq!((h.opaque, h.response_code()), (42, ResponseCode::SUCCESS));
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections() {
    let (_cluster, g) = start().await;
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let addr = g.main;
        tasks.push(tokio::spawn(async move {
            // GET_MAX_OFFSET, not GET_BROKER_RUNTIME_INFO: RocketMQ-Rust answers the latter in
            // ~100 ms one at a time, so 1,000 of them time out even without the guard.
            let c = Client::new(ClientConfig::new(addr.to_string()));
            let r = c
                .request(RequestCode::GET_MAX_OFFSET, Some(max_offset_ext()), &[], Some(Duration::from_secs(60)))
                .await;
            (i, r.map(|r| r.code()), c)
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        let (i, r, c) = t.await.unwrap();
        assert_eq!(r.unwrap_or_else(|e| panic!("connection {i}: {e}")), ResponseCode::SUCCESS);
        clients.push(c);
    }
    // All 1,000 are open at once now (each client keeps its connection).
    let active =
        |b: &str| rmq_testkit::expo::value(b, "rmq_guard_connections_active", &[("listener", "main")]).unwrap_or(0.0);
    g.agent.wait_for("1000 active guarded connections", Duration::from_secs(30), |b| active(b) == 1000.0).await;
    drop(clients);
    g.agent.wait_for("connections closed", Duration::from_secs(60), |b| active(b) == 0.0).await;
    g.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rotates_keys_without_dropping_connections() {
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("ops-1");
    std::fs::write(&key_file, b"old-secret").unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let main: SocketAddr = format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap();
    let mut cfg = Config::default();
    cfg.broker.enabled = false;
    cfg.host.enabled = false;
    cfg.guard.keys = vec![GuardKey::new("ops-1", key_file.clone())];
    cfg.guard.listeners = vec![GuardListener::new("main", main, cluster.broker.addr())];
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let reload_cfg = cfg.clone();
    let load = Box::new(move || {
        let c = reload_cfg.clone();
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    });
    let agent = support::Agent::start_with_reload(cfg, Some(rmq_agent::app::Reloader { requests: rx, load })).await;

    // One client connection for the whole test.
    let c = Client::new(ClientConfig::new(main.to_string()));
    let create = |topic: &str, secret: &[u8]| {
        let mut ext = create_topic_ext(topic);
        hmac_v1::sign(&mut ext, 17, b"", "ops-1", &SigningKey::new(secret), now_ms(), &nonce());
        ext
    };
    let send = |ext: ExtFields| {
        let c = c.clone();
        async move { c.request(RequestCode::UPDATE_AND_CREATE_TOPIC, Some(ext), &[], None).await.unwrap().code() }
    };
    assert_eq!(send(create("guard-reload-1", b"old-secret")).await, ResponseCode::SUCCESS);

    // Rotate the key and reload: the new secret signs, the old one no longer does.
    std::fs::write(&key_file, b"new-secret").unwrap();
    tx.send(()).await.unwrap();
    let reloaded = |b: &str, outcome: &str| {
        rmq_testkit::expo::value(b, "rmq_agent_config_reloads_total", &[("outcome", outcome)]).unwrap_or(0.0)
    };
    agent.wait_for("reload ok", Duration::from_secs(30), |b| reloaded(b, "ok") == 1.0).await;
    assert_eq!(send(create("guard-reload-2", b"old-secret")).await, ResponseCode::NO_PERMISSION);
    assert_eq!(send(create("guard-reload-3", b"new-secret")).await, ResponseCode::SUCCESS);

    // An invalid configuration (a world-readable key file) is refused; the running keys stay.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    tx.send(()).await.unwrap();
    agent.wait_for("reload failure counted", Duration::from_secs(30), |b| reloaded(b, "failed") == 1.0).await;
    assert_eq!(send(create("guard-reload-4", b"new-secret")).await, ResponseCode::SUCCESS);
    assert!(topic_exists(cluster, "guard-reload-4").await);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_signs_through_the_guard() {
    let (cluster, g) = start().await;
    let key_file = g._keys.path().join("ops-1");
    let main = g.main.to_string();
    // Runs `rmq-agent admin --addr <guard> [--key-id ops-1 --key-file … --scheme S] ARGS…`.
    let admin = |scheme: Option<&str>, args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rmq-agent"));
        cmd.args(["admin", "--addr", &main]);
        if let Some(scheme) = scheme {
            cmd.args(["--key-id", "ops-1", "--key-file"]).arg(&key_file).args(["--scheme", scheme]);
        }
        cmd.args(args);
        async move { tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap() }
    };
    let out = admin(Some("rmq-hmac-v1"), &["create-topic", "guard-cli-topic", "--queues", "3"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("UPDATE_AND_CREATE_TOPIC answered SUCCESS"));
    assert!(topic_exists(cluster, "guard-cli-topic").await);

    let out = admin(Some("acl-v1"), &["--binary", "create-group", "guard-cli-group"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = admin(None, &["create-topic", "guard-cli-unsigned"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NO_PERMISSION") && err.contains("missing"), "{err}");
    assert!(!topic_exists(cluster, "guard-cli-unsigned").await);

    let out = admin(Some("rmq-hmac-v1"), &["delete-topic", "guard-cli-topic"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!topic_exists(cluster, "guard-cli-topic").await);
    g.agent.stop().await;
}
