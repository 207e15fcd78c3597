//! One client connection as a non-blocking state machine: connect, opening
//! handshake, keep `in_flight` messages outstanding and check every echo,
//! then the closing handshake.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use ws_proto::handshake::{parse_response, ClientRequest};

use crate::codec::{self, CodecError};
use crate::payload::{Pattern, Rng};

/// Phases of the whole run, shared by every connection.
pub const WARMUP: u8 = 0;
pub const MEASURE: u8 = 1;
pub const STOP: u8 = 2;

/// What every connection does.
pub struct Plan {
    pub host: &'static str,
    pub path: &'static str,
    pub size: usize,
    pub text: bool,
    pub in_flight: usize,
    /// Messages per connection; `None` sends until the run stops.
    pub messages: Option<u64>,
    /// After its messages, keep the connection open until the run stops.
    pub hold: bool,
    pub echo_timeout: Duration,
    pub connect_timeout: Duration,
    pub close_timeout: Duration,
}

/// Why a connection failed. Each one counts as an error of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// An echo whose bytes, length or opcode differ from what was sent, or
    /// that arrived with nothing in flight.
    Mismatch(String),
    /// No echo, handshake or close reply within its time limit.
    Timeout(String),
    /// The server broke RFC 6455 or closed while messages were in flight.
    Protocol(String),
    /// The opening handshake failed.
    Handshake(String),
    /// A socket error.
    Io(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Mismatch(m) => write!(f, "wrong echo: {m}"),
            Failure::Timeout(m) => write!(f, "timeout: {m}"),
            Failure::Protocol(m) => write!(f, "protocol: {m}"),
            Failure::Handshake(m) => write!(f, "handshake: {m}"),
            Failure::Io(m) => write!(f, "i/o: {m}"),
        }
    }
}

impl From<CodecError> for Failure {
    fn from(e: CodecError) -> Failure {
        Failure::Protocol(e.to_string())
    }
}

fn io(e: std::io::Error) -> Failure {
    Failure::Io(e.to_string())
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting(Instant),
    Handshake(Instant),
    Open,
    Closing(Instant),
    Done,
}

/// What a connection needs from its thread while handling an event.
pub struct Ctx<'a> {
    pub plan: &'a Plan,
    pub phase: u8,
    pub now: Instant,
    pub rng: &'a mut Rng,
    /// Round trips of echoes received while measuring, in nanoseconds.
    pub latency: &'a mut Histogram<u64>,
    /// Echoes received while measuring.
    pub measured: &'a mut u64,
    /// Echoes received in any phase.
    pub echoes: &'a mut u64,
}

/// The longest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

pub struct Client {
    stream: TcpStream,
    state: State,
    request: ClientRequest<'static>,
    pattern: Pattern,
    /// Received bytes not yet used are `rbuf[rstart..rend]`.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Bytes to send are `wbuf[wpos..]`.
    wbuf: Vec<u8>,
    wpos: usize,
    next_seq: u64,
    /// Sequence number and send time of each message not yet echoed.
    inflight: VecDeque<(u64, Instant)>,
    /// Bytes of a fragmented echo checked so far.
    partial: Option<usize>,
    /// Complete, verified echoes.
    pub echoed: u64,
}

