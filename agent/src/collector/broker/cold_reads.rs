//! How far behind the head of the commitlog each consumer group reads, and how far back the
//! broker still serves reads from memory: a group reading further back than that reads from
//! disk ("cold" consumption), slowing itself and, through the page cache it churns, everyone.
//!
//! The broker's own rule (4.9 and 5.x `DefaultMessageStore.getMessage`, the same one MQCloud
//! alerts on) treats a read as a disk read when the commitlog max offset minus the read
//! message's offset exceeds physical memory × `accessMessageInMemoryMaxRatio` % (default 40).
//! No upstream broker exports this per group: the stats names GROUP_GET_FROM_DISK_NUMS/SIZE
//! exist but nothing writes them (4.9.7, 5.3.3, develop, and the sohu fork alike), and the
//! per-group fall-behind the store records is a moment stat VIEW_BROKER_STATS_DATA cannot read.
//! So the agent measures it:
//!
//! - Each cycle it remembers (time, commitlog max offset). A queue whose last consumed message
//!   was stored at time T reads from at least where the commitlog was at the last remembered
//!   time ≤ T, which bounds the distance from above at no cost. (The commitlog's oldest message,
//!   `earliestMessageTimeStamp` at `commitLogMinOffset`, is a mark too, so on a small store
//!   every bound is tight enough.)
//! - Where that bound is unknown or not comfortably below the limit (under half of it), the
//!   agent asks QUERY_CONSUME_QUEUE for the commitlog offset of the next message the group
//!   reads: the exact distance. At most [`MAX_LOOKUPS`] per cycle; an answer is reused while
//!   the group's offset stays put.

use std::collections::{BTreeMap, HashMap, VecDeque};

use futures_util::StreamExt as _;
use prometheus_client::registry::Unit;
use rmq_protocol::RequestCode;
use rmq_protocol::body::{FromBody as _, QueryConsumeQueueResponse};
use rmq_protocol::request::{CommandHeader as _, QueryConsumeQueueRequestHeader};
use tokio::time::Instant;

use super::fetch::Fetched;
use crate::remoting::{Client, ClientError};
use rmq_runtime::metrics::{Family, Labels};

/// QUERY_CONSUME_QUEUE requests per cycle at most.
pub const MAX_LOOKUPS: usize = 64;

/// Commitlog marks kept; when full, every other one is dropped (coarser, still an upper bound).
const MAX_MARKS: usize = 4096;

/// Java's default `accessMessageInMemoryMaxRatio`.
const DEFAULT_RATIO_PERCENT: f64 = 40.0;

/// A queue at an index: (topic, queue id, queue offset).
type Position = (String, i32, i64);

/// Marks and exact lookups kept across cycles.
#[derive(Debug, Default)]
pub(super) struct ReadDistance {
    marks: VecDeque<(i64, i64)>,
    lookups: HashMap<Position, i64>,
}

/// One queue a group reads with a backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reader {
    group: String,
    pos: Position,
    /// Store time of the last message the group consumed there (0: none).
    last_timestamp: i64,
}

/// Physical memory as a Java broker on this host sees it (`MemTotal`), in bytes.
fn physical_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: f64 =
        text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kb * 1024.0)
}

impl ReadDistance {
    /// Remembers where the commitlog was at `now_ms`.
    fn mark(&mut self, now_ms: i64, max: i64) {
        if self.marks.back().is_some_and(|(_, m)| *m > max) {
            self.marks.clear();
        }
        self.marks.push_back((now_ms, max));
        if self.marks.len() > MAX_MARKS {
            let mut i = 0;
            self.marks.retain(|_| {
                i += 1;
                i % 2 == 0 || i == 1
            });
        }
    }

