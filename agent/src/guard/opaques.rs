//! A bounded map keyed by request opaque: requests a connection forwarded and is still owed an
//! answer to. When full, the oldest entry is forgotten (and counted by the caller), so a peer
//! that never answers cannot grow it; every operation is amortised O(1).

use std::collections::{HashMap, VecDeque};

/// Entries by opaque, at most `capacity`, oldest evicted first.
#[derive(Debug)]
pub(super) struct Opaques<V> {
    capacity: usize,
    seq: u64,
    entries: HashMap<i32, (u64, V)>,
    /// Insertion order; may hold stale (opaque, seq) pairs for entries removed or replaced,
    /// skipped on eviction and compacted away when it grows past twice the capacity.
    order: VecDeque<(i32, u64)>,
}

impl<V> Opaques<V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(super) fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), seq: 0, entries: HashMap::new(), order: VecDeque::new() }
    }

    /// Inserts (or replaces) `opaque`; returns how many older entries were evicted to make room.
    pub(super) fn insert(&mut self, opaque: i32, value: V) -> usize {
        self.seq += 1;
        self.entries.insert(opaque, (self.seq, value));
        self.order.push_back((opaque, self.seq));
        let mut evicted = 0;
        while self.entries.len() > self.capacity {
            let Some((op, seq)) = self.order.pop_front() else { break };
            if self.entries.get(&op).is_some_and(|(s, _)| *s == seq) {
                self.entries.remove(&op);
                evicted += 1;
            }
        }
        if self.order.len() > 2 * self.capacity + 16 {
            let entries = &self.entries;
            self.order.retain(|(op, seq)| entries.get(op).is_some_and(|(s, _)| s == seq));
        }
        evicted
    }

    /// Removes and returns the entry for `opaque`.
    pub(super) fn remove(&mut self, opaque: i32) -> Option<V> {
        self.entries.remove(&opaque).map(|(_, v)| v)
    }

    /// Entries held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is held.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_is_evicted_at_capacity() {
        let mut m = Opaques::new(2);
        assert_eq!(m.insert(1, 'a'), 0);
        assert_eq!(m.insert(2, 'b'), 0);
        assert_eq!(m.insert(3, 'c'), 1);
        assert_eq!(m.remove(1), None, "oldest forgotten");
        assert_eq!(m.remove(2), Some('b'));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn replaced_and_removed_entries_do_not_count_as_oldest() {
        let mut m = Opaques::new(2);
        m.insert(1, 'a');
        m.insert(2, 'b');
        m.insert(1, 'A'); // 1 is now the newest
        assert_eq!(m.insert(3, 'c'), 1);
        assert_eq!(m.remove(2), None, "2 was the oldest live entry");
        assert_eq!(m.remove(1), Some('A'));
        assert_eq!(m.remove(3), Some('c'));
        assert!(m.is_empty());
    }

    #[test]
    fn order_queue_stays_bounded_under_churn() {
        let mut m = Opaques::new(4);
        for i in 0..10_000 {
            m.insert(i, ());
            m.remove(i);
            m.insert(-1, ()); // the same opaque replaced over and over
        }
        assert!(m.order.len() <= 2 * 4 + 16 + 1, "{}", m.order.len());
        assert_eq!(m.len(), 1);
    }
}
