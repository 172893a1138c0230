//! The guard reader: a strict header decoder for a component that decides on a request and
//! then has a Java broker execute it ([`Header::decode_guarded`]).
//!
//! Java's fastjson matches JSON header keys loosely: ASCII case and every `_` and `-` are
//! ignored, `\uXXXX` escapes are decoded first, and it finally compares 64-bit FNV-1a
//! hashes, not strings. For a repeated field, the first or the last copy wins depending on
//! fastjson's parse path. [`Header::decode`] matches exact keys only, so it can read a
//! different request than the broker would. The guard reader refuses every header on which
//! the two could disagree:
//!
//! - a key for one of the eight `RemotingCommand` properties (`code`, `extFields`, `flag`,
//!   `language`, `opaque`, `remark`, `serializeTypeCurrentRPC`, `version`) must be spelled
//!   exactly, in double quotes, without escapes. Any other key that Java would map to one of
//!   them is refused ([`Refusal::NoncanonicalFieldName`]); this includes keys whose fastjson
//!   hash merely collides with a property's, and the Unicode letters Java's case-insensitive
//!   comparison equates with ASCII ones (`ſ`, `K`, `ı`, `İ`);
//! - each property at most once, counting loose spellings ([`Refusal::RepeatedField`]);
//! - each ext key at most once, after unescaping ([`Refusal::RepeatedExtKey`]);
//! - no `@type` or `$ref` key, top level or ext: fastjson gives them meaning
//!   ([`Refusal::ReservedKey`]);
//! - [`DecodeLimits`]: header size and number of ext fields.
//!
//! Other unknown top-level keys are skipped (clients differ: Go sends `"remark":""`, key
//! orders vary). Values are read as [`Header::decode`] reads them, except that a non-integer
//! number is refused where text belongs (remark, ext values). The reader is linear in
//! the input: one pass, constant work per key besides reading it, O(1) amortised ext-field
//! inserts. A caller that forwards the header should forward its own encoding of the decided
//! [`Header`] (which drops the skipped keys), not the client's bytes.

use thiserror::Error;

use super::{ExtFields, Header, binary, json};
use crate::codes::SerializeType;
use crate::error::DecodeError;
use crate::fastjson::{Reader, Value};

/// Bounds the guard reader enforces before and while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest encoded header accepted, in bytes. Java itself accepts up to ~16 MiB.
    pub max_header_bytes: usize,
    /// Most ext fields accepted (every entry counts, including repeated and `null` ones).
    pub max_ext_fields: usize,
}

impl DecodeLimits {
    /// 64 KiB and 256 fields: a Java SEND_MESSAGE_V2 header is ~500 bytes and 14 fields, the
    /// largest admin requests (topic attributes, configs) a few KiB.
    pub const DEFAULT: DecodeLimits = DecodeLimits { max_header_bytes: 64 * 1024, max_ext_fields: 256 };
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why the guard reader refused a header. [`Refusal::reason`] names the kind for metrics;
/// the `Display` text adds where (byte offsets into the header) for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The header is larger than [`DecodeLimits::max_header_bytes`].
    #[error("header of {len} bytes exceeds the guard's limit of {max}")]
    HeaderTooLarge {
        /// Header length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More ext fields than [`DecodeLimits::max_ext_fields`].
    #[error("header has more than {max} ext fields")]
    TooManyFields {
        /// The limit.
        max: usize,
    },
    /// A header property appears twice (in any spelling Java maps to it).
    #[error("header field {field} appears again at byte {at}")]
    RepeatedField {
        /// The property's canonical name.
        field: &'static str,
        /// Byte offset of the second key.
        at: usize,
    },
    /// A key Java reads as a header property is not spelled exactly as that property.
    #[error("the key at byte {at} reads as header field {field} in Java but is not spelled \"{field}\"")]
    NoncanonicalFieldName {
        /// The property Java would set.
        field: &'static str,
        /// Byte offset of the key.
        at: usize,
    },
    /// An ext key appears twice (after unescaping, in a JSON header).
    #[error("ext field key repeated at byte {at}")]
    RepeatedExtKey {
        /// Byte offset of the second occurrence.
        at: usize,
    },
    /// A key fastjson treats specially (`@type`, `$ref`).
    #[error("reserved key at byte {at}")]
    ReservedKey {
        /// Byte offset of the key.
        at: usize,
    },
    /// The header does not decode at all.
    #[error("malformed header: {0}")]
    Malformed(DecodeError),
}

// Not `#[from]`: that would also return the decode error from `source()`, and the message
// already carries it.
impl From<DecodeError> for Refusal {
    fn from(e: DecodeError) -> Self {
        Self::Malformed(e)
    }
}

impl Refusal {
    /// Every value [`Refusal::reason`] can return, for registering metrics up front.
    pub const REASONS: [&'static str; 7] = [
        "header_too_large",
        "too_many_fields",
        "repeated_field",
        "noncanonical_field_name",
        "repeated_ext_key",
        "reserved_key",
        "malformed",
    ];

