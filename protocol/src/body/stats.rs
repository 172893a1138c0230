//! VIEW_BROKER_STATS_DATA (315): one stats item's minute, hour and day windows.

use super::{Fields, FromBody, object};
use crate::error::BodyError;
use crate::fastjson::Value;

/// One window of a stats item.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BrokerStatsItem {
    /// Sum over the window.
    pub sum: i64,
    /// Per-second rate; `None` when fastjson wrote NaN as null.
    pub tps: Option<f64>,
    /// Average per call (`sum / times`).
    pub avgpt: Option<f64>,
}

impl BrokerStatsItem {
    fn from_value(v: Option<&Value>) -> Self {
        v.map_or_else(Self::default, |v| Self {
            sum: v.i64_or_zero("sum"),
            tps: v.opt_f64("tps"),
            avgpt: v.opt_f64("avgpt"),
        })
    }
}

/// `BrokerStatsData`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BrokerStatsData {
    /// Last minute (10 s snapshots).
    pub stats_minute: BrokerStatsItem,
    /// Last hour (10 min snapshots).
    pub stats_hour: BrokerStatsItem,
    /// Last day (hourly snapshots).
    pub stats_day: BrokerStatsItem,
}

impl FromBody for BrokerStatsData {
    fn from_value(v: &Value) -> Result<Self, BodyError> {
        let v = object(v, "BrokerStatsData")?;
        Ok(Self {
            stats_minute: BrokerStatsItem::from_value(v.get("statsMinute")),
            stats_hour: BrokerStatsItem::from_value(v.get("statsHour")),
            stats_day: BrokerStatsItem::from_value(v.get("statsDay")),
        })
    }
}
