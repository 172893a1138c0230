//! GET_ALL_TOPIC_CONFIG (21) and GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) read for their names
//! alone. On a big broker these bodies run to hundreds of KiB; a reader that needs only which
//! topics and groups exist skips every configuration instead of building it, and gets the same
//! names as [`TopicConfigWrapper`] and [`SubscriptionGroupWrapper`].

use std::collections::BTreeSet;

use super::{FromBody, SubscriptionGroupWrapper, TopicConfigWrapper};
use crate::error::BodyError;
use crate::fastjson::{self, Value};

/// The topics of a GET_ALL_TOPIC_CONFIG body (the keys of its `topicConfigTable`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicNames(pub BTreeSet<String>);

/// The groups of a GET_ALL_SUBSCRIPTIONGROUP_CONFIG body (the keys of its
/// `subscriptionGroupTable`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupNames(pub BTreeSet<String>);

/// The keys under `field`, read without the values; the whole document is parsed only where
/// that could give another answer (see [`fastjson::map_keys`]).
fn names<T: FromBody>(body: &[u8], field: &str, wrap: fn(BTreeSet<String>) -> T) -> Result<T, BodyError> {
    match fastjson::map_keys(body, field)? {
        Some(keys) => Ok(wrap(keys.into_iter().collect())),
        None => T::from_value(&fastjson::parse(body)?),
    }
}

impl FromBody for TopicNames {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        Ok(Self(TopicConfigWrapper::from_value(v)?.topic_config_table.into_keys().collect()))
    }

    fn decode(body: &[u8]) -> Result<Self, BodyError> {
        names(body, "topicConfigTable", Self)
    }
}

impl FromBody for GroupNames {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        Ok(Self(SubscriptionGroupWrapper::from_value(v)?.subscription_group_table.into_keys().collect()))
    }

    fn decode(body: &[u8]) -> Result<Self, BodyError> {
        names(body, "subscriptionGroupTable", Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names as the whole-body readers give them.
    fn whole(body: &str) -> (Result<BTreeSet<String>, ()>, Result<BTreeSet<String>, ()>) {
        let b = body.as_bytes();
        (
            TopicConfigWrapper::decode(b).map(|w| w.topic_config_table.into_keys().collect()).map_err(drop),
            SubscriptionGroupWrapper::decode(b).map(|w| w.subscription_group_table.into_keys().collect()).map_err(drop),
        )
    }

    fn fast(body: &str) -> (Result<BTreeSet<String>, ()>, Result<BTreeSet<String>, ()>) {
        let b = body.as_bytes();
        (TopicNames::decode(b).map(|n| n.0).map_err(drop), GroupNames::decode(b).map(|n| n.0).map_err(drop))
    }

    #[test]
    fn same_names_as_the_whole_readers() {
        for body in [
            // Java 4.9 (executed), with a 5.x mapping table beside it.
            r#"{"dataVersion":{"counter":0,"timestamp":1795264854737},"topicConfigTable":{"T1":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T1","topicSysFlag":0,"writeQueueNums":4},"%RETRY%G1":{"perm":6}},"topicQueueMappingInfoMap":{}}"#,
            r#"{"dataVersion":{"counter":0,"timestamp":1},"subscriptionGroupTable":{"G1":{"brokerId":0,"consumeEnable":true,"groupName":"G1","retryMaxTimes":16},"G2":{"attributes":{"a":"b"}}},"forbiddenTable":{}}"#,
            // Escaped, bare-numeric, null and object keys; a repeated key and a repeated field.
            r#"{"topicConfigTable":{"a\"b":{},7:{},null:{},{"x":1}:{},"a\"b":{"perm":2}},"topicConfigTable":{"other":{}}}"#,
            // Missing, empty, not an object.
            r#"{"dataVersion":{}}"#,
            r#"{"topicConfigTable":{},"subscriptionGroupTable":{}}"#,
            r#"{"topicConfigTable":[1,2],"subscriptionGroupTable":"x"}"#,
            // Not an object at all, and broken documents: errors on both sides.
            "[]",
            "3",
            r#"{"topicConfigTable":{"T1":{"perm":6}}"#,
            r#"{"topicConfigTable":{"T1":{"perm":6x}}}"#,
            r#"{"topicConfigTable":{"T1":1}} trailing"#,
            // Back-references: the table itself, a top-level key, and one inside a value.
            r#"{"x":{"T9":{}},"topicConfigTable":{"$ref":"$.x"},"subscriptionGroupTable":{"$ref":"$.x"}}"#,
            r#"{"$ref":"$.y","topicConfigTable":{"T1":{}}}"#,
            r#"{"topicConfigTable":{"T1":{"attributes":{"$ref":"$"}}}}"#,
        ] {
            assert_eq!(fast(body), whole(body), "{body}");
        }
        let (topics, _) = fast(r#"{"x":{"T9":{}},"topicConfigTable":{"$ref":"$.x"}}"#);
        assert_eq!(topics, Ok(["T9".to_owned()].into()), "a back-referenced table is resolved");
    }
}
