//! The egress's I/O: each route accepts the broker's connections on its loopback port (at most
//! `max_connections`), dials its name server for each, and relays frames both ways — the
//! broker's through [`FrameSigner`], the name server's as they come, each read whole and
//! bounded in size. A frame the egress will not sign closes that connection only; the broker
//! dials again on its next request (its registration every 30 s).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq_protocol::ResponseCode;
use rmq_protocol::header::DecodeLimits;
use rmq_protocol::sign::SigningKey;
use tokio::io::AsyncWriteExt as _;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::sign::{FrameSigner, Outbound};
use super::stats::EgressStats;
use super::{EgressConfig, EgressRoute};
use crate::commands::admin::Signer;
use crate::guard::Limits;
use crate::guard::log_budget::{LogBudget, clip};
use crate::remoting::frames::{BufferBudget, FrameReader, ReadEnd};
use rmq_runtime::accept::{Accepted, LimitedAcceptor};

/// Signed route writes awaiting the name server's answer, per connection; past it an answer
/// is relayed but not counted (brokers send one registration at a time).
const MAX_PENDING: usize = 64;

/// After the broker stops sending, answers still owed are relayed for at most this long.
const DRAIN: Duration = Duration::from_secs(10);

/// One name server's port: its settings, signer and counters.
#[derive(Debug)]
pub struct Route {
    /// The loopback address the broker dials.
    pub listen: String,
    /// The name server (its guard).
    pub upstream: String,
    /// How this route signs.
    pub signer: FrameSigner,
    max_connections: usize,
    allowed_uids: Option<Vec<u32>>,
    connect_timeout: Duration,
    frame_timeout: Duration,
    idle_timeout: Duration,
    write_timeout: Duration,
    max_frame_bytes: usize,
    /// Counters.
    pub stats: EgressStats,
    buffers: Arc<BufferBudget>,
    logs: LogBudget,
}

impl Route {
    /// The route for `r` under `cfg`, signing with `key`.
    pub fn new(cfg: &EgressConfig, r: &EgressRoute, key: SigningKey) -> Self {
        Self {
            listen: r.listen.to_string(),
            upstream: r.upstream.to_string(),
            signer: FrameSigner {
                signer: Signer {
                    scheme: crate::guard::Scheme::RmqHmacV1,
                    key_id: cfg.key_id.clone(),
                    key,
                    target: r.target.clone(),
                },
                limits: DecodeLimits {
                    max_header_bytes: Limits::DEFAULT.max_header_bytes,
                    max_ext_fields: Limits::DEFAULT.max_ext_fields,
                },
                max_signed_body_bytes: cfg.max_signed_body_bytes,
            },
            max_connections: cfg.max_connections,
            allowed_uids: cfg.allowed_uids.clone(),
            connect_timeout: cfg.connect_timeout,
            frame_timeout: cfg.frame_timeout,
            idle_timeout: cfg.idle_timeout,
            write_timeout: cfg.write_timeout,
            max_frame_bytes: cfg.max_frame_bytes,
            stats: EgressStats::default(),
            // Large partial frames of every connection, both ways, at once (a broker sends one
            // registration at a time; answers are small).
            buffers: Arc::new(BufferBudget::new(2 * cfg.max_frame_bytes)),
            logs: LogBudget::default(),
        }
    }

    fn log(&self) -> bool {
        self.logs.allow(&self.listen)
    }
}

/// Accepts on `listener` until `stop` flips, which also closes the open connections.
pub async fn serve(listener: TcpListener, route: Arc<Route>, mut stop: watch::Receiver<bool>) {
    let mut acceptor = LimitedAcceptor::new(listener, route.max_connections);
    loop {
        let accepted = tokio::select! {
            a = acceptor.next(&route.listen) => a,
            _ = stop.changed() => break,
        };
        match accepted {
            Accepted::Conn(sock, peer, permit) => {
                route.stats.accepted.fetch_add(1, Ordering::Relaxed);
                let route = Arc::clone(&route);
                let stop = stop.clone();
                tokio::spawn(async move {
                    route.stats.active.fetch_add(1, Ordering::Relaxed);
                    handle(sock, peer, &route, stop).await;
                    route.stats.active.fetch_sub(1, Ordering::Relaxed);
                    drop(permit);
                });
            }
            Accepted::OverLimit(peer) => {
                route.stats.refused.fetch_add(1, Ordering::Relaxed);
                if route.log() {
                    warn!(listen = %route.listen, %peer, limit = route.max_connections, "egress connection limit reached; closing");
                }
            }
        }
    }
}

