//! The server's side of permessage-deflate negotiation (RFC 7692 §7.1):
//! walk the client's offers in order, accept the first acceptable one, and
//! say so in the answer.

use core::fmt;

use super::params::ParamError;
use super::PERMESSAGE_DEFLATE;
use super::{clamp_bits, DeflateOffer, DeflateParams, Negotiated, MAX_WINDOW_BITS};
use crate::extension::{ExtensionError, ExtensionOffer};

/// What a server accepts of permessage-deflate. Compression is on when a
/// driver has one of these (for example `AcceptPolicy::deflate` is `Some`).
///
/// The default suits a server holding many connections, as
/// python-websockets' does: 12-bit windows both ways (4 KiB instead of
/// 32 KiB of history per direction), context takeover kept.
///
/// ```
/// use ws_proto::negotiation::DeflateConfig;
///
/// let config = DeflateConfig::default();
/// assert_eq!((config.server_max_window_bits, config.client_max_window_bits), (12, 12));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateConfig {
    /// The widest window the server compresses with, 8..=15 (values outside
    /// are clamped). Below 15 it is named in every answer; a client that
    /// asks for less gets less.
    pub server_max_window_bits: u8,
    /// The widest window the server asks clients to compress with, 8..=15
    /// (clamped). Only a client whose offer has `client_max_window_bits`
    /// can be asked; others compress with 15 bits unless
    /// [`require_client_max_window_bits`](Self::require_client_max_window_bits).
    pub client_max_window_bits: u8,
    /// Reset the server's compressor after every message: less memory
    /// between messages, worse compression of similar messages.
    pub server_no_context_takeover: bool,
    /// Ask clients to reset their compressor after every message, so the
    /// server's inflater keeps no window between messages.
    pub client_no_context_takeover: bool,
    /// Decline offers without `client_max_window_bits` when
    /// `client_max_window_bits` is below 15, so no client compresses with a
    /// wider window than the server will keep.
    pub require_client_max_window_bits: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_max_window_bits: 12,
            client_max_window_bits: 12,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            require_client_max_window_bits: false,
        }
    }
}

/// Window bits outside 8..=15 in a [`DeflateConfig`], found by
/// [`DeflateConfig::validate`].
///
/// ```
/// use ws_proto::negotiation::{DeflateConfig, DeflateParam};
///
/// let config = DeflateConfig { server_max_window_bits: 16, ..DeflateConfig::default() };
/// assert_eq!(config.validate().unwrap_err().param, DeflateParam::ServerMaxWindowBits);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidWindowBits {
    /// The setting.
    pub param: super::DeflateParam,
    /// Its value.
    pub bits: u8,
}

impl fmt::Display for InvalidWindowBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} is not between 8 and 15",
            self.param.name(),
            self.bits
        )
    }
}

impl core::error::Error for InvalidWindowBits {}

/// Why a server declines one permessage-deflate offer. It then goes on to
/// the client's next offer (§7.1: "the server declines ... by not
/// accepting").
///
/// ```
/// use ws_proto::extension::parse_offers;
/// use ws_proto::negotiation::{Decline, DeflateConfig, DeflateParam, ParamError};
///
/// let offer = parse_offers("permessage-deflate; server_no_context_takeover=yes").next().unwrap().unwrap();
/// assert_eq!(
///     DeflateConfig::default().accept(&offer).unwrap_err(),
///     Decline::Param(ParamError::UnexpectedValue(DeflateParam::ServerNoContextTakeover))
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decline {
    /// The offer is for another extension.
    NotPermessageDeflate,
    /// An unknown, repeated or malformed parameter, or window bits out of
    /// range.
    Param(ParamError),
    /// The offer lacks `client_max_window_bits`, which
    /// [`DeflateConfig::require_client_max_window_bits`] demands.
    ClientWindowBitsRequired,
    /// The `Sec-WebSocket-Extensions` fields stop following the §9.1 grammar
    /// here; no later offer can be read.
    Syntax(ExtensionError),
}

impl fmt::Display for Decline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decline::NotPermessageDeflate => f.write_str("not a permessage-deflate offer"),
            Decline::Param(e) => write!(f, "declined permessage-deflate offer: {e}"),
            Decline::ClientWindowBitsRequired => {
                f.write_str("permessage-deflate offer lacks client_max_window_bits")
            }
            Decline::Syntax(e) => write!(f, "unreadable extension offers: {e}"),
        }
    }
}

impl core::error::Error for Decline {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Decline::Param(e) => Some(e),
            Decline::Syntax(e) => Some(e),
            _ => None,
        }
    }
}

/// The longest answer: every parameter, two-digit window bits.
const VALUE_CAPACITY: usize = 128;

