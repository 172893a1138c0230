//! Topic bodies: GET_ALL_TOPIC_CONFIG (21) and GET_TOPIC_STATS_INFO (202).

use std::collections::BTreeMap;

use super::{Fields, FromBody, object, string_keyed};
use crate::error::BodyError;
use crate::fastjson::Value;

/// A queue of a topic on a broker; fastjson writes it as an object *key*.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageQueue {
    /// Topic name.
    pub topic: String,
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
}

impl MessageQueue {
    /// Reads a queue used as a map key: Java's fastjson writes the object itself as the key
    /// (`{{"brokerName":…}:…}`); RocketMQ-Rust writes it as a string holding that object's
    /// JSON (`{"{\"topic\":…}":…}`). Both read the same; anything else is `None`.
    pub fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Object(_) => Self::from_object(v),
            Value::Str(s) if s.trim_start().starts_with('{') => {
                Self::from_object(&crate::fastjson::parse(s.as_bytes()).ok()?)
            }
            _ => None,
        }
    }

    fn from_object(v: &Value) -> Option<Self> {
        if !matches!(v, Value::Object(_)) {
            return None;
        }
        Some(Self {
            topic: v.str_or_default("topic"),
            broker_name: v.str_or_default("brokerName"),
            queue_id: i32::try_from(v.i64_or_zero("queueId")).ok()?,
        })
    }
}

/// One topic's configuration (`TopicConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicConfig {
    /// Topic name.
    pub topic_name: String,
    /// Read queue count.
    pub read_queue_nums: i32,
    /// Write queue count.
    pub write_queue_nums: i32,
    /// Permission bits: 2 write, 4 read, 1 inherit.
    pub perm: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    /// System flag bits.
    pub topic_sys_flag: i32,
    /// Ordered topic.
    pub order: bool,
    /// 5.x attributes.
    pub attributes: BTreeMap<String, String>,
}

fn i32_field(v: &Value, key: &str) -> i32 {
    i32::try_from(v.i64_or_zero(key)).unwrap_or(0)
}

impl TopicConfig {
    fn from_value(name: &str, v: &Value) -> Self {
        Self {
            topic_name: v.opt_str("topicName").unwrap_or_else(|| name.to_owned()),
            read_queue_nums: i32_field(v, "readQueueNums"),
            write_queue_nums: i32_field(v, "writeQueueNums"),
            perm: i32_field(v, "perm"),
            topic_filter_type: v.str_or_default("topicFilterType"),
            topic_sys_flag: i32_field(v, "topicSysFlag"),
            order: v.bool_or("order", false),
            attributes: string_keyed(v, "attributes")
                .filter_map(|(k, val)| Some((k, val.scalar_text()?.into_owned())))
                .collect(),
        }
    }
}

/// GET_ALL_TOPIC_CONFIG body (`TopicConfigSerializeWrapper`, 5.x `…AndMappingSerializeWrapper`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicConfigWrapper {
    /// Topic name → config.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// `dataVersion.counter`.
    pub data_version_counter: i64,
    /// `dataVersion.timestamp` (epoch ms).
    pub data_version_timestamp: i64,
}

impl FromBody for TopicConfigWrapper {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "TopicConfigSerializeWrapper")?;
        let dv = v.get("dataVersion");
        Ok(Self {
            topic_config_table: string_keyed(v, "topicConfigTable")
                .map(|(name, cfg)| {
                    let c = TopicConfig::from_value(&name, cfg);
                    (name, c)
                })
                .collect(),
            data_version_counter: dv.map_or(0, |d| d.i64_or_zero("counter")),
            data_version_timestamp: dv.map_or(0, |d| d.i64_or_zero("timestamp")),
        })
    }
}

/// Per-queue offsets in a topic's stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopicOffset {
    /// Smallest offset still stored.
    pub min_offset: i64,
    /// Next offset to be written.
    pub max_offset: i64,
    /// Store time of the last message (epoch ms), 0 if none.
    pub last_update_timestamp: i64,
}

/// GET_TOPIC_STATS_INFO body (`TopicStatsTable`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicStatsTable {
    /// Queue → offsets, sorted by queue.
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
    /// 5.3.3+: the topic's put TPS.
    pub topic_put_tps: Option<f64>,
}

impl FromBody for TopicStatsTable {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "TopicStatsTable")?;
        let offset_table = v
            .get("offsetTable")
            .map(Value::members)
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, o)| {
                Some((
                    MessageQueue::from_value(k)?,
                    TopicOffset {
                        min_offset: o.i64_or_zero("minOffset"),
                        max_offset: o.i64_or_zero("maxOffset"),
                        last_update_timestamp: o.i64_or_zero("lastUpdateTimestamp"),
                    },
                ))
            })
            .collect();
        Ok(Self { offset_table, topic_put_tps: v.opt_f64("topicPutTps") })
    }
}
