//! `[put_probe]`: the active store-latency probe.

use std::path::PathBuf;
use std::time::Duration;

use rmq_runtime::config::Problems;
use rmq_runtime::config::duration::millis;
use serde::Deserialize;

use crate::guard::Scheme;

/// `[put_probe]`: send a small message every interval and time the broker's answer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PutProbeConfig {
    /// Off by default: it writes to the broker.
    pub enabled: bool,
    /// The probe topic (created at start if missing; no consumer group reads it).
    pub topic: String,
    /// Between sends. Key: `interval_ms`.
    #[serde(rename = "interval_ms", deserialize_with = "millis")]
    pub interval: Duration,
    /// How long one send may take (a slower answer counts as a timeout). Key: `timeout_ms`.
    #[serde(rename = "timeout_ms", deserialize_with = "millis")]
    pub timeout: Duration,
    /// Message body size.
    pub body_bytes: usize,
    /// Key id that signs the create-topic request (when the broker sits behind an admin
    /// guard); with `key_file`.
    pub key_id: Option<String>,
    /// Its secret.
    pub key_file: Option<PathBuf>,
    /// The scheme that signs it.
    pub scheme: Scheme,
}

impl Default for PutProbeConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            topic: "RMQ_SIDECAR_PUT_PROBE".into(),
            interval: Duration::from_millis(1000),
            timeout: Duration::from_millis(3000),
            body_bytes: 128,
            key_id: None,
            key_file: None,
            scheme: Scheme::RmqHmacV1,
        }
    }
}

impl PutProbeConfig {
    /// Problems with the section at `at` (`put_probe`); none while it is off.
    pub fn check(&self, at: &str, p: &mut Problems) {
        if !self.enabled {
            return;
        }
        if self.topic.is_empty() {
            p.at(at, "topic", "must be set");
        }
        p.nonzero(at, "interval_ms", self.interval);
        p.nonzero(at, "timeout_ms", self.timeout);
        if self.key_id.is_some() != self.key_file.is_some() {
            p.at(at, "key_id", "key_id and key_file go together");
        }
    }
}
