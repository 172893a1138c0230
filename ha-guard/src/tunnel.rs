//! The two tunnel ends. Accept (master host): verify the slave side's `rmq-ha-v1` first
//! packet, and only then dial the master and answer. Connect (slave host): dial the master's
//! guard, send the first packet, verify the answer, then relay.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmq_protocol::ha::Parsed;
use rmq_protocol::sign::{AuthError, SigningKey, ha_v1};
use rmq_runtime::accept::{Accepted, LimitedAcceptor};
use rmq_runtime::replay::NonceCache;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{info, warn};

use crate::budget::{PreAuthBudget, Ticket};
use crate::config;
use crate::inspect::Reading;
use crate::relay::{Inspect, RelayEnd, relay, splice_relay};
use crate::stats::{EndStats, SlaveStats};

/// What every tunnel end shares: keys (replaced on reload) and the nonces seen.
#[derive(Debug)]
pub struct Shared {
    /// Key id → key.
    pub keys: RwLock<Arc<HashMap<String, SigningKey>>>,
    /// Nonces seen within ±skew.
    pub nonces: Mutex<NonceCache>,
    /// The skew window.
    pub max_skew_ms: u64,
}

impl Shared {
    fn key(&self, id: &str) -> Option<SigningKey> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The live tunnel of each key on an auto-switch accept end. A Java 5.x master counts HA
/// connections, not slaves, towards a write's acknowledgements, so one key holding two
/// tunnels would acknowledge twice; a newer authenticated tunnel for a key closes the older.
#[derive(Debug, Default)]
pub struct LiveTunnels {
    by_key: Mutex<LiveTable>,
}

/// Key id → (the live tunnel's number, what closes it); and the next number.
#[derive(Debug, Default)]
struct LiveTable {
    next: u64,
    tunnels: HashMap<String, (u64, oneshot::Sender<()>)>,
}

impl LiveTunnels {
    /// Makes a new tunnel the live one of `key_id`: returns its number, what tells it that a
    /// newer one replaced it, and whether an older one was told so now.
    fn claim(&self, key_id: &str) -> (u64, oneshot::Receiver<()>, bool) {
        let (tx, rx) = oneshot::channel();
        let mut t = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        t.next += 1;
        let id = t.next;
        let older = t.tunnels.insert(key_id.to_owned(), (id, tx));
        // An older tunnel that has ended already has dropped its receiver: not counted.
        let replaced = older.is_some_and(|(_, tx)| tx.send(()).is_ok());
        (id, rx, replaced)
    }

    /// Forgets tunnel `id` of `key_id` when it ends, unless a newer one has taken its place.
    fn release(&self, key_id: &str, id: u64) {
        let mut t = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        if t.tunnels.get(key_id).is_some_and(|(live, _)| *live == id) {
            t.tunnels.remove(key_id);
        }
    }
}

/// Resolves when a newer tunnel of the same key has replaced this one; never without `rx`.
async fn replaced(rx: Option<oneshot::Receiver<()>>) {
    if let Some(rx) = rx
        && rx.await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await;
}

/// A master-side tunnel end.
pub struct AcceptEnd {
    /// Its configuration.
    pub cfg: config::Accept,
    /// Its counters.
    pub stats: Arc<EndStats>,
    /// TLS, when configured.
    pub tls: Option<TlsAcceptor>,
    /// Keys and nonces.
    pub shared: Arc<Shared>,
    /// The live tunnel of each key (auto-switch HA).
    pub live: LiveTunnels,
}

/// A slave-side tunnel end.
pub struct ConnectEnd {
    /// Its configuration.
    pub cfg: config::Connect,
    /// Its counters.
    pub stats: Arc<EndStats>,
    /// TLS, when configured.
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Keys and nonces.
    pub shared: Arc<Shared>,
}

impl std::fmt::Debug for AcceptEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptEnd").field("cfg", &self.cfg).field("tls", &self.tls.is_some()).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ConnectEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectEnd").field("cfg", &self.cfg).field("tls", &self.tls.is_some()).finish_non_exhaustive()
    }
}

