//! The client role: write the opening request (§4.1), check the server's
//! answer (§4.1, "the client MUST validate the server's response").

use core::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::{
    complete, utf8, AcceptKey, BufferTooSmall, Fields, HandshakeError, Writer, MAX_HEADERS,
};
#[cfg(feature = "alloc")]
use super::{HeadBuffer, Limits};
use crate::extension::{parse_offers, ExtensionError, ExtensionOffer, Offers};
use crate::http::{is_field_value, is_token};
use crate::negotiation::{
    DeflateOffer, DeflateParams, Negotiated, ResponseError, PERMESSAGE_DEFLATE,
};

/// A client's opening request. The caller supplies the nonce: this crate has
/// no random number generator, and §4.1 requires the nonce to be "randomly
/// selected" for each connection.
///
/// ```
/// use ws_proto::handshake::ClientRequest;
///
/// let nonce = *b"the sample nonce"; // use 16 random bytes
/// let request = ClientRequest { origin: Some("http://example.com"), ..ClientRequest::new("server.example.com", "/chat", nonce) };
/// let mut out = [0u8; 512];
/// let n = request.write(&mut out).unwrap();
/// assert!(out[..n].starts_with(b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n"));
/// assert_eq!(&request.key(), b"dGhlIHNhbXBsZSBub25jZQ==");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRequest<'a> {
    /// The `Host` field: host, and port unless it is the default. Bytes that
    /// cannot appear in a host are percent-encoded.
    pub host: &'a str,
    /// The request target, such as `/chat?room=1`. Bytes that cannot appear
    /// raw in a request target (controls, space, non-ASCII) are
    /// percent-encoded; empty means `/`.
    pub path: &'a str,
    /// 16 random bytes, new for each connection; `Sec-WebSocket-Key` is
    /// their base64.
    pub nonce: [u8; 16],
    /// The `Origin` field; left out if it holds a control character.
    pub origin: Option<&'a str>,
    /// Subprotocols to offer, in order of preference. Those that are not
    /// tokens (§4.1) are left out.
    pub subprotocols: &'a [&'a str],
    /// Offer permessage-deflate (RFC 7692) with these parameters; written
    /// first in `Sec-WebSocket-Extensions`. [`parse_response`] checks the
    /// server's answer against it and reports the outcome in
    /// [`Response::negotiated`].
    pub deflate: Option<DeflateOffer>,
    /// More `Sec-WebSocket-Extensions` offers, written after `deflate`;
    /// left out if empty or if it holds a control character. A
    /// permessage-deflate offer here is a fallback the answer is checked
    /// against too.
    pub extensions: Option<&'a str>,
    /// More fields, with the rules of
    /// [`write_accept`](super::write_accept): invalid ones, and those this
    /// request writes itself, are left out.
    pub extra_headers: &'a [(&'a str, &'a str)],
}

/// Fields the request writes itself, or that would frame a body.
const REQUEST_RESERVED: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Origin",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
    "Transfer-Encoding",
];

impl<'a> ClientRequest<'a> {
    /// A request with no origin, subprotocol, extension or extra field.
    ///
    /// ```
    /// # use ws_proto::handshake::ClientRequest;
    /// let request = ClientRequest::new("example.com", "/", [7; 16]);
    /// assert!(request.subprotocols.is_empty());
    /// ```
    pub fn new(host: &'a str, path: &'a str, nonce: [u8; 16]) -> Self {
        ClientRequest {
            host,
            path,
            nonce,
            origin: None,
            subprotocols: &[],
            deflate: None,
            extensions: None,
            extra_headers: &[],
        }
    }

    /// The `Sec-WebSocket-Key` value: base64 of the nonce, 24 ASCII bytes.
    ///
    /// ```
    /// # use ws_proto::handshake::ClientRequest;
    /// let request = ClientRequest::new("h", "/", [0; 16]);
    /// assert_eq!(&request.key(), b"AAAAAAAAAAAAAAAAAAAAAA==");
    /// ```
    pub fn key(&self) -> [u8; 24] {
        let mut key = [0u8; 24];
        // 16 bytes always encode to exactly 24 characters.
        let _ = STANDARD.encode_slice(self.nonce, &mut key);
        key
    }

    /// The `Sec-WebSocket-Accept` value the server must answer with.
    ///
    /// ```
    /// # use ws_proto::handshake::ClientRequest;
    /// let request = ClientRequest::new("h", "/", *b"the sample nonce");
    /// assert_eq!(request.accept_key().as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /// ```
    pub fn accept_key(&self) -> AcceptKey {
        AcceptKey::from_key(&self.key())
    }

