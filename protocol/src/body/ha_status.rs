//! GET_BROKER_HA_STATUS (907, 5.x): the master's view of its slaves, or a slave's of its master.

use super::{Fields, FromBody, object};
use crate::error::BodyError;
use crate::fastjson::Value;

/// One slave connection on a master.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HaConnectionInfo {
    /// The slave's socket address as the master sees it (behind ha-guard: the guard).
    pub addr: String,
    /// Offset the slave has acknowledged.
    pub slave_ack_offset: i64,
    /// Master max offset − ack offset, in bytes.
    pub diff: i64,
    /// Whether the slave is in sync.
    pub in_sync: bool,
    /// Bytes sent in the last second.
    pub transferred_byte_in_second: i64,
    /// Next offset to transfer.
    pub transfer_from_where: i64,
}

/// A slave's HA client state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HaClientRuntimeInfo {
    /// The master's HA address.
    pub master_addr: String,
    /// Bytes received in the last second.
    pub transferred_byte_in_second: i64,
    /// The slave's max offset.
    pub max_offset: i64,
    /// Last read from the master (epoch ms).
    pub last_read_timestamp: i64,
    /// Last write to the master (epoch ms).
    pub last_write_timestamp: i64,
    /// The master's flush offset.
    pub master_flush_offset: i64,
    /// Whether the client is connected.
    pub activated: bool,
}

/// The 907 body (`HARuntimeInfo`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HaRuntimeInfo {
    /// Whether this broker is the master.
    pub master: bool,
    /// Master commitlog max offset.
    pub master_commit_log_max_offset: i64,
    /// Slaves in sync.
    pub in_sync_slave_nums: i32,
    /// Per-slave state (on a master).
    pub ha_connection_info: Vec<HaConnectionInfo>,
    /// HA client state (on a slave).
    pub ha_client_runtime_info: Option<HaClientRuntimeInfo>,
}

impl FromBody for HaRuntimeInfo {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "HARuntimeInfo")?;
        Ok(Self {
            master: v.bool_or("master", false),
            master_commit_log_max_offset: v.i64_or_zero("masterCommitLogMaxOffset"),
            in_sync_slave_nums: i32::try_from(v.i64_or_zero("inSyncSlaveNums")).unwrap_or(0),
            ha_connection_info: v
                .get("haConnectionInfo")
                .map(Value::items)
                .unwrap_or_default()
                .iter()
                .map(|c| HaConnectionInfo {
                    addr: c.str_or_default("addr"),
                    slave_ack_offset: c.i64_or_zero("slaveAckOffset"),
                    diff: c.i64_or_zero("diff"),
                    in_sync: c.bool_or("inSync", false),
                    transferred_byte_in_second: c.i64_or_zero("transferredByteInSecond"),
                    transfer_from_where: c.i64_or_zero("transferFromWhere"),
                })
                .collect(),
            ha_client_runtime_info: v.get("haClientRuntimeInfo").filter(|c| !c.is_null()).map(|c| {
                HaClientRuntimeInfo {
                    master_addr: c.str_or_default("masterAddr"),
                    transferred_byte_in_second: c.i64_or_zero("transferredByteInSecond"),
                    max_offset: c.i64_or_zero("maxOffset"),
                    last_read_timestamp: c.i64_or_zero("lastReadTimestamp"),
                    last_write_timestamp: c.i64_or_zero("lastWriteTimestamp"),
                    master_flush_offset: c.i64_or_zero("masterFlushOffset"),
                    activated: c.bool_or("activated", false),
                }
            }),
        })
    }
}
