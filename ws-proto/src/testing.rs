//! Test support shared by the crate's own tests and the fuzz targets in
//! `fuzz/` (feature `testing`, off by default): a checker of the bytes a
//! connection writes, and a client and a server [`Connection`] wired to
//! each other with a virtual clock.
//!
//! Everything here checks as it goes and panics on a broken invariant, so
//! a test or a fuzz target only has to drive it.
//!
//! ```
//! use core::time::Duration;
//! use ws_proto::connection::{Config, MessageKind};
//! use ws_proto::testing::{Delivery, End, Pair};
//!
//! let mut pair = Pair::new(Config::default(), Config::default(), [1; 32]);
//! pair.send(End::Client, MessageKind::Text, "héllo".as_bytes(), false).unwrap();
//! pair.deliver(End::Client, 3, Delivery::Lend); // part of the frame only
//! pair.advance(Duration::from_secs(1));
//! pair.deliver(End::Client, usize::MAX, Delivery::Vectored);
//! assert_eq!(pair.received(End::Server), 1);
//! pair.finish(); // closes cleanly and checks both ends
//! ```

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::Bytes;

use crate::close::{parse_close_payload, truncate_reason, CloseCode};
use crate::connection::{
    Config, Connection, Error, Event, Message, MessageKind, SendError, State, Utf8Bytes,
};
use crate::frame::{FrameHeader, FrameRules, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;
use crate::Role;

// ----- wire checker ------------------------------------------------------

/// Validates, incrementally, the byte stream one connection writes: every
/// frame must decode and pass `check` for the receiving peer's role, data
/// frames must follow the fragmentation rules and respect the sender's
/// fragment size, text must be UTF-8 across fragments, control frames must
/// be valid, and nothing may follow a close frame. It allocates nothing, so
/// it does not disturb heap accounting.
///
/// ```
/// use ws_proto::connection::{Config, Connection};
/// use ws_proto::testing::WireChecker;
/// use ws_proto::Role;
///
/// let mut conn = Connection::server(Config { fragment_size: Some(3), ..Config::default() });
/// conn.send_text("Hello").unwrap();
/// let mut checker = WireChecker::new(Role::Server, Some(3));
/// checker.push(conn.pending_output());
/// assert_eq!(checker.frames, 2);
/// assert!(checker.at_boundary());
/// ```
///
/// ```should_panic
/// use ws_proto::testing::WireChecker;
/// use ws_proto::Role;
/// // A server must not mask (§5.1): its peer would fail the connection.
/// WireChecker::new(Role::Server, None).push(&[0x82, 0x80, 1, 2, 3, 4]);
/// ```
#[derive(Debug)]
pub struct WireChecker {
    rules: FrameRules,
    fragment_size: Option<usize>,
    head: [u8; MAX_HEADER_LEN],
    head_len: usize,
    frame: Option<(FrameHeader, u64)>,
    message: Option<MessageKind>,
    utf8: Utf8Validator,
    control: [u8; MAX_CONTROL_PAYLOAD],
    /// The close frame's code once a whole close frame was written
    /// (`Some(None)` for an empty one).
    pub close: Option<Option<CloseCode>>,
    /// Complete frames seen.
    pub frames: u64,
    /// Ping frames written.
    pub pings: u64,
    /// Pong frames written.
    pub pongs: u64,
    /// The payload of the last pong written (bytes and length).
    pub last_pong: ([u8; 125], usize),
    /// Bytes seen in total.
    pub bytes: u64,
}

impl WireChecker {
    /// A checker for what a connection of role `sender` writes, with that
    /// connection's [`Config::fragment_size`].
    ///
    /// ```
    /// use ws_proto::testing::WireChecker;
    /// use ws_proto::Role;
    /// let mut checker = WireChecker::new(Role::Client, None);
    /// checker.push(&[0x89, 0x80, 1, 2, 3, 4]); // a masked, empty ping
    /// assert_eq!(checker.pings, 1);
    /// ```
    pub fn new(sender: Role, fragment_size: Option<usize>) -> Self {
        let receiver = match sender {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        WireChecker {
            rules: FrameRules {
                role: receiver,
                allowed_rsv: 0,
                max_payload: u64::MAX,
            },
            fragment_size,
            head: [0; MAX_HEADER_LEN],
            head_len: 0,
            frame: None,
            message: None,
            utf8: Utf8Validator::new(),
            control: [0; MAX_CONTROL_PAYLOAD],
            close: None,
            frames: 0,
            pings: 0,
            pongs: 0,
            last_pong: ([0; 125], 0),
            bytes: 0,
        }
    }

    /// No frame is half written.
    ///
    /// ```
    /// use ws_proto::testing::WireChecker;
    /// use ws_proto::Role;
    /// let mut checker = WireChecker::new(Role::Server, None);
    /// checker.push(&[0x82, 0x02, 0xAB]);
    /// assert!(!checker.at_boundary());
    /// checker.push(&[0xCD]);
    /// assert!(checker.at_boundary());
    /// ```
    pub fn at_boundary(&self) -> bool {
        self.head_len == 0 && self.frame.is_none()
    }

    /// Takes the next bytes written, in pieces of any size. Panics on any
    /// violation.
    ///
    /// ```
    /// use ws_proto::close::CloseCode;
    /// use ws_proto::testing::WireChecker;
    /// use ws_proto::Role;
    /// let mut checker = WireChecker::new(Role::Server, None);
    /// checker.push(&[0x88, 0x02, 0x03]);
    /// checker.push(&[0xE8]);
    /// assert_eq!(checker.close, Some(Some(CloseCode::NORMAL)));
    /// ```
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        while !bytes.is_empty() {
            match self.frame {
                None => {
                    assert!(
                        self.close.is_none(),
                        "bytes written after a close frame: {bytes:02x?}"
                    );
                    let take = (MAX_HEADER_LEN - self.head_len).min(bytes.len());
                    self.head[self.head_len..self.head_len + take].copy_from_slice(&bytes[..take]);
                    let avail = self.head_len + take;
                    match FrameHeader::decode(&self.head[..avail]) {
                        Ok(None) => {
                            self.head_len = avail;
                            bytes = &bytes[take..];
                        }
                        Ok(Some((header, n))) => {
                            // Of the bytes just copied, only those up to `n`
                            // belong to the header.
                            let used = n - self.head_len;
                            bytes = &bytes[used..];
                            self.head_len = 0;
                            self.start_frame(header);
                        }
                        Err(e) => panic!(
                            "emitted an undecodable header {:02x?}: {e}",
                            &self.head[..avail]
                        ),
                    }
                }
                Some((header, done)) => {
                    let want = header.payload_len - done;
                    let take = want.min(bytes.len() as u64) as usize;
                    self.payload(header, done, &bytes[..take]);
                    bytes = &bytes[take..];
                    let done = done + take as u64;
                    if done == header.payload_len {
                        self.frame = None;
                        self.end_frame(header);
                    } else {
                        self.frame = Some((header, done));
                    }
                }
            }
        }
    }

    fn start_frame(&mut self, header: FrameHeader) {
        if let Err(e) = header.check(&self.rules) {
            panic!("emitted a frame the peer must reject: {header:?}: {e}");
        }
        if !header.opcode.is_control() {
            if let Some(max) = self.fragment_size {
                assert!(
                    header.payload_len <= max.max(1) as u64,
                    "frame of {} bytes with fragment size {max}",
                    header.payload_len
                );
            }
        }
        match (header.opcode, self.message) {
            (OpCode::Continuation, None) => panic!("continuation without a message"),
            (OpCode::Text | OpCode::Binary, Some(_)) => panic!("new message inside a message"),
            (OpCode::Text, None) => {
                self.message = Some(MessageKind::Text);
                self.utf8.reset();
            }
            (OpCode::Binary, None) => self.message = Some(MessageKind::Binary),
            _ => {}
        }
        self.frame = Some((header, 0));
        if header.payload_len == 0 {
            self.frame = None;
            self.end_frame(header);
        }
    }

    fn payload(&mut self, header: FrameHeader, done: u64, bytes: &[u8]) {
        if header.opcode.is_control() {
            let start = done as usize;
            let dst = &mut self.control[start..start + bytes.len()];
            dst.copy_from_slice(bytes);
            if let Some(key) = header.mask {
                apply_mask(dst, key, start);
            }
            return;
        }
        if self.message == Some(MessageKind::Text) {
            let mut tmp = [0u8; 256];
            let mut off = done as usize;
            for chunk in bytes.chunks(tmp.len()) {
                let t = &mut tmp[..chunk.len()];
                t.copy_from_slice(chunk);
                if let Some(key) = header.mask {
                    apply_mask(t, key, off);
                }
                off += chunk.len();
                self.utf8
                    .feed(t)
                    .expect("emitted invalid UTF-8 in a text message");
            }
        }
    }

    fn end_frame(&mut self, header: FrameHeader) {
        self.frames += 1;
        let payload = &self.control[..header.payload_len.min(125) as usize];
        match header.opcode {
            OpCode::Close => {
                let parsed = parse_close_payload(payload)
                    .unwrap_or_else(|e| panic!("emitted an invalid close payload: {e}"));
                self.close = Some(parsed.map(|(code, _)| code));
            }
            OpCode::Ping => self.pings += 1,
            OpCode::Pong => {
                self.pongs += 1;
                self.last_pong.0[..payload.len()].copy_from_slice(payload);
                self.last_pong.1 = payload.len();
            }
            _ => {
                if header.fin {
                    if self.message == Some(MessageKind::Text) {
                        self.utf8
                            .finish()
                            .expect("text message ends inside a code point");
                    }
                    self.message = None;
                }
            }
        }
    }
}

// ----- sizes on the wire ---------------------------------------------------

/// Bytes one frame of `len` payload bytes takes on the wire (§5.2),
/// computed independently of the encoder, to check the queue's accounting.
///
/// ```
/// use ws_proto::testing::frame_wire_len;
/// assert_eq!(frame_wire_len(5, false), 7);
/// assert_eq!(frame_wire_len(126, true), 2 + 2 + 4 + 126);
/// assert_eq!(frame_wire_len(1 << 16, false), 2 + 8 + (1 << 16));
/// ```
pub fn frame_wire_len(len: usize, masked: bool) -> usize {
    let ext = if len < 126 {
        0
    } else if len <= 0xFFFF {
        2
    } else {
        8
    };
    2 + ext + if masked { 4 } else { 0 } + len
}

/// Bytes a message of `len` payload bytes takes on the wire when cut into
/// frames of at most `fragment` bytes (`None`: one frame; 0 counts as 1).
///
/// ```
/// use ws_proto::testing::message_wire_len;
/// assert_eq!(message_wire_len(5, Some(3), false), 5 + 2 * 2); // "Hel", "lo"
/// assert_eq!(message_wire_len(0, Some(3), true), 6);
/// ```
pub fn message_wire_len(len: usize, fragment: Option<usize>, masked: bool) -> usize {
    let f = fragment.map_or(usize::MAX, |f| f.max(1));
    if len <= f {
        return frame_wire_len(len, masked);
    }
    let rest = len % f;
    (len / f) * frame_wire_len(f, masked)
        + if rest > 0 {
            frame_wire_len(rest, masked)
        } else {
            0
        }
}

/// Calls `f` with a connection's pending output after its first `skip`
/// bytes, run by run, having checked that `output_chunks`,
/// `pending_output` and `output_len` agree and that no run is empty (a
/// driver looping on `pending_output` would stop early at an empty one).
///
/// ```
/// use ws_proto::connection::{Config, Connection};
/// use ws_proto::testing::for_each_run_after;
///
/// let mut conn = Connection::server(Config::default());
/// conn.send_text("ab").unwrap();
/// conn.send_text("cd").unwrap();
/// let mut new = Vec::new();
/// for_each_run_after(&conn, 4, |run| new.extend_from_slice(run));
/// assert_eq!(new, [0x81, 2, b'c', b'd']);
/// ```
pub fn for_each_run_after(conn: &Connection, skip: usize, f: impl FnMut(&[u8])) {
    // Usually a few runs: a small array on the stack (a large one is slow
    // under the fuzzers' sanitizers); room for all of them otherwise.
    let mut small: [&[u8]; 16] = [&[]; 16];
    let n = conn.output_chunks(&mut small);
    if n < small.len() {
        return check_runs(conn, &small[..n], skip, f);
    }
    let mut runs: Vec<&[u8]> = alloc::vec![&[]; conn.output_len()];
    let n = conn.output_chunks(&mut runs);
    check_runs(conn, &runs[..n], skip, f);
}

fn check_runs(conn: &Connection, runs: &[&[u8]], mut skip: usize, mut f: impl FnMut(&[u8])) {
    assert!(runs.iter().all(|r| !r.is_empty()), "an empty output run");
    let total: usize = runs.iter().map(|r| r.len()).sum();
    assert_eq!(
        total,
        conn.output_len(),
        "output_chunks disagrees with output_len"
    );
    let first: &[u8] = runs.first().copied().unwrap_or(&[]);
    assert_eq!(
        first,
        conn.pending_output(),
        "pending_output is not the first run"
    );
    for run in runs {
        if skip >= run.len() {
            skip -= run.len();
            continue;
        }
        f(&run[skip..]);
        skip = 0;
    }
}

// ----- two connections wired together ----------------------------------------

/// One end of a [`Pair`].
///
/// ```
/// use ws_proto::testing::End;
/// assert_eq!(End::Client.peer(), End::Server);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// The client connection (masks what it sends).
    Client,
    /// The server connection.
    Server,
}

