//! The name-server egress: on a broker's host, the agent owns one loopback port per name
//! server, the broker's `namesrvAddr` lists those ports, and each connection is relayed to its
//! name server (through that name server's guard). The broker's route writes — registration,
//! unregistration, topic registration, heartbeats ([`ROUTE_WRITES`]) — are signed on the way
//! with this host's key (`rmq-hmac-v1`): their header is re-encoded with the signature fields
//! added, their body is untouched. Everything else passes byte for byte. A name server's
//! guard then accepts route writes only from the keys scoped to that broker.
//!
//! - [`sign`]: what happens to one frame (no I/O).
//! - [`relay`]: the listeners and connections.
//! - [`broker_conf`]: the start-time check that the broker's own configuration does not go
//!   around the egress.
//! - [`peer_uid`]: which local user opened a connection (`allowed_uids`).
//! - [`stats`]: counters and metric families.
//!
//! [`ROUTE_WRITES`]: rmq_protocol::policy::ROUTE_WRITES

pub mod broker_conf;
pub mod peer_uid;
pub mod relay;
pub mod sign;
pub mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmq_runtime::metrics::SnapshotSlot;
use serde::Deserialize;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::guard::Limits;

/// `[namesrv_egress]`: off unless `routes` lists at least one name server.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// The key id that signs: one the name servers' guards scope to this host's brokers
    /// (`brokers = ["broker-a@10.0.0.5:10911"]` on their `[[guard.keys]]`).
    pub key_id: String,
    /// Its secret (not world-readable).
    pub key_file: Option<PathBuf>,
    /// One local port per name server.
    pub routes: Vec<EgressRoute>,
    /// The broker's configuration file (`broker.conf`, or RocketMQ-Rust's TOML): when set, the
    /// agent refuses to start unless its `namesrvAddr` lists only egress ports.
    pub broker_config: Option<PathBuf>,
    /// When set, only processes of these users (the broker's) may connect: any other local
    /// connection is closed unanswered. Unset: any local process gets its route writes signed.
    pub allowed_uids: Option<Vec<u32>>,
    /// Connections at once per route (one broker opens one per name server).
    pub max_connections: usize,
    /// Milliseconds to dial a name server.
    pub connect_timeout_ms: u64,
    /// Milliseconds a started frame from the broker may take to arrive whole.
    pub frame_timeout_ms: u64,
    /// Seconds without a frame from the broker before its connection is closed (brokers
    /// register every 30 s).
    pub idle_timeout_seconds: u64,
    /// Milliseconds a write toward either side may take.
    pub write_timeout_ms: u64,
    /// Largest frame either side may send, in bytes (a registration carries every topic).
    pub max_frame_bytes: usize,
    /// Largest body of a route write the egress signs; keep it at or below the name server
    /// guard's `max_signed_body_bytes`, which refuses larger ones.
    pub max_signed_body_bytes: usize,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            key_id: String::new(),
            key_file: None,
            routes: Vec::new(),
            broker_config: None,
            allowed_uids: None,
            max_connections: 64,
            connect_timeout_ms: 3_000,
            frame_timeout_ms: 10_000,
            idle_timeout_seconds: 150,
            write_timeout_ms: 30_000,
            max_frame_bytes: rmq_protocol::frame::MAX_FRAME_LEN as usize + 4,
            max_signed_body_bytes: Limits::DEFAULT.max_signed_body_bytes,
        }
    }
}

/// `[[namesrv_egress.routes]]`: one name server.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EgressRoute {
    /// The local address the broker's `namesrvAddr` lists (loopback only).
    pub listen: String,
    /// The name server's guard (or the name server), `host:port`.
    pub upstream: String,
    /// `RmqTarget` to sign into every route write, for a guard configured with `targets`.
    #[serde(default)]
    pub target: Option<String>,
}

impl EgressConfig {
    /// Whether the egress is on.
    pub fn enabled(&self) -> bool {
        !self.routes.is_empty()
    }

