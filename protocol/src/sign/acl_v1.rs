//! `acl-v1`: RocketMQ ACL 1.0 request signing, as `AclClientRPCHook` does it.
//!
//! 1. Put `AccessKey` (and `SecurityToken`, if any) into extFields.
//! 2. Sort every extField by key in Java `String` order (UTF-16 code units).
//! 3. Content = the UTF-8 **values** concatenated, skipping `Signature`, then the raw body.
//! 4. `Signature` = Base64(HmacSHA1(secret, content)), standard alphabet with padding.
//!
//! Test vectors (secret `12345678`, access key `rocketmq2`), from the protocol reference:
//!
//! | extFields before signing | body | content | Signature |
//! |---|---|---|---|
//! | `AccessKey=rocketmq2` | – | `rocketmq2` | `Ou1T58RIcyZWaTIwzkhJZWn/Zvs=` |
//! | `AccessKey=rocketmq2, consumerGroup=G1, topic=T1` | – | `rocketmq2G1T1` | `KUCvu3BSF4xb4d0TU/HFH/DOnp8=` |
//! | `AccessKey=rocketmq2, SecurityToken=TOKEN, consumerGroup=G1` | `{"a":1}` | `rocketmq2TOKENG1{"a":1}` | `LNFG30cObsIuqAZm7qQtO9dyF0Q=` |
//!
//! A 4.9.x broker leaves `_UNIQUE_KEY_QUERY` out of the content; [`verify`] accepts a
//! signature computed either way.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::hmac;

use super::{AuthError, SigningKey};
use crate::header::ExtFields;

/// extField carrying the account name.
pub const ACCESS_KEY: &str = "AccessKey";
/// extField carrying the signature.
pub const SIGNATURE: &str = "Signature";
/// extField carrying an optional session token.
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Left out of the content by 4.9.x servers.
const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

