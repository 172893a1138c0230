//! Header tests: the reference's byte examples, Java's tolerances, and round-trip properties.

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::frame::{self, RawFrame};

fn enc(h: &Header, ty: SerializeType) -> Vec<u8> {
    let mut b = BytesMut::new();
    h.encode(ty, &mut b).expect("encodable");
    b.to_vec()
}

fn topic_stats_request() -> Header {
    let mut h = Header { code: 202, opaque: 7, ..Header::default() };
    h.set_ext("topic", "T1");
    h
}

#[test]
fn json_request_matches_reference_bytes() {
    let want = r#"{"code":202,"extFields":{"topic":"T1"},"flag":0,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":0}"#;
    let h = topic_stats_request();
    assert_eq!(String::from_utf8(enc(&h, SerializeType::JSON)).unwrap(), want);
    // And the full frame: 00 00 00 7e 00 00 00 7a {...
    let frame = frame::encode_to_bytes(&h, SerializeType::JSON, &[]).unwrap();
    assert_eq!(&frame[..8], &[0x00, 0x00, 0x00, 0x7e, 0x00, 0x00, 0x00, 0x7a]);
    assert_eq!(frame.len(), 4 + 126);
    assert_eq!(Header::decode(SerializeType::JSON, want.as_bytes()).unwrap(), h);
}

#[test]
fn json_response_and_oneway_match_reference() {
    let resp = topic_stats_request().response_to(ResponseCode::SUCCESS, None);
    assert_eq!(
        String::from_utf8(enc(&resp, SerializeType::JSON)).unwrap(),
        r#"{"code":0,"flag":1,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":0}"#
    );
    let hb = Header { code: 34, flag: FLAG_ONEWAY, opaque: 9, ..Header::default() };
    assert_eq!(
        String::from_utf8(enc(&hb, SerializeType::JSON)).unwrap(),
        r#"{"code":34,"flag":2,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":0}"#
    );
    assert!(hb.is_oneway());
    assert!(resp.is_response());
    assert!(!resp.is_oneway());
}

const BINARY_EXAMPLE: [u8; 43] = [
    0x00, 0x00, 0x00, 0x27, 0x01, 0x00, 0x00, 0x23, 0x00, 0xca, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x72, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x05, 0x74, 0x6f, 0x70, 0x69, 0x63, 0x00,
    0x00, 0x00, 0x02, 0x54, 0x31,
];

#[test]
fn binary_matches_reference_bytes() {
    let mut h = topic_stats_request();
    h.remark = Some("r".into());
    let frame = frame::encode_to_bytes(&h, SerializeType::ROCKETMQ, &[]).unwrap();
    assert_eq!(&frame[..], &BINARY_EXAMPLE[..]);
    let raw = RawFrame::parse(frame).unwrap();
    assert_eq!(raw.serialize_type(), SerializeType::ROCKETMQ);
    assert_eq!(raw.header().unwrap(), h);
    assert_eq!(raw.peek_code().unwrap(), 202);
    assert_eq!(raw.peek().unwrap(), Peek { code: 202, flag: 0, opaque: 7 });
    assert_eq!(Header::peek_ext(SerializeType::ROCKETMQ, raw.header_bytes(), "topic"), Some("T1"));
    assert_eq!(Header::peek_ext(SerializeType::ROCKETMQ, raw.header_bytes(), "nope"), None);
}

#[test]
fn binary_code_is_signed_16_bit() {
    // Java writes 200050 as 0x0D72 and 40000 as 0x9C40, which reads back as -25536.
    let mut bytes = enc(&Header { code: 1, ..Header::default() }, SerializeType::ROCKETMQ);
    bytes[0..2].copy_from_slice(&[0x9c, 0x40]);
    assert_eq!(Header::decode(SerializeType::ROCKETMQ, &bytes).unwrap().code, -25536);
    let pop = Header { code: RequestCode::POP_MESSAGE.get(), ..Header::default() };
    assert_eq!(pop.encode(SerializeType::ROCKETMQ, &mut BytesMut::new()), Err(EncodeError::CodeOutOfRange(200_050)));
    // JSON carries it fine.
    let json = enc(&pop, SerializeType::JSON);
    assert_eq!(Header::decode(SerializeType::JSON, &json).unwrap().code, 200_050);
}

