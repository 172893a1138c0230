//! Classic HA (4.x, and 5.x without controller mode): the slave's 8-byte offset reports and
//! the master's 12-byte transfer headers. The slave's first report is where it stands and
//! where it asks the master to start; the master sends nothing before it, so nothing on the
//! stream bounds it (keys scoped per broker pair keep that to the pair's key holders).

use rmq_protocol::ha::stream::{ClassicReports, ClassicTransfers, Framer, Piece};

use super::{Block, FirstBound, Impossible, MasterView, ReportBounds};

/// Slave → master: a stream of 8-byte offsets.
#[derive(Debug)]
pub struct ReportReader {
    framer: Framer<ClassicReports>,
    bounds: ReportBounds,
}

impl Default for ReportReader {
    fn default() -> Self {
        Self { framer: Framer::new(ClassicReports), bounds: ReportBounds::default() }
    }
}

impl ReportReader {
    /// Reads `data`; calls `on_report` for each whole report that passes. `view` is what the
    /// master had sent this slave when the chunk arrived (a chunk from the master is
    /// inspected before it is forwarded, so the slave cannot hold more).
    pub fn feed(&mut self, data: &[u8], view: MasterView, mut on_report: impl FnMut(i64)) -> Result<(), Impossible> {
        let bounds = &mut self.bounds;
        self.framer.feed(data, |piece| {
            if let Piece::Header(r) = piece {
                bounds.check(r.max_offset, view, FirstBound::Relayed)?;
                on_report(r.max_offset);
            }
            Ok(())
        })
    }
}

/// Master → slave: 12-byte headers, each followed by `body_size` commitlog bytes.
#[derive(Debug)]
pub struct TransferReader {
    framer: Framer<ClassicTransfers>,
    /// The first header's `phyOffset`.
    start: Option<i64>,
    /// Body bytes read since (whole bodies and the part of one read so far).
    relayed: u64,
}

impl Default for TransferReader {
    fn default() -> Self {
        Self { framer: Framer::new(ClassicTransfers), start: None, relayed: 0 }
    }
}

impl TransferReader {
    /// What the master has sent on this tunnel: the first transfer's `phyOffset` plus every
    /// body byte read since (None before the first header).
    pub fn view(&self) -> MasterView {
        let relayed_end = self.start.map(|s| s.saturating_add(i64::try_from(self.relayed).unwrap_or(i64::MAX)));
        MasterView { relayed_end, ..MasterView::default() }
    }

