//! The blocking [`WebSocket`]: a `ws_proto` [`Connection`] driven over any
//! byte stream, and its two halves, [`Reader`] and [`Writer`].
//!
//! One `Mutex` holds the [`Connection`] and is held for every write to the
//! socket, so frames from any number of writers, and the pongs and close
//! replies the reader produces, go out whole and one after the other. Reads
//! happen outside the lock: a reader blocked in `read` never holds up a
//! writer. Both halves use the same socket (one file descriptor): only
//! `&S` is needed to read or write it.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ws_proto::close::CloseCode;
use ws_proto::connection::{self, Connection, Event, Message, SendError, State};

/// The smallest socket timeout set: `TcpStream` refuses a zero timeout.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// A byte stream that a reader and writers on different threads can use at
/// once (through `&self`), with timeouts on its blocking reads and writes:
/// what [`WebSocket`] needs to run keep-alive timers and to give up on a
/// peer that stops reading.
///
/// Implemented for [`TcpStream`] and `UnixStream`.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use ws_server::Transport;
///
/// let (a, b) = UnixStream::pair().unwrap();
/// Transport::write(&a, b"hi").unwrap();
/// let mut buf = [0u8; 2];
/// assert_eq!(Transport::read(&b, &mut buf).unwrap(), 2);
/// ```
pub trait Transport {
    /// Reads into `buf`, blocking up to the read timeout.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes from `buf`, blocking up to the write timeout.
    fn write(&self, buf: &[u8]) -> io::Result<usize>;
    /// Writes from several buffers at once (header and payload in one
    /// system call). The default writes the first non-empty one.
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let buf = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
        self.write(buf)
    }
    /// Sets how long a `read` may block (`None`: forever).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Sets how long a `write` may block without progress (`None`: forever).
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Closes both directions at once, if the transport can: a reader
    /// blocked in `read` on another thread then returns.
    fn shutdown_transport(&self) -> io::Result<()> {
        Ok(())
    }
}

macro_rules! socket_transport {
    ($ty:ty) => {
        impl Transport for $ty {
            fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                Read::read(&mut &*self, buf)
            }
            fn write(&self, buf: &[u8]) -> io::Result<usize> {
                Write::write(&mut &*self, buf)
            }
            fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                Write::write_vectored(&mut &*self, bufs)
            }
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_read_timeout(self, timeout)
            }
            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_write_timeout(self, timeout)
            }
            fn shutdown_transport(&self) -> io::Result<()> {
                self.shutdown(Shutdown::Both)
            }
        }
    };
}

socket_transport!(TcpStream);
#[cfg(unix)]
socket_transport!(std::os::unix::net::UnixStream);

/// Why a [`WebSocket`] operation failed.
#[derive(Debug)]
pub enum Error {
    /// The transport failed (reset, broken pipe, ...).
    Io(io::Error),
    /// The peer broke the protocol, a limit or a timer (keep-alive, close
    /// handshake). The close frame with [`connection::Error::close_code`]
    /// was sent if the transport still took it.
    Protocol(connection::Error),
    /// The peer took no bytes for the whole write timeout: it is not
    /// reading. The transport is abandoned (a frame may be cut short).
    WriteTimeout,
    /// More than the connection's send-queue limit is waiting to be
    /// written: the message was not queued. The connection stays usable.
    QueueFull,
    /// [`Reader::recv_timeout`] or [`Reader::try_recv`]: no message
    /// arrived in time. The connection stays usable.
    Timeout,
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
            Error::QueueFull => f.write_str("the send queue is full"),
            Error::Timeout => f.write_str("no message within the timeout"),
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

/// Traffic counters of one connection, for logs.
///
/// ```
/// assert_eq!(ws_server::Stats::default().messages_sent, 0);
/// ```
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
///
/// ```
/// assert_eq!(ws_server::RequestInfo::default().subprotocol, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// The request target, query included (`/ws?room=1`).
    pub path: String,
    /// The `Host` field.
    pub host: String,
    /// The `Origin` field, if the client sent one.
    pub origin: Option<String>,
    /// The subprotocol chosen in the handshake.
    pub subprotocol: Option<String>,
    /// The peer's address, for a TCP connection.
    pub peer: Option<SocketAddr>,
}

/// What both halves share: the socket, and the connection behind its lock.
struct Shared<S> {
    stream: S,
    inner: Mutex<Inner>,
    /// Signalled when the transport is finished with.
    finished: Condvar,
    clock: Instant,
    info: RequestInfo,
}

