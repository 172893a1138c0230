//! Inputs the fuzzers found, kept as regression tests (`tests/data/fuzz-*.bin`).

use bytes::Bytes;
use rmq_protocol::frame::{self, RawFrame};

fn load(name: &str) -> Bytes {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// `roundtrip` found a binary header whose ext area repeats the empty key: `""=""` then
/// `""="1"`. The decoder keeps the last value (Java's HashMap does the same), so the header
/// has one field and re-encodes shorter; the fuzz invariant was wrong, not the codec.
#[test]
fn duplicate_empty_ext_key_keeps_the_last_value() {
    let raw = RawFrame::parse(load("fuzz-roundtrip-duplicate-empty-key.bin")).expect("frame");
    let h = raw.header().expect("header");
    let ext = h.ext_fields.clone().expect("ext fields");
    assert_eq!(ext.iter().collect::<Vec<_>>(), vec![("", "1")]);
    let again = frame::encode_to_bytes(&h, raw.serialize_type(), &raw.body()).expect("encodes");
    assert!(again.len() < raw.as_bytes().len());
    assert_eq!(RawFrame::parse(again).expect("frame").header().expect("header"), h);
}
