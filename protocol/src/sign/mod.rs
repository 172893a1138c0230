//! Request and connection signing: three HMAC schemes, all verified in constant time.
//!
//! - [`acl_v1`]: RocketMQ ACL 1.0 (`AccessKey` + `Signature`, HmacSHA1, Base64). What stock
//!   `mqadmin`, the dashboard and SDK admin clients already send.
//! - [`hmac_v1`]: `rmq-hmac-v1`, our scheme for admin requests: HMAC-SHA256 over the code,
//!   key id, timestamp, nonce, body digest and the other extFields.
//! - [`ha_v1`]: `rmq-ha-v1`, the HA guard's first packet and the accept side's answer.
//!
//! Verification only answers "is this signature right for this key and time"; remembering
//! nonces (replay protection) is the caller's job, since it is state.

pub mod acl_v1;
pub mod ha_v1;
pub mod hmac_v1;

use std::fmt;

use ring::hmac;
use thiserror::Error;

/// A shared secret, prepared once for the HMAC algorithms the schemes use.
#[derive(Clone)]
pub struct SigningKey {
    sha256: hmac::Key,
    sha1: hmac::Key,
}

impl SigningKey {
    /// Prepares `secret` (raw bytes, as read from a key file).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            sha256: hmac::Key::new(hmac::HMAC_SHA256, secret),
            sha1: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret),
        }
    }

    pub(crate) fn sha256(&self) -> &hmac::Key {
        &self.sha256
    }

    pub(crate) fn sha1(&self) -> &hmac::Key {
        &self.sha1
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Why a signature was not accepted. [`AuthError::reason`] is a stable metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AuthError {
    /// A required field is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A field is present but not in the specified form.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The key id is not configured.
    #[error("unknown key")]
    UnknownKey,
    /// The MAC does not match.
    #[error("bad signature")]
    BadSignature,
    /// The timestamp is outside the allowed skew window.
    #[error("timestamp {skew_ms} ms outside the allowed window")]
    Expired {
        /// Signed time minus verifier time (negative: in the past).
        skew_ms: i64,
    },
    /// The nonce was seen before within the window (reported by the caller's nonce cache).
    #[error("replayed nonce")]
    Replayed,
    /// An HA first packet names another broker.
    #[error("signed for another broker")]
    WrongBroker,
}

impl AuthError {
    /// A short, stable label for metrics and audit lines.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Missing(_) => "missing",
            Self::Malformed(_) => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::Expired { .. } => "expired",
            Self::Replayed => "replayed",
            Self::WrongBroker => "wrong_broker",
        }
    }
}

/// Checks `timestamp_ms` against `now_ms` within ±`max_skew_ms`.
pub(crate) fn check_skew(timestamp_ms: u64, now_ms: u64, max_skew_ms: u64) -> Result<(), AuthError> {
    let skew = i128::from(timestamp_ms) - i128::from(now_ms);
    if skew.unsigned_abs() > u128::from(max_skew_ms) {
        let skew_ms = i64::try_from(skew).unwrap_or(if skew < 0 { i64::MIN } else { i64::MAX });
        return Err(AuthError::Expired { skew_ms });
    }
    Ok(())
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// Parses lowercase or uppercase hex of exactly `N` bytes.
pub(crate) fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        // Two hex digits make one byte.
        #[allow(clippy::cast_possible_truncation)]
        {
            out[i] = (hi * 16 + lo) as u8;
        }
    }
    Some(out)
}
