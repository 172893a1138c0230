//! Where the RocketMQ-Rust binaries are.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The name server and broker executables.
#[derive(Debug, Clone)]
pub struct RocketmqBins {
    /// `rocketmq-namesrv-rust`.
    pub namesrv: PathBuf,
    /// `rocketmq-broker-rust`.
    pub broker: PathBuf,
}

/// The RocketMQ-Rust version the install script builds.
pub const ROCKETMQ_RUST_VERSION: &str = "1.0.0";

impl RocketmqBins {
    /// `$RMQ_SIDECAR_ROCKETMQ_BIN`, else `$RMQ_SIDECAR_CACHE/rocketmq-<v>/bin`, else
    /// `${XDG_CACHE_HOME:-~/.cache}/rmq-sidecar/rocketmq-<v>/bin` (the install script's default).
    pub fn locate() -> anyhow::Result<Self> {
        let dir = match std::env::var_os("RMQ_SIDECAR_ROCKETMQ_BIN") {
            Some(d) => PathBuf::from(d),
            None => {
                let cache = match std::env::var_os("RMQ_SIDECAR_CACHE") {
                    Some(c) => PathBuf::from(c),
                    None => {
                        let base = std::env::var_os("XDG_CACHE_HOME")
                            .map(PathBuf::from)
                            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
                            .context("neither XDG_CACHE_HOME nor HOME is set")?;
                        base.join("rmq-sidecar")
                    }
                };
                cache.join(format!("rocketmq-{ROCKETMQ_RUST_VERSION}")).join("bin")
            }
        };
        let bins = Self { namesrv: dir.join("rocketmq-namesrv-rust"), broker: dir.join("rocketmq-broker-rust") };
        for p in [&bins.namesrv, &bins.broker] {
            if !p.is_file() {
                bail!(
                    "{} not found: run `scripts/install-test-deps.sh` (or set RMQ_SIDECAR_ROCKETMQ_BIN)",
                    p.display()
                );
            }
        }
        Ok(bins)
    }
}
