//! Shared pieces of the fuzz targets: a heap counter for memory bounds and
//! the drivers of the connection targets (kept here so that regression
//! inputs can be replayed from ordinary tests too). The checker of the
//! bytes a connection writes and the wired pair with virtual time live in
//! `ws_proto::testing` (feature `testing`), shared with ws-proto's tests.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use ws_proto::close::CloseCode;
use ws_proto::connection::{
    Config, Connection, Error, Event, Message, MessageKind, SendError, State, Utf8Bytes,
};
use ws_proto::frame::{MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use ws_proto::mask::apply_mask;
use ws_proto::testing::{
    for_each_run_after, frame_wire_len, message_wire_len, Delivery, End, Pair, WireChecker,
};
use ws_proto::utf8::Utf8Validator;
use ws_proto::Role;

// ----- heap accounting ---------------------------------------------------

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes so a target can assert that a
/// connection's memory stays within what its configuration allows.
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; only a counter is
// updated on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

/// Bytes currently allocated (meaningful only when [`Counting`] is the
/// global allocator).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// `WS_FUZZ_DEBUG=1` prints the decoded input of the connection targets,
/// to read a crash.
fn debug_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("WS_FUZZ_DEBUG").is_some())
}

// ----- configuration -------------------------------------------------------

/// Small limits, so that the fuzzer reaches them with small inputs.
#[derive(Arbitrary, Debug, Clone)]
pub struct FuzzConfig {
    max_frame: u16,
    max_message: u16,
    max_queue: u16,
    fragment: Option<u16>,
    keep_alive_interval_ms: Option<u16>,
    keep_alive_timeout_ms: Option<u16>,
    close_timeout_ms: u16,
    stream: bool,
    receive_buffer: u16,
}

impl FuzzConfig {
    /// The connection configuration.
    pub fn config(cfg: &Option<FuzzConfig>) -> Config {
        let ms = |v: u16| Duration::from_millis(u64::from(v));
        match cfg {
            // An empty input gets a plain configuration that accepts the RFC
            // examples, so that raw seed streams exercise the normal paths.
            None => Config {
                max_frame_size: 1024,
                max_message_size: 4096,
                max_send_queue: 2048,
                fragment_size: None,
                receive_buffer_size: 4096,
                keep_alive_interval: None,
                keep_alive_timeout: None,
                close_timeout: Duration::from_secs(1),
                stream_messages: false,
                ..Config::default()
            },
            Some(c) => Config {
                max_frame_size: usize::from(c.max_frame % 2048),
                max_message_size: usize::from(c.max_message % 4096),
                max_send_queue: usize::from(c.max_queue % 4096),
                fragment_size: c.fragment.map(|f| usize::from(f % 1024)),
                receive_buffer_size: usize::from(c.receive_buffer % 8192),
                keep_alive_interval: c.keep_alive_interval_ms.map(ms),
                keep_alive_timeout: c.keep_alive_timeout_ms.map(ms),
                close_timeout: ms(c.close_timeout_ms),
                stream_messages: c.stream,
                ..Config::default()
            },
        }
    }
}

// ----- one connection against arbitrary bytes ---------------------------------

/// A frame for the connection to receive: valid for its role unless the
/// rarely-set flags say otherwise, so the fuzzer gets deep into the state
/// machine and still covers every kind of violation.
#[derive(Arbitrary, Debug)]
pub struct ArbFrame<'a> {
    fin: bool,
    opcode: u8,
    rsv: u8,
    key: [u8; 4],
    wrong_masking: u8,
    payload: &'a [u8],
}

