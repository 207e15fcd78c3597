//! The permessage-deflate parameters (RFC 7692 §7.1): reading them from an
//! offer or an answer, and the typed offer a client makes.

use core::fmt;

use super::{clamp_bits, MAX_WINDOW_BITS, PERMESSAGE_DEFLATE};
use crate::extension::{ExtensionError, ExtensionOffer, ParamValue};

/// One of the four parameters RFC 7692 §7.1 defines.
///
/// ```
/// use ws_proto::negotiation::DeflateParam;
/// assert_eq!(DeflateParam::ServerMaxWindowBits.name(), "server_max_window_bits");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeflateParam {
    /// `server_no_context_takeover` (§7.1.1.1), no value.
    ServerNoContextTakeover,
    /// `client_no_context_takeover` (§7.1.1.2), no value.
    ClientNoContextTakeover,
    /// `server_max_window_bits` (§7.1.2.1), a value of 8 to 15.
    ServerMaxWindowBits,
    /// `client_max_window_bits` (§7.1.2.2), a value of 8 to 15, which an
    /// offer may leave out.
    ClientMaxWindowBits,
}

impl DeflateParam {
    /// The parameter's name on the wire.
    ///
    /// ```
    /// # use ws_proto::negotiation::DeflateParam;
    /// assert_eq!(DeflateParam::ClientNoContextTakeover.name(), "client_no_context_takeover");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            DeflateParam::ServerNoContextTakeover => "server_no_context_takeover",
            DeflateParam::ClientNoContextTakeover => "client_no_context_takeover",
            DeflateParam::ServerMaxWindowBits => "server_max_window_bits",
            DeflateParam::ClientMaxWindowBits => "client_max_window_bits",
        }
    }

    /// The parameter called `name`, compared exactly (as the registered
    /// names are written).
    fn from_name(name: &str) -> Option<DeflateParam> {
        [
            DeflateParam::ServerNoContextTakeover,
            DeflateParam::ClientNoContextTakeover,
            DeflateParam::ServerMaxWindowBits,
            DeflateParam::ClientMaxWindowBits,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Why a permessage-deflate parameter list is unacceptable (RFC 7692 §7:
/// a server declines such an offer, a client fails the connection on such
/// an answer).
///
/// ```
/// use ws_proto::extension::parse_offers;
/// use ws_proto::negotiation::{DeflateOffer, DeflateParam, ParamError};
///
/// let offer = parse_offers("permessage-deflate; server_max_window_bits=16").next().unwrap().unwrap();
/// assert_eq!(
///     DeflateOffer::parse(&offer),
///     Err(ParamError::OutOfRange(DeflateParam::ServerMaxWindowBits))
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    /// A parameter RFC 7692 does not define (`x=1`, or a known name in
    /// another case).
    Unknown,
    /// The same parameter twice.
    Duplicate(DeflateParam),
    /// A value on a parameter that takes none (`server_no_context_takeover=1`).
    UnexpectedValue(DeflateParam),
    /// No value where one is required: `server_max_window_bits` anywhere,
    /// `client_max_window_bits` in an answer.
    MissingValue(DeflateParam),
    /// A value that is not a decimal number without leading zeros (`"a"`,
    /// `08`, `1 0`), after quoted-string unescaping.
    InvalidValue(DeflateParam),
    /// A number outside 8..=15.
    OutOfRange(DeflateParam),
    /// The parameters do not follow the RFC 6455 §9.1 grammar. Never
    /// returned for an offer that [`Offers`](crate::extension::Offers)
    /// yielded, which checked them.
    Syntax(ExtensionError),
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Unknown => f.write_str("unknown permessage-deflate parameter"),
            ParamError::Duplicate(p) => write!(f, "{} given twice", p.name()),
            ParamError::UnexpectedValue(p) => write!(f, "{} takes no value", p.name()),
            ParamError::MissingValue(p) => write!(f, "{} needs a value", p.name()),
            ParamError::InvalidValue(p) => write!(f, "{} is not a decimal number", p.name()),
            ParamError::OutOfRange(p) => write!(f, "{} is not between 8 and 15", p.name()),
            ParamError::Syntax(e) => write!(f, "permessage-deflate parameters: {e}"),
        }
    }
}

impl core::error::Error for ParamError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ParamError::Syntax(e) => Some(e),
            _ => None,
        }
    }
}

/// A parameter list as written, before a role gives it meaning: the only
/// place that tells `client_max_window_bits` with a value from without.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct RawParams {
    pub(super) server_no_context_takeover: bool,
    pub(super) client_no_context_takeover: bool,
    pub(super) server_max_window_bits: Option<u8>,
    /// `Some(None)`: named without a value.
    pub(super) client_max_window_bits: Option<Option<u8>>,
}

