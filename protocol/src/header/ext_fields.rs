//! `ExtFields`: the header's string→string map, kept in wire order.
//!
//! Java keeps extFields in a `HashMap`, so a repeated key keeps its last value; we do the
//! same (the value is replaced in the first key's position). Wire order is kept so that a
//! decoded header re-encodes in the order it arrived.
//!
//! Layout: every key and value lives in one `String`, and entries are ranges into it, so a
//! header costs two allocations however many fields it has (a SEND_MESSAGE_V2 header has
//! fourteen). Each entry also keeps a hash of its key, so the duplicate check on insert
//! compares integers, not strings.

use std::fmt;

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: (u32, u32),
    value: (u32, u32),
    key_hash: u32,
}

/// The `extFields` of a remoting header.
#[derive(Clone, Default)]
pub struct ExtFields {
    text: String,
    entries: Vec<Entry>,
}

/// A fixed-key hash of a key's bytes. Not for security: it only speeds up equality checks,
/// which still compare the strings when hashes match.
fn key_hash(key: &str) -> u32 {
    // FNV-1a, 32-bit.
    let mut h: u32 = 0x811c_9dc5;
    for &b in key.as_bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

impl ExtFields {
    /// An empty map.
    pub const fn new() -> Self {
        Self { text: String::new(), entries: Vec::new() }
    }

    /// An empty map with room for `n` entries of `text_len` bytes in all.
    pub fn with_capacity(n: usize, text_len: usize) -> Self {
        Self { text: String::with_capacity(text_len), entries: Vec::with_capacity(n) }
    }

    fn slice(&self, r: (u32, u32)) -> &str {
        // Ranges are recorded around whole strings appended to `text`, so they always fall
        // on character boundaries.
        &self.text[r.0 as usize..r.1 as usize]
    }

    fn append(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len();
        self.text.push_str(s);
        // Headers are at most 16 MiB, far below u32::MAX; saturate rather than wrap if not.
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (clamp(start), clamp(self.text.len()))
    }

    fn find(&self, key: &str, hash: u32) -> Option<usize> {
        self.entries.iter().position(|e| e.key_hash == hash && self.slice(e.key) == key)
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.find(key, key_hash(key)).map(|i| self.slice(self.entries[i].value))
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key, key_hash(key)).is_some()
    }

    /// Sets `key` to `value`, replacing an existing value in place (last write wins, as in Java).
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        let hash = key_hash(key);
        match self.find(key, hash) {
            Some(i) => {
                let v = self.append(value);
                self.entries[i].value = v;
            }
            None => {
                let k = self.append(key);
                let v = self.append(value);
                self.entries.push(Entry { key: k, value: v, key_hash: hash });
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.find(key, key_hash(key))?;
        let e = self.entries.remove(i);
        Some(self.slice(e.value).to_owned())
    }

    /// Entries in wire order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.entries.iter().map(|e| (self.slice(e.key), self.slice(e.value)))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = ExtFields::new();
        m.extend(iter);
        m
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for ExtFields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_write_wins_in_first_position() {
        let mut m: ExtFields = [("a", "1"), ("b", "2")].into_iter().collect();
        m.insert("a", "3");
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![("a", "3"), ("b", "2")]);
        assert_eq!(m.remove("a").as_deref(), Some("3"));
        assert_eq!(m.get("a"), None);
        assert_eq!(m.len(), 1);
        assert!(m.contains_key("b"));
    }

    #[test]
    fn equality_ignores_dead_text() {
        let mut a: ExtFields = [("k", "old")].into_iter().collect();
        a.insert("k", "new");
        let b: ExtFields = [("k", "new")].into_iter().collect();
        assert_eq!(a, b);
        assert_ne!(a, ExtFields::new());
    }

    #[test]
    fn non_ascii_and_empty() {
        let m: ExtFields = [("", ""), ("clé", "värde")].into_iter().collect();
        assert_eq!(m.get(""), Some(""));
        assert_eq!(m.get("clé"), Some("värde"));
    }
}
