//! A daemon's life, the same for both binaries: bind, spawn named tasks that watch one stop
//! signal, tell systemd when ready (and ping its watchdog), reload on request, serve
//! `/metrics` until told to stop, then drain the tasks within a grace period.
//!
//! ```text
//! let mut svc = Service::new("rmq-x");
//! svc.spawn("collector", collect(svc.stop()));          // any task, by name
//! svc.spawn_reload(requests, move || apply_new_config()); // SIGHUP → reload, counted
//! let http = Service::bind(addr).await?;
//! svc.serve(http, registry, &cfg.http, shutdown, ready, "serving", grace).await
//! ```
//!
//! A task that ends before the stop, or fails, is logged with its name; so is one still
//! running when the grace period is over (it is then aborted).

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{Id, JoinSet};
use tracing::{debug, error, info, warn};

use crate::config::{DefaultListen, HttpConfig};
use crate::metrics::{Family, Registry};

/// The stop signal every task watches: it flips to `true` once, when the service stops.
pub type Stop = watch::Receiver<bool>;

/// Why a service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// An address could not be bound.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// Where.
        addr: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Serve(std::io::Error),
}

/// What a task's end means: `()` ends quietly; an `Err` is a failure, logged with the task's
/// name.
pub trait TaskOutcome: Send + 'static {
    /// The failure, if any.
    fn failure(self) -> Option<String>;
}

