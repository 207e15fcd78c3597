//! # ws-proto
//!
//! A sans-IO, `#![no_std]` implementation of the WebSocket protocol
//! (RFC 6455). It never touches a socket, a clock or a thread: the caller
//! feeds it bytes and the current time, and takes back events and bytes to
//! write. The same core drives a blocking std server, an async runtime or a
//! microcontroller.
//!
//! | module | RFC 6455 | needs `alloc` |
//! |---|---|---|
//! | [`handshake`] | §4 opening handshake, both roles | no |
//! | [`extension`] | §9.1 `Sec-WebSocket-Extensions` offers | no |
//! | [`negotiation`] | RFC 7692 §7 permessage-deflate negotiation | no |
//! | [`frame`] | §5.2 frame header codec | no |
//! | [`mask`] | §5.3 masking | no |
//! | [`utf8`] | §5.6, §8.1 incremental UTF-8 | no |
//! | [`close`] | §5.5.1, §7.4 close codes and payloads | no |
//! | `connection` | §5, §6, §7: the state machine | yes |
//! | `deflate` | RFC 7692 §7.2 permessage-deflate codec (feature `deflate`) | yes |
//!
//! With the default `alloc` feature, [`Connection`](connection::Connection)
//! ties them together; see its documentation for a complete example of
//! driving a server connection over any byte transport.
#![cfg_attr(not(test), no_std)]
// One audited `unsafe` block (connection::message::str_of) is allowed by
// name; everything else stays safe.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(all(feature = "std", not(test)))]
extern crate std;

pub mod close;
#[cfg(feature = "alloc")]
pub mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod extension;
pub mod frame;
pub mod handshake;
mod http;
pub mod mask;
pub mod negotiation;
#[cfg(any(all(test, feature = "alloc"), feature = "testing"))]
pub mod testing;
pub mod utf8;

/// Which end of the connection we are. It decides who masks (§5.1) and who
/// closes the TCP connection first (§7.1.1).
///
/// ```
/// use ws_proto::Role;
/// assert_ne!(Role::Client, Role::Server);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Accepted the connection; receives masked frames.
    Server,
    /// Opened the connection; masks every frame it sends.
    Client,
}
