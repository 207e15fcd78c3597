//! The server's acceptance policy, written once for every driver: which
//! origins may open a WebSocket, which subprotocol is chosen, and which
//! settings are valid at all.
//!
//! Drivers (the blocking `ws-server`, `ws-tokio`, an embedded loop) parse
//! the request with [`parse_request`](super::parse_request), ask
//! [`AcceptPolicy::evaluate`] what to do, and answer with
//! [`write_accept`](super::write_accept) or [`write_reject`](super::write_reject).
//! The policy never touches I/O, so the same rules hold whatever the runtime.
//! Its [`Decision`] carries the negotiated extensions, which the driver
//! passes to the connection, and [`Decision::accept`] is the answer to
//! write.
//!
//! ```
//! use ws_proto::handshake::policy::{AcceptPolicy, Refusal};
//! use ws_proto::handshake::parse_request;
//!
//! let policy = AcceptPolicy {
//!     allowed_origins: vec!["https://app.example".into()],
//!     subprotocols: vec!["chat.v2".into(), "chat.v1".into()],
//!     deflate: None,
//! };
//! policy.validate()?;
//!
//! let head = b"GET /ws HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\nOrigin: https://app.example\r\n\
//!     Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n\r\n";
//! let request = parse_request(head)?;
//! let decision = policy.evaluate(&request)?;
//! // The client's first offer that the server speaks.
//! assert_eq!(decision.subprotocol, Some("chat.v1"));
//!
//! let evil = b"GET /ws HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n";
//! let refusal = policy.evaluate(&parse_request(evil)?).unwrap_err();
//! assert_eq!(refusal, Refusal::OriginNotAllowed);
//! assert_eq!(refusal.status(), 403);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::{Accept, Request};
use crate::http::is_token;
use crate::negotiation::{DeflateConfig, ExtensionsValue, InvalidWindowBits, Negotiated};

/// What a server accepts. The default accepts every origin, chooses no
/// subprotocol and no compression.
///
/// ```
/// use ws_proto::handshake::policy::AcceptPolicy;
/// let policy = AcceptPolicy::default();
/// assert!(policy.origin_allowed(Some("https://anything.example")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptPolicy {
    /// `Origin` values allowed to open a WebSocket, as serialized origins
    /// (`https://example.com`, `http://localhost:5000`), compared ignoring
    /// ASCII case; a trailing `/` is ignored. Empty allows every origin. A
    /// request without `Origin` (a non-browser client) is always allowed:
    /// `Origin` only stops other web pages from using a visitor's browser,
    /// it is not authentication.
    pub allowed_origins: Vec<String>,
    /// Subprotocols the server speaks. The client's first offer that is in
    /// this list is chosen; if none is, the connection opens without a
    /// subprotocol (RFC 6455 §4.2.2 leaves the choice to the server).
    pub subprotocols: Vec<String>,
    /// permessage-deflate (RFC 7692): `None` (the default) never
    /// compresses; `Some` accepts the client's first acceptable offer, as
    /// [`DeflateConfig::negotiate`] does. Compression is off by default
    /// because compressing secrets next to attacker-chosen text leaks them
    /// (CRIME, BREACH).
    pub deflate: Option<DeflateConfig>,
}

/// The policy's answer to an acceptable request.
///
/// ```
/// use ws_proto::handshake::policy::Decision;
/// let decision = Decision::default();
/// assert_eq!(decision.subprotocol, None);
/// assert_eq!(decision.extensions.rsv_mask(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decision<'r> {
    /// The subprotocol to name in the 101 answer, borrowed from the request.
    pub subprotocol: Option<&'r str>,
    /// The extensions the connection runs with: pass them to its
    /// constructor.
    pub extensions: Negotiated,
    /// The `Sec-WebSocket-Extensions` value that announces
    /// [`extensions`](Self::extensions); empty for none.
    pub extensions_header: ExtensionsValue,
}