    /// A stable, low-cardinality name for the kind of refusal (a metric label).
    pub const fn reason(&self) -> &'static str {
        match self {
            Refusal::HeaderTooLarge { .. } => "header_too_large",
            Refusal::TooManyFields { .. } => "too_many_fields",
            Refusal::RepeatedField { .. } => "repeated_field",
            Refusal::NoncanonicalFieldName { .. } => "noncanonical_field_name",
            Refusal::RepeatedExtKey { .. } => "repeated_ext_key",
            Refusal::ReservedKey { .. } => "reserved_key",
            Refusal::Malformed(_) => "malformed",
        }
    }
}

impl From<crate::error::JsonError> for Refusal {
    fn from(e: crate::error::JsonError) -> Self {
        Refusal::Malformed(DecodeError::Json(e))
    }
}

pub(super) fn decode(ty: SerializeType, bytes: &[u8], limits: &DecodeLimits) -> Result<Header, Refusal> {
    if bytes.len() > limits.max_header_bytes {
        return Err(Refusal::HeaderTooLarge { len: bytes.len(), max: limits.max_header_bytes });
    }
    match ty {
        SerializeType::JSON => decode_json(bytes, limits),
        SerializeType::ROCKETMQ => decode_binary(bytes, limits),
        other => Err(DecodeError::UnknownSerializeType(other.get()).into()),
    }
}

/// The guard reader's verdict on a binary header without materialising it: the same
/// refusals as [`decode`] (limits, repeated or reserved ext keys, malformed structure), with
/// values left unread except that of `capture`, which is returned if present and UTF-8.
/// Repeats are found by comparing each key with the ones before it while there are few (a
/// SEND_MESSAGE_V2 header has 14 one-letter keys; keys of up to 8 bytes compare as one
/// integer), and with a hash set past that, so the cost stays linear.
pub(super) fn walk_binary<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
    capture: &str,
) -> Result<(super::Peek, Option<&'a str>), Refusal> {
    if bytes.len() > limits.max_header_bytes {
        return Err(Refusal::HeaderTooLarge { len: bytes.len(), max: limits.max_header_bytes });
    }
    const INLINE: usize = 32;
    /// A key for quick comparison: its length and its first 8 bytes.
    fn short(k: &[u8]) -> (usize, u64) {
        let mut w = [0u8; 8];
        let n = k.len().min(8);
        w[..n].copy_from_slice(&k[..n]);
        (k.len(), u64::from_le_bytes(w))
    }
    // One-byte keys (all of a SEND_MESSAGE_V2 header's) are remembered in a bitmap.
    let mut one_byte = [0u64; 4];
    let mut inline: [(usize, u64, &[u8]); INLINE] = [(0, 0, &[]); INLINE];
    let mut inlined = 0usize;
    let mut many: Option<std::collections::HashSet<&[u8]>> = None;
    let mut count = 0usize;
    let mut captured = None;
    let peek = binary::walk(bytes, |key, value, at| {
        if count == limits.max_ext_fields {
            return Err(Refusal::TooManyFields { max: limits.max_ext_fields });
        }
        count += 1;
        if let [b] = key {
            let (word, bit) = (usize::from(b >> 6), 1u64 << (b & 63));
            if one_byte[word] & bit != 0 {
                return Err(Refusal::RepeatedExtKey { at });
            }
            one_byte[word] |= bit;
        } else {
            if matches!(key.first(), Some(b'@' | b'$')) && is_reserved_bytes(key) {
                return Err(Refusal::ReservedKey { at });
            }
            let repeated = match many.as_mut() {
                Some(set) => !set.insert(key),
                None if inlined < INLINE => {
                    let (len, word) = short(key);
                    let seen =
                        inline[..inlined].iter().any(|&(l, w, k)| l == len && w == word && (len <= 8 || k == key));
                    inline[inlined] = (len, word, key);
                    inlined += 1;
                    seen
                }
                None => {
                    let mut set: std::collections::HashSet<&[u8]> = inline.iter().map(|e| e.2).collect();
                    let seen = !set.insert(key);
                    many = Some(set);
                    seen
                }
            };
            if repeated {
                return Err(Refusal::RepeatedExtKey { at });
            }
        }
        if key == capture.as_bytes() {
            captured = Some(value);
        }
        Ok(())
    })?;
    Ok((peek, captured.and_then(|v| std::str::from_utf8(v).ok())))
}

