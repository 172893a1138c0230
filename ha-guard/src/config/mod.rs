//! The ha-guard's configuration: one TOML file, unknown keys rejected, values typed when
//! read (a bad address, duration or choice is a parse error naming its key), then every
//! section checks itself and every problem is reported at once with its path (the same
//! conventions as rmq-agent). Documented in `docs/ha-guard.md`.
//!
//! One file per section: [`accept`], [`connect`], and the [`limits`] both have; `[http]`,
//! `[log]` and `[[keys]]` are rmq-runtime's.

pub mod accept;
pub mod connect;
pub mod limits;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use rmq_protocol::sign::ha_v1;
use rmq_runtime::config::duration::secs;
use rmq_runtime::config::{ConfigError, DefaultListen, KeyConfig, Listens, LogConfig, Problems};
use serde::Deserialize;

pub use accept::Accept;
pub use connect::Connect;
pub use limits::Limits;

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

/// The ha-guard's `[http]` default: loopback port 9559 (rmq-agent serves on 9558).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardListen;

impl DefaultListen for GuardListen {
    const LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9559);
}

/// `[http]`, with the ha-guard's default address.
pub type Http = rmq_runtime::config::HttpConfig<GuardListen>;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `/metrics` and `/healthz`.
    pub http: Http,
    /// Logging.
    pub log: LogConfig,
    /// Shared HMAC keys: id → secret file.
    pub keys: Vec<KeyConfig>,
    /// A first packet's timestamp may differ from this host's clock by at most this much.
    /// Key: `max_skew_seconds`.
    #[serde(rename = "max_skew_seconds", deserialize_with = "secs")]
    pub max_skew: Duration,
    /// Most nonces remembered (replay protection); when full, new first packets are refused.
    pub nonce_cache_size: usize,
    /// Master side: public HA ports owned by this guard.
    pub accept: Vec<Accept>,
    /// Slave side: local ports the slave's `haMasterAddress` points at.
    pub connect: Vec<Connect>,
    /// How long open tunnels may keep relaying after SIGTERM. Key: `shutdown_grace_seconds`.
    #[serde(rename = "shutdown_grace_seconds", deserialize_with = "secs")]
    pub shutdown_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: Http::default(),
            log: LogConfig::default(),
            keys: Vec::new(),
            max_skew: Duration::from_secs(30),
            nonce_cache_size: 100_000,
            accept: Vec::new(),
            connect: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

fn yes() -> bool {
    true
}

/// A broker name fits in a first packet.
fn check_broker_name(at: &str, name: &str, p: &mut Problems) {
    if !(1..=ha_v1::MAX_BROKER_NAME).contains(&name.len()) {
        p.at(at, "broker_name", format!("must be 1-{} bytes", ha_v1::MAX_BROKER_NAME));
    }
}

impl Config {
    /// Reads, parses and checks a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let cfg = rmq_runtime::config::load_file(path, Self::parse)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text into typed sections (no cross-field checks: see [`Config::validate`]).
    /// The error starts with the offending key's dotted path.
    pub fn parse(text: &str) -> Result<Config, String> {
        rmq_runtime::config::parse_toml(text)
    }

    /// The skew window in milliseconds.
    pub fn max_skew_ms(&self) -> u64 {
        u64::try_from(self.max_skew.as_millis()).unwrap_or(u64::MAX)
    }

