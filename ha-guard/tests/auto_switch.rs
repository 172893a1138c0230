//! `ha_protocol = "auto-switch"` through the real `rmq-ha-guard` binary, on recorded streams.
//!
//! No broker that speaks Java's auto-switch HA can run here: Java brokers cannot be installed,
//! and RocketMQ-Rust 1.0's controller mode frames replication its own way (16-byte reports of
//! offset and broker id, 20-byte transfer headers, no state field, no handshake). So the two
//! brokers are scripts that speak the byte layouts of 5.x controller mode
//! (`rmq_protocol::ha::auto_switch`, each checked against bytes written out from the layouts):
//! a master that answers a handshake with its commitlog end and epoch list and then sends
//! data and heartbeats, and a slave that truncates and reports.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq_protocol::ha::auto_switch::{MasterHandshakeHeader, MasterHeader, MasterTransferHeader, SlaveMessage};
use rmq_testkit::tap::Tap;
use support::{Guard, SECRET, accepted, free_addr, hello, key_file, now_ms, until_closed};

/// The scripted master's commitlog end (what its handshake states) and epochs.
const MASTER_END: i64 = 8192;
const EPOCHS: [(i32, i64); 2] = [(1, 0), (2, 4096)];
/// Data the master sends after the slave's first report.
const DATA: usize = 100;

fn handshake(broker_id: i64) -> Vec<u8> {
    SlaveMessage::Handshake { is_sync_from_last_file: false, is_async_learner: false, slave_broker_id: broker_id }
        .encode()
}

fn report(offset: i64) -> Vec<u8> {
    SlaveMessage::Transfer { max_offset: offset }.encode()
}

fn master_handshake() -> Vec<u8> {
    let mut b =
        MasterHeader::Handshake(MasterHandshakeHeader { body_size: 24, max_phy_offset: MASTER_END, last_epoch: 2 })
            .encode();
    for (epoch, start) in EPOCHS {
        b.extend_from_slice(&epoch.to_be_bytes());
        b.extend_from_slice(&start.to_be_bytes());
    }
    b
}

/// A transfer of `body` bytes at `offset` in epoch 2, with `confirm`.
fn transfer(offset: i64, body: usize, confirm: i64) -> Vec<u8> {
    let mut b = MasterHeader::Transfer(MasterTransferHeader {
        body_size: i32::try_from(body).unwrap(),
        offset,
        epoch: 2,
        epoch_start_offset: 4096,
        confirm_offset: confirm,
    })
    .encode();
    b.extend(std::iter::repeat_n(0xCD, body));
    b
}

/// A scripted 5.x controller-mode master. Each connection: read messages by their state;
/// answer the first 16-byte handshake with the master's (a handshake repeated before it was
/// answered is read and dropped, as one written answer clears the Java master's flag), then
/// each 12-byte report — the first with `DATA` bytes from the reported offset, later ones
/// with a heartbeat confirming the reported offset. Returns its address and what each
/// connection received.
fn scripted_master() -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let record = Arc::clone(&received);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let record = Arc::clone(&record);
            std::thread::spawn(move || serve_slave(s, &record));
        }
    });
    (addr, received)
}

fn serve_slave(mut s: TcpStream, record: &Mutex<Vec<Vec<u8>>>) {
    let i = {
        let mut r = record.lock().unwrap();
        r.push(Vec::new());
        r.len() - 1
    };
    let got = |b: &[u8]| record.lock().unwrap()[i].extend_from_slice(b);
    let (mut answered, mut sent_data) = (false, false);
    let mut state = [0u8; 4];
    while s.read_exact(&mut state).is_ok() {
        let rest = if i32::from_be_bytes(state) == 1 { 12 } else { 8 };
        let mut fields = vec![0u8; rest];
        if s.read_exact(&mut fields).is_err() {
            return;
        }
        got(&[&state[..], &fields].concat());
        let answer = match (i32::from_be_bytes(state), answered, sent_data) {
            (1, false, _) => {
                answered = true;
                master_handshake()
            }
            (1, true, _) => continue,
            (_, _, first_data) => {
                let offset = i64::from_be_bytes(fields[..8].try_into().unwrap());
                sent_data = true;
                transfer(offset, if first_data { 0 } else { DATA }, offset)
            }
        };
        if s.write_all(&answer).is_err() {
            return;
        }
    }
}

