//! The egress's counters, per route (name server), and their metric families.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rmq_runtime::metrics::Family;

use super::relay::Route;

/// Counters of one route.
#[derive(Debug, Default)]
pub struct EgressStats {
    /// Connections accepted from the broker.
    pub accepted: AtomicU64,
    /// Connections refused at `max_connections`.
    pub refused: AtomicU64,
    /// Connections closed because the name server could not be dialled.
    pub upstream_failures: AtomicU64,
    /// Connections open now.
    pub active: AtomicU64,
    /// Frames passed unsigned (not route writes).
    pub passed: AtomicU64,
    /// Route writes signed, by code.
    pub signed: Mutex<HashMap<i32, u64>>,
    /// Answers to signed route writes, by (code, outcome): `success`, `refused` (the name
    /// server's guard said NO_PERMISSION) or `error` (another code).
    pub answers: Mutex<HashMap<(i32, &'static str), u64>>,
    /// Connections closed by the egress, by reason.
    pub closed: Mutex<HashMap<&'static str, u64>>,
}

impl EgressStats {
    /// Counts a signed route write.
    pub fn signed(&self, code: i32) {
        *lock(&self.signed).entry(code).or_default() += 1;
    }

    /// Counts an answer to a signed route write.
    pub fn answer(&self, code: i32, outcome: &'static str) {
        *lock(&self.answers).entry((code, outcome)).or_default() += 1;
    }

    /// Counts a connection closed for `reason`.
    pub fn closed(&self, reason: &'static str) {
        *lock(&self.closed).entry(reason).or_default() += 1;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn code_label(code: i32) -> String {
    rmq_protocol::RequestCode(code).to_string()
}

/// The families of every route.
#[allow(clippy::cast_precision_loss)]
pub fn families(routes: &[Arc<Route>]) -> Vec<Family> {
    let mut conns = Family::counter("rmq_namesrv_egress_connections", "Broker connections to the egress, by outcome.");
    let mut active = Family::gauge("rmq_namesrv_egress_connections_active", "Broker connections open now.");
    let mut requests = Family::counter(
        "rmq_namesrv_egress_requests",
        "Broker requests relayed to the name server: route writes signed (by code), others passed as they came.",
    );
    let mut answers = Family::counter(
        "rmq_namesrv_egress_answers",
        "Name-server answers to signed route writes, by code and outcome (success, refused, error).",
    );
    let mut closed =
        Family::counter("rmq_namesrv_egress_connection_errors", "Broker connections the egress closed, by reason.");
    for r in routes {
        let s = &r.stats;
        let ns = || ("namesrv", r.upstream.clone());
        for (outcome, v) in
            [("accepted", &s.accepted), ("refused_limit", &s.refused), ("upstream_unreachable", &s.upstream_failures)]
        {
            conns.push(vec![ns(), ("outcome", outcome.to_owned())], v.load(Ordering::Relaxed) as f64);
        }
        active.push(vec![ns()], s.active.load(Ordering::Relaxed) as f64);
        requests.push(
            vec![ns(), ("code", "other".to_owned()), ("outcome", "passed".to_owned())],
            s.passed.load(Ordering::Relaxed) as f64,
        );
        let mut signed: Vec<(i32, u64)> = lock(&s.signed).iter().map(|(k, v)| (*k, *v)).collect();
        signed.sort_unstable();
        for (code, n) in signed {
            requests.push(vec![ns(), ("code", code_label(code)), ("outcome", "signed".to_owned())], n as f64);
        }
        let mut by: Vec<((i32, &str), u64)> = lock(&s.answers).iter().map(|(k, v)| (*k, *v)).collect();
        // The registration's outcomes are always present, so alert rules see them from 0.
        let register = rmq_protocol::RequestCode::REGISTER_BROKER.get();
        for outcome in ["success", "refused", "error"] {
            if !by.iter().any(|((c, o), _)| *c == register && *o == outcome) {
                by.push(((register, outcome), 0));
            }
        }
        by.sort_unstable();
        for ((code, outcome), n) in by {
            answers.push(vec![ns(), ("code", code_label(code)), ("outcome", outcome.to_owned())], n as f64);
        }
        let mut reasons: Vec<(&str, u64)> = lock(&s.closed).iter().map(|(k, v)| (*k, *v)).collect();
        for always in ["malformed_frame", "timeout"] {
            if !reasons.iter().any(|(r, _)| *r == always) {
                reasons.push((always, 0));
            }
        }
        reasons.sort_unstable();
        for (reason, n) in reasons {
            closed.push(vec![ns(), ("reason", reason.to_owned())], n as f64);
        }
    }
    vec![conns, active, requests, answers, closed]
}
