//! The agent's configuration: one TOML file, every field optional with a sane default,
//! unknown keys rejected, and every problem reported at once with its path.
//! Field-by-field documentation: `docs/config.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use rmq_runtime::config::{ConfigError, ConfigProblem, DEFAULT_LISTEN, HttpConfig, LogConfig, valid_host_port};

/// Default local broker.
pub const DEFAULT_BROKER: &str = "127.0.0.1:10911";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The HTTP endpoint (`/metrics`, `/healthz`).
    pub http: HttpConfig,
    /// Logging.
    pub log: LogConfig,
    /// The local broker.
    pub broker: BrokerConfig,
    /// The local name server, if any.
    pub namesrv: NamesrvConfig,
    /// Host metrics.
    pub host: HostConfig,
    /// The admin guard.
    pub guard: GuardConfig,
    /// The name-server egress for the local broker (docs/namesrv-egress.md).
    pub namesrv_egress: crate::egress::EgressConfig,
    /// Pushing to central collectors (Prometheus remote-write).
    pub remote_write: RemoteWriteConfig,
    /// The active store-latency probe.
    pub put_probe: PutProbeConfig,
    /// Seconds to wait for in-flight work on SIGTERM/SIGINT.
    pub shutdown_grace_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: HttpConfig::default(),
            log: LogConfig::default(),
            broker: BrokerConfig::default(),
            namesrv: NamesrvConfig::default(),
            host: HostConfig::default(),
            guard: GuardConfig::default(),
            namesrv_egress: crate::egress::EgressConfig::default(),
            remote_write: RemoteWriteConfig::default(),
            put_probe: PutProbeConfig::default(),
            shutdown_grace_seconds: 10,
        }
    }
}

/// `[remote_write]`: what every endpoint gets.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteConfig {
    /// Seconds between snapshots pushed (each is everything `/metrics` shows at that moment).
    pub interval_seconds: u64,
    /// Labels added to every pushed series (a series' own label of the same name wins).
    /// `host` defaults to this machine's hostname.
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// The receivers; each has its own queue.
    pub endpoints: Vec<RemoteWriteEndpoint>,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        Self { interval_seconds: 15, external_labels: std::collections::BTreeMap::new(), endpoints: Vec::new() }
    }
}

/// `[[remote_write.endpoints]]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteEndpoint {
    /// Metric label and log field.
    pub name: String,
    /// The receiver's remote-write URL (`http://` or `https://`).
    pub url: String,
    /// This endpoint's durable queue (created if missing; must be writable).
    pub spool_dir: PathBuf,
    /// Spool size limit; the oldest requests are dropped (and counted) beyond it.
    #[serde(default = "d_spool_bytes")]
    pub max_spool_bytes: u64,
    /// Samples older than this are dropped (and counted) instead of sent. Receivers refuse
    /// very old samples anyway (Prometheus: older than its head block).
    #[serde(default = "d_spool_age")]
    pub max_spool_age_seconds: u64,
    /// Series per request.
    #[serde(default = "d_samples_per_request")]
    pub max_samples_per_request: usize,
    /// Seconds one request may take.
    #[serde(default = "d_rw_timeout")]
    pub timeout_seconds: u64,
    /// Longest pause between retries (backoff starts at 250 ms and doubles, with jitter).
    #[serde(default = "d_max_backoff")]
    pub max_backoff_seconds: u64,
    /// `Authorization: Bearer` token from this file.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Basic auth user (with `basic_auth_password_file`).
    #[serde(default)]
    pub basic_auth_username: Option<String>,
    /// Basic auth password file.
    #[serde(default)]
    pub basic_auth_password_file: Option<PathBuf>,
    /// CA certificates (PEM) to trust instead of the system's.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM), with `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// Client private key (PEM).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Extra headers, e.g. `X-Scope-OrgID` (Mimir) or `THANOS-TENANT`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

impl RemoteWriteEndpoint {
    /// An endpoint with the defaults: no authentication, the system's CAs.
    pub fn new(name: impl Into<String>, url: impl Into<String>, spool_dir: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            spool_dir: spool_dir.into(),
            max_spool_bytes: d_spool_bytes(),
            max_spool_age_seconds: d_spool_age(),
            max_samples_per_request: d_samples_per_request(),
            timeout_seconds: d_rw_timeout(),
            max_backoff_seconds: d_max_backoff(),
            bearer_token_file: None,
            basic_auth_username: None,
            basic_auth_password_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            headers: std::collections::BTreeMap::new(),
        }
    }
}

