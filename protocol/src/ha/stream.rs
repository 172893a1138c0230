//! Splitting one direction of an HA connection into messages as its bytes arrive, in pieces of
//! any size: a [`Framer`] keeps at most one partial header ([`MAX_HEADER`] bytes) and lets
//! bodies pass through as slices of the input, never buffered. One framer per direction and
//! protocol, chosen by its [`Layout`]:
//!
//! | Layout | Direction | Header | Body |
//! |---|---|---|---|
//! | [`ClassicReports`] | slave → master | 8-byte offset | none |
//! | [`ClassicTransfers`] | master → slave | 12 bytes | `bodySize` commitlog bytes |
//! | [`AutoSwitchSlave`] | slave → master | 16 (12 + address in 5.0) or 12 bytes | none |
//! | [`AutoSwitchMaster`] | master → slave | 20 or 36 bytes | epoch entries or commitlog bytes |
//!
//! A framer reads exactly as the receiving broker does: the same header lengths from the same
//! fields, so a reader of its output and the broker cannot disagree on where a message starts.

use super::auto_switch::{self, MasterHeader, SlaveMessage};
use super::{HaFrameError, Parsed, SlaveReport, TransferHeader};

/// The largest header any layout has (the 5.0 auto-switch handshake with a 50-byte address).
pub const MAX_HEADER: usize = auto_switch::MAX_HEADER_LEN;

/// How one direction of one HA protocol is made: headers, each followed by a body.
pub trait Layout {
    /// A parsed header.
    type Header;
    /// Parses the header at the start of `buf` (which holds only bytes of this header).
    fn parse(&self, buf: &[u8]) -> Result<Parsed<Self::Header>, HaFrameError>;
    /// Bytes that follow `header` before the next header.
    fn body_len(&self, header: &Self::Header) -> usize;
}

/// Classic slave → master: 8-byte offset reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassicReports;

impl Layout for ClassicReports {
    type Header = SlaveReport;
    fn parse(&self, buf: &[u8]) -> Result<Parsed<SlaveReport>, HaFrameError> {
        SlaveReport::parse(buf)
    }
    fn body_len(&self, _: &SlaveReport) -> usize {
        0
    }
}

/// Classic master → slave: 12-byte transfer headers and their bodies.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassicTransfers;

impl Layout for ClassicTransfers {
    type Header = TransferHeader;
    fn parse(&self, buf: &[u8]) -> Result<Parsed<TransferHeader>, HaFrameError> {
        TransferHeader::parse(buf)
    }
    fn body_len(&self, h: &TransferHeader) -> usize {
        // parse() bounds body_size to 0..=MAX_TRANSFER_BODY.
        usize::try_from(h.body_size).unwrap_or(0)
    }
}

/// Auto-switch slave → master: handshakes and offset reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct AutoSwitchSlave {
    /// The 5.0.0–5.1.0 handshake (a declared address instead of a broker id).
    pub legacy: bool,
}

impl Layout for AutoSwitchSlave {
    type Header = SlaveMessage;
    fn parse(&self, buf: &[u8]) -> Result<Parsed<SlaveMessage>, HaFrameError> {
        auto_switch::parse_slave(buf, self.legacy)
    }
    fn body_len(&self, _: &SlaveMessage) -> usize {
        0
    }
}

/// Auto-switch master → slave: handshakes with their epoch lists, transfers with their data.
#[derive(Debug, Clone, Copy, Default)]
pub struct AutoSwitchMaster;

impl Layout for AutoSwitchMaster {
    type Header = MasterHeader;
    fn parse(&self, buf: &[u8]) -> Result<Parsed<MasterHeader>, HaFrameError> {
        auto_switch::parse_master(buf)
    }
    fn body_len(&self, h: &MasterHeader) -> usize {
        h.body_len()
    }
}

/// What a [`Framer`] hands on, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a, H> {
    /// A whole header.
    Header(H),
    /// Body bytes of the last header (a body may come in several pieces).
    Body(&'a [u8]),
}

/// Splits one direction of an HA stream into [`Piece`]s.
#[derive(Debug)]
pub struct Framer<L> {
    layout: L,
    partial: [u8; MAX_HEADER],
    have: usize,
    body_left: usize,
}

impl<L: Layout> Framer<L> {
    /// A framer at the start of a stream.
    pub fn new(layout: L) -> Self {
        Self { layout, partial: [0; MAX_HEADER], have: 0, body_left: 0 }
    }

    /// Whether the bytes so far end exactly after a whole message.
    pub fn at_boundary(&self) -> bool {
        self.have == 0 && self.body_left == 0
    }

    /// How many bytes of an unfinished header the framer holds (0 at a boundary or in a body):
    /// for layouts without bodies, the tail of the input that is not yet a whole message.
    pub fn partial_len(&self) -> usize {
        self.have
    }