impl End {
    /// The other end.
    ///
    /// ```
    /// use ws_proto::testing::End;
    /// assert_eq!(End::Server.peer(), End::Client);
    /// ```
    pub fn peer(self) -> End {
        match self {
            End::Client => End::Server,
            End::Server => End::Client,
        }
    }
}

/// How [`Pair::deliver`] moves bytes, so that every driver path is used.
///
/// ```
/// use ws_proto::testing::Delivery;
/// assert_ne!(Delivery::Feed, Delivery::Lend);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Take `pending_output` run by run; the receiver copies with `feed`.
    Feed,
    /// Take `pending_output` run by run; the receiver lends its buffer
    /// (`recv_buffer` + `commit`).
    Lend,
    /// Take up to four runs at once with `output_chunks` (a vectored
    /// write); the receiver lends its buffer.
    Vectored,
}

/// Largest read [`Pair::deliver`] asks a receiver's buffer for.
const READ_SIZE: usize = 4096;

/// One side of the pair and what it expects of its peer.
#[derive(Debug)]
struct Side {
    conn: Connection,
    checker: WireChecker,
    /// Messages this side sent that the other has not received yet.
    sent: VecDeque<(MessageKind, Vec<u8>)>,
    /// Application pings this side sent, not yet received by the other.
    pings: VecDeque<Vec<u8>>,
    /// The close this side's application started.
    closed_with: Option<(CloseCode, String)>,
    keep_alive: bool,
    /// A streamed message being reassembled from chunks.
    partial: Option<(MessageKind, Vec<u8>)>,
    errors: Vec<Error>,
    close_event: Option<(CloseCode, String)>,
    /// A message being sent with `send_fragment`: its kind and bytes so far.
    streaming: Option<(MessageKind, Vec<u8>)>,
    /// Messages delivered to this side.
    received: usize,
}