fn d_spool_bytes() -> u64 {
    256 * 1024 * 1024
}
fn d_spool_age() -> u64 {
    2 * 3600
}
fn d_samples_per_request() -> usize {
    10_000
}
fn d_rw_timeout() -> u64 {
    30
}
fn d_max_backoff() -> u64 {
    30
}

/// `[put_probe]`: send a small message every interval and time the broker's answer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PutProbeConfig {
    /// Off by default: it writes to the broker.
    pub enabled: bool,
    /// The probe topic (created at start if missing; no consumer group reads it).
    pub topic: String,
    /// Milliseconds between sends.
    pub interval_ms: u64,
    /// Milliseconds one send may take (a slower answer counts as a timeout).
    pub timeout_ms: u64,
    /// Message body size.
    pub body_bytes: usize,
    /// Key id that signs the create-topic request (when the broker sits behind an admin
    /// guard); with `key_file`.
    pub key_id: Option<String>,
    /// Its secret.
    pub key_file: Option<PathBuf>,
    /// `rmq-hmac-v1` or `acl-v1`.
    pub scheme: String,
}

impl Default for PutProbeConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            topic: "RMQ_SIDECAR_PUT_PROBE".into(),
            interval_ms: 1000,
            timeout_ms: 3000,
            body_bytes: 128,
            key_id: None,
            key_file: None,
            scheme: "rmq-hmac-v1".into(),
        }
    }
}

/// `[broker]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Collect from the broker at all.
    pub enabled: bool,
    /// The local broker's remoting address.
    pub addr: String,
    /// `json` or `rocketmq` (binary) request headers.
    pub serialize_type: String,
    /// Seconds between collection cycles.
    pub interval_seconds: u64,
    /// Seconds one cycle may take before it is abandoned.
    pub timeout_seconds: u64,
    /// Milliseconds one request may take.
    pub request_timeout_ms: u64,
    /// Requests in flight at once during a cycle.
    pub concurrency: usize,
    /// Per-topic and per-group minute stats (VIEW_BROKER_STATS_DATA, two requests per topic
    /// and three per topic×group): `rocketmq_producer_tps`, `…_message_size`, `rocketmq_consumer_tps`, ….
    pub collect_stats: bool,
    /// Consumer connection lists (one request per group): online consumer counts.
    pub collect_connections: bool,
    /// Per-queue lag series (`rocketmq_queue_lag_messages`): one series per queue of every
    /// group's topics.
    pub collect_queue_lag: bool,
    /// Consumer clients' own statistics (`rocketmq_client_*`: GET_CONSUMER_RUNNING_INFO, which
    /// the broker relays to each client and waits for) and producers per group
    /// (`rocketmq_producer_count`: GET_ALL_PRODUCER_INFO). Off by default: every client asked
    /// makes the broker call that client.
    pub collect_clients: bool,
    /// Consumer clients asked per cycle at most; the rest are asked in later cycles, in turn.
    pub clients_per_cycle: usize,
    /// Milliseconds one client may take to answer.
    pub client_timeout_ms: u64,
    /// Override the cluster label (otherwise learned from the name server, else `DefaultCluster`).
    pub cluster: Option<String>,
    /// The broker's store root, whose filesystem is always reported.
    pub store_dir: Option<PathBuf>,
    /// ACL 1.0 account for brokers with `aclEnable=true`.
    pub acl_access_key: Option<String>,
    /// File holding that account's secret (must not be world-readable).
    pub acl_secret_file: Option<PathBuf>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            addr: DEFAULT_BROKER.into(),
            serialize_type: "json".into(),
            interval_seconds: 15,
            timeout_seconds: 10,
            request_timeout_ms: 5000,
            concurrency: 32,
            collect_stats: true,
            collect_connections: true,
            collect_queue_lag: true,
            collect_clients: false,
            clients_per_cycle: 32,
            client_timeout_ms: 3000,
            cluster: None,
            store_dir: None,
            acl_access_key: None,
            acl_secret_file: None,
        }
    }
}

