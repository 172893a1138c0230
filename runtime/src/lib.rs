//! rmq-runtime: what both daemons (`rmq-agent` and `rmq-ha-guard`) run on. Nothing here
//! knows RocketMQ; a binary depends on this crate, never on the other binary.
//!
//! - [`process`]: logging, signals, systemd notify and watchdog.
//! - [`service`]: a daemon's named tasks, readiness, reload and drain.
//! - [`accept`]: accepting under a connection limit.
//! - [`activity`]: when a relayed connection last carried bytes.
//! - [`http`]: the capped `/metrics` and `/healthz` endpoint.
//! - [`metrics`]: the snapshot model every collector publishes, and its encoders.
//! - [`config`]: the configuration sections both daemons share.
//! - [`secret`]: key files.
//! - [`tls`]: TLS material from PEM files.
//! - [`replay`]: the process-wide cache of signature nonces.

pub mod accept;
pub mod activity;
pub mod config;
pub mod http;
pub mod metrics;
pub mod process;
pub mod replay;
pub mod secret;
pub mod service;
pub mod tls;
