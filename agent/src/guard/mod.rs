//! The admin guard: a proxy in front of the broker's client ports (and optionally a name
//! server) that lets data-path frames through and demands a valid signature on every other
//! request code. [`session`] decides (no I/O); [`relay`] moves the bytes.

pub mod auth;
pub mod log_budget;
mod metrics;
mod opaques;
pub mod proxy_protocol;
pub mod relay;
pub mod routes;
pub mod session;
pub mod stats;
mod tally;

pub use auth::{Decision, Policy, Scheme};
pub use metrics::families;
pub use proxy_protocol::ProxyProtocol;
pub use relay::{Limits, Shared, serve};
pub use stats::GuardStats;
