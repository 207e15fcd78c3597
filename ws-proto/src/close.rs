//! Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4).
//!
//! Which codes may appear on the wire follows RFC 6455 §7.4 and the IANA
//! "WebSocket Close Code Number Registry":
//!
//! | codes | on the wire | why |
//! |---|---|---|
//! | 0–999 | rejected | "not used" (§7.4.2) |
//! | 1000–1003, 1007–1011 | accepted | defined by RFC 6455 |
//! | 1004 | rejected | reserved, no meaning defined |
//! | 1005, 1006, 1015 | rejected | for reporting only, "MUST NOT be set as a status code in a Close control frame" |
//! | 1012–1014 | accepted | registered by IANA (Service Restart, Try Again Later, Bad Gateway) |
//! | 1016–2999 | rejected | unassigned, reserved for future protocol revisions; a peer cannot mean anything by them yet |
//! | 3000–3999 | accepted | registered for libraries and frameworks |
//! | 4000–4999 | accepted | private use |
//! | 5000 and up | rejected | outside every range (§7.4.2) |
//!
//! A received close frame with a rejected code fails the connection with
//! 1002, as does a 1-byte payload; a reason that is not UTF-8 fails it with
//! 1007.

use core::fmt;

/// A close status code (RFC 6455 §7.4).
///
/// ```
/// use ws_proto::close::CloseCode;
///
/// assert!(CloseCode::NORMAL.is_valid_on_wire());
/// assert!(!CloseCode::NO_STATUS_RECEIVED.is_valid_on_wire());
/// assert_eq!(u16::from(CloseCode::new(4001)), 4001);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: an endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reporting only, the close frame had no status code.
    pub const NO_STATUS_RECEIVED: CloseCode = CloseCode(1005);
    /// 1006: reporting only, the connection ended without a close frame.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: message data not consistent with its type (bad UTF-8 text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway got a bad response upstream (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: reporting only, the TLS handshake failed.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Wraps any number; check [`is_valid_on_wire`](Self::is_valid_on_wire)
    /// before sending it.
    ///
    /// ```
    /// # use ws_proto::close::CloseCode;
    /// assert_eq!(CloseCode::new(1000), CloseCode::NORMAL);
    /// ```
    pub const fn new(code: u16) -> Self {
        CloseCode(code)
    }

    /// The number.
    ///
    /// ```
    /// # use ws_proto::close::CloseCode;
    /// assert_eq!(CloseCode::GOING_AWAY.as_u16(), 1001);
    /// ```
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether the code may be sent in, or accepted from, a close frame (see
    /// the [module table](self)).
    ///
    /// ```
    /// # use ws_proto::close::CloseCode;
    /// assert!(CloseCode::new(3000).is_valid_on_wire());
    /// assert!(!CloseCode::new(1004).is_valid_on_wire());
    /// assert!(!CloseCode::new(2999).is_valid_on_wire());
    /// ```
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Why a received close payload is invalid.
///
/// ```
/// use ws_proto::close::{parse_close_payload, CloseError};
///
/// assert_eq!(parse_close_payload(&[0x03]), Err(CloseError::OneBytePayload));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseError {
    /// A 1-byte payload cannot hold a status code (§5.5.1).
    OneBytePayload,
    /// The status code may not appear on the wire.
    InvalidCode(CloseCode),
    /// The reason is not valid UTF-8 (§5.5.1).
    InvalidReason,
    /// The payload is longer than a control frame allows (125 bytes).
    TooLong,
}

impl CloseError {
    /// The close code to fail the connection with.
    ///
    /// ```
    /// # use ws_proto::close::{CloseError, CloseCode};
    /// assert_eq!(CloseError::InvalidReason.close_code(), CloseCode::INVALID_PAYLOAD);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            CloseError::InvalidReason => CloseCode::INVALID_PAYLOAD,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseError::OneBytePayload => f.write_str("close frame with a 1-byte payload"),
            CloseError::InvalidCode(c) => write!(f, "close code {c} may not be sent on the wire"),
            CloseError::InvalidReason => f.write_str("close reason is not valid UTF-8"),
            CloseError::TooLong => f.write_str("close payload longer than 125 bytes"),
        }
    }
}

