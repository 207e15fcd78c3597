//! A hand-driven peer for the tests: a ws-proto `Connection` over one end
//! of a `tokio::io::duplex`, so a test sees every frame (pings, pongs,
//! close frames) that the WebSocketStream under test sends.

#![allow(dead_code)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use ws_tokio::proto::connection::{Config, Connection, Event};
use ws_tokio::Role;

pub struct RawPeer {
    pub io: DuplexStream,
    pub conn: Connection,
}

impl RawPeer {
    pub fn new(io: DuplexStream, role: Role) -> Self {
        let conn = match role {
            Role::Client => Connection::client(Config::default(), [9; 32]),
            Role::Server => Connection::server(Config::default()),
        };
        RawPeer { io, conn }
    }

    /// Writes everything the connection queued.
    pub async fn flush(&mut self) {
        let out = self.conn.pending_output().to_vec();
        self.conn.consume_output(out.len());
        self.io.write_all(&out).await.unwrap();
    }

    /// Reads until the connection produces an event, or `None` at EOF.
    /// Does not answer pings unless `flush` is called.
    pub async fn next_event(&mut self) -> Option<Event> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(event) = self.conn.poll_event() {
                return Some(event);
            }
            let n = self.io.read(&mut buf).await.ok()?;
            if n == 0 {
                self.conn.handle_eof();
                return self.conn.poll_event();
            }
            self.conn.feed(&buf[..n]);
        }
    }

    /// The next event within `limit`, or `None` if none came.
    pub async fn next_event_within(&mut self, limit: Duration) -> Option<Event> {
        tokio::time::timeout(limit, self.next_event())
            .await
            .ok()
            .flatten()
    }
}

/// The bytes of one masked client frame carrying `text`.
pub fn client_text_frame(text: &str) -> Vec<u8> {
    let mut conn = Connection::client(Config::default(), [3; 32]);
    conn.send_text(text).unwrap();
    conn.pending_output().to_vec()
}
