//! The session driven frame by frame with synthetic times: no sockets, no clock.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::policy::Role;
use rmq_protocol::sign::{SigningKey, hmac_v1};
use rmq_protocol::{Header, RequestCode, ResponseCode, SerializeType};
use tokio::time::Instant;

use super::*;
use crate::guard::{GuardStats, Policy, Scheme};
use rmq_runtime::replay::NonceCache;

const WALL: u64 = 1_700_000_000_000;

fn shared_with(limits: Limits) -> Arc<Shared> {
    let keys: HashMap<String, SigningKey> = [("ops-1".to_owned(), SigningKey::new(b"secret"))].into_iter().collect();
    Arc::new(Shared {
        name: "test".into(),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        upstream: String::new(),
        proxy_protocol: Default::default(),
        policy: RwLock::new(Arc::new(Policy::new(Role::Broker, &[], &[], vec![Scheme::RmqHmacV1], keys, 300_000))),
        nonces: Arc::new(Mutex::new(NonceCache::new(600_000, 100))),
        limits,
        stats: Default::default(),
        sources: Default::default(),
        logs: Default::default(),
        buffers: Arc::new(crate::remoting::frames::BufferBudget::new(limits.max_buffered_bytes)),
    })
}

fn session() -> (Session, Arc<Shared>, Instant) {
    session_with(Limits::DEFAULT)
}

fn session_with(limits: Limits) -> (Session, Arc<Shared>, Instant) {
    let shared = shared_with(limits);
    let t0 = Instant::now();
    let peer = "10.1.2.3:40000".parse().expect("addr");
    (Session::new(Arc::clone(&shared), peer, t0), shared, t0)
}

/// A frame whose header is exactly `json`, with `body`.
fn raw_json(json: &str, body: &[u8]) -> RawFrame {
    let header_len = u32::try_from(json.len()).expect("len");
    let total = 4 + header_len + u32::try_from(body.len()).expect("len");
    let mut v = total.to_be_bytes().to_vec();
    v.extend_from_slice(&header_len.to_be_bytes()); // serialize type 0 (JSON) in the top byte
    v.extend_from_slice(json.as_bytes());
    v.extend_from_slice(body);
    RawFrame::parse(Bytes::from(v)).expect("frame")
}

fn encoded(h: &Header, ty: SerializeType, body: &[u8]) -> RawFrame {
    RawFrame::parse(frame::encode_to_bytes(h, ty, body).expect("encode")).expect("frame")
}

fn send(opaque: i32, topic: &str) -> Header {
    let mut h = Header::request(RequestCode::SEND_MESSAGE_V2, opaque);
    h.set_ext("a", "PG");
    h.set_ext("b", topic);
    h
}

fn response(opaque: i32, code: ResponseCode) -> RawFrame {
    let h = Header::request(RequestCode(0), opaque).response_to(code, None);
    encoded(&h, SerializeType::JSON, b"")
}

fn forwarded(v: ClientVerdict) -> Bytes {
    match v {
        ClientVerdict::Forward(b) => b,
        other => panic!("expected Forward, got {other:?}"),
    }
}

#[test]
fn a_json_header_reaches_the_broker_in_canonical_form() {
    let (mut s, _, t0) = session();
    // A Go-client-shaped header: its own key order, an empty remark, numbers for values.
    let json =
        r#"{"code":10,"language":"GO","version":317,"opaque":7,"flag":0,"remark":"","extFields":{"b":"T","a":"PG"}}"#;
    let out = forwarded(s.client_frame(&raw_json(json, b"hello"), t0, WALL));
    let f = RawFrame::parse(out.clone()).expect("forwarded bytes are a frame");
    let h = f.header().expect("header");
    assert_eq!((h.code, h.opaque, h.flag, h.version), (10, 7, 0, 317));
    assert_eq!(h.ext("b"), Some("T"));
    assert_eq!(f.body().as_ref(), b"hello");
    // Exactly the guard's own encoding of what it decided on, not the client's bytes.
    assert_eq!(out, frame::encode_to_bytes(&h, SerializeType::JSON, b"hello").expect("encode"));
    assert!(!f.header_bytes().starts_with(b"{\"code\":10,\"language\""));
}

