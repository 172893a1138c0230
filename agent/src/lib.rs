//! rmq-agent: the per-host RocketMQ sidecar. This crate is the library behind the
//! `rmq-agent` binary, so integration tests drive the same code. What it shares with
//! `rmq-ha-guard` (process setup, accept loop, HTTP endpoint, metrics model, TLS, secrets)
//! lives in `rmq-runtime`; the wire formats live in `rmq-protocol`.
//!
//! - [`app`]: the running agent, a list of named tasks with one stop signal.
//! - [`config`]: the TOML configuration.
//! - [`cli`]: the options of `rmq-agent run` (flags and environment variables) over it.
//! - [`collector`]: what is measured (broker, host, the put probe) and the loop that runs it.
//! - [`remoting`]: the async RocketMQ remoting client and the one frame reader.
//! - [`push`]: remote-write to central collectors, with a durable spool.
//! - [`guard`]: the admin guard in front of the broker's client ports.
//! - [`egress`]: the name-server egress that signs the local broker's route writes.
//! - [`commands`]: one-shot commands (`admin`, `probe`).

pub mod app;
pub mod cli;
pub mod collector;
pub mod commands;
pub mod config;
pub mod egress;
pub mod guard;
pub mod push;
pub mod remoting;
