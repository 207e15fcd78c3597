//! What a connection reports to its driver: events, failures and refused
//! sends.

use alloc::string::String;
use core::fmt;

use bytes::Bytes;

use super::{Message, MessageKind};
use crate::close::{CloseCode, CloseError};
use crate::frame::FrameError;

/// Something that happened on the connection.
///
/// ```
/// use ws_proto::connection::{Config, Connection, Event};
///
/// let mut conn = Connection::client(Config::default(), [7; 32]);
/// conn.feed(&[0x89, 0x02, b'h', b'i']); // an unmasked ping from the server
/// assert_eq!(conn.poll_event(), Some(Event::Ping(b"hi"[..].into())));
/// // The pong is already queued.
/// assert_eq!(conn.pending_output()[0], 0x8A);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete message (when [`Config::stream_messages`](super::Config::stream_messages) is off).
    Message(Message),
    /// Part of a message (when [`Config::stream_messages`](super::Config::stream_messages) is on). Text
    /// chunks are valid UTF-8 *as a whole message*; a chunk may end inside a
    /// code point.
    MessageChunk {
        /// Text or binary.
        kind: MessageKind,
        /// The bytes that arrived.
        data: Bytes,
        /// This chunk ends the message.
        fin: bool,
    },
    /// The peer pinged. The pong is queued, unless we already sent a close
    /// frame (then no frame may follow it) or the output queue is over its
    /// limit (then it is deferred, and a later ping's pong replaces it, as
    /// §5.5.3 allows).
    Ping(Bytes),
    /// The peer sent a pong.
    Pong(Bytes),
    /// The peer sent a close frame. If we had not sent one, the reply (echoing
    /// the code) is already queued. The code is 1005 if the frame had none.
    Close {
        /// The peer's status code.
        code: CloseCode,
        /// The peer's reason.
        reason: String,
    },
    /// The connection failed. The close frame with the code from
    /// [`Error::close_code`] is already queued; the connection is closed.
    Error(Error),
}

/// Why a connection failed.
///
/// ```
/// use ws_proto::connection::Error;
/// use ws_proto::close::CloseCode;
///
/// assert_eq!(Error::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A frame header broke the protocol or a limit.
    Frame(FrameError),
    /// A close frame's payload was invalid.
    Close(CloseError),
    /// A text message or frame was not valid UTF-8.
    InvalidUtf8,
    /// A continuation frame arrived with no message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame arrived inside a fragmented message.
    ExpectedContinuation,
    /// A message grew past [`Config::max_message_size`](super::Config::max_message_size).
    MessageTooBig {
        /// The size the message would have reached.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// No pong answered a keep-alive ping within [`Config::keep_alive_timeout`](super::Config::keep_alive_timeout).
    KeepAliveTimeout,
    /// The peer did not answer our close frame within [`Config::close_timeout`](super::Config::close_timeout).
    CloseTimeout,
    /// The transport ended before the close handshake finished.
    AbnormalClosure,
    /// A compressed message could not be inflated (permessage-deflate).
    #[cfg(feature = "deflate")]
    Compression(crate::deflate::DecompressError),
    /// Our compressor failed on a message we were sending.
    CompressionFailed,
}

impl Error {
    /// The close code this failure sends (1006 for those where no frame can
    /// be sent any more).
    ///
    /// ```
    /// # use ws_proto::connection::Error;
    /// # use ws_proto::close::CloseCode;
    /// assert_eq!(Error::KeepAliveTimeout.close_code(), CloseCode::INTERNAL_ERROR);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            Error::Frame(e) => e.close_code(),
            Error::Close(e) => e.close_code(),
            Error::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            Error::UnexpectedContinuation | Error::ExpectedContinuation => {
                CloseCode::PROTOCOL_ERROR
            }
            Error::MessageTooBig { .. } => CloseCode::MESSAGE_TOO_BIG,
            Error::KeepAliveTimeout => CloseCode::INTERNAL_ERROR,
            Error::CloseTimeout | Error::AbnormalClosure => CloseCode::ABNORMAL,
            #[cfg(feature = "deflate")]
            Error::Compression(crate::deflate::DecompressError::Corrupt) => {
                CloseCode::INVALID_PAYLOAD
            }
            #[cfg(feature = "deflate")]
            Error::Compression(crate::deflate::DecompressError::TooLarge) => {
                CloseCode::MESSAGE_TOO_BIG
            }
            #[cfg(feature = "deflate")]
            Error::Compression(_) => CloseCode::INTERNAL_ERROR,
            Error::CompressionFailed => CloseCode::INTERNAL_ERROR,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Frame(e) => fmt::Display::fmt(e, f),
            Error::Close(e) => fmt::Display::fmt(e, f),
            Error::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            Error::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            Error::ExpectedContinuation => {
                f.write_str("new data frame inside a fragmented message")
            }
            Error::MessageTooBig { size, max } => {
                write!(f, "message of {size} bytes exceeds the limit of {max}")
            }
            Error::KeepAliveTimeout => f.write_str("keep-alive ping timeout"),
            Error::CloseTimeout => f.write_str("close handshake timed out"),
            Error::AbnormalClosure => f.write_str("connection ended without a close frame"),
            #[cfg(feature = "deflate")]
            Error::Compression(e) => write!(f, "compressed message: {e}"),
            Error::CompressionFailed => f.write_str("compressing a message failed"),
        }
    }
}

impl core::error::Error for Error {}

/// Why a send was refused.
///
/// ```
/// use ws_proto::connection::{Config, Connection, SendError};
/// use ws_proto::close::CloseCode;
///
/// let mut conn = Connection::server(Config::default());
/// conn.close(CloseCode::NORMAL, "").unwrap();
/// assert_eq!(conn.send_text("late"), Err(SendError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// A close frame was already sent: no more frames may follow (§5.5.1).
    Closed,
    /// Queuing this message would put more than
    /// [`Config::max_send_queue`](super::Config::max_send_queue) bytes in the
    /// output queue. Nothing was queued or copied; send again once some
    /// output has been written.
    QueueFull,
    /// A ping or pong payload over 125 bytes.
    ControlTooLong,
    /// A close code that may not be sent on the wire.
    InvalidCloseCode(CloseCode),
    /// A new data message while a fragmented one started with
    /// [`send_fragment`](super::Connection::send_fragment) is unfinished
    /// (§5.4: fragments of different messages may not interleave).
    MessageInProgress,
    /// [`send_fragment`](super::Connection::send_fragment) of a different kind
    /// than the message in progress.
    KindMismatch,
    /// The negotiated extension could not process the message.
    Extension,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the connection is closing or closed"),
            SendError::QueueFull => f.write_str("the send queue is full"),
            SendError::ControlTooLong => f.write_str("control frame payload over 125 bytes"),
            SendError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            SendError::MessageInProgress => f.write_str("a fragmented message is still being sent"),
            SendError::KindMismatch => {
                f.write_str("fragment kind differs from the message in progress")
            }
            SendError::Extension => f.write_str("the extension failed to encode the message"),
        }
    }
}

impl core::error::Error for SendError {}
