//! The running agent: a list of named tasks (the collectors on their intervals, the admin
//! guard's listeners, the put probe, remote-write, reload), run by rmq-runtime's
//! [`Service`], which serves `/metrics`, tells systemd, and drains them on stop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmq_protocol::sign::SigningKey;
use rmq_runtime::metrics::{Family, Registry, SnapshotSlot};
use rmq_runtime::service::{Reloads, Service, ServiceError, Stop};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::collector::broker::{BrokerCollector, ClientOptions, ExtraOptions, FamilyOptions, FetchOptions};
use crate::collector::host::HostSampler;
use crate::collector::{Health, run_loop};
use crate::config::{BrokerConfig, Config, HostPort};
use crate::guard::Listeners;
use crate::remoting::{Client, ClientConfig, Credentials};

pub use crate::guard::listeners::{load_keys as load_guard_keys, policy as guard_policy};

/// Why the agent could not start (or its endpoint failed).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An address could not be bound, or the HTTP server failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A secret could not be read.
    #[error(transparent)]
    Secret(#[from] rmq_runtime::secret::SecretError),
    /// Remote-write could not start.
    #[error(transparent)]
    Push(#[from] crate::push::PushError),
    /// The name-server egress could not start.
    #[error(transparent)]
    Egress(#[from] crate::egress::EgressError),
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

/// Where each part of the agent publishes its metrics; `/metrics` and remote-write read them
/// all.
struct Slots {
    broker: Arc<SnapshotSlot>,
    namesrv: Arc<SnapshotSlot>,
    host: Arc<SnapshotSlot>,
    guard: Arc<SnapshotSlot>,
    egress: Arc<SnapshotSlot>,
    probe: Arc<SnapshotSlot>,
    push: Arc<SnapshotSlot>,
    own: Arc<SnapshotSlot>,
}

impl Slots {
    fn new() -> Self {
        Self {
            broker: SnapshotSlot::new(),
            namesrv: SnapshotSlot::new(),
            host: SnapshotSlot::new(),
            guard: SnapshotSlot::new(),
            egress: SnapshotSlot::new(),
            probe: SnapshotSlot::new(),
            push: SnapshotSlot::new(),
            own: SnapshotSlot::new(),
        }
    }

    fn registry(&self) -> Registry {
        Registry::new(
            [&self.broker, &self.namesrv, &self.host, &self.guard, &self.egress, &self.probe, &self.push, &self.own]
                .into_iter()
                .cloned()
                .collect(),
        )
    }
}

/// Runs the agent until `shutdown` resolves. `ready` receives the bound HTTP address once the
/// endpoint is accepting (tests bind port 0 and wait on it). `reload` applies new guard keys
/// and policies on request.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: Option<oneshot::Sender<SocketAddr>>,
    reload: Option<Reloader>,
) -> Result<(), StartError> {
    let slots = Slots::new();
    let registry = slots.registry();
    let health = Arc::new(Health::default());
    // Spools are opened first: an unwritable spool directory stops the start with its path.
    let endpoints = crate::push::open_endpoints(&config.remote_write)?;
    // Learned from the broker unless configured; the host sampler reports its filesystem.
    let store_dir = Arc::new(Mutex::new(config.broker.store_dir.clone()));
    let mut svc = Service::new("rmq-agent");

    if config.broker.enabled {
        let task = broker_task(&config, Arc::clone(&health), &slots, Arc::clone(&store_dir), svc.stop())?;
        svc.spawn("broker", task);
    }
    if let Some(addr) = &config.namesrv.addr {
        svc.spawn("namesrv", namesrv_task(addr, &config.broker, Arc::clone(&health), &slots, svc.stop()));
    }
    if config.host.enabled {
        svc.spawn("host", host_task(&config, health, &slots, store_dir, svc.stop()));
    } else {
        slots.own.publish(vec![build_info()]);
    }
    let guard = Arc::new(Listeners::build(&config.guard)?);
    guard.start(&mut svc).await?;
    if config.namesrv_egress.enabled() {
        crate::egress::spawn(&config.namesrv_egress, &mut svc, Arc::clone(&slots.egress)).await?;
    }
    if let Some(Reloader { requests, load }) = reload {
        let guard = Arc::clone(&guard);
        svc.spawn_reload(requests, move || {
            let new = load()?;
            let n = guard.reload(&new.guard).map_err(|e| e.to_string())?;
            Ok(format!("guard keys and policies replaced on {n} listener(s)"))
        });
    }
    svc.spawn("guard-metrics", guard_metrics_task(guard, svc.reloads(), Arc::clone(&slots.guard), svc.stop()));
    if config.put_probe.enabled {
        svc.spawn("put-probe", probe_task(&config, &slots, svc.stop())?);
    }
    if !endpoints.is_empty() {
        info!(endpoints = endpoints.len(), interval = ?config.remote_write.interval, "remote-write on");
        for ep in &endpoints {
            svc.spawn(format!("remote-write:{}", ep.name()), Arc::clone(ep).send_loop(svc.stop()));
        }
        let produce = crate::push::produce_loop(
            config.remote_write.clone(),
            endpoints,
            registry.clone(),
            Arc::clone(&slots.push),
            svc.stop(),
        );
        svc.spawn("remote-write", produce);
    }

    let http = Service::bind(config.http.listen).await?;
    info!(broker = %config.broker.addr, "rmq-agent started");
    // The endpoint is capped (connections, header and write deadlines), so a scrape flood
    // cannot take the descriptors the guard's listeners need.
    svc.serve(http, registry, &config.http, shutdown, ready, "serving /metrics", config.shutdown_grace).await?;
    Ok(())
}

/// How the agent talks to its local broker (the collector and the put probe alike): header
/// format, request timeout, and ACL 1.0 credentials when the broker checks them.
fn broker_client_config(b: &BrokerConfig) -> Result<ClientConfig, rmq_runtime::secret::SecretError> {
    let mut cc = ClientConfig::new(b.addr.to_string());
    cc.serialize_type = b.serialize_type.serialize_type();
    cc.request_timeout = b.request_timeout;
    if let (Some(ak), Some(file)) = (&b.acl_access_key, &b.acl_secret_file) {
        cc.credentials = Some(Credentials {
            access_key: ak.clone(),
            secret: SigningKey::new(&rmq_runtime::secret::read_file(file)?),
        });
    }
    Ok(cc)
}

/// The task `broker`: a collection cycle every interval. It also learns the broker's store
/// directory (for the host sampler) unless one is configured.
fn broker_task(
    config: &Config,
    health: Arc<Health>,
    slots: &Slots,
    store_dir: Arc<Mutex<Option<PathBuf>>>,
    stop: Stop,
) -> Result<impl Future<Output = ()> + use<>, StartError> {
    let b = &config.broker;
    let collector = Arc::new(tokio::sync::Mutex::new(
        BrokerCollector::new(
            Client::new(broker_client_config(b)?),
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
            namesrv: config.namesrv.addr.as_ref().map(ToString::to_string),
            // Peers (name servers, slaves) are on other hosts: a quarter of the cycle at most.
            peer_timeout: b.request_timeout.min(b.timeout / 4),
            cycle_timeout: b.timeout,
            concurrency: b.concurrency,
            clients: ClientOptions {
                enabled: b.collect_clients,
                per_cycle: b.clients_per_cycle,
                timeout: b.client_timeout,
            },
        }),
    ));
    let configured_store = b.store_dir.is_some();
    Ok(run_loop("broker", b.interval, b.timeout, health, Arc::clone(&slots.broker), stop, move || {
        let c = Arc::clone(&collector);
        let store_dir = Arc::clone(&store_dir);
        async move {
            let mut c = c.lock().await;
            match c.collect().await {
                Ok(f) => {
                    if !configured_store && let Some(d) = &c.store_dir {
                        *store_dir.lock().unwrap_or_else(PoisonError::into_inner) = Some(PathBuf::from(d));
                    }
                    (true, f)
                }
                Err(e) => {
                    warn!(error = %e, "local broker did not answer");
                    (false, c.down_families())
                }
            }
        }
    }))
}

/// The task `namesrv`: asks the local name server at `addr` for the cluster, on the broker's
/// interval and timeout.
fn namesrv_task(
    addr: &HostPort,
    b: &BrokerConfig,
    health: Arc<Health>,
    slots: &Slots,
    stop: Stop,
) -> impl Future<Output = ()> + use<> {
    let addr = addr.to_string();
    let client = Client::new(ClientConfig::new(addr.clone()));
    run_loop("namesrv", b.interval, b.timeout, health, Arc::clone(&slots.namesrv), stop, move || {
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
    })
}

/// The task `host`: host metrics every interval, and the agent's own (build, process,
/// collector health).
fn host_task(
    config: &Config,
    health: Arc<Health>,
    slots: &Slots,
    store_dir: Arc<Mutex<Option<PathBuf>>>,
    stop: Stop,
) -> impl Future<Output = ()> + use<> {
    let host_cfg = config.host.clone();
    let own = Arc::clone(&slots.own);
    let health_for_own = Arc::clone(&health);
    let every = host_cfg.interval;
    run_loop("host", every, every, health, Arc::clone(&slots.host), stop, move || {
        let dir = store_dir.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let sampler = HostSampler::new(&host_cfg, dir);
        let own = Arc::clone(&own);
        let health = Arc::clone(&health_for_own);
        async move {
            let (host, process) = match tokio::task::spawn_blocking(move || (sampler.sample(), sampler.process())).await
            {
                Ok(sampled) => sampled,
                Err(e) => {
                    warn!(error = %e, "host sampling did not finish");
                    (Vec::new(), Vec::new())
                }
            };
            let mut families = vec![build_info()];
            families.extend(process);
            families.extend(health.families());
            own.publish(families);
            let ok = host.iter().any(|f| f.name == "node_cpu" && !f.samples.is_empty());
            (ok, host)
        }
    })
}

/// The task `guard-metrics`: the listeners' counters and the reload counter, once a second.
async fn guard_metrics_task(guard: Arc<Listeners>, reloads: Arc<Reloads>, slot: Arc<SnapshotSlot>, mut stop: Stop) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let mut f = guard.families();
                f.push(reloads.family("rmq_agent_config_reloads", "Configuration reloads (SIGHUP), by outcome.", "outcome"));
                slot.publish(f);
            }
            _ = stop.changed() => return,
        }
    }
}

/// The task `put-probe`: a small message every interval, timed.
fn probe_task(config: &Config, slots: &Slots, stop: Stop) -> Result<impl Future<Output = ()> + use<>, StartError> {
    let p = &config.put_probe;
    let signer = match (&p.key_id, &p.key_file) {
        (Some(id), Some(file)) => Some(crate::commands::admin::Signer {
            scheme: p.scheme,
            key_id: id.clone(),
            key: SigningKey::new(&rmq_runtime::secret::read_file(file)?),
            target: None,
        }),
        // The configuration check makes key_id and key_file go together.
        _ => None,
    };
    info!(topic = %p.topic, interval = ?p.interval, "put probe on");
    let client = Client::new(broker_client_config(&config.broker)?);
    Ok(crate::collector::put_probe::run(client, p.clone(), signer, Arc::default(), Arc::clone(&slots.probe), stop))
}

fn build_info() -> Family {
    Family::gauge("rmq_agent_build_info", "rmq-agent's version (value 1).")
        .with(vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1.0)
}
