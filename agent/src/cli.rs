//! The options of `rmq-agent run` and how they override the configuration file. Each option
//! also comes from an environment variable (`RMQ_AGENT_…`, listed in docs/environment.md),
//! so a container can be configured without a file; a flag beats its variable, and both beat
//! the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use rmq_runtime::config::{HostPort, LogFormat, LogLevel};

use crate::config::{Config, RemoteWriteEndpoint};

/// The remote-write endpoint that `--remote-write-url` defines (or changes, when the file
/// has an endpoint of this name).
pub const REMOTE_WRITE_ENDPOINT: &str = "default";

/// Where that endpoint spools unless `--remote-write-spool-dir` says otherwise (beneath the
/// unit's `StateDirectory=`).
pub const DEFAULT_SPOOL_DIR: &str = "/var/lib/rmq-agent/spool/default";

/// `rmq-agent run`'s options. Each names the configuration key it overrides.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct RunArgs {
    /// TOML configuration file; without one the defaults apply (local broker
    /// 127.0.0.1:10911, HTTP on 0.0.0.0:9558).
    #[arg(long, env = "RMQ_AGENT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `broker.addr`: the local broker's remoting address.
    #[arg(long, env = "RMQ_AGENT_BROKER_ADDR", value_name = "HOST:PORT")]
    pub broker_addr: Option<HostPort>,
    /// `namesrv.addr`: the local name server's address.
    #[arg(long, env = "RMQ_AGENT_NAMESRV_ADDR", value_name = "HOST:PORT")]
    pub namesrv_addr: Option<HostPort>,
    /// `http.listen`: where /metrics and /healthz are served.
    #[arg(long, env = "RMQ_AGENT_LISTEN", value_name = "IP:PORT")]
    pub listen: Option<SocketAddr>,
    /// `log.format`.
    #[arg(long, env = "RMQ_AGENT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// `log.level`: a tracing filter such as `info` or `rmq_agent=debug,warn`.
    #[arg(long, env = "RMQ_AGENT_LOG", value_name = "FILTER")]
    pub log_level: Option<LogLevel>,
    /// `broker.cluster`: the cluster label (otherwise learned from the name server).
    #[arg(long, env = "RMQ_AGENT_CLUSTER", value_name = "NAME")]
    pub cluster: Option<String>,
    /// `broker.store_dir`: the broker's store root, whose filesystem is always reported.
    #[arg(long, env = "RMQ_AGENT_STORE_DIR", value_name = "DIR")]
    pub store_dir: Option<PathBuf>,
    /// `broker.acl_access_key`: ACL 1.0 account for a broker with `aclEnable=true`.
    #[arg(long, env = "RMQ_AGENT_ACL_ACCESS_KEY", value_name = "KEY", requires = "acl_secret_file")]
    pub acl_access_key: Option<String>,
    /// `broker.acl_secret_file`: file holding that account's secret.
    #[arg(long, env = "RMQ_AGENT_ACL_SECRET_FILE", value_name = "FILE", requires = "acl_access_key")]
    pub acl_secret_file: Option<PathBuf>,
    /// `host.enabled`: collect host metrics.
    #[arg(long, env = "RMQ_AGENT_HOST_METRICS", value_name = "BOOL")]
    pub host_metrics: Option<bool>,
    /// `put_probe.enabled`: send a probe message every second and time the broker's answer.
    #[arg(long, env = "RMQ_AGENT_PUT_PROBE", value_name = "BOOL")]
    pub put_probe: Option<bool>,
    /// The URL of the remote-write endpoint named `default` (added with the defaults, or its
    /// URL replaced when the file has one of that name).
    #[arg(long, env = "RMQ_AGENT_REMOTE_WRITE_URL", value_name = "URL")]
    pub remote_write_url: Option<String>,
    /// That endpoint's `spool_dir` [default when added: /var/lib/rmq-agent/spool/default].
    #[arg(long, env = "RMQ_AGENT_REMOTE_WRITE_SPOOL_DIR", value_name = "DIR", requires = "remote_write_url")]
    pub remote_write_spool_dir: Option<PathBuf>,
    /// That endpoint's `bearer_token_file`.
    #[arg(long, env = "RMQ_AGENT_REMOTE_WRITE_BEARER_TOKEN_FILE", value_name = "FILE", requires = "remote_write_url")]
    pub remote_write_bearer_token_file: Option<PathBuf>,
    /// `remote_write.external_labels`, added to the file's (a name in both: this value).
    /// Repeat the flag, or separate labels with commas.
    #[arg(
        long = "external-label",
        env = "RMQ_AGENT_EXTERNAL_LABELS",
        value_name = "NAME=VALUE",
        value_delimiter = ',',
        value_parser = parse_label
    )]
    pub external_labels: Vec<(String, String)>,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_owned(), value.to_owned())),
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

