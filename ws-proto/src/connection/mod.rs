//! The connection state machine (RFC 6455 §5, §6, §7), for either role.
//!
//! A [`Connection`] takes bytes and the time from its caller and hands back
//! [`Event`]s, bytes to write and the next moment it needs waking:
//!
//! ```text
//!   recv_buffer(n) / commit(n) ──►┌────────────┐──► poll_event() -> Event
//!        (or feed(bytes))         │ Connection │
//!  send_text / send / ping / close►│  (no I/O)  │──► io_slices() / pending_output(); consume_output(n)
//!          handle_timeout(now) ──►└────────────┘──► poll_timeout() -> Option<deadline>
//! ```
//!
//! The data path is built so that the core is the cheapest part of a
//! driver:
//!
//! - **Receive in place.** The connection owns its receive buffer and lends
//!   it: [`recv_buffer`](Connection::recv_buffer) gives space, the driver
//!   reads from its socket straight into it and calls
//!   [`commit`](Connection::commit). Frames are unmasked where they lie, a
//!   one-frame message is delivered as a [`Bytes`] split off that buffer
//!   (no copy), and text as [`Utf8Bytes`], checked once as it arrived.
//!   ([`feed`](Connection::feed) is the copying convenience for drivers that
//!   already hold the bytes.)
//! - **Send vectored.** Output is a queue of segments: frame headers and
//!   small payloads in one buffer, large payloads a server sends from
//!   [`Bytes`] queued by reference. `io_slices`
//!   (with the `std` feature) or [`output_chunks`](Connection::output_chunks)
//!   hand them out for one vectored write.
//!
//! Received bytes go through an explicit pipeline, one stage per concern:
//! **header** → **unmask** → **extension** → **UTF-8** → **deliver** (see
//! the `recv` module); outgoing messages go **extension** → **fragment** →
//! **frame and mask**. With no extension negotiated the extension stage is
//! empty.
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
//!     // 1. Read from the transport straight into the connection's buffer.
//!     let buf = conn.recv_buffer(1024);
//!     buf[..chunk.len()].copy_from_slice(chunk); // stands in for `socket.read(buf)`
//!     conn.commit(chunk.len());
//!     // 2. Drain events; an echo server sends each message back, without
//!     //    copying it.
//!     while let Some(event) = conn.poll_event() {
//!         match event {
//!             Event::Message(message) => conn.send(&message).unwrap(),
//!             Event::Close { code, .. } => assert_eq!(code, CloseCode::NORMAL),
//!             _ => {}
//!         }
//!     }
//!     // 3. Write what the connection produced and tell it how much went out.
//!     while !conn.pending_output().is_empty() {
//!         let out = conn.pending_output();
//!         sent.extend_from_slice(out);
//!         let n = out.len();
//!         conn.consume_output(n);
//!     }
//! }
//! // The echo, then the close reply echoing 1000.
//! assert_eq!(sent, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o', 0x88, 0x02, 0x03, 0xe8]);
//! assert!(conn.should_close_transport());
//! ```

use alloc::collections::VecDeque;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

use bytes::Bytes;

use crate::close::{self, CloseCode};
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};
use crate::mask::MaskKeys;
use crate::Role;

mod event;
mod extension;
mod message;
mod recv;
mod send;
mod timers;

pub use event::{Error, Event, SendError};
pub use extension::{CompressionConfig, ExtensionError};
pub use message::{Message, MessageKind, Utf8Bytes};

use crate::negotiation::Negotiated;
use extension::Extensions;
use recv::{Received, Receiver, RecvRules};
use send::{OutQueue, Payload};
use timers::{Timer, Timers};

