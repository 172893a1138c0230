//! A one-shot look at a broker: is it answering, and what does its runtime table say.
//! `rmq-agent probe` prints it; `rmq-agent run` logs it on an interval until the full
//! collectors land.

use std::time::{Duration, Instant};

use rmq_protocol::RequestCode;
use rmq_protocol::body::BrokerRuntimeInfo;

use crate::remoting::{Client, ClientError};

/// What one probe saw.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// Round-trip time of GET_BROKER_RUNTIME_INFO.
    pub latency: Duration,
    /// The runtime table.
    pub runtime: BrokerRuntimeInfo,
}

impl ProbeReport {
    /// The handful of values an operator checks first, as `(label, value)` pairs.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let r = &self.runtime;
        let tps = |k: &str| r.tps(k).and_then(|t| t.s60.or(t.s10)).map_or_else(|| "-".into(), |v| format!("{v:.1}"));
        vec![
            ("version", r.get("brokerVersionDesc").unwrap_or("?").to_owned()),
            ("put_tps_1m", tps("putTps")),
            (
                "get_tps_1m",
                r.get_transferred_tps().and_then(|t| t.s60).map_or_else(|| "-".into(), |v| format!("{v:.1}")),
            ),
            ("messages_put_total", r.get("msgPutTotalTodayNow").unwrap_or("?").to_owned()),
            ("commitlog_max_offset", r.get("commitLogMaxOffset").unwrap_or("?").to_owned()),
            ("dispatch_behind_bytes", r.get("dispatchBehindBytes").unwrap_or("?").to_owned()),
            ("round_trip_ms", format!("{:.2}", self.latency.as_secs_f64() * 1e3)),
        ]
    }
}

/// Asks the broker behind `client` for its runtime info.
pub async fn probe(client: &Client) -> Result<ProbeReport, ClientError> {
    let start = Instant::now();
    let runtime = client.fetch::<BrokerRuntimeInfo>(RequestCode::GET_BROKER_RUNTIME_INFO, None).await?;
    Ok(ProbeReport { latency: start.elapsed(), runtime })
}
