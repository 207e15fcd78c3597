//! The blocking [`WebSocket`]: a `ws_proto` [`Connection`] driven over any
//! byte stream.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_proto::close::CloseCode;
use ws_proto::connection::{self, Connection, Event, Message, SendError, State};

/// How often a connection blocked in [`WebSocket::recv`] wakes up to notice a
/// server shutdown. A blocked `read` cannot be interrupted portably without
/// closing the socket, and closing it would lose the peer's close reply.
const SHUTDOWN_POLL: Duration = Duration::from_millis(250);

/// The smallest socket timeout set: `TcpStream` refuses a zero timeout.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// A byte stream whose blocking reads and writes can be given timeouts:
/// what [`WebSocket`] needs to run keep-alive timers and to give up on a
/// peer that stops reading.
///
/// Implemented for [`TcpStream`]. An in-memory stream whose reads never
/// block can implement both methods as no-ops.
pub trait Transport: Read + Write {
    /// Sets how long a `read` may block (`None`: forever).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    /// Sets how long a `write` may block (`None`: forever).
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    /// Closes both directions at once, if the transport can (called once the
    /// connection is finished, so the peer sees the end even while another
    /// handle to the same socket is alive).
    fn shutdown_transport(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
    fn shutdown_transport(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Both)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }
    fn shutdown_transport(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Both)
    }
}

/// Why a [`WebSocket`] operation failed.
#[derive(Debug)]
pub enum Error {
    /// The transport failed (reset, broken pipe, ...).
    Io(io::Error),
    /// The peer broke the protocol, a limit or a timer (keep-alive, close
    /// handshake). The close frame with [`connection::Error::close_code`]
    /// was sent if the transport still took it.
    Protocol(connection::Error),
    /// A write did not complete within the write timeout: the peer is not
    /// reading. The transport is abandoned (a frame may be cut short).
    WriteTimeout,
    /// The connection is closing or closed: nothing more may be sent.
    Closed,
    /// A ping payload over 125 bytes.
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
            Error::WriteTimeout => f.write_str("write timed out: the peer is not reading"),
            Error::Closed => f.write_str("the connection is closing or closed"),
            Error::ControlTooLong => f.write_str("ping payload over 125 bytes"),
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

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            // The driver flushes after every send, so a full queue means the
            // previous flush failed and the transport is gone.
            SendError::Closed | SendError::QueueFull => Error::Closed,
            SendError::ControlTooLong => Error::ControlTooLong,
            SendError::InvalidCloseCode(c) => Error::InvalidCloseCode(c),
            e @ (SendError::MessageInProgress | SendError::KindMismatch | SendError::Extension) => {
                Error::Send(e)
            }
        }
    }
}

/// Traffic counters of one connection, for logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes read from the transport after the handshake.
    pub bytes_received: u64,
    /// Bytes written to the transport after the handshake.
    pub bytes_sent: u64,
    /// Complete data messages received.
    pub messages_received: u64,
    /// Data messages sent.
    pub messages_sent: u64,
}

/// What the opening handshake established; empty for a [`WebSocket`] built
/// with [`WebSocket::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// The request target, query included (`/ws?room=1`).
    pub path: String,
    /// The `Host` field.
    pub host: String,
    /// The `Origin` field, if the client sent one.
    pub origin: Option<String>,
    /// The subprotocol the server chose.
    pub subprotocol: Option<String>,
    /// The peer's address, for a TCP connection.
    pub peer: Option<SocketAddr>,
}

/// A blocking WebSocket over a [`Transport`], in either role.
///
/// Every protocol decision is `ws_proto`'s; this type only moves bytes and
/// time between the socket and the [`Connection`]. [`recv`](Self::recv)
/// answers pings, sends keep-alive pings and enforces the keep-alive and
/// close timeouts while it waits; every send is written out before it
/// returns, bounded by the write timeout.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use ws_proto::connection::{Config, Connection, Message};
/// use ws_server::WebSocket;
///
/// let (a, b) = UnixStream::pair().unwrap();
/// let mut server = WebSocket::new(a, Connection::server(Config::default()), &[]);
/// let mut client = WebSocket::new(b, Connection::client(Config::default(), [7; 32]), &[]);
/// client.send_text("hello").unwrap();
/// assert_eq!(server.recv().unwrap(), Some(Message::Text("hello".into())));
/// ```
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
    clock: Instant,
    buf: Vec<u8>,
    write_timeout: Option<Duration>,
    shutdown: Option<Arc<AtomicBool>>,
    going_away: bool,
    info: RequestInfo,
    stats: Stats,
    failure: Option<connection::Error>,
    /// The transport is done with: closed cleanly, failed or abandoned.
    finished: bool,
    /// Why the transport was abandoned, for logs.
    transport_error: Option<String>,
}

