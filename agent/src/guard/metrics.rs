//! The guard's counters as metric families.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use super::stats::{CLASSES, GuardStats, LATENCY_BUCKETS};
use rmq_runtime::metrics::Family;

/// Families for every listener.
pub fn families(listeners: &[Arc<Shared>]) -> Vec<Family> {
    let mut conns = Family::counter("rmq_guard_connections", "Client connections, by outcome.");
    let mut active = Family::gauge("rmq_guard_connections_active", "Client connections open now.");
    let mut closed = Family::counter("rmq_guard_connection_errors", "Connections closed by the guard, by reason.");
    let mut requests = Family::counter("rmq_guard_requests", "Requests from clients, by request-code class.");
    let mut admin =
        Family::counter("rmq_guard_admin_requests", "Administrative requests, by outcome (allowed or why rejected).");
    let mut oneway = Family::counter("rmq_guard_oneway_admin_dropped", "Unsigned oneway admin requests dropped.");
    let mut dropped = Family::counter(
        "rmq_guard_frames_dropped",
        "Client frames dropped without closing the connection, by reason (unsolicited_response).",
    );
    let mut routes = Family::counter(
        "rmq_guard_route_changes",
        "Route writes (broker registration, unregistration, topic registration, heartbeats), by code and outcome.",
    );
    let mut evicted = Family::counter(
        "rmq_guard_pending_evicted",
        "Unanswered requests a connection stopped tracking (over max_pending_requests).",
    );
    #[allow(clippy::cast_precision_loss)]
    for l in listeners {
        let s = &l.stats;
        let lb = |k: &'static str, v: &str| vec![("listener", l.name.clone()), (k, v.to_owned())];
        conns.push(lb("outcome", "accepted"), s.accepted.load(Ordering::Relaxed) as f64);
        conns.push(lb("outcome", "refused_limit"), s.refused.load(Ordering::Relaxed) as f64);
        conns.push(lb("outcome", "refused_source_limit"), s.refused_source.load(Ordering::Relaxed) as f64);
        conns.push(lb("outcome", "upstream_unreachable"), s.upstream_failures.load(Ordering::Relaxed) as f64);
        active.push(vec![("listener", l.name.clone())], s.active.load(Ordering::Relaxed) as f64);
        // The two reasons every deployment sees are always present (alert rules rate() them).
        let closed_now = GuardStats::snapshot(&s.closed);
        for always in ["malformed_frame", "timeout"] {
            if !closed_now.iter().any(|(k, _)| *k == always) {
                closed.push(lb("reason", always), 0.0);
            }
        }
        for (reason, n) in closed_now {
            closed.push(lb("reason", reason), n as f64);
        }
        for (reason, n) in GuardStats::snapshot(&s.dropped) {
            dropped.push(lb("reason", reason), n as f64);
        }
        oneway.push(vec![("listener", l.name.clone())], s.oneway_dropped.load(Ordering::Relaxed) as f64);
        evicted.push(vec![("listener", l.name.clone())], s.pending_evicted.load(Ordering::Relaxed) as f64);
        for (class, n) in CLASSES.iter().zip(&s.requests) {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                requests.push(lb("class", class), n as f64);
            }
        }
        for (k, v) in GuardStats::snapshot(&s.admin) {
            admin.push(lb("outcome", k), v as f64);
        }
        let mut by_code: Vec<((i32, &'static str), u64)> =
            s.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().map(|(k, v)| (*k, *v)).collect();
        by_code.sort_unstable();
        for ((code, outcome), n) in by_code {
            routes.push(
                vec![
                    ("listener", l.name.clone()),
                    ("code", rmq_protocol::RequestCode(code).to_string()),
                    ("outcome", outcome.to_owned()),
                ],
                n as f64,
            );
        }
    }
    let mut latency = Family::histogram(
        "rmq_guard_broker_response",
        "Broker response time seen by the guard, by request-code class.",
    )
    .with_unit(prometheus_client::registry::Unit::Seconds);
    let mut sends = Family::counter(
        "rmq_guard_send_requests",
        "Sends the broker accepted, by client host and topic (capped; overflow counted as other).",
    );
    for l in listeners {
        for (class, h) in CLASSES.iter().zip(&l.stats.latency) {
            let counts: Vec<u64> = h.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            if counts.iter().all(|c| *c == 0) {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            latency.samples.push(rmq_runtime::metrics::Sample::Histogram {
                labels: vec![("listener", l.name.clone()), ("class", (*class).to_owned())],
                buckets: LATENCY_BUCKETS.iter().copied().zip(counts).collect(),
                sum: h.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
            });
        }
        #[allow(clippy::cast_precision_loss)]
        for ((host, topic), n) in l.stats.sends.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            sends.push(
                vec![("listener", l.name.clone()), ("client", host.clone()), ("topic", topic.clone())],
                *n as f64,
            );
        }
    }
    vec![conns, active, closed, requests, admin, routes, oneway, dropped, evicted, latency, sends]
}
