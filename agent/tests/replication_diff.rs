//! `rocketmq_broker_commitlog_diff` against real RocketMQ-Rust brokers: a master and three
//! slaves registered with a real name server, each reaching one path of the collector.
//!
//! - Slave C replicates for real over loopback: the master's GET_BROKER_HA_STATUS (907) names
//!   its HA connection by 127.0.0.1, the one slave registered on that IP, so its diff comes
//!   from 907 (as on a 5.x master).
//! - Slave A registers 127.0.0.2 and does not replicate (its HA master address leads nowhere):
//!   907 has nothing on that IP, so the agent asks A for its own runtime info and reports the
//!   master's commitlog max offset minus A's — the path every 4.x master takes.
//! - Slave B registers 127.0.0.2 but listens only on 127.0.0.1: the name server lists it, it
//!   does not answer there. It is counted and has no series.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use rmq_protocol::body::{BrokerRuntimeInfo, FromBody as _};
use rmq_protocol::{Header, RequestCode, ResponseCode, SerializeType};
use rmq_testkit::expo::{all, value};
use rmq_testkit::{Broker, BrokerOptions, Cluster, RocketmqBins, wire};
use support::{Agent, fast_config};

const WAIT: Duration = Duration::from_secs(90);

fn max_offset(broker: SocketAddr) -> i64 {
    let req = Header::request(RequestCode::GET_BROKER_RUNTIME_INFO, 1);
    let (h, body) = wire::call(broker, &req, SerializeType::JSON, &[], Duration::from_secs(10)).unwrap();
    assert_eq!(h.response_code(), ResponseCode::SUCCESS, "{:?}", h.remark);
    BrokerRuntimeInfo::decode(&body).unwrap().i64("commitLogMaxOffset").unwrap()
}

fn slave(cluster: &Cluster, id: i64, advertised: Option<&str>, bind: Option<&str>, ha: String) -> Broker {
    let bins = RocketmqBins::locate().unwrap();
    let opts = BrokerOptions {
        broker_id: id,
        ha_master_address: Some(ha),
        advertised_ip: advertised.map(str::to_owned),
        bind_address: bind.map(str::to_owned),
        ..BrokerOptions::default()
    };
    Broker::start(&bins, &cluster.namesrv, opts).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commitlog_diff_per_slave_from_ha_status_or_the_slaves_own_offsets() {
    let (cluster, a, b, c) = tokio::task::spawn_blocking(|| {
        let cluster = Cluster::start(BrokerOptions::default()).unwrap();
        rmq_testkit::fixtures::lagging_group(cluster.broker.addr(), "diff-topic", "diff-group", 20, 0).unwrap();
        // Where nothing listens: a slave pointed there never replicates.
        let nowhere = format!("127.0.0.1:{}", rmq_testkit::free_port().unwrap());
        let a = slave(&cluster, 1, Some("127.0.0.2"), Some("0.0.0.0"), nowhere.clone());
        let b = slave(&cluster, 2, Some("127.0.0.2"), None, nowhere);
        let c = slave(&cluster, 3, None, None, cluster.broker.ha_addr().to_string());
        let want = max_offset(cluster.broker.addr());
        wire::wait_for("slave C caught up", WAIT, || Ok((max_offset(c.addr()) >= want).then_some(()))).unwrap();
        (cluster, a, b, c)
    })
    .await
    .unwrap();
    let master = max_offset(cluster.broker.addr());
    let (a_max, c_max) = (max_offset(a.addr()), max_offset(c.addr()));
    assert!(master > a_max, "slave A must lag for the test to mean anything ({master} vs {a_max})");

    let mut cfg = fast_config(cluster.broker.addr());
    cfg.broker.interval = std::time::Duration::from_secs(3);
    cfg.broker.timeout = std::time::Duration::from_secs(3);
    cfg.broker.request_timeout = std::time::Duration::from_millis(2000);
    let agent = Agent::start(cfg).await;
    let (a_addr, b_addr, c_addr) = (a.advertised_addr(), b.advertised_addr(), c.advertised_addr());
    let diff = |body: &str, addr: &str| value(body, "rocketmq_broker_commitlog_diff", &[("brokerIP", addr)]);
    #[allow(clippy::cast_precision_loss)]
    let body = agent
        .wait_for("a commitlog diff for slaves A and C, and B counted", WAIT, |body| {
            diff(body, &a_addr) == Some((master - a_max) as f64)
                && diff(body, &c_addr) == Some((master - c_max) as f64)
                && value(body, "rmq_agent_slave_request_failures_total", &[("slave", &b_addr)])
                    .is_some_and(|v| v >= 1.0)
        })
        .await;
    // The exporter's labels; B, which does not answer, has no series at all.
    let line = &all(&body, "rocketmq_broker_commitlog_diff", &[("brokerIP", &a_addr)])[0];
    let keys: Vec<&str> = line.labels.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["cluster", "brokerIP", "broker"]);
    assert_eq!(line.labels[2].1, cluster.broker.name());
    assert!(diff(&body, &b_addr).is_none(), "no series for a slave that did not answer");
    assert_eq!(all(&body, "rocketmq_broker_commitlog_diff", &[]).len(), 2);
    // C is covered by the master's HA status and never asked; A and B are asked.
    let asked = |addr: &str| value(&body, "rmq_agent_slave_requests_total", &[("slave", addr)]);
    assert!(asked(&a_addr).is_some_and(|n| n >= 1.0) && asked(&b_addr).is_some_and(|n| n >= 1.0));
    assert_eq!(asked(&c_addr), None, "slave C was asked although GET_BROKER_HA_STATUS names it");
    // The failure says why: nothing listens where B is registered.
    assert!(
        value(&body, "rmq_agent_slave_request_failures_total", &[("slave", &b_addr), ("reason", "connect")]).is_some()
    );
    agent.stop().await;
    drop((a, b, c));
}
