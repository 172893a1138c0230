//! Shared helpers for the agent's integration tests: start the agent in-process on a free
//! port, scrape it, and wait for conditions on what it exports; [`clients`] holds real
//! producers and consumers.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use rmq_agent::config::Config;
use tokio::sync::oneshot;

pub mod clients;

/// A running agent; stops when dropped.
pub struct Agent {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// Starts the agent with `cfg` (its listen address is replaced by 127.0.0.1:0) and waits
    /// for the HTTP endpoint to be bound.
    pub async fn start(cfg: Config) -> Agent {
        Self::start_with_reload(cfg, None).await
    }

    /// Like [`Agent::start`], with a reloader.
    pub async fn start_with_reload(mut cfg: Config, reload: Option<rmq_agent::app::Reloader>) -> Agent {
        cfg.http.listen = "127.0.0.1:0".parse().unwrap();
        cfg.shutdown_grace = Duration::from_secs(2);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            if let Err(e) = rmq_agent::app::run(cfg, shutdown, Some(ready_tx), reload).await {
                panic!("agent failed: {e}");
            }
        });
        let addr = ready_rx.await.expect("agent reports its address");
        Agent { addr, stop: Some(stop_tx), task: Some(task) }
    }

    /// `/metrics` in the classic text format.
    pub async fn scrape(&self) -> String {
        let addr = self.addr;
        tokio::task::spawn_blocking(move || rmq_testkit::http::get(addr, "/metrics", None).expect("scrape").body)
            .await
            .unwrap()
    }

    /// Scrapes until `cond` holds, or panics after `timeout` with the last scrape.
    pub async fn wait_for(&self, what: &str, timeout: Duration, cond: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let body = self.scrape().await;
            if cond(&body) {
                return body;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; last scrape:\n{}", tail(&body));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops the agent and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn tail(s: &str) -> String {
    s.lines()
        .filter(|l| {
            l.starts_with("rocketmq_broker_up") || l.contains("topic=") || l.starts_with("rmq_agent_collector_success")
        })
        .take(40)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A config for a fast test: 1 s cycles against `broker`.
pub fn fast_config(broker: SocketAddr) -> Config {
    let mut c = Config::default();
    c.broker.addr = broker.into();
    c.broker.interval = Duration::from_secs(1);
    c.broker.timeout = Duration::from_secs(1);
    c.broker.request_timeout = Duration::from_millis(900);
    c.host.interval = Duration::from_secs(1);
    c
}
