//! rmq-agent: the per-host RocketMQ sidecar. This crate is the library behind the
//! `rmq-agent` binary, so integration tests can drive the same code.
//!
//! - [`remoting`]: the async RocketMQ remoting client the collectors use.
//! - [`probe`]: a one-shot look at the local broker (`rmq-agent probe`).

pub mod probe;
pub mod remoting;
