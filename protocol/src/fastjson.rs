//! A lenient reader for the JSON that Java's fastjson writes (and accepts).
//!
//! RocketMQ bodies are produced by `JSON.toJSONString`, which is not always strict JSON:
//! map keys that are numbers come out bare (`{0:"10.0.0.1:10911"}`), keys that are objects
//! come out as objects (`{{"brokerName":"b","queueId":0,"topic":"T"}:{…}}`), `NaN` doubles
//! come out as `null`, and repeated instances become `{"$ref":"$.path"}` back-references.
//! fastjson also *accepts* single-quoted strings and unquoted keys, and RocketMQ's header
//! decoder inherits that, so the header reader accepts them too.
//!
//! The reader is bounded: nesting deeper than [`MAX_DEPTH`] is an error, every string and
//! number is a slice of the input, and `$ref` expansion has a budget tied to the input size.

use std::borrow::Cow;

use crate::error::{BodyError, JsonError};

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: u32 = 128;

/// A parsed fastjson value. Object keys are values too, because fastjson writes non-string
/// map keys as bare numbers or objects.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` (also what fastjson writes for NaN and infinite doubles).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string (or a bare identifier used as a key).
    Str(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, in document order.
    Object(Vec<(Value, Value)>),
}

impl Value {
    /// The member `key` of an object whose key is the string `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => {
                members.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// Object members, or an empty slice for anything else.
    pub fn members(&self) -> &[(Value, Value)] {
        match self {
            Value::Object(m) => m,
            _ => &[],
        }
    }