/// The bytes that are signed: sorted values (skipping `Signature` and `skip`), then `body`.
pub fn content(ext: &ExtFields, body: &[u8], skip: &[&str]) -> Vec<u8> {
    let mut entries: Vec<(&str, &str)> = ext.iter().filter(|(k, _)| *k != SIGNATURE && !skip.contains(k)).collect();
    entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    let len = entries.iter().map(|(_, v)| v.len()).sum::<usize>() + body.len();
    let mut out = Vec::with_capacity(len);
    for (_, v) in entries {
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// The `Signature` value for `ext` and `body`.
pub fn signature(key: &SigningKey, ext: &ExtFields, body: &[u8]) -> String {
    BASE64.encode(hmac::sign(key.sha1(), &content(ext, body, &[])))
}

/// Signs a request in place: adds `AccessKey`, `SecurityToken` (if given) and `Signature`.
/// Call it last, once every other extField and the body are final.
pub fn sign(ext: &mut ExtFields, body: &[u8], access_key: &str, key: &SigningKey, security_token: Option<&str>) {
    ext.insert(ACCESS_KEY, access_key);
    if let Some(t) = security_token {
        ext.insert(SECURITY_TOKEN, t);
    }
    let sig = signature(key, ext, body);
    ext.insert(SIGNATURE, sig);
}

/// Verifies a signed request; returns the access key it was signed with.
pub fn verify<'e>(
    ext: &'e ExtFields,
    body: &[u8],
    lookup: impl FnOnce(&str) -> Option<&'e SigningKey>,
) -> Result<&'e str, AuthError> {
    let access_key = ext.get(ACCESS_KEY).ok_or(AuthError::Missing(ACCESS_KEY))?;
    let sig = ext.get(SIGNATURE).ok_or(AuthError::Missing(SIGNATURE))?;
    let tag = BASE64.decode(sig).map_err(|_| AuthError::Malformed(SIGNATURE))?;
    let key = lookup(access_key).ok_or(AuthError::UnknownKey)?;
    if hmac::verify(key.sha1(), &content(ext, body, &[]), &tag).is_ok() {
        return Ok(access_key);
    }
    if ext.contains_key(UNIQUE_KEY_QUERY)
        && hmac::verify(key.sha1(), &content(ext, body, &[UNIQUE_KEY_QUERY]), &tag).is_ok()
    {
        return Ok(access_key);
    }
    Err(AuthError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::new(b"12345678")
    }

    fn ext(pairs: &[(&str, &str)]) -> ExtFields {
        pairs.iter().copied().collect()
    }

    #[test]
    fn reference_vectors() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u8], &'a [u8], &'a str);
        let cases: &[Case<'_>] = &[
            (&[("AccessKey", "rocketmq2")], b"", b"rocketmq2", "Ou1T58RIcyZWaTIwzkhJZWn/Zvs="),
            (
                &[("topic", "T1"), ("AccessKey", "rocketmq2"), ("consumerGroup", "G1")],
                b"",
                b"rocketmq2G1T1",
                "KUCvu3BSF4xb4d0TU/HFH/DOnp8=",
            ),
            (
                &[("consumerGroup", "G1"), ("SecurityToken", "TOKEN"), ("AccessKey", "rocketmq2")],
                br#"{"a":1}"#,
                br#"rocketmq2TOKENG1{"a":1}"#,
                "LNFG30cObsIuqAZm7qQtO9dyF0Q=",
            ),
        ];
        for (pairs, body, want_content, want_sig) in cases {
            let e = ext(pairs);
            assert_eq!(content(&e, body, &[]), *want_content);
            assert_eq!(signature(&key(), &e, body), *want_sig);
            let mut signed = e.clone();
            signed.insert(SIGNATURE, *want_sig);
            let k = key();
            assert_eq!(verify(&signed, body, |ak| (ak == "rocketmq2").then_some(&k)), Ok("rocketmq2"));
        }
    }

    #[test]
    fn sign_then_verify_and_rejections() {
        let k = key();
        let mut e = ext(&[("topic", "T1")]);
        sign(&mut e, b"body", "rocketmq2", &k, Some("TOKEN"));
        assert_eq!(e.get(SECURITY_TOKEN), Some("TOKEN"));
        let ok = |e: &ExtFields, body: &[u8]| verify(e, body, |_| Some(&k)).map(str::to_owned);
        assert_eq!(ok(&e, b"body"), Ok("rocketmq2".into()));
        assert_eq!(ok(&e, b"bodY"), Err(AuthError::BadSignature));
        let mut tampered = e.clone();
        tampered.insert("topic", "T2");
        assert_eq!(ok(&tampered, b"body"), Err(AuthError::BadSignature));
        let mut bad_b64 = e.clone();
        bad_b64.insert(SIGNATURE, "***");
        assert_eq!(ok(&bad_b64, b"body"), Err(AuthError::Malformed(SIGNATURE)));
        let mut no_sig = e.clone();
        no_sig.remove(SIGNATURE);
        assert_eq!(ok(&no_sig, b"body"), Err(AuthError::Missing(SIGNATURE)));
        assert_eq!(verify(&e, b"body", |_| None), Err(AuthError::UnknownKey));
        assert_eq!(verify(&ext(&[]), b"", |_| None), Err(AuthError::Missing(ACCESS_KEY)));
    }

    #[test]
    fn unique_key_query_may_be_left_out() {
        let k = key();
        let mut e = ext(&[("topic", "T1"), ("AccessKey", "rocketmq2"), (UNIQUE_KEY_QUERY, "true")]);
        let sig = BASE64.encode(hmac::sign(k.sha1(), &content(&e, b"", &[UNIQUE_KEY_QUERY])));
        e.insert(SIGNATURE, sig);
        assert_eq!(verify(&e, b"", |_| Some(&k)), Ok("rocketmq2"));
    }

    #[test]
    fn java_string_order_is_utf16() {
        // U+FF21 (fullwidth A) sorts before U+10000 in UTF-8 but after it in UTF-16.
        let e = ext(&[("\u{10000}", "2"), ("\u{ff21}", "1")]);
        assert_eq!(content(&e, b"", &[]), b"21");
    }
}
