//! Reading the HA stream as it passes, in the protocol the tunnel end is configured for
//! ([`HaProtocol`]): [`classic`] (4.x, and 5.x without controller mode) or [`auto_switch`]
//! (5.x controller mode). One reader per direction; both take bytes in whatever pieces the
//! socket delivers, keep at most one partial header (`rmq_protocol::ha::stream`), and are fed
//! a chunk *before* it is forwarded, so what they refuse never reaches the other side.
//!
//! The rule that matters is on the slave's offset reports, because a master raises its
//! replicated watermark (`push2SlaveMaxOffset`) to the highest report it ever sees, and a
//! SYNC_MASTER then acknowledges writes no slave holds. A report is impossible when it is
//! negative, goes backwards, or claims more than the slave can hold:
//! - after its first report, more than that first report (where it asked the master to
//!   start) or the end of what the master has sent it on this tunnel (the first transfer's
//!   offset plus the data bytes relayed since), whichever is greater;
//! - the first report: classic HA has no bound before the master has sent anything (the
//!   slave asks to start where it stands); in auto-switch HA the slave reports only after the
//!   master's handshake, which states the master's commitlog end, and a slave truncates its
//!   log to at most that, so a first report beyond it is impossible.
//!
//! Auto-switch adds order: a slave's handshake comes first and does not change or come back
//! after its first report; the master's handshake comes before its first transfer and not
//! after. A slave handshake is refused while an earlier one has not been answered by a whole
//! master handshake, and the first report only passes once every handshake has been answered
//! in full and the master's stream is at a message boundary: a master whose handshake was cut
//! short and then switched to transferring would otherwise leave the guard reading its stream
//! out of step with the slave.
//!
//! What the guard reads on the slave → master side of an auto-switch tunnel is forwarded only
//! in whole messages ([`SlaveReader::held_back`]): a Java master (5.1.1+) acts on a handshake
//! once 12 of its 16 bytes have arrived and reads the broker id from its buffer, so a split
//! handshake could make the master see another id than the one the guard checked.

pub mod auto_switch;
pub mod classic;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

use rmq_protocol::ha::HaFrameError;

use crate::config::HaProtocol;

/// Why the guard closes a tunnel on what it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Impossible {
    /// A report or header that cannot be valid (negative offset, body size out of range,
    /// unknown state, bad flag).
    #[error(transparent)]
    Frame(#[from] HaFrameError),
    /// A report below the slave's previous one: a slave's commitlog only grows.
    #[error("offset report went backwards: {previous} then {now}")]
    Backwards {
        /// The previous report.
        previous: i64,
        /// This report.
        now: i64,
    },
    /// A report above anything the slave can hold: more than the master has sent it.
    #[error("offset report {report} is beyond what the master has sent this slave (up to {relayed})")]
    BeyondRelayed {
        /// This report.
        report: i64,
        /// The most the slave can hold: its first report or the end of what was relayed.
        relayed: i64,
    },
    /// An auto-switch slave's first report above the commitlog end the master's handshake
    /// stated: the slave truncates to at most that before it reports.
    #[error("first offset report {report} is beyond the end of the master's commitlog in its handshake ({master})")]
    BeyondMaster {
        /// This report.
        report: i64,
        /// The master's commitlog end, from its handshake.
        master: i64,
    },
    /// An auto-switch message where no peer sends one.
    #[error("{0}")]
    OutOfOrder(&'static str),
    /// An auto-switch slave's handshake that differs from its earlier one on the same
    /// connection (another declared broker id or address, other flags).
    #[error("the slave's handshake changed on the same connection")]
    HandshakeChanged,
    /// An auto-switch slave's handshake while its earlier one has not been answered by a whole
    /// master handshake (a Java slave repeats its handshake only after 5 s without an answer).
    #[error("a slave handshake while its earlier one is unanswered")]
    HandshakeUnanswered,
    /// An auto-switch slave's first report while the master's handshake has not arrived in
    /// full (a Java slave reports only after reading all of it).
    #[error("an offset report before the master's handshake was read in full")]
    HandshakeIncomplete,
    /// An auto-switch slave declaring a broker id its key may not declare (`slave_ids`).
    #[error("the slave declared broker id {0}, which its key may not declare (slave_ids)")]
    WrongSlaveId(i64),
}

impl Impossible {
    /// The `reason` label of the tunnel's close.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BeyondRelayed { .. } | Self::BeyondMaster { .. } => "report_beyond_relayed",
            Self::WrongSlaveId(_) => "wrong_slave_id",
            Self::Frame(_)
            | Self::Backwards { .. }
            | Self::OutOfOrder(_)
            | Self::HandshakeChanged
            | Self::HandshakeUnanswered
            | Self::HandshakeIncomplete => "impossible_stream",
        }
    }
}