/// `[namesrv]`
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NamesrvConfig {
    /// The local name server's address; unset means the host has none.
    pub addr: Option<String>,
}

/// `[host]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// Collect host metrics.
    pub enabled: bool,
    /// Seconds between samples.
    pub interval_seconds: u64,
    /// Filesystem types not reported (pseudo filesystems).
    pub filesystem_exclude_types: Vec<String>,
    /// Where /proc is (tests point this elsewhere).
    pub proc_root: PathBuf,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 15,
            // node_exporter's default exclusion list, so the same filesystems are reported.
            filesystem_exclude_types: [
                "autofs",
                "binfmt_misc",
                "bpf",
                "cgroup",
                "cgroup2",
                "configfs",
                "debugfs",
                "devpts",
                "devtmpfs",
                "fusectl",
                "hugetlbfs",
                "iso9660",
                "mqueue",
                "nsfs",
                "overlay",
                "proc",
                "procfs",
                "pstore",
                "rpc_pipefs",
                "securityfs",
                "selinuxfs",
                "squashfs",
                "erofs",
                "sysfs",
                "tracefs",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// `[guard]`: the admin guard's keys and listeners.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Signing keys: id → secret file.
    pub keys: Vec<GuardKey>,
    /// `rmq-hmac-v1` timestamps must be within ± this many seconds of the agent's clock.
    pub max_skew_seconds: u64,
    /// Nonces remembered at most (replay protection); when full, new signed requests are
    /// refused until old nonces expire.
    pub nonce_cache_size: usize,
    /// Guarded listeners.
    pub listeners: Vec<GuardListener>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self { keys: Vec::new(), max_skew_seconds: 300, nonce_cache_size: 100_000, listeners: Vec::new() }
    }
}

/// `[[guard.keys]]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuardKey {
    /// Key id (`RmqKeyId`), also the ACL 1.0 `AccessKey`.
    pub id: String,
    /// File holding the secret (not world-readable).
    pub secret_file: PathBuf,
    /// The only request codes this key may sign with `acl-v1` (ACL 1.0 does not sign the
    /// code, so a captured signature over no fields is valid for every field-less code).
    /// Unset: any code, on listeners that accept `acl-v1` at all.
    #[serde(default)]
    pub acl_v1_codes: Option<Vec<i32>>,
    /// Scopes the key to the route writes of these brokers, `name@brokerIP1:listenPort` (or
    /// `name@*`): a broker host's key, which can then sign nothing else (docs/namesrv-egress.md).
    #[serde(default)]
    pub brokers: Option<Vec<String>>,
}

/// `[[guard.listeners]]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GuardListener {
    /// Name, for logs and metrics.
    pub name: String,
    /// Where clients connect (the broker's advertised `brokerIP1:listenPort`, or `listenPort − 2`).
    pub listen: String,
    /// The broker's real port, normally on loopback.
    pub upstream: String,
    /// `broker` or `namesrv`: which default list of unsigned codes applies.
    pub role: GuardRole,
    /// Accepted schemes: `rmq-hmac-v1` (default), `acl-v1` (opt-in, for stock tools).
    pub schemes: Vec<crate::guard::Scheme>,
    /// Request codes let through unsigned beyond the role's default list (e.g. the reads
    /// stock slaves sync with, on a master's listeners).
    pub allow_unsigned: Vec<i32>,
    /// Request codes that need a signature although in the role's default list.
    pub require_signed: Vec<i32>,
    /// When set, `rmq-hmac-v1` requests must carry a signed `RmqTarget` naming one of these
    /// (the broker's or its cluster's name).
    pub targets: Vec<String>,
    /// Client connections at once.
    pub max_connections: usize,
    /// Milliseconds a started frame may take to arrive whole (slow clients).
    pub frame_timeout_ms: u64,
    /// Seconds without traffic either way before a connection is closed (Java's server uses 120).
    pub idle_timeout_seconds: u64,
    /// Milliseconds to dial the upstream.
    pub connect_timeout_ms: u64,
    /// Client connections at once from one source IP address.
    pub max_connections_per_source: usize,
    /// Milliseconds a write toward a client (or the broker) may take; a peer that stops
    /// reading is closed instead of growing the guard's buffers.
    pub write_timeout_ms: u64,
    /// Requests per connection awaiting the broker's response that the guard tracks; past it
    /// the oldest is forgotten (counted in `rmq_guard_pending_evicted_total`).
    pub max_pending_requests: usize,
    /// Largest request header the guard reads, in bytes; a larger one closes the connection.
    pub max_header_bytes: usize,
    /// Most ext fields in one request header; more closes the connection.
    pub max_ext_fields: usize,
    /// Largest body of a request that needs a signature, in bytes.
    pub max_signed_body_bytes: usize,
    /// Largest frame a client may send, in bytes (length prefix included).
    pub max_frame_bytes: usize,
    /// Bytes that large partial client frames (over 64 KiB) may hold at once, listener-wide.
    pub max_buffered_bytes: usize,
    /// `off` (default) or `v2`: write a PROXY protocol v2 header with the client's address
    /// first on every broker connection (brokers 5.1.4+ read it; older ones close).
    pub proxy_protocol: crate::guard::ProxyProtocol,
}

