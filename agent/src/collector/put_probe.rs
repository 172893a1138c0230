//! The active store-latency probe: a small SEND_MESSAGE_V2 to a probe topic on the local
//! broker every interval, timed into a [`SegmentedHistogram`]. The topic is created at start
//! (signed, if a key is configured, so it works behind the admin guard) and no consumer group
//! reads it, so its offsets never show up in any group's lag.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use rmq_protocol::request::{CommandHeader as _, GetTopicStatsInfoRequestHeader, SendMessageRequestHeaderV2};
use rmq_protocol::{RequestCode, ResponseCode};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::commands::admin::{Operation, Signer};
use crate::config::PutProbeConfig;
use crate::remoting::Client;
use rmq_runtime::metrics::segmented::SegmentedHistogram;
use rmq_runtime::metrics::{Family, Sample, SnapshotSlot};

/// Sends, their latencies, and failures by response code.
#[derive(Debug, Default)]
pub struct ProbeState {
    /// Latencies of successful sends.
    pub histogram: SegmentedHistogram,
    /// Failures by code (`timeout`, `error` when there was no answer).
    failures: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl ProbeState {
    fn fail(&self, code: String) {
        *self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(code).or_default() += 1;
    }

    /// The probe's families.
    pub fn families(&self, topic: &str) -> Vec<Family> {
        let s = self.histogram.snapshot();
        let labels = || vec![("topic", topic.to_owned())];
        let mut hist = Family::histogram(
            "rmq_put_probe_latency_seconds",
            "Broker answer time of the probe's sends (SEND_MESSAGE_V2), successful sends only.",
        );
        hist.samples.push(Sample::Histogram { labels: labels(), buckets: s.buckets(), sum: s.sum_seconds });
        let mut q = Family::gauge(
            "rmq_put_probe_latency_quantile_seconds",
            "Probe send latency quantiles since start (upper bound of the bucket holding the quantile).",
        );
        for quantile in [0.5, 0.9, 0.99] {
            if let Some(v) = s.quantile(quantile) {
                let mut l = labels();
                l.push(("quantile", quantile.to_string()));
                q.push(l, v);
            }
        }
        let mut failures = Family::counter("rmq_put_probe_failures", "Probe sends that failed, by response code.");
        #[allow(clippy::cast_precision_loss)]
        for (code, n) in self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            let mut l = labels();
            l.push(("code", code.clone()));
            failures.push(l, *n as f64);
        }
        vec![hist, q, failures]
    }
}

/// Creates the probe topic unless it exists.
async fn ensure_topic(client: &Client, cfg: &PutProbeConfig, signer: Option<&Signer>) -> Result<(), String> {
    let h = GetTopicStatsInfoRequestHeader { topic: cfg.topic.clone() };
    let r = client.request(RequestCode::GET_TOPIC_STATS_INFO, Some(h.to_ext_fields()), &[], None).await;
    if matches!(&r, Ok(resp) if resp.code() == ResponseCode::SUCCESS) {
        return Ok(());
    }
    let op = Operation::CreateTopic { topic: cfg.topic.clone(), queues: 1, perm: 6, order: false };
    crate::commands::admin::run(client, &op, signer, cfg.timeout).await.map_err(|e| e.to_string())?;
    info!(topic = %cfg.topic, "created the put-probe topic");
    Ok(())
}

/// Probes until `stop` flips, publishing into `slot` after every send.
pub async fn run(
    client: Client,
    cfg: PutProbeConfig,
    signer: Option<Signer>,
    state: Arc<ProbeState>,
    slot: Arc<SnapshotSlot>,
    mut stop: watch::Receiver<bool>,
) {
    let body = vec![b'p'; cfg.body_bytes];
    let timeout = cfg.timeout;
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut topic_ready = false;
    slot.publish(state.families(&cfg.topic));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if !topic_ready {
            match ensure_topic(&client, &cfg, signer.as_ref()).await {
                Ok(()) => topic_ready = true,
                Err(e) => {
                    warn!(topic = %cfg.topic, error = %e, "cannot create the put-probe topic; retrying next interval");
                    state.fail("create_topic".into());
                    slot.publish(state.families(&cfg.topic));
                    continue;
                }
            }
        }
        let h = SendMessageRequestHeaderV2 {
            producer_group: "RMQ_SIDECAR_PUT_PROBE".into(),
            topic: cfg.topic.clone(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 1,
            born_timestamp: i64::try_from(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()),
            )
            .unwrap_or(0),
            ..Default::default()
        };
        let started = Instant::now();
        match client.request(RequestCode::SEND_MESSAGE_V2, Some(h.to_ext_fields()), &body, Some(timeout)).await {
            Ok(r) if r.code() == ResponseCode::SUCCESS => state.histogram.record(started.elapsed()),
            Ok(r) => {
                warn!(topic = %cfg.topic, code = %r.code(), remark = r.header.remark.as_deref().unwrap_or(""), "put probe refused");
                state.fail(r.code().to_string());
            }
            Err(crate::remoting::ClientError::Timeout { .. }) => state.fail("timeout".into()),
            Err(e) => {
                warn!(error = %e, "put probe got no answer");
                state.fail("error".into());
            }
        }
        slot.publish(state.families(&cfg.topic));
    }
}
