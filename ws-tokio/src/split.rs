//! Split halves: a [`ReadHalf`] and a cloneable [`WriteHalf`], usable from
//! different tasks, around a [`Driver`] task that owns the connection.
//!
//! The driver is the only one touching the transport and the protocol
//! core, so there is no lock and no question of who answers a ping: it
//! reads, answers pings, replies to the peer's close, sends keep-alive
//! pings and runs the pong deadline and close timeout whether or not
//! anyone is waiting on the read half.
//!
//! Back-pressure is explicit and bounded at every step:
//!
//! * the write half's queue holds at most
//!   [`SplitOptions::write_queue`] messages; [`WriteHalf::send`] waits for
//!   room, [`WriteHalf::try_send`] fails with [`Error::QueueFull`];
//! * the driver takes messages from that queue only while the connection's
//!   own send queue is under [`Config::max_send_queue`](ws_proto::connection::Config::max_send_queue) bytes;
//! * received messages wait in a queue of [`SplitOptions::read_queue`]
//!   messages; when it is full the driver stops reading the transport, so
//!   a slow reader slows the peer down through TCP instead of growing
//!   memory.
//!
//! When every write half is dropped the connection stays open for reading;
//! when the read half is dropped too, the driver closes it with 1000. The
//! read half ends (`None`, or one error then `None`) when the connection
//! does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;
use ws_proto::close::CloseCode;
use ws_proto::connection::{Message, State};
use ws_proto::frame::MAX_CONTROL_PAYLOAD;

use crate::error::Error;
use crate::stream::WebSocketStream;

/// Queue sizes of a split connection, in messages.
///
/// ```
/// use ws_tokio::SplitOptions;
/// assert_eq!(SplitOptions::default().write_queue, 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitOptions {
    /// Received messages waiting for the read half. Default 16; 0 counts
    /// as 1.
    pub read_queue: usize,
    /// Messages waiting for the driver, shared by every clone of the write
    /// half. Default 64; 0 counts as 1.
    pub write_queue: usize,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            read_queue: 16,
            write_queue: 64,
        }
    }
}

/// What a write half asks of the driver.
#[derive(Debug)]
enum Command {
    Message(Message),
    Ping(Bytes),
    Close(CloseCode, String),
}

pub(crate) fn split<S: AsyncRead + AsyncWrite + Unpin>(
    ws: WebSocketStream<S>,
    options: SplitOptions,
) -> (ReadHalf, WriteHalf, Driver<S>) {
    let (in_tx, in_rx) = mpsc::channel(options.read_queue.max(1));
    let (out_tx, out_rx) = mpsc::channel(options.write_queue.max(1));
    let subprotocol = ws.subprotocol().map(str::to_owned);
    let driver = Driver {
        ws,
        commands: out_rx,
        commands_open: true,
        inbound: PollSender::new(in_tx),
        reader_open: true,
        finished: false,
    };
    (
        ReadHalf {
            rx: in_rx,
            subprotocol,
        },
        WriteHalf {
            tx: PollSender::new(out_tx),
        },
        driver,
    )
}

/// The receiving side of a split connection. Cancel-safe.
///
/// ```
/// # use ws_tokio::{Message, Role, WebSocketStream};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ws_tokio::Error> {
/// let (a, b) = tokio::io::duplex(1024);
/// let (mut reader, _writer) = WebSocketStream::from_raw(a, Role::Server, Default::default()).split();
/// let mut client = WebSocketStream::from_raw(b, Role::Client, Default::default());
/// client.send(Message::Text("hi".into())).await?;
/// assert_eq!(reader.recv().await.unwrap()?, Message::Text("hi".into()));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ReadHalf {
    rx: mpsc::Receiver<Result<Message, Error>>,
    subprotocol: Option<String>,
}

impl ReadHalf {
    /// The next data message; `None` once the connection is over (after
    /// one `Err` if it failed). Cancel-safe.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, b) = tokio::io::duplex(1024);
    /// let (mut reader, _writer) = WebSocketStream::from_raw(a, Role::Server, Default::default()).split();
    /// drop(b); // the peer vanishes without a close frame
    /// assert!(matches!(reader.recv().await, Some(Err(_))));
    /// assert!(reader.recv().await.is_none());
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        self.rx.recv().await
    }

    /// The subprotocol agreed in the opening handshake.
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let (reader, _writer) = WebSocketStream::from_raw(a, Role::Server, Default::default()).split();
    /// assert_eq!(reader.subprotocol(), None);
    /// # }
    /// ```
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }
}

