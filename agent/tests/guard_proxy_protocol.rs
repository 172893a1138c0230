//! `proxy_protocol = "v2"`: the guard tells the broker side each client's real address.
//!
//! No broker that reads PROXY headers can be installed here (Java 5.1.4+ brokers do; the
//! RocketMQ-Rust 1.0 broker has the reader but never switches it on), so the header is decoded
//! by an independent reader: HAProxy (Debian) with `accept-proxy`, between the guard and the
//! real RocketMQ-Rust broker, logging the source and destination it decoded. A recording tap
//! between the guard and HAProxy shows the header is the first thing on the connection. The
//! RocketMQ-Rust broker itself stands in for a broker that does not read the header.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rmq_agent::config::{Config, GuardKey, GuardListener};
use rmq_agent::guard::ProxyProtocol;
use rmq_protocol::{ExtFields, Header, RawFrame, RequestCode, ResponseCode, SerializeType};
use rmq_runtime::config::HostPort;
use rmq_testkit::tap::Tap;
use rmq_testkit::{Cluster, ManagedProcess, free_port, wire};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

/// HAProxy decoding PROXY headers (`accept-proxy`) in front of `upstream`, one log line per
/// connection with what it decoded.
struct HaProxy {
    addr: SocketAddr,
    process: ManagedProcess,
}

impl HaProxy {
    /// `idle`: HAProxy's client and server timeouts (it closes a connection idle that long).
    fn start(dir: &Path, upstream: SocketAddr, idle: Duration) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap();
        let idle = idle.as_secs();
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(
            &cfg,
            format!(
                "global\n  nbthread 1\n\
                 defaults\n  mode tcp\n  timeout connect 5s\n  timeout client {idle}s\n  timeout server {idle}s\n  \
                 log stdout format raw local0 info\n\
                 listen decoder\n  bind {addr} accept-proxy\n  option tcplog\n  \
                 log-format \"decoded src=%ci:%cp dst=%fi:%fp\"\n  server broker {upstream}\n"
            ),
        )
        .unwrap();
        let process = ManagedProcess::spawn(
            "haproxy",
            Path::new("/usr/sbin/haproxy"),
            &["-db".into(), "-f".into(), cfg.display().to_string()],
            dir,
            &[],
            dir.join("haproxy.log"),
        )
        .unwrap();
        // Ready when it accepts (that probe sends nothing, and is logged as an aborted header).
        wire::wait_for("haproxy", Duration::from_secs(30), || Ok(std::net::TcpStream::connect(addr).ok().map(drop)))
            .unwrap();
        Self { addr, process }
    }

    /// Starts it without blocking the test's runtime.
    async fn spawn(dir: &Path, upstream: SocketAddr) -> Self {
        Self::spawn_idle(dir, upstream, Duration::from_secs(60)).await
    }

    /// [`HaProxy::spawn`] closing connections idle for `idle`.
    async fn spawn_idle(dir: &Path, upstream: SocketAddr, idle: Duration) -> Self {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || Self::start(&dir, upstream, idle)).await.unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.process.log_path()).unwrap_or_default()
    }

    /// Waits for a log line saying HAProxy decoded `src` → `dst` from a PROXY header.
    async fn wait_decoded(&self, src: SocketAddr, dst: SocketAddr) {
        let line = format!("decoded src={}:{} dst={}:{}", src.ip(), src.port(), dst.ip(), dst.port());
        let path = self.process.log_path().to_owned();
        let wanted = line.clone();
        let r = tokio::task::spawn_blocking(move || {
            wire::wait_for("haproxy's decoded address", Duration::from_secs(30), || {
                Ok(std::fs::read_to_string(&path).unwrap_or_default().contains(&wanted).then_some(()))
            })
        })
        .await
        .unwrap();
        if let Err(e) = r {
            panic!("{e:#}: wanted {line:?}\n--- haproxy log ---\n{}", self.log());
        }
    }
}

