//! QUERY_CONSUME_QUEUE (321): consume-queue entries of one queue from an index on, each
//! naming where its message sits in the commitlog.

use super::{Fields, FromBody, object};
use crate::error::BodyError;
use crate::fastjson::Value;

/// One consume-queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConsumeQueueUnit {
    /// The message's commitlog offset, bytes.
    pub physic_offset: i64,
    /// The message's size in the commitlog, bytes.
    pub physic_size: i32,
}

/// The 321 body (`QueryConsumeQueueResponseBody`), without the subscription and filter
/// details. A broker that has no entry at the asked index answers SUCCESS with no body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryConsumeQueueResponse {
    /// Entries from the asked index on.
    pub queue_data: Vec<ConsumeQueueUnit>,
    /// The queue's max offset (one past its last entry).
    pub max_queue_index: i64,
    /// The queue's min offset.
    pub min_queue_index: i64,
}

impl FromBody for QueryConsumeQueueResponse {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "QueryConsumeQueueResponseBody")?;
        Ok(Self {
            queue_data: v
                .get("queueData")
                .map(Value::items)
                .unwrap_or_default()
                .iter()
                .map(|u| ConsumeQueueUnit {
                    physic_offset: u.i64_or_zero("physicOffset"),
                    physic_size: i32::try_from(u.i64_or_zero("physicSize")).unwrap_or(0),
                })
                .collect(),
            max_queue_index: v.i64_or_zero("maxQueueIndex"),
            min_queue_index: v.i64_or_zero("minQueueIndex"),
        })
    }
}
