//! Blocking request/response over a fresh TCP connection: enough for readiness probes and
//! simple test calls, independent of the code under test.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::{Bytes, BytesMut};
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::{Header, SerializeType};

/// Sends one request and reads frames until the response with the same opaque arrives.
pub fn call(
    addr: SocketAddr,
    header: &Header,
    ty: SerializeType,
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<(Header, Bytes)> {
    let deadline = Instant::now() + timeout;
    let mut s = TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to {addr}"))?;
    s.set_nodelay(true)?;
    s.write_all(&frame::encode_to_bytes(header, ty, body)?)?;
    let mut buf = BytesMut::with_capacity(4096);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        while let Some(f) = RawFrame::split_from(&mut buf)? {
            let h = f.header()?;
            if h.is_response() && h.opaque == header.opaque {
                return Ok((h, f.body()));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("no response from {addr} within {timeout:?}");
        }
        s.set_read_timeout(Some(left))?;
        let n = s.read(&mut chunk).with_context(|| format!("reading from {addr}"))?;
        if n == 0 {
            bail!("{addr} closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// An error that ends [`wait_for`] at once instead of being retried: what is waited for can
/// no longer become ready (its process exited, say).
#[derive(Debug)]
pub struct GiveUp(pub String);

impl std::fmt::Display for GiveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GiveUp {}

/// Calls until `check` accepts the answer, or `timeout` passes. Each attempt waits for a
/// real answer (or a refused connection); the short pause between attempts only paces them.
/// An error is remembered (and reported at the timeout) and the attempt repeated, except a
/// [`GiveUp`], which is returned at once.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut attempt: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match attempt() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) if e.is::<GiveUp>() => return Err(e),
            Err(e) => last_err = Some(e),
        }
        if Instant::now() >= deadline {
            let why = last_err.map(|e| format!(": {e:#}")).unwrap_or_default();
            bail!("{what} not ready within {timeout:?}{why}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