impl Side {
    fn new(conn: Connection, role: Role, config: &Config) -> Self {
        Side {
            conn,
            checker: WireChecker::new(role, config.fragment_size),
            sent: VecDeque::new(),
            pings: VecDeque::new(),
            closed_with: None,
            keep_alive: config.keep_alive_interval.is_some(),
            partial: None,
            errors: Vec::new(),
            close_event: None,
            streaming: None,
            received: 0,
        }
    }
}

/// A client and a server connection wired to each other through an
/// in-memory transport that the caller drives, with a virtual clock.
///
/// Every step checks the invariants of two correct peers, and panics if one
/// breaks: the receiver gets exactly the messages sent, in order, byte for
/// byte (a prefix of them if a timeout failed the connection); application
/// pings arrive in order; the only failures are timeouts; both byte streams
/// pass the [`WireChecker`]; sends are refused only for the documented
/// reasons. [`finish`](Self::finish) delivers everything, closes if nobody
/// did, and checks that both ends end `Closed`.
///
/// ```
/// use core::time::Duration;
/// use ws_proto::connection::{Config, Error, MessageKind};
/// use ws_proto::testing::{Delivery, End, Pair};
///
/// // A server that pings every second and wants a pong within 500 ms,
/// // against a client that stops reading.
/// let server = Config {
///     keep_alive_interval: Some(Duration::from_secs(1)),
///     keep_alive_timeout: Some(Duration::from_millis(500)),
///     ..Config::default()
/// };
/// let mut pair = Pair::new(Config::default(), server, [3; 32]);
/// pair.advance(Duration::from_secs(1)); // the ping is queued, never delivered
/// pair.advance(Duration::from_millis(500));
/// assert_eq!(pair.errors(End::Server), &[Error::KeepAliveTimeout]);
/// pair.finish();
/// ```
#[derive(Debug)]
pub struct Pair {
    client: Side,
    server: Side,
    now: Duration,
}

