//! The client's side of permessage-deflate negotiation (RFC 7692 §7.1):
//! check the server's answer against what was offered.

use core::fmt;

use super::params::{ParamError, RawParams};
use super::{DeflateOffer, DeflateParam, DeflateParams, MAX_WINDOW_BITS};
use crate::extension::ExtensionOffer;

/// Why a client must fail the connection over the server's
/// permessage-deflate answer (RFC 7692 §7.1).
///
/// ```
/// use ws_proto::extension::parse_offers;
/// use ws_proto::negotiation::{DeflateOffer, ResponseError};
///
/// let offered = DeflateOffer { client_max_window_bits: None, ..DeflateOffer::default() };
/// let answer = parse_offers("permessage-deflate; client_max_window_bits=10").next().unwrap().unwrap();
/// assert_eq!(offered.check_response(&answer), Err(ResponseError::ClientWindowBitsNotOffered));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// An unknown, repeated or malformed parameter, window bits out of
    /// range, or `client_max_window_bits` without a value (§7.1.2.2).
    Param(ParamError),
    /// `client_max_window_bits` although the offer did not have it
    /// (§7.1.2.2).
    ClientWindowBitsNotOffered,
    /// `client_max_window_bits` wider than the offer's value.
    ClientWindowBitsTooLarge,
    /// No `server_max_window_bits` although the offer asked for it: a
    /// server accepts that request by naming it (§7.1.2.1).
    ServerWindowBitsMissing,
    /// `server_max_window_bits` wider than the offer asked for (§7.1.2.1).
    ServerWindowBitsTooLarge,
    /// No `server_no_context_takeover` although the offer asked for it
    /// (§7.1.1.1).
    ServerNoContextTakeoverMissing,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::Param(e) => write!(f, "permessage-deflate answer: {e}"),
            ResponseError::ClientWindowBitsNotOffered => {
                f.write_str("server sent client_max_window_bits, which was not offered")
            }
            ResponseError::ClientWindowBitsTooLarge => {
                f.write_str("server's client_max_window_bits is wider than offered")
            }
            ResponseError::ServerWindowBitsMissing => {
                f.write_str("server did not confirm the requested server_max_window_bits")
            }
            ResponseError::ServerWindowBitsTooLarge => {
                f.write_str("server's server_max_window_bits is wider than requested")
            }
            ResponseError::ServerNoContextTakeoverMissing => {
                f.write_str("server did not confirm the requested server_no_context_takeover")
            }
        }
    }
}

impl core::error::Error for ResponseError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ResponseError::Param(e) => Some(e),
            _ => None,
        }
    }
}

impl DeflateOffer {
    /// Checks the server's acceptance of this offer (its `permessage-deflate`
    /// element; the name is not looked at) and returns what the connection
    /// runs with. The offer is taken as written on the wire
    /// ([`normalized`](Self::normalized)).
    ///
    /// Where the answer leaves a choice to the client, the result is the
    /// conservative one: the client resets its compressor if it said it
    /// would (`client_no_context_takeover` in the offer), and keeps its
    /// window to the offer's `client_max_window_bits` value when the answer
    /// names none.
    ///
    /// ```
    /// use ws_proto::extension::parse_offers;
    /// use ws_proto::negotiation::{DeflateOffer, DeflateParams, ResponseError};
    ///
    /// let offer = DeflateOffer { server_max_window_bits: Some(10), ..DeflateOffer::default() };
    /// fn answer(v: &str) -> ws_proto::extension::ExtensionOffer<'_> {
    ///     parse_offers(v).next().unwrap().unwrap()
    /// }
    /// let params = offer.check_response(&answer("permessage-deflate; server_max_window_bits=9")).unwrap();
    /// assert_eq!(params, DeflateParams { server_max_window_bits: 9, ..DeflateParams::default() });
    /// assert_eq!(
    ///     offer.check_response(&answer("permessage-deflate; server_max_window_bits=11")),
    ///     Err(ResponseError::ServerWindowBitsTooLarge)
    /// );
    /// ```
    pub fn check_response(
        &self,
        answer: &ExtensionOffer<'_>,
    ) -> Result<DeflateParams, ResponseError> {
        let offer = self.normalized();
        let raw = RawParams::parse(answer).map_err(ResponseError::Param)?;
        let client_max_window_bits =
            match (raw.client_max_window_bits, offer.client_max_window_bits) {
                (None, offered) => offered.unwrap_or(MAX_WINDOW_BITS),
                (Some(_), None) => return Err(ResponseError::ClientWindowBitsNotOffered),
                (Some(None), Some(_)) => {
                    return Err(ResponseError::Param(ParamError::MissingValue(
                        DeflateParam::ClientMaxWindowBits,
                    )))
                }
                (Some(Some(bits)), Some(offered)) if bits > offered => {
                    return Err(ResponseError::ClientWindowBitsTooLarge)
                }
                (Some(Some(bits)), Some(_)) => bits,
            };
        let server_max_window_bits =
            match (raw.server_max_window_bits, offer.server_max_window_bits) {
                (None, Some(_)) => return Err(ResponseError::ServerWindowBitsMissing),
                (Some(bits), Some(asked)) if bits > asked => {
                    return Err(ResponseError::ServerWindowBitsTooLarge)
                }
                (bits, _) => bits.unwrap_or(MAX_WINDOW_BITS),
            };
        if offer.server_no_context_takeover && !raw.server_no_context_takeover {
            return Err(ResponseError::ServerNoContextTakeoverMissing);
        }
        Ok(DeflateParams {
            server_no_context_takeover: raw.server_no_context_takeover,
            client_no_context_takeover: raw.client_no_context_takeover
                || offer.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        })
    }
}
