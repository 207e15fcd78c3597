//! Typed extension negotiation: what the opening handshake agreed on, as a
//! value the connection is built with. Today the only extension is
//! permessage-deflate (RFC 7692).
//!
//! | role | input | function | output |
//! |---|---|---|---|
//! | server | the client's offers ([`Request::extensions`]) | [`DeflateConfig::negotiate`] | [`Agreement`]: a [`Negotiated`] and the response field value |
//! | client | what it offered ([`DeflateOffer`]) and the answer | [`DeflateOffer::check_response`], called by [`parse_response`] | [`DeflateParams`], in [`Response::negotiated`] |
//!
//! Everything here is `Copy` and allocation-free, so a `no_std` connection
//! can take a [`Negotiated`] by value.
//!
//! ## Window bits
//!
//! RFC 7692 allows LZ77 windows of 2^8 to 2^15 bytes, and so does this
//! module: a peer may be granted 8 bits. zlib cannot produce a raw deflate
//! stream with an 8-bit window (it silently widens it to 9), so the
//! compressor behind a connection that agreed on 8 for its own direction
//! must never emit a back-reference further than 256 bytes; that is the
//! codec's job, not the negotiation's. Decompressing is unaffected: any
//! inflater with a window of at least the negotiated size reads the stream.
//!
//! [`Request::extensions`]: crate::handshake::Request::extensions
//! [`parse_response`]: crate::handshake::parse_response
//! [`Response::negotiated`]: crate::handshake::Response::negotiated
//!
//! ```
//! use ws_proto::extension::parse_offers;
//! use ws_proto::negotiation::{DeflateConfig, DeflateOffer};
//! use ws_proto::Role;
//!
//! // The server walks the client's offers.
//! let offers = "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate";
//! let config = DeflateConfig { server_max_window_bits: 15, client_max_window_bits: 15, ..DeflateConfig::default() };
//! let agreement = config.negotiate(parse_offers(offers));
//! assert_eq!(agreement.response.as_str(), "permessage-deflate; server_max_window_bits=10");
//!
//! // The client checks the answer against what it offered.
//! let offered = DeflateOffer { server_max_window_bits: Some(10), ..DeflateOffer::default() };
//! let answer = parse_offers(agreement.response.as_str()).next().unwrap().unwrap();
//! let params = offered.check_response(&answer).unwrap();
//!
//! // Both ends agree on each direction.
//! let server = agreement.negotiated.permessage_deflate.unwrap();
//! assert_eq!(server, params);
//! assert_eq!(server.compress_params(Role::Server), params.decompress_params(Role::Client));
//! assert_eq!(server.compress_params(Role::Server).max_window_bits, 10);
//! ```

mod client;
mod params;
mod server;

pub use client::ResponseError;
pub use params::{DeflateOffer, DeflateParam, ParamError};
pub use server::{Agreement, Decline, DeflateConfig, ExtensionsValue, InvalidWindowBits};

use crate::frame::RSV1;
use crate::Role;

/// The registered name of the permessage-deflate extension (RFC 7692 §7).
///
/// ```
/// assert_eq!(ws_proto::negotiation::PERMESSAGE_DEFLATE, "permessage-deflate");
/// ```
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// The narrowest LZ77 window RFC 7692 allows, in bits.
///
/// ```
/// assert_eq!(ws_proto::negotiation::MIN_WINDOW_BITS, 8);
/// ```
pub const MIN_WINDOW_BITS: u8 = 8;

/// The widest LZ77 window RFC 7692 allows, in bits, and the window of a
/// direction no parameter limits.
///
/// ```
/// assert_eq!(ws_proto::negotiation::MAX_WINDOW_BITS, 15);
/// ```
pub const MAX_WINDOW_BITS: u8 = 15;

/// Clamps window bits into `8..=15`: settings outside the range never reach
/// the wire or a [`DeflateParams`].
fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// The extensions both ends agreed on during the opening handshake. The
/// default is none: every RSV bit is then a protocol error (RFC 6455 §5.2).
///
/// ```
/// use ws_proto::frame::RSV1;
/// use ws_proto::negotiation::{DeflateParams, Negotiated};
///
/// assert_eq!(Negotiated::default().rsv_mask(), 0);
/// let deflate = Negotiated { permessage_deflate: Some(DeflateParams::default()) };
/// assert_eq!(deflate.rsv_mask(), RSV1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Negotiated {
    /// permessage-deflate (RFC 7692), with the agreed parameters.
    pub permessage_deflate: Option<DeflateParams>,
}

impl Negotiated {
    /// No extension.
    ///
    /// ```
    /// # use ws_proto::negotiation::Negotiated;
    /// assert_eq!(Negotiated::NONE, Negotiated::default());
    /// ```
    pub const NONE: Negotiated = Negotiated {
        permessage_deflate: None,
    };

