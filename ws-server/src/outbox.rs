//! [`Outbox`]: a bounded queue of messages in front of a [`Writer`], for
//! senders that must never wait on one slow peer (a broadcast).
//!
//! A blocking socket gives a sender two choices when the peer stops
//! reading: wait (up to the write timeout) or not send. A broadcaster that
//! waits on one client delays every other one, so the outbox's own thread
//! does the waiting, and the broadcaster sees [`Error::QueueFull`] once
//! `capacity` messages are waiting: the peer is too slow, and the caller
//! decides (the chat closes it with 1013).

use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;

use ws_proto::close::CloseCode;
use ws_proto::connection::Message;

use crate::websocket::{Error, Transport, Writer};

enum Item {
    Message(Message),
    /// Look at the close request.
    Wake,
}

/// A bounded, ordered queue of messages for one connection, written out by
/// a thread of its own; dropping every clone lets the thread finish what is
/// queued and end.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use ws_proto::connection::{Config, Connection, Message};
/// use ws_server::{Error, WebSocket};
///
/// let (a, b) = UnixStream::pair().unwrap();
/// let server = WebSocket::new(a, Connection::server(Config::default()), &[]);
/// let mut client = WebSocket::new(b, Connection::client(Config::default(), [7; 32]), &[]);
/// let outbox = server.writer().outbox(16, 64 << 10).unwrap();
/// outbox.send(Message::Text("queued".into())).unwrap();
/// assert_eq!(client.recv().unwrap(), Some(Message::Text("queued".into())));
/// ```
#[derive(Clone)]
pub struct Outbox {
    queue: SyncSender<Item>,
    close: Arc<Mutex<Option<(CloseCode, String)>>>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

impl Outbox {
    /// Queues `message` without waiting: [`Error::QueueFull`] if `capacity`
    /// messages are already waiting, [`Error::Closed`] once the connection
    /// is finished or a close was asked for.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection, Message};
    /// # use ws_server::{CloseCode, Error, WebSocket};
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let server = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// let outbox = server.writer().outbox(1, 64 << 10).unwrap();
    /// outbox.close(CloseCode::NORMAL, "");
    /// assert!(matches!(outbox.send(Message::Text("late".into())), Err(Error::Closed)));
    /// ```
    pub fn send(&self, message: Message) -> Result<(), Error> {
        if self.closing() {
            return Err(Error::Closed);
        }
        match self.queue.try_send(Item::Message(message)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Error::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(Error::Closed),
        }
    }

    /// Asks for the connection to be closed with `code` and `reason`
    /// without waiting: the close frame goes out as soon as the message
    /// being written (if any) is done, ahead of what is still queued, which
    /// is dropped. If the peer does not complete the handshake within the
    /// close timeout, the connection is cut.
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection, Message};
    /// # use ws_server::{CloseCode, WebSocket};
    /// let (a, b) = UnixStream::pair().unwrap();
    /// let server = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// let mut client = WebSocket::new(b, Connection::client(Config::default(), [1; 32]), &[]);
    /// server.writer().outbox(4, 64 << 10).unwrap().close(CloseCode::TRY_AGAIN_LATER, "slow");
    /// assert_eq!(client.recv().unwrap(), None);
    /// assert_eq!(client.received_close(), Some((CloseCode::TRY_AGAIN_LATER, "slow".into())));
    /// ```
    pub fn close(&self, code: CloseCode, reason: &str) {
        {
            let mut close = self.close.lock().unwrap_or_else(|e| e.into_inner());
            if close.is_some() {
                return;
            }
            *close = Some((code, reason.to_owned()));
        }
        // If the queue is full the thread is busy and looks at the request
        // after its current message.
        let _ = self.queue.try_send(Item::Wake);
    }

    fn closing(&self) -> bool {
        self.close
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

impl<S: Transport + Send + Sync + 'static> Writer<S> {
    /// An [`Outbox`] for this connection: at most `capacity` messages wait,
    /// written out in order by a new thread with a stack of `stack_size`
    /// bytes (64 KiB is plenty for it).
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// # use ws_proto::connection::{Config, Connection, Message};
    /// # use ws_server::{Error, WebSocket};
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let ws = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// let outbox = ws.writer().outbox(2, 64 << 10).unwrap();
    /// // Nobody reads the other end: the socket buffer fills, then the queue.
    /// let big = Message::Binary(vec![0; 1 << 20].into());
    /// let full = (0..64).any(|_| matches!(outbox.send(big.clone()), Err(Error::QueueFull)));
    /// assert!(full);
    /// ```
    pub fn outbox(&self, capacity: usize, stack_size: usize) -> io::Result<Outbox> {
        let (queue, items) = mpsc::sync_channel(capacity.max(1));
        let close = Arc::new(Mutex::new(None));
        let writer = self.clone();
        let requested = close.clone();
        thread::Builder::new()
            .name("ws-outbox".into())
            .stack_size(stack_size)
            .spawn(move || drain(&writer, &items, &requested))?;
        Ok(Outbox { queue, close })
    }
}

fn drain<S: Transport>(
    writer: &Writer<S>,
    items: &Receiver<Item>,
    close: &Mutex<Option<(CloseCode, String)>>,
) {
    loop {
        let item = items.recv();
        let requested = close.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((code, reason)) = requested {
            if writer.close(code, &reason).is_ok() && !writer.wait_finished(writer.close_timeout())
            {
                // The peer (or our reader) never finished the handshake.
                writer.abort();
            }
            return;
        }
        match item {
            Ok(Item::Message(message)) => {
                if writer.send(&message).is_err() {
                    return;
                }
            }
            Ok(Item::Wake) => {}
            Err(_) => return,
        }
    }
}
