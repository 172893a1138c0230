//! `[[accept]]`: the master host's side of a tunnel.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rmq_runtime::config::{HostPort, ListenerConfig, Problems};
use serde::Deserialize;

use super::{HaProtocol, Limits, check_broker_name, yes};

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
    /// Read the HA stream as it passes (per-slave offsets, impossible reports close the
    /// tunnel), in the protocol `ha_protocol` names.
    #[serde(default = "yes")]
    pub inspect: bool,
    /// Which HA protocol the tunnel carries; read only with `inspect`.
    #[serde(default)]
    pub ha_protocol: HaProtocol,
    /// Auto-switch HA: key id → the broker ids a slave authenticated with that key may
    /// declare in its handshake (the master knows a slave by the id it declares). Empty: any
    /// key may declare any id; otherwise a key not listed may declare none.
    #[serde(default)]
    pub slave_ids: BTreeMap<String, Vec<i64>>,
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
        let reads_auto_switch = self.inspect && self.ha_protocol == HaProtocol::AutoSwitch;
        if !self.slave_ids.is_empty() && !reads_auto_switch {
            p.at(
                at,
                "slave_ids",
                "binds the broker ids of auto-switch handshakes: needs inspect = true and ha_protocol = \"auto-switch\"",
            );
        }
        for (key, ids) in &self.slave_ids {
            let accepted = key_ids.contains(&key.as_str()) && (self.key_ids.is_empty() || self.key_ids.contains(key));
            if !accepted {
                p.at(at, "slave_ids", format!("{key:?} is not a key this end accepts"));
            }
            if ids.is_empty() || ids.iter().any(|id| *id < 0) {
                p.at(at, &format!("slave_ids.{key}"), "one or more broker ids, each 0 or more");
            }
        }
    }
}
