//! The admin guard: a proxy in front of the broker's client ports (and optionally a name
//! server) that lets data-path frames through untouched and demands a valid HMAC signature
//! on administrative request codes.

pub mod auth;
pub mod proxy;
pub mod replay;

pub use auth::{Decision, Policy, Scheme};
pub use proxy::{GuardStats, Limits, Shared, serve};
pub use replay::{NonceCache, NonceRejection};

mod metrics;
pub use metrics::families;
