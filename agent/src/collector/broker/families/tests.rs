//! The family mapping on canned cycle data.

use std::collections::BTreeMap;

use rmq_protocol::body::{
    BrokerRuntimeInfo, BrokerStatsData, BrokerStatsItem, Connection, ConsumeStats, ConsumerConnection, MessageQueue,
    OffsetWrapper, TopicOffset, TopicStatsTable,
};

use super::super::fetch::{Fetched, Identity};
use super::super::latency::PutLatency;
use super::{FamilyOptions, families};
use rmq_runtime::metrics::{Family, Sample};

fn mq(topic: &str, q: i32) -> MessageQueue {
    MessageQueue { topic: topic.into(), broker_name: "broker-a".into(), queue_id: q }
}

fn stats(offsets: &[(&str, i32, i64)]) -> TopicStatsTable {
    TopicStatsTable {
        offset_table: offsets
            .iter()
            .map(|(t, q, max)| (mq(t, *q), TopicOffset { min_offset: 0, max_offset: *max, last_update_timestamp: 0 }))
            .collect(),
        topic_put_tps: None,
    }
}

fn canned() -> Fetched {
    let mut runtime = BrokerRuntimeInfo::default();
    for (k, v) in [
        ("brokerVersionDesc", "V5_3_1"),
        ("msgPutTotalTodayNow", "30"),
        ("putTps", "1.5 2.5 "),
        ("getTransferedTps", "0.5 0.5 0.5"),
        ("putLatency99", "0,25"),
        ("bootTimestamp", "1700000000000"),
        ("commitLogDirCapacity", "Total : 1.0 GiB, Free : 512.0 MiB."),
        (
            "putMessageDistributeTime",
            "[<=0ms]:1 [0~10ms]:20 [10~50ms]:0 [50~100ms]:0 [100~200ms]:0 [200~500ms]:0 [500ms~1s]:0 [1~2s]:0 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:0 ",
        ),
    ] {
        runtime.table.insert(k.into(), v.into());
    }
    let now = 1_700_000_100_000;
    let consume = ConsumeStats {
        offset_table: [
            (
                mq("T1", 0),
                OffsetWrapper {
                    broker_offset: 10,
                    consumer_offset: 4,
                    pull_offset: None,
                    last_timestamp: now - 30_000,
                },
            ),
            (
                mq("T1", 1),
                OffsetWrapper { broker_offset: 5, consumer_offset: 5, pull_offset: None, last_timestamp: now - 1_000 },
            ),
            (
                mq("%RETRY%G1", 0),
                OffsetWrapper { broker_offset: 3, consumer_offset: 1, pull_offset: None, last_timestamp: 0 },
            ),
        ]
        .into_iter()
        .collect(),
        consume_tps: None,
    };
    let mut topic_stats = BTreeMap::new();
    topic_stats.insert("T1".to_owned(), stats(&[("T1", 0, 10), ("T1", 1, 5)]));
    topic_stats.insert("%RETRY%G1".to_owned(), stats(&[("%RETRY%G1", 0, 3)]));
    topic_stats.insert("%DLQ%G1".to_owned(), stats(&[("%DLQ%G1", 0, 2)]));
    let mut st = BTreeMap::new();
    let item = |tps| BrokerStatsData {
        stats_minute: BrokerStatsItem { sum: 7, tps: Some(tps), avgpt: None },
        ..Default::default()
    };
    st.insert(("TOPIC_PUT_NUMS", "T1".to_owned()), item(2.0));
    st.insert(("GROUP_GET_NUMS", "T1@G1".to_owned()), item(1.0));
    st.insert(("BROKER_PUT_NUMS", "C".to_owned()), item(9.0));
    let mut connections = BTreeMap::new();
    connections.insert(
        "G1".to_owned(),
        Some(ConsumerConnection {
            connection_set: vec![Connection::default(), Connection::default()],
            message_model: "CLUSTERING".into(),
            ..Default::default()
        }),
    );
    Fetched {
        identity: Identity {
            cluster: "C".into(),
            broker: "broker-a".into(),
            addr: "10.0.0.1:10911".into(),
            store_dir: None,
            broker_id: 0,
        },
        runtime,
        consume: [("G1".to_owned(), vec![consume])].into_iter().collect(),
        topic_stats,
        stats: st,
        connections,
        now_ms: now,
        ..Fetched::default()
    }
}

