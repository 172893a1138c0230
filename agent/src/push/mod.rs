//! Pushing to central collectors over Prometheus remote-write 1.0.
//!
//! Every `interval_seconds` the snapshots `/metrics` would show (the same typed series its
//! exposition is encoded from) are stamped with one timestamp and the external labels, encoded
//! as protobuf, and queued — as ready-to-send request
//! bodies — in each endpoint's durable [`spool`]. Each endpoint has its own sender that sends
//! the oldest request first, deletes it once the receiver accepts it, retries on 5xx, 429 and
//! network errors with exponential backoff and jitter, and drops (with a log line carrying the
//! receiver's message) what the receiver refuses with another 4xx. A series that disappears
//! gets one staleness marker.

pub mod spool;
pub mod wire;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, watch};
use tracing::{debug, error, info, warn};

use crate::config::{RemoteWriteConfig, RemoteWriteEndpoint};
use rmq_runtime::metrics::{Family, Registry, Snapshot, SnapshotSlot};
use spool::{Dropped, Spool, SpoolError};

/// Why pushing could not start.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// An endpoint's spool directory is unusable.
    #[error("remote_write endpoint {endpoint}: {cause}")]
    Spool {
        /// The endpoint.
        endpoint: String,
        /// Why.
        cause: SpoolError,
    },
    /// A credential file could not be read.
    #[error("remote_write endpoint {endpoint}: {cause}")]
    Secret {
        /// The endpoint.
        endpoint: String,
        /// Why.
        cause: rmq_runtime::secret::SecretError,
    },
    /// TLS material could not be loaded.
    #[error("remote_write endpoint {endpoint}: {cause}")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// Why.
        cause: rmq_runtime::tls::TlsError,
    },
    /// The HTTP client could not be built.
    #[error("remote_write endpoint {endpoint}: HTTP client: {message}")]
    Client {
        /// The endpoint.
        endpoint: String,
        /// Why.
        message: String,
    },
}

/// Counters of one endpoint.
#[derive(Debug, Default)]
pub struct EndpointStats {
    /// Samples the receiver accepted.
    pub sent: AtomicU64,
    /// Samples the receiver refused for good (4xx other than 429).
    pub failed: AtomicU64,
    /// Samples in requests that will be tried again (5xx, 429, network errors).
    pub retried: AtomicU64,
    /// Samples dropped because the spool was full.
    pub dropped_size: AtomicU64,
    /// Samples dropped because they were older than `max_spool_age_seconds`.
    pub dropped_age: AtomicU64,
    /// Samples that could not be queued (spool write failed).
    pub dropped_write: AtomicU64,
    /// Unix seconds of the last accepted request (0: never).
    pub last_success: AtomicU64,
    /// Spool bytes now.
    pub queue_bytes: AtomicU64,
    /// Requests in the spool now.
    pub queue_requests: AtomicU64,
    /// Unix ms of the oldest queued samples (0: empty).
    pub oldest_ms: AtomicU64,
}