/// Everything that changes, behind the one lock. Every call into
/// `ws_proto`'s `Connection` is in this `impl`, so adapting to its API is
/// local.
struct Inner {
    conn: Connection,
    stats: Stats,
    failure: Option<connection::Error>,
    /// The transport is done with: closed cleanly, failed or abandoned.
    finished: bool,
    /// Why the transport was abandoned, for logs.
    transport_error: Option<String>,
    write_timeout: Option<Duration>,
    /// What the socket's write timeout is set to (`None`: not set yet), so
    /// it is set when it changes, not before every write.
    armed_write: Option<Option<Duration>>,
}

impl Inner {
    /// Fires the connection's timers if one is due.
    fn tick(&mut self, now: Duration) {
        if self.conn.poll_timeout().is_some_and(|d| d <= now) {
            self.conn.handle_timeout(now);
        }
    }

    fn next_deadline(&self) -> Option<Duration> {
        self.conn.poll_timeout()
    }

    fn feed(&mut self, data: &[u8]) {
        self.stats.bytes_received += data.len() as u64;
        self.conn.feed(data);
    }

    /// Queues one data message (or control frame) with `queue`.
    fn queue(
        &mut self,
        now: Duration,
        data: bool,
        queue: impl FnOnce(&mut Connection) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        // After our close frame ws-proto itself refuses data (§5.5.1);
        // `finished` covers what it cannot know: the transport is gone.
        if self.finished {
            return Err(Error::Closed);
        }
        // Writers run the timers too, so keep-alive pings go out even while
        // nobody is inside `recv`.
        self.tick(now);
        queue(&mut self.conn)?;
        if data {
            self.stats.messages_sent += 1;
        }
        Ok(())
    }

    fn fail<S: Transport>(&mut self, stream: &S, error: connection::Error) -> Error {
        self.failure = Some(error);
        // Best effort: the close frame explains the failure to the peer.
        let _ = self.flush(stream);
        self.finish(stream);
        Error::Protocol(error)
    }

    fn io_failed<S: Transport>(&mut self, stream: &S, e: io::Error) -> Error {
        self.transport_error = Some(e.to_string());
        self.finish(stream);
        Error::Io(e)
    }

    fn finish<S: Transport>(&mut self, stream: &S) {
        if !self.finished {
            self.finished = true;
            let _ = stream.shutdown_transport();
        }
    }

    /// Writes everything the connection has queued. Called with the lock
    /// held, which is what keeps frames whole.
    fn flush<S: Transport>(&mut self, stream: &S) -> Result<(), Error> {
        if self.finished {
            return if self.conn.output_len() == 0 {
                Ok(())
            } else {
                Err(Error::Closed)
            };
        }
        while self.conn.output_len() > 0 {
            // A progress timeout: each write may block this long. Set once,
            // not per write.
            let timeout = self.write_timeout.map(|t| t.max(MIN_TIMEOUT));
            if self.armed_write != Some(timeout) {
                if let Err(e) = stream.set_write_timeout(timeout) {
                    return Err(self.io_failed(stream, e));
                }
                self.armed_write = Some(timeout);
            }
            // Headers and payloads in one vectored write; a payload the
            // core holds by reference (an echoed message) is not copied.
            let mut slices = [IoSlice::new(&[]); 16];
            let count = self.conn.io_slices(&mut slices);
            let written = stream.write_vectored(&slices[..count]);
            match written {
                Ok(0) => return Err(self.io_failed(stream, io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    self.conn.consume_output(n);
                    self.stats.bytes_sent += n as u64;
                }
                Err(e) if is_timeout(&e) => {
                    self.transport_error = Some("write timed out".into());
                    self.finish(stream);
                    return Err(Error::WriteTimeout);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_failed(stream, e)),
            }
        }
        Ok(())
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the connection as the
        // protocol code left it, which is consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Duration {
        self.clock.elapsed()
    }
}

/// The sending half of a [`WebSocket`]: `Clone + Send + Sync`, so any number
/// of threads can send on one connection. Each message (and each pong or
/// close reply from the [`Reader`]) is written whole before the next, under
/// one lock; a send returns once its message is written, or fails after the
/// write timeout if the peer takes nothing.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use ws_proto::connection::{Config, Connection, Message};
/// use ws_server::WebSocket;
///
/// let (a, b) = UnixStream::pair().unwrap();
/// let server = WebSocket::new(a, Connection::server(Config::default()), &[]);
/// let mut client = WebSocket::new(b, Connection::client(Config::default(), [7; 32]), &[]);
/// let (_reader, writer) = server.split();
/// let pushers: Vec<_> = (0..4)
///     .map(|i| {
///         let writer = writer.clone();
///         std::thread::spawn(move || writer.send_text(&format!("push {i}")).unwrap())
///     })
///     .collect();
/// for p in pushers {
///     p.join().unwrap();
/// }
/// for _ in 0..4 {
///     assert!(matches!(client.recv().unwrap(), Some(Message::Text(t)) if t.starts_with("push ")));
/// }
/// ```
pub struct Writer<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for Writer<S> {
    fn clone(&self) -> Self {
        Writer {
            shared: self.shared.clone(),
        }
    }
}

impl<S> fmt::Debug for Writer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("info", &self.shared.info)
            .finish_non_exhaustive()
    }
}

