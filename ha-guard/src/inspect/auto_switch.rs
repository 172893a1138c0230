//! Auto-switch HA (5.x with `enableControllerMode=true`): every message starts with its
//! sender's state. The slave sends one or more identical handshakes, then 12-byte offset
//! reports; the master answers a handshake with its own (its commitlog end and epoch list),
//! then sends 36-byte transfer headers (offset, epoch, epoch start, confirm offset) with
//! their data. Layouts: `rmq_protocol::ha::auto_switch`.
//!
//! The order is part of what a Java peer can send, and the guard holds both sides to it:
//! - slave: a handshake first (a report without one would have the master transfer with no
//!   handshake); every handshake on the connection the same (the master takes the last one's
//!   broker id as the slave's identity); none while an earlier one is unanswered (a Java slave
//!   repeats it only after 5 s without an answer; a flood of them would have the master cut
//!   its answers short); none after the first report (a Java slave switches to reporting only
//!   once it has read the master's handshake, and never back);
//! - the first report only once every handshake has been answered by a whole master handshake
//!   and the master's stream is at a message boundary (a Java slave reads the whole answer
//!   first; a master that switched to transferring in the middle of its answer never finishes
//!   it, and the guard would read the rest of its stream out of step);
//! - the first report no higher than the commitlog end in the master's handshake (the slave
//!   truncates to at most that point before it reports), later ones within what was relayed;
//! - master: a handshake before the first transfer, none after it.

use rmq_protocol::ha::auto_switch::{MasterHeader, SlaveMessage};
use rmq_protocol::ha::stream::{AutoSwitchMaster, AutoSwitchSlave, Framer, Piece};

use super::{Block, FirstBound, Impossible, MasterView, ReportBounds};

/// Slave → master.
#[derive(Debug)]
pub struct SlaveReader {
    framer: Framer<AutoSwitchSlave>,
    /// The slave's handshake, once seen.
    handshake: Option<SlaveMessage>,
    /// Whether an offset report has been seen.
    reported: bool,
    /// Handshakes passed to the master.
    handshakes: u32,
    bounds: ReportBounds,
    /// The broker ids the slave may declare (None: any).
    slave_ids: Option<Vec<i64>>,
}

impl SlaveReader {
    /// A reader at the start of a connection; `legacy`: the 5.0.0–5.1.0 handshake (whose
    /// declared address `slave_ids` does not bind); `slave_ids`: the broker ids the slave may
    /// declare (None: any).
    pub fn new(legacy: bool, slave_ids: Option<Vec<i64>>) -> Self {
        Self {
            framer: Framer::new(AutoSwitchSlave { legacy }),
            handshake: None,
            reported: false,
            handshakes: 0,
            bounds: ReportBounds::default(),
            slave_ids,
        }
    }

    /// Bytes of an unfinished message at the end of what was fed (at most a header less one).
    pub fn partial_len(&self) -> usize {
        self.framer.partial_len()
    }

    /// Reads `data`; calls `on_report` for each offset report that passes. `view` is what
    /// the master had sent this slave when the chunk arrived.
    pub fn feed(&mut self, data: &[u8], view: MasterView, mut on_report: impl FnMut(i64)) -> Result<(), Impossible> {
        let (handshake, reported, handshakes, bounds, slave_ids) =
            (&mut self.handshake, &mut self.reported, &mut self.handshakes, &mut self.bounds, &self.slave_ids);
        self.framer.feed(data, |piece| {
            let Piece::Header(message) = piece else { return Ok(()) };
            match message {
                SlaveMessage::Transfer { max_offset } => {
                    if handshake.is_none() {
                        return Err(Impossible::OutOfOrder("an offset report before the slave's handshake"));
                    }
                    if !*reported
                        && view.handshake_max.is_some()
                        && (view.handshakes_answered < *handshakes || !view.at_boundary)
                    {
                        return Err(Impossible::HandshakeIncomplete);
                    }
                    bounds.check(max_offset, view, FirstBound::MasterHandshake)?;
                    *reported = true;
                    on_report(max_offset);
                }
                hello @ (SlaveMessage::Handshake { .. } | SlaveMessage::LegacyHandshake { .. }) => {
                    if *reported {
                        return Err(Impossible::OutOfOrder("a slave handshake after its first offset report"));
                    }
                    if view.handshakes_answered < *handshakes {
                        return Err(Impossible::HandshakeUnanswered);
                    }
                    *handshakes = handshakes.saturating_add(1);
                    match handshake {
                        Some(first) if *first != hello => return Err(Impossible::HandshakeChanged),
                        Some(_) => {}
                        None => {
                            if let (SlaveMessage::Handshake { slave_broker_id: id, .. }, Some(ids)) =
                                (&hello, slave_ids)
                                && !ids.contains(id)
                            {
                                return Err(Impossible::WrongSlaveId(*id));
                            }
                            *handshake = Some(hello);
                        }
                    }
                }
            }
            Ok(())
        })
    }
}