    /// The subprotocols actually written: the server may pick only these.
    fn offered_subprotocols(&self) -> impl Iterator<Item = &'a str> {
        self.subprotocols.iter().copied().filter(|p| is_token(p))
    }

    /// The raw extension offers actually written.
    fn offered_extensions(&self) -> Option<&'a str> {
        let extensions = self.extensions?.trim_matches([' ', '\t']);
        (!extensions.is_empty() && is_field_value(extensions)).then_some(extensions)
    }

    /// The raw extension offers that are well-formed: the rest of the list
    /// past a syntax error is nothing the server could accept.
    fn raw_offers(&self) -> impl Iterator<Item = ExtensionOffer<'a>> {
        parse_offers(self.offered_extensions().unwrap_or("")).map_while(Result::ok)
    }

    /// Whether an extension called `name` was offered (names compared
    /// exactly).
    fn offers_extension(&self, name: &str) -> bool {
        (name == PERMESSAGE_DEFLATE && self.deflate.is_some())
            || self.raw_offers().any(|o| o.name() == name)
    }

    /// The permessage-deflate offers written, in order: `deflate`, then
    /// those among `extensions` that RFC 7692 would let a server accept.
    fn deflate_offers(&self) -> impl Iterator<Item = DeflateOffer> + 'a {
        let raw = self
            .raw_offers()
            .filter(|o| o.name() == PERMESSAGE_DEFLATE)
            .filter_map(|o| DeflateOffer::parse(&o).ok());
        self.deflate
            .map(DeflateOffer::normalized)
            .into_iter()
            .chain(raw)
    }

    /// The server's permessage-deflate answer, checked against every
    /// permessage-deflate offer: the first it fits decides; if it fits
    /// none, the error is the first offer's.
    fn check_deflate(
        &self,
        answer: &ExtensionOffer<'_>,
    ) -> Result<DeflateParams, ClientHandshakeError> {
        let mut first_error = None;
        for offer in self.deflate_offers() {
            match offer.check_response(answer) {
                Ok(params) => return Ok(params),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.map_or(
            ClientHandshakeError::UnofferedExtension,
            ClientHandshakeError::Deflate,
        ))
    }

    /// Writes the request head into `out`, returning its length.
    ///
    /// ```
    /// use ws_proto::handshake::ClientRequest;
    ///
    /// let request = ClientRequest {
    ///     subprotocols: &["chat", "superchat"],
    ///     ..ClientRequest::new("server.example.com", "/chat", *b"the sample nonce")
    /// };
    /// let mut out = [0u8; 512];
    /// let n = request.write(&mut out).unwrap();
    /// assert_eq!(
    ///     &out[..n],
    ///     &b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
    ///        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///        Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n"[..]
    /// );
    /// ```
    pub fn write(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let mut w = Writer::new(out);
        w.put(b"GET ")?;
        if self.path.is_empty() {
            w.put(b"/")?;
        } else {
            w.put_escaped(self.path)?;
        }
        w.put(b" HTTP/1.1\r\nHost: ")?;
        w.put_escaped(self.host)?;
        w.put(b"\r\n")?;
        w.header("Upgrade", "websocket")?;
        w.header("Connection", "Upgrade")?;
        w.put(b"Sec-WebSocket-Key: ")?;
        w.put(&self.key())?;
        w.put(b"\r\n")?;
        w.header("Sec-WebSocket-Version", "13")?;
        if let Some(origin) = self.origin.filter(|o| is_field_value(o)) {
            w.header("Origin", origin)?;
        }
        let mut subprotocols = self.offered_subprotocols();
        if let Some(first) = subprotocols.next() {
            w.put(b"Sec-WebSocket-Protocol: ")?;
            w.put(first.as_bytes())?;
            for p in subprotocols {
                w.put(b", ")?;
                w.put(p.as_bytes())?;
            }
            w.put(b"\r\n")?;
        }
        match (self.deflate, self.offered_extensions()) {
            (None, None) => {}
            (None, Some(raw)) => w.header("Sec-WebSocket-Extensions", raw)?,
            (Some(deflate), raw) => {
                w.put(b"Sec-WebSocket-Extensions: ")?;
                w.display(&deflate)?;
                if let Some(raw) = raw {
                    w.put(b", ")?;
                    w.put(raw.as_bytes())?;
                }
                w.put(b"\r\n")?;
            }
        }
        w.extra_headers(self.extra_headers, REQUEST_RESERVED)?;
        w.put(b"\r\n")?;
        Ok(w.finish())
    }
}

/// Why the server's answer does not complete the handshake. The client must
/// then fail the WebSocket connection (§4.1).
///
/// ```
/// use ws_proto::handshake::{parse_response, ClientHandshakeError, ClientRequest};
///
/// let request = ClientRequest::new("h", "/", [0; 16]);
/// let err = parse_response(b"HTTP/1.1 403 Forbidden\r\n\r\n", &request).unwrap_err();
/// assert_eq!(err, ClientHandshakeError::Status(403));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientHandshakeError {
    /// The head broke a limit, is not well-formed HTTP/1.x, is HTTP/1.0, or
    /// repeats `Sec-WebSocket-Accept` or `Sec-WebSocket-Protocol`.
    Http(HandshakeError),
    /// The status is not `101 Switching Protocols`: the server refused, or
    /// wants authentication or a redirect. Carries the status.
    Status(u16),
    /// No `Upgrade` field listing `websocket`.
    MissingUpgrade,
    /// No `Connection` field listing `Upgrade`.
    MissingConnectionUpgrade,
    /// No `Sec-WebSocket-Accept` field.
    MissingAccept,
    /// `Sec-WebSocket-Accept` is not the answer to our key.
    AcceptMismatch,
    /// The server chose a subprotocol we did not offer (§4.1, item 6).
    UnofferedSubprotocol,
    /// The server named an extension we did not offer (§4.1, item 5).
    UnofferedExtension,
    /// The server named the same extension twice.
    DuplicateExtension,
    /// The server's permessage-deflate parameters do not fit what was
    /// offered (RFC 7692 §7.1).
    Deflate(ResponseError),
    /// `Sec-WebSocket-Extensions` does not follow the §9.1 grammar.
    Extension(ExtensionError),
}