impl<S: Transport> Writer<S> {
    fn send_with(
        &self,
        data: bool,
        queue: impl FnOnce(&mut Connection) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        let shared = &*self.shared;
        let mut inner = shared.lock();
        inner.queue(shared.now(), data, queue)?;
        inner.flush(&shared.stream)
    }

    /// Sends a text message.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// ws.writer().send_text("hello").unwrap();
    /// ```
    pub fn send_text(&self, text: &str) -> Result<(), Error> {
        self.send_with(true, |conn| conn.send_text(text))
    }

    /// Sends a binary message.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// ws.writer().send_binary(&[1, 2, 3]).unwrap();
    /// ```
    pub fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.send_with(true, |conn| conn.send_binary(data))
    }

    /// Sends a message of either kind, keeping its kind.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection, Message};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// ws.writer().send(&Message::Text("hi".into())).unwrap();
    /// ```
    pub fn send(&self, message: &Message) -> Result<(), Error> {
        self.send_with(true, |conn| conn.send(message))
    }

    /// Sends a ping (at most 125 bytes). Its pong is consumed by the
    /// [`Reader`].
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::{Error, WebSocket};
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// assert!(matches!(ws.writer().ping(&[0; 126]), Err(Error::ControlTooLong)));
    /// ```
    pub fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.send_with(false, |conn| conn.send_ping(payload))
    }

    /// Starts the close handshake: sends a close frame with `code` and
    /// `reason` (cut to 123 bytes) and returns. The [`Reader`] completes the
    /// handshake: its `recv` returns `Ok(None)` once the peer's close
    /// arrives. Does nothing if a close frame was already sent.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection, State};
    /// # use ws_server::{CloseCode, WebSocket};
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// ws.writer().close(CloseCode::GOING_AWAY, "restart").unwrap();
    /// assert_eq!(ws.state(), State::Closing);
    /// ```
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let shared = &*self.shared;
        let mut inner = shared.lock();
        if inner.finished {
            return Ok(());
        }
        if inner.conn.state() == State::Open {
            inner.tick(shared.now());
            match inner.conn.close(code, reason) {
                Ok(()) | Err(SendError::Closed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        inner.flush(&shared.stream)
    }

    /// Waits until the connection is finished (closed cleanly, failed or
    /// cut) or `timeout` passes; true if it finished. Something must be
    /// reading (a [`Reader`] in `recv`) for a close handshake to complete.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use std::time::Duration;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// assert!(!ws.writer().wait_finished(Duration::from_millis(1)));
    /// ```
    pub fn wait_finished(&self, timeout: Duration) -> bool {
        let shared = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut inner = shared.lock();
        while !inner.finished {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            inner = shared
                .finished
                .wait_timeout(inner, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Cuts the connection at once, without a close handshake: shuts the
    /// socket down, so a [`Reader`] blocked in `recv` on another thread
    /// returns.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection, State};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// ws.writer().abort();
    /// assert_eq!(ws.state(), State::Closed);
    /// ```
    pub fn abort(&self) {
        let shared = &*self.shared;
        let mut inner = shared.lock();
        if !inner.finished {
            inner.transport_error = Some("cut".into());
        }
        inner.finish(&shared.stream);
        shared.finished.notify_all();
    }

    /// Where the close handshake stands.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection, State};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// assert_eq!(ws.writer().state(), State::Open);
    /// ```
    pub fn state(&self) -> State {
        state_of(&self.shared.lock())
    }

    /// How long the connection waits for the peer's close frame after
    /// sending one.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use std::time::Duration;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let config = Config { close_timeout: Duration::from_secs(3), ..Config::default() };
    /// let ws = WebSocket::new(a, Connection::server(config), &[]);
    /// assert_eq!(ws.writer().close_timeout(), Duration::from_secs(3));
    /// ```
    pub fn close_timeout(&self) -> Duration {
        self.shared.lock().conn.config().close_timeout
    }

    /// Like [`close`](Self::close), but gives up at once with `false` if
    /// another thread is writing right now, instead of waiting for it.
    pub(crate) fn try_close(&self, code: CloseCode, reason: &str) -> bool {
        let shared = &*self.shared;
        let Ok(mut inner) = shared.inner.try_lock() else {
            return false;
        };
        if !inner.finished && inner.conn.state() == State::Open {
            inner.tick(shared.now());
            let _ = inner.conn.close(code, reason);
            let _ = inner.flush(&shared.stream);
        }
        true
    }

    /// What the opening handshake established.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// assert_eq!(ws.writer().request().path, "", "no handshake here");
    /// ```
    pub fn request(&self) -> &RequestInfo {
        &self.shared.info
    }

    /// Whether `self` and `other` send on the same connection.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// assert!(ws.writer().same_connection(&ws.writer()));
    /// ```
    pub fn same_connection(&self, other: &Writer<S>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

fn state_of(inner: &Inner) -> State {
    if inner.finished {
        State::Closed
    } else {
        inner.conn.state()
    }
}

/// The receiving half of a [`WebSocket`]. Only one thread reads; while it
/// waits it answers pings and runs the keep-alive and close timers, with
/// the socket's read timeout set to the next deadline (and changed only
/// when the deadline moves).
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use ws_proto::connection::{Config, Connection, Message};
/// use ws_server::{Error, WebSocket};
///
/// let (a, b) = UnixStream::pair().unwrap();
/// let (mut reader, _writer) = WebSocket::new(a, Connection::server(Config::default()), &[]).split();
/// let client = WebSocket::new(b, Connection::client(Config::default(), [7; 32]), &[]);
/// assert!(matches!(reader.recv_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
/// client.writer().send_text("hi").unwrap();
/// assert_eq!(reader.recv().unwrap(), Some(Message::Text("hi".into())));
/// ```
pub struct Reader<S> {
    shared: Arc<Shared<S>>,
    buf: Vec<u8>,
    /// What the socket's read timeout is set to (`None`: unknown).
    armed_read: Option<Option<Duration>>,
    /// The last read ended with the timeout: the armed value must be
    /// recomputed.
    woke_by_timeout: bool,
}

impl<S> fmt::Debug for Reader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("info", &self.shared.info)
            .finish_non_exhaustive()
    }
}

impl<S: Transport> Reader<S> {
    /// Waits for the next data message. Returns `Ok(None)` once the close
    /// handshake has finished (then [`received_close`](WebSocket::received_close)
    /// tells the code), and an error if the connection failed or the
    /// transport broke. Once a close has been sent, data messages still
    /// arriving are discarded: they could not be answered any more.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection, Message};
    /// # use ws_server::{CloseCode, WebSocket};
    /// let (a, b) = UnixStream::pair().unwrap();
    /// let (mut reader, _writer) = WebSocket::new(a, Connection::server(Config::default()), &[]).split();
    /// let mut client = WebSocket::new(b, Connection::client(Config::default(), [3; 32]), &[]);
    /// client.send_text("one").unwrap();
    /// assert_eq!(reader.recv().unwrap(), Some(Message::Text("one".into())));
    /// let closer = std::thread::spawn(move || client.close(CloseCode::NORMAL, "").map(|_| client));
    /// assert_eq!(reader.recv().unwrap(), None, "the close handshake finished");
    /// closer.join().unwrap().unwrap();
    /// ```
    pub fn recv(&mut self) -> Result<Option<Message>, Error> {
        self.recv_until(None)
    }

    /// Like [`recv`](Self::recv), but gives up with [`Error::Timeout`] after
    /// `timeout`; the connection stays usable.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use std::time::Duration;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::{Error, WebSocket};
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let (mut reader, _) = WebSocket::new(a, Connection::server(Config::default()), &[]).split();
    /// assert!(matches!(reader.recv_timeout(Duration::from_millis(5)), Err(Error::Timeout)));
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Message>, Error> {
        self.recv_until(Some(Instant::now() + timeout))
    }

    /// A message that has already arrived, if any: returns
    /// [`Error::Timeout`] rather than wait (beyond a read of at most a
    /// millisecond, the shortest a socket timeout can be).
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection, Message};
    /// # use ws_server::{Error, WebSocket};
    /// let (a, b) = UnixStream::pair().unwrap();
    /// let mut server = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// let client = WebSocket::new(b, Connection::client(Config::default(), [3; 32]), &[]);
    /// assert!(matches!(server.try_recv(), Err(Error::Timeout)));
    /// client.send_text("here").unwrap();
    /// assert_eq!(server.recv().unwrap(), Some(Message::Text("here".into())));
    /// ```
    pub fn try_recv(&mut self) -> Result<Option<Message>, Error> {
        self.recv_until(Some(Instant::now()))
    }

    fn recv_until(&mut self, until: Option<Instant>) -> Result<Option<Message>, Error> {
        let shared = self.shared.clone();
        let mut polled_once = false;
        loop {
            let wait = {
                let mut inner = shared.lock();
                if let Some(result) = process(&shared, &mut inner)? {
                    return Ok(result);
                }
                let now = shared.now();
                let deadline = inner.next_deadline();
                if deadline.is_some_and(|d| d <= now) {
                    inner.tick(now);
                    continue;
                }
                deadline.map(|d| d - now)
            };
            let user_wait = match until {
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() && polled_once {
                        return Err(Error::Timeout);
                    }
                    Some(left)
                }
                None => None,
            };
            polled_once = true;
            let wait = match (wait, user_wait) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.arm(wait)?;
            let read = shared.stream.read(&mut self.buf);
            let mut inner = shared.lock();
            match read {
                Ok(0) => inner.conn.handle_eof(),
                Ok(n) => inner.feed(&self.buf[..n]),
                Err(e) if is_timeout(&e) => {
                    self.woke_by_timeout = true;
                    let now = shared.now();
                    inner.tick(now);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) if inner.finished => {}
                Err(e) => {
                    let error = inner.io_failed(&shared.stream, e);
                    shared.finished.notify_all();
                    return Err(error);
                }
            }
        }
    }

    /// Sets the socket's read timeout for a wait of `wait`, only when the
    /// value armed would overshoot it by more than an eighth (a timer a
    /// little late is fine; a system call per read is not) or when the last
    /// read timed out.
    fn arm(&mut self, wait: Option<Duration>) -> Result<(), Error> {
        let wanted = wait.map(|w| w.max(MIN_TIMEOUT));
        let stale = match (self.armed_read, wanted) {
            (None, _) => true,
            _ if self.woke_by_timeout => true,
            (Some(None), Some(_)) => true,
            (Some(Some(armed)), Some(w)) => armed > w + w / 8,
            // No deadline: an armed timeout only costs a spurious wake-up.
            (Some(_), None) => false,
        };
        if stale && self.armed_read != Some(wanted) {
            if let Err(e) = self.shared.stream.set_read_timeout(wanted) {
                let mut inner = self.shared.lock();
                return Err(inner.io_failed(&self.shared.stream, e));
            }
            self.armed_read = Some(wanted);
        }
        self.woke_by_timeout = false;
        Ok(())
    }

    /// Sets how many bytes one `read` asks for (at least 1).
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let (mut reader, _) = WebSocket::new(a, Connection::server(Config::default()), &[]).split();
    /// reader.set_receive_buffer_size(16 << 10);
    /// ```
    pub fn set_receive_buffer_size(&mut self, size: usize) {
        self.buf.resize(size.max(1), 0);
    }

    /// A writer for this connection.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::WebSocket;
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let (reader, writer) = WebSocket::new(a, Connection::server(Config::default()), &[]).split();
    /// assert!(reader.writer().same_connection(&writer));
    /// ```
    pub fn writer(&self) -> Writer<S> {
        Writer {
            shared: self.shared.clone(),
        }
    }
}

/// Drains the connection's events: `Some(result)` when `recv` should return.
fn process<S: Transport>(
    shared: &Shared<S>,
    inner: &mut Inner,
) -> Result<Option<Option<Message>>, Error> {
    if inner.finished {
        return Ok(Some(None));
    }
    while let Some(event) = inner.conn.poll_event() {
        match event {
            Event::Message(message) => {
                inner.stats.messages_received += 1;
                if inner.conn.sent_close().is_none() {
                    inner.flush(&shared.stream)?;
                    return Ok(Some(Some(message)));
                }
            }
            // ws-proto has queued the reply and records both frames.
            Event::Close { .. } => {}
            Event::Error(error) => {
                let error = inner.fail(&shared.stream, error);
                shared.finished.notify_all();
                return Err(error);
            }
            // This driver never turns on `stream_messages`; pings are
            // answered and pongs checked by the connection itself.
            Event::MessageChunk { .. } | Event::Ping(_) | Event::Pong(_) => {}
        }
    }
    inner.flush(&shared.stream)?;
    if inner.conn.state() == State::Closed {
        inner.finish(&shared.stream);
        shared.finished.notify_all();
        return Ok(Some(None));
    }
    Ok(None)
}

/// A blocking WebSocket over a [`Transport`], in either role: a [`Reader`]
/// and a [`Writer`] together. Use it as is from one thread, or
/// [`split`](Self::split) it (or take [`writer`](Self::writer) handles) to
/// send from other threads while one reads.
///
/// Every protocol decision is `ws_proto`'s; this type only moves bytes and
/// time between the socket and the [`Connection`].
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use ws_proto::connection::{Config, Connection, Message};
/// use ws_server::WebSocket;
///
/// let (a, b) = UnixStream::pair().unwrap();
/// let mut server = WebSocket::new(a, Connection::server(Config::default()), &[]);
/// let client = WebSocket::new(b, Connection::client(Config::default(), [7; 32]), &[]);
/// client.send_text("hello").unwrap();
/// assert_eq!(server.recv().unwrap(), Some(Message::Text("hello".into())));
/// ```
pub struct WebSocket<S> {
    reader: Reader<S>,
}

impl<S> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.reader.shared.lock();
        f.debug_struct("WebSocket")
            .field("role", &inner.conn.role())
            .field("state", &state_of(&inner))
            .field("info", &self.reader.shared.info)
            .field("stats", &inner.stats)
            .finish_non_exhaustive()
    }
}

