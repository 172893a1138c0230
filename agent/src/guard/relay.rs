//! One guarded listener's I/O: accepts clients under a total and a per-source-address limit,
//! waits for a client's first whole frame before dialling the broker, then relays frames both
//! ways, doing what the connection's [`Session`] decides. Everything judged lives in the
//! session; this file only reads, writes and keeps time.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt as _;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::auth::Policy;
use super::limits::Limits;
use super::log_budget::LogBudget;
use super::proxy_protocol::{self, ProxyProtocol};
use super::session::{BrokerVerdict, ClientVerdict, Due, Session, early_refusal};
use super::stats::GuardStats;
use crate::remoting::frames::{BufferBudget, FrameReader, ReadEnd};
use rmq_runtime::accept::{Accepted, LimitedAcceptor};
use rmq_runtime::replay::NonceCache;

/// What every connection of a listener shares.
#[derive(Debug)]
pub struct Shared {
    /// Listener name (metric label, log field).
    pub name: String,
    /// The configured listen address (how a reload finds this listener).
    pub listen: SocketAddr,
    /// The broker's real address.
    pub upstream: String,
    /// Whether each broker connection starts with a PROXY header carrying the client's address.
    pub proxy_protocol: ProxyProtocol,
    /// Current policy; replaced whole on reload.
    pub policy: RwLock<Arc<Policy>>,
    /// Nonces seen within the window: one cache per process, shared by every listener, so a
    /// signed request accepted on one port cannot be replayed on another.
    pub nonces: Arc<Mutex<NonceCache>>,
    /// Limits.
    pub limits: Limits,
    /// Counters.
    pub stats: GuardStats,
    /// Open connections by source (see [`source_key`]; only sources with at least one).
    pub sources: Mutex<HashMap<IpAddr, usize>>,
    /// The budget for log lines clients can cause.
    pub logs: LogBudget,
    /// The bytes large partial client frames may hold at once ([`Limits::max_buffered_bytes`]).
    pub buffers: Arc<BufferBudget>,
}

impl Shared {
    /// The current policy.
    pub fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(p) => Arc::clone(&p),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}

/// What the per-source limit counts by: an IPv4 address, or an IPv6 /64 (one host is commonly
/// given a whole /64, so counting single IPv6 addresses would be no limit at all).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            // 6to4 (2002::/16) hands one IPv4 host 2^16 /64s: count it as that IPv4 address.
            None if v6.segments()[0] == 0x2002 => {
                let [_, _, a, b, c, d, ..] = v6.octets();
                IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d))
            }
            None => IpAddr::V6(std::net::Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// A connection's place in its source's count, released on drop.
struct SourceSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl SourceSlot {
    fn take(shared: &Arc<Shared>, ip: IpAddr) -> Option<Self> {
        let ip = source_key(ip);
        let mut m = shared.sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(ip).or_default();
        if *n >= shared.limits.max_connections_per_source {
            return None;
        }
        *n += 1;
        Some(Self { shared: Arc::clone(shared), ip })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut m = self.shared.sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lock(s: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
                if shared.logs.allow(&shared.name) {
                    warn!(listener = %shared.name, %peer, "connection limit reached; closing");
                }
                continue;
            }
        };
        let Some(slot) = SourceSlot::take(&shared, peer.ip()) else {
            shared.stats.refused_source.fetch_add(1, Ordering::Relaxed);
            if shared.logs.allow(&shared.name) {
                warn!(listener = %shared.name, %peer, limit = shared.limits.max_connections_per_source, "per-source connection limit reached; closing");
            }
            continue;
        };
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            // Counted down on drop, so the gauge stays right even if the task unwinds.
            let _active = ActiveConnection::new(&shared);
            handle(client, peer, &shared).await;
            drop(slot);
            drop(permit);
        });
    }
}

/// One open connection in `rmq_guard_connections_active`, for as long as it lives.
struct ActiveConnection<'a>(&'a GuardStats);

impl<'a> ActiveConnection<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.stats.active.fetch_add(1, Ordering::Relaxed);
        Self(&shared.stats)
    }
}

impl Drop for ActiveConnection<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a direction ended.
#[derive(Debug)]
enum End {
    Eof,
    Io,
    /// Closed by the guard, for this reason (counted).
    Closed(&'static str),
}

/// The reason a read ended, if the guard counts it.
fn read_end_reason(e: &ReadEnd) -> Option<&'static str> {
    match e {
        ReadEnd::Malformed(_) | ReadEnd::Truncated => Some("malformed_frame"),
        ReadEnd::HeaderTooLarge(_) => Some("header_too_large"),
        ReadEnd::FrameTooLarge(_) => Some("frame_too_large"),
        ReadEnd::Refused(reason) => Some(reason),
        ReadEnd::Eof | ReadEnd::Io(_) | ReadEnd::Tick => None,
    }
}

