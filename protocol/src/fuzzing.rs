//! Entry points for the fuzz targets (compiled only with `--cfg fuzzing`). Each one feeds
//! arbitrary bytes to a parser and asserts the invariants that must hold for any input.

use bytes::BytesMut;

use crate::body::{self, FromBody};
use crate::codes::SerializeType;
use crate::frame::{self, RawFrame};
use crate::ha::{self, Parsed};
use crate::header::{DecodeLimits, ExtFields, Header, Refusal};
use crate::sign::{SigningKey, acl_v1, ha_v1, hmac_v1};

/// Frames out of a byte stream: never panics, never reads past a frame, bodies are slices.
pub fn decode_frame(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(f)) = RawFrame::split_from(&mut buf) {
        assert_eq!(f.as_bytes().len(), 8 + f.header_bytes().len() + f.body().len());
        let _ = f.header();
        let _ = f.peek_code();
    }
}

/// A JSON header on its own.
pub fn header_json(data: &[u8]) {
    check_header(SerializeType::JSON, data);
}

/// A binary header on its own.
pub fn header_binary(data: &[u8]) {
    check_header(SerializeType::ROCKETMQ, data);
}

fn check_header(ty: SerializeType, data: &[u8]) {
    if let Ok(h) = Header::decode(ty, data) {
        // Whatever decodes must re-encode (binary may refuse out-of-range codes only if
        // they came from JSON, which cannot happen here) and decode to the same header.
        let mut once = BytesMut::new();
        if h.encode(ty, &mut once).is_ok() {
            let again = Header::decode(ty, &once).expect("our own encoding decodes");
            assert_eq!(again, h);
        }
        if ty == SerializeType::ROCKETMQ {
            assert_eq!(Header::peek_code(ty, data).ok(), Some(h.code));
            let p = Header::peek(ty, data).expect("a decodable header peeks");
            assert_eq!((p.code, p.flag, p.opaque), (h.code, h.flag, h.opaque));
            for (k, v) in h.ext_fields.iter().flat_map(|e| e.iter()) {
                assert_eq!(Header::peek_ext(ty, data, k), Some(v));
            }
        }
    }
}

/// decode → encode → decode → encode: the header survives and encoding is a fixed point.
pub fn roundtrip(data: &[u8]) {
    let Ok(f) = RawFrame::parse(bytes::Bytes::copy_from_slice(data)) else {
        return;
    };
    let Ok(h) = f.header() else { return };
    let ty = f.serialize_type();
    let body = f.body();
    let Ok(first) = frame::encode_to_bytes(&h, ty, &body) else {
        return;
    };
    let f2 = RawFrame::parse(first.clone()).expect("re-encoded frame parses");
    assert_eq!(f2.header().expect("re-encoded header decodes"), h);
    assert_eq!(f2.body(), body);
    let second = frame::encode_to_bytes(&h, ty, &body).expect("encodes twice");
    assert_eq!(first, second);
    // A binary-header frame comes back byte for byte unless it repeated an ext key (Java's
    // last-wins map keeps one, so the re-encoding is shorter) or carried an empty remark or
    // map (which re-encode as absent, also shorter). Nothing makes it longer.
    if ty == SerializeType::ROCKETMQ {
        assert!(first.len() <= data.len(), "re-encoding grew the frame");
        if first.len() == data.len() {
            assert_eq!(&first[..], data);
        }
    }
}

/// fastjson bodies through every typed reader: none panics, and the readers that stream a body
/// (the names-only ones, the consume stats list) read what the whole-tree readers do.
pub fn body(data: &[u8]) {
    let _ = crate::fastjson::parse(data);
    let _ = body::BrokerRuntimeInfo::decode(data).map(|r| {
        let _ = r.put_distribution();
        let _ = r.tps("putTps");
        let _ = r.runtime_seconds();
        let _ = r.commit_log_dir_capacity();
        let _ = r.human_bytes("remainHowManyDataToFlush");
        let _ = r.f64("putLatency99");
        let _ = r.schedule_offsets();
    });
    let list = crate::fastjson::parse(data).and_then(|v| body::ConsumeStatsList::from_value(&v));
    if let (Ok(streamed), Ok(whole)) = (body::ConsumeStatsList::decode(data), list) {
        assert_eq!(streamed, whole, "consume stats list");
    }
    let _ = body::ConsumeStats::decode(data);
    let _ = body::TopicStatsTable::decode(data);
    // The streaming readers agree with the whole-tree ones wherever both read the body (the
    // whole reader alone can refuse a document whose back-references blow its budget).
    let topics = body::TopicConfigWrapper::decode(data).map(|w| w.topic_config_table.into_keys().collect());
    if let (Ok(fast), Ok(whole)) = (body::TopicNames::decode(data), topics) {
        assert_eq!(fast.0, whole, "topic names");
    }
    let groups = body::SubscriptionGroupWrapper::decode(data).map(|w| w.subscription_group_table.into_keys().collect());
    if let (Ok(fast), Ok(whole)) = (body::GroupNames::decode(data), groups) {
        assert_eq!(fast.0, whole, "group names");
    }
    let _ = body::BrokerStatsData::decode(data);
    let _ = body::ConsumerConnection::decode(data);
    let _ = body::ProducerConnection::decode(data);
    let _ = body::TopicRouteData::decode(data);
    let _ = body::ClusterInfo::decode(data);
    let _ = body::TopicList::decode(data);
    let _ = body::HaRuntimeInfo::decode(data);
    let _ = body::ConsumerRunningInfo::decode(data);
    let _ = body::ProducerTableInfo::decode(data);
    let _ = body::QueryConsumeQueueResponse::decode(data);
}

