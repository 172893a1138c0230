//! Attacks on the auto-switch (5.x controller mode) inspector through the real `rmq-ha-guard`
//! binary, from a hostile review. The scripted masters do with the bytes they get what a Java
//! 5.1.1+ master (`AutoSwitchHAConnection`, read in the 5.1.4 source) does; no Java broker runs
//! here.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use rmq_protocol::ha::auto_switch::{MasterHandshakeHeader, MasterHeader, MasterTransferHeader, SlaveMessage};
use support::{Guard, SECRET, accepted, free_addr, hello, key_file, now_ms, until_closed};

fn handshake(id: i64) -> Vec<u8> {
    SlaveMessage::Handshake { is_sync_from_last_file: false, is_async_learner: false, slave_broker_id: id }.encode()
}

fn report(o: i64) -> Vec<u8> {
    SlaveMessage::Transfer { max_offset: o }.encode()
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).unwrap();
    b
}

/// Reads one slave message (16-byte handshake or 12-byte report); None once the peer closed.
fn slave_message(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut st = [0u8; 4];
    s.read_exact(&mut st).ok()?;
    let mut rest = vec![0u8; if i32::from_be_bytes(st) == 1 { 12 } else { 8 }];
    s.read_exact(&mut rest).ok()?;
    Some([&st[..], &rest].concat())
}

/// A master handshake stating end `max`, with `epochs` entries of 12 bytes.
fn master_handshake(max: i64, epochs: &[(i32, i64)]) -> Vec<u8> {
    MasterHandshakeHeader::encode_with_epochs(max, epochs)
}

fn accept_end(dir: &std::path::Path, upstream: SocketAddr, extra: &str) -> (Guard, SocketAddr) {
    let accept = free_addr();
    let g = Guard::start(
        dir,
        "accept",
        &format!(
            "[[keys]]\nid = \"ha-1\"\nsecret_file = \"{}\"\n[[accept]]\nlisten = \"{accept}\"\nupstream = \"{upstream}\"\n\
             broker_name = \"broker-a\"\nha_protocol = \"auto-switch\"\n{extra}\n",
            key_file(dir, "ha-1", SECRET).display()
        ),
    );
    (g, accept)
}

fn rejected(guard: &Guard, reason: &str, n: f64) {
    guard.wait_value(reason, "rmq_ha_guard_rejected_total", &[("side", "accept"), ("reason", reason)], |v| v == n);
}

/// A Java 5.1.1+ master acts on a slave message once 12 bytes are buffered and reads a
/// handshake's broker id at +8 from its buffer, so a handshake split after 12 bytes would be
/// recorded with bytes that had not arrived. The guard forwards the slave's stream in whole
/// messages only: the master's first look at the stream is the whole handshake it checked.
#[test]
fn a_handshake_split_after_12_bytes_reaches_the_master_whole() {
    let dir = tempfile::tempdir().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let master = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<(usize, Option<i64>)>();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        // The master's read side, as in AutoSwitchHAConnection.ReadSocketService (5.1.4).
        let mut buf = vec![0u8; 1 << 20];
        let (mut position, mut process) = (0usize, 0usize);
        loop {
            let n = match s.read(&mut buf[position..]) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            position += n;
            let mut id = None;
            while position >= process + 12 {
                let state = i32::from_be_bytes(buf[process..process + 4].try_into().unwrap());
                match state {
                    1 => {
                        id = Some(i64::from_be_bytes(buf[process + 8..process + 16].try_into().unwrap()));
                        process += 16;
                    }
                    2 => process += 12,
                    _ => return,
                }
            }
            tx.send((position, id)).unwrap();
        }
    });
    let (_guard, accept) = accept_end(dir.path(), master, "slave_ids = { \"ha-1\" = [2] }");
    let mut t = accepted(accept, &hello("ha-1", SECRET, now_ms(), 1, "broker-a"));
    t.set_nodelay(true).unwrap();
    let hs = handshake(2);
    t.write_all(&hs[..12]).unwrap();
    t.write_all(&hs[12..]).unwrap();
    let (got, id) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!((got, id), (16, Some(2)), "the master saw a partial handshake");
}

