//! Name-server bodies: GET_ROUTEINFO_BY_TOPIC (105), GET_BROKER_CLUSTER_INFO (106) and
//! GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206). Broker ids arrive as bare numeric keys
//! (`{0:"…"}`) or, in the standard-JSON form, as quoted ones; both read the same.

use std::collections::BTreeMap;

use super::{Fields, FromBody, object, string_keyed};
use crate::error::BodyError;
use crate::fastjson::Value;

/// A broker name's addresses by broker id (0 = master).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerData {
    /// Cluster name.
    pub cluster: String,
    /// Broker name.
    pub broker_name: String,
    /// Broker id → `brokerIP1:listenPort`.
    pub broker_addrs: BTreeMap<i64, String>,
    /// 5.x zone.
    pub zone_name: Option<String>,
    /// 5.x acting-master flag.
    pub enable_acting_master: bool,
}

impl BrokerData {
    fn from_value(v: &Value) -> Self {
        Self {
            cluster: v.str_or_default("cluster"),
            broker_name: v.str_or_default("brokerName"),
            broker_addrs: v
                .get("brokerAddrs")
                .map(Value::members)
                .unwrap_or_default()
                .iter()
                .filter_map(|(id, addr)| Some((id.as_i64()?, addr.as_str()?.to_owned())))
                .collect(),
            zone_name: v.opt_str("zoneName"),
            enable_acting_master: v.bool_or("enableActingMaster", false),
        }
    }

    /// The master's address (broker id 0).
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&0).map(String::as_str)
    }
}

/// A topic's queues on one broker name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueData {
    /// Broker name.
    pub broker_name: String,
    /// Read queue count.
    pub read_queue_nums: i32,
    /// Write queue count.
    pub write_queue_nums: i32,
    /// Permission bits.
    pub perm: i32,
    /// System flag bits.
    pub topic_sys_flag: i32,
}

/// The 105 body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicRouteData {
    /// Queues per broker name.
    pub queue_datas: Vec<QueueData>,
    /// Brokers serving the topic.
    pub broker_datas: Vec<BrokerData>,
    /// Ordered-topic configuration, when set.
    pub order_topic_conf: Option<String>,
}

impl FromBody for TopicRouteData {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "TopicRouteData")?;
        let n = |q: &Value, k: &str| i32::try_from(q.i64_or_zero(k)).unwrap_or(0);
        Ok(Self {
            queue_datas: v
                .get("queueDatas")
                .map(Value::items)
                .unwrap_or_default()
                .iter()
                .map(|q| QueueData {
                    broker_name: q.str_or_default("brokerName"),
                    read_queue_nums: n(q, "readQueueNums"),
                    write_queue_nums: n(q, "writeQueueNums"),
                    perm: n(q, "perm"),
                    topic_sys_flag: n(q, "topicSysFlag"),
                })
                .collect(),
            broker_datas: v
                .get("brokerDatas")
                .map(Value::items)
                .unwrap_or_default()
                .iter()
                .map(BrokerData::from_value)
                .collect(),
            order_topic_conf: v.opt_str("orderTopicConf"),
        })
    }
}

/// The 106 body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterInfo {
    /// Broker name → addresses.
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name → broker names.
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}

impl FromBody for ClusterInfo {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "ClusterInfo")?;
        Ok(Self {
            broker_addr_table: string_keyed(v, "brokerAddrTable")
                .map(|(k, b)| (k, BrokerData::from_value(b)))
                .collect(),
            cluster_addr_table: string_keyed(v, "clusterAddrTable")
                .map(|(k, names)| (k, names.items().iter().filter_map(|n| n.as_str().map(str::to_owned)).collect()))
                .collect(),
        })
    }
}

/// The 206 body (`TopicList`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicList {
    /// Topic names.
    pub topic_list: Vec<String>,
    /// Set when the list came from one broker.
    pub broker_addr: Option<String>,
}

impl FromBody for TopicList {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "TopicList")?;
        Ok(Self {
            topic_list: v
                .get("topicList")
                .map(Value::items)
                .unwrap_or_default()
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            broker_addr: v.opt_str("brokerAddr"),
        })
    }
}
