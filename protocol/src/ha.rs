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
//! there; they never read past the bytes given.

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

/// 5.x auto-switch HA (`enableControllerMode=true`).
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

    /// Longest slave address accepted in a 5.0–5.1.0 handshake (Java allows 50 characters).
    pub const MAX_LEGACY_ADDRESS: usize = 256;

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
                        is_sync_from_last_file: i16_at(buf, 4) != 0,
                        is_async_learner: i16_at(buf, 6) != 0,
                        slave_broker_id: i64_at(buf, 8),
                    },
                    16,
                ))
            }
            state::HANDSHAKE => {
                if let Some(n) = need(buf, 12) {
                    return Ok(Parsed::NeedMore(n));
                }
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
                        is_sync_from_last_file: i16_at(buf, 4) != 0,
                        is_async_learner: i16_at(buf, 6) != 0,
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
        /// Commitlog offset of the first body byte.
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

    /// Parses a master header (not its body).
    pub fn parse_master(buf: &[u8]) -> Result<Parsed<MasterHeader>, HaFrameError> {
        if let Some(n) = need(buf, 8) {
            return Ok(Parsed::NeedMore(n));
        }
        let body_size = i32_at(buf, 4);
        if !(0..=super::MAX_TRANSFER_BODY).contains(&body_size) {
            return Err(HaFrameError::BodySize(body_size));
        }
        match i32_at(buf, 0) {
            state::HANDSHAKE => {
                if let Some(n) = need(buf, 20) {
                    return Ok(Parsed::NeedMore(n));
                }
                let h =
                    MasterHandshakeHeader { body_size, max_phy_offset: i64_at(buf, 8), last_epoch: i32_at(buf, 16) };
                Ok(Parsed::Complete(MasterHeader::Handshake(h), 20))
            }
            state::TRANSFER => {
                if let Some(n) = need(buf, 36) {
                    return Ok(Parsed::NeedMore(n));
                }
                let h = MasterTransferHeader {
                    body_size,
                    offset: i64_at(buf, 8),
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
}
