//! Scheduled (delay-level) messages waiting in `SCHEDULE_TOPIC_XXXX`, per delay level, and
//! whether the broker delivers them on time.
//!
//! A message sent with delay level L waits in queue L−1 of `SCHEDULE_TOPIC_XXXX` until its
//! delay has passed; the broker then delivers the queue's messages in order and records how far
//! it got. Runtime info carries both per level as `scheduleMessageOffset_<L>` =
//! `"<delivered>,<max>"` (4.9 and 5.x alike), once a level has delivered something; a level
//! that never has is read from the topic's queue offsets (GET_TOPIC_STATS_INFO, already asked
//! for every topic). So no request is added.
//!
//! Messages of one level leave in the order they arrived, so the next message to deliver
//! (queue offset `delivered`) is due at the latest its level's delay after the first cycle that
//! saw it in the queue. `rocketmq_schedule_overdue_seconds` is how long after that moment it is
//! still waiting: 0 while delivery keeps up, growing once it stalls — a lower bound on how late
//! the head message is, never a guess that fires early.

use std::collections::{BTreeMap, VecDeque};

use prometheus_client::registry::Unit;

use super::fetch::Fetched;
use rmq_runtime::metrics::{Family, Labels};

/// The topic delay-level messages wait in.
pub(super) const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// Java's default `messageDelayLevel`.
const DEFAULT_DELAY_LEVELS: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// Queue sizes remembered per level while their messages wait; beyond it the newest are not
/// recorded, which can only make a message look due later than it is.
const MAX_MARKS: usize = 4096;

/// One level's queue as the cycles saw it grow: (first cycle time in ms, queue max offset then).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Level {
    marks: VecDeque<(i64, i64)>,
}

impl Level {
    /// Records this cycle's `max` and drops what was delivered; returns when the next message
    /// to deliver (offset `delivered`) was first seen, if one waits.
    fn observe(&mut self, now_ms: i64, delivered: i64, max: i64) -> Option<i64> {
        if self.marks.back().is_some_and(|(_, m)| *m > max) {
            // The queue went back (recreated, or the broker corrected its offsets).
            self.marks.clear();
        }
        if self.marks.back().is_none_or(|(_, m)| *m < max) && self.marks.len() < MAX_MARKS {
            self.marks.push_back((now_ms, max));
        }
        while self.marks.front().is_some_and(|(_, m)| *m <= delivered) {
            self.marks.pop_front();
        }
        (delivered < max).then(|| self.marks.front().map_or(now_ms, |(t, _)| *t))
    }
}

/// Per-level history kept across cycles.
#[derive(Debug, Default)]
pub(super) struct ScheduleProgress {
    levels: BTreeMap<i32, Level>,
}

/// A level's delay from `messageDelayLevel` text (`1s 5s … 2h`; units s, m, h, d), in seconds.
fn delay_seconds(levels: &str, level: i32) -> Option<(String, f64)> {
    let idx = usize::try_from(level.checked_sub(1)?).ok()?;
    let text = levels.split_whitespace().nth(idx)?;
    let unit = text.chars().last()?;
    let n: f64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let mult = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86_400.0,
        _ => return None,
    };
    Some((text.to_owned(), n * mult))
}

