//! The running ha-guard: every configured tunnel end, `/metrics`, reload and drain.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rmq_protocol::sign::SigningKey;
use rmq_runtime::metrics::{Family, Registry, SnapshotSlot};
use rmq_runtime::replay::NonceCache;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::stats::{EndStats, Side, families};
use crate::tunnel::{AcceptEnd, ConnectEnd, End, Shared, serve};

/// Why the guard could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key could not be read.
    #[error(transparent)]
    Secret(#[from] rmq_runtime::secret::SecretError),
    /// TLS material could not be loaded.
    #[error("{end}: {source}")]
    Tls {
        /// Which tunnel end.
        end: String,
        /// Why.
        #[source]
        source: crate::tls::TlsError,
    },
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Serve(#[source] std::io::Error),
}

/// Reads every key (permission-checked).
pub fn load_keys(cfg: &Config) -> Result<HashMap<String, SigningKey>, rmq_runtime::secret::SecretError> {
    cfg.keys
        .iter()
        .map(|k| Ok((k.id.clone(), SigningKey::new(&rmq_runtime::secret::read_file(&k.secret_file)?))))
        .collect()
}

/// How to reload (SIGHUP): requests and the file to read again.
#[derive(Debug)]
pub struct Reloader {
    /// One message per reload request.
    pub requests: mpsc::Receiver<()>,
    /// The configuration file.
    pub path: PathBuf,
}

fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
}

/// Runs every tunnel end until `shutdown` resolves, then stops accepting and lets open
/// tunnels finish for at most `shutdown_grace_seconds`. `ready` receives the HTTP address
/// once every listener is bound.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: Option<oneshot::Sender<SocketAddr>>,
    reload: Option<Reloader>,
) -> Result<(), StartError> {
    let shared = Arc::new(Shared {
        keys: RwLock::new(Arc::new(load_keys(&config)?)),
        nonces: Mutex::new(NonceCache::new(2 * config.max_skew_ms(), config.nonce_cache_size)),
        max_skew_ms: config.max_skew_ms(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let mut ends = Vec::new();
    let mut stats = Vec::new();
    for a in &config.accept {
        let tls = match (&a.tls_cert_file, &a.tls_key_file) {
            (Some(c), Some(k)) => {
                Some(crate::tls::acceptor(c, k).map_err(|source| StartError::Tls { end: a.label().into(), source })?)
            }
            _ => None,
        };
        let s = Arc::new(EndStats::new(a.label(), Side::Accept));
        stats.push(Arc::clone(&s));
        let end = End::Accept(Arc::new(AcceptEnd { cfg: a.clone(), stats: s, tls, shared: Arc::clone(&shared) }));
        ends.push((a.listen.clone(), end));
    }
    for c in &config.connect {
        let tls = match &c.tls_ca_file {
            Some(ca) => {
                let name = c.tls_server_name.as_deref().unwrap_or_else(|| host_of(&c.remote));
                Some(
                    crate::tls::connector(ca, name)
                        .map_err(|source| StartError::Tls { end: c.label().into(), source })?,
                )
            }
            None => None,
        };
        let s = Arc::new(EndStats::new(c.label(), Side::Connect));
        stats.push(Arc::clone(&s));
        let end = End::Connect(Arc::new(ConnectEnd { cfg: c.clone(), stats: s, tls, shared: Arc::clone(&shared) }));
        ends.push((c.listen.clone(), end));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (listen, end) in ends {
        let sock = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|source| StartError::Bind { addr: listen.clone(), source })?;
        let (name, side) = match &end {
            End::Accept(a) => (a.stats.name.clone(), "accept"),
            End::Connect(c) => (c.stats.name.clone(), "connect"),
        };
        info!(guard = %name, side, %listen, "ha-guard listening");
        tasks.spawn(serve(sock, end, stop_rx.clone(), alive_tx.clone()));
    }
    drop(alive_tx);

    // Metrics: counters are atomics; a snapshot is encoded once a second.
    let reloads: Arc<[AtomicU64; 2]> = Arc::default();
    let slot = SnapshotSlot::new();
    let registry = Registry::new(vec![Arc::clone(&slot)]);
    slot.publish(all_families(&stats, &reloads));
    {
        let (slot, stats, reloads, mut stop) =
            (Arc::clone(&slot), stats.clone(), Arc::clone(&reloads), stop_rx.clone());
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => slot.publish(all_families(&stats, &reloads)),
                    _ = stop.changed() => break,
                }
            }
        });
    }
    if let Some(mut r) = reload {
        let (shared, reloads, mut stop) = (Arc::clone(&shared), Arc::clone(&reloads), stop_rx.clone());
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    req = r.requests.recv() => if req.is_none() { break },
                    _ = stop.changed() => break,
                }
                match Config::load(&r.path)
                    .map_err(|e| e.to_string())
                    .and_then(|c| load_keys(&c).map_err(|e| e.to_string()))
                {
                    Ok(keys) => {
                        let n = keys.len();
                        *shared.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
                        reloads[0].fetch_add(1, Ordering::Relaxed);
                        info!(keys = n, "configuration reloaded: keys replaced (tunnels and listeners unchanged)");
                    }
                    Err(e) => {
                        reloads[1].fetch_add(1, Ordering::Relaxed);
                        error!(error = %e, "reload failed; keeping the previous keys");
                    }
                }
            }
        });
    }

    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .map_err(|source| StartError::Bind { addr: config.http.listen.clone(), source })?;
    let local =
        listener.local_addr().map_err(|source| StartError::Bind { addr: config.http.listen.clone(), source })?;
    info!(listen = %local, "rmq-ha-guard serving /metrics");
    if let Some(tx) = ready {
        let _ = tx.send(local);
    }
    rmq_runtime::process::sd_notify("READY=1\nSTATUS=tunnels listening");
    if let Some(ping) = rmq_runtime::process::sd_watchdog(stop_rx.clone()) {
        tasks.spawn(ping);
    }
    let stop_for_http = stop_tx.clone();
    let served = rmq_runtime::http::serve(listener, "rmq-ha-guard", registry, &config.http.served(), async move {
        shutdown.await;
        info!("shutting down: no new tunnels; open ones may finish");
        rmq_runtime::process::sd_notify("STOPPING=1");
        let _ = stop_for_http.send(true);
    })
    .await;
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    // Every tunnel holds a sender: recv() returns None once the last has ended.
    if tokio::time::timeout(grace, alive_rx.recv()).await.is_err() {
        warn!(?grace, "tunnels still open after the grace period; closing them");
    }
    tasks.abort_all();
    served.map_err(StartError::Serve)
}

fn all_families(stats: &[Arc<EndStats>], reloads: &[AtomicU64; 2]) -> Vec<Family> {
    let mut f = families(stats);
    #[allow(clippy::cast_precision_loss)]
    f.push(
        Family::counter("rmq_ha_guard_reloads", "Configuration reloads (SIGHUP), by result.")
            .with(vec![("result", "ok".into())], reloads[0].load(Ordering::Relaxed) as f64)
            .with(vec![("result", "failed".into())], reloads[1].load(Ordering::Relaxed) as f64),
    );
    f.push(
        Family::gauge("rmq_ha_guard_build_info", "rmq-ha-guard's version (value 1).")
            .with(vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1.0),
    );
    f
}
