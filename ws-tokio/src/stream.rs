//! [`WebSocketStream`]: a connection over any tokio byte stream, driven
//! from the caller's own task.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use ws_proto::close::CloseCode;
use ws_proto::connection::{self, Config, Connection, Event, Message, SendError, State};
use ws_proto::Role;

use crate::core::Core;
use crate::error::Error;

/// How long a client waits, after the close handshake, for the server to
/// close the TCP connection first (RFC 6455 §7.1.1), and how long shutting
/// the transport down may take.
const LINGER: Duration = Duration::from_secs(2);

/// Bytes asked of the transport by one read, unless configured otherwise.
pub(crate) const DEFAULT_READ_SIZE: usize = 4096;

/// What is left to do with the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The connection is open or closing: read, write, run timers.
    Open,
    /// Closed, with queued bytes (the close frame) still to write before
    /// the deadline.
    Flushing(Instant),
    /// A client after a clean close: wait for the server's EOF until the
    /// deadline.
    Linger(Instant),
    /// Shut the transport down, for at most until the deadline.
    Shutdown(Instant),
    /// Finished; the outcome is reported once by `recv`.
    Done,
}

/// A WebSocket connection over a byte stream `S` (a `TcpStream`, a TLS
/// stream, hyper's upgraded connection, `tokio::io::duplex`...), in either
/// role, after the opening handshake.
///
/// Every protocol decision is `ws_proto`'s: this type moves bytes between
/// the transport and the [`Connection`] and runs its timers on tokio's
/// clock.
///
/// * [`recv`](Self::recv) is **cancel-safe**: all partial state (a frame
///   half received, a message half reassembled) lives in the connection,
///   and bytes read from the transport are handed to it before the read
///   returns. Dropping a `recv` future, for example in `tokio::select!`,
///   loses nothing; the next call continues where it stopped.
/// * While `recv` waits it answers pings, sends the close reply, sends
///   keep-alive pings and enforces the pong deadline and close timeout.
///   Sending ([`send`](Self::send), [`flush`](Self::flush)) runs the timers
///   too, so a peer that stops reading is given up on. Nothing runs while
///   the stream is not polled at all: to keep a connection alive while the
///   application does neither, [`split`](Self::split) it, which hands the
///   driving to a task.
/// * [`feed`](Self::feed) queues without writing, [`flush`](Self::flush)
///   writes everything queued: batch several messages into few writes.
/// * It is a [`Stream`] of `Result<Message, Error>` and a [`Sink`] of
///   [`Message`].
///
/// ```
/// use ws_tokio::{Message, Role, WebSocketStream};
/// use ws_tokio::proto::connection::Config;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ws_tokio::Error> {
/// let (a, b) = tokio::io::duplex(1 << 16);
/// let mut server = WebSocketStream::from_raw(a, Role::Server, Config::default());
/// let mut client = WebSocketStream::from_raw(b, Role::Client, Config::default());
/// client.send(Message::Text("hello".into())).await?;
/// assert_eq!(server.recv().await.unwrap()?, Message::Text("hello".into()));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct WebSocketStream<S> {
    io: S,
    pub(crate) core: Core,
    timer: Option<Pin<Box<Sleep>>>,
    phase: Phase,
    /// A message the connection's queue could not take yet; it goes in
    /// first when the queue has drained.
    staged: Option<Message>,
    /// Why the connection failed, once it has.
    failure: Option<connection::Error>,
    /// The transport error that ended the connection, if one did.
    io_error: Option<io::Error>,
    /// The outcome has been returned by `recv`.
    reported: bool,
    eof: bool,
    subprotocol: Option<String>,
}

