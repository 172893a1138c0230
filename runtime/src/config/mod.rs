//! Configuration pieces both daemons share. A file is parsed into typed sections (enums,
//! addresses and durations are typed by serde, so a misspelt value is a parse error naming
//! its key), then each section checks what types cannot say and every problem is reported at
//! once with its dotted path.
//!
//! - [`http`]: the `[http]` section, whose default address each binary names.
//! - [`log`]: the `[log]` section.
//! - [`keys`]: a signing key entry (`id` and `secret_file`).
//! - [`listener`]: the keys every listening table has (`name`, `listen`).
//! - [`addr`]: `host:port` and `IP:port` values.
//! - [`duration`]: whole seconds or milliseconds read into a `Duration`.

pub mod addr;
pub mod duration;
pub mod http;
pub mod keys;
pub mod listener;
pub mod log;

use std::path::{Path, PathBuf};

pub use addr::HostPort;
pub use http::{DefaultListen, HttpConfig};
pub use keys::KeyConfig;
pub use listener::{ListenerConfig, Listens};
pub use log::{LogConfig, LogFormat, LogLevel};

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
    #[error("cannot read {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown key, wrong type, unknown choice).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The dotted path of the key, then the parser's message (which shows the line).
        message: String,
    },
    /// The values do not make sense together.
    #[error("{} problem(s) in the configuration:\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigProblem>),
}

/// Collects every problem a configuration's sections find, each with its dotted path.
#[derive(Debug, Default)]
pub struct Problems(Vec<ConfigProblem>);

impl Problems {
    /// Records that the field at `path` is wrong.
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem { path: path.into(), message: message.into() });
    }

    /// Records `field` of the section at `at` (see [`join`]).
    pub fn at(&mut self, at: &str, field: &str, message: impl Into<String>) {
        self.add(join(at, field), message);
    }

    /// Records "must be at least 1" for `field` when `value` is zero (a count, or a
    /// `Duration`).
    pub fn nonzero<T: PartialEq + Default>(&mut self, at: &str, field: &str, value: T) {
        if value == T::default() {
            self.at(at, field, "must be at least 1");
        }
    }

    /// The problems so far.
    pub fn list(&self) -> &[ConfigProblem] {
        &self.0
    }

    /// `Ok` when nothing was recorded, else every problem.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.0.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(self.0)) }
    }
}

/// `at.field`, or `field` at the top level (`at` empty).
pub fn join(at: &str, field: &str) -> String {
    if at.is_empty() { field.to_owned() } else { format!("{at}.{field}") }
}

/// Reads the file at `path` and parses it with `parse` (no cross-field checks: the caller
/// validates, possibly after writing command-line options over the result). A read failure is
/// [`ConfigError::Read`], a parse failure [`ConfigError::Parse`], both naming the file.
pub fn load_file<T>(path: &Path, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read { path: path.into(), cause })?;
    parse(&text).map_err(|message| ConfigError::Parse { path: path.into(), message })
}

/// Parses TOML text into `T`. A failure names the dotted path of the offending key before
/// the parser's message (which shows the line), e.g. `log.format: … unknown variant`.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let message = message.trim_end();
        if path.is_empty() || path == "." { message.to_owned() } else { format!("{path}: {message}") }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        log: LogConfig,
    }

    #[test]
    fn a_parse_error_starts_with_the_key_path() {
        let e = parse_toml::<Doc>("[log]\nformat = \"xml\"\n").unwrap_err();
        assert!(e.starts_with("log.format: "), "{e}");
        assert!(e.contains("xml") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn problems_are_kept_in_order_with_paths() {
        let mut p = Problems::default();
        p.at("", "a", "first");
        p.at("b[0]", "c", "second");
        p.nonzero("b[0]", "d", 0_u64);
        p.nonzero("b[0]", "e", 3_u64);
        let ConfigError::Invalid(list) = p.finish().unwrap_err() else { panic!("invalid") };
        let paths: Vec<&str> = list.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["a", "b[0].c", "b[0].d"]);
    }
}