/// One receiver: its queue, client and counters.
#[derive(Debug)]
pub struct Endpoint {
    cfg: RemoteWriteEndpoint,
    client: reqwest::Client,
    auth: Option<String>,
    spool: Mutex<Spool>,
    wake: Notify,
    /// Counters.
    pub stats: EndpointStats,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Endpoint {
    /// Opens the spool (a clear error if it cannot be written) and builds the client.
    pub fn open(cfg: &RemoteWriteEndpoint) -> Result<Self, PushError> {
        let name = || cfg.name.clone();
        let spool = Spool::open(
            &cfg.spool_dir,
            cfg.max_spool_bytes,
            u64::try_from(cfg.max_spool_age.as_millis()).unwrap_or(u64::MAX),
        )
        .map_err(|cause| PushError::Spool { endpoint: name(), cause })?;
        let secret = |p: &std::path::Path| {
            rmq_runtime::secret::read_file(p)
                .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
                .map_err(|cause| PushError::Secret { endpoint: name(), cause })
        };
        let auth = match (&cfg.bearer_token_file, &cfg.basic_auth_username, &cfg.basic_auth_password_file) {
            (Some(t), _, _) => Some(format!("Bearer {}", secret(t)?)),
            (None, Some(u), Some(p)) => {
                use base64::Engine as _;
                let pair = format!("{u}:{}", secret(p)?);
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
            }
            _ => None,
        };
        let client_cert = cfg.tls_cert_file.as_deref().zip(cfg.tls_key_file.as_deref());
        let tls = rmq_runtime::tls::client_config(cfg.tls_ca_file.as_deref(), client_cert)
            .map_err(|cause| PushError::Tls { endpoint: name(), cause })?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(cfg.timeout)
            .user_agent(concat!("rmq-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PushError::Client { endpoint: name(), message: with_causes(&e) })?;
        let ep = Self {
            cfg: cfg.clone(),
            client,
            auth,
            spool: Mutex::new(spool),
            wake: Notify::new(),
            stats: EndpointStats::default(),
        };
        ep.update_queue_stats(&ep.spool.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(ep)
    }

    /// The endpoint's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    fn update_queue_stats(&self, s: &Spool) {
        self.stats.queue_bytes.store(s.bytes(), Ordering::Relaxed);
        self.stats.queue_requests.store(s.len() as u64, Ordering::Relaxed);
        self.stats.oldest_ms.store(s.oldest_ts_ms().unwrap_or(0), Ordering::Relaxed);
    }

    fn count_dropped(&self, d: Dropped, counter: &AtomicU64, why: &str) {
        if d.samples > 0 {
            counter.fetch_add(d.samples, Ordering::Relaxed);
            warn!(endpoint = %self.cfg.name, requests = d.requests, samples = d.samples, why, "remote-write spool dropped its oldest samples");
        }
    }

    /// Queues request bodies taken at `ts_ms`.
    pub fn enqueue(&self, bodies: &[(Vec<u8>, u64)], ts_ms: u64) {
        let mut s = self.spool.lock().unwrap_or_else(PoisonError::into_inner);
        for (body, samples) in bodies {
            match s.push(body, ts_ms, *samples) {
                Ok(d) => self.count_dropped(d, &self.stats.dropped_size, "max_spool_bytes"),
                Err(e) => {
                    self.stats.dropped_write.fetch_add(*samples, Ordering::Relaxed);
                    error!(endpoint = %self.cfg.name, error = %e, "cannot queue samples; they are lost");
                }
            }
        }
        self.update_queue_stats(&s);
        drop(s);
        self.wake.notify_one();
    }

    async fn post(&self, body: Vec<u8>) -> Result<reqwest::Response, reqwest::Error> {
        let mut req = self.client.post(&self.cfg.url).body(body);
        for (k, v) in wire::HEADERS {
            req = req.header(k, v);
        }
        for (k, v) in &self.cfg.headers {
            req = req.header(k, v);
        }
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        req.send().await
    }

    /// Sends the spool's oldest request first, until `stop` flips.
    pub async fn send_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        const FIRST_BACKOFF: Duration = Duration::from_millis(250);
        let max_backoff = self.cfg.max_backoff;
        let mut backoff = FIRST_BACKOFF;
        let mut failing = false;
        loop {
            let next = {
                let mut s = self.spool.lock().unwrap_or_else(PoisonError::into_inner);
                let d = s.expire(now_ms());
                self.count_dropped(d, &self.stats.dropped_age, "max_spool_age_seconds");
                self.update_queue_stats(&s);
                s.peek()
            };
            let Some((entry, body)) = next else {
                tokio::select! {
                    () = self.wake.notified() => continue,
                    _ = stop.changed() => return,
                }
            };
            let body = match body {
                Ok(b) => b,
                Err(e) => {
                    error!(endpoint = %self.cfg.name, error = %e, "unreadable spool file; dropping it");
                    self.stats.failed.fetch_add(entry.samples, Ordering::Relaxed);
                    self.pop(&entry);
                    continue;
                }
            };
            let outcome = tokio::select! {
                r = self.post(body) => r,
                _ = stop.changed() => return,
            };
            let retry_why = match outcome {
                Ok(resp) if resp.status().is_success() => {
                    self.stats.sent.fetch_add(entry.samples, Ordering::Relaxed);
                    self.stats.last_success.store(now_ms() / 1000, Ordering::Relaxed);
                    self.pop(&entry);
                    if failing {
                        info!(endpoint = %self.cfg.name, "remote-write receiver accepts again; replaying the spool");
                        failing = false;
                    }
                    backoff = FIRST_BACKOFF;
                    continue;
                }
                Ok(resp) => {
                    let status = resp.status();
                    if status.as_u16() == 429 || status.is_server_error() {
                        format!("HTTP {status}")
                    } else {
                        let text = resp.text().await.unwrap_or_default();
                        let text: String = text.chars().take(512).collect();
                        error!(endpoint = %self.cfg.name, %status, receiver_says = %text.trim(), samples = entry.samples, "remote-write request refused; dropping it (not retried)");
                        self.stats.failed.fetch_add(entry.samples, Ordering::Relaxed);
                        self.pop(&entry);
                        continue;
                    }
                }
                Err(e) => with_causes(&e),
            };
            self.stats.retried.fetch_add(entry.samples, Ordering::Relaxed);
            if failing {
                debug!(endpoint = %self.cfg.name, why = %retry_why, ?backoff, "remote-write still failing");
            } else {
                warn!(endpoint = %self.cfg.name, why = %retry_why, "remote-write failed; queueing to the spool and retrying");
                failing = true;
            }
            let pause = jitter(backoff);
            backoff = (backoff * 2).min(max_backoff);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return,
            }
        }
    }

    fn pop(&self, entry: &spool::Entry) {
        let mut s = self.spool.lock().unwrap_or_else(PoisonError::into_inner);
        // Only if it is still the front (an age or size drop may have removed it meanwhile).
        if s.front_seq() == Some(entry.seq) {
            s.pop_front();
        }
        self.update_queue_stats(&s);
    }
}

/// A reqwest error's message followed by its causes. reqwest keeps the cause (connection
/// refused, a TLS failure) in `source()` only; our messages carry their causes in the text.
fn with_causes(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

/// Between half and all of `d` (spreads a fleet's retries after a receiver outage).
fn jitter(d: Duration) -> Duration {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
    let frac = 0.5 + f64::from(nanos % 1000) / 2000.0;
    d.mul_f64(frac)
}

/// Turns snapshots into requests, and remembers series for staleness markers.
#[derive(Debug)]
pub struct Batcher {
    external: Vec<(String, String)>,
    /// Label-set hashes of the last push's series.
    previous_keys: HashSet<u64>,
    /// The last push's snapshots, walked again only when a series has vanished from them.
    previous: Vec<Arc<Snapshot>>,
}

/// One snapshot, encoded: protobuf `TimeSeries` entries back to back (each framed as a
/// `WriteRequest` field), and where each ends — any run of them is a request.
#[derive(Debug, Default)]
pub struct Encoded {
    /// The entries.
    pub buf: Vec<u8>,
    /// End offset of each entry.
    pub ends: Vec<usize>,
}

impl Batcher {
    /// A batcher adding `external` labels (a series' own label of the same name wins).
    pub fn new(external: &BTreeMap<String, String>) -> Self {
        Self {
            external: external.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            previous_keys: HashSet::new(),
            previous: Vec::new(),
        }
    }

    /// Calls `each` with every sample of `snapshots`: its labels (`__name__`, the series'
    /// own, external ones added; sorted by name), their hash, and its value.
    fn for_each_series(&self, snapshots: &[Arc<Snapshot>], mut each: impl FnMut(&[(&str, &str)], u64, f64)) {
        let mut labels: Vec<(&str, &str)> = Vec::with_capacity(16);
        for snap in snapshots {
            snap.for_each_sample(|name, own, value| {
                labels.clear();
                labels.push(("__name__", name));
                labels.extend_from_slice(own);
                for (k, v) in &self.external {
                    if !labels.iter().any(|(n, _)| n == k) {
                        labels.push((k, v));
                    }
                }
                labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut h = std::collections::hash_map::DefaultHasher::new();
                labels.hash(&mut h);
                each(&labels, h.finish(), value);
            });
        }
    }

    /// Encodes the samples of `snapshots` (what `/metrics` shows) at `ts_ms`, plus a staleness
    /// marker for each series the previous call had and this one lacks.
    pub fn snapshot(&mut self, snapshots: Vec<Arc<Snapshot>>, ts_ms: i64) -> Encoded {
        let series: usize = snapshots.iter().map(|s| s.len()).sum();
        let mut enc = Encoded { buf: Vec::with_capacity(series * 96), ends: Vec::with_capacity(series) };
        let mut keys = HashSet::with_capacity(self.previous_keys.len().max(series));
        self.for_each_series(&snapshots, |labels, key, value| {
            keys.insert(key);
            wire::put_series(&mut enc.buf, labels, value, ts_ms);
            enc.ends.push(enc.buf.len());
        });
        if self.previous_keys.iter().any(|k| !keys.contains(k)) {
            let stale = f64::from_bits(wire::STALE_NAN);
            self.for_each_series(&self.previous, |labels, key, _| {
                if !keys.contains(&key) {
                    wire::put_series(&mut enc.buf, labels, stale, ts_ms);
                    enc.ends.push(enc.buf.len());
                }
            });
        }
        self.previous_keys = keys;
        self.previous = snapshots;
        enc
    }
}

/// Encoded request bodies, each with its sample count.
pub type Bodies = Vec<(Vec<u8>, u64)>;

/// Snappy-compressed request bodies of at most `per_request` series each.
pub fn bodies(enc: &Encoded, per_request: usize) -> Bodies {
    let mut start = 0;
    enc.ends
        .chunks(per_request.max(1))
        .filter_map(|chunk| {
            let end = *chunk.last()?;
            let raw = &enc.buf[start..end];
            start = end;
            match wire::compress(raw) {
                Ok(b) => Some((b, chunk.len() as u64)),
                Err(e) => {
                    error!(error = %e, "snappy compression failed; dropping a batch");
                    None
                }
            }
        })
        .collect()
}

/// The hostname (the `host` external label's default).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or_else(|_| "unknown".into(), |h| h.trim().to_owned())
}

/// Opens every endpoint (failing on the first unusable one).
pub fn open_endpoints(cfg: &RemoteWriteConfig) -> Result<Vec<Arc<Endpoint>>, PushError> {
    cfg.endpoints.iter().map(|e| Endpoint::open(e).map(Arc::new)).collect()
}

/// Every interval: publishes the pusher's own metrics into `own`, renders `registry`, and
/// queues the snapshot to every endpoint; until `stop` flips.
pub async fn produce_loop(
    cfg: RemoteWriteConfig,
    endpoints: Vec<Arc<Endpoint>>,
    registry: Registry,
    own: Arc<SnapshotSlot>,
    mut stop: watch::Receiver<bool>,
) {
    let mut external = cfg.external_labels.clone();
    external.entry("host".into()).or_insert_with(hostname);
    let mut batcher = Batcher::new(&external);
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        own.publish(families(&endpoints));
        let ts = now_ms();
        let series = batcher.snapshot(registry.snapshots(), i64::try_from(ts).unwrap_or(i64::MAX));
        // Endpoints with the same request size share one encoding.
        let mut encoded: HashMap<usize, Bodies> = HashMap::new();
        for ep in &endpoints {
            let per = ep.cfg.max_samples_per_request;
            let b = encoded.entry(per).or_insert_with(|| bodies(&series, per));
            ep.enqueue(b, ts);
        }
    }
}