impl<S> WebSocketStream<S> {
    /// Wraps `io` on which the opening handshake is already done (or not
    /// needed), with a new connection. A client's masking keys are seeded
    /// from the operating system's random source.
    ///
    /// # Panics
    ///
    /// For a client, if the operating system's random source fails.
    ///
    /// ```
    /// use ws_tokio::{Role, WebSocketStream};
    /// use ws_tokio::proto::connection::Config;
    ///
    /// let (a, _b) = tokio::io::duplex(64);
    /// let ws = WebSocketStream::from_raw(a, Role::Client, Config::default());
    /// assert_eq!(ws.role(), Role::Client);
    /// ```
    pub fn from_raw(io: S, role: Role, config: Config) -> Self {
        let core = match role {
            Role::Server => Core::new(Connection::server(config), &[]),
            Role::Client => match crate::core::random_seed() {
                Ok(seed) => Core::new(Connection::client(config, seed), &[]),
                // A client must not mask with predictable keys (RFC 6455 §10.3).
                Err(e) => panic!("no random bytes for WebSocket masking keys: {e}"),
            },
        };
        Self::from_core(io, core)
    }

    /// Wraps `io` with an existing connection. `leftover` is what the
    /// transport delivered after the handshake head (frames the peer sent
    /// right behind it). Reads go into the connection's own receive buffer
    /// ([`Config::receive_buffer_size`](ws_proto::connection::Config::receive_buffer_size)).
    ///
    /// ```
    /// use ws_tokio::WebSocketStream;
    /// use ws_tokio::proto::connection::{Config, Connection};
    ///
    /// let (a, _b) = tokio::io::duplex(64);
    /// let conn = Connection::server(Config::default());
    /// let ws = WebSocketStream::from_connection(a, conn, b"");
    /// assert_eq!(ws.subprotocol(), None);
    /// ```
    pub fn from_connection(io: S, conn: Connection, leftover: &[u8]) -> Self {
        Self::from_core(io, Core::new(conn, leftover))
    }

    pub(crate) fn from_core(io: S, core: Core) -> Self {
        WebSocketStream {
            io,
            core,
            timer: None,
            phase: Phase::Open,
            staged: None,
            failure: None,
            io_error: None,
            reported: false,
            eof: false,
            subprotocol: None,
        }
    }

    pub(crate) fn set_subprotocol(&mut self, subprotocol: Option<String>) {
        self.subprotocol = subprotocol;
    }

    /// The subprotocol agreed in the opening handshake, if any.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # let (a, _b) = tokio::io::duplex(64);
    /// let ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// assert_eq!(ws.subprotocol(), None);
    /// ```
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Our role.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # let (a, _b) = tokio::io::duplex(64);
    /// assert_eq!(WebSocketStream::from_raw(a, Role::Server, Default::default()).role(), Role::Server);
    /// ```
    pub fn role(&self) -> Role {
        self.core.role()
    }

    /// Where the close handshake stands (`Closed` also once the transport
    /// is finished with).
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// use ws_tokio::proto::connection::State;
    /// # let (a, _b) = tokio::io::duplex(64);
    /// assert_eq!(WebSocketStream::from_raw(a, Role::Server, Default::default()).state(), State::Open);
    /// ```
    pub fn state(&self) -> State {
        if self.phase == Phase::Open {
            self.core.state()
        } else {
            State::Closed
        }
    }

    /// The peer's close frame, once received: code (1005 if it had none)
    /// and reason.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # let (a, _b) = tokio::io::duplex(64);
    /// assert_eq!(WebSocketStream::from_raw(a, Role::Server, Default::default()).received_close(), None);
    /// ```
    pub fn received_close(&self) -> Option<(CloseCode, &str)> {
        self.core.received_close()
    }

    /// The close frame we sent, if any: ours, the echo of the peer's, or a
    /// failure's.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # let (a, _b) = tokio::io::duplex(64);
    /// assert_eq!(WebSocketStream::from_raw(a, Role::Server, Default::default()).sent_close(), None);
    /// ```
    pub fn sent_close(&self) -> Option<(CloseCode, &str)> {
        self.core.sent_close()
    }