fn count_close(shared: &Shared, peer: SocketAddr, reason: &'static str, from: &'static str) {
    shared.stats.closed(reason);
    if shared.logs.allow(&shared.name) {
        info!(listener = %shared.name, %peer, reason, from, "closing connection");
    }
}

/// Writes all of `bytes`, or fails if the peer has not taken them within `timeout`. The
/// common case (room in the socket buffer) costs one `write` and no timer.
async fn write_within(w: &mut OwnedWriteHalf, bytes: &[u8], timeout: Duration) -> Result<(), &'static str> {
    let n = match w.try_write(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(_) => return Err("io"),
    };
    if n == bytes.len() {
        return Ok(());
    }
    match tokio::time::timeout(timeout, w.write_all(&bytes[n..])).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("io"),
        Err(_) => Err("write_timeout"),
    }
}

/// The next client frame, with the connection's deadlines checked whenever the timer fires:
/// `Err(Some(reason))` when the guard closes the connection (to be counted), `Err(None)` when
/// the client went away.
async fn next_client_frame(
    reader: &mut FrameReader,
    tick: &mut std::pin::Pin<&mut tokio::time::Sleep>,
    session: &Mutex<Session>,
    frame_timeout: Duration,
) -> Result<rmq_protocol::RawFrame, Option<&'static str>> {
    loop {
        match reader.next_or_tick(tick, Some(frame_timeout)).await {
            Ok(f) => return Ok(f),
            Err(ReadEnd::Tick) => match lock(session).due(Instant::now(), reader.partial_since()) {
                Due::Close(reason) => return Err(Some(reason)),
                Due::Next(at) => tick.as_mut().reset(at),
            },
            Err(e) => return Err(read_end_reason(&e)),
        }
    }
}