impl RunArgs {
    /// Writes every option that was given over the configuration (values are checked
    /// afterwards, by [`Config::validate`]).
    pub fn apply(&self, cfg: &mut Config) {
        fn set<T: Clone>(field: &mut T, value: Option<&T>) {
            if let Some(v) = value {
                *field = v.clone();
            }
        }
        set(&mut cfg.broker.addr, self.broker_addr.as_ref());
        if let Some(a) = &self.namesrv_addr {
            cfg.namesrv.addr = Some(a.clone());
        }
        set(&mut cfg.http.listen, self.listen.as_ref());
        set(&mut cfg.log.format, self.log_format.as_ref());
        set(&mut cfg.log.level, self.log_level.as_ref());
        if let Some(c) = &self.cluster {
            cfg.broker.cluster = Some(c.clone());
        }
        if let Some(d) = &self.store_dir {
            cfg.broker.store_dir = Some(d.clone());
        }
        if let Some(k) = &self.acl_access_key {
            cfg.broker.acl_access_key = Some(k.clone());
        }
        if let Some(f) = &self.acl_secret_file {
            cfg.broker.acl_secret_file = Some(f.clone());
        }
        set(&mut cfg.host.enabled, self.host_metrics.as_ref());
        set(&mut cfg.put_probe.enabled, self.put_probe.as_ref());
        if let Some(url) = &self.remote_write_url {
            let endpoints = &mut cfg.remote_write.endpoints;
            let i = match endpoints.iter().position(|e| e.name == REMOTE_WRITE_ENDPOINT) {
                Some(i) => i,
                None => {
                    endpoints.push(RemoteWriteEndpoint::new(REMOTE_WRITE_ENDPOINT, url.clone(), DEFAULT_SPOOL_DIR));
                    endpoints.len() - 1
                }
            };
            let e = &mut endpoints[i];
            e.url = url.clone();
            set(&mut e.spool_dir, self.remote_write_spool_dir.as_ref());
            if let Some(f) = &self.remote_write_bearer_token_file {
                e.bearer_token_file = Some(f.clone());
            }
        }
        for (name, value) in &self.external_labels {
            cfg.remote_write.external_labels.insert(name.clone(), value.clone());
        }
    }