    /// The transport.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # let (a, _b) = tokio::io::duplex(64);
    /// let ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// let _duplex: &tokio::io::DuplexStream = ws.get_ref();
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The transport, mutably: reading or writing it directly corrupts the
    /// connection; setting socket options is fine.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # let (a, _b) = tokio::io::duplex(64);
    /// let mut ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// let _duplex: &mut tokio::io::DuplexStream = ws.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Waits for the next data message. `None` once the connection is over
    /// after a clean close handshake; `Some(Err(_))` once if it failed
    /// (then `None`). Cancel-safe.
    ///
    /// Pings are answered, the peer's close is replied to and the
    /// keep-alive and close timers run while it waits. Messages that arrive
    /// after we sent a close frame are still delivered, until the peer's
    /// close frame.
    ///
    /// ```
    /// # use ws_tokio::{Message, Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// let (a, b) = tokio::io::duplex(1024);
    /// let mut server = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// let mut client = WebSocketStream::from_raw(b, Role::Client, Default::default());
    /// client.send(Message::Binary(vec![1, 2].into())).await?;
    /// assert_eq!(server.recv().await.unwrap()?, Message::Binary(vec![1, 2].into()));
    /// # Ok(()) }
    /// ```
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next data message that has already arrived, without touching
    /// the transport: `None` if completing one needs another read. Lets a
    /// server answer a burst of messages with one write (see the `echo`
    /// example). A failure found here is reported by the next
    /// [`recv`](Self::recv).
    ///
    /// ```
    /// # use ws_tokio::{Message, Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// let (a, b) = tokio::io::duplex(1024);
    /// let mut server = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// let mut client = WebSocketStream::from_raw(b, Role::Client, Default::default());
    /// for text in ["1", "2", "3"] {
    ///     client.feed(Message::Text(text.into())).await?;
    /// }
    /// client.flush().await?;
    /// let first = server.recv().await.unwrap()?; // one read brings all three
    /// let mut burst = vec![first];
    /// while let Some(message) = server.recv_buffered() {
    ///     burst.push(message);
    /// }
    /// assert_eq!(burst.len(), 3);
    /// # Ok(()) }
    /// ```
    pub fn recv_buffered(&mut self) -> Option<Message> {
        if self.phase != Phase::Open {
            return None;
        }
        while let Some(event) = self.core.next_event() {
            match event {
                Event::Message(message) => return Some(message),
                Event::Error(error) => self.failure = Some(error),
                Event::Close { .. }
                | Event::Ping(_)
                | Event::Pong(_)
                | Event::MessageChunk { .. } => {}
            }
        }
        None
    }

