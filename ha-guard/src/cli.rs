//! The options of `rmq-ha-guard run` and how they override the configuration file. Each
//! option also comes from an environment variable (`RMQ_HA_GUARD_…`, listed in
//! docs/environment.md); a flag beats its variable, and both beat the file. The tunnels and keys
//! always come from the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use rmq_runtime::config::{ConfigError, LogFormat, LogLevel};

use crate::config::Config;

/// `rmq-ha-guard run`'s options. Each names the configuration key it overrides.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct RunArgs {
    /// TOML configuration file (the tunnels and their keys).
    #[arg(long, env = "RMQ_HA_GUARD_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
    /// `http.listen`: where /metrics and /healthz are served.
    #[arg(long, env = "RMQ_HA_GUARD_LISTEN", value_name = "IP:PORT")]
    pub listen: Option<SocketAddr>,
    /// `log.format`.
    #[arg(long, env = "RMQ_HA_GUARD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// `log.level`: a tracing filter such as `info` or `rmq_ha_guard=debug,warn`.
    #[arg(long, env = "RMQ_HA_GUARD_LOG", value_name = "FILTER")]
    pub log_level: Option<LogLevel>,
}

impl RunArgs {
    /// Writes every option that was given over the configuration (values are checked
    /// afterwards, by [`Config::validate`]).
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(l) = self.listen {
            cfg.http.listen = l;
        }
        if let Some(f) = self.log_format {
            cfg.log.format = f;
        }
        if let Some(l) = &self.log_level {
            cfg.log.level = l.clone();
        }
    }

    /// The file with the options written over it, validated.
    pub fn load(&self) -> Result<Config, ConfigError> {
        // Not validated before the options apply: they may fix what they override.
        let mut cfg = rmq_runtime::config::load_file(&self.config, Config::parse)?;
        self.apply(&mut cfg);
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_runtime::process::{args_command, parse_flags};

    #[test]
    fn every_option_has_its_environment_variable() {
        for arg in args_command::<RunArgs>().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let want = match long {
                "log-level" => "RMQ_HA_GUARD_LOG".to_owned(),
                l => format!("RMQ_HA_GUARD_{}", l.to_uppercase().replace('-', "_")),
            };
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(want.as_str()), "--{long}");
        }
    }

    #[test]
    fn options_land_on_their_configuration_keys() {
        let args = parse_flags::<RunArgs>(&[
            "--config=/c.toml",
            "--listen=127.0.0.1:19559",
            "--log-format=json",
            "--log-level=debug",
        ])
        .unwrap();
        let mut cfg = Config::default();
        args.apply(&mut cfg);
        assert_eq!(cfg.http.listen.to_string(), "127.0.0.1:19559");
        assert_eq!((cfg.log.format, cfg.log.level.as_str()), (LogFormat::Json, "debug"));
        let mut untouched = Config::default();
        parse_flags::<RunArgs>(&["--config=/c.toml"]).unwrap().apply(&mut untouched);
        assert_eq!(untouched, Config::default());
        assert!(parse_flags::<RunArgs>(&["--config=/c.toml", "--log-format=xml"]).is_err());
    }
}