/// A `Sec-WebSocket-Extensions` answer, held inline so that negotiation
/// needs no allocation. Empty when nothing was accepted (then the field is
/// left out of the answer).
///
/// ```
/// use ws_proto::negotiation::ExtensionsValue;
/// assert!(ExtensionsValue::default().is_empty());
/// assert_eq!(ExtensionsValue::default().as_str(), "");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtensionsValue {
    buf: [u8; VALUE_CAPACITY],
    len: u8,
}

impl Default for ExtensionsValue {
    fn default() -> Self {
        ExtensionsValue {
            buf: [0; VALUE_CAPACITY],
            len: 0,
        }
    }
}

impl ExtensionsValue {
    /// The field value.
    ///
    /// ```
    /// use ws_proto::extension::parse_offers;
    /// use ws_proto::negotiation::DeflateConfig;
    ///
    /// let agreement = DeflateConfig::default().negotiate(parse_offers("permessage-deflate"));
    /// assert_eq!(agreement.response.as_str(), "permessage-deflate; server_max_window_bits=12");
    /// ```
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written, so this never falls back.
        core::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }

    /// Whether nothing was accepted.
    ///
    /// ```
    /// # use ws_proto::negotiation::ExtensionsValue;
    /// assert!(ExtensionsValue::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Appends to an [`ExtensionsValue`]; private, so that only this module
/// decides what an answer says.
struct Append<'v>(&'v mut ExtensionsValue);

impl fmt::Write for Append<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let value = &mut *self.0;
        let start = usize::from(value.len);
        let end = start + s.len();
        let dest = value.buf.get_mut(start..end).ok_or(fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        value.len = u8::try_from(end).map_err(|_| fmt::Error)?;
        Ok(())
    }
}

impl fmt::Debug for ExtensionsValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ExtensionsValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a server's negotiation: what the connection runs with,
/// and the `Sec-WebSocket-Extensions` value that tells the client (for
/// [`Accept::extensions`](crate::handshake::Accept::extensions)). The
/// default accepts nothing.
///
/// ```
/// use ws_proto::negotiation::Agreement;
/// let none = Agreement::default();
/// assert!(none.negotiated.permessage_deflate.is_none() && none.response.is_empty());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Agreement {
    /// What the connection runs with.
    pub negotiated: Negotiated,
    /// The answer's `Sec-WebSocket-Extensions` value; empty for none.
    pub response: ExtensionsValue,
}

