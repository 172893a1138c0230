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

use std::sync::Arc;
use std::time::Duration;

use rmq_runtime::metrics::SnapshotSlot;
use rmq_runtime::service::Service;
use tracing::{info, warn};

pub use crate::config::{EgressConfig, EgressRoute};

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
    #[error("namesrv_egress: cannot listen on {addr}: {cause}")]
    Bind {
        /// Where.
        addr: String,
        /// Why.
        cause: std::io::Error,
    },
}

/// Starts every route on `tasks` until `stop` flips, and publishes the egress's metric
/// families to `slot` every second.
pub async fn spawn(cfg: &EgressConfig, svc: &mut Service, slot: Arc<SnapshotSlot>) -> Result<(), EgressError> {
    // The configuration was checked when it was read: a missing key file is a bug there.
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
    if let Some(problem) = cfg.uid_problem() {
        return Err(EgressError::Config(format!("allowed_uids: {problem}")));
    }
    if cfg.allow_any_local_user {
        warn!("namesrv_egress.allow_any_local_user is set: any local process can have its route writes signed");
    }
    let mut routes = Vec::with_capacity(cfg.routes.len());
    for r in &cfg.routes {
        let listener = tokio::net::TcpListener::bind(r.listen)
            .await
            .map_err(|cause| EgressError::Bind { addr: r.listen.to_string(), cause })?;
        let route = Arc::new(relay::Route::new(cfg, r, key.clone()));
        info!(listen = %r.listen, namesrv = %r.upstream, key_id = %cfg.key_id, "name-server egress listening");
        routes.push(Arc::clone(&route));
        svc.spawn(format!("namesrv-egress:{}", r.listen), relay::serve(listener, route, svc.stop()));
    }
    let mut stop = svc.stop();
    svc.spawn("namesrv-egress-metrics", async move {
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
