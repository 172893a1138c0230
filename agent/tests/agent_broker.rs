//! The agent against a real RocketMQ broker: topics, groups, offsets and lag as exported
//! under rocketmq-exporter's names; deleted topics vanish; broker down and back.

#![allow(clippy::unwrap_used, clippy::manual_range_contains)] // test code: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use rmq_agent::remoting::{Client, ClientConfig};
use rmq_protocol::request::{
    CommandHeader as _, CreateTopicRequestHeader, DeleteTopicRequestHeader, SendMessageRequestHeaderV2,
    UpdateConsumerOffsetRequestHeader, encode_properties, subscription_group_body,
};
use rmq_protocol::{RequestCode, ResponseCode};
use rmq_testkit::expo::{all, value};
use rmq_testkit::{BrokerOptions, Cluster};
use support::{Agent, fast_config};

const WAIT: Duration = Duration::from_secs(60);

async fn send(c: &Client, topic: &str, queue: i32, i: usize) {
    let h = SendMessageRequestHeaderV2 {
        producer_group: "itest-producer".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: queue,
        born_timestamp: 1_700_000_000_000,
        properties: Some(encode_properties([("WAIT", "true")])),
        ..Default::default()
    };
    c.call(&h, format!("m{i}").as_bytes()).await.expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_groups_lag_deletes_and_broker_restarts() {
    let mut cluster = tokio::task::spawn_blocking(|| Cluster::start(BrokerOptions::default())).await.unwrap().unwrap();
    let c = Client::new(ClientConfig::new(cluster.broker.addr().to_string()));
    let agent = Agent::start(fast_config(cluster.broker.addr())).await;

    // A topic with 4 queues, 20 messages (5 per queue), a group that consumed 2 per queue.
    let (topic, group) = ("itest-lag-topic", "itest-lag-group");
    c.call(&CreateTopicRequestHeader::new(topic, 4), &[]).await.unwrap();
    let resp = c
        .request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, None, &subscription_group_body(group), None)
        .await
        .unwrap();
    assert_eq!(resp.code(), ResponseCode::SUCCESS, "{:?}", resp.header.remark);
    for i in 0..20 {
        send(&c, topic, i32::try_from(i % 4).unwrap(), i).await;
    }
    for q in 0..4 {
        let h = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id: q.to_string(),
            commit_offset: "2".into(),
        };
        let r = c.request(RequestCode::UPDATE_CONSUMER_OFFSET, Some(h.to_ext_fields()), &[], None).await.unwrap();
        assert_eq!(r.code(), ResponseCode::SUCCESS, "{:?}", r.header.remark);
    }

    let tg = [("topic", topic), ("group", group)];
    // The first cycle to see the commits may have started before them; wait for one that
    // also reports the backlog's age.
    let body = agent
        .wait_for("offsets and lag age of the new topic and group", WAIT, |b| {
            value(b, "rocketmq_producer_offset", &[("topic", topic)]) == Some(20.0)
                && value(b, "rocketmq_consumer_offset", &tg) == Some(8.0)
                && value(b, "rocketmq_group_get_latency_by_storetime", &tg).is_some_and(|v| v > 0.0)
                // The broker updates its put counter periodically, not on every put.
                && value(b, "rocketmq_brokeruntime_msg_put_total_today_now", &[]).is_some_and(|v| v >= 20.0)
        })
        .await;
    assert_eq!(value(&body, "rocketmq_group_diff", &tg), Some(12.0));
    assert_eq!(value(&body, "rocketmq_message_accumulation", &tg), Some(12.0));
    assert_eq!(value(&body, "rocketmq_consumer_lag_messages", &tg), Some(12.0));
    assert_eq!(all(&body, "rocketmq_queue_lag_messages", &tg).iter().map(|l| l.value).sum::<f64>(), 12.0);
    // Lag time: the last consumed messages were stored moments ago; positive and sane.
    let lag_ms = value(&body, "rocketmq_group_get_latency_by_storetime", &tg).unwrap();
    assert!(lag_ms > 0.0 && lag_ms < 600_000.0, "lag {lag_ms} ms");
    let lag_s = value(&body, "rocketmq_consumer_lag_seconds", &tg).unwrap();
    assert!((lag_s * 1000.0 - lag_ms).abs() < 1.0);
    // Labels the exporter's dashboards use.
    let line = &all(&body, "rocketmq_producer_offset", &[("topic", topic)])[0];
    let keys: Vec<&str> = line.labels.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["cluster", "broker", "topic"]);
    assert_eq!(value(&body, "rocketmq_broker_up", &[("broker", cluster.broker.name())]), Some(1.0));
    assert!(value(&body, "rocketmq_topic_messages_total", &[("topic", topic)]) == Some(20.0));

    // Delete the topic on the broker: its series are gone at the next cycle, no TTL ghosts.
    let r = c
        .request(
            RequestCode::DELETE_TOPIC_IN_BROKER,
            Some(DeleteTopicRequestHeader { topic: topic.into() }.to_ext_fields()),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.code(), ResponseCode::SUCCESS, "{:?}", r.header.remark);
    agent
        .wait_for("the deleted topic's series to vanish", WAIT, |b| {
            all(b, "rocketmq_producer_offset", &[("topic", topic)]).is_empty()
        })
        .await;

    // Broker down: up = 0, the agent stays healthy and keeps serving host metrics.
    let name = cluster.broker.name().to_owned();
    tokio::task::block_in_place(|| cluster.broker.stop());
    // The cycle's series are published just before its success is recorded: wait for both.
    let body = agent
        .wait_for("rocketmq_broker_up 0 and the failed cycle recorded", WAIT, |b| {
            value(b, "rocketmq_broker_up", &[("broker", &name)]) == Some(0.0)
                && value(b, "rmq_agent_collector_success", &[("collector", "broker")]) == Some(0.0)
        })
        .await;
    assert!(value(&body, "node_memory_MemTotal_bytes", &[]).unwrap() > 0.0);
    assert!(all(&body, "rocketmq_producer_offset", &[]).is_empty(), "no stale broker series while it is down");
    let addr = agent.addr;
    let health =
        tokio::task::spawn_blocking(move || rmq_testkit::http::get(addr, "/healthz", None).unwrap()).await.unwrap();
    assert_eq!(health.status, 200);

    // Back up: the agent reconnects by itself.
    tokio::task::block_in_place(|| cluster.broker.restart(&cluster.namesrv)).unwrap();
    agent
        .wait_for("rocketmq_broker_up 1 again", WAIT, |b| {
            value(b, "rocketmq_broker_up", &[("broker", &name)]) == Some(1.0)
        })
        .await;
    agent.stop().await;
}
