//! `rmq-hmac-v1`: rmq-sidecar's signature for administrative requests.
//!
//! ACL 1.0 signs only the extField *values*, uses SHA-1, and has no timestamp or nonce, so
//! a captured request can be replayed forever and values can be shifted between keys. This
//! scheme fixes those while staying inside the remoting header: it adds four extFields and
//! works with either serialize type.
//!
//! ## Fields
//!
//! | extField | value |
//! |---|---|
//! | `RmqKeyId` | key id: 1–64 of `A-Z a-z 0-9 . _ -` |
//! | `RmqTimestamp` | signing time, Unix milliseconds, decimal |
//! | `RmqNonce` | 16–64 of `A-Z a-z 0-9 _ -`; 128 random bits in hex recommended |
//! | `RmqSignature` | lowercase hex of HMAC-SHA256(secret, canonical string), 64 characters |
//! | `RmqTarget` | optional: the broker or cluster the request is for, 1–127 of `A-Z a-z 0-9 . _ - :` |
//!
//! ## Canonical string
//!
//! UTF-8, each line ending in `\n`:
//!
//! ```text
//! rmq-hmac-v1
//! <request code, decimal>
//! <RmqKeyId>
//! <RmqTimestamp>
//! <RmqNonce>
//! <lowercase hex SHA-256 of the body; of the empty string when there is none>
//! <len(key)>:<key>=<len(value)>:<value>     one line per other extField
//! ```
//!
//! "Other extFields" are all extFields except the four above and the ACL 1.0 fields
//! `AccessKey`, `SecurityToken` and `Signature`, sorted by key bytes. Lengths are in bytes,
//! decimal; they make the encoding unambiguous whatever a key or value contains. Leaving
//! the ACL fields out lets a request carry both signatures, added in either order.
//!
//! ## Verification
//!
//! The four fields must be present and well-formed; the key id must be known; the MAC is
//! compared in constant time; then the timestamp must be within ±skew of the verifier's
//! clock (so a valid but stale request reads as `expired`, a forged one as
//! `bad_signature`). The verifier must also reject a nonce it has seen within the window.
//!
//! ## Target binding
//!
//! `RmqTarget` names what the signer means the request for: a broker name (`broker-a`), a
//! cluster name (`DefaultCluster`) or any other name a verifier is configured to accept. It
//! is an ordinary extField, so it is signed like every other one (a line of the canonical
//! string; nothing else changes) and a verifier that does not check targets still verifies
//! the signature. A verifier configured with a set of targets must reject a request whose
//! `RmqTarget` is absent or not in its set, so a signature captured at one broker is refused
//! at another within the timestamp window even when they share a key and a nonce cache
//! does not span them. [`verify`] checks the field's form and returns it; the membership
//! check is the caller's.
//!
//! ## Test vector
//!
//! Secret `rmq-test-secret`, key id `ops-1`, code 17 (UPDATE_AND_CREATE_TOPIC), timestamp
//! `1700000000000`, nonce `00112233445566778899aabbccddeeff`, extFields `topic=T1`,
//! `readQueueNums=8`, empty body:
//!
//! ```text
//! rmq-hmac-v1
//! 17
//! ops-1
//! 1700000000000
//! 00112233445566778899aabbccddeeff
//! e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
//! 13:readQueueNums=1:8
//! 5:topic=2:T1
//! ```
//!
//! `RmqSignature` = `3ddfed36aaceb17c26c4d7083af6b47d38d1790bd87d98921bd18dcf2133675d`
//! (computed independently with Python's `hmac`; the module's tests check it).
//!
//! The same request with `RmqTarget=broker-a` adds the line `9:RmqTarget=8:broker-a` (first:
//! `R` sorts before lowercase) →
//! `a5831f190dc0e23e6fdb1fba79b4edcd06b560f74d9a40be4a63900611680526`. Code 26
//! (GET_BROKER_CONFIG), no other extField, `RmqTarget=DefaultCluster`, same key, time and
//! nonce → `04903d7994a41016f645ca6c2e7568956f91a7565209d9a1dae5a129be4711a7`.

