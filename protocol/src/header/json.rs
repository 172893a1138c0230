//! JSON header (serialize type 0): fastjson's bean encoding, keys in alphabetical order,
//! null fields omitted, no whitespace.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use super::{ExtFields, Header};
use crate::codes::LanguageCode;
use crate::error::DecodeError;
use crate::fastjson::{Reader, Value};

pub(super) fn decode(bytes: &[u8]) -> Result<Header, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut h = Header::default();
    // Java: an empty header or a non-object closes the connection.
    r.expect(b'{', "header is not a JSON object")?;
    if !r.eat(b'}') {
        loop {
            // Fast path: a plain quoted key, matched as bytes. Anything else (escapes,
            // single quotes, bare keys) goes through the lenient reader.
            let key: Cow<'_, [u8]> = match r.plain_key() {
                Some(k) => Cow::Borrowed(k),
                None => Cow::Owned(r.key_str()?.into_owned().into_bytes()),
            };
            r.expect(b':', "expected ':'")?;
            match key.as_ref() {
                b"code" => h.code = int32(&mut r, "code")?,
                b"version" => h.version = int32(&mut r, "version")?,
                b"opaque" => h.opaque = int32(&mut r, "opaque")?,
                b"flag" => h.flag = int32(&mut r, "flag")?,
                b"language" => h.language = language(&mut r)?,
                b"remark" => {
                    h.remark = match r.value()? {
                        Value::Null => None,
                        v => Some(v.scalar_text().ok_or(DecodeError::InvalidField("remark"))?.into_owned()),
                    }
                }
                b"extFields" => h.ext_fields = ext_fields(&mut r, bytes.len())?,
                // serializeTypeCurrentRPC is ignored by Java too; the frame's type byte rules.
                _ => {
                    if r.plain_key().is_none() {
                        r.skip()?;
                    }
                }
            }
            if r.next_or_close(b'}')? {
                break;
            }
        }
    }
    r.end()?;
    Ok(h)
}

pub(super) fn int32(r: &mut Reader<'_>, what: &'static str) -> Result<i32, DecodeError> {
    let v = match r.plain_int() {
        Some(v) => v,
        None => r.int_field(what)?,
    };
    i32::try_from(v).map_err(|_| DecodeError::InvalidField(what))
}

pub(super) fn language(r: &mut Reader<'_>) -> Result<LanguageCode, DecodeError> {
    if let Some(name) = r.plain_key() {
        let name = std::str::from_utf8(name).unwrap_or("");
        return Ok(LanguageCode::from_name(name).unwrap_or(LanguageCode::OTHER));
    }
    if matches!(r.peek(), Some(b'"' | b'\'')) {
        let name = r.string()?;
        return Ok(LanguageCode::from_name(&name).unwrap_or(LanguageCode::OTHER));
    }
    match r.value()? {
        // An unknown name decodes to null in Java; a broker treats language as a label, so
        // we map it to OTHER rather than failing the frame.
        Value::Str(name) => Ok(LanguageCode::from_name(&name).unwrap_or(LanguageCode::OTHER)),
        // Java takes an integer as the enum ordinal, and each code equals its ordinal.
        Value::Int(i) => u8::try_from(i).map(LanguageCode).map_err(|_| DecodeError::InvalidField("language")),
        Value::Null => Ok(LanguageCode::JAVA),
        _ => Err(DecodeError::InvalidField("language")),
    }
}

fn ext_fields(r: &mut Reader<'_>, len_hint: usize) -> Result<Option<ExtFields>, DecodeError> {
    if r.peek() != Some(b'{') {
        return match r.value()? {
            Value::Null => Ok(None),
            _ => Err(DecodeError::InvalidField("extFields")),
        };
    }
    r.expect(b'{', "expected '{'")?;
    let mut map = ExtFields::with_capacity(8, len_hint);
    if !r.eat(b'}') {
        loop {
            let k = match r.plain_key() {
                Some(raw) => Cow::Borrowed(std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8("ext key"))?),
                None => r.key_str()?,
            };
            r.expect(b':', "expected ':'")?;
            let v: Option<Cow<'_, str>> = if matches!(r.peek(), Some(b'"' | b'\'')) {
                Some(r.string()?)
            } else {
                // Java stores non-string values unchanged and fails later when reading
                // them; keeping their text is the tolerant equivalent. null drops the key.
                match r.value()? {
                    Value::Null => None,
                    v => Some(Cow::Owned(v.scalar_text().ok_or(DecodeError::InvalidField("extFields"))?.into_owned())),
                }
            };
            if let Some(v) = v {
                map.insert(k, v);
            }
            if r.next_or_close(b'}')? {
                break;
            }
        }
    }
    Ok(Some(map))
}