impl<S: Transport> WebSocket<S> {
    /// Wraps a stream on which the opening handshake is done. `leftover` is
    /// what was read after the handshake head (the first frames, if the peer
    /// sent them right away). Receive buffer 4 KiB, write timeout 30 s.
    pub fn new(stream: S, conn: Connection, leftover: &[u8]) -> Self {
        Self::with_info(stream, conn, leftover, RequestInfo::default())
    }

    pub(crate) fn with_info(
        stream: S,
        mut conn: Connection,
        leftover: &[u8],
        info: RequestInfo,
    ) -> Self {
        // Arms the keep-alive timer relative to our clock's origin.
        conn.handle_timeout(Duration::ZERO);
        let mut inner = Inner {
            conn,
            stats: Stats::default(),
            failure: None,
            finished: false,
            transport_error: None,
            write_timeout: Some(Duration::from_secs(30)),
            armed_write: None,
        };
        inner.feed(leftover);
        WebSocket {
            reader: Reader {
                shared: Arc::new(Shared {
                    stream,
                    inner: Mutex::new(inner),
                    finished: Condvar::new(),
                    clock: Instant::now(),
                    info,
                }),
                buf: vec![0; 4096],
                armed_read: None,
                woke_by_timeout: false,
            },
        }
    }

    /// Splits into the receiving half (one thread) and the sending half
    /// (clone it for as many threads as needed).
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use ws_proto::connection::{Config, Connection, Message};
    /// use ws_server::WebSocket;
    ///
    /// let (a, b) = UnixStream::pair().unwrap();
    /// let (mut reader, writer) = WebSocket::new(a, Connection::server(Config::default()), &[]).split();
    /// let mut client = WebSocket::new(b, Connection::client(Config::default(), [7; 32]), &[]);
    /// std::thread::spawn(move || writer.send_text("pushed").unwrap());
    /// assert_eq!(client.recv().unwrap(), Some(Message::Text("pushed".into())));
    /// # drop(reader.writer());
    /// ```
    pub fn split(self) -> (Reader<S>, Writer<S>) {
        let writer = self.reader.writer();
        (self.reader, writer)
    }