use ring::{digest, hmac};

use super::{AuthError, SigningKey, check_skew, hex, unhex};
use crate::header::ExtFields;

/// Scheme name, also the first line of the canonical string.
pub const SCHEME: &str = "rmq-hmac-v1";
/// extField: key id.
pub const KEY_ID: &str = "RmqKeyId";
/// extField: Unix ms.
pub const TIMESTAMP: &str = "RmqTimestamp";
/// extField: nonce.
pub const NONCE: &str = "RmqNonce";
/// extField: hex HMAC.
pub const SIGNATURE: &str = "RmqSignature";
/// extField (optional, signed like any other): the broker or cluster the request is for.
pub const TARGET: &str = "RmqTarget";

const EXCLUDED: [&str; 7] = [KEY_ID, TIMESTAMP, NONCE, SIGNATURE, "AccessKey", "SecurityToken", "Signature"];

/// Whether `s` is a valid key id.
pub fn valid_key_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `s` is a valid nonce.
pub fn valid_nonce(s: &str) -> bool {
    (16..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// Whether `s` is a valid target name (`RmqTarget`): 1–127 of `A-Z a-z 0-9 . _ - :`.
pub fn valid_target(s: &str) -> bool {
    (1..=127).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// The canonical string for a request (see the module docs).
pub fn canonical(code: i32, key_id: &str, timestamp_ms: u64, nonce: &str, ext: &ExtFields, body: &[u8]) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(256);
    // Writing to a String cannot fail.
    let _ = write!(s, "{SCHEME}\n{code}\n{key_id}\n{timestamp_ms}\n{nonce}\n");
    s.push_str(&hex(digest::digest(&digest::SHA256, body).as_ref()));
    s.push('\n');
    let mut others: Vec<(&str, &str)> = ext.iter().filter(|(k, _)| !EXCLUDED.contains(k)).collect();
    others.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (k, v) in others {
        let _ = writeln!(s, "{}:{}={}:{}", k.len(), k, v.len(), v);
    }
    s.into_bytes()
}

/// Signs a request in place, adding the four `Rmq*` extFields.
pub fn sign(
    ext: &mut ExtFields,
    code: i32,
    body: &[u8],
    key_id: &str,
    key: &SigningKey,
    timestamp_ms: u64,
    nonce: &str,
) {
    let mac = hmac::sign(key.sha256(), &canonical(code, key_id, timestamp_ms, nonce, ext, body));
    ext.insert(KEY_ID, key_id);
    ext.insert(TIMESTAMP, timestamp_ms.to_string());
    ext.insert(NONCE, nonce);
    ext.insert(SIGNATURE, hex(mac.as_ref()));
}

/// What a valid signature vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'e> {
    /// The key id that signed.
    pub key_id: &'e str,
    /// Signing time (Unix ms).
    pub timestamp_ms: u64,
    /// The nonce, for the caller's replay check.
    pub nonce: &'e str,
    /// The signed `RmqTarget`, if the request names one (for the caller's target check).
    pub target: Option<&'e str>,
}

/// Whether the request carries any `rmq-hmac-v1` field (to pick the scheme to check).
pub fn is_present(ext: &ExtFields) -> bool {
    ext.contains_key(SIGNATURE) || ext.contains_key(KEY_ID)
}

/// Verifies a request's `rmq-hmac-v1` signature at time `now_ms`.
pub fn verify<'e>(
    code: i32,
    ext: &'e ExtFields,
    body: &[u8],
    lookup: impl FnOnce(&str) -> Option<&'e SigningKey>,
    now_ms: u64,
    max_skew_ms: u64,
) -> Result<Verified<'e>, AuthError> {
    let key_id = ext.get(KEY_ID).ok_or(AuthError::Missing(KEY_ID))?;
    let ts = ext.get(TIMESTAMP).ok_or(AuthError::Missing(TIMESTAMP))?;
    let nonce = ext.get(NONCE).ok_or(AuthError::Missing(NONCE))?;
    let sig = ext.get(SIGNATURE).ok_or(AuthError::Missing(SIGNATURE))?;
    if !valid_key_id(key_id) {
        return Err(AuthError::Malformed(KEY_ID));
    }
    if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::Malformed(TIMESTAMP));
    }
    let timestamp_ms: u64 = ts.parse().map_err(|_| AuthError::Malformed(TIMESTAMP))?;
    if !valid_nonce(nonce) {
        return Err(AuthError::Malformed(NONCE));
    }
    let target = ext.get(TARGET);
    if target.is_some_and(|t| !valid_target(t)) {
        return Err(AuthError::Malformed(TARGET));
    }
    let tag = unhex::<32>(sig).ok_or(AuthError::Malformed(SIGNATURE))?;
    let key = lookup(key_id).ok_or(AuthError::UnknownKey)?;
    hmac::verify(key.sha256(), &canonical(code, key_id, timestamp_ms, nonce, ext, body), &tag)
        .map_err(|_| AuthError::BadSignature)?;
    check_skew(timestamp_ms, now_ms, max_skew_ms)?;
    Ok(Verified { key_id, timestamp_ms, nonce, target })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with Python: hmac.new(b"rmq-test-secret", canonical, "sha256").hexdigest().
    pub(crate) const HMAC_V1_VECTOR_SIGNATURE: &str =
        "3ddfed36aaceb17c26c4d7083af6b47d38d1790bd87d98921bd18dcf2133675d";

    const NONCE_V: &str = "00112233445566778899aabbccddeeff";

    fn vector_ext() -> ExtFields {
        [("topic", "T1"), ("readQueueNums", "8")].into_iter().collect()
    }

    #[test]
    fn canonical_matches_spec() {
        let c = canonical(17, "ops-1", 1_700_000_000_000, NONCE_V, &vector_ext(), b"");
        let want = "rmq-hmac-v1\n17\nops-1\n1700000000000\n00112233445566778899aabbccddeeff\n\
                    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
                    13:readQueueNums=1:8\n5:topic=2:T1\n";
        assert_eq!(String::from_utf8(c).unwrap(), want);
    }

    #[test]
    fn test_vector() {
        let key = SigningKey::new(b"rmq-test-secret");
        let mut ext = vector_ext();
        sign(&mut ext, 17, b"", "ops-1", &key, 1_700_000_000_000, NONCE_V);
        assert_eq!(ext.get(SIGNATURE), Some(HMAC_V1_VECTOR_SIGNATURE));
        let v = verify(17, &ext, b"", |id| (id == "ops-1").then_some(&key), 1_700_000_000_000, 300_000).unwrap();
        assert_eq!(v, Verified { key_id: "ops-1", timestamp_ms: 1_700_000_000_000, nonce: NONCE_V, target: None });
    }

    #[test]
    fn target_vectors() {
        // Computed with Python: the canonical string gains one line, "9:RmqTarget=8:broker-a".
        let key = SigningKey::new(b"rmq-test-secret");
        type Case<'a> = (i32, &'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case<'_>] = &[
            (
                17,
                &[("topic", "T1"), ("readQueueNums", "8")],
                "broker-a",
                "a5831f190dc0e23e6fdb1fba79b4edcd06b560f74d9a40be4a63900611680526",
            ),
            (26, &[], "DefaultCluster", "04903d7994a41016f645ca6c2e7568956f91a7565209d9a1dae5a129be4711a7"),
        ];
        for &(code, fields, target, want) in cases {
            let mut ext: ExtFields = fields.iter().copied().collect();
            ext.insert(TARGET, target);
            sign(&mut ext, code, b"", "ops-1", &key, 1_700_000_000_000, NONCE_V);
            assert_eq!(ext.get(SIGNATURE), Some(want), "code {code}");
            let v = verify(code, &ext, b"", |_| Some(&key), 1_700_000_000_000, 1).unwrap();
            assert_eq!(v.target, Some(target));
            // The target is signed: another one breaks the MAC.
            let mut moved = ext.clone();
            moved.insert(TARGET, "broker-b");
            assert_eq!(verify(code, &moved, b"", |_| Some(&key), 1_700_000_000_000, 1), Err(AuthError::BadSignature));
        }
        let c = canonical(
            17,
            "ops-1",
            1_700_000_000_000,
            NONCE_V,
            &{
                let mut e = vector_ext();
                e.insert(TARGET, "broker-a");
                e
            },
            b"",
        );
        assert!(
            String::from_utf8(c).unwrap().ends_with("\n9:RmqTarget=8:broker-a\n13:readQueueNums=1:8\n5:topic=2:T1\n")
        );
        let mut bad = vector_ext();
        bad.insert(TARGET, "two words");
        sign(&mut bad, 17, b"", "ops-1", &key, 1_700_000_000_000, NONCE_V);
        assert_eq!(verify(17, &bad, b"", |_| Some(&key), 1_700_000_000_000, 1), Err(AuthError::Malformed(TARGET)));
        assert!(
            valid_target("broker-a") && valid_target("10.0.0.1:10911") && !valid_target("") && !valid_target("a/b")
        );
    }

    #[test]
    fn rejections() {
        let key = SigningKey::new(b"rmq-test-secret");
        let other = SigningKey::new(b"another-secret");
        let now = 1_700_000_000_000;
        let mut ext = vector_ext();
        sign(&mut ext, 17, b"body", "ops-1", &key, now, NONCE_V);
        let check = |code: i32, e: &ExtFields, body: &[u8], k: &SigningKey, now: u64| {
            verify(code, e, body, |_| Some(k), now, 300_000).map(|_| ())
        };
        assert_eq!(check(17, &ext, b"body", &key, now), Ok(()));
        assert_eq!(check(17, &ext, b"bodx", &key, now), Err(AuthError::BadSignature), "tampered body");
        assert_eq!(check(215, &ext, b"body", &key, now), Err(AuthError::BadSignature), "other code");
        assert_eq!(check(17, &ext, b"body", &other, now), Err(AuthError::BadSignature), "wrong key");
        assert!(matches!(check(17, &ext, b"body", &key, now + 300_001), Err(AuthError::Expired { skew_ms: -300_001 })));
        assert!(matches!(check(17, &ext, b"body", &key, now - 400_000), Err(AuthError::Expired { skew_ms: 400_000 })));
        let mut t = ext.clone();
        t.insert("topic", "T2");
        assert_eq!(check(17, &t, b"body", &key, now), Err(AuthError::BadSignature), "tampered field");
        let mut t = ext.clone();
        t.insert("extra", "x");
        assert_eq!(check(17, &t, b"body", &key, now), Err(AuthError::BadSignature), "added field");
        // ACL 1.0 fields may be added afterwards without breaking this signature.
        let mut t = ext.clone();
        crate::sign::acl_v1::sign(&mut t, b"body", "ak", &other, None);
        assert_eq!(check(17, &t, b"body", &key, now), Ok(()));
        for (field, value, want) in [
            (NONCE, "short", AuthError::Malformed(NONCE)),
            (TIMESTAMP, "-1", AuthError::Malformed(TIMESTAMP)),
            (KEY_ID, "a b", AuthError::Malformed(KEY_ID)),
            (SIGNATURE, "zz", AuthError::Malformed(SIGNATURE)),
        ] {
            let mut t = ext.clone();
            t.insert(field, value);
            assert_eq!(check(17, &t, b"body", &key, now), Err(want), "{field}");
        }
        let mut t = ext.clone();
        t.remove(NONCE);
        assert_eq!(check(17, &t, b"body", &key, now), Err(AuthError::Missing(NONCE)));
        assert_eq!(verify(17, &ext, b"body", |_| None, now, 1), Err(AuthError::UnknownKey));
        assert!(is_present(&ext));
        assert!(!is_present(&vector_ext()));
    }

    #[test]
    fn length_prefixes_make_shifting_impossible() {
        let a: ExtFields = [("a=1", "2")].into_iter().collect();
        let b: ExtFields = [("a", "1=2")].into_iter().collect();
        assert_ne!(canonical(1, "k", 1, NONCE_V, &a, b""), canonical(1, "k", 1, NONCE_V, &b, b""));
    }
}
