//! `[remote_write]` and its `[[remote_write.endpoints]]`: pushing to central collectors
//! (Prometheus remote-write).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use rmq_runtime::config::Problems;
use rmq_runtime::config::duration::secs;
use serde::Deserialize;

/// `[remote_write]`: what every endpoint gets.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteConfig {
    /// Between snapshots pushed (each is everything `/metrics` shows at that moment). Key:
    /// `interval_seconds`.
    #[serde(rename = "interval_seconds", deserialize_with = "secs")]
    pub interval: Duration,
    /// Labels added to every pushed series (a series' own label of the same name wins).
    /// `host` defaults to this machine's hostname.
    pub external_labels: BTreeMap<String, String>,
    /// The receivers; each has its own queue.
    pub endpoints: Vec<RemoteWriteEndpoint>,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(15), external_labels: BTreeMap::new(), endpoints: Vec::new() }
    }
}

impl RemoteWriteConfig {
    /// Problems with the section at `at` (`remote_write`) and its endpoints.
    pub fn check(&self, at: &str, p: &mut Problems) {
        p.nonzero(at, "interval_seconds", self.interval);
        let mut names = BTreeSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let at = format!("{at}.endpoints[{i}]");
            if e.name.is_empty() || !names.insert(e.name.as_str()) {
                p.at(&at, "name", "must be non-empty and unique");
            }
            e.check(&at, p);
        }
    }
}

/// `[[remote_write.endpoints]]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteEndpoint {
    /// Metric label and log field.
    pub name: String,
    /// The receiver's remote-write URL (`http://` or `https://`).
    pub url: String,
    /// This endpoint's durable queue (created if missing; must be writable).
    pub spool_dir: PathBuf,
    /// Spool size limit; the oldest requests are dropped (and counted) beyond it.
    #[serde(default = "d_spool_bytes")]
    pub max_spool_bytes: u64,
    /// Samples older than this are dropped (and counted) instead of sent. Receivers refuse
    /// very old samples anyway (Prometheus: older than its head block). Key:
    /// `max_spool_age_seconds`.
    #[serde(rename = "max_spool_age_seconds", deserialize_with = "secs", default = "d_spool_age")]
    pub max_spool_age: Duration,
    /// Series per request.
    #[serde(default = "d_samples_per_request")]
    pub max_samples_per_request: usize,
    /// How long one request may take. Key: `timeout_seconds`.
    #[serde(rename = "timeout_seconds", deserialize_with = "secs", default = "d_rw_timeout")]
    pub timeout: Duration,
    /// Longest pause between retries (backoff starts at 250 ms and doubles, with jitter).
    /// Key: `max_backoff_seconds`.
    #[serde(rename = "max_backoff_seconds", deserialize_with = "secs", default = "d_max_backoff")]
    pub max_backoff: Duration,
    /// `Authorization: Bearer` token from this file.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Basic auth user (with `basic_auth_password_file`).
    #[serde(default)]
    pub basic_auth_username: Option<String>,
    /// Basic auth password file.
    #[serde(default)]
    pub basic_auth_password_file: Option<PathBuf>,
    /// CA certificates (PEM) to trust instead of the system's.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM), with `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// Client private key (PEM).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Extra headers, e.g. `X-Scope-OrgID` (Mimir) or `THANOS-TENANT`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl RemoteWriteEndpoint {
    /// An endpoint with the defaults: no authentication, the system's CAs.
    pub fn new(name: impl Into<String>, url: impl Into<String>, spool_dir: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            spool_dir: spool_dir.into(),
            max_spool_bytes: d_spool_bytes(),
            max_spool_age: d_spool_age(),
            max_samples_per_request: d_samples_per_request(),
            timeout: d_rw_timeout(),
            max_backoff: d_max_backoff(),
            bearer_token_file: None,
            basic_auth_username: None,
            basic_auth_password_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            headers: BTreeMap::new(),
        }
    }

    /// Problems with the endpoint at `at` (`remote_write.endpoints[i]`), but for its name,
    /// which its section checks against the others.
    pub fn check(&self, at: &str, p: &mut Problems) {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            p.at(at, "url", format!("{:?} is not an http:// or https:// URL", self.url));
        }
        p.nonzero(at, "max_samples_per_request", self.max_samples_per_request);
        p.nonzero(at, "timeout_seconds", self.timeout);
        p.nonzero(at, "max_backoff_seconds", self.max_backoff);
        if self.basic_auth_username.is_some() != self.basic_auth_password_file.is_some() {
            p.at(at, "basic_auth_username", "basic_auth_username and basic_auth_password_file go together");
        }
        if self.basic_auth_username.is_some() && self.bearer_token_file.is_some() {
            p.at(at, "bearer_token_file", "choose basic auth or a bearer token, not both");
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            p.at(at, "tls_cert_file", "tls_cert_file and tls_key_file go together");
        }
    }
}

fn d_spool_bytes() -> u64 {
    256 * 1024 * 1024
}
fn d_spool_age() -> Duration {
    Duration::from_secs(2 * 3600)
}
fn d_samples_per_request() -> usize {
    10_000
}
fn d_rw_timeout() -> Duration {
    Duration::from_secs(30)
}
fn d_max_backoff() -> Duration {
    Duration::from_secs(30)
}