fn keys(dir: &std::path::Path) -> String {
    format!("[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n", key_file(dir, "ha-1", SECRET).display())
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).unwrap();
    b
}

#[test]
fn a_controller_mode_exchange_passes_both_guards_unchanged_and_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let (master, received) = scripted_master();
    let (accept, connect) = (free_addr(), free_addr());
    let guard = Guard::start(
        dir.path(),
        "guards",
        &format!(
            "{}[[accept]]\nlisten = \"{accept}\"\nupstream = \"{master}\"\nbroker_name = \"broker-a\"\n\
             ha_protocol = \"auto-switch\"\n\
             [[connect]]\nname = \"slave-a\"\nlisten = \"{connect}\"\nremote = \"{accept}\"\nbroker_name = \"broker-a\"\n\
             key_id = \"ha-1\"\nha_protocol = \"auto-switch\"\n",
            keys(dir.path())
        ),
    );
    // The slave: handshake, read the master's, report the consistent point (4096, where
    // epoch 2 starts), take the data, report its new end. (A Java slave repeats its handshake
    // only after 5 s without an answer; one repeated before the answer is refused, see
    // auto_switch_attacks.rs.)
    let mut s = TcpStream::connect(connect).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&handshake(2)).unwrap();
    assert_eq!(read_n(&mut s, master_handshake().len()), master_handshake());
    s.write_all(&report(4096)).unwrap();
    assert_eq!(read_n(&mut s, 36 + DATA), transfer(4096, DATA, 4096));
    let end = 4096 + i64::try_from(DATA).unwrap();
    s.write_all(&report(end)).unwrap();
    assert_eq!(read_n(&mut s, 36), transfer(end, 0, end));

    // Both ends measured the slave the same way.
    for (name, side) in [("broker-a", "accept"), ("slave-a", "connect")] {
        let labels = [("guard", name), ("side", side), ("slave", "127.0.0.1")];
        #[allow(clippy::cast_precision_loss)]
        let end_f = end as f64;
        guard.wait_value("ack offset", "rmq_ha_guard_slave_ack_offset", &labels, |v| v == end_f);
        guard.wait_value("master offset", "rmq_ha_guard_master_offset", &labels, |v| v == end_f);
        assert_eq!(guard.value("rmq_ha_guard_slave_lag_bytes", &labels), 0.0);
        assert_eq!(guard.value("rmq_ha_guard_master_epoch", &labels), 2.0);
        assert_eq!(guard.value("rmq_ha_guard_confirm_offset", &labels), end_f);
        assert_eq!(guard.value("rmq_ha_guard_transfer_bytes_total", &labels), 100.0);
        assert_eq!(guard.value("rmq_ha_guard_slave_reports_total", &labels), 2.0);
    }
    drop(s);
    // The master received exactly what the slave sent.
    let want = [handshake(2), report(4096), report(end)].concat();
    rmq_testkit::wire::wait_for("the master's bytes", Duration::from_secs(30), || {
        Ok((received.lock().unwrap().first() == Some(&want)).then_some(()))
    })
    .unwrap();
    assert_eq!(guard.sum("rmq_ha_guard_rejected_total", &[]), 0.0, "{}", guard.log());
}

