//! `[[connect]]`: the slave host's side of a tunnel.

use std::path::PathBuf;

use rmq_runtime::config::{HostPort, ListenerConfig, Problems};
use serde::Deserialize;

use super::{Limits, check_broker_name, yes};

/// `[[connect]]`: the slave host's side.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    /// `name` (metric label and log field; default: `broker_name`) and `listen` (where the
    /// slave's `haMasterAddress` points, normally loopback).
    #[serde(flatten)]
    pub listener: ListenerConfig,
    /// The master host's accept-side guard.
    pub remote: HostPort,
    /// The master's `brokerName` (signed into the first packet).
    pub broker_name: String,
    /// Which key signs the first packet.
    pub key_id: String,
    /// Read the HA stream as it passes (metrics on the slave side too).
    #[serde(default = "yes")]
    pub inspect: bool,
    /// Which HA protocol the tunnel carries; read only with `inspect`.
    #[serde(default)]
    pub ha_protocol: super::HaProtocol,
    /// CA certificates (PEM) that the accept side's certificate must chain to; set it to
    /// use TLS.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// The name the accept side's certificate must carry (default: the host of `remote`).
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// This end signs a first packet for whoever connects to `listen`, so `listen` must be a
    /// loopback address unless this is set (see docs/ha-guard.md).
    #[serde(default)]
    pub allow_non_loopback_listen: bool,
    /// Budgets and deadlines (their keys sit in this table).
    #[serde(flatten)]
    pub limits: Limits,
}

impl Connect {
    /// The label of this end: its name, else the broker name.
    pub fn label(&self) -> &str {
        self.listener.name_or(&self.broker_name)
    }

    /// The name the accept side's certificate must carry.
    pub fn tls_server_name(&self) -> &str {
        self.tls_server_name.as_deref().unwrap_or_else(|| self.remote.host())
    }

    /// Problems with the end at `at` (`connect[i]`); `key_ids` are the configured keys.
    pub fn check(&self, at: &str, key_ids: &[&str], p: &mut Problems) {
        check_broker_name(at, &self.broker_name, p);
        self.limits.check(at, p);
        if !self.listener.listen.ip().is_loopback() && !self.allow_non_loopback_listen {
            p.at(
                at,
                "listen",
                format!(
                    "{} is not a loopback address: this end signs a first packet for whoever connects to it, \
                     so anyone who can reach it replicates as the slave; use 127.0.0.1 or [::1], or set \
                     allow_non_loopback_listen = true on this [[connect]] if the address is firewalled to the slave",
                    self.listener.listen
                ),
            );
        }
        if !key_ids.contains(&self.key_id.as_str()) {
            p.at(at, "key_id", format!("{:?} is not in [[keys]]", self.key_id));
        }
        if self.tls_server_name.is_some() && self.tls_ca_file.is_none() {
            p.at(at, "tls_server_name", "needs tls_ca_file (TLS is on only with a CA)");
        }
    }
}