    /// The RSV bits the agreed extensions may set, as bits of
    /// [`FrameHeader::rsv`](crate::frame::FrameHeader::rsv):
    /// [`RSV1`] with permessage-deflate (RFC 7692 §6), which allows it on
    /// the first frame of a data message only.
    ///
    /// ```
    /// # use ws_proto::negotiation::Negotiated;
    /// assert_eq!(Negotiated::NONE.rsv_mask(), 0);
    /// ```
    pub fn rsv_mask(&self) -> u8 {
        if self.permessage_deflate.is_some() {
            RSV1
        } else {
            0
        }
    }
}

/// The permessage-deflate parameters both ends agreed on (RFC 7692 §7.1).
/// The `server_*` parameters govern what the server compresses and the
/// client inflates, the `client_*` ones the other direction. Window bits
/// are always in `8..=15`.
///
/// The default is what an offer and an answer without parameters agree on:
/// context takeover in both directions, 15-bit windows.
///
/// ```
/// use ws_proto::negotiation::DeflateParams;
///
/// let p = DeflateParams::default();
/// assert!(!p.server_no_context_takeover && !p.client_no_context_takeover);
/// assert_eq!((p.server_max_window_bits, p.client_max_window_bits), (15, 15));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window, in bits (8..=15).
    pub server_max_window_bits: u8,
    /// The client's LZ77 window, in bits (8..=15).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

/// The parameters of one direction of a permessage-deflate connection.
///
/// ```
/// use ws_proto::negotiation::{DeflateParams, DirectionParams};
/// use ws_proto::Role;
///
/// let p = DeflateParams { server_max_window_bits: 10, ..DeflateParams::default() };
/// assert_eq!(
///     p.compress_params(Role::Server),
///     DirectionParams { no_context_takeover: false, max_window_bits: 10 }
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DirectionParams {
    /// The compressor starts each message with an empty window, so the
    /// inflater may too.
    pub no_context_takeover: bool,
    /// No back-reference reaches further than `2^max_window_bits` bytes
    /// (8..=15).
    pub max_window_bits: u8,
}

impl DeflateParams {
    /// The parameters of the direction `role` compresses: its own
    /// `*_no_context_takeover` and `*_max_window_bits`.
    ///
    /// ```
    /// use ws_proto::negotiation::DeflateParams;
    /// use ws_proto::Role;
    ///
    /// let p = DeflateParams { client_no_context_takeover: true, client_max_window_bits: 9, ..DeflateParams::default() };
    /// let c = p.compress_params(Role::Client);
    /// assert!(c.no_context_takeover);
    /// assert_eq!(c.max_window_bits, 9);
    /// ```
    pub fn compress_params(&self, role: Role) -> DirectionParams {
        match role {
            Role::Server => DirectionParams {
                no_context_takeover: self.server_no_context_takeover,
                max_window_bits: self.server_max_window_bits,
            },
            Role::Client => DirectionParams {
                no_context_takeover: self.client_no_context_takeover,
                max_window_bits: self.client_max_window_bits,
            },
        }
    }

    /// The parameters of the direction `role` inflates: the peer's.
    ///
    /// ```
    /// use ws_proto::negotiation::DeflateParams;
    /// use ws_proto::Role;
    ///
    /// let p = DeflateParams { client_max_window_bits: 9, ..DeflateParams::default() };
    /// assert_eq!(p.decompress_params(Role::Server), p.compress_params(Role::Client));
    /// ```
    pub fn decompress_params(&self, role: Role) -> DirectionParams {
        match role {
            Role::Server => self.compress_params(Role::Client),
            Role::Client => self.compress_params(Role::Server),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_mirror_each_other() {
        let p = DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            server_max_window_bits: 9,
            client_max_window_bits: 12,
        };
        let s = DirectionParams {
            no_context_takeover: true,
            max_window_bits: 9,
        };
        let c = DirectionParams {
            no_context_takeover: false,
            max_window_bits: 12,
        };
        assert_eq!(p.compress_params(Role::Server), s);
        assert_eq!(p.decompress_params(Role::Client), s);
        assert_eq!(p.compress_params(Role::Client), c);
        assert_eq!(p.decompress_params(Role::Server), c);
    }

    #[test]
    fn rsv1_only_with_deflate() {
        assert_eq!(Negotiated::NONE.rsv_mask(), 0);
        let n = Negotiated {
            permessage_deflate: Some(DeflateParams::default()),
        };
        assert_eq!(n.rsv_mask(), RSV1);
        assert_eq!(core::mem::size_of::<Negotiated>(), 4);
    }

    #[test]
    fn clamping() {
        assert_eq!(clamp_bits(0), 8);
        assert_eq!(clamp_bits(8), 8);
        assert_eq!(clamp_bits(12), 12);
        assert_eq!(clamp_bits(15), 15);
        assert_eq!(clamp_bits(255), 15);
    }
}

#[cfg(test)]
mod rfc7692;
