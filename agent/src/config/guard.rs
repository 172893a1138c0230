//! `[guard]`: the admin guard's keys (`[[guard.keys]]`) and listeners
//! (`[[guard.listeners]]`). A listener's limits are the relay's own [`Limits`], read from
//! the same table.

use std::net::SocketAddr;
use std::time::Duration;

use rmq_runtime::config::duration::secs;
use rmq_runtime::config::{HostPort, KeyConfig, ListenerConfig, Listens, Problems};
use serde::Deserialize;

use crate::guard::{Limits, Scheme};

/// `[guard]`: the admin guard's keys and listeners.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Signing keys: id → secret file.
    pub keys: Vec<GuardKey>,
    /// `rmq-hmac-v1` timestamps must be within ± this of the agent's clock. Key:
    /// `max_skew_seconds`.
    #[serde(rename = "max_skew_seconds", deserialize_with = "secs")]
    pub max_skew: Duration,
    /// Nonces remembered at most (replay protection); when full, new signed requests are
    /// refused until old nonces expire.
    pub nonce_cache_size: usize,
    /// Guarded listeners.
    pub listeners: Vec<GuardListener>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self { keys: Vec::new(), max_skew: Duration::from_secs(300), nonce_cache_size: 100_000, listeners: Vec::new() }
    }
}

impl GuardConfig {
    /// The skew window in milliseconds, as signatures carry time.
    pub fn max_skew_ms(&self) -> u64 {
        u64::try_from(self.max_skew.as_millis()).unwrap_or(u64::MAX)
    }

    /// Problems with the section at `at` (`guard`), its keys and its listeners.
    pub fn check(&self, at: &str, p: &mut Problems) {
        let keys_at = format!("{at}.keys");
        KeyConfig::check_all(
            self.keys.iter().map(|k| &k.key),
            &keys_at,
            rmq_protocol::sign::hmac_v1::valid_key_id,
            "1-64 of A-Z a-z 0-9 . _ -",
            p,
        );
        for (i, k) in self.keys.iter().enumerate() {
            k.check(&format!("{keys_at}[{i}]"), p);
        }
        if !self.listeners.is_empty() && self.keys.is_empty() {
            p.add(keys_at, "listeners are configured but no key can sign for them");
        }
        p.nonzero(at, "nonce_cache_size", self.nonce_cache_size);
        let mut listens = Listens::default();
        for (i, l) in self.listeners.iter().enumerate() {
            let at = format!("{at}.listeners[{i}]");
            listens.check(&at, &l.listener, p);
            l.check(&at, p);
        }
    }
}

/// `[[guard.keys]]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuardKey {
    /// `id` (`RmqKeyId`, also the ACL 1.0 `AccessKey`) and `secret_file` (not
    /// world-readable).
    #[serde(flatten)]
    pub key: KeyConfig,
    /// The only request codes this key may sign with `acl-v1` (ACL 1.0 does not sign the
    /// code, so a captured signature over no fields is valid for every field-less code).
    /// Unset: any code, on listeners that accept `acl-v1` at all.
    #[serde(default)]
    pub acl_v1_codes: Option<Vec<i32>>,
    /// Scopes the key to the route writes of these brokers,
    /// `name@brokerIP1:listenPort#brokerId` (`*` for any address or any id, written out): a
    /// broker host's key, which can then sign nothing else (docs/namesrv-egress.md).
    #[serde(default)]
    pub brokers: Option<Vec<String>>,
}

impl GuardKey {
    /// A key that may sign any code.
    pub fn new(id: impl Into<String>, secret_file: impl Into<std::path::PathBuf>) -> Self {
        Self { key: KeyConfig::new(id, secret_file), acl_v1_codes: None, brokers: None }
    }

    /// Problems with the key at `at`, but for its id (checked with the others).
    fn check(&self, at: &str, p: &mut Problems) {
        if let Err(e) = rmq_runtime::secret::check_file(&self.key.secret_file) {
            p.at(at, "secret_file", e.to_string());
        }
        if self.acl_v1_codes.as_ref().is_some_and(Vec::is_empty) {
            p.at(at, "acl_v1_codes", "empty: leave it out, or list the codes this key may sign with acl-v1");
        }
        if let Some(b) = &self.brokers {
            match crate::guard::auth::RouteScope::parse(b) {
                Err(e) => p.at(at, "brokers", e),
                Ok(_) if self.acl_v1_codes.is_some() => {
                    p.at(at, "acl_v1_codes", "a key scoped to brokers signs with rmq-hmac-v1 only")
                }
                Ok(_) => {}
            }
        }
    }
}

