//! HA replication frames, for a guard that reads them as they pass.
//!
//! Classic HA (4.x, and 5.x without controller mode):
//! - slave → master: a stream of 8-byte big-endian offsets ([`SlaveReport`]);
//! - master → slave: a 12-byte header ([`TransferHeader`]: i64 offset, i32 body size) and
//!   `body size` commitlog bytes; a heartbeat has body size 0.
//!
//! 5.x auto-switch HA ([`auto_switch`]) prefixes every message with the sender's state.
//!
//! Parsers take what has arrived and answer [`Parsed::NeedMore`] until a whole message is
//! there; they never read past the bytes given. [`stream`] splits a stream arriving in pieces
//! of any size into messages with them, keeping at most one partial header.

pub mod stream;

/// Result of parsing a fixed-layout message from the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A whole message and the number of bytes it took.
    Complete(T, usize),
    /// At least this many more bytes are needed.
    NeedMore(usize),
}

/// Why HA bytes cannot be a valid message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HaFrameError {
    /// An offset that cannot be a commitlog position.
    #[error("negative offset {0}")]
    NegativeOffset(i64),
    /// A body size that is negative or larger than the limit.
    #[error("body size {0} out of range")]
    BodySize(i32),
    /// An unknown or unexpected state value in an auto-switch message.
    #[error("unexpected HA state {0}")]
    State(i32),
    /// A length field out of range.
    #[error("{0} length out of range")]
    Length(&'static str),
    /// Text that is not UTF-8.
    #[error("{0} is not valid UTF-8")]
    Utf8(&'static str),
    /// A flag that is neither 0 nor 1.
    #[error("{0} flag is {1}, not 0 or 1")]
    Flag(&'static str, i16),
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn need(buf: &[u8], n: usize) -> Option<usize> {
    (buf.len() < n).then(|| n - buf.len())
}

/// Largest body a master sends in one transfer message (`haTransferBatchSize` is 32 KiB by
/// default; anything up to the slave's 4 MiB read buffer is accepted).
pub const MAX_TRANSFER_BODY: i32 = 4 * 1024 * 1024;

/// Classic slave → master report: the slave's commitlog max offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaveReport {
    /// The slave's max physical offset.
    pub max_offset: i64,
}

impl SlaveReport {
    /// Encoded size.
    pub const LEN: usize = 8;

    /// Parses one report. A negative offset is an error: no slave can hold one.
    pub fn parse(buf: &[u8]) -> Result<Parsed<SlaveReport>, HaFrameError> {
        if let Some(n) = need(buf, Self::LEN) {
            return Ok(Parsed::NeedMore(n));
        }
        let max_offset = i64_at(buf, 0);
        if max_offset < 0 {
            return Err(HaFrameError::NegativeOffset(max_offset));
        }
        Ok(Parsed::Complete(SlaveReport { max_offset }, Self::LEN))
    }

    /// Encodes the report.
    pub fn encode(&self) -> [u8; 8] {
        self.max_offset.to_be_bytes()
    }
}

/// Classic master → slave transfer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferHeader {
    /// Commitlog offset of the first body byte.
    pub phy_offset: i64,
    /// Body bytes that follow (0 for a heartbeat).
    pub body_size: i32,
}

impl TransferHeader {
    /// Encoded size.
    pub const LEN: usize = 12;

    /// Parses a header (not its body).
    pub fn parse(buf: &[u8]) -> Result<Parsed<TransferHeader>, HaFrameError> {
        if let Some(n) = need(buf, Self::LEN) {
            return Ok(Parsed::NeedMore(n));
        }
        let phy_offset = i64_at(buf, 0);
        let body_size = i32_at(buf, 8);
        if phy_offset < 0 {
            return Err(HaFrameError::NegativeOffset(phy_offset));
        }
        if !(0..=MAX_TRANSFER_BODY).contains(&body_size) {
            return Err(HaFrameError::BodySize(body_size));
        }
        Ok(Parsed::Complete(TransferHeader { phy_offset, body_size }, Self::LEN))
    }

    /// Encodes the header.
    pub fn encode(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&self.phy_offset.to_be_bytes());
        out[8..].copy_from_slice(&self.body_size.to_be_bytes());
        out
    }
}