/// Settings of a connection. Every size a peer controls has a limit here.
///
/// ```
/// use core::time::Duration;
/// use ws_proto::connection::Config;
///
/// let config = Config {
///     keep_alive_interval: Some(Duration::from_secs(30)),
///     keep_alive_timeout: Some(Duration::from_secs(10)),
///     ..Config::default()
/// };
/// assert_eq!(config.max_message_size, 16 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest payload accepted in one frame. Default 16 MiB. A larger
    /// header fails the connection with 1009 before any payload is buffered.
    pub max_frame_size: usize,
    /// Largest message accepted, summed over its fragments (after
    /// decompression, when an extension compresses). Default 16 MiB (the
    /// Autobahn suite's largest messages are exactly 16 MiB). Exceeding it
    /// fails the connection with 1009.
    pub max_message_size: usize,
    /// Most bytes the output queue may hold. Default 1 MiB. A send that
    /// would take the queue past it fails with [`SendError::QueueFull`]
    /// before anything is copied, and pongs are coalesced, so a peer that
    /// never reads cannot grow our memory. A single message larger than the
    /// whole limit is accepted only into an empty queue: refusing it for
    /// ever would make it unsendable, and the caller already holds it.
    pub max_send_queue: usize,
    /// Outgoing messages are split into frames of at most this many payload
    /// bytes, and so is each piece given to
    /// [`Connection::send_fragment`]. Default `None`: one frame per message
    /// (per piece).
    pub fragment_size: Option<usize>,
    /// Initial size of the receive buffer that [`Connection::recv_buffer`]
    /// lends, in bytes. Default 4 KiB. It grows only to hold one frame of a
    /// single-frame message (up to 256 KiB, within
    /// [`max_frame_size`](Self::max_frame_size)) and shrinks back after.
    pub receive_buffer_size: usize,
    /// Send a ping this often. Default `None` (off); zero also means off.
    pub keep_alive_interval: Option<Duration>,
    /// Fail the connection with 1011 if a keep-alive ping is not answered
    /// within this time. Default `None` (off); zero also means off. A pong
    /// for any keep-alive ping sent since the deadline was armed counts,
    /// since a peer may answer only the latest of several pings.
    pub keep_alive_timeout: Option<Duration>,
    /// After sending a close frame, wait this long for the peer's before
    /// giving up on a clean close. Default 10 s.
    pub close_timeout: Duration,
    /// Deliver data messages as [`Event::MessageChunk`]s as they arrive
    /// instead of reassembling them. Default `false`. Every limit still
    /// applies: [`max_frame_size`](Self::max_frame_size) per frame and
    /// [`max_message_size`](Self::max_message_size) summed over the
    /// message's chunks (the connection fails with 1009 at the chunk that
    /// crosses it), and text is still checked as UTF-8 as it arrives. What
    /// is lifted is the reassembly: a message never has to fit in memory.
    pub stream_messages: bool,
    /// How we compress when permessage-deflate was negotiated (level,
    /// memory, smallest message worth compressing). The window and context
    /// takeover come from the negotiation.
    pub compression: CompressionConfig,
    /// Answer the peer's close frame with its reason as well as its code,
    /// as ASP.NET Core's echo sample does. Default `false`: the code only
    /// (§5.5.1 asks for the code; the reason is the replier's choice).
    pub echo_close_reason: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            max_send_queue: 1 << 20,
            fragment_size: None,
            receive_buffer_size: 4096,
            keep_alive_interval: None,
            keep_alive_timeout: None,
            close_timeout: Duration::from_secs(10),
            stream_messages: false,
            compression: CompressionConfig::default(),
            echo_close_reason: false,
        }
    }
}

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

/// How a connection ended early, if it did. A clean end is told by the two
/// recorded close frames instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// No failure: open, or in (or through) a clean close handshake.
    Running,
    /// A protocol error or limit: our close frame is queued; we read no more.
    Failed,
    /// A timer gave up on the peer: the transport may go even with output
    /// still queued, since a peer that stopped reading would never take it.
    TimedOut,
    /// The transport ended before the close handshake finished.
    Abnormal,
}

/// The keep-alive ping payload is an 8-byte counter, so a late pong for an
/// earlier ping is not mistaken for the answer to the current one.
type PingId = u64;

/// A data message being sent in pieces with
/// [`send_fragment`](Connection::send_fragment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sending {
    kind: MessageKind,
}

