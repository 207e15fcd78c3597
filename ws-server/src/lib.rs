//! # ws-server
//!
//! A thin blocking driver for [`ws_proto`] on `std` sockets, and the bundled
//! echo server.
//!
//! - [`WebSocket`]: a blocking WebSocket over any [`Transport`] (a
//!   `TcpStream`, a `UnixStream`, ...): [`recv`](WebSocket::recv),
//!   [`send_text`](WebSocket::send_text), [`send_binary`](WebSocket::send_binary),
//!   [`ping`](WebSocket::ping), [`close`](WebSocket::close).
//!   [`split`](WebSocket::split) gives a [`Reader`] and a [`Writer`]; the
//!   writer is `Clone + Send + Sync` for pushing from other threads, and
//!   frames never interleave. Keep-alive, pong answers and the close
//!   handshake run inside `recv` and inside every send.
//! - [`Outbox`]: a bounded queue with its own thread in front of a writer,
//!   for broadcasters that must not wait on a slow peer
//!   ([`Error::QueueFull`]).
//! - [`connect`] and [`ClientBuilder`]: the client side, `ws://` and (with
//!   the default `tls` feature) `wss://`, returning the same [`WebSocket`].
//! - [`accept`]: the server side of the opening handshake on one stream.
//! - [`Server`]: binds, accepts, runs one thread per connection (at most
//!   [`Options::max_connections`]), routes by path to WebSocket and plain
//!   HTTP handlers, contains handler panics, and shuts down gracefully
//!   (close 1001 to every connection).
//!   With [`ServerBuilder::tls`](crate::ServerBuilder) it serves `https://`
//!   and `wss://` (module `tls`, rustls with the ring provider).
//! - [`echo`] and [`chat`]: the applications of the `ws-server` binary and
//!   of the `chat` example, written against the public API only.
//!
//! Features: `cli` (default) builds the binary's command line, logging and
//! signal handling; `tls` (default) adds rustls. A library user can turn
//! both off (`default-features = false`).
//!
//! ```no_run
//! use ws_server::{Message, Server};
//!
//! let server = Server::builder()
//!     .bind("127.0.0.1:0")
//!     .allowed_origin("https://app.example.com")
//!     .keep_alive_interval(std::time::Duration::from_secs(30))
//!     .websocket("/chat", |ws| {
//!         // One thread per connection: plain blocking code.
//!         while let Ok(Some(message)) = ws.recv() {
//!             let reply = match message {
//!                 Message::Text(text) => format!("you said {text}"),
//!                 Message::Binary(data) => format!("{} bytes", data.len()),
//!             };
//!             if ws.send_text(&reply).is_err() {
//!                 break;
//!             }
//!         }
//!     })
//!     .http("/", |_request| ws_server::HttpResponse::html("<p>hello</p>"))
//!     .build()?;
//! println!("listening on {}", server.local_addr());
//! let handle = server.handle(); // handle.shutdown() from any thread
//! server.run()?; // or server.spawn()? for a background thread
//! # drop(handle);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Every protocol decision (handshake checks, framing, UTF-8, limits,
//! timers) is `ws_proto`'s; this crate moves bytes and time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chat;
pub mod client;
pub mod echo;
mod http;
mod outbox;
mod overload;
mod server;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;
mod websocket;

pub use client::{connect, ClientBuilder, ConnectError};
pub use http::{HttpRequest, HttpResponse};
pub use outbox::Outbox;
pub use server::{
    accept, AcceptError, HttpHandler, Options, OptionsError, RunningServer, Server, ServerBuilder,
    ShutdownHandle, WsHandler,
};
pub use stream::Stream;
pub use websocket::{Error, Reader, RequestInfo, Stats, Transport, WebSocket, Writer};
pub use ws_proto;
pub use ws_proto::close::CloseCode;
pub use ws_proto::connection::Message;

/// The README's examples (the core's and the client's) run as doctests
/// here, where both `ws_proto` and this crate are in scope, so the front
/// page cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
