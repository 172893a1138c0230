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
