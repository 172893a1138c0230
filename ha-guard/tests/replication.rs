//! Real replication between RocketMQ-Rust brokers through the HA guards: the slave's
//! `haMasterAddress` points at its connect-side guard, which tunnels to the master host's
//! accept-side guard, which forwards to the master's HA port.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rmq_protocol::body::{BrokerRuntimeInfo, FromBody as _};
use rmq_protocol::request::{CommandHeader as _, SendMessageRequestHeaderV2};
use rmq_protocol::{Header, RequestCode, ResponseCode, SerializeType};
use rmq_testkit::{Broker, BrokerOptions, Cluster, RocketmqBins, wire};
use support::{Guard, SECRET, free_addr, key_file};

fn send(broker: SocketAddr, i: usize) {
    let h = SendMessageRequestHeaderV2 {
        producer_group: "ha-producer".into(),
        topic: "TBW102".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        born_timestamp: 1_700_000_000_000,
        ..Default::default()
    };
    let body = format!("replicated message {i}");
    let header = h.to_header(i32::try_from(i).unwrap());
    let (r, _) = wire::call(broker, &header, SerializeType::JSON, body.as_bytes(), Duration::from_secs(10)).unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
}

fn max_offset(broker: SocketAddr) -> anyhow::Result<i64> {
    let req = Header::request(RequestCode::GET_BROKER_RUNTIME_INFO, 1);
    let (h, body) = wire::call(broker, &req, SerializeType::JSON, &[], Duration::from_secs(10))?;
    anyhow::ensure!(h.response_code() == ResponseCode::SUCCESS, "runtime info: {:?}", h.remark);
    let info = BrokerRuntimeInfo::decode(&body)?;
    info.table.get("commitLogMaxOffset").and_then(|v| v.parse().ok()).ok_or_else(|| anyhow::anyhow!("no offset"))
}

/// Sends `n` messages to the master, then waits until the slave holds all of them and the
/// accept-side guard shows the slave caught up (ack = master offset, lag 0).
fn round(master: &Broker, slave: &Broker, guard: &Guard, from: usize, n: usize) {
    for i in from..from + n {
        send(master.addr(), i);
    }
    let want = max_offset(master.addr()).unwrap();
    let caught_up = wire::wait_for("slave caught up with the master", Duration::from_secs(90), || {
        Ok(max_offset(slave.addr()).ok().filter(|got| *got >= want).map(drop))
    });
    if let Err(e) = caught_up {
        panic!("{e:#}\n--- slave ---\n{}\n--- guard ---\n{}", slave.log_tail(30), guard.log());
    }
    #[allow(clippy::cast_precision_loss)]
    let want_f = want as f64;
    let slave_labels = [("guard", "broker-a"), ("side", "accept"), ("slave", "127.0.0.1")];
    guard
        .wait_value("ack offset reaches the master's", "rmq_ha_guard_slave_ack_offset", &slave_labels, |v| v >= want_f);
    guard.wait_value("lag back to 0", "rmq_ha_guard_slave_lag_bytes", &slave_labels, |v| v == 0.0);
    // A real slave's reports never exceed what the master sent it, whatever was restarted.
    for reason in ["report_beyond_relayed", "impossible_stream"] {
        assert_eq!(guard.value("rmq_ha_guard_rejected_total", &[("reason", reason)]), 0.0, "{}", guard.log());
    }
}

fn keys_toml(key: &Path) -> String {
    format!("[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n", key.display())
}

#[test]
fn replication_through_the_guards_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_toml(&key_file(dir.path(), "ha-1", SECRET));
    let mut cluster = Cluster::start(BrokerOptions::default()).unwrap();
    let (accept, connect) = (free_addr(), free_addr());
    let mut master_guard = Guard::start(
        dir.path(),
        "master-guard",
        &format!(
            "{keys}[[accept]]\nlisten = \"{accept}\"\nupstream = \"{}\"\nbroker_name = \"broker-a\"\n",
            cluster.broker.ha_addr()
        ),
    );
    let mut slave_guard = Guard::start(
        dir.path(),
        "slave-guard",
        &format!(
            // Inspection off on the slave side: that end relays with splice(2).
            "{keys}[[connect]]\nlisten = \"{connect}\"\nremote = \"{accept}\"\nbroker_name = \"broker-a\"\nkey_id = \"ha-1\"\ninspect = false\n"
        ),
    );
    let bins = RocketmqBins::locate().unwrap();
    let opts = BrokerOptions { broker_id: 1, ha_master_address: Some(connect.to_string()), ..BrokerOptions::default() };
    let mut slave = Broker::start(&bins, &cluster.namesrv, opts).unwrap();

    round(&cluster.broker, &slave, &master_guard, 0, 50);
    assert!(master_guard.value("rmq_ha_guard_transfer_bytes_total", &[("side", "accept")]) > 0.0);
    assert_eq!(master_guard.value("rmq_ha_guard_rejected_total", &[]), 0.0, "{}", master_guard.log());

    // Restart each piece in turn: replication resumes by itself.
    master_guard.restart();
    round(&cluster.broker, &slave, &master_guard, 50, 10);
    slave_guard.restart();
    round(&cluster.broker, &slave, &master_guard, 60, 10);
    cluster.broker.restart(&cluster.namesrv).unwrap();
    round(&cluster.broker, &slave, &master_guard, 70, 10);
    slave.restart(&cluster.namesrv).unwrap();
    round(&cluster.broker, &slave, &master_guard, 80, 10);
    slave_guard.stop();
    master_guard.stop();
}

