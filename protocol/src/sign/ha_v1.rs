//! `rmq-ha-v1`: the first packet an HA guard's connect side sends, and the accept side's
//! answer. Nothing reaches the master until the first packet verifies; the connect side
//! relays nothing until the answer verifies.
//!
//! ## Hello (connect side → accept side)
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `F0 52 4D 51 2D 48 41 01` (`\xF0` `RMQ-HA` version 1) |
//! | 8 | 1 | key id length *k*, 1–64 |
//! | 9 | *k* | key id, `A-Z a-z 0-9 . _ -` |
//! | 9+*k* | 8 | timestamp, Unix ms, u64 big-endian |
//! | 17+*k* | 16 | nonce (random) |
//! | 33+*k* | 1 | broker name length *b*, 1–127 |
//! | 34+*k* | *b* | broker name, UTF-8: the master's `brokerName` the slave means to reach |
//! | 34+*k*+*b* | 32 | MAC = HMAC-SHA256(secret, `"rmq-ha-v1 hello\n"` ‖ bytes 0 .. 34+*k*+*b*) |
//!
//! The magic's first byte has its top bit set, so if a connect side were ever pointed
//! straight at a master's HA port, the master would read the first 8 bytes as a *negative*
//! offset report — which cannot raise its replication watermark — instead of a huge one.
//!
//! ## Answer (accept side → connect side)
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `F0 52 4D 51 2D 48 41 81` (version with the answer bit) |
//! | 8 | 32 | HMAC-SHA256(secret, `"rmq-ha-v1 accept\n"` ‖ the hello's MAC) |
//!
//! The answer binds to the hello (and so to its nonce, time and broker name) and uses a
//! different label, so it cannot be replayed from another session or reflected from a hello.
//!
//! ## Test vector
//!
//! Secret `rmq-test-secret`, key id `ha-1`, timestamp 1700000000000, nonce bytes 00..0f,
//! broker `broker-a`: see `HELLO_VECTOR` and `ACCEPT_VECTOR` in the tests (computed
//! independently with Python's `hmac`).

use ring::hmac;

use super::{AuthError, SigningKey, check_skew};
use crate::ha::Parsed;

/// First 8 bytes of a hello.
pub const HELLO_MAGIC: [u8; 8] = [0xF0, b'R', b'M', b'Q', b'-', b'H', b'A', 0x01];
/// First 8 bytes of an answer.
pub const ACCEPT_MAGIC: [u8; 8] = [0xF0, b'R', b'M', b'Q', b'-', b'H', b'A', 0x81];
/// Longest possible hello: 8 + 1 + 64 + 8 + 16 + 1 + 127 + 32.
pub const MAX_HELLO_LEN: usize = 257;
/// Size of an answer.
pub const ACCEPT_LEN: usize = 40;
/// Nonce size.
pub const NONCE_LEN: usize = 16;
/// Longest broker name.
pub const MAX_BROKER_NAME: usize = 127;
/// Longest key id.
pub const MAX_KEY_ID: usize = 64;

const HELLO_LABEL: &[u8] = b"rmq-ha-v1 hello\n";
const ACCEPT_LABEL: &[u8] = b"rmq-ha-v1 accept\n";

/// Why a preamble's bytes cannot be a hello or an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PreambleError {
    /// The bytes do not start with the magic (e.g. a raw 8-byte offset report).
    #[error("not an rmq-ha-v1 preamble (bad magic)")]
    BadMagic,
    /// The magic is right but the version is not 1.
    #[error("unsupported rmq-ha-v1 version {0:#04x}")]
    Version(u8),
    /// A length byte out of range.
    #[error("{0} length out of range")]
    Length(&'static str),
    /// A field with characters outside its alphabet.
    #[error("{0} is malformed")]
    Malformed(&'static str),
}

/// A parsed hello. Borrowed from the buffer it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello<'a> {
    /// Key id.
    pub key_id: &'a str,
    /// Unix ms.
    pub timestamp_ms: u64,
    /// Nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Broker name the slave means to reach.
    pub broker_name: &'a str,
    /// The MAC.
    pub mac: [u8; 32],
    signed: &'a [u8],
}

fn check_magic(buf: &[u8], magic: &[u8; 8]) -> Result<(), PreambleError> {
    let n = buf.len().min(8);
    // Reject as soon as any arrived byte of the first seven disagrees: an attacker's 8-byte
    // report is refused on its first byte.
    let m = n.min(7);
    if buf[..m] != magic[..m] {
        return Err(PreambleError::BadMagic);
    }
    if n == 8 && buf[7] != magic[7] {
        return Err(PreambleError::Version(buf[7]));
    }
    Ok(())
}

