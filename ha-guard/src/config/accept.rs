//! `[[accept]]`: the master host's side of a tunnel.

use std::path::PathBuf;

use rmq_runtime::config::{HostPort, ListenerConfig, Problems};
use serde::Deserialize;

use super::{Limits, check_broker_name, yes};

/// `[[accept]]`: the master host's side.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// `name` (metric label and log field; default: `broker_name`) and `listen` (the public
    /// HA address slaves' connect-side guards dial).
    #[serde(flatten)]
    pub listener: ListenerConfig,
    /// The master's real HA port, normally on loopback.
    pub upstream: HostPort,
    /// The master's `brokerName`; a first packet signed for another broker is refused.
    pub broker_name: String,
    /// Key ids accepted here (empty: every configured key).
    #[serde(default)]
    pub key_ids: Vec<String>,
    /// Read the classic HA stream as it passes (per-slave offsets, impossible reports close
    /// the tunnel). Off for 5.x controller mode, whose frames differ.
    #[serde(default = "yes")]
    pub inspect: bool,
    /// TLS server certificate chain (PEM); with `tls_key_file`, tunnels are TLS.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// TLS private key (PEM).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Budgets and deadlines (their keys sit in this table).
    #[serde(flatten)]
    pub limits: Limits,
}

impl Accept {
    /// The label of this end: its name, else the broker name.
    pub fn label(&self) -> &str {
        self.listener.name_or(&self.broker_name)
    }

    /// Problems with the end at `at` (`accept[i]`); `key_ids` are the configured keys.
    pub fn check(&self, at: &str, key_ids: &[&str], p: &mut Problems) {
        check_broker_name(at, &self.broker_name, p);
        self.limits.check(at, p);
        if self.upstream.as_str() == self.listener.listen.to_string() {
            p.at(at, "upstream", "is the listen address itself");
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            p.at(at, "tls_cert_file", "tls_cert_file and tls_key_file go together");
        }
        for id in &self.key_ids {
            if !key_ids.contains(&id.as_str()) {
                p.at(at, "key_ids", format!("{id:?} is not in [[keys]]"));
            }
        }
        if key_ids.is_empty() {
            p.add(at, "an accept side needs at least one [[keys]] entry");
        }
    }
}