impl Decision<'_> {
    /// The 101 answer for this decision, ready for
    /// [`write_accept`](super::write_accept); add extra fields with
    /// struct update syntax.
    ///
    /// ```
    /// use ws_proto::handshake::{parse_request, policy::AcceptPolicy, write_accept};
    /// use ws_proto::negotiation::DeflateConfig;
    ///
    /// let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    ///     Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    /// let request = parse_request(head)?;
    /// let policy = AcceptPolicy { deflate: Some(DeflateConfig::default()), ..Default::default() };
    /// let decision = policy.evaluate(&request)?;
    /// let mut out = [0u8; 512];
    /// let n = write_accept(&request, &decision.accept(), &mut out)?;
    /// let text = std::str::from_utf8(&out[..n])?;
    /// assert!(text.contains("\r\nSec-WebSocket-Extensions: permessage-deflate; \
    ///     server_max_window_bits=12; client_max_window_bits=12\r\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accept(&self) -> Accept<'_> {
        Accept {
            subprotocol: self.subprotocol,
            extensions: (!self.extensions_header.is_empty())
                .then(|| self.extensions_header.as_str()),
            extra_headers: &[],
        }
    }
}

/// Why the policy refuses a request.
///
/// ```
/// use ws_proto::handshake::policy::Refusal;
/// assert_eq!(Refusal::OriginNotAllowed.reason(), "origin not allowed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request's `Origin` is not in [`AcceptPolicy::allowed_origins`].
    OriginNotAllowed,
}

impl Refusal {
    /// The HTTP status to answer with.
    ///
    /// ```
    /// # use ws_proto::handshake::policy::Refusal;
    /// assert_eq!(Refusal::OriginNotAllowed.status(), 403);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            Refusal::OriginNotAllowed => 403,
        }
    }

    /// A short reason for the answer's body and the log.
    ///
    /// ```
    /// # use ws_proto::handshake::policy::Refusal;
    /// assert!(!Refusal::OriginNotAllowed.reason().is_empty());
    /// ```
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::OriginNotAllowed => "origin not allowed",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl core::error::Error for Refusal {}

/// A setting that can never match a real request, found by
/// [`AcceptPolicy::validate`] so that a server refuses to start with it
/// rather than silently refusing every browser.
///
/// ```
/// use ws_proto::handshake::policy::{AcceptPolicy, PolicyError};
/// let policy = AcceptPolicy { subprotocols: vec!["a b".into()], ..Default::default() };
/// assert_eq!(policy.validate(), Err(PolicyError::InvalidSubprotocol("a b".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// An allowed origin that is not `scheme://host[:port]`.
    InvalidOrigin(String),
    /// A subprotocol that is not an HTTP token (RFC 6455 §4.1, item 10).
    InvalidSubprotocol(String),
    /// A permessage-deflate window setting outside 8..=15.
    InvalidWindowBits(InvalidWindowBits),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::InvalidOrigin(o) => write!(
                f,
                "allowed origin {o:?} is not of the form scheme://host[:port]"
            ),
            PolicyError::InvalidSubprotocol(p) => {
                write!(f, "subprotocol {p:?} is not an HTTP token")
            }
            PolicyError::InvalidWindowBits(e) => write!(f, "permessage-deflate: {e}"),
        }
    }
}

impl core::error::Error for PolicyError {}

impl AcceptPolicy {
    /// Checks every setting: origins must be serialized origins
    /// (`scheme://host[:port]`, an optional trailing `/` allowed),
    /// subprotocols HTTP tokens, and deflate window bits in 8..=15.
    ///
    /// ```
    /// use ws_proto::handshake::policy::{AcceptPolicy, PolicyError};
    /// let ok = AcceptPolicy { allowed_origins: vec!["http://[::1]:8080".into()], ..Default::default() };
    /// assert_eq!(ok.validate(), Ok(()));
    /// let bad = AcceptPolicy { allowed_origins: vec!["example.com".into()], ..Default::default() };
    /// assert!(matches!(bad.validate(), Err(PolicyError::InvalidOrigin(_))));
    /// ```
    pub fn validate(&self) -> Result<(), PolicyError> {
        if let Some(o) = self.allowed_origins.iter().find(|o| !is_origin(o)) {
            return Err(PolicyError::InvalidOrigin(o.clone()));
        }
        if let Some(p) = self.subprotocols.iter().find(|p| !is_token(p)) {
            return Err(PolicyError::InvalidSubprotocol(p.clone()));
        }
        if let Some(deflate) = &self.deflate {
            deflate.validate().map_err(PolicyError::InvalidWindowBits)?;
        }
        Ok(())
    }

