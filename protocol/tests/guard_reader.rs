//! The guard reader through the public API, as the agent's guard uses it: every hostile
//! spelling is refused with a listed reason, a Java client's header is accepted and comes
//! back byte for byte from the canonical encoding, and the binary peeks survive any prefix.

use bytes::BytesMut;
use rmq_protocol::SerializeType;
use rmq_protocol::header::spellings::{HOSTILE_SPELLINGS, HOSTILE_TOPIC_PREFIX};
use rmq_protocol::header::{DecodeLimits, Header, Refusal};

#[test]
fn hostile_spellings_are_refused() {
    let limits = DecodeLimits::default();
    for (name, bytes) in HOSTILE_SPELLINGS {
        let text = String::from_utf8_lossy(bytes);
        assert!(text.contains(&format!("{HOSTILE_TOPIC_PREFIX}{name}\"")), "{name}: {text}");
        let refusal = Header::decode_guarded(SerializeType::JSON, bytes, &limits)
            .expect_err(&format!("{name} must be refused: {text}"));
        assert!(Refusal::REASONS.contains(&refusal.reason()), "{name}");
        assert_ne!(refusal.reason(), "malformed", "{name} should be refused for its spelling: {refusal}");
    }
}

#[test]
fn java_request_passes_unchanged() {
    let java = br#"{"code":17,"extFields":{"defaultTopic":"TBW102","order":"false","perm":"6","readQueueNums":"8","topic":"T","topicFilterType":"SINGLE_TAG","topicSysFlag":"0","writeQueueNums":"8"},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":395}"#;
    let h = Header::decode_guarded(SerializeType::JSON, java, &DecodeLimits::default()).expect("accepted");
    assert_eq!((h.code, h.ext("topic")), (17, Some("T")));
    let mut out = BytesMut::new();
    h.encode(SerializeType::JSON, &mut out).expect("encodes");
    assert_eq!(&out[..], &java[..]);
}

#[test]
fn binary_peeks_on_every_prefix() {
    let mut h = Header { code: 17, opaque: 3, ..Header::default() };
    h.set_ext("topic", "T");
    let mut full = BytesMut::new();
    h.encode(SerializeType::ROCKETMQ, &mut full).expect("encodes");
    for n in 0..full.len() {
        assert_eq!(Header::peek_ext(SerializeType::ROCKETMQ, &full[..n], "topic"), None);
        let _ = Header::peek(SerializeType::ROCKETMQ, &full[..n]);
        let _ = Header::peek_code(SerializeType::ROCKETMQ, &full[..n]);
    }
    assert_eq!(Header::peek_ext(SerializeType::ROCKETMQ, &full, "topic"), Some("T"));
}

#[test]
fn the_binary_walk_agrees_with_the_guard_reader() {
    use rmq_protocol::{ExtFields, RequestCode};
    let limits = DecodeLimits { max_header_bytes: 64 * 1024, max_ext_fields: 64 };
    let encode = |ext: &[(String, String)]| {
        let mut h = Header::request(RequestCode::SEND_MESSAGE_V2, 7);
        h.flag = 2;
        let mut m = ExtFields::new();
        for (k, v) in ext {
            m.insert(k, v);
        }
        h.ext_fields = Some(m);
        let mut b = bytes::BytesMut::new();
        h.encode(SerializeType::ROCKETMQ, &mut b).expect("encode");
        b.to_vec()
    };
    let fields = |n: usize| (0..n).map(|i| (format!("k{i}"), "v".to_owned())).collect::<Vec<_>>();
    let ok = encode(&fields(14));
    let (p, v) = Header::walk_guarded(&ok, &limits, "k3").expect("a send header");
    assert_eq!((p.code, p.flag, p.opaque, v), (310, 2, 7, Some("v")));
    // Every prefix is refused, never a panic.
    for n in 0..ok.len() {
        assert!(Header::walk_guarded(&ok[..n], &limits, "").is_err(), "{n}");
    }
    // A repeat among the first keys, and one past the inline comparisons (40 keys).
    for (n, dup_at) in [(14, 9), (40, 37)] {
        let mut bytes = encode(&fields(n));
        // Rename key `k{dup_at}` to an earlier key of the same length: k9 -> k1, k37 -> k10.
        let from = format!("k{dup_at}");
        let to = if dup_at < 10 { "k1" } else { "k10" };
        assert_eq!(from.len(), to.len());
        let mut needle = u16::try_from(from.len()).expect("short").to_be_bytes().to_vec();
        needle.extend_from_slice(from.as_bytes());
        let at = bytes.windows(needle.len()).position(|w| w == needle.as_slice()).expect("key");
        bytes[at + 2..at + 2 + to.len()].copy_from_slice(to.as_bytes());
        let walked = Header::walk_guarded(&bytes, &limits, "").expect_err("repeat");
        let read = Header::decode_guarded(SerializeType::ROCKETMQ, &bytes, &limits).expect_err("repeat");
        assert_eq!((walked.reason(), read.reason()), ("repeated_ext_key", "repeated_ext_key"), "{n} keys");
    }
    let many = encode(&fields(65));
    assert_eq!(Header::walk_guarded(&many, &limits, "").expect_err("limit").reason(), "too_many_fields");
    let mut trailing = ok.clone();
    trailing.push(0);
    assert_eq!(Header::walk_guarded(&trailing, &limits, "").expect_err("trailing").reason(), "malformed");
}
