//! The admin guard: a proxy in front of the broker's client ports (and optionally a name
//! server) that lets data-path frames through and demands a valid signature on every other
//! request code. [`session`] decides (no I/O); [`relay`] moves the bytes; [`listeners`]
//! builds and binds the configured listeners and reloads their policies; [`limits`] is
//! what one listener allows.

pub mod auth;
pub mod limits;
pub mod listeners;
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
pub use limits::Limits;
pub use listeners::Listeners;
pub use metrics::families;
pub use proxy_protocol::ProxyProtocol;
pub use relay::{Shared, serve};
pub use stats::GuardStats;
