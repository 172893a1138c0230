//! Error types. Decode errors are `Copy` and carry `&'static str` context: no allocation on
//! the hot path, and cheap to count by kind.

use thiserror::Error;

/// A frame or header that cannot be decoded. The connection it came from should be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// `total_length` is larger than Java accepts (16,777,212).
    #[error("frame length {0} exceeds the maximum of 16777212 bytes")]
    FrameTooLarge(u32),
    /// `total_length` is smaller than the header-length word it must contain.
    #[error("frame length {0} is below the minimum of 4 bytes")]
    FrameTooShort(u32),
    /// The header-length word claims more bytes than the frame holds.
    #[error("header length {header_len} does not fit in a frame of length {total_len}")]
    HeaderOverrun {
        /// Header length from the header word.
        header_len: u32,
        /// `total_length` from the prefix.
        total_len: u32,
    },
    /// The serialize-type byte is neither JSON (0) nor ROCKETMQ (1).
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    /// A binary header ended before `what` was complete.
    #[error("binary header truncated in {0}")]
    Truncated(&'static str),
    /// A binary header length field for `what` is negative.
    #[error("binary header has a negative length for {0}")]
    NegativeLength(&'static str),
    /// Text in `what` is not valid UTF-8.
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// Bytes remain after the last field of a binary header.
    #[error("binary header has {0} bytes after its ext fields")]
    TrailingBytes(usize),
    /// The JSON header is malformed.
    #[error("JSON header: {0}")]
    Json(JsonError),
    /// The JSON header is valid JSON but a field has the wrong shape.
    #[error("JSON header field {0} has an invalid value")]
    InvalidField(&'static str),
}

/// A syntax error from the lenient fastjson reader, with the byte offset where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{kind} at byte {at}")]
pub struct JsonError {
    /// What was wrong.
    pub kind: &'static str,
    /// Byte offset into the input.
    pub at: usize,
}

impl From<JsonError> for DecodeError {
    fn from(e: JsonError) -> Self {
        DecodeError::Json(e)
    }
}

/// A header or frame that cannot be encoded as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// A binary header carries the code as a signed 16-bit number; send this one as JSON.
    #[error("code {0} does not fit the binary header's 16-bit field; use a JSON header")]
    CodeOutOfRange(i32),
    /// A binary header carries the version as a signed 16-bit number.
    #[error("version {0} does not fit the binary header's 16-bit field")]
    VersionOutOfRange(i32),
    /// A string is longer than its length field can say.
    #[error("{0} is too long for its length field")]
    FieldTooLong(&'static str),
    /// The header is longer than the 24-bit header-length field.
    #[error("header of {0} bytes exceeds the 24-bit header length")]
    HeaderTooLarge(usize),
    /// The frame would exceed Java's 16,777,212-byte limit.
    #[error("frame of {0} bytes exceeds the maximum of 16777212")]
    FrameTooLarge(usize),
    /// The serialize type is not one this crate writes.
    #[error("cannot encode serialize type {0}")]
    UnknownSerializeType(u8),
}

/// A response body that cannot be read as the expected type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BodyError {
    /// The body is not fastjson-compatible JSON.
    #[error("body: {0}")]
    Json(JsonError),
    /// The body parsed, but `what` has the wrong shape.
    #[error("body field {0} has an unexpected shape")]
    Shape(&'static str),
    /// Resolving `$ref` back-references would grow the document past its budget.
    #[error("body back-references expand beyond the size budget")]
    RefBudget,
    /// A request-header field is missing or unparsable.
    #[error("header field {0} is missing or invalid")]
    Field(&'static str),
}

impl From<JsonError> for BodyError {
    fn from(e: JsonError) -> Self {
        BodyError::Json(e)
    }
}
