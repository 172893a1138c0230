//! Framing: find one whole frame in a byte stream before parsing anything in it.
//!
//! ```text
//! | u32 total_length | u8 serialize_type | u24 header_length | header | body |
//!                    `------------------ total_length bytes ------------------'
//! ```
//! [`check`] looks at what has arrived and says "complete, N bytes", "need more", or why the
//! stream is bad, rejecting an oversized or inconsistent prefix as soon as its 8 bytes are in
//! (before the body is waited for or any memory is reserved). [`RawFrame`] then owns the
//! frame's original bytes; its body is a zero-copy slice, and a proxy forwards
//! [`RawFrame::as_bytes`] unchanged.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codes::SerializeType;
use crate::error::{DecodeError, EncodeError};
use crate::header::{DecodeLimits, Header, Refusal};

/// Largest `total_length` Java accepts: Netty's 16 MiB limit counts the 4-byte prefix too.
pub const MAX_FRAME_LEN: u32 = 16_777_212;

/// Bytes before the header: the length prefix and the header-length word.
pub const PREFIX_LEN: usize = 8;

/// What [`check`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A whole frame of `frame_len` bytes (prefix included) is at the start of the buffer.
    Complete {
        /// Bytes to split off, counting the 4-byte length prefix.
        frame_len: usize,
    },
    /// The frame is not all here yet; at least `needed` more bytes must arrive.
    NeedMore {
        /// Minimum number of further bytes before checking again is useful.
        needed: usize,
    },
}

/// Checks whether `buf` starts with a whole, well-formed frame prefix.
pub fn check(buf: &[u8]) -> Result<Check, DecodeError> {
    let Some(len_bytes) = buf.first_chunk::<4>() else {
        return Ok(Check::NeedMore { needed: 4 - buf.len() });
    };
    let total = u32::from_be_bytes(*len_bytes);
    if total > MAX_FRAME_LEN {
        return Err(DecodeError::FrameTooLarge(total));
    }
    if total < 4 {
        return Err(DecodeError::FrameTooShort(total));
    }
    if let Some(word) = buf.get(4..8) {
        let (ty, header_len) = split_header_word([word[0], word[1], word[2], word[3]]);
        if !ty.is_known() {
            return Err(DecodeError::UnknownSerializeType(ty.get()));
        }
        if header_len > total - 4 {
            return Err(DecodeError::HeaderOverrun { header_len, total_len: total });
        }
    }
    // total <= MAX_FRAME_LEN, so this cannot overflow on any target with 32-bit usize.
    let frame_len = total as usize + 4;
    if buf.len() < frame_len {
        return Ok(Check::NeedMore { needed: frame_len - buf.len() });
    }
    Ok(Check::Complete { frame_len })
}

fn split_header_word(word: [u8; 4]) -> (SerializeType, u32) {
    let w = u32::from_be_bytes(word);
    (SerializeType(word[0]), w & 0x00FF_FFFF)
}

/// One whole frame, holding its original bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct RawFrame {
    bytes: Bytes,
    serialize_type: SerializeType,
    header_len: usize,
}

impl std::fmt::Debug for RawFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawFrame")
            .field("len", &self.bytes.len())
            .field("serialize_type", &self.serialize_type)
            .field("header_len", &self.header_len)
            .finish()
    }
}

impl RawFrame {
    /// Splits the first frame off `buf` if it is all there. `Ok(None)` means "need more";
    /// on `Err` the stream is unusable and the connection should be closed.
    pub fn split_from(buf: &mut BytesMut) -> Result<Option<RawFrame>, DecodeError> {
        match check(buf)? {
            Check::NeedMore { .. } => Ok(None),
            Check::Complete { frame_len } => {
                let bytes = buf.split_to(frame_len).freeze();
                Ok(Some(Self::from_checked(bytes)))
            }
        }
    }

