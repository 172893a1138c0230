//! ROCKETMQ binary header (serialize type 1), as `RocketMQSerializable` writes and reads it.
//!
//! ```text
//! i16 code | u8 language | i16 version | i32 opaque | i32 flag
//! i32 remark_len | remark | i32 ext_len | { i16 key_len | key | i32 val_len | val }*
//! ```
//! Every length is checked against the bytes that remain before anything is read. A
//! zero-length string is Java's null: a zero-length remark decodes as `None`, a
//! zero-length key or value as `""`.

use bytes::{BufMut, BytesMut};

use super::{ExtFields, Header};
use crate::codes::LanguageCode;
use crate::error::{DecodeError, EncodeError};

/// Size of the fixed part before the remark.
pub(super) const FIXED_LEN: usize = 17;

/// A bounds-checked big-endian reader over a byte slice.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        // pos never passes end (`take` checks first); saturate so no caller can underflow.
        self.end.saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<std::ops::Range<usize>, DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated(what));
        }
        let r = self.pos..self.pos + n;
        self.pos += n;
        Ok(r)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let r = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.b[r]);
        Ok(out)
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, DecodeError> {
        self.array(what).map(i16::from_be_bytes)
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        self.array(what).map(i32::from_be_bytes)
    }

    fn len32(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let n = self.i32(what)?;
        usize::try_from(n).map_err(|_| DecodeError::NegativeLength(what))
    }

    fn text(&mut self, n: usize, what: &'static str) -> Result<&'a str, DecodeError> {
        let r = self.take(n, what)?;
        std::str::from_utf8(&self.b[r]).map_err(|_| DecodeError::InvalidUtf8(what))
    }
}

/// Bytes of the fields before the remark length: code, language, version, opaque, flag.
const BEFORE_REMARK: usize = 13;

/// The value of ext field `key` in an encoded binary header, without decoding the rest or
/// allocating. `None` if absent or if the header is malformed — including a header shorter
/// than its fixed part.
pub(super) fn find_ext<'a>(bytes: &'a [u8], key: &str) -> Option<&'a str> {
    let mut c = Cursor { b: bytes, pos: 0, end: bytes.len() };
    c.take(BEFORE_REMARK, "fixed header").ok()?;
    let remark_len = c.len32("remark length").ok()?;
    c.take(remark_len, "remark").ok()?;
    let ext_len = c.len32("ext length").ok()?;
    let r = c.take(ext_len, "ext fields").ok()?;
    let mut area = Cursor { b: bytes, pos: r.start, end: r.end };
    let mut found = None;
    while area.remaining() > 0 {
        let klen = usize::try_from(area.i16("ext key length").ok()?).ok()?;
        let k = area.take(klen, "ext key").ok()?;
        let vlen = area.len32("ext value length").ok()?;
        let v = area.take(vlen, "ext value").ok()?;
        // Last one wins, as in the full decoder.
        if &bytes[k] == key.as_bytes() {
            found = Some(v);
        }
    }
    found.and_then(|v| std::str::from_utf8(&bytes[v]).ok())
}

/// Walks an encoded binary header without allocating: checks every length, that the remark
/// and each ext key are UTF-8 and that nothing follows the ext area, hands each ext entry
/// (key bytes, value bytes, offset of the entry) to `entry`, and returns the fixed fields.
/// Values are not read as text: a caller that decides nothing on them need not pay for it.
pub(super) fn walk<'a, E: From<DecodeError>>(
    bytes: &'a [u8],
    mut entry: impl FnMut(&'a [u8], &'a [u8], usize) -> Result<(), E>,
) -> Result<super::Peek, E> {
    let mut c = Cursor { b: bytes, pos: 0, end: bytes.len() };
    let code = i32::from(c.i16("code")?);
    c.take(3, "language and version")?;
    let opaque = c.i32("opaque")?;
    let flag = c.i32("flag")?;
    let remark_len = c.len32("remark length")?;
    let remark = c.take(remark_len, "remark")?;
    utf8(&bytes[remark], "remark")?;
    let ext_len = c.len32("ext length")?;
    let r = c.take(ext_len, "ext fields")?;
    // The hot loop of the guard's data path: plain slice splits, no cursor bookkeeping.
    let area_start = r.start;
    let mut rest = &bytes[r];
    while !rest.is_empty() {
        let at = area_start + (ext_len - rest.len());
        let (klen, tail) = rest.split_first_chunk::<2>().ok_or(DecodeError::Truncated("ext key length"))?;
        let klen = usize::try_from(i16::from_be_bytes(*klen)).map_err(|_| DecodeError::NegativeLength("ext key"))?;
        let (key, tail) = tail.split_at_checked(klen).ok_or(DecodeError::Truncated("ext key"))?;
        utf8(key, "ext key")?;
        let (vlen, tail) = tail.split_first_chunk::<4>().ok_or(DecodeError::Truncated("ext value length"))?;
        let vlen = usize::try_from(i32::from_be_bytes(*vlen)).map_err(|_| DecodeError::NegativeLength("ext value"))?;
        let (value, tail) = tail.split_at_checked(vlen).ok_or(DecodeError::Truncated("ext value"))?;
        entry(key, value, at)?;
        rest = tail;
    }
    if c.remaining() > 0 {
        return Err(DecodeError::TrailingBytes(c.remaining()).into());
    }
    Ok(super::Peek { code, flag, opaque })
}

