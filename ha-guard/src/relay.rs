//! Relaying an authenticated tunnel: bytes both ways, in order, one upstream connection per
//! slave connection (the master counts connections as slaves). With inspection on, each
//! chunk is read by the HA inspectors before it is forwarded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::inspect::{Impossible, ReportReader, TransferReader};
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
}

/// Milliseconds since the tunnel opened at its last byte.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.last_ms.store(u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Copies `from` to `to`; `check` sees every chunk before it is written.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    activity: &Activity,
    mut check: impl FnMut(&[u8]) -> Result<(), Impossible>,
    on_eof: RelayEnd,
) -> RelayEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => return on_eof,
            Ok(n) => n,
            Err(e) => return RelayEnd::Io(e),
        };
        activity.touch();
        if let Err(e) = check(&buf[..n]) {
            return RelayEnd::Impossible(e);
        }
        if let Err(e) = to.write_all(&buf[..n]).await {
            return RelayEnd::Io(e);
        }
    }
}

/// Relays between the slave side and the master side until either closes, the tunnel idles
/// out or the inspectors object. `inspect` carries the slave's state when inspection is on.
pub async fn relay<S, M>(slave_side: S, master_side: M, inspect: Option<Arc<SlaveStats>>, idle: Duration) -> RelayEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
    M: AsyncRead + AsyncWrite + Unpin,
{
    let activity = Activity { opened: Instant::now(), last_ms: AtomicU64::new(0) };
    let (sr, sw) = tokio::io::split(slave_side);
    let (mr, mw) = tokio::io::split(master_side);
    let mut reports = ReportReader::default();
    let mut transfers = TransferReader::default();
    let up_stats = inspect.clone();
    let up = pump(
        sr,
        mw,
        &activity,
        move |chunk| match &up_stats {
            Some(s) => reports.feed(chunk, |offset| {
                s.ack_offset.store(offset, Ordering::Relaxed);
                s.reports.fetch_add(1, Ordering::Relaxed);
            }),
            None => Ok(()),
        },
        RelayEnd::SlaveClosed,
    );
    let down = pump(
        mr,
        sw,
        &activity,
        move |chunk| match &inspect {
            Some(s) => transfers.feed(chunk, |h| {
                s.master_offset.store(h.phy_offset.saturating_add(i64::from(h.body_size)), Ordering::Relaxed);
                s.transfer_bytes.fetch_add(u64::try_from(h.body_size).unwrap_or(0), Ordering::Relaxed);
            }),
            None => Ok(()),
        },
        RelayEnd::MasterClosed,
    );
    let idle_check = async {
        loop {
            let quiet = activity.quiet_for();
            if quiet >= idle {
                return RelayEnd::Idle;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    };
    tokio::select! {
        e = up => e,
        e = down => e,
        e = idle_check => e,
    }
}
