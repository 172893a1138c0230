//! Nonces seen within the clock-skew window, for `rmq-hmac-v1` replay protection. One cache
//! per process, shared by every listener (a request accepted on the main port is a replay on
//! the VIP port). Bounded: entries older than the window are dropped as time passes, and when
//! the cache is full a new nonce is refused (fail closed) rather than an unexpired one
//! forgotten.

use std::collections::{HashMap, VecDeque};

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRejection {
    /// Seen before within the window.
    Replayed,
    /// The cache holds `capacity` unexpired nonces.
    Full,
}

/// A bounded set of recent nonces, keyed by key id and nonce.
#[derive(Debug)]
pub struct NonceCache {
    window_ms: u64,
    capacity: usize,
    seen: HashMap<(String, String), u64>,
    order: VecDeque<(u64, String, String)>,
}

impl NonceCache {
    /// A cache remembering nonces for `window_ms` (the verifier's ±skew, so twice the skew),
    /// holding at most `capacity`.
    pub fn new(window_ms: u64, capacity: usize) -> Self {
        Self { window_ms, capacity, seen: HashMap::new(), order: VecDeque::new() }
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some((t, _, _)) = self.order.front() {
            if now_ms.saturating_sub(*t) <= self.window_ms {
                break;
            }
            if let Some((_, k, n)) = self.order.pop_front() {
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
        if self.seen.len() >= self.capacity {
            return Err(NonceRejection::Full);
        }
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
    fn reconfigure_keeps_what_is_remembered() {
        let mut c = NonceCache::new(1000, 10);
        assert_eq!(c.check_and_insert("k", "n1", 0), Ok(()));
        c.reconfigure(5000, 1);
        assert_eq!(c.check_and_insert("k", "n1", 3000), Err(NonceRejection::Replayed), "the longer window applies");
        assert_eq!(c.check_and_insert("k", "n2", 3000), Err(NonceRejection::Full));
        assert_eq!(c.check_and_insert("k", "n2", 5001), Ok(()));
    }
}
