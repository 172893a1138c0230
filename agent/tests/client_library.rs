//! A RocketMQ client library nobody here wrote (RocketMQ-Rust's `rocketmq-client-rust`)
//! producing and consuming through the admin guard, on the broker's main port and its VIP
//! port, the way clients reach a guarded broker in production: the broker binds 127.0.0.1 and
//! registers 127.0.0.2, where the guard owns the same port numbers, so the name server hands
//! every client the guard.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
#![recursion_limit = "512"]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rmq_agent::config::{Config, GuardKey, GuardListener};
use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::request::CreateTopicRequestHeader;
use rmq_testkit::{BrokerOptions, Cluster};
use support::clients::{Clients, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_library_produces_and_consumes_through_the_guard() {
    let options = BrokerOptions { advertised_ip: Some("127.0.0.2".into()), ..BrokerOptions::default() };
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(options)).await.unwrap().unwrap();
    let port = cluster.broker.port();
    let topic = "guard-client-topic";
    // The topic exists up front (created directly on the broker).
    Client::new(ClientConfig::new(cluster.broker.addr().to_string()))
        .call(&CreateTopicRequestHeader::new(topic, 4), &[])
        .await
        .unwrap();

    // The guard on the advertised address, in front of both client ports.
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("k");
    std::fs::write(&key_file, "s").unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cfg = Config::default();
    cfg.broker.enabled = false;
    cfg.host.enabled = false;
    cfg.guard.keys = vec![GuardKey::new("k", key_file)];
    let listener = |name: &str, p: u16| {
        GuardListener::new(
            name,
            std::net::SocketAddr::from(([127, 0, 0, 2], p)),
            std::net::SocketAddr::from(([127, 0, 0, 1], p)),
        )
    };
    cfg.guard.listeners = vec![listener("main", port), listener("vip", port - 2)];
    let agent = support::Agent::start(cfg).await;
    assert_eq!(cluster.broker.advertised_addr(), format!("127.0.0.2:{port}"));

    // The client library, pointed only at the name server.
    let ns = cluster.namesrv.addr().to_string();
    // The name server hands clients the guard's address, not the broker's. The broker
    // registers a new topic as it creates it, but a registration lost on a busy machine is
    // only repeated at its next period: wait for the route rather than ask once.
    let ns_client = Client::new(ClientConfig::new(ns.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let route: rmq_protocol::body::TopicRouteData = loop {
        let ext = [("topic", topic)].into_iter().collect();
        match ns_client.fetch(rmq_protocol::RequestCode::GET_ROUTEINFO_BY_TOPIC, Some(ext)).await {
            Ok(r) => break r,
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "no route for {topic}: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(route.broker_datas[0].master_addr(), Some(format!("127.0.0.2:{port}").as_str()));
    let clients = Clients::start("guard-client-test");
    let mut main = clients.producer("guard-pg-main", &ns, false).await;
    let mut vip = clients.producer("guard-pg-vip", &ns, true).await;
    send(&mut main, topic, 10).await;
    send(&mut vip, topic, 10).await;

    let (mut consumer, consumed) = clients.consumer("guard-cg", &ns, topic).await;

    // Everything went through the guard: its send counters show both ports, and the consumer
    // received all 20 messages over guarded connections. At least 10 each: the library sends
    // again on SYSTEM_BUSY, which a loaded broker answers (a send waited too long in its queue).
    let sends = |b: &str, l: &str| {
        rmq_testkit::expo::value(b, "rmq_guard_send_requests_total", &[("listener", l), ("topic", topic)])
            .unwrap_or(0.0)
    };
    let got = Arc::clone(&consumed);
    agent
        .wait_for("20 sends through the guard and 20 messages consumed", Duration::from_secs(60), move |b| {
            sends(b, "main") >= 10.0 && sends(b, "vip") >= 10.0 && got.load(Ordering::SeqCst) >= 20
        })
        .await;
    let body = agent.scrape().await;
    let pulls =
        rmq_testkit::expo::value(&body, "rmq_guard_requests_total", &[("listener", "main"), ("class", "data_read")])
            .unwrap_or(0.0);
    assert!(pulls >= 1.0, "the consumer pulled through the guard");

    consumer.shutdown().await;
    main.shutdown().await;
    vip.shutdown().await;
    agent.stop().await;
}
