//! Typed request headers: the custom-header objects Java turns into extFields.
//!
//! Field names are the Java field names (`makeCustomHeaderToNet`); values are `toString()`
//! of the field; absent optional fields are left out.

use crate::codes::RequestCode;
use crate::error::BodyError;
use crate::header::{ExtFields, Header};

/// A typed request header.
pub trait CommandHeader: Sized {
    /// The request code this header goes with.
    const CODE: RequestCode;

    /// The header as extFields.
    fn to_ext_fields(&self) -> ExtFields;

    /// Reads the header back from extFields.
    fn from_ext_fields(ext: &ExtFields) -> Result<Self, BodyError>;

    /// A request header carrying this custom header.
    fn to_header(&self, opaque: i32) -> Header {
        let mut h = Header::request(Self::CODE, opaque);
        h.ext_fields = Some(self.to_ext_fields());
        h
    }
}

fn required<'e>(ext: &'e ExtFields, key: &'static str) -> Result<&'e str, BodyError> {
    ext.get(key).ok_or(BodyError::Field(key))
}

fn parse<T: std::str::FromStr>(ext: &ExtFields, key: &'static str) -> Result<T, BodyError> {
    required(ext, key)?.trim().parse().map_err(|_| BodyError::Field(key))
}

fn optional<T: std::str::FromStr>(ext: &ExtFields, key: &'static str) -> Result<Option<T>, BodyError> {
    ext.get(key).map(|v| v.trim().parse().map_err(|_| BodyError::Field(key))).transpose()
}

/// Java's `Boolean.parseBoolean`: only a case-insensitive "true" is true.
fn java_bool(v: &str) -> bool {
    v.eq_ignore_ascii_case("true")
}