fn key(dir: &Path) -> PathBuf {
    let p = dir.join("ops-1");
    std::fs::write(&p, "proxy-test-secret").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// The agent with one guard listener per `(name, listen, upstream)`, all sending PROXY v2.
async fn agent(dir: &Path, listeners: &[(&str, SocketAddr, SocketAddr)]) -> support::Agent {
    let mut cfg = Config::default();
    cfg.broker.enabled = false;
    cfg.host.enabled = false;
    cfg.guard.keys = vec![GuardKey::new("ops-1", key(dir))];
    cfg.guard.listeners = listeners
        .iter()
        .map(|(name, listen, upstream)| {
            let mut l = GuardListener::new(*name, *listen, upstream.to_string().parse::<HostPort>().unwrap());
            l.proxy_protocol = ProxyProtocol::V2;
            l
        })
        .collect();
    cfg.validate().unwrap();
    support::Agent::start(cfg).await
}

/// A data-path read (GET_MAX_OFFSET), unsigned through the guard; binary header.
fn request(opaque: i32) -> Bytes {
    let mut h = Header::request(RequestCode::GET_MAX_OFFSET, opaque);
    let ext: ExtFields = [("topic", "TBW102"), ("queueId", "0")].into_iter().collect();
    h.ext_fields = Some(ext);
    rmq_protocol::frame::encode_to_bytes(&h, SerializeType::ROCKETMQ, &[]).unwrap()
}

/// Connects from `from` (port 0: any) to `to`.
async fn connect_from(from: SocketAddr, to: SocketAddr) -> TcpStream {
    let s = if from.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.unwrap();
    s.bind(from).unwrap();
    s.connect(to).await.unwrap()
}

/// Reads one frame (the answer), or None if the connection closes first.
async fn answer(s: &mut TcpStream) -> Option<Header> {
    let mut buf = BytesMut::new();
    loop {
        if let Some(f) = RawFrame::split_from(&mut buf).unwrap() {
            return Some(f.header().unwrap());
        }
        let n =
            tokio::time::timeout(Duration::from_secs(30), s.read_buf(&mut buf)).await.expect("an answer or a close");
        if !matches!(n, Ok(n) if n > 0) {
            return None;
        }
    }
}

/// PROXY v2, TCP over IPv4, written out from the specification's layout (not by the guard's
/// encoder): signature, version/command, family, length, addresses, ports.
fn recorded_tcp4(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else { panic!("IPv4 only") };
    let mut b = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    b.extend_from_slice(&[0x21, 0x11, 0x00, 0x0C]);
    b.extend_from_slice(&s.ip().octets());
    b.extend_from_slice(&d.ip().octets());
    b.extend_from_slice(&s.port().to_be_bytes());
    b.extend_from_slice(&d.port().to_be_bytes());
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_side_decodes_each_clients_own_address() {
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let haproxy = HaProxy::spawn(dir.path(), cluster.broker.addr()).await;
    let tap = Tap::start(haproxy.addr).unwrap();
    let v4: SocketAddr = format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap();
    let v6: SocketAddr = format!("[::1]:{}", free_port().unwrap()).parse().unwrap();
    let agent = agent(dir.path(), &[("v4", v4, tap.addr), ("v6", v6, tap.addr)]).await;

    // An IPv4 client from 127.0.0.2, so its address differs from the guard's own (127.0.0.1).
    let mut c = connect_from("127.0.0.2:0".parse().unwrap(), v4).await;
    let client = c.local_addr().unwrap();
    c.write_all(&request(1)).await.unwrap();
    let h = answer(&mut c).await.expect("the broker answers through HAProxy");
    assert_eq!((h.response_code(), h.opaque), (ResponseCode::SUCCESS, 1), "{:?}", h.remark);
    drop(c); // HAProxy logs a TCP session when it ends
    haproxy.wait_decoded(client, v4).await;
    // On the wire: the header first, then the client's request.
    let up = tap.upstream_bytes();
    assert_eq!(up.len(), 1);
    let header = recorded_tcp4(client, v4);
    assert_eq!(&up[0][..header.len()], header.as_slice(), "not the header first: {:02x?}", &up[0][..32]);
    let mut rest = BytesMut::from(&up[0][header.len()..]);
    let forwarded = RawFrame::split_from(&mut rest).unwrap().expect("the request follows the header");
    assert_eq!(forwarded.header().unwrap().opaque, 1);

    // IPv6: TCP over IPv6, decoded as such.
    let mut c = connect_from("[::1]:0".parse().unwrap(), v6).await;
    let client = c.local_addr().unwrap();
    c.write_all(&request(2)).await.unwrap();
    let h = answer(&mut c).await.expect("the broker answers through HAProxy");
    assert_eq!((h.response_code(), h.opaque), (ResponseCode::SUCCESS, 2), "{:?}", h.remark);
    drop(c);
    haproxy.wait_decoded(client, v6).await;
    assert!(!haproxy.log().contains("does not look like a PROXY"), "{}", haproxy.log());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_header_sent_by_a_client_never_passes() {
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let haproxy = HaProxy::spawn(dir.path(), cluster.broker.addr()).await;
    let tap = Tap::start(haproxy.addr).unwrap();
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap();
    let agent = agent(dir.path(), &[("main", listen, tap.addr)]).await;

    // A client claiming to be 203.0.113.9, in either version, with a valid request after it.
    let spoofed_v2 = {
        let mut b = recorded_tcp4("203.0.113.9:4242".parse().unwrap(), listen);
        b.extend_from_slice(&request(3));
        b
    };
    let spoofed_v1 =
        [format!("PROXY TCP4 203.0.113.9 127.0.0.1 4242 {}\r\n", listen.port()).as_bytes(), &request(4)].concat();
    for spoofed in [spoofed_v2, spoofed_v1] {
        let mut c = TcpStream::connect(listen).await.unwrap();
        c.write_all(&spoofed).await.unwrap();
        assert!(answer(&mut c).await.is_none(), "the guard answered after a client's PROXY header");
    }
    // Neither reached the broker side; each was counted as a malformed frame.
    assert_eq!(tap.connections(), 0);
    let malformed = |b: &str| {
        rmq_testkit::expo::value(
            b,
            "rmq_guard_connection_errors_total",
            &[("listener", "main"), ("reason", "malformed_frame")],
        )
        .unwrap_or(0.0)
    };
    agent.wait_for("both counted", Duration::from_secs(30), |b| malformed(b) == 2.0).await;
    // A well-behaved client next: its own address is what HAProxy decodes, the spoofed one never.
    let mut c = TcpStream::connect(listen).await.unwrap();
    let client = c.local_addr().unwrap();
    c.write_all(&request(5)).await.unwrap();
    assert_eq!(answer(&mut c).await.map(|h| h.opaque), Some(5));
    drop(c);
    haproxy.wait_decoded(client, listen).await;
    assert!(!haproxy.log().contains("203.0.113.9"), "{}", haproxy.log());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_does_not_read_the_header_is_named_in_the_log_and_counted() {
    // RocketMQ-Rust 1.0's broker leaves PROXY support off: the header's first bytes read as a
    // frame length far over its limit, and it closes the connection (as 4.x and 5.x before
    // 5.1.4 do).
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap();
    let agent = agent(dir.path(), &[("main", listen, cluster.broker.addr())]).await;
    let mut c = TcpStream::connect(listen).await.unwrap();
    c.write_all(&request(6)).await.unwrap();
    assert!(answer(&mut c).await.is_none(), "a broker that does not read PROXY headers answered");
    let counted = |b: &str| {
        rmq_testkit::expo::value(
            b,
            "rmq_guard_connection_errors_total",
            &[("listener", "main"), ("reason", "broker_closed_after_proxy_header")],
        )
        .unwrap_or(0.0)
    };
    agent.wait_for("the broker's refusal counted", Duration::from_secs(30), |b| counted(b) == 1.0).await;
    agent.stop().await;
}

/// A connection that carried only a oneway request and was then closed by the broker side for
/// idleness (a Java broker closes connections idle for serverChannelMaxIdleTimeSeconds, 120 s by
/// default, below the guard's idle timeout; HAProxy's 2 s timeout stands in for it here, in
/// front of a broker that reads the header) is not counted as a broker that refused the header:
/// no answer was owed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_close_after_a_oneway_request_is_not_a_refused_header() {
    let cluster = tokio::task::spawn_blocking(Cluster::shared).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let haproxy = HaProxy::spawn_idle(dir.path(), cluster.broker.addr(), Duration::from_secs(2)).await;
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port().unwrap()).parse().unwrap();
    let agent = agent(dir.path(), &[("main", listen, haproxy.addr)]).await;
    // The setting works: HAProxy decodes the header and the broker answers.
    let mut c = TcpStream::connect(listen).await.unwrap();
    c.write_all(&request(1)).await.unwrap();
    assert_eq!(answer(&mut c).await.map(|h| h.opaque), Some(1));
    drop(c);
    // One oneway request (no answer owed), then nothing until the broker side closes.
    let mut h = Header::request(RequestCode::GET_MAX_OFFSET, 2);
    h.flag |= 2;
    let ext: ExtFields = [("topic", "TBW102"), ("queueId", "0")].into_iter().collect();
    h.ext_fields = Some(ext);
    let oneway = rmq_protocol::frame::encode_to_bytes(&h, SerializeType::ROCKETMQ, &[]).unwrap();
    let mut c = TcpStream::connect(listen).await.unwrap();
    c.write_all(&oneway).await.unwrap();
    // The guard closes the client side only after its broker side has ended (and been judged).
    assert!(answer(&mut c).await.is_none());
    let counted = |b: &str| {
        rmq_testkit::expo::value(
            b,
            "rmq_guard_connection_errors_total",
            &[("listener", "main"), ("reason", "broker_closed_after_proxy_header")],
        )
        .unwrap_or(0.0)
    };
    let body = agent
        .wait_for("both connections closed", Duration::from_secs(30), |b| {
            rmq_testkit::expo::value(b, "rmq_guard_connections_active", &[("listener", "main")]) == Some(0.0)
        })
        .await;
    assert_eq!(counted(&body), 0.0, "an idle oneway connection was counted as a refused header");
    agent.stop().await;
}
