//! Nonces seen within the clock-skew window, for `rmq-hmac-v1` replay protection. One cache
//! per process, shared by every listener (a request accepted on the main port is a replay on
//! the VIP port). Bounded: entries older than the window are dropped as time passes, and when
//! the cache is full a new nonce is refused (fail closed) rather than an unexpired one
//! forgotten. So that one key (a broker host's, say, used by anything local to that host)
//! cannot fill the cache and lock every other key out, each key may hold only its share:
//! the capacity divided by the number of keys ([`NonceCache::set_keys`]).

use std::collections::{HashMap, VecDeque};

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRejection {
    /// Seen before within the window.
    Replayed,
    /// The cache holds `capacity` unexpired nonces, or this key holds its share of them
    /// ([`NonceCache::key_share`]).
    Full,
}

/// A bounded set of recent nonces, keyed by key id and nonce.
#[derive(Debug)]
pub struct NonceCache {
    window_ms: u64,
    capacity: usize,
    /// How many keys share the capacity (at least 1).
    keys: usize,
    seen: HashMap<(String, String), u64>,
    /// Unexpired nonces per key id.
    per_key: HashMap<String, usize>,
    order: VecDeque<(u64, String, String)>,
}

impl NonceCache {
    /// A cache remembering nonces for `window_ms` (the verifier's ±skew, so twice the skew),
    /// holding at most `capacity`, all of which one key may use (see [`NonceCache::set_keys`]).
    pub fn new(window_ms: u64, capacity: usize) -> Self {
        Self { window_ms, capacity, keys: 1, seen: HashMap::new(), per_key: HashMap::new(), order: VecDeque::new() }
    }

    /// Shares the capacity among `keys` keys: each may then hold at most
    /// [`NonceCache::key_share`] nonces, and a key past its share is refused while the others
    /// are not.
    pub fn set_keys(&mut self, keys: usize) {
        self.keys = keys.max(1);
    }

    /// The most unexpired nonces one key may hold: the capacity over the number of keys, at
    /// least 1.
    pub fn key_share(&self) -> usize {
        (self.capacity / self.keys).max(1)
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some((t, _, _)) = self.order.front() {
            if now_ms.saturating_sub(*t) <= self.window_ms {
                break;
            }
            if let Some((_, k, n)) = self.order.pop_front() {
                if let Some(c) = self.per_key.get_mut(&k) {
                    *c = c.saturating_sub(1);
                    if *c == 0 {
                        self.per_key.remove(&k);
                    }
                }
                self.seen.remove(&(k, n));
            }
        }
    }

    /// Records `nonce` for `key_id` at `now_ms`, unless it was seen within the window.
    pub fn check_and_insert(&mut self, key_id: &str, nonce: &str, now_ms: u64) -> Result<(), NonceRejection> {
        self.expire(now_ms);
        let k = (key_id.to_owned(), nonce.to_owned());
        if self.seen.contains_key(&k) {
            return Err(NonceRejection::Replayed);
        }
        if self.seen.len() >= self.capacity || self.held_by(key_id) >= self.key_share() {
            return Err(NonceRejection::Full);
        }
        *self.per_key.entry(k.0.clone()).or_default() += 1;
        self.order.push_back((now_ms, k.0.clone(), k.1.clone()));
        self.seen.insert(k, now_ms);
        Ok(())
    }

    /// Applies a reloaded configuration's window and capacity, keeping what is remembered
    /// (a smaller capacity refuses new nonces until enough expire).
    pub fn reconfigure(&mut self, window_ms: u64, capacity: usize) {
        self.window_ms = window_ms;
        self.capacity = capacity;
    }

    /// Unexpired nonces `key_id` holds.
    pub fn held_by(&self, key_id: &str) -> usize {
        self.per_key.get(key_id).copied().unwrap_or(0)
    }

    /// Nonces currently remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_expiry_and_bound() {
        let mut c = NonceCache::new(1000, 2);
        assert_eq!(c.check_and_insert("k", "n1", 0), Ok(()));
        assert_eq!(c.check_and_insert("k", "n1", 500), Err(NonceRejection::Replayed));
        assert_eq!(c.check_and_insert("other-key", "n1", 500), Ok(()), "nonces are per key");
        assert_eq!(c.check_and_insert("k", "n2", 600), Err(NonceRejection::Full));
        // After the window the first entries expire and room returns.
        assert_eq!(c.check_and_insert("k", "n2", 1600), Ok(()));
        assert_eq!(c.check_and_insert("k", "n1", 1700), Ok(()), "expired nonce is new again");
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn one_key_cannot_fill_the_cache_for_the_others() {
        let mut c = NonceCache::new(1000, 10);
        c.set_keys(3);
        assert_eq!(c.key_share(), 3);
        for n in ["n1", "n2", "n3"] {
            assert_eq!(c.check_and_insert("noisy", n, 0), Ok(()));
        }
        assert_eq!(c.check_and_insert("noisy", "n4", 0), Err(NonceRejection::Full), "past its share");
        assert_eq!(c.held_by("noisy"), 3);
        // The other keys still have theirs.
        for k in ["a", "b"] {
            for n in ["n1", "n2", "n3"] {
                assert_eq!(c.check_and_insert(k, n, 10), Ok(()), "{k} {n}");
            }
        }
        // The noisy key's share returns as its nonces expire, not before.
        assert_eq!(c.check_and_insert("noisy", "n4", 1000), Err(NonceRejection::Full));
        assert_eq!(c.check_and_insert("noisy", "n4", 1001), Ok(()));
        assert_eq!(c.held_by("noisy"), 1);
        // Fewer keys than capacity allows: each still gets one.
        c.set_keys(1000);
        assert_eq!(c.key_share(), 1);
    }

    #[test]
    fn reconfigure_keeps_what_is_remembered() {
        let mut c = NonceCache::new(1000, 10);
        assert_eq!(c.check_and_insert("k", "n1", 0), Ok(()));
        c.reconfigure(5000, 1);
        assert_eq!(c.check_and_insert("k", "n1", 3000), Err(NonceRejection::Replayed), "the longer window applies");
        assert_eq!(c.check_and_insert("k", "n2", 3000), Err(NonceRejection::Full));
        assert_eq!(c.check_and_insert("k", "n2", 5001), Ok(()));
    }
}
