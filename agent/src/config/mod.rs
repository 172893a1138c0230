//! The agent's configuration: one TOML file, every field optional with a sane default,
//! unknown keys rejected. Values are typed when the file is read (a misspelt choice, a bad
//! address or duration is a parse error naming its key); then each section checks itself
//! and every problem is reported at once with its path. Field-by-field documentation:
//! `docs/config.md`.
//!
//! One file per section: [`broker`] (`[broker]`, `[namesrv]`), [`host`], [`guard`],
//! [`remote_write`], [`put_probe`]; `[http]` and `[log]` are rmq-runtime's.

pub mod broker;
pub mod egress;
pub mod guard;
pub mod host;
pub mod put_probe;
pub mod remote_write;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use rmq_runtime::config::duration::secs;
use rmq_runtime::config::{DefaultListen, Problems};
use serde::Deserialize;

pub use broker::{BrokerConfig, DEFAULT_BROKER, HeaderFormat, NamesrvConfig};
pub use egress::{EgressConfig, EgressRoute};
pub use guard::{GuardConfig, GuardKey, GuardListener, GuardRole};
pub use host::HostConfig;
pub use put_probe::PutProbeConfig;
pub use remote_write::{RemoteWriteConfig, RemoteWriteEndpoint};
pub use rmq_runtime::config::{ConfigError, ConfigProblem, HostPort, LogConfig, LogFormat, LogLevel};

/// The agent's `[http]` default: every interface, port 9558 (not 5557, rocketmq-exporter's
/// and 5.x brokers' own endpoint, nor 5559, rocketmq-exporter's OTLP receiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentListen;

impl DefaultListen for AgentListen {
    const LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9558);
}

