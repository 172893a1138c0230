//! The admin guard tried as an attacker would, in front of a real broker with a recording tap
//! between the two: header spellings a Java broker reads differently from an exact-key reader
//! never execute and never reach the broker in any but the guard's canonical form; silent
//! connections never reach the broker; one source address cannot take every slot; oversized
//! headers, unsolicited responses and clients that stop reading each cost one connection or
//! one frame.
//!
//! RocketMQ-Rust's broker reads JSON headers strictly, so "the topic was not created" alone
//! would prove nothing about a Java broker. What does is the tap: every frame that reached
//! the broker is checked to be exactly the guard's canonical encoding of its header, which a
//! Java broker reads one way only.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use rmq_agent::config::{Config, GuardKey, GuardListener};
use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::body::TopicConfigWrapper;
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::header::spellings::{HOSTILE_SPELLINGS, HOSTILE_TOPIC_PREFIX};
use rmq_protocol::request::{CommandHeader as _, CreateTopicRequestHeader};
use rmq_protocol::sign::{SigningKey, hmac_v1};
use rmq_protocol::{ExtFields, Header, RequestCode, ResponseCode, SerializeType};
use rmq_testkit::tap::Tap;
use rmq_testkit::{Cluster, free_port};

const SECRET: &[u8] = b"guard-hostile-secret";

struct Setup {
    cluster: &'static Cluster,
    tap: Tap,
    guard: SocketAddr,
    agent: support::Agent,
    _keys: tempfile::TempDir,
}

/// One guard listener in front of the shared broker, through a tap, shaped by `tune`.
async fn start(tune: impl FnOnce(&mut GuardListener)) -> Setup {
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    let tap = Tap::start(cluster.broker.addr()).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("ops-1");
    std::fs::write(&key_file, SECRET).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let guard: SocketAddr = format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap();
    let mut cfg = Config::default();
    cfg.broker.enabled = false;
    cfg.host.enabled = false;
    cfg.guard.keys = vec![GuardKey { id: "ops-1".into(), secret_file: key_file, acl_v1_codes: None, brokers: None }];
    let mut l = GuardListener {
        name: "main".into(),
        listen: guard.to_string(),
        upstream: tap.addr.to_string(),
        connect_timeout_ms: 15_000,
        ..GuardListener::default()
    };
    tune(&mut l);
    cfg.guard.listeners = vec![l];
    cfg.validate().unwrap();
    let agent = support::Agent::start(cfg).await;
    Setup { cluster, tap, guard, agent, _keys: keys }
}

fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// A frame with exactly these header bytes.
fn raw_frame(ty: SerializeType, header: &[u8], body: &[u8]) -> Vec<u8> {
    let header_len = u32::try_from(header.len()).unwrap();
    let total = 4 + header_len + u32::try_from(body.len()).unwrap();
    let mut v = total.to_be_bytes().to_vec();
    v.extend_from_slice(&((u32::from(ty.get()) << 24) | header_len).to_be_bytes());
    v.extend_from_slice(header);
    v.extend_from_slice(body);
    v
}

#[derive(Debug)]
enum Outcome {
    /// The guard closed the connection without answering.
    Closed,
    /// An answer arrived.
    Answered(Header),
}

/// Writes `bytes` on a fresh connection and reads until a response frame or the end.
async fn exchange(addr: SocketAddr, bytes: Vec<u8>) -> Outcome {
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // The guard may close before reading everything; a failed write is an answer too.
        let _ = s.write_all(&bytes);
        let mut buf = BytesMut::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(f) = RawFrame::split_from(&mut buf).unwrap() {
                return Outcome::Answered(f.header().unwrap());
            }
            match s.read(&mut chunk) {
                Ok(0) => return Outcome::Closed,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Outcome::Closed,
                Err(e) => panic!("no answer and no close from the guard: {e}"),
            }
        }
    })
    .await
    .unwrap()
}

async fn topics(cluster: &Cluster) -> Vec<String> {
    let direct = Client::new(ClientConfig::new(cluster.broker.addr().to_string()));
    let w: TopicConfigWrapper = direct.fetch(RequestCode::GET_ALL_TOPIC_CONFIG, None).await.unwrap();
    w.topic_config_table.keys().cloned().collect()
}