impl ArbFrame<'_> {
    fn encode(&self, receiver: Role, out: &mut Vec<u8>) {
        const OPS: [u8; 6] = [0x0, 0x1, 0x2, 0x8, 0x9, 0xA];
        let opcode = if self.opcode >= 0xF0 {
            self.opcode & 0xF
        } else {
            OPS[usize::from(self.opcode) % OPS.len()]
        };
        let rsv = if self.rsv >= 0xF8 { self.rsv & 7 } else { 0 };
        let is_control = opcode >= 8;
        let mut payload = self.payload;
        if is_control && self.wrong_masking != 0xFE {
            payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        }
        let fin = self.fin || (is_control && self.wrong_masking != 0xFD);
        let masked = (receiver == Role::Server) != (self.wrong_masking == 0xFF);
        let len = payload.len() as u64;
        out.push((u8::from(fin) << 7) | (rsv << 4) | opcode);
        let mbit = if masked { 0x80 } else { 0 };
        if len < 126 {
            out.push(mbit | len as u8);
        } else if len <= 0xFFFF {
            out.push(mbit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(mbit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
        let start = if masked {
            out.extend_from_slice(&self.key);
            out.len()
        } else {
            out.len()
        };
        out.extend_from_slice(payload);
        if masked {
            apply_mask(&mut out[start..], self.key, 0);
        }
    }
}

/// One step of the driver of a single connection.
#[derive(Arbitrary, Debug)]
pub enum Op<'a> {
    /// Feed up to `n % 1024 + 1` bytes of the raw stream with `feed`.
    Feed(u16),
    /// Read up to `n % 1024 + 1` bytes of the raw stream straight into the
    /// connection's buffer, as a driver reading a socket does:
    /// `recv_buffer(min_len % 1024 + 1)`, copy, `commit`.
    Read {
        n: u16,
        min_len: u16,
    },
    /// Feed one encoded frame, with `feed` or (when `lend`) through
    /// `recv_buffer` and `commit`.
    FeedFrame {
        frame: ArbFrame<'a>,
        lend: bool,
    },
    /// Let time pass, in milliseconds, and call `handle_timeout`.
    Advance(u16),
    SendText(&'a str),
    SendBinary(&'a [u8]),
    /// `send(&Message)`: a payload in `Bytes` that the caller keeps.
    SendShared {
        text: bool,
        data: &'a str,
    },
    /// One piece of a message sent with `send_fragment`. Text pieces are
    /// whole strings, so the message is UTF-8 as a whole, as the caller
    /// must ensure.
    Fragment {
        text: bool,
        data: &'a str,
        fin: bool,
    },
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    Close(u16, &'a str),
    /// The transport wrote `n` bytes of the pending output.
    Consume(u16),
    /// A vectored write: `output_chunks` into `slots % 4 + 1` slices, of
    /// which the transport took up to `n` bytes.
    WriteVectored {
        n: u16,
        slots: u8,
    },
    Eof,
}

/// Largest chunk a `Feed` op hands over.
const MAX_FEED: usize = 1024;

/// Largest control frame on the wire: a 2-byte header, a masking key and
/// 125 bytes of payload.
const MAX_CONTROL_FRAME: usize = 2 + 4 + MAX_CONTROL_PAYLOAD;

/// A keep-alive ping on the wire (8-byte counter, masked by a client).
const KEEP_ALIVE_PING: usize = 2 + 4 + 8;

/// Drives one connection of `role` with `data`: a 2-byte little-endian
/// length, that many bytes of raw input from the peer, then an arbitrary
/// configuration and sequence of [`Op`]s. Whatever input remains after the
/// ops is fed at the end. Panics on any broken invariant.
pub fn run_single(role: Role, data: &[u8]) {
    let (wire, rest) = match data {
        [a, b, rest @ ..] => {
            let n = usize::from(u16::from_le_bytes([*a, *b])).min(rest.len());
            rest.split_at(n)
        }
        _ => (data, &[][..]),
    };
    let mut u = Unstructured::new(rest);
    let cfg: Option<FuzzConfig> = u.arbitrary().unwrap_or(None);
    let ops: Vec<Op> = u
        .arbitrary_iter()
        .map(|it| it.filter_map(Result::ok).collect())
        .unwrap_or_default();
    let config = FuzzConfig::config(&cfg);
    if debug_enabled() {
        eprintln!("wire: {wire:02x?}\nconfig: {config:#?}\nops: {ops:#?}");
    }
    let mut h = Single::new(role, config);
    let mut wire = wire;
    for op in &ops {
        h.op(op, &mut wire);
    }
    while !wire.is_empty() {
        let n = wire.len().min(MAX_FEED);
        h.feed(&wire[..n]);
        wire = &wire[n..];
    }
    h.finish();
}

/// What a send asks of the connection, to check its answer against.
struct SendCheck {
    /// Bytes its frames take on the wire.
    wire: usize,
    /// A control payload within 125 bytes (always true for data).
    valid: bool,
    /// A complete data message, refused while a fragmented one is unfinished.
    whole_message: bool,
    /// A `send_fragment` piece: its kind and `fin`.
    fragment: Option<(MessageKind, bool)>,
    /// Output queued before the send.
    before: usize,
}

struct Single {
    conn: Connection,
    config: Config,
    checker: WireChecker,
    /// Bytes of the output queue already given to the checker.
    seen: usize,
    now: Duration,
    eof: bool,
    pending_at_eof: Option<usize>,
    /// Heap the harness itself holds while the connection runs.
    scratch: usize,
    errored: bool,
    close_event: bool,
    /// The largest message or control frame accepted into an empty queue
    /// (which takes any one), framed.
    biggest_into_empty: usize,
    /// The most receive-buffer space one feed or read asked for.
    biggest_feed: usize,
    heap_base: usize,
    /// The latest ping received and not yet answered (§5.5.2; only the
    /// latest needs an answer, §5.5.3), and the pongs already matched.
    owed_pong: Option<([u8; 125], usize)>,
    pongs_matched: u64,
    pongs_before_poll: u64,
    close_before_poll: bool,
    /// A streamed message being received: its kind, size and UTF-8 state.
    stream: Option<(MessageKind, usize, Utf8Validator)>,
    /// The kind of the message being sent with `send_fragment`, if any.
    sending: Option<MessageKind>,
    frame_scratch: Vec<u8>,
}

impl Single {
    fn new(role: Role, config: Config) -> Self {
        let checker = WireChecker::new(role, config.fragment_size);
        let frame_scratch = Vec::with_capacity(0);
        let heap_base = live_bytes();
        let conn = match role {
            Role::Server => Connection::server(config.clone()),
            Role::Client => Connection::client(config.clone(), [7; 32]),
        };
        Single {
            conn,
            config,
            checker,
            seen: 0,
            now: Duration::ZERO,
            eof: false,
            pending_at_eof: None,
            scratch: 0,
            errored: false,
            close_event: false,
            biggest_into_empty: 0,
            biggest_feed: 0,
            heap_base,
            owed_pong: None,
            pongs_matched: 0,
            pongs_before_poll: 0,
            close_before_poll: false,
            stream: None,
            sending: None,
            frame_scratch,
        }
    }

    fn masked(&self) -> bool {
        self.conn.role() == Role::Client
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.biggest_feed = self.biggest_feed.max(bytes.len());
        self.conn.feed(bytes);
        self.settle();
    }

    /// Hands `bytes` over as a driver reading a socket does: into the space
    /// `recv_buffer(min_len)` lends, then `commit`, polling in between.
    fn read(&mut self, mut bytes: &[u8], min_len: usize) {
        self.biggest_feed = self.biggest_feed.max(min_len);
        loop {
            let buf = self.conn.recv_buffer(min_len);
            assert!(
                buf.len() >= min_len,
                "lent {} bytes, asked for {min_len}",
                buf.len()
            );
            let n = bytes.len().min(buf.len());
            buf[..n].copy_from_slice(&bytes[..n]);
            self.conn.commit(n);
            bytes = &bytes[n..];
            self.settle();
            if bytes.is_empty() {
                break;
            }
        }
    }

    /// The transport wrote `n` bytes.
    fn consume(&mut self, n: usize) {
        self.conn.consume_output(n);
        self.seen -= n;
        if let Some(p) = &mut self.pending_at_eof {
            *p -= n;
        }
        self.settle();
    }

    fn data_check(&self, len: usize, fragment: Option<(MessageKind, bool)>) -> SendCheck {
        SendCheck {
            wire: message_wire_len(len, self.config.fragment_size, self.masked()),
            valid: true,
            whole_message: fragment.is_none(),
            fragment,
            before: self.conn.output_len(),
        }
    }

    fn control_check(&self, len: usize) -> SendCheck {
        SendCheck {
            wire: frame_wire_len(len, self.masked()),
            valid: len <= MAX_CONTROL_PAYLOAD,
            whole_message: false,
            fragment: None,
            before: self.conn.output_len(),
        }
    }

    fn op(&mut self, op: &Op, wire: &mut &[u8]) {
        match op {
            Op::Feed(n) => {
                let n = (usize::from(*n) % MAX_FEED + 1).min(wire.len());
                let (now, later) = wire.split_at(n);
                *wire = later;
                self.feed(now);
            }
            Op::Read { n, min_len } => {
                let n = (usize::from(*n) % MAX_FEED + 1).min(wire.len());
                let (now, later) = wire.split_at(n);
                *wire = later;
                self.read(now, usize::from(*min_len) % MAX_FEED + 1);
            }
            Op::FeedFrame { frame, lend } => {
                let mut buf = core::mem::take(&mut self.frame_scratch);
                buf.clear();
                frame.encode(self.conn.role(), &mut buf);
                self.scratch = buf.capacity();
                // Frames longer than a feed are handed over in pieces, as
                // a transport would.
                for chunk in buf.chunks(MAX_FEED) {
                    if *lend {
                        self.read(chunk, chunk.len());
                    } else {
                        self.feed(chunk);
                    }
                }
                self.frame_scratch = buf;
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(*ms));
                self.conn.handle_timeout(self.now);
                self.settle();
            }
            Op::SendText(t) => {
                let check = self.data_check(t.len(), None);
                let r = self.conn.send_text(t);
                self.after_send(r, check);
            }
            Op::SendBinary(b) => {
                let check = self.data_check(b.len(), None);
                let r = self.conn.send_binary(b);
                self.after_send(r, check);
            }
            Op::SendShared { text, data } => {
                let check = self.data_check(data.len(), None);
                let message = if *text {
                    Message::Text(Utf8Bytes::from(*data))
                } else {
                    Message::Binary(Bytes::copy_from_slice(data.as_bytes()))
                };
                let r = self.conn.send(&message);
                // A client masks a copy: the caller's bytes are untouched.
                assert_eq!(
                    message.as_bytes(),
                    data.as_bytes(),
                    "send changed the message"
                );
                drop(message);
                self.after_send(r, check);
            }
            Op::Fragment { text, data, fin } => {
                let kind = if *text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let check = self.data_check(data.len(), Some((kind, *fin)));
                let r = self.conn.send_fragment(kind, data.as_bytes(), *fin);
                self.after_send(r, check);
            }
            Op::Ping(p) => {
                let check = self.control_check(p.len());
                let r = self.conn.send_ping(p);
                self.after_send(r, check);
            }
            Op::Pong(p) => {
                let check = self.control_check(p.len());
                let r = self.conn.send_pong(p);
                self.after_send(r, check);
            }
            Op::Close(code, reason) => {
                let code = CloseCode::new(*code);
                let before = self.conn.state();
                let r = self.conn.close(code, reason);
                match r {
                    Ok(()) => {
                        assert!(code.is_valid_on_wire());
                        assert_ne!(self.conn.state(), State::Open);
                    }
                    Err(SendError::InvalidCloseCode(c)) => {
                        assert!(!c.is_valid_on_wire());
                        assert_eq!(self.conn.state(), before);
                    }
                    Err(SendError::Closed) => {}
                    Err(e) => panic!("close failed with {e:?}"),
                }
                self.settle();
            }
            Op::Consume(n) => {
                let n = usize::from(*n).min(self.conn.output_len());
                self.consume(n);
            }
            Op::WriteVectored { n, slots } => {
                let mut runs: [&[u8]; 4] = [&[]; 4];
                let k = usize::from(*slots) % runs.len() + 1;
                let filled = self.conn.output_chunks(&mut runs[..k]);
                assert!(filled <= k);
                let offered: usize = runs[..filled].iter().map(|r| r.len()).sum();
                assert!(offered <= self.conn.output_len());
                let n = usize::from(*n).min(offered);
                self.consume(n);
            }
            Op::Eof => {
                self.conn.handle_eof();
                self.eof = true;
                // Input fed before EOF is still processed (a close frame in
                // it is answered); once every event is drained the
                // connection is closed, cleanly or with 1006.
                self.settle();
                assert_eq!(
                    self.conn.state(),
                    State::Closed,
                    "open after EOF once every event was drained"
                );
                // From here on nothing more may be queued, and the
                // checker's view of the stream ends.
                self.seen = self.conn.output_len();
                self.pending_at_eof = Some(self.seen);
            }
        }
    }

    fn after_send(&mut self, r: Result<(), SendError>, c: SendCheck) {
        let after = self.conn.output_len();
        let max = self.config.max_send_queue;
        // §5.4: no data message may start inside another.
        let conflict = (c.whole_message && self.sending.is_some())
            || c.fragment
                .is_some_and(|(k, _)| self.sending.is_some_and(|s| s != k));
        if r.is_err() {
            assert_eq!(after, c.before, "a refused send queued bytes: {r:?}");
        }
        match r {
            Ok(()) => {
                assert!(c.valid, "an over-long control payload was accepted");
                assert!(!conflict, "a data message was accepted inside another");
                assert_eq!(self.conn.state(), State::Open, "sent while not open");
                assert_eq!(
                    after,
                    c.before + c.wire,
                    "queued bytes differ from the size of the frames"
                );
                if c.before == 0 {
                    // An empty queue takes any one message.
                    self.biggest_into_empty = self.biggest_into_empty.max(c.wire);
                } else {
                    assert!(
                        after <= max,
                        "the queue grew to {after} bytes past max_send_queue {max}"
                    );
                }
                if let Some((kind, fin)) = c.fragment {
                    self.sending = (!fin).then_some(kind);
                }
            }
            Err(SendError::Closed) => {
                assert_ne!(
                    self.conn.state(),
                    State::Open,
                    "send refused as closed on an open connection"
                );
            }
            Err(SendError::QueueFull) => {
                assert!(c.valid && !conflict, "QueueFull hides another refusal");
                assert!(
                    c.before > 0 && c.before + c.wire > max,
                    "refused {} bytes with {} of {max} queued",
                    c.wire,
                    c.before
                );
            }
            Err(SendError::ControlTooLong) => assert!(!c.valid),
            Err(SendError::MessageInProgress) => {
                assert!(c.whole_message && self.sending.is_some())
            }
            Err(SendError::KindMismatch) => assert!(c.fragment.is_some() && conflict),
            Err(e) => panic!("send failed with {e:?}"),
        }
        self.settle();
    }

    /// Drains events and checks every invariant after a step.
    fn settle(&mut self) {
        loop {
            self.pongs_before_poll = self.checker.pongs;
            self.close_before_poll = self.checker.close.is_some();
            let Some(event) = self.conn.poll_event() else {
                break;
            };
            self.check_output();
            self.on_event(event);
        }
        self.check_output();
        if self.errored {
            assert_eq!(
                self.conn.state(),
                State::Closed,
                "not closed after an error"
            );
            assert_eq!(self.conn.poll_timeout(), None, "timer armed after an error");
        }
        if let Some(at_eof) = self.pending_at_eof {
            assert!(self.conn.output_len() <= at_eof, "output queued after EOF");
        }
        // The output queue: what the limit admits (max_send_queue, or one
        // message or control frame into an empty queue), plus the frames
        // that may go over it: one close frame and the keep-alive ping
        // that arms the pong deadline.
        let pending = self.conn.output_len();
        let admitted = self
            .config
            .max_send_queue
            .max(self.biggest_into_empty)
            .max(MAX_CONTROL_FRAME);
        let out_bound = admitted + MAX_CONTROL_FRAME + KEEP_ALIVE_PING;
        assert!(
            pending <= out_bound,
            "{pending} bytes queued, bound {out_bound} ({:?})",
            self.config
        );
        // The heap. Receive: the buffer holds one partial frame (a
        // single-frame message assembled in place, up to 256 KiB, or a
        // control frame) plus one feed or read, at least its initial size;
        // doubled for geometric growth, and doubled again because a
        // deferred pong (a slice of the old buffer) keeps the previous
        // buffer alive. Reassembly: the message limit, doubled for growth.
        // Output: the queue bound, doubled for growth, plus the queue's
        // index of runs (two per frame sent by reference, each at least
        // 512 bytes).
        let initial = self.config.receive_buffer_size.max(64);
        let in_place = self.config.max_frame_size.min(256 << 10);
        let lent =
            initial.max(MAX_HEADER_LEN + in_place.max(MAX_CONTROL_PAYLOAD) + self.biggest_feed);
        let heap = live_bytes().saturating_sub(self.heap_base + self.scratch);
        let heap_bound =
            4 * lent + 2 * self.config.max_message_size + 2 * out_bound + out_bound / 4 + 16384;
        assert!(
            heap <= heap_bound,
            "connection holds {heap} bytes, bound {heap_bound} ({:?})",
            self.config
        );
    }

    fn check_output(&mut self) {
        let total = self.conn.output_len();
        if total > self.seen {
            if !self.eof {
                let checker = &mut self.checker;
                for_each_run_after(&self.conn, self.seen, |run| checker.push(run));
            }
            self.seen = total;
        }
        self.match_pongs();
    }

    fn match_pongs(&mut self) {
        if self.checker.pongs > self.pongs_matched {
            self.pongs_matched = self.checker.pongs;
            let (p, n) = &self.checker.last_pong;
            if self.owed_pong.is_some_and(|(q, m)| q[..m] == p[..*n]) {
                self.owed_pong = None;
            }
        }
        // After our close frame no pong is due (and none may follow it).
        if self.checker.close.is_some() {
            self.owed_pong = None;
        }
    }

    fn on_event(&mut self, event: Event) {
        assert!(!self.errored, "event after an error: {event:?}");
        match event {
            Event::Message(m) => {
                assert!(!self.config.stream_messages);
                assert!(m.as_bytes().len() <= self.config.max_message_size);
                if let Message::Text(t) = &m {
                    // `Utf8Bytes` derefs to `str` without a second check:
                    // the connection's validator is the only gate.
                    assert!(
                        core::str::from_utf8(t.as_bytes()).is_ok(),
                        "delivered text that is not UTF-8"
                    );
                }
            }
            Event::MessageChunk { kind, data, fin } => {
                assert!(self.config.stream_messages);
                let (k, size, mut utf8) =
                    self.stream
                        .take()
                        .unwrap_or((kind, 0, Utf8Validator::new()));
                assert_eq!(k, kind, "chunk kind changed inside a message");
                let size = size + data.len();
                assert!(size <= self.config.max_message_size);
                if kind == MessageKind::Text {
                    utf8.feed(&data).expect("delivered invalid UTF-8");
                    if fin {
                        utf8.finish().expect("delivered a truncated code point");
                    }
                }
                if !fin {
                    self.stream = Some((kind, size, utf8));
                }
            }
            Event::Ping(p) => {
                let mut owed = [0u8; 125];
                owed[..p.len()].copy_from_slice(&p);
                self.owed_pong = Some((owed, p.len()));
                // Usually the pong was queued while the ping was read, and
                // `check_output` has already seen it.
                let (q, n) = &self.checker.last_pong;
                if self.checker.pongs > self.pongs_before_poll && q[..*n] == p[..] {
                    self.owed_pong = None;
                }
                self.match_pongs();
            }
            Event::Pong(p) => assert!(p.len() <= MAX_CONTROL_PAYLOAD),
            Event::Close { code, reason } => {
                assert!(!self.close_event);
                self.close_event = true;
                assert!(reason.len() <= 123);
                assert!(code.is_valid_on_wire() || code == CloseCode::NO_STATUS_RECEIVED);
                assert_ne!(self.conn.state(), State::Open);
                // Our close frame (the reply, or the one we sent first) is queued.
                if !self.eof {
                    assert!(self.checker.close.is_some(), "no close frame after Close");
                }
            }
            Event::Error(e) => {
                self.errored = true;
                assert_eq!(self.conn.state(), State::Closed);
                match e {
                    Error::AbnormalClosure => assert!(self.eof),
                    Error::CloseTimeout => assert!(self.checker.close.is_some() || self.eof),
                    _ => {
                        if !self.eof {
                            let code = self
                                .checker
                                .close
                                .unwrap_or_else(|| panic!("{e:?} without a close frame"));
                            assert!(code.is_some_and(|c| c.is_valid_on_wire()) || code.is_none());
                            // A failure that sent the close frame itself
                            // sends its own code.
                            if !self.close_before_poll {
                                assert_eq!(code, Some(e.close_code()), "{e:?}");
                            }
                        }
                        assert!(e.close_code().is_valid_on_wire(), "{e:?}");
                    }
                }
                let before = self.conn.output_len();
                for r in [
                    self.conn.send_text("x"),
                    self.conn.send(&Message::Binary(Bytes::new())),
                    self.conn.send_fragment(MessageKind::Binary, b"", true),
                    self.conn.send_ping(b""),
                    self.conn.close(CloseCode::NORMAL, ""),
                ] {
                    assert_eq!(r, Err(SendError::Closed), "send accepted after {e:?}");
                }
                assert_eq!(self.conn.output_len(), before);
            }
        }
    }

    fn finish(&mut self) {
        self.settle();
        // Writing everything may release a deferred pong: write until idle.
        for _ in 0..4 {
            let n = self.conn.output_len();
            self.conn.consume_output(n);
            self.seen = 0;
            if let Some(p) = &mut self.pending_at_eof {
                *p -= n;
            }
            self.settle();
        }
        assert!(self.conn.output_len() == 0 || self.errored);
        if self.conn.state() == State::Closed {
            assert!(self.conn.should_close_transport() || self.conn.output_len() > 0);
        }
        if !self.eof && self.checker.close.is_none() {
            assert!(self.checker.at_boundary(), "output ends inside a frame");
            assert!(
                self.owed_pong.is_none(),
                "a ping was never answered: {:02x?}",
                self.owed_pong.map(|(p, n)| p[..n].to_vec())
            );
        }
    }
}

// ----- two connections wired together --------------------------------------

/// A message body: literal bytes or a long generated run (to reach the
/// 16- and 64-bit length forms without huge inputs).
#[derive(Arbitrary, Debug)]
pub enum Body<'a> {
    Bytes(&'a [u8]),
    Text(&'a str),
    Run { len: u32, seed: u8, text: bool },
}

/// How a [`PairOp::Deliver`] moves bytes.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum How {
    Feed,
    Lend,
    Vectored,
}

/// One step of the wired pair (see `ws_proto::testing::Pair`).
#[derive(Arbitrary, Debug)]
pub enum PairOp<'a> {
    /// A whole message; `shared` sends it with `send(&Message)`.
    Send {
        from_client: bool,
        body: Body<'a>,
        shared: bool,
    },
    /// A message, or part of one, sent in `pieces % 4 + 1` calls of
    /// `send_fragment`.
    Pieces {
        from_client: bool,
        body: Body<'a>,
        pieces: u8,
        fin: bool,
    },
    Ping {
        from_client: bool,
        payload: &'a [u8],
    },
    Close {
        from_client: bool,
        code: u16,
        reason: &'a str,
    },
    Advance(u16),
    /// Deliver up to `n` bytes of one side's output to the other.
    Deliver {
        from_client: bool,
        n: u16,
        how: How,
    },
}

/// Per-side settings of the pair.
#[derive(Arbitrary, Debug)]
pub struct PairSide {
    fragment: Option<u16>,
    max_queue: u16,
    receive_buffer: u16,
    keep_alive_interval_ms: Option<u16>,
    keep_alive_timeout_ms: Option<u16>,
    close_timeout_ms: u16,
    stream: bool,
}

/// Largest generated message; receivers accept more than this.
const MAX_RUN: usize = 1 << 17;

impl PairSide {
    fn config(&self) -> Config {
        let ms = |v: u16| Duration::from_millis(u64::from(v));
        Config {
            max_frame_size: 2 * MAX_RUN,
            max_message_size: 2 * MAX_RUN,
            max_send_queue: usize::from(self.max_queue) * 8,
            fragment_size: self.fragment.map(usize::from),
            receive_buffer_size: usize::from(self.receive_buffer),
            keep_alive_interval: self.keep_alive_interval_ms.map(ms),
            keep_alive_timeout: self.keep_alive_timeout_ms.map(ms),
            close_timeout: ms(self.close_timeout_ms),
            stream_messages: self.stream,
            ..Config::default()
        }
    }
}

fn body_bytes(body: &Body) -> (MessageKind, Vec<u8>) {
    match body {
        Body::Bytes(b) => (MessageKind::Binary, b.to_vec()),
        Body::Text(t) => (MessageKind::Text, t.as_bytes().to_vec()),
        Body::Run { len, seed, text } => {
            // Mostly short messages, so that one input holds many; now and
            // then one past 64 KiB for the 64-bit length form.
            let len = if *len >= 0xF000_0000 {
                *len as usize % MAX_RUN
            } else {
                *len as usize % 2048
            };
            if *text {
                // Multi-byte characters so that fragments split code points.
                const CHARS: [&str; 5] = ["a", "é", "€", "😀", "z"];
                let mut s = String::with_capacity(len + 4);
                let mut i = usize::from(*seed);
                while s.len() < len {
                    s.push_str(CHARS[i % CHARS.len()]);
                    i = i.wrapping_mul(31).wrapping_add(7);
                }
                (MessageKind::Text, s.into_bytes())
            } else {
                let v = (0..len)
                    .map(|i| (i as u8).wrapping_mul(*seed).wrapping_add(i as u8 >> 3))
                    .collect();
                (MessageKind::Binary, v)
            }
        }
    }
}

fn end(from_client: bool) -> End {
    if from_client {
        End::Client
    } else {
        End::Server
    }
}

/// Drives a client and a server wired to each other (`ws_proto::testing::Pair`,
/// which checks every invariant as it goes): every message sent arrives
/// exactly once, in order, byte for byte (up to the point a timeout failed
/// the connection), a close leaves both sides closed, and the only failures
/// are timeouts.
pub fn run_pair(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(client_side) = PairSide::arbitrary(&mut u) else {
        return;
    };
    let Ok(server_side) = PairSide::arbitrary(&mut u) else {
        return;
    };
    let Ok(seed) = <[u8; 32]>::arbitrary(&mut u) else {
        return;
    };
    let ops: Vec<PairOp> = u
        .arbitrary_iter()
        .map(|it| it.filter_map(Result::ok).collect())
        .unwrap_or_default();
    let (cc, sc) = (client_side.config(), server_side.config());
    if debug_enabled() {
        eprintln!("client: {cc:#?}\nserver: {sc:#?}\nops: {ops:#?}");
    }
    let mut pair = Pair::new(cc, sc, seed);
    for op in &ops {
        // Refusals are checked against the connection's state by `Pair`.
        match op {
            PairOp::Send {
                from_client,
                body,
                shared,
            } => {
                let (kind, bytes) = body_bytes(body);
                let _ = pair.send(end(*from_client), kind, &bytes, *shared);
            }
            PairOp::Pieces {
                from_client,
                body,
                pieces,
                fin,
            } => {
                let (kind, bytes) = body_bytes(body);
                let pieces = usize::from(*pieces % 4) + 1;
                let _ = pair.send_pieces(end(*from_client), kind, &bytes, pieces, *fin);
            }
            PairOp::Ping {
                from_client,
                payload,
            } => {
                let _ = pair.ping(end(*from_client), payload);
            }
            PairOp::Close {
                from_client,
                code,
                reason,
            } => {
                let _ = pair.close(end(*from_client), CloseCode::new(*code), reason);
            }
            PairOp::Advance(ms) => pair.advance(Duration::from_millis(u64::from(*ms))),
            PairOp::Deliver {
                from_client,
                n,
                how,
            } => {
                let how = match how {
                    How::Feed => Delivery::Feed,
                    How::Lend => Delivery::Lend,
                    How::Vectored => Delivery::Vectored,
                };
                pair.deliver(end(*from_client), usize::from(*n), how);
            }
        }
    }
    pair.finish();
}

// ----- handshake helpers -------------------------------------------------------

/// Shared by the handshake and extension targets.
pub mod handshake {
    use ws_proto::extension::{parse_offers, ParamValue};
    use ws_proto::handshake::{HandshakeError, HeadScanner, Limits};

    /// Limits from one input byte: the defaults for 0, else small ones the
    /// fuzzer can reach.
    pub fn limits_from(flags: u8) -> Limits {
        if flags < 8 {
            return Limits::default();
        }
        Limits {
            max_head_bytes: usize::from(flags) * 4,
            max_line_bytes: usize::from(flags) * 2,
            max_headers: usize::from(flags % 16),
        }
    }

    /// Splits `bytes` into chunks whose sizes a tiny generator seeded by
    /// `seed` picks (seed 0: one chunk).
    pub fn chunks(seed: u8, bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
        let max = if seed == 0 {
            usize::MAX
        } else {
            usize::from(seed % 32) + 1
        };
        let mut state = u32::from(seed) | 1;
        let mut rest = bytes;
        core::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = if max == usize::MAX {
                rest.len()
            } else {
                (state >> 16) as usize % max + 1
            };
            let (now, later) = rest.split_at(n.min(rest.len()));
            rest = later;
            Some(now)
        })
    }

    /// Scans `bytes` at once and in chunks, asserts both agree (and that a
    /// decided scanner stays decided), and returns the answer.
    pub fn check_scanners(
        seed: u8,
        limits: Limits,
        bytes: &[u8],
    ) -> Result<Option<usize>, HandshakeError> {
        let once = HeadScanner::new(limits).scan(bytes);
        let mut scanner = HeadScanner::new(limits);
        let mut end = 0;
        let mut decided = None;
        for chunk in chunks(seed, bytes) {
            end += chunk.len();
            let r = scanner.scan(&bytes[..end]);
            if r != Ok(None) {
                decided = Some(r);
                break;
            }
        }
        match decided {
            Some(r) => {
                assert_eq!(r, once, "chunked scan disagrees after {end} bytes");
                assert_eq!(scanner.scan(bytes), once, "a decided scanner changed");
            }
            None => assert_eq!(once, Ok(None), "chunked scan never decided"),
        }
        if let Ok(Some(n)) = once {
            assert!(n <= limits.max_head_bytes);
            assert!(
                bytes[..n].ends_with(b"\r\n\r\n"),
                "head ends without an empty line"
            );
        }
        once
    }

    /// An offer as owned data: name, raw parameters, and each parameter's
    /// name and value (`true` when quoted, raw text).
    pub type Offer = (String, String, Vec<(String, Option<(bool, String)>)>);

    /// Reads every offer of `text`, checking the per-offer invariants, and
    /// the first error if any.
    pub fn collect_offers(text: &str) -> (Vec<Offer>, Option<String>) {
        let mut offers = Vec::new();
        let mut it = parse_offers(text);
        let mut error = None;
        for r in it.by_ref() {
            match r {
                Ok(o) => {
                    assert!(is_token(o.name()), "offer name {:?}", o.name());
                    let mut params = Vec::new();
                    for p in o.params() {
                        let (name, value) = p.expect("a yielded offer's parameter failed");
                        assert!(is_token(name), "parameter name {name:?}");
                        let value = value.map(|v| {
                            if let ParamValue::Token(t) = v {
                                assert!(is_token(t), "token value {t:?}");
                            }
                            assert_eq!(v.as_token().is_some(), is_token(v.raw()));
                            if v.as_token().is_some() {
                                assert!(v.is_token());
                            }
                            let _ = v.unescaped().count();
                            (matches!(v, ParamValue::Quoted(_)), v.raw().to_owned())
                        });
                        params.push((name.to_owned(), value));
                    }
                    offers.push((o.name().to_owned(), o.raw_params().to_owned(), params));
                }
                Err(e) => {
                    error = Some(format!("{e:?}"));
                    break;
                }
            }
        }
        assert!(
            it.next().is_none(),
            "offers continued after the end or an error"
        );
        (offers, error)
    }

    /// The offers written in a canonical form; the raw parameters of the
    /// result differ, so compare names and parameters only.
    pub fn canonical_offers(offers: &[Offer]) -> String {
        let mut out = String::new();
        for (i, (name, _, params)) in offers.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(name);
            for (p, v) in params {
                out.push_str("; ");
                out.push_str(p);
                match v {
                    None => {}
                    Some((false, t)) => {
                        out.push('=');
                        out.push_str(t);
                    }
                    Some((true, q)) => {
                        out.push_str("=\"");
                        out.push_str(q);
                        out.push('"');
                    }
                }
            }
        }
        out
    }

    fn is_token(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    }
}
