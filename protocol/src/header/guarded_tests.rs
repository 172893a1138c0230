//! Guard reader tests: a table of header spellings (refused with a reason, or accepted with
//! the exact fields decided), the hostile table, clients' real headers, limits, linearity,
//! and the binary peeks on short input.

use bytes::BytesMut;

use super::spellings::{HOSTILE_SPELLINGS, HOSTILE_TOPIC_PREFIX};
use super::*;
use crate::fastjson::{self, Value};

const JSON: SerializeType = SerializeType::JSON;
const BINARY: SerializeType = SerializeType::ROCKETMQ;

fn guarded(bytes: &[u8]) -> Result<Header, Refusal> {
    Header::decode_guarded(JSON, bytes, &DecodeLimits::default())
}

fn reason(bytes: &[u8]) -> &'static str {
    match guarded(bytes) {
        Ok(h) => panic!("{} was accepted as {h:?}", String::from_utf8_lossy(bytes)),
        Err(e) => e.reason(),
    }
}

fn ext(pairs: &[(&str, &str)]) -> Option<ExtFields> {
    Some(pairs.iter().copied().collect())
}

fn canonical(h: &Header) -> Vec<u8> {
    let mut b = BytesMut::new();
    h.encode(JSON, &mut b).expect("JSON always encodes");
    b.to_vec()
}