fn value(fams: &[Family], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let f = fams.iter().find(|f| f.exposed_name() == name)?;
    f.samples.iter().find_map(|s| match s {
        Sample::Value(l, v) if want.iter().all(|(k, wv)| l.iter().any(|(lk, lv)| lk == k && lv == wv)) => Some(*v),
        _ => None,
    })
}

#[test]
fn exporter_families_have_exporter_names_and_values() {
    let fams = families(&canned(), &mut PutLatency::default(), FamilyOptions { queue_lag: true, stats: true });
    let g = |n: &str, l: &[(&str, &str)]| value(&fams, n, l).unwrap_or_else(|| panic!("{n} {l:?} missing"));
    assert_eq!(g("rocketmq_producer_offset", &[("cluster", "C"), ("broker", "broker-a"), ("topic", "T1")]), 15.0);
    assert_eq!(g("rocketmq_topic_retry_offset", &[("topic", "%RETRY%G1")]), 3.0);
    assert_eq!(g("rocketmq_topic_dlq_offset", &[("group", "G1")]), 2.0);
    assert_eq!(g("rocketmq_consumer_offset", &[("topic", "T1"), ("group", "G1")]), 9.0);
    assert_eq!(
        g(
            "rocketmq_group_diff",
            &[("topic", "T1"), ("group", "G1"), ("countOfOnlineConsumers", "2"), ("msgModel", "CLUSTERING")]
        ),
        6.0
    );
    assert_eq!(g("rocketmq_message_accumulation", &[("topic", "T1"), ("group", "G1")]), 6.0);
    assert_eq!(g("rocketmq_group_retrydiff", &[("topic", "%RETRY%G1")]), 2.0);
    assert_eq!(g("rocketmq_group_dlqdiff", &[("group", "G1"), ("topic", "%DLQ%G1")]), 2.0);
    // Only queue 0 has a backlog; its last consumed message was stored 30 s ago.
    assert_eq!(g("rocketmq_group_get_latency_by_storetime", &[("group", "G1")]), 30_000.0);
    assert_eq!(g("rocketmq_consumer_lag_seconds", &[("group", "G1")]), 30.0);
    assert_eq!(g("rocketmq_queue_lag_messages", &[("queue_id", "0")]), 6.0);
    assert_eq!(g("rocketmq_queue_lag_messages", &[("queue_id", "1")]), 0.0);
    assert_eq!(g("rocketmq_group_count", &[("group", "G1")]), 2.0);
    assert_eq!(g("rocketmq_producer_tps", &[("topic", "T1")]), 2.0);
    assert_eq!(g("rocketmq_consumer_tps", &[("topic", "T1"), ("group", "G1")]), 1.0);
    assert_eq!(g("rocketmq_send_back_nums", &[("topic", "T1"), ("group", "G1")]), 0.0);
    assert_eq!(g("rocketmq_broker_tps", &[("cluster", "C"), ("brokerIP", "10.0.0.1:10911")]), 9.0);
    assert_eq!(g("rocketmq_broker_qps", &[("cluster", "C")]), 0.0);
    // Runtime info, both transferred-TPS spellings, locale decimals, windows with no samples.
    let rl = [("cluster", "C"), ("brokerIP", "10.0.0.1:10911"), ("des", "V5_3_1")];
    assert_eq!(g("rocketmq_brokeruntime_msg_put_total_today_now", &rl), 30.0);
    assert_eq!(g("rocketmq_brokeruntime_put_tps60", &rl), 2.5);
    assert!(value(&fams, "rocketmq_brokeruntime_put_tps600", &rl).is_none(), "empty window is absent");
    assert_eq!(g("rocketmq_brokeruntime_gettransfered_tps10", &rl), 0.5);
    assert_eq!(g("rocketmq_brokeruntime_put_latency_99", &rl), 0.25);
    assert_eq!(g("rocketmq_brokeruntime_put_latency_999", &rl), -1.0);
    assert_eq!(g("rocketmq_brokeruntime_pmdt_0to10ms", &rl), 20.0);
    assert_eq!(g("rocketmq_brokeruntime_commitlogdir_capacity_free", &rl), 512.0 * 1024.0 * 1024.0);
    // Missing keys are skipped, not errors.
    assert!(value(&fams, "rocketmq_brokeruntime_dispatch_behind_bytes", &rl).is_none());
    // No boottime label: a restart keeps the series.
    let rt = fams.iter().find(|f| f.name == "rocketmq_brokeruntime_msg_put_total_today_now").unwrap();
    let Sample::Value(labels, _) = &rt.samples[0] else { panic!() };
    assert!(labels.iter().all(|(k, _)| *k != "boottime"));
}

