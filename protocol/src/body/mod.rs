//! Typed response bodies the agent reads, decoded tolerantly from fastjson.
//!
//! Every field is optional on the wire (fastjson omits nulls, versions add and drop fields),
//! so a missing field reads as its zero value or `None`; unknown fields are ignored. Only a
//! body that is not fastjson at all, or whose top level has the wrong shape, is an error.

mod clients;
mod connection;
mod consume_queue;
mod consume_stats;
mod ha_status;
mod names;
mod properties;
mod route;
mod runtime_info;
mod stats;
mod subscription;
mod topic;

pub use clients::{ConsumeStatus, ConsumerRunningInfo, ProducerInfo, ProducerTableInfo};
pub use connection::{Connection, ConsumerConnection, ProducerConnection, SubscriptionData};
pub use consume_queue::{ConsumeQueueUnit, QueryConsumeQueueResponse};
pub use consume_stats::{ConsumeStats, ConsumeStatsList, OffsetWrapper};
pub use ha_status::{HaClientRuntimeInfo, HaConnectionInfo, HaRuntimeInfo};
pub use names::{GroupNames, TopicNames};
pub use properties::BrokerProperties;
pub use route::{BrokerData, ClusterInfo, QueueData, TopicList, TopicRouteData};
pub use runtime_info::{BrokerRuntimeInfo, PUT_DISTRIBUTION_BOUNDS_MS, PutDistribution, TpsWindows};
pub use stats::{BrokerStatsData, BrokerStatsItem};
pub use subscription::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
pub use topic::{MessageQueue, TopicConfig, TopicConfigWrapper, TopicOffset, TopicStatsTable};

use crate::error::BodyError;
use crate::fastjson::{self, Value};

/// A body type that can be read from a parsed fastjson document.
pub trait FromBody: Sized {
    /// Reads the type from a parsed document.
    fn from_value(v: &Value) -> Result<Self, BodyError>;

    /// Parses and reads a body.
    fn decode(body: &[u8]) -> Result<Self, BodyError> {
        Self::from_value(&fastjson::parse(body)?)
    }
}

/// Field helpers shared by the body readers.
pub(crate) trait Fields {
    fn str_or_default(&self, key: &str) -> String;
    fn opt_str(&self, key: &str) -> Option<String>;
    fn i64_or_zero(&self, key: &str) -> i64;
    fn opt_f64(&self, key: &str) -> Option<f64>;
    fn bool_or(&self, key: &str, default: bool) -> bool;
}

impl Fields for Value {
    fn str_or_default(&self, key: &str) -> String {
        self.opt_str(key).unwrap_or_default()
    }

    fn opt_str(&self, key: &str) -> Option<String> {
        self.get(key).and_then(|v| v.scalar_text()).map(|s| s.into_owned())
    }

    fn i64_or_zero(&self, key: &str) -> i64 {
        self.get(key).and_then(Value::as_i64).unwrap_or(0)
    }

    fn opt_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    fn bool_or(&self, key: &str, default: bool) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(default)
    }
}

/// Checks that the top level is an object.
pub(crate) fn object<'v>(v: &'v Value, what: &'static str) -> Result<&'v Value, BodyError> {
    match v {
        Value::Object(_) => Ok(v),
        _ => Err(BodyError::Shape(what)),
    }
}

/// Members of a map-valued field whose keys are strings, as (key, value) pairs. Bare numeric
/// keys are given as their decimal text. Missing or null maps are empty.
pub(crate) fn string_keyed<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = (String, &'v Value)> {
    v.get(key)
        .map(Value::members)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, val)| k.scalar_text().map(|t| (t.into_owned(), val)))
}

#[cfg(test)]
mod tests;