pub(super) fn encode(h: &Header, dst: &mut BytesMut) {
    // Room for the fixed keys and every field (plus quotes, colon and comma), so the header is
    // written without growing the buffer.
    let ext: usize = h.ext_fields.as_ref().map_or(0, |e| e.iter().map(|(k, v)| k.len() + v.len() + 6).sum());
    dst.reserve(128 + ext + h.remark.as_ref().map_or(0, String::len));
    dst.put_slice(b"{\"code\":");
    put_int(dst, i64::from(h.code));
    if let Some(ext) = &h.ext_fields {
        dst.put_slice(b",\"extFields\":{");
        for (i, (k, v)) in ext.iter().enumerate() {
            if i > 0 {
                dst.put_u8(b',');
            }
            put_str(dst, k);
            dst.put_u8(b':');
            put_str(dst, v);
        }
        dst.put_u8(b'}');
    }
    dst.put_slice(b",\"flag\":");
    put_int(dst, i64::from(h.flag));
    dst.put_slice(b",\"language\":");
    match h.language.name() {
        Some(name) => {
            dst.put_u8(b'"');
            dst.put_slice(name.as_bytes());
            dst.put_u8(b'"');
        }
        // Java reads an integer as the ordinal; it is the only spelling an unnamed code has.
        None => put_int(dst, i64::from(h.language.get())),
    }
    dst.put_slice(b",\"opaque\":");
    put_int(dst, i64::from(h.opaque));
    if let Some(remark) = &h.remark {
        dst.put_slice(b",\"remark\":");
        put_str(dst, remark);
    }
    dst.put_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    put_int(dst, i64::from(h.version));
    dst.put_u8(b'}');
}

fn put_int(dst: &mut BytesMut, v: i64) {
    dst.put_slice(itoa_buf(v).as_slice());
}

/// Formats an integer without allocating.
fn itoa_buf(v: i64) -> ItoaBuf {
    let mut out = ItoaBuf { bytes: [0; 20], start: 20 };
    let neg = v < 0;
    let mut n = v.unsigned_abs();
    loop {
        out.start -= 1;
        // n % 10 < 10, so the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (n % 10) as u8;
        out.bytes[out.start] = b'0' + digit;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if neg {
        out.start -= 1;
        out.bytes[out.start] = b'-';
    }
    out
}

struct ItoaBuf {
    bytes: [u8; 20],
    start: usize,
}

impl ItoaBuf {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// Writes a JSON string the way fastjson does: `"` `\` and control characters escaped,
/// `/` and non-ASCII written as is.
pub(crate) fn put_str(dst: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    dst.reserve(bytes.len() + 2);
    dst.put_u8(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Runs of bytes that need no escape (nearly all of them) are copied whole.
        let b = bytes[i];
        if b >= 0x20 && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        dst.put_slice(&bytes[start..i]);
        match b {
            b'"' => dst.put_slice(b"\\\""),
            b'\\' => dst.put_slice(b"\\\\"),
            b'\n' => dst.put_slice(b"\\n"),
            b'\r' => dst.put_slice(b"\\r"),
            b'\t' => dst.put_slice(b"\\t"),
            0x08 => dst.put_slice(b"\\b"),
            0x0c => dst.put_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                dst.put_slice(b"\\u00");
                dst.put_u8(HEX[usize::from(b >> 4)]);
                dst.put_u8(HEX[usize::from(b & 0xf)]);
            }
        }
        i += 1;
        start = i;
    }
    dst.put_slice(&bytes[start..]);
    dst.put_u8(b'"');
}
