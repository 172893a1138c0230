//! One collection cycle's requests to the local broker. Bounded: about 6 fixed requests,
//! one GET_TOPIC_STATS_INFO per topic, and — when enabled — stats, connection and producer
//! requests, all pipelined on the one connection with at most `concurrency` in flight. (What
//! builds on them — slaves, consumer clients, read positions — is in the sibling modules.)

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use rmq_protocol::body::{
    BrokerProperties, BrokerRuntimeInfo, BrokerStatsData, ConsumeStats, ConsumeStatsList, ConsumerConnection, FromBody,
    GroupNames, HaRuntimeInfo, ProducerTableInfo, TopicNames, TopicStatsTable,
};
use rmq_protocol::request::{
    CommandHeader as _, GetConsumeStatsInBrokerHeader, GetConsumeStatsRequestHeader,
    GetConsumerConnectionListRequestHeader, GetTopicStatsInfoRequestHeader, ViewBrokerStatsDataRequestHeader,
};
use rmq_protocol::{ExtFields, RequestCode, ResponseCode};

use crate::remoting::{Client, ClientError};

/// Who the broker is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `brokerClusterName`.
    pub cluster: String,
    /// `brokerName`.
    pub broker: String,
    /// `brokerIP1:listenPort`, as clients see it.
    pub addr: String,
    /// `storePathRootDir`.
    pub store_dir: Option<String>,
    /// `brokerId` (0 = master).
    pub broker_id: i64,
}

/// Everything one cycle learned.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// Identity from GET_BROKER_CONFIG.
    pub identity: Identity,
    /// The rest of GET_BROKER_CONFIG (`messageDelayLevel`, `namesrvAddr`, …); empty when it failed.
    pub properties: BrokerProperties,
    /// GET_BROKER_RUNTIME_INFO.
    pub runtime: BrokerRuntimeInfo,
    /// The topics, from GET_ALL_TOPIC_CONFIG (only their names are read).
    pub topics: TopicNames,
    /// The subscription groups, from GET_ALL_SUBSCRIPTIONGROUP_CONFIG (only their names are read).
    pub groups: GroupNames,
    /// Group → consume stats (317, or 208 per group where 317 is not supported).
    pub consume: BTreeMap<String, Vec<ConsumeStats>>,
    /// Topic → stats (202).
    pub topic_stats: BTreeMap<String, TopicStatsTable>,
    /// (stats name, stats key) → minute/hour/day stats (315).
    pub stats: BTreeMap<(&'static str, String), BrokerStatsData>,
    /// Group → connections (203); `None` when the group is not online.
    pub connections: BTreeMap<String, Option<ConsumerConnection>>,
    /// GET_BROKER_HA_STATUS (5.x).
    pub ha: Option<HaRuntimeInfo>,
    /// The master's slaves and their offsets (filled after the cycle's requests, on masters).
    pub slaves: super::slaves::SlaveView,
    /// GET_ALL_PRODUCER_INFO, when clients are collected.
    pub producers: Option<ProducerTableInfo>,
    /// Wall clock at the start of the cycle, epoch ms.
    pub now_ms: i64,
    /// Requests that failed, by code and error kind.
    pub failures: Vec<(RequestCode, &'static str)>,
}

/// Knobs for one cycle.
#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Ask for VIEW_BROKER_STATS_DATA.
    pub stats: bool,
    /// Ask for GET_CONSUMER_CONNECTION_LIST.
    pub connections: bool,
    /// Ask for GET_ALL_PRODUCER_INFO (and the connection lists, to know the consumer clients).
    pub clients: bool,
}

/// Stats names asked per topic, per topic@group, and per cluster.
pub(crate) const TOPIC_STATS: [&str; 2] = ["TOPIC_PUT_NUMS", "TOPIC_PUT_SIZE"];
pub(crate) const GROUP_STATS: [&str; 3] = ["GROUP_GET_NUMS", "GROUP_GET_SIZE", "SNDBCK_PUT_NUMS"];
pub(crate) const BROKER_STATS: [&str; 2] = ["BROKER_PUT_NUMS", "BROKER_GET_NUMS"];

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn fetch<B: FromBody>(c: &Client, code: RequestCode, ext: Option<ExtFields>) -> Result<B, ClientError> {
    c.fetch::<B>(code, ext).await
}