    /// Array items, or an empty slice for anything else.
    pub fn items(&self) -> &[Value] {
        match self {
            Value::Array(a) => a,
            _ => &[],
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An integer: a number with no fraction, or a string holding one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            #[allow(clippy::cast_possible_truncation)]
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(*f as i64),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A number (or a string holding one). `null` — fastjson's NaN — is `None`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            #[allow(clippy::cast_precision_loss)]
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean, or a string `"true"`/`"false"` (any case, as Java's `Boolean.parseBoolean`).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Str(s) => Some(s.eq_ignore_ascii_case("true")),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text of a scalar as Java would see it after `toString()`: strings as is, numbers
    /// and booleans in their JSON spelling. `None` for null, arrays and objects.
    pub fn scalar_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::Str(s) => Some(Cow::Borrowed(s)),
            Value::Int(i) => Some(Cow::Owned(i.to_string())),
            Value::Float(f) => Some(Cow::Owned(f.to_string())),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }
}

/// Parses a whole document, then resolves `$ref` back-references, if it has any.
pub fn parse(input: &[u8]) -> Result<Value, BodyError> {
    let mut r = Reader::new(input);
    let mut v = r.value()?;
    r.end()?;
    if !r.saw_ref {
        // Nothing to resolve: the common case, and no copy of the whole tree.
        return Ok(v);
    }
    // Budget: no more cloned nodes than input bytes, so expansion stays linear in the input.
    let mut budget = input.len();
    let root = v.clone();
    resolve_refs(&mut v, &root, &mut budget)?;
    Ok(v)
}

/// The keys of the map under `field` of a top-level object, as text (bare numbers as their
/// decimal text, as [`Value::scalar_text`] gives them; keys that are objects or `null` are
/// left out), read without building the map's values or the rest of the document: the same
/// keys, in the same order, as the parsed document's `field` member has (the first, if the
/// field repeats; none if it is missing or not an object). `Ok(None)` when the top level is
/// not an object, or when a `$ref` key stands where a back-reference could change the answer;
/// the caller then parses the document whole.
pub(crate) fn map_keys(input: &[u8], field: &str) -> Result<Option<Vec<String>>, BodyError> {
    let mut keys = None;
    let whole = stream_object(input, |k, r| {
        if keys.is_none() && matches!(k, Value::Str(s) if s == field) {
            keys = Some(r.keys_of_map()?);
        } else {
            r.skip()?;
        }
        Ok(())
    })?;
    Ok(whole.then(|| keys.unwrap_or_default()))
}

/// Reads a top-level object member by member, in document order, without building it:
/// `member(key, reader)` must consume the member's value (with [`Reader::value`],
/// [`Reader::skip`] or [`Reader::each_item`]). `Ok(false)` when the top level is not an object,
/// or when a `$ref` key was read where it could matter (a key of the top level, or one read
/// through `reader.value()`, `each_item` or `keys_of_map`); the caller then parses the
/// document whole, as what it read may differ from the resolved document. (A `$ref` inside a
/// skipped value changes nothing that was read.)
pub(crate) fn stream_object(
    input: &[u8],
    mut member: impl FnMut(&Value, &mut Reader<'_>) -> Result<(), BodyError>,
) -> Result<bool, BodyError> {
    let mut r = Reader::new(input);
    if r.peek() != Some(b'{') {
        return Ok(false);
    }
    r.members(|r, k| member(&k, r))?;
    r.end()?;
    Ok(!r.saw_ref)
}

/// Parses a whole document as written: `$ref` objects are left as they are.
pub fn parse_unresolved(input: &[u8]) -> Result<Value, BodyError> {
    let mut r = Reader::new(input);
    let v = r.value()?;
    r.end()?;
    Ok(v)
}

/// Replaces `{"$ref":"$.a.b[0]"}` objects by a copy of the node they point at.
///
/// Only absolute paths (`$`, `$.field`, `$[i]`) are resolved; relative forms (`@`, `..`)
/// are left in place and read as objects with one unknown field, i.e. as missing data.
fn resolve_refs(v: &mut Value, root: &Value, budget: &mut usize) -> Result<(), BodyError> {
    match v {
        Value::Object(members) => {
            if let [(Value::Str(k), Value::Str(path))] = members.as_slice()
                && k == "$ref"
            {
                if let Some(target) = lookup_path(root, path) {
                    let n = count_nodes(target);
                    *budget = budget.checked_sub(n).ok_or(BodyError::RefBudget)?;
                    *v = target.clone();
                }
                return Ok(());
            }
            for (_, val) in members.iter_mut() {
                resolve_refs(val, root, budget)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                resolve_refs(item, root, budget)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Object(m) => m.iter().map(|(k, v)| count_nodes(k) + count_nodes(v)).sum(),
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        _ => 0,
    }
}

fn lookup_path<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let mut rest = path.strip_prefix('$')?;
    let mut cur = root;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let i: usize = r[..end].parse().ok()?;
            cur = cur.items().get(i)?;
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur)
}

/// A cursor over fastjson text. The header decoder drives it directly (no tree), the body
/// decoder through [`Reader::value`].
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
    depth: u32,
    /// Whether an object key `$ref` was read: only then can [`parse`] have anything to resolve.
    saw_ref: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        Self { s, pos: 0, depth: 0, saw_ref: false }
    }

    fn err(&self, kind: &'static str) -> JsonError {
        JsonError { kind, at: self.pos }
    }

    fn ws(&mut self) {
        while let Some(&b) = self.s.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// The next non-space byte, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    /// Consumes `b` (after spaces) or fails.
    pub(crate) fn expect(&mut self, b: u8, what: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// Consumes `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Only spaces may remain.
    pub(crate) fn end(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.err("trailing characters")),
        }
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        Ok(())
    }

    /// Separator handling inside `{…}` / `[…]`: after an element, `,` continues and `close`
    /// ends. Returns `true` when the container is finished.
    pub(crate) fn next_or_close(&mut self, close: u8) -> Result<bool, JsonError> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.err("expected ',' or a closing bracket")),
        }
    }

    /// The container whose opening bracket is at the cursor (the caller has checked it):
    /// `item` reads each element in turn, until `close`; the nesting is counted once here.
    fn container<E: From<JsonError>>(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), E>,
    ) -> Result<(), E> {
        self.pos += 1;
        self.enter()?;
        if !self.eat(close) {
            loop {
                item(self)?;
                if self.next_or_close(close)? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// The object whose `{` is at the cursor: `member` gets each key and reads its value.
    fn members<E: From<JsonError>>(
        &mut self,
        mut member: impl FnMut(&mut Self, Value) -> Result<(), E>,
    ) -> Result<(), E> {
        self.container(b'}', |r| {
            let k = r.key()?;
            r.expect(b':', "expected ':'")?;
            member(r, k)
        })
    }

    /// A quoted string (double or single quotes), borrowed when it has no escapes.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let quote = match self.peek() {
            Some(q @ (b'"' | b'\'')) => q,
            _ => return Err(self.err("expected a string")),
        };
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes.
        while let Some(&b) = self.s.get(self.pos) {
            if b == quote {
                let raw = &self.s[start..self.pos];
                self.pos += 1;
                return std::str::from_utf8(raw)
                    .map(Cow::Borrowed)
                    .map_err(|_| JsonError { kind: "string is not UTF-8", at: start });
            }
            if b == b'\\' {
                break;
            }
            self.pos += 1;
        }
        // Slow path: unescape into an owned buffer.
        let mut out: Vec<u8> = self.s[start..self.pos].to_vec();
        loop {
            let Some(&b) = self.s.get(self.pos) else {
                return Err(self.err("unterminated string"));
            };
            self.pos += 1;
            if b == quote {
                break;
            }
            if b != b'\\' {
                out.push(b);
                continue;
            }
            let Some(&e) = self.s.get(self.pos) else {
                return Err(self.err("unterminated escape"));
            };
            self.pos += 1;
            let c = match e {
                b'"' => '"',
                b'\'' => '\'',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return Err(self.err("invalid escape")),
            };
            let mut tmp = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        }
        String::from_utf8(out).map(Cow::Owned).map_err(|_| JsonError { kind: "string is not UTF-8", at: start })
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let digits = self.s.get(self.pos..self.pos + 4).ok_or_else(|| self.err("truncated \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.err("invalid \\u escape"))?;
        let v = u16::from_str_radix(text, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.s.get(self.pos..self.pos + 2) == Some(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            self.pos = save;
        }
        // A lone surrogate is what Java strings may hold; it has no UTF-8 form.
        Ok(char::from_u32(u32::from(hi)).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    /// A bare token: a number, `true`/`false`/`null`, or an unquoted identifier.
    fn bare(&mut self) -> Result<&'a str, JsonError> {
        let start = self.pos;
        while let Some(&b) = self.s.get(self.pos) {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.' | b'_' | b'$') {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == start {
            return Err(self.err("unexpected character"));
        }
        // Only ASCII was accepted above.
        std::str::from_utf8(&self.s[start..self.pos]).map_err(|_| self.err("unexpected character"))
    }

    /// An object key: a string, a bare number or identifier, or (fastjson) an object.
    pub(crate) fn key(&mut self) -> Result<Value, JsonError> {
        let k = match self.peek() {
            Some(b'"' | b'\'') => Value::Str(self.string()?.into_owned()),
            Some(b'{' | b'[') => return self.value(),
            Some(_) => {
                let tok = self.bare()?;
                number(tok).unwrap_or_else(|| Value::Str(tok.to_owned()))
            }
            None => return Err(self.err("expected a key")),
        };
        if matches!(&k, Value::Str(s) if s == "$ref") {
            self.saw_ref = true;
        }
        Ok(k)
    }

    /// Byte offset of the next unread byte (after skipping spaces): where the next token
    /// starts, for error reports.
    pub(crate) fn offset(&mut self) -> usize {
        self.ws();
        self.pos
    }

    /// An object key that must be text, decoded into UTF-16 code units as Java holds it:
    /// `\uXXXX` escapes are kept as they are, lone surrogates included (a `String` would have
    /// to replace them). Accepts exactly what [`Reader::key_str`] accepts.
    pub(crate) fn key_utf16(&mut self, out: &mut Vec<u16>) -> Result<(), JsonError> {
        out.clear();
        let quote = match self.peek() {
            Some(q @ (b'"' | b'\'')) => q,
            Some(_) => {
                let tok = self.bare()?;
                out.extend(tok.encode_utf16());
                return Ok(());
            }
            None => return Err(self.err("expected a key")),
        };
        self.pos += 1;
        // Start of the literal run not yet copied. Quotes and backslashes are ASCII, so a
        // run never splits a UTF-8 sequence and checking runs is checking the whole string.
        let mut run = self.pos;
        loop {
            let Some(&b) = self.s.get(self.pos) else {
                return Err(self.err("unterminated string"));
            };
            if b != quote && b != b'\\' {
                self.pos += 1;
                continue;
            }
            let lit = std::str::from_utf8(&self.s[run..self.pos])
                .map_err(|_| JsonError { kind: "string is not UTF-8", at: run })?;
            out.extend(lit.encode_utf16());
            self.pos += 1;
            if b == quote {
                return Ok(());
            }
            let Some(&e) = self.s.get(self.pos) else {
                return Err(self.err("unterminated escape"));
            };
            self.pos += 1;
            out.push(match e {
                b'"' => 0x22,
                b'\'' => 0x27,
                b'\\' => 0x5c,
                b'/' => 0x2f,
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => 0x0a,
                b'r' => 0x0d,
                b't' => 0x09,
                b'u' => self.hex4()?,
                _ => return Err(self.err("invalid escape")),
            });
            run = self.pos;
        }
    }

    /// A plain double-quoted string without escapes, as raw bytes (the common case for
    /// header keys and short values); `None` (nothing consumed) otherwise.
    pub(crate) fn plain_key(&mut self) -> Option<&'a [u8]> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.pos + 1;
        let len = self.s[start..].iter().position(|&b| b == b'"' || b == b'\\')?;
        if self.s[start + len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        Some(&self.s[start..start + len])
    }

    /// A plain decimal integer (`-?[0-9]{1,18}`) parsed straight from the bytes; `None`
    /// (nothing consumed) for anything else, which the caller reads the lenient way.
    pub(crate) fn plain_int(&mut self) -> Option<i64> {
        self.ws();
        let mut i = self.pos;
        let neg = self.s.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        let digits_start = i;
        let mut v: i64 = 0;
        while let Some(&b) = self.s.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            // 18 digits always fit an i64; a 19th could overflow, so longer numbers take the
            // general path (checked before multiplying).
            if i - digits_start == 18 {
                return None;
            }
            v = v * 10 + i64::from(b - b'0');
            i += 1;
        }
        if i == digits_start {
            return None;
        }
        // The token must end here (not `1.5`, `1e3`, `12abc`).
        if self.s.get(i).is_some_and(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'$' | b'+' | b'-')) {
            return None;
        }
        self.pos = i;
        Some(if neg { -v } else { v })
    }

    /// An object key that must be text; borrowed when possible (the header's fast path).
    pub(crate) fn key_str(&mut self) -> Result<Cow<'a, str>, JsonError> {
        match self.peek() {
            Some(b'"' | b'\'') => self.string(),
            Some(_) => self.bare().map(Cow::Borrowed),
            None => Err(self.err("expected a key")),
        }
    }

    /// Any value.
    pub(crate) fn value(&mut self) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'{') => {
                let mut members = Vec::new();
                self.members(|r, k| {
                    members.push((k, r.value()?));
                    Ok::<_, JsonError>(())
                })?;
                Ok(Value::Object(members))
            }
            Some(b'[') => {
                let mut items = Vec::new();
                self.container(b']', |r| {
                    items.push(r.value()?);
                    Ok::<_, JsonError>(())
                })?;
                Ok(Value::Array(items))
            }
            Some(b'"' | b'\'') => Ok(Value::Str(self.string()?.into_owned())),
            Some(_) => {
                let at = self.pos;
                let tok = self.bare()?;
                match tok {
                    "null" | "undefined" => Ok(Value::Null),
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    _ => number(tok).ok_or(JsonError { kind: "invalid literal", at }),
                }
            }
            None => Err(self.err("unexpected end of input")),
        }
    }

    /// Each item of the array that comes next, parsed one at a time (so only one is ever
    /// built); anything but an array is skipped and has no items.
    pub(crate) fn each_item(&mut self, mut f: impl FnMut(Value) -> Result<(), BodyError>) -> Result<(), BodyError> {
        if self.peek() != Some(b'[') {
            self.skip()?;
            return Ok(());
        }
        self.container(b']', |r| f(r.value()?))
    }

    /// The keys of the object that comes next, as [`map_keys`] gives them, its values skipped;
    /// anything but an object is skipped and has no keys.
    pub(crate) fn keys_of_map(&mut self) -> Result<Vec<String>, JsonError> {
        if self.peek() != Some(b'{') {
            self.skip()?;
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        self.members(|r, k| {
            r.skip()?;
            if let Some(t) = k.scalar_text() {
                out.push(t.into_owned());
            }
            Ok::<_, JsonError>(())
        })?;
        Ok(out)
    }

    /// Skips one value without building it (strings without escapes are not copied).
    pub(crate) fn skip(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            Some(open @ (b'{' | b'[')) => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.container(close, |r| {
                    if open == b'{' {
                        // A key, skipped the way `key` reads one, without building it.
                        match r.peek() {
                            Some(b'{' | b'[') => r.skip()?,
                            Some(b'"' | b'\'') => {
                                r.string()?;
                            }
                            _ => {
                                r.bare()?;
                            }
                        }
                        r.expect(b':', "expected ':'")?;
                    }
                    r.skip()
                })
            }
            Some(b'"' | b'\'') => self.string().map(drop),
            Some(_) => {
                let at = self.pos;
                let tok = self.bare()?;
                match tok {
                    "null" | "undefined" | "true" | "false" => Ok(()),
                    _ => number(tok).map(drop).ok_or(JsonError { kind: "invalid literal", at }),
                }
            }
            None => Err(self.err("unexpected end of input")),
        }
    }

    /// An integer value for a header field: a number, or a string holding one (fastjson
    /// accepts `"code":"28"`).
    pub(crate) fn int_field(&mut self, what: &'static str) -> Result<i64, JsonError> {
        let at = self.pos;
        match self.peek() {
            Some(b'"' | b'\'') => {
                let s = self.string()?;
                s.trim().parse().map_err(|_| JsonError { kind: what, at })
            }
            _ => {
                let tok = self.bare()?;
                tok.parse().map_err(|_| JsonError { kind: what, at })
            }
        }
    }
}