impl DeflateConfig {
    /// Checks that both window settings are in 8..=15 (out-of-range values
    /// are clamped when negotiating; this lets a server refuse to start
    /// with them instead).
    ///
    /// ```
    /// use ws_proto::negotiation::DeflateConfig;
    /// assert!(DeflateConfig { client_max_window_bits: 7, ..DeflateConfig::default() }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), InvalidWindowBits> {
        for (param, bits) in [
            (
                super::DeflateParam::ServerMaxWindowBits,
                self.server_max_window_bits,
            ),
            (
                super::DeflateParam::ClientMaxWindowBits,
                self.client_max_window_bits,
            ),
        ] {
            if clamp_bits(bits) != bits {
                return Err(InvalidWindowBits { param, bits });
            }
        }
        Ok(())
    }

    /// Accepts or declines one offer (RFC 7692 §7.1). Accepting always
    /// honours what the client asked of the server (no context takeover, a
    /// window no wider than `server_max_window_bits`), narrows each window
    /// to this configuration, and names in the answer every parameter the
    /// client needs to know, and every one the client asked the server to
    /// confirm.
    ///
    /// ```
    /// use ws_proto::extension::parse_offers;
    /// use ws_proto::negotiation::DeflateConfig;
    ///
    /// let offer = parse_offers("permessage-deflate; client_max_window_bits").next().unwrap().unwrap();
    /// let agreement = DeflateConfig::default().accept(&offer).unwrap();
    /// assert_eq!(
    ///     agreement.response.as_str(),
    ///     "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    /// );
    /// ```
    pub fn accept(&self, offer: &ExtensionOffer<'_>) -> Result<Agreement, Decline> {
        if offer.name() != PERMESSAGE_DEFLATE {
            return Err(Decline::NotPermessageDeflate);
        }
        let offer = DeflateOffer::parse(offer).map_err(Decline::Param)?;
        let own_server_bits = clamp_bits(self.server_max_window_bits);
        let own_client_bits = clamp_bits(self.client_max_window_bits);
        let client_max_window_bits = match offer.client_max_window_bits {
            Some(offered) => offered.min(own_client_bits),
            None if self.require_client_max_window_bits && own_client_bits < MAX_WINDOW_BITS => {
                return Err(Decline::ClientWindowBitsRequired)
            }
            None => MAX_WINDOW_BITS,
        };
        let params = DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || self.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits: offer
                .server_max_window_bits
                .unwrap_or(MAX_WINDOW_BITS)
                .min(own_server_bits),
            client_max_window_bits,
        };
        let mut response = ExtensionsValue::default();
        // At most VALUE_CAPACITY bytes (a test writes the longest), so
        // this cannot fail.
        let _ = write_response(&mut Append(&mut response), &params, &offer);
        Ok(Agreement {
            negotiated: Negotiated {
                permessage_deflate: Some(params),
            },
            response,
        })
    }

    /// Walks the client's offers in order, as from
    /// [`Request::extensions`](crate::handshake::Request::extensions) or
    /// [`parse_offers`](crate::extension::parse_offers), and accepts the
    /// first acceptable permessage-deflate offer (RFC 7692 §5, §7.1).
    /// Offers of other extensions are passed over; unacceptable ones are
    /// declined (see [`Decline`]). A syntax error ends the walk, since the
    /// next offer cannot be found reliably past it: offers before it still
    /// count. Never fails: with nothing acceptable the connection simply
    /// runs without compression.
    ///
    /// ```
    /// use ws_proto::extension::parse_offers;
    /// use ws_proto::negotiation::DeflateConfig;
    ///
    /// let config = DeflateConfig::default();
    /// let offers = "x-webkit-deflate-frame, permessage-deflate; mystery, permessage-deflate; server_no_context_takeover";
    /// let agreement = config.negotiate(parse_offers(offers));
    /// assert!(agreement.negotiated.permessage_deflate.unwrap().server_no_context_takeover);
    ///
    /// assert!(config.negotiate(parse_offers("permessage-deflate; x=1")).response.is_empty());
    /// ```
    pub fn negotiate<'a, I>(&self, offers: I) -> Agreement
    where
        I: IntoIterator<Item = Result<ExtensionOffer<'a>, ExtensionError>>,
    {
        self.walk(offers, |_| {})
    }

    /// [`negotiate`](Self::negotiate), telling `declined` why each offer it
    /// passed over was declined (for logs and tests).
    ///
    /// ```
    /// use ws_proto::extension::parse_offers;
    /// use ws_proto::negotiation::{Decline, DeflateConfig};
    ///
    /// let mut why = Vec::new();
    /// let agreement = DeflateConfig::default()
    ///     .negotiate_with(parse_offers("x-foo, permessage-deflate; x=1"), |d| why.push(d));
    /// assert!(agreement.response.is_empty());
    /// assert_eq!(why.len(), 2);
    /// assert_eq!(why[0], Decline::NotPermessageDeflate);
    /// ```
    pub fn negotiate_with<'a, I>(&self, offers: I, declined: impl FnMut(Decline)) -> Agreement
    where
        I: IntoIterator<Item = Result<ExtensionOffer<'a>, ExtensionError>>,
    {
        self.walk(offers, declined)
    }

    fn walk<'a, I>(&self, offers: I, mut declined: impl FnMut(Decline)) -> Agreement
    where
        I: IntoIterator<Item = Result<ExtensionOffer<'a>, ExtensionError>>,
    {
        for offer in offers {
            let result = offer
                .map_err(Decline::Syntax)
                .and_then(|offer| self.accept(&offer));
            match result {
                Ok(agreement) => return agreement,
                Err(Decline::Syntax(e)) => {
                    declined(Decline::Syntax(e));
                    break;
                }
                Err(why) => declined(why),
            }
        }
        Agreement::default()
    }
}

/// The answer for `params`, accepted from `offer`: each parameter that
/// differs from the default, and `server_max_window_bits` whenever the
/// client asked for it (§7.1.2.1: the server accepts that request by
/// naming it).
fn write_response(
    out: &mut impl fmt::Write,
    params: &DeflateParams,
    offer: &DeflateOffer,
) -> fmt::Result {
    out.write_str(PERMESSAGE_DEFLATE)?;
    if params.server_no_context_takeover {
        out.write_str("; server_no_context_takeover")?;
    }
    if params.client_no_context_takeover {
        out.write_str("; client_no_context_takeover")?;
    }
    if offer.server_max_window_bits.is_some() || params.server_max_window_bits < MAX_WINDOW_BITS {
        write!(
            out,
            "; server_max_window_bits={}",
            params.server_max_window_bits
        )?;
    }
    // Only ever below 15 when the client offered the parameter.
    if params.client_max_window_bits < MAX_WINDOW_BITS {
        write!(
            out,
            "; client_max_window_bits={}",
            params.client_max_window_bits
        )?;
    }
    Ok(())
}