/// Master → slave.
#[derive(Debug)]
pub struct MasterReader {
    framer: Framer<AutoSwitchMaster>,
    /// The highest commitlog end a master handshake stated.
    handshake_max: Option<i64>,
    /// Whether a transfer header has been seen.
    transferring: bool,
    /// Whether the body being read is commitlog data (a transfer's), not epoch entries.
    data: bool,
    /// The offset of the first transfer that names one.
    start: Option<i64>,
    /// Data bytes read since.
    relayed: u64,
    /// Master handshakes read in full (header and epoch list).
    answered: u32,
    /// Epoch-list bytes of the current master handshake still to come.
    epochs_left: usize,
}

impl Default for MasterReader {
    fn default() -> Self {
        Self {
            framer: Framer::new(AutoSwitchMaster),
            handshake_max: None,
            transferring: false,
            data: false,
            start: None,
            relayed: 0,
            answered: 0,
            epochs_left: 0,
        }
    }
}

impl MasterReader {
    /// What the master has sent on this tunnel.
    pub fn view(&self) -> MasterView {
        let relayed_end = self.start.map(|s| s.saturating_add(i64::try_from(self.relayed).unwrap_or(i64::MAX)));
        MasterView {
            relayed_end,
            handshake_max: self.handshake_max,
            handshakes_answered: self.answered,
            at_boundary: self.framer.at_boundary(),
        }
    }

