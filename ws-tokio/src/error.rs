//! What can go wrong on an open connection.

use std::fmt;
use std::io;

use ws_proto::close::CloseCode;
use ws_proto::connection::{self, SendError};

/// Why a WebSocket operation failed.
///
/// ```
/// use ws_tokio::Error;
/// use ws_tokio::proto::connection::Error as ProtocolError;
///
/// let e = Error::Protocol(ProtocolError::InvalidUtf8);
/// assert_eq!(e.to_string(), "connection failed: invalid UTF-8 in text");
/// ```
#[derive(Debug)]
pub enum Error {
    /// The transport failed (reset, broken pipe, ...).
    Io(io::Error),
    /// The peer broke the protocol or a limit, or a timer expired
    /// (keep-alive pong, close handshake). The close frame with
    /// [`connection::Error::close_code`] was sent if the transport took it.
    Protocol(connection::Error),
    /// The connection is closing or closed: nothing more may be sent.
    Closed,
    /// The write queue is full: the message was not queued. Wait (for
    /// example with an `async` send) and retry; this is the back-pressure
    /// of a peer that reads slower than we write.
    QueueFull,
    /// A ping or pong payload over 125 bytes.
    ControlTooLong,
    /// A close code that may not be sent (1005, 1006, 1015, or outside
    /// 1000..=4999).
    InvalidCloseCode(CloseCode),
    /// The core refused the send for another reason (a fragmented message
    /// in progress, an extension failure).
    Send(SendError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "transport error: {e}"),
            Error::Protocol(e) => write!(f, "connection failed: {e}"),
            Error::Closed => f.write_str("the connection is closing or closed"),
            Error::QueueFull => f.write_str("the write queue is full"),
            Error::ControlTooLong => f.write_str("control frame payload over 125 bytes"),
            Error::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            Error::Send(e) => write!(f, "send refused: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Closed => Error::Closed,
            SendError::QueueFull => Error::QueueFull,
            SendError::ControlTooLong => Error::ControlTooLong,
            SendError::InvalidCloseCode(c) => Error::InvalidCloseCode(c),
            e @ (SendError::MessageInProgress | SendError::KindMismatch | SendError::Extension) => {
                Error::Send(e)
            }
        }
    }
}
