//! The codec against a real RocketMQ broker and name server (RocketMQ-Rust 1.0.0 binaries,
//! started by rmq-testkit on loopback).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use rmq_agent::remoting::{Client, ClientConfig, ClientError};
use rmq_protocol::body::{
    BrokerRuntimeInfo, ClusterInfo, ConsumeStatsList, FromBody as _, TopicConfigWrapper, TopicList, TopicRouteData,
    TopicStatsTable,
};
use rmq_protocol::request::{
    CommandHeader as _, CreateTopicRequestHeader, GetConsumeStatsInBrokerHeader, GetRouteInfoRequestHeader,
    GetTopicStatsInfoRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader, encode_properties,
};
use rmq_protocol::{RequestCode, ResponseCode, SerializeType};
use rmq_testkit::Cluster;

fn client(addr: impl ToString, ty: SerializeType) -> Client {
    let mut cfg = ClientConfig::new(addr.to_string());
    cfg.serialize_type = ty;
    cfg.request_timeout = Duration::from_secs(10);
    Client::new(cfg)
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

async fn topic_stats(c: &Client, topic: &str) -> TopicStatsTable {
    let ext = GetTopicStatsInfoRequestHeader { topic: topic.to_owned() }.to_ext_fields();
    c.fetch(RequestCode::GET_TOPIC_STATS_INFO, Some(ext)).await.unwrap()
}

async fn runtime_info_with(ty: SerializeType) -> (SerializeType, BrokerRuntimeInfo) {
    let cluster = Cluster::shared();
    let c = client(cluster.broker.addr(), ty);
    let resp = c.request(RequestCode::GET_BROKER_RUNTIME_INFO, None, &[], None).await.expect("runtime info");
    assert_eq!(resp.code(), ResponseCode::SUCCESS, "remark: {:?}", resp.header.remark);
    let info = BrokerRuntimeInfo::decode(&resp.body).expect("runtime info body decodes");
    (resp.serialize_type, info)
}

fn assert_runtime_info_is_real(info: &BrokerRuntimeInfo) {
    // Keys every version sends, with the shapes the typed readers expect.
    assert!(info.get("brokerVersionDesc").is_some_and(|v| v.starts_with('V')), "{:?}", info.table.keys());
    assert!(info.i64("commitLogMaxOffset").is_some());
    assert!(info.i64("msgPutTotalTodayNow").is_some());
    assert!(info.tps("putTps").is_some());
    assert!(info.put_distribution().is_some(), "putMessageDistributeTime: {:?}", info.get("putMessageDistributeTime"));
    assert!(info.table.len() > 20, "only {} keys", info.table.len());
}

#[tokio::test]
async fn runtime_info_json_header() {
    let (resp_ty, info) = runtime_info_with(SerializeType::JSON).await;
    assert_eq!(resp_ty, SerializeType::JSON);
    assert_runtime_info_is_real(&info);
}

#[tokio::test]
async fn runtime_info_binary_header() {
    // The request goes out as a ROCKETMQ binary header. RocketMQ-Rust, like Java 5.x, answers
    // in its default type (JSON) whatever the request used; 4.9.4+ Java brokers mirror the
    // request instead, which `binary_response_from_server` below covers.
    let (resp_ty, info) = runtime_info_with(SerializeType::ROCKETMQ).await;
    assert_eq!(resp_ty, SerializeType::JSON);
    assert_runtime_info_is_real(&info);
}

#[tokio::test]
async fn all_topic_config_decodes() {
    let cluster = Cluster::shared();
    let c = client(cluster.broker.addr(), SerializeType::JSON);
    let w: TopicConfigWrapper = c.fetch(RequestCode::GET_ALL_TOPIC_CONFIG, None).await.expect("topic config");
    // A fresh broker has its system topics; TBW102 is the auto-create template.
    assert!(!w.topic_config_table.is_empty());
    assert!(
        w.topic_config_table.keys().any(|t| t == "TBW102" || t.starts_with("RMQ_SYS") || t.starts_with("SCHEDULE")),
        "{:?}",
        w.topic_config_table.keys()
    );
    for (name, cfg) in &w.topic_config_table {
        assert_eq!(&cfg.topic_name, name);
    }
}

#[tokio::test]
async fn created_topic_shows_in_config_route_and_stats() {
    let cluster = Cluster::shared();
    for ty in [SerializeType::JSON, SerializeType::ROCKETMQ] {
        let c = client(cluster.broker.addr(), ty);
        let topic = unique("itest-create");
        let before: TopicConfigWrapper = c.fetch(RequestCode::GET_ALL_TOPIC_CONFIG, None).await.unwrap();
        assert!(!before.topic_config_table.contains_key(&topic));

        c.call(&CreateTopicRequestHeader::new(&topic, 6), &[]).await.expect("create topic");

        let after: TopicConfigWrapper = c.fetch(RequestCode::GET_ALL_TOPIC_CONFIG, None).await.unwrap();
        let cfg = after.topic_config_table.get(&topic).unwrap_or_else(|| panic!("{topic} missing after create"));
        assert_eq!((cfg.read_queue_nums, cfg.write_queue_nums, cfg.perm), (6, 6, 6));

        let stats = topic_stats(&c, &topic).await;
        assert_eq!(stats.offset_table.len(), 6);
        assert!(stats.offset_table.keys().all(|q| q.topic == topic && q.broker_name == cluster.broker.name()));
        assert!(stats.offset_table.values().all(|o| o.max_offset == 0));
    }
}

#[tokio::test]
async fn send_message_v2_lands_in_topic_stats() {
    let cluster = Cluster::shared();
    let c = client(cluster.broker.addr(), SerializeType::ROCKETMQ);
    let topic = unique("itest-send");
    c.call(&CreateTopicRequestHeader::new(&topic, 1), &[]).await.unwrap();
    let n = 5;
    for i in 0..n {
        let h = SendMessageRequestHeaderV2 {
            producer_group: "itest-producer".into(),
            topic: topic.clone(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            born_timestamp: 1_700_000_000_000,
            properties: Some(encode_properties([("UNIQ_KEY", &*format!("itest-{i}")), ("WAIT", "true")])),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            batch: Some(false),
            ..Default::default()
        };
        let resp = c.call(&h, format!("message {i}").as_bytes()).await.expect("send");
        let ext = resp.header.ext_fields.expect("send response has extFields");
        let sent = SendMessageResponseHeader::from_ext_fields(&ext).expect("send response header");
        assert_eq!((sent.queue_id, sent.queue_offset), (0, i64::from(i)));
    }
    let stats = topic_stats(&c, &topic).await;
    let total: i64 = stats.offset_table.values().map(|o| o.max_offset).sum();
    assert_eq!(total, i64::from(n));
}

#[tokio::test]
async fn broker_consume_stats_decodes() {
    let cluster = Cluster::shared();
    let c = client(cluster.broker.addr(), SerializeType::JSON);
    let l: ConsumeStatsList = c
        .fetch(
            RequestCode::GET_BROKER_CONSUME_STATS,
            Some(GetConsumeStatsInBrokerHeader { is_order: false }.to_ext_fields()),
        )
        .await
        .expect("broker consume stats");
    assert!(l.broker_addr.is_empty() || l.broker_addr == cluster.broker.addr().to_string(), "{}", l.broker_addr);
}

#[tokio::test]
async fn namesrv_queries_decode() {
    let cluster = Cluster::shared();
    let c = client(cluster.namesrv.addr(), SerializeType::JSON);
    let ci: ClusterInfo = c.fetch(RequestCode::GET_BROKER_CLUSTER_INFO, None).await.unwrap();
    let b = &ci.broker_addr_table[cluster.broker.name()];
    assert_eq!(b.master_addr(), Some(cluster.broker.addr().to_string().as_str()));
    assert!(ci.cluster_addr_table[cluster.broker.cluster()].iter().any(|n| n == cluster.broker.name()));

    // A topic created on the broker reaches the name server's routes and topic list once the
    // broker re-registers, so wait on the name server's answer rather than a fixed delay.
    let topic = unique("itest-route");
    client(cluster.broker.addr(), SerializeType::JSON)
        .call(&CreateTopicRequestHeader::new(&topic, 2), &[])
        .await
        .unwrap();
    let route_req = GetRouteInfoRequestHeader { topic: topic.clone(), accept_standard_json_only: None };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let route = loop {
        match c.fetch::<TopicRouteData>(RequestCode::GET_ROUTEINFO_BY_TOPIC, Some(route_req.to_ext_fields())).await {
            Ok(r) => break r,
            Err(ClientError::Server { code: ResponseCode::TOPIC_NOT_EXIST, .. })
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("route for {topic}: {e}"),
        }
    };
    assert_eq!(route.queue_datas[0].write_queue_nums, 2);
    assert_eq!(route.broker_datas[0].master_addr(), Some(cluster.broker.addr().to_string().as_str()));
    let list: TopicList = c.fetch(RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, None).await.unwrap();
    assert!(list.topic_list.contains(&topic));
}

#[tokio::test]
async fn unknown_request_code_gets_a_clear_answer() {
    let cluster = Cluster::shared();
    let c = client(cluster.broker.addr(), SerializeType::JSON);
    // 9999 is not a RocketMQ request code. A broker answers REQUEST_CODE_NOT_SUPPORTED; a
    // server that stays silent (4.9.x name servers do) must surface as a timeout error.
    match c.request(RequestCode(9999), None, &[], Some(Duration::from_secs(5))).await {
        Ok(resp) => {
            assert_eq!(resp.code(), ResponseCode::REQUEST_CODE_NOT_SUPPORTED, "remark {:?}", resp.header.remark);
            let err = rmq_agent::remoting::ClientError::Server {
                request: RequestCode(9999),
                code: resp.code(),
                remark: resp.header.remark.clone().unwrap_or_default(),
            };
            assert!(err.to_string().contains("9999 answered REQUEST_CODE_NOT_SUPPORTED"), "{err}");
        }
        Err(e @ ClientError::Timeout { .. }) => {
            assert!(e.to_string().contains("no response within"))
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
    // The connection is still usable afterwards.
    let (_, info) = runtime_info_with(SerializeType::JSON).await;
    assert!(!info.table.is_empty());
}

#[tokio::test]
async fn concurrent_requests_share_one_connection() {
    let cluster = Cluster::shared();
    let c = client(cluster.broker.addr(), SerializeType::ROCKETMQ);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.fetch::<BrokerRuntimeInfo>(RequestCode::GET_BROKER_RUNTIME_INFO, None).await })
        })
        .collect();
    for t in tasks {
        assert!(!t.await.unwrap().unwrap().table.is_empty());
    }
}

#[tokio::test]
async fn connection_refused_is_a_clear_error() {
    let port = rmq_testkit::free_port().unwrap();
    let c = client(format!("127.0.0.1:{port}"), SerializeType::JSON);
    let err = c.request(RequestCode::GET_BROKER_RUNTIME_INFO, None, &[], None).await.unwrap_err();
    assert_eq!(err.kind(), "connect");
    assert!(err.to_string().starts_with(&format!("cannot connect to 127.0.0.1:{port}")), "{err}");
    // As the binary prints it: wrapped, then with every cause in the chain.
    let printed = format!("{:#}", anyhow::Error::from(err).context("probe"));
    assert_eq!(printed.matches("Connection refused").count(), 1, "{printed}");
}