impl TaskOutcome for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<E: Display + Send + 'static> TaskOutcome for Result<(), E> {
    fn failure(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// Reloads counted by outcome, for a daemon's `…_reloads` metric.
#[derive(Debug, Default)]
pub struct Reloads {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Reloads {
    /// As a counter family `name` with label `label` = `ok` / `failed`.
    #[allow(clippy::cast_precision_loss)]
    pub fn family(&self, name: &'static str, help: &'static str, label: &'static str) -> Family {
        Family::counter(name, help)
            .with(vec![(label, "ok".to_owned())], self.ok.load(Ordering::Relaxed) as f64)
            .with(vec![(label, "failed".to_owned())], self.failed.load(Ordering::Relaxed) as f64)
    }
}

/// A running daemon's tasks and its stop signal.
#[derive(Debug)]
pub struct Service {
    name: &'static str,
    stop_tx: watch::Sender<bool>,
    tasks: JoinSet<()>,
    names: HashMap<Id, String>,
    reloads: std::sync::Arc<Reloads>,
}

impl Service {
    /// A service named `name` (log field) with no task yet.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            stop_tx: watch::channel(false).0,
            tasks: JoinSet::new(),
            names: HashMap::new(),
            reloads: std::sync::Arc::default(),
        }
    }

    /// The stop signal, for a task to watch.
    pub fn stop(&self) -> Stop {
        self.stop_tx.subscribe()
    }

    /// The reload counters ([`Service::spawn_reload`] counts into them).
    pub fn reloads(&self) -> std::sync::Arc<Reloads> {
        std::sync::Arc::clone(&self.reloads)
    }

    /// Runs `task` as the task `name`. Its end is logged with the name: an error always, an
    /// end before the stop as a warning.
    pub fn spawn<T: TaskOutcome>(&mut self, name: impl Into<String>, task: impl Future<Output = T> + Send + 'static) {
        let name = name.into();
        let stop = self.stop();
        let label = name.clone();
        let handle = self.tasks.spawn(async move {
            let failure = task.await.failure();
            let stopping = *stop.borrow();
            match (failure, stopping) {
                (Some(e), _) => error!(task = %label, error = %e, "task failed"),
                (None, false) => warn!(task = %label, "task ended before the service was stopped"),
                (None, true) => debug!(task = %label, "task stopped"),
            }
        });
        self.names.insert(handle.id(), name);
    }

    /// Runs the task `reload`: on each request, `apply` loads the configuration again and
    /// applies what it can, returning a summary to log (or why it failed; the running
    /// configuration is then kept). Outcomes are counted in [`Service::reloads`].
    pub fn spawn_reload<F>(&mut self, mut requests: mpsc::Receiver<()>, mut apply: F)
    where
        F: FnMut() -> Result<String, String> + Send + 'static,
    {
        let (reloads, mut stop) = (self.reloads(), self.stop());
        self.spawn("reload", async move {
            loop {
                tokio::select! {
                    req = requests.recv() => if req.is_none() { return },
                    _ = stop.changed() => return,
                }
                match apply() {
                    Ok(summary) => {
                        reloads.ok.fetch_add(1, Ordering::Relaxed);
                        info!("configuration reloaded: {summary}");
                    }
                    Err(e) => {
                        reloads.failed.fetch_add(1, Ordering::Relaxed);
                        error!(error = %e, "configuration reload failed; keeping the running configuration");
                    }
                }
            }
        });
    }

    /// Binds `addr`, naming it in the error.
    pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServiceError> {
        TcpListener::bind(addr).await.map_err(|cause| ServiceError::Bind { addr: addr.to_string(), cause })
    }

    /// Serves `registry` on `http` until `shutdown` resolves, then stops every task and
    /// waits at most `grace` for them. Readiness (`ready` gets the bound address, systemd
    /// gets `READY=1` and `status`) is told once everything is bound; the watchdog, when
    /// systemd asks for one, is the task `watchdog`.
    #[allow(clippy::too_many_arguments)]
    pub async fn serve<L: DefaultListen>(
        mut self,
        http: TcpListener,
        registry: Registry,
        cfg: &HttpConfig<L>,
        shutdown: impl Future<Output = ()> + Send + 'static,
        ready: Option<oneshot::Sender<SocketAddr>>,
        status: &str,
        grace: Duration,
    ) -> Result<(), ServiceError> {
        let local = http.local_addr().map_err(|cause| ServiceError::Bind { addr: cfg.listen.to_string(), cause })?;
        info!(service = self.name, listen = %local, "serving /metrics");
        if let Some(tx) = ready {
            // The caller may have stopped waiting; the service runs either way.
            let _ = tx.send(local);
        }
        crate::process::sd_notify(&format!("READY=1\nSTATUS={status}"));
        if let Some(ping) = crate::process::sd_watchdog(self.stop()) {
            self.spawn("watchdog", ping);
        }
        let (stop_tx, name) = (self.stop_tx.clone(), self.name);
        let served = crate::http::serve(http, self.name, registry, cfg, async move {
            shutdown.await;
            info!(service = name, "shutting down");
            crate::process::sd_notify("STOPPING=1");
            stop_tx.send_replace(true);
        })
        .await;
        self.stop_tx.send_replace(true);
        self.drain(grace).await;
        served.map_err(ServiceError::Serve)
    }

    /// Waits at most `grace` for every task to end, then aborts the rest, naming them.
    async fn drain(&mut self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(None) => return,
                Ok(Some(Ok((id, ())))) => {
                    self.names.remove(&id);
                }
                Ok(Some(Err(e))) => {
                    let task = self.names.remove(&e.id()).unwrap_or_default();
                    error!(task = %task, error = %e, "task panicked");
                }
                Err(_) => break,
            }
        }
        let mut left: Vec<&str> = self.names.values().map(String::as_str).collect();
        left.sort_unstable();
        warn!(?grace, tasks = ?left, "tasks still running after the grace period; abandoning them");
        self.tasks.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Anywhere;
    impl DefaultListen for Anywhere {
        const LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);
    }

    #[tokio::test]
    async fn a_bind_failure_carries_its_cause_in_the_message_only() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let e = Service::bind(taken.local_addr().unwrap()).await.unwrap_err();
        let text = e.to_string();
        assert_eq!(text.matches("Address already in use").count(), 1, "{text}");
        // A binary prints `{e:#}`, which appends every `source()`: the cause is in the text.
        assert!(std::error::Error::source(&e).is_none(), "{text}");
    }

    #[tokio::test]
    async fn serves_until_shutdown_then_drains_named_tasks() {
        let mut svc = Service::new("test");
        let (done_tx, done_rx) = oneshot::channel();
        let mut stop = svc.stop();
        svc.spawn("waits-for-stop", async move {
            let _ = stop.changed().await;
            let _ = done_tx.send(());
        });
        let (req_tx, req_rx) = mpsc::channel(1);
        let (applied_tx, mut applied_rx) = mpsc::channel(4);
        let mut n = 0;
        svc.spawn_reload(req_rx, move || {
            n += 1;
            let _ = applied_tx.try_send(n);
            if n == 1 { Ok("first".into()) } else { Err("second".into()) }
        });
        let reloads = svc.reloads();
        let cfg = HttpConfig::<Anywhere>::default();
        let http = Service::bind(cfg.listen).await.unwrap();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (shut_tx, shut_rx) = oneshot::channel::<()>();
        let running = tokio::spawn(async move {
            svc.serve(
                http,
                Registry::new(vec![]),
                &cfg,
                async move {
                    let _ = shut_rx.await;
                },
                Some(ready_tx),
                "test",
                Duration::from_secs(5),
            )
            .await
        });
        ready_rx.await.unwrap();
        for want in [1, 2] {
            req_tx.send(()).await.unwrap();
            assert_eq!(applied_rx.recv().await, Some(want));
        }
        shut_tx.send(()).unwrap();
        running.await.unwrap().unwrap();
        done_rx.await.unwrap();
        let f = reloads.family("r", "h", "outcome");
        let values: Vec<f64> = f
            .samples
            .iter()
            .map(|s| match s {
                crate::metrics::Sample::Value(_, value) => *value,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(values, [1.0, 1.0]);
    }
}