#[test]
fn prometheus_style_families() {
    let mut lat = PutLatency::default();
    let fams = families(&canned(), &mut lat, FamilyOptions::default());
    assert_eq!(value(&fams, "rocketmq_broker_up", &[("broker", "broker-a")]), Some(1.0));
    assert_eq!(value(&fams, "rocketmq_broker_messages_put_total", &[]), Some(30.0));
    assert_eq!(value(&fams, "rocketmq_broker_put_latency_p99_seconds", &[]), Some(0.000_25));
    assert_eq!(value(&fams, "rocketmq_broker_boot_time_seconds", &[]), Some(1_700_000_000.0));
    let h = fams.iter().find(|f| f.exposed_name() == "rocketmq_broker_put_latency_seconds").unwrap();
    let Sample::Histogram { buckets, .. } = &h.samples[0] else { panic!() };
    assert_eq!(buckets[0], (0.0, 1));
    assert_eq!(buckets[1], (0.01, 20));
    // Without stats collection, no stats families; without queue lag, no queue series.
    assert!(value(&fams, "rocketmq_producer_tps", &[]).is_none());
    assert!(fams.iter().find(|f| f.name == "rocketmq_queue_lag_messages").is_none_or(|f| f.samples.is_empty()));
}

#[test]
fn deleted_topic_has_no_series() {
    let mut d = canned();
    d.topic_stats.remove("T1");
    d.consume.clear();
    let fams = families(&d, &mut PutLatency::default(), FamilyOptions { queue_lag: true, stats: true });
    for f in &fams {
        for s in &f.samples {
            let Sample::Value(labels, _) = s else { continue };
            assert!(!labels.iter().any(|(k, v)| *k == "topic" && v == "T1"), "{} still has T1", f.name);
        }
    }
}

#[test]
fn replication_per_slave_on_a_master() {
    use rmq_protocol::body::{HaConnectionInfo, HaRuntimeInfo};
    let mut d = canned();
    d.ha = Some(HaRuntimeInfo {
        master: true,
        master_commit_log_max_offset: 4096,
        in_sync_slave_nums: 1,
        ha_connection_info: vec![HaConnectionInfo {
            addr: "10.0.0.2:40000".into(),
            slave_ack_offset: 1024,
            diff: 3072,
            in_sync: false,
            ..Default::default()
        }],
        ha_client_runtime_info: None,
    });
    let fams = families(&d, &mut PutLatency::default(), FamilyOptions::default());
    let s = [("slave", "10.0.0.2:40000")];
    assert_eq!(value(&fams, "rocketmq_replication_slave_ack_offset_bytes", &s), Some(1024.0));
    assert_eq!(value(&fams, "rocketmq_replication_lag_bytes", &s), Some(3072.0));
    assert_eq!(value(&fams, "rocketmq_replication_slave_in_sync", &s), Some(0.0));
    assert_eq!(value(&fams, "rocketmq_replication_master_max_offset_bytes", &[]), Some(4096.0));
    // The exporter's family names the slave by its broker address, which only the name
    // server's cluster data gives: without it, no series (not the HA connection's port).
    assert!(value(&fams, "rocketmq_broker_commitlog_diff", &[]).is_none());
    d.slaves = super::super::slaves::SlaveView {
        slaves: vec![super::super::slaves::SlaveOffset { addr: "10.0.0.2:10911".into(), max_offset: None }],
        master_max_offset: None,
        master_error: None,
    };
    let fams = families(&d, &mut PutLatency::default(), FamilyOptions::default());
    assert_eq!(value(&fams, "rocketmq_broker_commitlog_diff", &[("brokerIP", "10.0.0.2:10911")]), Some(3072.0));
    // A slave's own view exports none of these.
    d.ha.as_mut().unwrap().master = false;
    let fams = families(&d, &mut PutLatency::default(), FamilyOptions::default());
    assert!(value(&fams, "rocketmq_replication_lag_bytes", &s).is_none());
}

#[test]
fn group_stats_are_asked_for_consumed_topics_only() {
    // G1 has offsets on T1 (twice: two queues) and on %RETRY%G1: one pair, the one shown.
    let d = canned();
    let pairs: Vec<(&str, &str)> =
        super::super::fetch::group_stats_pairs(&d.consume).into_iter().map(|(t, g)| (t.as_str(), g.as_str())).collect();
    assert_eq!(pairs, [("T1", "G1")]);
}