/// Signature verification on arbitrary extFields and bodies: never panics, never accepts
/// what the key did not sign, always accepts what it did.
pub fn sign_verify(data: &[u8]) {
    let key = SigningKey::new(b"fuzz-secret");
    let (fields, body) = data.split_at(data.len().min(usize::from(data.first().copied().unwrap_or(0))));
    let text = String::from_utf8_lossy(fields);
    let mut ext: ExtFields =
        text.split('\n').filter_map(|line| line.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let now = 1_700_000_000_000;
    // Whatever the attacker supplied does not verify unless it is a genuine signature.
    let _ = acl_v1::verify(&ext, body, |_| Some(&key));
    let _ = hmac_v1::verify(17, &ext, body, |_| Some(&key), now, 300_000);
    // What we sign verifies.
    hmac_v1::sign(&mut ext, 17, body, "fuzz", &key, now, "0123456789abcdef");
    assert!(hmac_v1::verify(17, &ext, body, |_| Some(&key), now, 300_000).is_ok());
    acl_v1::sign(&mut ext, body, "fuzz", &key, None);
    assert!(acl_v1::verify(&ext, body, |_| Some(&key)).is_ok());
}

/// The HA guard's first packet, its answer, and classic / auto-switch HA frames.
pub fn ha_preamble(data: &[u8]) {
    let key = SigningKey::new(b"fuzz-secret");
    if let Ok(Parsed::Complete(h, n)) = ha_v1::parse_hello(data) {
        assert!(n <= data.len() && n <= ha_v1::MAX_HELLO_LEN);
        let _ = h.verify(&key, h.timestamp_ms, 0, h.broker_name);
    }
    if let Ok(Parsed::Complete(mac, _)) = ha_v1::parse_accept(data) {
        let _ = ha_v1::verify_accept(&key, &[0; 32], &mac);
    }
    let _ = ha::SlaveReport::parse(data);
    let _ = ha::TransferHeader::parse(data);
    let _ = ha::auto_switch::parse_slave(data, false);
    let _ = ha::auto_switch::parse_slave(data, true);
    let _ = ha::auto_switch::parse_master(data);
}

/// The HA stream readers (`ha::stream::Framer`) on arbitrary bytes, as the HA guard feeds
/// them. The first byte picks the layout (classic or auto-switch, either direction, 5.0 or
/// 5.1.1+ handshakes) and where the stream is cut; the rest is the stream. Fed in pieces, a
/// framer hands on the same headers, the same body bytes and the same error as fed whole;
/// every header it hands on re-encodes to bytes that parse back to it; nothing panics.
pub fn ha_stream(data: &[u8]) {
    use ha::auto_switch::{self, MasterHeader, SlaveMessage};
    use ha::stream::{AutoSwitchMaster, AutoSwitchSlave, ClassicReports, ClassicTransfers, Framer, Layout, Piece};

    /// Headers with the body bytes after each, and how the stream ended.
    type Run<H> = (Vec<(Option<H>, usize)>, Result<(), ha::HaFrameError>);

    fn run<L: Layout + Copy>(layout: L, stream: &[u8], step: usize) -> Run<L::Header> {
        let mut framer = Framer::new(layout);
        let mut seen: Vec<(Option<L::Header>, usize)> = Vec::new();
        for piece in stream.chunks(step) {
            let r = framer.feed(piece, |p| {
                match p {
                    Piece::Header(h) => seen.push((Some(h), 0)),
                    Piece::Body(b) => match seen.last_mut() {
                        Some(last) => last.1 += b.len(),
                        None => seen.push((None, b.len())),
                    },
                }
                Ok::<(), ha::HaFrameError>(())
            });
            if r.is_err() {
                return (seen, r);
            }
        }
        (seen, Ok(()))
    }

    fn check<L: Layout + Copy>(layout: L, stream: &[u8], step: usize, roundtrip: impl Fn(&L::Header))
    where
        L::Header: PartialEq + std::fmt::Debug,
    {
        let whole = run(layout, stream, stream.len().max(1));
        assert_eq!(run(layout, stream, step), whole, "fed in pieces of {step}");
        assert_eq!(run(layout, stream, 1), whole, "fed a byte at a time");
        for (h, body) in &whole.0 {
            let h = h.as_ref().expect("a body follows a header");
            assert!(*body <= layout.body_len(h));
            roundtrip(h);
        }
    }

    let Some((&pick, stream)) = data.split_first() else { return };
    let step = 1 + usize::from(pick / 5) % 51;
    let slave = |legacy: bool| {
        move |m: &SlaveMessage| {
            let b = m.encode();
            assert_eq!(auto_switch::parse_slave(&b, legacy), Ok(Parsed::Complete(m.clone(), b.len())));
        }
    };
    match pick % 5 {
        0 => check(ClassicReports, stream, step, |r| {
            assert_eq!(ha::SlaveReport::parse(&r.encode()), Ok(Parsed::Complete(*r, 8)));
        }),
        1 => check(ClassicTransfers, stream, step, |h| {
            assert_eq!(ha::TransferHeader::parse(&h.encode()), Ok(Parsed::Complete(*h, 12)));
        }),
        2 => check(AutoSwitchSlave { legacy: false }, stream, step, slave(false)),
        3 => check(AutoSwitchSlave { legacy: true }, stream, step, slave(true)),
        _ => check(AutoSwitchMaster, stream, step, |h: &MasterHeader| {
            let b = h.encode();
            assert_eq!(auto_switch::parse_master(&b), Ok(Parsed::Complete(*h, b.len())));
        }),
    }
}

/// The guard reader on arbitrary bytes, read as a header of each serialize type. For every
/// header it accepts, the canonical JSON encoding (what the guard forwards):
/// - decodes, with the guard reader and the plain one, to the same header;
/// - is at most 6 bytes per input byte plus the fields a client may omit (escaping a raw
///   control character is the largest growth);
/// - is handed to `independent`, which checks it with a reader that shares no code with this
///   crate (the fuzz target uses serde_json).
///
/// Also: a header the guard accepts decodes the same with the plain reader (the guard reader
/// only refuses, never reads differently); refusals of binary headers never claim a
/// JSON-only reason; no refusal or decision panics.
pub fn guard_canonical(data: &[u8], independent: impl Fn(&Header, &[u8])) {
    let limits = DecodeLimits { max_header_bytes: 1 << 20, max_ext_fields: 1024 };
    for ty in [SerializeType::JSON, SerializeType::ROCKETMQ] {
        let h = match Header::decode_guarded(ty, data, &limits) {
            Ok(h) => h,
            Err(e) => {
                let json_only = matches!(e, Refusal::RepeatedField { .. } | Refusal::NoncanonicalFieldName { .. });
                assert!(!(json_only && ty == SerializeType::ROCKETMQ), "{e}");
                assert!(Refusal::REASONS.contains(&e.reason()));
                continue;
            }
        };
        assert_eq!(Header::decode(ty, data).as_ref(), Ok(&h), "the plain reader disagrees");
        let mut canonical = BytesMut::new();
        h.encode(SerializeType::JSON, &mut canonical).expect("JSON encodes any header");
        assert!(canonical.len() <= 6 * data.len() + 128, "canonical {} bytes from {}", canonical.len(), data.len());
        let unbounded = DecodeLimits { max_header_bytes: usize::MAX, max_ext_fields: usize::MAX };
        let again = Header::decode_guarded(SerializeType::JSON, &canonical, &unbounded);
        assert_eq!(again.as_ref(), Ok(&h), "the canonical encoding is not read back");
        assert_eq!(Header::decode(SerializeType::JSON, &canonical).as_ref(), Ok(&h));
        independent(&h, &canonical);
    }
}

/// The public peeks on raw bytes, both serialize types, with keys taken from the input:
/// never panic; a binary `peek`/`peek_code` succeeds exactly when the fixed bytes are there
/// and reads them; `peek_ext` answers only inside the input, and agrees with a full decode
/// (last value of a repeated key); JSON `peek` agrees with `decode`, `peek_ext` is `None`.
pub fn peek(data: &[u8]) {
    // The first byte says how long a key to cut from the end of the input.
    let key_len = usize::from(data.first().copied().unwrap_or(0) % 16).min(data.len());
    let key = String::from_utf8_lossy(&data[data.len() - key_len..]).into_owned();
    let keys = [key.as_str(), "topic", "b", ""];

    let ty = SerializeType::ROCKETMQ;
    let code = Header::peek_code(ty, data);
    assert_eq!(code.is_ok(), data.len() >= 2);
    let p = Header::peek(ty, data);
    assert_eq!(p.is_ok(), data.len() >= 13);
    if let Ok(p) = p {
        assert_eq!(Ok(p.code), code);
        assert_eq!(p.opaque, i32::from_be_bytes([data[5], data[6], data[7], data[8]]));
        assert_eq!(p.flag, i32::from_be_bytes([data[9], data[10], data[11], data[12]]));
    }
    let full = Header::decode(ty, data).ok();
    let range = data.as_ptr_range();
    for k in keys {
        let v = Header::peek_ext(ty, data, k);
        if let Some(v) = v {
            let r = v.as_bytes().as_ptr_range();
            assert!(range.start <= r.start && r.end <= range.end, "peek_ext answered outside the input");
        }
        if let Some(h) = &full {
            assert_eq!(v, h.ext(k), "peek_ext disagrees with decode for {k:?}");
        }
    }

    // The guard's walk of a binary header refuses what the guard reader refuses, and reads
    // the same code, flag and opaque; only an ext value that is not UTF-8 (never read by the
    // walk) may separate them. Small limits so that the field limit is reached too.
    let limits = crate::DecodeLimits { max_header_bytes: 4096, max_ext_fields: 40 };
    let walked = Header::walk_guarded(data, &limits, &key);
    match (Header::decode_guarded(ty, data, &limits), walked) {
        (Ok(h), Ok((p, v))) => {
            assert_eq!((p.code, p.flag, p.opaque), (h.code, h.flag, h.opaque));
            assert_eq!(v, h.ext(&key), "the captured value is the decoded one");
        }
        (Ok(h), Err(r)) => panic!("the walk refused ({r}) what the reader accepted: {h:?}"),
        (Err(r), Ok(_)) => assert_eq!(
            r,
            crate::Refusal::Malformed(crate::error::DecodeError::InvalidUtf8("ext value")),
            "the walk accepted what the reader refused"
        ),
        // A bad value may stop the reader before a later fault stops the walk.
        (Err(crate::Refusal::Malformed(crate::error::DecodeError::InvalidUtf8("ext value"))), Err(_)) => {}
        (Err(a), Err(b)) => assert_eq!(a.reason(), b.reason(), "{a} / {b}"),
    }

    let ty = SerializeType::JSON;
    let decoded = Header::decode(ty, data);
    let p = Header::peek(ty, data);
    assert_eq!(p.is_ok(), decoded.is_ok());
    if let (Ok(p), Ok(h)) = (p, &decoded) {
        assert_eq!((p.code, p.flag, p.opaque), (h.code, h.flag, h.opaque));
        assert_eq!(Header::peek_code(ty, data), Ok(h.code));
    }
    for k in keys {
        assert_eq!(Header::peek_ext(ty, data, k), None);
    }
    for other in [2u8, 255] {
        assert!(Header::peek(SerializeType(other), data).is_err());
        assert!(Header::peek_code(SerializeType(other), data).is_err());
        assert_eq!(Header::peek_ext(SerializeType(other), data, "topic"), None);
    }
}

/// A route write's claim: the first byte picks the code (one of the route writes) and whether
/// the header says `compressed`, the rest is the body. Never panics; a judged claim names at
/// least one broker and at most [`MAX_BROKER_NAMES`](crate::route_claim::MAX_BROKER_NAMES),
/// and every code but 217 names the address it keys liveness by and the broker id.
pub fn route_claim(data: &[u8]) {
    use crate::policy::ROUTE_WRITES;
    use crate::route_claim::route_claim;
    let Some((&pick, body)) = data.split_first() else { return };
    let code = ROUTE_WRITES[usize::from(pick) % ROUTE_WRITES.len()].get();
    let mut ext = ExtFields::new();
    for (k, v) in [
        ("brokerName", "broker-a"),
        ("brokerAddr", "10.0.0.5:10911"),
        ("brokerId", "0"),
        ("clusterName", "C"),
        ("topic", "T"),
    ] {
        ext.insert(k, v);
    }
    if pick & 0x80 != 0 {
        ext.insert("compressed", "true");
    }
    if let Ok(c) = route_claim(code, &ext, body) {
        assert!(!c.broker_names.is_empty() && c.broker_names.len() <= crate::route_claim::MAX_BROKER_NAMES);
        assert!(c.broker_names.iter().all(|n| !n.is_empty()));
        let is_217 = code == crate::codes::RequestCode::REGISTER_TOPIC_IN_NAMESRV.get();
        assert_eq!(c.broker_addr.is_some(), !is_217);
        assert_eq!(c.broker_id, (!is_217).then_some(0));
        if code == crate::codes::RequestCode::REGISTER_BROKER.get() {
            assert_eq!(c.broker_names[0], "broker-a");
            assert!(pick & 0x80 == 0, "a compressed body is never judged");
        }
    }
}
