//! One client connection's decisions, with no I/O: what to do with each client frame, each
//! broker frame and each deadline. The relay ([`super::relay`]) reads frames, asks the
//! session, and writes what it is told; tests drive a session frame by frame with synthetic
//! times.
//!
//! The rules a session enforces:
//! - Every client header is read whole by the guard reader, which refuses what a Java broker
//!   could read differently (repeated or loosely spelled fields, repeated ext keys, headers
//!   over the size or field limits); a refusal closes the connection.
//! - A JSON header is never forwarded as the client wrote it: the broker receives the guard's
//!   canonical encoding of the header it decided on. A binary header, whose fields sit at
//!   fixed offsets, is forwarded as its original bytes once it has been read without doubt.
//! - A code that is not on the listener's unsigned list needs a valid signature.
//! - Route writes (broker registration and the like) are counted and audited, signed or not.
//! - A response-flagged frame from a client is forwarded only if it answers a request the
//!   broker sent on this connection (by opaque); otherwise it is dropped and counted.
//! - What a connection remembers is bounded: requests awaiting a response, broker requests
//!   awaiting the client's answer, and per-topic send counts (topic names up to Java's limit).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::policy::is_route_write;
use rmq_protocol::{Header, Peek, RequestCode, ResponseCode, SerializeType};
use tokio::time::Instant;
use tracing::{info, warn};

use rmq_protocol::header::DecodeLimits;

use super::Decision;
use super::limits::Limits;
use super::log_budget::clip;
use super::opaques::Opaques;
use super::relay::Shared;
use super::routes;
use super::stats::{RESPONSE_CLASS, class_index};
use super::tally::{SendTally, TopicId};

/// How often per-connection send counts are merged into the listener's table.
pub const TALLY_FLUSH: Duration = Duration::from_secs(1);

/// Java's longest topic name; a longer one is refused by the broker and never counted.
pub const MAX_TOPIC_LEN: usize = 127;

/// Largest encoding buffer a connection keeps between frames (a Java send header is ~0.5 KiB).
const SCRATCH_KEEP: usize = 4096;

/// Broker-to-client requests remembered per connection while their answer is owed.
const MAX_CALLBACKS: usize = 1024;

/// What to do with a client frame.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientVerdict {
    /// Write these bytes to the broker: the original frame, or its canonical re-encoding.
    Forward(Bytes),
    /// Answer the client with these bytes on the broker's behalf; nothing reaches the broker.
    Reply(Bytes),
    /// Forget the frame (counted); the connection stays.
    Drop,
    /// Close the connection, for this reason (counted and logged once).
    Close(&'static str),
}

/// What to do with a broker frame.
#[derive(Debug, PartialEq, Eq)]
pub enum BrokerVerdict {
    /// Relay it to the client as it is.
    Forward,
    /// Close the connection, for this reason.
    Close(&'static str),
}

/// What a deadline check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Due {
    /// Close the connection, for this reason.
    Close(&'static str),
    /// Nothing is due before this instant.
    Next(Instant),
}

#[derive(Debug)]
struct Pending {
    sent: Instant,
    class: usize,
    /// The topic of a send (its number in the tally), counted when the broker accepts it.
    topic: Option<TopicId>,
}

/// The state of one client connection.
#[derive(Debug)]
pub struct Session {
    shared: Arc<Shared>,
    peer: SocketAddr,
    host: String,
    /// Client requests forwarded and not yet answered.
    pending: Opaques<Pending>,
    /// Broker requests to the client whose answer is owed.
    callbacks: Opaques<()>,
    /// Accepted sends by topic since the last flush.
    tally: SendTally,
    last_flush: Instant,
    last_activity: Instant,
    /// Until the first whole frame arrives, the deadline for it.
    first_frame_by: Option<Instant>,
    /// Where a JSON header's canonical encoding is written to compare with the client's.
    scratch: BytesMut,
}

impl Session {
    /// A session for a client accepted at `now`.
    pub fn new(shared: Arc<Shared>, peer: SocketAddr, now: Instant) -> Self {
        let limits = shared.limits;
        Self {
            shared,
            peer,
            host: peer.ip().to_string(),
            pending: Opaques::new(limits.max_pending_requests),
            callbacks: Opaques::new(MAX_CALLBACKS),
            tally: SendTally::default(),
            last_flush: now,
            last_activity: now,
            first_frame_by: Some(now + limits.frame_timeout),
            scratch: BytesMut::new(),
        }
    }

    fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Decides on one frame from the client. `wall_ms` is the wall clock (signature windows).
    pub fn client_frame(&mut self, f: &RawFrame, now: Instant, wall_ms: u64) -> ClientVerdict {
        self.last_activity = now;
        self.first_frame_by = None;
        let stats = &self.shared.stats;
        let limits = decode_limits(self.limits());
        // A JSON header is read whole (only the guard's encoding of it is forwarded); a binary
        // one is walked — every length and key checked, no allocation — and read whole only if
        // its code needs a signature.
        let mut walked_topic = None;
        let (p, mut header) = if f.serialize_type() == SerializeType::ROCKETMQ {
            // The code sits at a fixed offset; it says which field names a send's topic.
            let topic_key = f.peek_code().map_or("", topic_key);
            match Header::walk_guarded(f.header_bytes(), &limits, topic_key) {
                Ok((p, topic)) => {
                    walked_topic = topic;
                    (p, None)
                }
                Err(r) => return ClientVerdict::Close(r.reason()),
            }
        } else {
            match f.header_guarded(&limits) {
                Ok(h) => (Peek { code: h.code, flag: h.flag, opaque: h.opaque }, Some(h)),
                Err(r) => return ClientVerdict::Close(r.reason()),
            }
        };
        if p.is_response() {
            stats.request(RESPONSE_CLASS);
            if self.callbacks.remove(p.opaque).is_none() {
                stats.dropped("unsolicited_response");
                return ClientVerdict::Drop;
            }
            return outbound(f, header.as_ref(), &mut self.scratch);
        }
        let code = p.code;
        let class = class_index(code);
        stats.request(class);
        let policy = self.shared.policy();
        if policy.needs_signature(code) {
            // Checking a signature hashes the body; past the limit the frame is not judged at
            // all (the relay usually refuses it before the body has even arrived).
            if f.body().len() > self.limits().max_signed_body_bytes {
                return ClientVerdict::Close("body_too_large");
            }
            let h = match header.take() {
                Some(h) => h,
                None => match f.header_guarded(&limits) {
                    Ok(h) => h,
                    Err(r) => return ClientVerdict::Close(r.reason()),
                },
            };
            let body = f.body();
            let decision = {
                let mut nonces = self.shared.nonces.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                policy.check(&h, &body, wall_ms, &mut nonces)
            };
            if let Some(reply) = self.judge(&h, &body, f.serialize_type(), decision) {
                return reply;
            }
            header = Some(h);
        } else if is_route_write(code) {
            // Let through unsigned by the listener's allow_unsigned: still audited and counted.
            if header.is_none() {
                header = f.header_guarded(&limits).ok();
            }
            // One that carries a signature is not checked here: counted apart, so that during a
            // migration the unsigned ones show which brokers do not yet go through an egress.
            if let Some(h) = &header {
                let key_id = h.ext(rmq_protocol::sign::hmac_v1::KEY_ID);
                let outcome = if key_id.is_some() { "unchecked" } else { "unsigned" };
                routes::record(&self.shared, self.peer, h, &f.body(), outcome, key_id.unwrap_or(""), "");
            }
        }
        if !p.is_oneway() {
            let topic = match (topic_key(code), &header) {
                ("", _) => None,
                (key, Some(h)) => self.tally.intern(accepted_topic(h.ext(key))),
                (_, None) => self.tally.intern(accepted_topic(walked_topic)),
            };
            let evicted = self.pending.insert(p.opaque, Pending { sent: now, class, topic });
            if evicted > 0 {
                stats.pending_evicted.fetch_add(evicted as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
        outbound(f, header.as_ref(), &mut self.scratch)
    }

    /// Applies a signature decision: `None` to forward, or the verdict for a rejection.
    fn judge(&self, header: &Header, body: &[u8], ty: SerializeType, decision: Decision) -> Option<ClientVerdict> {
        let stats = &self.shared.stats;
        let code = header.code;
        let code_name = RequestCode(code);
        let target = clip(
            header
                .ext("topic")
                .or_else(|| header.ext("groupName"))
                .or_else(|| header.ext("consumerGroup"))
                .unwrap_or(""),
        );
        match decision {
            Decision::Allowed { key_id, scheme } => {
                stats.admin("allowed");
                if is_route_write(code) {
                    routes::record(&self.shared, self.peer, header, body, "allowed", &key_id, "");
                }
                info!(target: "rmq_agent::audit", listener = %self.shared.name, client = %self.peer, code = %code_name, key_id, scheme = scheme.as_str(), target = %target, outcome = "allowed", "admin request");
                None
            }
            Decision::Rejected { reason, detail } => {
                stats.admin(reason);
                if is_route_write(code) {
                    let key_id = header.ext("RmqKeyId").or(header.ext("AccessKey")).unwrap_or("");
                    routes::record(&self.shared, self.peer, header, body, reason, key_id, &detail);
                }
                if self.shared.logs.allow(&self.shared.name) {
                    let key_id = clip(header.ext("RmqKeyId").or(header.ext("AccessKey")).unwrap_or(""));
                    warn!(target: "rmq_agent::audit", listener = %self.shared.name, client = %self.peer, code = %code_name, key_id = %key_id, target = %target, outcome = reason, detail = %clip(&detail), "admin request rejected");
                }
                if header.is_oneway() {
                    stats.oneway_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Some(ClientVerdict::Drop);
                }
                let remark = format!("rmq-sidecar: {code_name} ({code}) requires a signature: {reason} ({detail})");
                Some(match frame::error_response(header, ty, ResponseCode::NO_PERMISSION, &remark) {
                    Ok(b) => ClientVerdict::Reply(b),
                    Err(_) => ClientVerdict::Close("unencodable_reply"),
                })
            }
        }
    }

    /// Decides on one frame from the broker.
    pub fn broker_frame(&mut self, f: &RawFrame, now: Instant) -> BrokerVerdict {
        self.last_activity = now;
        let p = match f.peek() {
            Ok(p) => p,
            Err(_) => return BrokerVerdict::Close("malformed_broker_frame"),
        };
        if p.is_response() {
            if let Some(sent) = self.pending.remove(p.opaque) {
                self.shared.stats.latency[sent.class].observe(now.saturating_duration_since(sent.sent));
                if p.code == ResponseCode::SUCCESS.get()
                    && let Some(topic) = sent.topic
                {
                    self.tally.count(topic);
                }
            }
        } else if !p.is_oneway() {
            // A callback (CHECK_TRANSACTION_STATE, GET_CONSUMER_RUNNING_INFO, …): the client may
            // answer it once.
            self.callbacks.insert(p.opaque, ());
        }
        BrokerVerdict::Forward
    }

    /// Checks deadlines at `now`: the first frame, a partial frame from the client that began
    /// at `partial_since`, and idleness in both directions. Flushes send counts when due.
    pub fn due(&mut self, now: Instant, partial_since: Option<Instant>) -> Due {
        let l = *self.limits();
        if self.first_frame_by.is_some_and(|d| now >= d) {
            return Due::Close("timeout");
        }
        let partial_deadline = partial_since.map(|s| s + l.frame_timeout);
        if partial_deadline.is_some_and(|d| now >= d) {
            return Due::Close("timeout");
        }
        let idle_deadline = self.last_activity + l.idle_timeout;
        if partial_since.is_none() && now >= idle_deadline {
            return Due::Close("timeout");
        }
        self.flush_if_due(now);
        let mut next = idle_deadline.max(now);
        for d in [partial_deadline, self.first_frame_by, self.flush_deadline()].into_iter().flatten() {
            next = next.min(d);
        }
        Due::Next(next)
    }

    /// When buffered send counts are next due to be merged, if any are buffered.
    pub fn flush_deadline(&self) -> Option<Instant> {
        (!self.tally.is_empty()).then_some(self.last_flush + TALLY_FLUSH)
    }

    /// Merges send counts into the listener's table if a flush is due at `now`.
    pub fn flush_if_due(&mut self, now: Instant) {
        if self.flush_deadline().is_some_and(|d| now >= d) {
            self.flush(now);
        }
    }

    /// Merges send counts into the listener's table now (and at close).
    pub fn flush(&mut self, now: Instant) {
        self.last_flush = now;
        if !self.tally.is_empty() {
            self.shared.stats.add_sends(&self.host, self.tally.drain());
        }
    }

    /// Whether the broker still owes the client responses.
    pub fn owed(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Forgets owed responses (a client that is being closed gets nothing more).
    pub fn abandon(&mut self) {
        self.pending.clear();
        self.callbacks.clear();
    }
}

/// The relay's look at a client frame whose header has arrived and whose body of `body_len`
/// bytes has not: a request that needs a signature and carries a body over
/// `max_signed_body_bytes` is refused before the body is buffered (an unauthenticated client
/// cannot make the guard hold a 4 MiB frame to refuse it). Cheap for every other frame: the
/// header is read only when the body is over the limit.
pub fn early_refusal(shared: &Shared, ty: SerializeType, header: &[u8], body_len: usize) -> Option<&'static str> {
    let limits = &shared.limits;
    if body_len <= limits.max_signed_body_bytes {
        return None;
    }
    // The same reading the frame will get when whole: a binary header walked, a JSON one decoded.
    let peek = if ty == SerializeType::ROCKETMQ {
        Header::walk_guarded(header, &decode_limits(limits), "").map(|(p, _)| p)
    } else {
        Header::decode_guarded(ty, header, &decode_limits(limits)).map(|h| Peek {
            code: h.code,
            flag: h.flag,
            opaque: h.opaque,
        })
    };
    match peek {
        Err(r) => Some(r.reason()),
        Ok(p) if !p.is_response() && shared.policy().needs_signature(p.code) => Some("body_too_large"),
        Ok(_) => None,
    }
}

fn decode_limits(limits: &Limits) -> DecodeLimits {
    DecodeLimits { max_header_bytes: limits.max_header_bytes, max_ext_fields: limits.max_ext_fields }
}

/// What reaches the broker for a frame the guard decided to forward: the canonical encoding of
/// a JSON header (the client's spelling never reaches a Java broker), the original bytes of a
/// binary one. The canonical encoding is written to `scratch` first: when it is byte for byte
/// what the client sent (a stock Java client's header is), the original frame goes as it is,
/// with no new allocation or copy of the body.
fn outbound(f: &RawFrame, header: Option<&Header>, scratch: &mut BytesMut) -> ClientVerdict {
    let Some(h) = header.filter(|_| f.serialize_type() == SerializeType::JSON) else {
        return ClientVerdict::Forward(f.as_bytes().clone());
    };
    scratch.clear();
    if h.encode(SerializeType::JSON, scratch).is_err() {
        return ClientVerdict::Close("unencodable_header");
    }
    let same = scratch.as_ref() == f.header_bytes();
    if scratch.capacity() > SCRATCH_KEEP {
        // A rare large header: do not keep its buffer for the connection's lifetime.
        *scratch = BytesMut::new();
    }
    if same {
        return ClientVerdict::Forward(f.as_bytes().clone());
    }
    match frame::encode_to_bytes(h, SerializeType::JSON, &f.body()) {
        Ok(b) => ClientVerdict::Forward(b),
        Err(_) => ClientVerdict::Close("unencodable_header"),
    }
}

/// The ext field naming a send's topic (`b` in a V2 header, `topic` in V1), or `""` for a
/// code that is not a send.
fn topic_key(code: i32) -> &'static str {
    match RequestCode(code) {
        RequestCode::SEND_MESSAGE_V2 | RequestCode::SEND_BATCH_MESSAGE => "b",
        RequestCode::SEND_MESSAGE => "topic",
        _ => "",
    }
}

/// `topic` if it is a name Java accepts (counted), else `None`.
fn accepted_topic(topic: Option<&str>) -> Option<&str> {
    topic.filter(|t| !t.is_empty() && t.len() <= MAX_TOPIC_LEN)
}

#[cfg(test)]
mod tests;
