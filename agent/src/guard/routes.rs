//! Route writes at a name-server listener (registration, unregistration, topic registration,
//! heartbeats): every one that reaches a decision is counted by code and outcome, and gets an
//! audit line naming the key, the broker (names, cluster, address, HA address) and the source.
//! What reached the name server unchecked (a listener's `allow_unsigned` opt-out) and every
//! refusal are logged within the listener's log budget, by their header only; an accepted
//! signed one always is.

use std::net::SocketAddr;

use rmq_protocol::route_claim::route_claim;
use rmq_protocol::{Header, RequestCode};
use tracing::{info, warn};

use super::log_budget::clip;
use super::relay::Shared;

/// Counts and audits route write `header` (with `body`) from `peer`: `outcome` is `allowed`
/// (signed by `key_id`), `unsigned` or `unchecked` (let through by `allow_unsigned`, without or
/// with a signature, which was then not checked), or the reason it was refused (with `detail`).
pub fn record(
    shared: &Shared,
    peer: SocketAddr,
    header: &Header,
    body: &[u8],
    outcome: &'static str,
    key_id: &str,
    detail: &str,
) {
    shared.stats.route(header.code, outcome);
    let signed = outcome == "allowed";
    if !signed && !shared.logs.allow(&shared.name) {
        return;
    }
    let code = RequestCode(header.code);
    let ext = |k: &str| clip(header.ext(k).unwrap_or(""));
    // The broker names of a topic registration are in its body; read only for one a key
    // signed (a scoped key's was read and judged already, and the reader refuses more than a
    // few dozen names). An unsigned, unchecked or refused one is audited by its header alone:
    // reading its body would let anyone spend the guard's CPU.
    let brokers = match header.request_code() {
        RequestCode::REGISTER_TOPIC_IN_NAMESRV if !signed => String::new(),
        RequestCode::REGISTER_TOPIC_IN_NAMESRV => header
            .ext_fields
            .as_ref()
            .and_then(|e| route_claim(header.code, e, body).ok())
            .map(|c| clip(&c.broker_names.join(",")).into_owned())
            .unwrap_or_default(),
        _ => ext("brokerName").into_owned(),
    };
    let (cluster, broker_addr, ha_addr, topic) =
        (ext("clusterName"), ext("brokerAddr"), ext("haServerAddr"), ext("topic"));
    let key_id = clip(key_id);
    if matches!(outcome, "allowed" | "unsigned" | "unchecked") {
        info!(target: "rmq_agent::audit", listener = %shared.name, source = %peer, code = %code, key_id = %key_id, broker = %brokers, cluster = %cluster, broker_addr = %broker_addr, ha_addr = %ha_addr, topic = %topic, outcome, "route change");
    } else {
        warn!(target: "rmq_agent::audit", listener = %shared.name, source = %peer, code = %code, key_id = %key_id, broker = %brokers, cluster = %cluster, broker_addr = %broker_addr, ha_addr = %ha_addr, topic = %topic, outcome, detail = %clip(detail), "route change refused");
    }
}