impl ScheduleProgress {
    /// `rocketmq_schedule_backlog_messages`, `rocketmq_schedule_delivered_messages_total` and
    /// `rocketmq_schedule_overdue_seconds`, labelled `level` and `delay` (the level's delay as
    /// configured, e.g. `10s`), for every level that has ever held a message.
    pub(super) fn families(&mut self, d: &Fetched) -> Vec<Family> {
        let mut per_level: BTreeMap<i32, (i64, i64)> = d.runtime.schedule_offsets();
        if let Some(stats) = d.topic_stats.get(SCHEDULE_TOPIC) {
            for (q, o) in &stats.offset_table {
                // A level not yet in runtime info has delivered nothing: everything in its
                // queue waits.
                if o.max_offset > 0 {
                    per_level.entry(q.queue_id + 1).or_insert((o.min_offset, o.max_offset));
                }
            }
        }
        let levels_text = d.properties.get_ignore_case("messageDelayLevel").unwrap_or(DEFAULT_DELAY_LEVELS);
        let id = &d.identity;
        let mut backlog = Family::gauge(
            "rocketmq_schedule_backlog_messages",
            "Scheduled messages of the delay level not yet delivered (SCHEDULE_TOPIC_XXXX).",
        );
        let mut delivered_f = Family::counter(
            "rocketmq_schedule_delivered_messages",
            "Messages the broker has delivered from the delay level's queue.",
        );
        let mut overdue = Family::gauge(
            "rocketmq_schedule_overdue",
            "How long past its latest due time the level's next message has waited (0: on time).",
        )
        .with_unit(Unit::Seconds);
        self.levels.retain(|l, _| per_level.contains_key(l));
        for (level, (delivered, max)) in per_level {
            let delay = delay_seconds(levels_text, level);
            let l: Labels = vec![
                ("cluster", id.cluster.clone()),
                ("broker", id.broker.clone()),
                ("level", level.to_string()),
                ("delay", delay.as_ref().map(|(t, _)| t.clone()).unwrap_or_default()),
            ];
            let first_seen = self.levels.entry(level).or_default().observe(d.now_ms, delivered, max);
            #[allow(clippy::cast_precision_loss)]
            {
                backlog.push(l.clone(), (max - delivered).max(0) as f64);
                delivered_f.push(l.clone(), delivered as f64);
                if let Some((_, delay_s)) = delay {
                    let late = first_seen.map_or(0.0, |t| ((d.now_ms - t) as f64 / 1000.0 - delay_s).max(0.0));
                    overdue.push(l, late);
                }
            }
        }
        vec![backlog, delivered_f, overdue]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::body::{MessageQueue, TopicOffset, TopicStatsTable};
    use rmq_runtime::metrics::Sample;

    fn cycle(
        p: &mut ScheduleProgress,
        now_ms: i64,
        runtime: &[(i32, i64, i64)],
        queues: &[(i32, i64, i64)],
    ) -> Vec<Family> {
        let mut d = Fetched { now_ms, ..Fetched::default() };
        for (level, delivered, max) in runtime {
            d.runtime.table.insert(format!("scheduleMessageOffset_{level}"), format!("{delivered},{max}"));
        }
        let offset_table = queues
            .iter()
            .map(|(q, min, max)| {
                let mq = MessageQueue { topic: SCHEDULE_TOPIC.into(), broker_name: "b".into(), queue_id: *q };
                (mq, TopicOffset { min_offset: *min, max_offset: *max, last_update_timestamp: 0 })
            })
            .collect();
        d.topic_stats.insert(SCHEDULE_TOPIC.into(), TopicStatsTable { offset_table, topic_put_tps: None });
        p.families(&d)
    }

    fn get(fams: &[Family], name: &str, level: &str) -> Option<f64> {
        fams.iter().find(|f| f.exposed_name() == name)?.samples.iter().find_map(|s| match s {
            Sample::Value(l, v) if l.iter().any(|(k, x)| *k == "level" && x == level) => Some(*v),
            _ => None,
        })
    }

    #[test]
    fn delays_as_configured() {
        assert_eq!(delay_seconds(DEFAULT_DELAY_LEVELS, 1), Some(("1s".into(), 1.0)));
        assert_eq!(delay_seconds(DEFAULT_DELAY_LEVELS, 5), Some(("1m".into(), 60.0)));
        assert_eq!(delay_seconds(DEFAULT_DELAY_LEVELS, 18), Some(("2h".into(), 7200.0)));
        assert_eq!(delay_seconds("1d 3x", 1), Some(("1d".into(), 86_400.0)));
        assert_eq!(delay_seconds("1d 3x", 2), None);
        assert_eq!(delay_seconds(DEFAULT_DELAY_LEVELS, 19), None);
        assert_eq!(delay_seconds(DEFAULT_DELAY_LEVELS, 0), None);
    }

    #[test]
    fn backlog_from_runtime_info_or_from_the_queue() {
        let mut p = ScheduleProgress::default();
        // Level 3 (10s) delivered 12 of 15; level 18 (queue 17) never delivered, 4 waiting;
        // queue 0 never used: no series.
        let f = cycle(&mut p, 1_000_000, &[(3, 12, 15)], &[(0, 0, 0), (2, 0, 15), (17, 0, 4)]);
        assert_eq!(get(&f, "rocketmq_schedule_backlog_messages", "3"), Some(3.0));
        assert_eq!(get(&f, "rocketmq_schedule_delivered_messages_total", "3"), Some(12.0));
        assert_eq!(get(&f, "rocketmq_schedule_backlog_messages", "18"), Some(4.0));
        assert_eq!(get(&f, "rocketmq_schedule_backlog_messages", "1"), None);
        let labels = match &f[0].samples[0] {
            Sample::Value(l, _) => l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            _ => panic!(),
        };
        assert_eq!(labels, ["cluster=", "broker=", "level=3", "delay=10s"]);
    }

    #[test]
    fn overdue_only_once_the_head_message_is_surely_late() {
        let mut p = ScheduleProgress::default();
        let s = 1000;
        let t0 = 1_000_000;
        // Level 3 (10 s): 2 messages seen at t0.
        let f = cycle(&mut p, t0, &[(3, 0, 2)], &[]);
        assert_eq!(get(&f, "rocketmq_schedule_overdue_seconds", "3"), Some(0.0));
        // 8 s later, a third arrives; nothing delivered yet but none is due for sure.
        let f = cycle(&mut p, t0 + 8 * s, &[(3, 0, 3)], &[]);
        assert_eq!(get(&f, "rocketmq_schedule_overdue_seconds", "3"), Some(0.0));
        // 15 s after t0 the first two should have gone 5 s ago at the latest.
        let f = cycle(&mut p, t0 + 15 * s, &[(3, 0, 3)], &[]);
        assert_eq!(get(&f, "rocketmq_schedule_overdue_seconds", "3"), Some(5.0));
        // Two delivered: the head is now the third, first seen at t0 + 8 s, due by t0 + 18 s.
        let f = cycle(&mut p, t0 + 16 * s, &[(3, 2, 3)], &[]);
        assert_eq!(get(&f, "rocketmq_schedule_overdue_seconds", "3"), Some(0.0));
        let f = cycle(&mut p, t0 + 20 * s, &[(3, 2, 3)], &[]);
        assert_eq!(get(&f, "rocketmq_schedule_overdue_seconds", "3"), Some(2.0));
        // All delivered: nothing waits, nothing is late.
        let f = cycle(&mut p, t0 + 21 * s, &[(3, 3, 3)], &[]);
        assert_eq!(get(&f, "rocketmq_schedule_overdue_seconds", "3"), Some(0.0));
        assert_eq!(get(&f, "rocketmq_schedule_backlog_messages", "3"), Some(0.0));
        // A new message a long time later is judged from when it was first seen.
        let f = cycle(&mut p, t0 + 100 * s, &[(3, 3, 4)], &[]);
        assert_eq!(get(&f, "rocketmq_schedule_overdue_seconds", "3"), Some(0.0));
    }
}
