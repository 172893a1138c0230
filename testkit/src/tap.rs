//! A TCP forwarder between a component under test and a real server that records what reaches
//! the server: "nothing reached the broker" is `connections() == 0`, and "what reached it was
//! canonical" is a look at `upstream_bytes()`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What one connection sent toward the upstream.
type Recording = Arc<Mutex<Vec<u8>>>;

/// A recording forwarder to one upstream address; runs until the test process ends.
#[derive(Debug, Clone)]
pub struct Tap {
    /// Where the component under test should point its upstream.
    pub addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    /// Bytes sent toward the upstream, one buffer per connection, in accept order.
    up: Arc<Mutex<Vec<Recording>>>,
}

impl Tap {
    /// Starts forwarding to `upstream`.
    pub fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let tap = Self { addr: l.local_addr()?, conns: Arc::default(), up: Arc::default() };
        let t = tap.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(client) = s else { continue };
                t.conns.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(upstream) else { continue };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
                let record: Recording = Arc::default();
                t.up.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Arc::clone(&record));
                std::thread::spawn(move || copy(client, server, Some(&record)));
                std::thread::spawn(move || copy(s2, c2, None));
            }
        });
        Ok(tap)
    }

    /// Connections that reached the upstream so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// Every byte sent toward the upstream so far, per connection.
    pub fn upstream_bytes(&self) -> Vec<Vec<u8>> {
        let conns = self.up.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        conns.iter().map(|c| c.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()).collect()
    }

    /// Total bytes sent toward the upstream so far.
    pub fn bytes_up(&self) -> usize {
        self.upstream_bytes().iter().map(Vec::len).sum()
    }
}

fn copy(mut from: TcpStream, mut to: TcpStream, record: Option<&Mutex<Vec<u8>>>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(r) = record {
                    r.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(&buf[..n]);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}