/// How one tunnel's stream is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The HA protocol it carries.
    pub protocol: HaProtocol,
    /// Auto-switch: the broker ids its slave may declare (None: any).
    pub slave_ids: Option<Vec<i64>>,
}

/// What the master side of a tunnel has sent the slave so far: what bounds its reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MasterView {
    /// The end of the commitlog data sent on this tunnel (the first transfer's offset plus
    /// every data byte since); None before the first transfer that names an offset.
    pub relayed_end: Option<i64>,
    /// The highest commitlog end a master handshake stated (auto-switch only).
    pub handshake_max: Option<i64>,
    /// Master handshakes read in full, epoch list included (auto-switch only).
    pub handshakes_answered: u32,
    /// Whether the master's stream so far ends after a whole message (auto-switch only).
    pub at_boundary: bool,
}

/// A [`MasterView`] passed from a tunnel's master → slave direction to its slave → master
/// direction. The master side stores it after inspecting a chunk and before forwarding it,
/// so the slave cannot have seen more than it says.
#[derive(Debug)]
pub struct SharedView {
    relayed_end: AtomicI64,
    handshake_max: AtomicI64,
    handshakes_answered: AtomicU32,
    at_boundary: AtomicBool,
}

impl Default for SharedView {
    fn default() -> Self {
        Self {
            relayed_end: AtomicI64::new(-1),
            handshake_max: AtomicI64::new(-1),
            handshakes_answered: AtomicU32::new(0),
            at_boundary: AtomicBool::new(true),
        }
    }
}

impl SharedView {
    /// Stores `v` (offsets are never negative; -1 stands for None).
    pub fn publish(&self, v: MasterView) {
        self.relayed_end.store(v.relayed_end.unwrap_or(-1), Ordering::Relaxed);
        self.handshake_max.store(v.handshake_max.unwrap_or(-1), Ordering::Relaxed);
        self.handshakes_answered.store(v.handshakes_answered, Ordering::Relaxed);
        self.at_boundary.store(v.at_boundary, Ordering::Relaxed);
    }

    /// The last view stored.
    pub fn load(&self) -> MasterView {
        let get = |a: &AtomicI64| Some(a.load(Ordering::Relaxed)).filter(|v| *v >= 0);
        MasterView {
            relayed_end: get(&self.relayed_end),
            handshake_max: get(&self.handshake_max),
            handshakes_answered: self.handshakes_answered.load(Ordering::Relaxed),
            at_boundary: self.at_boundary.load(Ordering::Relaxed),
        }
    }
}

/// A block the master sent (a transfer header), for the slave's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Where the block ends (`offset + bodySize`); None for an auto-switch heartbeat of a
    /// master with an empty commitlog.
    pub end: Option<i64>,
    /// Commitlog bytes in it.
    pub body: u64,
    /// Its epoch (auto-switch).
    pub epoch: Option<i32>,
    /// The master's confirm offset (auto-switch).
    pub confirm_offset: Option<i64>,
}

/// What bounds a slave's first report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstBound {
    /// What has been relayed, if anything (classic: the master sends nothing before it).
    Relayed,
    /// The master's handshake (auto-switch: the slave reports only after reading it).
    MasterHandshake,
}

/// The offset rules shared by both protocols: a slave's reports on one connection.
#[derive(Debug, Default)]
struct ReportBounds {
    first: Option<i64>,
    last: Option<i64>,
}

