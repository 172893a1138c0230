//! Relaying an authenticated tunnel: bytes both ways, in order, one upstream connection per
//! slave connection (the master counts connections as slaves). With inspection on, each
//! chunk is read by the HA inspectors (of the tunnel's protocol) before it is forwarded, and
//! an auto-switch slave's bytes reach the master only in whole messages: the tail of a message
//! not yet complete (at most a header less one byte) is held back until it is.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rmq_runtime::activity::Activity;
use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, Interest};
use tokio::net::TcpStream;

use crate::inspect::{Impossible, MasterReader, Reading, SharedView, SlaveReader};
use crate::stats::SlaveStats;

/// Read buffer per direction. Masters send up to 256 KiB (RocketMQ-Rust) or 32 KiB (Java)
/// per transfer block.
const CHUNK: usize = 256 * 1024;

/// Why a tunnel ended.
#[derive(Debug)]
pub enum RelayEnd {
    /// The slave side closed.
    SlaveClosed,
    /// The master side closed.
    MasterClosed,
    /// A read or write failed.
    Io(std::io::Error),
    /// No bytes either way for the idle timeout.
    Idle,
    /// The stream carried something no HA peer sends.
    Impossible(Impossible),
    /// A newer tunnel authenticated with the same key replaced this one (auto-switch accept
    /// ends keep one live tunnel per key).
    Superseded,
}

/// Copies `from` to `to`; `check` sees every chunk before it is written and says how many
/// bytes at the end of everything read so far are to be held back (the start of a message not
/// yet whole); they are written once later bytes complete it.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    activity: &Activity,
    mut check: impl FnMut(&[u8]) -> Result<usize, Impossible>,
    on_eof: RelayEnd,
) -> RelayEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    // Bytes read and checked but not yet written: the start of an unfinished message.
    let mut held: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => return on_eof,
            Ok(n) => n,
            Err(e) => return RelayEnd::Io(e),
        };
        activity.touch();
        let hold = match check(&buf[..n]) {
            Ok(hold) => hold,
            Err(e) => return RelayEnd::Impossible(e),
        };
        let written = if held.is_empty() && hold == 0 {
            to.write_all(&buf[..n]).await
        } else {
            held.extend_from_slice(&buf[..n]);
            let send = held.len().saturating_sub(hold);
            let r = to.write_all(&held[..send]).await;
            held.drain(..send);
            r
        };
        if let Err(e) = written {
            return RelayEnd::Io(e);
        }
    }
}

/// What an inspected tunnel carries and whose state it updates.
#[derive(Debug, Clone)]
pub struct Inspect {
    /// The slave's replication state.
    pub slave: Arc<SlaveStats>,
    /// How to read the stream.
    pub reading: Reading,
}

/// Relays between the slave side and the master side until either closes, the tunnel idles
/// out or the inspectors object. `inspect` is set when inspection is on.
pub async fn relay<S, M>(slave_side: S, master_side: M, inspect: Option<Inspect>, idle: Duration) -> RelayEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
    M: AsyncRead + AsyncWrite + Unpin,
{
    let activity = Activity::new();
    let (sr, sw) = tokio::io::split(slave_side);
    let (mr, mw) = tokio::io::split(master_side);
    // What the master has sent on this tunnel. Both directions are polled by this one task;
    // the down side publishes it after inspecting a chunk and before forwarding it, so a
    // report can never legitimately exceed it.
    let view = Arc::new(SharedView::default());
    let view_down = Arc::clone(&view);
    let mut up_state = inspect.as_ref().map(|i| (Arc::clone(&i.slave), SlaveReader::new(&i.reading)));
    let mut down_state = inspect.map(|i| (i.slave, MasterReader::new(i.reading.protocol)));
    let up = pump(
        sr,
        mw,
        &activity,
        move |chunk| match &mut up_state {
            Some((s, reader)) => {
                reader.feed(chunk, view.load(), |offset| {
                    s.ack_offset.store(offset, Ordering::Relaxed);
                    s.reports.fetch_add(1, Ordering::Relaxed);
                })?;
                Ok(reader.held_back())
            }
            None => Ok(0),
        },
        RelayEnd::SlaveClosed,
    );
    let down = pump(
        mr,
        sw,
        &activity,
        move |chunk| match &mut down_state {
            Some((s, reader)) => {
                reader.feed(chunk, |b| {
                    if let Some(end) = b.end {
                        s.master_offset.store(end, Ordering::Relaxed);
                    }
                    s.transfer_bytes.fetch_add(b.body, Ordering::Relaxed);
                    if let Some(epoch) = b.epoch {
                        s.epoch.store(i64::from(epoch), Ordering::Relaxed);
                    }
                    if let Some(confirm) = b.confirm_offset {
                        s.confirm_offset.store(confirm, Ordering::Relaxed);
                    }
                })?;
                view_down.publish(reader.view());
                Ok(0)
            }
            None => Ok(0),
        },
        RelayEnd::MasterClosed,
    );
    tokio::select! {
        e = up => e,
        e = down => e,
        () = activity.idle_for(idle) => RelayEnd::Idle,
    }
}

/// Pipe size for splicing: one transfer block of RocketMQ-Rust (Java's are 32 KiB).
const PIPE_SIZE: usize = 256 * 1024;

/// Relays two plain TCP sockets without inspection through `splice(2)`: bytes move from
/// socket to pipe to socket inside the kernel, never copied to this process.
pub async fn splice_relay(slave_side: TcpStream, master_side: TcpStream, idle: Duration) -> RelayEnd {
    let activity = Activity::new();
    tokio::select! {
        e = splice_pump(&slave_side, &master_side, &activity, RelayEnd::SlaveClosed) => e,
        e = splice_pump(&master_side, &slave_side, &activity, RelayEnd::MasterClosed) => e,
        () = activity.idle_for(idle) => RelayEnd::Idle,
    }
}

/// One direction of [`splice_relay`].
async fn splice_pump(from: &TcpStream, to: &TcpStream, activity: &Activity, on_eof: RelayEnd) -> RelayEnd {
    let (pipe_r, pipe_w) = match rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK) {
        Ok(p) => p,
        Err(e) => return RelayEnd::Io(e.into()),
    };
    // A bigger pipe moves a whole block per call; the default (64 KiB) also works.
    let _ = rustix::pipe::fcntl_setpipe_size(&pipe_w, PIPE_SIZE);
    let flags = SpliceFlags::NONBLOCK | SpliceFlags::MOVE;
    loop {
        let n = loop {
            if let Err(e) = from.readable().await {
                return RelayEnd::Io(e);
            }
            match from.try_io(Interest::READABLE, || {
                rustix::pipe::splice(from, None, &pipe_w, None, PIPE_SIZE, flags).map_err(std::io::Error::from)
            }) {
                Ok(0) => return on_eof,
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return RelayEnd::Io(e),
            }
        };
        activity.touch();
        let mut left = n;
        while left > 0 {
            if let Err(e) = to.writable().await {
                return RelayEnd::Io(e);
            }
            match to.try_io(Interest::WRITABLE, || {
                rustix::pipe::splice(&pipe_r, None, to, None, left, flags).map_err(std::io::Error::from)
            }) {
                Ok(m) => left -= m,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return RelayEnd::Io(e),
            }
        }
    }
}
