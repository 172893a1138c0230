//! `rmq-hmac-v1` test vectors through the public API, including the optional `RmqTarget`
//! binding; every signature was computed independently with Python's `hmac` module
//! (`docs/signing.md` lists them).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use rmq_protocol::ExtFields;
use rmq_protocol::sign::{SigningKey, hmac_v1};

const NONCE: &str = "00112233445566778899aabbccddeeff";
const TS: u64 = 1_700_000_000_000;

#[test]
fn vectors_with_and_without_a_target() {
    let key = SigningKey::new(b"rmq-test-secret");
    type Case<'a> = (i32, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            17,
            &[("topic", "T1"), ("readQueueNums", "8")],
            "3ddfed36aaceb17c26c4d7083af6b47d38d1790bd87d98921bd18dcf2133675d",
        ),
        (
            17,
            &[("topic", "T1"), ("readQueueNums", "8"), ("RmqTarget", "broker-a")],
            "a5831f190dc0e23e6fdb1fba79b4edcd06b560f74d9a40be4a63900611680526",
        ),
        (26, &[("RmqTarget", "DefaultCluster")], "04903d7994a41016f645ca6c2e7568956f91a7565209d9a1dae5a129be4711a7"),
    ];
    for &(code, fields, want) in cases {
        let mut ext: ExtFields = fields.iter().copied().collect();
        hmac_v1::sign(&mut ext, code, b"", "ops-1", &key, TS, NONCE);
        assert_eq!(ext.get(hmac_v1::SIGNATURE), Some(want), "{fields:?}");
        let v = hmac_v1::verify(code, &ext, b"", |_| Some(&key), TS, 0).unwrap();
        assert_eq!(v.target, ext.get(hmac_v1::TARGET));
    }
}