/// Signed route writes awaiting an answer: opaque → code.
type Pending = Arc<Mutex<HashMap<i32, i32>>>;

fn pending_lock(p: &Pending) -> std::sync::MutexGuard<'_, HashMap<i32, i32>> {
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why the broker's direction ended.
#[derive(Debug)]
enum End {
    /// The broker closed (or its socket failed).
    Eof,
    /// The egress closed the connection, for this reason (counted and logged).
    Closed(&'static str),
}

async fn handle(broker: TcpStream, peer: SocketAddr, route: &Arc<Route>, mut stop: watch::Receiver<bool>) {
    if let Some(allowed) = &route.allowed_uids
        && let Err(reason) = check_uid(&broker, peer, allowed).await
    {
        route.stats.closed("peer_uid");
        if route.log() {
            warn!(listen = %route.listen, %peer, reason = %reason, "a local connection not from an allowed user; closing");
        }
        return;
    }
    let upstream = match tokio::time::timeout(route.connect_timeout, TcpStream::connect(&route.upstream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return unreachable(route, peer, &e.to_string()),
        Err(_) => return unreachable(route, peer, "connect timed out"),
    };
    let _ = broker.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (br, bw) = broker.into_split();
    let (ur, uw) = upstream.into_split();
    let pending: Pending = Arc::default();
    let from_broker =
        FrameReader::new(br, route.max_frame_bytes, route.max_frame_bytes).with_budget(Arc::clone(&route.buffers));
    let from_namesrv =
        FrameReader::new(ur, route.max_frame_bytes, route.max_frame_bytes).with_budget(Arc::clone(&route.buffers));
    let to_namesrv = broker_to_namesrv(from_broker, uw, route, Arc::clone(&pending), peer);
    let to_broker = namesrv_to_broker(from_namesrv, bw, route, Arc::clone(&pending), peer);
    tokio::pin!(to_namesrv, to_broker);
    tokio::select! {
        end = &mut to_namesrv => {
            // The broker stopped sending: answers it is still owed come back for a while.
            if matches!(end, End::Eof) && !pending_lock(&pending).is_empty() {
                let _ = tokio::time::timeout(DRAIN, &mut to_broker).await;
            }
        }
        () = &mut to_broker => {}
        // The agent is stopping: its connections end with it, as they would with the process,
        // and the broker dials the next agent on its next request.
        _ = stop.changed() => {}
    }
    debug!(listen = %route.listen, %peer, "egress connection closed");
}

/// Whether the process at `peer` runs as one of `allowed`; why not if not.
async fn check_uid(sock: &TcpStream, peer: SocketAddr, allowed: &[u32]) -> Result<(), String> {
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let found =
        tokio::task::spawn_blocking(move || super::peer_uid::peer_uid(std::path::Path::new("/proc/net"), peer, local))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("/proc/net: {e}"))?;
    match found {
        Some(uid) if allowed.contains(&uid) => Ok(()),
        Some(uid) => Err(format!("uid {uid} is not in allowed_uids")),
        None => Err("no socket owner found".into()),
    }
}

fn unreachable(route: &Route, peer: SocketAddr, error: &str) {
    route.stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
    if route.log() {
        warn!(listen = %route.listen, %peer, namesrv = %route.upstream, error, "name server unreachable; closing the broker's connection");
    }
}

async fn write_within(w: &mut OwnedWriteHalf, bytes: &[u8], timeout: Duration) -> Result<(), &'static str> {
    match tokio::time::timeout(timeout, w.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("io"),
        Err(_) => Err("write_timeout"),
    }
}