impl Pair {
    /// Two open connections, told the time (zero) once, as drivers do after
    /// the handshake. `seed` keys the client's masking keys.
    ///
    /// ```
    /// use ws_proto::connection::{Config, State};
    /// use ws_proto::testing::{End, Pair};
    /// let pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// assert_eq!(pair.connection(End::Server).state(), State::Open);
    /// ```
    pub fn new(client: Config, server: Config, seed: [u8; 32]) -> Self {
        let mut pair = Pair {
            client: Side::new(
                Connection::client(client.clone(), seed),
                Role::Client,
                &client,
            ),
            server: Side::new(Connection::server(server.clone()), Role::Server, &server),
            now: Duration::ZERO,
        };
        pair.client.conn.handle_timeout(pair.now);
        pair.server.conn.handle_timeout(pair.now);
        pair
    }

    /// The virtual time.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ws_proto::connection::Config;
    /// use ws_proto::testing::Pair;
    /// let mut pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// pair.advance(Duration::from_millis(5));
    /// assert_eq!(pair.now(), Duration::from_millis(5));
    /// ```
    pub fn now(&self) -> Duration {
        self.now
    }

    /// One end's connection, to inspect.
    ///
    /// ```
    /// use ws_proto::connection::Config;
    /// use ws_proto::testing::{End, Pair};
    /// use ws_proto::Role;
    /// let pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// assert_eq!(pair.connection(End::Client).role(), Role::Client);
    /// ```
    pub fn connection(&self, end: End) -> &Connection {
        &self.side(end).conn
    }

