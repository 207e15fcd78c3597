//! # ws-tokio
//!
//! [`ws_proto`]'s WebSocket core (RFC 6455) on tokio. An echo server:
//!
//! ```no_run
//! use ws_tokio::{accept, AcceptOptions};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//!     loop {
//!         let (tcp, _) = listener.accept().await?;
//!         tokio::spawn(async move {
//!             let Ok(mut ws) = accept(tcp, &AcceptOptions::default()).await else { return };
//!             while let Some(Ok(message)) = ws.recv().await {
//!                 if ws.send(message).await.is_err() { break; }
//!             }
//!         });
//!     }
//! }
//! ```
//!
//! A client:
//!
//! ```no_run
//! use ws_tokio::{connect, CloseCode, Message};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut ws = connect("ws://127.0.0.1:9001/").await?;
//!     ws.send(Message::Text("hello".into())).await?;
//!     let reply = ws.recv().await.ok_or("closed")??;
//!     println!("{reply:?}");
//!     ws.close(CloseCode::NORMAL, "bye").await?;
//!     Ok(())
//! }
//! ```
//!
//! What is here:
//!
//! * [`WebSocketStream`] over any `AsyncRead + AsyncWrite` transport:
//!   cancel-safe [`recv`](WebSocketStream::recv), [`send`](WebSocketStream::send),
//!   [`feed`](WebSocketStream::feed)/[`flush`](WebSocketStream::flush)
//!   batching, [`close`](WebSocketStream::close), `futures`
//!   [`Stream`](futures_core::Stream) + [`Sink`](futures_sink::Sink);
//!   keep-alive, pong deadline and close timeout on tokio's timer.
//! * [`split`](WebSocketStream::split) into a [`ReadHalf`] and a cloneable
//!   [`WriteHalf`] for different tasks, driven by a task of their own, with
//!   bounded queues ([`split`] module).
//! * Server: [`accept`], or [`Incoming`] to route first; origin and
//!   subprotocol decided by ws-proto's shared
//!   [`AcceptPolicy`](ws_proto::handshake::policy::AcceptPolicy).
//! * Client: [`connect`] (`ws://`, and `wss://` with the `tls` feature:
//!   tokio-rustls, ring, webpki-roots), or [`client_handshake`] over your
//!   own transport.
//! * With the `axum` feature, `axum::WebSocketUpgrade`,
//!   an extractor that upgrades an axum request.
//!
//! Every protocol decision (framing, masking, UTF-8, limits, ping/pong,
//! the close handshake, the handshake checks) is `ws_proto`'s; this crate
//! moves bytes and time. `docs/runtimes.md` in the repository explains how
//! to do the same on any event loop.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod client;
mod core;
mod error;
mod server;
pub mod split;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;

pub use client::{
    client_handshake, connect, connect_with, ClientOptions, ConnectError, MaybeTlsStream,
};
pub use error::Error;
pub use server::{accept, AcceptError, AcceptOptions, Incoming};
pub use split::{Driver, ReadHalf, SplitOptions, WriteHalf};
pub use stream::WebSocketStream;
/// The protocol core, for its configuration and handshake types.
pub use ws_proto as proto;
pub use ws_proto::close::CloseCode;
pub use ws_proto::connection::{Config, Message};
pub use ws_proto::Role;
