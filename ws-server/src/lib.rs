//! # ws-server
//!
//! A thin blocking driver for [`ws_proto`] on `std` sockets, and the bundled
//! echo server.
//!
//! - [`WebSocket`]: a blocking WebSocket over any [`Transport`] (a
//!   `TcpStream`, a `UnixStream`, ...): [`recv`](WebSocket::recv),
//!   [`send_text`](WebSocket::send_text), [`send_binary`](WebSocket::send_binary),
//!   [`ping`](WebSocket::ping), [`close`](WebSocket::close). Keep-alive,
//!   pong answers and the close handshake run inside `recv`.
//! - [`accept`]: the server side of the opening handshake on one stream.
//! - [`Server`]: binds, accepts, runs one thread per connection (at most
//!   [`Options::max_connections`]), routes by path to WebSocket and plain
//!   HTTP handlers, contains handler panics, and shuts down gracefully
//!   (close 1001 to every connection).
//! - [`echo`]: the echo handler and page of the `ws-server` binary, written
//!   against the public API only.
//!
//! Every protocol decision (handshake checks, framing, UTF-8, limits,
//! timers) is `ws_proto`'s; this crate moves bytes and time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod echo;
mod http;
mod server;
mod websocket;

pub use http::{HttpRequest, HttpResponse};
pub use server::{
    accept, AcceptError, HttpHandler, Options, RunningServer, Server, ServerBuilder,
    ShutdownHandle, WsHandler,
};
pub use websocket::{Error, RequestInfo, Stats, Transport, WebSocket};
pub use ws_proto;
pub use ws_proto::close::CloseCode;
pub use ws_proto::connection::Message;
