//! The remoting header: the fields both serialize types carry, and their two encodings.
//!
//! | field | JSON (type 0) | ROCKETMQ binary (type 1) |
//! |---|---|---|
//! | `code` | number | i16, sign-extended on read |
//! | `language` | enum name | u8 |
//! | `version` | number | i16 |
//! | `opaque` | number | i32 |
//! | `flag` | number (bit 0 response, bit 1 oneway) | i32 |
//! | `remark` | string, omitted when absent | i32 length + UTF-8, 0 = absent |
//! | `extFields` | object string→string, omitted when absent | i32 area length + entries |
//!
//! [`Header::decode`] tolerates what Java accepts and sends: missing fields take Java's
//! defaults, unknown JSON keys are skipped, `"code":"28"` is a number, extField values that
//! are JSON numbers or booleans keep their text. It matches JSON keys exactly, which Java does
//! not (it ignores case, `_` and `-`), so a component that *decides* on a header a Java
//! broker will execute uses [`Header::decode_guarded`] instead: it refuses every header Java
//! could read differently (rules there; reasons in [`Refusal`]; hostile examples in
//! [`spellings`]).
//! Encoding is byte-exact with Java's output.

mod binary;
mod ext_fields;
mod guarded;
mod json;
pub mod spellings;

pub use ext_fields::ExtFields;
pub use guarded::{DecodeLimits, Refusal};
pub(crate) use json::put_str as put_json_str;

use bytes::BytesMut;

use crate::codes::{LanguageCode, RequestCode, ResponseCode, SerializeType};
use crate::error::{DecodeError, EncodeError};

/// Flag bit 0: set on responses.
pub const FLAG_RESPONSE: i32 = 0x1;
/// Flag bit 1: set on oneway requests (no response expected).
pub const FLAG_ONEWAY: i32 = 0x2;

/// The three fields a proxy needs for every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek {
    /// Request or response code.
    pub code: i32,
    /// Flag bits.
    pub flag: i32,
    /// Opaque.
    pub opaque: i32,
}

impl Peek {
    /// Whether the response bit is set.
    pub const fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// Whether this is a oneway request.
    pub const fn is_oneway(&self) -> bool {
        !self.is_response() && self.flag & FLAG_ONEWAY != 0
    }
}

/// A decoded remoting header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Request code or response code, depending on [`Header::is_response`].
    pub code: i32,
    /// The sender's language.
    pub language: LanguageCode,
    /// The sender's `MQVersion` ordinal.
    pub version: i32,
    /// Request id; a response carries its request's opaque.
    pub opaque: i32,
    /// Bit field: [`FLAG_RESPONSE`], [`FLAG_ONEWAY`].
    pub flag: i32,
    /// Free text; responses use it for error messages.
    pub remark: Option<String>,
    /// The custom-header fields.
    pub ext_fields: Option<ExtFields>,
}

impl Default for Header {
    /// Java's defaults for missing fields: code 0, JAVA, version 0, opaque 0, flag 0.
    fn default() -> Self {
        Self { code: 0, language: LanguageCode::JAVA, version: 0, opaque: 0, flag: 0, remark: None, ext_fields: None }
    }
}

impl Header {
    /// A request header with `code` and `opaque`, sent as a Rust client of `version`.
    pub fn request(code: RequestCode, opaque: i32) -> Self {
        Self { code: code.get(), opaque, language: LanguageCode::RUST, ..Self::default() }
    }

    /// Whether the response bit is set.
    pub const fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// Whether this is a oneway request.
    pub const fn is_oneway(&self) -> bool {
        !self.is_response() && self.flag & FLAG_ONEWAY != 0
    }

    /// The code read as a request code.
    pub const fn request_code(&self) -> RequestCode {
        RequestCode(self.code)
    }

    /// The code read as a response code.
    pub const fn response_code(&self) -> ResponseCode {
        ResponseCode(self.code)
    }

    /// An extField value.
    pub fn ext(&self, key: &str) -> Option<&str> {
        self.ext_fields.as_ref()?.get(key)
    }

    /// Sets an extField, creating the map if needed.
    pub fn set_ext(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        self.ext_fields.get_or_insert_with(ExtFields::new).insert(key, value);
    }

    /// The header of a response to this request: same opaque, response bit set, `code`
    /// and `remark` as given. Used for error replies a proxy makes on the server's behalf.
    pub fn response_to(&self, code: ResponseCode, remark: Option<String>) -> Header {
        Header {
            code: code.get(),
            language: LanguageCode::JAVA,
            version: self.version,
            opaque: self.opaque,
            flag: FLAG_RESPONSE,
            remark,
            ext_fields: None,
        }
    }

    /// Decodes a header of serialize type `ty` from exactly `bytes`.
    pub fn decode(ty: SerializeType, bytes: &[u8]) -> Result<Header, DecodeError> {
        match ty {
            SerializeType::JSON => json::decode(bytes),
            SerializeType::ROCKETMQ => binary::decode(bytes),
            other => Err(DecodeError::UnknownSerializeType(other.get())),
        }
    }

