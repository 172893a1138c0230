//! Attacks against the accept side, in front of a real master. Each asserts the guard closed
//! the connection, counted the reason, and that nothing reached the master: the accept
//! side's upstream is a tap that counts connections and bytes on the way to the master's HA
//! port, and one legitimate tunnel is the control that shows the tap does see traffic.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rmq_protocol::ha::{Parsed, TransferHeader};
use rmq_protocol::request::{CommandHeader as _, SendMessageRequestHeaderV2};
use rmq_protocol::sign::ha_v1;
use rmq_protocol::{ResponseCode, SerializeType};
use rmq_testkit::tap::Tap;
use rmq_testkit::{Cluster, wire};
use support::{Guard, SECRET, accepted, free_addr, hello, key_file, now_ms, until_closed};

/// Sends `bytes` and expects the guard to close without answering.
fn refused(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    // EOF (or a reset) once the guard closes; nothing before it.
    let _ = s.read_to_end(&mut got);
    assert!(got.is_empty(), "the guard answered a refused first packet: {got:?}");
}

#[test]
fn attacks_on_the_accept_side_never_reach_the_master() {
    let cluster = Cluster::shared();
    let tap = Tap::start(cluster.broker.ha_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "ha-1", SECRET);
    let wrong = key_file(dir.path(), "wrong", "not-the-secret");
    let (accept, wrong_connect) = (free_addr(), free_addr());
    let guard = Guard::start(
        dir.path(),
        "accept",
        &format!(
            "[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n\
             [[accept]]\nlisten = \"{accept}\"\nupstream = \"{}\"\nbroker_name = \"broker-a\"\n\
             hello_timeout_ms = 1000\nmax_connections = 1100\nmax_pending_hellos = 1100\n",
            key.display(),
            tap.addr
        ),
    );
    // Counters are published once a second: wait for the exact expected value.
    let expect = |r: &str, n: f64| {
        guard.wait_value(r, "rmq_ha_guard_rejected_total", &[("side", "accept"), ("reason", r)], |v| v == n);
    };

    // MQCloud's incident: "99999999" typed into telnet, i.e. an 8-byte offset report.
    refused(accept, b"99999999");
    // Random bytes.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let random: Vec<u8> = (0..64)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    refused(accept, &[&[0x17u8][..], &random].concat());
    expect("bad_magic", 2.0);
    // Expired (10 minutes old; the window is 30 s), signed with the wrong secret, an unknown
    // key id, and a packet for another broker. Each is stamped as it is sent: the guard checks
    // the window before the broker name, so a stamp taken before the waits above could have
    // aged past the window on a slow machine and the wrong broker be counted as expired.
    refused(accept, &hello("ha-1", SECRET, now_ms() - 600_000, 1, "broker-a"));
    refused(accept, &hello("ha-1", "not-the-secret", now_ms(), 2, "broker-a"));
    refused(accept, &hello("nobody", SECRET, now_ms(), 3, "broker-a"));
    refused(accept, &hello("ha-1", SECRET, now_ms(), 4, "broker-b"));
    for r in ["expired", "bad_signature", "unknown_key", "wrong_broker"] {
        expect(r, 1.0);
    }
    // A connection that sends nothing.
    refused(accept, &[]);
    expect("hello_timeout", 1.0);
    assert_eq!(tap.connections(), 0, "an attack reached the master");

    // The control: a valid first packet is answered and a tunnel opens to the master.
    let valid = hello("ha-1", SECRET, now_ms(), 5, "broker-a");
    drop(accepted(accept, &valid));
    // The guard's connect() returns before the tap's accept() counts it.
    let reached = |n: usize| {
        rmq_testkit::wire::wait_for("tunnel reaches the master", Duration::from_secs(30), || {
            Ok((tap.connections() >= n).then_some(()))
        })
        .unwrap();
    };
    reached(1);
    // The same packet again: replayed.
    refused(accept, &valid);
    expect("replayed", 1.0);

    // An authenticated peer whose reports are impossible (going backwards) is cut off before
    // the impossible report is forwarded. The chunk holding it is not forwarded at all, so
    // the master gets the first report only if it arrived in a read of its own.
    let mut t = accepted(accept, &hello("ha-1", SECRET, now_ms(), 6, "broker-a"));
    let before = tap.bytes_up();
    t.write_all(&[16i64.to_be_bytes(), 8i64.to_be_bytes()].concat()).unwrap();
    until_closed(&mut t);
    guard.wait_value(
        "impossible stream counted",
        "rmq_ha_guard_rejected_total",
        &[("reason", "impossible_stream")],
        |v| v >= 1.0,
    );
    let forwarded = tap.bytes_up() - before;
    assert!(forwarded == 0 || forwarded == 8, "the backwards report reached the master ({forwarded} bytes)");

    // A connect-side guard holding the wrong secret: refused by the accept side, and it
    // closes its slave's connection.
    let slave_side = Guard::start(
        dir.path(),
        "connect",
        &format!(
            "[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n[[connect]]\nlisten = \"{wrong_connect}\"\nremote = \"{accept}\"\nbroker_name = \"broker-a\"\nkey_id = \"ha-1\"\n",
            wrong.display()
        ),
    );
    refused(wrong_connect, &0i64.to_be_bytes());
    slave_side.wait_value(
        "connect side counted the refusal",
        "rmq_ha_guard_rejected_total",
        &[("reason", "refused_by_remote")],
        |v| v >= 1.0,
    );
    expect("bad_signature", 2.0);

    // 1,000 half-open connections, each with the start of a first packet: every one is
    // closed at the deadline, none reaches the master, and the guard still serves.
    let half: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let mut s = TcpStream::connect(accept).unwrap();
            s.write_all(&ha_v1::HELLO_MAGIC).unwrap();
            s
        })
        .collect();
    for mut s in half {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut b = [0u8; 1];
        assert!(matches!(s.read(&mut b), Ok(0) | Err(_)), "a half-open connection got an answer");
    }
    expect("hello_timeout", 1001.0);
    reached(2);
    assert_eq!(tap.connections(), 2, "a half-open connection reached the master");
    drop(accepted(accept, &hello("ha-1", SECRET, now_ms(), 7, "broker-a")));
    reached(3);
    assert_eq!(tap.connections(), 3);
}