impl Stream for ReadHalf {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

/// The sending side of a split connection. Clone it to send from many
/// tasks (a broadcast holds one per connection); every clone shares one
/// bounded queue.
///
/// A successful send means the message is queued for the connection's
/// driver, which writes it as soon as the transport takes it; a message
/// queued after the connection ended is dropped. [`closed`](Self::closed)
/// tells when that happened.
///
/// ```
/// # use ws_tokio::{Message, Role, WebSocketStream};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ws_tokio::Error> {
/// let (a, _b) = tokio::io::duplex(1024);
/// let (_reader, writer) = WebSocketStream::from_raw(a, Role::Server, Default::default()).split();
/// let everyone = vec![writer.clone(), writer];
/// for w in &everyone {
///     w.send(Message::Text("news".into())).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct WriteHalf {
    tx: PollSender<Command>,
}

impl WriteHalf {
    fn sender(&self) -> Result<&mpsc::Sender<Command>, Error> {
        self.tx.get_ref().ok_or(Error::Closed)
    }

    async fn command(&self, command: Command) -> Result<(), Error> {
        self.sender()?
            .send(command)
            .await
            .map_err(|_| Error::Closed)
    }

    /// Queues a message, waiting while the queue is full.
    ///
    /// ```
    /// # use ws_tokio::{Message, Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let (_reader, writer) = WebSocketStream::from_raw(a, Role::Server, Default::default()).split();
    /// writer.send(Message::Binary(vec![0; 3].into())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        self.command(Command::Message(message)).await
    }

    /// Queues a message if there is room now: [`Error::QueueFull`] if not
    /// (skip a slow subscriber, or drop it), [`Error::Closed`] if the
    /// connection is over.
    ///
    /// ```
    /// # use ws_tokio::{Error, Message, Role, SplitOptions, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, _b) = tokio::io::duplex(1024);
    /// let ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
    /// // Not spawned: nothing drains the queue of one.
    /// let (_reader, writer, _driver) = ws.split_with_driver(SplitOptions { read_queue: 1, write_queue: 1 });
    /// writer.try_send(Message::Text("1".into())).unwrap();
    /// assert!(matches!(writer.try_send(Message::Text("2".into())), Err(Error::QueueFull)));
    /// # }
    /// ```
    pub fn try_send(&self, message: Message) -> Result<(), Error> {
        self.sender()?
            .try_send(Command::Message(message))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Error::QueueFull,
                mpsc::error::TrySendError::Closed(_) => Error::Closed,
            })
    }

    /// Queues a ping (at most 125 bytes). Its pong is consumed by the
    /// driver.
    ///
    /// ```
    /// # use ws_tokio::{Error, Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let (_reader, writer) = WebSocketStream::from_raw(a, Role::Server, Default::default()).split();
    /// assert!(matches!(writer.ping(&[0; 126]).await, Err(Error::ControlTooLong)));
    /// # }
    /// ```
    pub async fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::ControlTooLong);
        }
        self.command(Command::Ping(Bytes::copy_from_slice(payload)))
            .await
    }

    /// Starts the close handshake with `code` and `reason` (cut to 123
    /// bytes). The read half ends once the peer has answered (or the close
    /// timeout passed).
    ///
    /// ```
    /// # use ws_tokio::{CloseCode, Error, Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_tokio::Error> {
    /// # let (a, _b) = tokio::io::duplex(1024);
    /// let (_reader, writer) = WebSocketStream::from_raw(a, Role::Server, Default::default()).split();
    /// assert!(matches!(writer.close(CloseCode::ABNORMAL, "").await, Err(Error::InvalidCloseCode(_))));
    /// writer.close(CloseCode::NORMAL, "done").await?;
    /// # Ok(()) }
    /// ```
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if !code.is_valid_on_wire() {
            return Err(Error::InvalidCloseCode(code));
        }
        self.command(Command::Close(code, reason.to_owned())).await
    }

    /// Waits until the connection is over (the driver has finished).
    ///
    /// ```
    /// # use ws_tokio::{Role, WebSocketStream};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, b) = tokio::io::duplex(1024);
    /// let (_reader, writer) = WebSocketStream::from_raw(a, Role::Server, Default::default()).split();
    /// drop(b);
    /// writer.closed().await;
    /// # }
    /// ```
    pub async fn closed(&self) {
        if let Some(tx) = self.tx.get_ref() {
            tx.closed().await;
        }
    }
}