#[test]
fn replication_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_toml(&key_file(dir.path(), "ha-1", SECRET));
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, tls_key) = (dir.path().join("cert.pem"), dir.path().join("tls-key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    key_file(dir.path(), "tls", &ck.key_pair.serialize_pem());
    std::fs::rename(dir.path().join("key-tls"), &tls_key).unwrap();
    let cluster = Cluster::start(BrokerOptions::default()).unwrap();
    let (accept, connect, plain) = (free_addr(), free_addr(), free_addr());
    let master_guard = Guard::start(
        dir.path(),
        "master-guard",
        &format!(
            "{keys}[[accept]]\nlisten = \"{accept}\"\nupstream = \"{}\"\nbroker_name = \"broker-a\"\n\
             tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            cluster.broker.ha_addr(),
            cert.display(),
            tls_key.display()
        ),
    );
    let slave_guard = Guard::start(
        dir.path(),
        "slave-guard",
        &format!(
            "{keys}[[connect]]\nlisten = \"{connect}\"\nremote = \"{accept}\"\nbroker_name = \"broker-a\"\nkey_id = \"ha-1\"\n\
             tls_ca_file = \"{}\"\ntls_server_name = \"localhost\"\n\
             [[connect]]\nname = \"plaintext\"\nlisten = \"{plain}\"\nremote = \"{accept}\"\nbroker_name = \"broker-a\"\nkey_id = \"ha-1\"\n",
            cert.display()
        ),
    );
    let bins = RocketmqBins::locate().unwrap();
    let opts = BrokerOptions { broker_id: 1, ha_master_address: Some(connect.to_string()), ..BrokerOptions::default() };
    let slave = Broker::start(&bins, &cluster.namesrv, opts).unwrap();
    round(&cluster.broker, &slave, &master_guard, 0, 30);

    // A plaintext first packet on the TLS port is refused: the TLS handshake fails.
    let mut s = std::net::TcpStream::connect(plain).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut b = [0u8; 1];
    assert!(matches!(std::io::Read::read(&mut s, &mut b), Ok(0) | Err(_)));
    master_guard.wait_value(
        "TLS refusal counted",
        "rmq_ha_guard_rejected_total",
        &[("side", "accept"), ("reason", "tls_handshake")],
        |v| v >= 1.0,
    );
    slave_guard.wait_value(
        "connect side saw the refusal",
        "rmq_ha_guard_rejected_total",
        &[("guard", "plaintext"), ("reason", "refused_by_remote")],
        |v| v >= 1.0,
    );
}

#[test]
fn a_flood_of_silent_connections_does_not_keep_the_slave_out() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_toml(&key_file(dir.path(), "ha-1", SECRET));
    let cluster = Cluster::start(BrokerOptions::default()).unwrap();
    let (accept, connect) = (free_addr(), free_addr());
    // A small pre-authentication budget, and a first-packet deadline far longer than the
    // test: the slave must get in while the flood holds the budget, not once it times out.
    let master_guard = Guard::start(
        dir.path(),
        "master-guard",
        &format!(
            "{keys}[[accept]]\nlisten = \"{accept}\"\nupstream = \"{}\"\nbroker_name = \"broker-a\"\n\
             max_pending_hellos = 8\nmax_connections = 4\nhello_timeout_ms = 600000\n",
            cluster.broker.ha_addr()
        ),
    );
    let mut slave_guard = Guard::start(
        dir.path(),
        "slave-guard",
        &format!(
            "{keys}[[connect]]\nlisten = \"{connect}\"\nremote = \"{accept}\"\nbroker_name = \"broker-a\"\nkey_id = \"ha-1\"\n"
        ),
    );
    let bins = RocketmqBins::locate().unwrap();
    let opts = BrokerOptions { broker_id: 1, ha_master_address: Some(connect.to_string()), ..BrokerOptions::default() };
    let slave = Broker::start(&bins, &cluster.namesrv, opts).unwrap();
    round(&cluster.broker, &slave, &master_guard, 0, 10);

    // 32 connections that never send a byte, held open: the first 8 fill the budget, and
    // each later one has the oldest closed to make room (or, should a burst outrun the
    // evictions, is itself closed at the descriptor cap). Either way 24 are closed and 8
    // hold the budget.
    let flood: Vec<std::net::TcpStream> = (0..32).map(|_| std::net::TcpStream::connect(accept).unwrap()).collect();
    let closed = |g: &Guard| {
        g.sum("rmq_ha_guard_rejected_total", &[("side", "accept"), ("reason", "pre_auth_limit")])
            + g.sum("rmq_ha_guard_rejected_total", &[("side", "accept"), ("reason", "connection_limit")])
    };
    wire::wait_for("the flood fills the budget", Duration::from_secs(60), || {
        Ok((closed(&master_guard) >= 24.0).then_some(()))
    })
    .unwrap();
    assert!(master_guard.value("rmq_ha_guard_rejected_total", &[("reason", "pre_auth_limit")]) > 0.0);
    let before = closed(&master_guard);

    // The slave loses its tunnel and dials again through its guard, into the full budget.
    slave_guard.restart();
    round(&cluster.broker, &slave, &master_guard, 10, 10);
    // It got in by evicting a silent connection, not by outwaiting the flood.
    assert!(closed(&master_guard) > before, "{}", master_guard.log());
    assert_eq!(
        master_guard.value("rmq_ha_guard_rejected_total", &[("reason", "hello_timeout")]),
        0.0,
        "{}",
        master_guard.log()
    );
    assert!(master_guard.value("rmq_ha_guard_tunnels_total", &[("side", "accept")]) >= 2.0);
    drop(flood);
}