impl<S> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.conn.role())
            .field("state", &self.conn.state())
            .field("info", &self.info)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<S: Transport> WebSocket<S> {
    /// Wraps a stream on which the opening handshake is done. `leftover` is
    /// what was read after the handshake head (the first frames, if the peer
    /// sent them right away). Receive buffer 4 KiB, write timeout 30 s.
    pub fn new(stream: S, conn: Connection, leftover: &[u8]) -> Self {
        let clock = Instant::now();
        let mut conn = conn;
        // Arms the keep-alive timer relative to our clock's origin.
        conn.handle_timeout(Duration::ZERO);
        conn.feed(leftover);
        WebSocket {
            stream,
            conn,
            clock,
            buf: vec![0; 4096],
            write_timeout: Some(Duration::from_secs(30)),
            shutdown: None,
            going_away: false,
            info: RequestInfo::default(),
            stats: Stats {
                bytes_received: leftover.len() as u64,
                ..Stats::default()
            },
            failure: None,
            finished: false,
            transport_error: None,
        }
    }

    /// Sets how many bytes one `read` asks for (at least 1).
    pub fn set_receive_buffer_size(&mut self, size: usize) {
        self.buf.resize(size.max(1), 0);
    }

    /// Sets how long writing one message (or control frame) may take
    /// before the peer is given up on (`None`: forever, which lets a peer
    /// that never reads hold this thread).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    pub(crate) fn set_shutdown_signal(&mut self, signal: Arc<AtomicBool>) {
        self.shutdown = Some(signal);
    }

    pub(crate) fn set_info(&mut self, info: RequestInfo) {
        self.info = info;
    }

    /// What the opening handshake established (path, origin, subprotocol,
    /// peer address).
    pub fn request(&self) -> &RequestInfo {
        &self.info
    }

    /// The subprotocol chosen in the handshake, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.info.subprotocol.as_deref()
    }

    /// Traffic so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Where the close handshake stands.
    pub fn state(&self) -> State {
        if self.finished {
            State::Closed
        } else {
            self.conn.state()
        }
    }

    /// The code and reason of the peer's close frame, once received (1005
    /// with an empty reason if the frame had no code).
    pub fn peer_close(&self) -> Option<(CloseCode, &str)> {
        self.conn.received_close()
    }

    /// The code and reason of the close frame we sent, if any (including the
    /// one sent when the connection failed; 1005 for the empty close that
    /// answers an empty one).
    pub fn local_close(&self) -> Option<(CloseCode, &str)> {
        self.conn.sent_close()
    }

    /// Why the connection failed, if it did.
    pub fn failure(&self) -> Option<connection::Error> {
        self.failure
    }

    /// Why the transport was abandoned (an I/O error or a write timeout),
    /// if it was.
    pub fn transport_error(&self) -> Option<&str> {
        self.transport_error.as_deref()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably. Reading or writing it directly
    /// corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Waits for the next data message. Answers pings and runs the
    /// keep-alive and close timers meanwhile. Returns `Ok(None)` once the
    /// close handshake has finished (then [`peer_close`](Self::peer_close)
    /// tells the code), and an error if the connection failed or the
    /// transport broke. Once a close has been sent (by
    /// [`close`](Self::close) or a server shutdown), data messages still
    /// arriving are discarded: they could not be answered any more.
    pub fn recv(&mut self) -> Result<Option<Message>, Error> {
        loop {
            if self.finished {
                return Ok(None);
            }
            self.check_shutdown();
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Message(message) => {
                        self.stats.messages_received += 1;
                        if self.conn.sent_close().is_none() {
                            self.flush()?;
                            return Ok(Some(message));
                        }
                    }
                    // ws-proto has queued the reply and records both frames.
                    Event::Close { .. } => {}
                    Event::Error(error) => return Err(self.fail(error)),
                    // This driver never turns on `stream_messages`; pings are
                    // answered and pongs checked by the connection itself.
                    Event::MessageChunk { .. } | Event::Ping(_) | Event::Pong(_) => {}
                }
            }
            self.flush()?;
            if self.conn.state() == State::Closed {
                self.finish();
                return Ok(None);
            }
            self.wait_for_input()?;
        }
    }

    /// One blocking read, bounded by the connection's next deadline.
    fn wait_for_input(&mut self) -> Result<(), Error> {
        let now = self.clock.elapsed();
        let mut wait = match self.conn.poll_timeout() {
            Some(deadline) if deadline <= now => {
                self.conn.handle_timeout(now);
                return Ok(());
            }
            Some(deadline) => Some(deadline - now),
            None => None,
        };
        if self.shutdown.is_some() && !self.going_away {
            wait = Some(wait.map_or(SHUTDOWN_POLL, |w| w.min(SHUTDOWN_POLL)));
        }
        let wait = wait.map(|w| w.max(MIN_TIMEOUT));
        if let Err(e) = self.stream.set_read_timeout(wait) {
            return Err(self.io_failed(e));
        }
        match self.stream.read(&mut self.buf) {
            Ok(0) => self.conn.handle_eof(),
            Ok(n) => {
                self.stats.bytes_received += n as u64;
                self.conn.feed(&self.buf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.conn.handle_timeout(self.clock.elapsed());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(self.io_failed(e)),
        }
        Ok(())
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send_message(|conn| conn.send_text(text))
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_message(|conn| conn.send_binary(data))
    }

    /// Sends a message of either kind.
    pub fn send(&mut self, message: &Message) -> Result<(), Error> {
        self.send_message(|conn| conn.send(message))
    }

    /// Queues one data message with `queue`, counts it and writes it out.
    fn send_message(
        &mut self,
        queue: impl FnOnce(&mut Connection) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        self.before_send()?;
        queue(&mut self.conn)?;
        self.stats.messages_sent += 1;
        self.flush()
    }

    /// Sends a ping (at most 125 bytes). Its pong is consumed by
    /// [`recv`](Self::recv).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.before_send()?;
        self.conn.send_ping(payload)?;
        self.flush()
    }

    /// Closes the connection: sends a close frame with `code` and `reason`
    /// (cut to 123 bytes) and waits for the peer's, discarding data that
    /// still arrives, for at most the connection's close timeout. If the
    /// peer already closed or the connection is finished, only finishes the
    /// handshake. `Ok` means the handshake completed cleanly.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.finished {
            return Ok(());
        }
        if self.conn.state() == State::Open {
            self.conn.close(code, reason)?;
        }
        self.flush()?;
        while self.recv()?.is_some() {}
        Ok(())
    }

    fn before_send(&mut self) -> Result<(), Error> {
        self.check_shutdown();
        // After our close frame ws-proto itself refuses data (§5.5.1);
        // `finished` covers what it cannot know: the transport is gone.
        if self.finished {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Starts the close handshake with 1001 once the server shuts down.
    fn check_shutdown(&mut self) {
        if self.going_away
            || !self
                .shutdown
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Acquire))
        {
            return;
        }
        self.going_away = true;
        if !self.finished && self.conn.state() == State::Open {
            // Cannot fail: the connection is open and 1001 is valid.
            let _ = self
                .conn
                .close(CloseCode::GOING_AWAY, "server shutting down");
        }
    }

    fn fail(&mut self, error: connection::Error) -> Error {
        self.failure = Some(error);
        // Best effort: the close frame explains the failure to the peer.
        let _ = self.flush();
        self.finish();
        Error::Protocol(error)
    }

    fn io_failed(&mut self, e: io::Error) -> Error {
        self.transport_error = Some(e.to_string());
        self.finish();
        Error::Io(e)
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            let _ = self.stream.shutdown_transport();
        }
    }

    /// Writes everything the connection has queued, within the write
    /// timeout.
    fn flush(&mut self) -> Result<(), Error> {
        if self.finished {
            return if self.conn.pending_output().is_empty() {
                Ok(())
            } else {
                Err(Error::Closed)
            };
        }
        let deadline = self.write_timeout.map(|t| Instant::now() + t);
        while !self.conn.pending_output().is_empty() {
            let left = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        self.transport_error = Some("write timed out".into());
                        self.finish();
                        return Err(Error::WriteTimeout);
                    }
                    Some(left.max(MIN_TIMEOUT))
                }
                None => None,
            };
            if let Err(e) = self.stream.set_write_timeout(left) {
                return Err(self.io_failed(e));
            }
            match self.stream.write(self.conn.pending_output()) {
                Ok(0) => return Err(self.io_failed(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    self.conn.consume_output(n);
                    self.stats.bytes_sent += n as u64;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if deadline.is_none() {
                        return Err(self.io_failed(e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_failed(e)),
            }
        }
        if let Err(e) = self.stream.flush() {
            return Err(self.io_failed(e));
        }
        Ok(())
    }
}