/// A bare token as a number, if it is one. Integers that fit `i64` stay exact.
fn number(tok: &str) -> Option<Value> {
    let b = tok.as_bytes();
    let first = *b.first()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return match tok {
            "NaN" | "Infinity" => tok.parse().ok().map(Value::Float),
            _ => None,
        };
    }
    if let Ok(i) = tok.parse::<i64>() {
        return Some(Value::Int(i));
    }
    match tok {
        "-Infinity" => Some(Value::Float(f64::NEG_INFINITY)),
        _ => tok.parse::<f64>().ok().map(Value::Float),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Value {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn long_integers_never_overflow_the_fast_path() {
        // 18 digits take the fast path; 19 and more (the largest i64, and beyond) the general
        // one, which reads what fits and refuses what does not, without overflowing.
        for (text, want) in [
            ("999999999999999999", Some(999_999_999_999_999_999)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9999999999999999999", None),
            ("99999999999999999999999999", None),
        ] {
            let mut r = Reader::new(text.as_bytes());
            let fast = r.plain_int();
            let got = fast.or_else(|| Reader::new(text.as_bytes()).int_field("n").ok());
            assert_eq!(got, want, "{text}");
        }
        let h = crate::Header::decode(crate::SerializeType::JSON, br#"{"code":9999999999999999999,"flag":0}"#);
        assert!(h.is_err(), "a code past i64 is refused, not wrapped");
    }

    #[test]
    fn bare_numeric_keys() {
        let v = p(r#"{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}}"#);
        let addrs = v.get("brokerAddrs").unwrap().members();
        assert_eq!(addrs[0].0, Value::Int(0));
        assert_eq!(addrs[1].1.as_str(), Some("10.0.0.2:10911"));
    }

    #[test]
    fn object_keys() {
        let v = p(
            r#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":1,"topic":"T1"}:{"brokerOffset":101,"consumerOffset":91,"lastTimestamp":1700000000001},{"brokerName":"broker-a","queueId":0,"topic":"T1"}:{"brokerOffset":100,"consumerOffset":90,"lastTimestamp":1700000000000}}}"#,
        );
        let table = v.get("offsetTable").unwrap().members();
        assert_eq!(table.len(), 2);
        assert_eq!(table[0].0.get("queueId").and_then(Value::as_i64), Some(1));
        assert_eq!(table[1].1.get("consumerOffset").and_then(Value::as_i64), Some(90));
        assert_eq!(v.get("consumeTps").and_then(Value::as_f64), Some(1.5));
    }

    #[test]
    fn null_for_nan_and_scientific_numbers() {
        let v = p(r#"{"statsMinute":{"avgpt":0.0,"sum":0,"tps":null},"a":1.0E-4,"b":1.23456789E7}"#);
        assert_eq!(v.get("statsMinute").unwrap().get("tps").unwrap().as_f64(), None);
        assert_eq!(v.get("a").unwrap().as_f64(), Some(1.0e-4));
        assert_eq!(v.get("b").unwrap().as_f64(), Some(1.234_567_89e7));
    }

    #[test]
    fn back_references_resolve() {
        let v = p(
            r#"{"statsDay":{"sum":5,"tps":1.0},"statsHour":{"$ref":"$.statsDay"},"statsMinute":{"$ref":"$.statsDay"}}"#,
        );
        assert_eq!(v.get("statsHour").unwrap().get("sum").unwrap().as_i64(), Some(5));
        assert_eq!(v.get("statsMinute"), v.get("statsDay"));
        // An unquoted `$ref` key (fastjson accepts it) is a reference too.
        let v = p(r#"{"a":{"x":1},"b":{$ref:'$.a'}}"#);
        assert_eq!(v.get("b"), v.get("a"));
        // `$ref` as a value, not a key, is plain text.
        let v = p(r#"{"a":"$ref","b":["$ref"]}"#);
        assert_eq!(v, parse_unresolved(br#"{"a":"$ref","b":["$ref"]}"#).unwrap());
        // Relative and dangling references stay as they are.
        let v = p(r#"{"a":{"$ref":"@"},"b":{"$ref":"$.nope"}}"#);
        assert!(v.get("a").unwrap().get("$ref").is_some());
    }

    #[test]
    fn ref_expansion_is_bounded() {
        // Each level doubles the document through two references to the previous one.
        let mut s = String::from(r#"{"l0":[1,2,3,4,5,6,7,8]"#);
        for i in 1..40 {
            s.push_str(&format!(r#","l{i}":[{{"$ref":"$.l{p}"}},{{"$ref":"$.l{p}"}}]"#, p = i - 1));
        }
        s.push('}');
        // References are resolved against the original tree, so this is linear, not 2^40.
        let v = parse(s.as_bytes()).unwrap();
        assert!(v.get("l39").is_some());
    }

    #[test]
    fn lenient_syntax_fastjson_accepts() {
        let v = p("{code:28, 'remark':'it''s', \"x\" : [ ] }".replace("''", "\\'").as_str());
        assert_eq!(v.get("code").unwrap().as_i64(), Some(28));
        assert_eq!(v.get("remark").unwrap().as_str(), Some("it's"));
    }

    #[test]
    fn escapes() {
        let v = p(r#"{"s":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}"#);
        assert_eq!(v.get("s").unwrap().as_str(), Some("a\"b\\c/d\né😀"));
    }

    #[test]
    fn errors_are_positioned() {
        for bad in ["", "{", "{\"a\"}", "[1,]x", "{\"a\":tru}", "\"\\q\"", "[1] 2", "{\"a\":\"\\u12\"}"] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?} should fail");
        }
        let deep = "[".repeat(200);
        assert!(matches!(parse(deep.as_bytes()), Err(BodyError::Json(e)) if e.kind == "nesting too deep"));
    }
}
