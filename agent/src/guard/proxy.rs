//! One guarded listener: accepts clients, dials the broker for each, and relays frames both
//! ways. Requests with an administrative code must be signed; everything else is forwarded
//! as its original bytes after a look at its code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::policy::{CodeClass, classify};
use rmq_protocol::{RequestCode, ResponseCode};
use std::pin::Pin;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use tokio::sync::{oneshot, watch};
use tokio::time::Sleep;
use tracing::{debug, info, warn};

use super::auth::{Decision, Policy};
use super::replay::NonceCache;
use crate::accept::{Accepted, LimitedAcceptor};
use crate::activity::Activity;

/// Limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections at once; more are refused (closed on accept).
    pub max_connections: usize,
    /// Once a frame has started, the rest of it must arrive within this.
    pub frame_timeout: Duration,
    /// A connection with no frame in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// Dialling the broker.
    pub connect_timeout: Duration,
}

/// Counters of one listener (rendered by [`super::families`]).
#[derive(Debug, Default)]
pub struct GuardStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections refused at the limit.
    pub refused: AtomicU64,
    /// Connections open now.
    pub active: AtomicU64,
    /// Broker unreachable for a new client.
    pub upstream_failures: AtomicU64,
    /// Connections closed for a malformed or oversized frame.
    pub malformed: AtomicU64,
    /// Connections closed for a slow frame or idleness.
    pub timeouts: AtomicU64,
    /// Requests forwarded, by code class (index: [`class_index`]).
    pub requests: [AtomicU64; CLASSES.len()],
    /// Admin requests by outcome (`allowed`, or a rejection reason).
    pub admin: Mutex<HashMap<&'static str, u64>>,
    /// Oneway admin requests dropped.
    pub oneway_dropped: AtomicU64,
    /// Broker response latency by request-code class (index: [`class_index`]).
    pub latency: [LatencyHistogram; CLASSES.len()],
    /// Send requests by (client host, topic), capped at [`MAX_SEND_SERIES`].
    pub sends: Mutex<HashMap<(String, String), u64>>,
}

/// Upper bounds (seconds) of the response-latency buckets; the last is +Inf.
pub const LATENCY_BUCKETS: [f64; 15] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, f64::INFINITY];

/// Distinct (client host, topic) send series kept; the rest are counted under `other`.
pub const MAX_SEND_SERIES: usize = 10_000;

/// Request-code classes counted by the guard (labels); `class_index` maps a code here.
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

const RESPONSE_CLASS: usize = 10;

/// A fixed-bucket histogram, lock-free: per-bucket counts and a sum in microseconds.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Count per bucket of [`LATENCY_BUCKETS`].
    pub counts: [AtomicU64; 15],
    /// Sum of observations, microseconds.
    pub sum_us: AtomicU64,
}

impl LatencyHistogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BUCKETS.len() - 1);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Requests forwarded to the broker whose responses are still owed: opaque → (sent, class).
type InFlight = Arc<Mutex<HashMap<i32, (Instant, usize)>>>;

/// Per-connection send counts by topic, merged into the listener's table at most once a
/// second (and at close), so a send costs no shared lock and no allocation.
#[derive(Debug)]
struct SendTally {
    host: String,
    topics: HashMap<String, u64>,
    last_flush: Instant,
}

impl SendTally {
    fn new(peer: SocketAddr) -> Self {
        Self { host: peer.ip().to_string(), topics: HashMap::new(), last_flush: Instant::now() }
    }

    fn count(&mut self, topic: &str, stats: &GuardStats) {
        match self.topics.get_mut(topic) {
            Some(n) => *n += 1,
            None => {
                self.topics.insert(topic.to_owned(), 1);
            }
        }
        if self.last_flush.elapsed() >= Duration::from_secs(1) {
            self.flush(stats);
        }
    }

    fn pending(&self) -> bool {
        !self.topics.is_empty()
    }

    fn flush(&mut self, stats: &GuardStats) {
        self.last_flush = Instant::now();
        if self.topics.is_empty() {
            return;
        }
        let mut m = stats.sends.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (topic, n) in self.topics.drain() {
            let key = (self.host.clone(), topic);
            if m.len() >= MAX_SEND_SERIES && !m.contains_key(&key) {
                *m.entry(("other".into(), "other".into())).or_default() += n;
            } else {
                *m.entry(key).or_default() += n;
            }
        }
    }
}

fn bump_class(stats: &GuardStats, class: usize) {
    stats.requests[class].fetch_add(1, Ordering::Relaxed);
}

fn bump(m: &Mutex<HashMap<&'static str, u64>>, k: &'static str) {
    *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(k).or_default() += 1;
}

