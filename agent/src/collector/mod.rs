//! Collectors and the loop that runs them: each on its own interval, each cycle under a
//! timeout, each publishing a whole snapshot, with success/duration metrics of its own. A
//! failed cycle is retried soon (see [`retry_delay`]) rather than a whole interval later.

pub mod broker;
pub mod host;
pub mod put_probe;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Unit;
use tokio::sync::watch;
use tracing::{debug, warn};

use rmq_runtime::metrics::{Family, SnapshotSlot};

/// Health of every collector, rendered as `rmq_agent_collector_*`.
#[derive(Debug, Default)]
pub struct Health {
    inner: Mutex<BTreeMap<&'static str, CollectorHealth>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct CollectorHealth {
    success: bool,
    duration: f64,
    last_success: f64,
    runs: u64,
    failures: u64,
}

impl Health {
    /// Records one run.
    pub fn record(&self, collector: &'static str, ok: bool, took: Duration) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let mut m = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = m.entry(collector).or_default();
        h.success = ok;
        h.duration = took.as_secs_f64();
        h.runs += 1;
        if ok {
            h.last_success = now;
        } else {
            h.failures += 1;
        }
    }

    /// Whether a collector has run at least once.
    pub fn has_run(&self, collector: &str) -> bool {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(collector)
    }

    /// The families describing collector health.
    pub fn families(&self) -> Vec<Family> {
        let m = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut success = Family::gauge("rmq_agent_collector_success", "1 if the collector's last run succeeded.");
        let mut duration = Family::gauge("rmq_agent_collector_duration", "How long the collector's last run took.")
            .with_unit(Unit::Seconds);
        let mut last =
            Family::gauge("rmq_agent_collector_last_success", "When the collector last succeeded, Unix time.")
                .with_unit(Unit::Seconds);
        let mut runs = Family::counter("rmq_agent_collector_runs", "Collector runs.");
        let mut failures = Family::counter("rmq_agent_collector_failures", "Collector runs that failed.");
        for (name, h) in m.iter() {
            let l = vec![("collector", (*name).to_owned())];
            success.push(l.clone(), if h.success { 1.0 } else { 0.0 });
            duration.push(l.clone(), h.duration);
            last.push(l.clone(), h.last_success);
            #[allow(clippy::cast_precision_loss)]
            {
                runs.push(l.clone(), h.runs as f64);
                failures.push(l, h.failures as f64);
            }
        }
        vec![success, duration, last, runs, failures]
    }
}

/// The first retry after a failed cycle.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);
/// The longest wait between retries, whatever the interval.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// How long to wait after the `failures`-th failed cycle in a row (≥ 1) before trying again:
/// [`FIRST_RETRY`], doubling with each failure, at most half the interval and [`MAX_RETRY`].
/// A broker that answers errors while it starts (a Java 4.9 broker answers
/// GET_BROKER_RUNTIME_INFO with SYSTEM_ERROR in its first seconds) is then seen up within a
/// second or two of being ready, not an interval later.
pub fn retry_delay(failures: u32, interval: Duration) -> Duration {
    let doubled = FIRST_RETRY.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(interval / 2).min(MAX_RETRY)
}

/// Runs `cycle` every `interval` until `stop` flips, publishing into `slot`. A cycle that
/// overruns `timeout` is abandoned and counts as a failure. After a failure the next attempt
/// comes after [`retry_delay`] (or at the next tick, if sooner); once a retry succeeds, the
/// interval counts from it.
pub async fn run_loop<F, Fut>(
    name: &'static str,
    interval: Duration,
    timeout: Duration,
    health: Arc<Health>,
    slot: Arc<SnapshotSlot>,
    mut stop: watch::Receiver<bool>,
    mut cycle: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, Vec<Family>)>,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failed_in_row: u32 = 0;
    loop {
        let retry = async {
            if failed_in_row == 0 {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(retry_delay(failed_in_row, interval)).await;
        };
        let retrying = tokio::select! {
            _ = tick.tick() => false,
            () = retry => true,
            _ = stop.changed() => break,
        };
        let start = Instant::now();
        let ok = tokio::select! {
            r = tokio::time::timeout(timeout, cycle()) => match r {
                Ok((ok, fams)) => {
                    slot.publish(fams);
                    ok
                }
                Err(_) => {
                    warn!(collector = name, ?timeout, "collection cycle timed out");
                    false
                }
            },
            _ = stop.changed() => break,
        };
        debug!(collector = name, ok, retrying, took = ?start.elapsed(), "cycle done");
        health.record(name, ok, start.elapsed());
        if ok {
            if failed_in_row > 0 {
                debug!(collector = name, failed_before = failed_in_row, "recovered");
            }
            if retrying {
                tick.reset();
            }
            failed_in_row = 0;
        } else {
            failed_in_row = failed_in_row.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_half_a_second_up_to_half_the_interval() {
        let s15 = Duration::from_secs(15);
        let got: Vec<Duration> = (1..=6).map(|n| retry_delay(n, s15)).collect();
        let ms = |v: u64| Duration::from_millis(v);
        assert_eq!(got, [ms(500), ms(1000), ms(2000), ms(4000), ms(7500), ms(7500)]);
        assert_eq!(retry_delay(1, Duration::from_secs(600)), ms(500));
        assert_eq!(retry_delay(40, Duration::from_secs(600)), MAX_RETRY);
        assert_eq!(retry_delay(3, Duration::from_millis(400)), ms(200));
    }
}
