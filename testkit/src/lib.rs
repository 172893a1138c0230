//! Test support for rmq-sidecar: real RocketMQ name servers and brokers (the RocketMQ-Rust
//! binaries that `scripts/install-test-deps.sh` builds into a cache outside the repo) on
//! free loopback ports with temporary store directories.
//!
//! - Readiness is a protocol answer, not a sleep: a name server is up when it answers a
//!   request; a broker when it answers GET_BROKER_RUNTIME_INFO *and* the name server lists
//!   it.
//! - Every process is torn down when its handle drops — and also when the test process
//!   dies without unwinding, because each runs under a small watchdog that ends it when
//!   our end of its stdin closes.
//! - [`wire`] is a blocking request/response helper for probes and simple test calls;
//!   [`fixtures`] builds common broker state with it.

mod bins;
mod cluster;
pub mod expo;
pub mod fixtures;
pub mod http;
mod ports;
mod process;
pub mod tap;
pub mod wire;

pub use bins::{ROCKETMQ_RUST_VERSION, RocketmqBins};
pub use cluster::{Broker, BrokerOptions, Cluster, Namesrv};
pub use ports::{free_port, free_port_run};
pub use process::{KillOnDrop, ManagedProcess};
