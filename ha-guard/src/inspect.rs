//! Reading the classic HA stream as it passes: the slave's 8-byte offset reports and the
//! master's 12-byte transfer headers. Both readers take bytes in whatever pieces the socket
//! delivers, keep at most one partial header, and are fed a chunk *before* it is forwarded,
//! so an impossible report never reaches the master.

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
}

/// Slave → master: a stream of 8-byte offsets.
#[derive(Debug, Default)]
pub struct ReportReader {
    partial: [u8; SlaveReport::LEN],
    have: usize,
    last: Option<i64>,
}

impl ReportReader {
    /// Reads `data`; calls `on_report` for each whole report.
    pub fn feed(&mut self, mut data: &[u8], mut on_report: impl FnMut(i64)) -> Result<(), Impossible> {
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
}

impl TransferReader {
    /// Reads `data`; calls `on_header` for each whole header.
    pub fn feed(&mut self, mut data: &[u8], mut on_header: impl FnMut(TransferHeader)) -> Result<(), Impossible> {
        while !data.is_empty() {
            if self.body_left > 0 {
                let skip = self.body_left.min(data.len());
                self.body_left -= skip;
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
            r.feed(&bytes[..split], |v| seen.push(v)).unwrap();
            r.feed(&bytes[split..], |v| seen.push(v)).unwrap();
            assert_eq!(seen, [0, 100, 100, 4096], "split at {split}");
        }
    }

    #[test]
    fn negative_and_backwards_reports_are_impossible() {
        let mut r = ReportReader::default();
        // MQCloud's incident: "99999999" typed into telnet is 0x3939…, positive; the guard's
        // magic-first-byte check stops that one before inspection. Here: a negative report.
        assert!(matches!(r.feed(&reports(&[-1]), |_| {}), Err(Impossible::Frame(HaFrameError::NegativeOffset(-1)))));
        let mut r = ReportReader::default();
        assert_eq!(r.feed(&reports(&[500, 400]), |_| {}), Err(Impossible::Backwards { previous: 500, now: 400 }));
    }

    #[test]
    fn transfer_headers_are_found_between_bodies() {
        let mut bytes = Vec::new();
        for (off, body) in [(0i64, 5usize), (5, 0), (5, 3)] {
            bytes.extend(TransferHeader { phy_offset: off, body_size: i32::try_from(body).unwrap() }.encode());
            bytes.extend(std::iter::repeat_n(0xAB, body));
        }
        for split in 0..bytes.len() {
            let mut t = TransferReader::default();
            let mut seen = Vec::new();
            t.feed(&bytes[..split], |h| seen.push((h.phy_offset, h.body_size))).unwrap();
            t.feed(&bytes[split..], |h| seen.push((h.phy_offset, h.body_size))).unwrap();
            assert_eq!(seen, [(0, 5), (5, 0), (5, 3)], "split at {split}");
        }
    }

    #[test]
    fn an_oversized_body_is_impossible() {
        let mut t = TransferReader::default();
        let h = [0u8, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert!(t.feed(&h, |_| {}).is_err());
    }
}
