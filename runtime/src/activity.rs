//! When a relayed connection last carried bytes, shared lock-free by its two directions; both
//! guards close connections that stay quiet too long with it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Milliseconds since the connection opened, at its last byte.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    /// A connection opening now.
    pub fn new() -> Self {
        Self { opened: Instant::now(), last_ms: AtomicU64::new(0) }
    }

    /// Records that bytes moved now.
    pub fn touch(&self) {
        self.last_ms.store(u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// How long nothing has moved.
    pub fn quiet_for(&self) -> Duration {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Resolves once nothing has moved for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        loop {
            let quiet = self.quiet_for();
            if quiet >= idle {
                return;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    }
}
