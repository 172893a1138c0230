//! `rocketmq_client_*` and `rocketmq_producer_count` with `collect_clients` on, against a real
//! RocketMQ-Rust broker and clients from RocketMQ-Rust's `rocketmq-client-rust`: the broker
//! relays GET_CONSUMER_RUNNING_INFO to the push consumer, which answers with its own
//! statistics, and lists the producer in GET_ALL_PRODUCER_INFO. Off by default, nothing of it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
#![recursion_limit = "512"]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::request::CreateTopicRequestHeader;
use rmq_testkit::expo::{all, value};
use rmq_testkit::{BrokerOptions, Cluster};
use support::clients::{Clients, send};
use support::{Agent, fast_config};

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_clients_and_producers_when_enabled() {
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(BrokerOptions::default())).await.unwrap().unwrap();
    let (topic, group, pgroup) = ("cs-topic", "cs-group", "cs-producers");
    Client::new(ClientConfig::new(cluster.broker.addr().to_string()))
        .call(&CreateTopicRequestHeader::new(topic, 2), &[])
        .await
        .unwrap();

    let clients = Clients::start("client-stats-test");
    let ns = cluster.namesrv.addr().to_string();
    let mut producer = clients.producer(pgroup, &ns, false).await;
    let (mut consumer, consumed) = clients.consumer(group, &ns, topic).await;
    send(&mut producer, topic, 10).await;

    // Off by default: the families are not there at all.
    let off = Agent::start(fast_config(cluster.broker.addr())).await;
    let body = off
        .wait_for("a cycle that sees the consumer online", WAIT, |b| {
            value(b, "rocketmq_group_count", &[("group", group)]) == Some(1.0)
        })
        .await;
    assert!(all(&body, "rocketmq_client_consume_ok_msg_tps", &[]).is_empty());
    assert!(all(&body, "rocketmq_producer_count", &[]).is_empty());
    off.stop().await;

    let mut cfg = fast_config(cluster.broker.addr());
    cfg.broker.collect_clients = true;
    cfg.broker.interval = std::time::Duration::from_secs(2);
    cfg.broker.timeout = std::time::Duration::from_secs(2);
    cfg.broker.request_timeout = std::time::Duration::from_millis(1500);
    cfg.broker.client_timeout = std::time::Duration::from_millis(1500);
    let agent = Agent::start(cfg).await;
    let got = Arc::clone(&consumed);
    let tg = [("group", group), ("topic", topic)];
    let body = agent
        .wait_for("the consumer's own statistics and the producer count", WAIT, move |b| {
            got.load(Ordering::SeqCst) >= 10
                && value(b, "rocketmq_client_consume_ok_msg_tps", &tg).is_some()
                && value(b, "rocketmq_producer_count", &[("group", pgroup)]) == Some(1.0)
        })
        .await;
    let line = &all(&body, "rocketmq_client_consumer_pull_tps", &tg)[0];
    let keys: Vec<&str> = line.labels.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["cluster", "broker", "clientAddr", "clientId", "group", "topic"]);
    for family in [
        "rocketmq_client_consume_fail_msg_count",
        "rocketmq_client_consume_fail_msg_tps",
        "rocketmq_client_consume_rt",
        "rocketmq_client_consumer_pull_rt",
    ] {
        assert_eq!(all(&body, family, &tg).len(), 1, "{family}");
    }
    assert_eq!(value(&body, "rocketmq_client_consume_fail_msg_count", &tg), Some(0.0));

    consumer.shutdown().await;
    producer.shutdown().await;
    agent.stop().await;
}
