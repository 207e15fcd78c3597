//! Shared pieces of the fuzz targets: a checker for the bytes a connection
//! emits, a heap counter for memory bounds, and the drivers of the
//! connection targets (kept here so that regression inputs can be replayed
//! from ordinary tests too).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ws_proto::close::{parse_close_payload, truncate_reason, CloseCode};
use ws_proto::connection::{Config, Connection, Error, Event, MessageKind, SendError, State};
use ws_proto::frame::{FrameHeader, FrameRules, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use ws_proto::mask::apply_mask;
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

// ----- wire checker ------------------------------------------------------

/// Validates, incrementally, the byte stream one connection writes: every
/// frame must decode and pass `check` for the receiving peer's role, data
/// frames must follow the fragmentation rules and respect the sender's
/// fragment size, text must be UTF-8 across fragments, control frames must
/// be valid, and nothing may follow a close frame. It allocates nothing, so
/// it does not disturb heap accounting.
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
    /// Payloads of the ping frames written, most recent last (bounded).
    pub pings: VecDeque<([u8; 125], usize)>,
    /// Pong frames written, and the payload of the last one.
    pub pongs: u64,
    pub last_pong: ([u8; 125], usize),
    /// Bytes seen in total.
    pub bytes: u64,
}

impl WireChecker {
    /// A checker for what a connection of role `sender` writes.
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
            pings: VecDeque::new(),
            pongs: 0,
            last_pong: ([0; 125], 0),
            bytes: 0,
        }
    }

    /// No frame is half written.
    pub fn at_boundary(&self) -> bool {
        self.head_len == 0 && self.frame.is_none()
    }

    /// Takes the next bytes written. Panics on any violation.
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
            OpCode::Ping => {
                let mut p = [0u8; 125];
                p[..payload.len()].copy_from_slice(payload);
                if self.pings.len() == 64 {
                    self.pings.pop_front();
                }
                self.pings.push_back((p, payload.len()));
            }
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
                keep_alive_interval: None,
                keep_alive_timeout: None,
                close_timeout: Duration::from_secs(1),
                stream_messages: false,
            },
            Some(c) => Config {
                max_frame_size: usize::from(c.max_frame % 2048),
                max_message_size: usize::from(c.max_message % 4096),
                max_send_queue: usize::from(c.max_queue % 4096),
                fragment_size: c.fragment.map(|f| usize::from(f % 1024)),
                keep_alive_interval: c.keep_alive_interval_ms.map(ms),
                keep_alive_timeout: c.keep_alive_timeout_ms.map(ms),
                close_timeout: ms(c.close_timeout_ms),
                stream_messages: c.stream,
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
    /// Feed up to `n % 1024 + 1` bytes of the raw stream.
    Feed(u16),
    /// Feed one encoded frame.
    FeedFrame(ArbFrame<'a>),
    /// Let time pass, in milliseconds, and call `handle_timeout`.
    Advance(u16),
    SendText(&'a str),
    SendBinary(&'a [u8]),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    Close(u16, &'a str),
    /// The transport wrote `n` bytes of the pending output.
    Consume(u16),
    Eof,
}

/// Largest chunk a `Feed` op hands over.
const MAX_FEED: usize = 1024;

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

struct Single {
    conn: Connection,
    config: Config,
    checker: WireChecker,
    /// Bytes of `pending_output()` already given to the checker.
    seen: usize,
    now: Duration,
    eof: bool,
    pending_at_eof: Option<usize>,
    /// Heap the harness itself holds while the connection runs.
    scratch: usize,
    errored: bool,
    close_event: bool,
    /// The largest single send the connection accepted, framed.
    biggest_send: usize,
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
            biggest_send: 0,
            biggest_feed: 0,
            heap_base,
            owed_pong: None,
            pongs_matched: 0,
            pongs_before_poll: 0,
            close_before_poll: false,
            stream: None,
            frame_scratch,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.biggest_feed = self.biggest_feed.max(bytes.len());
        self.conn.feed(bytes);
        self.settle();
    }

    fn op(&mut self, op: &Op, wire: &mut &[u8]) {
        match op {
            Op::Feed(n) => {
                let n = (usize::from(*n) % MAX_FEED + 1).min(wire.len());
                let (now, later) = wire.split_at(n);
                *wire = later;
                self.feed(now);
            }
            Op::FeedFrame(frame) => {
                let mut buf = core::mem::take(&mut self.frame_scratch);
                buf.clear();
                frame.encode(self.conn.role(), &mut buf);
                self.scratch = buf.capacity();
                // Frames longer than a feed are handed over in pieces, as
                // a transport would.
                for chunk in buf.chunks(MAX_FEED) {
                    self.feed(chunk);
                }
                self.frame_scratch = buf;
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(*ms));
                self.conn.handle_timeout(self.now);
                self.settle();
            }
            Op::SendText(t) => {
                let r = self.conn.send_text(t);
                self.after_send(r, t.len(), true);
            }
            Op::SendBinary(b) => {
                let r = self.conn.send_binary(b);
                self.after_send(r, b.len(), true);
            }
            Op::Ping(p) => {
                let r = self.conn.send_ping(p);
                self.after_send(r, p.len(), p.len() <= MAX_CONTROL_PAYLOAD);
            }
            Op::Pong(p) => {
                let r = self.conn.send_pong(p);
                self.after_send(r, p.len(), p.len() <= MAX_CONTROL_PAYLOAD);
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
                let pending = self.conn.pending_output().len();
                let n = usize::from(*n).min(pending);
                self.conn.consume_output(n);
                self.seen -= n;
                if let Some(p) = &mut self.pending_at_eof {
                    *p -= n;
                }
                self.settle();
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
                self.seen = self.conn.pending_output().len();
                self.pending_at_eof = Some(self.seen);
            }
        }
    }

    fn after_send(&mut self, r: Result<(), SendError>, len: usize, valid: bool) {
        match r {
            Ok(()) => {
                assert!(valid, "an over-long control payload was accepted");
                assert_eq!(self.conn.state(), State::Open, "sent while not open");
                let frames = match self.config.fragment_size {
                    Some(f) => len.div_ceil(f.max(1)).max(1),
                    None => 1,
                };
                self.biggest_send = self.biggest_send.max(len + frames * MAX_HEADER_LEN);
            }
            Err(SendError::Closed) => {
                assert_ne!(
                    self.conn.state(),
                    State::Open,
                    "send refused as closed on an open connection"
                );
            }
            Err(SendError::QueueFull) => assert!(
                self.conn.pending_output().len() > self.config.max_send_queue,
                "queue full below its limit"
            ),
            Err(SendError::ControlTooLong) => assert!(!valid),
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
            assert!(
                self.conn.pending_output().len() <= at_eof,
                "output queued after EOF"
            );
        }
        // The output queue: the high-water mark, plus at most one accepted
        // message (framed) and a few control frames on top of it.
        let pending = self.conn.pending_output().len();
        let out_bound = self.config.max_send_queue + self.biggest_send + 4 * (MAX_HEADER_LEN + 125);
        assert!(
            pending <= out_bound,
            "{pending} bytes queued, bound {out_bound} ({:?})",
            self.config
        );
        // The heap: input (what one feed can leave behind, doubled for Vec
        // growth), the message being reassembled, and the output queue.
        let heap = live_bytes().saturating_sub(self.heap_base + self.scratch);
        let heap_bound = 2 * (4096 + MAX_HEADER_LEN + 125 + self.biggest_feed)
            + 2 * self.config.max_message_size
            + 2 * out_bound
            + 16384;
        assert!(
            heap <= heap_bound,
            "connection holds {heap} bytes, bound {heap_bound} ({:?})",
            self.config
        );
    }

    fn check_output(&mut self) {
        let pending = self.conn.pending_output();
        if pending.len() > self.seen {
            let new = &pending[self.seen..];
            self.seen = pending.len();
            if !self.eof {
                self.checker.push(new);
            }
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
                for r in [
                    self.conn.send_text("x"),
                    self.conn.send_ping(b""),
                    self.conn.close(CloseCode::NORMAL, ""),
                ] {
                    assert_eq!(r, Err(SendError::Closed), "send accepted after {e:?}");
                }
            }
        }
    }

    fn finish(&mut self) {
        self.settle();
        // Writing everything may release a deferred pong: write until idle.
        for _ in 0..4 {
            let n = self.conn.pending_output().len();
            self.conn.consume_output(n);
            self.seen = 0;
            if let Some(p) = &mut self.pending_at_eof {
                *p -= n;
            }
            self.settle();
        }
        assert!(self.conn.pending_output().is_empty() || self.errored);
        if self.conn.state() == State::Closed {
            assert!(self.conn.should_close_transport() || !self.conn.pending_output().is_empty());
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

/// One step of the wired pair.
#[derive(Arbitrary, Debug)]
pub enum PairOp<'a> {
    Send {
        from_client: bool,
        body: Body<'a>,
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
    },
}

/// Per-side settings of the pair.
#[derive(Arbitrary, Debug)]
pub struct PairSide {
    fragment: Option<u16>,
    max_queue: u16,
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
            keep_alive_interval: self.keep_alive_interval_ms.map(ms),
            keep_alive_timeout: self.keep_alive_timeout_ms.map(ms),
            close_timeout: ms(self.close_timeout_ms),
            stream_messages: self.stream,
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

struct Side {
    conn: Connection,
    checker: WireChecker,
    /// Messages this side sent that the other has not received yet.
    sent: VecDeque<(MessageKind, Vec<u8>)>,
    /// Application pings this side sent, not yet received by the other.
    pings: VecDeque<Vec<u8>>,
    /// The close this side's application started.
    closed_with: Option<(CloseCode, String)>,
    keepalive: bool,
    /// A streamed message being reassembled.
    partial: Option<(MessageKind, Vec<u8>)>,
    errors: Vec<Error>,
    close_event: Option<(CloseCode, String)>,
}

impl Side {
    fn new(conn: Connection, role: Role, config: &Config) -> Self {
        Side {
            conn,
            checker: WireChecker::new(role, config.fragment_size),
            sent: VecDeque::new(),
            pings: VecDeque::new(),
            closed_with: None,
            keepalive: config.keep_alive_interval.is_some(),
            partial: None,
            errors: Vec::new(),
            close_event: None,
        }
    }
}

/// Drives a client and a server wired to each other. Panics unless every
/// message sent arrives exactly once, in order, byte for byte (up to the
/// point a timeout failed the connection), unless a close leaves both sides
/// closed, and unless the only failures are timeouts.
pub fn run_pair(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(client_side) = PairSide::arbitrary(&mut u) else {
        return;
    };
    let Ok(server_side) = PairSide::arbitrary(&mut u) else {
        return;
    };
    let Ok(seed) = <[u8; 16]>::arbitrary(&mut u) else {
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
    let mut client = Side::new(Connection::client(cc.clone(), seed), Role::Client, &cc);
    let mut server = Side::new(Connection::server(sc.clone()), Role::Server, &sc);
    let mut now = Duration::ZERO;
    client.conn.handle_timeout(now);
    server.conn.handle_timeout(now);

    for op in &ops {
        match op {
            PairOp::Send { from_client, body } => {
                let side = if *from_client {
                    &mut client
                } else {
                    &mut server
                };
                let (kind, bytes) = body_bytes(body);
                let r = match kind {
                    MessageKind::Text => side
                        .conn
                        .send_text(core::str::from_utf8(&bytes).expect("generated text")),
                    MessageKind::Binary => side.conn.send_binary(&bytes),
                };
                match r {
                    Ok(()) => side.sent.push_back((kind, bytes)),
                    Err(SendError::Closed) => assert_ne!(side.conn.state(), State::Open),
                    Err(SendError::QueueFull) => {}
                    Err(e) => panic!("send failed: {e:?}"),
                }
            }
            PairOp::Ping {
                from_client,
                payload,
            } => {
                let side = if *from_client {
                    &mut client
                } else {
                    &mut server
                };
                match side.conn.send_ping(payload) {
                    Ok(()) => side.pings.push_back(payload.to_vec()),
                    Err(SendError::ControlTooLong) => assert!(payload.len() > 125),
                    Err(SendError::Closed) => assert_ne!(side.conn.state(), State::Open),
                    Err(SendError::QueueFull) => {}
                    Err(e) => panic!("ping failed: {e:?}"),
                }
            }
            PairOp::Close {
                from_client,
                code,
                reason,
            } => {
                let side = if *from_client {
                    &mut client
                } else {
                    &mut server
                };
                let code = CloseCode::new(*code);
                match side.conn.close(code, reason) {
                    Ok(()) => side.closed_with = Some((code, truncate_reason(reason).into())),
                    Err(SendError::InvalidCloseCode(_)) => assert!(!code.is_valid_on_wire()),
                    Err(SendError::Closed) => assert_ne!(side.conn.state(), State::Open),
                    Err(e) => panic!("close failed: {e:?}"),
                }
            }
            PairOp::Advance(ms) => {
                now += Duration::from_millis(u64::from(*ms));
                client.conn.handle_timeout(now);
                server.conn.handle_timeout(now);
                drain(&mut client, &mut server);
                drain(&mut server, &mut client);
            }
            PairOp::Deliver { from_client, n } => {
                let (from, to) = if *from_client {
                    (&mut client, &mut server)
                } else {
                    (&mut server, &mut client)
                };
                deliver(from, to, usize::from(*n));
            }
        }
    }

    // Let everything in flight arrive, close if nobody did, and let the
    // close handshake finish. No time passes, so no timer can interfere.
    pump(&mut client, &mut server);
    if client.conn.state() == State::Open && server.conn.state() == State::Open {
        client.conn.close(CloseCode::NORMAL, "done").unwrap();
        client.closed_with = Some((CloseCode::NORMAL, "done".into()));
        pump(&mut client, &mut server);
    }
    for (name, side) in [("client", &client), ("server", &server)] {
        assert_eq!(
            side.conn.state(),
            State::Closed,
            "{name} did not end closed"
        );
        assert!(side.conn.pending_output().is_empty());
        assert!(side.partial.is_none() || !side.errors.is_empty());
    }
    let failed = !client.errors.is_empty() || !server.errors.is_empty();
    if !failed {
        for (name, side) in [("client", &client), ("server", &server)] {
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

fn pump(a: &mut Side, b: &mut Side) {
    // Each round moves everything queued; a close handshake needs at most a
    // couple of rounds, and a stuck exchange would show up as a side left
    // open rather than as a hang.
    for _ in 0..8 {
        let moved = !a.conn.pending_output().is_empty() || !b.conn.pending_output().is_empty();
        deliver(a, b, usize::MAX);
        deliver(b, a, usize::MAX);
        if !moved {
            break;
        }
    }
}

fn deliver(from: &mut Side, to: &mut Side, n: usize) {
    drain(from, to);
    let pending = from.conn.pending_output();
    let n = n.min(pending.len());
    from.checker.push(&pending[..n]);
    to.conn.feed(&pending[..n]);
    from.conn.consume_output(n);
    drain(to, from);
    drain(from, to);
}

/// Takes `to`'s events and checks them against what `from` sent.
fn drain(to: &mut Side, from: &mut Side) {
    while let Some(event) = to.conn.poll_event() {
        match event {
            Event::Message(m) => {
                let (kind, bytes) = (m.kind(), m.as_bytes().to_vec());
                expect_message(from, kind, &bytes);
            }
            Event::MessageChunk { kind, data, fin } => {
                let (k, mut buf) = to.partial.take().unwrap_or((kind, Vec::new()));
                assert_eq!(k, kind);
                buf.extend_from_slice(&data);
                if fin {
                    expect_message(from, kind, &buf);
                } else {
                    to.partial = Some((kind, buf));
                }
            }
            Event::Ping(p) => {
                if from.pings.front().is_some_and(|f| f[..] == p[..]) {
                    from.pings.pop_front();
                } else {
                    assert!(
                        from.keepalive && p.len() == 8,
                        "unexpected ping {p:02x?}, expected {:02x?}",
                        from.pings.front()
                    );
                }
            }
            Event::Pong(p) => assert!(p.len() <= 125),
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

fn expect_message(from: &mut Side, kind: MessageKind, bytes: &[u8]) {
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
