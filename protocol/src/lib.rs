//! The Apache RocketMQ remoting protocol, as bytes in and bytes out. **This crate does no
//! I/O**: it has no sockets, no runtime and no clock; callers pass time in where it matters.
//!
//! ```text
//!  0        4        5                8                 8+H              4+L
//!  +--------+--------+----------------+-----------------+----------------+
//!  | L: u32 | type:u8| H: u24         | header (H bytes)| body           |
//!  +--------+--------+----------------+-----------------+----------------+
//!   L = 4 + H + body length (big-endian; at most 16,777,212 — Java's limit)
//!   type 0 = JSON header, 1 = ROCKETMQ binary header
//! ```
//!
//! - [`frame`]: find a whole frame in a stream ([`frame::check`], [`frame::RawFrame`]),
//!   encode one ([`frame::encode`]), build a proxy's error reply ([`frame::error_response`]).
//! - [`header`]: the header in both serialize types, byte-exact with Java.
//! - [`codes`]: request/response/language/serialize-type codes as open newtypes.
//! - [`policy`]: which request codes are administrative, as a table.
//! - [`route_claim`]: which broker a route write (registration, unregistration …) speaks for.
//! - [`fastjson`]: a lenient reader for the non-standard JSON Java's fastjson writes.
//! - [`body`] and [`request`]: typed bodies and request headers the agent needs.
//! - [`sign`]: `acl-v1` (RocketMQ ACL 1.0), `rmq-hmac-v1` (admin requests) and `rmq-ha-v1`
//!   (the HA guard's first packet), each specified in its module.
//! - [`ha`]: classic and 5.x auto-switch HA replication frames, for inspection.
//!
//! Decoding a captured frame (the reference's GET_TOPIC_STATS_INFO request, binary header):
//!
//! ```
//! use bytes::Bytes;
//! use rmq_protocol::{codes::RequestCode, frame::RawFrame};
//!
//! let wire = Bytes::from_static(&[
//!     0x00, 0x00, 0x00, 0x27, 0x01, 0x00, 0x00, 0x23, 0x00, 0xca, 0x00, 0x00, 0x00, 0x00, 0x00,
//!     0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x72, 0x00, 0x00, 0x00, 0x0d,
//!     0x00, 0x05, b't', b'o', b'p', b'i', b'c', 0x00, 0x00, 0x00, 0x02, b'T', b'1',
//! ]);
//! let frame = RawFrame::parse(wire)?;
//! let header = frame.header()?;
//! assert_eq!(header.request_code(), RequestCode::GET_TOPIC_STATS_INFO);
//! assert_eq!(header.opaque, 7);
//! assert_eq!(header.ext("topic"), Some("T1"));
//! assert!(frame.body().is_empty());
//! # Ok::<(), rmq_protocol::error::DecodeError>(())
//! ```

pub mod body;
pub mod codes;
pub mod error;
pub mod fastjson;
pub mod frame;
pub mod ha;
pub mod header;
pub mod policy;
pub mod request;
pub mod route_claim;
pub mod sign;

#[cfg(fuzzing)]
pub mod fuzzing;

pub use codes::{LanguageCode, RequestCode, ResponseCode, SerializeType};
pub use frame::RawFrame;
pub use header::{DecodeLimits, ExtFields, Header, Peek, Refusal};
