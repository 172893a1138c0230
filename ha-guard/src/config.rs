//! The ha-guard's configuration: one TOML file, unknown keys rejected, every problem reported
//! at once with its path (the same conventions as rmq-agent). Documented in `docs/ha-guard.md`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rmq_protocol::sign::ha_v1;
use rmq_runtime::config::{ConfigError, ConfigProblem, HttpConfig, LogConfig, valid_host_port};
use serde::Deserialize;

/// Default HTTP listen address (rmq-agent uses 9558).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9559";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `/metrics` and `/healthz`.
    pub http: Http,
    /// Logging.
    pub log: LogConfig,
    /// Shared HMAC keys: id → secret file.
    pub keys: Vec<Key>,
    /// A first packet's timestamp may differ from this host's clock by at most this much.
    pub max_skew_seconds: u64,
    /// Most nonces remembered (replay protection); when full, new first packets are refused.
    pub nonce_cache_size: usize,
    /// Master side: public HA ports owned by this guard.
    pub accept: Vec<Accept>,
    /// Slave side: local ports the slave's `haMasterAddress` points at.
    pub connect: Vec<Connect>,
    /// Seconds open tunnels may keep relaying after SIGTERM.
    pub shutdown_grace_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: Http::default(),
            log: LogConfig::default(),
            keys: Vec::new(),
            max_skew_seconds: 30,
            nonce_cache_size: 100_000,
            accept: Vec::new(),
            connect: Vec::new(),
            shutdown_grace_seconds: 10,
        }
    }
}

/// `[http]`: rmq-agent's keys, with this guard's own default address, so a table that sets
/// only the limits still listens on loopback 9559 (not the agent's `0.0.0.0:9558`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    /// `host:port` to serve on.
    pub listen: String,
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// A request head must arrive whole within this many seconds.
    pub header_timeout_seconds: u64,
}

impl Default for Http {
    fn default() -> Self {
        let agent = HttpConfig::default();
        Self {
            listen: DEFAULT_LISTEN.into(),
            max_connections: agent.max_connections,
            header_timeout_seconds: agent.header_timeout_seconds,
        }
    }
}

impl Http {
    /// As the shared HTTP server takes it.
    pub fn served(&self) -> HttpConfig {
        HttpConfig {
            listen: self.listen.clone(),
            max_connections: self.max_connections,
            header_timeout_seconds: self.header_timeout_seconds,
        }
    }
}

/// `[[keys]]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// Key id (sent in the first packet).
    pub id: String,
    /// File holding the secret; must not be readable by group or others.
    pub secret_file: PathBuf,
}

/// Limits and timing of one tunnel end (the `max_connections`, `max_pending_hellos`,
/// `hello_timeout_ms`, `connect_timeout_ms` and `idle_timeout_seconds` keys of `[[accept]]`
/// and `[[connect]]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Authenticated tunnels at once; a connection authenticated while they are all taken is
    /// closed.
    pub max_connections: usize,
    /// Connections not yet authenticated, at once (their own budget, apart from the
    /// tunnels'). When it is full, the oldest of them is closed to make room.
    pub max_pending_hellos: usize,
    /// Accept side: the first packet must arrive whole within this (and the TLS handshake
    /// before it). Connect side: the answer must arrive within this.
    pub hello_timeout_ms: u64,
    /// Dialling the next hop.
    pub connect_timeout_ms: u64,
    /// A tunnel with no bytes either way for this long is closed. HA heartbeats flow every
    /// 5 s and brokers close after 20 s of silence, so this only catches dead peers.
    pub idle_timeout_seconds: u64,
}

fn d_max_connections() -> usize {
    64
}
fn d_max_pending_hellos() -> usize {
    64
}
fn d_hello_timeout_ms() -> u64 {
    5_000
}
fn d_connect_timeout_ms() -> u64 {
    3_000
}
fn d_idle_timeout_seconds() -> u64 {
    60
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: d_max_connections(),
            max_pending_hellos: d_max_pending_hellos(),
            hello_timeout_ms: d_hello_timeout_ms(),
            connect_timeout_ms: d_connect_timeout_ms(),
            idle_timeout_seconds: d_idle_timeout_seconds(),
        }
    }
}