impl From<HandshakeError> for ClientHandshakeError {
    fn from(e: HandshakeError) -> Self {
        ClientHandshakeError::Http(e)
    }
}

impl fmt::Display for ClientHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientHandshakeError::Http(e) => write!(f, "bad handshake response: {e}"),
            ClientHandshakeError::Status(status) => {
                write!(f, "server answered {status} instead of 101")
            }
            ClientHandshakeError::MissingUpgrade => {
                f.write_str("response lacks Upgrade: websocket")
            }
            ClientHandshakeError::MissingConnectionUpgrade => {
                f.write_str("response lacks Connection: Upgrade")
            }
            ClientHandshakeError::MissingAccept => {
                f.write_str("response lacks Sec-WebSocket-Accept")
            }
            ClientHandshakeError::AcceptMismatch => {
                f.write_str("Sec-WebSocket-Accept does not match the key")
            }
            ClientHandshakeError::UnofferedSubprotocol => {
                f.write_str("server chose a subprotocol that was not offered")
            }
            ClientHandshakeError::UnofferedExtension => {
                f.write_str("server named an extension that was not offered")
            }
            ClientHandshakeError::DuplicateExtension => {
                f.write_str("server named the same extension twice")
            }
            ClientHandshakeError::Deflate(e) => write!(f, "{e}"),
            ClientHandshakeError::Extension(e) => write!(f, "bad Sec-WebSocket-Extensions: {e}"),
        }
    }
}

impl core::error::Error for ClientHandshakeError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ClientHandshakeError::Http(e) => Some(e),
            ClientHandshakeError::Extension(e) => Some(e),
            ClientHandshakeError::Deflate(e) => Some(e),
            _ => None,
        }
    }
}

/// A server's `101 Switching Protocols` answer that passed every check of
/// §4.1, borrowing the head it was parsed from.
///
/// ```
/// use ws_proto::handshake::{parse_response, ClientRequest};
///
/// let request = ClientRequest { subprotocols: &["chat"], ..ClientRequest::new("h", "/", *b"the sample nonce") };
/// let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
/// let response = parse_response(head, &request).unwrap();
/// assert_eq!(response.subprotocol(), Some("chat"));
/// ```
#[derive(Clone)]
pub struct Response<'b> {
    subprotocol: Option<&'b str>,
    negotiated: Negotiated,
    fields: Fields<'b>,
}

impl fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("negotiated", &self.negotiated)
            .field("headers", &self.fields)
            .finish()
    }
}

impl<'b> Response<'b> {
    /// The extensions the connection runs with, checked against the
    /// request's offers: pass it to the connection.
    ///
    /// ```
    /// use ws_proto::handshake::{parse_response, ClientRequest};
    /// use ws_proto::negotiation::DeflateOffer;
    ///
    /// let request = ClientRequest {
    ///     deflate: Some(DeflateOffer::default()),
    ///     ..ClientRequest::new("h", "/", *b"the sample nonce")
    /// };
    /// let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    ///     Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n\r\n";
    /// let deflate = parse_response(head, &request).unwrap().negotiated().permessage_deflate.unwrap();
    /// assert_eq!(deflate.client_max_window_bits, 10);
    /// ```
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    /// The subprotocol the server chose, one of those offered, if any.
    ///
    /// ```
    /// # use ws_proto::handshake::{parse_response, ClientRequest};
    /// let request = ClientRequest::new("h", "/", *b"the sample nonce");
    /// let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    /// assert_eq!(parse_response(head, &request).unwrap().subprotocol(), None);
    /// ```
    pub fn subprotocol(&self) -> Option<&'b str> {
        self.subprotocol
    }

    /// The extensions the server accepted, with their parameters, across
    /// every `Sec-WebSocket-Extensions` field. All were offered and are
    /// well-formed ([`parse_response`] checked), so no item is an `Err`.
    ///
    /// ```
    /// # use ws_proto::handshake::{parse_response, ClientRequest};
    /// let request = ClientRequest {
    ///     extensions: Some("permessage-deflate; client_max_window_bits"),
    ///     ..ClientRequest::new("h", "/", *b"the sample nonce")
    /// };
    /// let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    ///     Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n\r\n";
    /// let response = parse_response(head, &request).unwrap();
    /// let ext = response.extensions().next().unwrap().unwrap();
    /// assert_eq!(ext.name(), "permessage-deflate");
    /// ```
    pub fn extensions(&self) -> Offers<'b> {
        self.fields.extensions()
    }

    /// The value of the first field named `name`, ignoring ASCII case.
    ///
    /// ```
    /// # use ws_proto::handshake::{parse_response, ClientRequest};
    /// let request = ClientRequest::new("h", "/", *b"the sample nonce");
    /// let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSet-Cookie: id=1\r\n\r\n";
    /// let response = parse_response(head, &request).unwrap();
    /// assert_eq!(response.header("set-cookie"), Some(&b"id=1"[..]));
    /// ```
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.fields.first(name)
    }

    /// Every field in order, as `(name, value)`.
    ///
    /// ```
    /// # use ws_proto::handshake::{parse_response, ClientRequest};
    /// let request = ClientRequest::new("h", "/", *b"the sample nonce");
    /// let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    /// let response = parse_response(head, &request).unwrap();
    /// assert_eq!(response.headers().map(|(name, _)| name).collect::<Vec<_>>(),
    ///            ["Upgrade", "Connection", "Sec-WebSocket-Accept"]);
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> + '_ {
        self.fields.pairs()
    }
}

