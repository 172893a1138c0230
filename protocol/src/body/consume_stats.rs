//! Consumer progress: GET_CONSUME_STATS (208) and GET_BROKER_CONSUME_STATS (317).

use std::collections::BTreeMap;

use super::{Fields, FromBody, MessageQueue, object};
use crate::error::BodyError;
use crate::fastjson::{self, Value};

/// One queue's progress for a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffsetWrapper {
    /// The queue's max offset on the broker.
    pub broker_offset: i64,
    /// The group's committed offset.
    pub consumer_offset: i64,
    /// 5.1+: the highest offset pulled (never below the consumer offset).
    pub pull_offset: Option<i64>,
    /// Store time of message `consumer_offset - 1` (epoch ms), 0 if none.
    pub last_timestamp: i64,
}

impl OffsetWrapper {
    /// Messages not yet consumed on this queue (never negative).
    pub fn lag(&self) -> i64 {
        (self.broker_offset - self.consumer_offset).max(0)
    }
}

/// A group's progress on one or more topics (`ConsumeStats`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStats {
    /// Queue → progress, sorted by queue.
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
    /// Consume TPS; `None` when fastjson wrote NaN as null.
    pub consume_tps: Option<f64>,
}

impl ConsumeStats {
    /// Σ(broker offset − consumer offset), as `ConsumeStats.computeTotalDiff`.
    pub fn total_diff(&self) -> i64 {
        self.offset_table.values().map(|o| o.broker_offset - o.consumer_offset).sum()
    }
}

impl FromBody for ConsumeStats {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "ConsumeStats")?;
        let offset_table = v
            .get("offsetTable")
            .map(Value::members)
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, o)| {
                Some((
                    MessageQueue::from_value(k)?,
                    OffsetWrapper {
                        broker_offset: o.i64_or_zero("brokerOffset"),
                        consumer_offset: o.i64_or_zero("consumerOffset"),
                        pull_offset: o.get("pullOffset").and_then(Value::as_i64),
                        last_timestamp: o.i64_or_zero("lastTimestamp"),
                    },
                ))
            })
            .collect();
        Ok(Self { offset_table, consume_tps: v.opt_f64("consumeTps") })
    }
}

/// GET_BROKER_CONSUME_STATS body (`ConsumeStatsList`): every group on the broker at once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStatsList {
    /// The broker's `brokerIP1:listenPort`.
    pub broker_addr: String,
    /// Group → one `ConsumeStats` per topic the group has offsets for.
    pub groups: BTreeMap<String, Vec<ConsumeStats>>,
    /// Σ of every group's diff.
    pub total_diff: i64,
    /// 5.1+: in-flight diff.
    pub total_inflight_diff: Option<i64>,
}

/// Adds one item of `consumeStatsList` (`{group: [ConsumeStats, …], …}`) to `groups`.
fn add_entry(groups: &mut BTreeMap<String, Vec<ConsumeStats>>, entry: &Value) -> Result<(), BodyError> {
    for (group, list) in entry.members() {
        let Some(group) = group.scalar_text() else {
            continue;
        };
        let stats = list.items().iter().map(ConsumeStats::from_value).collect::<Result<Vec<_>, _>>()?;
        groups.entry(group.into_owned()).or_default().extend(stats);
    }
    Ok(())
}

impl FromBody for ConsumeStatsList {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "ConsumeStatsList")?;
        let mut groups: BTreeMap<String, Vec<ConsumeStats>> = BTreeMap::new();
        for entry in v.get("consumeStatsList").map(Value::items).unwrap_or_default() {
            add_entry(&mut groups, entry)?;
        }
        Ok(Self {
            broker_addr: v.str_or_default("brokerAddr"),
            groups,
            total_diff: v.i64_or_zero("totalDiff"),
            total_inflight_diff: v.get("totalInflightDiff").and_then(Value::as_i64),
        })
    }

    /// Reads the list one group's entry at a time: a big broker's body (hundreds of KiB) is
    /// never held as one parsed tree, which would take several times its size at once. Reads
    /// what [`Self::from_value`] reads from the whole document.
    fn decode(body: &[u8]) -> Result<Self, BodyError> {
        let mut groups: BTreeMap<String, Vec<ConsumeStats>> = BTreeMap::new();
        let (mut list_seen, mut scalars) = (false, Vec::new());
        let streamed = fastjson::stream_object(body, |k, r| {
            let name = k.as_str().unwrap_or_default();
            if name == "consumeStatsList" && !list_seen {
                // As `Value::get`, only the first member of a name counts.
                list_seen = true;
                r.each_item(|entry| add_entry(&mut groups, &entry))
            } else if matches!(name, "brokerAddr" | "totalDiff" | "totalInflightDiff") {
                scalars.push((k.clone(), r.value()?));
                Ok(())
            } else {
                r.skip()?;
                Ok(())
            }
        })?;
        if !streamed {
            return Self::from_value(&fastjson::parse(body)?);
        }
        let v = Value::Object(scalars);
        Ok(Self {
            broker_addr: v.str_or_default("brokerAddr"),
            groups,
            total_diff: v.i64_or_zero("totalDiff"),
            total_inflight_diff: v.get("totalInflightDiff").and_then(Value::as_i64),
        })
    }
}