/// Every frame the broker received, split from the tap's recording.
fn frames_at_broker(tap: &Tap) -> Vec<RawFrame> {
    let mut out = Vec::new();
    for conn in tap.upstream_bytes() {
        let mut buf = BytesMut::from(&conn[..]);
        while let Some(f) = RawFrame::split_from(&mut buf).unwrap() {
            out.push(f);
        }
        assert!(buf.is_empty(), "a partial frame reached the broker");
    }
    out
}

/// Whether a frame's header is exactly the canonical encoding of what it decodes to.
fn is_canonical(f: &RawFrame) -> bool {
    let h = f.header().unwrap();
    let mut again = BytesMut::new();
    h.encode(f.serialize_type(), &mut again).unwrap();
    again.as_ref() == f.header_bytes()
}

/// Waits until the exposed `series` (name and labels) satisfies `ok`; metrics are published
/// once a second.
async fn wait_metric(agent: &support::Agent, series: &str, ok: impl Fn(f64) -> bool) {
    agent.wait_for(series, Duration::from_secs(10), |m| ok(metric(m, series))).await;
}

fn metric(scrape: &str, name_and_labels: &str) -> f64 {
    scrape.lines().find_map(|l| l.strip_prefix(name_and_labels).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_spellings_never_execute_and_the_broker_sees_only_canonical_headers() {
    let s = start(|_| {}).await;
    for (name, header) in HOSTILE_SPELLINGS {
        let o = exchange(s.guard, raw_frame(SerializeType::JSON, header, b"")).await;
        // Refused outright, or answered NO_PERMISSION on the broker's behalf: never executed.
        match &o {
            Outcome::Closed => {}
            Outcome::Answered(h) => assert_eq!(h.response_code(), ResponseCode::NO_PERMISSION, "{name}: {h:?}"),
        }
    }
    // A binary header whose ext map repeats `topic`: a HashMap keeps the last copy.
    let mut area = Vec::new();
    for (k, v) in [("topic", "rmq_hostile_binary_b"), ("topic", "rmq_hostile_binary_c")] {
        area.extend_from_slice(&u16::try_from(k.len()).unwrap().to_be_bytes());
        area.extend_from_slice(k.as_bytes());
        area.extend_from_slice(&u32::try_from(v.len()).unwrap().to_be_bytes());
        area.extend_from_slice(v.as_bytes());
    }
    let mut bin = Vec::new();
    bin.extend_from_slice(&17i16.to_be_bytes()); // code
    bin.push(0); // language JAVA
    bin.extend_from_slice(&395i16.to_be_bytes()); // version
    bin.extend_from_slice(&1i32.to_be_bytes()); // opaque
    bin.extend_from_slice(&0i32.to_be_bytes()); // flag
    bin.extend_from_slice(&0i32.to_be_bytes()); // no remark
    bin.extend_from_slice(&u32::try_from(area.len()).unwrap().to_be_bytes());
    bin.extend_from_slice(&area);
    let o = exchange(s.guard, raw_frame(SerializeType::ROCKETMQ, &bin, b"")).await;
    assert!(matches!(o, Outcome::Closed), "a repeated binary ext key must be refused: {o:?}");

    // Controls, so the assertions below can fail: a stock-shaped signed create goes through,
    // and an unsigned data request in a Go client's key order is answered by the broker.
    let control = "guard_hostile_control";
    let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 5);
    let mut ext = CreateTopicRequestHeader::new(control, 2).to_ext_fields();
    hmac_v1::sign(&mut ext, 17, b"", "ops-1", &SigningKey::new(SECRET), now_ms(), "hostile-control-nonce-1");
    h.ext_fields = Some(ext);
    let o = exchange(s.guard, frame::encode_to_bytes(&h, SerializeType::JSON, b"").unwrap().to_vec()).await;
    assert!(matches!(o, Outcome::Answered(ref r) if r.response_code() == ResponseCode::SUCCESS), "{o:?}");
    let go_style = br#"{"code":38,"language":"GO","version":317,"opaque":9,"flag":0,"remark":"","extFields":{"consumerGroup":"g"}}"#;
    let o = exchange(s.guard, raw_frame(SerializeType::JSON, go_style, b"")).await;
    assert!(matches!(o, Outcome::Answered(ref r) if r.opaque == 9), "{o:?}");

    let all = topics(s.cluster).await;
    assert!(all.iter().any(|t| t == control), "the control topic was created");
    let hostile: Vec<_> = all.iter().filter(|t| t.starts_with(HOSTILE_TOPIC_PREFIX)).collect();
    assert!(hostile.is_empty(), "hostile spellings executed: {hostile:?}");

    let at_broker = frames_at_broker(&s.tap);
    assert!(at_broker.len() >= 2, "the controls reached the broker: {}", at_broker.len());
    for f in &at_broker {
        assert!(
            is_canonical(f),
            "non-canonical header reached the broker: {:?}",
            String::from_utf8_lossy(f.header_bytes())
        );
        let h = f.header().unwrap();
        if h.code == RequestCode::UPDATE_AND_CREATE_TOPIC.get() {
            assert_eq!(h.ext("topic"), Some(control), "only the signed control may reach the broker as code 17");
        }
    }
    assert!(
        at_broker
            .iter()
            .any(|f| f.header().unwrap().code == 38 && f.header_bytes().starts_with(b"{\"code\":38,\"extFields\"")),
        "the Go-ordered header reached the broker re-encoded"
    );
    for r in ["noncanonical_field_name", "repeated_field", "repeated_ext_key"] {
        let series = format!(r#"rmq_guard_connection_errors_total{{listener="main",reason="{r}"}}"#);
        wait_metric(&s.agent, &series, |v| v >= 1.0).await;
    }
    s.agent.stop().await;
}

/// Opens `n` connections to `addr` that send nothing (or `prefix`) and keeps them.
async fn hold(addr: SocketAddr, n: usize, prefix: &[u8]) -> Vec<tokio::net::TcpStream> {
    let mut v = Vec::new();
    for _ in 0..n {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        if !prefix.is_empty() {
            tokio::io::AsyncWriteExt::write_all(&mut c, prefix).await.unwrap();
        }
        v.push(c);
    }
    v
}

fn consumer_list_request(opaque: i32) -> Vec<u8> {
    let mut h = Header::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP, opaque);
    h.set_ext("consumerGroup", "g");
    frame::encode_to_bytes(&h, SerializeType::JSON, b"").unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_partial_connections_never_reach_the_broker() {
    let s = start(|l| l.frame_timeout_ms = 60_000).await;
    let _silent = hold(s.guard, 20, b"").await;
    let _partial = hold(s.guard, 20, &consumer_list_request(1)[..10]).await;
    s.agent
        .wait_for("40 connections held by the guard", Duration::from_secs(20), |m| {
            metric(m, "rmq_guard_connections_active{listener=\"main\"}") >= 40.0
        })
        .await;
    assert_eq!(s.tap.connections(), 0, "the broker was dialled before a whole frame arrived");
    let o = exchange(s.guard, consumer_list_request(2)).await;
    assert!(matches!(o, Outcome::Answered(ref h) if h.opaque == 2), "{o:?}");
    assert_eq!(s.tap.connections(), 1);
    s.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_address_cannot_take_every_slot() {
    let s = start(|l| {
        l.frame_timeout_ms = 60_000;
        l.max_connections_per_source = 3;
    })
    .await;
    let _held = hold(s.guard, 3, b"").await;
    s.agent
        .wait_for("3 connections held", Duration::from_secs(20), |m| {
            metric(m, "rmq_guard_connections_active{listener=\"main\"}") >= 3.0
        })
        .await;
    // A fourth from the same address is closed at once, even with a whole request in it.
    let o = exchange(s.guard, consumer_list_request(4)).await;
    assert!(matches!(o, Outcome::Closed), "{o:?}");
    // Another address is served.
    let guard = s.guard;
    let answered = tokio::task::spawn_blocking(move || {
        let sock = socket_from("127.0.0.2:0".parse().unwrap(), guard);
        let mut s = sock;
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(&consumer_list_request(5)).unwrap();
        let mut buf = BytesMut::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(f) = RawFrame::split_from(&mut buf).unwrap() {
                return f.header().unwrap().opaque;
            }
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "closed");
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap();
    assert_eq!(answered, 5);
    wait_metric(&s.agent, r#"rmq_guard_connections_total{listener="main",outcome="refused_source_limit"}"#, |v| {
        v == 1.0
    })
    .await;
    s.agent.stop().await;
}

/// A blocking connection to `to` from the local address `from`.
fn socket_from(from: SocketAddr, to: SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(from).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let s = rt.block_on(sock.connect(to)).unwrap();
    let std = s.into_std().unwrap();
    std.set_nonblocking(false).unwrap();
    std
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_cost_one_connection_and_reach_nothing() {
    let s = start(|_| {}).await;
    // 100,000 ext fields in a 1 MB header: refused from the 8-byte prefix, before the rest is
    // read (only the prefix and a little of the header are sent).
    let header_len: u32 = 1_000_000;
    let mut prefix = (header_len + 4).to_be_bytes().to_vec();
    prefix.extend_from_slice(&header_len.to_be_bytes());
    prefix.extend_from_slice(b"{\"code\":10,\"extFields\":{\"k0\":\"v\",\"k1\":\"v\"");
    assert!(matches!(exchange(s.guard, prefix).await, Outcome::Closed));
    // A 10 MB frame (over the 4 MiB + 64 KiB default): refused from its prefix too.
    let mut prefix = 10_000_000u32.to_be_bytes().to_vec();
    prefix.extend_from_slice(&100u32.to_be_bytes());
    assert!(matches!(exchange(s.guard, prefix).await, Outcome::Closed));
    // A request that needs a signature, announcing a 2 MiB body (over max_signed_body_bytes):
    // refused once its header is in; the body is never sent.
    let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 6);
    h.ext_fields = Some(CreateTopicRequestHeader::new("guard_big_body", 2).to_ext_fields());
    let whole = frame::encode_to_bytes(&h, SerializeType::JSON, &vec![b'x'; 2 << 20]).unwrap();
    let head = whole[..whole.len() - (2 << 20)].to_vec();
    assert!(matches!(exchange(s.guard, head).await, Outcome::Closed));

    // Within the size limit but over the field limit (256 by default).
    let mut h = Header::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP, 7);
    for i in 0..300 {
        h.set_ext(format!("k{i}"), "v");
    }
    let many = frame::encode_to_bytes(&h, SerializeType::JSON, b"").unwrap().to_vec();
    assert!(matches!(exchange(s.guard, many).await, Outcome::Closed));
    let many_binary = frame::encode_to_bytes(&h, SerializeType::ROCKETMQ, b"").unwrap().to_vec();
    assert!(matches!(exchange(s.guard, many_binary).await, Outcome::Closed));

    // Under both limits: served.
    let mut h = Header::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP, 8);
    h.set_ext("consumerGroup", "g");
    for i in 0..200 {
        h.set_ext(format!("k{i}"), "v".repeat(100));
    }
    let o = exchange(s.guard, frame::encode_to_bytes(&h, SerializeType::JSON, b"").unwrap().to_vec()).await;
    assert!(matches!(o, Outcome::Answered(ref r) if r.opaque == 8), "{o:?}");
    assert_eq!(s.tap.connections(), 1, "only the served request reached the broker");

    for reason in ["header_too_large", "frame_too_large", "body_too_large"] {
        let series = format!(r#"rmq_guard_connection_errors_total{{listener="main",reason="{reason}"}}"#);
        wait_metric(&s.agent, &series, |v| v == 1.0).await;
    }
    wait_metric(&s.agent, r#"rmq_guard_connection_errors_total{listener="main",reason="too_many_fields"}"#, |v| {
        v == 2.0
    })
    .await;
    s.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsolicited_response_from_a_client_is_dropped() {
    let s = start(|_| {}).await;
    // Answer 99 that the broker never asked, then a real request on the same connection.
    let mut answer = Header::request(RequestCode(0), 99).response_to(ResponseCode::SUCCESS, None);
    answer.set_ext("topic", "x");
    let mut bytes = frame::encode_to_bytes(&answer, SerializeType::JSON, b"").unwrap().to_vec();
    bytes.extend_from_slice(&consumer_list_request(100));
    let o = exchange(s.guard, bytes).await;
    assert!(matches!(o, Outcome::Answered(ref h) if h.opaque == 100), "{o:?}");
    let at_broker = frames_at_broker(&s.tap);
    assert_eq!(at_broker.len(), 1, "only the request reached the broker");
    assert!(!at_broker[0].header().unwrap().is_response());
    wait_metric(&s.agent, r#"rmq_guard_frames_dropped_total{listener="main",reason="unsolicited_response"}"#, |v| {
        v == 1.0
    })
    .await;
    s.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_at_the_write_deadline() {
    let s = start(|l| l.write_timeout_ms = 1_000).await;
    // The client asks for the topic table (tens of KB per answer) over and over and never
    // reads: the answers fill the socket buffers, and the guard's write toward it stalls.
    let key = SigningKey::new(SECRET);
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut c = sock.connect(s.guard).await.unwrap();
    let writer = tokio::spawn(async move {
        for i in 0..5_000 {
            let mut h = Header::request(RequestCode::GET_ALL_TOPIC_CONFIG, i);
            let mut ext = ExtFields::new();
            hmac_v1::sign(&mut ext, 21, b"", "ops-1", &key, now_ms(), &format!("stall-{i:08}-{}", now_ms()));
            h.ext_fields = Some(ext);
            let f: Bytes = frame::encode_to_bytes(&h, SerializeType::JSON, b"").unwrap();
            if tokio::io::AsyncWriteExt::write_all(&mut c, &f).await.is_err() {
                return (i, c);
            }
        }
        (5_000, c)
    });
    s.agent
        .wait_for("a write-deadline close", Duration::from_secs(60), |m| {
            metric(m, "rmq_guard_connection_errors_total{listener=\"main\",reason=\"write_timeout\"}") >= 1.0
        })
        .await;
    // The stalled connection is gone; the guard still serves others.
    let o = exchange(s.guard, consumer_list_request(3)).await;
    assert!(matches!(o, Outcome::Answered(ref h) if h.opaque == 3), "{o:?}");
    writer.abort();
    s.agent.stop().await;
}

/// An upstream that reads everything and never answers: a Java name server does this with
/// codes it does not know (RocketMQ-Rust's answers them, so a sink stands in for it here).
async fn silent_upstream() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut sink = tokio::io::sink();
                let _ = tokio::io::copy(&mut c, &mut sink).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_an_upstream_never_answers_are_bounded_per_connection() {
    let sink = silent_upstream().await;
    let s = start(|l| {
        l.upstream = sink.to_string();
        l.max_pending_requests = 4;
    })
    .await;
    let mut c = tokio::net::TcpStream::connect(s.guard).await.unwrap();
    for opaque in 0..20 {
        let f = frame::encode_to_bytes(&Header::request(RequestCode::HEART_BEAT, opaque), SerializeType::JSON, b"{}")
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut c, &f).await.unwrap();
    }
    wait_metric(&s.agent, r#"rmq_guard_pending_evicted_total{listener="main"}"#, |v| v == 16.0).await;
    drop(c);
    s.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sent_proxy_protocol_header_never_reaches_the_broker() {
    // A 5.x broker takes a PROXY v1 or v2 header at the start of a connection as the client's
    // address; a client must not be able to claim one through the guard.
    let s = start(|_| {}).await;
    let v1 = b"PROXY TCP4 10.9.9.9 10.0.0.1 4000 10911\r\n".to_vec();
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend_from_slice(&[0x21, 0x11, 0, 12, 10, 9, 9, 9, 10, 0, 0, 1, 0x0f, 0xa0, 0x2a, 0x9f]);
    for mut hello in [v1, v2] {
        hello.extend_from_slice(&consumer_list_request(1));
        assert!(matches!(exchange(s.guard, hello).await, Outcome::Closed));
    }
    assert_eq!(s.tap.connections(), 0);
    wait_metric(&s.agent, r#"rmq_guard_connection_errors_total{listener="main",reason="malformed_frame"}"#, |v| {
        v == 2.0
    })
    .await;
    s.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_large_frames_share_one_buffer_budget() {
    // Each connection parks most of a legal 4 MiB send; the listener buffers at most 5 MiB of
    // such frames at once, so the second is refused while the first waits.
    let s = start(|l| {
        l.max_buffered_bytes = 5 << 20;
        l.frame_timeout_ms = 60_000;
    })
    .await;
    let mut h = Header::request(RequestCode::SEND_MESSAGE_V2, 1);
    h.set_ext("b", "TBW102");
    let whole = frame::encode_to_bytes(&h, SerializeType::ROCKETMQ, &vec![b'x'; 4 << 20]).unwrap();
    let parked = whole[..whole.len() - 1].to_vec();
    let _first = hold(s.guard, 1, &parked).await;
    s.agent
        .wait_for("the first frame parked", Duration::from_secs(20), |m| {
            metric(m, r#"rmq_guard_connections_active{listener="main"}"#) >= 1.0
        })
        .await;
    assert!(matches!(exchange(s.guard, parked).await, Outcome::Closed));
    wait_metric(&s.agent, r#"rmq_guard_connection_errors_total{listener="main",reason="buffer_budget"}"#, |v| v == 1.0)
        .await;
    assert_eq!(s.tap.connections(), 0, "nothing was forwarded");
    s.agent.stop().await;
}