/// Parses the server's answer to `request` and checks it as §4.1 requires:
/// status 101 (any other is [`Status`](ClientHandshakeError::Status), checked
/// first), HTTP/1.1, CRLF line endings, `Upgrade` listing `websocket` and
/// `Connection` listing `Upgrade` (ignoring ASCII case), exactly one
/// `Sec-WebSocket-Accept` equal to [`ClientRequest::accept_key`], at most
/// one `Sec-WebSocket-Protocol` naming exactly one offered subprotocol
/// (compared exactly), and `Sec-WebSocket-Extensions` well-formed, naming
/// only offered extensions (names compared exactly), each at most once.
/// A permessage-deflate answer is checked against the offers
/// ([`DeflateOffer::check_response`]) and becomes
/// [`Response::negotiated`]; the parameters of other extensions are for the
/// caller to judge.
///
/// `head` is normally `buf[..n]` for the `n` that
/// [`HeadScanner`](super::HeadScanner) found; anything after the empty line
/// is ignored.
///
/// ```
/// use ws_proto::handshake::{parse_response, ClientHandshakeError, ClientRequest};
///
/// let request = ClientRequest::new("h", "/", [1; 16]);
/// let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
/// assert_eq!(parse_response(head, &request).unwrap_err(), ClientHandshakeError::AcceptMismatch);
/// ```
pub fn parse_response<'b>(
    head: &'b [u8],
    request: &ClientRequest<'_>,
) -> Result<Response<'b>, ClientHandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let (end, version, code, len) = {
        let mut response = httparse::Response::new(&mut headers);
        let end = complete(response.parse(head))?;
        (
            end,
            response.version.unwrap_or(0),
            response.code.unwrap_or(0),
            response.headers.len(),
        )
    };
    if code != 101 {
        return Err(ClientHandshakeError::Status(code));
    }
    let fields = Fields::new(head, end, headers, len)?;
    if version < 1 {
        return Err(HandshakeError::HttpVersion.into());
    }
    if !fields.lists("upgrade", "websocket") {
        return Err(ClientHandshakeError::MissingUpgrade);
    }
    if !fields.lists("connection", "upgrade") {
        return Err(ClientHandshakeError::MissingConnectionUpgrade);
    }
    match fields.single("Sec-WebSocket-Accept")? {
        None => return Err(ClientHandshakeError::MissingAccept),
        Some(accept) if accept != request.accept_key().as_str().as_bytes() => {
            return Err(ClientHandshakeError::AcceptMismatch)
        }
        Some(_) => {}
    }
    let subprotocol = match fields.single("Sec-WebSocket-Protocol")? {
        None => None,
        Some(chosen) => {
            let chosen = utf8(chosen, "Sec-WebSocket-Protocol is not UTF-8")?;
            if !request.offered_subprotocols().any(|p| p == chosen) {
                return Err(ClientHandshakeError::UnofferedSubprotocol);
            }
            Some(chosen)
        }
    };
    let mut negotiated = Negotiated::NONE;
    for (i, accepted) in fields.extensions().enumerate() {
        let accepted = accepted.map_err(ClientHandshakeError::Extension)?;
        // Every earlier name was offered and distinct, so this looks back
        // at most as far as the request's own offers.
        let twice = fields
            .extensions()
            .take(i)
            .any(|earlier| earlier.is_ok_and(|e| e.name() == accepted.name()));
        if twice {
            return Err(ClientHandshakeError::DuplicateExtension);
        }
        if !request.offers_extension(accepted.name()) {
            return Err(ClientHandshakeError::UnofferedExtension);
        }
        if accepted.name() == PERMESSAGE_DEFLATE {
            negotiated.permessage_deflate = Some(request.check_deflate(&accepted)?);
        }
    }
    Ok(Response {
        subprotocol,
        negotiated,
        fields,
    })
}

/// A client handshake that owns the buffer for the server's answer: feed it
/// what the socket gives, then check the [`Response`] and take the bytes
/// that followed it.
///
/// ```
/// use ws_proto::handshake::{ClientHandshake, ClientRequest, Limits};
///
/// let request = ClientRequest::new("h", "/", *b"the sample nonce");
/// let mut hs = ClientHandshake::new(Limits::default());
/// let done = hs.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi");
/// assert_eq!(done, Ok(true));
/// assert!(hs.response(&request).is_ok());
/// assert_eq!(hs.leftover(), b"\x81\x02hi");
/// ```
#[cfg(feature = "alloc")]
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    inner: HeadBuffer,
}

#[cfg(feature = "alloc")]
impl ClientHandshake {
    /// An empty handshake.
    ///
    /// ```
    /// # use ws_proto::handshake::{ClientHandshake, Limits};
    /// let hs = ClientHandshake::new(Limits::default());
    /// assert!(hs.leftover().is_empty());
    /// ```
    pub fn new(limits: Limits) -> Self {
        ClientHandshake {
            inner: HeadBuffer::new(limits),
        }
    }