#[test]
fn spelling_table() {
    enum Want {
        Refused(&'static str),
        Accepted(Header),
    }
    use Want::{Accepted, Refused};
    let code17 = |ext_fields: Option<ExtFields>| Header { code: 17, ext_fields, ..Header::default() };
    let cases: Vec<(&str, Want)> = vec![
        // Loose spellings of code.
        (r#"{"CODE":17}"#, Refused("noncanonical_field_name")),
        (r#"{"Code":17}"#, Refused("noncanonical_field_name")),
        (r#"{"cOdE":17}"#, Refused("noncanonical_field_name")),
        (r#"{"c_o-de":17}"#, Refused("noncanonical_field_name")),
        (r#"{"-code-":17}"#, Refused("noncanonical_field_name")),
        (r#"{"_code":17}"#, Refused("noncanonical_field_name")),
        (r#"{"\u0063ode":17}"#, Refused("noncanonical_field_name")),
        (r#"{"\u0043ODE":17}"#, Refused("noncanonical_field_name")),
        (r#"{'code':17}"#, Refused("noncanonical_field_name")),
        (r#"{code:17}"#, Refused("noncanonical_field_name")),
        (r#"{"isCode":17}"#, Refused("noncanonical_field_name")),
        // Repeats, in any spelling.
        (r#"{"code":17,"code":10}"#, Refused("repeated_field")),
        (r#"{"code":10,"code":17}"#, Refused("repeated_field")),
        (r#"{"x":0,"code":17,"code":10}"#, Refused("repeated_field")),
        (r#"{"code":17,"c_o-de":10}"#, Refused("repeated_field")),
        (r#"{"code":17,"flag":0,"FLAG":1}"#, Refused("repeated_field")),
        (r#"{"code":17,"FLAG":0,"flag":1}"#, Refused("noncanonical_field_name")),
        (r#"{"code":17,"extFields":{},"extFields":{"topic":"T"}}"#, Refused("repeated_field")),
        (r#"{"remark":"","remark":null}"#, Refused("repeated_field")),
        (r#"{"serializeTypeCurrentRPC":"JSON","serializeTypeCurrentRPC":"JSON"}"#, Refused("repeated_field")),
        // Every property, not only code.
        (r#"{"code":17,"extfields":{"topic":"T"}}"#, Refused("noncanonical_field_name")),
        (r#"{"code":17,"ext_Fields":{"topic":"T"}}"#, Refused("noncanonical_field_name")),
        (r#"{"code":17,"EXT-FIELDS":{"topic":"T"}}"#, Refused("noncanonical_field_name")),
        (r#"{"FLAG":0}"#, Refused("noncanonical_field_name")),
        (r#"{"Opaque":1}"#, Refused("noncanonical_field_name")),
        (r#"{"LANGUAGE":"JAVA"}"#, Refused("noncanonical_field_name")),
        (r#"{"Version":1}"#, Refused("noncanonical_field_name")),
        (r#"{"REMARK":"x"}"#, Refused("noncanonical_field_name")),
        (r#"{"re_mark":"x"}"#, Refused("noncanonical_field_name")),
        (r#"{"serializetypecurrentrpc":"JSON"}"#, Refused("noncanonical_field_name")),
        (r#"{"SERIALIZE_TYPE_CURRENT_RPC":"JSON"}"#, Refused("noncanonical_field_name")),
        (r#"{"serializeTypeCurrentRpc":"JSON"}"#, Refused("noncanonical_field_name")),
        // Non-ASCII letters Java's case-insensitive comparison equates with ASCII ones.
        (r#"{"remar\u212a":"x"}"#, Refused("noncanonical_field_name")),
        ("{\"remar\u{212a}\":\"x\"}", Refused("noncanonical_field_name")),
        (r#"{"ver\u017fion":1}"#, Refused("noncanonical_field_name")),
        (r#"{"\u0130sCode":1}"#, Refused("noncanonical_field_name")),
        // Ext keys: each once, after unescaping; fastjson's special keys refused.
        (r#"{"code":17,"extFields":{"topic":"T","topic":"U"}}"#, Refused("repeated_ext_key")),
        (r#"{"code":17,"extFields":{"topic":"T","\u0074opic":"U"}}"#, Refused("repeated_ext_key")),
        (r#"{"code":17,"extFields":{"topic":"T",'topic':"U"}}"#, Refused("repeated_ext_key")),
        (r#"{"code":17,"extFields":{"topic":null,"topic":"U"}}"#, Refused("repeated_ext_key")),
        (r#"{"code":17,"extFields":{"topic":"T","topic":null}}"#, Refused("repeated_ext_key")),
        (r#"{"code":17,"extFields":{"@type":"java.util.HashMap"}}"#, Refused("reserved_key")),
        (r#"{"code":17,"extFields":{"$ref":"$"}}"#, Refused("reserved_key")),
        (r#"{"@type":"org.apache.rocketmq.remoting.protocol.RemotingCommand","code":17}"#, Refused("reserved_key")),
        (r#"{"\u0040type":"x","code":17}"#, Refused("reserved_key")),
        // Syntax the reader does not take, or values of the wrong shape.
        (r#"{"code":17,}"#, Refused("malformed")),
        (r#"{"code":17} x"#, Refused("malformed")),
        (r#"{"code":17 /* c */}"#, Refused("malformed")),
        (r#"{"code":1.5}"#, Refused("malformed")),
        (r#"{"code":99999999999}"#, Refused("malformed")),
        (r#"{"serializeTypeCurrentRPC":{}}"#, Refused("malformed")),
        (r#"{"extFields":[]}"#, Refused("malformed")),
        (r#"{"extFields":{"a":[1]}}"#, Refused("malformed")),
        // A float's text would not be the client's, and grows: 1e300 is 301 digits.
        (r#"{"extFields":{"a":1e300}}"#, Refused("malformed")),
        (r#"{"extFields":{"a":99999999999999999999}}"#, Refused("malformed")),
        (r#"{"remark":1.5}"#, Refused("malformed")),
        ("[]", Refused("malformed")),
        ("", Refused("malformed")),
        // Accepted: exact spellings, any order, unknown keys skipped, Java's value leniency.
        ("{}", Accepted(Header::default())),
        (r#"{"x":0,"code":17}"#, Accepted(code17(None))),
        (r#"{"codes":17,"code":18,"coder":0}"#, Accepted(Header { code: 18, ..Header::default() })),
        (r#"{"code":"17"}"#, Accepted(code17(None))),
        (r#" { "code" : 17 , "extFields" : { "topic" : "T" } } "#, Accepted(code17(ext(&[("topic", "T")])))),
        (
            r#"{"extFields":{'topic':"T","a\u0062":1,"n":null,"b":true},"code":17}"#,
            Accepted(code17(ext(&[("topic", "T"), ("ab", "1"), ("b", "true")]))),
        ),
        // Ext keys fold nothing: Java's map is exact, so these are three keys.
        (
            r#"{"code":17,"extFields":{"topic":"a","Topic":"b","to_pic":"c"}}"#,
            Accepted(code17(ext(&[("topic", "a"), ("Topic", "b"), ("to_pic", "c")]))),
        ),
        (r#"{"remark":""}"#, Accepted(Header { remark: Some(String::new()), ..Header::default() })),
        (r#"{"remark":null,"extFields":null}"#, Accepted(Header::default())),
        (
            r#"{"language":9,"serializeTypeCurrentRPC":null}"#,
            Accepted(Header { language: LanguageCode::GO, ..Header::default() }),
        ),
        // Unknown keys may be spelled any way, nested any way (within the depth bound).
        (r#"{'x':1,y:[{"z":{}}],"\u0078x":"\ud800","code":17}"#, Accepted(code17(None))),
    ];
    for (text, want) in cases {
        let got = guarded(text.as_bytes());
        match want {
            Refused(r) => assert_eq!(got.map_err(|e| e.reason()), Err(r), "{text}"),
            Accepted(h) => {
                assert_eq!(got.as_ref(), Ok(&h), "{text}");
                // What is accepted re-encodes canonically and decodes to the same header.
                assert_eq!(guarded(&canonical(&h)), Ok(h), "{text} (canonical)");
            }
        }
    }
}

/// A model of how Java could read a header: keys folded the way fastjson folds them, and for
/// a repeated field either copy may win. Yields every (code, topic) Java might execute.
fn java_readings(bytes: &[u8]) -> Vec<(i64, Option<String>)> {
    let doc = fastjson::parse(bytes).expect("fastjson accepts it");
    let fold = |k: &Value| {
        k.as_str().unwrap_or("").chars().filter(|c| !matches!(c, '_' | '-')).collect::<String>().to_ascii_lowercase()
    };
    let copies = |name: &str| doc.members().iter().filter(|(k, _)| fold(k) == name).map(|(_, v)| v).collect::<Vec<_>>();
    let mut out = Vec::new();
    for code in copies("code") {
        for ext in copies("extfields") {
            // Java's HashMap: the last value of a repeated key.
            let topic =
                ext.members().iter().rev().find(|(k, _)| k.as_str() == Some("topic")).and_then(|(_, v)| v.as_str());
            out.push((code.as_i64().unwrap_or(0), topic.map(str::to_owned)));
        }
    }
    out
}

#[test]
fn hostile_spellings_would_create_their_topic_in_java_and_are_refused() {
    let mut names = std::collections::HashSet::new();
    for (name, bytes) in HOSTILE_SPELLINGS {
        assert!(names.insert(*name), "{name} twice");
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{name}");
        let topic = format!("{HOSTILE_TOPIC_PREFIX}{name}");
        assert!(
            java_readings(bytes).contains(&(17, Some(topic.clone()))),
            "{name}: Java may not read code 17 with topic {topic}: {}",
            String::from_utf8_lossy(bytes)
        );
        let want = match *name {
            "code_repeated_last" | "code_repeated_first" | "ext_repeated" => "repeated_field",
            "ext_key_repeated" | "ext_key_repeated_escaped" => "repeated_ext_key",
            _ => "noncanonical_field_name",
        };
        assert_eq!(reason(bytes), want, "{name}");
        // Each topic in the header carries the prefix, so one listing shows them all.
        let text = String::from_utf8_lossy(bytes);
        for (i, _) in text.match_indices(r#""topic":""#) {
            assert!(text[i + 9..].starts_with(HOSTILE_TOPIC_PREFIX), "{name}");
        }
    }
    assert!(HOSTILE_SPELLINGS.len() >= 25);
}

/// What stock clients send must keep working.
#[test]
fn clients_headers_are_accepted() {
    let send_ext = [
        ("a", "pg"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "1"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", "KEYS\u{1}k\u{2}WAIT\u{1}true\u{2}"),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
    ];
    let cases: &[(&str, &[u8], Header)] = &[
        (
            "java (fastjson bean order)",
            br#"{"code":310,"extFields":{"a":"pg","b":"TopicTest","c":"TBW102","d":"4","e":"1","f":"0","g":"1700000000000","h":"0","i":"KEYS\u0001k\u0002WAIT\u0001true\u0002","j":"0","k":"false","m":"false"},"flag":0,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":399}"#,
            Header { code: 310, opaque: 42, version: 399, ext_fields: ext(&send_ext), ..Header::default() },
        ),
        (
            "go (struct order, empty remark)",
            br#"{"code":17,"language":"GO","version":317,"opaque":7,"flag":0,"remark":"","extFields":{"topic":"T","defaultTopic":"TBW102","readQueueNums":"8","writeQueueNums":"8","perm":"6","topicFilterType":"SINGLE_TAG","topicSysFlag":"0","order":"false"}}"#,
            Header {
                code: 17,
                language: LanguageCode::GO,
                version: 317,
                opaque: 7,
                remark: Some(String::new()),
                ext_fields: ext(&[
                    ("topic", "T"),
                    ("defaultTopic", "TBW102"),
                    ("readQueueNums", "8"),
                    ("writeQueueNums", "8"),
                    ("perm", "6"),
                    ("topicFilterType", "SINGLE_TAG"),
                    ("topicSysFlag", "0"),
                    ("order", "false"),
                ]),
                ..Header::default()
            },
        ),
        (
            "rust (serde order, serializeTypeCurrentRPC)",
            br#"{"code":105,"language":"RUST","version":0,"opaque":3,"flag":0,"extFields":{"topic":"T"},"serializeTypeCurrentRPC":"JSON"}"#,
            Header { code: 105, language: LanguageCode::RUST, opaque: 3, ext_fields: ext(&[("topic", "T")]), ..Header::default() },
        ),
        (
            "c++ (sorted keys)",
            br#"{"code":34,"extFields":{},"flag":2,"language":"CPP","opaque":9,"remark":"","serializeTypeCurrentRPC":"JSON","version":0}"#,
            Header {
                code: 34,
                flag: 2,
                language: LanguageCode::CPP,
                opaque: 9,
                remark: Some(String::new()),
                ext_fields: Some(ExtFields::new()),
                ..Header::default()
            },
        ),
    ];
    for (who, bytes, want) in cases {
        let h = guarded(bytes).unwrap_or_else(|e| panic!("{who}: {e}"));
        assert_eq!(&h, want, "{who}");
        // The plain decoder agrees on what clients send.
        assert_eq!(Header::decode(JSON, bytes).as_ref(), Ok(want), "{who}");
        assert_eq!(guarded(&canonical(&h)).as_ref(), Ok(want), "{who} canonical");
    }
    // Our own encoding of a Java request is exactly what Java sends.
    let java = cases[0].1;
    assert_eq!(canonical(&guarded(java).expect("accepted")), java);
}

#[test]
fn limits() {
    let limits = DecodeLimits { max_header_bytes: 200, max_ext_fields: 3 };
    let three = br#"{"code":17,"extFields":{"a":"1","b":"2","c":null}}"#;
    assert!(Header::decode_guarded(JSON, three, &limits).is_ok());
    let four = br#"{"code":17,"extFields":{"a":"1","b":"2","c":null,"d":"4"}}"#;
    assert_eq!(Header::decode_guarded(JSON, four, &limits), Err(Refusal::TooManyFields { max: 3 }));
    let mut big = br#"{"code":17,"x":""#.to_vec();
    big.resize(198, b'y');
    big.extend_from_slice(br#""}"#);
    assert_eq!(big.len(), 200);
    assert!(Header::decode_guarded(JSON, &big, &limits).is_ok());
    big.insert(20, b'y');
    assert_eq!(Header::decode_guarded(JSON, &big, &limits), Err(Refusal::HeaderTooLarge { len: 201, max: 200 }));
    assert_eq!(Header::decode_guarded(BINARY, &big, &limits).map_err(|e| e.reason()), Err("header_too_large"));
    assert_eq!(DecodeLimits::default(), DecodeLimits { max_header_bytes: 65_536, max_ext_fields: 256 });
    assert_eq!(
        Header::decode_guarded(SerializeType(2), b"{}", &limits),
        Err(Refusal::Malformed(DecodeError::UnknownSerializeType(2)))
    );
}

fn binary(h: &Header) -> Vec<u8> {
    let mut b = BytesMut::new();
    h.encode(BINARY, &mut b).expect("encodable");
    b.to_vec()
}

/// A binary ext area entry.
fn entry(k: &str, v: &str) -> Vec<u8> {
    let mut out = i16::try_from(k.len()).expect("short key").to_be_bytes().to_vec();
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(&i32::try_from(v.len()).expect("short value").to_be_bytes());
    out.extend_from_slice(v.as_bytes());
    out
}

/// A binary header with the given raw ext entries.
fn binary_with(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = binary(&Header { code: 17, opaque: 5, ..Header::default() });
    let area: Vec<u8> = entries.concat();
    out.truncate(out.len() - 4);
    out.extend_from_slice(&i32::try_from(area.len()).expect("small area").to_be_bytes());
    out.extend_from_slice(&area);
    out
}

#[test]
fn binary_headers() {
    let limits = DecodeLimits::default();
    let ok = binary_with(&[entry("topic", "T"), entry("Topic", "U")]);
    let h = Header::decode_guarded(BINARY, &ok, &limits).expect("accepted");
    assert_eq!((h.code, h.opaque, h.ext_fields), (17, 5, ext(&[("topic", "T"), ("Topic", "U")])));

    let repeated = binary_with(&[entry("topic", "T"), entry("x", ""), entry("topic", "U")]);
    // The plain decoder keeps the last value, as Java's HashMap; the guard refuses.
    assert_eq!(Header::decode(BINARY, &repeated).expect("decodes").ext("topic"), Some("U"));
    let at = 17 + 4 + entry("topic", "T").len() + entry("x", "").len();
    assert_eq!(Header::decode_guarded(BINARY, &repeated, &limits), Err(Refusal::RepeatedExtKey { at }));

    let reserved = binary_with(&[entry("@type", "x")]);
    assert_eq!(Header::decode_guarded(BINARY, &reserved, &limits).map_err(|e| e.reason()), Err("reserved_key"));

    let many: Vec<Vec<u8>> = (0..257).map(|i| entry(&format!("k{i}"), "")).collect();
    assert_eq!(
        Header::decode_guarded(BINARY, &binary_with(&many[..256]), &limits).map(|h| h.ext_fields.map(|e| e.len())),
        Ok(Some(256))
    );
    assert_eq!(Header::decode_guarded(BINARY, &binary_with(&many), &limits), Err(Refusal::TooManyFields { max: 256 }));

    for n in 0..ok.len() {
        assert_eq!(Header::decode_guarded(BINARY, &ok[..n], &limits).map_err(|e| e.reason()), Err("malformed"), "{n}");
    }
}

/// Every decoder is linear: 300k ext fields in 5 MB decode in one pass (with a linear-scan
/// map this is 4.5e10 key comparisons and would not finish).
#[test]
fn huge_headers_decode_in_linear_time() {
    let n = 300_000;
    let mut json = String::from(r#"{"code":17,"extFields":{"#);
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(r#""key{i}":"v""#));
        entries.push(entry(&format!("key{i}"), "v"));
    }
    json.push_str("}}");
    let limits = DecodeLimits { max_header_bytes: 16 << 20, max_ext_fields: n };
    let started = std::time::Instant::now();
    let h = Header::decode_guarded(JSON, json.as_bytes(), &limits).expect("accepted");
    assert_eq!(h.ext_fields.as_ref().map(ExtFields::len), Some(n));
    assert_eq!(Header::decode(JSON, json.as_bytes()).expect("decodes"), h);
    let bin = binary_with(&entries);
    assert_eq!(Header::decode_guarded(BINARY, &bin, &limits).expect("accepted").ext_fields.map(|e| e.len()), Some(n));
    assert_eq!(Header::decode(BINARY, &bin).expect("decodes").ext_fields.map(|e| e.len()), Some(n));
    // Generous even for a debug build on a busy machine; quadratic would take hours.
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
}

#[test]
fn binary_peeks_never_read_past_short_input() {
    let full =
        binary(&Header { code: 202, opaque: 7, flag: 1, ext_fields: ext(&[("topic", "T1")]), ..Header::default() });
    for n in 0..full.len() {
        let b = &full[..n];
        assert_eq!(Header::peek_ext(BINARY, b, "topic"), None, "{n}");
        assert_eq!(Header::peek(BINARY, b).is_ok(), n >= 13, "{n}");
        assert_eq!(Header::peek_code(BINARY, b).is_ok(), n >= 2, "{n}");
    }
    assert_eq!(Header::peek_ext(BINARY, &full, "topic"), Some("T1"));
    assert_eq!(Header::peek(BINARY, &full).expect("peeks"), Peek { code: 202, flag: 1, opaque: 7 });
    // Lengths that point past the end, or are negative, are None too.
    for (at, word) in [(13, i32::MAX), (13, -1), (17, i32::MAX), (17, -1), (17, 1)] {
        let mut b = full.clone();
        b[at..at + 4].copy_from_slice(&word.to_be_bytes());
        assert_eq!(Header::peek_ext(BINARY, &b, "topic"), None, "{at} {word}");
    }
    assert_eq!(Header::peek_ext(JSON, br#"{"extFields":{"topic":"T1"}}"#, "topic"), None);
}

#[test]
fn reasons_are_listed() {
    let samples = [
        Refusal::HeaderTooLarge { len: 2, max: 1 },
        Refusal::TooManyFields { max: 1 },
        Refusal::RepeatedField { field: "code", at: 0 },
        Refusal::NoncanonicalFieldName { field: "code", at: 0 },
        Refusal::RepeatedExtKey { at: 0 },
        Refusal::ReservedKey { at: 0 },
        Refusal::Malformed(DecodeError::Truncated("code")),
    ];
    let reasons: Vec<&str> = samples.iter().map(Refusal::reason).collect();
    assert_eq!(reasons, Refusal::REASONS);
    assert_eq!(
        guarded(br#"{"code":1,"Code":2}"#).map_err(|e| e.to_string()),
        Err("header field code appears again at byte 10".to_owned())
    );
}

#[test]
fn raw_frame_header_guarded() {
    use crate::frame::{RawFrame, encode_to_bytes};
    let limits = DecodeLimits::default();
    let h = Header { code: 17, opaque: 9, ext_fields: ext(&[("topic", "T")]), ..Header::default() };
    for ty in [JSON, BINARY] {
        let f = RawFrame::parse(encode_to_bytes(&h, ty, b"body").expect("encodes")).expect("frame");
        assert_eq!(f.header_guarded(&limits), Ok(h.clone()));
    }
    let hostile = HOSTILE_SPELLINGS[0].1;
    let mut wire = (u32::try_from(4 + hostile.len()).expect("small")).to_be_bytes().to_vec();
    wire.extend_from_slice(&(u32::try_from(hostile.len()).expect("small")).to_be_bytes());
    wire.extend_from_slice(hostile);
    let f = RawFrame::parse(bytes::Bytes::from(wire)).expect("frame");
    assert_eq!(f.header_guarded(&limits).map_err(|e| e.reason()), Err("noncanonical_field_name"));
    // The plain reader sees no code at all in the same frame.
    assert_eq!(f.header().map(|h| h.code), Ok(0));
}
