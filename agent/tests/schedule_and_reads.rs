//! Two things users ask for that no exporter has, against a real RocketMQ-Rust broker:
//! scheduled-message backlog per delay level, and how far behind the commitlog's head each
//! group reads (cold reads).
//!
//! The broker runs with `accessMessageInMemoryMaxRatio = 0`, so every read with a backlog is a
//! disk read by the broker's own rule and the agent looks up the exact distance
//! (QUERY_CONSUME_QUEUE) instead of bounding it from its own marks.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use rmq_protocol::body::{BrokerRuntimeInfo, FromBody as _, QueryConsumeQueueResponse};
use rmq_protocol::request::{
    CommandHeader as _, CreateTopicRequestHeader, QueryConsumeQueueRequestHeader, SendMessageRequestHeaderV2,
    encode_properties,
};
use rmq_protocol::{Header, RequestCode, ResponseCode, SerializeType};
use rmq_testkit::expo::{all, value};
use rmq_testkit::{BrokerOptions, Cluster, wire};
use support::{Agent, fast_config};

const WAIT: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(10);

fn call(broker: SocketAddr, h: &Header, body: &[u8]) -> bytes::Bytes {
    let (r, body) = wire::call(broker, h, SerializeType::JSON, body, TIMEOUT).unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}: {:?}", RequestCode(h.code), r.remark);
    body
}

fn send_delayed(broker: SocketAddr, topic: &str, level: u8, i: usize) {
    let h = SendMessageRequestHeaderV2 {
        producer_group: "sched-producer".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 1,
        born_timestamp: 1_700_000_000_000,
        properties: Some(encode_properties([("DELAY", level.to_string().as_str()), ("WAIT", "true")])),
        ..Default::default()
    };
    call(broker, &h.to_header(10), format!("delayed {i}").as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_backlog_per_level_and_how_far_behind_groups_read() {
    let options =
        BrokerOptions { extra_store_toml: "accessMessageInMemoryMaxRatio = 0".into(), ..BrokerOptions::default() };
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(options)).await.unwrap().unwrap();
    let broker = cluster.broker.addr();
    let next_read = tokio::task::spawn_blocking(move || {
        // A group that consumed 2 of 6 messages: it next reads queue offset 2.
        rmq_testkit::fixtures::lagging_group(broker, "cold-topic", "cold-group", 6, 2).unwrap();
        // Delay level 18 (2 h) holds three messages; level 1 (1 s) delivers its two at once.
        call(broker, &CreateTopicRequestHeader::new("sched-topic", 1).to_header(1), &[]);
        for i in 0..3 {
            send_delayed(broker, "sched-topic", 18, i);
        }
        for i in 0..2 {
            send_delayed(broker, "sched-topic", 1, i);
        }
        let q = QueryConsumeQueueRequestHeader {
            topic: "cold-topic".into(),
            queue_id: 0,
            index: 2,
            count: 1,
            consumer_group: None,
        };
        QueryConsumeQueueResponse::decode(&call(broker, &q.to_header(12), &[])).unwrap().queue_data[0].physic_offset
    })
    .await
    .unwrap();

    let agent = Agent::start(fast_config(broker)).await;
    let level = |l: &'static str| [("level", l)];
    let body = agent
        .wait_for("delay-level backlog", WAIT, |b| {
            value(b, "rocketmq_schedule_backlog_messages", &level("18")) == Some(3.0)
                && value(b, "rocketmq_schedule_delivered_messages_total", &level("1")) == Some(2.0)
        })
        .await;
    // Level 18 waits for its 2 hours, on time; level 1 delivered everything.
    let l18 = &all(&body, "rocketmq_schedule_backlog_messages", &level("18"))[0];
    assert!(l18.labels.iter().any(|(k, v)| k == "delay" && v == "2h"), "{:?}", l18.labels);
    assert_eq!(value(&body, "rocketmq_schedule_overdue_seconds", &level("18")), Some(0.0));
    assert_eq!(value(&body, "rocketmq_schedule_backlog_messages", &level("1")), Some(0.0));
    assert_eq!(value(&body, "rocketmq_schedule_overdue_seconds", &level("1")), Some(0.0));
    // Levels never used have no series.
    assert_eq!(all(&body, "rocketmq_schedule_backlog_messages", &[]).len(), 2);

    // Delivered messages were written to the commitlog again; nothing is written from here on.
    let head = tokio::task::spawn_blocking(move || {
        let runtime = call(broker, &Header::request(RequestCode::GET_BROKER_RUNTIME_INFO, 11), &[]);
        BrokerRuntimeInfo::decode(&runtime).unwrap().i64("commitLogMaxOffset").unwrap()
    })
    .await
    .unwrap();
    assert!(head > next_read);
    let tg = [("topic", "cold-topic"), ("group", "cold-group")];
    #[allow(clippy::cast_precision_loss)]
    let body = agent
        .wait_for("the group's exact read distance", WAIT, |b| {
            value(b, "rocketmq_consumer_fall_behind_bytes", &tg) == Some((head - next_read) as f64)
        })
        .await;
    // The broker reads nothing from memory at ratio 0: every backlog read is a disk read.
    assert_eq!(value(&body, "rocketmq_broker_memory_read_limit_bytes", &[]), Some(0.0));
    agent.stop().await;
}