#[test]
fn forged_auto_switch_streams_never_reach_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let (master, _) = scripted_master();
    let tap = Tap::start(master).unwrap();
    let accept = free_addr();
    let guard = Guard::start(
        dir.path(),
        "accept",
        &format!(
            "{}[[accept]]\nlisten = \"{accept}\"\nupstream = \"{}\"\nbroker_name = \"broker-a\"\n\
             ha_protocol = \"auto-switch\"\nslave_ids = {{ \"ha-1\" = [2] }}\n",
            keys(dir.path()),
            tap.addr
        ),
    );
    let rejected = |reason: &str, n: f64| {
        guard.wait_value(reason, "rmq_ha_guard_rejected_total", &[("side", "accept"), ("reason", reason)], |v| v == n);
    };
    // What reached the master on connection `i` (the tap records one buffer per connection;
    // the guard dials the master once the first packet is verified).
    let forwarded = |i: usize| {
        rmq_testkit::wire::wait_for("the tunnel reaches the master", Duration::from_secs(30), || {
            Ok((tap.connections() > i).then_some(()))
        })
        .unwrap();
        tap.upstream_bytes().get(i).cloned().unwrap_or_default()
    };
    let mut nonce = 0u8;
    let mut tunnel = || {
        nonce += 1;
        accepted(accept, &hello("ha-1", SECRET, now_ms(), nonce, "broker-a"))
    };

    // A key holder's first report 1 TiB beyond the commitlog end the master just stated: the
    // master would take it as the slave's acknowledged offset, and a SYNC_MASTER would
    // acknowledge writes no slave holds.
    let mut t = tunnel();
    t.write_all(&handshake(2)).unwrap();
    assert_eq!(read_n(&mut t, master_handshake().len()), master_handshake());
    t.write_all(&report(1 << 40)).unwrap();
    until_closed(&mut t);
    rejected("report_beyond_relayed", 1.0);
    assert_eq!(forwarded(0), handshake(2), "the forged report reached the master");

    // A report with no handshake: a master would start a transfer on it.
    let mut t = tunnel();
    t.write_all(&report(0)).unwrap();
    until_closed(&mut t);
    rejected("impossible_stream", 1.0);
    assert_eq!(forwarded(1), Vec::<u8>::new());

    // Another broker id on the same connection: the master would count the acks as another
    // slave's.
    let mut t = tunnel();
    t.write_all(&handshake(2)).unwrap();
    assert_eq!(read_n(&mut t, master_handshake().len()), master_handshake());
    t.write_all(&handshake(3)).unwrap();
    until_closed(&mut t);
    rejected("impossible_stream", 2.0);
    assert_eq!(forwarded(2), handshake(2));

    // A classic slave's 8-byte report on an auto-switch tunnel: state 0 is no slave message.
    let mut t = tunnel();
    t.write_all(&0i64.to_be_bytes()).unwrap();
    until_closed(&mut t);
    rejected("impossible_stream", 3.0);
    assert_eq!(forwarded(3), Vec::<u8>::new());

    // A broker id this key may not declare (slave_ids binds ha-1 to broker 2): its acks would
    // count for that slave, which a controller could then elect without the data.
    let mut t = tunnel();
    t.write_all(&handshake(7)).unwrap();
    until_closed(&mut t);
    rejected("wrong_slave_id", 1.0);
    assert_eq!(forwarded(4), Vec::<u8>::new());
    assert!(guard.log().contains("beyond the end of the master's commitlog in its handshake"), "{}", guard.log());
}

#[test]
fn a_tunnel_set_to_the_other_protocol_is_closed_not_passed_unread() {
    // A 5.x controller-mode slave through an end left at the default (classic): its handshake
    // reads as two 8-byte reports, the second (the broker id) below the first, so the tunnel
    // is closed before the master reads anything it could act on.
    let dir = tempfile::tempdir().unwrap();
    let (master, received) = scripted_master();
    let accept = free_addr();
    let guard = Guard::start(
        dir.path(),
        "accept",
        &format!(
            "{}[[accept]]\nlisten = \"{accept}\"\nupstream = \"{master}\"\nbroker_name = \"broker-a\"\n",
            keys(dir.path())
        ),
    );
    let mut t = accepted(accept, &hello("ha-1", SECRET, now_ms(), 1, "broker-a"));
    t.write_all(&handshake(2)).unwrap();
    until_closed(&mut t);
    guard.wait_value(
        "the mismatch is counted",
        "rmq_ha_guard_rejected_total",
        &[("side", "accept"), ("reason", "impossible_stream")],
        |v| v == 1.0,
    );
    assert!(received.lock().unwrap().iter().all(Vec::is_empty), "the master read the handshake");
}
