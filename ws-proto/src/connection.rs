//! The connection state machine (RFC 6455 §5, §6, §7), for either role.
//!
//! A [`Connection`] takes bytes and the time from its caller and hands back
//! [`Event`]s, bytes to write and the next moment it needs waking:
//!
//! ```text
//!            feed(bytes) ──►┌────────────┐──► poll_event() -> Event
//!                           │ Connection │
//!  send_text / ping / close►│  (no I/O)  │──► pending_output() / consume_output(n)
//!    handle_timeout(now) ──►└────────────┘──► poll_timeout() -> Option<deadline>
//! ```
//!
//! Received bytes go through an explicit pipeline, one stage per concern, so
//! that an extension (permessage-deflate, RFC 7692) slots in as one more
//! stage: **header** (decode and check) → **unmask** (in place, in the input
//! buffer) → **extension** (today the identity: no RSV bit may be set) →
//! **UTF-8** (incremental, fails on the first bad byte) → **deliver**.
//! Outgoing messages take the same path backwards: UTF-8 is guaranteed by
//! `&str` → extension → frame and mask.
//!
//! Time is a [`Duration`] since any fixed origin the caller chooses (the
//! process start, a boot counter): the core only compares and adds them.
//!
//! # Example: a server connection over any byte transport
//!
//! ```
//! use core::time::Duration;
//! use ws_proto::connection::{Config, Connection, Event, Message};
//! use ws_proto::close::CloseCode;
//!
//! // A transport that delivers what the client wrote: here, one masked
//! // text frame "Hello" (RFC 6455 §5.7) followed by a close frame.
//! let mut wire: Vec<u8> = vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
//! wire.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
//!
//! let mut conn = Connection::server(Config::default());
//! conn.handle_timeout(Duration::ZERO); // arms the keep-alive timer
//! let mut sent = Vec::new();
//! for chunk in wire.chunks(3) {
//!     // 1. Feed whatever the transport produced, in any chunk size.
//!     conn.feed(chunk);
//!     // 2. Drain events; an echo server sends each message back.
//!     while let Some(event) = conn.poll_event() {
//!         match event {
//!             Event::Message(Message::Text(text)) => conn.send_text(&text).unwrap(),
//!             Event::Message(Message::Binary(data)) => conn.send_binary(&data).unwrap(),
//!             Event::Close { code, .. } => assert_eq!(code, CloseCode::NORMAL),
//!             _ => {}
//!         }
//!     }
//!     // 3. Write what the connection produced and tell it how much went out.
//!     let out = conn.pending_output();
//!     sent.extend_from_slice(out);
//!     let n = out.len();
//!     conn.consume_output(n);
//! }
//! // The echo, then the close reply echoing 1000.
//! assert_eq!(sent, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o', 0x88, 0x02, 0x03, 0xe8]);
//! assert!(conn.should_close_transport());
//! ```

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use bytes::Bytes;

use crate::close::{self, CloseCode, CloseError};
use crate::frame::{
    FrameError, FrameHeader, FrameRules, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;
use crate::Role;

/// Settings of a connection. Every size a peer controls has a limit here.
///
/// ```
/// use core::time::Duration;
/// use ws_proto::connection::Config;
///
/// let config = Config {
///     keepalive_interval: Some(Duration::from_secs(30)),
///     keepalive_timeout: Some(Duration::from_secs(10)),
///     ..Config::default()
/// };
/// assert_eq!(config.max_message_size, 16 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest payload accepted in one frame. Default 16 MiB. A larger
    /// header fails the connection with 1009 before any payload is buffered.
    pub max_frame_payload: usize,
    /// Largest message accepted, summed over its fragments. Default 16 MiB
    /// (the Autobahn suite's largest messages are exactly 16 MiB). Exceeding
    /// it fails the connection with 1009.
    pub max_message_size: usize,
    /// High-water mark of the output queue, in bytes. Default 1 MiB. While
    /// more than this is waiting to be written, sends fail with
    /// [`SendError::QueueFull`] and pongs are coalesced, so a peer that
    /// never reads cannot grow our memory.
    pub max_send_queue: usize,
    /// Outgoing messages are split into frames of at most this many payload
    /// bytes. Default `None`: one frame per message.
    pub fragment_size: Option<usize>,
    /// Send a ping this often. Default `None` (off); zero also means off.
    pub keepalive_interval: Option<Duration>,
    /// Fail the connection with 1011 if a keep-alive ping is not answered
    /// within this time. Default `None` (off); zero also means off. A pong
    /// for any keep-alive ping sent since the deadline was armed counts,
    /// since a peer may answer only the latest of several pings.
    pub keepalive_timeout: Option<Duration>,
    /// After sending a close frame, wait this long for the peer's before
    /// giving up on a clean close. Default 10 s.
    pub close_timeout: Duration,
    /// Deliver data messages as [`Event::MessageChunk`]s as they arrive
    /// instead of reassembling them. Default `false`.
    pub stream_messages: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_payload: 16 << 20,
            max_message_size: 16 << 20,
            max_send_queue: 1 << 20,
            fragment_size: None,
            keepalive_interval: None,
            keepalive_timeout: None,
            close_timeout: Duration::from_secs(10),
            stream_messages: false,
        }
    }
}