    /// A sending handle for this connection, for other threads (what a
    /// server handler, which borrows its `WebSocket`, uses to push).
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection, Message};
    /// # use ws_server::WebSocket;
    /// let (a, b) = UnixStream::pair().unwrap();
    /// let server = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// let mut client = WebSocket::new(b, Connection::client(Config::default(), [3; 32]), &[]);
    /// let writer = server.writer();
    /// std::thread::spawn(move || writer.send_binary(&[1]).unwrap()).join().unwrap();
    /// assert_eq!(client.recv().unwrap(), Some(Message::Binary(vec![1].into())));
    /// ```
    pub fn writer(&self) -> Writer<S> {
        self.reader.writer()
    }

    /// The receiving half.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use std::time::Duration;
    /// # use ws_proto::connection::{Config, Connection};
    /// # use ws_server::{Error, WebSocket};
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let mut ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// ws.reader().set_receive_buffer_size(1024);
    /// assert!(matches!(ws.reader().recv_timeout(Duration::from_millis(1)), Err(Error::Timeout)));
    /// ```
    pub fn reader(&mut self) -> &mut Reader<S> {
        &mut self.reader
    }

    /// Sets how many bytes one `read` asks for (at least 1).
    pub fn set_receive_buffer_size(&mut self, size: usize) {
        self.reader.set_receive_buffer_size(size);
    }

    /// Sets how long a write may go without progress before the peer is
    /// given up on (`None`: forever, which lets a peer that never reads hold
    /// a sending thread).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.reader.shared.lock().write_timeout = timeout;
    }

    /// What the opening handshake established (path, origin, subprotocol,
    /// peer address).
    pub fn request(&self) -> &RequestInfo {
        &self.reader.shared.info
    }

    /// The subprotocol chosen in the handshake, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.reader.shared.info.subprotocol.as_deref()
    }

    /// Traffic so far.
    pub fn stats(&self) -> Stats {
        self.reader.shared.lock().stats
    }

    /// Where the close handshake stands.
    pub fn state(&self) -> State {
        state_of(&self.reader.shared.lock())
    }

    /// The code and reason of the peer's close frame, once received (1005
    /// with an empty reason if the frame had no code).
    pub fn received_close(&self) -> Option<(CloseCode, String)> {
        let inner = self.reader.shared.lock();
        inner.conn.received_close().map(|(c, r)| (c, r.to_owned()))
    }

    /// The code and reason of the close frame we sent, if any (including the
    /// one sent when the connection failed; 1005 for the empty close that
    /// answers an empty one).
    pub fn sent_close(&self) -> Option<(CloseCode, String)> {
        let inner = self.reader.shared.lock();
        inner.conn.sent_close().map(|(c, r)| (c, r.to_owned()))
    }

    /// Why the connection failed, if it did.
    pub fn failure(&self) -> Option<connection::Error> {
        self.reader.shared.lock().failure
    }

    /// Why the transport was abandoned (an I/O error or a write timeout),
    /// if it was.
    pub fn transport_error(&self) -> Option<String> {
        self.reader.shared.lock().transport_error.clone()
    }

    /// The underlying stream. Reading or writing it directly corrupts the
    /// connection.
    pub fn get_ref(&self) -> &S {
        &self.reader.shared.stream
    }

    /// See [`Reader::recv`].
    pub fn recv(&mut self) -> Result<Option<Message>, Error> {
        self.reader.recv()
    }

    /// See [`Reader::recv_timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Message>, Error> {
        self.reader.recv_timeout(timeout)
    }

    /// See [`Reader::try_recv`].
    pub fn try_recv(&mut self) -> Result<Option<Message>, Error> {
        self.reader.try_recv()
    }

    /// See [`Writer::send_text`].
    pub fn send_text(&self, text: &str) -> Result<(), Error> {
        self.writer().send_text(text)
    }

    /// See [`Writer::send_binary`].
    pub fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.writer().send_binary(data)
    }

    /// See [`Writer::send`].
    pub fn send(&self, message: &Message) -> Result<(), Error> {
        self.writer().send(message)
    }

    /// See [`Writer::ping`].
    pub fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.writer().ping(payload)
    }

    /// Closes the connection: sends a close frame with `code` and `reason`
    /// (cut to 123 bytes) and waits for the peer's, discarding data that
    /// still arrives, for at most the connection's close timeout. If the
    /// peer already closed or the connection is finished, only finishes the
    /// handshake. `Ok` means the handshake completed cleanly.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.writer().close(code, reason)?;
        while self.reader.recv()?.is_some() {}
        Ok(())
    }
}