impl Limits {
    /// The first-packet (or answer) deadline.
    pub fn hello_timeout(&self) -> Duration {
        Duration::from_millis(self.hello_timeout_ms)
    }

    /// The dial deadline.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The idle deadline.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_seconds)
    }
}

/// `[[accept]]`: the master host's side.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// Metric label and log field; defaults to `broker_name`.
    #[serde(default)]
    pub name: String,
    /// The public HA address slaves (their connect-side guards) dial.
    pub listen: String,
    /// The master's real HA port, normally on loopback.
    pub upstream: String,
    /// The master's `brokerName`; a first packet signed for another broker is refused.
    pub broker_name: String,
    /// Key ids accepted here (empty: every configured key).
    #[serde(default)]
    pub key_ids: Vec<String>,
    /// Read the HA stream as it passes (per-slave offsets, impossible reports close the
    /// tunnel), in the protocol `ha_protocol` names.
    #[serde(default = "yes")]
    pub inspect: bool,
    /// Which HA protocol the tunnel carries; read only with `inspect`.
    #[serde(default)]
    pub ha_protocol: HaProtocol,
    /// Auto-switch HA: key id → the broker ids a slave authenticated with that key may
    /// declare in its handshake (the master knows a slave by the id it declares). Empty: any
    /// key may declare any id; otherwise a key not listed may declare none.
    #[serde(default)]
    pub slave_ids: BTreeMap<String, Vec<i64>>,
    /// TLS server certificate chain (PEM); with `tls_key_file`, tunnels are TLS.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// TLS private key (PEM).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Authenticated tunnels at once.
    #[serde(default = "d_max_connections")]
    pub max_connections: usize,
    /// Connections still authenticating, at once; when full, the oldest is closed.
    #[serde(default = "d_max_pending_hellos")]
    pub max_pending_hellos: usize,
    /// Accept side: the first packet (and the TLS handshake before it) must arrive within
    /// this. Connect side: the answer must arrive within this.
    #[serde(default = "d_hello_timeout_ms")]
    pub hello_timeout_ms: u64,
    /// Dialling the next hop.
    #[serde(default = "d_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// A tunnel with no bytes either way for this long is closed (must exceed the HA
    /// protocol's 20 s; heartbeats flow every 5 s).
    #[serde(default = "d_idle_timeout_seconds")]
    pub idle_timeout_seconds: u64,
}

/// `[[connect]]`: the slave host's side.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    /// Metric label and log field; defaults to `broker_name`.
    #[serde(default)]
    pub name: String,
    /// Where the slave's `haMasterAddress` points (normally loopback).
    pub listen: String,
    /// The master host's accept-side guard.
    pub remote: String,
    /// The master's `brokerName` (signed into the first packet).
    pub broker_name: String,
    /// Which key signs the first packet.
    pub key_id: String,
    /// Read the HA stream as it passes (metrics on the slave side too).
    #[serde(default = "yes")]
    pub inspect: bool,
    /// Which HA protocol the tunnel carries; read only with `inspect`.
    #[serde(default)]
    pub ha_protocol: HaProtocol,
    /// CA certificates (PEM) that the accept side's certificate must chain to; set it to
    /// use TLS.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// The name the accept side's certificate must carry (default: the host of `remote`).
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// This end signs a first packet for whoever connects to `listen`, so `listen` must be a
    /// loopback address unless this is set (see docs/ha-guard.md).
    #[serde(default)]
    pub allow_non_loopback_listen: bool,
    /// Authenticated tunnels at once.
    #[serde(default = "d_max_connections")]
    pub max_connections: usize,
    /// Connections still authenticating, at once; when full, the oldest is closed.
    #[serde(default = "d_max_pending_hellos")]
    pub max_pending_hellos: usize,
    /// Accept side: the first packet (and the TLS handshake before it) must arrive within
    /// this. Connect side: the answer must arrive within this.
    #[serde(default = "d_hello_timeout_ms")]
    pub hello_timeout_ms: u64,
    /// Dialling the next hop.
    #[serde(default = "d_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// A tunnel with no bytes either way for this long is closed (must exceed the HA
    /// protocol's 20 s; heartbeats flow every 5 s).
    #[serde(default = "d_idle_timeout_seconds")]
    pub idle_timeout_seconds: u64,
}