impl core::error::Error for CloseError {}

/// Longest close reason that fits a control frame: 125 bytes less the code.
pub const MAX_REASON_LEN: usize = 123;

/// Parses a close frame's payload into its code and reason.
///
/// An empty payload means the peer gave no code: `Ok(None)`.
///
/// ```
/// use ws_proto::close::{parse_close_payload, CloseCode};
///
/// let (code, reason) = parse_close_payload(b"\x03\xe8bye").unwrap().unwrap();
/// assert_eq!(code, CloseCode::NORMAL);
/// assert_eq!(reason, "bye");
/// assert_eq!(parse_close_payload(b""), Ok(None));
/// ```
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<(CloseCode, &str)>, CloseError> {
    match payload {
        [] => Ok(None),
        [_] => Err(CloseError::OneBytePayload),
        _ if payload.len() > 125 => Err(CloseError::TooLong),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(CloseError::InvalidCode(code));
            }
            let reason = core::str::from_utf8(reason).map_err(|_| CloseError::InvalidReason)?;
            Ok(Some((code, reason)))
        }
    }
}

/// Writes a close payload (code then reason) into `out`, returning its length.
///
/// The reason is cut at a character boundary to fit [`MAX_REASON_LEN`], so
/// what goes on the wire is always a valid control frame.
///
/// ```
/// use ws_proto::close::{write_close_payload, CloseCode};
///
/// let mut buf = [0u8; 125];
/// let n = write_close_payload(CloseCode::GOING_AWAY, "restart", &mut buf).unwrap();
/// assert_eq!(&buf[..n], b"\x03\xe9restart");
/// ```
pub fn write_close_payload(
    code: CloseCode,
    reason: &str,
    out: &mut [u8; 125],
) -> Result<usize, CloseError> {
    if !code.is_valid_on_wire() {
        return Err(CloseError::InvalidCode(code));
    }
    let reason = truncate_reason(reason);
    out[..2].copy_from_slice(&code.0.to_be_bytes());
    out[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    Ok(2 + reason.len())
}

/// The longest prefix of `reason` that fits in a close frame, cut on a
/// character boundary.
///
/// ```
/// # use ws_proto::close::truncate_reason;
/// let long = "é".repeat(100); // 200 bytes
/// assert_eq!(truncate_reason(&long).len(), 122);
/// ```
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_table() {
        let valid = |c: u16| CloseCode(c).is_valid_on_wire();
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!valid(c), "{c}");
        }
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            assert!(valid(c), "{c}");
        }
    }

    #[test]
    fn payload_errors() {
        assert_eq!(parse_close_payload(&[3]), Err(CloseError::OneBytePayload));
        assert_eq!(
            parse_close_payload(&[0x03, 0xed]),
            Err(CloseError::InvalidCode(CloseCode(1005)))
        );
        assert_eq!(
            parse_close_payload(b"\x03\xe8\xff"),
            Err(CloseError::InvalidReason)
        );
        assert_eq!(parse_close_payload(&[0x03; 126]), Err(CloseError::TooLong));
        assert_eq!(
            CloseError::OneBytePayload.close_code(),
            CloseCode::PROTOCOL_ERROR
        );
        let mut buf = [0; 125];
        assert_eq!(
            write_close_payload(CloseCode(1006), "", &mut buf),
            Err(CloseError::InvalidCode(CloseCode(1006)))
        );
    }

    #[test]
    fn reason_is_truncated_on_a_char_boundary() {
        let mut buf = [0; 125];
        let reason = "€".repeat(60);
        let n = write_close_payload(CloseCode::NORMAL, &reason, &mut buf).unwrap();
        let (code, r) = parse_close_payload(&buf[..n]).unwrap().unwrap();
        assert_eq!(code, CloseCode::NORMAL);
        assert_eq!(r.len(), 123);
        assert!(reason.starts_with(r));
    }
}