impl Client {
    pub fn new(
        stream: TcpStream,
        nonce: [u8; 16],
        plan: &Plan,
        rng: &mut Rng,
        now: Instant,
    ) -> Client {
        Client {
            stream,
            state: State::Connecting(now),
            request: ClientRequest::new(plan.host, plan.path, nonce),
            pattern: Pattern::new(plan.size, plan.text, rng),
            rbuf: Vec::new(),
            rstart: 0,
            rend: 0,
            wbuf: Vec::new(),
            wpos: 0,
            next_seq: 0,
            inflight: VecDeque::with_capacity(plan.in_flight),
            partial: None,
            echoed: 0,
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Handles readiness of the socket.
    pub fn on_event(&mut self, readable: bool, ctx: &mut Ctx<'_>) -> Result<(), Failure> {
        if let State::Connecting(_) = self.state {
            if let Some(e) = self.stream.take_error().map_err(io)? {
                return Err(io(e));
            }
            match self.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(io(e)),
            }
            self.stream.set_nodelay(true).map_err(io)?;
            let mut head = [0u8; 1024];
            let n = self
                .request
                .write(&mut head)
                .map_err(|_| Failure::Handshake("request does not fit 1 KiB".into()))?;
            self.wbuf.extend_from_slice(&head[..n]);
            self.state = State::Handshake(ctx.now);
        }
        if readable {
            self.read(ctx)?;
        }
        self.flush()
    }

    /// Checks time limits and the run's phase; called periodically.
    pub fn tick(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Failure> {
        let plan = ctx.plan;
        match self.state {
            State::Connecting(t) | State::Handshake(t) if ctx.now - t > plan.connect_timeout => {
                return Err(Failure::Timeout(format!(
                    "connection not open after {:?}",
                    plan.connect_timeout
                )))
            }
            State::Open => {
                if let Some(&(seq, sent)) = self.inflight.front() {
                    if ctx.now - sent > plan.echo_timeout {
                        return Err(Failure::Timeout(format!(
                            "no echo of message {seq} after {:?}",
                            plan.echo_timeout
                        )));
                    }
                }
                self.fill(ctx);
            }
            State::Closing(t) if ctx.now - t > plan.close_timeout => {
                return Err(Failure::Timeout(format!(
                    "no close reply after {:?}",
                    plan.close_timeout
                )))
            }
            _ => {}
        }
        self.flush()
    }

    fn read(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Failure> {
        loop {
            if self.rend == self.rbuf.len() {
                self.make_room(self.rend - self.rstart + 4096);
            }
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => {
                    return match self.state {
                        State::Closing(_) | State::Done => {
                            self.state = State::Done;
                            Ok(())
                        }
                        State::Handshake(_) => Err(Failure::Handshake(
                            "server closed the connection during the handshake".into(),
                        )),
                        _ => Err(Failure::Protocol(format!(
                            "server closed the TCP connection with {} message(s) in flight",
                            self.inflight.len()
                        ))),
                    }
                }
                Ok(n) => {
                    self.rend += n;
                    self.process(ctx)?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
    }

    /// Makes `rbuf[rstart..]` at least `need` bytes long, moving unread
    /// bytes to the front first.
    fn make_room(&mut self, need: usize) {
        if self.rbuf.len() - self.rstart >= need {
            return;
        }
        if self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        if self.rbuf.len() < need {
            self.rbuf.resize(need.max(4096), 0);
        }
    }

    fn process(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Failure> {
        loop {
            let avail = &self.rbuf[self.rstart..self.rend];
            match self.state {
                State::Handshake(_) => {
                    let Some(end) = avail.windows(4).position(|w| w == b"\r\n\r\n") else {
                        if avail.len() > MAX_HEAD {
                            return Err(Failure::Handshake("response head over 16 KiB".into()));
                        }
                        return Ok(());
                    };
                    let head = &avail[..end + 4];
                    if let Err(e) = parse_response(head, &self.request) {
                        let status = String::from_utf8_lossy(
                            head.split(|&b| b == b'\r').next().unwrap_or(b""),
                        )
                        .into_owned();
                        return Err(Failure::Handshake(format!("{e:?} ({status})")));
                    }
                    self.rstart += end + 4;
                    self.state = State::Open;
                    self.fill(ctx);
                }
                State::Open | State::Closing(_) => {
                    let Some(h) = codec::decode(avail)? else {
                        self.make_room(codec_header_max());
                        return Ok(());
                    };
                    let total = h.header_len + h.len;
                    if avail.len() < total {
                        self.make_room(total);
                        return Ok(());
                    }
                    let range = self.rstart + h.header_len..self.rstart + total;
                    // The payload is borrowed from rbuf while the frame
                    // handler changes the rest of the connection.
                    let rbuf = std::mem::take(&mut self.rbuf);
                    let result = self.on_frame(h.fin, h.opcode, &rbuf[range], ctx);
                    self.rbuf = rbuf;
                    result?;
                    self.rstart += total;
                    if self.rstart == self.rend {
                        self.rstart = 0;
                        self.rend = 0;
                        return Ok(());
                    }
                }
                State::Connecting(_) | State::Done => return Ok(()),
            }
        }
    }

    fn on_frame(
        &mut self,
        fin: bool,
        opcode: u8,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<(), Failure> {
        match opcode {
            codec::TEXT | codec::BINARY => {
                if self.partial.is_some() {
                    return Err(Failure::Protocol(
                        "a new message inside a fragmented echo".into(),
                    ));
                }
                let sent = if self.pattern.is_text() {
                    codec::TEXT
                } else {
                    codec::BINARY
                };
                if opcode != sent {
                    return Err(Failure::Mismatch(format!(
                        "echo of message {} has opcode {opcode:#x}, sent {sent:#x}",
                        self.inflight.front().map_or(0, |m| m.0)
                    )));
                }
                self.data(fin, 0, payload, ctx)
            }
            codec::CONTINUATION => match self.partial.take() {
                Some(offset) => self.data(fin, offset, payload, ctx),
                None => Err(Failure::Protocol(
                    "a continuation frame with no message started".into(),
                )),
            },
            codec::PING => {
                let mask = ctx.rng.mask();
                codec::encode_masked(&mut self.wbuf, codec::PONG, &[payload], mask);
                Ok(())
            }
            codec::PONG => Ok(()),
            _ => {
                if let State::Closing(_) = self.state {
                    self.state = State::Done;
                    return Ok(());
                }
                let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or(b""));
                Err(Failure::Protocol(format!(
                    "server sent close {code:?} {reason:?} with {} message(s) in flight",
                    self.inflight.len()
                )))
            }
        }
    }

    fn data(
        &mut self,
        fin: bool,
        offset: usize,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<(), Failure> {
        let Some(&(seq, sent_at)) = self.inflight.front() else {
            return Err(Failure::Mismatch(format!(
                "{} bytes of echo arrived with nothing in flight",
                payload.len()
            )));
        };
        if !self.pattern.matches_at(seq, offset, payload) {
            return Err(Failure::Mismatch(format!(
                "echo of message {seq}: bytes {offset}..{} differ from what was sent ({} bytes)",
                offset + payload.len(),
                self.pattern.len()
            )));
        }
        let offset = offset + payload.len();
        if !fin {
            self.partial = Some(offset);
            return Ok(());
        }
        if offset != self.pattern.len() {
            return Err(Failure::Mismatch(format!(
                "echo of message {seq} is {offset} bytes, sent {}",
                self.pattern.len()
            )));
        }
        self.inflight.pop_front();
        self.echoed += 1;
        *ctx.echoes += 1;
        if ctx.phase == MEASURE {
            let nanos = u64::try_from((ctx.now - sent_at).as_nanos()).unwrap_or(u64::MAX);
            ctx.latency.saturating_record(nanos.max(1));
            *ctx.measured += 1;
        }
        self.fill(ctx);
        Ok(())
    }

    /// Tops the window of messages in flight up, or starts the closing
    /// handshake when this connection is finished.
    fn fill(&mut self, ctx: &mut Ctx<'_>) {
        if self.state != State::Open {
            return;
        }
        let plan = ctx.plan;
        let quota_left = |seq: u64| plan.messages.is_none_or(|m| seq < m);
        while ctx.phase != STOP && self.inflight.len() < plan.in_flight && quota_left(self.next_seq)
        {
            let seq = self.next_seq;
            self.next_seq += 1;
            let stamp = self.pattern.stamp(seq);
            let stamp = &stamp[..self.pattern.len().min(stamp.len())];
            let opcode = if self.pattern.is_text() {
                codec::TEXT
            } else {
                codec::BINARY
            };
            let mask = ctx.rng.mask();
            codec::encode_masked(&mut self.wbuf, opcode, &[stamp, self.pattern.tail()], mask);
            self.inflight.push_back((seq, Instant::now()));
        }
        let finished = ctx.phase == STOP || (!quota_left(self.next_seq) && !plan.hold);
        if finished && self.inflight.is_empty() {
            let mask = ctx.rng.mask();
            codec::encode_masked(
                &mut self.wbuf,
                codec::CLOSE,
                &[&1000u16.to_be_bytes(), b"done"],
                mask,
            );
            self.state = State::Closing(ctx.now);
        }
    }

    fn flush(&mut self) -> Result<(), Failure> {
        if let State::Connecting(_) = self.state {
            return Ok(());
        }
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        } else if self.wpos > 64 * 1024 {
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        Ok(())
    }
}

/// The longest frame header a server can send.
fn codec_header_max() -> usize {
    14
}