fn yes() -> bool {
    true
}

/// `ha_protocol`: the replication protocol a tunnel carries, as the master runs it. Named,
/// never guessed from the bytes: the first bytes of the protocols can look alike (a classic
/// offset report of 4 GiB starts like an auto-switch handshake), and a reader that framed the
/// stream differently from the master could be shown one report while the master reads
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum HaProtocol {
    /// Classic HA: 4.x, and 5.x without controller mode.
    #[default]
    #[serde(rename = "classic")]
    Classic,
    /// Auto-switch HA of 5.x controller mode (`enableControllerMode=true`), 5.1.1 and later.
    #[serde(rename = "auto-switch")]
    AutoSwitch,
    /// Auto-switch HA of 5.0.0 to 5.1.0, whose slave handshake declares an address instead of
    /// a broker id.
    #[serde(rename = "auto-switch-5.0")]
    AutoSwitch50,
}

impl HaProtocol {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::AutoSwitch => "auto-switch",
            Self::AutoSwitch50 => "auto-switch-5.0",
        }
    }
}

/// `limits()` and `label()` for both kinds of tunnel end (their keys are spelled out in each
/// struct because serde cannot deny unknown keys through a flattened table).
macro_rules! tunnel_end {
    ($t:ty) => {
        impl $t {
            /// Its limits.
            pub fn limits(&self) -> Limits {
                Limits {
                    max_connections: self.max_connections,
                    max_pending_hellos: self.max_pending_hellos,
                    hello_timeout_ms: self.hello_timeout_ms,
                    connect_timeout_ms: self.connect_timeout_ms,
                    idle_timeout_seconds: self.idle_timeout_seconds,
                }
            }

            /// The label of this tunnel end: its name, else the broker name.
            pub fn label(&self) -> &str {
                if self.name.is_empty() { &self.broker_name } else { &self.name }
            }
        }
    };
}

tunnel_end!(Accept);
tunnel_end!(Connect);

impl Config {
    /// Reads, parses and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let cfg: Config = toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string().trim_end().to_owned() })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The skew window.
    pub fn max_skew_ms(&self) -> u64 {
        self.max_skew_seconds.saturating_mul(1000)
    }