    /// Reads `data`; calls `on_block` for each transfer header.
    pub fn feed(&mut self, data: &[u8], mut on_block: impl FnMut(Block)) -> Result<(), Impossible> {
        let Self { framer, handshake_max, transferring, data: is_data, start, relayed, answered, epochs_left } = self;
        framer.feed(data, |piece| {
            match piece {
                Piece::Header(MasterHeader::Handshake(h)) => {
                    if *transferring {
                        return Err(Impossible::OutOfOrder("a master handshake after transfer began"));
                    }
                    *handshake_max = Some(handshake_max.map_or(h.max_phy_offset, |m| m.max(h.max_phy_offset)));
                    *is_data = false;
                    *epochs_left = MasterHeader::Handshake(h).body_len();
                    if *epochs_left == 0 {
                        *answered = answered.saturating_add(1);
                    }
                }
                Piece::Header(MasterHeader::Transfer(t)) => {
                    if handshake_max.is_none() {
                        return Err(Impossible::OutOfOrder("a transfer before the master's handshake"));
                    }
                    *transferring = true;
                    *is_data = true;
                    // -1: a heartbeat from a master with an empty commitlog (no data follows).
                    let end = (t.offset >= 0).then(|| {
                        start.get_or_insert(t.offset);
                        t.offset.saturating_add(i64::from(t.body_size))
                    });
                    on_block(Block {
                        end,
                        body: u64::try_from(t.body_size).unwrap_or(0),
                        epoch: Some(t.epoch),
                        confirm_offset: Some(t.confirm_offset),
                    });
                }
                Piece::Body(b) => {
                    if *is_data {
                        *relayed = relayed.saturating_add(u64::try_from(b.len()).unwrap_or(u64::MAX));
                    } else if *epochs_left > 0 {
                        *epochs_left = epochs_left.saturating_sub(b.len());
                        if *epochs_left == 0 {
                            *answered = answered.saturating_add(1);
                        }
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    //! Streams written out from the byte layouts (no Java peer runs here): a slave
    //! conversation and a master conversation, fed to the readers the way the relay feeds
    //! them — each master chunk inspected and its view published before the slave's next
    //! chunk is checked.

    use super::*;
    use rmq_protocol::ha::HaFrameError;
    use rmq_protocol::ha::auto_switch::{MasterHandshakeHeader, MasterTransferHeader};

    fn slave_handshake(broker_id: i64) -> Vec<u8> {
        SlaveMessage::Handshake { is_sync_from_last_file: false, is_async_learner: false, slave_broker_id: broker_id }
            .encode()
    }

    fn legacy_handshake(address: &str) -> Vec<u8> {
        SlaveMessage::LegacyHandshake { is_sync_from_last_file: true, is_async_learner: false, address: address.into() }
            .encode()
    }

    fn report(offset: i64) -> Vec<u8> {
        SlaveMessage::Transfer { max_offset: offset }.encode()
    }

    /// The master's handshake: its commitlog end and epochs `(epoch, start)`.
    fn master_handshake(max: i64, epochs: &[(i32, i64)]) -> Vec<u8> {
        MasterHandshakeHeader::encode_with_epochs(max, epochs)
    }

    /// A transfer header and `body` bytes of data: offset, epoch, epoch start, confirm offset.
    fn transfer(offset: i64, body: usize, epoch: i32, epoch_start: i64, confirm: i64) -> Vec<u8> {
        let mut b = MasterHeader::Transfer(MasterTransferHeader {
            body_size: i32::try_from(body).unwrap(),
            offset,
            epoch,
            epoch_start_offset: epoch_start,
            confirm_offset: confirm,
        })
        .encode();
        b.extend(std::iter::repeat_n(0xCD, body));
        b
    }

    /// One direction's next bytes.
    enum Step {
        Slave(Vec<u8>),
        Master(Vec<u8>),
    }

    /// Runs a conversation through both readers, each step's bytes cut in two at `cut`
    /// (clamped), returning the reports and blocks that passed, or the first refusal.
    fn converse(steps: &[Step], cut: usize, legacy: bool) -> (Vec<i64>, Vec<Block>, Result<(), Impossible>) {
        converse_bound(steps, cut, legacy, None)
    }

    /// [`converse`] with the broker ids the slave may declare.
    fn converse_bound(
        steps: &[Step],
        cut: usize,
        legacy: bool,
        ids: Option<Vec<i64>>,
    ) -> (Vec<i64>, Vec<Block>, Result<(), Impossible>) {
        let (mut slave, mut master) = (SlaveReader::new(legacy, ids), MasterReader::default());
        let (mut reports, mut blocks) = (Vec::new(), Vec::new());
        for step in steps {
            let r = match step {
                Step::Slave(b) => {
                    let at = cut.min(b.len());
                    slave
                        .feed(&b[..at], master.view(), |o| reports.push(o))
                        .and_then(|()| slave.feed(&b[at..], master.view(), |o| reports.push(o)))
                }
                Step::Master(b) => {
                    let at = cut.min(b.len());
                    master.feed(&b[..at], |x| blocks.push(x)).and_then(|()| master.feed(&b[at..], |x| blocks.push(x)))
                }
            };
            if r.is_err() {
                return (reports, blocks, r);
            }
        }
        (reports, blocks, Ok(()))
    }

    /// [`converse`] at every cut up to the longest step; all must agree.
    fn converse_at_every_cut(steps: &[Step], legacy: bool) -> (Vec<i64>, Vec<Block>, Result<(), Impossible>) {
        let longest = steps.iter().map(|s| match s {
            Step::Slave(b) | Step::Master(b) => b.len(),
        });
        let whole = converse(steps, usize::MAX, legacy);
        for cut in 0..=longest.max().unwrap_or(0) {
            assert_eq!(converse(steps, cut, legacy), whole, "cut at {cut}");
        }
        whole
    }

    /// A slave that holds data up to 4096, a master at 8192 with two epochs.
    fn honest() -> Vec<Step> {
        vec![
            Step::Slave(slave_handshake(2)),
            Step::Master(master_handshake(8192, &[(1, 0), (2, 4096)])),
            Step::Slave(report(4096)), // truncated to the consistent point, then reports
            Step::Master(transfer(4096, 100, 2, 4096, 4000)),
            Step::Master(transfer(4196, 0, 2, 4096, 4096)), // heartbeat
            Step::Slave(report(4196)),
            Step::Slave(report(4196)),
        ]
    }

    #[test]
    fn an_honest_conversation_passes_at_every_split() {
        let (reports, blocks, r) = converse_at_every_cut(&honest(), false);
        assert_eq!(r, Ok(()));
        assert_eq!(reports, [4096, 4196, 4196]);
        assert_eq!(
            blocks,
            [
                Block { end: Some(4196), body: 100, epoch: Some(2), confirm_offset: Some(4000) },
                Block { end: Some(4196), body: 0, epoch: Some(2), confirm_offset: Some(4096) },
            ]
        );
    }

    #[test]
    fn a_5_0_slave_declares_its_address() {
        let steps = [
            Step::Slave(legacy_handshake("10.0.0.2:10911")),
            Step::Master(master_handshake(0, &[(1, 0)])),
            Step::Slave(report(0)),
            Step::Master(transfer(0, 10, 1, 0, 0)),
            Step::Slave(report(10)),
        ];
        let (reports, _, r) = converse_at_every_cut(&steps, true);
        assert_eq!((reports, r), (vec![0, 10], Ok(())));
        // The same bytes read as 5.1.1+: the address length lands in the broker id and the
        // address is read as the next message, whose state is not one a slave sends.
        let (_, _, r) = converse(&steps, usize::MAX, false);
        assert!(matches!(r, Err(Impossible::Frame(HaFrameError::State(_)))), "{r:?}");
    }

    #[test]
    fn an_empty_master_heartbeats_from_minus_one_and_bounds_nothing_by_it() {
        let steps = [
            Step::Slave(slave_handshake(2)),
            Step::Master(master_handshake(0, &[(1, 0)])),
            Step::Slave(report(0)),
            Step::Master(transfer(-1, 0, 1, 0, -1)),
            Step::Slave(report(0)),
            Step::Master(transfer(0, 8, 1, 0, 0)),
            Step::Slave(report(8)),
        ];
        let (reports, blocks, r) = converse_at_every_cut(&steps, false);
        assert_eq!((reports, r), (vec![0, 0, 8], Ok(())));
        assert_eq!(blocks[0].end, None);
        assert_eq!(blocks[1].end, Some(8));
    }

    #[test]
    fn forged_reports_are_refused_before_they_pass() {
        let mut steps = honest();
        steps.truncate(2);
        // A first report beyond the master's end: the master would take it as the slave's.
        steps.push(Step::Slave(report(1 << 40)));
        let (reports, _, r) = converse_at_every_cut(&steps, false);
        assert_eq!(r, Err(Impossible::BeyondMaster { report: 1 << 40, master: 8192 }));
        assert_eq!(r.map_err(|e| e.reason()), Err("report_beyond_relayed"));
        assert!(reports.is_empty());
        // Within the master's end but beyond what it has sent since.
        let mut steps = honest();
        steps.push(Step::Slave(report(4197)));
        let (reports, _, r) = converse_at_every_cut(&steps, false);
        assert_eq!(r, Err(Impossible::BeyondRelayed { report: 4197, relayed: 4196 }));
        assert_eq!(reports, [4096, 4196, 4196]);
        // Backwards.
        let mut steps = honest();
        steps.push(Step::Slave(report(4195)));
        let (_, _, r) = converse_at_every_cut(&steps, false);
        assert_eq!(r, Err(Impossible::Backwards { previous: 4196, now: 4195 }));
        // Negative.
        let mut steps = honest();
        steps.push(Step::Slave(report(-1)));
        let (_, _, r) = converse_at_every_cut(&steps, false);
        assert_eq!(r, Err(Impossible::Frame(HaFrameError::NegativeOffset(-1))));
    }

    #[test]
    fn messages_out_of_order_are_refused() {
        let refused = |steps: &[Step], why: &'static str| {
            let (_, _, r) = converse_at_every_cut(steps, false);
            assert_eq!(r, Err(Impossible::OutOfOrder(why)));
            assert_eq!(r.map_err(|e| e.reason()), Err("impossible_stream"));
        };
        // A report with no handshake: the master would start a transfer without one.
        refused(&[Step::Slave(report(0))], "an offset report before the slave's handshake");
        // A report before the master has answered.
        refused(
            &[Step::Slave(slave_handshake(2)), Step::Slave(report(0))],
            "an offset report before the master's handshake",
        );
        // A handshake after reporting.
        let mut steps = honest();
        steps.push(Step::Slave(slave_handshake(2)));
        refused(&steps, "a slave handshake after its first offset report");
        // The master: a transfer before its handshake, a handshake after transferring.
        refused(
            &[Step::Slave(slave_handshake(2)), Step::Master(transfer(0, 0, 1, 0, 0))],
            "a transfer before the master's handshake",
        );
        let mut steps = honest();
        steps.push(Step::Master(master_handshake(8192, &[(1, 0)])));
        refused(&steps, "a master handshake after transfer began");
    }

    #[test]
    fn a_handshake_is_repeated_only_once_the_last_is_answered() {
        // Repeated after a whole answer (a Java slave does so after 5 s without a report): the
        // first report waits for the answer to the repeat too.
        let answered = [
            Step::Slave(slave_handshake(2)),
            Step::Master(master_handshake(8192, &[(1, 0)])),
            Step::Slave(slave_handshake(2)),
            Step::Master(master_handshake(8192, &[(1, 0)])),
            Step::Slave(report(8192)),
        ];
        assert_eq!(converse_at_every_cut(&answered, false).2, Ok(()));
        let early = [
            Step::Slave(slave_handshake(2)),
            Step::Master(master_handshake(8192, &[(1, 0)])),
            Step::Slave(slave_handshake(2)),
            Step::Slave(report(8192)),
        ];
        assert_eq!(converse_at_every_cut(&early, false).2, Err(Impossible::HandshakeIncomplete));
        // Repeated before any answer: refused.
        let unanswered = [Step::Slave(slave_handshake(2)), Step::Slave(slave_handshake(2))];
        let r = converse_at_every_cut(&unanswered, false).2;
        assert_eq!(r, Err(Impossible::HandshakeUnanswered));
        assert_eq!(r.map_err(|e| e.reason()), Err("impossible_stream"));
    }

    #[test]
    fn a_first_report_waits_for_the_whole_master_handshake() {
        // The master's answer stops inside its epoch list: the slave cannot have read it all.
        let mut cut_short = master_handshake(8192, &[(1, 0), (2, 4096)]);
        cut_short.truncate(cut_short.len() - 16);
        let steps = [Step::Slave(slave_handshake(2)), Step::Master(cut_short), Step::Slave(report(8192))];
        let (reports, _, r) = converse(&steps, usize::MAX, false);
        assert_eq!((reports, r), (vec![], Err(Impossible::HandshakeIncomplete)));
    }

    #[test]
    fn a_slave_cannot_change_its_declared_identity() {
        let steps = [
            Step::Slave(slave_handshake(2)),
            Step::Master(master_handshake(0, &[(1, 0)])),
            Step::Slave(slave_handshake(3)),
        ];
        assert_eq!(converse_at_every_cut(&steps, false).2, Err(Impossible::HandshakeChanged));
        let mut learner = slave_handshake(2);
        learner[7] = 1; // isAsyncLearner
        let steps =
            [Step::Slave(slave_handshake(2)), Step::Master(master_handshake(0, &[(1, 0)])), Step::Slave(learner)];
        assert_eq!(converse_at_every_cut(&steps, false).2, Err(Impossible::HandshakeChanged));
        let steps = [
            Step::Slave(legacy_handshake("10.0.0.2:10911")),
            Step::Master(master_handshake(0, &[(1, 0)])),
            Step::Slave(legacy_handshake("10.0.0.3:10911")),
        ];
        assert_eq!(converse_at_every_cut(&steps, true).2, Err(Impossible::HandshakeChanged));
    }

    #[test]
    fn a_key_bound_to_broker_ids_declares_only_those() {
        let run = |id: i64| converse_bound(&[Step::Slave(slave_handshake(id))], usize::MAX, false, Some(vec![2, 3])).2;
        assert_eq!(run(2), Ok(()));
        assert_eq!(run(3), Ok(()));
        assert_eq!(run(4), Err(Impossible::WrongSlaveId(4)));
        assert_eq!(run(4).map_err(|e| e.reason()), Err("wrong_slave_id"));
        // An allowed id, then another allowed one: a change all the same.
        let steps = [
            Step::Slave(slave_handshake(2)),
            Step::Master(master_handshake(0, &[(1, 0)])),
            Step::Slave(slave_handshake(3)),
        ];
        assert_eq!(converse_bound(&steps, usize::MAX, false, Some(vec![2, 3])).2, Err(Impossible::HandshakeChanged));
        // No ids at all for this key: nothing may be declared.
        assert_eq!(
            converse_bound(&[Step::Slave(slave_handshake(2))], usize::MAX, false, Some(vec![])).2,
            Err(Impossible::WrongSlaveId(2))
        );
    }

    #[test]
    fn epoch_entries_are_not_data() {
        // A long epoch list does not raise what the slave may claim after its first report.
        let epochs: Vec<(i32, i64)> = (1..=100).map(|e| (e, i64::from(e) * 10)).collect();
        let steps = [
            Step::Slave(slave_handshake(2)),
            Step::Master(master_handshake(1000, &epochs)),
            Step::Slave(report(1000)),
            Step::Master(transfer(1000, 0, 100, 1000, 1000)),
            Step::Slave(report(1001)),
        ];
        let (_, _, r) = converse_at_every_cut(&steps, false);
        assert_eq!(r, Err(Impossible::BeyondRelayed { report: 1001, relayed: 1000 }));
    }
}