async fn handle(client: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) {
    let limits = shared.limits;
    let _ = client.set_nodelay(true);
    // The client's address and the one it connected to, for a broker that reads them.
    let proxy_header = match shared.proxy_protocol {
        ProxyProtocol::Off => None,
        ProxyProtocol::V2 => match client.local_addr() {
            Ok(local) => Some(proxy_protocol::v2(peer, local)),
            Err(_) => return count_close(shared, peer, "proxy_header", "client"),
        },
    };
    let (cr, mut cw) = client.into_split();
    let early = Arc::clone(shared);
    let mut reader = FrameReader::new(cr, limits.max_frame_bytes, limits.max_header_bytes)
        .with_early_check(Box::new(move |ty, header, body_len| early_refusal(&early, ty, header, body_len)))
        .with_budget(Arc::clone(&shared.buffers));
    let session = Arc::new(Mutex::new(Session::new(Arc::clone(shared), peer, Instant::now())));
    // The broker is dialled only once there is something to forward: a flood of silent,
    // half-sent, refused or unsigned connections never reaches it.
    let tick = tokio::time::sleep(limits.frame_timeout);
    tokio::pin!(tick);
    let first = loop {
        let f = match next_client_frame(&mut reader, &mut tick, &session, limits.frame_timeout).await {
            Ok(f) => f,
            Err(reason) => {
                if let Some(reason) = reason {
                    count_close(shared, peer, reason, "client");
                }
                return;
            }
        };
        let verdict = lock(&session).client_frame(&f, Instant::now(), now_ms());
        match verdict {
            ClientVerdict::Forward(bytes) => break bytes,
            ClientVerdict::Reply(bytes) => match write_within(&mut cw, &bytes, limits.write_timeout).await {
                Ok(()) => {}
                Err(reason) => {
                    if reason == "write_timeout" {
                        count_close(shared, peer, reason, "client");
                    }
                    return;
                }
            },
            ClientVerdict::Drop => {}
            ClientVerdict::Close(reason) => return count_close(shared, peer, reason, "client"),
        }
        tick.as_mut().reset(Instant::now() + limits.idle_timeout);
    };
    let upstream = match tokio::time::timeout(limits.connect_timeout, TcpStream::connect(&shared.upstream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shared.stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
            if shared.logs.allow(&shared.name) {
                warn!(listener = %shared.name, %peer, upstream = %shared.upstream, error = %e, "broker unreachable; closing client");
            }
            return;
        }
        Err(_) => {
            shared.stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
            if shared.logs.allow(&shared.name) {
                warn!(listener = %shared.name, %peer, upstream = %shared.upstream, "broker connect timed out; closing client");
            }
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let (ur, mut uw) = upstream.into_split();
    // The PROXY header goes before any other byte on this connection (the broker reads it
    // only there); the client's own bytes cannot start with one (its length prefix would
    // exceed any frame limit, and the reader refuses it).
    let sent = match &proxy_header {
        Some(h) => write_within(&mut uw, h.as_bytes(), limits.write_timeout).await,
        None => Ok(()),
    };
    let sent = match sent {
        Ok(()) => write_within(&mut uw, &first, limits.write_timeout).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        shared.stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
        if shared.logs.allow(&shared.name) {
            warn!(listener = %shared.name, %peer, upstream = %shared.upstream, error = e, "broker did not take the first request; closing client");
        }
        return;
    }
    let cw = Arc::new(tokio::sync::Mutex::new(cw));
    let (client_done_tx, client_done) = oneshot::channel::<()>();
    // Each direction is its own task, so a frame in one direction wakes (and polls) only that
    // direction. Each ends on its own (half-close): a client that shuts its write side still
    // gets the broker's remaining responses.
    let to_client = tokio::spawn(broker_to_client(
        FrameReader::trusting(ur),
        Arc::clone(&cw),
        Arc::clone(shared),
        Arc::clone(&session),
        peer,
        client_done,
    ));
    tick.as_mut().reset(Instant::now() + limits.idle_timeout);
    let client_side = client_to_broker(reader, tick, uw, &cw, peer, shared, &session);
    tokio::pin!(client_side);
    let mut to_client = to_client;
    let (a, b) = tokio::select! {
        (a, uw) = &mut client_side => {
            drop(client_done_tx);
            let b = (&mut to_client).await;
            // The broker's write side stays open until owed responses are relayed: RocketMQ
            // servers close a connection on EOF, which would drop them.
            drop(uw);
            (Some(a), b)
        }
        // The broker side ended first (the broker closed, or the guard closed it): the
        // connection is over; dropping the client side closes both sockets.
        b = &mut to_client => (None, b),
    };
    lock(&session).flush(Instant::now());
    debug!(listener = %shared.name, %peer, client_side = ?a, broker_side = ?b, "connection closed");
}

async fn client_to_broker(
    mut reader: FrameReader,
    mut tick: std::pin::Pin<&mut tokio::time::Sleep>,
    mut uw: OwnedWriteHalf,
    cw: &tokio::sync::Mutex<OwnedWriteHalf>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    session: &Mutex<Session>,
) -> (End, OwnedWriteHalf) {
    let limits = shared.limits;
    // One timer for this direction, re-armed only when it fires (not per frame): it covers
    // idleness and a slow partial frame.
    let end = loop {
        let f = match next_client_frame(&mut reader, &mut tick, session, limits.frame_timeout).await {
            Ok(f) => f,
            Err(Some(reason)) => break End::Closed(reason),
            // EOF and I/O errors alike: the client is gone.
            Err(None) => break End::Eof,
        };
        let verdict = lock(session).client_frame(&f, Instant::now(), now_ms());
        match verdict {
            ClientVerdict::Forward(bytes) => match write_within(&mut uw, &bytes, limits.write_timeout).await {
                Ok(()) => {}
                Err("write_timeout") => break End::Closed("write_timeout"),
                Err(_) => break End::Io,
            },
            ClientVerdict::Reply(bytes) => {
                let mut w = cw.lock().await;
                match write_within(&mut w, &bytes, limits.write_timeout).await {
                    Ok(()) => {}
                    Err("write_timeout") => break End::Closed("write_timeout"),
                    Err(_) => break End::Io,
                }
            }
            ClientVerdict::Drop => {}
            ClientVerdict::Close(reason) => break End::Closed(reason),
        }
    };
    if let End::Closed(reason) = end {
        count_close(shared, peer, reason, "client");
        // A refused or stalled client gets nothing more.
        lock(session).abandon();
        let _ = cw.lock().await.shutdown().await;
    }
    (end, uw)
}

/// After the client stops sending, responses still owed are relayed for at most this long.
const DRAIN: Duration = Duration::from_secs(30);

/// A timer deadline that is not meant to fire (re-armed if it does).
const NEVER: Duration = Duration::from_secs(86_400);

async fn broker_to_client(
    mut reader: FrameReader,
    cw: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    shared: Arc<Shared>,
    session: Arc<Mutex<Session>>,
    peer: SocketAddr,
    client_done: oneshot::Receiver<()>,
) -> End {
    let limits = shared.limits;
    tokio::pin!(client_done);
    let mut draining = false;
    // Whether the broker has sent anything on this connection.
    let mut answered = false;
    // Armed for the send-count flush and while draining; the broker's frames are trusted for
    // timing (a long poll legitimately waits), but still framed and bounded in size.
    let tick = tokio::time::sleep(NEVER);
    tokio::pin!(tick);
    let end = loop {
        let f = tokio::select! {
            biased;
            // Half-close: once the client has stopped sending, relay only what is still owed.
            _ = &mut client_done, if !draining => {
                draining = true;
                tick.as_mut().reset(Instant::now() + DRAIN);
                continue;
            }
            r = reader.next_or_tick(&mut tick, None), if !draining || lock(&session).owed() => r,
            else => break End::Eof,
        };
        let f = match f {
            Ok(f) => f,
            Err(ReadEnd::Tick) if !draining => {
                let now = Instant::now();
                let mut s = lock(&session);
                s.flush_if_due(now);
                tick.as_mut().reset(s.flush_deadline().unwrap_or(now + NEVER));
                continue;
            }
            Err(ReadEnd::Tick) => {
                count_close(&shared, peer, "drain_timeout", "broker");
                break End::Closed("drain_timeout");
            }
            Err(e) => match read_end_reason(&e) {
                Some(_) => {
                    shared.stats.closed("malformed_broker_frame");
                    warn!(listener = %shared.name, %peer, error = ?e, "malformed frame from broker; closing the connection");
                    break End::Closed("malformed_broker_frame");
                }
                None => {
                    // Only a broker that closed while a request was still owed an answer, and
                    // before answering anything: a client that sent only oneway requests and then
                    // went quiet is closed by the broker's own idle timer, which says nothing
                    // about the header.
                    if !answered && !draining && shared.proxy_protocol != ProxyProtocol::Off && lock(&session).owed() {
                        proxy_header_refused(&shared, peer);
                    }
                    break if matches!(e, ReadEnd::Eof) { End::Eof } else { End::Io };
                }
            },
        };
        answered = true;
        let verdict = {
            let mut s = lock(&session);
            let had_flush = s.flush_deadline().is_some();
            let v = s.broker_frame(&f, Instant::now());
            // The first counted send of a period brings the timer forward to its flush.
            if !had_flush
                && !draining
                && let Some(d) = s.flush_deadline()
                && d < tick.deadline()
            {
                tick.as_mut().reset(d);
            }
            v
        };
        if let BrokerVerdict::Close(reason) = verdict {
            shared.stats.closed(reason);
            warn!(listener = %shared.name, %peer, reason, "closing the connection on a broker frame");
            break End::Closed(reason);
        }
        let mut w = cw.lock().await;
        match write_within(&mut w, f.as_bytes(), limits.write_timeout).await {
            Ok(()) => {}
            Err("write_timeout") => {
                drop(w);
                count_close(&shared, peer, "write_timeout", "broker");
                break End::Closed("write_timeout");
            }
            Err(_) => break End::Io,
        }
    };
    let _ = cw.lock().await.shutdown().await;
    end
}

/// The broker closed a connection that began with a PROXY header while a request (not a
/// oneway one) was still owed an answer and before answering anything: what a broker that does
/// not read the header does (4.x and 5.x before 5.1.4 read its first bytes as an oversized
/// frame length). Counted and logged, since every client of such a listener fails this way. A
/// connection that carried only oneway requests is not counted: the broker's idle close of it
/// looks the same and proves nothing.
fn proxy_header_refused(shared: &Shared, peer: SocketAddr) {
    shared.stats.closed("broker_closed_after_proxy_header");
    if shared.logs.allow(&shared.name) {
        warn!(
            listener = %shared.name,
            %peer,
            upstream = %shared.upstream,
            "the broker closed the connection after the PROXY header with a request unanswered and nothing \
             answered before; brokers before 5.1.4 do not read the header: set proxy_protocol = \"off\" on this \
             listener unless the broker was only restarting"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_counted_by_ipv4_address_or_ipv6_64() {
        let key = |s: &str| source_key(s.parse().expect("ip"));
        assert_eq!(key("10.1.2.3"), key("10.1.2.3"));
        assert_ne!(key("10.1.2.3"), key("10.1.2.4"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "one /64 is one source");
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:10.1.2.3"), key("10.1.2.3"), "IPv4-mapped is the IPv4 address");
        assert_eq!(key("2002:a01:203:1::1"), key("10.1.2.3"), "6to4 is its IPv4 address");
        assert_eq!(key("2002:a01:203:ffff::1"), key("10.1.2.3"));
    }
}