/// Checks `b` is UTF-8, with a fast path for ASCII (every key a stock client sends).
fn utf8(b: &[u8], what: &'static str) -> Result<(), DecodeError> {
    if b.is_ascii() || std::str::from_utf8(b).is_ok() { Ok(()) } else { Err(DecodeError::InvalidUtf8(what)) }
}

pub(super) fn decode(bytes: &[u8]) -> Result<Header, DecodeError> {
    // Java's HashMap keeps the last value of a repeated key; so do we.
    decode_with(bytes, |map, key, value, _| {
        map.insert(key, value);
        Ok(())
    })
}

/// Decodes a binary header, handing each ext entry (and its byte offset) to `put`, which
/// stores it or refuses the header. The plain decoder and the guard reader differ only there.
pub(super) fn decode_with<E: From<DecodeError>>(
    bytes: &[u8],
    mut put: impl FnMut(&mut ExtFields, &str, &str, usize) -> Result<(), E>,
) -> Result<Header, E> {
    let mut c = Cursor { b: bytes, pos: 0, end: bytes.len() };
    let code = i32::from(c.i16("code")?);
    let language = LanguageCode(c.array::<1>("language")?[0]);
    let version = i32::from(c.i16("version")?);
    let opaque = c.i32("opaque")?;
    let flag = c.i32("flag")?;
    let remark_len = c.len32("remark length")?;
    let remark = match remark_len {
        0 => None,
        n => Some(c.text(n, "remark")?.to_owned()),
    };
    let ext_len = c.len32("ext length")?;
    let ext_fields = match ext_len {
        0 => None,
        n => {
            let r = c.take(n, "ext fields")?;
            let mut area = Cursor { b: bytes, pos: r.start, end: r.end };
            // Capacity: at most one entry per 6 bytes of area; the text is under n bytes.
            let mut map = ExtFields::with_capacity((n / 6).min(32), n);
            while area.remaining() > 0 {
                let at = area.pos;
                let klen = area.i16("ext key length")?;
                let klen = usize::try_from(klen).map_err(|_| DecodeError::NegativeLength("ext key"))?;
                let key = area.text(klen, "ext key")?;
                let vlen = area.len32("ext value length")?;
                let value = area.text(vlen, "ext value")?;
                put(&mut map, key, value, at)?;
            }
            Some(map)
        }
    };
    if c.remaining() > 0 {
        return Err(DecodeError::TrailingBytes(c.remaining()).into());
    }
    Ok(Header { code, language, version, opaque, flag, remark, ext_fields })
}

pub(super) fn encode(h: &Header, dst: &mut BytesMut) -> Result<(), EncodeError> {
    let code = i16::try_from(h.code).map_err(|_| EncodeError::CodeOutOfRange(h.code))?;
    let version = i16::try_from(h.version).map_err(|_| EncodeError::VersionOutOfRange(h.version))?;
    let remark = h.remark.as_deref().unwrap_or("");
    let remark_len = i32::try_from(remark.len()).map_err(|_| EncodeError::FieldTooLong("remark"))?;
    let mut ext_len = 0usize;
    if let Some(ext) = &h.ext_fields {
        for (k, v) in ext.iter() {
            if i16::try_from(k.len()).is_err() {
                return Err(EncodeError::FieldTooLong("ext key"));
            }
            ext_len = ext_len.saturating_add(2 + k.len() + 4).saturating_add(v.len());
        }
    }
    let ext_len32 = i32::try_from(ext_len).map_err(|_| EncodeError::FieldTooLong("ext fields"))?;
    dst.reserve(FIXED_LEN + remark.len() + 4 + ext_len);
    dst.put_i16(code);
    dst.put_u8(h.language.get());
    dst.put_i16(version);
    dst.put_i32(h.opaque);
    dst.put_i32(h.flag);
    dst.put_i32(remark_len);
    dst.put_slice(remark.as_bytes());
    dst.put_i32(ext_len32);
    if let Some(ext) = &h.ext_fields {
        for (k, v) in ext.iter() {
            // Lengths were checked above; the value's fits because the area's total does.
            #[allow(clippy::cast_possible_truncation)]
            {
                dst.put_i16(k.len() as i16);
                dst.put_slice(k.as_bytes());
                dst.put_i32(v.len() as i32);
                dst.put_slice(v.as_bytes());
            }
        }
    }
    Ok(())
}
