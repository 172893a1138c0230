//! The HTTP endpoint: `/metrics` (OpenMetrics when asked for, else the classic text
//! format), `/healthz`, and a small index; served under a connection cap and a request-head
//! deadline, so a flood of scrapers or slow clients cannot take the process's descriptors.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tracing::{debug, warn};

use crate::accept::{Accepted, LimitedAcceptor};
use crate::config::{DefaultListen, HttpConfig};
use crate::metrics::{Exposition, Family, Registry, Snapshot};

fn routes(name: &'static str, state: Scrape) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/", get(move || async move { format!("{name}: /metrics /healthz\n") }))
        .with_state(state)
}

/// What `/metrics` shows: the registry, and the endpoint's own counters when served by
/// [`serve`].
#[derive(Debug, Clone)]
struct Scrape {
    registry: Registry,
    http: Option<Arc<HttpStats>>,
}

async fn metrics(State(scrape): State<Scrape>, headers: HeaderMap) -> impl IntoResponse {
    let format = Exposition::from_accept(headers.get(ACCEPT).and_then(|v| v.to_str().ok()));
    // Each snapshot is encoded in this format by the first scrape after its collector
    // published it, and kept; a scrape copies those encodings.
    let mut snapshots = scrape.registry.snapshots();
    if let Some(stats) = &scrape.http {
        // A handful of series, encoded per scrape: they belong to the endpoint, not to a
        // collector's cycle.
        snapshots.push(Arc::new(Snapshot::new(stats.families())));
    }
    let body = format.render(&snapshots);
    (StatusCode::OK, [(CONTENT_TYPE, format.content_type())], body)
}

/// Serves `/metrics`, `/healthz` and an index naming `name` on `listener` until `shutdown`
/// resolves, at most `cfg.max_connections` connections at once (one more is closed as soon as
/// it is accepted) and each bound by `cfg.header_timeout` (see [`HttpConfig`]).
/// `/metrics` also shows the endpoint's own counters (`rmq_http_*`).
pub async fn serve<F, L>(
    listener: TcpListener,
    name: &'static str,
    registry: Registry,
    cfg: &HttpConfig<L>,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
    L: DefaultListen,
{
    let stats = Arc::new(HttpStats::default());
    let listener = CappedListener::new(
        listener,
        cfg.max_connections.max(1),
        cfg.header_timeout.max(Duration::from_millis(1)),
        Arc::clone(&stats),
    );
    axum::serve(listener, routes(name, Scrape { registry, http: Some(stats) })).with_graceful_shutdown(shutdown).await
}

/// The endpoint's own counters.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Connections being served now.
    open: AtomicU64,
    /// Closed on accept: `max_connections` were open.
    over_limit: AtomicU64,
    /// Closed: no whole request head within the deadline.
    header_timeout: AtomicU64,
    /// Closed: a keep-alive connection sent nothing after its last answer (ordinary).
    idle: AtomicU64,
    /// Closed: a blocked response write made no progress within the deadline.
    write_timeout: AtomicU64,
}

impl HttpStats {
    /// As metric families.
    #[allow(clippy::cast_precision_loss)]
    pub fn families(&self) -> Vec<Family> {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        vec![
            Family::gauge("rmq_http_connections_open", "Connections to /metrics and /healthz being served now.")
                .with(vec![], load(&self.open)),
            Family::counter(
                "rmq_http_connections_closed",
                "Connections to /metrics and /healthz the server closed itself, by reason.",
            )
            .with(vec![("reason", "connection_limit".into())], load(&self.over_limit))
            .with(vec![("reason", "header_timeout".into())], load(&self.header_timeout))
            .with(vec![("reason", "idle".into())], load(&self.idle))
            .with(vec![("reason", "write_timeout".into())], load(&self.write_timeout)),
        ]
    }
}

/// A listener that hands axum at most `max` connections at once, each wrapped in a
/// [`CappedConn`].
#[derive(Debug)]
pub struct CappedListener {
    acceptor: LimitedAcceptor,
    local: io::Result<SocketAddr>,
    timeout: Duration,
    stats: Arc<HttpStats>,
}

impl CappedListener {
    /// Accepts on `listener`: `max` connections at once, `timeout` for request heads and
    /// blocked writes.
    pub fn new(listener: TcpListener, max: usize, timeout: Duration, stats: Arc<HttpStats>) -> Self {
        let local = listener.local_addr();
        Self { acceptor: LimitedAcceptor::new(listener, max), local, timeout, stats }
    }
}

