//! The running agent: collectors on their intervals, the HTTP endpoint, and a graceful stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq_protocol::SerializeType;
use rmq_protocol::sign::SigningKey;
use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};

use crate::collector::broker::{BrokerCollector, ClientOptions, ExtraOptions, FamilyOptions, FetchOptions};
use crate::collector::host::HostSampler;
use crate::collector::{Health, run_loop};
use crate::config::Config;
use crate::remoting::{Client, ClientConfig, Credentials};
use rmq_runtime::metrics::{Family, Registry, SnapshotSlot};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A secret could not be read.
    #[error(transparent)]
    Secret(#[from] rmq_runtime::secret::SecretError),
    /// Remote-write could not start.
    #[error(transparent)]
    Push(#[from] crate::push::PushError),
    /// The name-server egress could not start.
    #[error(transparent)]
    Egress(#[from] crate::egress::EgressError),
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Serve(#[source] std::io::Error),
}

/// Reads every guard key (permission-checked).
pub fn load_guard_keys(
    g: &crate::config::GuardConfig,
) -> Result<std::collections::HashMap<String, SigningKey>, rmq_runtime::secret::SecretError> {
    g.keys
        .iter()
        .map(|k| Ok((k.id.clone(), SigningKey::new(&rmq_runtime::secret::read_file(&k.secret_file)?))))
        .collect()
}

/// One listener's policy: its role's unsigned list adjusted by `allow_unsigned` and
/// `require_signed`, its schemes, the keys (with their `acl_v1_codes`), and its targets.
pub fn guard_policy(
    l: &crate::config::GuardListener,
    g: &crate::config::GuardConfig,
    keys: std::collections::HashMap<String, SigningKey>,
) -> crate::guard::Policy {
    let mut policy = crate::guard::Policy::new(
        l.role.policy_role(),
        &l.allow_unsigned,
        &l.require_signed,
        l.schemes.clone(),
        keys,
        g.max_skew_seconds * 1000,
    )
    .with_targets(&l.targets);
    for k in &g.keys {
        if let Some(codes) = &k.acl_v1_codes {
            policy = policy.with_acl_v1_codes(&k.id, codes);
        }
        // Validated with the configuration; an entry that does not parse scopes the key to
        // nothing rather than to everything.
        if let Some(brokers) = &k.brokers {
            let scope = crate::guard::auth::RouteScope::parse(brokers)
                .unwrap_or_else(|_| crate::guard::auth::RouteScope::nothing());
            policy = policy.with_route_scope(&k.id, scope);
        }
    }
    policy
}

/// The process's one replay cache, shared by every guarded listener: a nonce is remembered for
/// the whole window a signature is valid in, ±skew.
pub fn guard_nonce_cache(g: &crate::config::GuardConfig) -> Arc<Mutex<rmq_runtime::replay::NonceCache>> {
    Arc::new(Mutex::new(rmq_runtime::replay::NonceCache::new(2 * g.max_skew_seconds * 1000, g.nonce_cache_size)))
}

/// The shared state of one guarded listener. `nonces` is the process's one replay cache
/// ([`guard_nonce_cache`]), the same for every listener.
pub fn guard_listener(
    l: &crate::config::GuardListener,
    g: &crate::config::GuardConfig,
    keys: std::collections::HashMap<String, SigningKey>,
    nonces: Arc<Mutex<rmq_runtime::replay::NonceCache>>,
) -> crate::guard::Shared {
    crate::guard::Shared {
        name: if l.name.is_empty() { l.listen.clone() } else { l.name.clone() },
        listen: l.listen.clone(),
        upstream: l.upstream.clone(),
        proxy_protocol: l.proxy_protocol,
        policy: std::sync::RwLock::new(Arc::new(guard_policy(l, g, keys))),
        nonces,
        limits: crate::guard::Limits {
            max_connections: l.max_connections,
            frame_timeout: Duration::from_millis(l.frame_timeout_ms),
            idle_timeout: Duration::from_secs(l.idle_timeout_seconds),
            connect_timeout: Duration::from_millis(l.connect_timeout_ms),
            max_connections_per_source: l.max_connections_per_source,
            write_timeout: Duration::from_millis(l.write_timeout_ms),
            max_pending_requests: l.max_pending_requests,
            max_header_bytes: l.max_header_bytes,
            max_ext_fields: l.max_ext_fields,
            max_signed_body_bytes: l.max_signed_body_bytes,
            max_frame_bytes: l.max_frame_bytes,
            max_buffered_bytes: l.max_buffered_bytes,
        },
        stats: crate::guard::GuardStats::default(),
        sources: Mutex::default(),
        logs: crate::guard::log_budget::LogBudget::default(),
        buffers: Arc::new(crate::remoting::frames::BufferBudget::new(l.max_buffered_bytes)),
    }
}

/// Each guarded connection holds two descriptors (client and broker). Warns at start when the
/// configured connection limits cannot be reached under this process's open-file limit, so the
/// operator learns it from the log rather than from `accept` failures under load.
fn warn_if_descriptors_short(g: &crate::config::GuardConfig) {
    let needed: usize = g.listeners.iter().map(|l| 2 * l.max_connections + 1).sum::<usize>() + 64;
    let limit = std::fs::read_to_string("/proc/self/limits").ok().and_then(|s| open_files_limit(&s));
    if let Some(limit) = limit
        && limit < needed
    {
        warn!(
            open_files_limit = limit,
            needed,
            "the open-file limit is below what the guards' max_connections need; raise LimitNOFILE (systemd) or lower max_connections"
        );
    }
}

/// The soft "Max open files" from `/proc/self/limits` text (`None` if unlimited or absent).
fn open_files_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// How the agent talks to its local broker (the collector and the put probe alike): header
/// type, request timeout, and ACL 1.0 credentials when the broker checks them.
fn broker_client_config(b: &crate::config::BrokerConfig) -> Result<ClientConfig, rmq_runtime::secret::SecretError> {
    let mut cc = ClientConfig::new(b.addr.clone());
    cc.serialize_type = if b.serialize_type == "rocketmq" { SerializeType::ROCKETMQ } else { SerializeType::JSON };
    cc.request_timeout = Duration::from_millis(b.request_timeout_ms);
    if let (Some(ak), Some(file)) = (&b.acl_access_key, &b.acl_secret_file) {
        cc.credentials = Some(Credentials {
            access_key: ak.clone(),
            secret: SigningKey::new(&rmq_runtime::secret::read_file(file)?),
        });
    }
    Ok(cc)
}

fn build_info() -> Family {
    Family::gauge("rmq_agent_build_info", "rmq-agent's version (value 1).")
        .with(vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1.0)
}

/// How to reload the configuration (SIGHUP): a stream of requests and a loader.
pub struct Reloader {
    /// One message per reload request.
    pub requests: tokio::sync::mpsc::Receiver<()>,
    /// Reads and validates the configuration again.
    pub load: Box<dyn Fn() -> Result<Config, String> + Send + Sync>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reloader")
    }
}

/// Applies a new configuration's guard keys and policies to running listeners, matched by
/// listen address. Connections stay open; listeners added or removed need a restart. The
/// replay cache stays the one every listener shares (what it remembers is kept); it takes the
/// new window and size.
fn apply_guard_reload(new: &Config, running: &[Arc<crate::guard::Shared>]) -> Result<usize, String> {
    let keys = load_guard_keys(&new.guard).map_err(|e| e.to_string())?;
    let mut applied = 0;
    for l in &new.guard.listeners {
        let Some(shared) = running.iter().find(|s| s.listen == l.listen) else {
            warn!(listen = %l.listen, "new guard listener in the reloaded configuration: restart to start it");
            continue;
        };
        let policy = Arc::new(guard_policy(l, &new.guard, keys.clone()));
        *shared.policy.write().unwrap_or_else(std::sync::PoisonError::into_inner) = policy;
        applied += 1;
    }
    if let Some(first) = running.first() {
        let g = &new.guard;
        first
            .nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .reconfigure(2 * g.max_skew_seconds * 1000, g.nonce_cache_size);
    }
    Ok(applied)
}

/// Runs the agent until `shutdown` resolves. `ready` receives the bound HTTP address once the
/// endpoint is accepting (tests bind port 0 and wait on it). `reload` applies new guard keys
/// and policies on request.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: Option<oneshot::Sender<SocketAddr>>,
    reload: Option<Reloader>,
) -> Result<(), StartError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let health = Arc::new(Health::default());
    let broker_slot = SnapshotSlot::new();
    let namesrv_slot = SnapshotSlot::new();
    let host_slot = SnapshotSlot::new();
    let self_slot = SnapshotSlot::new();
    let guard_slot_for_registry = SnapshotSlot::new();
    let push_slot = SnapshotSlot::new();
    let probe_slot = SnapshotSlot::new();
    let egress_slot = SnapshotSlot::new();
    let registry = Registry::new(vec![
        broker_slot.clone(),
        namesrv_slot.clone(),
        host_slot.clone(),
        guard_slot_for_registry.clone(),
        egress_slot.clone(),
        probe_slot.clone(),
        push_slot.clone(),
        self_slot.clone(),
    ]);
    // Spools are opened first: an unwritable spool directory stops the start with its path.
    let endpoints = crate::push::open_endpoints(&config.remote_write)?;
    let store_dir: Arc<Mutex<Option<PathBuf>>> = Arc::new(Mutex::new(config.broker.store_dir.clone()));
    let mut tasks = tokio::task::JoinSet::new();

    if config.broker.enabled {
        let b = &config.broker;
        let cc = broker_client_config(b)?;
        let collector = Arc::new(tokio::sync::Mutex::new(
            BrokerCollector::new(
                Client::new(cc),
                FetchOptions {
                    concurrency: b.concurrency,
                    stats: b.collect_stats,
                    connections: b.collect_connections,
                    clients: b.collect_clients,
                },
                FamilyOptions { queue_lag: b.collect_queue_lag, stats: b.collect_stats },
                b.cluster.clone(),
            )
            .with_extras(ExtraOptions {
                namesrv: config.namesrv.addr.clone(),
                // Peers (name servers, slaves) are on other hosts: a quarter of the cycle at most.
                peer_timeout: Duration::from_millis(b.request_timeout_ms)
                    .min(Duration::from_secs(b.timeout_seconds) / 4),
                cycle_timeout: Duration::from_secs(b.timeout_seconds),
                concurrency: b.concurrency,
                clients: ClientOptions {
                    enabled: b.collect_clients,
                    per_cycle: b.clients_per_cycle,
                    timeout: Duration::from_millis(b.client_timeout_ms),
                },
            }),
        ));
        let configured_store = b.store_dir.is_some();
        let store_dir = Arc::clone(&store_dir);
        tasks.spawn(run_loop(
            "broker",
            config.broker_interval(),
            Duration::from_secs(b.timeout_seconds),
            Arc::clone(&health),
            broker_slot.clone(),
            stop_rx.clone(),
            move || {
                let c = Arc::clone(&collector);
                let store_dir = Arc::clone(&store_dir);
                async move {
                    let mut c = c.lock().await;
                    match c.collect().await {
                        Ok(f) => {
                            if !configured_store && let Some(d) = &c.store_dir {
                                *store_dir.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                                    Some(PathBuf::from(d));
                            }
                            (true, f)
                        }
                        Err(e) => {
                            warn!(error = %e, "local broker did not answer");
                            (false, c.down_families())
                        }
                    }
                }
            },
        ));
    }

    if let Some(addr) = config.namesrv.addr.clone() {
        let client = Client::new(ClientConfig::new(addr.clone()));
        tasks.spawn(run_loop(
            "namesrv",
            config.broker_interval(),
            Duration::from_secs(config.broker.timeout_seconds),
            Arc::clone(&health),
            namesrv_slot.clone(),
            stop_rx.clone(),
            move || {
                let client = client.clone();
                let addr = addr.clone();
                async move {
                    let ok = client
                        .request(rmq_protocol::RequestCode::GET_BROKER_CLUSTER_INFO, None, &[], None)
                        .await
                        .is_ok_and(|r| r.code() == rmq_protocol::ResponseCode::SUCCESS);
                    let up = Family::gauge("rocketmq_namesrv_up", "1 if the local name server answered this cycle.")
                        .with(vec![("namesrv", addr)], if ok { 1.0 } else { 0.0 });
                    (ok, vec![up])
                }
            },
        ));
    }

    if config.host.enabled {
        let host_cfg = config.host.clone();
        let store_dir = Arc::clone(&store_dir);
        let self_slot = self_slot.clone();
        let health_for_self = Arc::clone(&health);
        tasks.spawn(run_loop(
            "host",
            Duration::from_secs(config.host.interval_seconds),
            Duration::from_secs(config.host.interval_seconds.max(1)),
            Arc::clone(&health),
            host_slot.clone(),
            stop_rx.clone(),
            move || {
                let dir = store_dir.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                let sampler = HostSampler::new(&host_cfg, dir);
                let self_slot = self_slot.clone();
                let health = Arc::clone(&health_for_self);
                async move {
                    let r = tokio::task::spawn_blocking(move || (sampler.sample(), sampler.process())).await;
                    let (host, process) = r.unwrap_or_default();
                    let mut own = vec![build_info()];
                    own.extend(process);
                    own.extend(health.families());
                    self_slot.publish(own);
                    let ok = host.iter().any(|f| f.name == "node_cpu" && !f.samples.is_empty());
                    (ok, host)
                }
            },
        ));
    } else {
        self_slot.publish(vec![build_info()]);
    }

    let mut guard_shared = Vec::new();
    if !config.guard.listeners.is_empty() {
        warn_if_descriptors_short(&config.guard);
        let keys = load_guard_keys(&config.guard)?;
        // One replay cache for the process: a request accepted on one port is a replay on
        // every other (and stays so across reloads).
        let nonces = guard_nonce_cache(&config.guard);
        for l in &config.guard.listeners {
            let shared = Arc::new(guard_listener(l, &config.guard, keys.clone(), Arc::clone(&nonces)));
            let sock = tokio::net::TcpListener::bind(&l.listen)
                .await
                .map_err(|source| StartError::Bind { addr: l.listen.clone(), source })?;
            info!(listener = %l.name, listen = %l.listen, upstream = %l.upstream, "admin guard listening");
            guard_shared.push(Arc::clone(&shared));
            tasks.spawn(crate::guard::serve(sock, shared, stop_rx.clone()));
        }
    }
    if config.namesrv_egress.enabled() {
        crate::egress::spawn(&config.namesrv_egress, &mut tasks, stop_rx.clone(), egress_slot).await?;
    }
    let guard_slot = guard_slot_for_registry;
    let reloads: Arc<[std::sync::atomic::AtomicU64; 2]> = Arc::default();
    if let Some(mut r) = reload {
        let running = guard_shared.clone();
        let reloads = Arc::clone(&reloads);
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    req = r.requests.recv() => if req.is_none() { break },
                    _ = stop.changed() => break,
                }
                match (r.load)().and_then(|c| apply_guard_reload(&c, &running)) {
                    Ok(n) => {
                        reloads[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        info!(listeners = n, "configuration reloaded: guard keys and policies replaced");
                    }
                    Err(e) => {
                        reloads[1].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        error!(error = %e, "configuration reload failed; keeping the running configuration");
                    }
                }
            }
        });
    }
    {
        let slot = guard_slot.clone();
        let reloads = Arc::clone(&reloads);
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let mut f = crate::guard::families(&guard_shared);
                        let mut r = Family::counter("rmq_agent_config_reloads", "Configuration reloads (SIGHUP), by outcome.");
                        #[allow(clippy::cast_precision_loss)]
                        {
                            r.push(vec![("outcome", "ok".to_owned())], reloads[0].load(std::sync::atomic::Ordering::Relaxed) as f64);
                            r.push(vec![("outcome", "failed".to_owned())], reloads[1].load(std::sync::atomic::Ordering::Relaxed) as f64);
                        }
                        f.push(r);
                        slot.publish(f);
                    }
                    _ = stop.changed() => break,
                }
            }
        });
    }

    if config.put_probe.enabled {
        let p = &config.put_probe;
        let cc = broker_client_config(&config.broker)?;
        let signer = match (&p.key_id, &p.key_file) {
            (Some(id), Some(file)) => Some(crate::commands::admin::Signer {
                scheme: crate::guard::Scheme::parse(&p.scheme).unwrap_or(crate::guard::Scheme::RmqHmacV1),
                key_id: id.clone(),
                key: SigningKey::new(&rmq_runtime::secret::read_file(file)?),
                target: None,
            }),
            _ => None,
        };
        info!(topic = %p.topic, interval_ms = p.interval_ms, "put probe on");
        tasks.spawn(crate::collector::put_probe::run(
            Client::new(cc),
            p.clone(),
            signer,
            Arc::default(),
            probe_slot.clone(),
            stop_rx.clone(),
        ));
    }

    if !endpoints.is_empty() {
        for ep in &endpoints {
            tasks.spawn(Arc::clone(ep).send_loop(stop_rx.clone()));
        }
        info!(endpoints = endpoints.len(), interval = config.remote_write.interval_seconds, "remote-write on");
        tasks.spawn(crate::push::produce_loop(
            config.remote_write.clone(),
            endpoints,
            registry.clone(),
            push_slot.clone(),
            stop_rx.clone(),
        ));
    }

    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .map_err(|source| StartError::Bind { addr: config.http.listen.clone(), source })?;
    let local =
        listener.local_addr().map_err(|source| StartError::Bind { addr: config.http.listen.clone(), source })?;
    info!(listen = %local, broker = %config.broker.addr, "rmq-agent serving /metrics");
    if let Some(tx) = ready {
        let _ = tx.send(local);
    }
    rmq_runtime::process::sd_notify("READY=1\nSTATUS=serving /metrics");
    if let Some(ping) = rmq_runtime::process::sd_watchdog(stop_rx.clone()) {
        tasks.spawn(ping);
    }
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let stop_for_http = stop_tx.clone();
    // The endpoint is capped (connections, header and write deadlines), so a scrape flood
    // cannot take the descriptors the guard's listeners need.
    let served = rmq_runtime::http::serve(listener, "rmq-agent", registry, &config.http, async move {
        shutdown.await;
        info!("shutting down");
        rmq_runtime::process::sd_notify("STOPPING=1");
        let _ = stop_for_http.send(true);
    })
    .await;
    let _ = stop_tx.send(true);
    if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
        warn!(?grace, "collectors did not stop within the grace period; abandoning them");
    }
    served.map_err(StartError::Serve)
}

#[cfg(test)]
mod tests {
    use super::open_files_limit;

    #[test]
    fn reads_the_soft_open_file_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95364                95364                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(open_files_limit(limits), Some(1024));
        assert_eq!(
            open_files_limit("Max open files            unlimited            unlimited            files\n"),
            None
        );
        assert_eq!(open_files_limit(""), None);
    }
}
