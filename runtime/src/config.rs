//! Configuration sections both daemons share: the HTTP endpoint, logging, and the error
//! type that reports every problem in a file at once with its path.

use std::path::PathBuf;

use serde::Deserialize;

/// Default HTTP listen address. Not 5557 (rocketmq-exporter and 5.x brokers' own endpoint)
/// nor 5559 (rocketmq-exporter's OTLP receiver).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9558";

/// `[http]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port` to serve on.
    pub listen: String,
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// A request head must arrive whole within this many seconds of the connection opening
    /// (or of the previous response), and a blocked response write must make progress
    /// within it; otherwise the connection is closed.
    pub header_timeout_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { listen: DEFAULT_LISTEN.into(), max_connections: 64, header_timeout_seconds: 10 }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `rmq_agent=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "human".into(), level: "info".into() }
    }
}

/// One problem in a configuration, with the path of the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted path, e.g. `broker.interval_seconds`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown key, wrong type, …).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// The values do not make sense together.
    #[error("{} problem(s) in the configuration:\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigProblem>),
}

/// `host:port` with a non-empty host and a port in 1..=65535.
pub fn valid_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}