    /// Appends `data` and scans the new bytes: `Ok(true)` once the head is
    /// complete. Never buffers more than [`Limits::max_head_bytes`] + 1
    /// bytes before that; data fed after is appended to
    /// [`leftover`](Self::leftover).
    ///
    /// ```
    /// # use ws_proto::handshake::{ClientHandshake, Limits};
    /// let mut hs = ClientHandshake::new(Limits::default());
    /// assert_eq!(hs.feed(b"HTTP/1.1 101 Switching Protocols\r\n"), Ok(false));
    /// ```
    pub fn feed(&mut self, data: &[u8]) -> Result<bool, HandshakeError> {
        self.inner.feed(data)
    }

    /// Parses and checks the complete head with [`parse_response`]; an error
    /// before [`feed`](Self::feed) returned `true`.
    ///
    /// ```
    /// # use ws_proto::handshake::{ClientHandshake, ClientHandshakeError, ClientRequest, Limits};
    /// let mut hs = ClientHandshake::new(Limits::default());
    /// hs.feed(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").unwrap();
    /// let request = ClientRequest::new("h", "/", [0; 16]);
    /// assert_eq!(hs.response(&request).unwrap_err(), ClientHandshakeError::Status(503));
    /// ```
    pub fn response(
        &self,
        request: &ClientRequest<'_>,
    ) -> Result<Response<'_>, ClientHandshakeError> {
        parse_response(self.inner.head()?, request)
    }

    /// The complete head; empty until then.
    ///
    /// ```
    /// # use ws_proto::handshake::{ClientHandshake, Limits};
    /// let mut hs = ClientHandshake::new(Limits::default());
    /// hs.feed(b"HTTP/1.1 404 Not Found\r\n\r\nbody").unwrap();
    /// assert_eq!(hs.head(), b"HTTP/1.1 404 Not Found\r\n\r\n");
    /// ```
    pub fn head(&self) -> &[u8] {
        self.inner.head().unwrap_or(&[])
    }

    /// The bytes received after the head: the start of the WebSocket stream
    /// (or of an error response's body). Empty until the head is complete.
    ///
    /// ```
    /// # use ws_proto::handshake::{ClientHandshake, Limits};
    /// let mut hs = ClientHandshake::new(Limits::default());
    /// hs.feed(b"HTTP/1.1 404 Not Found\r\n\r\nbody").unwrap();
    /// assert_eq!(hs.leftover(), b"body");
    /// ```
    pub fn leftover(&self) -> &[u8] {
        self.inner.leftover()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{
        parse_request, write_accept, write_reject, Accept, HeadScanner, Limits,
    };

    const NONCE: [u8; 16] = *b"the sample nonce";

    const ACCEPT_HEAD: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";

    /// A 101 answer to NONCE with `extra` fields.
    fn answer(extra: &str) -> Vec<u8> {
        format!("{ACCEPT_HEAD}{extra}\r\n").into_bytes()
    }

    fn err(head: &[u8], request: &ClientRequest<'_>) -> ClientHandshakeError {
        parse_response(head, request).unwrap_err()
    }

    #[test]
    fn writes_the_rfc_sample_request() {
        let request = ClientRequest {
            origin: Some("http://example.com"),
            subprotocols: &["chat", "superchat"],
            ..ClientRequest::new("server.example.com", "/chat", NONCE)
        };
        let mut out = [0u8; 512];
        let n = request.write(&mut out).unwrap();
        assert_eq!(
            core::str::from_utf8(&out[..n]).unwrap(),
            "GET /chat HTTP/1.1\r\n\
             Host: server.example.com\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Origin: http://example.com\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"
        );
        for i in 0..n {
            assert_eq!(request.write(&mut out[..i]), Err(BufferTooSmall));
        }
    }

    #[test]
    fn round_trip_against_the_server_functions() {
        let request = ClientRequest {
            origin: Some("https://app.example"),
            subprotocols: &["v2.chat", "v1.chat"],
            extensions: Some("permessage-deflate; client_max_window_bits, x-foo"),
            extra_headers: &[("Authorization", "Bearer abc")],
            ..ClientRequest::new("example.com:9001", "/ws?room=1", [42; 16])
        };
        let mut wire = [0u8; 1024];
        let n = request.write(&mut wire).unwrap();

        let end = HeadScanner::new(Limits::default())
            .scan(&wire[..n])
            .unwrap()
            .unwrap();
        assert_eq!(end, n);
        let server_view = parse_request(&wire[..n]).unwrap();
        assert_eq!(server_view.path(), "/ws?room=1");
        assert_eq!(server_view.host(), "example.com:9001");
        assert_eq!(server_view.origin(), Some("https://app.example"));
        assert_eq!(server_view.key().as_bytes(), &request.key());
        assert_eq!(server_view.accept_key(), request.accept_key());
        assert!(server_view.subprotocols().eq(["v2.chat", "v1.chat"]));
        let offered: Vec<_> = server_view
            .extensions()
            .map(|o| o.unwrap().name())
            .collect();
        assert_eq!(offered, ["permessage-deflate", "x-foo"]);
        assert_eq!(
            server_view.header("authorization"),
            Some(&b"Bearer abc"[..])
        );

        let accept = Accept {
            subprotocol: server_view.subprotocols().nth(1),
            extensions: Some("permessage-deflate"),
            extra_headers: &[],
        };
        let mut answer = [0u8; 512];
        let m = write_accept(&server_view, &accept, &mut answer).unwrap();
        let response = parse_response(&answer[..m], &request).unwrap();
        assert_eq!(response.subprotocol(), Some("v1.chat"));
        let accepted: Vec<_> = response.extensions().map(|o| o.unwrap().name()).collect();
        assert_eq!(accepted, ["permessage-deflate"]);
        assert!(format!("{response:?}").contains("Sec-WebSocket-Accept"));

        // The server's refusals come back as the status.
        for e in [
            HandshakeError::UnsupportedVersion,
            HandshakeError::InvalidKey,
        ] {
            let m = write_reject(&e.rejection(), &mut answer).unwrap();
            let end = HeadScanner::new(Limits::default())
                .scan(&answer[..m])
                .unwrap()
                .unwrap();
            assert_eq!(
                parse_response(&answer[..end], &request).unwrap_err(),
                ClientHandshakeError::Status(e.status())
            );
        }
    }

    #[test]
    fn non_101_statuses() {
        let request = ClientRequest::new("h", "/", NONCE);
        for status in [200, 403, 404, 426, 500] {
            let head = format!("HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\n\r\n");
            assert_eq!(
                err(head.as_bytes(), &request),
                ClientHandshakeError::Status(status)
            );
        }
        // Even a 200 that otherwise looks right.
        let ok = ACCEPT_HEAD.replacen("101 Switching Protocols", "200 OK", 1) + "\r\n";
        assert_eq!(
            err(ok.as_bytes(), &request),
            ClientHandshakeError::Status(200)
        );
    }

    #[test]
    fn accept_checks() {
        let request = ClientRequest::new("h", "/", NONCE);
        assert!(parse_response(&answer(""), &request).is_ok());
        let other = ClientRequest::new("h", "/", [0; 16]);
        assert_eq!(
            err(&answer(""), &other),
            ClientHandshakeError::AcceptMismatch
        );
        let wrong = ACCEPT_HEAD.replacen(
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOp=",
            1,
        ) + "\r\n";
        assert_eq!(
            err(wrong.as_bytes(), &request),
            ClientHandshakeError::AcceptMismatch
        );
        let missing = ACCEPT_HEAD.replacen(
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
            "",
            1,
        ) + "\r\n";
        assert_eq!(
            err(missing.as_bytes(), &request),
            ClientHandshakeError::MissingAccept
        );
        let twice = answer("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n");
        assert_eq!(
            err(&twice, &request),
            ClientHandshakeError::Http(HandshakeError::DuplicateHeader("Sec-WebSocket-Accept"))
        );
    }

    #[test]
    fn upgrade_and_connection_checks() {
        let request = ClientRequest::new("h", "/", NONCE);
        let lower = ACCEPT_HEAD
            .replacen("Upgrade: websocket", "upgrade: WEBSOCKET", 1)
            .replacen("Connection: Upgrade", "connection: keep-alive, upgrade", 1)
            + "\r\n";
        assert!(parse_response(lower.as_bytes(), &request).is_ok());
        let no_upgrade = ACCEPT_HEAD.replacen("Upgrade: websocket\r\n", "", 1) + "\r\n";
        assert_eq!(
            err(no_upgrade.as_bytes(), &request),
            ClientHandshakeError::MissingUpgrade
        );
        let no_connection =
            ACCEPT_HEAD.replacen("Connection: Upgrade\r\n", "Connection: close\r\n", 1) + "\r\n";
        assert_eq!(
            err(no_connection.as_bytes(), &request),
            ClientHandshakeError::MissingConnectionUpgrade
        );
        let http10 = ACCEPT_HEAD.replacen("HTTP/1.1", "HTTP/1.0", 1) + "\r\n";
        assert_eq!(
            err(http10.as_bytes(), &request),
            ClientHandshakeError::Http(HandshakeError::HttpVersion)
        );
    }

    #[test]
    fn subprotocol_checks() {
        let request = ClientRequest {
            subprotocols: &["chat", "superchat", "bad one"],
            ..ClientRequest::new("h", "/", NONCE)
        };
        let head = answer("Sec-WebSocket-Protocol: superchat\r\n");
        let chosen = parse_response(&head, &request).unwrap();
        assert_eq!(chosen.subprotocol(), Some("superchat"));
        for bad in [
            "Sec-WebSocket-Protocol: other\r\n",
            "Sec-WebSocket-Protocol: Chat\r\n",
            "Sec-WebSocket-Protocol: chat, superchat\r\n",
            "Sec-WebSocket-Protocol: \r\n",
            // Never written, so never offered.
            "Sec-WebSocket-Protocol: bad one\r\n",
        ] {
            assert_eq!(
                err(&answer(bad), &request),
                ClientHandshakeError::UnofferedSubprotocol,
                "{bad}"
            );
        }
        let none_offered = ClientRequest::new("h", "/", NONCE);
        assert_eq!(
            err(&answer("Sec-WebSocket-Protocol: chat\r\n"), &none_offered),
            ClientHandshakeError::UnofferedSubprotocol
        );
        assert_eq!(
            err(
                &answer("Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n"),
                &request
            ),
            ClientHandshakeError::Http(HandshakeError::DuplicateHeader("Sec-WebSocket-Protocol"))
        );
        let mut not_utf8 = ACCEPT_HEAD.as_bytes().to_vec();
        not_utf8.extend_from_slice(b"Sec-WebSocket-Protocol: \xff\r\n\r\n");
        assert_eq!(
            err(&not_utf8, &request),
            ClientHandshakeError::Http(HandshakeError::Malformed(
                "Sec-WebSocket-Protocol is not UTF-8"
            ))
        );
    }

    #[test]
    fn extension_checks() {
        let request = ClientRequest {
            extensions: Some("permessage-deflate; client_max_window_bits, x-foo"),
            ..ClientRequest::new("h", "/", NONCE)
        };
        let ok = answer(
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n\
             Sec-WebSocket-Extensions: x-foo\r\n",
        );
        let response = parse_response(&ok, &request).unwrap();
        assert_eq!(response.extensions().count(), 2);
        assert_eq!(
            err(&answer("Sec-WebSocket-Extensions: x-bar\r\n"), &request),
            ClientHandshakeError::UnofferedExtension
        );
        assert_eq!(
            err(
                &answer("Sec-WebSocket-Extensions: x-foo, x-bar\r\n"),
                &request
            ),
            ClientHandshakeError::UnofferedExtension
        );
        // Names are compared exactly.
        assert_eq!(
            err(&answer("Sec-WebSocket-Extensions: X-Foo\r\n"), &request),
            ClientHandshakeError::UnofferedExtension
        );
        assert_eq!(
            err(
                &answer("Sec-WebSocket-Extensions: x-foo; a=\"\r\n"),
                &request
            ),
            ClientHandshakeError::Extension(ExtensionError::UnterminatedQuote)
        );
        let nothing_offered = ClientRequest::new("h", "/", NONCE);
        assert_eq!(
            err(
                &answer("Sec-WebSocket-Extensions: x-foo\r\n"),
                &nothing_offered
            ),
            ClientHandshakeError::UnofferedExtension
        );
        // An empty field names nothing.
        assert!(parse_response(&answer("Sec-WebSocket-Extensions:\r\n"), &nothing_offered).is_ok());
        // An offer with a control character is never written, so never offered.
        let bad_offer = ClientRequest {
            extensions: Some("x-foo\r\nX-Evil: 1"),
            ..ClientRequest::new("h", "/", NONCE)
        };
        assert_eq!(
            err(&answer("Sec-WebSocket-Extensions: x-foo\r\n"), &bad_offer),
            ClientHandshakeError::UnofferedExtension
        );
    }

    #[test]
    fn malformed_responses() {
        let request = ClientRequest::new("h", "/", NONCE);
        assert!(matches!(
            err(b"HTTP/1.1 101 Switching Protocols\r\n", &request),
            ClientHandshakeError::Http(HandshakeError::Malformed(_))
        ));
        assert!(matches!(
            err(b"HTTX/1.1 101\r\n\r\n", &request),
            ClientHandshakeError::Http(HandshakeError::HttpVersion)
        ));
        assert!(matches!(
            err(b"HTTP/1.1 1O1 Switching\r\n\r\n", &request),
            ClientHandshakeError::Http(HandshakeError::Malformed(_))
        ));
        let lf = ACCEPT_HEAD.replace("\r\n", "\n") + "\n";
        assert_eq!(
            err(lf.as_bytes(), &request),
            ClientHandshakeError::Http(HandshakeError::Malformed("LF without CR"))
        );
    }

    #[test]
    fn crlf_injection_is_impossible_in_requests() {
        let request = ClientRequest {
            host: "h\r\nX-Evil: 1",
            path: "/a b\r\nX-Evil: 1\r\n\r\n",
            nonce: NONCE,
            origin: Some("http://o\r\nX-Evil: 1"),
            subprotocols: &["ok", "a,b", "x\r\nX-Evil: 1", ""],
            deflate: None,
            extensions: Some("x\nX-Evil: 1"),
            extra_headers: &[
                ("X-Ok", "1"),
                ("X-Bad", "1\r\nX-Evil: 1"),
                ("X-Evil: 1\r\nY", "1"),
                ("sec-websocket-key", "forged"),
                ("HOST", "other"),
            ],
        };
        let mut out = [0u8; 1024];
        let n = request.write(&mut out).unwrap();
        assert!(!out[..n].windows(7).any(|w| w == b"\nX-Evil"));
        assert!(!out[..n].windows(6).any(|w| w == b"forged"));
        let parsed = parse_request(&out[..n]).unwrap();
        assert_eq!(parsed.path(), "/a%20b%0D%0AX-Evil:%201%0D%0A%0D%0A");
        assert_eq!(parsed.host(), "h%0D%0AX-Evil:%201");
        assert_eq!(parsed.origin(), None);
        assert!(parsed.subprotocols().eq(["ok"]));
        assert_eq!(parsed.extensions().count(), 0);
        let names: Vec<_> = parsed.headers().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "Host",
                "Upgrade",
                "Connection",
                "Sec-WebSocket-Key",
                "Sec-WebSocket-Version",
                "Sec-WebSocket-Protocol",
                "X-Ok"
            ]
        );
        // Non-ASCII paths are percent-encoded too; an empty one is `/`.
        let request = ClientRequest::new("h", "/é", NONCE);
        let n = request.write(&mut out).unwrap();
        assert!(out[..n].starts_with(b"GET /%C3%A9 HTTP/1.1\r\n"));
        let request = ClientRequest::new("h", "", NONCE);
        let n = request.write(&mut out).unwrap();
        assert!(out[..n].starts_with(b"GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn errors_display_and_source() {
        use core::error::Error as _;
        let all = [
            ClientHandshakeError::Http(HandshakeError::HeadTooLarge),
            ClientHandshakeError::Status(403),
            ClientHandshakeError::MissingUpgrade,
            ClientHandshakeError::MissingConnectionUpgrade,
            ClientHandshakeError::MissingAccept,
            ClientHandshakeError::AcceptMismatch,
            ClientHandshakeError::UnofferedSubprotocol,
            ClientHandshakeError::UnofferedExtension,
            ClientHandshakeError::DuplicateExtension,
            ClientHandshakeError::Deflate(ResponseError::ServerWindowBitsTooLarge),
            ClientHandshakeError::Extension(ExtensionError::EmptyName),
        ];
        for e in all {
            assert!(!e.to_string().is_empty());
            assert_eq!(
                e.source().is_some(),
                matches!(
                    e,
                    ClientHandshakeError::Http(_)
                        | ClientHandshakeError::Extension(_)
                        | ClientHandshakeError::Deflate(_)
                )
            );
        }
        assert!(ClientHandshakeError::Status(403)
            .to_string()
            .contains("403"));
        assert_eq!(
            ClientHandshakeError::from(HandshakeError::LineTooLong),
            ClientHandshakeError::Http(HandshakeError::LineTooLong)
        );
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn client_handshake_buffers_and_checks() {
        let request = ClientRequest::new("h", "/", NONCE);
        let mut bytes = answer("");
        let head_len = bytes.len();
        bytes.extend_from_slice(b"\x81\x05hello");
        let mut hs = ClientHandshake::new(Limits::default());
        assert_eq!(
            hs.response(&request).unwrap_err(),
            ClientHandshakeError::Http(HandshakeError::Malformed("incomplete head"))
        );
        let mut done = false;
        for b in &bytes {
            done = hs.feed(core::slice::from_ref(b)).unwrap();
        }
        assert!(done);
        assert_eq!(hs.head().len(), head_len);
        assert_eq!(hs.leftover(), b"\x81\x05hello");
        assert!(hs.response(&request).is_ok());
        assert_eq!(hs.inner.scanner.examined, head_len);

        let mut hs = ClientHandshake::new(Limits {
            max_head_bytes: 64,
            ..Limits::default()
        });
        assert_eq!(hs.feed(&bytes), Err(HandshakeError::HeadTooLarge));
    }

    #[cfg(not(miri))]
    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parse_response_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let request = ClientRequest {
                    subprotocols: &["chat"],
                    extensions: Some("permessage-deflate"),
                    ..ClientRequest::new("h", "/", NONCE)
                };
                let _ = parse_response(&bytes, &request);
            }

            #[test]
            fn parse_response_survives_mutations(
                edits in proptest::collection::vec((0..ACCEPT_HEAD.len(), any::<u8>()), 0..6)
            ) {
                let request = ClientRequest::new("h", "/", NONCE);
                let mut bytes = answer("");
                for (at, b) in edits {
                    bytes[at] = b;
                }
                if let Ok(response) = parse_response(&bytes, &request) {
                    prop_assert_eq!(response.subprotocol(), None);
                    prop_assert_eq!(response.extensions().count(), 0);
                }
            }

            #[test]
            fn written_requests_always_parse(
                host in "(?s).{0,12}",
                path in "(?s).{0,12}",
                nonce in any::<[u8; 16]>(),
                origin in proptest::option::of("(?s).{0,12}"),
                protocol in "(?s).{0,8}",
                extensions in proptest::option::of("(?s).{0,12}"),
                deflate in proptest::option::of(any::<(bool, bool, Option<u8>, Option<u8>)>()),
                name in "(?s).{0,8}",
                value in "(?s).{0,8}",
            ) {
                let deflate = deflate.map(|(s, c, sb, cb)| DeflateOffer {
                    server_no_context_takeover: s,
                    client_no_context_takeover: c,
                    server_max_window_bits: sb,
                    client_max_window_bits: cb,
                });
                let protocols = [protocol.as_str(), "chat"];
                let extra = [(name.as_str(), value.as_str())];
                let request = ClientRequest {
                    host: &host,
                    path: &path,
                    nonce,
                    origin: origin.as_deref(),
                    subprotocols: &protocols,
                    deflate,
                    extensions: extensions.as_deref(),
                    extra_headers: &extra,
                };
                let mut out = [0u8; 2048];
                let n = request.write(&mut out).unwrap();
                let end = HeadScanner::new(Limits::default()).scan(&out[..n]).unwrap();
                prop_assert_eq!(end, Some(n));
                match parse_request(&out[..n]) {
                    Ok(parsed) => {
                        prop_assert_eq!(parsed.key().as_bytes(), &request.key()[..]);
                        // The typed offer comes first and reads back as written.
                        if let Some(deflate) = deflate {
                            let first = parsed.extensions().next().unwrap().unwrap();
                            prop_assert_eq!(DeflateOffer::parse(&first), Ok(deflate.normalized()));
                        }
                        prop_assert!(parsed.subprotocols().any(|p| p == "chat"));
                        prop_assert!(parsed.headers().count() <= 10);
                    }
                    // Only an empty host is refused.
                    Err(e) => prop_assert_eq!((e, host.as_str()), (HandshakeError::MissingHost, "")),
                }
            }
        }
    }
}