    /// The failures one end reported (only timeouts happen between two
    /// correct peers).
    ///
    /// ```
    /// use ws_proto::connection::Config;
    /// use ws_proto::testing::{End, Pair};
    /// let pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// assert!(pair.errors(End::Client).is_empty());
    /// ```
    pub fn errors(&self, end: End) -> &[Error] {
        &self.side(end).errors
    }

    /// How many complete messages one end has received.
    ///
    /// ```
    /// use ws_proto::connection::{Config, MessageKind};
    /// use ws_proto::testing::{Delivery, End, Pair};
    /// let mut pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// pair.send(End::Server, MessageKind::Binary, &[1, 2], true).unwrap();
    /// pair.deliver(End::Server, usize::MAX, Delivery::Feed);
    /// assert_eq!(pair.received(End::Client), 1);
    /// ```
    pub fn received(&self, end: End) -> usize {
        self.side(end).received
    }

    /// The close frame one end received (code and reason), if any.
    ///
    /// ```
    /// use ws_proto::close::CloseCode;
    /// use ws_proto::connection::Config;
    /// use ws_proto::testing::{Delivery, End, Pair};
    /// let mut pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// pair.close(End::Client, CloseCode::GOING_AWAY, "bye").unwrap();
    /// pair.deliver(End::Client, usize::MAX, Delivery::Lend);
    /// assert_eq!(pair.close_received(End::Server), Some((CloseCode::GOING_AWAY, "bye")));
    /// ```
    pub fn close_received(&self, end: End) -> Option<(CloseCode, &str)> {
        self.side(end)
            .close_event
            .as_ref()
            .map(|(c, r)| (*c, r.as_str()))
    }

    fn side(&self, end: End) -> &Side {
        match end {
            End::Client => &self.client,
            End::Server => &self.server,
        }
    }

    /// The side `from` and its peer.
    fn sides(&mut self, from: End) -> (&mut Side, &mut Side) {
        match from {
            End::Client => (&mut self.client, &mut self.server),
            End::Server => (&mut self.server, &mut self.client),
        }
    }

    /// Sends a whole message from `from`: with `send_text`/`send_binary`,
    /// or, when `shared`, with `send(&Message)` (the payload in `Bytes`,
    /// which the send must leave untouched). Text must be UTF-8.
    ///
    /// ```
    /// use ws_proto::connection::{Config, MessageKind, SendError};
    /// use ws_proto::testing::{End, Pair};
    /// let config = Config { max_send_queue: 10, ..Config::default() };
    /// let mut pair = Pair::new(config, Config::default(), [0; 32]);
    /// pair.send(End::Client, MessageKind::Binary, &[0; 100], false).unwrap(); // an empty queue takes it
    /// assert_eq!(pair.send(End::Client, MessageKind::Text, b"x", true), Err(SendError::QueueFull));
    /// ```
    pub fn send(
        &mut self,
        from: End,
        kind: MessageKind,
        data: &[u8],
        shared: bool,
    ) -> Result<(), SendError> {
        let (side, _) = self.sides(from);
        let text = || core::str::from_utf8(data).expect("Pair::send: text must be UTF-8");
        let r = if shared {
            let message = match kind {
                MessageKind::Text => Message::Text(Utf8Bytes::from(text())),
                MessageKind::Binary => Message::Binary(Bytes::copy_from_slice(data)),
            };
            let r = side.conn.send(&message);
            assert_eq!(
                message.as_bytes(),
                data,
                "send changed the caller's message"
            );
            r
        } else {
            match kind {
                MessageKind::Text => side.conn.send_text(text()),
                MessageKind::Binary => side.conn.send_binary(data),
            }
        };
        match r {
            Ok(()) => side.sent.push_back((kind, data.to_vec())),
            Err(SendError::Closed) => assert_ne!(side.conn.state(), State::Open),
            Err(SendError::QueueFull) => assert!(side.conn.output_len() > 0),
            Err(SendError::MessageInProgress) => assert!(side.streaming.is_some()),
            Err(e) => panic!("send failed: {e:?}"),
        }
        r
    }

