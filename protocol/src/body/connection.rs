//! Connection lists: GET_CONSUMER_CONNECTION_LIST (203) and GET_PRODUCER_CONNECTION_LIST (204).

use std::collections::BTreeMap;

use super::{Fields, FromBody, object, string_keyed};
use crate::codes::LanguageCode;
use crate::error::BodyError;
use crate::fastjson::Value;

/// One client connection as the broker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connection {
    /// Client id (`ip@pid` by default).
    pub client_id: String,
    /// Socket peer as the broker sees it (behind a proxy: the proxy).
    pub client_addr: String,
    /// Language from the client's heartbeat; `None` when an older broker dropped it.
    pub language: Option<LanguageCode>,
    /// `MQVersion` ordinal from the heartbeat.
    pub version: i32,
}

fn connections(v: &Value) -> Vec<Connection> {
    v.get("connectionSet")
        .map(Value::items)
        .unwrap_or_default()
        .iter()
        .map(|c| Connection {
            client_id: c.str_or_default("clientId"),
            client_addr: c.str_or_default("clientAddr"),
            language: c.opt_str("language").and_then(|l| LanguageCode::from_name(&l)),
            version: i32::try_from(c.i64_or_zero("version")).unwrap_or(0),
        })
        .collect()
}

/// A topic subscription of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionData {
    /// Topic.
    pub topic: String,
    /// Filter expression (`*`, `TagA || TagB`, SQL92 …).
    pub sub_string: String,
    /// `TAG` or `SQL92`.
    pub expression_type: String,
}

/// The 203 body (`ConsumerConnection`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerConnection {
    /// Live connections of the group.
    pub connection_set: Vec<Connection>,
    /// Topic → subscription.
    pub subscription_table: BTreeMap<String, SubscriptionData>,
    /// `CONSUME_ACTIVELY`, `CONSUME_PASSIVELY` or `CONSUME_POP`.
    pub consume_type: String,
    /// `CLUSTERING` or `BROADCASTING`.
    pub message_model: String,
    /// Where a new group starts.
    pub consume_from_where: String,
}

impl FromBody for ConsumerConnection {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "ConsumerConnection")?;
        Ok(Self {
            connection_set: connections(v),
            subscription_table: string_keyed(v, "subscriptionTable")
                .map(|(topic, s)| {
                    let sub = SubscriptionData {
                        topic: s.opt_str("topic").unwrap_or_else(|| topic.clone()),
                        sub_string: s.str_or_default("subString"),
                        expression_type: s.str_or_default("expressionType"),
                    };
                    (topic, sub)
                })
                .collect(),
            consume_type: v.str_or_default("consumeType"),
            message_model: v.str_or_default("messageModel"),
            consume_from_where: v.str_or_default("consumeFromWhere"),
        })
    }
}

/// The 204 body (`ProducerConnection`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerConnection {
    /// Live connections of the producer group.
    pub connection_set: Vec<Connection>,
}

impl FromBody for ProducerConnection {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        Ok(Self { connection_set: connections(object(v, "ProducerConnection")?) })
    }
}
