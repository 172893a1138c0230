//! The store-latency probe against the real broker, behind the admin guard: it creates its
//! topic with a signed request, records every send, and leaves real groups' lag alone.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use rmq_agent::config::{GuardKey, GuardListener};
use rmq_agent::guard::Scheme;
use rmq_testkit::expo::{all, value};
use rmq_testkit::{Cluster, free_port};
use support::{Agent, fast_config};

const WAIT: Duration = Duration::from_secs(60);
const PROBE_TOPIC: &str = "itest-put-probe";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_times_every_send_and_leaves_group_lag_alone() {
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    // A real group with a known lag: 6 messages, 2 consumed.
    let (topic, group) = ("itest-probe-real-topic", "itest-probe-real-group");
    let broker = cluster.broker.addr();
    tokio::task::spawn_blocking(move || rmq_testkit::fixtures::lagging_group(broker, topic, group, 6, 2))
        .await
        .unwrap()
        .unwrap();

    // The agent reaches the broker through its own admin guard, so the probe's create-topic
    // must be signed.
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("probe-key");
    std::fs::write(&key, "probe-secret").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let guard_addr = format!("127.0.0.1:{}", free_port().unwrap());
    let mut cfg = fast_config(guard_addr.parse().unwrap());
    cfg.guard.keys = vec![GuardKey { id: "probe".into(), secret_file: key.clone(), acl_v1_codes: None, brokers: None }];
    cfg.guard.listeners = vec![GuardListener {
        name: "main".into(),
        listen: guard_addr.clone(),
        upstream: cluster.broker.addr().to_string(),
        // The guard denies by default, so the collector's reads need a signature too: it signs
        // every request with ACL 1.0 (broker.acl_*), which this listener accepts.
        schemes: vec![Scheme::AclV1, Scheme::RmqHmacV1],
        ..GuardListener::default()
    }];
    cfg.broker.acl_access_key = Some("probe".into());
    cfg.broker.acl_secret_file = Some(key.clone());
    cfg.put_probe.enabled = true;
    cfg.put_probe.topic = PROBE_TOPIC.into();
    cfg.put_probe.interval_ms = 100;
    cfg.put_probe.key_id = Some("probe".into());
    cfg.put_probe.key_file = Some(key);
    cfg.validate().unwrap();
    let agent = Agent::start(cfg).await;

    let tg = [("topic", topic), ("group", group)];
    let lag_before =
        agent.wait_for("the real group's lag", WAIT, |b| value(b, "rocketmq_group_diff", &tg) == Some(4.0)).await;
    assert_eq!(value(&lag_before, "rocketmq_group_diff", &tg), Some(4.0));
    let pt = [("topic", PROBE_TOPIC)];
    let body = agent
        .wait_for("20 probe sends recorded", WAIT, |b| {
            value(b, "rmq_put_probe_latency_seconds_count", &pt).is_some_and(|n| n >= 20.0)
                // The collector's cycle sees the stored probe messages a moment later.
                && value(b, "rocketmq_producer_offset", &pt).is_some_and(|n| n >= 20.0)
        })
        .await;
    // The topic was created through the guard with a signature.
    assert!(
        value(&body, "rmq_guard_admin_requests_total", &[("listener", "main"), ("outcome", "allowed")])
            .is_some_and(|v| v >= 1.0)
    );
    // Buckets add up to the count, and the count to the sends (none failed).
    let count = value(&body, "rmq_put_probe_latency_seconds_count", &pt).unwrap();
    let inf = value(&body, "rmq_put_probe_latency_seconds_bucket", &[("topic", PROBE_TOPIC), ("le", "+Inf")]).unwrap();
    assert_eq!(inf, count);
    let buckets = all(&body, "rmq_put_probe_latency_seconds_bucket", &pt);
    assert_eq!(buckets.len(), 97, "MQCloud's 96 segments plus +Inf");
    assert!(buckets.windows(2).all(|w| w[0].value <= w[1].value), "cumulative");
    assert!(
        all(&body, "rmq_put_probe_failures_total", &pt).is_empty(),
        "failures: {:?}",
        all(&body, "rmq_put_probe_failures_total", &[])
    );
    let p99 = value(&body, "rmq_put_probe_latency_quantile_seconds", &[("topic", PROBE_TOPIC), ("quantile", "0.99")])
        .unwrap();
    assert!(p99 > 0.0 && p99 <= 3.5, "p99 {p99}");
    // The probe topic's messages are nobody's lag; the real group's lag did not move.
    let offsets = value(&body, "rocketmq_producer_offset", &pt).unwrap();
    assert!(offsets >= 20.0, "probe topic offsets {offsets}");
    assert!(all(&body, "rocketmq_group_diff", &pt).is_empty());
    assert_eq!(value(&body, "rocketmq_group_diff", &tg), Some(4.0));
    agent.stop().await;
}