fn key_id_ok(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Parses a hello from the start of `buf`.
pub fn parse_hello(buf: &[u8]) -> Result<Parsed<Hello<'_>>, PreambleError> {
    check_magic(buf, &HELLO_MAGIC)?;
    let Some(&k) = buf.get(8) else {
        return Ok(Parsed::NeedMore(9 - buf.len()));
    };
    let k = usize::from(k);
    if !(1..=MAX_KEY_ID).contains(&k) {
        return Err(PreambleError::Length("key id"));
    }
    let name_len_at = 9 + k + 8 + NONCE_LEN;
    let Some(&b) = buf.get(name_len_at) else {
        return Ok(Parsed::NeedMore(name_len_at + 1 - buf.len()));
    };
    let b = usize::from(b);
    if !(1..=MAX_BROKER_NAME).contains(&b) {
        return Err(PreambleError::Length("broker name"));
    }
    let mac_at = name_len_at + 1 + b;
    let total = mac_at + 32;
    if buf.len() < total {
        return Ok(Parsed::NeedMore(total - buf.len()));
    }
    let key_id = std::str::from_utf8(&buf[9..9 + k]).map_err(|_| PreambleError::Malformed("key id"))?;
    if !key_id_ok(key_id) {
        return Err(PreambleError::Malformed("key id"));
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&buf[9 + k..17 + k]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&buf[17 + k..name_len_at]);
    let broker_name =
        std::str::from_utf8(&buf[name_len_at + 1..mac_at]).map_err(|_| PreambleError::Malformed("broker name"))?;
    let mut mac = [0u8; 32];
    mac.copy_from_slice(&buf[mac_at..total]);
    Ok(Parsed::Complete(
        Hello { key_id, timestamp_ms: u64::from_be_bytes(ts), nonce, broker_name, mac, signed: &buf[..mac_at] },
        total,
    ))
}

fn hello_mac(key: &SigningKey, signed: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key.sha256());
    ctx.update(HELLO_LABEL);
    ctx.update(signed);
    ctx.sign()
}

/// Builds a hello.
pub fn encode_hello(
    key_id: &str,
    key: &SigningKey,
    timestamp_ms: u64,
    nonce: [u8; NONCE_LEN],
    broker_name: &str,
) -> Result<Vec<u8>, PreambleError> {
    if !(1..=MAX_KEY_ID).contains(&key_id.len()) {
        return Err(PreambleError::Length("key id"));
    }
    if !key_id_ok(key_id) {
        return Err(PreambleError::Malformed("key id"));
    }
    if !(1..=MAX_BROKER_NAME).contains(&broker_name.len()) {
        return Err(PreambleError::Length("broker name"));
    }
    let mut out = Vec::with_capacity(MAX_HELLO_LEN);
    out.extend_from_slice(&HELLO_MAGIC);
    // Both lengths were checked to fit a byte above.
    #[allow(clippy::cast_possible_truncation)]
    out.push(key_id.len() as u8);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(&nonce);
    #[allow(clippy::cast_possible_truncation)]
    out.push(broker_name.len() as u8);
    out.extend_from_slice(broker_name.as_bytes());
    let mac = hello_mac(key, &out);
    out.extend_from_slice(mac.as_ref());
    Ok(out)
}

impl Hello<'_> {
    /// Verifies the MAC (constant time), then the time window, then the broker name.
    /// Replay (a nonce seen before) is the caller's check.
    pub fn verify(&self, key: &SigningKey, now_ms: u64, max_skew_ms: u64, broker_name: &str) -> Result<(), AuthError> {
        let mut ctx = Vec::with_capacity(HELLO_LABEL.len() + self.signed.len());
        ctx.extend_from_slice(HELLO_LABEL);
        ctx.extend_from_slice(self.signed);
        hmac::verify(key.sha256(), &ctx, &self.mac).map_err(|_| AuthError::BadSignature)?;
        check_skew(self.timestamp_ms, now_ms, max_skew_ms)?;
        if self.broker_name != broker_name {
            return Err(AuthError::WrongBroker);
        }
        Ok(())
    }
}

/// Builds the answer to a verified hello.
pub fn encode_accept(key: &SigningKey, hello_mac: &[u8; 32]) -> [u8; ACCEPT_LEN] {
    let mut ctx = hmac::Context::with_key(key.sha256());
    ctx.update(ACCEPT_LABEL);
    ctx.update(hello_mac);
    let tag = ctx.sign();
    let mut out = [0u8; ACCEPT_LEN];
    out[..8].copy_from_slice(&ACCEPT_MAGIC);
    out[8..].copy_from_slice(tag.as_ref());
    out
}

/// Parses an answer from the start of `buf`, returning its MAC.
pub fn parse_accept(buf: &[u8]) -> Result<Parsed<[u8; 32]>, PreambleError> {
    check_magic(buf, &ACCEPT_MAGIC)?;
    if buf.len() < ACCEPT_LEN {
        return Ok(Parsed::NeedMore(ACCEPT_LEN - buf.len()));
    }
    let mut mac = [0u8; 32];
    mac.copy_from_slice(&buf[8..ACCEPT_LEN]);
    Ok(Parsed::Complete(mac, ACCEPT_LEN))
}