/// `[http]`, with the agent's default address.
pub type HttpConfig = rmq_runtime::config::HttpConfig<AgentListen>;

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
    pub namesrv_egress: EgressConfig,
    /// Pushing to central collectors (Prometheus remote-write).
    pub remote_write: RemoteWriteConfig,
    /// The active store-latency probe.
    pub put_probe: PutProbeConfig,
    /// How long in-flight work may take on SIGTERM/SIGINT. Key: `shutdown_grace_seconds`.
    #[serde(rename = "shutdown_grace_seconds", deserialize_with = "secs")]
    pub shutdown_grace: Duration,
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
            namesrv_egress: EgressConfig::default(),
            remote_write: RemoteWriteConfig::default(),
            put_probe: PutProbeConfig::default(),
            shutdown_grace: Duration::from_secs(10),
        }
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
        rmq_runtime::config::parse_toml(text).map_err(guard::explain_retired_keys)
    }

    /// Has every section check itself; reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Problems::default();
        self.http.check("http", &mut p);
        self.broker.check("broker", &mut p);
        self.host.check("host", &mut p);
        self.guard.check("guard", &mut p);
        self.namesrv_egress.check("namesrv_egress", &mut p);
        self.remote_write.check("remote_write", &mut p);
        self.put_probe.check("put_probe", &mut p);
        p.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::Scheme;

    fn problems(c: &Config) -> Vec<ConfigProblem> {
        match c.validate() {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c, Config::default());
        c.validate().unwrap();
        assert_eq!(c.http.listen.to_string(), "0.0.0.0:9558");
        assert_eq!(c.broker.addr.as_str(), DEFAULT_BROKER);
        assert_eq!((c.broker.interval, c.broker.serialize_type), (Duration::from_secs(15), HeaderFormat::Json));
    }

    #[test]
    fn durations_keep_their_keys_and_whole_number_values() {
        let c = Config::parse(
            "shutdown_grace_seconds = 3\n[broker]\ninterval_seconds = 30\ntimeout_seconds = 20\n\
             request_timeout_ms = 250\n[put_probe]\ninterval_ms = 500\n[[guard.listeners]]\n\
             listen = \"127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\nframe_timeout_ms = 700\nidle_timeout_seconds = 9\n",
        )
        .unwrap();
        assert_eq!(c.shutdown_grace, Duration::from_secs(3));
        assert_eq!((c.broker.interval, c.broker.timeout), (Duration::from_secs(30), Duration::from_secs(20)));
        assert_eq!(c.broker.request_timeout, Duration::from_millis(250));
        assert_eq!(c.put_probe.interval, Duration::from_millis(500));
        let l = &c.guard.listeners[0].limits;
        assert_eq!((l.frame_timeout, l.idle_timeout), (Duration::from_millis(700), Duration::from_secs(9)));
        assert_eq!(l.max_connections, crate::guard::Limits::DEFAULT.max_connections);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e = Config::parse("[broker]\nadress = \"x\"\n").unwrap_err();
        assert!(e.contains("adress"), "{e}");
        let e = Config::parse("colour = 1\n").unwrap_err();
        assert!(e.contains("colour"), "{e}");
        let e =
            Config::parse("[[guard.listeners]]\nlisten = \"127.0.0.1:1\"\nupstream = \"h:2\"\nmax_conections = 1\n")
                .unwrap_err();
        assert!(e.starts_with("guard.listeners[0]") && e.contains("max_conections"), "{e}");
    }

    /// What used to fall back to a default (or pass until use) is now an error at its key.
    #[test]
    fn former_fallbacks_are_errors_naming_the_key() {
        for (text, path, needle) in [
            ("[log]\nformat = \"xml\"\n", "log.format", "xml"),
            ("[log]\nlevel = \"[[[\"\n", "log.level", "not a valid log filter"),
            ("[broker]\nserialize_type = \"yaml\"\n", "broker.serialize_type", "yaml"),
            ("[broker]\ninterval_seconds = \"15s\"\n", "broker.interval_seconds", "whole number of seconds"),
            ("[broker]\nrequest_timeout_ms = -5\n", "broker.request_timeout_ms", "whole number of milliseconds"),
            ("shutdown_grace_seconds = 1.5\n", "shutdown_grace_seconds", "whole number of seconds"),
            ("[put_probe]\nscheme = \"hmac\"\n", "put_probe.scheme", "rmq-hmac-v1"),
            ("[broker]\naddr = \"no-port\"\n", "broker.addr", "not host:port"),
            ("[namesrv]\naddr = \":9876\"\n", "namesrv.addr", "not host:port"),
            ("[http]\nlisten = \"nowhere\"\n", "http.listen", "not an IP:port"),
            (
                "[[guard.listeners]]\nlisten = \"127.0.0.1:1\"\nupstream = \"h:2\"\nrole = \"controller\"\n",
                "guard.listeners[0].role",
                "namesrv",
            ),
            (
                "[[guard.listeners]]\nlisten = \"127.0.0.1:1\"\nupstream = \"h:2\"\nschemes = [\"acl-v2\"]\n",
                "guard.listeners[0].schemes[0]",
                "rmq-hmac-v1",
            ),
            (
                "[[guard.listeners]]\nlisten = \"127.0.0.1:1\"\nupstream = \"nowhere\"\n",
                "guard.listeners[0].upstream",
                "not host:port",
            ),
            (
                // Limits are read through the listener's table: the path stops at the
                // listener, the message names the unit.
                "[[guard.listeners]]\nlisten = \"127.0.0.1:1\"\nupstream = \"h:2\"\nframe_timeout_ms = \"1s\"\n",
                "guard.listeners[0]",
                "whole number of milliseconds",
            ),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.starts_with(&format!("{path}: ")) && e.contains(needle), "{text:?} gave:\n{e}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let c = Config::parse(
            r#"
            [http]
            max_connections = 0
            [broker]
            interval_seconds = 0
            concurrency = 0
            acl_access_key = "ak"
            [remote_write]
            interval_seconds = 0
            [[remote_write.endpoints]]
            name = "a"
            url = "ftp://x"
            spool_dir = "/tmp/x"
            [put_probe]
            enabled = true
            key_id = "k"
            "#,
        )
        .unwrap();
        let paths: Vec<String> = problems(&c).into_iter().map(|p| p.path).collect();
        for want in [
            "http.max_connections",
            "broker.interval_seconds",
            "broker.timeout_seconds",
            "broker.concurrency",
            "broker.acl_secret_file",
            "remote_write.interval_seconds",
            "remote_write.endpoints[0].url",
            "put_probe.key_id",
        ] {
            assert!(paths.iter().any(|p| p == want), "{want} missing from {paths:?}");
        }
    }

    #[test]
    fn guard_listener_defaults_and_typed_fields() {
        let c =
            Config::parse("[[guard.listeners]]\nname = \"b\"\nlisten = \"127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\n")
                .unwrap();
        let l = &c.guard.listeners[0];
        assert_eq!(
            l,
            &GuardListener::new("b", "127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse::<HostPort>().unwrap())
        );
        assert_eq!(l.role, GuardRole::Broker);
        assert_eq!(l.schemes, [Scheme::RmqHmacV1], "acl-v1 is opt-in");
        let c = Config::parse(
            "[[guard.listeners]]\nlisten = \"127.0.0.1:1\"\nupstream = \"h:2\"\nrole = \"namesrv\"\n\
             schemes = [\"acl-v1\", \"rmq-hmac-v1\"]\nallow_unsigned = [21]\nrequire_signed = [15]\n\
             targets = [\"broker-a\"]\n[[guard.keys]]\nid = \"k\"\nsecret_file = \"/k\"\nacl_v1_codes = [17, 207]\n",
        )
        .unwrap();
        assert_eq!(c.guard.listeners[0].role.policy_role(), rmq_protocol::policy::Role::Namesrv);
        assert_eq!(c.guard.listeners[0].label(), "127.0.0.1:1");
        assert_eq!(c.guard.keys[0].key.id, "k");
        assert_eq!(c.guard.keys[0].acl_v1_codes.as_deref(), Some(&[17, 207][..]));
    }

    #[test]
    fn retired_guard_keys_say_what_replaced_them() {
        for (key, hint) in [("add_codes", "require_signed"), ("remove_codes", "allow_unsigned")] {
            let e = Config::parse(&format!(
                "[[guard.listeners]]\nlisten = \"127.0.0.1:1\"\nupstream = \"h:2\"\n{key} = [21]\n"
            ))
            .unwrap_err();
            assert!(e.contains(&format!("`{key}` was removed")) && e.contains(hint), "{e}");
        }
    }

    #[test]
    fn guard_lists_targets_limits_and_addresses_are_checked() {
        let c = Config::parse(
            "[[guard.listeners]]\nname = \"b\"\nlisten = \"127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\n\
             allow_unsigned = [21, 26]\nrequire_signed = [26]\ntargets = [\"broker a\"]\nschemes = []\n\
             max_frame_bytes = 100\nidle_timeout_seconds = 0\n\
             [[guard.listeners]]\nlisten = \"127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\n\
             [[guard.keys]]\nid = \"bad id\"\nsecret_file = \"/nonexistent/k\"\n",
        )
        .unwrap();
        let problems = problems(&c);
        let found = |path: &str, text: &str| problems.iter().any(|p| p.path == path && p.message.contains(text));
        assert!(found("guard.listeners[0].allow_unsigned", "26 also in require_signed"), "{problems:?}");
        assert!(found("guard.listeners[0].targets", "broker a"), "{problems:?}");
        assert!(found("guard.listeners[0].schemes", "at least one"), "{problems:?}");
        assert!(found("guard.listeners[0].max_frame_bytes", "outside 4096"), "{problems:?}");
        assert!(found("guard.listeners[0].idle_timeout_seconds", "at least 1"), "{problems:?}");
        assert!(found("guard.listeners[1].listen", "used twice"), "{problems:?}");
        assert!(found("guard.keys[0].id", "bad id"), "{problems:?}");
        assert!(found("guard.keys[0].secret_file", "/nonexistent/k"), "{problems:?}");
    }
}
