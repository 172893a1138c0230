//! One connection's count of the sends the broker accepted, by topic. A connection counts at
//! most [`MAX_TOPICS`] topic names (a client instance sends to a few; each name is kept for the
//! connection's life); sends to further topics are counted under `other`. A send in flight
//! refers to its topic by number, so counting one allocates nothing.

/// Distinct topic names one connection keeps.
pub(super) const MAX_TOPICS: usize = 16;

/// The name sends past [`MAX_TOPICS`] are counted under.
pub(super) const OTHER: &str = "other";

/// Counts by topic since the last drain.
#[derive(Debug, Default)]
pub(super) struct SendTally {
    topics: Vec<(Box<str>, u64)>,
    /// Sends to topics past the bound.
    other: u64,
    /// Whether anything was counted since the last drain.
    counted: bool,
}

/// A send's topic, as a [`SendTally`] refers to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TopicId {
    /// The n-th kept name.
    Kept(u8),
    /// Past the bound.
    Other,
}

impl SendTally {
    /// The id of `topic`, keeping the name if it is new and there is room.
    pub(super) fn intern(&mut self, topic: Option<&str>) -> Option<TopicId> {
        let topic = topic?;
        if let Some(i) = self.topics.iter().position(|(t, _)| &**t == topic) {
            return u8::try_from(i).ok().map(TopicId::Kept);
        }
        if self.topics.len() >= MAX_TOPICS {
            return Some(TopicId::Other);
        }
        self.topics.push((topic.into(), 0));
        u8::try_from(self.topics.len() - 1).ok().map(TopicId::Kept)
    }

    /// Counts one accepted send.
    pub(super) fn count(&mut self, id: TopicId) {
        match id {
            TopicId::Kept(i) => {
                if let Some((_, n)) = self.topics.get_mut(usize::from(i)) {
                    *n += 1;
                }
            }
            TopicId::Other => self.other += 1,
        }
        self.counted = true;
    }

    /// Whether nothing was counted since the last drain.
    pub(super) fn is_empty(&self) -> bool {
        !self.counted
    }

    /// The counts since the last drain, by topic; they start again from zero.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (String, u64)> + '_ {
        self.counted = false;
        let other = std::mem::take(&mut self.other);
        self.topics
            .iter_mut()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| (t.to_string(), std::mem::take(n)))
            .chain((other > 0).then(|| (OTHER.to_owned(), other)))
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
        assert_eq!(t.intern(Some("A")), Some(a), "kept once");
        assert!(t.is_empty(), "keeping a name counts nothing");
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
    fn topics_past_the_bound_are_counted_as_other() {
        let mut t = SendTally::default();
        for i in 0..MAX_TOPICS {
            assert!(matches!(t.intern(Some(&format!("t{i}"))), Some(TopicId::Kept(_))));
        }
        let over = t.intern(Some("one-too-many")).expect("an id");
        assert_eq!(over, TopicId::Other);
        t.count(over);
        assert_eq!(t.drain().collect::<Vec<_>>(), [(OTHER.to_owned(), 1)]);
        assert_eq!(t.intern(None), None);
    }
}