/// The pusher's own metrics.
pub fn families(endpoints: &[Arc<Endpoint>]) -> Vec<Family> {
    let mut samples = Family::counter(
        "rmq_remote_write_samples",
        "Samples by outcome: sent (accepted), failed (refused, not retried), retried, dropped_size, dropped_age, dropped_write.",
    );
    let mut bytes = Family::gauge("rmq_remote_write_queue_bytes", "Bytes in the endpoint's spool.");
    let mut requests = Family::gauge("rmq_remote_write_queue_requests", "Requests in the endpoint's spool.");
    let mut age =
        Family::gauge("rmq_remote_write_queue_oldest_age_seconds", "Age of the oldest queued samples (0 when empty).");
    let mut last = Family::gauge(
        "rmq_remote_write_last_success_timestamp_seconds",
        "When the receiver last accepted a request (0: never).",
    );
    let now = now_ms();
    #[allow(clippy::cast_precision_loss)]
    for ep in endpoints {
        let s = &ep.stats;
        let l = || vec![("endpoint", ep.cfg.name.clone())];
        for (outcome, c) in [
            ("sent", &s.sent),
            ("failed", &s.failed),
            ("retried", &s.retried),
            ("dropped_size", &s.dropped_size),
            ("dropped_age", &s.dropped_age),
            ("dropped_write", &s.dropped_write),
        ] {
            let mut lb = l();
            lb.push(("outcome", outcome.to_owned()));
            samples.push(lb, c.load(Ordering::Relaxed) as f64);
        }
        bytes.push(l(), s.queue_bytes.load(Ordering::Relaxed) as f64);
        requests.push(l(), s.queue_requests.load(Ordering::Relaxed) as f64);
        let oldest = s.oldest_ms.load(Ordering::Relaxed);
        age.push(l(), if oldest == 0 { 0.0 } else { now.saturating_sub(oldest) as f64 / 1000.0 });
        last.push(l(), s.last_success.load(Ordering::Relaxed) as f64);
    }
    vec![samples, bytes, requests, age, last]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(enc: &Encoded) -> Vec<wire::TimeSeries> {
        bodies(enc, 1000).iter().flat_map(|(b, _)| wire::decode(b).unwrap().timeseries).collect()
    }

    /// One snapshot of gauge `a`, a series per (topic, value).
    fn topics(series: &[(&str, f64)]) -> Vec<Arc<Snapshot>> {
        let mut f = Family::gauge("a", "A.");
        for (t, v) in series {
            f.push(vec![("topic", (*t).to_owned())], *v);
        }
        vec![Arc::new(Snapshot::new(vec![f]))]
    }

    #[tokio::test]
    async fn a_refused_send_names_its_cause_once() {
        // A port nothing listens on: bound by the OS for us, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let cfg = RemoteWriteEndpoint::new("rw", format!("http://127.0.0.1:{port}/api/v1/write"), dir.path());
        let e = Endpoint::open(&cfg).unwrap().post(Vec::new()).await.unwrap_err();
        assert!(!e.to_string().contains("refused"), "reqwest's own message leaves the cause out: {e}");
        let text = with_causes(&e);
        assert_eq!(text.matches("Connection refused").count(), 1, "{text}");
    }

    #[test]
    fn external_labels_are_added_sorted_and_vanished_series_get_one_stale_marker() {
        let mut b = Batcher::new(&BTreeMap::from([("host".into(), "b1".into()), ("topic".into(), "ext".into())]));
        let first = decoded(&b.snapshot(topics(&[("t1", 1.0), ("t2", 2.0)]), 1000));
        assert_eq!(first.len(), 2);
        let names: Vec<&str> = first[0].labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "host", "topic"]);
        // The series' own topic label wins over the external one.
        assert_eq!(first[0].labels[2].value, "t1");
        assert_eq!(first[1].samples[0], wire::Sample { value: 2.0, timestamp: 1000 });
        let second = decoded(&b.snapshot(topics(&[("t1", 3.0)]), 2000));
        assert_eq!(second.len(), 2);
        let stale = &second[1];
        assert_eq!(stale.labels[2].value, "t2");
        assert_eq!(stale.samples[0].value.to_bits(), wire::STALE_NAN);
        assert_eq!(stale.samples[0].timestamp, 2000);
        // Once only.
        assert_eq!(decoded(&b.snapshot(topics(&[("t1", 4.0)]), 3000)).len(), 1);
    }

    #[test]
    fn histograms_are_pushed_as_their_exposed_series() {
        let mut h = Family::histogram("lat", "L.").with_unit(prometheus_client::registry::Unit::Seconds);
        h.samples.push(rmq_runtime::metrics::Sample::Histogram {
            labels: vec![("topic", "t".into())],
            buckets: vec![(0.5, 1), (f64::INFINITY, 2)],
            sum: 4.0,
        });
        let c = Family::counter("c", "C.").with(vec![], 7.0);
        let snaps = vec![Arc::new(Snapshot::new(vec![h])), Arc::new(Snapshot::new(vec![c]))];
        let got: Vec<String> = decoded(&Batcher::new(&BTreeMap::new()).snapshot(snaps, 5))
            .iter()
            .map(|t| {
                let l: Vec<String> = t.labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect();
                format!("{} {}", l.join(","), t.samples[0].value)
            })
            .collect();
        assert_eq!(
            got,
            [
                "__name__=lat_seconds_bucket,le=0.5,topic=t 1",
                "__name__=lat_seconds_bucket,le=+Inf,topic=t 3",
                "__name__=lat_seconds_sum,topic=t 4",
                "__name__=lat_seconds_count,topic=t 3",
                "__name__=c_total 7",
            ]
        );
    }

    #[test]
    fn credentials_come_from_private_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let token = d.path().join("token");
        std::fs::write(&token, "tok-123\n").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let cfg = RemoteWriteEndpoint {
            bearer_token_file: Some(token.clone()),
            ..RemoteWriteEndpoint::new("e", "https://example.invalid/api/v1/write", d.path().join("spool"))
        };
        assert_eq!(Endpoint::open(&cfg).unwrap().auth.as_deref(), Some("Bearer tok-123"));
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Endpoint::open(&cfg).unwrap_err().to_string();
        assert!(e.contains("token"), "{e}");
    }

    #[test]
    fn bodies_respect_the_per_request_limit() {
        let mut m = Family::gauge("m", "M.");
        for i in 0..25 {
            m.push(vec![("i", i.to_string())], 1.0);
        }
        let enc = Batcher::new(&BTreeMap::new()).snapshot(vec![Arc::new(Snapshot::new(vec![m]))], 1);
        let b = bodies(&enc, 10);
        assert_eq!(b.iter().map(|x| x.1).collect::<Vec<_>>(), [10, 10, 5]);
        let last = wire::decode(&b[2].0).unwrap().timeseries;
        assert_eq!(last.len(), 5);
        assert_eq!(last[4].labels[1].value, "24");
    }
}
