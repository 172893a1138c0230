//! One connection's count of the sends the broker accepted, by topic: topic names are kept
//! once per connection (at most [`MAX_TOPICS`]) and a send in flight refers to its topic by
//! number, so counting a send allocates nothing.

use std::collections::HashMap;

/// Distinct topics one connection's sends are counted for; sends to further topics are not.
pub(super) const MAX_TOPICS: usize = 1024;

/// Counts by topic since the last drain.
#[derive(Debug, Default)]
pub(super) struct SendTally {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    counts: Vec<u64>,
    /// Topics with a count above zero.
    counted: usize,
}

impl SendTally {
    /// The number of `topic`, remembering it if new (and if there is room).
    pub(super) fn intern(&mut self, topic: Option<&str>) -> Option<u32> {
        let topic = topic?;
        if let Some(&id) = self.ids.get(topic) {
            return Some(id);
        }
        if self.names.len() >= MAX_TOPICS {
            return None;
        }
        let id = u32::try_from(self.names.len()).ok()?;
        self.ids.insert(topic.into(), id);
        self.names.push(topic.into());
        self.counts.push(0);
        Some(id)
    }

    /// Counts one accepted send to topic number `id`.
    pub(super) fn count(&mut self, id: u32) {
        if let Some(n) = self.counts.get_mut(id as usize) {
            if *n == 0 {
                self.counted += 1;
            }
            *n += 1;
        }
    }

    /// Whether nothing was counted since the last drain.
    pub(super) fn is_empty(&self) -> bool {
        self.counted == 0
    }

    /// The counts since the last drain, by topic; they start again from zero.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (String, u64)> + '_ {
        self.counted = 0;
        self.names
            .iter()
            .zip(self.counts.iter_mut())
            .filter(|(_, n)| **n > 0)
            .map(|(t, n)| (t.to_string(), std::mem::take(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_topic_and_drains_to_zero() {
        let mut t = SendTally::default();
        let a = t.intern(Some("A")).expect("room");
        let b = t.intern(Some("B")).expect("room");
        assert_eq!(t.intern(Some("A")), Some(a), "interned once");
        assert!(t.is_empty(), "interning counts nothing");
        t.count(a);
        t.count(a);
        t.count(b);
        let mut got: Vec<_> = t.drain().collect();
        got.sort();
        assert_eq!(got, [("A".to_owned(), 2), ("B".to_owned(), 1)]);
        assert!(t.is_empty());
        assert_eq!(t.drain().count(), 0);
    }

    #[test]
    fn topics_past_the_bound_are_not_counted() {
        let mut t = SendTally::default();
        for i in 0..MAX_TOPICS {
            assert!(t.intern(Some(&format!("t{i}"))).is_some());
        }
        assert_eq!(t.intern(Some("one-too-many")), None);
        assert_eq!(t.intern(None), None);
    }
}
