//! `[log]`: the format and the level filter, both checked when the file is read.

use std::fmt;

use serde::Deserialize;

/// `[log]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `rmq_agent=debug,info`.
    pub level: LogLevel,
}

/// `log.format`
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Text for people.
    #[default]
    Human,
    /// One JSON object a line.
    Json,
}

/// `log.level`: a tracing filter directive, known to parse.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LogLevel(String);

/// Why a text is not a log filter.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a valid log filter: {why}")]
pub struct BadLogLevel {
    text: String,
    why: String,
}

impl LogLevel {
    /// `warn`, for one-shot commands.
    pub fn warn() -> Self {
        Self("warn".into())
    }

    /// The directive.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LogLevel {
    fn default() -> Self {
        Self("info".into())
    }
}

impl TryFrom<String> for LogLevel {
    type Error = BadLogLevel;

    fn try_from(text: String) -> Result<Self, BadLogLevel> {
        match tracing_subscriber::EnvFilter::try_new(&text) {
            Ok(_) => Ok(Self(text)),
            Err(e) => Err(BadLogLevel { text, why: e.to_string() }),
        }
    }
}

impl std::str::FromStr for LogLevel {
    type Err = BadLogLevel;

    fn from_str(s: &str) -> Result<Self, BadLogLevel> {
        Self::try_from(s.to_owned())
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_level_are_checked_when_read() {
        let c: LogConfig = toml::from_str("format = \"json\"\nlevel = \"rmq_agent=debug,info\"\n").unwrap();
        assert_eq!((c.format, c.level.as_str()), (LogFormat::Json, "rmq_agent=debug,info"));
        let e = toml::from_str::<LogConfig>("format = \"xml\"\n").unwrap_err().to_string();
        assert!(e.contains("xml") && e.contains("human") && e.contains("json"), "{e}");
        let e = toml::from_str::<LogConfig>("level = \"[[[\"\n").unwrap_err().to_string();
        assert!(e.contains("not a valid log filter"), "{e}");
    }
}