/// Puts one message on the master, so it has commitlog bytes to send.
fn put_one(broker: SocketAddr) {
    let h = SendMessageRequestHeaderV2 {
        producer_group: "ha-attack-producer".into(),
        topic: "TBW102".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        born_timestamp: 1_700_000_000_000,
        ..Default::default()
    };
    let (r, _) =
        wire::call(broker, &h.to_header(1), SerializeType::JSON, b"ha attack fixture", Duration::from_secs(10))
            .unwrap();
    assert_eq!(r.response_code(), ResponseCode::SUCCESS, "{:?}", r.remark);
}

#[test]
fn a_forged_offset_report_beyond_what_was_relayed_never_reaches_the_master() {
    let cluster = Cluster::shared();
    put_one(cluster.broker.addr());
    let tap = Tap::start(cluster.broker.ha_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "ha-1", SECRET);
    let accept = free_addr();
    let guard = Guard::start(
        dir.path(),
        "accept",
        &format!(
            "[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n\
             [[accept]]\nlisten = \"{accept}\"\nupstream = \"{}\"\nbroker_name = \"broker-a\"\n",
            key.display(),
            tap.addr
        ),
    );
    // A peer holding the key, acting as a slave with an empty store: it reports 0, and the
    // master starts sending from the start of its last commitlog file.
    let mut t = accepted(accept, &hello("ha-1", SECRET, now_ms(), 1, "broker-a"));
    t.write_all(&0i64.to_be_bytes()).unwrap();
    // Read blocks until one carries data (a heartbeat has none).
    let received = loop {
        let mut header = [0u8; TransferHeader::LEN];
        t.read_exact(&mut header).unwrap();
        let Ok(Parsed::Complete(h, _)) = TransferHeader::parse(&header) else {
            panic!("not a transfer header: {header:?}")
        };
        let mut body = vec![0u8; usize::try_from(h.body_size).unwrap()];
        t.read_exact(&mut body).unwrap();
        if h.body_size > 0 {
            break h.phy_offset + i64::from(h.body_size);
        }
    };

    // Acknowledging exactly what it received is a report like any slave's: forwarded.
    t.write_all(&received.to_be_bytes()).unwrap();
    wire::wait_for("the honest report reaches the master", Duration::from_secs(30), || {
        Ok((tap.bytes_up() >= 16).then_some(()))
    })
    .unwrap();
    // A report 1 TiB beyond it would raise the master's replicated watermark
    // (push2SlaveMaxOffset), so a SYNC_MASTER would acknowledge writes no slave holds. The
    // guard closes the tunnel before forwarding it.
    t.write_all(&(received + (1 << 40)).to_be_bytes()).unwrap();
    until_closed(&mut t); // the rest of the transfer, until the guard closes
    guard.wait_value(
        "the forged report is counted",
        "rmq_ha_guard_rejected_total",
        &[("side", "accept"), ("reason", "report_beyond_relayed")],
        |v| v == 1.0,
    );
    assert_eq!(tap.bytes_up(), 16, "the forged report reached the master");
    assert_eq!(tap.connections(), 1);
    assert!(guard.log().contains("beyond what the master has sent"), "{}", guard.log());
}
