//! The running ha-guard: every configured tunnel end as a named task, `/metrics`, reload
//! and drain, on rmq-runtime's [`Service`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rmq_protocol::sign::SigningKey;
use rmq_runtime::config::KeyConfig;
use rmq_runtime::metrics::{Family, Registry, SnapshotSlot};
use rmq_runtime::replay::NonceCache;
use rmq_runtime::service::{Reloads, Service, ServiceError};
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use crate::config::Config;
use crate::stats::{EndStats, Side, families};
use crate::tunnel::{AcceptEnd, ConnectEnd, End, LiveTunnels, Shared, serve};

/// Why the guard could not start (or its endpoint failed).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An address could not be bound, or the HTTP server failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A key could not be read.
    #[error(transparent)]
    Secret(#[from] rmq_runtime::secret::SecretError),
    /// TLS material could not be loaded.
    #[error("{end}: {cause}")]
    Tls {
        /// Which tunnel end.
        end: String,
        /// Why.
        cause: crate::tls::TlsError,
    },
}

/// Reads every key (permission-checked).
pub fn load_keys(cfg: &Config) -> Result<HashMap<String, SigningKey>, rmq_runtime::secret::SecretError> {
    let secrets = KeyConfig::read_all(&cfg.keys)?;
    Ok(secrets.into_iter().map(|(id, secret)| (id, SigningKey::new(&secret))).collect())
}

/// How to reload (SIGHUP): requests and the file to read again.
#[derive(Debug)]
pub struct Reloader {
    /// One message per reload request.
    pub requests: mpsc::Receiver<()>,
    /// The configuration file.
    pub path: PathBuf,
}

/// Every configured tunnel end, TLS loaded, with its counters.
fn ends(config: &Config, shared: &Arc<Shared>) -> Result<Vec<End>, StartError> {
    let mut ends = Vec::new();
    for a in &config.accept {
        let tls = match (&a.tls_cert_file, &a.tls_key_file) {
            (Some(c), Some(k)) => {
                Some(crate::tls::acceptor(c, k).map_err(|cause| StartError::Tls { end: a.label().into(), cause })?)
            }
            // The configuration check makes the two go together.
            _ => None,
        };
        let stats = Arc::new(EndStats::new(a.label(), Side::Accept));
        ends.push(End::Accept(Arc::new(AcceptEnd {
            cfg: a.clone(),
            stats,
            tls,
            shared: Arc::clone(shared),
            live: LiveTunnels::default(),
        })));
    }
    for c in &config.connect {
        let tls = match &c.tls_ca_file {
            Some(ca) => Some(
                crate::tls::connector(ca, c.tls_server_name())
                    .map_err(|cause| StartError::Tls { end: c.label().into(), cause })?,
            ),
            None => None,
        };
        let stats = Arc::new(EndStats::new(c.label(), Side::Connect));
        ends.push(End::Connect(Arc::new(ConnectEnd { cfg: c.clone(), stats, tls, shared: Arc::clone(shared) })));
    }
    Ok(ends)
}

/// Runs every tunnel end until `shutdown` resolves, then stops accepting and lets open
/// tunnels finish for at most `shutdown_grace_seconds`. `ready` receives the HTTP address
/// once every listener is bound. Tasks: `accept:<name>` / `connect:<name>` per end,
/// `tunnels` (ends when the last open tunnel has), `metrics`, `reload`.
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
    let ends = ends(&config, &shared)?;
    let stats: Vec<Arc<EndStats>> = ends
        .iter()
        .map(|e| match e {
            End::Accept(a) => Arc::clone(&a.stats),
            End::Connect(c) => Arc::clone(&c.stats),
        })
        .collect();
    let mut svc = Service::new("rmq-ha-guard");
    // Every tunnel holds a sender: the receiver sees the end once the last has closed.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    for end in ends {
        let (listen, side, name) = match &end {
            End::Accept(a) => (a.cfg.listener.listen, "accept", a.stats.name.clone()),
            End::Connect(c) => (c.cfg.listener.listen, "connect", c.stats.name.clone()),
        };
        let sock = Service::bind(listen).await?;
        info!(guard = %name, side, %listen, "ha-guard listening");
        svc.spawn(format!("{side}:{name}"), serve(sock, end, svc.stop(), alive_tx.clone()));
    }
    drop(alive_tx);
    svc.spawn("tunnels", async move { while alive_rx.recv().await.is_some() {} });

    // Metrics: counters are atomics; a snapshot is encoded once a second.
    let slot = SnapshotSlot::new();
    let registry = Registry::new(vec![Arc::clone(&slot)]);
    let reloads = svc.reloads();
    slot.publish(all_families(&stats, &reloads));
    let mut stop = svc.stop();
    svc.spawn("metrics", async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => slot.publish(all_families(&stats, &reloads)),
                _ = stop.changed() => return,
            }
        }
    });
    if let Some(Reloader { requests, path }) = reload {
        svc.spawn_reload(requests, move || {
            let keys = Config::load(&path)
                .map_err(|e| e.to_string())
                .and_then(|c| load_keys(&c).map_err(|e| e.to_string()))?;
            let n = keys.len();
            *shared.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
            Ok(format!("{n} key(s) replaced (tunnels and listeners unchanged)"))
        });
    }

    let http = Service::bind(config.http.listen).await?;
    svc.serve(http, registry, &config.http, shutdown, ready, "tunnels listening", config.shutdown_grace).await?;
    Ok(())
}

fn all_families(stats: &[Arc<EndStats>], reloads: &Reloads) -> Vec<Family> {
    let mut f = families(stats);
    f.push(reloads.family("rmq_ha_guard_reloads", "Configuration reloads (SIGHUP), by result.", "result"));
    f.push(
        Family::gauge("rmq_ha_guard_build_info", "rmq-ha-guard's version (value 1).")
            .with(vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1.0),
    );
    f
}