/// Defines a header struct whose fields are all strings or `Option<String>`, plus its
/// extFields mapping.
macro_rules! string_header {
    (
        $(#[$meta:meta])* $name:ident = $code:ident {
            $( $(#[$fmeta:meta])* $field:ident: $java:literal $(, $opt:ident)?; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: string_header!(@ty $($opt)?), )*
        }

        impl CommandHeader for $name {
            const CODE: RequestCode = RequestCode::$code;

            fn to_ext_fields(&self) -> ExtFields {
                let mut ext = ExtFields::new();
                $( string_header!(@put ext, self.$field, $java $(, $opt)?); )*
                ext
            }

            fn from_ext_fields(ext: &ExtFields) -> Result<Self, BodyError> {
                Ok(Self { $( $field: string_header!(@get ext, $java $(, $opt)?), )* })
            }
        }
    };
    (@ty) => { String };
    (@ty opt) => { Option<String> };
    (@put $ext:ident, $v:expr, $java:literal) => { $ext.insert($java, $v.clone()) };
    (@put $ext:ident, $v:expr, $java:literal, opt) => { if let Some(v) = &$v { $ext.insert($java, v.clone()) } };
    (@get $ext:ident, $java:literal) => { required($ext, $java)?.to_owned() };
    (@get $ext:ident, $java:literal, opt) => { $ext.get($java).map(str::to_owned) };
}

string_header! {
    /// GET_TOPIC_STATS_INFO (202).
    GetTopicStatsInfoRequestHeader = GET_TOPIC_STATS_INFO {
        /// Topic.
        topic: "topic";
    }
}

string_header! {
    /// GET_CONSUME_STATS (208). Without `topic` the broker reports every topic the group
    /// has offsets for.
    GetConsumeStatsRequestHeader = GET_CONSUME_STATS {
        /// Consumer group.
        consumer_group: "consumerGroup";
        /// Topic, optional.
        topic: "topic", opt;
    }
}

string_header! {
    /// VIEW_BROKER_STATS_DATA (315).
    ViewBrokerStatsDataRequestHeader = VIEW_BROKER_STATS_DATA {
        /// Stats name, e.g. `TOPIC_PUT_NUMS`.
        stats_name: "statsName";
        /// Stats key, e.g. `<topic>` or `<topic>@<group>`.
        stats_key: "statsKey";
    }
}

string_header! {
    /// GET_CONSUMER_CONNECTION_LIST (203).
    GetConsumerConnectionListRequestHeader = GET_CONSUMER_CONNECTION_LIST {
        /// Consumer group.
        consumer_group: "consumerGroup";
    }
}

string_header! {
    /// GET_PRODUCER_CONNECTION_LIST (204).
    GetProducerConnectionListRequestHeader = GET_PRODUCER_CONNECTION_LIST {
        /// Producer group.
        producer_group: "producerGroup";
    }
}

string_header! {
    /// GET_CONSUMER_RUNNING_INFO (307): the broker relays it to the client, which answers.
    GetConsumerRunningInfoRequestHeader = GET_CONSUMER_RUNNING_INFO {
        /// Consumer group.
        consumer_group: "consumerGroup";
        /// The client (`clientId` from the group's connection list).
        client_id: "clientId";
        /// `"true"` to have the client include a thread dump.
        jstack_enable: "jstackEnable", opt;
    }
}

string_header! {
    /// GET_ROUTEINFO_BY_TOPIC (105). `acceptStandardJsonOnly` = "true" asks a 4.9.4+ name
    /// server for strict JSON.
    GetRouteInfoRequestHeader = GET_ROUTEINFO_BY_TOPIC {
        /// Topic.
        topic: "topic";
        /// `"true"` for strict JSON.
        accept_standard_json_only: "acceptStandardJsonOnly", opt;
    }
}

string_header! {
    /// DELETE_TOPIC_IN_BROKER (215).
    DeleteTopicRequestHeader = DELETE_TOPIC_IN_BROKER {
        /// Topic.
        topic: "topic";
    }
}

string_header! {
    /// DELETE_SUBSCRIPTIONGROUP (207).
    DeleteSubscriptionGroupRequestHeader = DELETE_SUBSCRIPTIONGROUP {
        /// Group name.
        group_name: "groupName";
        /// 5.x: also remove the group's offsets.
        clean_offset: "cleanOffset", opt;
    }
}

string_header! {
    /// UPDATE_CONSUMER_OFFSET (15): commit a group's offset on one queue.
    UpdateConsumerOffsetRequestHeader = UPDATE_CONSUMER_OFFSET {
        /// Consumer group.
        consumer_group: "consumerGroup";
        /// Topic.
        topic: "topic";
        /// Queue id (decimal).
        queue_id: "queueId";
        /// Offset to commit (decimal).
        commit_offset: "commitOffset";
    }
}

/// The body of UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200) for a group with Java's defaults.
pub fn subscription_group_body(group: &str) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    out.extend_from_slice(b"{\"brokerId\":0,\"consumeBroadcastEnable\":true,\"consumeEnable\":true,\"consumeFromMinEnable\":true,\"groupName\":");
    crate::header::put_json_str(&mut out, group);
    out.extend_from_slice(b",\"notifyConsumerIdsChangedEnable\":true,\"retryMaxTimes\":16,\"retryQueueNums\":1,\"whichBrokerWhenConsumeSlowly\":1}");
    out.to_vec()
}

/// GET_BROKER_CONSUME_STATS (317): every group's consume stats in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GetConsumeStatsInBrokerHeader {
    /// Only ordered topics.
    pub is_order: bool,
}

impl CommandHeader for GetConsumeStatsInBrokerHeader {
    const CODE: RequestCode = RequestCode::GET_BROKER_CONSUME_STATS;

    fn to_ext_fields(&self) -> ExtFields {
        [("isOrder", if self.is_order { "true" } else { "false" })].into_iter().collect()
    }

    fn from_ext_fields(ext: &ExtFields) -> Result<Self, BodyError> {
        Ok(Self { is_order: java_bool(required(ext, "isOrder")?) })
    }
}

/// QUERY_CONSUME_QUEUE (321): `count` consume-queue entries of one queue from `index` on.
/// Without `consumer_group` the broker skips evaluating the group's filter on each entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryConsumeQueueRequestHeader {
    /// Topic.
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    /// First consume-queue index (queue offset) asked.
    pub index: i64,
    /// Entries asked.
    pub count: i32,
    /// Consumer group whose filter the broker evaluates on each entry.
    pub consumer_group: Option<String>,
}

