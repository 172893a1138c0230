//! Client errors.

use std::time::Duration;

use rmq_protocol::error::{BodyError, DecodeError, EncodeError};
use rmq_protocol::{RequestCode, ResponseCode};
use thiserror::Error;

/// Why a request did not produce a usable answer.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The TCP connection could not be made.
    #[error("cannot connect to {addr}: {cause}")]
    Connect {
        /// Where we dialled.
        addr: String,
        /// Why it failed.
        cause: std::io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("connection to {addr} failed: {cause}")]
    Io {
        /// The peer.
        addr: String,
        /// Why.
        cause: std::io::Error,
    },
    /// No response within the request's timeout.
    #[error("{code} to {addr}: no response within {after:?}")]
    Timeout {
        /// The request code.
        code: RequestCode,
        /// The peer.
        addr: String,
        /// The timeout.
        after: Duration,
    },
    /// The connection closed before the response arrived.
    #[error("connection to {addr} closed before the response to {code}")]
    Disconnected {
        /// The request code.
        code: RequestCode,
        /// The peer.
        addr: String,
    },
    /// The peer sent bytes that are not a valid frame; the connection was dropped.
    #[error("invalid frame from {addr}: {cause}")]
    Decode {
        /// The peer.
        addr: String,
        /// What was wrong.
        cause: DecodeError,
    },
    /// The request could not be encoded.
    #[error("cannot encode request: {0}")]
    Encode(EncodeError),
    /// The server answered with an error code.
    #[error("{request} answered {code}: {remark}")]
    Server {
        /// The request code.
        request: RequestCode,
        /// The response code.
        code: ResponseCode,
        /// The server's remark.
        remark: String,
    },
    /// The response body could not be read as the expected type.
    #[error("{request} response body: {cause}")]
    Body {
        /// The request code.
        request: RequestCode,
        /// What was wrong.
        cause: BodyError,
    },
}

// Not `#[from]`: that would also return the encode error from `source()`, and the message
// already carries it.
impl From<EncodeError> for ClientError {
    fn from(e: EncodeError) -> Self {
        Self::Encode(e)
    }
}

impl ClientError {
    /// A short, stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Io { .. } => "io",
            Self::Timeout { .. } => "timeout",
            Self::Disconnected { .. } => "disconnected",
            Self::Decode { .. } => "decode",
            Self::Encode(_) => "encode",
            Self::Server { .. } => "server_error",
            Self::Body { .. } => "body",
        }
    }
}
