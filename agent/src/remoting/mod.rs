//! The agent's RocketMQ remoting client: one TCP connection to the local broker (or name
//! server), shared by every request, responses matched to requests by opaque.

mod client;
mod error;
pub mod frames;

pub(crate) use client::success;
pub use client::{Client, ClientConfig, Credentials, MAX_BACKOFF, Response};
pub use error::ClientError;
