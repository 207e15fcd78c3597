//! The only place that calls `ws_proto::connection::Connection`.
//!
//! Everything else in the crate talks to [`Core`], so that changes to the
//! core's data path (reading straight into its receive buffer, vectored
//! output) touch this one file. `Core` also owns the clock origin: the
//! connection counts time as a `Duration` since it was created, which is
//! converted from and to tokio's `Instant` here (tokio's, so that
//! `tokio::time::pause` drives the protocol timers in tests).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::io::IoSlice;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use ws_proto::close::CloseCode;
use ws_proto::connection::{Config, Connection, Event, ExtensionError, Message, SendError, State};
use ws_proto::negotiation::Negotiated;
use ws_proto::Role;

/// Smallest read asked of the transport: below this, a system call costs
/// more than the bytes it brings.
const MIN_READ: usize = 1024;

/// Most output runs handed to one vectored write.
const MAX_IOVECS: usize = 16;

/// A [`Connection`] plus the clock origin. Transport reads go straight into
/// the connection's own receive buffer ([`Connection::recv_buffer`]) and are
/// committed in the same poll, so nothing is held outside the core between
/// calls (what cancel safety relies on).
#[derive(Debug)]
pub(crate) struct Core {
    conn: Connection,
    origin: Instant,
    /// Scratch for [`poll_discard`](Self::poll_discard), allocated only
    /// after the close handshake, when a client waits for the server's EOF.
    discard: Vec<u8>,
}

/// What seeds a client's masking keys: 32 bytes for ws-proto's ChaCha20
/// key generator.
pub(crate) type MaskSeed = [u8; 32];

/// A fresh masking seed from the operating system's CSPRNG.
pub(crate) fn random_seed() -> io::Result<MaskSeed> {
    let mut seed = MaskSeed::default();
    getrandom::fill(&mut seed).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(seed)
}

impl Core {
    /// A server connection after the opening handshake, with the
    /// extensions it negotiated.
    pub(crate) fn server(
        mut config: Config,
        negotiated: Negotiated,
        leftover: &[u8],
        read_size: usize,
    ) -> Result<Self, ExtensionError> {
        config.receive_buffer_size = read_size.max(MIN_READ);
        Ok(Self::new(
            Connection::server_with(config, negotiated)?,
            leftover,
        ))
    }

    /// A client connection after the opening handshake, with the
    /// extensions the server accepted.
    pub(crate) fn client(
        mut config: Config,
        negotiated: Negotiated,
        seed: MaskSeed,
        leftover: &[u8],
        read_size: usize,
    ) -> Result<Self, ExtensionError> {
        config.receive_buffer_size = read_size.max(MIN_READ);
        Ok(Self::new(
            Connection::client_with(config, negotiated, seed)?,
            leftover,
        ))
    }

    /// Wraps a connection that just finished its opening handshake.
    /// `leftover` is what the transport delivered after the handshake head.
    pub(crate) fn new(mut conn: Connection, leftover: &[u8]) -> Self {
        // Arms the keep-alive timer relative to our origin.
        conn.handle_timeout(std::time::Duration::ZERO);
        conn.feed(leftover);
        Core {
            conn,
            origin: Instant::now(),
            discard: Vec::new(),
        }
    }

    pub(crate) fn role(&self) -> Role {
        self.conn.role()
    }

    /// The next event, processing buffered input as far as needed.
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        self.conn.poll_event()
    }

    /// One read from the transport, straight into the connection's receive
    /// buffer. `Ready(Ok(0))` is end-of-file, already reported to the
    /// connection.
    pub(crate) fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        // All the spare room the connection lends (at least MIN_READ):
        // one read takes as much as the transport has.
        let mut buf = ReadBuf::new(self.conn.recv_buffer(MIN_READ));
        match Pin::new(io).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len();
                if n == 0 {
                    self.conn.handle_eof();
                } else {
                    self.conn.commit(n);
                }
                Poll::Ready(Ok(n))
            }
            other => other.map(|r| r.map(|()| 0)),
        }
    }

    /// Reads and discards (after the close handshake, while a client waits
    /// for the server to close the TCP connection). `Ready(Ok(0))` is EOF.
    pub(crate) fn poll_discard<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if self.discard.is_empty() {
            self.discard = vec![0; MIN_READ];
        }
        let mut buf = ReadBuf::new(&mut self.discard);
        Pin::new(io)
            .poll_read(cx, &mut buf)
            .map(|r| r.map(|()| buf.filled().len()))
    }

    /// Writes queued output until none is left (`Ready(Ok)`), the transport
    /// is full (`Pending`) or fails.
    pub(crate) fn poll_write<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let vectored = io.is_write_vectored();
        loop {
            if self.conn.output_len() == 0 {
                return Poll::Ready(Ok(()));
            }
            // Frame headers and payloads go out in one vectored write where
            // the transport supports it (TCP does); payloads a server sends
            // from `Bytes` are never copied on the way.
            let written = if vectored {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = self.conn.io_slices(&mut slices);
                Pin::new(&mut *io).poll_write_vectored(cx, &slices[..n])
            } else {
                Pin::new(&mut *io).poll_write(cx, self.conn.pending_output())
            };
            match written {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.conn.consume_output(n),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Bytes queued for the transport.
    pub(crate) fn output_len(&self) -> usize {
        self.conn.output_len()
    }

    /// More is queued than the configured send queue allows: stop queueing
    /// and write first.
    pub(crate) fn over_limit(&self) -> bool {
        self.output_len() > self.conn.config().max_send_queue
    }

    pub(crate) fn send(&mut self, message: &Message) -> Result<(), SendError> {
        self.conn.send(message)
    }

    pub(crate) fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.conn.send_ping(payload)
    }

    pub(crate) fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.conn.send_pong(payload)
    }

    pub(crate) fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.conn.close(code, reason)
    }

    pub(crate) fn state(&self) -> State {
        self.conn.state()
    }

    pub(crate) fn should_close_transport(&self) -> bool {
        self.conn.should_close_transport()
    }

    pub(crate) fn sent_close(&self) -> Option<(CloseCode, &str)> {
        self.conn.sent_close()
    }

    pub(crate) fn received_close(&self) -> Option<(CloseCode, &str)> {
        self.conn.received_close()
    }

    /// The transport broke: nothing more will be read or written.
    pub(crate) fn transport_gone(&mut self) {
        self.conn.handle_eof();
    }

    /// When [`on_timer`](Self::on_timer) must next run.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.conn.poll_timeout().map(|d| self.origin + d)
    }

    /// Fires the timers that are due at `now`.
    pub(crate) fn on_timer(&mut self, now: Instant) {
        self.conn
            .handle_timeout(now.saturating_duration_since(self.origin));
    }

    /// The connection's close timeout, used as the client's linger bound.
    pub(crate) fn close_timeout(&self) -> std::time::Duration {
        self.conn.config().close_timeout
    }
}