    /// Every problem with the section, as (path, message); reads the broker's configuration
    /// file when one is given.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = self.own_problems();
        let listens = self.listens();
        if let Some(path) = &self.broker_config
            && self.enabled()
            && listens.len() == self.routes.len()
            && let Err(e) = broker_conf::check(path, &listens)
        {
            p.push(("namesrv_egress.broker_config".into(), e));
        }
        p
    }

    /// The problems of the section itself (not of the broker's file).
    fn own_problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if !self.enabled() {
            return p;
        }
        let mut bad = |path: &str, message: String| p.push((format!("namesrv_egress.{path}"), message));
        if !rmq_protocol::sign::hmac_v1::valid_key_id(&self.key_id) {
            bad("key_id", format!("{:?}: 1-64 of A-Z a-z 0-9 . _ -", self.key_id));
        }
        match &self.key_file {
            None => bad("key_file", "required: the secret of key_id".into()),
            Some(f) => {
                if let Err(e) = rmq_runtime::secret::check_file(f) {
                    bad("key_file", e.to_string());
                }
            }
        }
        let mut listens = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            match r.listen.parse::<SocketAddr>() {
                Ok(a) if !a.ip().is_loopback() => bad(
                    &format!("routes[{i}].listen"),
                    format!("{a} is not a loopback address: anything that reaches it gets its route writes signed"),
                ),
                Ok(a) if listens.contains(&a) => bad(&format!("routes[{i}].listen"), format!("{a} appears twice")),
                Ok(a) => listens.push(a),
                Err(_) => bad(&format!("routes[{i}].listen"), format!("{:?} is not an IP:port address", r.listen)),
            }
            if !rmq_runtime::config::valid_host_port(&r.upstream) {
                bad(&format!("routes[{i}].upstream"), format!("{:?} is not host:port", r.upstream));
            }
            if let Some(t) = &r.target
                && !rmq_protocol::sign::hmac_v1::valid_target(t)
            {
                bad(&format!("routes[{i}].target"), format!("{t:?}: 1-127 of A-Z a-z 0-9 . _ - :"));
            }
        }
        if self.max_connections == 0 {
            bad("max_connections", "must be at least 1".into());
        }
        if self.allowed_uids.as_ref().is_some_and(Vec::is_empty) {
            bad("allowed_uids", "empty: list the broker's user id, or leave it out".into());
        }
        if self.connect_timeout_ms == 0
            || self.frame_timeout_ms == 0
            || self.idle_timeout_seconds == 0
            || self.write_timeout_ms == 0
        {
            bad("*_timeout_*", "timeouts must be at least 1".into());
        }
        let max_frame = rmq_protocol::frame::MAX_FRAME_LEN as usize + 4;
        if !(4096..=max_frame).contains(&self.max_frame_bytes) {
            bad("max_frame_bytes", format!("{} is outside 4096..={max_frame}", self.max_frame_bytes));
        }
        if self.max_signed_body_bytes >= self.max_frame_bytes {
            bad("max_signed_body_bytes", "must be below max_frame_bytes".into());
        }
        p
    }

    /// The listen addresses (valid after [`EgressConfig::problems`] found none).
    fn listens(&self) -> Vec<SocketAddr> {
        self.routes.iter().filter_map(|r| r.listen.parse().ok()).collect()
    }
}

/// Why the egress could not start.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The configuration is not usable (its problems, joined).
    #[error("namesrv_egress: {0}")]
    Config(String),
    /// The key could not be read.
    #[error(transparent)]
    Secret(#[from] rmq_runtime::secret::SecretError),
    /// A port could not be bound.
    #[error("namesrv_egress: cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Starts every route on `tasks` until `stop` flips, and publishes the egress's metric
/// families to `slot` every second.
pub async fn spawn(
    cfg: &EgressConfig,
    tasks: &mut tokio::task::JoinSet<()>,
    stop: watch::Receiver<bool>,
    slot: Arc<SnapshotSlot>,
) -> Result<(), EgressError> {
    let problems = cfg.own_problems();
    if !problems.is_empty() {
        let all: Vec<String> = problems.into_iter().map(|(p, m)| format!("{p}: {m}")).collect();
        return Err(EgressError::Config(all.join("; ")));
    }
    let Some(key_file) = &cfg.key_file else { return Err(EgressError::Config("key_file is required".into())) };
    let key = rmq_protocol::sign::SigningKey::new(&rmq_runtime::secret::read_file(key_file)?);
    if let Some(path) = &cfg.broker_config {
        let unused = broker_conf::check(path, &cfg.listens()).map_err(EgressError::Config)?;
        for addr in unused {
            warn!(broker_config = %path.display(), listen = %addr, "the broker's namesrvAddr does not list this egress port");
        }
    } else {
        warn!(
            "namesrv_egress.broker_config is not set: nothing checks that the broker's namesrvAddr lists only egress ports"
        );
    }
    if cfg.allowed_uids.is_none() {
        warn!("namesrv_egress.allowed_uids is not set: any local process can have its route writes signed");
    }
    let mut routes = Vec::with_capacity(cfg.routes.len());
    for r in &cfg.routes {
        let listener = tokio::net::TcpListener::bind(&r.listen)
            .await
            .map_err(|source| EgressError::Bind { addr: r.listen.clone(), source })?;
        let route = Arc::new(relay::Route::new(cfg, r, key.clone()));
        info!(listen = %r.listen, namesrv = %r.upstream, key_id = %cfg.key_id, "name-server egress listening");
        routes.push(Arc::clone(&route));
        tasks.spawn(relay::serve(listener, route, stop.clone()));
    }
    let mut stop = stop;
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => slot.publish(stats::families(&routes)),
                _ = stop.changed() => break,
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;