    /// An upper bound on how far behind `head` a read after the message stored at `ts` is.
    fn bound(&self, head: i64, ts: i64, earliest: Option<(i64, i64)>) -> Option<i64> {
        if ts <= 0 {
            return None;
        }
        let from_marks = self.marks.iter().rev().find(|(t, _)| *t <= ts).map(|(_, m)| *m);
        let from_earliest = earliest.filter(|(t, _)| *t > 0 && *t <= ts).map(|(_, m)| m);
        from_marks.into_iter().chain(from_earliest).max().map(|m| (head - m).max(0))
    }

    /// This cycle: marks the commitlog, finds every queue read with a backlog, looks up the
    /// ones that need it (recording failures), and returns
    /// `rocketmq_consumer_fall_behind_bytes{topic,group}` (max over the group's queues) and
    /// `rocketmq_broker_memory_read_limit_bytes`.
    pub(super) async fn collect(
        &mut self,
        c: &Client,
        d: &Fetched,
        concurrency: usize,
        deadline: Instant,
        failures: &mut Vec<(RequestCode, &'static str)>,
    ) -> Vec<Family> {
        let Some(head) = d.runtime.i64("commitLogMaxOffset") else { return Vec::new() };
        self.mark(d.now_ms, head);
        let ratio = d
            .properties
            .get_ignore_case("accessMessageInMemoryMaxRatio")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(DEFAULT_RATIO_PERCENT);
        let limit = physical_memory().map(|m| m * ratio / 100.0);
        let earliest = d.runtime.i64("earliestMessageTimeStamp").zip(d.runtime.i64("commitLogMinOffset"));
        let readers = readers(d);

        // Exact where the cheap bound could be near the limit (or the limit is unknown).
        let mut known: HashMap<Position, i64> = HashMap::new();
        let mut bounds: Vec<(usize, Option<i64>)> = Vec::new();
        let mut wanted: Vec<Position> = Vec::new();
        for (i, r) in readers.iter().enumerate() {
            if let Some(phys) = self.lookups.get(&r.pos) {
                known.insert(r.pos.clone(), *phys);
                continue;
            }
            let b = self.bound(head, r.last_timestamp, earliest);
            #[allow(clippy::cast_precision_loss)]
            let comfortably_hot = matches!((b, limit), (Some(b), Some(l)) if (b as f64) < l / 2.0);
            if !comfortably_hot && !wanted.contains(&r.pos) && wanted.len() < MAX_LOOKUPS {
                wanted.push(r.pos.clone());
            }
            bounds.push((i, b));
        }
        for (pos, r) in lookup(c, concurrency, wanted, deadline).await {
            match r {
                Ok(Some(phys)) => {
                    known.insert(pos, phys);
                }
                Ok(None) => {}
                Err(e) => failures.push((RequestCode::QUERY_CONSUME_QUEUE, e.kind())),
            }
        }
        self.lookups = known.clone();

        let mut per_group: BTreeMap<(String, String), i64> = BTreeMap::new();
        let bound_of: HashMap<usize, Option<i64>> = bounds.into_iter().collect();
        for (i, r) in readers.iter().enumerate() {
            let v = known.get(&r.pos).map(|p| (head - p).max(0)).or_else(|| bound_of.get(&i).copied().flatten());
            if let Some(v) = v {
                let e = per_group.entry((r.pos.0.clone(), r.group.clone())).or_default();
                *e = (*e).max(v);
            }
        }
        let id = &d.identity;
        let mut behind = Family::gauge(
            "rocketmq_consumer_fall_behind",
            "Commitlog bytes between the next message the group reads and the newest (max over its queues with a backlog).",
        )
        .with_unit(Unit::Bytes);
        for ((topic, group), v) in per_group {
            let l: Labels = vec![
                ("cluster", id.cluster.clone()),
                ("broker", id.broker.clone()),
                ("topic", topic),
                ("group", group),
            ];
            #[allow(clippy::cast_precision_loss)]
            behind.push(l, v as f64);
        }
        let mut out = vec![behind];
        if let Some(l) = limit {
            out.push(
                Family::gauge(
                    "rocketmq_broker_memory_read_limit",
                    "Reads further behind the commitlog's newest message than this are disk reads (physical memory x accessMessageInMemoryMaxRatio).",
                )
                .with_unit(Unit::Bytes)
                .with(vec![("cluster", id.cluster.clone()), ("broker", id.broker.clone())], l),
            );
        }
        out
    }
}

/// Every (group, queue) with a backlog, at the index of the next message the group reads (not
/// below the queue's min offset, where older messages were deleted). Retry and DLQ topics are
/// included: a group reads them too.
fn readers(d: &Fetched) -> Vec<Reader> {
    let mut out = Vec::new();
    for (group, list) in &d.consume {
        for s in list {
            for (mq, o) in &s.offset_table {
                if o.lag() <= 0 {
                    continue;
                }
                let min = d
                    .topic_stats
                    .get(&mq.topic)
                    .and_then(|t| t.offset_table.iter().find(|(q, _)| q.queue_id == mq.queue_id))
                    .map_or(0, |(_, x)| x.min_offset);
                out.push(Reader {
                    group: group.clone(),
                    pos: (mq.topic.clone(), mq.queue_id, o.consumer_offset.max(min)),
                    last_timestamp: o.last_timestamp,
                });
            }
        }
    }
    out
}

/// QUERY_CONSUME_QUEUE for each position: its message's commitlog offset (`None`: no entry
/// there). None are sent after `deadline`.
async fn lookup(
    c: &Client,
    concurrency: usize,
    positions: Vec<Position>,
    deadline: Instant,
) -> Vec<(Position, Result<Option<i64>, ClientError>)> {
    let code = RequestCode::QUERY_CONSUME_QUEUE;
    futures_util::stream::iter(positions.into_iter().map(|pos| async move {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (pos, Ok(None));
        }
        let h = QueryConsumeQueueRequestHeader {
            topic: pos.0.clone(),
            queue_id: pos.1,
            index: pos.2,
            count: 1,
            consumer_group: None,
        };
        let r = c
            .request(code, Some(h.to_ext_fields()), &[], Some(left))
            .await
            .and_then(|r| crate::remoting::success(code, r));
        let r = r.and_then(|resp| {
            if resp.body.is_empty() {
                return Ok(None);
            }
            let q = QueryConsumeQueueResponse::decode(&resp.body)
                .map_err(|cause| ClientError::Body { request: code, cause })?;
            Ok(q.queue_data.first().map(|u| u.physic_offset))
        });
        (pos, r)
    }))
    .buffer_unordered(concurrency.max(1))
    .collect()
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_come_from_the_last_mark_at_or_before_the_store_time() {
        let mut r = ReadDistance::default();
        r.mark(1_000, 100);
        r.mark(2_000, 300);
        r.mark(3_000, 700);
        // Stored at 2.5 s: at or after where the log was at 2 s.
        assert_eq!(r.bound(1_000, 2_500, None), Some(700));
        assert_eq!(r.bound(1_000, 3_000, None), Some(300));
        // Before every mark: unknown, unless the oldest message bounds it.
        assert_eq!(r.bound(1_000, 500, None), None);
        assert_eq!(r.bound(1_000, 500, Some((400, 0))), Some(1_000));
        // The closer of the two wins.
        assert_eq!(r.bound(1_000, 2_500, Some((100, 0))), Some(700));
        // Nothing consumed yet: unknown.
        assert_eq!(r.bound(1_000, 0, Some((100, 0))), None);
    }

    #[test]
    fn marks_stay_bounded_and_restart_when_the_log_goes_back() {
        let mut r = ReadDistance::default();
        for i in 0..(MAX_MARKS as i64 + 10) {
            r.mark(i, i);
        }
        assert!(r.marks.len() <= MAX_MARKS);
        assert_eq!(r.marks.front(), Some(&(0, 0)), "the oldest mark survives thinning");
        r.mark(1_000_000, 5);
        assert_eq!(r.marks.len(), 1);
    }
}