    /// Reads `data`, the next bytes of the stream, handing each piece to `on` in order. Stops
    /// at the first error, from the layout (a header no peer sends) or from `on`.
    pub fn feed<'a, E: From<HaFrameError>>(
        &mut self,
        mut data: &'a [u8],
        mut on: impl FnMut(Piece<'a, L::Header>) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            if self.body_left > 0 {
                if data.is_empty() {
                    return Ok(());
                }
                let (body, rest) = data.split_at(self.body_left.min(data.len()));
                self.body_left -= body.len();
                data = rest;
                on(Piece::Body(body))?;
                continue;
            }
            match self.layout.parse(&self.partial[..self.have])? {
                Parsed::Complete(header, len) => {
                    // The header was grown by exactly what the layout asked for.
                    debug_assert_eq!(len, self.have);
                    if len != self.have {
                        return Err(HaFrameError::Length("header").into());
                    }
                    self.have = 0;
                    self.body_left = self.layout.body_len(&header);
                    on(Piece::Header(header))?;
                }
                Parsed::NeedMore(n) => {
                    if data.is_empty() {
                        return Ok(());
                    }
                    if n > MAX_HEADER - self.have {
                        return Err(HaFrameError::Length("header").into());
                    }
                    let take = n.min(data.len());
                    self.partial[self.have..self.have + take].copy_from_slice(&data[..take]);
                    self.have += take;
                    data = &data[take..];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` whole and at every split into two, returning the headers and body bytes
    /// seen, the same every way.
    fn pieces<L: Layout + Copy>(layout: L, bytes: &[u8]) -> (Vec<L::Header>, usize)
    where
        L::Header: PartialEq + std::fmt::Debug,
    {
        let run = |cuts: &[usize]| {
            let mut f = Framer::new(layout);
            let (mut headers, mut body) = (Vec::new(), 0);
            let mut at = 0;
            for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
                f.feed(&bytes[at..cut], |p| {
                    match p {
                        Piece::Header(h) => headers.push(h),
                        Piece::Body(b) => body += b.len(),
                    }
                    Ok::<(), HaFrameError>(())
                })
                .unwrap();
                at = cut;
            }
            assert!(f.at_boundary());
            (headers, body)
        };
        let whole = run(&[]);
        for cut in 0..=bytes.len() {
            assert_eq!(run(&[cut]), whole, "split at {cut}");
        }
        let bytewise: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(run(&bytewise), whole, "a byte at a time");
        whole
    }

    #[test]
    fn classic_streams_split_anywhere() {
        let reports: Vec<u8> = [0i64, 100, 4096].iter().flat_map(|v| v.to_be_bytes()).collect();
        let (h, body) = pieces(ClassicReports, &reports);
        assert_eq!(h.iter().map(|r| r.max_offset).collect::<Vec<_>>(), [0, 100, 4096]);
        assert_eq!(body, 0);
        let mut transfers = TransferHeader { phy_offset: 0, body_size: 5 }.encode().to_vec();
        transfers.extend_from_slice(b"abcde");
        transfers.extend_from_slice(&TransferHeader { phy_offset: 5, body_size: 0 }.encode());
        let (h, body) = pieces(ClassicTransfers, &transfers);
        assert_eq!(h.len(), 2);
        assert_eq!(body, 5);
    }

    #[test]
    fn auto_switch_streams_split_anywhere() {
        let mut slave = vec![0, 0, 0, 1, 0, 0, 0, 1];
        slave.extend_from_slice(&3i64.to_be_bytes());
        slave.extend_from_slice(&[0, 0, 0, 2]);
        slave.extend_from_slice(&4096i64.to_be_bytes());
        let (h, _) = pieces(AutoSwitchSlave { legacy: false }, &slave);
        assert_eq!(
            h,
            [
                SlaveMessage::Handshake { is_sync_from_last_file: false, is_async_learner: true, slave_broker_id: 3 },
                SlaveMessage::Transfer { max_offset: 4096 }
            ]
        );
        let mut legacy = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 14];
        legacy.extend_from_slice(b"10.0.0.2:10911");
        legacy.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
        let (h, _) = pieces(AutoSwitchSlave { legacy: true }, &legacy);
        assert!(matches!(&h[0], SlaveMessage::LegacyHandshake { address, .. } if address == "10.0.0.2:10911"));
        assert_eq!(h[1], SlaveMessage::Transfer { max_offset: 0 });

        let mut master = vec![0, 0, 0, 1, 0, 0, 0, 24];
        master.extend_from_slice(&8192i64.to_be_bytes());
        master.extend_from_slice(&2i32.to_be_bytes());
        for (epoch, start) in [(1i32, 0i64), (2, 4096)] {
            master.extend_from_slice(&epoch.to_be_bytes());
            master.extend_from_slice(&start.to_be_bytes());
        }
        master.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 3]);
        master.extend_from_slice(&4096i64.to_be_bytes());
        master.extend_from_slice(&2i32.to_be_bytes());
        master.extend_from_slice(&4096i64.to_be_bytes());
        master.extend_from_slice(&4000i64.to_be_bytes());
        master.extend_from_slice(b"xyz");
        let (h, body) = pieces(AutoSwitchMaster, &master);
        assert!(matches!(h[0], MasterHeader::Handshake(x) if x.max_phy_offset == 8192 && x.body_size == 24));
        assert!(matches!(h[1], MasterHeader::Transfer(t) if t.offset == 4096 && t.confirm_offset == 4000));
        assert_eq!(body, 24 + 3);
    }

    #[test]
    fn the_first_bad_header_stops_the_framer_and_what_follows_is_not_read() {
        let mut f = Framer::new(AutoSwitchSlave { legacy: false });
        let mut seen = 0;
        let mut bytes = vec![0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7];
        bytes.extend_from_slice(&[0, 0, 0, 4]); // SHUTDOWN: no slave sends it
        bytes.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 8]);
        let r = f.feed(&bytes, |_| {
            seen += 1;
            Ok::<(), HaFrameError>(())
        });
        assert_eq!(r, Err(HaFrameError::State(4)));
        assert_eq!(seen, 1);
    }
}
