//! Real replication between RocketMQ-Rust brokers, through the HA guards.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use rmq_protocol::body::{BrokerRuntimeInfo, FromBody as _};
use rmq_protocol::request::{CommandHeader as _, SendMessageRequestHeaderV2};
use rmq_protocol::{Header, RequestCode, ResponseCode, SerializeType};
use rmq_testkit::{Broker, BrokerOptions, Cluster, RocketmqBins, wire};

fn send(broker: SocketAddr, i: usize) {
    let h = SendMessageRequestHeaderV2 {
        producer_group: "ha-producer".into(),
        topic: "TBW102".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        born_timestamp: 1_700_000_000_000,
        ..Default::default()
    };
    let (r, _) = wire::call(broker, &h.to_header(i32::try_from(i).unwrap()), SerializeType::JSON, format!("ha message {i}").as_bytes(), Duration::from_secs(10)).unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
}

fn max_offset(broker: SocketAddr) -> i64 {
    let (h, body) = wire::call(broker, &Header::request(RequestCode::GET_BROKER_RUNTIME_INFO, 1), SerializeType::JSON, &[], Duration::from_secs(10)).unwrap();
    assert_eq!(h.response_code(), ResponseCode::SUCCESS);
    let info = BrokerRuntimeInfo::decode(&body).unwrap();
    info.table.get("commitLogMaxOffset").and_then(|v| v.parse().ok()).unwrap()
}

#[test]
fn direct_replication_baseline() {
    let cluster = Cluster::start(BrokerOptions::default()).unwrap();
    let bins = RocketmqBins::locate().unwrap();
    let slave = Broker::start(&bins, &cluster.namesrv, BrokerOptions { broker_id: 1, ha_master_address: Some(cluster.broker.ha_addr().to_string()), ..BrokerOptions::default() }).unwrap();
    for i in 0..50 {
        send(cluster.broker.addr(), i);
    }
    let want = max_offset(cluster.broker.addr());
    wire::wait_for("slave caught up", Duration::from_secs(60), || {
        let got = max_offset(slave.addr());
        eprintln!("master {want} slave {got}");
        Ok((got >= want).then_some(()))
    }).map_err(|e| { eprintln!("{}", slave.log_tail(60)); e }).unwrap();
}
