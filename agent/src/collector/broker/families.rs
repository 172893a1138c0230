//! From one cycle's answers to metric families: rocketmq-exporter's names and labels (so its
//! dashboards and alert rules work unchanged), and Prometheus-style families beside them.
//! Pure: unit-tested on canned data.

use std::collections::BTreeMap;

use prometheus_client::registry::Unit;
use rmq_protocol::body::{ConsumeStats, MessageQueue, OffsetWrapper};

use super::fetch::{
    BROKER_STATS, DLQ_PREFIX as DLQ, Fetched, Identity, RETRY_PREFIX as RETRY, group_stats_pairs, is_system_topic,
};
use super::latency::PutLatency;
use rmq_runtime::metrics::{Family, Labels, Sample};

/// Options that change which families are produced.
#[derive(Debug, Clone, Copy, Default)]
pub struct FamilyOptions {
    /// Per-queue lag series.
    pub queue_lag: bool,
    /// Minute stats were collected (VIEW_BROKER_STATS_DATA).
    pub stats: bool,
}

fn lb(id: &Identity, extra: &[(&'static str, &str)]) -> Labels {
    let mut l: Labels = vec![("cluster", id.cluster.clone()), ("broker", id.broker.clone())];
    l.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    l
}

/// Per (group, topic): offsets summed over queues, and the lag age.
#[derive(Debug, Default, Clone)]
struct GroupTopic {
    broker_offset: i64,
    consumer_offset: i64,
    /// Oldest `lastTimestamp` among queues with a backlog (ms), if any.
    oldest_backlog_ts: Option<i64>,
    queues: Vec<(i32, OffsetWrapper)>,
}

fn group_topics(consume: &BTreeMap<String, Vec<ConsumeStats>>) -> BTreeMap<(String, String), GroupTopic> {
    let mut out: BTreeMap<(String, String), GroupTopic> = BTreeMap::new();
    for (group, list) in consume {
        for s in list {
            for (MessageQueue { topic, queue_id, .. }, o) in &s.offset_table {
                let e = out.entry((group.clone(), topic.clone())).or_default();
                e.broker_offset += o.broker_offset;
                e.consumer_offset += o.consumer_offset;
                if o.lag() > 0 && o.last_timestamp > 0 {
                    e.oldest_backlog_ts =
                        Some(e.oldest_backlog_ts.map_or(o.last_timestamp, |t| t.min(o.last_timestamp)));
                }
                e.queues.push((*queue_id, *o));
            }
        }
    }
    out
}

#[allow(clippy::cast_precision_loss)]
fn f(v: i64) -> f64 {
    v as f64
}

/// Builds every broker family for `d`, updating the put-latency totals.
pub fn families(d: &Fetched, latency: &mut PutLatency, opts: FamilyOptions) -> Vec<Family> {
    let id = &d.identity;
    let mut out = Vec::with_capacity(128);
    let up_labels = vec![("cluster", id.cluster.clone()), ("broker", id.broker.clone()), ("brokerIP", id.addr.clone())];
    out.push(
        Family::gauge("rocketmq_broker_up", "1 if the local broker answered this cycle.").with(up_labels.clone(), 1.0),
    );
    let mut info = up_labels.clone();
    info.push(("version", d.runtime.get("brokerVersionDesc").unwrap_or("").to_owned()));
    info.push(("broker_id", id.broker_id.to_string()));
    out.push(Family::gauge("rocketmq_broker_info", "The local broker's identity (value 1).").with(info, 1.0));

    runtime_families(d, &mut out);
    new_broker_families(d, latency, &mut out);
    topic_families(d, &mut out);
    group_families(d, opts, &mut out);
    if opts.stats {
        stats_families(d, &mut out);
    }
    replication_families(d, &mut out);
    out
}

/// `rocketmq_brokeruntime_*`: every value from GET_BROKER_RUNTIME_INFO, named and labelled
/// as rocketmq-exporter does, except `boottime`, which is dropped from the labels so a broker
/// restart does not start new series (see `rocketmq_broker_boot_time_seconds`).
fn runtime_families(d: &Fetched, out: &mut Vec<Family>) {
    let r = &d.runtime;
    let id = &d.identity;
    let labels: Labels = vec![
        ("cluster", id.cluster.clone()),
        ("brokerIP", id.addr.clone()),
        ("brokerHost", String::new()),
        ("des", r.get("brokerVersionDesc").unwrap_or("").to_owned()),
        ("broker_version", r.get("brokerVersion").unwrap_or("").to_owned()),
        ("broker", id.broker.clone()),
    ];
    let mut put = |name: &'static str, v: Option<f64>| {
        if let Some(v) = v {
            out.push(
                Family::gauge(name, "rocketmq-exporter compatible: from GET_BROKER_RUNTIME_INFO.")
                    .with(labels.clone(), v),
            );
        }
    };
    for (name, key) in RUNTIME_NUMBERS {
        put(name, r.f64(key));
    }
    for (prefix, key) in RUNTIME_TPS {
        let t = if *key == "getTransferredTps" { r.get_transferred_tps() } else { r.tps(key) };
        if let Some(t) = t {
            put(prefix[0], t.s10);
            put(prefix[1], t.s60);
            put(prefix[2], t.s600);
        }
    }
    if let Some(rmq_protocol::body::PutDistribution::Buckets(b)) = r.put_distribution() {
        for (name, n) in PMDT.iter().zip(b) {
            #[allow(clippy::cast_precision_loss)]
            put(name, Some(n as f64));
        }
    }
    // Absent percentiles read as -1 in rocketmq-exporter.
    put("rocketmq_brokeruntime_put_latency_99", Some(r.f64("putLatency99").unwrap_or(-1.0)));
    put("rocketmq_brokeruntime_put_latency_999", Some(r.f64("putLatency999").unwrap_or(-1.0)));
    put("rocketmq_brokeruntime_remain_howmanydata_toflush", r.human_bytes("remainHowManyDataToFlush"));
    if let Some((total, free)) = r.commit_log_dir_capacity() {
        put("rocketmq_brokeruntime_commitlogdir_capacity_total", Some(total));
        put("rocketmq_brokeruntime_commitlogdir_capacity_free", Some(free));
    }
}

const RUNTIME_NUMBERS: &[(&str, &str)] = &[
    ("rocketmq_brokeruntime_msg_put_total_today_now", "msgPutTotalTodayNow"),
    ("rocketmq_brokeruntime_msg_gettotal_today_now", "msgGetTotalTodayNow"),
    ("rocketmq_brokeruntime_msg_puttotal_todaymorning", "msgPutTotalTodayMorning"),
    ("rocketmq_brokeruntime_msg_gettotal_todaymorning", "msgGetTotalTodayMorning"),
    ("rocketmq_brokeruntime_msg_puttotal_yesterdaymorning", "msgPutTotalYesterdayMorning"),
    ("rocketmq_brokeruntime_msg_gettotal_yesterdaymorning", "msgGetTotalYesterdayMorning"),
    ("rocketmq_brokeruntime_putmessage_entire_time_max", "putMessageEntireTimeMax"),
    ("rocketmq_brokeruntime_getmessage_entire_time_max", "getMessageEntireTimeMax"),
    ("rocketmq_brokeruntime_putmessage_times_total", "putMessageTimesTotal"),
    ("rocketmq_brokeruntime_put_message_size_total", "putMessageSizeTotal"),
    ("rocketmq_brokeruntime_put_message_average_size", "putMessageAverageSize"),
    ("rocketmq_brokeruntime_send_threadpool_queue_size", "sendThreadPoolQueueSize"),
    ("rocketmq_brokeruntime_send_threadpoolqueue_capacity", "sendThreadPoolQueueCapacity"),
    ("rocketmq_brokeruntime_send_threadpoolqueue_headwait_timemills", "sendThreadPoolQueueHeadWaitTimeMills"),
    ("rocketmq_brokeruntime_pull_threadpoolqueue_size", "pullThreadPoolQueueSize"),
    ("rocketmq_brokeruntime_pull_threadpoolqueue_capacity", "pullThreadPoolQueueCapacity"),
    ("rocketmq_brokeruntime_pull_threadpoolqueue_headwait_timemills", "pullThreadPoolQueueHeadWaitTimeMills"),
    ("rocketmq_brokeruntime_query_threadpoolqueue_size", "queryThreadPoolQueueSize"),
    ("rocketmq_brokeruntime_query_threadpool_queue_capacity", "queryThreadPoolQueueCapacity"),
    ("rocketmq_brokeruntime_query_threadpoolqueue_headwait_timemills", "queryThreadPoolQueueHeadWaitTimeMills"),
    ("rocketmq_brokeruntime_commitlog_disk_ratio", "commitLogDiskRatio"),
    ("rocketmq_brokeruntime_consumequeue_disk_ratio", "consumeQueueDiskRatio"),
    ("rocketmq_brokeruntime_commitlog_maxoffset", "commitLogMaxOffset"),
    ("rocketmq_brokeruntime_commitlog_minoffset", "commitLogMinOffset"),
    ("rocketmq_brokeruntime_dispatch_behind_bytes", "dispatchBehindBytes"),
    ("rocketmq_brokeruntime_dispatch_maxbuffer", "dispatchMaxBuffer"),
    ("rocketmq_brokeruntime_remain_transientstore_buffer_numbs", "remainTransientStoreBufferNumbs"),
    ("rocketmq_brokeruntime_pagecache_lock_time_mills", "pageCacheLockTimeMills"),
    ("rocketmq_brokeruntime_earliest_message_timestamp", "earliestMessageTimeStamp"),
    ("rocketmq_brokeruntime_start_accept_sendrequest_time", "startAcceptSendRequestTimeStamp"),
];

const RUNTIME_TPS: &[([&str; 3], &str)] = &[
    (
        ["rocketmq_brokeruntime_put_tps10", "rocketmq_brokeruntime_put_tps60", "rocketmq_brokeruntime_put_tps600"],
        "putTps",
    ),
    (
        [
            "rocketmq_brokeruntime_getfound_tps10",
            "rocketmq_brokeruntime_getfound_tps60",
            "rocketmq_brokeruntime_getfound_tps600",
        ],
        "getFoundTps",
    ),
    (
        [
            "rocketmq_brokeruntime_getmiss_tps10",
            "rocketmq_brokeruntime_getmiss_tps60",
            "rocketmq_brokeruntime_getmiss_tps600",
        ],
        "getMissTps",
    ),
    (
        [
            "rocketmq_brokeruntime_gettotal_tps10",
            "rocketmq_brokeruntime_gettotal_tps60",
            "rocketmq_brokeruntime_gettotal_tps600",
        ],
        "getTotalTps",
    ),
    (
        [
            "rocketmq_brokeruntime_gettransfered_tps10",
            "rocketmq_brokeruntime_gettransfered_tps60",
            "rocketmq_brokeruntime_gettransfered_tps600",
        ],
        "getTransferredTps",
    ),
];

const PMDT: [&str; 13] = [
    "rocketmq_brokeruntime_pmdt_0ms",
    "rocketmq_brokeruntime_pmdt_0to10ms",
    "rocketmq_brokeruntime_pmdt_10to50ms",
    "rocketmq_brokeruntime_pmdt_50to100ms",
    "rocketmq_brokeruntime_pmdt_100to200ms",
    "rocketmq_brokeruntime_pmdt_200to500ms",
    "rocketmq_brokeruntime_pmdt_500to1s",
    "rocketmq_brokeruntime_pmdt_1to2s",
    "rocketmq_brokeruntime_pmdt_2to3s",
    "rocketmq_brokeruntime_pmdt_3to4s",
    "rocketmq_brokeruntime_pmdt_4to5s",
    "rocketmq_brokeruntime_pmdt_5to10s",
    "rocketmq_brokeruntime_pmdt_10stomore",
];

/// Prometheus-convention broker families: counters, the put-latency histogram, boot time.
fn new_broker_families(d: &Fetched, latency: &mut PutLatency, out: &mut Vec<Family>) {
    let r = &d.runtime;
    let l = lb(&d.identity, &[]);
    let mut counter = |name, help, key: &str| {
        if let Some(v) = r.f64(key) {
            out.push(Family::counter(name, help).with(l.clone(), v));
        }
    };
    counter("rocketmq_broker_messages_put", "Messages stored since the broker started.", "msgPutTotalTodayNow");
    counter(
        "rocketmq_broker_messages_get",
        "Messages delivered to consumers since the broker started.",
        "msgGetTotalTodayNow",
    );
    counter("rocketmq_broker_put_failures", "Failed puts since the broker started.", "putMessageFailedTimes");
    if let Some(v) = r.f64("putMessageSizeTotal") {
        out.push(
            Family::counter("rocketmq_broker_put", "Bytes stored since the broker started.")
                .with_unit(Unit::Bytes)
                .with(l.clone(), v),
        );
    }
    if let Some(ms) = r.f64("bootTimestamp") {
        out.push(
            Family::gauge("rocketmq_broker_boot_time", "When the broker's store started, Unix time.")
                .with_unit(Unit::Seconds)
                .with(l.clone(), ms / 1000.0),
        );
    }
    for (name, key) in
        [("rocketmq_broker_put_latency_p99", "putLatency99"), ("rocketmq_broker_put_latency_p999", "putLatency999")]
    {
        if let Some(ms) = r.f64(key) {
            out.push(
                Family::gauge(name, "Broker put latency percentile over the previous minute.")
                    .with_unit(Unit::Seconds)
                    .with(l.clone(), ms / 1000.0),
            );
        }
    }
    if let Some(dist) = r.put_distribution() {
        latency.observe(dist);
    }
    if latency.has_data() {
        let (buckets, sum) = latency.buckets();
        let mut h = Family::histogram(
            "rocketmq_broker_put_latency",
            "Broker put (store) latency, accumulated from putMessageDistributeTime; _sum is estimated from bucket midpoints.",
        )
        .with_unit(Unit::Seconds);
        h.samples.push(Sample::Histogram { labels: l.clone(), buckets, sum });
        out.push(h);
    }
}

/// Offsets per topic from GET_TOPIC_STATS_INFO.
fn topic_families(d: &Fetched, out: &mut Vec<Family>) {
    let id = &d.identity;
    let mut producer =
        Family::gauge("rocketmq_producer_offset", "Sum of the topic's queue max offsets on this broker.");
    let mut retry = Family::gauge("rocketmq_topic_retry_offset", "Sum of the %RETRY% topic's queue max offsets.");
    let mut dlq =
        Family::gauge("rocketmq_topic_dlq_offset", "Sum of the %DLQ% topic's queue max offsets (label: the group).");
    let mut total = Family::counter(
        "rocketmq_topic_messages",
        "Messages ever written to the topic on this broker (sum of queue max offsets).",
    );
    for (topic, s) in &d.topic_stats {
        let sum: i64 = s.offset_table.values().map(|o| o.max_offset).sum();
        if let Some(g) = topic.strip_prefix(DLQ) {
            dlq.push(lb(id, &[("group", g)]), f(sum));
        } else if topic.starts_with(RETRY) {
            retry.push(lb(id, &[("topic", topic)]), f(sum));
        } else {
            producer.push(lb(id, &[("topic", topic)]), f(sum));
            total.push(lb(id, &[("topic", topic)]), f(sum));
        }
    }
    out.extend([producer, retry, dlq, total]);
}

/// Consumer progress from GET_BROKER_CONSUME_STATS (+ connection lists).
fn group_families(d: &Fetched, opts: FamilyOptions, out: &mut Vec<Family>) {
    let id = &d.identity;
    let gts = group_topics(&d.consume);
    let mut consumer_offset =
        Family::gauge("rocketmq_consumer_offset", "Sum of the group's committed offsets on the topic.");
    let mut latency = Family::gauge(
        "rocketmq_group_get_latency_by_storetime",
        "Milliseconds since the store time of the last consumed message, over queues with a backlog (0 without backlog).",
    );
    let mut diff = Family::gauge("rocketmq_group_diff", "Messages not yet consumed (broker offset - consumer offset).");
    let mut retrydiff =
        Family::gauge("rocketmq_group_retrydiff", "Messages not yet consumed on the group's %RETRY% topic.");
    let mut dlqdiff =
        Family::gauge("rocketmq_group_dlqdiff", "Messages in the group's %DLQ% topic not consumed from it.");
    let mut accumulation =
        Family::gauge("rocketmq_message_accumulation", "Backlog: producer offset - consumer offset.");
    let mut lag = Family::gauge("rocketmq_consumer_lag_messages", "Messages not yet consumed (labels without churn).");
    let mut lag_s =
        Family::gauge("rocketmq_consumer_lag", "Age of the backlog: now - store time of the last consumed message.")
            .with_unit(Unit::Seconds);
    let mut queue_lag = Family::gauge("rocketmq_queue_lag_messages", "Messages not yet consumed, per queue.");

    let online = |g: &str| -> (String, String) {
        match d.connections.get(g) {
            Some(Some(c)) => (c.connection_set.len().to_string(), c.message_model.clone()),
            Some(None) => ("0".into(), String::new()),
            None => (String::new(), String::new()),
        }
    };
    let mut dlq_consumed: BTreeMap<String, i64> = BTreeMap::new();
    for ((group, topic), gt) in &gts {
        let backlog = (gt.broker_offset - gt.consumer_offset).max(0);
        let (count, model) = online(group);
        let diff_labels = |t: &str| {
            lb(id, &[("group", group), ("topic", t), ("countOfOnlineConsumers", &count), ("msgModel", &model)])
        };
        if topic.starts_with(RETRY) {
            retrydiff.push(diff_labels(topic), f(backlog));
            continue;
        }
        if topic.starts_with(DLQ) {
            dlq_consumed.insert(group.clone(), gt.consumer_offset);
            continue;
        }
        let l = lb(id, &[("topic", topic), ("group", group)]);
        consumer_offset.push(l.clone(), f(gt.consumer_offset));
        let age_ms = match gt.oldest_backlog_ts {
            Some(ts) if backlog > 0 => (d.now_ms - ts).max(0),
            _ => 0,
        };
        latency.push(l.clone(), f(age_ms));
        lag_s.push(l.clone(), f(age_ms) / 1000.0);
        diff.push(diff_labels(topic), f(backlog));
        accumulation.push(l.clone(), f(backlog));
        lag.push(l.clone(), f(backlog));
        if opts.queue_lag {
            for (q, o) in &gt.queues {
                let mut ql = l.clone();
                ql.push(("queue_id", q.to_string()));
                queue_lag.push(ql, f(o.lag()));
            }
        }
    }
    // DLQ: what landed in %DLQ%<group> minus what (rarely) was consumed from it.
    for (topic, s) in &d.topic_stats {
        if let Some(group) = topic.strip_prefix(DLQ) {
            let total: i64 = s.offset_table.values().map(|o| o.max_offset).sum();
            let consumed = dlq_consumed.get(group).copied().unwrap_or(0);
            let (count, model) = online(group);
            dlqdiff.push(
                lb(id, &[("group", group), ("topic", topic), ("countOfOnlineConsumers", &count), ("msgModel", &model)]),
                f((total - consumed).max(0)),
            );
        }
    }
    let mut group_count = Family::gauge("rocketmq_group_count", "Online consumer instances of the group.");
    for (g, c) in &d.connections {
        #[allow(clippy::cast_precision_loss)]
        group_count.push(lb(id, &[("group", g)]), c.as_ref().map_or(0.0, |c| c.connection_set.len() as f64));
    }
    out.extend([consumer_offset, latency, diff, retrydiff, dlqdiff, accumulation, lag, lag_s, queue_lag, group_count]);
}

/// Minute stats from VIEW_BROKER_STATS_DATA, where collected. A topic or group with no stats
/// yet reads 0 (nothing happened), not absent.
fn stats_families(d: &Fetched, out: &mut Vec<Family>) {
    let id = &d.identity;
    let minute = |name: &'static str, key: &str| d.stats.get(&(name, key.to_owned())).map(|s| s.stats_minute);
    let mut p_tps = Family::gauge("rocketmq_producer_tps", "Messages put per second (broker's minute window).");
    let mut p_size = Family::gauge("rocketmq_producer_message_size", "Bytes put per second (broker's minute window).");
    for topic in d.topic_stats.keys().filter(|t| !is_system_topic(t)) {
        let l = lb(id, &[("topic", topic)]);
        p_tps.push(l.clone(), minute("TOPIC_PUT_NUMS", topic).and_then(|m| m.tps).unwrap_or(0.0));
        p_size.push(l, minute("TOPIC_PUT_SIZE", topic).and_then(|m| m.tps).unwrap_or(0.0));
    }
    let mut c_tps = Family::gauge("rocketmq_consumer_tps", "Messages pulled per second (broker's minute window).");
    let mut c_size =
        Family::gauge("rocketmq_consumer_message_size", "Bytes pulled per second (broker's minute window).");
    let mut sendback = Family::gauge("rocketmq_send_back_nums", "Messages sent back for retry in the last minute.");
    for (topic, group) in group_stats_pairs(&d.consume) {
        let key = format!("{topic}@{group}");
        let l = lb(id, &[("topic", topic), ("group", group)]);
        c_tps.push(l.clone(), minute("GROUP_GET_NUMS", &key).and_then(|m| m.tps).unwrap_or(0.0));
        c_size.push(l.clone(), minute("GROUP_GET_SIZE", &key).and_then(|m| m.tps).unwrap_or(0.0));
        sendback.push(l, minute("SNDBCK_PUT_NUMS", &key).map_or(0.0, |m| f(m.sum)));
    }
    let bl: Labels =
        vec![("cluster", id.cluster.clone()), ("brokerIP", id.addr.clone()), ("broker", id.broker.clone())];
    let [put, get] = BROKER_STATS;
    let b_tps = Family::gauge("rocketmq_broker_tps", "Messages put per second on the broker (minute window).")
        .with(bl.clone(), minute(put, &id.cluster).and_then(|m| m.tps).unwrap_or(0.0));
    let b_qps = Family::gauge("rocketmq_broker_qps", "Messages pulled per second on the broker (minute window).")
        .with(bl, minute(get, &id.cluster).and_then(|m| m.tps).unwrap_or(0.0));
    out.extend([b_tps, b_qps, p_tps, p_size, c_tps, c_size, sendback]);
}

/// Per-slave replication: `rocketmq_broker_commitlog_diff` for every slave found (see
/// [`super::slaves`]), and GET_BROKER_HA_STATUS's own view on 5.x masters.
fn replication_families(d: &Fetched, out: &mut Vec<Family>) {
    let id = &d.identity;
    out.push(super::slaves::commitlog_diff(id, d.runtime.i64("commitLogMaxOffset"), &d.slaves, d.ha.as_ref()));
    let Some(ha) = &d.ha else { return };
    if !ha.master {
        return;
    }
    out.push(
        Family::gauge("rocketmq_replication_master_max_offset", "The master's commitlog max offset.")
            .with_unit(Unit::Bytes)
            .with(lb(id, &[]), f(ha.master_commit_log_max_offset)),
    );
    out.push(
        Family::gauge("rocketmq_replication_in_sync_slaves", "Slaves in sync with the master.")
            .with(lb(id, &[]), f(i64::from(ha.in_sync_slave_nums))),
    );
    let mut ack =
        Family::gauge("rocketmq_replication_slave_ack_offset", "Offset the slave acknowledged.").with_unit(Unit::Bytes);
    let mut lag = Family::gauge("rocketmq_replication_lag", "Master max offset minus the slave's acknowledged offset.")
        .with_unit(Unit::Bytes);
    let mut in_sync = Family::gauge("rocketmq_replication_slave_in_sync", "1 if the slave is in sync.");
    for c in &ha.ha_connection_info {
        let l = lb(id, &[("slave", &c.addr)]);
        ack.push(l.clone(), f(c.slave_ack_offset));
        lag.push(l.clone(), f(c.diff));
        in_sync.push(l, if c.in_sync { 1.0 } else { 0.0 });
    }
    out.extend([ack, lag, in_sync]);
}

#[cfg(test)]
mod tests;
