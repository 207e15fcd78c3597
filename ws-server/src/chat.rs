//! The chat application of the `chat` example: every text or binary
//! message a client sends on `/ws` is broadcast, unchanged and with its
//! opcode, to every connected client including the sender, in the order
//! the server received them.
//!
//! Each client has an [`Outbox`] of [`Room::capacity`] messages. A client
//! whose outbox is full is not keeping up: it is closed with **1013** (Try
//! Again Later: the client did nothing wrong, it is only too slow for now,
//! and may reconnect), and the others carry on without waiting for it.
//!
//! It uses only the crate's public API, as any application would.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ws_server::chat::Room;
//!
//! let room = Arc::new(Room::new(256));
//! let server = ws_server::chat::routes(ws_server::Server::builder().bind("127.0.0.1:5001"), room)
//!     .build()?;
//! server.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::sync::{Arc, Mutex, MutexGuard};

use log::info;
use ws_proto::close::CloseCode;
use ws_proto::connection::Message;

use crate::{Error, Outbox, ServerBuilder, Transport, WebSocket};

/// Stack of each outbox thread: it only calls `Writer::send`.
const OUTBOX_STACK: usize = 64 << 10;

/// The connected clients, in one broadcast order.
///
/// ```
/// let room = ws_server::chat::Room::new(8);
/// assert_eq!(room.len(), 0);
/// assert_eq!(room.capacity(), 8);
/// ```
#[derive(Debug)]
pub struct Room {
    capacity: usize,
    members: Mutex<Members>,
}

#[derive(Debug, Default)]
struct Members {
    next_id: u64,
    outboxes: Vec<(u64, Outbox)>,
}

impl Room {
    /// An empty room whose members may each have `capacity` messages
    /// waiting before they are closed with 1013.
    pub fn new(capacity: usize) -> Self {
        Room {
            capacity: capacity.max(1),
            members: Mutex::new(Members::default()),
        }
    }

    /// Messages a member may have waiting.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Members connected now.
    pub fn len(&self) -> usize {
        self.members().outboxes.len()
    }

    /// Whether nobody is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn members(&self) -> MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn join(&self, outbox: Outbox) -> u64 {
        let mut members = self.members();
        members.next_id += 1;
        let id = members.next_id;
        members.outboxes.push((id, outbox));
        id
    }

    fn leave(&self, id: u64) {
        self.members().outboxes.retain(|(i, _)| *i != id);
    }

    /// Sends `message` to every member. The lock makes one order for
    /// everybody; no member is waited on. Members that cannot keep up are
    /// closed with 1013 and leave.
    ///
    /// ```
    /// use ws_server::{chat::Room, Message};
    /// let room = Room::new(4);
    /// room.broadcast(&Message::Text("to nobody".into()));
    /// assert!(room.is_empty());
    /// ```
    pub fn broadcast(&self, message: &Message) {
        self.members()
            .outboxes
            .retain(|(id, outbox)| match outbox.send(message.clone()) {
                Ok(()) => true,
                Err(Error::QueueFull) => {
                    info!("chat: member {id} is too slow: closing it with 1013");
                    outbox.close(CloseCode::TRY_AGAIN_LATER, "too slow: send queue full");
                    false
                }
                Err(_) => false,
            });
    }

    /// Runs one member: joins, broadcasts what it sends until it leaves.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use std::sync::Arc;
    /// use ws_proto::connection::{Config, Connection, Message};
    /// use ws_server::{chat::Room, CloseCode, WebSocket};
    ///
    /// let room = Arc::new(Room::new(8));
    /// let (a, b) = UnixStream::pair().unwrap();
    /// let mut member = WebSocket::new(a, Connection::server(Config::default()), &[]);
    /// let served = { let room = room.clone(); std::thread::spawn(move || room.serve(&mut member)) };
    /// let mut client = WebSocket::new(b, Connection::client(Config::default(), [5; 32]), &[]);
    /// client.send_text("echoed to me too").unwrap();
    /// assert_eq!(client.recv().unwrap(), Some(Message::Text("echoed to me too".into())));
    /// client.close(CloseCode::NORMAL, "").unwrap();
    /// served.join().unwrap();
    /// assert!(room.is_empty());
    /// ```
    pub fn serve<S: Transport + Send + Sync + 'static>(&self, ws: &mut WebSocket<S>) {
        let Ok(outbox) = ws.writer().outbox(self.capacity, OUTBOX_STACK) else {
            return;
        };
        let id = self.join(outbox);
        while let Ok(Some(message)) = ws.recv() {
            self.broadcast(&message);
        }
        self.leave(id);
    }
}

/// Adds the chat endpoint on `/ws` for `room`.
///
/// ```
/// use std::sync::Arc;
/// let server = ws_server::chat::routes(
///     ws_server::Server::builder().bind("127.0.0.1:0"),
///     Arc::new(ws_server::chat::Room::new(16)),
/// )
/// .build()
/// .unwrap();
/// assert_ne!(server.local_addr().port(), 0);
/// ```
pub fn routes(builder: ServerBuilder, room: Arc<Room>) -> ServerBuilder {
    builder.websocket("/ws", move |ws| room.serve(ws))
}