impl CommandHeader for QueryConsumeQueueRequestHeader {
    const CODE: RequestCode = RequestCode::QUERY_CONSUME_QUEUE;

    fn to_ext_fields(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        ext.insert("topic", self.topic.clone());
        ext.insert("queueId", self.queue_id.to_string());
        ext.insert("index", self.index.to_string());
        ext.insert("count", self.count.to_string());
        if let Some(g) = &self.consumer_group {
            ext.insert("consumerGroup", g.clone());
        }
        ext
    }

    fn from_ext_fields(ext: &ExtFields) -> Result<Self, BodyError> {
        Ok(Self {
            topic: required(ext, "topic")?.to_owned(),
            queue_id: parse(ext, "queueId")?,
            index: parse(ext, "index")?,
            count: parse(ext, "count")?,
            consumer_group: ext.get("consumerGroup").map(str::to_owned),
        })
    }
}

/// UPDATE_AND_CREATE_TOPIC (17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicRequestHeader {
    /// Topic to create or update.
    pub topic: String,
    /// Template topic (`TBW102` by convention).
    pub default_topic: String,
    /// Read queues.
    pub read_queue_nums: i32,
    /// Write queues.
    pub write_queue_nums: i32,
    /// Permission bits (6 = read + write).
    pub perm: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    /// System flag bits.
    pub topic_sys_flag: Option<i32>,
    /// Ordered topic.
    pub order: bool,
    /// 5.x attributes, as the `+key=value,…` string Java sends.
    pub attributes: Option<String>,
}

impl CreateTopicRequestHeader {
    /// A read-write topic with `queues` read and write queues and Java's defaults elsewhere.
    pub fn new(topic: impl Into<String>, queues: i32) -> Self {
        Self {
            topic: topic.into(),
            default_topic: "TBW102".into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
        }
    }
}

impl CommandHeader for CreateTopicRequestHeader {
    const CODE: RequestCode = RequestCode::UPDATE_AND_CREATE_TOPIC;

    fn to_ext_fields(&self) -> ExtFields {
        let mut e = ExtFields::with_capacity(9, 128);
        e.insert("topic", self.topic.clone());
        e.insert("defaultTopic", self.default_topic.clone());
        e.insert("readQueueNums", self.read_queue_nums.to_string());
        e.insert("writeQueueNums", self.write_queue_nums.to_string());
        e.insert("perm", self.perm.to_string());
        e.insert("topicFilterType", self.topic_filter_type.clone());
        if let Some(f) = self.topic_sys_flag {
            e.insert("topicSysFlag", f.to_string());
        }
        e.insert("order", self.order.to_string());
        if let Some(a) = &self.attributes {
            e.insert("attributes", a.clone());
        }
        e
    }

    fn from_ext_fields(ext: &ExtFields) -> Result<Self, BodyError> {
        Ok(Self {
            topic: required(ext, "topic")?.to_owned(),
            default_topic: required(ext, "defaultTopic")?.to_owned(),
            read_queue_nums: parse(ext, "readQueueNums")?,
            write_queue_nums: parse(ext, "writeQueueNums")?,
            perm: parse(ext, "perm")?,
            topic_filter_type: required(ext, "topicFilterType")?.to_owned(),
            topic_sys_flag: optional(ext, "topicSysFlag")?,
            order: ext.get("order").is_some_and(java_bool),
            attributes: ext.get("attributes").map(str::to_owned),
        })
    }
}

