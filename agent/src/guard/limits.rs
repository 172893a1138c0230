//! One guarded listener's limits. The same struct is what `[[guard.listeners]]` holds (its
//! keys are read straight into it, flattened into the listener's table) and what the relay
//! enforces.

use std::time::Duration;

use rmq_runtime::config::Problems;
use rmq_runtime::config::duration::{millis, secs};
use serde::Deserialize;

/// Limits of one listener. Each field is a key of `[[guard.listeners]]`; the durations are
/// written in the unit their key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections at once; more are refused (closed on accept).
    pub max_connections: usize,
    /// Once a frame has started, the rest of it must arrive within this; a new connection's
    /// first frame must arrive whole within this of the accept. Key: `frame_timeout_ms`.
    #[serde(rename = "frame_timeout_ms", deserialize_with = "millis")]
    pub frame_timeout: Duration,
    /// A connection with no frame in either direction for this long is closed (Java's
    /// server uses 120 s). Key: `idle_timeout_seconds`.
    #[serde(rename = "idle_timeout_seconds", deserialize_with = "secs")]
    pub idle_timeout: Duration,
    /// Dialling the broker. Key: `connect_timeout_ms`.
    #[serde(rename = "connect_timeout_ms", deserialize_with = "millis")]
    pub connect_timeout: Duration,
    /// Connections at once from one source IP address.
    pub max_connections_per_source: usize,
    /// A write toward a client (or the broker) must complete within this; a peer that stops
    /// reading loses its connection instead of growing the guard's buffers. Key:
    /// `write_timeout_ms`.
    #[serde(rename = "write_timeout_ms", deserialize_with = "millis")]
    pub write_timeout: Duration,
    /// Requests forwarded to the broker and not yet answered, per connection; past it the
    /// oldest is forgotten (counted in `rmq_guard_pending_evicted_total`).
    pub max_pending_requests: usize,
    /// Largest header (bytes) the guard reads; a larger one closes the connection.
    pub max_header_bytes: usize,
    /// Most ext fields in one header; more closes the connection.
    pub max_ext_fields: usize,
    /// Largest body of a request that needs a signature (the signature covers the body, so
    /// checking it costs time in proportion). A larger one is refused as soon as its header
    /// has arrived, before the body is buffered.
    pub max_signed_body_bytes: usize,
    /// Largest frame a client may send (length prefix included); judged from the prefix.
    pub max_frame_bytes: usize,
    /// Bytes that large partial client frames (over 64 KiB) may hold at once, listener-wide.
    pub max_buffered_bytes: usize,
}

impl Limits {
    /// Defaults, far above what stock clients send (a SEND_MESSAGE_V2 header is ~0.5 KiB with
    /// fourteen fields; the largest stock admin header, a signed config update, is a few KiB).
    pub const DEFAULT: Limits = Limits {
        max_connections: 10_000,
        frame_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(150),
        connect_timeout: Duration::from_secs(3),
        max_connections_per_source: 256,
        write_timeout: Duration::from_secs(30),
        max_pending_requests: 1_024,
        max_header_bytes: 64 * 1024,
        max_ext_fields: 256,
        max_signed_body_bytes: 1024 * 1024,
        // A Java broker's default maxMessageSize (4 MiB) plus the largest header allowed.
        max_frame_bytes: 4 * 1024 * 1024 + 64 * 1024,
        max_buffered_bytes: 256 * 1024 * 1024,
    };

    /// Problems with these limits, in the listener table at `at`.
    pub fn check(&self, at: &str, p: &mut Problems) {
        p.nonzero(at, "max_connections", self.max_connections);
        p.nonzero(at, "frame_timeout_ms", self.frame_timeout);
        p.nonzero(at, "idle_timeout_seconds", self.idle_timeout);
        p.nonzero(at, "connect_timeout_ms", self.connect_timeout);
        p.nonzero(at, "write_timeout_ms", self.write_timeout);
        p.nonzero(at, "max_connections_per_source", self.max_connections_per_source);
        p.nonzero(at, "max_pending_requests", self.max_pending_requests);
        p.nonzero(at, "max_ext_fields", self.max_ext_fields);
        let max_frame = rmq_protocol::frame::MAX_FRAME_LEN as usize;
        // Below ~1 KiB a stock client's send header would not fit; above Java's frame limit
        // the setting means nothing.
        if !(1024..=max_frame).contains(&self.max_header_bytes) {
            p.at(at, "max_header_bytes", format!("{} is outside 1024..={max_frame}", self.max_header_bytes));
        }
        if !(4096..=max_frame + 4).contains(&self.max_frame_bytes) {
            p.at(at, "max_frame_bytes", format!("{} is outside 4096..={}", self.max_frame_bytes, max_frame + 4));
        }
        if self.max_buffered_bytes < self.max_frame_bytes {
            p.at(
                at,
                "max_buffered_bytes",
                format!("must hold at least one frame of max_frame_bytes ({})", self.max_frame_bytes),
            );
        }
        if self.max_signed_body_bytes > max_frame {
            p.at(at, "max_signed_body_bytes", format!("must be at most {max_frame} (Java's frame limit)"));
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