/// `poll_flush` only means "handed to the driver": the driver writes as
/// soon as the transport takes it. `poll_close` closes this clone's access
/// to the queue, not the connection (use [`WriteHalf::close`]).
impl Sink<Message> for WriteHalf {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut()
            .tx
            .poll_reserve(cx)
            .map_err(|_| Error::Closed)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.get_mut()
            .tx
            .send_item(Command::Message(item))
            .map_err(|_| Error::Closed)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().tx.close();
        Poll::Ready(Ok(()))
    }
}

/// The task that drives a split connection: see the [module](self)
/// documentation. Spawned by [`WebSocketStream::split`]; returned by
/// [`WebSocketStream::split_with_driver`] to run on an executor of your
/// choice. It completes when the connection is over.
///
/// ```
/// # use ws_tokio::{Role, SplitOptions, WebSocketStream};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (a, b) = tokio::io::duplex(1024);
/// let ws = WebSocketStream::from_raw(a, Role::Server, Default::default());
/// let (reader, writer, driver) = ws.split_with_driver(SplitOptions::default());
/// drop((reader, writer, b));
/// driver.await; // the peer is gone: the driver finishes
/// # }
/// ```
#[derive(Debug)]
pub struct Driver<S> {
    ws: WebSocketStream<S>,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    inbound: PollSender<Result<Message, Error>>,
    reader_open: bool,
    finished: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    fn apply(&mut self, command: Command) {
        // Errors mean the connection is closing or over: the message cannot
        // go out any more, and the read half reports how it ended.
        let _ = match command {
            Command::Message(message) => self.ws.queue(message),
            Command::Ping(payload) => self.ws.queue_ping(&payload),
            Command::Close(code, reason) => self.ws.queue_close(code, &reason),
        };
    }

    /// Takes what the write halves queued while the connection has room
    /// for it. True if it stopped for lack of room (so writing out may let
    /// it take more), false if the queue is empty or closed.
    fn take_commands(&mut self, cx: &mut Context<'_>) -> bool {
        while self.commands_open {
            if !self.ws.has_room() {
                return true;
            }
            match self.commands.poll_recv(cx) {
                Poll::Ready(Some(command)) => self.apply(command),
                Poll::Ready(None) => self.commands_open = false,
                Poll::Pending => return false,
            }
        }
        false
    }

    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            // 1. Commands from the write halves.
            let waiting_for_room = self.take_commands(cx);
            if !self.commands_open && !self.reader_open && self.ws.state() == State::Open {
                // Nobody can use the connection any more.
                let _ = self.ws.queue_close(CloseCode::NORMAL, "");
            }

            // 2. Receive, if the read half has room for a message (or is
            // gone: then messages are dropped).
            if self.reader_open {
                match self.inbound.poll_reserve(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => {
                        self.reader_open = false;
                        continue;
                    }
                    Poll::Pending => {
                        // A slow reader: read nothing more (TCP slows the
                        // peer down), but keep writing and the timers
                        // running. The reservation wakes us when it reads.
                        match self.ws.poll_flush_all(cx) {
                            Poll::Ready(Ok(())) if waiting_for_room => continue,
                            _ => return Poll::Pending,
                        }
                    }
                }
            }
            match self.ws.poll_recv(cx) {
                Poll::Ready(Some(item)) => {
                    if self.reader_open {
                        // The permit was reserved above; if the reader just
                        // left, the message goes with it.
                        let _ = self.inbound.send_item(item);
                    }
                }
                Poll::Ready(None) => return Poll::Ready(()),
                // Reads and timers are waiting; make sure writes are too.
                Poll::Pending => {
                    let before = self.ws.phase_changes();
                    match self.ws.poll_flush_all(cx) {
                        Poll::Ready(Ok(())) if waiting_for_room => {}
                        // The connection moved on (a timer gave up, the
                        // transport failed): `poll_recv` takes it from here.
                        Poll::Ready(Err(_)) if self.ws.phase_changes() != before => {}
                        _ => return Poll::Pending,
                    }
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Driver<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(());
        }
        let result = this.drive(cx);
        if result.is_ready() {
            this.finished = true;
            // Ends the read half's stream and fails the write halves.
            this.inbound.close();
            this.commands.close();
        }
        result
    }
}