    /// Checks every value and reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Vec::new();
        let mut bad = |path: String, message: String| p.push(ConfigProblem { path, message });
        if self.http.listen.parse::<SocketAddr>().is_err() {
            bad("http.listen".into(), format!("{:?} is not an IP:port address", self.http.listen));
        }
        for (field, message) in rmq_runtime::http::limit_problems(&self.http.served()) {
            bad(format!("http.{field}"), message);
        }
        if !matches!(self.log.format.as_str(), "human" | "json") {
            bad("log.format".into(), format!("{:?} is neither \"human\" nor \"json\"", self.log.format));
        }
        if self.max_skew_seconds == 0 {
            bad("max_skew_seconds".into(), "must be at least 1".into());
        }
        if self.nonce_cache_size == 0 {
            bad("nonce_cache_size".into(), "must be at least 1".into());
        }
        if self.accept.is_empty() && self.connect.is_empty() {
            bad("accept".into(), "no [[accept]] or [[connect]] tunnel is configured".into());
        }
        let key_ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        for (i, k) in self.keys.iter().enumerate() {
            if !(1..=ha_v1::MAX_KEY_ID).contains(&k.id.len())
                || !k.id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                bad(format!("keys[{i}].id"), format!("{:?}: 1-64 characters of A-Z a-z 0-9 . _ -", k.id));
            }
            if key_ids.iter().filter(|id| **id == k.id).count() > 1 {
                bad(format!("keys[{i}].id"), format!("{:?} is configured twice", k.id));
            }
        }
        let mut listens: Vec<String> = Vec::new();
        let mut check_common =
            |at: &str, listen: &str, broker: &str, l: &Limits, bad: &mut dyn FnMut(String, String)| {
                if listen.parse::<SocketAddr>().is_err() {
                    bad(format!("{at}.listen"), format!("{listen:?} is not an IP:port address"));
                }
                if listens.iter().any(|l| l == listen) {
                    bad(format!("{at}.listen"), format!("{listen:?} is used twice"));
                }
                listens.push(listen.to_owned());
                if !(1..=ha_v1::MAX_BROKER_NAME).contains(&broker.len()) {
                    bad(format!("{at}.broker_name"), "must be 1-127 bytes".into());
                }
                if l.max_connections == 0
                    || l.max_pending_hellos == 0
                    || l.hello_timeout_ms == 0
                    || l.connect_timeout_ms == 0
                {
                    bad(
                    at.into(),
                    "max_connections, max_pending_hellos, hello_timeout_ms and connect_timeout_ms must be at least 1"
                        .into(),
                );
                }
                if l.idle_timeout_seconds < 21 {
                    bad(
                        format!("{at}.idle_timeout_seconds"),
                        "must exceed the HA protocol's own 20 s (heartbeats every 5 s)".into(),
                    );
                }
            };
        for (i, a) in self.accept.iter().enumerate() {
            let at = format!("accept[{i}]");
            check_common(&at, &a.listen, &a.broker_name, &a.limits(), &mut bad);
            if !valid_host_port(&a.upstream) {
                bad(format!("{at}.upstream"), format!("{:?} is not host:port", a.upstream));
            }
            if a.listen == a.upstream {
                bad(format!("{at}.upstream"), "is the listen address itself".into());
            }
            if a.tls_cert_file.is_some() != a.tls_key_file.is_some() {
                bad(format!("{at}.tls_cert_file"), "tls_cert_file and tls_key_file go together".into());
            }
            for id in &a.key_ids {
                if !key_ids.contains(&id.as_str()) {
                    bad(format!("{at}.key_ids"), format!("{id:?} is not in [[keys]]"));
                }
            }
            let reads_auto_switch = a.inspect && a.ha_protocol == HaProtocol::AutoSwitch;
            if !a.slave_ids.is_empty() && !reads_auto_switch {
                bad(
                    format!("{at}.slave_ids"),
                    "binds the broker ids of auto-switch handshakes: needs inspect = true and ha_protocol = \"auto-switch\""
                        .into(),
                );
            }
            for (key, ids) in &a.slave_ids {
                let accepted = key_ids.contains(&key.as_str()) && (a.key_ids.is_empty() || a.key_ids.contains(key));
                if !accepted {
                    bad(format!("{at}.slave_ids"), format!("{key:?} is not a key this end accepts"));
                }
                if ids.is_empty() || ids.iter().any(|id| *id < 0) {
                    bad(format!("{at}.slave_ids.{key}"), "one or more broker ids, each 0 or more".into());
                }
            }
            if self.keys.is_empty() {
                bad(at.clone(), "an accept side needs at least one [[keys]] entry".into());
            }
        }
        for (i, c) in self.connect.iter().enumerate() {
            let at = format!("connect[{i}]");
            check_common(&at, &c.listen, &c.broker_name, &c.limits(), &mut bad);
            if let Ok(addr) = c.listen.parse::<SocketAddr>()
                && !addr.ip().is_loopback()
                && !c.allow_non_loopback_listen
            {
                bad(
                    format!("{at}.listen"),
                    format!(
                        "{:?} is not a loopback address: this end signs a first packet for whoever connects to it, \
                         so anyone who can reach it replicates as the slave; use 127.0.0.1 or [::1], or set \
                         allow_non_loopback_listen = true on this [[connect]] if the address is firewalled to the slave",
                        c.listen
                    ),
                );
            }
            if !valid_host_port(&c.remote) {
                bad(format!("{at}.remote"), format!("{:?} is not host:port", c.remote));
            }
            if !key_ids.contains(&c.key_id.as_str()) {
                bad(format!("{at}.key_id"), format!("{:?} is not in [[keys]]", c.key_id));
            }
            if c.tls_server_name.is_some() && c.tls_ca_file.is_none() {
                bad(format!("{at}.tls_server_name"), "needs tls_ca_file (TLS is on only with a CA)".into());
            }
        }
        if p.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(p)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(s).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn a_minimal_pair_of_ends_is_valid_with_defaults() {
        let c = parse(
            r#"
            [[keys]]
            id = "ha-1"
            secret_file = "/etc/k"
            [[accept]]
            listen = "10.0.0.1:10912"
            upstream = "127.0.0.1:10912"
            broker_name = "broker-a"
            [[connect]]
            listen = "127.0.0.1:20912"
            remote = "10.0.0.1:10912"
            broker_name = "broker-a"
            key_id = "ha-1"
            max_connections = 4
            "#,
        )
        .unwrap();
        assert!(c.accept[0].inspect);
        assert_eq!(c.accept[0].label(), "broker-a");
        assert_eq!(c.connect[0].limits().max_connections, 4);
        assert_eq!(c.accept[0].limits(), Limits::default());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let e = parse(
            r#"
            [[accept]]
            listen = "nowhere"
            upstream = "nowhere"
            broker_name = ""
            idle_timeout_seconds = 5
            tls_cert_file = "/c"
            [[connect]]
            listen = "127.0.0.1:1"
            remote = "x"
            broker_name = "b"
            key_id = "missing"
            "#,
        )
        .unwrap_err();
        for needle in [
            "accept[0].listen",
            "accept[0].upstream",
            "accept[0].broker_name",
            "accept[0].idle_timeout_seconds",
            "accept[0].tls_cert_file",
            "connect[0].remote",
            "connect[0].key_id",
            "needs at least one [[keys]]",
        ] {
            assert!(e.contains(needle), "{needle} missing from:\n{e}");
        }
    }

    fn connect_end(listen: &str, extra: &str) -> Result<Config, String> {
        parse(&format!(
            "[[keys]]\nid = \"ha-1\"\nsecret_file = \"/etc/k\"\n[[connect]]\nlisten = \"{listen}\"\n\
             remote = \"10.0.0.1:10912\"\nbroker_name = \"broker-a\"\nkey_id = \"ha-1\"\n{extra}"
        ))
    }

    #[test]
    fn a_connect_end_listens_on_loopback_unless_explicitly_allowed() {
        for ok in ["127.0.0.1:10912", "127.0.0.2:10912", "[::1]:10912"] {
            assert!(connect_end(ok, "").is_ok(), "{ok}");
        }
        for open in ["0.0.0.0:10912", "10.0.0.2:10912", "[::]:10912"] {
            let e = connect_end(open, "").unwrap_err();
            assert!(e.contains("connect[0].listen") && e.contains("allow_non_loopback_listen"), "{e}");
            assert!(connect_end(open, "allow_non_loopback_listen = true").is_ok(), "{open}");
        }
        // An accept end is meant to be public.
        let c = parse(
            "[[keys]]\nid = \"ha-1\"\nsecret_file = \"/etc/k\"\n[[accept]]\nlisten = \"0.0.0.0:10912\"\n\
             upstream = \"127.0.0.1:10911\"\nbroker_name = \"broker-a\"\n",
        );
        assert!(c.is_ok(), "{c:?}");
    }

    #[test]
    fn budgets_have_defaults_and_must_be_positive() {
        let c = connect_end("127.0.0.1:1", "").unwrap();
        assert_eq!((c.connect[0].max_pending_hellos, c.connect[0].max_connections), (64, 64));
        assert_eq!((c.http.max_connections, c.http.header_timeout_seconds), (64, 10));
        // A table with only a limit keeps the guard's own address.
        let c: Config = toml::from_str("[http]\nmax_connections = 8\n").unwrap();
        assert_eq!((c.http.listen.as_str(), c.http.max_connections), (DEFAULT_LISTEN, 8));
        assert!(connect_end("127.0.0.1:1", "max_pending_hellos = 0").unwrap_err().contains("max_pending_hellos"));
        let e = parse(
            "[http]\nlisten = \"127.0.0.1:9559\"\nmax_connections = 0\nheader_timeout_seconds = 0\n\
             [[keys]]\nid = \"ha-1\"\nsecret_file = \"/etc/k\"\n[[connect]]\nlisten = \"127.0.0.1:1\"\n\
             remote = \"10.0.0.1:10912\"\nbroker_name = \"broker-a\"\nkey_id = \"ha-1\"\n",
        )
        .unwrap_err();
        assert!(e.contains("http.max_connections") && e.contains("http.header_timeout_seconds"), "{e}");
    }

    #[test]
    fn the_ha_protocol_is_named_per_tunnel_end() {
        let c = connect_end("127.0.0.1:1", "").unwrap();
        assert_eq!(c.connect[0].ha_protocol, HaProtocol::Classic);
        for (spelled, p) in [
            ("classic", HaProtocol::Classic),
            ("auto-switch", HaProtocol::AutoSwitch),
            ("auto-switch-5.0", HaProtocol::AutoSwitch50),
        ] {
            let c = connect_end("127.0.0.1:1", &format!("ha_protocol = \"{spelled}\"")).unwrap();
            assert_eq!(c.connect[0].ha_protocol, p);
            assert_eq!(p.as_str(), spelled);
        }
        for bad in ["autoswitch", "controller", "Classic", ""] {
            let e = connect_end("127.0.0.1:1", &format!("ha_protocol = \"{bad}\"")).unwrap_err();
            assert!(e.contains("unknown variant"), "{bad}: {e}");
        }
    }

    #[test]
    fn slave_ids_bind_accepted_keys_on_auto_switch_ends_only() {
        let accept = |extra: &str| {
            parse(&format!(
                "[[keys]]\nid = \"ha-1\"\nsecret_file = \"/etc/k\"\n[[accept]]\nlisten = \"10.0.0.1:10912\"\n\
                 upstream = \"127.0.0.1:10912\"\nbroker_name = \"broker-a\"\n{extra}"
            ))
        };
        let c = accept("ha_protocol = \"auto-switch\"\nslave_ids = { \"ha-1\" = [2, 3] }").unwrap();
        assert_eq!(c.accept[0].slave_ids.get("ha-1").map(Vec::as_slice), Some(&[2, 3][..]));
        assert!(accept("").unwrap().accept[0].slave_ids.is_empty());
        for (extra, needle) in [
            ("slave_ids = { \"ha-1\" = [2] }", "needs inspect = true"),
            ("ha_protocol = \"auto-switch-5.0\"\nslave_ids = { \"ha-1\" = [2] }", "needs inspect = true"),
            ("ha_protocol = \"auto-switch\"\ninspect = false\nslave_ids = { \"ha-1\" = [2] }", "needs inspect = true"),
            ("ha_protocol = \"auto-switch\"\nslave_ids = { \"nobody\" = [2] }", "not a key this end accepts"),
            ("ha_protocol = \"auto-switch\"\nslave_ids = { \"ha-1\" = [] }", "accept[0].slave_ids.ha-1"),
            ("ha_protocol = \"auto-switch\"\nslave_ids = { \"ha-1\" = [-1] }", "accept[0].slave_ids.ha-1"),
        ] {
            let e = accept(extra).unwrap_err();
            assert!(e.contains(needle), "{extra}: {e}");
        }
    }

    #[test]
    fn unknown_keys_and_an_empty_file_are_refused() {
        assert!(
            parse("[[accept]]\nlisten = \"1.2.3.4:1\"\nupsteam = \"x:1\"\n").unwrap_err().contains("unknown field")
        );
        assert!(parse("").unwrap_err().contains("no [[accept]] or [[connect]]"));
    }
}
