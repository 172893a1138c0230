//! The connection, the request path, and its two tasks: the reader, which hands each
//! response to its waiting request, and the writer, which sends every frame queued since its
//! last write in one `write` (a cycle's requests go out a few at a time, so one system call
//! carries several).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use bytes::Bytes;
use rmq_protocol::body::FromBody;
use rmq_protocol::frame::{self, RawFrame};
use rmq_protocol::request::CommandHeader;
use rmq_protocol::sign::{SigningKey, acl_v1};
use rmq_protocol::{ExtFields, Header, RequestCode, ResponseCode, SerializeType};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::{debug, warn};

use super::ClientError;
use super::frames::{FrameReader, ReadEnd};

/// ACL 1.0 credentials for brokers that have ACL enabled.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account (`AccessKey`).
    pub access_key: String,
    /// Its secret.
    pub secret: SigningKey,
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port`.
    pub addr: String,
    /// Header encoding for requests.
    pub serialize_type: SerializeType,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Default per-request timeout.
    pub request_timeout: Duration,
    /// Sign every request with ACL 1.0.
    pub credentials: Option<Credentials>,
}

impl ClientConfig {
    /// JSON headers, 3 s connect and 10 s request timeouts, no ACL.
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            serialize_type: SerializeType::JSON,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            credentials: None,
        }
    }
}

/// A response: its header, the serialize type it came in, and its body (a slice of the
/// frame, not a copy).
#[derive(Debug, Clone)]
pub struct Response {
    /// The decoded header.
    pub header: Header,
    /// How the server encoded it (5.x servers answer JSON whatever the request used).
    pub serialize_type: SerializeType,
    /// The body.
    pub body: Bytes,
}

impl Response {
    /// The response code.
    pub fn code(&self) -> ResponseCode {
        self.header.response_code()
    }
}

/// What a waiting request is handed: its response, or why its frame could not be written.
type Outcome = Result<Response, ClientError>;

type Pending = Arc<StdMutex<HashMap<i32, oneshot::Sender<Outcome>>>>;

/// A request's encoded frame, queued for the writer, with the opaque its response will carry.
type Outgoing = (i32, Bytes);

#[derive(Debug)]
struct Connection {
    outbox: mpsc::Sender<Outgoing>,
    pending: Pending,
    reader: tokio::task::JoinHandle<()>,
}

impl Connection {
    fn is_open(&self) -> bool {
        !self.reader.is_finished() && !self.outbox.is_closed()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A remoting client. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    conn: Mutex<Option<Arc<Connection>>>,
    next_opaque: AtomicI32,
    backoff: StdMutex<Backoff>,
}

/// Reconnect pacing: after a failed connect, further attempts wait (100 ms doubling to
/// [`MAX_BACKOFF`]); requests made meanwhile fail at once with the last error.
#[derive(Debug, Default)]
struct Backoff {
    delay: Duration,
    retry_at: Option<tokio::time::Instant>,
    last_error: String,
}

/// The longest wait between reconnect attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(100);

impl Client {
    /// A client for `config`; the connection is made on first use and remade after it drops.
    pub fn new(config: ClientConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                conn: Mutex::new(None),
                next_opaque: AtomicI32::new(1),
                backoff: StdMutex::new(Backoff::default()),
            }),
        }
    }

    /// The server address.
    pub fn addr(&self) -> &str {
        &self.inner.config.addr
    }

    /// How this client reaches its server (to dial a peer the same way).
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    async fn connection(&self) -> Result<Arc<Connection>, ClientError> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| c.is_open()) {
            return Ok(Arc::clone(c));
        }
        let cfg = &self.inner.config;
        {
            let b = lock(&self.inner.backoff);
            if let Some(at) = b.retry_at
                && tokio::time::Instant::now() < at
            {
                let msg = format!("{} (next attempt in {:?})", b.last_error, at - tokio::time::Instant::now());
                return Err(ClientError::Connect { addr: cfg.addr.clone(), cause: std::io::Error::other(msg) });
            }
        }
        let attempt = match tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(&cfg.addr)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")),
        };
        let stream = match attempt {
            Ok(s) => {
                *lock(&self.inner.backoff) = Backoff::default();
                s
            }
            Err(cause) => {
                let mut b = lock(&self.inner.backoff);
                b.delay = (b.delay * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                b.retry_at = Some(tokio::time::Instant::now() + b.delay);
                b.last_error = cause.to_string();
                return Err(ClientError::Connect { addr: cfg.addr.clone(), cause });
            }
        };
        stream.set_nodelay(true).map_err(|cause| ClientError::Io { addr: cfg.addr.clone(), cause })?;
        let (read, write) = stream.into_split();
        let pending: Pending = Arc::default();
        let reader = tokio::spawn(read_loop(read, Arc::clone(&pending), cfg.addr.clone()));
        let (outbox, queued) = mpsc::channel(MAX_QUEUED);
        // Ends when the connection is dropped (the queue closes) or a write fails.
        tokio::spawn(write_loop(write, queued, Arc::clone(&pending), reader.abort_handle(), cfg.addr.clone()));
        let conn = Arc::new(Connection { outbox, pending, reader });
        debug!(addr = %cfg.addr, "connected");
        *slot = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Sends a request with `code`, `ext` and `body` and waits for its response, whatever its
    /// response code. `timeout` overrides the configured one.
    pub async fn request(
        &self,
        code: RequestCode,
        ext: Option<ExtFields>,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Response, ClientError> {
        let cfg = &self.inner.config;
        let opaque = self.inner.next_opaque.fetch_add(1, Ordering::Relaxed);
        let mut header = Header::request(code, opaque);
        header.ext_fields = ext;
        if let Some(c) = &cfg.credentials {
            let ext = header.ext_fields.get_or_insert_with(ExtFields::new);
            acl_v1::sign(ext, body, &c.access_key, &c.secret, None);
        }
        let wire = frame::encode_to_bytes(&header, cfg.serialize_type, body)?;
        let conn = self.connection().await?;
        let (tx, rx) = oneshot::channel();
        lock(&conn.pending).insert(opaque, tx);
        // The request's timeout covers the wait for room in the queue too (MAX_QUEUED frames
        // queued: a server that stopped reading); a request given up on takes its frame, if
        // still unqueued, and its waiting slot with it.
        let after = timeout.unwrap_or(cfg.request_timeout);
        let exchange = async {
            if conn.outbox.send((opaque, wire)).await.is_err() {
                // The writer has stopped: a write failed just now.
                return Err(ClientError::Disconnected { code, addr: cfg.addr.clone() });
            }
            rx.await.unwrap_or_else(|_| Err(ClientError::Disconnected { code, addr: cfg.addr.clone() }))
        };
        let outcome = tokio::time::timeout(after, exchange)
            .await
            .unwrap_or_else(|_| Err(ClientError::Timeout { code, addr: cfg.addr.clone(), after }));
        if outcome.is_err() {
            lock(&conn.pending).remove(&opaque);
        }
        outcome
    }

    /// Sends a typed request header and returns the response if its code is SUCCESS.
    pub async fn call<H: CommandHeader>(&self, header: &H, body: &[u8]) -> Result<Response, ClientError> {
        let resp = self.request(H::CODE, Some(header.to_ext_fields()), body, None).await?;
        success(H::CODE, resp)
    }

    /// Sends `code` with `ext` and decodes a successful response's body as `B`.
    pub async fn fetch<B: FromBody>(&self, code: RequestCode, ext: Option<ExtFields>) -> Result<B, ClientError> {
        let resp = success(code, self.request(code, ext, &[], None).await?)?;
        B::decode(&resp.body).map_err(|cause| ClientError::Body { request: code, cause })
    }
}

/// The response if it is SUCCESS, else a `Server` error carrying the remark.
pub(crate) fn success(request: RequestCode, resp: Response) -> Result<Response, ClientError> {
    if resp.code() == ResponseCode::SUCCESS {
        Ok(resp)
    } else {
        Err(ClientError::Server { request, code: resp.code(), remark: resp.header.remark.clone().unwrap_or_default() })
    }
}

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the map inconsistent; keep going.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Frames queued for one write at most; more wait for the next.
const MAX_BATCH: usize = 64;

/// Frames queued for the writer at most; further requests wait to queue theirs.
const MAX_QUEUED: usize = 1024;

/// Sends the queued frames, each batch in one write. When a write fails, the requests of that
/// batch get the I/O error, every other waiting request is woken as disconnected, and the
/// reader is stopped, so the next request dials again.
async fn write_loop(
    mut write: OwnedWriteHalf,
    mut queued: mpsc::Receiver<Outgoing>,
    pending: Pending,
    reader: tokio::task::AbortHandle,
    addr: String,
) {
    let mut batch: Vec<Outgoing> = Vec::with_capacity(MAX_BATCH);
    let mut buf: Vec<u8> = Vec::new();
    while queued.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let written = if let [(_, frame)] = batch.as_slice() {
            write.write_all(frame).await
        } else {
            buf.clear();
            for (_, frame) in &batch {
                buf.extend_from_slice(frame);
            }
            write.write_all(&buf).await
        };
        if let Err(e) = written {
            warn!(%addr, error = %e, "write failed; dropping the connection");
            queued.close();
            reader.abort();
            let mut p = lock(&pending);
            for (opaque, _) in batch.drain(..) {
                if let Some(tx) = p.remove(&opaque) {
                    let cause = std::io::Error::new(e.kind(), e.to_string());
                    let _ = tx.send(Err(ClientError::Io { addr: addr.clone(), cause }));
                }
            }
            // Dropping the senders wakes every other waiter with "disconnected".
            p.clear();
            return;
        }
        batch.clear();
        // Keep a large body's buffer no longer than its batch.
        if buf.capacity() > 1 << 16 {
            buf = Vec::new();
        }
    }
}

async fn read_loop(read: tokio::net::tcp::OwnedReadHalf, pending: Pending, addr: String) {
    // A server's headers are trusted for size (the agent only talks to its own broker and name
    // servers), but still framed and bounded by Java's frame limit.
    let mut reader = FrameReader::trusting(read);
    loop {
        match reader.next().await {
            Ok(f) => dispatch(f, &pending, &addr),
            Err(ReadEnd::Eof) => {
                debug!(%addr, "server closed the connection");
                break;
            }
            Err(ReadEnd::Io(e)) => {
                warn!(%addr, error = %e, "read failed; dropping the connection");
                break;
            }
            Err(e) => {
                warn!(%addr, error = ?e, "invalid frame from server; dropping the connection");
                break;
            }
        }
    }
    // Dropping the senders wakes every waiter with "disconnected".
    lock(&pending).clear();
}

fn dispatch(f: RawFrame, pending: &Pending, addr: &str) {
    let header = match f.header() {
        Ok(h) => h,
        Err(e) => {
            warn!(%addr, error = %e, "undecodable header from server; frame skipped");
            return;
        }
    };
    if !header.is_response() {
        // Server-to-client requests (CHECK_TRANSACTION_STATE, …) are for producers and
        // consumers; the agent is neither.
        debug!(%addr, code = %header.request_code(), "ignoring request from server");
        return;
    }
    let waiter = lock(pending).remove(&header.opaque);
    match waiter {
        Some(tx) => {
            let _ = tx.send(Ok(Response { serialize_type: f.serialize_type(), body: f.body(), header }));
        }
        None => debug!(%addr, opaque = header.opaque, "response for an abandoned request"),
    }
}