/// 5.x auto-switch HA (`enableControllerMode=true`): every message starts with its sender's
/// state (an int32). Layouts, big-endian:
///
/// ```text
/// slave → master
///   HANDSHAKE (5.1.1+)       state=1 | isSyncFromLastFile i16 | isAsyncLearner i16 | slaveBrokerId i64   16 bytes
///   HANDSHAKE (5.0.0–5.1.0)  state=1 | isSyncFromLastFile i16 | isAsyncLearner i16 | len i32 | address   12 + len
///   TRANSFER (offset report) state=2 | maxOffset i64                                                     12 bytes
/// master → slave
///   HANDSHAKE  state=1 | bodySize i32 | maxPhyOffset i64 | lastEpoch i32                                  20 bytes
///              + bodySize / 12 epoch entries (epoch i32 | startOffset i64)
///   TRANSFER   state=2 | bodySize i32 | offset i64 | epoch i32 | epochStartOffset i64 | confirmOffset i64 36 bytes
///              + bodySize commitlog bytes (0: a heartbeat)
/// ```
///
/// A master reads a slave message's state and then its fixed fields; any state but HANDSHAKE
/// and TRANSFER fails the connection. These parsers refuse what no Java peer writes: other
/// states, flags other than 0 and 1, a 5.0 address over 50 bytes, an epoch list that is not
/// whole entries or longer than 1,000 of them, negative offsets (except the `-1` of a
/// heartbeat a master with an empty commitlog sends).
pub mod auto_switch {
    use super::{HaFrameError, Parsed, i16_at, i32_at, i64_at, need};

    /// `HAConnectionState` ordinals.
    pub mod state {
        /// READY
        pub const READY: i32 = 0;
        /// HANDSHAKE
        pub const HANDSHAKE: i32 = 1;
        /// TRANSFER
        pub const TRANSFER: i32 = 2;
        /// SUSPEND
        pub const SUSPEND: i32 = 3;
        /// SHUTDOWN
        pub const SHUTDOWN: i32 = 4;
    }

    /// Longest slave address in a 5.0–5.1.0 handshake: the Java slave writes it into a buffer
    /// of 12 + 50 bytes, so a longer one is never sent.
    pub const MAX_LEGACY_ADDRESS: usize = 50;

    /// Size of one epoch entry in a master handshake (epoch i32, start offset i64).
    pub const EPOCH_ENTRY_LEN: usize = 12;

    /// Most epoch entries in a master handshake: the Java master's buffer holds 1,000.
    pub const MAX_EPOCH_ENTRIES: usize = 1000;

    /// Longest message header either side sends (the 5.0 handshake with the longest address).
    pub const MAX_HEADER_LEN: usize = 12 + MAX_LEGACY_ADDRESS;

