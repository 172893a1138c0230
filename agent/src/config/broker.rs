//! `[broker]` and `[namesrv]`: the local broker the agent collects from, and the local name
//! server it watches.

use std::path::PathBuf;
use std::time::Duration;

use rmq_protocol::SerializeType;
use rmq_runtime::config::duration::{millis, secs};
use rmq_runtime::config::{HostPort, Problems};
use serde::Deserialize;

/// Default local broker (as [`BrokerConfig::default`] has it).
pub const DEFAULT_BROKER: &str = "127.0.0.1:10911";

/// `[broker]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Collect from the broker at all.
    pub enabled: bool,
    /// The local broker's remoting address.
    pub addr: HostPort,
    /// How request headers are encoded.
    pub serialize_type: HeaderFormat,
    /// Between collection cycles. Key: `interval_seconds`.
    #[serde(rename = "interval_seconds", deserialize_with = "secs")]
    pub interval: Duration,
    /// How long one cycle may take before it is abandoned. Key: `timeout_seconds`.
    #[serde(rename = "timeout_seconds", deserialize_with = "secs")]
    pub timeout: Duration,
    /// How long one request may take. Key: `request_timeout_ms`.
    #[serde(rename = "request_timeout_ms", deserialize_with = "millis")]
    pub request_timeout: Duration,
    /// Requests in flight at once during a cycle.
    pub concurrency: usize,
    /// Per-topic and per-group minute stats (VIEW_BROKER_STATS_DATA, two requests per topic
    /// and three per topic×group): `rocketmq_producer_tps`, `…_message_size`, `rocketmq_consumer_tps`, ….
    pub collect_stats: bool,
    /// Consumer connection lists (one request per group): online consumer counts.
    pub collect_connections: bool,
    /// Per-queue lag series (`rocketmq_queue_lag_messages`): one series per queue of every
    /// group's topics.
    pub collect_queue_lag: bool,
    /// Consumer clients' own statistics (`rocketmq_client_*`: GET_CONSUMER_RUNNING_INFO, which
    /// the broker relays to each client and waits for) and producers per group
    /// (`rocketmq_producer_count`: GET_ALL_PRODUCER_INFO). Off by default: every client asked
    /// makes the broker call that client.
    pub collect_clients: bool,
    /// Consumer clients asked per cycle at most; the rest are asked in later cycles, in turn.
    pub clients_per_cycle: usize,
    /// How long one client may take to answer. Key: `client_timeout_ms`.
    #[serde(rename = "client_timeout_ms", deserialize_with = "millis")]
    pub client_timeout: Duration,
    /// Override the cluster label (otherwise learned from the name server, else `DefaultCluster`).
    pub cluster: Option<String>,
    /// The broker's store root, whose filesystem is always reported.
    pub store_dir: Option<PathBuf>,
    /// ACL 1.0 account for brokers with `aclEnable=true`.
    pub acl_access_key: Option<String>,
    /// File holding that account's secret (must not be world-readable).
    pub acl_secret_file: Option<PathBuf>,
}

/// `broker.serialize_type`: how the agent encodes request headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderFormat {
    /// JSON, which every broker reads.
    #[default]
    Json,
    /// RocketMQ's binary header.
    Rocketmq,
}

impl HeaderFormat {
    /// As the protocol crate names it.
    pub fn serialize_type(self) -> SerializeType {
        match self {
            Self::Json => SerializeType::JSON,
            Self::Rocketmq => SerializeType::ROCKETMQ,
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            addr: HostPort::from(std::net::SocketAddr::from(([127, 0, 0, 1], 10911))),
            serialize_type: HeaderFormat::Json,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            request_timeout: Duration::from_millis(5000),
            concurrency: 32,
            collect_stats: true,
            collect_connections: true,
            collect_queue_lag: true,
            collect_clients: false,
            clients_per_cycle: 32,
            client_timeout: Duration::from_millis(3000),
            cluster: None,
            store_dir: None,
            acl_access_key: None,
            acl_secret_file: None,
        }
    }
}

impl BrokerConfig {
    /// Problems with the section at `at` (`broker`).
    pub fn check(&self, at: &str, p: &mut Problems) {
        p.nonzero(at, "interval_seconds", self.interval);
        let most = self.interval.max(Duration::from_secs(1));
        if self.timeout.is_zero() || self.timeout > most {
            p.at(at, "timeout_seconds", format!("must be 1..={} (the interval)", most.as_secs()));
        }
        p.nonzero(at, "request_timeout_ms", self.request_timeout);
        if !(1..=1024).contains(&self.concurrency) {
            p.at(at, "concurrency", "must be 1..=1024");
        }
        if !(1..=10_000).contains(&self.clients_per_cycle) {
            p.at(at, "clients_per_cycle", "must be 1..=10000");
        }
        if self.client_timeout.is_zero() {
            p.at(at, "client_timeout_ms", "must be at least 1");
        }
        match (&self.acl_access_key, &self.acl_secret_file) {
            (Some(_), None) => p.at(at, "acl_secret_file", format!("required when {at}.acl_access_key is set")),
            (None, Some(_)) => p.at(at, "acl_access_key", format!("required when {at}.acl_secret_file is set")),
            (Some(_), Some(f)) => {
                if let Err(e) = rmq_runtime::secret::check_file(f) {
                    p.at(at, "acl_secret_file", e.to_string());
                }
            }
            (None, None) => {}
        }
    }
}

/// `[namesrv]`
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NamesrvConfig {
    /// The local name server's address; unset means the host has none.
    pub addr: Option<HostPort>,
}