fn decode_binary(bytes: &[u8], limits: &DecodeLimits) -> Result<Header, Refusal> {
    let mut count = 0usize;
    binary::decode_with(bytes, |map, key, value, at| {
        count += 1;
        if count > limits.max_ext_fields {
            return Err(Refusal::TooManyFields { max: limits.max_ext_fields });
        }
        if is_reserved_str(key) {
            return Err(Refusal::ReservedKey { at });
        }
        if !map.insert_new(key, value) {
            return Err(Refusal::RepeatedExtKey { at });
        }
        Ok(())
    })
}

// === Property names and how Java matches them ===

/// The `RemotingCommand` properties fastjson can set from a JSON header, canonical spelling,
/// in the order of [`Field`].
const NAMES: [&str; 8] =
    ["code", "extFields", "flag", "language", "opaque", "remark", "serializeTypeCurrentRPC", "version"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Code,
    ExtFields,
    Flag,
    Language,
    Opaque,
    Remark,
    SerializeType,
    Version,
}

const FIELDS: [Field; 8] = [
    Field::Code,
    Field::ExtFields,
    Field::Flag,
    Field::Language,
    Field::Opaque,
    Field::Remark,
    Field::SerializeType,
    Field::Version,
];

impl Field {
    const fn name(self) -> &'static str {
        NAMES[self as usize]
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The property a key spelled exactly (raw bytes between double quotes) names.
    fn canonical(raw: &[u8]) -> Option<Field> {
        FIELDS.into_iter().find(|f| f.name().as_bytes() == raw)
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// One step of 64-bit FNV-1a over a UTF-16 code unit, as fastjson hashes Java chars.
const fn fnv(h: u64, c: u16) -> u64 {
    (h ^ c as u64).wrapping_mul(FNV_PRIME)
}

/// fastjson's smart-match folding of one char: `_` and `-` dropped, ASCII upper case lowered.
const fn fold_fastjson(c: u16) -> Option<u16> {
    match c {
        0x5f | 0x2d => None,
        0x41..=0x5a => Some(c + 0x20),
        _ => Some(c),
    }
}

/// Wider folding: also the non-ASCII chars `String.equalsIgnoreCase` equates with ASCII
/// letters (older fastjson versions compared that way).
const fn fold_wide(c: u16) -> Option<u16> {
    match c {
        0x130 | 0x131 => Some(0x69), // İ ı → i
        0x17f => Some(0x73),         // ſ → s
        0x212a => Some(0x6b),        // K (Kelvin) → k
        _ => fold_fastjson(c),
    }
}

/// FNV-1a of a property name, raw (`lower = false`) or as fastjson folds it.
const fn name_hash(name: &str, lower: bool) -> u64 {
    let b = name.as_bytes();
    let mut h = FNV_OFFSET;
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as u16;
        h = fnv(h, if lower && c >= 0x41 && c <= 0x5a { c + 0x20 } else { c });
        i += 1;
    }
    h
}

const fn name_hashes(lower: bool) -> [u64; 8] {
    let mut out = [0; 8];
    let mut i = 0;
    while i < 8 {
        out[i] = name_hash(NAMES[i], lower);
        i += 1;
    }
    out
}

const RAW_HASHES: [u64; 8] = name_hashes(false);
const FOLDED_HASHES: [u64; 8] = name_hashes(true);

/// The property Java could set from a key with these UTF-16 units, if any: an exact match
/// by hash, fastjson's two folded hashes (lower case only; lower case without `_`/`-`), the
/// wider folding, or (fastjson's rule for boolean
/// `isX` properties, applied to all, and to any spelling of `is`) the folded rest after `is`.
fn java_property(units: impl Iterator<Item = u16>) -> Option<Field> {
    let (mut raw, mut lower, mut folded, mut wide, mut after_is) =
        (FNV_OFFSET, FNV_OFFSET, FNV_OFFSET, FNV_OFFSET, FNV_OFFSET);
    // The first two chars and the rest, after the wide folding (so `IS_code` counts too).
    let mut first = [0u16; 2];
    let mut n = 0usize;
    for c in units {
        raw = fnv(raw, c);
        lower = fnv(lower, if (0x41..=0x5a).contains(&c) { c + 0x20 } else { c });
        if let Some(f) = fold_fastjson(c) {
            folded = fnv(folded, f);
        }
        if let Some(w) = fold_wide(c) {
            wide = fnv(wide, w);
            match first.get_mut(n) {
                Some(slot) => *slot = w,
                None => after_is = fnv(after_is, w),
            }
            n += 1;
        }
    }
    let is_prefixed = n > 2 && first == [u16::from(b'i'), u16::from(b's')];
    FIELDS.into_iter().find(|&f| {
        let i = f as usize;
        raw == RAW_HASHES[i]
            || lower == FOLDED_HASHES[i]
            || folded == FOLDED_HASHES[i]
            || wide == FOLDED_HASHES[i]
            || (is_prefixed && after_is == FOLDED_HASHES[i])
    })
}

/// Whether a key is one fastjson gives meaning to in any object: `@type` (auto-type) or
/// `$ref` (back-reference).
fn is_reserved(units: impl Iterator<Item = u16> + Clone) -> bool {
    units.clone().eq("@type".encode_utf16()) || units.eq("$ref".encode_utf16())
}

/// [`is_reserved`] for a key already decoded into a `str` (ext keys).
fn is_reserved_str(key: &str) -> bool {
    is_reserved_bytes(key.as_bytes())
}

fn is_reserved_bytes(key: &[u8]) -> bool {
    key == b"@type" || key == b"$ref"
}

// === JSON ===

fn decode_json(bytes: &[u8], limits: &DecodeLimits) -> Result<Header, Refusal> {
    let mut r = Reader::new(bytes);
    let mut h = Header::default();
    let mut seen = 0u8;
    // Decoded keys that are not plain (escapes, single quotes, bare); reused.
    let mut units = Vec::new();
    r.expect(b'{', "header is not a JSON object")?;
    if !r.eat(b'}') {
        loop {
            let at = r.offset();
            let field = match r.plain_key() {
                Some(raw) => match Field::canonical(raw) {
                    Some(f) => Some(f),
                    None => {
                        let key = std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8("header key"))?;
                        check_unknown_key(key.encode_utf16(), seen, at)?;
                        None
                    }
                },
                None => {
                    r.key_utf16(&mut units)?;
                    check_unknown_key(units.iter().copied(), seen, at)?;
                    None
                }
            };
            r.expect(b':', "expected ':'")?;
            match field {
                None => r.skip()?,
                Some(f) => {
                    if seen & f.bit() != 0 {
                        return Err(Refusal::RepeatedField { field: f.name(), at });
                    }
                    seen |= f.bit();
                    read_field(&mut r, f, &mut h, limits)?;
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

/// A key that is not a property's exact spelling: refused if Java would still read it as a
/// property (as a repetition if that property was already set), or if it is reserved.
fn check_unknown_key(units: impl Iterator<Item = u16> + Clone, seen: u8, at: usize) -> Result<(), Refusal> {
    if is_reserved(units.clone()) {
        return Err(Refusal::ReservedKey { at });
    }
    match java_property(units) {
        Some(f) if seen & f.bit() != 0 => Err(Refusal::RepeatedField { field: f.name(), at }),
        Some(f) => Err(Refusal::NoncanonicalFieldName { field: f.name(), at }),
        None => Ok(()),
    }
}

fn read_field(r: &mut Reader<'_>, f: Field, h: &mut Header, limits: &DecodeLimits) -> Result<(), Refusal> {
    match f {
        Field::Code => h.code = json::int32(r, "code")?,
        Field::Flag => h.flag = json::int32(r, "flag")?,
        Field::Opaque => h.opaque = json::int32(r, "opaque")?,
        Field::Version => h.version = json::int32(r, "version")?,
        Field::Language => h.language = json::language(r)?,
        Field::Remark => {
            h.remark = match r.value()? {
                Value::Null => None,
                v => Some(exact_text(&v).ok_or(DecodeError::InvalidField("remark"))?.into_owned()),
            }
        }
        // Java ignores it too (the frame's type byte rules); it must still be a name or null.
        Field::SerializeType => match r.value()? {
            Value::Null | Value::Str(_) => {}
            _ => return Err(DecodeError::InvalidField("serializeTypeCurrentRPC").into()),
        },
        Field::ExtFields => h.ext_fields = ext_fields(r, limits)?,
    }
    Ok(())
}

/// The text of a string, integer or boolean. Not of a non-integer number: its text would not
/// be the client's (`1e300` would come back as 301 digits, Java writes `1E+300`), and no
/// client sends one where a string belongs.
fn exact_text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::Float(_) => None,
        v => v.scalar_text(),
    }
}

fn ext_fields(r: &mut Reader<'_>, limits: &DecodeLimits) -> Result<Option<ExtFields>, Refusal> {
    if r.peek() != Some(b'{') {
        return match r.value()? {
            Value::Null => Ok(None),
            _ => Err(DecodeError::InvalidField("extFields").into()),
        };
    }
    r.expect(b'{', "expected '{'")?;
    let mut map = ExtFields::with_capacity(16, 256);
    // Keys whose value was null: dropped from the map (Java's null reads as absent) but
    // still counted for repetition. Rare, so allocated only when needed.
    let mut null_keys: Option<std::collections::HashSet<String>> = None;
    let mut count = 0usize;
    if !r.eat(b'}') {
        loop {
            count += 1;
            if count > limits.max_ext_fields {
                return Err(Refusal::TooManyFields { max: limits.max_ext_fields });
            }
            let at = r.offset();
            let key = match r.plain_key() {
                Some(raw) => std::borrow::Cow::Borrowed(
                    std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8("ext key"))?,
                ),
                None => r.key_str()?,
            };
            if is_reserved_str(&key) {
                return Err(Refusal::ReservedKey { at });
            }
            r.expect(b':', "expected ':'")?;
            let value: Option<std::borrow::Cow<'_, str>> = if matches!(r.peek(), Some(b'"' | b'\'')) {
                Some(r.string()?)
            } else {
                match r.value()? {
                    Value::Null => None,
                    v => Some(std::borrow::Cow::Owned(
                        exact_text(&v).ok_or(DecodeError::InvalidField("extFields"))?.into_owned(),
                    )),
                }
            };
            let repeated = null_keys.as_ref().is_some_and(|n| n.contains(key.as_ref()))
                || match &value {
                    Some(v) => !map.insert_new(&key, v),
                    None => {
                        map.contains_key(&key)
                            || !null_keys.get_or_insert_with(Default::default).insert(key.into_owned())
                    }
                };
            if repeated {
                return Err(Refusal::RepeatedExtKey { at });
            }
            if r.next_or_close(b'}')? {
                break;
            }
        }
    }
    Ok(Some(map))
}