/// The broker's frames, signed where they are route writes.
async fn broker_to_namesrv(
    mut reader: FrameReader,
    mut uw: OwnedWriteHalf,
    route: &Route,
    pending: Pending,
    peer: SocketAddr,
) -> End {
    let tick = tokio::time::sleep(route.idle_timeout);
    tokio::pin!(tick);
    let mut last = Instant::now();
    let end = loop {
        let f = match reader.next_or_tick(&mut tick, Some(route.frame_timeout)).await {
            Ok(f) => f,
            Err(ReadEnd::Tick) => {
                let now = Instant::now();
                let partial = reader.partial_since().map(|s| s + route.frame_timeout);
                if partial.is_some_and(|d| now >= d) {
                    break End::Closed("timeout");
                }
                if partial.is_none() && now >= last + route.idle_timeout {
                    break End::Closed("idle");
                }
                tick.as_mut().reset(partial.unwrap_or(last + route.idle_timeout));
                continue;
            }
            Err(ReadEnd::Eof | ReadEnd::Io(_)) => break End::Eof,
            Err(ReadEnd::Malformed(_) | ReadEnd::Truncated) => break End::Closed("malformed_frame"),
            Err(ReadEnd::HeaderTooLarge(_)) => break End::Closed("header_too_large"),
            Err(ReadEnd::FrameTooLarge(_)) => break End::Closed("frame_too_large"),
            Err(ReadEnd::Refused(reason)) => break End::Closed(reason),
        };
        last = Instant::now();
        tick.as_mut().reset(last + route.idle_timeout);
        let bytes = match route.signer.outbound(&f) {
            Outbound::Pass => {
                route.stats.passed.fetch_add(1, Ordering::Relaxed);
                f.into_bytes()
            }
            Outbound::Signed { bytes, code, opaque, oneway } => {
                route.stats.signed(code);
                if !oneway {
                    let mut p = pending_lock(&pending);
                    if p.len() < MAX_PENDING {
                        p.insert(opaque, code);
                    }
                }
                bytes
            }
            Outbound::Refuse(reason, detail) => {
                if route.log() {
                    warn!(listen = %route.listen, %peer, reason, detail = %clip(&detail), "not signing the broker's request; closing its connection");
                }
                break End::Closed(reason);
            }
        };
        match write_within(&mut uw, &bytes, route.write_timeout).await {
            Ok(()) => {}
            Err("write_timeout") => break End::Closed("write_timeout"),
            Err(_) => break End::Eof,
        }
    };
    if let End::Closed(reason) = end {
        route.stats.closed(reason);
        if reason != "idle" && route.log() {
            info!(listen = %route.listen, %peer, reason, "closing the broker's connection");
        }
    }
    end
}

/// The name server's frames, as they come; answers to signed route writes are counted.
async fn namesrv_to_broker(
    mut reader: FrameReader,
    mut bw: OwnedWriteHalf,
    route: &Route,
    pending: Pending,
    peer: SocketAddr,
) {
    loop {
        let f = match reader.next().await {
            Ok(f) => f,
            Err(ReadEnd::Eof | ReadEnd::Io(_)) => break,
            Err(e) => {
                route.stats.closed("malformed_namesrv_frame");
                if route.log() {
                    warn!(listen = %route.listen, namesrv = %route.upstream, error = ?e, "malformed frame from the name server; closing");
                }
                break;
            }
        };
        if let Ok(p) = f.peek()
            && p.is_response()
            && let Some(code) = pending_lock(&pending).remove(&p.opaque)
        {
            let outcome = match ResponseCode(p.code) {
                ResponseCode::SUCCESS => "success",
                ResponseCode::NO_PERMISSION => "refused",
                _ => "error",
            };
            route.stats.answer(code, outcome);
            if outcome != "success" && route.log() {
                let remark = f.header().ok().and_then(|h| h.remark).unwrap_or_default();
                warn!(listen = %route.listen, %peer, namesrv = %route.upstream, request = %rmq_protocol::RequestCode(code), response = %ResponseCode(p.code), remark = %clip(&remark), "the name server did not accept a signed route write");
            }
        }
        if write_within(&mut bw, f.as_bytes(), route.write_timeout).await.is_err() {
            break;
        }
    }
    let _ = bw.shutdown().await;
}