    /// Has every section check itself; reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Problems::default();
        self.http.check("http", &mut p);
        p.nonzero("", "max_skew_seconds", self.max_skew);
        p.nonzero("", "nonce_cache_size", self.nonce_cache_size);
        if self.accept.is_empty() && self.connect.is_empty() {
            p.add("accept", "no [[accept]] or [[connect]] tunnel is configured");
        }
        KeyConfig::check_all(
            &self.keys,
            "keys",
            rmq_protocol::sign::hmac_v1::valid_key_id,
            "1-64 characters of A-Z a-z 0-9 . _ -",
            &mut p,
        );
        let key_ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        let mut listens = Listens::default();
        for (i, a) in self.accept.iter().enumerate() {
            let at = format!("accept[{i}]");
            listens.check(&at, &a.listener, &mut p);
            a.check(&at, &key_ids, &mut p);
        }
        for (i, c) in self.connect.iter().enumerate() {
            let at = format!("connect[{i}]");
            listens.check(&at, &c.listener, &mut p);
            c.check(&at, &key_ids, &mut p);
        }
        p.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, String> {
        let c = Config::parse(s)?;
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
            hello_timeout_ms = 750
            "#,
        )
        .unwrap();
        assert!(c.accept[0].inspect);
        assert_eq!(c.accept[0].label(), "broker-a");
        assert_eq!(c.connect[0].limits.max_connections, 4);
        assert_eq!(c.connect[0].limits.hello_timeout, Duration::from_millis(750));
        assert_eq!(c.connect[0].tls_server_name(), "10.0.0.1");
        assert_eq!(c.accept[0].limits, Limits::default());
        assert_eq!((c.max_skew, c.shutdown_grace), (Duration::from_secs(30), Duration::from_secs(10)));
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let e = parse(
            r#"
            [[accept]]
            listen = "127.0.0.1:1"
            upstream = "127.0.0.1:1"
            broker_name = ""
            idle_timeout_seconds = 5
            tls_cert_file = "/c"
            [[connect]]
            listen = "127.0.0.1:1"
            remote = "x:1"
            broker_name = "b"
            key_id = "missing"
            "#,
        )
        .unwrap_err();
        for needle in [
            "accept[0].upstream",
            "accept[0].broker_name",
            "accept[0].idle_timeout_seconds",
            "accept[0].tls_cert_file",
            "connect[0].listen: 127.0.0.1:1 is used twice",
            "connect[0].key_id",
            "needs at least one [[keys]]",
        ] {
            assert!(e.contains(needle), "{needle} missing from:\n{e}");
        }
    }

    /// Addresses, durations and keys are typed: a bad one is a parse error naming its key.
    #[test]
    fn bad_values_are_parse_errors_naming_the_key() {
        for (text, path, needle) in [
            (
                "[[accept]]\nlisten = \"nowhere\"\nupstream = \"127.0.0.1:1\"\nbroker_name = \"b\"\n",
                "accept[0]",
                "\"nowhere\" is not an IP:port",
            ),
            (
                "[[accept]]\nlisten = \"127.0.0.1:1\"\nupstream = \"nowhere\"\nbroker_name = \"b\"\n",
                "accept[0].upstream",
                "not host:port",
            ),
            ("max_skew_seconds = \"30s\"\n", "max_skew_seconds", "whole number of seconds"),
            ("[log]\nformat = \"xml\"\n", "log.format", "xml"),
            (
                "[[connect]]\nlisten = \"127.0.0.1:1\"\nremote = \"h:1\"\nbroker_name = \"b\"\nkey_id = \"k\"\n\
                 hello_timeout_ms = -1\n",
                "connect[0]",
                "whole number of milliseconds",
            ),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.starts_with(&format!("{path}: ")) && e.contains(needle), "{text:?} gave:\n{e}");
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
        assert_eq!((c.connect[0].limits.max_pending_hellos, c.connect[0].limits.max_connections), (64, 64));
        assert_eq!((c.http.max_connections, c.http.header_timeout), (64, Duration::from_secs(10)));
        // A table with only a limit keeps the guard's own address.
        let c = Config::parse("[http]\nmax_connections = 8\n").unwrap();
        assert_eq!((c.http.listen, c.http.max_connections), (GuardListen::LISTEN, 8));
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
    fn unknown_keys_and_an_empty_file_are_refused() {
        let e = parse("[[accept]]\nlisten = \"1.2.3.4:1\"\nupstream = \"x:1\"\nbroker_name = \"b\"\ncolour = 1\n")
            .unwrap_err();
        assert!(e.starts_with("accept[0]: ") && e.contains("unknown field `colour`"), "{e}");
        // A misspelt required key shows as the key missing.
        let e = parse("[[accept]]\nlisten = \"1.2.3.4:1\"\nupsteam = \"x:1\"\nbroker_name = \"b\"\n").unwrap_err();
        assert!(e.contains("missing field `upstream`"), "{e}");
        assert!(parse("").unwrap_err().contains("no [[accept]] or [[connect]]"));
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
}