    /// A slave → master message.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum SlaveMessage {
        /// 5.1.1+ handshake (16 bytes).
        Handshake {
            /// Sync from the start of the last commitlog file.
            is_sync_from_last_file: bool,
            /// Learner that does not count toward sync replicas.
            is_async_learner: bool,
            /// The slave's declared broker id.
            slave_broker_id: i64,
        },
        /// 5.0.0–5.1.0 handshake (12 bytes + address).
        LegacyHandshake {
            /// Sync from the start of the last commitlog file.
            is_sync_from_last_file: bool,
            /// Learner flag.
            is_async_learner: bool,
            /// The slave's declared `brokerIP1:listenPort`.
            address: String,
        },
        /// Offset report (12 bytes).
        Transfer {
            /// The slave's max offset.
            max_offset: i64,
        },
    }

    fn flag(buf: &[u8], at: usize, name: &'static str) -> Result<bool, HaFrameError> {
        match i16_at(buf, at) {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(HaFrameError::Flag(name, other)),
        }
    }

    impl SlaveMessage {
        /// The message as a Java slave writes it (for tests and benchmarks).
        pub fn encode(&self) -> Vec<u8> {
            let flags = |sync: bool, learner: bool| [0, u8::from(sync), 0, u8::from(learner)];
            let mut out = Vec::with_capacity(16);
            match self {
                Self::Handshake { is_sync_from_last_file, is_async_learner, slave_broker_id } => {
                    out.extend_from_slice(&state::HANDSHAKE.to_be_bytes());
                    out.extend_from_slice(&flags(*is_sync_from_last_file, *is_async_learner));
                    out.extend_from_slice(&slave_broker_id.to_be_bytes());
                }
                Self::LegacyHandshake { is_sync_from_last_file, is_async_learner, address } => {
                    out.extend_from_slice(&state::HANDSHAKE.to_be_bytes());
                    out.extend_from_slice(&flags(*is_sync_from_last_file, *is_async_learner));
                    out.extend_from_slice(&i32::try_from(address.len()).unwrap_or(i32::MAX).to_be_bytes());
                    out.extend_from_slice(address.as_bytes());
                }
                Self::Transfer { max_offset } => {
                    out.extend_from_slice(&state::TRANSFER.to_be_bytes());
                    out.extend_from_slice(&max_offset.to_be_bytes());
                }
            }
            out
        }
    }

    /// Parses a slave message; `legacy` selects the 5.0–5.1.0 handshake layout.
    pub fn parse_slave(buf: &[u8], legacy: bool) -> Result<Parsed<SlaveMessage>, HaFrameError> {
        if let Some(n) = need(buf, 4) {
            return Ok(Parsed::NeedMore(n));
        }
        match i32_at(buf, 0) {
            state::HANDSHAKE if !legacy => {
                if let Some(n) = need(buf, 16) {
                    return Ok(Parsed::NeedMore(n));
                }
                Ok(Parsed::Complete(
                    SlaveMessage::Handshake {
                        is_sync_from_last_file: flag(buf, 4, "isSyncFromLastFile")?,
                        is_async_learner: flag(buf, 6, "isAsyncLearner")?,
                        slave_broker_id: i64_at(buf, 8),
                    },
                    16,
                ))
            }
            state::HANDSHAKE => {
                if let Some(n) = need(buf, 12) {
                    return Ok(Parsed::NeedMore(n));
                }
                let is_sync_from_last_file = flag(buf, 4, "isSyncFromLastFile")?;
                let is_async_learner = flag(buf, 6, "isAsyncLearner")?;
                let len = usize::try_from(i32_at(buf, 8)).map_err(|_| HaFrameError::Length("slave address"))?;
                if len > MAX_LEGACY_ADDRESS {
                    return Err(HaFrameError::Length("slave address"));
                }
                if let Some(n) = need(buf, 12 + len) {
                    return Ok(Parsed::NeedMore(n));
                }
                let address =
                    std::str::from_utf8(&buf[12..12 + len]).map_err(|_| HaFrameError::Utf8("slave address"))?;
                Ok(Parsed::Complete(
                    SlaveMessage::LegacyHandshake {
                        is_sync_from_last_file,
                        is_async_learner,
                        address: address.to_owned(),
                    },
                    12 + len,
                ))
            }
            state::TRANSFER => {
                if let Some(n) = need(buf, 12) {
                    return Ok(Parsed::NeedMore(n));
                }
                let max_offset = i64_at(buf, 4);
                if max_offset < 0 {
                    return Err(HaFrameError::NegativeOffset(max_offset));
                }
                Ok(Parsed::Complete(SlaveMessage::Transfer { max_offset }, 12))
            }
            other => Err(HaFrameError::State(other)),
        }
    }

    /// Master → slave HANDSHAKE header (20 bytes), followed by `body_size / 12` epoch entries.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MasterHandshakeHeader {
        /// Body bytes (epoch entries).
        pub body_size: i32,
        /// The master's max physical offset.
        pub max_phy_offset: i64,
        /// The master's last epoch.
        pub last_epoch: i32,
    }

    /// Master → slave TRANSFER header (36 bytes), followed by `body_size` commitlog bytes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MasterTransferHeader {
        /// Body bytes.
        pub body_size: i32,
        /// Commitlog offset of the first body byte; `-1` in a heartbeat from a master whose
        /// commitlog is empty (it has no offset to send from yet).
        pub offset: i64,
        /// Epoch of the data.
        pub epoch: i32,
        /// Start offset of that epoch.
        pub epoch_start_offset: i64,
        /// The master's confirm offset.
        pub confirm_offset: i64,
    }

    /// A master → slave header.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum MasterHeader {
        /// HANDSHAKE.
        Handshake(MasterHandshakeHeader),
        /// TRANSFER.
        Transfer(MasterTransferHeader),
    }

    impl MasterHandshakeHeader {
        /// A whole handshake as a Java master writes it: the header stating end `max_phy_offset`
        /// and the epoch entries `(epoch, start offset)` as its body (for tests and benchmarks).
        pub fn encode_with_epochs(max_phy_offset: i64, epochs: &[(i32, i64)]) -> Vec<u8> {
            let body = epochs.len() * EPOCH_ENTRY_LEN;
            let header = Self {
                body_size: i32::try_from(body).unwrap_or(i32::MAX),
                max_phy_offset,
                last_epoch: epochs.last().map_or(0, |e| e.0),
            };
            let mut out = MasterHeader::Handshake(header).encode();
            out.reserve(body);
            for (epoch, start) in epochs {
                out.extend_from_slice(&epoch.to_be_bytes());
                out.extend_from_slice(&start.to_be_bytes());
            }
            out
        }
    }

    impl MasterHeader {
        /// The header as a Java master writes it, without its body (for tests and benchmarks).
        pub fn encode(&self) -> Vec<u8> {
            let mut out = Vec::with_capacity(36);
            match self {
                Self::Handshake(h) => {
                    out.extend_from_slice(&state::HANDSHAKE.to_be_bytes());
                    out.extend_from_slice(&h.body_size.to_be_bytes());
                    out.extend_from_slice(&h.max_phy_offset.to_be_bytes());
                    out.extend_from_slice(&h.last_epoch.to_be_bytes());
                }
                Self::Transfer(t) => {
                    out.extend_from_slice(&state::TRANSFER.to_be_bytes());
                    out.extend_from_slice(&t.body_size.to_be_bytes());
                    out.extend_from_slice(&t.offset.to_be_bytes());
                    out.extend_from_slice(&t.epoch.to_be_bytes());
                    out.extend_from_slice(&t.epoch_start_offset.to_be_bytes());
                    out.extend_from_slice(&t.confirm_offset.to_be_bytes());
                }
            }
            out
        }

        /// Bytes that follow the header: epoch entries or commitlog data.
        pub fn body_len(&self) -> usize {
            let n = match self {
                Self::Handshake(h) => h.body_size,
                Self::Transfer(t) => t.body_size,
            };
            // The parser admits only non-negative sizes.
            usize::try_from(n).unwrap_or(0)
        }
    }

    /// Parses a master header (not its body).
    pub fn parse_master(buf: &[u8]) -> Result<Parsed<MasterHeader>, HaFrameError> {
        if let Some(n) = need(buf, 8) {
            return Ok(Parsed::NeedMore(n));
        }
        let body_size = i32_at(buf, 4);
        match i32_at(buf, 0) {
            state::HANDSHAKE => {
                let entries = usize::try_from(body_size).map_err(|_| HaFrameError::BodySize(body_size))?;
                if entries % EPOCH_ENTRY_LEN != 0 || entries / EPOCH_ENTRY_LEN > MAX_EPOCH_ENTRIES {
                    return Err(HaFrameError::BodySize(body_size));
                }
                if let Some(n) = need(buf, 20) {
                    return Ok(Parsed::NeedMore(n));
                }
                let max_phy_offset = i64_at(buf, 8);
                if max_phy_offset < 0 {
                    return Err(HaFrameError::NegativeOffset(max_phy_offset));
                }
                let h = MasterHandshakeHeader { body_size, max_phy_offset, last_epoch: i32_at(buf, 16) };
                Ok(Parsed::Complete(MasterHeader::Handshake(h), 20))
            }
            state::TRANSFER => {
                if !(0..=super::MAX_TRANSFER_BODY).contains(&body_size) {
                    return Err(HaFrameError::BodySize(body_size));
                }
                if let Some(n) = need(buf, 36) {
                    return Ok(Parsed::NeedMore(n));
                }
                let offset = i64_at(buf, 8);
                if offset < -1 || (offset == -1 && body_size > 0) {
                    return Err(HaFrameError::NegativeOffset(offset));
                }
                let h = MasterTransferHeader {
                    body_size,
                    offset,
                    epoch: i32_at(buf, 16),
                    epoch_start_offset: i64_at(buf, 20),
                    confirm_offset: i64_at(buf, 28),
                };
                Ok(Parsed::Complete(MasterHeader::Transfer(h), 36))
            }
            other => Err(HaFrameError::State(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::auto_switch::{self, MasterHeader, SlaveMessage};
    use super::*;

    #[test]
    fn classic_report() {
        assert_eq!(SlaveReport::parse(&[0; 7]), Ok(Parsed::NeedMore(1)));
        let r = SlaveReport { max_offset: 1 << 33 };
        assert_eq!(SlaveReport::parse(&r.encode()), Ok(Parsed::Complete(r, 8)));
        // MQCloud's telnet incident: "99999999" read as a long is huge but positive; the
        // parser accepts it (range checks need the master's offset and live in the guard).
        assert!(matches!(
            SlaveReport::parse(b"99999999"),
            Ok(Parsed::Complete(SlaveReport { max_offset: 0x3939_3939_3939_3939 }, 8))
        ));
        assert_eq!(SlaveReport::parse(&(-54465i64).to_be_bytes()), Err(HaFrameError::NegativeOffset(-54465)));
    }

    #[test]
    fn classic_transfer_header() {
        let h = TransferHeader { phy_offset: 1024, body_size: 32768 };
        assert_eq!(TransferHeader::parse(&h.encode()), Ok(Parsed::Complete(h, 12)));
        assert_eq!(TransferHeader::parse(&h.encode()[..5]), Ok(Parsed::NeedMore(7)));
        let bad = TransferHeader { phy_offset: 0, body_size: -1 }.encode();
        assert_eq!(TransferHeader::parse(&bad), Err(HaFrameError::BodySize(-1)));
    }

    #[test]
    fn auto_switch_slave_messages() {
        let mut hs = vec![0, 0, 0, 1, 0, 1, 0, 0];
        hs.extend_from_slice(&7i64.to_be_bytes());
        assert_eq!(
            auto_switch::parse_slave(&hs, false),
            Ok(Parsed::Complete(
                SlaveMessage::Handshake { is_sync_from_last_file: true, is_async_learner: false, slave_broker_id: 7 },
                16
            ))
        );
        let mut legacy = vec![0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 15];
        legacy.extend_from_slice(b"10.0.0.2:10911x");
        assert!(matches!(
            auto_switch::parse_slave(&legacy, true),
            Ok(Parsed::Complete(SlaveMessage::LegacyHandshake { .. }, 27))
        ));
        let mut tr = vec![0, 0, 0, 2];
        tr.extend_from_slice(&99i64.to_be_bytes());
        assert_eq!(
            auto_switch::parse_slave(&tr, false),
            Ok(Parsed::Complete(SlaveMessage::Transfer { max_offset: 99 }, 12))
        );
        assert_eq!(auto_switch::parse_slave(&[0, 0, 0, 9], false), Err(HaFrameError::State(9)));
        assert_eq!(
            auto_switch::parse_slave(&[0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0, 0, 0], true),
            Err(HaFrameError::Length("slave address"))
        );
    }

    #[test]
    fn auto_switch_master_headers() {
        let mut h = vec![0, 0, 0, 1, 0, 0, 0, 12];
        h.extend_from_slice(&4096i64.to_be_bytes());
        h.extend_from_slice(&3i32.to_be_bytes());
        assert!(
            matches!(auto_switch::parse_master(&h), Ok(Parsed::Complete(MasterHeader::Handshake(x), 20)) if x.last_epoch == 3)
        );
        let mut t = vec![0, 0, 0, 2, 0, 0, 0, 0];
        t.extend_from_slice(&[0u8; 28]);
        assert!(matches!(auto_switch::parse_master(&t), Ok(Parsed::Complete(MasterHeader::Transfer(_), 36))));
        assert_eq!(auto_switch::parse_master(&t[..20]), Ok(Parsed::NeedMore(16)));
    }

    #[test]
    fn auto_switch_encodings_match_the_layouts() {
        use auto_switch::{MasterHandshakeHeader, MasterTransferHeader};
        // Written out field by field from the layouts in the module docs.
        let hs = SlaveMessage::Handshake { is_sync_from_last_file: true, is_async_learner: false, slave_broker_id: 2 };
        assert_eq!(hs.encode(), [0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let legacy = SlaveMessage::LegacyHandshake {
            is_sync_from_last_file: false,
            is_async_learner: true,
            address: "a:1".into(),
        };
        assert_eq!(legacy.encode(), [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3, b'a', b':', b'1']);
        let report = SlaveMessage::Transfer { max_offset: 0x0102 };
        assert_eq!(report.encode(), [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0x01, 0x02]);
        let mh = MasterHeader::Handshake(MasterHandshakeHeader { body_size: 24, max_phy_offset: 0x10, last_epoch: 3 });
        assert_eq!(mh.encode(), [0, 0, 0, 1, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 3]);
        let t = MasterHeader::Transfer(MasterTransferHeader {
            body_size: 5,
            offset: 0x20,
            epoch: 3,
            epoch_start_offset: 0x18,
            confirm_offset: 0x1f,
        });
        let mut want = vec![0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 3];
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0x1f]);
        assert_eq!(t.encode(), want);
        for m in [hs, legacy, report] {
            let legacy = matches!(m, SlaveMessage::LegacyHandshake { .. });
            let bytes = m.encode();
            assert_eq!(auto_switch::parse_slave(&bytes, legacy), Ok(Parsed::Complete(m, bytes.len())));
        }
        for h in [mh, t] {
            assert_eq!(auto_switch::parse_master(&h.encode()), Ok(Parsed::Complete(h, h.encode().len())));
        }
    }

    #[test]
    fn auto_switch_slave_fields_no_java_slave_writes_are_refused() {
        let handshake = |flags: [u8; 4]| {
            let mut b = vec![0, 0, 0, 1];
            b.extend_from_slice(&flags);
            b.extend_from_slice(&2i64.to_be_bytes());
            b
        };
        assert_eq!(
            auto_switch::parse_slave(&handshake([0, 2, 0, 0]), false),
            Err(HaFrameError::Flag("isSyncFromLastFile", 2))
        );
        assert_eq!(
            auto_switch::parse_slave(&handshake([0, 0, 0xff, 0xff]), false),
            Err(HaFrameError::Flag("isAsyncLearner", -1))
        );
        // 5.0: an address over the Java slave's 50-byte buffer, a negative length.
        let legacy = |len: i32| {
            let mut b = vec![0, 0, 0, 1, 0, 0, 0, 0];
            b.extend_from_slice(&len.to_be_bytes());
            b
        };
        assert_eq!(auto_switch::parse_slave(&legacy(50), true), Ok(Parsed::NeedMore(50)));
        assert_eq!(auto_switch::parse_slave(&legacy(51), true), Err(HaFrameError::Length("slave address")));
        assert_eq!(auto_switch::parse_slave(&legacy(-1), true), Err(HaFrameError::Length("slave address")));
        let mut bad_utf8 = legacy(2);
        bad_utf8.extend_from_slice(&[0xC3, 0x28]);
        assert_eq!(auto_switch::parse_slave(&bad_utf8, true), Err(HaFrameError::Utf8("slave address")));
        // Negative reports; states a slave never sends a master.
        let mut neg = vec![0, 0, 0, 2];
        neg.extend_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(auto_switch::parse_slave(&neg, false), Err(HaFrameError::NegativeOffset(-1)));
        for st in [auto_switch::state::READY, auto_switch::state::SUSPEND, auto_switch::state::SHUTDOWN, -1, 5] {
            assert_eq!(auto_switch::parse_slave(&st.to_be_bytes(), false), Err(HaFrameError::State(st)));
        }
    }

    #[test]
    fn auto_switch_master_fields_no_java_master_writes_are_refused() {
        let handshake = |body: i32, max: i64| {
            let mut b = vec![0, 0, 0, 1];
            b.extend_from_slice(&body.to_be_bytes());
            b.extend_from_slice(&max.to_be_bytes());
            b.extend_from_slice(&1i32.to_be_bytes());
            b
        };
        assert!(matches!(auto_switch::parse_master(&handshake(12_000, 0)), Ok(Parsed::Complete(_, 20))));
        for body in [12_012, 13, -12] {
            assert_eq!(auto_switch::parse_master(&handshake(body, 0)), Err(HaFrameError::BodySize(body)));
        }
        assert_eq!(auto_switch::parse_master(&handshake(0, -1)), Err(HaFrameError::NegativeOffset(-1)));
        let transfer = |body: i32, offset: i64| {
            let mut b = vec![0, 0, 0, 2];
            b.extend_from_slice(&body.to_be_bytes());
            b.extend_from_slice(&offset.to_be_bytes());
            b.extend_from_slice(&[0u8; 20]);
            b
        };
        // A master with an empty commitlog heartbeats from -1; data never starts there.
        assert!(matches!(
            auto_switch::parse_master(&transfer(0, -1)),
            Ok(Parsed::Complete(MasterHeader::Transfer(t), 36)) if t.offset == -1
        ));
        assert_eq!(auto_switch::parse_master(&transfer(1, -1)), Err(HaFrameError::NegativeOffset(-1)));
        assert_eq!(auto_switch::parse_master(&transfer(0, -2)), Err(HaFrameError::NegativeOffset(-2)));
        assert_eq!(
            auto_switch::parse_master(&transfer(MAX_TRANSFER_BODY + 1, 0)),
            Err(HaFrameError::BodySize(MAX_TRANSFER_BODY + 1))
        );
        assert_eq!(auto_switch::parse_master(&[0, 0, 0, 0, 0, 0, 0, 0]), Err(HaFrameError::State(0)));
    }
}