    /// Reads `data`; calls `on_block` for each whole header.
    pub fn feed(&mut self, data: &[u8], mut on_block: impl FnMut(Block)) -> Result<(), Impossible> {
        let (start, relayed) = (&mut self.start, &mut self.relayed);
        self.framer.feed(data, |piece| {
            match piece {
                Piece::Header(h) => {
                    start.get_or_insert(h.phy_offset);
                    on_block(Block {
                        end: Some(h.phy_offset.saturating_add(i64::from(h.body_size))),
                        body: u64::try_from(h.body_size).unwrap_or(0),
                        epoch: None,
                        confirm_offset: None,
                    });
                }
                Piece::Body(b) => *relayed = relayed.saturating_add(u64::try_from(b.len()).unwrap_or(u64::MAX)),
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::ha::{HaFrameError, TransferHeader};

    /// What the master had sent: `relayed_end` only (classic has no handshake).
    fn sent(relayed_end: Option<i64>) -> MasterView {
        MasterView { relayed_end, ..MasterView::default() }
    }

    fn reports(vals: &[i64]) -> Vec<u8> {
        vals.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    #[test]
    fn reports_split_anywhere_are_read_whole() {
        let bytes = reports(&[0, 100, 100, 4096]);
        for split in 0..bytes.len() {
            let mut r = ReportReader::default();
            let mut seen = Vec::new();
            r.feed(&bytes[..split], sent(Some(4096)), |v| seen.push(v)).unwrap();
            r.feed(&bytes[split..], sent(Some(4096)), |v| seen.push(v)).unwrap();
            assert_eq!(seen, [0, 100, 100, 4096], "split at {split}");
        }
    }

    #[test]
    fn negative_and_backwards_reports_are_impossible() {
        let mut r = ReportReader::default();
        // MQCloud's incident: "99999999" typed into telnet is 0x3939…, positive; the guard's
        // magic-first-byte check stops that one before inspection. Here: a negative report.
        assert!(matches!(
            r.feed(&reports(&[-1]), sent(None), |_| {}),
            Err(Impossible::Frame(HaFrameError::NegativeOffset(-1)))
        ));
        let mut r = ReportReader::default();
        assert_eq!(
            r.feed(&reports(&[500, 400]), sent(None), |_| {}),
            Err(Impossible::Backwards { previous: 500, now: 400 })
        );
    }

    fn transfers(blocks: &[(i64, usize)]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for &(off, body) in blocks {
            bytes.extend(TransferHeader { phy_offset: off, body_size: i32::try_from(body).unwrap() }.encode());
            bytes.extend(std::iter::repeat_n(0xAB, body));
        }
        bytes
    }

    /// Feeds the master's bytes up to `cut`, then `report`, as the relay does (master chunk
    /// inspected, then the slave's report checked against what was relayed so far).
    fn report_after(master: &[u8], cut: usize, first: i64, report: i64) -> Result<(), Impossible> {
        let (mut r, mut t) = (ReportReader::default(), TransferReader::default());
        r.feed(&reports(&[first]), t.view(), |_| {})?;
        t.feed(&master[..cut], |_| {})?;
        r.feed(&reports(&[report]), t.view(), |_| {})
    }

    #[test]
    fn a_report_beyond_what_was_relayed_is_impossible_at_every_split() {
        // The slave asked from 0; the master starts at 1000 (the start of its last file) and
        // sends 5 + 0 (heartbeat) + 3 bytes.
        let master = transfers(&[(1000, 5), (1005, 0), (1005, 3)]);
        let mut relayed = 0i64;
        for cut in 0..=master.len() {
            // What a slave could hold after `cut` bytes: nothing before the first header;
            // then 1000 plus the body bytes among them.
            // Bytes 0..12 header, 12..17 body, 17..29 and 29..41 headers, 41..44 body.
            let body_so_far = (cut >= 12)
                .then(|| (12..17).chain(41..44).filter(|p| *p < cut).count())
                .map(|n| i64::try_from(n).unwrap());
            let most = body_so_far.map_or(0, |b| 1000 + b);
            relayed = relayed.max(most);
            assert_eq!(report_after(&master, cut, 0, most), Ok(()), "cut {cut}: the report of all that was sent");
            assert_eq!(
                report_after(&master, cut, 0, most + 1),
                Err(Impossible::BeyondRelayed { report: most + 1, relayed: most }),
                "cut {cut}: one byte more than was sent"
            );
        }
        assert_eq!(relayed, 1008);
        // A slave that already holds data starts where it stands: its first report bounds
        // later ones until the master has sent more.
        assert_eq!(report_after(&[], 0, 4096, 4096), Ok(()));
        assert!(report_after(&[], 0, 4096, 4097).is_err());
        let master = transfers(&[(4096, 10)]);
        for cut in 0..=master.len() {
            let most = 4096 + i64::try_from(cut.saturating_sub(12)).unwrap();
            assert_eq!(report_after(&master, cut, 4096, most), Ok(()), "cut {cut}");
            assert_eq!(
                report_after(&master, cut, 4096, most + 1).map_err(|e| e.reason()),
                Err("report_beyond_relayed")
            );
        }
    }

    #[test]
    fn reports_split_anywhere_are_checked_against_what_was_relayed() {
        // First report 0, then the master sends 8 bytes at 0; the slave reports 8, then a
        // forged 1 GiB: whatever the split, the forged one is refused and the others pass.
        let master = transfers(&[(0, 8)]);
        let bytes = reports(&[0, 8, 8, 1 << 30]);
        for split in 0..bytes.len() {
            let (mut r, mut t) = (ReportReader::default(), TransferReader::default());
            let mut seen = Vec::new();
            r.feed(&bytes[..split.min(8)], t.view(), |v| seen.push(v)).unwrap();
            t.feed(&master, |_| {}).unwrap();
            let rest = r.feed(&bytes[split.min(8)..split.max(8)], t.view(), |v| seen.push(v));
            let rest = rest.and_then(|()| r.feed(&bytes[split.max(8)..], t.view(), |v| seen.push(v)));
            assert_eq!(rest, Err(Impossible::BeyondRelayed { report: 1 << 30, relayed: 8 }), "split at {split}");
            assert_eq!(seen, [0, 8, 8], "split at {split}");
        }
    }

    #[test]
    fn transfer_headers_are_found_between_bodies() {
        let bytes = transfers(&[(0, 5), (5, 0), (5, 3)]);
        for split in 0..bytes.len() {
            let mut t = TransferReader::default();
            let mut seen = Vec::new();
            t.feed(&bytes[..split], |b| seen.push((b.end, b.body))).unwrap();
            t.feed(&bytes[split..], |b| seen.push((b.end, b.body))).unwrap();
            assert_eq!(seen, [(Some(5), 5), (Some(5), 0), (Some(8), 3)], "split at {split}");
            assert_eq!(t.view(), sent(Some(8)), "split at {split}");
        }
    }

    #[test]
    fn an_oversized_body_is_impossible() {
        let mut t = TransferReader::default();
        let h = [0u8, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert!(t.feed(&h, |_| {}).is_err());
    }
}
