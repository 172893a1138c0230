//! Accepting connections under a limit, shared by the admin guard and `rmq-ha-guard`: a
//! connection over the limit is closed at once, and accept errors (EMFILE and friends) back
//! off instead of spinning or ending the listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What [`LimitedAcceptor::next`] produced.
#[derive(Debug)]
pub enum Accepted {
    /// A connection and the slot it holds until the permit drops.
    Conn(TcpStream, SocketAddr, OwnedSemaphorePermit),
    /// A connection refused (already closed) because the limit was reached.
    OverLimit(SocketAddr),
}

/// A listener with a connection limit.
#[derive(Debug)]
pub struct LimitedAcceptor {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    backoff: Duration,
}

impl LimitedAcceptor {
    /// Accepts on `listener`, at most `max_connections` at once.
    pub fn new(listener: TcpListener, max_connections: usize) -> Self {
        Self { listener, slots: Arc::new(Semaphore::new(max_connections)), backoff: FIRST_BACKOFF }
    }

    /// The next connection. Accept errors are logged under `name` and retried after a
    /// growing pause (10 ms to 1 s).
    pub async fn next(&mut self, name: &str) -> Accepted {
        loop {
            match self.listener.accept().await {
                Ok((sock, peer)) => {
                    self.backoff = FIRST_BACKOFF;
                    return match Arc::clone(&self.slots).try_acquire_owned() {
                        Ok(permit) => Accepted::Conn(sock, peer, permit),
                        Err(_) => Accepted::OverLimit(peer),
                    };
                }
                Err(e) => {
                    warn!(listener = %name, error = %e, "accept failed");
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}
