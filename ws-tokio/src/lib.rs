//! # ws-tokio
//!
//! [`ws_proto`]'s WebSocket core (RFC 6455) on tokio. This first part is
//! the glue to the core and the error type; the stream type follows.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Used by the stream type, which comes next.
#[allow(dead_code)]
mod core;
mod error;

pub use error::Error;
/// The protocol core, for its configuration and handshake types.
pub use ws_proto as proto;
