//! After a failed cycle the agent tries again within a second or two, not a whole interval
//! later. Both tests run the broker collector on a one-hour interval, so `rocketmq_broker_up`
//! can only turn 1 within the test's wait through a retry.
//!
//! - A Java 4.9.7 broker answers GET_BROKER_RUNTIME_INFO with SYSTEM_ERROR
//!   (NoSuchElementException from its TPS sampler) during its first seconds. RocketMQ-Rust does
//!   not, so that is an in-process fake.
//! - A real RocketMQ-Rust broker that is down when the cycle runs and comes back.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::{RequestCode, ResponseCode, SerializeType};
use rmq_testkit::expo::value;
use rmq_testkit::{BrokerOptions, Cluster};
use support::{Agent, fast_config};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(60);
const HOUR: u64 = 3600;

/// The broker collector on a one-hour interval. Request and cycle timeouts are far above any
/// answer here, so a slow machine cannot add a timed-out attempt to the ones each test counts.
fn hourly(addr: std::net::SocketAddr) -> rmq_agent::config::Config {
    let mut cfg = fast_config(addr);
    cfg.broker.interval = Duration::from_secs(HOUR);
    cfg.broker.timeout = Duration::from_secs(30);
    cfg.broker.request_timeout = Duration::from_secs(10);
    cfg
}

/// Answers like a Java 4.9.7 broker in its first seconds: the first `errors` runtime-info
/// requests get SYSTEM_ERROR, later ones a runtime table. The broker config names the broker;
/// every other request is not supported.
async fn serve_starting_broker(mut s: TcpStream, errors: usize, runtime_calls: Arc<AtomicUsize>) {
    let mut buf = BytesMut::new();
    loop {
        while let Some(f) = RawFrame::split_from(&mut buf).unwrap() {
            let req = f.header().unwrap();
            let (resp, body): (_, &[u8]) = match req.request_code() {
                RequestCode::GET_BROKER_RUNTIME_INFO => {
                    if runtime_calls.fetch_add(1, Ordering::SeqCst) < errors {
                        let remark = "java.util.NoSuchElementException".to_owned();
                        (req.response_to(ResponseCode::SYSTEM_ERROR, Some(remark)), b"")
                    } else {
                        let table = br#"{"table":{"brokerVersionDesc":"V4_9_7","commitLogMaxOffset":"0"}}"#;
                        (req.response_to(ResponseCode::SUCCESS, None), table)
                    }
                }
                RequestCode::GET_BROKER_CONFIG => (
                    req.response_to(ResponseCode::SUCCESS, None),
                    b"brokerClusterName=C\nbrokerName=java-broker\nbrokerId=0\n",
                ),
                _ => (req.response_to(ResponseCode::REQUEST_CODE_NOT_SUPPORTED, None), b""),
            };
            let wire = frame::encode_to_bytes(&resp, SerializeType::JSON, body).unwrap();
            if s.write_all(&wire).await.is_err() {
                return;
            }
        }
        if matches!(s.read_buf(&mut buf).await, Ok(0) | Err(_)) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_errors_while_a_java_broker_starts_are_retried() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let served = Arc::clone(&calls);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve_starting_broker(s, 3, Arc::clone(&served)));
        }
    });
    let agent = Agent::start(hourly(addr)).await;
    let body = agent
        .wait_for("rocketmq_broker_up 1 after three SYSTEM_ERROR answers", WAIT, |b| {
            value(b, "rocketmq_broker_up", &[("broker", "java-broker")]) == Some(1.0)
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 4, "three refusals, then the answer");
    let failures = value(&body, "rmq_agent_collector_failures_total", &[("collector", "broker")]);
    assert_eq!(failures, Some(3.0));
    let refused = [("code", "GET_BROKER_RUNTIME_INFO"), ("reason", "server_error")];
    assert_eq!(value(&body, "rmq_agent_broker_request_failures_total", &refused), Some(3.0));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_back_from_a_restart_is_seen_without_waiting_an_interval() {
    let mut cluster = tokio::task::spawn_blocking(|| Cluster::start(BrokerOptions::default())).await.unwrap().unwrap();
    tokio::task::block_in_place(|| cluster.broker.stop());
    let agent = Agent::start(hourly(cluster.broker.addr())).await;
    agent
        .wait_for("the first cycle to find the broker down", WAIT, |b| value(b, "rocketmq_broker_up", &[]) == Some(0.0))
        .await;
    tokio::task::block_in_place(|| cluster.broker.restart(&cluster.namesrv)).unwrap();
    let name = cluster.broker.name().to_owned();
    // By the time the broker is back, retries are up to 30 s apart (MAX_RETRY): room for the
    // next one and one more, still far short of the hour.
    let body = agent
        .wait_for("rocketmq_broker_up 1 once the broker is back", 2 * WAIT, |b| {
            value(b, "rocketmq_broker_up", &[("broker", &name)]) == Some(1.0)
        })
        .await;
    assert!(value(&body, "rmq_agent_collector_failures_total", &[("collector", "broker")]).unwrap() >= 1.0);
    agent.stop().await;
}
