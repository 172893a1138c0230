//! rmq-agent: the per-host RocketMQ sidecar. This crate is the library behind the
//! `rmq-agent` binary, so integration tests drive the same code.
//!
//! - [`app`]: the running agent (collectors, HTTP endpoint, graceful stop).
//! - [`config`]: the TOML configuration.
//! - [`collector`]: the broker and host collectors and the loop that runs them.
//! - [`metrics`]: snapshot families and their exposition.
//! - [`remoting`]: the async RocketMQ remoting client.
//! - [`accept`]: accepting under a connection limit (both guards).
//! - [`activity`]: when a relayed connection last carried bytes (both guards).
//! - [`probe`]: a one-shot look at a broker (`rmq-agent probe`).
//! - [`push`]: remote-write to central collectors, with a durable spool.
//! - [`tls`]: TLS material from PEM files.
//! - [`put_probe`]: the active store-latency probe.
//! - [`process`]: logging and signals, shared with `rmq-ha-guard`.

pub mod admin;
pub mod app;
pub mod collector;
pub mod config;
pub mod guard;
pub mod probe;
pub mod push;
pub mod put_probe;
pub mod remoting;
