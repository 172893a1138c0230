//! Limits and timing of one tunnel end: the `max_connections`, `max_pending_hellos`,
//! `hello_timeout_ms`, `connect_timeout_ms` and `idle_timeout_seconds` keys of `[[accept]]`
//! and `[[connect]]`, read straight into [`Limits`] (flattened into the end's table).

use std::time::Duration;

use rmq_runtime::config::Problems;
use rmq_runtime::config::duration::{millis, secs};
use serde::Deserialize;

/// Limits and timing of one tunnel end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Authenticated tunnels at once; a connection authenticated while they are all taken is
    /// closed.
    pub max_connections: usize,
    /// Connections not yet authenticated, at once (their own budget, apart from the
    /// tunnels'). When it is full, the oldest of them is closed to make room.
    pub max_pending_hellos: usize,
    /// Accept side: the first packet must arrive whole within this (and the TLS handshake
    /// before it). Connect side: the answer must arrive within this. Key: `hello_timeout_ms`.
    #[serde(rename = "hello_timeout_ms", deserialize_with = "millis")]
    pub hello_timeout: Duration,
    /// Dialling the next hop. Key: `connect_timeout_ms`.
    #[serde(rename = "connect_timeout_ms", deserialize_with = "millis")]
    pub connect_timeout: Duration,
    /// A tunnel with no bytes either way for this long is closed. HA heartbeats flow every
    /// 5 s and brokers close after 20 s of silence, so this only catches dead peers. Key:
    /// `idle_timeout_seconds`.
    #[serde(rename = "idle_timeout_seconds", deserialize_with = "secs")]
    pub idle_timeout: Duration,
}

/// The HA protocol's own silence limit: a broker closes a connection quiet for this long.
const HA_SILENCE: Duration = Duration::from_secs(20);

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 64,
            max_pending_hellos: 64,
            hello_timeout: Duration::from_millis(5_000),
            connect_timeout: Duration::from_millis(3_000),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// Problems with these limits, in the tunnel end's table at `at`.
    pub fn check(&self, at: &str, p: &mut Problems) {
        p.nonzero(at, "max_connections", self.max_connections);
        p.nonzero(at, "max_pending_hellos", self.max_pending_hellos);
        p.nonzero(at, "hello_timeout_ms", self.hello_timeout);
        p.nonzero(at, "connect_timeout_ms", self.connect_timeout);
        if self.idle_timeout <= HA_SILENCE {
            p.at(at, "idle_timeout_seconds", "must exceed the HA protocol's own 20 s (heartbeats every 5 s)");
        }
    }
}