#[test]
fn loose_or_repeated_spellings_close_the_connection() {
    for (json, reason) in [
        (r#"{"CODE":17,"extFields":{"topic":"X"},"flag":0,"opaque":1}"#, "noncanonical_field_name"),
        (r#"{"c_o-de":17,"extFields":{"topic":"X"},"flag":0,"opaque":1}"#, "noncanonical_field_name"),
        (r#"{"code":17,"code":10,"flag":0,"opaque":1}"#, "repeated_field"),
        (r#"{"code":10,"FLAG":0,"flag":1,"opaque":1}"#, "noncanonical_field_name"),
        (r#"{"code":10,"extFields":{"b":"T","b":"U"},"flag":0,"opaque":1}"#, "repeated_ext_key"),
    ] {
        let (mut s, shared, t0) = session();
        assert_eq!(s.client_frame(&raw_json(json, b""), t0, WALL), ClientVerdict::Close(reason), "{json}");
        assert_eq!(shared.stats.requests.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>(), 0);
    }
}

#[test]
fn a_binary_header_is_read_whole_and_forwarded_as_its_bytes() {
    let (mut s, _, t0) = session();
    let f = encoded(&send(3, "T"), SerializeType::ROCKETMQ, b"m");
    assert_eq!(forwarded(s.client_frame(&f, t0, WALL)), f.as_bytes().clone());

    // The same send with its topic key repeated: the broker's HashMap keeps the last copy.
    let mut bytes = f.as_bytes().to_vec();
    let first = bytes.windows(3).position(|w| w == [0, 1, b'b']).expect("key b");
    bytes[first + 2] = b'a'; // now the map holds "a" twice
    let dup = RawFrame::parse(Bytes::from(bytes)).expect("frame");
    assert_eq!(s.client_frame(&dup, t0, WALL), ClientVerdict::Close("repeated_ext_key"));
}

#[test]
fn signed_codes_need_a_signature_and_nothing_unsigned_reaches_the_broker() {
    let (mut s, shared, t0) = session();
    let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 9);
    h.set_ext("topic", "X");
    let reply = match s.client_frame(&encoded(&h, SerializeType::JSON, b""), t0, WALL) {
        ClientVerdict::Reply(b) => b,
        other => panic!("{other:?}"),
    };
    let r = RawFrame::parse(reply).expect("frame").header().expect("header");
    assert!(r.is_response());
    assert_eq!((r.response_code(), r.opaque), (ResponseCode::NO_PERMISSION, 9));
    assert!(!s.owed(), "a refused request is not owed a broker response");

    let mut signed = h.clone();
    let ext = signed.ext_fields.as_mut().expect("ext");
    hmac_v1::sign(ext, 17, b"", "ops-1", &SigningKey::new(b"secret"), WALL, "0123456789abcdef0123");
    let f = encoded(&signed, SerializeType::JSON, b"");
    assert_eq!(forwarded(s.client_frame(&f, t0, WALL)), f.as_bytes().clone(), "canonical input stays byte-identical");
    assert!(s.owed());
    assert_eq!(GuardStats::snapshot(&shared.stats.admin), vec![("allowed", 1), ("missing", 1)]);

    // Oneway and unsigned: dropped, nobody to answer.
    let mut oneway = h.clone();
    oneway.flag = rmq_protocol::header::FLAG_ONEWAY;
    assert_eq!(s.client_frame(&encoded(&oneway, SerializeType::JSON, b""), t0, WALL), ClientVerdict::Drop);
    assert_eq!(shared.stats.oneway_dropped.load(Ordering::Relaxed), 1);
}

#[test]
fn a_signed_body_over_the_limit_is_refused_before_it_is_hashed() {
    let (mut s, shared, t0) = session_with(Limits { max_signed_body_bytes: 4, ..Limits::DEFAULT });
    let mut h = Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 1);
    let body = b"12345";
    hmac_v1::sign(
        h.ext_fields.get_or_insert_with(Default::default),
        17,
        body,
        "ops-1",
        &SigningKey::new(b"secret"),
        WALL,
        "n-0000000000000000001",
    );
    let f = encoded(&h, SerializeType::JSON, body);
    assert_eq!(s.client_frame(&f, t0, WALL), ClientVerdict::Close("body_too_large"));
    assert!(GuardStats::snapshot(&shared.stats.admin).is_empty(), "not judged at all");
    // The relay's early look, once the header is in: the same frame refused before its body,
    // a data-path frame of any size let through.
    assert_eq!(early_refusal(&shared, SerializeType::JSON, f.header_bytes(), body.len()), Some("body_too_large"));
    assert_eq!(early_refusal(&shared, SerializeType::JSON, f.header_bytes(), 4), None);
    let send = encoded(&send(1, "T"), SerializeType::ROCKETMQ, b"");
    assert_eq!(early_refusal(&shared, SerializeType::ROCKETMQ, send.header_bytes(), 4 << 20), None);
    assert_eq!(
        early_refusal(&shared, SerializeType::JSON, br#"{"CODE":17}"#, 1 << 20),
        Some("noncanonical_field_name")
    );
}

#[test]
fn a_client_response_is_forwarded_only_for_a_broker_request_on_this_connection() {
    let (mut s, shared, t0) = session();
    let answer = response(41, ResponseCode::SUCCESS);
    assert_eq!(s.client_frame(&answer, t0, WALL), ClientVerdict::Drop, "nothing asked yet");
    assert_eq!(GuardStats::snapshot(&shared.stats.dropped), vec![("unsolicited_response", 1)]);

    let ask = encoded(&Header::request(RequestCode::CHECK_TRANSACTION_STATE, 41), SerializeType::JSON, b"");
    assert_eq!(s.broker_frame(&ask, t0), BrokerVerdict::Forward);
    forwarded(s.client_frame(&answer, t0, WALL));
    assert_eq!(s.client_frame(&answer, t0, WALL), ClientVerdict::Drop, "answered once only");

    // A flag-smuggling answer (response bit in one spelling, request in another) never gets
    // that far: the header is refused.
    let smuggled = raw_json(r#"{"code":17,"FLAG":0,"flag":1,"opaque":41}"#, b"");
    assert!(matches!(s.client_frame(&smuggled, t0, WALL), ClientVerdict::Close(_)));
}

#[test]
fn unanswered_requests_are_bounded() {
    let (mut s, shared, t0) = session_with(Limits { max_pending_requests: 2, ..Limits::DEFAULT });
    for opaque in 0..5 {
        forwarded(s.client_frame(&encoded(&send(opaque, "T"), SerializeType::JSON, b""), t0, WALL));
    }
    assert_eq!(shared.stats.pending_evicted.load(Ordering::Relaxed), 3);
    // The newest two are still tracked and counted when answered.
    s.broker_frame(&response(4, ResponseCode::SUCCESS), t0);
    s.broker_frame(&response(3, ResponseCode::SUCCESS), t0);
    assert!(!s.owed());
}

#[test]
fn sends_are_counted_when_the_broker_accepts_them() {
    let (mut s, shared, t0) = session();
    let long = "t".repeat(MAX_TOPIC_LEN + 1);
    for (opaque, topic) in [(1, "T"), (2, "T"), (3, "T"), (4, long.as_str())] {
        forwarded(s.client_frame(&encoded(&send(opaque, topic), SerializeType::ROCKETMQ, b""), t0, WALL));
    }
    s.broker_frame(&response(1, ResponseCode::SUCCESS), t0);
    s.broker_frame(&response(2, ResponseCode::SYSTEM_ERROR), t0);
    s.broker_frame(&response(4, ResponseCode::SUCCESS), t0);
    assert_eq!(s.flush_deadline(), Some(t0 + TALLY_FLUSH));
    s.flush_if_due(t0 + Duration::from_millis(999));
    assert!(shared.stats.sends.lock().expect("lock").is_empty(), "not due yet");
    s.flush_if_due(t0 + TALLY_FLUSH);
    let sends = shared.stats.sends.lock().expect("lock").clone();
    assert_eq!(sends, [(("10.1.2.3".to_owned(), "T".to_owned()), 1)].into_iter().collect());
    assert_eq!(s.flush_deadline(), None);
}

#[test]
fn deadlines() {
    let l = Limits::DEFAULT;
    // The first frame must arrive within the frame timeout of the accept.
    let (mut s, _, t0) = session();
    assert_eq!(s.due(t0, None), Due::Next(t0 + l.frame_timeout));
    assert_eq!(s.due(t0 + l.frame_timeout, None), Due::Close("timeout"));

    // After it, a partial frame has the frame timeout, and silence the idle timeout.
    let (mut s, _, t0) = session();
    forwarded(s.client_frame(&encoded(&send(1, "T"), SerializeType::JSON, b""), t0, WALL));
    assert_eq!(s.due(t0, None), Due::Next(t0 + l.idle_timeout));
    let started = t0 + Duration::from_secs(5);
    assert_eq!(s.due(started, Some(started)), Due::Next(started + l.frame_timeout));
    assert_eq!(s.due(started + l.frame_timeout, Some(started)), Due::Close("timeout"));
    // Broker traffic counts as activity: a long poll answered late keeps the connection.
    let late = t0 + l.idle_timeout - Duration::from_secs(1);
    s.broker_frame(&response(1, ResponseCode::SUCCESS), late);
    assert_eq!(s.due(t0 + l.idle_timeout, None), Due::Next(late + l.idle_timeout));
    assert_eq!(s.flush_deadline(), None, "the accepted send was merged when the check ran");
    assert_eq!(s.due(late + l.idle_timeout, None), Due::Close("timeout"));
}

#[test]
fn a_java_client_header_reaches_the_broker_byte_for_byte() {
    let (mut s, _, t0) = session();
    // A Java 4.x client's oneway HEART_BEAT and a send with SEND_MESSAGE_V2's properties
    // separators (\u0001, \u0002), as fastjson writes them.
    for json in [
        r#"{"code":34,"flag":2,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":0}"#,
        r#"{"code":310,"extFields":{"a":"PG","b":"T","i":"KEYS\u0001k\u0002WAIT\u0001true\u0002"},"flag":0,"language":"JAVA","opaque":10,"serializeTypeCurrentRPC":"JSON","version":395}"#,
    ] {
        let f = raw_json(json, b"body");
        assert_eq!(forwarded(s.client_frame(&f, t0, WALL)), f.as_bytes().clone(), "{json}");
    }
}

#[test]
fn route_writes_are_counted_whether_signed_refused_or_let_through_unsigned() {
    let (mut s, shared, t0) = session();
    let keys: HashMap<String, SigningKey> = [("ops-1".to_owned(), SigningKey::new(b"secret"))].into_iter().collect();
    // A name-server listener that lets UNREGISTER_BROKER through unsigned (the migration opt-out).
    *shared.policy.write().expect("policy") =
        Arc::new(Policy::new(Role::Namesrv, &[104], &[], vec![Scheme::RmqHmacV1], keys, 300_000));
    let route_write = |code: RequestCode, opaque: i32| {
        let mut h = Header::request(code, opaque);
        for (k, v) in [("brokerName", "broker-a"), ("brokerAddr", "10.0.0.5:10911"), ("clusterName", "C")] {
            h.set_ext(k, v);
        }
        h
    };
    let routes = |code: i32, outcome: &str| {
        shared.stats.routes.lock().expect("routes").get(&(code, outcome)).copied().unwrap_or(0)
    };
    // Unsigned registration: refused, counted. Binary headers too (read whole for the audit).
    for (i, ty) in [SerializeType::JSON, SerializeType::ROCKETMQ].into_iter().enumerate() {
        let v = s.client_frame(&encoded(&route_write(RequestCode::REGISTER_BROKER, 1), ty, b""), t0, WALL);
        assert!(matches!(v, ClientVerdict::Reply(_)), "{v:?}");
        assert_eq!(routes(103, "missing"), i as u64 + 1);
        let v = s.client_frame(&encoded(&route_write(RequestCode::UNREGISTER_BROKER, 2), ty, b""), t0, WALL);
        assert!(matches!(v, ClientVerdict::Forward(_)), "{v:?}");
        assert_eq!(routes(104, "unsigned"), i as u64 + 1);
    }
    // Let through unsigned, but signed (a broker already behind its egress): counted apart.
    let mut h = route_write(RequestCode::UNREGISTER_BROKER, 5);
    hmac_v1::sign(
        h.ext_fields.get_or_insert_with(Default::default),
        104,
        b"",
        "ops-1",
        &SigningKey::new(b"secret"),
        WALL,
        "route-nonce-00000002",
    );
    assert!(matches!(s.client_frame(&encoded(&h, SerializeType::JSON, b""), t0, WALL), ClientVerdict::Forward(_)));
    assert_eq!((routes(104, "unsigned"), routes(104, "unchecked")), (2, 1));
    // Signed by an unscoped key: allowed, counted.
    let mut h = route_write(RequestCode::REGISTER_BROKER, 3);
    hmac_v1::sign(
        h.ext_fields.get_or_insert_with(Default::default),
        103,
        b"",
        "ops-1",
        &SigningKey::new(b"secret"),
        WALL,
        "route-nonce-00000001",
    );
    assert!(matches!(s.client_frame(&encoded(&h, SerializeType::JSON, b""), t0, WALL), ClientVerdict::Forward(_)));
    assert_eq!(routes(103, "allowed"), 1);
    // Other codes are not route writes.
    let mut lookup = Header::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, 4);
    lookup.set_ext("topic", "T");
    assert!(matches!(s.client_frame(&encoded(&lookup, SerializeType::JSON, b""), t0, WALL), ClientVerdict::Forward(_)));
    assert_eq!(shared.stats.routes.lock().expect("routes").len(), 4);
}