/// A WebSocket connection after the opening handshake, in either role.
///
/// See the [module documentation](self) for the full driving loop.
///
/// ```
/// use ws_proto::connection::{Config, Connection, Event, Message};
///
/// let mut client = Connection::client(Config::default(), [1; 32]);
/// let mut server = Connection::server(Config::default());
/// client.send_text("ping?").unwrap();
/// server.feed(client.pending_output());
/// assert_eq!(server.poll_event(), Some(Event::Message(Message::Text("ping?".into()))));
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    recv: Receiver,
    out: OutQueue,
    ext: Extensions,
    /// The fragmented message being sent, if any.
    sending: Option<Sending>,
    /// The latest ping we could not answer because the output was full.
    deferred_pong: Option<Bytes>,
    events: VecDeque<Event>,
    /// The close frame we sent (code 1005 for an empty one) and its reason.
    sent_close: Option<(CloseCode, String)>,
    /// The peer's close frame (code 1005 for an empty one) and its reason.
    received_close: Option<(CloseCode, String)>,
    ending: Ending,
    /// Masking keys; a server never masks.
    mask_keys: Option<MaskKeys>,
    timers: Timers,
    ping_counter: PingId,
    /// The keep-alive ping that armed the pong deadline.
    pong_armed_by: PingId,
    /// Output position just after the last keep-alive ping queued over the
    /// queue limit.
    forced_ping_end: u64,
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
        Self::new(Role::Server, config, None)
    }

    /// A server-side connection with the extensions the opening handshake
    /// negotiated ([`Decision::extensions`](crate::handshake::policy::Decision)
    /// or [`DeflateConfig::negotiate`](crate::negotiation::DeflateConfig::negotiate)).
    /// Fails only if permessage-deflate was negotiated in a build without
    /// the `deflate` feature, or with settings out of range.
    ///
    /// ```
    /// use ws_proto::connection::{Config, Connection};
    /// use ws_proto::negotiation::{DeflateParams, Negotiated};
    ///
    /// let negotiated = Negotiated { permessage_deflate: Some(DeflateParams::default()) };
    /// let mut conn = Connection::server_with(Config::default(), negotiated).unwrap();
    /// conn.send_text("Hello").unwrap();
    /// // RFC 7692 §7.2.3.1: RSV1 set, "Hello" compressed to 7 bytes.
    /// assert_eq!(conn.pending_output(), &[0xC1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    /// ```
    pub fn server_with(config: Config, negotiated: Negotiated) -> Result<Self, ExtensionError> {
        let mut conn = Self::new(Role::Server, config, None);
        conn.ext = Extensions::new(negotiated, Role::Server, conn.config.compression)?;
        Ok(conn)
    }

    /// A client-side connection with the extensions the server accepted
    /// ([`Response::negotiated`](crate::handshake::Response::negotiated)).
    /// See [`client`](Self::client) for the seed.
    ///
    /// ```
    /// use ws_proto::connection::{Config, Connection};
    /// use ws_proto::negotiation::Negotiated;
    ///
    /// let conn = Connection::client_with(Config::default(), Negotiated::NONE, [9; 32]).unwrap();
    /// assert!(conn.pending_output().is_empty());
    /// ```
    pub fn client_with(
        config: Config,
        negotiated: Negotiated,
        mask_seed: [u8; 32],
    ) -> Result<Self, ExtensionError> {
        let mut conn = Self::new(Role::Client, config, Some(MaskKeys::new(mask_seed)));
        conn.ext = Extensions::new(negotiated, Role::Client, conn.config.compression)?;
        Ok(conn)
    }

    /// A client-side connection, in the open state. The core has no random
    /// source, so the caller supplies 32 random bytes that key the
    /// generator of masking keys ([`MaskKeys`]: §5.3 requires keys nobody
    /// can predict; draw the seed from the operating system's CSPRNG, for
    /// example with the `getrandom` crate).
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::client(Config::default(), [42; 32]);
    /// conn.send_binary(&[1, 2, 3]).unwrap();
    /// assert_eq!(conn.pending_output()[1] & 0x80, 0x80, "client frames are masked");
    /// ```
    pub fn client(config: Config, mask_seed: [u8; 32]) -> Self {
        Self::new(Role::Client, config, Some(MaskKeys::new(mask_seed)))
    }

    fn new(role: Role, config: Config, mask_keys: Option<MaskKeys>) -> Self {
        let mut timers = Timers::default();
        if let Some(interval) = nonzero(config.keep_alive_interval) {
            timers.start(Timer::KeepAlive, interval);
        }
        Connection {
            role,
            recv: Receiver::new(config.receive_buffer_size),
            config,
            out: OutQueue::default(),
            ext: Extensions::default(),
            sending: None,
            deferred_pong: None,
            events: VecDeque::new(),
            sent_close: None,
            received_close: None,
            ending: Ending::Running,
            mask_keys,
            timers,
            ping_counter: 0,
            pong_armed_by: 0,
            forced_ping_end: 0,
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
        if self.ending != Ending::Running || (self.close_sent() && self.close_received()) {
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
        self.state() == State::Closed && (self.out.len() == 0 || self.ending == Ending::TimedOut)
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

    fn ended(&self) -> bool {
        self.ending != Ending::Running
    }

    /// Whether the peer's bytes are still wanted: not after its close frame
    /// (§5.5.1), a failure or end-of-file.
    fn reading(&self) -> bool {
        !(self.close_received() || self.ended() || self.recv.eof())
    }

    // ----- input ---------------------------------------------------------

    /// Space to read into: at least `min_len` bytes of the connection's own
    /// receive buffer, right after the input it already holds. Read from
    /// the transport into it, then call [`commit`](Self::commit) with the
    /// number of bytes read. Pass the smallest read worth a system call
    /// (1 KiB is a good choice); the slice is often longer.
    ///
    /// Call [`poll_event`](Self::poll_event) until it returns `None` before
    /// asking for more space: input is processed lazily, and the buffer
    /// then holds at most one partial frame plus one read.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, Event, Message};
    /// let mut conn = Connection::client(Config::default(), [0; 32]);
    /// let frame = [0x82, 0x02, 0xAB, 0xCD]; // what a socket read returns
    /// let buf = conn.recv_buffer(1024);
    /// assert!(buf.len() >= 1024);
    /// buf[..4].copy_from_slice(&frame);
    /// conn.commit(4);
    /// assert_eq!(conn.poll_event(), Some(Event::Message(Message::Binary(vec![0xAB, 0xCD].into()))));
    /// ```
    pub fn recv_buffer(&mut self, min_len: usize) -> &mut [u8] {
        self.recv.spare(min_len)
    }

    /// Records that the transport wrote `n` bytes at the start of the slice
    /// [`recv_buffer`](Self::recv_buffer) returned. Bytes committed after
    /// the peer's close frame, a failure or end-of-file are ignored.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::client(Config::default(), [0; 32]);
    /// conn.recv_buffer(16)[..2].copy_from_slice(&[0x89, 0x00]); // a ping
    /// conn.commit(2);
    /// assert!(conn.poll_event().is_some());
    /// ```
    pub fn commit(&mut self, n: usize) {
        if self.reading() {
            self.recv.commit(n);
        }
    }

    /// Hands the connection bytes received from the transport, in chunks of
    /// any size, by copying them into the receive buffer (drivers that can
    /// read in place use [`recv_buffer`](Self::recv_buffer) instead). Call
    /// [`poll_event`](Self::poll_event) until it returns `None` before
    /// feeding more: input is processed lazily, so memory stays bounded by
    /// what the caller feeds between polls.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, Event};
    /// let mut conn = Connection::client(Config::default(), [0; 32]);
    /// conn.feed(&[0x82, 0x01]);
    /// assert_eq!(conn.poll_event(), None); // the payload byte is missing
    /// conn.feed(&[0xAB]);
    /// assert!(matches!(conn.poll_event(), Some(Event::Message(_))));
    /// ```
    pub fn feed(&mut self, data: &[u8]) {
        if self.reading() && !data.is_empty() {
            self.recv.feed(data);
        }
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
        self.recv.set_eof();
    }

    /// The next event, processing received input as far as needed to
    /// produce it.
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
            if self.close_received() || self.ended() {
                return None;
            }
            let rules = RecvRules {
                role: self.role,
                max_frame_size: self.config.max_frame_size,
                max_message_size: self.config.max_message_size,
                stream: self.config.stream_messages,
            };
            match self.recv.poll(&rules, &mut self.ext) {
                Ok(Some(Received::Message(message))) => return Some(Event::Message(message)),
                Ok(Some(Received::Chunk { kind, data, fin })) => {
                    return Some(Event::MessageChunk { kind, data, fin })
                }
                Ok(Some(Received::Control(opcode, payload))) => {
                    match self.on_control(opcode, payload) {
                        Ok(event) => return Some(event),
                        Err(error) => self.fail(error),
                    }
                }
                Ok(None) if self.recv.eof() && self.state() != State::Closed => {
                    return Some(self.abnormal_closure())
                }
                Ok(None) => return None,
                Err(error) => self.fail(error),
            }
        }
    }

    /// End of input with the close handshake unfinished: nothing can reach
    /// the peer any more.
    fn abnormal_closure(&mut self) -> Event {
        self.ending = Ending::Abnormal;
        self.out.clear();
        self.deferred_pong = None;
        Event::Error(Error::AbnormalClosure)
    }

    fn on_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<Event, Error> {
        match opcode {
            OpCode::Ping => {
                self.queue_pong(payload.clone());
                Ok(Event::Ping(payload))
            }
            OpCode::Pong => {
                // A peer may answer only the most recent of several pings
                // (§5.5.3), so a pong for any keep-alive ping sent since the
                // deadline was armed proves the peer alive.
                if self.timers.is_running(Timer::Pong) {
                    if let Ok(id) = <[u8; 8]>::try_from(&payload[..]) {
                        let id = PingId::from_be_bytes(id);
                        if (self.pong_armed_by..=self.ping_counter).contains(&id) {
                            self.timers.stop(Timer::Pong);
                        }
                    }
                }
                Ok(Event::Pong(payload))
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
                    let reason = if self.config.echo_close_reason {
                        reason.as_str()
                    } else {
                        ""
                    };
                    self.write_close(echo, reason);
                }
                self.timers.stop(Timer::Close);
                Ok(Event::Close { code, reason })
            }
            // The receive side hands over control opcodes only.
            _ => Ok(Event::Pong(payload)),
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
        if self.ending == Ending::Running {
            self.ending = Ending::Failed;
        }
        self.events.push_back(Event::Error(error));
    }

    // ----- output --------------------------------------------------------

    /// The first contiguous run of bytes waiting to be written (empty when
    /// nothing is). Output is a queue of runs, so this may be only part of
    /// it: write it, call [`consume_output`](Self::consume_output), and
    /// repeat until it is empty, or write everything at once with
    /// `io_slices` (with the `std` feature).
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_text("hi").unwrap();
    /// assert_eq!(conn.pending_output(), &[0x81, 0x02, b'h', b'i']);
    /// ```
    pub fn pending_output(&self) -> &[u8] {
        self.out.front()
    }

    /// Bytes waiting to be written, in total.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_binary(&[0; 1000]).unwrap();
    /// assert_eq!(conn.output_len(), 4 + 1000);
    /// ```
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    /// Fills `out` with the runs of pending output, in order, and returns
    /// how many it filled: the `no_std` form of `io_slices` (`std` feature).
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, Message};
    /// let mut conn = Connection::server(Config::default());
    /// let big = bytes::Bytes::from(vec![7u8; 4096]);
    /// conn.send(&Message::Binary(big.clone())).unwrap();
    /// let mut runs = [&[][..]; 8];
    /// let n = conn.output_chunks(&mut runs);
    /// assert_eq!(n, 2, "the header, then the payload by reference");
    /// assert_eq!(runs[1].as_ptr(), big.as_ptr());
    /// ```
    pub fn output_chunks<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        self.out.chunks(out)
    }

    /// Fills `out` with the pending output as [`IoSlice`](std::io::IoSlice)s
    /// for one vectored write (`write_vectored`), and returns how many it
    /// filled. Pass what was written to [`consume_output`](Self::consume_output).
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// use std::io::{IoSlice, Write};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_binary(&[1, 2, 3]).unwrap();
    /// let mut socket = Vec::new(); // any `Write`
    /// let mut slices = [IoSlice::new(&[]); 16];
    /// let n = conn.io_slices(&mut slices);
    /// let written = socket.write_vectored(&slices[..n]).unwrap();
    /// conn.consume_output(written);
    /// assert_eq!(socket, [0x82, 3, 1, 2, 3]);
    /// ```
    #[cfg(feature = "std")]
    pub fn io_slices<'a>(&'a self, out: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut runs: [&[u8]; 16] = [&[]; 16];
        let n = self.out.chunks(&mut runs[..out.len().min(16)]);
        for (slot, run) in out.iter_mut().zip(&runs[..n]) {
            *slot = std::io::IoSlice::new(run);
        }
        n
    }

    /// Marks the first `n` bytes of pending output as written. `n` larger
    /// than what is pending counts as all of it.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_text("hi").unwrap();
    /// conn.consume_output(3);
    /// assert_eq!(conn.pending_output(), b"i");
    /// ```
    pub fn consume_output(&mut self, n: usize) {
        self.out.consume(n);
        if let Some(pong) = self.deferred_pong.take() {
            self.queue_pong(pong);
        }
    }

    // ----- sending -------------------------------------------------------

    /// Whether `wire` more bytes may be queued: the queue limit is a true
    /// bound, except that an empty queue takes any one message.
    fn fits(&self, wire: usize) -> bool {
        self.out.len() == 0 || self.out.len().saturating_add(wire) <= self.config.max_send_queue
    }

    /// Bytes a control frame with `len` payload bytes takes on the wire,
    /// so that the queue limit is exact for control frames too.
    fn control_wire_len(&self, len: usize) -> usize {
        send::wire_len(len, usize::MAX, self.role == Role::Client)
    }

    fn check_open(&self) -> Result<(), SendError> {
        if self.close_sent() || self.ended() {
            Err(SendError::Closed)
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
        self.send_payload(MessageKind::Text, Payload::Borrowed(text.as_bytes()))
    }

    /// Queues a binary message, fragmented per [`Config::fragment_size`].
    /// The bytes are copied; a server that holds them as [`Bytes`] sends
    /// them without a copy with [`send`](Self::send).
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_binary(&[0u8; 256]).unwrap();
    /// assert_eq!(&conn.pending_output()[..4], &[0x82, 0x7E, 0x01, 0x00]);
    /// ```
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_payload(MessageKind::Binary, Payload::Borrowed(data))
    }

    /// Queues a complete message of either kind. A server queues the
    /// payload by reference (a [`Bytes`] clone), so echoing a received
    /// message copies nothing; a client masks into its own buffer and never
    /// touches the message.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, Message};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send(&Message::Binary(vec![1].into())).unwrap();
    /// assert_eq!(conn.pending_output(), &[0x82, 0x01, 0x01]);
    /// ```
    pub fn send(&mut self, message: &Message) -> Result<(), SendError> {
        let payload = match message {
            Message::Text(text) => text.clone().into_bytes(),
            Message::Binary(data) => data.clone(),
        };
        self.send_payload(message.kind(), Payload::Shared(payload))
    }

    fn send_payload(&mut self, kind: MessageKind, payload: Payload<'_>) -> Result<(), SendError> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(SendError::MessageInProgress);
        }
        let fragment = self.config.fragment_size.unwrap_or(usize::MAX).max(1);
        let masked = self.role == Role::Client;
        // Checked on the largest size the extension could produce, before
        // it runs: a compressor's window must not take in a message that is
        // then refused.
        let bound = self.ext.encoded_bound(payload.len());
        if !self.fits(send::wire_len(bound, fragment, masked)) {
            return Err(SendError::QueueFull);
        }
        // Extension stage (outgoing).
        let (rsv, payload) = match self
            .ext
            .encode(payload.as_slice())
            .map_err(|_| SendError::Extension)?
        {
            Some(encoded) => (encoded.rsv, Payload::Shared(encoded.payload)),
            None => (0, payload),
        };
        self.push_fragments(opcode_of(kind), rsv, payload, fragment, true);
        Ok(())
    }

    /// Queues `payload` as frames of at most `fragment` bytes, the first
    /// with `opcode` and the extension's `rsv` bits, the rest continuations;
    /// the last carries `fin`.
    fn push_fragments(
        &mut self,
        mut opcode: OpCode,
        mut rsv: u8,
        payload: Payload<'_>,
        fragment: usize,
        fin: bool,
    ) {
        let len = payload.len();
        let mut start = 0;
        loop {
            let end = start + (len - start).min(fragment);
            let last = end == len;
            let mut header = FrameHeader::new(opcode, fin && last, 0);
            header.rsv = rsv;
            self.push_frame(header, payload.slice(start..end));
            if last {
                return;
            }
            opcode = OpCode::Continuation;
            rsv = 0;
            start = end;
        }
    }

    /// Queues one fragment of a message sent in pieces (§5.4): the first
    /// call starts a message of `kind`, later calls continue it, and
    /// `fin = true` ends it. Until then no other data message may be sent
    /// ([`SendError::MessageInProgress`]); pings, pongs and a close may go
    /// between fragments. Text fragments are `&[u8]` so that a character may
    /// straddle two of them; the caller must send valid UTF-8 as a whole.
    /// A piece longer than [`Config::fragment_size`] goes out as several
    /// frames.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection, MessageKind, SendError};
    /// let mut conn = Connection::server(Config::default());
    /// conn.send_fragment(MessageKind::Text, b"Hel", false).unwrap();
    /// assert_eq!(conn.send_text("other"), Err(SendError::MessageInProgress));
    /// conn.send_ping(b"").unwrap();
    /// conn.send_fragment(MessageKind::Text, b"lo", true).unwrap();
    /// assert_eq!(
    ///     conn.pending_output(),
    ///     &[0x01, 0x03, b'H', b'e', b'l', 0x89, 0x00, 0x80, 0x02, b'l', b'o']
    /// );
    /// ```
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        self.check_open()?;
        let opcode = match self.sending {
            None => opcode_of(kind),
            Some(s) if s.kind == kind => OpCode::Continuation,
            Some(_) => return Err(SendError::KindMismatch),
        };
        // Each piece is cut per `fragment_size` too: the setting bounds
        // every data frame this side writes.
        let fragment = self.config.fragment_size.unwrap_or(usize::MAX).max(1);
        let bound = self.ext.encoded_bound(data.len());
        let wire = send::wire_len(bound, fragment, self.role == Role::Client);
        if !self.fits(wire) {
            return Err(SendError::QueueFull);
        }
        let first = self.sending.is_none();
        match self
            .ext
            .encode_fragment(data, first, fin)
            .map_err(|_| SendError::Extension)?
        {
            Some(encoded) => self.push_fragments(
                opcode,
                encoded.rsv,
                Payload::Shared(encoded.payload),
                fragment,
                fin,
            ),
            None => self.push_fragments(opcode, 0, Payload::Borrowed(data), fragment, fin),
        }
        self.sending = (!fin).then_some(Sending { kind });
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
        self.check_open()?;
        if !self.fits(self.control_wire_len(payload.len())) {
            return Err(SendError::QueueFull);
        }
        self.push_frame(
            FrameHeader::new(opcode, true, 0),
            Payload::Borrowed(payload),
        );
        Ok(())
    }

    /// Starts the close handshake: queues a close frame with `code` and
    /// `reason` (cut to 123 bytes on a character boundary). No data frame
    /// may be sent afterwards; incoming frames are still delivered until the
    /// peer's close arrives or [`Config::close_timeout`] passes. The close
    /// frame is queued even over the queue limit: it is small, and it is
    /// what ends the conversation.
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
        self.check_open()?;
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
        self.push_frame(
            FrameHeader::new(OpCode::Close, true, 0),
            Payload::Borrowed(&payload[..len]),
        );
        self.sent_close = Some(match code {
            Some(code) => (code, String::from(close::truncate_reason(reason))),
            None => (CloseCode::NO_STATUS_RECEIVED, String::new()),
        });
        self.deferred_pong = None;
        if !self.close_received() {
            self.timers.start(Timer::Close, self.config.close_timeout);
        }
    }

    fn queue_pong(&mut self, payload: Bytes) {
        // After our close frame, a failure or EOF nothing more may be
        // written (a pong deferred before `handle_eof` would otherwise
        // appear after it).
        if self.close_sent() || self.ended() {
            return;
        }
        if self.fits(self.control_wire_len(payload.len())) {
            self.push_frame(
                FrameHeader::new(OpCode::Pong, true, 0),
                Payload::Shared(payload),
            );
        } else {
            // Only the most recent ping needs an answer (§5.5.3).
            self.deferred_pong = Some(payload);
        }
    }

    fn push_frame(&mut self, header: FrameHeader, payload: Payload<'_>) {
        self.out
            .push_frame(header, payload, self.mask_keys.as_mut());
    }

    // ----- time ----------------------------------------------------------

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if
    /// ever. A deadline in the past means "now".
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use ws_proto::connection::{Config, Connection};
    /// let config = Config { keep_alive_interval: Some(Duration::from_secs(20)), ..Config::default() };
    /// let mut conn = Connection::server(config);
    /// conn.handle_timeout(Duration::from_secs(100));
    /// assert_eq!(conn.poll_timeout(), Some(Duration::from_secs(120)));
    /// ```
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.state() {
            State::Closed => None,
            // No pings once a close frame is on its way, either way.
            State::Closing => self.timers.earliest(&[Timer::Pong, Timer::Close]),
            State::Open => self
                .timers
                .earliest(&[Timer::KeepAlive, Timer::Pong, Timer::Close]),
        }
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
    ///     keep_alive_interval: Some(Duration::from_secs(20)),
    ///     keep_alive_timeout: Some(Duration::from_secs(5)),
    ///     ..Config::default()
    /// };
    /// let mut conn = Connection::server(config);
    /// conn.handle_timeout(Duration::ZERO);
    /// conn.handle_timeout(Duration::from_secs(20)); // sends a ping
    /// assert_eq!(conn.pending_output()[0], 0x89);
    /// conn.handle_timeout(Duration::from_secs(25)); // no pong in time
    /// assert_eq!(conn.poll_event(), Some(Event::Error(Error::KeepAliveTimeout)));
    /// ```
    pub fn handle_timeout(&mut self, now: Duration) {
        self.timers.advance(now);
        if self.state() == State::Closed {
            return;
        }
        if self.timers.expired(Timer::Close) {
            self.timers.stop(Timer::Close);
            self.ending = Ending::TimedOut;
            self.events.push_back(Event::Error(Error::CloseTimeout));
            return;
        }
        if self.timers.expired(Timer::Pong) {
            self.timers.stop(Timer::Pong);
            self.fail(Error::KeepAliveTimeout);
            self.ending = Ending::TimedOut;
            return;
        }
        if self.close_sent() || self.close_received() {
            return;
        }
        if self.timers.expired(Timer::KeepAlive) {
            self.send_keep_alive_ping();
        }
    }

    fn send_keep_alive_ping(&mut self) {
        let Some(interval) = nonzero(self.config.keep_alive_interval) else {
            self.timers.stop(Timer::KeepAlive);
            return;
        };
        let timeout = nonzero(self.config.keep_alive_timeout);
        // A keep-alive ping may go over the queue limit only when it arms
        // the pong deadline, which is what detects a peer that stopped
        // reading. Without that, pings piling up behind a full queue would
        // grow memory without bound.
        // And only one such ping may wait unwritten: ping ids are
        // predictable, so a peer that never reads could still answer each
        // one, and every tick would queue another past the limit.
        let arms_deadline = timeout.is_some() && !self.timers.is_running(Timer::Pong);
        let fits = self.fits(self.control_wire_len(8));
        let forced_unwritten = self.out.written() < self.forced_ping_end;
        if fits || (arms_deadline && !forced_unwritten) {
            self.ping_counter += 1;
            let id = self.ping_counter;
            self.push_frame(
                FrameHeader::new(OpCode::Ping, true, 0),
                Payload::Borrowed(&id.to_be_bytes()),
            );
            if !fits {
                self.forced_ping_end = self.out.queued();
            }
        }
        if let (true, Some(timeout)) = (arms_deadline, timeout) {
            // Without a new ping, the deadline waits for an answer to the
            // latest one, still in the queue.
            self.pong_armed_by = self.ping_counter;
            self.timers.start(Timer::Pong, timeout);
        }
        self.timers.start(Timer::KeepAlive, interval);
    }

    /// Memory the connection holds for buffers, in bytes: the receive
    /// buffer and reassembly buffer capacities plus pending output. For
    /// tests and capacity planning.
    ///
    /// ```
    /// # use ws_proto::connection::{Config, Connection};
    /// let mut conn = Connection::server(Config::default());
    /// conn.recv_buffer(1024);
    /// assert!(conn.buffered_bytes() >= 4096);
    /// ```
    pub fn buffered_bytes(&self) -> usize {
        self.recv.capacity() + self.out.len()
    }
}

/// A zero interval or timeout means "off": taken literally it would ask to
/// be woken in a busy loop.
fn nonzero(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero())
}

fn opcode_of(kind: MessageKind) -> OpCode {
    match kind {
        MessageKind::Text => OpCode::Text,
        MessageKind::Binary => OpCode::Binary,
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

#[cfg(test)]
mod tests;