impl RawParams {
    /// Reads and checks every parameter of `offer` (whatever its name).
    pub(super) fn parse(offer: &ExtensionOffer<'_>) -> Result<RawParams, ParamError> {
        let mut raw = RawParams::default();
        let mut seen = 0u8;
        for param in offer.params() {
            let (name, value) = param.map_err(ParamError::Syntax)?;
            let param = DeflateParam::from_name(name).ok_or(ParamError::Unknown)?;
            if seen & param.bit() != 0 {
                return Err(ParamError::Duplicate(param));
            }
            seen |= param.bit();
            match param {
                DeflateParam::ServerNoContextTakeover | DeflateParam::ClientNoContextTakeover => {
                    if value.is_some() {
                        return Err(ParamError::UnexpectedValue(param));
                    }
                    if param == DeflateParam::ServerNoContextTakeover {
                        raw.server_no_context_takeover = true;
                    } else {
                        raw.client_no_context_takeover = true;
                    }
                }
                DeflateParam::ServerMaxWindowBits => {
                    let value = value.ok_or(ParamError::MissingValue(param))?;
                    raw.server_max_window_bits = Some(window_bits(param, value)?);
                }
                DeflateParam::ClientMaxWindowBits => {
                    raw.client_max_window_bits = Some(match value {
                        None => None,
                        Some(value) => Some(window_bits(param, value)?),
                    });
                }
            }
        }
        Ok(raw)
    }
}

/// A window-bits value: "a decimal integer value without leading zeroes
/// between 8 to 15, inclusive" (§7.1.2.1), possibly quoted (§7.1).
fn window_bits(param: DeflateParam, value: ParamValue<'_>) -> Result<u8, ParamError> {
    let mut n: u8 = 0;
    let mut digits = 0usize;
    for c in value.unescaped() {
        let d = c.to_digit(10).ok_or(ParamError::InvalidValue(param))?;
        if digits == 0 && d == 0 {
            return Err(ParamError::InvalidValue(param));
        }
        digits += 1;
        // Two digits at most fit the range; more only need checking.
        if digits <= 2 {
            n = n * 10 + d as u8;
        }
    }
    match (digits, n) {
        (0, _) => Err(ParamError::InvalidValue(param)),
        (1..=2, 8..=15) => Ok(n),
        _ => Err(ParamError::OutOfRange(param)),
    }
}

/// A permessage-deflate offer (RFC 7692 §7.1): what a client asks for, or
/// what a server read from one of the client's offers.
///
/// The default is the offer browsers make,
/// `permessage-deflate; client_max_window_bits`: context takeover both ways,
/// no limit on the server's window, and the server may limit the client's.
///
/// ```
/// use ws_proto::negotiation::DeflateOffer;
///
/// assert_eq!(DeflateOffer::default().to_string(), "permessage-deflate; client_max_window_bits");
/// let strict = DeflateOffer {
///     server_no_context_takeover: true,
///     server_max_window_bits: Some(10),
///     client_max_window_bits: None,
///     ..DeflateOffer::default()
/// };
/// assert_eq!(strict.to_string(), "permessage-deflate; server_no_context_takeover; server_max_window_bits=10");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateOffer {
    /// Ask the server to reset its compressor after each message (§7.1.1.1);
    /// the server must agree or decline the offer.
    pub server_no_context_takeover: bool,
    /// Tell the server the client resets its compressor after each message
    /// (§7.1.1.2), so it may free its inflater's window between messages.
    pub client_no_context_takeover: bool,
    /// Ask the server to use a window of at most this many bits (§7.1.2.1);
    /// the server must agree or decline. Written clamped into 8..=15.
    pub server_max_window_bits: Option<u8>,
    /// Let the server limit the client's window (§7.1.2.2). `Some(15)` is
    /// written without a value ("any"); a smaller value also says the client
    /// will use no more than that. Written clamped into 8..=15.
    pub client_max_window_bits: Option<u8>,
}

impl Default for DeflateOffer {
    fn default() -> Self {
        DeflateOffer {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: Some(MAX_WINDOW_BITS),
        }
    }
}

impl DeflateOffer {
    /// Reads the parameters of one offer, as a server does (§7.1): an
    /// unknown, repeated or malformed parameter, or window bits outside
    /// 8..=15, make the offer one to decline. A `client_max_window_bits`
    /// without a value reads as `Some(15)`. The offer's name is not looked
    /// at.
    ///
    /// ```
    /// use ws_proto::extension::parse_offers;
    /// use ws_proto::negotiation::{DeflateOffer, DeflateParam, ParamError};
    ///
    /// let read = |v: &str| DeflateOffer::parse(&parse_offers(v).next().unwrap().unwrap());
    /// let offer = read("permessage-deflate; client_max_window_bits; server_max_window_bits=\"10\"").unwrap();
    /// assert_eq!((offer.server_max_window_bits, offer.client_max_window_bits), (Some(10), Some(15)));
    /// assert_eq!(read("permessage-deflate; server_max_window_bits"),
    ///            Err(ParamError::MissingValue(DeflateParam::ServerMaxWindowBits)));
    /// ```
    pub fn parse(offer: &ExtensionOffer<'_>) -> Result<DeflateOffer, ParamError> {
        let raw = RawParams::parse(offer)?;
        Ok(DeflateOffer {
            server_no_context_takeover: raw.server_no_context_takeover,
            client_no_context_takeover: raw.client_no_context_takeover,
            server_max_window_bits: raw.server_max_window_bits,
            client_max_window_bits: raw
                .client_max_window_bits
                .map(|bits| bits.unwrap_or(MAX_WINDOW_BITS)),
        })
    }