/// The kind of a data message.
///
/// ```
/// use ws_proto::connection::MessageKind;
/// assert_ne!(MessageKind::Text, MessageKind::Binary);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// A complete data message.
///
/// ```
/// use ws_proto::connection::Message;
/// let m = Message::Text("hi".into());
/// assert_eq!(m.as_bytes(), b"hi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message, already validated as UTF-8.
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The payload bytes.
    ///
    /// ```
    /// # use ws_proto::connection::Message;
    /// assert_eq!(Message::Binary(vec![1, 2].into()).as_bytes(), &[1, 2]);
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// Text or binary.
    ///
    /// ```
    /// # use ws_proto::connection::{Message, MessageKind};
    /// assert_eq!(Message::Text(String::new()).kind(), MessageKind::Text);
    /// ```
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Text(_) => MessageKind::Text,
            Message::Binary(_) => MessageKind::Binary,
        }
    }
}

/// Something that happened on the connection.
///
/// ```
/// use ws_proto::connection::{Config, Connection, Event};
///
/// let mut conn = Connection::client(Config::default(), [7; 16]);
/// conn.feed(&[0x89, 0x02, b'h', b'i']); // an unmasked ping from the server
/// assert_eq!(conn.poll_event(), Some(Event::Ping(b"hi"[..].into())));
/// // The pong is already queued.
/// assert_eq!(conn.pending_output()[0], 0x8A);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete message (when [`Config::stream_messages`] is off).
    Message(Message),
    /// Part of a message (when [`Config::stream_messages`] is on). Text
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
    /// A message grew past [`Config::max_message_size`].
    MessageTooBig {
        /// The size the message would have reached.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// No pong answered a keep-alive ping within [`Config::keepalive_timeout`].
    KeepaliveTimeout,
    /// The peer did not answer our close frame within [`Config::close_timeout`].
    CloseTimeout,
    /// The transport ended before the close handshake finished.
    AbnormalClosure,
}

impl Error {
    /// The close code this failure sends (1006 for those where no frame can
    /// be sent any more).
    ///
    /// ```
    /// # use ws_proto::connection::Error;
    /// # use ws_proto::close::CloseCode;
    /// assert_eq!(Error::KeepaliveTimeout.close_code(), CloseCode::INTERNAL_ERROR);
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
            Error::KeepaliveTimeout => CloseCode::INTERNAL_ERROR,
            Error::CloseTimeout | Error::AbnormalClosure => CloseCode::ABNORMAL,
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
            Error::KeepaliveTimeout => f.write_str("keepalive ping timeout"),
            Error::CloseTimeout => f.write_str("close handshake timed out"),
            Error::AbnormalClosure => f.write_str("connection ended without a close frame"),
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
    /// More than [`Config::max_send_queue`] bytes wait to be written.
    QueueFull,
    /// A ping or pong payload over 125 bytes.
    ControlTooLong,
    /// A close code that may not be sent on the wire.
    InvalidCloseCode(CloseCode),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the connection is closing or closed"),
            SendError::QueueFull => f.write_str("the send queue is full"),
            SendError::ControlTooLong => f.write_str("control frame payload over 125 bytes"),
            SendError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
        }
    }
}

impl core::error::Error for SendError {}

/// Where the close handshake stands (§7).
///
/// ```
/// use ws_proto::connection::{Config, Connection, State};
/// assert_eq!(Connection::server(Config::default()).state(), State::Open);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Data flows both ways.
    Open,
    /// A close frame was sent or received, not both.
    Closing,
    /// The close handshake finished, failed or timed out. Once
    /// [`Connection::should_close_transport`] is true the transport may go.
    Closed,
}

/// Where the receive side is within the current frame.
#[derive(Debug, Clone, Copy)]
enum Recv {
    /// Waiting for a frame header at the front of the input.
    Header,
    /// Inside a data frame's payload: `done` of its bytes are delivered.
    Data { header: FrameHeader, done: u64 },
}

/// What one step of input processing achieved.
enum Step {
    Event(Event),
    /// Progress was made; more may be possible with the input at hand.
    Continue,
    /// Nothing more can be done until more bytes are fed.
    NeedInput,
}

/// The keep-alive ping payload is an 8-byte counter, so a late pong for an
/// earlier ping is not mistaken for the answer to the current one.
type PingId = u64;