    /// Decodes a header the way a guard must before deciding on it: strictly, within
    /// `limits`, refusing anything a Java broker could read differently from this crate.
    ///
    /// JSON (serialize type 0): a key Java maps to a header property (`code`, `extFields`,
    /// `flag`, `language`, `opaque`, `remark`, `serializeTypeCurrentRPC`, `version`) must be
    /// spelled exactly, double-quoted, without escapes, and appear once; an ext key must appear
    /// once; `@type` and `$ref` keys are refused; other unknown keys are skipped, in any order.
    /// Binary (type 1): a full decode that refuses a repeated or reserved ext key. Both: the
    /// header's size and ext-field count are bounded by `limits`. Linear in `bytes`.
    ///
    /// The caller should forward `encode` of the returned header, not the client's bytes.
    ///
    /// ```
    /// use rmq_protocol::header::{DecodeLimits, Header};
    /// use rmq_protocol::SerializeType;
    ///
    /// let limits = DecodeLimits::default();
    /// let ok = br#"{"code":17,"extFields":{"topic":"T"},"flag":0,"language":"GO","opaque":3,"remark":"","version":317}"#;
    /// let h = Header::decode_guarded(SerializeType::JSON, ok, &limits)?;
    /// assert_eq!((h.code, h.ext("topic")), (17, Some("T")));
    ///
    /// // Java reads `CODE` as `code`; the guard refuses it.
    /// let bad = br#"{"CODE":17,"extFields":{"topic":"T"},"flag":0}"#;
    /// let refusal = Header::decode_guarded(SerializeType::JSON, bad, &limits).unwrap_err();
    /// assert_eq!(refusal.reason(), "noncanonical_field_name");
    /// # Ok::<(), rmq_protocol::header::Refusal>(())
    /// ```
    pub fn decode_guarded(ty: SerializeType, bytes: &[u8], limits: &DecodeLimits) -> Result<Header, Refusal> {
        guarded::decode(ty, bytes, limits)
    }

    /// The guard reader's verdict on an encoded *binary* header without materialising it, for
    /// a proxy that forwards the header as its original bytes and decides on its code alone:
    /// code, flag and opaque, and the value of ext field `capture` (if present and UTF-8).
    /// Every length and key is checked and the same refusals as [`Header::decode_guarded`]
    /// apply, except that ext values other than `capture` are not read (so one that is not
    /// UTF-8 is not refused). A JSON header has no such shortcut: decode it, and forward
    /// only its re-encoding.
    pub fn walk_guarded<'a>(
        bytes: &'a [u8],
        limits: &DecodeLimits,
        capture: &str,
    ) -> Result<(Peek, Option<&'a str>), Refusal> {
        guarded::walk_binary(bytes, limits, capture)
    }

    /// Appends the encoded header (without the frame's length words) to `dst`.
    pub fn encode(&self, ty: SerializeType, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match ty {
            SerializeType::JSON => {
                json::encode(self, dst);
                Ok(())
            }
            SerializeType::ROCKETMQ => binary::encode(self, dst),
            other => Err(EncodeError::UnknownSerializeType(other.get())),
        }
    }

    /// Reads the code, flag and opaque of an encoded header: three fixed offsets for a binary
    /// header (the proxy's fast path), a full decode for JSON. A binary header shorter than
    /// its 13 fixed bytes is `Truncated`. Like [`Header::decode`], this matches JSON keys
    /// exactly; do not base a security decision on it (use [`Header::decode_guarded`]).
    pub fn peek(ty: SerializeType, bytes: &[u8]) -> Result<Peek, DecodeError> {
        match ty {
            SerializeType::ROCKETMQ => {
                let b = bytes.get(..13).ok_or(DecodeError::Truncated("fixed header"))?;
                Ok(Peek {
                    code: i32::from(i16::from_be_bytes([b[0], b[1]])),
                    opaque: i32::from_be_bytes([b[5], b[6], b[7], b[8]]),
                    flag: i32::from_be_bytes([b[9], b[10], b[11], b[12]]),
                })
            }
            _ => Self::decode(ty, bytes).map(|h| Peek { code: h.code, flag: h.flag, opaque: h.opaque }),
        }
    }

    /// The value of one ext field of an encoded *binary* header, found without decoding the
    /// rest or allocating (the proxy's per-topic accounting). `None` for JSON headers, absent
    /// keys and malformed headers, including any shorter than the fixed part. A repeated key
    /// gives its last value, as Java's map keeps.
    pub fn peek_ext<'a>(ty: SerializeType, bytes: &'a [u8], key: &str) -> Option<&'a str> {
        match ty {
            SerializeType::ROCKETMQ => binary::find_ext(bytes, key),
            _ => None,
        }
    }

    /// Reads only the code of an encoded header, without decoding the rest when the header
    /// is binary (the proxy's fast path). JSON headers are decoded in full.
    pub fn peek_code(ty: SerializeType, bytes: &[u8]) -> Result<i32, DecodeError> {
        match ty {
            SerializeType::ROCKETMQ => bytes
                .get(..2)
                .map(|b| i32::from(i16::from_be_bytes([b[0], b[1]])))
                .ok_or(DecodeError::Truncated("code")),
            _ => Self::decode(ty, bytes).map(|h| h.code),
        }
    }
}

#[cfg(test)]
mod guarded_tests;
#[cfg(test)]
mod tests;