/// What every connection of a listener shares.
#[derive(Debug)]
pub struct Shared {
    /// Listener name (metric label, log field).
    pub name: String,
    /// The configured listen address (how a reload finds this listener).
    pub listen: String,
    /// The broker's real address.
    pub upstream: String,
    /// Current policy; replaced whole on reload.
    pub policy: RwLock<Arc<Policy>>,
    /// Nonces seen within the window.
    pub nonces: Mutex<NonceCache>,
    /// Limits.
    pub limits: Limits,
    /// Counters.
    pub stats: GuardStats,
}

impl Shared {
    fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(p) => Arc::clone(&p),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Accepts on `listener` until `stop` flips, then stops accepting; open connections are
/// left to finish (the caller bounds the drain).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut acceptor = LimitedAcceptor::new(listener, shared.limits.max_connections);
    loop {
        let accepted = tokio::select! {
            a = acceptor.next(&shared.name) => a,
            _ = stop.changed() => break,
        };
        let (client, peer, permit) = match accepted {
            Accepted::Conn(c, p, permit) => (c, p, permit),
            Accepted::OverLimit(peer) => {
                shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                warn!(listener = %shared.name, %peer, "connection limit reached; closing");
                continue;
            }
        };
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            shared.stats.active.fetch_add(1, Ordering::Relaxed);
            handle(client, peer, &shared).await;
            shared.stats.active.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

async fn handle(client: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let upstream = match tokio::time::timeout(shared.limits.connect_timeout, TcpStream::connect(&shared.upstream)).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shared.stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
            warn!(listener = %shared.name, %peer, upstream = %shared.upstream, error = %e, "broker unreachable; closing client");
            return;
        }
        Err(_) => {
            shared.stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
            warn!(listener = %shared.name, %peer, upstream = %shared.upstream, "broker connect timed out; closing client");
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let cw = Arc::new(tokio::sync::Mutex::new(cw));
    let last_activity = Arc::new(Activity::new());
    let in_flight: InFlight = Arc::default();
    let (client_done_tx, client_done) = oneshot::channel::<()>();
    // Each direction is its own task, so a frame in one direction wakes (and polls) only that
    // direction. Each ends on its own (half-close): a client that shuts its write side still
    // gets the broker's remaining responses.
    let to_client = tokio::spawn(broker_to_client(
        FrameReader::new(ur),
        Arc::clone(&cw),
        Arc::clone(shared),
        Arc::clone(&last_activity),
        Arc::clone(&in_flight),
        client_done,
    ));
    let (a, uw) = client_to_broker(FrameReader::new(cr), uw, cw, peer, shared, &last_activity, &in_flight).await;
    drop(client_done_tx);
    let b = to_client.await;
    // The broker's write side stays open until owed responses are relayed: RocketMQ servers
    // close a connection on EOF, which would drop them.
    drop(uw);
    debug!(listener = %shared.name, %peer, client_side = ?a, broker_side = ?b, "connection closed");
}

/// Why a direction ended (or, for `Tick`, why a read returned without a frame).
#[derive(Debug)]
enum End {
    Eof,
    Io,
    Malformed,
    Timeout,
    /// The direction's timer fired; the caller decides what is due.
    Tick,
}

/// Read size once data is flowing.
const READ_CHUNK: usize = 16 * 1024;

/// Frames one direction. Between frames the buffer is released and the socket awaited without
/// one, so an idle connection holds no buffer; data is read with `read_buf`, whose short-read
/// rule clears readiness (a `try_read` loop would pay an extra would-block `read` per frame).
#[derive(Debug)]
struct FrameReader {
    half: OwnedReadHalf,
    buf: BytesMut,
    /// When the buffered partial frame began arriving.
    partial_since: Option<tokio::time::Instant>,
}

impl FrameReader {
    fn new(half: OwnedReadHalf) -> Self {
        Self { half, buf: BytesMut::new(), partial_since: None }
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
            self.half.readable().await?;
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        self.half.read_buf(&mut self.buf).await
    }

    /// The deadline of the partial frame being received, if one is.
    fn partial_deadline(&self, frame_timeout: Option<Duration>) -> Option<tokio::time::Instant> {
        Some(self.partial_since? + frame_timeout?)
    }

    /// The next whole frame, or `End::Tick` when `tick` fires first. A frame that has started
    /// must complete within `frame_timeout`: `tick` is brought forward to that deadline, and
    /// the caller learns of it from [`Self::partial_deadline`].
    async fn next(&mut self, tick: &mut Pin<&mut Sleep>, frame_timeout: Option<Duration>) -> Result<RawFrame, End> {
        loop {
            match RawFrame::split_from(&mut self.buf) {
                Ok(Some(f)) => {
                    self.partial_since = None;
                    return Ok(f);
                }
                Ok(None) => {}
                Err(_) => return Err(End::Malformed),
            }
            if !self.buf.is_empty() && self.partial_since.is_none() {
                self.partial_since = Some(tokio::time::Instant::now());
                if let Some(d) = self.partial_deadline(frame_timeout)
                    && d < tick.deadline()
                {
                    tick.as_mut().reset(d);
                }
            }
            let n = tokio::select! {
                biased;
                n = self.fill() => n,
                () = tick.as_mut() => return Err(End::Tick),
            };
            match n {
                Ok(0) => return Err(if self.buf.is_empty() { End::Eof } else { End::Malformed }),
                Ok(_) => {}
                Err(_) => return Err(End::Io),
            }
        }
    }
}

/// How often per-connection send counts are merged into the listener's table.
const TALLY_FLUSH: Duration = Duration::from_secs(1);

async fn client_to_broker(
    mut reader: FrameReader,
    mut uw: OwnedWriteHalf,
    cw: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    last_activity: &Activity,
    in_flight: &InFlight,
) -> (End, OwnedWriteHalf) {
    let limits = shared.limits;
    let mut tally = SendTally::new(peer);
    // One timer per direction, re-armed only when it fires (not per frame): it covers the idle
    // timeout, a slow partial frame and the send-tally flush.
    let tick = tokio::time::sleep(limits.idle_timeout);
    tokio::pin!(tick);
    let end = loop {
        let f = match reader.next(&mut tick, Some(limits.frame_timeout)).await {
            Ok(f) => f,
            Err(End::Tick) => {
                let now = tokio::time::Instant::now();
                if reader.partial_deadline(Some(limits.frame_timeout)).is_some_and(|d| d <= now) {
                    shared.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    info!(listener = %shared.name, %peer, "closing slow client (frame incomplete within the deadline)");
                    break End::Timeout;
                }
                let quiet = last_activity.quiet_for();
                // Idle only if the broker side has been quiet too.
                if reader.partial_since.is_none() && quiet >= limits.idle_timeout {
                    shared.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    info!(listener = %shared.name, %peer, "closing idle client");
                    break End::Timeout;
                }
                if tally.pending() && tally.last_flush.elapsed() >= TALLY_FLUSH {
                    tally.flush(&shared.stats);
                }
                let mut next = now + limits.idle_timeout.saturating_sub(quiet);
                if tally.pending() {
                    next = next.min(now + TALLY_FLUSH.saturating_sub(tally.last_flush.elapsed()));
                }
                if let Some(d) = reader.partial_deadline(Some(limits.frame_timeout)) {
                    next = next.min(d);
                }
                tick.as_mut().reset(next);
                continue;
            }
            Err(End::Malformed) => {
                shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
                warn!(listener = %shared.name, %peer, "malformed frame from client; closing its connection");
                break End::Malformed;
            }
            Err(e) => break e,
        };
        last_activity.touch();
        let counted = tally.pending();
        match inspect(&f, peer, shared, &mut tally) {
            Verdict::Forward(p) => {
                if !p.is_response() && !p.is_oneway() {
                    in_flight
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(p.opaque, (Instant::now(), class_index(p.code)));
                }
                if uw.write_all(f.as_bytes()).await.is_err() {
                    break End::Io;
                }
            }
            Verdict::Reply(bytes) => {
                if cw.lock().await.write_all(&bytes).await.is_err() {
                    break End::Io;
                }
            }
            Verdict::Drop => {}
            Verdict::Close => {
                shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
                break End::Malformed;
            }
        }
        // The first counted send of a period brings the timer forward to the flush.
        if !counted && tally.pending() {
            let flush_at = tokio::time::Instant::now() + TALLY_FLUSH;
            if flush_at < tick.deadline() {
                tick.as_mut().reset(flush_at);
            }
        }
    };
    tally.flush(&shared.stats);
    // A malformed or stalled client gets nothing more.
    if matches!(end, End::Malformed | End::Timeout) {
        in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        let _ = cw.lock().await.shutdown().await;
    }
    (end, uw)
}

enum Verdict {
    Forward(rmq_protocol::Peek),
    Reply(bytes::Bytes),
    Drop,
    Close,
}

fn is_send(code: i32) -> bool {
    matches!(
        RequestCode(code),
        RequestCode::SEND_MESSAGE | RequestCode::SEND_MESSAGE_V2 | RequestCode::SEND_BATCH_MESSAGE
    )
}

/// The guard's decision for one client frame. A binary header is read at fixed offsets (and,
/// for sends, one ext field found in place); a JSON header is decoded once.
fn inspect(f: &RawFrame, peer: SocketAddr, shared: &Shared, tally: &mut SendTally) -> Verdict {
    let policy = shared.policy();
    let json = f.serialize_type() == rmq_protocol::SerializeType::JSON;
    let decoded = if json {
        match f.header() {
            Ok(h) => Some(h),
            Err(_) => return Verdict::Close,
        }
    } else {
        None
    };
    let p = match &decoded {
        Some(h) => rmq_protocol::Peek { code: h.code, flag: h.flag, opaque: h.opaque },
        None => match f.peek() {
            Ok(p) => p,
            Err(_) => return Verdict::Close,
        },
    };
    if p.is_response() {
        // A client answering a broker callback: never an admin request.
        bump_class(&shared.stats, RESPONSE_CLASS);
        return Verdict::Forward(p);
    }
    let code = p.code;
    bump_class(&shared.stats, class_index(code));
    if !policy.is_admin(code) {
        if is_send(code) {
            let topic = match &decoded {
                Some(h) => h.ext("b").or_else(|| h.ext("topic")),
                None => rmq_protocol::Header::peek_ext(f.serialize_type(), f.header_bytes(), "b")
                    .or_else(|| rmq_protocol::Header::peek_ext(f.serialize_type(), f.header_bytes(), "topic")),
            };
            if let Some(t) = topic {
                tally.count(t, &shared.stats);
            }
        }
        return Verdict::Forward(p);
    }
    // Administrative code: the whole header is needed.
    let header = match decoded {
        Some(h) => h,
        None => match f.header() {
            Ok(h) => h,
            Err(_) => return Verdict::Close,
        },
    };
    let body = f.body();
    let decision = {
        let mut nonces = shared.nonces.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        policy.check(&header, &body, now_ms(), &mut nonces)
    };
    let code_name = RequestCode(code);
    let target =
        header.ext("topic").or_else(|| header.ext("groupName")).or_else(|| header.ext("consumerGroup")).unwrap_or("");
    match decision {
        Decision::Allowed { key_id, scheme } => {
            bump(&shared.stats.admin, "allowed");
            info!(target: "rmq_agent::audit", listener = %shared.name, client = %peer, code = %code_name, key_id, scheme = scheme.as_str(), target, outcome = "allowed", "admin request");
            Verdict::Forward(p)
        }
        Decision::Rejected { reason, detail } => {
            bump(&shared.stats.admin, reason);
            warn!(target: "rmq_agent::audit", listener = %shared.name, client = %peer, code = %code_name, key_id = header.ext("RmqKeyId").or(header.ext("AccessKey")).unwrap_or(""), target, outcome = reason, detail, "admin request rejected");
            if header.is_oneway() {
                shared.stats.oneway_dropped.fetch_add(1, Ordering::Relaxed);
                return Verdict::Drop;
            }
            let remark = format!("rmq-sidecar: {code_name} ({code}) requires a signature: {reason} ({detail})");
            match frame::error_response(&header, f.serialize_type(), ResponseCode::NO_PERMISSION, &remark) {
                Ok(b) => Verdict::Reply(b),
                Err(_) => Verdict::Close,
            }
        }
    }
}

/// After the client stops sending, responses still owed are relayed for at most this long.
const DRAIN: Duration = Duration::from_secs(30);

/// A timer deadline that is not meant to fire (re-armed if it does).
const NEVER: Duration = Duration::from_secs(86_400);

async fn broker_to_client(
    mut reader: FrameReader,
    cw: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    shared: Arc<Shared>,
    last_activity: Arc<Activity>,
    in_flight: InFlight,
    client_done: oneshot::Receiver<()>,
) -> End {
    let owed = |m: &InFlight| !m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_empty();
    tokio::pin!(client_done);
    let mut draining = false;
    // Armed only while draining; the broker's frames are trusted for timing (a long poll
    // legitimately waits), but still framed and bounded in size.
    let tick = tokio::time::sleep(NEVER);
    tokio::pin!(tick);
    let end = loop {
        let f = tokio::select! {
            biased;
            // Half-close: once the client has stopped sending, relay only what is still owed.
            _ = &mut client_done, if !draining => {
                draining = true;
                tick.as_mut().reset(tokio::time::Instant::now() + DRAIN);
                continue;
            }
            r = reader.next(&mut tick, None), if !draining || owed(&in_flight) => r,
            else => break End::Eof,
        };
        let f = match f {
            Ok(f) => f,
            Err(End::Tick) if !draining => {
                tick.as_mut().reset(tokio::time::Instant::now() + NEVER);
                continue;
            }
            Err(End::Tick) => break End::Timeout,
            Err(End::Malformed) => {
                warn!(listener = %shared.name, "malformed frame from broker; closing the connection");
                break End::Malformed;
            }
            Err(e) => break e,
        };
        last_activity.touch();
        if let Ok(p) = f.peek()
            && p.is_response()
        {
            let sent = in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&p.opaque);
            if let Some((at, class)) = sent {
                shared.stats.latency[class].observe(at.elapsed());
            }
        }
        if cw.lock().await.write_all(f.as_bytes()).await.is_err() {
            break End::Io;
        }
    };
    let _ = cw.lock().await.shutdown().await;
    end
}