    /// Sends `data` from `from` as `pieces` calls of `send_fragment`, cut at
    /// even byte offsets (so text pieces may split a character), the last
    /// with `fin`. The message may continue over several calls; text must
    /// be UTF-8 at the end of each call. If the queue refuses a later piece,
    /// the pair writes everything queued to the peer and sends it again, so
    /// no message is left cut inside a character.
    ///
    /// ```
    /// use ws_proto::connection::{Config, MessageKind};
    /// use ws_proto::testing::{Delivery, End, Pair};
    /// let mut pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// pair.send_pieces(End::Client, MessageKind::Text, "€uro".as_bytes(), 3, false).unwrap();
    /// pair.ping(End::Client, b"between fragments").unwrap();
    /// pair.send_pieces(End::Client, MessageKind::Text, b" end", 1, true).unwrap();
    /// pair.deliver(End::Client, usize::MAX, Delivery::Vectored);
    /// assert_eq!(pair.received(End::Server), 1);
    /// ```
    pub fn send_pieces(
        &mut self,
        from: End,
        kind: MessageKind,
        data: &[u8],
        pieces: usize,
        fin: bool,
    ) -> Result<(), SendError> {
        let pieces = pieces.max(1);
        for i in 0..pieces {
            let piece = &data[data.len() * i / pieces..data.len() * (i + 1) / pieces];
            let last = fin && i + 1 == pieces;
            let mut flushes = 0;
            loop {
                let (side, peer) = self.sides(from);
                let r = side.conn.send_fragment(kind, piece, last);
                match r {
                    Ok(()) => {
                        let (_, so_far) = side.streaming.get_or_insert_with(|| (kind, Vec::new()));
                        so_far.extend_from_slice(piece);
                        if last {
                            let message = side.streaming.take().expect("just inserted");
                            side.sent.push_back(message);
                        }
                        break;
                    }
                    // An empty queue takes any one fragment: make room.
                    Err(SendError::QueueFull) if i > 0 && flushes < 3 => {
                        flushes += 1;
                        transfer(side, peer, usize::MAX, Delivery::Feed);
                    }
                    Err(e) => {
                        assert_eq!(i, 0, "piece {i} refused with {e:?}");
                        match e {
                            SendError::Closed => assert_ne!(side.conn.state(), State::Open),
                            SendError::QueueFull => assert!(side.conn.output_len() > 0),
                            SendError::KindMismatch => {
                                assert!(side.streaming.as_ref().is_some_and(|(k, _)| *k != kind))
                            }
                            e => panic!("send_fragment failed: {e:?}"),
                        }
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends an application ping from `from`.
    ///
    /// ```
    /// use ws_proto::connection::{Config, SendError};
    /// use ws_proto::testing::{End, Pair};
    /// let mut pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// pair.ping(End::Server, b"are you there").unwrap();
    /// assert_eq!(pair.ping(End::Server, &[0; 126]), Err(SendError::ControlTooLong));
    /// ```
    pub fn ping(&mut self, from: End, payload: &[u8]) -> Result<(), SendError> {
        let (side, _) = self.sides(from);
        let r = side.conn.send_ping(payload);
        match r {
            Ok(()) => side.pings.push_back(payload.to_vec()),
            Err(SendError::ControlTooLong) => assert!(payload.len() > MAX_CONTROL_PAYLOAD),
            Err(SendError::Closed) => assert_ne!(side.conn.state(), State::Open),
            Err(SendError::QueueFull) => assert!(side.conn.output_len() > 0),
            Err(e) => panic!("ping failed: {e:?}"),
        }
        r
    }

    /// Starts the close handshake from `from`.
    ///
    /// ```
    /// use ws_proto::close::CloseCode;
    /// use ws_proto::connection::{Config, SendError, State};
    /// use ws_proto::testing::{End, Pair};
    /// let mut pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// pair.close(End::Server, CloseCode::NORMAL, "done").unwrap();
    /// assert_eq!(pair.connection(End::Server).state(), State::Closing);
    /// assert_eq!(pair.close(End::Server, CloseCode::NORMAL, ""), Err(SendError::Closed));
    /// ```
    pub fn close(&mut self, from: End, code: CloseCode, reason: &str) -> Result<(), SendError> {
        let (side, _) = self.sides(from);
        let r = side.conn.close(code, reason);
        match r {
            Ok(()) => side.closed_with = Some((code, truncate_reason(reason).into())),
            Err(SendError::InvalidCloseCode(_)) => assert!(!code.is_valid_on_wire()),
            Err(SendError::Closed) => assert_ne!(side.conn.state(), State::Open),
            Err(e) => panic!("close failed: {e:?}"),
        }
        r
    }

    /// Lets virtual time pass and tells both connections.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ws_proto::close::CloseCode;
    /// use ws_proto::connection::{Config, Error};
    /// use ws_proto::testing::{End, Pair};
    /// let mut pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// pair.close(End::Client, CloseCode::NORMAL, "").unwrap(); // never delivered
    /// pair.advance(Duration::from_secs(10)); // the default close timeout
    /// assert_eq!(pair.errors(End::Client), &[Error::CloseTimeout]);
    /// ```
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
        self.client.conn.handle_timeout(self.now);
        self.server.conn.handle_timeout(self.now);
        drain(&mut self.client, &mut self.server);
        drain(&mut self.server, &mut self.client);
    }

    /// Writes up to `n` bytes of `from`'s output to its peer, the way
    /// `how` says, and lets both ends handle what follows.
    ///
    /// ```
    /// use ws_proto::connection::{Config, MessageKind};
    /// use ws_proto::testing::{Delivery, End, Pair};
    /// let mut pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// pair.send(End::Server, MessageKind::Binary, &[7; 1000], true).unwrap();
    /// pair.deliver(End::Server, 500, Delivery::Vectored);
    /// assert_eq!(pair.received(End::Client), 0);
    /// pair.deliver(End::Server, 504, Delivery::Lend);
    /// assert_eq!(pair.received(End::Client), 1);
    /// ```
    pub fn deliver(&mut self, from: End, n: usize, how: Delivery) {
        let (from, to) = self.sides(from);
        transfer(from, to, n, how);
    }

    /// Delivers everything in flight, finishes a message left half sent,
    /// closes (from the client) if both ends are still open, lets the close
    /// handshake complete without time passing, and checks that both ends
    /// are `Closed` with nothing lost. Panics otherwise.
    ///
    /// ```
    /// use ws_proto::connection::{Config, MessageKind, State};
    /// use ws_proto::testing::{End, Pair};
    /// let mut pair = Pair::new(Config::default(), Config::default(), [0; 32]);
    /// pair.send(End::Client, MessageKind::Text, b"last words", false).unwrap();
    /// pair.finish();
    /// assert_eq!(pair.received(End::Server), 1);
    /// assert_eq!(pair.connection(End::Client).state(), State::Closed);
    /// ```
    pub fn finish(&mut self) {
        pump(&mut self.client, &mut self.server);
        for end in [End::Client, End::Server] {
            let side = self.side(end);
            if side.conn.state() == State::Open {
                if let Some((kind, _)) = side.streaming {
                    self.send_pieces(end, kind, b"", 1, true)
                        .expect("finishing a message in progress");
                }
            }
        }
        pump(&mut self.client, &mut self.server);
        if self.client.conn.state() == State::Open && self.server.conn.state() == State::Open {
            self.close(End::Client, CloseCode::NORMAL, "done")
                .expect("closing an open connection");
            pump(&mut self.client, &mut self.server);
        }
        for (name, side, peer) in [
            ("client", &self.client, &self.server),
            ("server", &self.server, &self.client),
        ] {
            assert_eq!(
                side.conn.state(),
                State::Closed,
                "{name} did not end closed"
            );
            assert_eq!(side.conn.output_len(), 0, "{name} has output left");
            // A streamed message may stay unfinished only if the connection
            // failed or the peer closed in the middle of sending it.
            assert!(
                side.partial.is_none() || !side.errors.is_empty() || peer.streaming.is_some(),
                "{name} holds half a message"
            );
        }
        let failed = !self.client.errors.is_empty() || !self.server.errors.is_empty();
        if !failed {
            for (name, side) in [("client", &self.client), ("server", &self.server)] {
                assert!(
                    side.sent.is_empty(),
                    "{name}'s messages were lost: {}",
                    side.sent.len()
                );
                assert!(
                    side.pings.is_empty(),
                    "{name}'s pings were lost: {}",
                    side.pings.len()
                );
            }
        }
    }
}

fn pump(a: &mut Side, b: &mut Side) {
    // Each round moves everything queued; a close handshake needs at most a
    // couple of rounds, and a stuck exchange shows up as a side left open
    // rather than as a hang.
    for _ in 0..8 {
        let moved = a.conn.output_len() > 0 || b.conn.output_len() > 0;
        transfer(a, b, usize::MAX, Delivery::Feed);
        transfer(b, a, usize::MAX, Delivery::Feed);
        if !moved {
            break;
        }
    }
}

/// Hands `bytes` to `conn` as a driver reading a socket does.
fn lend(conn: &mut Connection, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let want = bytes.len().min(READ_SIZE);
        let buf = conn.recv_buffer(want);
        assert!(
            buf.len() >= want,
            "lent {} bytes, asked for {want}",
            buf.len()
        );
        let n = want.min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        conn.commit(n);
        bytes = &bytes[n..];
    }
}

fn transfer(from: &mut Side, to: &mut Side, n: usize, how: Delivery) {
    drain(from, to);
    let mut left = n;
    while left > 0 && from.conn.output_len() > 0 {
        let taken = match how {
            Delivery::Feed | Delivery::Lend => {
                let run = from.conn.pending_output();
                let k = left.min(run.len());
                from.checker.push(&run[..k]);
                if how == Delivery::Feed {
                    to.conn.feed(&run[..k]);
                } else {
                    lend(&mut to.conn, &run[..k]);
                }
                k
            }
            Delivery::Vectored => {
                let mut runs: [&[u8]; 4] = [&[]; 4];
                let count = from.conn.output_chunks(&mut runs);
                let mut k = 0;
                for run in &runs[..count] {
                    let t = (left - k).min(run.len());
                    from.checker.push(&run[..t]);
                    lend(&mut to.conn, &run[..t]);
                    k += t;
                    if k == left {
                        break;
                    }
                }
                k
            }
        };
        assert!(taken > 0, "pending output with an empty first run");
        from.conn.consume_output(taken);
        left -= taken;
        drain(to, from);
    }
    drain(from, to);
}

/// Takes `to`'s events and checks them against what `from` sent.
fn drain(to: &mut Side, from: &mut Side) {
    while let Some(event) = to.conn.poll_event() {
        match event {
            Event::Message(m) => {
                if let Message::Text(t) = &m {
                    // `Utf8Bytes` derefs to `str` unchecked: the connection's
                    // validator is the only gate.
                    assert!(core::str::from_utf8(t.as_bytes()).is_ok());
                }
                expect_message(to, from, m.kind(), m.as_bytes());
            }
            Event::MessageChunk { kind, data, fin } => {
                let (k, mut buf) = to.partial.take().unwrap_or((kind, Vec::new()));
                assert_eq!(k, kind);
                buf.extend_from_slice(&data);
                if fin {
                    expect_message(to, from, kind, &buf);
                } else {
                    to.partial = Some((kind, buf));
                }
            }
            Event::Ping(p) => {
                if from.pings.front().is_some_and(|f| f[..] == p[..]) {
                    from.pings.pop_front();
                } else {
                    assert!(
                        from.keep_alive && p.len() == 8,
                        "unexpected ping {p:02x?}, expected {:02x?}",
                        from.pings.front()
                    );
                }
            }
            Event::Pong(p) => assert!(p.len() <= MAX_CONTROL_PAYLOAD),
            Event::Close { code, reason } => {
                assert!(
                    from.sent.is_empty(),
                    "close arrived before {} messages",
                    from.sent.len()
                );
                if let Some((c, r)) = &from.closed_with {
                    if from.errors.is_empty() {
                        assert_eq!((code, &reason), (*c, r), "close code or reason changed");
                    }
                }
                to.close_event = Some((code, reason));
            }
            Event::Error(e) => {
                assert!(
                    matches!(e, Error::KeepAliveTimeout | Error::CloseTimeout),
                    "two correct peers failed with {e:?}"
                );
                to.errors.push(e);
            }
        }
    }
}

fn expect_message(to: &mut Side, from: &mut Side, kind: MessageKind, bytes: &[u8]) {
    let Some((k, b)) = from.sent.pop_front() else {
        panic!(
            "received a {kind:?} message of {} bytes nobody sent",
            bytes.len()
        );
    };
    assert_eq!(k, kind, "message kind changed");
    assert!(
        b == bytes,
        "message of {} bytes arrived as {} different bytes",
        b.len(),
        bytes.len()
    );
    to.received += 1;
}
