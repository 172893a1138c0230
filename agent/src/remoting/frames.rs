//! Reading whole remoting frames from a TCP read half: the one reader behind both the admin
//! guard's relay and the agent's broker client.
//!
//! Between frames the buffer is released and the socket awaited without one, so an idle
//! connection holds no buffer; data is read with `read_buf`, whose short-read rule clears
//! readiness (a `try_read` loop would pay an extra would-block `read` per frame). A frame's
//! 8-byte prefix is judged as soon as it arrives ([`rmq_protocol::frame::check`]), and a
//! header longer than the reader's limit is refused before its bytes are waited for.

use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use rmq_protocol::SerializeType;
use rmq_protocol::error::DecodeError;
use rmq_protocol::frame::{self, RawFrame};
use tokio::io::AsyncReadExt as _;
use tokio::net::tcp::OwnedReadHalf;
use tokio::time::{Instant, Sleep};

/// Read size once data is flowing.
const READ_CHUNK: usize = 16 * 1024;

/// Why [`FrameReader::next`] returned without a frame.
#[derive(Debug)]
pub enum ReadEnd {
    /// The peer closed between frames.
    Eof,
    /// The peer closed in the middle of a frame.
    Truncated,
    /// The socket failed.
    Io(std::io::Error),
    /// The bytes are not a frame.
    Malformed(DecodeError),
    /// The frame's header is longer than the reader accepts (its length, from the prefix).
    HeaderTooLarge(usize),
    /// The frame is longer than the reader accepts (its length, from the prefix).
    FrameTooLarge(usize),
    /// The reader's early check refused the frame once its header had arrived, before its
    /// body was buffered (the reason).
    Refused(&'static str),
    /// The caller's timer fired first; the caller decides what is due.
    Tick,
}

/// A look at a frame whose header has arrived and whose body has not: its serialize type, its
/// header bytes and its body length. `Some(reason)` refuses the frame before the body is
/// buffered.
pub type EarlyCheck = Box<dyn FnMut(SerializeType, &[u8], usize) -> Option<&'static str> + Send>;

/// Partial frames longer than this draw on the reader's [`BufferBudget`] while they arrive.
pub const LARGE_FRAME: usize = 64 * 1024;

/// Bytes that large partial frames may hold at once, shared by every reader of a listener: a
/// client cannot make the process buffer more than this by parking many connections one byte
/// short of a large frame.
#[derive(Debug)]
pub struct BufferBudget {
    limit: usize,
    used: std::sync::atomic::AtomicUsize,
}

impl BufferBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { limit, used: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// Bytes taken now.
    pub fn used(&self) -> usize {
        self.used.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn take(&self, n: usize) -> bool {
        use std::sync::atomic::Ordering;
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            if cur.saturating_add(n) > self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(cur, cur + n, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    fn give(&self, n: usize) {
        self.used.fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Frames one direction of a connection.
pub struct FrameReader {
    half: OwnedReadHalf,
    buf: BytesMut,
    /// When the buffered partial frame began arriving.
    partial_since: Option<Instant>,
    max_frame_len: usize,
    max_header_len: usize,
    early: Option<EarlyCheck>,
    /// Whether the early check has seen the frame being received.
    early_done: bool,
    budget: Option<std::sync::Arc<BufferBudget>>,
    /// Bytes of the budget held for the large frame being received.
    reserved: usize,
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        self.release();
    }
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("buffered", &self.buf.len())
            .field("partial_since", &self.partial_since)
            .field("max_frame_len", &self.max_frame_len)
            .field("max_header_len", &self.max_header_len)
            .finish_non_exhaustive()
    }
}

impl FrameReader {
    /// A reader accepting frames up to `max_frame_len` bytes (length prefix included) with
    /// headers up to `max_header_len` bytes; both are judged from the 8-byte prefix.
    pub fn new(half: OwnedReadHalf, max_frame_len: usize, max_header_len: usize) -> Self {
        Self {
            half,
            buf: BytesMut::new(),
            partial_since: None,
            max_frame_len,
            max_header_len,
            early: None,
            early_done: false,
            budget: None,
            reserved: 0,
        }
    }

    /// Makes partial frames over [`LARGE_FRAME`] bytes draw on `budget` while they arrive; a
    /// frame the budget cannot hold is refused (`ReadEnd::Refused("buffer_budget")`).
    pub fn with_budget(mut self, budget: std::sync::Arc<BufferBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    fn release(&mut self) {
        if self.reserved > 0
            && let Some(b) = &self.budget
        {
            b.give(self.reserved);
        }
        self.reserved = 0;
    }

    /// A reader that trusts its peer for size: frames and headers up to Java's frame limit.
    pub fn trusting(half: OwnedReadHalf) -> Self {
        let max = frame::MAX_FRAME_LEN as usize;
        Self::new(half, max + 4, max)
    }

    /// Runs `check` on each frame once its header has arrived, if its body has not yet.
    pub fn with_early_check(mut self, check: EarlyCheck) -> Self {
        self.early = Some(check);
        self
    }

    /// When the partial frame being received began arriving, if one is.
    pub fn partial_since(&self) -> Option<Instant> {
        self.partial_since
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
            self.half.readable().await?;
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        self.half.read_buf(&mut self.buf).await
    }

    fn split(&mut self) -> Result<Option<RawFrame>, ReadEnd> {
        // The frame's own prefix first (a length over Java's limit, an unknown serialize
        // type), then this reader's header limit.
        frame::check(&self.buf).map_err(ReadEnd::Malformed)?;
        if let Some(prefix) = self.buf.first_chunk::<{ frame::PREFIX_LEN }>() {
            let frame_len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize + 4;
            if frame_len > self.max_frame_len {
                return Err(ReadEnd::FrameTooLarge(frame_len));
            }
            let header_len = u32::from_be_bytes([0, prefix[5], prefix[6], prefix[7]]) as usize;
            if header_len > self.max_header_len {
                return Err(ReadEnd::HeaderTooLarge(header_len));
            }
            if frame_len > LARGE_FRAME
                && self.reserved == 0
                && self.buf.len() < frame_len
                && let Some(b) = &self.budget
            {
                if !b.take(frame_len) {
                    return Err(ReadEnd::Refused("buffer_budget"));
                }
                self.reserved = frame_len;
            }
            let header_end = frame::PREFIX_LEN + header_len;
            if !self.early_done
                && self.buf.len() >= header_end
                && self.buf.len() < frame_len
                && let Some(check) = self.early.as_mut()
            {
                self.early_done = true;
                let ty = SerializeType(prefix[4]);
                let body_len = frame_len - header_end;
                if let Some(reason) = check(ty, &self.buf[frame::PREFIX_LEN..header_end], body_len) {
                    return Err(ReadEnd::Refused(reason));
                }
            }
        }
        match RawFrame::split_from(&mut self.buf) {
            Ok(Some(f)) => {
                self.partial_since = None;
                self.early_done = false;
                self.release();
                Ok(Some(f))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(ReadEnd::Malformed(e)),
        }
    }

    /// The next whole frame, with no deadline.
    pub async fn next(&mut self) -> Result<RawFrame, ReadEnd> {
        loop {
            if let Some(f) = self.split()? {
                return Ok(f);
            }
            match self.fill().await {
                Ok(0) => return Err(if self.buf.is_empty() { ReadEnd::Eof } else { ReadEnd::Truncated }),
                Ok(_) => {}
                Err(e) => return Err(ReadEnd::Io(e)),
            }
        }
    }

    /// The next whole frame, or [`ReadEnd::Tick`] when `tick` fires first. A frame that has
    /// started must complete within `frame_timeout`: `tick` is brought forward to that
    /// deadline, and the caller learns of it from [`Self::partial_since`].
    pub async fn next_or_tick(
        &mut self,
        tick: &mut Pin<&mut Sleep>,
        frame_timeout: Option<Duration>,
    ) -> Result<RawFrame, ReadEnd> {
        loop {
            if let Some(f) = self.split()? {
                return Ok(f);
            }
            if !self.buf.is_empty() && self.partial_since.is_none() {
                let now = Instant::now();
                self.partial_since = Some(now);
                if let Some(d) = frame_timeout.map(|t| now + t)
                    && d < tick.deadline()
                {
                    tick.as_mut().reset(d);
                }
            }
            let n = tokio::select! {
                biased;
                n = self.fill() => n,
                () = tick.as_mut() => return Err(ReadEnd::Tick),
            };
            match n {
                Ok(0) => return Err(if self.buf.is_empty() { ReadEnd::Eof } else { ReadEnd::Truncated }),
                Ok(_) => {}
                Err(e) => return Err(ReadEnd::Io(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::{Header, RequestCode, SerializeType};
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
        (a.expect("connect"), b.expect("accept").0)
    }

    fn frame(code: RequestCode, opaque: i32) -> bytes::Bytes {
        frame::encode_to_bytes(&Header::request(code, opaque), SerializeType::JSON, b"body").expect("encode")
    }

    #[tokio::test]
    async fn frames_split_across_writes_and_eof_between_frames() {
        let (mut w, r) = pair().await;
        let (rh, _wh) = r.into_split();
        let mut reader = FrameReader::new(rh, 4096, 1024);
        let a = frame(RequestCode::HEART_BEAT, 1);
        let b = frame(RequestCode::SEND_MESSAGE_V2, 2);
        let mut all = a.to_vec();
        all.extend_from_slice(&b);
        w.write_all(&all[..5]).await.expect("write");
        w.write_all(&all[5..]).await.expect("write");
        w.shutdown().await.expect("shutdown");
        assert_eq!(reader.next().await.expect("first").as_bytes(), &a);
        assert_eq!(reader.next().await.expect("second").as_bytes(), &b);
        assert!(matches!(reader.next().await, Err(ReadEnd::Eof)));
    }

    #[tokio::test]
    async fn header_over_the_limit_is_refused_from_its_prefix() {
        let (mut w, r) = pair().await;
        let (rh, _wh) = r.into_split();
        let mut reader = FrameReader::new(rh, 4096, 16);
        // Only the 8-byte prefix is sent: the reader must not wait for the 100-byte header.
        let mut prefix = 108u32.to_be_bytes().to_vec();
        prefix.extend_from_slice(&100u32.to_be_bytes());
        w.write_all(&prefix).await.expect("write");
        assert!(matches!(reader.next().await, Err(ReadEnd::HeaderTooLarge(100))));
    }

    #[tokio::test]
    async fn frame_over_the_limit_is_refused_from_its_prefix() {
        let (mut w, r) = pair().await;
        let (rh, _wh) = r.into_split();
        let mut reader = FrameReader::new(rh, 64, 16);
        let mut prefix = 100u32.to_be_bytes().to_vec();
        prefix.extend_from_slice(&8u32.to_be_bytes());
        w.write_all(&prefix).await.expect("write");
        assert!(matches!(reader.next().await, Err(ReadEnd::FrameTooLarge(104))));
    }

    #[tokio::test]
    async fn early_check_sees_the_header_before_the_body_and_can_refuse() {
        let (mut w, r) = pair().await;
        let (rh, _wh) = r.into_split();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        let mut reader = FrameReader::new(rh, 1 << 20, 1024).with_early_check(Box::new(move |ty, header, body_len| {
            log.lock().expect("lock").push((ty, header.len(), body_len));
            (body_len > 1000).then_some("body_too_large")
        }));
        // A small frame in two writes: checked once, passes.
        let f = frame(RequestCode::HEART_BEAT, 1);
        let header_end = f.len() - 4;
        w.write_all(&f[..header_end]).await.expect("write");
        let tick = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(tick);
        let got = reader.next_or_tick(&mut tick, Some(Duration::from_millis(1))).await;
        assert!(matches!(got, Err(ReadEnd::Tick)), "waiting for the body");
        w.write_all(&f[header_end..]).await.expect("write");
        tick.as_mut().reset(Instant::now() + Duration::from_secs(3600));
        assert_eq!(reader.next_or_tick(&mut tick, None).await.expect("frame").as_bytes(), &f);
        // A frame announcing a large body: refused once its header is in, body never sent.
        let h = frame::encode_to_bytes(
            &Header::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 2),
            SerializeType::JSON,
            &[0; 5000],
        )
        .expect("encode");
        w.write_all(&h[..h.len() - 5000]).await.expect("write");
        assert!(matches!(reader.next().await, Err(ReadEnd::Refused("body_too_large"))));
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[1].2, 5000);
    }

    #[tokio::test]
    async fn large_partial_frames_share_one_budget() {
        let budget = std::sync::Arc::new(BufferBudget::new(3 * LARGE_FRAME));
        let big = frame::encode_to_bytes(
            &Header::request(RequestCode::SEND_MESSAGE_V2, 1),
            SerializeType::JSON,
            &vec![b'x'; 2 * LARGE_FRAME],
        )
        .expect("encode");
        let (mut w1, r1) = pair().await;
        let (mut w2, r2) = pair().await;
        let mut a = FrameReader::new(r1.into_split().0, 1 << 20, 1024).with_budget(std::sync::Arc::clone(&budget));
        let mut b = FrameReader::new(r2.into_split().0, 1 << 20, 1024).with_budget(std::sync::Arc::clone(&budget));
        // The first holds most of a large frame; the second cannot start one as well.
        w1.write_all(&big[..big.len() - 1]).await.expect("write");
        w2.write_all(&big[..100]).await.expect("write");
        let tick = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(tick);
        let got = a.next_or_tick(&mut tick, Some(Duration::from_millis(1))).await;
        assert!(matches!(got, Err(ReadEnd::Tick)));
        assert_eq!(budget.used(), big.len());
        assert!(matches!(b.next().await, Err(ReadEnd::Refused("buffer_budget"))));
        // Once the first completes, its share comes back.
        w1.write_all(&big[big.len() - 1..]).await.expect("write");
        tick.as_mut().reset(Instant::now() + Duration::from_secs(3600));
        assert_eq!(a.next_or_tick(&mut tick, None).await.expect("frame").as_bytes(), &big);
        assert_eq!(budget.used(), 0);
        // And a reader dropped mid-frame gives its share back too.
        let (mut w3, r3) = pair().await;
        let mut c = FrameReader::new(r3.into_split().0, 1 << 20, 1024).with_budget(std::sync::Arc::clone(&budget));
        w3.write_all(&big[..100]).await.expect("write");
        tick.as_mut().reset(Instant::now() + Duration::from_millis(50));
        assert!(matches!(c.next_or_tick(&mut tick, None).await, Err(ReadEnd::Tick)));
        assert_eq!(budget.used(), big.len());
        drop(c);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn partial_frame_reports_tick_and_when_it_started() {
        let (mut w, r) = pair().await;
        let (rh, _wh) = r.into_split();
        let mut reader = FrameReader::new(rh, 4096, 1024);
        let f = frame(RequestCode::HEART_BEAT, 1);
        w.write_all(&f[..10]).await.expect("write");
        let tick = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(tick);
        let got = reader.next_or_tick(&mut tick, Some(Duration::from_millis(1))).await;
        assert!(matches!(got, Err(ReadEnd::Tick)));
        assert!(reader.partial_since().is_some());
        w.write_all(&f[10..]).await.expect("write");
        tick.as_mut().reset(Instant::now() + Duration::from_secs(3600));
        assert_eq!(reader.next_or_tick(&mut tick, None).await.expect("frame").as_bytes(), &f);
        assert!(reader.partial_since().is_none());
    }
}