    /// Sends a message: queues it and writes everything queued.
    ///
    /// Cancelling it is harmless but not transparent: a message already
    /// queued is written by the next call that writes (whole, never cut
    /// short); one cancelled while waiting for room is dropped.
    ///
    /// ```
    /// # use ws_tokio::{Message, Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let mut ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// ws.send(Message::Text("hi".into())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues a message without writing it, once the queue is under its
    /// limit ([`Config::max_send_queue`]): a queue over it is written out
    /// first, which is the back-pressure of a slow peer. Follow with
    /// [`flush`](Self::flush).
    ///
    /// ```
    /// # use ws_tokio::{Message, Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let mut ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// for i in 0..3 {
    ///     ws.feed(Message::Text(format!("{i}").into())).await?;
    /// }
    /// ws.flush().await?; // one write for the three
    /// # Ok(()) }
    /// ```
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready_send(cx)).await?;
        self.queue(message)
    }

    /// Writes everything queued.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let mut ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// ws.flush().await?; // nothing queued: returns at once
    /// # Ok(()) }
    /// ```
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush_all(cx)).await
    }

    /// Sends a ping (at most 125 bytes); its pong arrives through `recv`,
    /// which consumes it.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream, Error};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let mut ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// ws.ping(b"are you there").await?;
    /// assert!(matches!(ws.ping(&[0; 126]).await, Err(Error::ControlTooLong)));
    /// # Ok(()) }
    /// ```
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        self.core.send_ping(payload)?;
        self.flush().await
    }

    /// Sends an unsolicited pong (a one-way heartbeat, RFC 6455 §5.5.3).
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let mut ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// ws.pong(b"").await?;
    /// # Ok(()) }
    /// ```
    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        self.core.send_pong(payload)?;
        self.flush().await
    }

    /// Closes the connection: sends a close frame with `code` and `reason`
    /// (cut to 123 bytes), then reads until the peer's close frame arrives,
    /// discarding data messages, for at most the close timeout
    /// ([`Config::close_timeout`]). If a close was already sent or received
    /// it only finishes the handshake. `Ok` means it completed cleanly.
    ///
    /// ```
    /// # use ws_tokio::{CloseCode, Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// let (a, b) = tokio::io::duplex(1024);
    /// let mut server = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// let mut client = WebSocketStream::from_raw(b, Role::Client, Default::default());
    /// let peer = tokio::spawn(async move { while let Some(_) = client.recv().await {} client });
    /// server.close(CloseCode::GOING_AWAY, "bye").await?;
    /// let client = peer.await.unwrap();
    /// assert_eq!(client.received_close(), Some((CloseCode::GOING_AWAY, "bye")));
    /// # Ok(()) }
    /// ```
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.phase == Phase::Open && self.core.state() == State::Open {
            self.core.close(code, reason)?;
        }
        // A failed write shows up again, with its cause, from `recv`.
        let _ = self.flush().await;
        loop {
            match self.recv().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    }

    /// Splits the connection into a read half and a cloneable write half
    /// that can be used from different tasks, and spawns the task that
    /// drives the connection (reads, writes, timers) on the current tokio
    /// runtime. See [`split`](crate::split) for the details.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like [`tokio::spawn`]. Use
    /// [`split_with_driver`](Self::split_with_driver) to run the driver
    /// yourself.
    ///
    /// ```
    /// # use ws_tokio::{Message, Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// let (a, b) = tokio::io::duplex(1024);
    /// let (mut reader, writer) = WebSocketStream::from_raw(a, Role::Server, Default::default()).split();
    /// let mut client = WebSocketStream::from_raw(b, Role::Client, Default::default());
    /// let w = writer.clone();
    /// tokio::spawn(async move { w.send(Message::Text("from another task".into())).await });
    /// assert_eq!(client.recv().await.unwrap()?, Message::Text("from another task".into()));
    /// # drop((reader, writer)); Ok(()) }
    /// ```
    pub fn split(self) -> (crate::split::ReadHalf, crate::split::WriteHalf)
    where
        S: Send + 'static,
    {
        self.split_with(crate::split::SplitOptions::default())
    }

    /// [`split`](Self::split) with explicit queue sizes.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream, SplitOptions};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let options = SplitOptions { read_queue: 4, write_queue: 64 };
    /// let (_reader, _writer) = WebSocketStream::from_raw(a, Role::Server, Default::default()).split_with(options);
    /// # }
    /// ```
    pub fn split_with(
        self,
        options: crate::split::SplitOptions,
    ) -> (crate::split::ReadHalf, crate::split::WriteHalf)
    where
        S: Send + 'static,
    {
        let (reader, writer, driver) = self.split_with_driver(options);
        tokio::spawn(driver);
        (reader, writer)
    }

    /// Splits without spawning: returns the halves and the [`Driver`]
    /// future, which must be polled (spawned on any executor, or awaited in
    /// a `select!`) for either half to make progress.
    ///
    /// [`Driver`]: crate::split::Driver
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream, SplitOptions};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// let (_reader, _writer, driver) = ws.split_with_driver(SplitOptions::default());
    /// tokio::spawn(driver);
    /// # }
    /// ```
    pub fn split_with_driver(
        self,
        options: crate::split::SplitOptions,
    ) -> (
        crate::split::ReadHalf,
        crate::split::WriteHalf,
        crate::split::Driver<S>,
    ) {
        crate::split::split(self, options)
    }

    /// A value that changes whenever the connection's phase does (for the
    /// split driver, to know whether `poll_recv` has new work).
    pub(crate) fn phase_changes(&self) -> impl PartialEq {
        std::mem::discriminant(&self.phase)
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.phase == Phase::Open {
            Ok(())
        } else {
            Err(Error::Closed)
        }
    }

    /// Queues a message; a message the queue cannot take yet waits in
    /// `staged` (room was made by `poll_ready_send`, so there is at most one).
    pub(crate) fn queue(&mut self, message: Message) -> Result<(), Error> {
        self.check_open()?;
        match self.core.send(&message) {
            Ok(()) => Ok(()),
            Err(SendError::QueueFull) if self.staged.is_none() => {
                self.staged = Some(message);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn queue_ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        Ok(self.core.send_ping(payload)?)
    }

    pub(crate) fn queue_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.check_open()?;
        if self.core.state() != State::Open {
            return Err(Error::Closed);
        }
        Ok(self.core.close(code, reason)?)
    }

    /// The queue can take a message (`Ready(Ok)`): nothing staged and the
    /// queue under its limit.
    pub(crate) fn has_room(&self) -> bool {
        self.staged.is_none() && !self.core.over_limit()
    }

    /// Ready once the queue can take another message.
    pub(crate) fn poll_ready_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            self.check_open()?;
            if self.core.state() != State::Open {
                return Poll::Ready(Err(Error::Closed));
            }
            if self.has_room() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_write_step(cx))?;
        }
    }

    /// Writes until nothing is queued or staged.
    pub(crate) fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if self.core.output_len() == 0 && self.staged.is_none() {
                return Poll::Ready(Ok(()));
            }
            if !matches!(self.phase, Phase::Open | Phase::Flushing(_)) {
                return Poll::Ready(Err(Error::Closed));
            }
            ready!(self.poll_write_step(cx))?;
        }
    }

    /// One round of writing: the queue, then the staged message.
    /// `Ready(Ok)` means progress was made. While the transport is full the
    /// protocol timers still run, so a peer that stopped reading fails the
    /// pong deadline or the close timeout instead of holding us forever.
    fn poll_write_step(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.poll_write_queued(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => {
                if self.phase == Phase::Open && self.poll_timer(cx).is_ready() {
                    if self.core.should_close_transport() {
                        // A timer gave up on the peer; `recv` reports why.
                        self.phase = Phase::Shutdown(Instant::now() + LINGER);
                        return Poll::Ready(Err(Error::Closed));
                    }
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }

    /// Writes the queue; once it is empty, moves the staged message in.
    fn poll_write_queued(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.core.poll_write(&mut self.io, cx) {
            Poll::Ready(Ok(())) => {
                if let Some(message) = self.staged.take() {
                    // An empty queue takes any message.
                    if let Err(e) = self.core.send(&message) {
                        return Poll::Ready(Err(e.into()));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.transport_failed(e);
                Poll::Ready(Err(Error::Io(copy)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn transport_failed(&mut self, e: io::Error) {
        self.core.transport_gone();
        if self.io_error.is_none() && self.failure.is_none() {
            self.io_error = Some(e);
        }
        self.phase = Phase::Done;
    }

    /// Polls the protocol timers: `Ready` once one fired (and was handled).
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.core.deadline() else {
            return Poll::Pending;
        };
        ready!(self.poll_sleep_until(deadline, cx));
        self.core.on_timer(Instant::now());
        Poll::Ready(())
    }

    fn poll_sleep_until(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if deadline <= Instant::now() {
            return Poll::Ready(());
        }
        let sleep = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }

    /// What `recv` reports once the connection is over.
    fn outcome(&mut self) -> Option<Result<Message, Error>> {
        if self.reported {
            return None;
        }
        self.reported = true;
        // A failure found on the send path (a timer firing while a write
        // waited) is still in the core's event queue.
        while let Some(event) = self.core.next_event() {
            if let Event::Error(e) = event {
                self.failure.get_or_insert(e);
            }
        }
        if let Some(e) = self.io_error.take() {
            return Some(Err(Error::Io(e)));
        }
        self.failure.map(|e| Err(Error::Protocol(e)))
    }

    /// Where to go once the connection is closed and its output written.
    fn after_close(&self) -> Phase {
        let deadline = Instant::now() + LINGER;
        if self.core.role() == Role::Client && self.failure.is_none() && !self.eof {
            Phase::Linger(deadline)
        } else {
            Phase::Shutdown(deadline)
        }
    }

    /// The receive loop behind [`recv`](Self::recv) and [`Stream`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            match self.phase {
                Phase::Open => {}
                Phase::Done => return Poll::Ready(self.outcome()),
                Phase::Flushing(deadline) => {
                    match self.poll_write_queued(cx) {
                        Poll::Ready(Ok(())) if self.core.output_len() > 0 => continue,
                        Poll::Ready(Ok(())) => self.phase = self.after_close(),
                        Poll::Ready(Err(_)) => {}
                        Poll::Pending => {
                            ready!(self.poll_sleep_until(deadline, cx));
                            self.phase = Phase::Shutdown(Instant::now() + LINGER);
                        }
                    }
                    continue;
                }
                Phase::Linger(deadline) => {
                    match self.core.poll_discard(&mut self.io, cx) {
                        Poll::Ready(Ok(n)) if n > 0 => continue,
                        Poll::Ready(_) => self.phase = Phase::Shutdown(Instant::now() + LINGER),
                        Poll::Pending => {
                            ready!(self.poll_sleep_until(deadline, cx));
                            self.phase = Phase::Shutdown(Instant::now() + LINGER);
                        }
                    }
                    continue;
                }
                Phase::Shutdown(deadline) => {
                    if Pin::new(&mut self.io).poll_shutdown(cx).is_pending() {
                        ready!(self.poll_sleep_until(deadline, cx));
                    }
                    self.phase = Phase::Done;
                    continue;
                }
            }

            // 1. Events: the first data message is returned; replies to
            // control frames are already queued by the connection.
            while let Some(event) = self.core.next_event() {
                match event {
                    Event::Message(message) => {
                        // Get queued replies moving; what the transport
                        // cannot take now stays queued for the next call. A
                        // failed write is recorded and reported by the next
                        // call, after this message.
                        let _ = self.poll_write_queued(cx);
                        return Poll::Ready(Some(Ok(message)));
                    }
                    Event::Error(error) => self.failure = Some(error),
                    // `stream_messages` is the caller's choice of Config;
                    // chunks are not surfaced by this type.
                    Event::Close { .. }
                    | Event::Ping(_)
                    | Event::Pong(_)
                    | Event::MessageChunk { .. } => {}
                }
            }

            // 2. Write pongs, close replies, keep-alive pings.
            let written = self.poll_write_queued(cx);
            if let Poll::Ready(Err(_)) = written {
                continue;
            }

            // 3. The end of the connection.
            if self.core.state() == State::Closed {
                self.phase = if self.core.output_len() == 0 && self.staged.is_none() {
                    self.after_close()
                } else if self.core.should_close_transport() {
                    // Timed out on the peer: queued bytes are not waited for.
                    Phase::Shutdown(Instant::now() + LINGER)
                } else {
                    Phase::Flushing(Instant::now() + self.core.close_timeout().min(LINGER))
                };
                continue;
            }

            // 4. Timers.
            if self.poll_timer(cx).is_ready() {
                continue;
            }

            // 5. Read. End-of-file is handed to the connection, which turns
            // it into a close or a failure at step 1.
            if self.eof {
                self.phase = Phase::Shutdown(Instant::now() + LINGER);
                continue;
            }
            match self.core.poll_read(&mut self.io, cx) {
                Poll::Ready(Ok(0)) => self.eof = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => self.transport_failed(e),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

/// `poll_ready` waits for room in the send queue, `start_send` queues,
/// `poll_flush` writes everything, `poll_close` sends a close frame with
/// 1000 and writes it (the peer's reply arrives through the `Stream` side).
impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_ready_send(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.get_mut().queue(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_flush_all(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.phase == Phase::Open && this.core.state() == State::Open {
            this.core.close(CloseCode::NORMAL, "")?;
        }
        this.poll_flush_all(cx)
    }
}