/// Either end, for the accept loop.
#[derive(Debug, Clone)]
pub enum End {
    /// Master side.
    Accept(Arc<AcceptEnd>),
    /// Slave side.
    Connect(Arc<ConnectEnd>),
}

impl End {
    fn stats(&self) -> &EndStats {
        match self {
            Self::Accept(a) => &a.stats,
            Self::Connect(c) => &c.stats,
        }
    }

    fn limits(&self) -> config::Limits {
        match self {
            Self::Accept(a) => a.cfg.limits,
            Self::Connect(c) => c.cfg.limits,
        }
    }
}

/// The two budgets of a tunnel end: connections still proving themselves, and authenticated
/// tunnels. Separate, so unauthenticated connections cannot take a tunnel's slot.
#[derive(Debug, Clone)]
struct Budgets {
    pre_auth: Arc<PreAuthBudget>,
    tunnels: Arc<Semaphore>,
}

/// Accepts until `stop` flips. Each tunnel holds a clone of `alive`, so the caller learns
/// when the last one has ended (the drain on SIGTERM).
pub async fn serve(listener: TcpListener, end: End, mut stop: watch::Receiver<bool>, alive: mpsc::Sender<()>) {
    let limits = end.limits();
    // The acceptor caps descriptors at both budgets together; the budgets themselves are
    // kept here.
    let mut acceptor = LimitedAcceptor::new(listener, limits.max_connections.saturating_add(limits.max_pending_hellos));
    let budgets = Budgets {
        pre_auth: PreAuthBudget::new(limits.max_pending_hellos),
        tunnels: Arc::new(Semaphore::new(limits.max_connections)),
    };
    loop {
        let accepted = tokio::select! {
            a = acceptor.next(&end.stats().name) => a,
            _ = stop.changed() => break,
        };
        let (sock, peer, permit) = match accepted {
            Accepted::Conn(s, p, permit) => (s, p, permit),
            Accepted::OverLimit(peer) => {
                end.stats().reject("connection_limit");
                warn!(guard = %end.stats().name, %peer, "connection limit reached (max_connections + max_pending_hellos); closing");
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        // Admitted before the task starts, so a flood is evicted in arrival order.
        let (ticket, evicted) = budgets.pre_auth.admit();
        let end = end.clone();
        let alive = alive.clone();
        let budgets = budgets.clone();
        tokio::spawn(async move {
            match &end {
                End::Accept(a) => accept_one(sock, peer, a, ticket, &budgets).await,
                End::Connect(c) => connect_one(sock, peer, c, ticket, &budgets).await,
            }
            drop(permit);
            drop(alive);
        });
        if evicted {
            // Let the evicted connection's task close it and give back its descriptor slot
            // before the next accept (the runtime has one thread; a burst of accepts would
            // otherwise run ahead of every eviction and hit the descriptor cap).
            tokio::task::yield_now().await;
        }
    }
}

/// Runs `fut`, a step of authentication, unless the deadline passes (`on_timeout`) or the
/// connection is evicted from the pre-authentication budget first. A step that can complete
/// wins over an eviction delivered at the same moment: a connection whose first packet has
/// arrived is not the silent kind the eviction is for.
async fn pre_auth<T>(
    ticket: &mut Ticket,
    deadline: tokio::time::Instant,
    on_timeout: Refusal,
    fut: impl std::future::Future<Output = Result<T, Refusal>>,
) -> Result<T, Refusal> {
    tokio::select! {
        biased;
        r = tokio::time::timeout_at(deadline, fut) => r.unwrap_or(Err(on_timeout)),
        () = ticket.evicted() => Err(Refusal::new(
            "pre_auth_limit",
            "max_pending_hellos connections were authenticating; closed the oldest to make room",
        )),
    }
}

/// Leaves the pre-authentication budget for a tunnel slot, or refuses when every slot is taken.
fn take_tunnel_slot(ticket: Ticket, budgets: &Budgets) -> Result<OwnedSemaphorePermit, Refusal> {
    drop(ticket);
    Arc::clone(&budgets.tunnels)
        .try_acquire_owned()
        .map_err(|_| Refusal::new("connection_limit", "max_connections tunnels are open"))
}

/// Why a connection was refused before relaying: a metric label and a log detail.
#[derive(Debug)]
struct Refusal {
    reason: &'static str,
    detail: String,
}

impl Refusal {
    fn new(reason: &'static str, detail: impl std::fmt::Display) -> Self {
        Self { reason, detail: detail.to_string() }
    }
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        Self::new(e.reason(), e)
    }
}

/// Reads a whole first packet, never past its end (what follows belongs to the master).
async fn read_hello<S: AsyncRead + Unpin>(s: &mut S) -> Result<Vec<u8>, Refusal> {
    let mut buf = Vec::with_capacity(ha_v1::MAX_HELLO_LEN);
    loop {
        let need = match ha_v1::parse_hello(&buf) {
            Ok(Parsed::Complete(..)) => return Ok(buf),
            Ok(Parsed::NeedMore(n)) => n,
            Err(e @ ha_v1::PreambleError::BadMagic) => return Err(Refusal::new("bad_magic", e)),
            Err(e @ ha_v1::PreambleError::Version(_)) => return Err(Refusal::new("bad_version", e)),
            Err(e) => return Err(Refusal::new("malformed", e)),
        };
        let at = buf.len();
        buf.resize(at + need, 0);
        match s.read(&mut buf[at..]).await {
            Ok(0) => return Err(Refusal::new("incomplete", format!("closed after {at} bytes"))),
            Ok(n) => buf.truncate(at + n),
            Err(e) => return Err(Refusal::new("io", e)),
        }
    }
}

/// Verifies a first packet: known key (allowed here), MAC, time, broker name, fresh nonce.
/// Returns the key and the hello's MAC (which the answer binds to).
fn verify_hello(end: &AcceptEnd, bytes: &[u8]) -> Result<(String, SigningKey, [u8; 32]), Refusal> {
    let Ok(Parsed::Complete(hello, _)) = ha_v1::parse_hello(bytes) else {
        return Err(Refusal::new("malformed", "first packet does not parse"));
    };
    let allowed = end.cfg.key_ids.is_empty() || end.cfg.key_ids.iter().any(|k| k == hello.key_id);
    let key = end
        .shared
        .key(hello.key_id)
        .filter(|_| allowed)
        .ok_or_else(|| Refusal::new("unknown_key", format!("key id {:?}", hello.key_id)))?;
    let now = now_ms();
    hello.verify(&key, now, end.shared.max_skew_ms, &end.cfg.broker_name)?;
    let nonce: String = hello.nonce.iter().map(|b| format!("{b:02x}")).collect();
    end.shared
        .nonces
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .check_and_insert(hello.key_id, &nonce, now)
        .map_err(|r| match r {
            rmq_runtime::replay::NonceRejection::Replayed => Refusal::from(AuthError::Replayed),
            rmq_runtime::replay::NonceRejection::Full => {
                Refusal::new("nonce_cache_full", "nonce cache full; raise nonce_cache_size")
            }
        })?;
    Ok((hello.key_id.to_owned(), key, hello.mac))
}

async fn accept_one(sock: TcpStream, peer: SocketAddr, end: &AcceptEnd, mut ticket: Ticket, budgets: &Budgets) {
    let limits = end.cfg.limits;
    let deadline = tokio::time::Instant::now() + limits.hello_timeout;
    let refuse = |r: Refusal| {
        end.stats.reject(r.reason);
        warn!(guard = %end.stats.name, %peer, reason = r.reason, detail = %r.detail, "HA connection refused; nothing was sent to the master");
    };
    match &end.tls {
        Some(tls) => {
            let handshake = async { tls.accept(sock).await.map_err(|e| Refusal::new("tls_handshake", e)) };
            let timeout = Refusal::new("hello_timeout", "TLS handshake not finished in time");
            match pre_auth(&mut ticket, deadline, timeout, handshake).await {
                Ok(s) => accept_verified(s, peer, end, deadline, ticket, budgets).await.unwrap_or_else(refuse),
                Err(r) => refuse(r),
            }
        }
        None => accept_verified(sock, peer, end, deadline, ticket, budgets).await.unwrap_or_else(refuse),
    }
}

async fn accept_verified<S>(
    mut s: S,
    peer: SocketAddr,
    end: &AcceptEnd,
    deadline: tokio::time::Instant,
    mut ticket: Ticket,
    budgets: &Budgets,
) -> Result<(), Refusal>
where
    S: TunnelStream,
{
    let timeout = Refusal::new("hello_timeout", "no complete first packet within hello_timeout_ms");
    let hello = pre_auth(&mut ticket, deadline, timeout, read_hello(&mut s)).await?;
    let (key_id, key, hello_mac) = verify_hello(end, &hello)?;
    let _slot = take_tunnel_slot(ticket, budgets)?;
    let limits = end.cfg.limits;
    let master = match tokio::time::timeout(limits.connect_timeout, TcpStream::connect(end.cfg.upstream.as_str())).await
    {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return Err(Refusal::new("upstream_unreachable", format!("{}: {e}", end.cfg.upstream))),
        Err(_) => return Err(Refusal::new("upstream_unreachable", format!("{}: connect timed out", end.cfg.upstream))),
    };
    let _ = master.set_nodelay(true);
    s.write_all(&ha_v1::encode_accept(&key, &hello_mac)).await.map_err(|e| Refusal::new("io", e))?;
    let inspect = end.cfg.inspect.then(|| Reading {
        protocol: end.cfg.ha_protocol,
        // A key that is not listed may declare no id (once the table is set at all).
        slave_ids: (!end.cfg.slave_ids.is_empty()).then(|| end.cfg.slave_ids.get(&key_id).cloned().unwrap_or_default()),
    });
    // Auto-switch: one live tunnel per key (the master counts each connection's acks).
    let claim = matches!(end.cfg.ha_protocol, config::HaProtocol::AutoSwitch | config::HaProtocol::AutoSwitch50)
        .then(|| end.live.claim(&key_id));
    let superseded = claim.map(|(id, rx, older)| {
        if older {
            end.stats.reject("superseded");
            warn!(guard = %end.stats.name, %peer, key_id, "a newer tunnel authenticated with this key: closing its older tunnel");
        }
        (id, rx)
    });
    let (live_id, rx) = superseded.map_or((None, None), |(id, rx)| (Some(id), Some(rx)));
    let t = Tunnel { peer, key_id: &key_id, idle: limits.idle_timeout, superseded: rx };
    run_tunnel(s, master, &end.stats, inspect, t).await;
    if let Some(id) = live_id {
        end.live.release(&key_id, id);
    }
    Ok(())
}

async fn connect_one(slave: TcpStream, peer: SocketAddr, end: &ConnectEnd, mut ticket: Ticket, budgets: &Budgets) {
    let refuse = |r: Refusal| {
        end.stats.reject(r.reason);
        warn!(guard = %end.stats.name, %peer, remote = %end.cfg.remote, reason = r.reason, detail = %r.detail, "HA tunnel not established; closing the slave's connection");
    };
    let limits = end.cfg.limits;
    // Authentication here is the remote's answer: dialling, TLS and the answer all count
    // against the pre-authentication budget.
    let deadline = tokio::time::Instant::now() + limits.connect_timeout + limits.hello_timeout;
    let dial = async {
        let remote =
            match tokio::time::timeout(limits.connect_timeout, TcpStream::connect(end.cfg.remote.as_str())).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(Refusal::new("remote_unreachable", e)),
                Err(_) => return Err(Refusal::new("remote_unreachable", "connect timed out")),
            };
        let _ = remote.set_nodelay(true);
        Ok(remote)
    };
    let timeout = Refusal::new("remote_unreachable", "connect timed out");
    let remote = match pre_auth(&mut ticket, deadline, timeout, dial).await {
        Ok(r) => r,
        Err(r) => return refuse(r),
    };
    let result = match &end.tls {
        Some((tls, name)) => {
            let handshake = async {
                tokio::time::timeout(limits.hello_timeout, tls.connect(name.clone(), remote))
                    .await
                    .map_err(|_| Refusal::new("answer_timeout", "TLS handshake not finished in time"))?
                    .map_err(|e| Refusal::new("tls_handshake", e))
            };
            let timeout = Refusal::new("answer_timeout", "TLS handshake not finished in time");
            match pre_auth(&mut ticket, deadline, timeout, handshake).await {
                Ok(r) => connect_verified(slave, r, peer, end, ticket, budgets).await,
                Err(r) => Err(r),
            }
        }
        None => connect_verified(slave, remote, peer, end, ticket, budgets).await,
    };
    if let Err(r) = result {
        refuse(r);
    }
}