/// A WebSocket connection after the opening handshake, in either role.
///
/// See the [module documentation](self) for the full driving loop.
///
/// ```
/// use ws_proto::connection::{Config, Connection, Event, Message};
///
/// let mut client = Connection::client(Config::default(), [1; 16]);
/// let mut server = Connection::server(Config::default());
/// client.send_text("ping?").unwrap();
/// server.feed(client.pending_output());
/// assert_eq!(server.poll_event(), Some(Event::Message(Message::Text("ping?".into()))));
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    /// Received bytes not yet processed; `input[in_pos..]` is pending.
    input: Vec<u8>,
    in_pos: usize,
    recv: Recv,
    /// The message being reassembled (or, when streaming, its kind).
    message: Option<MessageKind>,
    message_buf: Vec<u8>,
    message_len: u64,
    utf8: Utf8Validator,
    /// Bytes to write; `output[out_pos..]` is pending.
    output: Vec<u8>,
    out_pos: usize,
    /// The latest ping we could not answer because the output was full.
    deferred_pong: Option<Bytes>,
    events: VecDeque<Event>,
    /// The close frame we sent (code 1005 for an empty one) and its reason.
    sent_close: Option<(CloseCode, String)>,
    /// The peer's close frame (code 1005 for an empty one) and its reason.
    received_close: Option<(CloseCode, String)>,
    /// Failed or timed out: closed without (or without waiting for) the
    /// peer's close frame.
    aborted: bool,
    /// A timer gave up on the peer: the transport may go even with output
    /// still queued, since a peer that stopped reading would never take it.
    timed_out: bool,
    /// The transport reached end-of-file; reported once fed input is used up.
    eof: bool,
    mask_rng: MaskRng,
    // Timers. `now` is the latest time the caller gave us.
    now: Option<Duration>,
    next_ping: Option<Duration>,
    pong_deadline: Option<(Duration, PingId)>,
    close_deadline: Option<Duration>,
    /// A close was sent while we did not know the time yet; armed at the
    /// next `handle_timeout`.
    close_timer_pending: bool,
    ping_counter: PingId,
}

impl Connection {
    /// A server-side connection, in the open state (after the opening
    /// handshake, done by [`handshake`](crate::handshake) or elsewhere, for
    /// example an HTTP/2 extended CONNECT per RFC 8441).
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let conn = Connection::server(Config::default());
    /// assert!(conn.pending_output().is_empty());
    /// ```
    pub fn server(config: Config) -> Self {
        Self::new(Role::Server, config, [0; 16])
    }

    /// A client-side connection, in the open state. The core has no random
    /// source, so the caller supplies 16 random bytes that seed the
    /// generator of masking keys (§5.3: keys must be unpredictable; seed from
    /// the operating system's CSPRNG).
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::client(Config::default(), [42; 16]);
    /// conn.send_binary(&[1, 2, 3]).unwrap();
    /// assert_eq!(conn.pending_output()[1] & 0x80, 0x80, "client frames are masked");
    /// ```
    pub fn client(config: Config, mask_seed: [u8; 16]) -> Self {
        Self::new(Role::Client, config, mask_seed)
    }

    fn new(role: Role, config: Config, seed: [u8; 16]) -> Self {
        Connection {
            role,
            config,
            input: Vec::new(),
            in_pos: 0,
            recv: Recv::Header,
            message: None,
            message_buf: Vec::new(),
            message_len: 0,
            utf8: Utf8Validator::new(),
            output: Vec::new(),
            out_pos: 0,
            deferred_pong: None,
            events: VecDeque::new(),
            sent_close: None,
            received_close: None,
            aborted: false,
            timed_out: false,
            eof: false,
            mask_rng: MaskRng::new(seed),
            now: None,
            next_ping: None,
            pong_deadline: None,
            close_deadline: None,
            close_timer_pending: false,
            ping_counter: 0,
        }
    }