/// SEND_MESSAGE_V2 (310): `SendMessageRequestHeader` with one-letter keys `a`…`n`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SendMessageRequestHeaderV2 {
    /// `a`: producer group.
    pub producer_group: String,
    /// `b`: topic.
    pub topic: String,
    /// `c`: template topic for auto-creation.
    pub default_topic: String,
    /// `d`: queue count for auto-created topics.
    pub default_topic_queue_nums: i32,
    /// `e`: queue id.
    pub queue_id: i32,
    /// `f`: message system flag.
    pub sys_flag: i32,
    /// `g`: born timestamp (epoch ms).
    pub born_timestamp: i64,
    /// `h`: message flag.
    pub flag: i32,
    /// `i`: properties, encoded with [`encode_properties`].
    pub properties: Option<String>,
    /// `j`: reconsume times.
    pub reconsume_times: Option<i32>,
    /// `k`: unit mode.
    pub unit_mode: Option<bool>,
    /// `l`: max reconsume times.
    pub max_reconsume_times: Option<i32>,
    /// `m`: batch.
    pub batch: Option<bool>,
    /// `n`: broker name (5.x).
    pub broker_name: Option<String>,
}

impl CommandHeader for SendMessageRequestHeaderV2 {
    const CODE: RequestCode = RequestCode::SEND_MESSAGE_V2;

    fn to_ext_fields(&self) -> ExtFields {
        let mut e = ExtFields::with_capacity(14, 256);
        e.insert("a", self.producer_group.clone());
        e.insert("b", self.topic.clone());
        e.insert("c", self.default_topic.clone());
        e.insert("d", self.default_topic_queue_nums.to_string());
        e.insert("e", self.queue_id.to_string());
        e.insert("f", self.sys_flag.to_string());
        e.insert("g", self.born_timestamp.to_string());
        e.insert("h", self.flag.to_string());
        if let Some(v) = &self.properties {
            e.insert("i", v.clone());
        }
        if let Some(v) = self.reconsume_times {
            e.insert("j", v.to_string());
        }
        if let Some(v) = self.unit_mode {
            e.insert("k", v.to_string());
        }
        if let Some(v) = self.max_reconsume_times {
            e.insert("l", v.to_string());
        }
        if let Some(v) = self.batch {
            e.insert("m", v.to_string());
        }
        if let Some(v) = &self.broker_name {
            e.insert("n", v.clone());
        }
        e
    }

    fn from_ext_fields(ext: &ExtFields) -> Result<Self, BodyError> {
        Ok(Self {
            producer_group: required(ext, "a")?.to_owned(),
            topic: required(ext, "b")?.to_owned(),
            default_topic: required(ext, "c")?.to_owned(),
            default_topic_queue_nums: parse(ext, "d")?,
            queue_id: parse(ext, "e")?,
            sys_flag: parse(ext, "f")?,
            born_timestamp: parse(ext, "g")?,
            flag: parse(ext, "h")?,
            properties: ext.get("i").map(str::to_owned),
            reconsume_times: optional(ext, "j")?,
            unit_mode: ext.get("k").map(java_bool),
            max_reconsume_times: optional(ext, "l")?,
            batch: ext.get("m").map(java_bool),
            broker_name: ext.get("n").map(str::to_owned),
        })
    }
}

/// Message properties as Java's `MessageDecoder.messageProperties2String`:
/// `name \u0001 value \u0002` for each pair.
pub fn encode_properties<'a>(props: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = String::new();
    for (k, v) in props {
        s.push_str(k);
        s.push('\u{1}');
        s.push_str(v);
        s.push('\u{2}');
    }
    s
}

/// The reverse of [`encode_properties`]; malformed pairs are skipped.
pub fn decode_properties(s: &str) -> Vec<(&str, &str)> {
    s.split('\u{2}').filter_map(|pair| pair.split_once('\u{1}')).collect()
}

/// The response header of SEND_MESSAGE(_V2): where the message went.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SendMessageResponseHeader {
    /// Broker-assigned offset message id.
    pub msg_id: String,
    /// Queue written to.
    pub queue_id: i32,
    /// Offset within the queue.
    pub queue_offset: i64,
    /// Transaction id, if any.
    pub transaction_id: Option<String>,
}