/// Verifies an answer's MAC against the hello we sent (constant time).
pub fn verify_accept(key: &SigningKey, hello_mac: &[u8; 32], accept_mac: &[u8; 32]) -> Result<(), AuthError> {
    let mut msg = Vec::with_capacity(ACCEPT_LABEL.len() + 32);
    msg.extend_from_slice(ACCEPT_LABEL);
    msg.extend_from_slice(hello_mac);
    hmac::verify(key.sha256(), &msg, accept_mac).map_err(|_| AuthError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_VECTOR: &str = "f0524d512d4841010468612d310000018bcfe56800000102030405060708090a0b0c0d0e0f0862726f6b65722d61c789f342ed96ea990d7a506fea3ceb37570a9be9c9a0f685d832af05c8362241";
    const ACCEPT_VECTOR: &str = "f0524d512d484181dd784ea18e6a3d3c8bbb0a349aef7a1adb277b3444d41597e2604d8b47f29be0";

    fn nonce() -> [u8; 16] {
        std::array::from_fn(|i| u8::try_from(i).unwrap())
    }

    fn key() -> SigningKey {
        SigningKey::new(b"rmq-test-secret")
    }

    #[test]
    fn vectors() {
        let hello = encode_hello("ha-1", &key(), 1_700_000_000_000, nonce(), "broker-a").unwrap();
        assert_eq!(crate::sign::hex(&hello), HELLO_VECTOR);
        let Parsed::Complete(h, n) = parse_hello(&hello).unwrap() else { panic!("complete") };
        assert_eq!(n, hello.len());
        assert_eq!((h.key_id, h.broker_name, h.timestamp_ms), ("ha-1", "broker-a", 1_700_000_000_000));
        h.verify(&key(), 1_700_000_000_000, 30_000, "broker-a").unwrap();
        let accept = encode_accept(&key(), &h.mac);
        assert_eq!(crate::sign::hex(&accept), ACCEPT_VECTOR);
        let Parsed::Complete(mac, 40) = parse_accept(&accept).unwrap() else { panic!("complete") };
        verify_accept(&key(), &h.mac, &mac).unwrap();
    }

    #[test]
    fn rejections() {
        let now = 1_700_000_000_000;
        let hello = encode_hello("ha-1", &key(), now, nonce(), "broker-a").unwrap();
        let Parsed::Complete(h, _) = parse_hello(&hello).unwrap() else { panic!() };
        assert_eq!(h.verify(&SigningKey::new(b"wrong"), now, 30_000, "broker-a"), Err(AuthError::BadSignature));
        assert_eq!(h.verify(&key(), now, 30_000, "broker-b"), Err(AuthError::WrongBroker));
        assert!(matches!(h.verify(&key(), now + 60_000, 30_000, "broker-a"), Err(AuthError::Expired { .. })));
        // Any flipped byte breaks the MAC (or the framing).
        for i in 0..hello.len() {
            let mut bad = hello.clone();
            bad[i] ^= 0x01;
            let ok = match parse_hello(&bad) {
                Ok(Parsed::Complete(h, _)) => h.verify(&key(), now, 30_000, "broker-a").is_ok(),
                _ => false,
            };
            assert!(!ok, "flipping byte {i} must not verify");
        }
        // The answer is bound to this hello and to the key.
        let accept = encode_accept(&key(), &h.mac);
        let Parsed::Complete(mac, _) = parse_accept(&accept).unwrap() else { panic!() };
        assert_eq!(verify_accept(&key(), &[0; 32], &mac), Err(AuthError::BadSignature));
        assert_eq!(verify_accept(&SigningKey::new(b"x"), &h.mac, &mac), Err(AuthError::BadSignature));
        // A hello is not an answer.
        assert_eq!(parse_accept(&hello), Err(PreambleError::Version(0x01)));
    }

    #[test]
    fn early_rejection_and_need_more() {
        // The classic attack: 8 bytes of an offset report. Refused on the first byte.
        assert_eq!(parse_hello(&[0x00]), Err(PreambleError::BadMagic));
        assert_eq!(parse_hello(b"99999999"), Err(PreambleError::BadMagic));
        assert_eq!(parse_hello(&[0xF0, b'R']), Ok(Parsed::NeedMore(7)));
        let mut v2 = HELLO_MAGIC;
        v2[7] = 2;
        assert_eq!(parse_hello(&v2), Err(PreambleError::Version(2)));
        let hello = encode_hello("ha-1", &key(), 1, nonce(), "broker-a").unwrap();
        for n in 0..hello.len() {
            assert!(matches!(parse_hello(&hello[..n]), Ok(Parsed::NeedMore(_))), "prefix {n}");
        }
        let mut bad_len = HELLO_MAGIC.to_vec();
        bad_len.push(0);
        assert_eq!(parse_hello(&bad_len), Err(PreambleError::Length("key id")));
        assert_eq!(encode_hello("bad id", &key(), 1, nonce(), "b"), Err(PreambleError::Malformed("key id")));
        assert_eq!(encode_hello("k", &key(), 1, nonce(), ""), Err(PreambleError::Length("broker name")));
        // The magic read as a classic report is negative.
        assert!(i64::from_be_bytes(HELLO_MAGIC) < 0);
    }
}
