//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201): the broker's subscription groups.

use std::collections::BTreeMap;

use super::{Fields, FromBody, object, string_keyed};
use crate::error::BodyError;
use crate::fastjson::Value;

/// One subscription group's configuration (the fields operators look at).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionGroupConfig {
    /// Group name.
    pub group_name: String,
    /// Consumption enabled.
    pub consume_enable: bool,
    /// Broadcast consumption allowed.
    pub consume_broadcast_enable: bool,
    /// Retry queue count.
    pub retry_queue_nums: i32,
    /// Max retries before DLQ.
    pub retry_max_times: i32,
    /// 5.x: orderly consumption.
    pub consume_message_orderly: bool,
}

/// The 201 body (`SubscriptionGroupManager` / `SubscriptionGroupWrapper`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionGroupWrapper {
    /// Group name → config.
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

impl FromBody for SubscriptionGroupWrapper {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "SubscriptionGroupWrapper")?;
        let table = string_keyed(v, "subscriptionGroupTable")
            .map(|(name, g)| {
                let cfg = SubscriptionGroupConfig {
                    group_name: g.opt_str("groupName").unwrap_or_else(|| name.clone()),
                    consume_enable: g.bool_or("consumeEnable", true),
                    consume_broadcast_enable: g.bool_or("consumeBroadcastEnable", true),
                    retry_queue_nums: i32::try_from(g.i64_or_zero("retryQueueNums")).unwrap_or(0),
                    retry_max_times: i32::try_from(g.i64_or_zero("retryMaxTimes")).unwrap_or(0),
                    consume_message_orderly: g.bool_or("consumeMessageOrderly", false),
                };
                (name, cfg)
            })
            .collect();
        Ok(Self { subscription_group_table: table })
    }
}