async fn connect_verified<R>(
    slave: TcpStream,
    mut remote: R,
    peer: SocketAddr,
    end: &ConnectEnd,
    mut ticket: Ticket,
    budgets: &Budgets,
) -> Result<(), Refusal>
where
    R: TunnelStream,
{
    let key = end.shared.key(&end.cfg.key_id).ok_or_else(|| Refusal::new("unknown_key", &end.cfg.key_id))?;
    let mut nonce = [0u8; ha_v1::NONCE_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
        .map_err(|_| Refusal::new("io", "no randomness for the nonce"))?;
    let hello = ha_v1::encode_hello(&end.cfg.key_id, &key, now_ms(), nonce, &end.cfg.broker_name)
        .map_err(|e| Refusal::new("malformed", e))?;
    let mut hello_mac = [0u8; 32];
    hello_mac.copy_from_slice(&hello[hello.len() - 32..]);
    let exchange = async {
        remote.write_all(&hello).await.map_err(|e| Refusal::new("io", e))?;
        let mut answer = [0u8; ha_v1::ACCEPT_LEN];
        remote.read_exact(&mut answer).await.map_err(|_| {
            Refusal::new(
                "refused_by_remote",
                "the accept side closed without answering (its log and rmq_ha_guard_rejected_total say why)",
            )
        })?;
        Ok(answer)
    };
    let deadline = tokio::time::Instant::now() + end.cfg.limits.hello_timeout;
    let timeout = Refusal::new("answer_timeout", "no answer within hello_timeout_ms");
    let answer = pre_auth(&mut ticket, deadline, timeout, exchange).await?;
    let Ok(Parsed::Complete(mac, _)) = ha_v1::parse_accept(&answer) else {
        return Err(Refusal::new("bad_answer", "not an rmq-ha-v1 answer"));
    };
    ha_v1::verify_accept(&key, &hello_mac, &mac)
        .map_err(|_| Refusal::new("bad_answer", "the answer is not signed with our key"))?;
    let _slot = take_tunnel_slot(ticket, budgets)?;
    let inspect = end.cfg.inspect.then_some(Reading { protocol: end.cfg.ha_protocol, slave_ids: None });
    let t = Tunnel { peer, key_id: &end.cfg.key_id, idle: end.cfg.limits.idle_timeout, superseded: None };
    run_tunnel(slave, remote, &end.stats, inspect, t).await;
    Ok(())
}

/// A tunnel's stream: a plain socket (which can be spliced) or TLS.
pub trait TunnelStream: AsyncRead + AsyncWrite + Unpin + Sized {
    /// The plain socket, if this is one.
    fn into_tcp(self) -> Result<TcpStream, Self>;
}

impl TunnelStream for TcpStream {
    fn into_tcp(self) -> Result<TcpStream, Self> {
        Ok(self)
    }
}

impl TunnelStream for tokio_rustls::server::TlsStream<TcpStream> {
    fn into_tcp(self) -> Result<TcpStream, Self> {
        Err(self)
    }
}

impl TunnelStream for tokio_rustls::client::TlsStream<TcpStream> {
    fn into_tcp(self) -> Result<TcpStream, Self> {
        Err(self)
    }
}

/// Relays without inspection by the cheapest path: `splice(2)` between two plain sockets,
/// else a userspace copy.
async fn relay_uninspected<S: TunnelStream, M: TunnelStream>(s: S, m: M, idle: Duration) -> RelayEnd {
    match (s.into_tcp(), m.into_tcp()) {
        (Ok(s), Ok(m)) => splice_relay(s, m, idle).await,
        (Ok(s), Err(m)) => relay(s, m, None, idle).await,
        (Err(s), Ok(m)) => relay(s, m, None, idle).await,
        (Err(s), Err(m)) => relay(s, m, None, idle).await,
    }
}

/// Whom a tunnel serves and what ends it besides its streams.
struct Tunnel<'a> {
    peer: SocketAddr,
    key_id: &'a str,
    idle: Duration,
    /// Fires when a newer tunnel of the same key replaces this one.
    superseded: Option<oneshot::Receiver<()>>,
}