impl Default for GuardListener {
    fn default() -> Self {
        Self {
            name: String::new(),
            listen: String::new(),
            upstream: String::new(),
            role: GuardRole::Broker,
            schemes: vec![crate::guard::Scheme::RmqHmacV1],
            allow_unsigned: Vec::new(),
            require_signed: Vec::new(),
            targets: Vec::new(),
            max_connections: 10_000,
            frame_timeout_ms: 10_000,
            idle_timeout_seconds: 150,
            connect_timeout_ms: 3_000,
            max_connections_per_source: crate::guard::Limits::DEFAULT.max_connections_per_source,
            write_timeout_ms: 30_000,
            max_pending_requests: crate::guard::Limits::DEFAULT.max_pending_requests,
            max_header_bytes: crate::guard::Limits::DEFAULT.max_header_bytes,
            max_ext_fields: crate::guard::Limits::DEFAULT.max_ext_fields,
            max_signed_body_bytes: crate::guard::Limits::DEFAULT.max_signed_body_bytes,
            max_frame_bytes: crate::guard::Limits::DEFAULT.max_frame_bytes,
            max_buffered_bytes: crate::guard::Limits::DEFAULT.max_buffered_bytes,
            proxy_protocol: crate::guard::ProxyProtocol::Off,
        }
    }
}

/// `[[guard.listeners]] role`: what the listener stands in front of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardRole {
    /// A broker's main or VIP port.
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
const RETIRED_GUARD_KEYS: [(&str, &str); 2] = [
    (
        "add_codes",
        "the guard denies by default now: every code outside the role's unsigned list needs a signature; \
         use `require_signed` to make a data-path code signed",
    ),
    ("remove_codes", "use `allow_unsigned` to let a code through without a signature"),
];

