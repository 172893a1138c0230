//! rmq-ha-guard: an authenticated tunnel for RocketMQ master-slave HA replication. The
//! library behind the `rmq-ha-guard` binary.
//!
//! - [`config`]: the TOML configuration.
//! - [`cli`]: the options of `rmq-ha-guard run` (flags and environment variables) over it.
//! - [`tunnel`]: the accept (master host) and connect (slave host) ends.
//! - [`budget`]: the pre-authentication budget (connections still proving themselves).
//! - [`relay`]: relaying an established tunnel.
//! - [`inspect`]: reading the HA stream (classic or 5.x auto-switch) as it passes.
//! - [`stats`]: counters and per-slave replication state as metric families.
//! - [`tls`]: optional TLS between the guards.
//! - [`app`]: the running process (listeners, `/metrics`, reload, drain).

pub mod app;
pub mod budget;
pub mod cli;
pub mod config;
pub mod inspect;
pub mod relay;
pub mod stats;
pub mod tls;
pub mod tunnel;