impl SendMessageResponseHeader {
    /// Reads it from a response's extFields.
    pub fn from_ext_fields(ext: &ExtFields) -> Result<Self, BodyError> {
        Ok(Self {
            msg_id: required(ext, "msgId")?.to_owned(),
            queue_id: parse(ext, "queueId")?,
            queue_offset: parse(ext, "queueOffset")?,
            transaction_id: ext.get("transactionId").map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<H: CommandHeader + PartialEq + std::fmt::Debug>(h: H) {
        let ext = h.to_ext_fields();
        assert_eq!(H::from_ext_fields(&ext).unwrap(), h);
        assert_eq!(h.to_header(3).request_code(), H::CODE);
    }

    #[test]
    fn headers_round_trip() {
        round_trip(GetTopicStatsInfoRequestHeader { topic: "T1".into() });
        round_trip(GetConsumeStatsRequestHeader { consumer_group: "G".into(), topic: None });
        round_trip(GetConsumeStatsRequestHeader { consumer_group: "G".into(), topic: Some("T".into()) });
        round_trip(ViewBrokerStatsDataRequestHeader { stats_name: "TOPIC_PUT_NUMS".into(), stats_key: "T".into() });
        round_trip(GetConsumerConnectionListRequestHeader { consumer_group: "G".into() });
        round_trip(GetProducerConnectionListRequestHeader { producer_group: "P".into() });
        round_trip(GetConsumerRunningInfoRequestHeader {
            consumer_group: "G".into(),
            client_id: "10.0.0.9@1".into(),
            jstack_enable: Some("false".into()),
        });
        round_trip(QueryConsumeQueueRequestHeader {
            topic: "T".into(),
            queue_id: 3,
            index: 1 << 40,
            count: 1,
            consumer_group: None,
        });
        round_trip(GetRouteInfoRequestHeader { topic: "T".into(), accept_standard_json_only: Some("true".into()) });
        round_trip(DeleteTopicRequestHeader { topic: "T".into() });
        round_trip(DeleteSubscriptionGroupRequestHeader { group_name: "G".into(), clean_offset: None });
        round_trip(GetConsumeStatsInBrokerHeader { is_order: true });
        round_trip(CreateTopicRequestHeader::new("T", 8));
        round_trip(SendMessageRequestHeaderV2 {
            producer_group: "PG".into(),
            topic: "T".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 1,
            born_timestamp: 1_700_000_000_000,
            properties: Some(encode_properties([("TAGS", "TagA"), ("WAIT", "true")])),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            batch: Some(false),
            ..Default::default()
        });
    }

    #[test]
    fn wire_keys_match_java() {
        let ext = GetConsumeStatsInBrokerHeader { is_order: false }.to_ext_fields();
        assert_eq!(ext.get("isOrder"), Some("false"));
        let ext = CreateTopicRequestHeader::new("T", 4).to_ext_fields();
        let keys: Vec<_> = ext.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "topic",
                "defaultTopic",
                "readQueueNums",
                "writeQueueNums",
                "perm",
                "topicFilterType",
                "topicSysFlag",
                "order"
            ]
        );
        let v2 = SendMessageRequestHeaderV2 { topic: "T".into(), ..Default::default() }.to_ext_fields();
        assert_eq!(v2.get("b"), Some("T"));
        assert_eq!(v2.get("i"), None);
    }

    #[test]
    fn missing_and_invalid_fields() {
        assert_eq!(GetTopicStatsInfoRequestHeader::from_ext_fields(&ExtFields::new()), Err(BodyError::Field("topic")));
        let mut ext = CreateTopicRequestHeader::new("T", 4).to_ext_fields();
        ext.insert("perm", "rw");
        assert_eq!(CreateTopicRequestHeader::from_ext_fields(&ext), Err(BodyError::Field("perm")));
    }

    #[test]
    fn properties() {
        let s = encode_properties([("TAGS", "TagA"), ("WAIT", "true")]);
        assert_eq!(s, "TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}");
        assert_eq!(decode_properties(&s), vec![("TAGS", "TagA"), ("WAIT", "true")]);
    }

    #[test]
    fn send_response_header() {
        let ext: ExtFields = [("msgId", "AC1"), ("queueId", "2"), ("queueOffset", "17")].into_iter().collect();
        let r = SendMessageResponseHeader::from_ext_fields(&ext).unwrap();
        assert_eq!((r.queue_id, r.queue_offset), (2, 17));
    }
}