/// Relays an established tunnel and accounts for it.
async fn run_tunnel<S, M>(slave_side: S, master_side: M, stats: &EndStats, inspect: Option<Reading>, t: Tunnel<'_>)
where
    S: TunnelStream,
    M: TunnelStream,
{
    let Tunnel { peer, key_id, idle, superseded } = t;
    let slave = peer.ip().to_string();
    let state: Arc<SlaveStats> = stats.slave(&slave);
    stats.established.fetch_add(1, Ordering::Relaxed);
    stats.active.fetch_add(1, Ordering::Relaxed);
    state.tunnels.fetch_add(1, Ordering::Relaxed);
    let read_as = inspect.as_ref().map_or("uninspected", |r| r.protocol.as_str());
    info!(guard = %stats.name, %peer, key_id, inspect = read_as, "HA tunnel established");
    let relayed = async {
        match inspect {
            Some(reading) => {
                relay(slave_side, master_side, Some(Inspect { slave: Arc::clone(&state), reading }), idle).await
            }
            None => relay_uninspected(slave_side, master_side, idle).await,
        }
    };
    let end = tokio::select! {
        e = relayed => e,
        () = replaced(superseded) => RelayEnd::Superseded,
    };
    state.tunnels.fetch_sub(1, Ordering::Relaxed);
    stats.active.fetch_sub(1, Ordering::Relaxed);
    match end {
        RelayEnd::Impossible(e) => {
            stats.reject(e.reason());
            warn!(guard = %stats.name, %peer, reason = e.reason(), error = %e, "closing HA tunnel before forwarding what no HA peer sends");
        }
        RelayEnd::Superseded => {
            info!(guard = %stats.name, %peer, key_id, "HA tunnel closed: a newer tunnel of the same key replaced it");
        }
        RelayEnd::Idle => {
            stats.reject("idle");
            info!(guard = %stats.name, %peer, "closing idle HA tunnel");
        }
        RelayEnd::Io(e) => info!(guard = %stats.name, %peer, error = %e, "HA tunnel ended"),
        RelayEnd::SlaveClosed => info!(guard = %stats.name, %peer, "HA tunnel ended: slave side closed"),
        RelayEnd::MasterClosed => info!(guard = %stats.name, %peer, "HA tunnel ended: master side closed"),
    }
}
