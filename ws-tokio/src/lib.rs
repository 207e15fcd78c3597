//! # ws-tokio
//!
//! [`ws_proto`]'s WebSocket core (RFC 6455) on tokio: [`WebSocketStream`]
//! over any `AsyncRead + AsyncWrite` transport, with a cancel-safe
//! [`recv`](WebSocketStream::recv), [`send`](WebSocketStream::send),
//! [`feed`](WebSocketStream::feed)/[`flush`](WebSocketStream::flush)
//! batching, [`close`](WebSocketStream::close), `futures`
//! [`Stream`](futures_core::Stream) + [`Sink`](futures_sink::Sink), and the
//! keep-alive, pong deadline and close timeout on tokio's timer.
//! [`split`](WebSocketStream::split) gives a [`ReadHalf`] and a cloneable
//! [`WriteHalf`] for different tasks, driven by a task of their own, with
//! bounded queues ([`split`] module). Server side: [`accept`], or
//! [`Incoming`] to route first, with ws-proto's shared
//! [`AcceptPolicy`](ws_proto::handshake::policy::AcceptPolicy).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod core;
mod error;
mod server;
pub mod split;
mod stream;

pub use error::Error;
pub use server::{accept, AcceptError, AcceptOptions, Incoming};
pub use split::{Driver, ReadHalf, SplitOptions, WriteHalf};
pub use stream::WebSocketStream;
/// The protocol core, for its configuration and handshake types.
pub use ws_proto as proto;
pub use ws_proto::close::CloseCode;
pub use ws_proto::connection::{Config, Message};
pub use ws_proto::Role;