    /// Wraps bytes that hold exactly one frame.
    pub fn parse(bytes: Bytes) -> Result<RawFrame, DecodeError> {
        match check(&bytes)? {
            Check::Complete { frame_len } if frame_len == bytes.len() => Ok(Self::from_checked(bytes)),
            Check::Complete { frame_len } => Err(DecodeError::TrailingBytes(bytes.len() - frame_len)),
            Check::NeedMore { .. } => Err(DecodeError::Truncated("frame")),
        }
    }

    fn from_checked(bytes: Bytes) -> RawFrame {
        let (serialize_type, header_len) = split_header_word([bytes[4], bytes[5], bytes[6], bytes[7]]);
        RawFrame { bytes, serialize_type, header_len: header_len as usize }
    }

    /// The frame exactly as received, length prefix included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Consumes the frame, returning its original bytes.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The header's serialize type.
    pub fn serialize_type(&self) -> SerializeType {
        self.serialize_type
    }

    /// The encoded header.
    pub fn header_bytes(&self) -> &[u8] {
        &self.bytes[PREFIX_LEN..PREFIX_LEN + self.header_len]
    }

    /// The body: a slice of the frame's bytes, not a copy.
    pub fn body(&self) -> Bytes {
        self.bytes.slice(PREFIX_LEN + self.header_len..)
    }

    /// Decodes the header.
    pub fn header(&self) -> Result<Header, DecodeError> {
        Header::decode(self.serialize_type, self.header_bytes())
    }

    /// Decodes the header with the guard reader ([`Header::decode_guarded`]): what a guard
    /// decides on before forwarding its own encoding of it.
    pub fn header_guarded(&self, limits: &DecodeLimits) -> Result<Header, Refusal> {
        Header::decode_guarded(self.serialize_type, self.header_bytes(), limits)
    }

    /// Code, flag and opaque, reading as little as possible (13 bytes of a binary header).
    pub fn peek(&self) -> Result<crate::header::Peek, DecodeError> {
        Header::peek(self.serialize_type, self.header_bytes())
    }

    /// The header's code, reading as little as possible (2 bytes for a binary header).
    pub fn peek_code(&self) -> Result<i32, DecodeError> {
        Header::peek_code(self.serialize_type, self.header_bytes())
    }
}

/// Appends a whole frame — prefix, header and body — to `dst`.
pub fn encode(header: &Header, ty: SerializeType, body: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
    let start = dst.len();
    dst.reserve(PREFIX_LEN + 128 + body.len());
    dst.put_u64(0); // placeholder for the two length words
    header.encode(ty, dst)?;
    let header_len = dst.len() - start - PREFIX_LEN;
    if header_len > 0x00FF_FFFF {
        dst.truncate(start);
        return Err(EncodeError::HeaderTooLarge(header_len));
    }
    let total = 4 + header_len + body.len();
    if total > MAX_FRAME_LEN as usize {
        dst.truncate(start);
        return Err(EncodeError::FrameTooLarge(total + 4));
    }
    dst.put_slice(body);
    // Both fit in u32: total <= MAX_FRAME_LEN and header_len <= 0xFF_FFFF.
    #[allow(clippy::cast_possible_truncation)]
    {
        dst[start..start + 4].copy_from_slice(&(total as u32).to_be_bytes());
        let word = (u32::from(ty.get()) << 24) | header_len as u32;
        dst[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
    }
    Ok(())
}

/// Encodes a whole frame into new bytes.
pub fn encode_to_bytes(header: &Header, ty: SerializeType, body: &[u8]) -> Result<Bytes, EncodeError> {
    let mut dst = BytesMut::new();
    encode(header, ty, body, &mut dst)?;
    Ok(dst.freeze())
}

/// The error reply a proxy sends on the server's behalf: a response to `request` (same
/// opaque, response bit set) in the request's own serialize type, with `code` and `remark`.
pub fn error_response(
    request: &Header,
    ty: SerializeType,
    code: crate::codes::ResponseCode,
    remark: &str,
) -> Result<Bytes, EncodeError> {
    let header = request.response_to(code, Some(remark.to_owned()));
    encode_to_bytes(&header, ty, &[])
}