/// Runs one cycle. Fails only when the broker does not answer GET_BROKER_RUNTIME_INFO;
/// every other failure is recorded in `failures` and leaves its part empty.
pub async fn fetch_all(c: &Client, opts: FetchOptions) -> Result<Fetched, ClientError> {
    let runtime: BrokerRuntimeInfo = fetch(c, RequestCode::GET_BROKER_RUNTIME_INFO, None).await?;
    let mut f = Fetched { runtime, ..Fetched::default() };

    let consume_req = GetConsumeStatsInBrokerHeader { is_order: false }.to_ext_fields();
    let (config, topics, groups, consume, ha) = tokio::join!(
        c.request(RequestCode::GET_BROKER_CONFIG, None, &[], None),
        fetch::<TopicNames>(c, RequestCode::GET_ALL_TOPIC_CONFIG, None),
        fetch::<GroupNames>(c, RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, None),
        fetch::<ConsumeStatsList>(c, RequestCode::GET_BROKER_CONSUME_STATS, Some(consume_req)),
        fetch::<HaRuntimeInfo>(c, RequestCode::GET_BROKER_HA_STATUS, None),
    );
    match config {
        Ok(r) if r.code() == ResponseCode::SUCCESS => {
            let p = BrokerProperties::parse(&r.body);
            let get = |k: &str| p.get_ignore_case(k).map(str::to_owned);
            let identity = Identity {
                cluster: get("brokerClusterName").unwrap_or_default(),
                broker: get("brokerName").unwrap_or_default(),
                addr: match (get("brokerIP1"), get("listenPort")) {
                    (Some(ip), Some(port)) => format!("{ip}:{port}"),
                    _ => c.addr().to_owned(),
                },
                store_dir: get("storePathRootDir"),
                broker_id: get("brokerId").and_then(|v| v.parse().ok()).unwrap_or(0),
            };
            f.identity = identity;
            f.properties = p;
        }
        Ok(_) => f.failures.push((RequestCode::GET_BROKER_CONFIG, "server_error")),
        Err(e) => f.failures.push((RequestCode::GET_BROKER_CONFIG, e.kind())),
    }
    f.topics = ok_or_record(RequestCode::GET_ALL_TOPIC_CONFIG, topics, &mut f.failures).unwrap_or_default();
    f.groups = ok_or_record(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, groups, &mut f.failures).unwrap_or_default();
    // 907 exists only on 5.x; a 4.x broker answering "not supported" is not a failure.
    f.ha = match ha {
        Ok(h) => Some(h),
        Err(ClientError::Server { code: ResponseCode::REQUEST_CODE_NOT_SUPPORTED, .. }) => None,
        Err(e) => {
            f.failures.push((RequestCode::GET_BROKER_HA_STATUS, e.kind()));
            None
        }
    };
    // Lag age is "now" minus store times the consume stats report: take "now" when they
    // arrived, not when the cycle began.
    f.now_ms = now_ms();
    match consume {
        Ok(list) => f.consume = list.groups,
        Err(ClientError::Server { code: ResponseCode::REQUEST_CODE_NOT_SUPPORTED, .. }) => {
            // Brokers without 317: one GET_CONSUME_STATS per group.
            let groups: Vec<String> = f.groups.0.iter().cloned().collect();
            let results = pipelined::<_, ConsumeStats>(c, opts.concurrency, groups, |g| {
                let ext = GetConsumeStatsRequestHeader { consumer_group: g.clone(), topic: None }.to_ext_fields();
                (RequestCode::GET_CONSUME_STATS, Some(ext))
            })
            .await;
            for (g, r) in results {
                match r {
                    Ok(s) => {
                        f.consume.insert(g, vec![s]);
                    }
                    Err(e) if is_absent(&e) => {}
                    Err(e) => f.failures.push((RequestCode::GET_CONSUME_STATS, e.kind())),
                }
            }
        }
        Err(e) => f.failures.push((RequestCode::GET_BROKER_CONSUME_STATS, e.kind())),
    }

    let topics: Vec<String> = f.topics.0.iter().cloned().collect();
    for (t, r) in pipelined::<_, TopicStatsTable>(c, opts.concurrency, topics.clone(), |t| {
        (RequestCode::GET_TOPIC_STATS_INFO, Some(GetTopicStatsInfoRequestHeader { topic: t.clone() }.to_ext_fields()))
    })
    .await
    {
        match r {
            Ok(s) => {
                f.topic_stats.insert(t, s);
            }
            // Deleted between the two requests.
            Err(ClientError::Server { code: ResponseCode::TOPIC_NOT_EXIST, .. }) => {}
            Err(e) => f.failures.push((RequestCode::GET_TOPIC_STATS_INFO, e.kind())),
        }
    }

    if opts.stats {
        let mut keys: Vec<(&'static str, String)> = Vec::new();
        for t in topics.iter().filter(|t| !is_system_topic(t)) {
            keys.extend(TOPIC_STATS.iter().map(|n| (*n, t.clone())));
        }
        for (topic, group) in group_stats_pairs(&f.consume) {
            keys.extend(GROUP_STATS.iter().map(|n| (*n, format!("{topic}@{group}"))));
        }
        if !f.identity.cluster.is_empty() {
            keys.extend(BROKER_STATS.iter().map(|n| (*n, f.identity.cluster.clone())));
        }
        for (k, r) in pipelined::<_, BrokerStatsData>(c, opts.concurrency, keys, |(name, key)| {
            let ext = ViewBrokerStatsDataRequestHeader { stats_name: (*name).to_owned(), stats_key: key.clone() };
            (RequestCode::VIEW_BROKER_STATS_DATA, Some(ext.to_ext_fields()))
        })
        .await
        {
            match r {
                Ok(s) => {
                    f.stats.insert(k, s);
                }
                // "No stats data" / "not exist": nothing happened on that item yet. Not an
                // error, and not logged (rocketmq-exporter's log flood, #77).
                Err(e) if is_absent(&e) => {}
                Err(e) => f.failures.push((RequestCode::VIEW_BROKER_STATS_DATA, e.kind())),
            }
        }
    }

    if opts.clients {
        match fetch::<ProducerTableInfo>(c, RequestCode::GET_ALL_PRODUCER_INFO, None).await {
            Ok(p) => f.producers = Some(p),
            Err(e) => f.failures.push((RequestCode::GET_ALL_PRODUCER_INFO, e.kind())),
        }
    }

    if opts.connections || opts.clients {
        let groups: Vec<String> = f.groups.0.iter().cloned().collect();
        for (g, r) in pipelined::<_, ConsumerConnection>(c, opts.concurrency, groups, |g| {
            let ext = GetConsumerConnectionListRequestHeader { consumer_group: g.clone() }.to_ext_fields();
            (RequestCode::GET_CONSUMER_CONNECTION_LIST, Some(ext))
        })
        .await
        {
            match r {
                Ok(conn) => {
                    f.connections.insert(g, Some(conn));
                }
                Err(ClientError::Server { code: ResponseCode::CONSUMER_NOT_ONLINE, .. }) => {
                    f.connections.insert(g, None);
                }
                Err(e) => f.failures.push((RequestCode::GET_CONSUMER_CONNECTION_LIST, e.kind())),
            }
        }
    }
    Ok(f)
}

fn ok_or_record<T>(
    code: RequestCode,
    r: Result<T, ClientError>,
    failures: &mut Vec<(RequestCode, &'static str)>,
) -> Option<T> {
    r.map_err(|e| failures.push((code, e.kind()))).ok()
}

/// The (topic, group) pairs whose minute stats are asked for and shown: every topic a group
/// has offsets on, except its %RETRY% and %DLQ% topics (their consumption is not shown per
/// topic, so asking for it would be three requests per group answered and thrown away).
pub(crate) fn group_stats_pairs(consume: &BTreeMap<String, Vec<ConsumeStats>>) -> BTreeSet<(&String, &String)> {
    consume
        .iter()
        .flat_map(|(g, list)| list.iter().flat_map(move |s| s.offset_table.keys().map(move |q| (&q.topic, g))))
        .filter(|(t, _)| !t.starts_with(RETRY_PREFIX) && !t.starts_with(DLQ_PREFIX))
        .collect()
}

/// A group's retry topic is this prefix and the group's name.
pub(crate) const RETRY_PREFIX: &str = "%RETRY%";
/// A group's dead-letter topic is this prefix and the group's name.
pub(crate) const DLQ_PREFIX: &str = "%DLQ%";

/// System topics the exporter also skips for per-topic stats.
pub(crate) fn is_system_topic(t: &str) -> bool {
    t.starts_with("rmq_sys_")
        || t.starts_with("RMQ_SYS_")
        || t == "TBW102"
        || t.starts_with("SCHEDULE_TOPIC")
        || t == "OFFSET_MOVED_EVENT"
        || t == "SELF_TEST_TOPIC"
        || t.starts_with(RETRY_PREFIX)
        || t.starts_with(DLQ_PREFIX)
        || t.contains("_REPLY_TOPIC")
        || t == "BenchmarkTest"
        || t.starts_with("TRANS_CHECK_MAX_TIME_TOPIC")
        || t.starts_with("RMQ_SYS_TRANS")
}

/// "This item has no data" answers: not failures.
fn is_absent(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Server {
            code: ResponseCode::SYSTEM_ERROR
                | ResponseCode::CONSUMER_NOT_ONLINE
                | ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST
                | ResponseCode::TOPIC_NOT_EXIST,
            ..
        }
    )
}

fn decode<B: FromBody>(code: RequestCode, resp: crate::remoting::Response) -> Result<B, ClientError> {
    let resp = crate::remoting::success(code, resp)?;
    B::decode(&resp.body).map_err(|cause| ClientError::Body { request: code, cause })
}

/// Sends one request per item, at most `n` in flight, decodes each answer as `B` as soon as
/// it arrives (so raw frames, and the read buffers they share, are freed at once), and
/// pairs each result with its item.
async fn pipelined<T, B: FromBody>(
    c: &Client,
    n: usize,
    items: Vec<T>,
    req: impl Fn(&T) -> (RequestCode, Option<ExtFields>),
) -> Vec<(T, Result<B, ClientError>)> {
    futures_util::stream::iter(items.into_iter().map(|item| {
        let (code, ext) = req(&item);
        async move {
            let r = c.request(code, ext, &[], None).await.and_then(|resp| decode::<B>(code, resp));
            (item, r)
        }
    }))
    .buffer_unordered(n.max(1))
    .collect()
    .await
}