    /// Our role.
    ///
    /// ```
    /// # use ws_proto::{Role, connection::{Config, Connection}};
    /// assert_eq!(Connection::server(Config::default()).role(), Role::Server);
    /// ```
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// assert_eq!(Connection::server(Config::default()).config(), &Config::default());
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the close handshake stands.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, State};
    /// # use ws_proto::close::CloseCode;
    /// let mut conn = Connection::server(Config::default());
    /// conn.close(CloseCode::NORMAL, "done").unwrap();
    /// assert_eq!(conn.state(), State::Closing);
    /// ```
    pub fn state(&self) -> State {
        if self.aborted || (self.close_sent() && self.close_received()) {
            State::Closed
        } else if self.close_sent() || self.close_received() {
            State::Closing
        } else {
            State::Open
        }
    }

    /// True once the connection is closed and everything queued has been
    /// written: the caller may now close the transport. (A server closes the
    /// TCP connection first, §7.1.1; a client may wait a moment for it.)
    /// After a keep-alive or close timeout it is true at once: the peer is
    /// not answering, so queued bytes (such as the 1011 close frame) are
    /// written only if the transport takes them right away.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// assert!(!Connection::server(Config::default()).should_close_transport());
    /// ```
    pub fn should_close_transport(&self) -> bool {
        self.state() == State::Closed && (self.pending_output().is_empty() || self.timed_out)
    }

    /// The close frame this side sent, if any, as code and reason: the
    /// caller's [`close`](Self::close) (reason as cut to fit), the echo of
    /// the peer's code, or a failure's code and description. Code 1005
    /// stands for a close frame without a code.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_proto::close::CloseCode;
    /// let mut conn = Connection::server(Config::default());
    /// assert_eq!(conn.sent_close(), None);
    /// conn.feed(&[0x81, 0x00]); // unmasked: a protocol error
    /// while conn.poll_event().is_some() {}
    /// let (code, reason) = conn.sent_close().unwrap();
    /// assert_eq!(code, CloseCode::PROTOCOL_ERROR);
    /// assert_eq!(reason, "unmasked frame from a client");
    /// ```
    pub fn sent_close(&self) -> Option<(CloseCode, &str)> {
        self.sent_close.as_ref().map(|(c, r)| (*c, r.as_str()))
    }

    /// The peer's close frame, if one arrived, as code and reason (code 1005
    /// for a close frame without a code).
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_proto::close::CloseCode;
    /// let mut conn = Connection::server(Config::default());
    /// conn.feed(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]); // masked close 1001
    /// while conn.poll_event().is_some() {}
    /// assert_eq!(conn.received_close(), Some((CloseCode::GOING_AWAY, "")));
    /// assert_eq!(conn.sent_close(), Some((CloseCode::GOING_AWAY, "")), "echoed");
    /// ```
    pub fn received_close(&self) -> Option<(CloseCode, &str)> {
        self.received_close.as_ref().map(|(c, r)| (*c, r.as_str()))
    }

    fn close_sent(&self) -> bool {
        self.sent_close.is_some()
    }

    fn close_received(&self) -> bool {
        self.received_close.is_some()
    }

    // ----- input ---------------------------------------------------------

    /// Hands the connection bytes received from the transport, in chunks of
    /// any size. Call [`poll_event`](Self::poll_event) until it returns
    /// `None` before feeding more: input is processed lazily, so memory stays
    /// bounded by what the caller feeds between polls.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, Event};
    /// let mut conn = Connection::client(Config::default(), [0; 16]);
    /// conn.feed(&[0x82, 0x01]);
    /// assert_eq!(conn.poll_event(), None); // the payload byte is missing
    /// conn.feed(&[0xAB]);
    /// assert!(matches!(conn.poll_event(), Some(Event::Message(_))));
    /// ```
    pub fn feed(&mut self, data: &[u8]) {
        // After the peer's close frame (§5.5.1) or a failure, nothing more is
        // read from the peer.
        if self.close_received() || self.aborted || self.eof {
            return;
        }
        release_consumed(&mut self.input, &mut self.in_pos);
        self.input.extend_from_slice(data);
    }

    /// The transport reached end-of-file: nothing more will be fed. Bytes
    /// already fed are still processed by [`poll_event`](Self::poll_event);
    /// if they do not finish the close handshake, an
    /// [`Error::AbnormalClosure`] event (code 1006) follows them.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, Error, Event, Message, State};
    /// let mut conn = Connection::server(Config::default());
    /// conn.feed(&[0x82, 0x81, 0, 0, 0, 0, 7]); // a masked binary message
    /// conn.handle_eof();
    /// assert!(matches!(conn.poll_event(), Some(Event::Message(Message::Binary(_)))));
    /// assert_eq!(conn.poll_event(), Some(Event::Error(Error::AbnormalClosure)));
    /// assert_eq!(conn.state(), State::Closed);
    /// ```
    pub fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// End of input with the close handshake unfinished: nothing can reach
    /// the peer any more.
    fn abnormal_closure(&mut self) -> Option<Event> {
        self.aborted = true;
        self.output.clear();
        self.out_pos = 0;
        Some(Event::Error(Error::AbnormalClosure))
    }

    /// The next event, processing fed input as far as needed to produce it.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config::default());
    /// assert_eq!(conn.poll_event(), None);
    /// ```
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if self.close_received() || self.aborted {
                return None;
            }
            match self.step() {
                Ok(Step::Event(event)) => return Some(event),
                Ok(Step::Continue) => {}
                Ok(Step::NeedInput) if self.eof && self.state() != State::Closed => {
                    return self.abnormal_closure()
                }
                Ok(Step::NeedInput) => return None,
                Err(error) => {
                    self.fail(error);
                    return self.events.pop_front();
                }
            }
        }
    }

    /// Processes at most one frame header or one run of payload bytes.
    fn step(&mut self) -> Result<Step, Error> {
        match self.recv {
            Recv::Header => self.read_header(),
            Recv::Data { header, done } => self.read_data(header, done),
        }
    }

    /// Stage 1: decode the header and check it against the connection.
    fn read_header(&mut self) -> Result<Step, Error> {
        let avail = &self.input[self.in_pos..];
        let Some((header, header_len)) = FrameHeader::decode(avail).map_err(Error::Frame)? else {
            return Ok(Step::NeedInput);
        };
        header.check(&self.frame_rules()).map_err(Error::Frame)?;
        if header.opcode.is_control() {
            // Control frames (≤ 125 bytes) are handled whole.
            let total = header_len + header.payload_len as usize;
            if avail.len() < total {
                return Ok(Step::NeedInput);
            }
            let start = self.in_pos + header_len;
            let payload = &mut self.input[start..start + header.payload_len as usize];
            if let Some(key) = header.mask {
                apply_mask(payload, key, 0);
            }
            let payload = Bytes::copy_from_slice(payload);
            self.in_pos += total;
            return self.on_control(header.opcode, payload);
        }
        // Data frames: check the fragmentation rules and limits before a
        // single payload byte is buffered.
        let kind = match (header.opcode, self.message) {
            (OpCode::Continuation, Some(kind)) => kind,
            (OpCode::Continuation, None) => return Err(Error::UnexpectedContinuation),
            (_, Some(_)) => return Err(Error::ExpectedContinuation),
            (OpCode::Text, None) => MessageKind::Text,
            (_, None) => MessageKind::Binary,
        };
        let size = self.message_len.saturating_add(header.payload_len);
        if size > self.config.max_message_size as u64 {
            return Err(Error::MessageTooBig {
                size,
                max: self.config.max_message_size,
            });
        }
        if self.message.is_none() {
            self.message = Some(kind);
            self.utf8.reset();
        }
        self.in_pos += header_len;
        if !self.config.stream_messages {
            // Reserve for the payload bytes already here, never for what the
            // peer merely announces: a header claiming 16 MiB followed by
            // silence must not pin 16 MiB.
            let here = (self.input.len() - self.in_pos) as u64;
            self.message_buf
                .reserve(header.payload_len.min(here) as usize);
        }
        self.recv = Recv::Data { header, done: 0 };
        if header.payload_len == 0 {
            return self.read_data(header, 0);
        }
        Ok(Step::Continue)
    }

    fn frame_rules(&self) -> FrameRules {
        FrameRules {
            role: self.role,
            // Extension stage: no extension is negotiated yet, so no RSV bit
            // may be set. permessage-deflate will allow RSV1 here.
            allowed_rsv: 0,
            max_payload: self.config.max_frame_payload as u64,
        }
    }

    /// Stages 2 to 5 for the payload bytes of a data frame that have arrived.
    fn read_data(&mut self, header: FrameHeader, done: u64) -> Result<Step, Error> {
        let kind = self.message.unwrap_or(MessageKind::Binary);
        let want = header.payload_len - done;
        let avail = (self.input.len() - self.in_pos) as u64;
        if avail == 0 && want > 0 {
            return Ok(Step::NeedInput);
        }
        let take = want.min(avail) as usize;
        let frame_complete = take as u64 == want;
        let chunk = &mut self.input[self.in_pos..self.in_pos + take];
        self.in_pos += take;
        // Stage 2: unmask in place, continuing the key where the last run
        // of this frame stopped.
        if let Some(key) = header.mask {
            apply_mask(chunk, key, (done & 3) as usize);
        }
        // Stage 3: extensions (none yet: the bytes pass through).
        // Stage 4: UTF-8, failing on the first bad byte even mid-frame.
        if kind == MessageKind::Text {
            self.utf8.feed(chunk).map_err(|_| Error::InvalidUtf8)?;
        }
        self.message_len += take as u64;
        let message_complete = frame_complete && header.fin;
        if message_complete && kind == MessageKind::Text {
            self.utf8.finish().map_err(|_| Error::InvalidUtf8)?;
        }
        // Stage 5: deliver.
        let event = if self.config.stream_messages {
            (take > 0 || message_complete).then(|| Event::MessageChunk {
                kind,
                data: Bytes::copy_from_slice(chunk),
                fin: message_complete,
            })
        } else {
            self.message_buf.extend_from_slice(chunk);
            if message_complete {
                Some(Event::Message(self.take_message(kind)?))
            } else {
                None
            }
        };
        self.recv = if frame_complete {
            Recv::Header
        } else {
            Recv::Data {
                header,
                done: done + take as u64,
            }
        };
        if message_complete {
            self.message = None;
            self.message_len = 0;
        }
        Ok(event.map_or(Step::Continue, Step::Event))
    }

    fn take_message(&mut self, kind: MessageKind) -> Result<Message, Error> {
        let buf = core::mem::take(&mut self.message_buf);
        Ok(match kind {
            // Already validated incrementally; `from_utf8` cannot fail here,
            // and an error would still be reported rather than trusted.
            MessageKind::Text => {
                Message::Text(String::from_utf8(buf).map_err(|_| Error::InvalidUtf8)?)
            }
            MessageKind::Binary => Message::Binary(Bytes::from(buf)),
        })
    }

    fn on_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<Step, Error> {
        match opcode {
            OpCode::Ping => {
                if !self.close_sent() {
                    self.queue_pong(payload.clone());
                }
                Ok(Step::Event(Event::Ping(payload)))
            }
            OpCode::Pong => {
                // A peer may answer only the most recent of several pings
                // (§5.5.3), so a pong for any keep-alive ping sent since the
                // deadline was armed proves the peer alive.
                if let (Some((_, armed_by)), Ok(id)) =
                    (self.pong_deadline, <[u8; 8]>::try_from(&payload[..]))
                {
                    let id = PingId::from_be_bytes(id);
                    if (armed_by..=self.ping_counter).contains(&id) {
                        self.pong_deadline = None;
                    }
                }
                Ok(Step::Event(Event::Pong(payload)))
            }
            OpCode::Close => {
                let (code, reason) =
                    match close::parse_close_payload(&payload).map_err(Error::Close)? {
                        Some((code, reason)) => (code, String::from(reason)),
                        None => (CloseCode::NO_STATUS_RECEIVED, String::new()),
                    };
                self.received_close = Some((code, reason.clone()));
                if !self.close_sent() {
                    // Echo the code (§5.5.1); an empty close is answered empty.
                    let echo = (code != CloseCode::NO_STATUS_RECEIVED).then_some(code);
                    self.write_close(echo, "");
                }
                self.close_deadline = None;
                self.close_timer_pending = false;
                Ok(Step::Event(Event::Close { code, reason }))
            }
            // Data opcodes never reach here.
            _ => Ok(Step::Continue),
        }
    }

    /// Fails the connection (§7.1.7): queue a close frame with the error's
    /// code, report the error and stop reading.
    fn fail(&mut self, error: Error) {
        if !self.close_sent() {
            let code = error.close_code();
            if code.is_valid_on_wire() {
                let mut reason = [0u8; 64];
                let text = fmt_reason(&error, &mut reason);
                self.write_close(Some(code), text);
            }
        }
        self.aborted = true;
        self.events.push_back(Event::Error(error));
    }

    // ----- output --------------------------------------------------------

    /// Bytes waiting to be written to the transport.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_text("hi").unwrap();
    /// assert_eq!(conn.pending_output(), &[0x81, 0x02, b'h', b'i']);
    /// ```
    pub fn pending_output(&self) -> &[u8] {
        &self.output[self.out_pos..]
    }

    /// Marks the first `n` bytes of [`pending_output`](Self::pending_output)
    /// as written. `n` larger than what is pending counts as all of it.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_text("hi").unwrap();
    /// conn.consume_output(3);
    /// assert_eq!(conn.pending_output(), b"i");
    /// ```
    pub fn consume_output(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.output.len());
        release_consumed(&mut self.output, &mut self.out_pos);
        if let Some(pong) = self.deferred_pong.take() {
            self.queue_pong(pong);
        }
    }

    fn queue_full(&self) -> bool {
        // "More than" the limit, as documented: with a limit of 0 an empty
        // queue still takes a send and answers a ping.
        self.output.len() - self.out_pos > self.config.max_send_queue
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        if self.close_sent() || self.aborted {
            Err(SendError::Closed)
        } else if self.queue_full() {
            Err(SendError::QueueFull)
        } else {
            Ok(())
        }
    }

    /// Queues a text message, fragmented per [`Config::fragment_size`].
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config { fragment_size: Some(3), ..Config::default() });
    /// conn.send_text("Hello").unwrap();
    /// // RFC 6455 §5.7: "Hel" then "lo".
    /// assert_eq!(conn.pending_output(), &[0x01, 0x03, b'H', b'e', b'l', 0x80, 0x02, b'l', b'o']);
    /// ```
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_message(MessageKind::Text, text.as_bytes())
    }

    /// Queues a binary message, fragmented per [`Config::fragment_size`].
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_binary(&[0u8; 256]).unwrap();
    /// assert_eq!(&conn.pending_output()[..4], &[0x82, 0x7E, 0x01, 0x00]);
    /// ```
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_message(MessageKind::Binary, data)
    }

    /// Queues a complete message of either kind.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, Message};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send(&Message::Binary(vec![1].into())).unwrap();
    /// assert_eq!(conn.pending_output(), &[0x82, 0x01, 0x01]);
    /// ```
    pub fn send(&mut self, message: &Message) -> Result<(), SendError> {
        self.send_message(message.kind(), message.as_bytes())
    }

    fn send_message(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), SendError> {
        self.check_can_send()?;
        // Extension stage (outgoing): none negotiated, bytes pass through.
        let first = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let size = self.config.fragment_size.unwrap_or(usize::MAX).max(1);
        if data.len() <= size {
            self.write_frame(first, true, data);
            return Ok(());
        }
        let mut chunks = data.chunks(size).peekable();
        let mut opcode = first;
        while let Some(chunk) = chunks.next() {
            self.write_frame(opcode, chunks.peek().is_none(), chunk);
            opcode = OpCode::Continuation;
        }
        Ok(())
    }

    /// Queues a ping (at most 125 bytes of payload).
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, SendError};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_ping(b"hi").unwrap();
    /// assert_eq!(conn.send_ping(&[0; 126]), Err(SendError::ControlTooLong));
    /// ```
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong (a unidirectional heartbeat, §5.5.3).
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_pong(b"").unwrap();
    /// assert_eq!(conn.pending_output(), &[0x8A, 0x00]);
    /// ```
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlTooLong);
        }
        self.check_can_send()?;
        self.write_frame(opcode, true, payload);
        Ok(())
    }

    /// Starts the close handshake: queues a close frame with `code` and
    /// `reason` (cut to 123 bytes on a character boundary). No data frame
    /// may be sent afterwards; incoming frames are still delivered until the
    /// peer's close arrives or [`Config::close_timeout`] passes.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, SendError};
    /// # use ws_proto::close::CloseCode;
    /// let mut conn = Connection::server(Config::default());
    /// assert_eq!(conn.close(CloseCode::ABNORMAL, ""), Err(SendError::InvalidCloseCode(CloseCode::ABNORMAL)));
    /// conn.close(CloseCode::GOING_AWAY, "bye").unwrap();
    /// assert_eq!(conn.pending_output(), b"\x88\x05\x03\xe9bye");
    /// ```
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if self.close_sent() || self.aborted {
            return Err(SendError::Closed);
        }
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode(code));
        }
        self.write_close(Some(code), reason);
        Ok(())
    }

    fn write_close(&mut self, code: Option<CloseCode>, reason: &str) {
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        let len = match code {
            Some(code) => close::write_close_payload(code, reason, &mut payload).unwrap_or(0),
            None => 0,
        };
        self.write_frame(OpCode::Close, true, &payload[..len]);
        self.sent_close = Some(match code {
            Some(code) => (code, String::from(close::truncate_reason(reason))),
            None => (CloseCode::NO_STATUS_RECEIVED, String::new()),
        });
        self.deferred_pong = None;
        if !self.close_received() {
            self.arm_close_timer();
        }
    }

    fn queue_pong(&mut self, payload: Bytes) {
        // After a failure or EOF nothing more may be written (a pong
        // deferred before `handle_eof` would otherwise appear after it).
        if self.close_sent() || self.aborted {
            return;
        }
        if self.queue_full() {
            // Only the most recent ping needs an answer (§5.5.3).
            self.deferred_pong = Some(payload);
        } else {
            self.write_frame(OpCode::Pong, true, &payload);
        }
    }

    /// Frames `payload` into the output, masking it for a client.
    fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        let mut header = FrameHeader::new(opcode, fin, payload.len() as u64);
        if self.role == Role::Client {
            header.mask = Some(self.mask_rng.next_key());
        }
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut buf);
        self.output.reserve(n + payload.len());
        self.output.extend_from_slice(&buf[..n]);
        let start = self.output.len();
        self.output.extend_from_slice(payload);
        if let Some(key) = header.mask {
            apply_mask(&mut self.output[start..], key, 0);
        }
    }

    // ----- time ----------------------------------------------------------

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if
    /// ever. A deadline in the past means "now".
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use ws_proto::connection::{Config, Connection};
    /// let config = Config { keepalive_interval: Some(Duration::from_secs(20)), ..Config::default() };
    /// let mut conn = Connection::server(config);
    /// conn.handle_timeout(Duration::from_secs(100));
    /// assert_eq!(conn.poll_timeout(), Some(Duration::from_secs(120)));
    /// ```
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.state() == State::Closed {
            return None;
        }
        let pending_arm = (self.close_timer_pending
            || (self.now.is_none() && self.keepalive_interval().is_some()))
        .then(|| self.now.unwrap_or(Duration::ZERO));
        [
            pending_arm,
            self.close_deadline,
            if self.close_sent() || self.close_received() {
                None
            } else {
                self.next_ping
            },
            self.pong_deadline.map(|(t, _)| t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Tells the connection the current time: fires the timers that are due
    /// (keep-alive ping, pong deadline, close handshake timeout) and arms new
    /// ones. Call it once after creating the connection and whenever
    /// [`poll_timeout`](Self::poll_timeout)'s deadline has passed; extra calls
    /// are harmless.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use ws_proto::connection::{Config, Connection, Error, Event};
    /// let config = Config {
    ///     keepalive_interval: Some(Duration::from_secs(20)),
    ///     keepalive_timeout: Some(Duration::from_secs(5)),
    ///     ..Config::default()
    /// };
    /// let mut conn = Connection::server(config);
    /// conn.handle_timeout(Duration::ZERO);
    /// conn.handle_timeout(Duration::from_secs(20)); // sends a ping
    /// assert_eq!(conn.pending_output()[0], 0x89);
    /// conn.handle_timeout(Duration::from_secs(25)); // no pong in time
    /// assert_eq!(conn.poll_event(), Some(Event::Error(Error::KeepaliveTimeout)));
    /// ```
    pub fn handle_timeout(&mut self, now: Duration) {
        let first = self.now.is_none();
        self.now = Some(now);
        if self.state() == State::Closed {
            return;
        }
        if first {
            self.next_ping = self.keepalive_interval().map(|i| now.saturating_add(i));
        }
        if self.close_timer_pending {
            self.close_timer_pending = false;
            self.close_deadline = Some(now.saturating_add(self.config.close_timeout));
        }
        if self.close_deadline.is_some_and(|t| now >= t) {
            self.close_deadline = None;
            self.aborted = true;
            self.timed_out = true;
            self.events.push_back(Event::Error(Error::CloseTimeout));
            return;
        }
        if self.pong_deadline.is_some_and(|(t, _)| now >= t) {
            self.pong_deadline = None;
            self.fail(Error::KeepaliveTimeout);
            self.timed_out = true;
            return;
        }
        if self.close_sent() || self.close_received() {
            return;
        }
        if let (Some(at), Some(interval)) = (self.next_ping, self.keepalive_interval()) {
            if now >= at {
                // A keep-alive ping may go over the queue limit only when it
                // arms the pong deadline, which is what detects a peer that
                // stopped reading. Without that, pings piling up behind a
                // full queue would grow memory without bound.
                let arms_deadline =
                    self.pong_deadline.is_none() && self.keepalive_timeout().is_some();
                if arms_deadline || !self.queue_full() {
                    self.ping_counter += 1;
                    let id = self.ping_counter;
                    self.write_frame(OpCode::Ping, true, &id.to_be_bytes());
                    if self.pong_deadline.is_none() {
                        if let Some(timeout) = self.keepalive_timeout() {
                            self.pong_deadline = Some((now.saturating_add(timeout), id));
                        }
                    }
                }
                self.next_ping = Some(now.saturating_add(interval));
            }
        }
    }

    /// A zero interval or timeout means "off": taken literally it would ask
    /// to be woken in a busy loop.
    fn keepalive_interval(&self) -> Option<Duration> {
        self.config.keepalive_interval.filter(|d| !d.is_zero())
    }

    fn keepalive_timeout(&self) -> Option<Duration> {
        self.config.keepalive_timeout.filter(|d| !d.is_zero())
    }

    fn arm_close_timer(&mut self) {
        match self.now {
            Some(now) => self.close_deadline = Some(now.saturating_add(self.config.close_timeout)),
            None => self.close_timer_pending = true,
        }
    }
}

/// Releases the consumed prefix `buf[..*pos]` of the input or output
/// buffer: all of it once nothing is pending, or by compacting once it
/// dominates. A buffer that is never fully drained (a peer that keeps sending,
/// a transport that only ever writes part of the queue) then stays bounded by
/// what is pending, at amortized linear cost.
fn release_consumed(buf: &mut Vec<u8>, pos: &mut usize) {
    if *pos == buf.len() {
        buf.clear();
        *pos = 0;
    } else if *pos > 4096 && *pos * 2 > buf.len() {
        buf.drain(..*pos);
        *pos = 0;
    }
}

/// Writes the error's description into `buf` (cut to fit), for the close
/// frame's reason.
fn fmt_reason<'a>(error: &Error, buf: &'a mut [u8; 64]) -> &'a str {
    struct Cursor<'b> {
        buf: &'b mut [u8; 64],
        len: usize,
    }
    impl fmt::Write for Cursor<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars() {
                let mut tmp = [0u8; 4];
                let bytes = c.encode_utf8(&mut tmp).as_bytes();
                if self.len + bytes.len() > self.buf.len() {
                    return Err(fmt::Error);
                }
                self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
                self.len += bytes.len();
            }
            Ok(())
        }
    }
    let mut cursor = Cursor { buf, len: 0 };
    let _ = fmt::write(&mut cursor, format_args!("{error}"));
    let len = cursor.len;
    core::str::from_utf8(&buf[..len]).unwrap_or("")
}

/// xoshiro128++ seeded by the caller: fast, and unpredictable to anyone who
/// does not know the seed, which is what §10.3 asks of masking keys (they
/// stop a script in a browser from choosing the bytes a proxy sees).
#[derive(Debug, Clone)]
struct MaskRng([u32; 4]);

impl MaskRng {
    fn new(seed: [u8; 16]) -> Self {
        let mut s = [0u32; 4];
        for (i, w) in s.iter_mut().enumerate() {
            *w = u32::from_le_bytes([
                seed[4 * i],
                seed[4 * i + 1],
                seed[4 * i + 2],
                seed[4 * i + 3],
            ]);
        }
        if s == [0; 4] {
            // The all-zero state is a fixed point of xoshiro.
            s = [0x9E37_79B9, 0x7F4A_7C15, 0xF39C_C060, 0x5CED_C834];
        }
        MaskRng(s)
    }

    fn next_key(&mut self) -> [u8; 4] {
        let s = &mut self.0;
        let result = s[0].wrapping_add(s[3]).rotate_left(7).wrapping_add(s[0]);
        let t = s[1] << 9;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(11);
        result.to_le_bytes()
    }
}

#[cfg(test)]
mod tests;