    /// Whether a request with this `Origin` (or none) may open a WebSocket.
    ///
    /// ```
    /// use ws_proto::handshake::policy::AcceptPolicy;
    ///
    /// let policy = AcceptPolicy { allowed_origins: vec!["https://Example.com".into()], ..Default::default() };
    /// assert!(policy.origin_allowed(Some("https://example.COM")));
    /// assert!(!policy.origin_allowed(Some("https://example.com.evil.test")));
    /// assert!(policy.origin_allowed(None));
    /// ```
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            _ if self.allowed_origins.is_empty() => true,
            None => true,
            Some(origin) => self
                .allowed_origins
                .iter()
                .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin)),
        }
    }

    /// The subprotocol to answer with: the client's first offer that the
    /// server speaks.
    ///
    /// ```
    /// use ws_proto::handshake::policy::AcceptPolicy;
    ///
    /// let policy = AcceptPolicy { subprotocols: vec!["v2".into(), "v1".into()], ..Default::default() };
    /// assert_eq!(policy.choose_subprotocol(["v1", "v2"]), Some("v1"));
    /// assert_eq!(policy.choose_subprotocol(["v3"]), None);
    /// ```
    pub fn choose_subprotocol<'a>(
        &self,
        offered: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        offered
            .into_iter()
            .find(|p| self.subprotocols.iter().any(|s| s == p))
    }

    /// Decides on a parsed, protocol-valid request: refuse it, or accept it
    /// with the returned choices (subprotocol, negotiated extensions).
    ///
    /// ```
    /// use ws_proto::handshake::{parse_request, policy::AcceptPolicy};
    /// let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// let decision = AcceptPolicy::default().evaluate(&parse_request(head)?)?;
    /// assert_eq!(decision.subprotocol, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn evaluate<'r>(&self, request: &Request<'r>) -> Result<Decision<'r>, Refusal> {
        if !self.origin_allowed(request.origin()) {
            return Err(Refusal::OriginNotAllowed);
        }
        let agreement = match &self.deflate {
            Some(deflate) => deflate.negotiate(request.extensions()),
            None => Default::default(),
        };
        Ok(Decision {
            subprotocol: self.choose_subprotocol(request.subprotocols()),
            extensions: agreement.negotiated,
            extensions_header: agreement.response,
        })
    }
}

/// `scheme://host[:port]` with an optional trailing `/`, as browsers
/// serialize an origin (RFC 6454 §6.2). Deliberately strict: a path, a
/// query or user info would never equal a browser's `Origin` header.
fn is_origin(s: &str) -> bool {
    let s = s.strip_suffix('/').unwrap_or(s);
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok || rest.is_empty() {
        return false;
    }
    // Split off a port, minding IPv6 literals (`[::1]:8080`).
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, tail)) if !addr.is_empty() => {
                if !addr
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                {
                    return false;
                }
                match tail {
                    "" => ("[v6]", None),
                    t => match t.strip_prefix(':') {
                        Some(p) => ("[v6]", Some(p)),
                        None => return false,
                    },
                }
            }
            _ => return false,
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let host_ok = host == "[v6]"
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    let port_ok = port.map_or(true, |p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_the_documented_form_are_valid() {
        for o in [
            "https://example.com",
            "https://example.com/",
            "http://localhost:5000",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "http://[::1]",
            "chrome-extension://abcdef",
        ] {
            assert!(is_origin(o), "{o}");
        }
    }

    #[test]
    fn anything_else_is_not_an_origin() {
        for o in [
            "",
            "example.com",
            "https://",
            "https://example.com/path",
            "https://user@example.com",
            "https://example.com:",
            "https://example.com:99999",
            "https://example.com:80x",
            "1http://example.com",
            "http://[::1",
            "http://[]:80",
            "http://[::1]x",
            "https://exa mple.com",
        ] {
            assert!(!is_origin(o), "{o:?}");
        }
    }

    #[test]
    fn a_request_without_a_shared_subprotocol_opens_without_one() {
        let policy = AcceptPolicy {
            subprotocols: alloc::vec!["mqtt".into()],
            ..Default::default()
        };
        assert_eq!(policy.choose_subprotocol(["chat", "superchat"]), None);
        assert_eq!(policy.choose_subprotocol(["chat", "mqtt"]), Some("mqtt"));
    }
}