    /// The configuration these options describe: the file (if any) or the defaults, with
    /// the options written over it, validated.
    pub fn load(&self) -> Result<Config, crate::config::ConfigError> {
        // Parsed, not validated: the file may be complete only with the options.
        let mut cfg = match &self.config {
            Some(path) => rmq_runtime::config::load_file(path, Config::parse)?,
            None => Config::default(),
        };
        self.apply(&mut cfg);
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_runtime::process::{args_command, parse_flags};

    fn parse(args: &[&str]) -> RunArgs {
        parse_flags::<RunArgs>(args).unwrap()
    }

    #[test]
    fn every_option_has_its_environment_variable() {
        for arg in args_command::<RunArgs>().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let want = match long {
                "log-level" => "RMQ_AGENT_LOG".to_owned(),
                "external-label" => "RMQ_AGENT_EXTERNAL_LABELS".to_owned(),
                l => format!("RMQ_AGENT_{}", l.to_uppercase().replace('-', "_")),
            };
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(want.as_str()), "--{long}");
        }
    }

    #[test]
    fn options_land_on_their_configuration_keys() {
        let mut cfg = Config::default();
        cfg.remote_write.external_labels.insert("cluster".into(), "from-file".into());
        cfg.remote_write.external_labels.insert("dc".into(), "east".into());
        parse(&[
            "--broker-addr=127.0.0.1:20911",
            "--namesrv-addr=127.0.0.1:9876",
            "--listen=127.0.0.1:19558",
            "--log-format=json",
            "--log-level=debug",
            "--cluster=prod-a",
            "--store-dir=/store",
            "--acl-access-key=ak",
            "--acl-secret-file=/sk",
            "--host-metrics=false",
            "--put-probe=true",
            "--remote-write-url=http://127.0.0.1:8428/api/v1/write",
            "--remote-write-bearer-token-file=/token",
            "--external-label=cluster=prod-a,pod=broker-a-0",
            "--external-label",
            "zone=z1",
        ])
        .apply(&mut cfg);
        assert_eq!(cfg.broker.addr.as_str(), "127.0.0.1:20911");
        assert_eq!(cfg.namesrv.addr.as_ref().map(HostPort::as_str), Some("127.0.0.1:9876"));
        assert_eq!(cfg.http.listen.to_string(), "127.0.0.1:19558");
        assert_eq!((cfg.log.format, cfg.log.level.as_str()), (LogFormat::Json, "debug"));
        assert_eq!(cfg.broker.cluster.as_deref(), Some("prod-a"));
        assert_eq!(cfg.broker.store_dir, Some(PathBuf::from("/store")));
        assert_eq!(cfg.broker.acl_access_key.as_deref(), Some("ak"));
        assert_eq!(cfg.broker.acl_secret_file, Some(PathBuf::from("/sk")));
        assert!(!cfg.host.enabled && cfg.put_probe.enabled);
        let [e] = &cfg.remote_write.endpoints[..] else { panic!("one endpoint: {:?}", cfg.remote_write.endpoints) };
        assert_eq!((e.name.as_str(), e.url.as_str()), ("default", "http://127.0.0.1:8428/api/v1/write"));
        assert_eq!(e.spool_dir, PathBuf::from(DEFAULT_SPOOL_DIR));
        assert_eq!(e.bearer_token_file, Some(PathBuf::from("/token")));
        let labels: Vec<(&str, &str)> =
            cfg.remote_write.external_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(labels, [("cluster", "prod-a"), ("dc", "east"), ("pod", "broker-a-0"), ("zone", "z1")]);
    }

    #[test]
    fn no_options_change_nothing() {
        let mut cfg = Config::default();
        parse(&[]).apply(&mut cfg);
        assert_eq!(cfg, Config::default());
    }

    #[test]
    fn the_url_changes_a_default_endpoint_of_the_file_and_keeps_the_others() {
        let mut cfg = Config::parse(
            "[[remote_write.endpoints]]\nname = \"central\"\nurl = \"http://a/\"\nspool_dir = \"/s/a\"\n\
             [[remote_write.endpoints]]\nname = \"default\"\nurl = \"http://b/\"\nspool_dir = \"/s/b\"\n\
             timeout_seconds = 7\n",
        )
        .unwrap();
        parse(&["--remote-write-url", "https://c/", "--remote-write-spool-dir", "/s/c"]).apply(&mut cfg);
        let e = &cfg.remote_write.endpoints;
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].url.as_str(), e[0].spool_dir.to_str()), ("http://a/", Some("/s/a")));
        assert_eq!(
            (e[1].url.as_str(), e[1].spool_dir.to_str(), e[1].timeout.as_secs()),
            ("https://c/", Some("/s/c"), 7)
        );
    }

    #[test]
    fn malformed_options_are_usage_errors() {
        let bad: [&[&str]; 5] = [
            &["--log-format=xml"],
            &["--host-metrics=maybe"],
            &["--external-label=novalue"],
            &["--remote-write-spool-dir=/s"],
            &["--acl-access-key=ak"],
        ];
        for args in bad {
            assert!(parse_flags::<RunArgs>(args).is_err(), "{args:?}");
        }
    }
}
