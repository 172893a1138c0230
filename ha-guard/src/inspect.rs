//! Reading the classic HA stream as it passes: the slave's 8-byte offset reports and the
//! master's 12-byte transfer headers. Both readers take bytes in whatever pieces the socket
//! delivers, keep at most one partial header, and are fed a chunk *before* it is forwarded,
//! so an impossible report never reaches the master.
//!
//! A report is impossible when it is negative, goes backwards, or claims more than the slave
//! can hold: its first report (where it asked the master to start) or the end of what the
//! master has sent it on this tunnel (the first transfer's `phyOffset` plus the body bytes
//! relayed since), whichever is greater. A higher report is how a peer holding a key would
//! raise a SYNC_MASTER's `push2SlaveMaxOffset` without replicating.

use rmq_protocol::ha::{HaFrameError, Parsed, SlaveReport, TransferHeader};

/// Why the guard closes a tunnel on what it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Impossible {
    /// A report or header that cannot be valid (negative offset, body size out of range).
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
}

impl Impossible {
    /// The `reason` label of the tunnel's close.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BeyondRelayed { .. } => "report_beyond_relayed",
            Self::Frame(_) | Self::Backwards { .. } => "impossible_stream",
        }
    }
}

/// Slave → master: a stream of 8-byte offsets.
#[derive(Debug, Default)]
pub struct ReportReader {
    partial: [u8; SlaveReport::LEN],
    have: usize,
    first: Option<i64>,
    last: Option<i64>,
}

impl ReportReader {
    /// Reads `data`; calls `on_report` for each whole report. `relayed` is the end of what
    /// the master has sent this slave so far ([`TransferReader::relayed_end`]), counting
    /// every chunk read from the master before this one's reports (a chunk is inspected
    /// before it is forwarded, so the slave cannot hold more).
    pub fn feed(
        &mut self,
        mut data: &[u8],
        relayed: Option<i64>,
        mut on_report: impl FnMut(i64),
    ) -> Result<(), Impossible> {
        while !data.is_empty() {
            let take = (SlaveReport::LEN - self.have).min(data.len());
            self.partial[self.have..self.have + take].copy_from_slice(&data[..take]);
            self.have += take;
            data = &data[take..];
            if self.have < SlaveReport::LEN {
                break;
            }
            self.have = 0;
            if let Parsed::Complete(r, _) = SlaveReport::parse(&self.partial)? {
                if let Some(previous) = self.last
                    && r.max_offset < previous
                {
                    return Err(Impossible::Backwards { previous, now: r.max_offset });
                }
                // The first report is where the slave stands (and asks the master to start):
                // nothing on the stream bounds it. Later ones cannot pass what it has been sent.
                let most = match (self.first, relayed) {
                    (Some(f), Some(r)) => Some(f.max(r)),
                    (f, r) => f.or(r),
                };
                if let Some(most) = most
                    && r.max_offset > most
                {
                    return Err(Impossible::BeyondRelayed { report: r.max_offset, relayed: most });
                }
                self.first.get_or_insert(r.max_offset);
                self.last = Some(r.max_offset);
                on_report(r.max_offset);
            }
        }
        Ok(())
    }
}

/// Master → slave: 12-byte headers, each followed by `body_size` commitlog bytes.
#[derive(Debug, Default)]
pub struct TransferReader {
    partial: [u8; TransferHeader::LEN],
    have: usize,
    body_left: usize,
    /// The first header's `phyOffset`.
    start: Option<i64>,
    /// Body bytes read since (whole bodies and the part of one read so far).
    relayed: u64,
}

impl TransferReader {
    /// The end of what the master has sent on this tunnel: the first transfer's `phyOffset`
    /// plus every body byte read since. None before the first header.
    pub fn relayed_end(&self) -> Option<i64> {
        self.start.map(|s| s.saturating_add(i64::try_from(self.relayed).unwrap_or(i64::MAX)))
    }

    /// Reads `data`; calls `on_header` for each whole header.
    pub fn feed(&mut self, mut data: &[u8], mut on_header: impl FnMut(TransferHeader)) -> Result<(), Impossible> {
        while !data.is_empty() {
            if self.body_left > 0 {
                let skip = self.body_left.min(data.len());
                self.body_left -= skip;
                self.relayed = self.relayed.saturating_add(u64::try_from(skip).unwrap_or(u64::MAX));
                data = &data[skip..];
                continue;
            }
            let take = (TransferHeader::LEN - self.have).min(data.len());
            self.partial[self.have..self.have + take].copy_from_slice(&data[..take]);
            self.have += take;
            data = &data[take..];
            if self.have < TransferHeader::LEN {
                break;
            }
            self.have = 0;
            if let Parsed::Complete(h, _) = TransferHeader::parse(&self.partial)? {
                // parse() bounds body_size to 0..=MAX_TRANSFER_BODY.
                self.body_left = usize::try_from(h.body_size).unwrap_or(0);
                self.start.get_or_insert(h.phy_offset);
                on_header(h);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reports(vals: &[i64]) -> Vec<u8> {
        vals.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    #[test]
    fn reports_split_anywhere_are_read_whole() {
        let bytes = reports(&[0, 100, 100, 4096]);
        for split in 0..bytes.len() {
            let mut r = ReportReader::default();
            let mut seen = Vec::new();
            r.feed(&bytes[..split], Some(4096), |v| seen.push(v)).unwrap();
            r.feed(&bytes[split..], Some(4096), |v| seen.push(v)).unwrap();
            assert_eq!(seen, [0, 100, 100, 4096], "split at {split}");
        }
    }

    #[test]
    fn negative_and_backwards_reports_are_impossible() {
        let mut r = ReportReader::default();
        // MQCloud's incident: "99999999" typed into telnet is 0x3939…, positive; the guard's
        // magic-first-byte check stops that one before inspection. Here: a negative report.
        assert!(matches!(
            r.feed(&reports(&[-1]), None, |_| {}),
            Err(Impossible::Frame(HaFrameError::NegativeOffset(-1)))
        ));
        let mut r = ReportReader::default();
        assert_eq!(r.feed(&reports(&[500, 400]), None, |_| {}), Err(Impossible::Backwards { previous: 500, now: 400 }));
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
        r.feed(&reports(&[first]), t.relayed_end(), |_| {})?;
        t.feed(&master[..cut], |_| {})?;
        r.feed(&reports(&[report]), t.relayed_end(), |_| {})
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
            r.feed(&bytes[..split.min(8)], t.relayed_end(), |v| seen.push(v)).unwrap();
            t.feed(&master, |_| {}).unwrap();
            let rest = r.feed(&bytes[split.min(8)..split.max(8)], t.relayed_end(), |v| seen.push(v));
            let rest = rest.and_then(|()| r.feed(&bytes[split.max(8)..], t.relayed_end(), |v| seen.push(v)));
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
            t.feed(&bytes[..split], |h| seen.push((h.phy_offset, h.body_size))).unwrap();
            t.feed(&bytes[split..], |h| seen.push((h.phy_offset, h.body_size))).unwrap();
            assert_eq!(seen, [(0, 5), (5, 0), (5, 3)], "split at {split}");
            assert_eq!(t.relayed_end(), Some(8), "split at {split}");
        }
    }

    #[test]
    fn an_oversized_body_is_impossible() {
        let mut t = TransferReader::default();
        let h = [0u8, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert!(t.feed(&h, |_| {}).is_err());
    }
}
