//! `time`: the system clock, `node_time_seconds`.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Unit;
use rmq_runtime::metrics::Family;

use super::HostSampler;

pub(super) fn collect(_host: &HostSampler, out: &mut Vec<Family>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    out.push(
        Family::gauge("node_time", "System time in seconds since epoch (1970).")
            .with_unit(Unit::Seconds)
            .with(Vec::new(), now),
    );
}