/// `[[guard.listeners]]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuardListener {
    /// `name` (for logs and metrics; default: the listen address) and `listen` (where
    /// clients connect: the broker's advertised `brokerIP1:listenPort`, or `listenPort − 2`).
    #[serde(flatten)]
    pub listener: ListenerConfig,
    /// The broker's real port, normally on loopback.
    pub upstream: HostPort,
    /// Which default list of unsigned codes applies.
    #[serde(default)]
    pub role: GuardRole,
    /// Accepted schemes: `rmq-hmac-v1` (default), `acl-v1` (opt-in, for stock tools).
    #[serde(default = "default_schemes")]
    pub schemes: Vec<Scheme>,
    /// Request codes let through unsigned beyond the role's default list (e.g. the reads
    /// stock slaves sync with, on a master's listeners).
    #[serde(default)]
    pub allow_unsigned: Vec<i32>,
    /// Request codes that need a signature although in the role's default list.
    #[serde(default)]
    pub require_signed: Vec<i32>,
    /// When set, `rmq-hmac-v1` requests must carry a signed `RmqTarget` naming one of these
    /// (the broker's or its cluster's name).
    #[serde(default)]
    pub targets: Vec<String>,
    /// `off` (default) or `v2`: write a PROXY protocol v2 header with the client's address
    /// first on every broker connection (brokers 5.1.4+ read it; older ones close).
    #[serde(default)]
    pub proxy_protocol: crate::guard::ProxyProtocol,
    /// Connection, frame and time limits (their keys sit in this table).
    #[serde(flatten)]
    pub limits: Limits,
}

fn default_schemes() -> Vec<Scheme> {
    vec![Scheme::RmqHmacV1]
}

impl GuardListener {
    /// A broker listener with the defaults: `rmq-hmac-v1` only, the role's unsigned list,
    /// default limits.
    pub fn new(name: impl Into<String>, listen: SocketAddr, upstream: impl Into<HostPort>) -> Self {
        Self {
            listener: ListenerConfig::new(name, listen),
            upstream: upstream.into(),
            role: GuardRole::Broker,
            schemes: default_schemes(),
            allow_unsigned: Vec::new(),
            require_signed: Vec::new(),
            targets: Vec::new(),
            proxy_protocol: crate::guard::ProxyProtocol::Off,
            limits: Limits::DEFAULT,
        }
    }

    /// Its name, or its listen address when it has none.
    pub fn label(&self) -> String {
        if self.listener.name.is_empty() { self.listener.listen.to_string() } else { self.listener.name.clone() }
    }

    /// Problems with the listener at `at`.
    fn check(&self, at: &str, p: &mut Problems) {
        if self.schemes.is_empty() {
            p.at(at, "schemes", "at least one of \"rmq-hmac-v1\", \"acl-v1\"");
        }
        let both: Vec<String> =
            self.allow_unsigned.iter().filter(|c| self.require_signed.contains(c)).map(i32::to_string).collect();
        if !both.is_empty() {
            p.at(at, "allow_unsigned", format!("{} also in require_signed", both.join(", ")));
        }
        for t in &self.targets {
            if !rmq_protocol::sign::hmac_v1::valid_target(t) {
                p.at(at, "targets", format!("{t:?}: 1-127 of A-Z a-z 0-9 . _ - :"));
            }
        }
        self.limits.check(at, p);
    }
}

/// `[[guard.listeners]] role`: what the listener stands in front of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardRole {
    /// A broker's main or VIP port.
    #[default]
    Broker,
    /// A name server.
    Namesrv,
}

impl GuardRole {
    /// The protocol crate's role (which default unsigned list applies).
    pub fn policy_role(self) -> rmq_protocol::policy::Role {
        match self {
            Self::Broker => rmq_protocol::policy::Role::Broker,
            Self::Namesrv => rmq_protocol::policy::Role::Namesrv,
        }
    }
}

/// Keys of `[[guard.listeners]]` that no longer exist, with what replaced them.
const RETIRED_KEYS: [(&str, &str); 2] = [
    (
        "add_codes",
        "the guard denies by default now: every code outside the role's unsigned list needs a signature; \
         use `require_signed` to make a data-path code signed",
    ),
    ("remove_codes", "use `allow_unsigned` to let a code through without a signature"),
];

/// Adds what replaced a retired guard key to a parse error that names it.
pub(crate) fn explain_retired_keys(message: String) -> String {
    match RETIRED_KEYS.iter().find(|(k, _)| message.contains(&format!("unknown field `{k}`"))) {
        Some((k, hint)) => format!("{message}\n`{k}` was removed: {hint} (see docs/guard.md)"),
        None => message,
    }
}