/// A Java master whose handshake write was cut short, and whose state the slave's first report
/// then flips to TRANSFER, never writes the rest of its epoch list. A first report before the
/// whole master handshake has passed the guard is refused: an honest slave reads all of it
/// first, and letting it through would leave the guard framing the master's stream out of step
/// (a forged report could then pass as data the master sent).
#[test]
fn a_first_report_before_the_whole_master_handshake_is_refused() {
    const S: i64 = 0x18_0000_1000;
    const E: i64 = S + (1 << 30);
    let dir = tempfile::tempdir().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let master = l.local_addr().unwrap();
    let (got_tx, got_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let Some(m) = slave_message(&mut s) else { return };
        got_tx.send(m).unwrap();
        let mut mh = master_handshake(E, &[(1, 0), (2, S)]);
        mh.truncate(20 + 8); // 8 of 24 epoch bytes made it out
        s.write_all(&mh).unwrap();
        while let Some(m) = slave_message(&mut s) {
            got_tx.send(m).unwrap();
            let heartbeat = MasterHeader::Transfer(MasterTransferHeader {
                body_size: 0,
                offset: E,
                epoch: 2,
                epoch_start_offset: S,
                confirm_offset: E,
            })
            .encode();
            if s.write_all(&heartbeat).is_err() {
                return;
            }
        }
    });
    let (guard, accept) = accept_end(dir.path(), master, "slave_ids = { \"ha-1\" = [2] }");
    let mut t = accepted(accept, &hello("ha-1", SECRET, now_ms(), 1, "broker-a"));
    t.write_all(&handshake(2)).unwrap();
    assert_eq!(got_rx.recv_timeout(Duration::from_secs(30)).unwrap(), handshake(2));
    read_n(&mut t, 28);
    t.write_all(&report(E)).unwrap();
    until_closed(&mut t);
    rejected(&guard, "impossible_stream", 1.0);
    // The master side was closed with the tunnel and its thread has ended: nothing more came.
    let rest: Vec<Vec<u8>> = got_rx.iter().collect();
    assert!(rest.is_empty(), "reached the master: {rest:?}\n{}", guard.log());
}

/// The Java master counts HA connections towards a write's acknowledgements, not slaves. On
/// an auto-switch accept end one key has one live tunnel: a second authenticated tunnel for
/// the same key closes the first, so the key's two first reports are never both live.
#[test]
fn a_second_tunnel_of_a_key_closes_the_first() {
    const E: i64 = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let master = l.local_addr().unwrap();
    // (connection number, report or None when the guard closed that connection)
    let (ev_tx, ev_rx) = mpsc::channel::<(usize, Option<Vec<u8>>)>();
    std::thread::spawn(move || {
        for (n, s) in l.incoming().enumerate() {
            let Ok(mut s) = s else { return };
            let ev_tx = ev_tx.clone();
            std::thread::spawn(move || {
                if slave_message(&mut s).is_some() && s.write_all(&master_handshake(E, &[(1, 0)])).is_ok() {
                    while let Some(m) = slave_message(&mut s) {
                        let _ = ev_tx.send((n, Some(m)));
                    }
                }
                let _ = ev_tx.send((n, None));
            });
        }
    });
    let (guard, accept) = accept_end(dir.path(), master, "slave_ids = { \"ha-1\" = [2] }");
    let mut first = accepted(accept, &hello("ha-1", SECRET, now_ms(), 1, "broker-a"));
    first.write_all(&handshake(2)).unwrap();
    read_n(&mut first, 32);
    first.write_all(&report(E)).unwrap();
    assert_eq!(ev_rx.recv_timeout(Duration::from_secs(30)).unwrap(), (0, Some(report(E))));
    let mut second = accepted(accept, &hello("ha-1", SECRET, now_ms(), 2, "broker-a"));
    // The first tunnel is closed on both sides once the second is authenticated.
    assert_eq!(ev_rx.recv_timeout(Duration::from_secs(30)).unwrap(), (0, None));
    until_closed(&mut first);
    rejected(&guard, "superseded", 1.0);
    // The second works as any tunnel.
    second.write_all(&handshake(2)).unwrap();
    read_n(&mut second, 32);
    second.write_all(&report(E)).unwrap();
    assert_eq!(ev_rx.recv_timeout(Duration::from_secs(30)).unwrap(), (1, Some(report(E))));
}

/// Handshakes are not repeated while one is unanswered (a Java slave repeats only after 5 s
/// without an answer). A flood of them is refused at the second, before it is forwarded.
#[test]
fn a_handshake_flood_does_not_reach_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let master = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<usize>();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut total = 0;
        let mut b = vec![0u8; 65536];
        while let Ok(n) = s.read(&mut b)
            && n > 0
        {
            total += n;
        }
        tx.send(total).unwrap();
    });
    let (guard, accept) = accept_end(dir.path(), master, "");
    let mut t = accepted(accept, &hello("ha-1", SECRET, now_ms(), 1, "broker-a"));
    let flood: Vec<u8> = std::iter::repeat_n(handshake(2), 100_000).flatten().collect();
    let _ = t.write_all(&flood);
    let total = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(total <= 16, "{total} bytes of handshakes reached the master");
    rejected(&guard, "impossible_stream", 1.0);
}
