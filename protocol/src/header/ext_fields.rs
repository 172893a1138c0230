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
//!
//! Small maps are searched linearly. Once a map holds more than [`INDEX_AFTER`] entries it
//! also keeps an index (an open-addressing table of entry numbers, hashed with a per-map
//! random SipHash key, so crafted keys cannot make it degrade), and `insert`, `get` and
//! `contains_key` stay O(1) amortised: decoding a header of n fields costs O(n), not O(n²).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;

/// Entries a map holds before it builds its hash index. Below this a linear scan over the
/// entries' 32-bit key hashes is faster than hashing with SipHash.
const INDEX_AFTER: usize = 16;

/// A slot of [`Index`] that holds no entry.
const EMPTY: u32 = u32::MAX;

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
    /// Present once the map has more than [`INDEX_AFTER`] entries.
    index: Option<Box<Index>>,
}

/// Open addressing with linear probing over entry numbers. The table is kept at most half
/// full, so probes stay short; it is rebuilt (O(n)) when it doubles and after a removal.
#[derive(Clone)]
struct Index {
    hasher: RandomState,
    /// Entry numbers, or [`EMPTY`]; the length is a power of two.
    slots: Vec<u32>,
}

impl Index {
    fn slot_of(&self, key: &str) -> usize {
        let mask = self.slots.len() - 1;
        // Truncation is the point: the low bits pick the slot.
        #[allow(clippy::cast_possible_truncation)]
        let h = self.hasher.hash_one(key) as usize;
        h & mask
    }

    /// A table for `entries`, with room to grow to twice their number before rebuilding.
    fn build(text: &str, entries: &[Entry]) -> Index {
        let cap = (entries.len() * 4).next_power_of_two().max(64);
        let mut index = Index { hasher: RandomState::new(), slots: vec![EMPTY; cap] };
        for (i, e) in entries.iter().enumerate() {
            index.place(text, e.key, i);
        }
        index
    }

    fn place(&mut self, text: &str, key: (u32, u32), entry: usize) {
        let mask = self.slots.len() - 1;
        let mut s = self.slot_of(&text[key.0 as usize..key.1 as usize]);
        while self.slots[s] != EMPTY {
            s = (s + 1) & mask;
        }
        // Entry numbers fit u32: a map's text is addressed with u32 offsets, and each entry
        // takes at least one range in it; saturating keeps EMPTY unreachable in practice.
        self.slots[s] = u32::try_from(entry).unwrap_or(EMPTY - 1);
    }

    fn find(&self, map: &ExtFields, key: &str, hash: u32) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut s = self.slot_of(key);
        loop {
            let i = self.slots[s];
            if i == EMPTY {
                return None;
            }
            let i = i as usize;
            let e = map.entries.get(i)?;
            if e.key_hash == hash && map.slice(e.key) == key {
                return Some(i);
            }
            s = (s + 1) & mask;
        }
    }
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
        Self { text: String::new(), entries: Vec::new(), index: None }
    }

    /// An empty map with room for `n` entries of `text_len` bytes in all.
    pub fn with_capacity(n: usize, text_len: usize) -> Self {
        Self { text: String::with_capacity(text_len), entries: Vec::with_capacity(n), index: None }
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
        match &self.index {
            Some(index) => index.find(self, key, hash),
            None => self.entries.iter().position(|e| e.key_hash == hash && self.slice(e.key) == key),
        }
    }

    /// Appends a new entry (the key is known to be absent) and keeps the index current.
    fn push_new(&mut self, key: &str, value: &str, hash: u32) {
        let k = self.append(key);
        let v = self.append(value);
        self.entries.push(Entry { key: k, value: v, key_hash: hash });
        let n = self.entries.len();
        match &mut self.index {
            Some(index) if n * 2 <= index.slots.len() => index.place(&self.text, k, n - 1),
            Some(_) => self.index = Some(Box::new(Index::build(&self.text, &self.entries))),
            None if n > INDEX_AFTER => self.index = Some(Box::new(Index::build(&self.text, &self.entries))),
            None => {}
        }
    }

    /// Adds `key` only if it is absent; `false` (and the map unchanged) if it is present.
    /// The guard reader's duplicate check, in the same single lookup as the insert.
    pub(crate) fn insert_new(&mut self, key: &str, value: &str) -> bool {
        let hash = key_hash(key);
        if self.find(key, hash).is_some() {
            return false;
        }
        self.push_new(key, value, hash);
        true
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
            None => self.push_new(key, value, hash),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.find(key, key_hash(key))?;
        let e = self.entries.remove(i);
        // Entry numbers after `i` moved down by one; rebuild rather than patch (removal is
        // rare: signing removes one field, and `Vec::remove` is O(n) anyway).
        if self.index.is_some() {
            self.index = (self.entries.len() > INDEX_AFTER).then(|| Box::new(Index::build(&self.text, &self.entries)));
        }
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
    fn large_maps_use_the_index_and_keep_behaviour() {
        let mut m = ExtFields::new();
        for i in 0..1000 {
            m.insert(format!("k{i}"), format!("v{i}"));
        }
        assert!(m.index.is_some());
        assert_eq!(m.len(), 1000);
        // Replacing keeps the first position; lookups hit through the index.
        m.insert("k500", "new");
        assert_eq!(m.get("k500"), Some("new"));
        assert_eq!(m.iter().nth(500), Some(("k500", "new")));
        assert!(!m.insert_new("k7", "x"));
        assert_eq!(m.get("k7"), Some("v7"));
        assert!(m.insert_new("fresh", "x"));
        assert_eq!(m.len(), 1001);
        // Removal renumbers entries; the rebuilt index still finds every key.
        assert_eq!(m.remove("k0").as_deref(), Some("v0"));
        assert_eq!(m.get("k0"), None);
        for i in 1..1000 {
            assert!(m.contains_key(&format!("k{i}")), "k{i}");
        }
        assert_eq!(m.get("fresh"), Some("x"));
        // Equality is by content, not by whether an index exists.
        let small: ExtFields = [("a", "1")].into_iter().collect();
        let mut shrunk = m.clone();
        let keys: Vec<String> = shrunk.iter().map(|(k, _)| k.to_owned()).collect();
        for k in &keys {
            shrunk.remove(k);
        }
        assert!(shrunk.index.is_none());
        shrunk.insert("a", "1");
        assert_eq!(shrunk, small);
    }

    #[test]
    fn small_maps_stay_without_an_index() {
        let m: ExtFields = (0..INDEX_AFTER).map(|i| (format!("k{i}"), "v")).collect();
        assert!(m.index.is_none());
        assert_eq!(m.get("k3"), Some("v"));
    }

    #[test]
    fn non_ascii_and_empty() {
        let m: ExtFields = [("", ""), ("clé", "värde")].into_iter().collect();
        assert_eq!(m.get(""), Some(""));
        assert_eq!(m.get("clé"), Some("värde"));
    }
}
