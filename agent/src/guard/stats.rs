//! The guard's counters: per listener, lock-free where a frame touches them on the hot path,
//! and small maps (by reason or outcome) where only refusals do.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rmq_protocol::RequestCode;
use rmq_protocol::policy::{CodeClass, classify};

/// Upper bounds (seconds) of the response-latency buckets; the last is +Inf.
pub const LATENCY_BUCKETS: [f64; 15] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, f64::INFINITY];

/// Distinct (client host, topic) send series kept; the rest are counted under `other`.
pub const MAX_SEND_SERIES: usize = 10_000;

/// Request-code classes counted by the guard (labels); [`class_index`] maps a code here.
pub const CLASSES: [&str; 11] = [
    "admin_write",
    "admin_read",
    "data_write",
    "data_read",
    "data_session",
    "callback",
    "internal_write",
    "internal_read",
    "unhandled",
    "unknown",
    "response",
];

/// Index of `response` in [`CLASSES`]: frames a client sends with the response bit set.
pub const RESPONSE_CLASS: usize = 10;

/// Index into [`CLASSES`] for a request code.
pub fn class_index(code: i32) -> usize {
    match classify(RequestCode(code)) {
        Some(CodeClass::AdminWrite) => 0,
        Some(CodeClass::AdminRead) => 1,
        Some(CodeClass::DataWrite) => 2,
        Some(CodeClass::DataRead) => 3,
        Some(CodeClass::DataSession) => 4,
        Some(CodeClass::Callback) => 5,
        Some(CodeClass::InternalWrite) => 6,
        Some(CodeClass::InternalRead) => 7,
        Some(CodeClass::Unhandled) => 8,
        None => 9,
    }
}

/// A fixed-bucket histogram, lock-free: per-bucket counts and a sum in microseconds.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Count per bucket of [`LATENCY_BUCKETS`].
    pub counts: [AtomicU64; 15],
    /// Sum of observations, microseconds.
    pub sum_us: AtomicU64,
}

impl LatencyHistogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BUCKETS.len() - 1);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Counters of one listener (rendered by [`super::families`]).
#[derive(Debug, Default)]
pub struct GuardStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections refused at the listener's limit.
    pub refused: AtomicU64,
    /// Connections refused at the per-source-address limit.
    pub refused_source: AtomicU64,
    /// Connections open now.
    pub active: AtomicU64,
    /// Broker unreachable for a new client.
    pub upstream_failures: AtomicU64,
    /// Connections closed by the guard, by reason (`malformed_frame`, `timeout`, a header
    /// refusal such as `repeated_field`, `write_timeout`, …).
    pub closed: Mutex<HashMap<&'static str, u64>>,
    /// Requests from clients, by code class (index: [`class_index`]).
    pub requests: [AtomicU64; CLASSES.len()],
    /// Signed-code requests by outcome (`allowed`, or a rejection reason).
    pub admin: Mutex<HashMap<&'static str, u64>>,
    /// Oneway requests that needed a signature and had none, dropped.
    pub oneway_dropped: AtomicU64,
    /// Client frames dropped without closing the connection, by reason.
    pub dropped: Mutex<HashMap<&'static str, u64>>,
    /// Requests no longer tracked because a connection had too many unanswered.
    pub pending_evicted: AtomicU64,
    /// Broker response latency by request-code class (index: [`class_index`]).
    pub latency: [LatencyHistogram; CLASSES.len()],
    /// Sends the broker accepted, by (client host, topic), capped at [`MAX_SEND_SERIES`].
    pub sends: Mutex<HashMap<(String, String), u64>>,
    /// Route writes (registrations …) by (code, outcome): `allowed`, `unsigned` or `unchecked`
    /// (let through by `allow_unsigned`, without or with a signature), or why refused.
    pub routes: Mutex<HashMap<(i32, &'static str), u64>>,
}

impl GuardStats {
    /// Counts a connection closed for `reason`.
    pub fn closed(&self, reason: &'static str) {
        bump(&self.closed, reason);
    }

    /// Counts a dropped client frame.
    pub fn dropped(&self, reason: &'static str) {
        bump(&self.dropped, reason);
    }

    /// Counts a signed-code request's outcome.
    pub fn admin(&self, outcome: &'static str) {
        bump(&self.admin, outcome);
    }

    /// Counts a route write's outcome.
    pub fn route(&self, code: i32, outcome: &'static str) {
        *self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry((code, outcome)).or_default() += 1;
    }

    /// Counts a request of class index `class`.
    pub fn request(&self, class: usize) {
        self.requests[class].fetch_add(1, Ordering::Relaxed);
    }

    /// Merges per-connection send counts into the listener's table.
    pub fn add_sends(&self, host: &str, counts: impl Iterator<Item = (String, u64)>) {
        let mut m = self.sends.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (topic, n) in counts {
            let key = (host.to_owned(), topic);
            if m.len() >= MAX_SEND_SERIES && !m.contains_key(&key) {
                *m.entry(("other".into(), "other".into())).or_default() += n;
            } else {
                *m.entry(key).or_default() += n;
            }
        }
    }

    /// A copy of a reason map, for rendering.
    pub fn snapshot(m: &Mutex<HashMap<&'static str, u64>>) -> Vec<(&'static str, u64)> {
        let mut v: Vec<_> =
            m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_unstable();
        v
    }
}

fn bump(m: &Mutex<HashMap<&'static str, u64>>, k: &'static str) {
    *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(k).or_default() += 1;
}