/// Adds what replaced a retired guard key to a parse error that names it.
fn explain_retired_keys(message: String) -> String {
    match RETIRED_GUARD_KEYS.iter().find(|(k, _)| message.contains(&format!("unknown field `{k}`"))) {
        Some((k, hint)) => format!("{message}\n`{k}` was removed: {hint} (see docs/guard.md)"),
        None => message,
    }
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let cfg = Self::parse(&text).map_err(|message| ConfigError::Parse { path: path.into(), message })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text (no validation).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| explain_retired_keys(e.to_string().trim_end().to_owned()))
    }

    /// Checks every value and reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Vec::new();
        let mut bad = |path: &str, message: String| p.push(ConfigProblem { path: path.into(), message });
        if self.http.listen.parse::<SocketAddr>().is_err() {
            bad("http.listen", format!("{:?} is not an IP:port address", self.http.listen));
        }
        for (field, message) in rmq_runtime::http::limit_problems(&self.http) {
            bad(&format!("http.{field}"), message);
        }
        if !matches!(self.log.format.as_str(), "human" | "json") {
            bad("log.format", format!("{:?} is neither \"human\" nor \"json\"", self.log.format));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            bad("log.level", format!("{:?} is not a valid log filter", self.log.level));
        }
        let b = &self.broker;
        if !valid_host_port(&b.addr) {
            bad("broker.addr", format!("{:?} is not host:port", b.addr));
        }
        if !matches!(b.serialize_type.as_str(), "json" | "rocketmq") {
            bad("broker.serialize_type", format!("{:?} is neither \"json\" nor \"rocketmq\"", b.serialize_type));
        }
        if b.interval_seconds == 0 {
            bad("broker.interval_seconds", "must be at least 1".into());
        }
        if b.timeout_seconds == 0 || b.timeout_seconds > b.interval_seconds.max(1) {
            bad("broker.timeout_seconds", format!("must be 1..={} (the interval)", b.interval_seconds.max(1)));
        }
        if b.request_timeout_ms == 0 {
            bad("broker.request_timeout_ms", "must be at least 1".into());
        }
        if !(1..=1024).contains(&b.concurrency) {
            bad("broker.concurrency", "must be 1..=1024".into());
        }
        if !(1..=10_000).contains(&b.clients_per_cycle) {
            bad("broker.clients_per_cycle", "must be 1..=10000".into());
        }
        if b.client_timeout_ms == 0 {
            bad("broker.client_timeout_ms", "must be at least 1".into());
        }
        match (&b.acl_access_key, &b.acl_secret_file) {
            (Some(_), None) => bad("broker.acl_secret_file", "required when broker.acl_access_key is set".into()),
            (None, Some(_)) => bad("broker.acl_access_key", "required when broker.acl_secret_file is set".into()),
            (Some(_), Some(f)) => {
                if let Err(e) = rmq_runtime::secret::check_file(f) {
                    bad("broker.acl_secret_file", e.to_string());
                }
            }
            (None, None) => {}
        }
        if let Some(a) = &self.namesrv.addr
            && !valid_host_port(a)
        {
            bad("namesrv.addr", format!("{a:?} is not host:port"));
        }
        if self.host.interval_seconds == 0 {
            bad("host.interval_seconds", "must be at least 1".into());
        }
        let g = &self.guard;
        let mut key_ids = std::collections::HashSet::new();
        for (i, k) in g.keys.iter().enumerate() {
            if !rmq_protocol::sign::hmac_v1::valid_key_id(&k.id) {
                bad(&format!("guard.keys[{i}].id"), format!("{:?}: 1-64 of A-Z a-z 0-9 . _ -", k.id));
            }
            if !key_ids.insert(k.id.as_str()) {
                bad(&format!("guard.keys[{i}].id"), format!("{:?} appears twice", k.id));
            }
            if let Err(e) = rmq_runtime::secret::check_file(&k.secret_file) {
                bad(&format!("guard.keys[{i}].secret_file"), e.to_string());
            }
            if k.acl_v1_codes.as_ref().is_some_and(Vec::is_empty) {
                bad(
                    &format!("guard.keys[{i}].acl_v1_codes"),
                    "empty: leave it out, or list the codes this key may sign with acl-v1".into(),
                );
            }
            if let Some(b) = &k.brokers {
                match crate::guard::auth::RouteScope::parse(b) {
                    Err(e) => bad(&format!("guard.keys[{i}].brokers"), e),
                    Ok(_) if k.acl_v1_codes.is_some() => bad(
                        &format!("guard.keys[{i}].acl_v1_codes"),
                        "a key scoped to brokers signs with rmq-hmac-v1 only".into(),
                    ),
                    Ok(_) => {}
                }
            }
        }
        if !g.listeners.is_empty() && g.keys.is_empty() {
            bad("guard.keys", "listeners are configured but no key can sign for them".into());
        }
        if g.nonce_cache_size == 0 {
            bad("guard.nonce_cache_size", "must be at least 1".into());
        }
        for (i, l) in g.listeners.iter().enumerate() {
            let at = |f: &str| format!("guard.listeners[{i}].{f}");
            if l.listen.parse::<SocketAddr>().is_err() {
                bad(&at("listen"), format!("{:?} is not an IP:port address", l.listen));
            }
            if !valid_host_port(&l.upstream) {
                bad(&at("upstream"), format!("{:?} is not host:port", l.upstream));
            }
            if l.schemes.is_empty() {
                bad(&at("schemes"), "at least one of \"rmq-hmac-v1\", \"acl-v1\"".into());
            }
            let both: Vec<String> =
                l.allow_unsigned.iter().filter(|c| l.require_signed.contains(c)).map(i32::to_string).collect();
            if !both.is_empty() {
                bad(&at("allow_unsigned"), format!("{} also in require_signed", both.join(", ")));
            }
            for t in &l.targets {
                if !rmq_protocol::sign::hmac_v1::valid_target(t) {
                    bad(&at("targets"), format!("{t:?}: 1-127 of A-Z a-z 0-9 . _ - :"));
                }
            }
            if l.max_connections == 0 {
                bad(&at("max_connections"), "must be at least 1".into());
            }
            if l.frame_timeout_ms == 0 || l.idle_timeout_seconds == 0 || l.connect_timeout_ms == 0 {
                bad(&at("*_timeout_*"), "timeouts must be at least 1".into());
            }
            if l.write_timeout_ms == 0 {
                bad(&at("write_timeout_ms"), "must be at least 1".into());
            }
            for (field, v) in [
                ("max_connections_per_source", l.max_connections_per_source),
                ("max_pending_requests", l.max_pending_requests),
                ("max_ext_fields", l.max_ext_fields),
            ] {
                if v == 0 {
                    bad(&at(field), "must be at least 1".into());
                }
            }
            // Below ~1 KiB a stock client's send header would not fit; above Java's frame
            // limit the setting means nothing.
            if !(1024..=rmq_protocol::frame::MAX_FRAME_LEN as usize).contains(&l.max_header_bytes) {
                bad(&at("max_header_bytes"), format!("{} is outside 1024..=16777212", l.max_header_bytes));
            }
            if !(4096..=rmq_protocol::frame::MAX_FRAME_LEN as usize + 4).contains(&l.max_frame_bytes) {
                bad(&at("max_frame_bytes"), format!("{} is outside 4096..=16777216", l.max_frame_bytes));
            }
            if l.max_buffered_bytes < l.max_frame_bytes {
                bad(
                    &at("max_buffered_bytes"),
                    format!("must hold at least one frame of max_frame_bytes ({})", l.max_frame_bytes),
                );
            }
            if l.max_signed_body_bytes > rmq_protocol::frame::MAX_FRAME_LEN as usize {
                bad(&at("max_signed_body_bytes"), "must be at most 16777212 (Java's frame limit)".into());
            }
        }
        for (path, message) in self.namesrv_egress.problems() {
            bad(&path, message);
        }
        let rw = &self.remote_write;
        if rw.interval_seconds == 0 {
            bad("remote_write.interval_seconds", "must be at least 1".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, e) in rw.endpoints.iter().enumerate() {
            let at = |f: &str| format!("remote_write.endpoints[{i}].{f}");
            if e.name.is_empty() || !names.insert(e.name.as_str()) {
                bad(&at("name"), "must be non-empty and unique".into());
            }
            if !(e.url.starts_with("http://") || e.url.starts_with("https://")) {
                bad(&at("url"), format!("{:?} is not an http:// or https:// URL", e.url));
            }
            if e.max_samples_per_request == 0 || e.timeout_seconds == 0 || e.max_backoff_seconds == 0 {
                bad(
                    &at("*"),
                    "max_samples_per_request, timeout_seconds and max_backoff_seconds must be at least 1".into(),
                );
            }
            if e.basic_auth_username.is_some() != e.basic_auth_password_file.is_some() {
                bad(&at("basic_auth_username"), "basic_auth_username and basic_auth_password_file go together".into());
            }
            if e.basic_auth_username.is_some() && e.bearer_token_file.is_some() {
                bad(&at("bearer_token_file"), "choose basic auth or a bearer token, not both".into());
            }
            if e.tls_cert_file.is_some() != e.tls_key_file.is_some() {
                bad(&at("tls_cert_file"), "tls_cert_file and tls_key_file go together".into());
            }
        }
        let pp = &self.put_probe;
        if pp.enabled {
            if pp.topic.is_empty() || pp.interval_ms == 0 || pp.timeout_ms == 0 {
                bad("put_probe", "topic, interval_ms and timeout_ms must be set".into());
            }
            if pp.key_id.is_some() != pp.key_file.is_some() {
                bad("put_probe.key_id", "key_id and key_file go together".into());
            }
            if crate::guard::Scheme::parse(&pp.scheme).is_none() {
                bad("put_probe.scheme", format!("unknown scheme {:?}", pp.scheme));
            }
        }
        if p.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(p)) }
    }

    /// The broker cycle interval.
    pub fn broker_interval(&self) -> Duration {
        Duration::from_secs(self.broker.interval_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c, Config::default());
        c.validate().unwrap();
        assert_eq!(c.http.listen, "0.0.0.0:9558");
        assert_eq!(c.broker.addr, "127.0.0.1:10911");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e = Config::parse("[broker]\nadress = \"x\"\n").unwrap_err();
        assert!(e.contains("adress"), "{e}");
        let e = Config::parse("colour = 1\n").unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let c = Config::parse(
            r#"
            [http]
            listen = "nowhere"
            [log]
            format = "xml"
            [broker]
            addr = "no-port"
            serialize_type = "yaml"
            interval_seconds = 0
            concurrency = 0
            clients_per_cycle = 0
            client_timeout_ms = 0
            acl_access_key = "ak"
            [namesrv]
            addr = ":9876"
            "#,
        )
        .unwrap();
        let ConfigError::Invalid(problems) = c.validate().unwrap_err() else { panic!("invalid") };
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "http.listen",
            "log.format",
            "broker.addr",
            "broker.serialize_type",
            "broker.interval_seconds",
            "broker.timeout_seconds",
            "broker.concurrency",
            "broker.clients_per_cycle",
            "broker.client_timeout_ms",
            "broker.acl_secret_file",
            "namesrv.addr",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
    }

    #[test]
    fn guard_listener_defaults_and_typed_fields() {
        let c =
            Config::parse("[[guard.listeners]]\nname = \"b\"\nlisten = \"127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\n")
                .unwrap();
        let l = &c.guard.listeners[0];
        assert_eq!(l.role, GuardRole::Broker);
        assert_eq!(l.schemes, [crate::guard::Scheme::RmqHmacV1], "acl-v1 is opt-in");
        assert!(l.allow_unsigned.is_empty() && l.require_signed.is_empty() && l.targets.is_empty());
        let c = Config::parse(
            "[[guard.listeners]]\nrole = \"namesrv\"\nschemes = [\"acl-v1\", \"rmq-hmac-v1\"]\n\
             allow_unsigned = [21]\nrequire_signed = [15]\ntargets = [\"broker-a\"]\n\
             [[guard.keys]]\nid = \"k\"\nsecret_file = \"/k\"\nacl_v1_codes = [17, 207]\n",
        )
        .unwrap();
        assert_eq!(c.guard.listeners[0].role.policy_role(), rmq_protocol::policy::Role::Namesrv);
        assert_eq!(c.guard.keys[0].acl_v1_codes.as_deref(), Some(&[17, 207][..]));
        // No silent fallback: an unknown role or scheme is a parse error naming the choices.
        let e = Config::parse("[[guard.listeners]]\nrole = \"controller\"\n").unwrap_err();
        assert!(e.contains("controller") && e.contains("broker") && e.contains("namesrv"), "{e}");
        let e = Config::parse("[[guard.listeners]]\nschemes = [\"acl-v2\"]\n").unwrap_err();
        assert!(e.contains("acl-v2") && e.contains("rmq-hmac-v1"), "{e}");
    }

    #[test]
    fn retired_guard_keys_say_what_replaced_them() {
        for (key, hint) in [("add_codes", "require_signed"), ("remove_codes", "allow_unsigned")] {
            let e = Config::parse(&format!("[[guard.listeners]]\n{key} = [21]\n")).unwrap_err();
            assert!(e.contains(&format!("`{key}` was removed")) && e.contains(hint), "{e}");
        }
    }

    #[test]
    fn guard_lists_and_targets_are_validated() {
        let c = Config::parse(
            "[[guard.listeners]]\nname = \"b\"\nlisten = \"127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\n\
             allow_unsigned = [21, 26]\nrequire_signed = [26]\ntargets = [\"broker a\"]\nschemes = []\n",
        )
        .unwrap();
        let ConfigError::Invalid(problems) = c.validate().unwrap_err() else { panic!("invalid") };
        let found = |path: &str, text: &str| problems.iter().any(|p| p.path == path && p.message.contains(text));
        assert!(found("guard.listeners[0].allow_unsigned", "26 also in require_signed"), "{problems:?}");
        assert!(found("guard.listeners[0].targets", "broker a"), "{problems:?}");
        assert!(found("guard.listeners[0].schemes", "at least one"), "{problems:?}");
    }
}