impl axum::serve::Listener for CappedListener {
    type Io = CappedConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.acceptor.next("http").await {
                Accepted::Conn(io, peer, slot) => {
                    self.stats.open.fetch_add(1, Ordering::Relaxed);
                    return (CappedConn::new(io, slot, self.timeout, Arc::clone(&self.stats), peer), peer);
                }
                Accepted::OverLimit(peer) => {
                    self.stats.over_limit.fetch_add(1, Ordering::Relaxed);
                    warn!(%peer, "HTTP connection limit reached (http.max_connections); closed");
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        match &self.local {
            Ok(a) => Ok(*a),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

/// One served connection: holds its slot until dropped, and fails its reads or writes once
/// a deadline passes, which makes hyper close it.
///
/// - Head deadline: from the accept, and again from each response write, a whole request
///   head (a non-empty line, then an empty line) must arrive within the timeout. A client
///   sending its headers slowly, or nothing, is closed (`header_timeout`, a warning); so is a
///   keep-alive connection that sends nothing after an answer (`idle`, ordinary: Prometheus
///   keeps connections between scrapes).
/// - Write deadline: a response write that stays blocked (a client not reading) for the
///   timeout fails.
#[derive(Debug)]
pub struct CappedConn {
    io: TcpStream,
    _slot: OwnedSemaphorePermit,
    timeout: Duration,
    stats: Arc<HttpStats>,
    peer: SocketAddr,
    /// Waiting for a request head until then.
    head_deadline: Option<Instant>,
    /// A blocked write fails then.
    write_deadline: Option<Instant>,
    /// Where the current request head has got to.
    head: HeadScan,
    /// An answer has been written, and whether any byte has come since the last one.
    answered: bool,
    heard: bool,
    timer: Pin<Box<Sleep>>,
    expired: bool,
}

impl CappedConn {
    fn new(
        io: TcpStream,
        slot: OwnedSemaphorePermit,
        timeout: Duration,
        stats: Arc<HttpStats>,
        peer: SocketAddr,
    ) -> Self {
        let deadline = Instant::now() + timeout;
        Self {
            io,
            _slot: slot,
            timeout,
            stats,
            peer,
            head_deadline: Some(deadline),
            write_deadline: None,
            head: HeadScan::default(),
            answered: false,
            heard: false,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            expired: false,
        }
    }

    /// The error to fail with once a deadline has passed (counted and logged once).
    fn check(&mut self) -> Option<io::Error> {
        let now = Instant::now();
        let head = self.head_deadline.is_some_and(|d| now >= d);
        let write = self.write_deadline.is_some_and(|d| now >= d);
        if !head && !write {
            return None;
        }
        let idle = head && self.answered && !self.heard;
        let what = match (idle, head) {
            (true, _) => "idle keep-alive connection: no request",
            (false, true) => "no whole request head",
            (false, false) => "a blocked response write made no progress",
        };
        if !self.expired {
            self.expired = true;
            if idle {
                self.stats.idle.fetch_add(1, Ordering::Relaxed);
                debug!(peer = %self.peer, timeout = ?self.timeout, "HTTP connection closed: {what} in time");
            } else {
                let counter = if head { &self.stats.header_timeout } else { &self.stats.write_timeout };
                counter.fetch_add(1, Ordering::Relaxed);
                warn!(peer = %self.peer, timeout = ?self.timeout, "HTTP connection closed: {what} in time");
            }
        }
        Some(io::Error::new(io::ErrorKind::TimedOut, format!("{what} within {:?}", self.timeout)))
    }

    /// Arms the timer for the nearest deadline, so the task is woken when it passes.
    fn arm(&mut self, cx: &mut Context<'_>) {
        let next = match (self.head_deadline, self.write_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(d) = next {
            if self.timer.deadline() != d {
                self.timer.as_mut().reset(d);
            }
            if self.timer.as_mut().poll(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
        }
    }

    /// Looks for the end of a request head in bytes just read.
    fn scan(&mut self, bytes: &[u8]) {
        self.heard |= !bytes.is_empty();
        if self.head_deadline.is_some() && self.head.feed(bytes) {
            // The head is whole; the next response write starts the next wait.
            self.head_deadline = None;
        }
    }

    /// A response write went through: the next request head is due within the timeout.
    /// Accounts for a write attempt's outcome: progress, or a blocked write whose deadline
    /// starts now.
    fn after_write(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(Ok(n)) => {
                self.wrote(n);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.write_blocked(cx);
                Poll::Pending
            }
        }
    }

    fn wrote(&mut self, n: usize) {
        self.write_deadline = None;
        if n > 0 {
            self.head_deadline = Some(Instant::now() + self.timeout);
            self.head = HeadScan::default();
            self.answered = true;
            self.heard = false;
        }
    }

    fn write_blocked(&mut self, cx: &mut Context<'_>) {
        if self.write_deadline.is_none() {
            self.write_deadline = Some(Instant::now() + self.timeout);
        }
        self.arm(cx);
    }
}

/// Finds the empty line that ends a request head, in any split, with LF or CRLF line ends
/// (as hyper takes them), and only after a non-empty line (hyper skips empty lines before a
/// request line, so they must not end the wait). Two bytes of state.
#[derive(Debug, Default)]
struct HeadScan {
    last: [u8; 2],
    content: bool,
}

impl HeadScan {
    /// Reads `bytes`; true once the head has ended (the state then starts over).
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if b == b'\n' && self.content && (self.last[1] == b'\n' || self.last == *b"\n\r") {
                *self = Self::default();
                return true;
            }
            if b != b'\r' && b != b'\n' {
                self.content = true;
            }
            self.last = [self.last[1], b];
        }
        false
    }
}

impl Drop for CappedConn {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for CappedConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.scan(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                this.arm(cx);
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for CappedConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.after_write(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.after_write(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use std::io::{Read as _, Write as _};

    use tokio::sync::oneshot;

    use super::*;
    use crate::metrics::SnapshotSlot;

    struct Server {
        addr: SocketAddr,
        stats: Arc<HttpStats>,
        stop: Option<oneshot::Sender<()>>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            if let Some(s) = self.stop.take() {
                let _ = s.send(());
            }
        }
    }

    /// Serves like [`serve`] on a loopback port, keeping a handle on the counters.
    async fn start(max: usize, timeout: Duration) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let stats = Arc::new(HttpStats::default());
        let listener = CappedListener::new(l, max, timeout, Arc::clone(&stats));
        let slot = SnapshotSlot::new();
        slot.publish(vec![Family::gauge("rmq_test_up", "A family to render.").with(vec![], 1.0)]);
        let app = routes("test", Scrape { registry: Registry::new(vec![slot]), http: Some(Arc::clone(&stats)) });
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Server { addr, stats, stop: Some(tx) }
    }

    /// One request on a fresh connection (blocking, run off the runtime): the status line,
    /// or the error that ended the connection first.
    async fn get(addr: SocketAddr, path: &'static str) -> Result<String, String> {
        tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
            // The write may fail on a connection the server has already closed.
            let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut got = String::new();
            match s.read_to_string(&mut got) {
                Ok(_) if got.starts_with("HTTP/1.1 ") => Ok(got),
                Ok(_) => Err(format!("closed without an answer ({got:?})")),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
        .unwrap()
    }

    /// Opens a connection that sends nothing, and returns once the server has accepted it
    /// (counted it open).
    async fn hold(server: &Server, n: u64) -> tokio::net::TcpStream {
        let s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        while server.stats.open.load(Ordering::Relaxed) < n {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        s
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_closed_until_slots_free_up() {
        // A long head deadline: here the held connections must stay, not time out.
        let server = start(3, Duration::from_secs(600)).await;
        let mut held = Vec::new();
        for n in 1..=3 {
            held.push(hold(&server, n).await);
        }
        for _ in 0..5 {
            let r = get(server.addr, "/healthz").await;
            assert!(r.is_err(), "served over the cap: {r:?}");
        }
        drop(held);
        // The slots come back as the server sees the closes; then scrapes are served again,
        // and the endpoint's counters show what happened.
        let body = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Ok(r) = get(server.addr, "/metrics").await {
                    return r;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("rmq_test_up 1"), "{body}");
        assert!(body.contains("rmq_http_connections_closed_total{reason=\"connection_limit\"} 5"), "{body}");
        assert!(body.contains("rmq_http_connections_open 1"), "{body}");
        assert_eq!(server.stats.over_limit.load(Ordering::Relaxed), 5);
        assert_eq!(server.stats.header_timeout.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_client_sending_its_head_slowly_is_closed() {
        let server = start(4, Duration::from_secs(1)).await;
        let addr = server.addr;
        // A byte every 50 ms of a head that never ends: activity, but never a whole head.
        let (closed, trickled) = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").unwrap();
            let mut r = s.try_clone().unwrap();
            let writer = std::thread::spawn(move || {
                let mut sent = 0u32;
                while s.write_all(b"a").is_ok() {
                    sent += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                sent
            });
            r.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let mut got = Vec::new();
            let closed = match r.read_to_end(&mut got) {
                Ok(_) => got.is_empty(),
                Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
            };
            (closed, writer.join().unwrap())
        })
        .await
        .unwrap();
        assert!(closed, "the slow client was not closed without an answer");
        assert!(trickled > 0);
        assert_eq!(server.stats.header_timeout.load(Ordering::Relaxed), 1);
        // A client that says nothing at all is closed too, and the slot comes back.
        let mut silent = hold(&server, 1).await;
        let mut b = [0u8; 1];
        let n = tokio::io::AsyncReadExt::read(&mut silent, &mut b).await;
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        assert_eq!(server.stats.header_timeout.load(Ordering::Relaxed), 2);
        assert!(get(server.addr, "/healthz").await.unwrap().starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn keep_alive_requests_are_each_answered_and_an_idle_one_is_closed() {
        let server = start(4, Duration::from_secs(1)).await;
        let addr = server.addr;
        let answers = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut answers = 0;
            // LF-only line ends and a head split into single bytes are still whole heads.
            for req in [&b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"[..], b"GET /healthz HTTP/1.1\nHost: x\n\n"] {
                for b in req {
                    s.write_all(&[*b]).unwrap();
                }
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).unwrap();
                assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&buf[..n]));
                answers += 1;
            }
            // Then idle: closed at the deadline.
            let mut rest = Vec::new();
            assert!(matches!(s.read_to_end(&mut rest), Ok(0) | Err(_)));
            answers
        })
        .await
        .unwrap();
        assert_eq!(answers, 2);
        // Ordinary between scrapes: counted apart from slow or silent clients.
        assert_eq!(server.stats.idle.load(Ordering::Relaxed), 1);
        assert_eq!(server.stats.header_timeout.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn the_endpoint_counters_follow_the_registry_in_either_format() {
        let slot = SnapshotSlot::new();
        slot.publish(vec![Family::gauge("rmq_test_up", "A family to render.").with(vec![], 1.0)]);
        let stats = Arc::new(HttpStats::default());
        stats.header_timeout.fetch_add(2, Ordering::Relaxed);
        let scrape = Scrape { registry: Registry::new(vec![slot]), http: Some(stats) };
        for accept in ["application/openmetrics-text; version=1.0.0", "text/plain"] {
            let mut h = HeaderMap::new();
            h.insert(ACCEPT, accept.parse().unwrap());
            let r = metrics(State(scrape.clone()), h).await.into_response();
            let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(body.contains("rmq_test_up 1"), "{body}");
            assert!(body.contains("rmq_http_connections_closed_total{reason=\"header_timeout\"} 2"), "{body}");
            assert_eq!(body.matches("# EOF").count(), usize::from(accept.contains("openmetrics")), "{body}");
            if accept.contains("openmetrics") {
                assert!(body.ends_with("# EOF\n"), "{body}");
            }
        }
    }

    #[test]
    fn the_end_of_a_head_is_found_only_after_a_non_empty_line() {
        let ends = |chunks: &[&[u8]]| {
            let mut c = HeadScan::default();
            chunks.iter().any(|ch| c.feed(ch))
        };
        assert!(ends(&[b"GET / HTTP/1.1\r\n\r\n"]));
        assert!(ends(&[b"GET / HTTP/1.1\r", b"\n\r", b"\n"]));
        assert!(ends(&[b"GET / HTTP/1.1\n\n"]));
        // Empty lines before a request line do not end anything (hyper skips them).
        assert!(!ends(&[b"\r\n\r\n\n\n", b"GET / HTTP/1.1\r\nHost: x\r\n"]));
        assert!(!ends(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r"]));
    }
}