    /// The offer as written on the wire: window bits clamped into 8..=15.
    ///
    /// ```
    /// # use ws_proto::negotiation::DeflateOffer;
    /// let wild = DeflateOffer { server_max_window_bits: Some(99), client_max_window_bits: Some(1), ..DeflateOffer::default() };
    /// assert_eq!(wild.normalized().server_max_window_bits, Some(15));
    /// assert_eq!(wild.normalized().client_max_window_bits, Some(8));
    /// ```
    pub fn normalized(self) -> DeflateOffer {
        DeflateOffer {
            server_max_window_bits: self.server_max_window_bits.map(clamp_bits),
            client_max_window_bits: self.client_max_window_bits.map(clamp_bits),
            ..self
        }
    }
}

/// The `Sec-WebSocket-Extensions` element for this offer, normalized.
impl fmt::Display for DeflateOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offer = self.normalized();
        f.write_str(PERMESSAGE_DEFLATE)?;
        if offer.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if offer.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if let Some(bits) = offer.server_max_window_bits {
            write!(f, "; server_max_window_bits={bits}")?;
        }
        match offer.client_max_window_bits {
            None => {}
            Some(MAX_WINDOW_BITS) => f.write_str("; client_max_window_bits")?,
            Some(bits) => write!(f, "; client_max_window_bits={bits}")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extension::parse_offers;

    fn raw(value: &str) -> Result<RawParams, ParamError> {
        RawParams::parse(&parse_offers(value).next().unwrap().unwrap())
    }

    #[test]
    fn names_round_trip() {
        for p in [
            DeflateParam::ServerNoContextTakeover,
            DeflateParam::ClientNoContextTakeover,
            DeflateParam::ServerMaxWindowBits,
            DeflateParam::ClientMaxWindowBits,
        ] {
            assert_eq!(DeflateParam::from_name(p.name()), Some(p));
        }
        assert_eq!(DeflateParam::from_name("Server_No_Context_Takeover"), None);
    }

    #[test]
    fn window_bits_values() {
        use DeflateParam::ServerMaxWindowBits as S;
        for (text, bits) in [("8", 8), ("9", 9), ("10", 10), ("15", 15), ("\"12\"", 12)] {
            let value = format!("permessage-deflate; server_max_window_bits={text}");
            assert_eq!(raw(&value).unwrap().server_max_window_bits, Some(bits));
        }
        let escaped = r#"permessage-deflate; server_max_window_bits="1\1""#;
        assert_eq!(raw(escaped).unwrap().server_max_window_bits, Some(11));
        for (text, err) in [
            ("7", ParamError::OutOfRange(S)),
            ("16", ParamError::OutOfRange(S)),
            ("150", ParamError::OutOfRange(S)),
            ("99999999999999999999999", ParamError::OutOfRange(S)),
            ("08", ParamError::InvalidValue(S)),
            ("0", ParamError::InvalidValue(S)),
            ("x", ParamError::InvalidValue(S)),
            ("1a", ParamError::InvalidValue(S)),
            ("\"\"", ParamError::InvalidValue(S)),
            ("\"1 0\"", ParamError::InvalidValue(S)),
            ("\"+9\"", ParamError::InvalidValue(S)),
            ("\"٩\"", ParamError::InvalidValue(S)),
        ] {
            let value = format!("permessage-deflate; server_max_window_bits={text}");
            assert_eq!(raw(&value), Err(err), "{value}");
        }
    }

    #[test]
    fn params_errors_display() {
        for e in [
            ParamError::Unknown,
            ParamError::Duplicate(DeflateParam::ServerMaxWindowBits),
            ParamError::UnexpectedValue(DeflateParam::ServerNoContextTakeover),
            ParamError::MissingValue(DeflateParam::ServerMaxWindowBits),
            ParamError::InvalidValue(DeflateParam::ClientMaxWindowBits),
            ParamError::OutOfRange(DeflateParam::ClientMaxWindowBits),
            ParamError::Syntax(ExtensionError::EmptyName),
        ] {
            assert!(!e.to_string().is_empty());
            assert_eq!(
                core::error::Error::source(&e).is_some(),
                matches!(e, ParamError::Syntax(_))
            );
        }
    }

    #[test]
    fn offers_are_written_normalized_and_read_back() {
        let offer = DeflateOffer {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(3),
            client_max_window_bits: Some(11),
        };
        let text = offer.to_string();
        assert_eq!(
            text,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=8; client_max_window_bits=11"
        );
        let read = DeflateOffer::parse(&parse_offers(&text).next().unwrap().unwrap());
        assert_eq!(read, Ok(offer.normalized()));
        let plain = DeflateOffer {
            client_max_window_bits: None,
            ..DeflateOffer::default()
        };
        assert_eq!(plain.to_string(), "permessage-deflate");
    }
}
