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
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use super::auth::{Decision, Policy};
use super::replay::NonceCache;

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

/// Counters of one listener (rendered by [`GuardStats::families`]).
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
    /// Requests forwarded, by code class.
    pub requests: Mutex<HashMap<&'static str, u64>>,
    /// Admin requests by outcome (`allowed`, or a rejection reason).
    pub admin: Mutex<HashMap<&'static str, u64>>,
    /// Oneway admin requests dropped.
    pub oneway_dropped: AtomicU64,
}

fn bump(m: &Mutex<HashMap<&'static str, u64>>, k: &'static str) {
    *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(k).or_default() += 1;
}

/// What every connection of a listener shares.
#[derive(Debug)]
pub struct Shared {
    /// Listener name (metric label, log field).
    pub name: String,
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
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections));
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => break,
        };
        let (client, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(10);
                x
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning or exiting.
                warn!(listener = %shared.name, error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            warn!(listener = %shared.name, %peer, "connection limit reached; closing");
            drop(client);
            continue;
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
    let last_activity = Arc::new(Mutex::new(Instant::now()));
    let to_broker = client_to_broker(cr, uw, Arc::clone(&cw), peer, Arc::clone(shared), Arc::clone(&last_activity));
    let to_client = broker_to_client(ur, cw, Arc::clone(shared), last_activity);
    // Each direction ends on its own (half-close): a client that shuts its write side still
    // gets the broker's remaining responses.
    let (a, b) = tokio::join!(to_broker, to_client);
    debug!(listener = %shared.name, %peer, client_side = ?a, broker_side = ?b, "connection closed");
}

/// Why a direction ended.
#[derive(Debug)]
enum End {
    Eof,
    Io,
    Malformed,
    Timeout,
}

/// Reads the next whole frame. `idle` applies while no frame has started; once one has, the
/// rest must arrive within `frame_timeout`.
async fn read_frame(
    r: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    idle: Option<Duration>,
    frame_timeout: Duration,
) -> Result<RawFrame, End> {
    let mut started: Option<tokio::time::Instant> = None;
    loop {
        match RawFrame::split_from(buf) {
            Ok(Some(f)) => return Ok(f),
            Ok(None) => {}
            Err(_) => return Err(End::Malformed),
        }
        if !buf.is_empty() && started.is_none() {
            started = Some(tokio::time::Instant::now());
        }
        let read = r.read_buf(buf);
        let n = match (started, idle) {
            (Some(t), _) => tokio::time::timeout_at(t + frame_timeout, read).await.map_err(|_| End::Timeout)?,
            (None, Some(idle)) => tokio::time::timeout(idle, read).await.map_err(|_| End::Timeout)?,
            (None, None) => read.await,
        };
        match n {
            Ok(0) => return Err(if buf.is_empty() { End::Eof } else { End::Malformed }),
            Ok(_) => {}
            Err(_) => return Err(End::Io),
        }
    }
}

async fn client_to_broker(
    mut cr: OwnedReadHalf,
    mut uw: OwnedWriteHalf,
    cw: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    last_activity: Arc<Mutex<Instant>>,
) -> End {
    let mut buf = BytesMut::with_capacity(4096);
    let end = loop {
        let f = match read_frame(&mut cr, &mut buf, Some(shared.limits.idle_timeout), shared.limits.frame_timeout).await
        {
            Ok(f) => f,
            Err(End::Timeout) => {
                // Idle only if the broker side has been quiet too.
                let quiet = last_activity.lock().map(|t| t.elapsed()).unwrap_or_default();
                if buf.is_empty() && quiet < shared.limits.idle_timeout {
                    continue;
                }
                shared.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                info!(listener = %shared.name, %peer, "closing slow or idle client");
                break End::Timeout;
            }
            Err(End::Malformed) => {
                shared.stats.malformed.fetch_add(1, Ordering::Relaxed);
                warn!(listener = %shared.name, %peer, "malformed frame from client; closing its connection");
                break End::Malformed;
            }
            Err(e) => break e,
        };
        if let Ok(mut t) = last_activity.lock() {
            *t = Instant::now();
        }
        match inspect(&f, peer, &shared) {
            Verdict::Forward => {
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
    };
    // Tell the broker no more requests are coming; on a malformed client, also stop relaying.
    let _ = uw.shutdown().await;
    if matches!(end, End::Malformed | End::Timeout) {
        let _ = cw.lock().await.shutdown().await;
    }
    end
}

enum Verdict {
    Forward,
    Reply(bytes::Bytes),
    Drop,
    Close,
}

/// The guard's decision for one client frame.
fn inspect(f: &RawFrame, peer: SocketAddr, shared: &Shared) -> Verdict {
    let policy = shared.policy();
    let Ok(code) = f.peek_code() else { return Verdict::Close };
    let class = classify(RequestCode(code)).map_or("unknown", CodeClass::as_str);
    if !policy.is_admin(code) {
        bump(&shared.stats.requests, class);
        return Verdict::Forward;
    }
    // Administrative code: decode everything (responses from a client to a broker callback
    // carry a response code, not a request code, and are never admin requests).
    let Ok(header) = f.header() else { return Verdict::Close };
    if header.is_response() {
        bump(&shared.stats.requests, "response");
        return Verdict::Forward;
    }
    bump(&shared.stats.requests, class);
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
            Verdict::Forward
        }
        Decision::DataPath => Verdict::Forward,
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

async fn broker_to_client(
    mut ur: OwnedReadHalf,
    cw: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    shared: Arc<Shared>,
    last_activity: Arc<Mutex<Instant>>,
) -> End {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let end = loop {
        // The broker's frames are trusted for timing (a long poll legitimately waits), but
        // still framed and bounded.
        let f = match read_frame(&mut ur, &mut buf, None, Duration::from_secs(3600)).await {
            Ok(f) => f,
            Err(End::Malformed) => {
                warn!(listener = %shared.name, "malformed frame from broker; closing the connection");
                break End::Malformed;
            }
            Err(e) => break e,
        };
        if let Ok(mut t) = last_activity.lock() {
            *t = Instant::now();
        }
        if cw.lock().await.write_all(f.as_bytes()).await.is_err() {
            break End::Io;
        }
    };
    let _ = cw.lock().await.shutdown().await;
    end
}