#[test]
fn json_tolerates_what_java_accepts() {
    let cases: &[(&str, Header)] = &[
        // Missing keys take Java's defaults.
        ("{}", Header::default()),
        // Unknown keys, any order, spaces, a string code, unquoted keys, single quotes.
        (
            r#" { "zzz" : [1, {"a": null}], opaque: 5, 'code' : "28", "language":"GO", "version":317, "remark":"" } "#,
            Header {
                code: 28,
                opaque: 5,
                language: LanguageCode::GO,
                version: 317,
                remark: Some(String::new()),
                ..Header::default()
            },
        ),
        // Language as an ordinal, unknown names as OTHER, null remark.
        (r#"{"language":9,"remark":null}"#, Header { language: LanguageCode::GO, ..Header::default() }),
        (r#"{"language":"NODE_JS"}"#, Header { language: LanguageCode::NODE_JS, ..Header::default() }),
        (r#"{"language":"KLINGON"}"#, Header { language: LanguageCode::OTHER, ..Header::default() }),
    ];
    for (text, want) in cases {
        assert_eq!(&Header::decode(SerializeType::JSON, text.as_bytes()).unwrap(), want, "{text}");
    }
}

#[test]
fn json_ext_fields_non_string_values_keep_their_text() {
    let h = Header::decode(
        SerializeType::JSON,
        br#"{"code":17,"extFields":{"readQueueNums":8,"order":false,"skip":null,"topic":"T","topic":"U"}}"#,
    )
    .unwrap();
    let ext = h.ext_fields.unwrap();
    assert_eq!(ext.get("readQueueNums"), Some("8"));
    assert_eq!(ext.get("order"), Some("false"));
    assert_eq!(ext.get("skip"), None);
    // A repeated key keeps its last value, as Java's HashMap does.
    assert_eq!(ext.get("topic"), Some("U"));
    assert_eq!(ext.len(), 3);
}

#[test]
fn json_rejects_what_java_rejects() {
    for bad in ["", "[]", "not json", r#"{"code":1"#, r#"{"code":99999999999}"#, r#"{"extFields":{"a":[1]}}"#, "{} x"] {
        assert!(Header::decode(SerializeType::JSON, bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn json_escaping_matches_fastjson() {
    let h = Header { remark: Some("a\"b\\c/d\n\u{1}é".into()), ..Header::default() };
    let text = String::from_utf8(enc(&h, SerializeType::JSON)).unwrap();
    assert!(text.contains(r#""remark":"a\"b\\c/d\n\u0001é""#), "{text}");
    assert_eq!(Header::decode(SerializeType::JSON, text.as_bytes()).unwrap(), h);
}

#[test]
fn binary_rejects_bad_lengths() {
    let good = &BINARY_EXAMPLE[8..];
    assert!(Header::decode(SerializeType::ROCKETMQ, good).is_ok());
    // Every truncation fails cleanly.
    for n in 0..good.len() {
        assert!(Header::decode(SerializeType::ROCKETMQ, &good[..n]).is_err(), "prefix {n}");
    }
    // remark_len = -1
    let mut b = good.to_vec();
    b[13..17].copy_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(Header::decode(SerializeType::ROCKETMQ, &b), Err(DecodeError::NegativeLength("remark length")));
    // ext key length 0x8000 reads negative
    let mut b = good.to_vec();
    b[22..24].copy_from_slice(&[0x80, 0x00]);
    assert_eq!(Header::decode(SerializeType::ROCKETMQ, &b), Err(DecodeError::NegativeLength("ext key")));
    // ext_len larger than what is left
    let mut b = good.to_vec();
    b[18..22].copy_from_slice(&1000i32.to_be_bytes());
    assert_eq!(Header::decode(SerializeType::ROCKETMQ, &b), Err(DecodeError::Truncated("ext fields")));
    // trailing bytes
    let mut b = good.to_vec();
    b.push(0);
    assert_eq!(Header::decode(SerializeType::ROCKETMQ, &b), Err(DecodeError::TrailingBytes(1)));
    // invalid UTF-8 in the remark
    let mut b = good.to_vec();
    b[17] = 0xff;
    assert_eq!(Header::decode(SerializeType::ROCKETMQ, &b), Err(DecodeError::InvalidUtf8("remark")));
}

#[test]
fn binary_zero_lengths_are_javas_null() {
    let mut h = Header { remark: Some(String::new()), ..Header::default() };
    h.set_ext("", "");
    let back = Header::decode(SerializeType::ROCKETMQ, &enc(&h, SerializeType::ROCKETMQ)).unwrap();
    assert_eq!(back.remark, None);
    assert_eq!(back.ext(""), Some(""));
}

#[test]
fn error_response_mirrors_request() {
    let req = topic_stats_request();
    for ty in [SerializeType::JSON, SerializeType::ROCKETMQ] {
        let bytes = frame::error_response(&req, ty, ResponseCode::NO_PERMISSION, "no").unwrap();
        let raw = RawFrame::parse(bytes).unwrap();
        assert_eq!(raw.serialize_type(), ty);
        let h = raw.header().unwrap();
        assert_eq!(h.opaque, 7);
        assert!(h.is_response());
        assert_eq!(h.response_code(), ResponseCode::NO_PERMISSION);
        assert_eq!(h.remark.as_deref(), Some("no"));
    }
}

// === Property tests ===

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9_%|-]{0,12}", any::<String>().prop_map(|s| s.chars().take(16).collect()),]
}

fn header(binary: bool) -> impl Strategy<Value = Header> {
    let code = if binary { (i16::MIN as i32..=i16::MAX as i32).boxed() } else { any::<i32>().boxed() };
    let version = if binary { (i16::MIN as i32..=i16::MAX as i32).boxed() } else { any::<i32>().boxed() };
    // Binary headers cannot say "empty remark" or "empty map" apart from "none".
    let remark = if binary {
        proptest::option::of(text().prop_filter("non-empty", |s| !s.is_empty())).boxed()
    } else {
        proptest::option::of(text()).boxed()
    };
    let ext = proptest::collection::vec((text(), text()), 0..6).prop_map(move |kv| {
        let m: ExtFields = kv.into_iter().collect();
        if binary && m.is_empty() { None } else { Some(m) }
    });
    let ext = if binary { ext.boxed() } else { prop_oneof![Just(None), ext].boxed() };
    (code, any::<u8>(), version, any::<i32>(), any::<i32>(), remark, ext).prop_map(
        |(code, lang, version, opaque, flag, remark, ext_fields)| Header {
            code,
            language: LanguageCode(lang),
            version,
            opaque,
            flag,
            remark,
            ext_fields,
        },
    )
}

proptest! {
    #[test]
    fn json_round_trip(h in header(false)) {
        let bytes = enc(&h, SerializeType::JSON);
        prop_assert_eq!(Header::decode(SerializeType::JSON, &bytes).unwrap(), h);
    }

    #[test]
    fn binary_round_trip(h in header(true)) {
        let bytes = enc(&h, SerializeType::ROCKETMQ);
        prop_assert_eq!(Header::decode(SerializeType::ROCKETMQ, &bytes).unwrap(), h);
    }

    #[test]
    fn frame_round_trip(h in header(true), body in proptest::collection::vec(any::<u8>(), 0..64), json in any::<bool>()) {
        let ty = if json { SerializeType::JSON } else { SerializeType::ROCKETMQ };
        let bytes = frame::encode_to_bytes(&h, ty, &body).unwrap();
        let mut buf = BytesMut::from(&bytes[..]);
        let raw = RawFrame::split_from(&mut buf).unwrap().unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(raw.peek().unwrap(), Peek { code: h.code, flag: h.flag, opaque: h.opaque });
        if !json {
            for (k, v) in h.ext_fields.iter().flat_map(|e| e.iter()) {
                prop_assert_eq!(Header::peek_ext(SerializeType::ROCKETMQ, raw.header_bytes(), k), Some(v));
            }
        }
        prop_assert_eq!(raw.header().unwrap(), h);
        prop_assert_eq!(&raw.body()[..], &body[..]);
        prop_assert_eq!(raw.as_bytes(), &bytes);
    }
}
