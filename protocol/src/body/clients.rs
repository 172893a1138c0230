//! What the broker knows of its clients beyond connection lists: GET_CONSUMER_RUNNING_INFO
//! (307, the broker relays it to one consumer client, which answers) and
//! GET_ALL_PRODUCER_INFO (328, the broker's own producer table).

use std::collections::BTreeMap;

use super::{Fields, FromBody, object, string_keyed};
use crate::error::BodyError;
use crate::fastjson::Value;

/// A consumer client's view of one subscribed topic (`ConsumeStatus`). Rates are the
/// client's own (Java clients: over the last minute); NaN arrives as `null` and reads `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ConsumeStatus {
    /// Mean pull round trip, ms.
    pub pull_rt: Option<f64>,
    /// Messages pulled per second.
    pub pull_tps: Option<f64>,
    /// Mean time the listener took per message, ms.
    pub consume_rt: Option<f64>,
    /// Messages consumed successfully per second.
    pub consume_ok_tps: Option<f64>,
    /// Messages whose consumption failed, per second.
    pub consume_failed_tps: Option<f64>,
    /// Messages whose consumption failed in the client's last hour.
    pub consume_failed_msgs: i64,
}

/// The 307 body (`ConsumerRunningInfo`), as far as the agent reads it: the per-topic status
/// table and the properties. The per-queue tables (`mqTable`, `mqPopTable`, keyed by
/// MessageQueue objects) and `jstack` are skipped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumerRunningInfo {
    /// Topic → status.
    pub status_table: BTreeMap<String, ConsumeStatus>,
    /// `PROP_*` keys and the consumer's settings, as strings.
    pub properties: BTreeMap<String, String>,
}

impl FromBody for ConsumerRunningInfo {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "ConsumerRunningInfo")?;
        Ok(Self {
            status_table: string_keyed(v, "statusTable")
                .map(|(topic, s)| {
                    let status = ConsumeStatus {
                        pull_rt: s.opt_f64("pullRT"),
                        pull_tps: s.opt_f64("pullTPS"),
                        consume_rt: s.opt_f64("consumeRT"),
                        consume_ok_tps: s.opt_f64("consumeOKTPS"),
                        consume_failed_tps: s.opt_f64("consumeFailedTPS"),
                        consume_failed_msgs: s.i64_or_zero("consumeFailedMsgs"),
                    };
                    (topic, status)
                })
                .collect(),
            properties: string_keyed(v, "properties")
                .filter_map(|(k, val)| Some((k, val.scalar_text()?.into_owned())))
                .collect(),
        })
    }
}

/// One producer instance in the broker's producer table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerInfo {
    /// Client id.
    pub client_id: String,
    /// Socket peer as the broker sees it.
    pub remote_ip: String,
    /// Language name from the heartbeat.
    pub language: String,
    /// `MQVersion` ordinal.
    pub version: i32,
    /// Last heartbeat, epoch ms.
    pub last_update_timestamp: i64,
}

/// The 328 body (`ProducerTableInfo`): producer group → instances.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerTableInfo {
    /// Group → instances.
    pub data: BTreeMap<String, Vec<ProducerInfo>>,
}

impl FromBody for ProducerTableInfo {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "ProducerTableInfo")?;
        Ok(Self {
            data: string_keyed(v, "data")
                .map(|(group, list)| {
                    let instances = list
                        .items()
                        .iter()
                        .map(|p| ProducerInfo {
                            client_id: p.str_or_default("clientId"),
                            remote_ip: p.str_or_default("remoteIP"),
                            language: p.str_or_default("language"),
                            version: i32::try_from(p.i64_or_zero("version")).unwrap_or(0),
                            last_update_timestamp: p.i64_or_zero("lastUpdateTimestamp"),
                        })
                        .collect();
                    (group, instances)
                })
                .collect(),
        })
    }
}