impl ReportBounds {
    fn check(&mut self, report: i64, view: MasterView, first_bound: FirstBound) -> Result<(), Impossible> {
        if let Some(previous) = self.last
            && report < previous
        {
            return Err(Impossible::Backwards { previous, now: report });
        }
        match (self.first, first_bound) {
            (None, FirstBound::Relayed) => {
                if let Some(relayed) = view.relayed_end
                    && report > relayed
                {
                    return Err(Impossible::BeyondRelayed { report, relayed });
                }
            }
            (None, FirstBound::MasterHandshake) => {
                let Some(master) = view.handshake_max else {
                    return Err(Impossible::OutOfOrder("an offset report before the master's handshake"));
                };
                if report > master {
                    return Err(Impossible::BeyondMaster { report, master });
                }
            }
            (Some(first), _) => {
                let most = view.relayed_end.map_or(first, |r| first.max(r));
                if report > most {
                    return Err(Impossible::BeyondRelayed { report, relayed: most });
                }
            }
        }
        self.first.get_or_insert(report);
        self.last = Some(report);
        Ok(())
    }
}

/// The slave → master reader of one tunnel.
#[derive(Debug)]
pub enum SlaveReader {
    /// Classic: 8-byte reports.
    Classic(classic::ReportReader),
    /// Auto-switch: handshake, then 12-byte reports.
    AutoSwitch(auto_switch::SlaveReader),
}

impl SlaveReader {
    /// A reader at the start of a connection.
    pub fn new(reading: &Reading) -> Self {
        let ids = reading.slave_ids.clone();
        match reading.protocol {
            HaProtocol::Classic => Self::Classic(classic::ReportReader::default()),
            HaProtocol::AutoSwitch => Self::AutoSwitch(auto_switch::SlaveReader::new(false, ids)),
            HaProtocol::AutoSwitch50 => Self::AutoSwitch(auto_switch::SlaveReader::new(true, ids)),
        }
    }

    /// Reads `data`; calls `on_report` with each offset report that passes. `view` is what the
    /// master side had sent when this chunk arrived.
    pub fn feed(&mut self, data: &[u8], view: MasterView, on_report: impl FnMut(i64)) -> Result<(), Impossible> {
        match self {
            Self::Classic(r) => r.feed(data, view, on_report),
            Self::AutoSwitch(r) => r.feed(data, view, on_report),
        }
    }

    /// How many bytes at the end of what was fed are not yet a whole message and are to be
    /// held back from the master until they are (auto-switch; classic forwards as it reads).
    pub fn held_back(&self) -> usize {
        match self {
            Self::Classic(_) => 0,
            Self::AutoSwitch(r) => r.partial_len(),
        }
    }
}

/// The master → slave reader of one tunnel.
#[derive(Debug)]
pub enum MasterReader {
    /// Classic: 12-byte headers and bodies.
    Classic(classic::TransferReader),
    /// Auto-switch: handshake with epochs, then 36-byte transfer headers and bodies.
    AutoSwitch(auto_switch::MasterReader),
}

impl MasterReader {
    /// A reader at the start of a connection.
    pub fn new(protocol: HaProtocol) -> Self {
        match protocol {
            HaProtocol::Classic => Self::Classic(classic::TransferReader::default()),
            HaProtocol::AutoSwitch | HaProtocol::AutoSwitch50 => Self::AutoSwitch(auto_switch::MasterReader::default()),
        }
    }

    /// Reads `data`; calls `on_block` with each transfer header.
    pub fn feed(&mut self, data: &[u8], on_block: impl FnMut(Block)) -> Result<(), Impossible> {
        match self {
            Self::Classic(r) => r.feed(data, on_block),
            Self::AutoSwitch(r) => r.feed(data, on_block),
        }
    }

    /// What the master has sent so far.
    pub fn view(&self) -> MasterView {
        match self {
            Self::Classic(r) => r.view(),
            Self::AutoSwitch(r) => r.view(),
        }
    }
}
