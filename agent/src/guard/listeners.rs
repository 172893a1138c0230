//! The admin guard's listeners as `[guard]` describes them: keys read, one policy per
//! listener, one replay cache for the process, sockets bound and served as named tasks; and
//! a reload that swaps keys and policies in place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rmq_protocol::sign::SigningKey;
use rmq_runtime::config::KeyConfig;
use rmq_runtime::metrics::Family;
use rmq_runtime::replay::NonceCache;
use rmq_runtime::secret::SecretError;
use rmq_runtime::service::{Service, ServiceError};
use tracing::{info, warn};

use super::{GuardStats, Policy, Shared};
use crate::config::{GuardConfig, GuardListener};

/// Every configured listener's shared state.
#[derive(Debug)]
pub struct Listeners {
    running: Vec<Arc<Shared>>,
}

impl Listeners {
    /// Builds every listener of `g` (reading the keys only when there is one).
    pub fn build(g: &GuardConfig) -> Result<Self, SecretError> {
        if g.listeners.is_empty() {
            return Ok(Self { running: Vec::new() });
        }
        warn_if_descriptors_short(g);
        let keys = load_keys(g)?;
        // One replay cache for the process: a request accepted on one port is a replay on
        // every other (and stays so across reloads).
        // Each key may hold only its share, so one key cannot lock the others out.
        let mut cache = NonceCache::new(2 * g.max_skew_ms(), g.nonce_cache_size);
        cache.set_keys(g.keys.len());
        let nonces = Arc::new(Mutex::new(cache));
        let running = g.listeners.iter().map(|l| Arc::new(state(l, g, keys.clone(), Arc::clone(&nonces)))).collect();
        Ok(Self { running })
    }

    /// Binds every listener and serves each as the task `guard:<name>`.
    pub async fn start(&self, svc: &mut Service) -> Result<(), ServiceError> {
        for shared in &self.running {
            let sock = Service::bind(shared.listen).await?;
            info!(listener = %shared.name, listen = %shared.listen, upstream = %shared.upstream, "admin guard listening");
            svc.spawn(format!("guard:{}", shared.name), super::serve(sock, Arc::clone(shared), svc.stop()));
        }
        Ok(())
    }

    /// Every listener's metric families.
    pub fn families(&self) -> Vec<Family> {
        super::families(&self.running)
    }

    /// Applies a new configuration's keys and policies to the running listeners, matched by
    /// listen address, and returns how many were updated. Connections stay open; listeners
    /// added or removed need a restart. The replay cache stays the one every listener shares
    /// (what it remembers is kept); it takes the new window and size.
    pub fn reload(&self, new: &GuardConfig) -> Result<usize, SecretError> {
        let keys = load_keys(new)?;
        let mut applied = 0;
        for l in &new.listeners {
            let listen = l.listener.listen;
            let Some(shared) = self.running.iter().find(|s| s.listen == listen) else {
                warn!(%listen, "new guard listener in the reloaded configuration: restart to start it");
                continue;
            };
            *shared.policy.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy(l, new, keys.clone()));
            applied += 1;
        }
        if let Some(first) = self.running.first() {
            let mut nonces = first.nonces.lock().unwrap_or_else(PoisonError::into_inner);
            nonces.reconfigure(2 * new.max_skew_ms(), new.nonce_cache_size);
            nonces.set_keys(new.keys.len());
        }
        Ok(applied)
    }
}

/// Reads every guard key (permission-checked).
pub fn load_keys(g: &GuardConfig) -> Result<HashMap<String, SigningKey>, SecretError> {
    let secrets = KeyConfig::read_all(g.keys.iter().map(|k| &k.key))?;
    Ok(secrets.into_iter().map(|(id, secret)| (id, SigningKey::new(&secret))).collect())
}

/// One listener's policy: its role's unsigned list adjusted by `allow_unsigned` and
/// `require_signed`, its schemes, the keys (with their `acl_v1_codes`), and its targets.
pub fn policy(l: &GuardListener, g: &GuardConfig, keys: HashMap<String, SigningKey>) -> Policy {
    let mut policy = Policy::new(
        l.role.policy_role(),
        &l.allow_unsigned,
        &l.require_signed,
        l.schemes.clone(),
        keys,
        g.max_skew_ms(),
    )
    .with_targets(&l.targets);
    for k in &g.keys {
        if let Some(codes) = &k.acl_v1_codes {
            policy = policy.with_acl_v1_codes(&k.key.id, codes);
        }
        // Checked with the configuration; an entry that does not parse scopes the key to
        // nothing rather than to everything.
        if let Some(brokers) = &k.brokers {
            let scope = super::auth::RouteScope::parse(brokers).unwrap_or_else(|_| super::auth::RouteScope::nothing());
            policy = policy.with_route_scope(&k.key.id, scope);
        }
    }
    policy
}

/// The shared state of one listener; `nonces` is the process's one replay cache.
fn state(
    l: &GuardListener,
    g: &GuardConfig,
    keys: HashMap<String, SigningKey>,
    nonces: Arc<Mutex<NonceCache>>,
) -> Shared {
    Shared {
        name: l.label(),
        listen: l.listener.listen,
        upstream: l.upstream.to_string(),
        proxy_protocol: l.proxy_protocol,
        policy: RwLock::new(Arc::new(policy(l, g, keys))),
        nonces,
        limits: l.limits,
        stats: GuardStats::default(),
        sources: Mutex::default(),
        logs: super::log_budget::LogBudget::default(),
        buffers: Arc::new(crate::remoting::frames::BufferBudget::new(l.limits.max_buffered_bytes)),
    }
}

/// Each guarded connection holds two descriptors (client and broker). Warns at start when the
/// configured connection limits cannot be reached under this process's open-file limit, so the
/// operator learns it from the log rather than from `accept` failures under load.
fn warn_if_descriptors_short(g: &GuardConfig) {
    let needed: usize = g.listeners.iter().map(|l| 2 * l.limits.max_connections + 1).sum::<usize>() + 64;
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
