//! The server role: parse and check the client's request (§4.2.1), write
//! the answer (§4.2.2).

use core::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::{
    complete, utf8, AcceptKey, BufferTooSmall, Fields, HandshakeError, Writer, MAX_HEADERS,
};
#[cfg(feature = "alloc")]
use super::{HeadBuffer, Limits};
use crate::extension::Offers;
use crate::http::{is_field_value, is_token};

/// A WebSocket opening request that passed every check of RFC 6455 §4.2.1,
/// borrowing the head it was parsed from.
///
/// ```
/// use ws_proto::handshake::parse_request;
///
/// let head = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n";
/// let request = parse_request(head).unwrap();
/// assert_eq!((request.path(), request.host()), ("/chat", "example.com"));
/// ```
#[derive(Clone)]
pub struct Request<'b> {
    path: &'b str,
    host: &'b str,
    key: &'b str,
    origin: Option<&'b str>,
    fields: Fields<'b>,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("path", &self.path)
            .field("headers", &self.fields)
            .finish()
    }
}

impl<'b> Request<'b> {
    /// The request target, as sent (`/chat?room=1`).
    ///
    /// ```
    /// # use ws_proto::handshake::parse_request;
    /// # let head = b"GET /chat?room=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// assert_eq!(parse_request(head).unwrap().path(), "/chat?room=1");
    /// ```
    pub fn path(&self) -> &'b str {
        self.path
    }

    /// The `Host` field.
    ///
    /// ```
    /// # use ws_proto::handshake::parse_request;
    /// # let head = b"GET / HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// assert_eq!(parse_request(head).unwrap().host(), "example.com:8080");
    /// ```
    pub fn host(&self) -> &'b str {
        self.host
    }

    /// The `Origin` field, which browsers always send (§4.1, §10.2): check it
    /// to refuse pages from other sites. Non-browser clients may omit it.
    ///
    /// ```
    /// # use ws_proto::handshake::parse_request;
    /// # let head = b"GET / HTTP/1.1\r\nHost: h\r\nOrigin: http://example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// assert_eq!(parse_request(head).unwrap().origin(), Some("http://example.com"));
    /// ```
    pub fn origin(&self) -> Option<&'b str> {
        self.origin
    }

    /// The `Sec-WebSocket-Key` field, as sent.
    ///
    /// ```
    /// # use ws_proto::handshake::parse_request;
    /// # let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// assert_eq!(parse_request(head).unwrap().key(), "dGhlIHNhbXBsZSBub25jZQ==");
    /// ```
    pub fn key(&self) -> &'b str {
        self.key
    }

    /// The `Sec-WebSocket-Accept` value that answers this request.
    ///
    /// ```
    /// # use ws_proto::handshake::parse_request;
    /// # let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// let request = parse_request(head).unwrap();
    /// assert_eq!(request.accept_key().as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /// ```
    pub fn accept_key(&self) -> AcceptKey {
        AcceptKey::from_key(self.key.as_bytes())
    }

    /// The subprotocols the client offers, in its order of preference: every
    /// comma-separated element of every `Sec-WebSocket-Protocol` field,
    /// trimmed, empty ones skipped. Pick one for
    /// [`Accept::subprotocol`], or none.
    ///
    /// ```
    /// # use ws_proto::handshake::parse_request;
    /// # let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    /// Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Protocol: v2\r\n\r\n";
    /// let request = parse_request(head).unwrap();
    /// assert!(request.subprotocols().eq(["chat", "superchat", "v2"]));
    /// ```
    pub fn subprotocols(&self) -> impl Iterator<Item = &'b str> + '_ {
        self.fields
            .values("sec-websocket-protocol")
            // parse_request checked that these are UTF-8.
            .flat_map(|value| core::str::from_utf8(value).unwrap_or("").split(','))
            .map(|element| element.trim_matches([' ', '\t']))
            .filter(|element| !element.is_empty())
    }

    /// The extensions the client offers, across every
    /// `Sec-WebSocket-Extensions` field. A malformed offer shows up as an
    /// `Err` item: a server may decline all extensions or refuse with 400.
    ///
    /// ```
    /// # use ws_proto::handshake::parse_request;
    /// # let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    /// Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    /// let request = parse_request(head).unwrap();
    /// let offer = request.extensions().next().unwrap().unwrap();
    /// assert_eq!(offer.name(), "permessage-deflate");
    /// ```
    pub fn extensions(&self) -> Offers<'b> {
        self.fields.extensions()
    }

    /// The value of the first field named `name`, ignoring ASCII case.
    ///
    /// ```
    /// # use ws_proto::handshake::parse_request;
    /// # let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: a=1\r\n\r\n";
    /// let request = parse_request(head).unwrap();
    /// assert_eq!(request.header("cookie"), Some(&b"a=1"[..]));
    /// assert_eq!(request.header("x-missing"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.fields.first(name)
    }

    /// Every field in order, as `(name, value)`.
    ///
    /// ```
    /// # use ws_proto::handshake::parse_request;
    /// # let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// let request = parse_request(head).unwrap();
    /// assert_eq!(request.headers().next(), Some(("Host", &b"h"[..])));
    /// assert_eq!(request.headers().count(), 5);
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> + '_ {
        self.fields.pairs()
    }
}

/// Parses a request head and checks it against RFC 6455 §4.2.1.
///
/// `head` is normally `buf[..n]` for the `n` that [`HeadScanner`] found;
/// anything after the head's empty line is ignored. Checks, in order:
/// well-formed HTTP/1.x with CRLF line endings; an `Upgrade` field listing
/// `websocket` (first, so that [`MissingUpgrade`] singles out plain HTTP
/// requests); method `GET`; HTTP/1.1; exactly one non-empty `Host`; a
/// `Connection` field listing `Upgrade`; exactly one
/// `Sec-WebSocket-Version: 13`; exactly one `Sec-WebSocket-Key` that is the
/// base64 of 16 bytes; at most one `Origin`. Field names and the `Upgrade`
/// and `Connection` tokens are compared ignoring ASCII case. `Host`,
/// `Origin` and `Sec-WebSocket-Protocol` must be UTF-8.
///
/// [`HeadScanner`]: super::HeadScanner
/// [`MissingUpgrade`]: HandshakeError::MissingUpgrade
///
/// ```
/// use ws_proto::handshake::{parse_request, HandshakeError};
///
/// let head = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n\
///     Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 8\r\n\r\n";
/// let err = parse_request(head).unwrap_err();
/// assert_eq!(err, HandshakeError::UnsupportedVersion);
/// assert_eq!(err.status(), 426);
/// ```
pub fn parse_request(head: &[u8]) -> Result<Request<'_>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let (end, method, path, version, len) = {
        let mut request = httparse::Request::new(&mut headers);
        let end = complete(request.parse(head))?;
        (
            end,
            request.method.unwrap_or(""),
            request.path.unwrap_or(""),
            request.version.unwrap_or(0),
            request.headers.len(),
        )
    };
    let fields = Fields::new(head, end, headers, len)?;

    if !fields.lists("upgrade", "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if method != "GET" {
        return Err(HandshakeError::MethodNotGet);
    }
    if version < 1 {
        return Err(HandshakeError::HttpVersion);
    }
    let host = match fields.single("Host")? {
        Some(host) if !host.is_empty() => utf8(host, "Host is not UTF-8")?,
        _ => return Err(HandshakeError::MissingHost),
    };
    if !fields.lists("connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    if fields.single("Sec-WebSocket-Version")? != Some(b"13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = {
        let mut keys = fields.values("sec-websocket-key");
        match (keys.next(), keys.next()) {
            (None, _) => return Err(HandshakeError::MissingKey),
            (Some(_), Some(_)) => return Err(HandshakeError::DuplicateKey),
            (Some(key), None) => check_key(key)?,
        }
    };
    let origin = match fields.single("Origin")? {
        Some(origin) => Some(utf8(origin, "Origin is not UTF-8")?),
        None => None,
    };
    for value in fields.values("sec-websocket-protocol") {
        utf8(value, "Sec-WebSocket-Protocol is not UTF-8")?;
    }
    Ok(Request {
        path,
        host,
        key,
        origin,
        fields,
    })
}

/// A key must be base64 (with padding) of exactly 16 bytes (§4.1): 24
/// characters, of which the last two are `==`.
fn check_key(key: &[u8]) -> Result<&str, HandshakeError> {
    let mut decoded = [0u8; 18];
    if key.len() != 24 || STANDARD.decode_slice(key, &mut decoded) != Ok(16) {
        return Err(HandshakeError::InvalidKey);
    }
    // Valid base64 is ASCII.
    core::str::from_utf8(key).map_err(|_| HandshakeError::InvalidKey)
}

/// The request target of any well-formed HTTP/1.x request head, WebSocket or
/// not, so a server can route plain HTTP requests (serve a page, answer 404)
/// when [`parse_request`] says [`MissingUpgrade`](HandshakeError::MissingUpgrade).
///
/// ```
/// use ws_proto::handshake::{parse_request, request_target, HandshakeError};
///
/// let head = b"GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n";
/// assert_eq!(parse_request(head).unwrap_err(), HandshakeError::MissingUpgrade);
/// assert_eq!(request_target(head), Some("/index.html"));
/// assert_eq!(request_target(b"garbage\r\n\r\n"), None);
/// ```
pub fn request_target(head: &[u8]) -> Option<&str> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => request.path,
        _ => None,
    }
}

/// What to put in a `101 Switching Protocols` answer besides the required
/// fields.
///
/// ```
/// use ws_proto::handshake::Accept;
///
/// let accept = Accept { subprotocol: Some("chat"), ..Accept::default() };
/// assert!(accept.extensions.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accept<'a> {
    /// The chosen subprotocol, one of [`Request::subprotocols`]. Left out
    /// unless it is a token.
    pub subprotocol: Option<&'a str>,
    /// The `Sec-WebSocket-Extensions` value: the accepted extensions and
    /// their parameters, such as the
    /// [`Agreement::response`](crate::negotiation::Agreement::response) of
    /// permessage-deflate negotiation (see also `policy::Decision::accept`,
    /// with the `alloc` feature). Left out if empty or if it holds a control
    /// character.
    pub extensions: Option<&'a str>,
    /// More fields, such as `Set-Cookie`, written after the others (see
    /// [`write_accept`] for the ones left out).
    pub extra_headers: &'a [(&'a str, &'a str)],
}

/// Fields the accept writes itself, or that would frame a body.
const ACCEPT_RESERVED: &[&str] = &[
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
    "Transfer-Encoding",
];

/// Writes the `101 Switching Protocols` answer to `request` into `out`,
/// returning its length.
///
/// No caller-supplied string can inject a field or end the head early: an
/// extra field whose name is not a token, or whose value holds a control
/// character (CR and LF included), is left out, and so is one that would
/// duplicate a field this function writes (`Upgrade`, `Connection`,
/// `Sec-WebSocket-*`) or frame a body (`Content-Length`,
/// `Transfer-Encoding`). A subprotocol that is not a token and an extension
/// value with a control character are left out too. Leaving out, rather than
/// failing, keeps the handshake well-formed whatever the input; a test
/// catches the mistake more surely than an error path would.
///
/// ```
/// use ws_proto::handshake::{parse_request, write_accept, Accept};
///
/// let head = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// let request = parse_request(head).unwrap();
/// let accept = Accept { subprotocol: Some("chat"), ..Accept::default() };
/// let mut out = [0u8; 256];
/// let n = write_accept(&request, &accept, &mut out).unwrap();
/// assert_eq!(
///     &out[..n],
///     &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"[..]
/// );
/// ```
pub fn write_accept(
    request: &Request<'_>,
    accept: &Accept<'_>,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut w = Writer::new(out);
    w.put(b"HTTP/1.1 101 Switching Protocols\r\n")?;
    w.header("Upgrade", "websocket")?;
    w.header("Connection", "Upgrade")?;
    w.header("Sec-WebSocket-Accept", request.accept_key().as_str())?;
    if let Some(subprotocol) = accept.subprotocol.filter(|p| is_token(p)) {
        w.header("Sec-WebSocket-Protocol", subprotocol)?;
    }
    if let Some(extensions) = accept.extensions {
        let extensions = extensions.trim_matches([' ', '\t']);
        if !extensions.is_empty() && is_field_value(extensions) {
            w.header("Sec-WebSocket-Extensions", extensions)?;
        }
    }
    w.extra_headers(accept.extra_headers, ACCEPT_RESERVED)?;
    w.put(b"\r\n")?;
    Ok(w.finish())
}

/// An HTTP error answer to a request that will not become a WebSocket.
///
/// ```
/// use ws_proto::handshake::Reject;
///
/// let forbidden = Reject { status: 403, reason: "origin not allowed", extra_headers: &[] };
/// assert_eq!(forbidden.status, 403);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject<'a> {
    /// The status code; outside 100..=999 it is written as 500.
    pub status: u16,
    /// The body, sent as `text/plain; charset=utf-8`. Any text is safe here:
    /// `Content-Length` delimits it.
    pub reason: &'a str,
    /// More fields, such as `Location` or `Retry-After`, with the rules of
    /// [`write_accept`] (the fields [`write_reject`] writes are left out).
    pub extra_headers: &'a [(&'a str, &'a str)],
}

/// Fields the rejection writes itself, or that would frame the body
/// differently.
const REJECT_RESERVED: &[&str] = &[
    "Content-Type",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Upgrade",
    "Sec-WebSocket-Version",
];

/// The standard reason phrase (RFC 9110 §15) of the statuses a WebSocket
/// server answers with: the handshake's refusals and the plain pages a
/// driver serves next to its WebSocket routes. Others get `"Error"`, which
/// a client must accept (the phrase carries no meaning).
///
/// ```
/// use ws_proto::handshake::reason_phrase;
/// assert_eq!(reason_phrase(426), "Upgrade Required");
/// assert_eq!(reason_phrase(200), "OK");
/// ```
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Writes an HTTP error answer into `out`, returning its length: status
/// line, `Content-Type: text/plain; charset=utf-8`, `Content-Length`,
/// `Connection: close`, the extra fields, then the reason as the body. A 426
/// also gets `Sec-WebSocket-Version: 13` (§4.2.2) and `Upgrade: websocket`
/// (RFC 7231 §6.5.15), with `Connection: close, Upgrade` as RFC 7230 §6.7
/// asks of a sender of `Upgrade`. The connection should be closed once it is
/// sent.
///
/// ```
/// use ws_proto::handshake::{write_reject, Reject};
///
/// let reject = Reject { status: 404, reason: "no such room", extra_headers: &[] };
/// let mut out = [0u8; 256];
/// let n = write_reject(&reject, &mut out).unwrap();
/// assert_eq!(
///     &out[..n],
///     &b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
///        Content-Length: 12\r\nConnection: close\r\n\r\nno such room"[..]
/// );
/// ```
pub fn write_reject(reject: &Reject<'_>, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
    let status = if (100..=999).contains(&reject.status) {
        reject.status
    } else {
        500
    };
    let mut w = Writer::new(out);
    w.put(b"HTTP/1.1 ")?;
    w.decimal(usize::from(status))?;
    w.put(b" ")?;
    w.put(reason_phrase(status).as_bytes())?;
    w.put(b"\r\n")?;
    w.header("Content-Type", "text/plain; charset=utf-8")?;
    w.put(b"Content-Length: ")?;
    w.decimal(reject.reason.len())?;
    w.put(b"\r\n")?;
    if status == 426 {
        w.header("Connection", "close, Upgrade")?;
        w.header("Upgrade", "websocket")?;
        w.header("Sec-WebSocket-Version", "13")?;
    } else {
        w.header("Connection", "close")?;
    }
    w.extra_headers(reject.extra_headers, REJECT_RESERVED)?;
    w.put(b"\r\n")?;
    w.put(reject.reason.as_bytes())?;
    Ok(w.finish())
}

/// A server handshake that owns its buffer: feed it what the socket gives,
/// then take the [`Request`] and the bytes that followed it.
///
/// Before the head is complete it never buffers more than
/// [`Limits::max_head_bytes`] + 1 bytes.
///
/// ```
/// use ws_proto::handshake::{Limits, ServerHandshake};
///
/// let mut hs = ServerHandshake::new(Limits::default());
/// assert_eq!(hs.feed(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"), Ok(false));
/// let done = hs.feed(b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n\x88\x80");
/// assert_eq!(done, Ok(true));
/// assert_eq!(hs.request().unwrap().host(), "h");
/// assert_eq!(hs.leftover(), b"\x88\x80");
/// ```
#[cfg(feature = "alloc")]
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    inner: HeadBuffer,
}

#[cfg(feature = "alloc")]
impl ServerHandshake {
    /// An empty handshake.
    ///
    /// ```
    /// # use ws_proto::handshake::{Limits, ServerHandshake};
    /// let hs = ServerHandshake::new(Limits::default());
    /// assert!(hs.head().is_empty());
    /// ```
    pub fn new(limits: Limits) -> Self {
        ServerHandshake {
            inner: HeadBuffer::new(limits),
        }
    }

    /// Appends `data` and scans the new bytes: `Ok(true)` once the head is
    /// complete. Limit errors come as soon as the head breaks a limit; reply
    /// with [`HandshakeError::rejection`] and close. Data fed after
    /// completion is appended to [`leftover`](Self::leftover).
    ///
    /// ```
    /// use ws_proto::handshake::{HandshakeError, Limits, ServerHandshake};
    ///
    /// let mut hs = ServerHandshake::new(Limits { max_head_bytes: 16, ..Limits::default() });
    /// assert_eq!(hs.feed(&[b'a'; 100]), Err(HandshakeError::HeadTooLarge));
    /// ```
    pub fn feed(&mut self, data: &[u8]) -> Result<bool, HandshakeError> {
        self.inner.feed(data)
    }

    /// Parses and checks the complete head with [`parse_request`]; an error
    /// (`Malformed("incomplete head")`) before [`feed`](Self::feed) returned
    /// `true`.
    ///
    /// ```
    /// # use ws_proto::handshake::{HandshakeError, Limits, ServerHandshake};
    /// let hs = ServerHandshake::new(Limits::default());
    /// assert_eq!(hs.request().unwrap_err(), HandshakeError::Malformed("incomplete head"));
    /// ```
    pub fn request(&self) -> Result<Request<'_>, HandshakeError> {
        parse_request(self.inner.head()?)
    }

    /// The complete head, for [`request_target`] or logging; empty until
    /// then.
    ///
    /// ```
    /// # use ws_proto::handshake::{Limits, ServerHandshake};
    /// let mut hs = ServerHandshake::new(Limits::default());
    /// hs.feed(b"GET /page HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    /// assert_eq!(ws_proto::handshake::request_target(hs.head()), Some("/page"));
    /// ```
    pub fn head(&self) -> &[u8] {
        self.inner.head().unwrap_or(&[])
    }

    /// The bytes received after the head: the start of the WebSocket stream,
    /// to hand to the connection. Empty until the head is complete.
    ///
    /// ```
    /// # use ws_proto::handshake::{Limits, ServerHandshake};
    /// let mut hs = ServerHandshake::new(Limits::default());
    /// hs.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nabc").unwrap();
    /// assert_eq!(hs.leftover(), b"abc");
    /// ```
    pub fn leftover(&self) -> &[u8] {
        self.inner.leftover()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extension::ParamValue;
    use crate::handshake::{HeadScanner, Limits};

    /// The request of RFC 6455 §1.2 (and §4.1), CRLF line endings.
    pub(crate) const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    /// A valid request with `line` in place of the line starting like it
    /// (up to the colon), or added when no line does; `line` empty removes.
    fn with_line(name: &str, line: &str) -> Vec<u8> {
        let text = core::str::from_utf8(RFC_REQUEST).unwrap();
        let mut out = String::new();
        let mut replaced = false;
        for l in text.split_inclusive("\r\n") {
            if l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            {
                if !replaced && !line.is_empty() {
                    out.push_str(line);
                    out.push_str("\r\n");
                }
                replaced = true;
            } else if l == "\r\n" && !replaced && !line.is_empty() {
                out.push_str(line);
                out.push_str("\r\n");
                out.push_str(l);
            } else {
                out.push_str(l);
            }
        }
        out.into_bytes()
    }

    fn parse_err(head: &[u8]) -> HandshakeError {
        parse_request(head).unwrap_err()
    }

    #[test]
    fn rfc_sample_request() {
        let request = parse_request(RFC_REQUEST).unwrap();
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.host(), "server.example.com");
        assert_eq!(request.origin(), Some("http://example.com"));
        assert_eq!(request.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(
            request.accept_key().as_str(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(request.subprotocols().eq(["chat", "superchat"]));
        assert_eq!(request.extensions().count(), 0);
        assert_eq!(request.headers().count(), 7);
        assert!(format!("{request:?}").contains("/chat"));

        let accept = Accept {
            subprotocol: Some("chat"),
            ..Accept::default()
        };
        let mut out = [0u8; 512];
        let n = write_accept(&request, &accept, &mut out).unwrap();
        assert_eq!(
            &out[..n],
            &b"HTTP/1.1 101 Switching Protocols\r\n\
            Upgrade: websocket\r\n\
            Connection: Upgrade\r\n\
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
            Sec-WebSocket-Protocol: chat\r\n\r\n"[..]
        );
        // Every prefix of the answer fails with BufferTooSmall.
        for i in 0..n {
            assert_eq!(
                write_accept(&request, &accept, &mut out[..i]),
                Err(BufferTooSmall)
            );
        }
    }

    #[test]
    fn leftover_bytes_are_preserved() {
        let mut bytes = RFC_REQUEST.to_vec();
        bytes.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        let n = HeadScanner::new(Limits::default())
            .scan(&bytes)
            .unwrap()
            .unwrap();
        assert_eq!(n, RFC_REQUEST.len());
        assert_eq!(&bytes[n..], b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        // parse_request ignores what follows the head.
        assert_eq!(parse_request(&bytes).unwrap().path(), "/chat");
    }

    #[test]
    fn case_insensitive_names_and_tokens() {
        let head = b"GET / HTTP/1.1\r\nhOsT: h\r\nUPGRADE: WebSocket\r\n\
            connection: keep-alive, UPGRADE\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            SEC-WEBSOCKET-VERSION: 13\r\nsec-websocket-PROTOCOL: a\r\n\r\n";
        let request = parse_request(head).unwrap();
        assert_eq!(request.host(), "h");
        assert_eq!(request.header("Sec-WebSocket-Protocol"), Some(&b"a"[..]));
        assert!(request.subprotocols().eq(["a"]));
        // Lists across several fields, with whitespace.
        let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nUpgrade: foo ,\twebsocket \r\n\
            Connection: keep-alive\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        parse_request(head).unwrap();
    }

    #[test]
    fn connection_keep_alive_upgrade() {
        let head = with_line("Connection", "Connection: keep-alive, Upgrade");
        assert!(parse_request(&head).is_ok());
        let head = with_line("Connection", "Connection: keep-alive");
        assert_eq!(parse_err(&head), HandshakeError::MissingConnectionUpgrade);
        let head = with_line("Connection", "");
        assert_eq!(parse_err(&head), HandshakeError::MissingConnectionUpgrade);
        let head = with_line("Connection", "Connection: Upgrades");
        assert_eq!(parse_err(&head), HandshakeError::MissingConnectionUpgrade);
    }

    #[test]
    fn upgrade_checks() {
        assert_eq!(
            parse_err(&with_line("Upgrade", "")),
            HandshakeError::MissingUpgrade
        );
        assert_eq!(
            parse_err(&with_line("Upgrade", "Upgrade: h2c")),
            HandshakeError::MissingUpgrade
        );
        // Checked before everything else: a plain HTTP request of any kind.
        assert_eq!(
            parse_err(b"POST /form HTTP/1.0\r\n\r\n"),
            HandshakeError::MissingUpgrade
        );
    }

    #[test]
    fn method_version_host() {
        let text = core::str::from_utf8(RFC_REQUEST).unwrap();
        let post = text.replacen("GET", "POST", 1);
        assert_eq!(parse_err(post.as_bytes()), HandshakeError::MethodNotGet);
        let lower = text.replacen("GET", "get", 1);
        assert_eq!(parse_err(lower.as_bytes()), HandshakeError::MethodNotGet);
        let http10 = text.replacen("HTTP/1.1", "HTTP/1.0", 1);
        assert_eq!(parse_err(http10.as_bytes()), HandshakeError::HttpVersion);
        let http2 = text.replacen("HTTP/1.1", "HTTP/2.0", 1);
        assert_eq!(parse_err(http2.as_bytes()), HandshakeError::HttpVersion);
        assert_eq!(
            parse_err(&with_line("Host", "")),
            HandshakeError::MissingHost
        );
        assert_eq!(
            parse_err(&with_line("Host", "Host:")),
            HandshakeError::MissingHost
        );
        let two_hosts = text.replacen("Host: server.example.com\r\n", "Host: a\r\nHost: b\r\n", 1);
        assert_eq!(
            parse_err(two_hosts.as_bytes()),
            HandshakeError::DuplicateHeader("Host")
        );
    }

    #[test]
    fn websocket_version() {
        let head = with_line("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8");
        let err = parse_err(&head);
        assert_eq!(
            (err, err.status()),
            (HandshakeError::UnsupportedVersion, 426)
        );
        let mut out = [0u8; 512];
        let n = write_reject(&err.rejection(), &mut out).unwrap();
        let text = core::str::from_utf8(&out[..n]).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{text}");
        assert!(text.contains("\r\nUpgrade: websocket\r\n"), "{text}");
        assert!(
            text.contains("\r\nConnection: close, Upgrade\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\nSec-WebSocket-Version must be 13"));

        let missing = with_line("Sec-WebSocket-Version", "");
        assert_eq!(parse_err(&missing), HandshakeError::UnsupportedVersion);
        let listed = with_line("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8");
        assert_eq!(parse_err(&listed), HandshakeError::UnsupportedVersion);
        let text = core::str::from_utf8(RFC_REQUEST).unwrap();
        let twice = text.replacen(
            "Sec-WebSocket-Version: 13\r\n",
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n",
            1,
        );
        assert_eq!(
            parse_err(twice.as_bytes()),
            HandshakeError::DuplicateHeader("Sec-WebSocket-Version")
        );
    }

    #[test]
    fn bad_keys() {
        let key = |k: &str| with_line("Sec-WebSocket-Key", &format!("Sec-WebSocket-Key: {k}"));
        assert_eq!(
            parse_err(&with_line("Sec-WebSocket-Key", "")),
            HandshakeError::MissingKey
        );
        // Not base64.
        assert_eq!(
            parse_err(&key("dGhlIHNhbXBsZSBub25jZQ!!")),
            HandshakeError::InvalidKey
        );
        assert_eq!(
            parse_err(&key("not a key at all")),
            HandshakeError::InvalidKey
        );
        // Base64 of 15 and 17 bytes, and 16 bytes without padding.
        assert_eq!(
            parse_err(&key("dGhlIHNhbXBsZSBub25j")),
            HandshakeError::InvalidKey
        );
        assert_eq!(
            parse_err(&key("dGhlIHNhbXBsZSBub25jZQ==AA==")),
            HandshakeError::InvalidKey
        );
        assert_eq!(
            parse_err(&key("dGhlIHNhbXBsZSBub25jZXg=")),
            HandshakeError::InvalidKey
        );
        assert_eq!(
            parse_err(&key("dGhlIHNhbXBsZSBub25jZQ")),
            HandshakeError::InvalidKey
        );
        // Non-canonical trailing bits.
        assert_eq!(
            parse_err(&key("dGhlIHNhbXBsZSBub25jZR==")),
            HandshakeError::InvalidKey
        );
        assert_eq!(parse_err(&key("")), HandshakeError::InvalidKey);
        // Any other 16 bytes are fine.
        assert!(parse_request(&key("AAAAAAAAAAAAAAAAAAAAAA==")).is_ok());
        let text = core::str::from_utf8(RFC_REQUEST).unwrap();
        let twice = text.replacen(
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\n",
            1,
        );
        assert_eq!(parse_err(twice.as_bytes()), HandshakeError::DuplicateKey);
    }

    #[test]
    fn origin_and_protocol_fields() {
        assert_eq!(
            parse_request(&with_line("Origin", "")).unwrap().origin(),
            None
        );
        let text = core::str::from_utf8(RFC_REQUEST).unwrap();
        let twice = text.replacen(
            "Origin: http://example.com\r\n",
            "Origin: a\r\nOrigin: b\r\n",
            1,
        );
        assert_eq!(
            parse_err(twice.as_bytes()),
            HandshakeError::DuplicateHeader("Origin")
        );
        let bad = with_line("Origin", "");
        let mut bad_origin = bad[..bad.len() - 2].to_vec();
        bad_origin.extend_from_slice(b"Origin: \xc3\x28\r\n\r\n");
        assert_eq!(
            parse_err(&bad_origin),
            HandshakeError::Malformed("Origin is not UTF-8")
        );
        let mut bad_host = with_line("Host", "");
        bad_host.truncate(bad_host.len() - 2);
        bad_host.extend_from_slice(b"Host: \xff\r\n\r\n");
        assert_eq!(
            parse_err(&bad_host),
            HandshakeError::Malformed("Host is not UTF-8")
        );
        let mut bad_protocol = RFC_REQUEST[..RFC_REQUEST.len() - 2].to_vec();
        bad_protocol.extend_from_slice(b"Sec-WebSocket-Protocol: \xff\r\n\r\n");
        assert_eq!(
            parse_err(&bad_protocol),
            HandshakeError::Malformed("Sec-WebSocket-Protocol is not UTF-8")
        );
        // Empty elements and whitespace are dropped.
        let head = with_line(
            "Sec-WebSocket-Protocol",
            "Sec-WebSocket-Protocol: , a ,,\tb,",
        );
        assert!(parse_request(&head).unwrap().subprotocols().eq(["a", "b"]));
    }

    #[test]
    fn extensions_across_fields() {
        let mut head = RFC_REQUEST[..RFC_REQUEST.len() - 2].to_vec();
        head.extend_from_slice(
            b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
              X-Other: 1\r\nsec-websocket-extensions: x-foo; a=\"b,c\"\r\n\r\n",
        );
        let request = parse_request(&head).unwrap();
        let offers: Vec<_> = request.extensions().map(Result::unwrap).collect();
        assert_eq!(offers.len(), 2);
        assert_eq!(offers[0].name(), "permessage-deflate");
        assert_eq!(offers[1].name(), "x-foo");
        assert_eq!(
            offers[1].params().next(),
            Some(Ok(("a", Some(ParamValue::Quoted("b,c")))))
        );
        // A malformed offer is the server's to judge, not a parse error.
        let mut head = RFC_REQUEST[..RFC_REQUEST.len() - 2].to_vec();
        head.extend_from_slice(b"Sec-WebSocket-Extensions: ;;\r\n\r\n");
        let request = parse_request(&head).unwrap();
        assert!(request.extensions().next().unwrap().is_err());
    }

    #[test]
    fn malformed_heads() {
        let m = |h: &[u8]| matches!(parse_err(h), HandshakeError::Malformed(_));
        assert!(m(b""));
        assert!(m(b"GET / HTTP/1.1\r\nHost: h\r\n"));
        assert!(m(b"GET / HTTP/1.1\r\nBad Name: h\r\n\r\n"));
        assert!(m(b"GET / HTTP/1.1\r\nA: \x01\r\n\r\n"));
        assert!(m(b"GET  / HTTP/1.1\r\n\r\n"));
        // Bare LF, which httparse would accept.
        let lf = core::str::from_utf8(RFC_REQUEST)
            .unwrap()
            .replace("\r\n", "\n");
        assert_eq!(
            parse_err(lf.as_bytes()),
            HandshakeError::Malformed("LF without CR")
        );
        // More fields than the table holds.
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"A: b\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_err(&many), HandshakeError::TooManyHeaders);
        assert_eq!(request_target(&many), None);
    }

    #[test]
    fn request_target_of_plain_requests() {
        assert_eq!(request_target(b"GET / HTTP/1.1\r\n\r\n"), Some("/"));
        assert_eq!(
            request_target(b"POST /x?y HTTP/1.0\r\nA: b\r\n\r\n"),
            Some("/x?y")
        );
        assert_eq!(request_target(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(request_target(RFC_REQUEST), Some("/chat"));
    }

    #[test]
    fn accept_with_everything() {
        let request = parse_request(RFC_REQUEST).unwrap();
        let accept = Accept {
            subprotocol: Some("superchat"),
            extensions: Some("permessage-deflate; server_no_context_takeover"),
            extra_headers: &[("Set-Cookie", "a=1"), ("X-Empty", "")],
        };
        let mut out = [0u8; 512];
        let n = write_accept(&request, &accept, &mut out).unwrap();
        assert_eq!(
            core::str::from_utf8(&out[..n]).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Protocol: superchat\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\
             Set-Cookie: a=1\r\nX-Empty: \r\n\r\n"
        );
    }

    /// The head written into `out[..n]` must parse as exactly the fields we
    /// expect, with nothing after the head.
    fn header_names(bytes: &[u8]) -> Vec<String> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let end = response.parse(bytes).unwrap().unwrap();
        assert_eq!(end, bytes.len());
        response
            .headers
            .iter()
            .map(|h| h.name.to_string())
            .collect()
    }

    #[test]
    fn crlf_injection_is_impossible_in_accept() {
        let request = parse_request(RFC_REQUEST).unwrap();
        let accept = Accept {
            subprotocol: Some("chat\r\nX-Evil: 1"),
            extensions: Some("x\r\n\r\nHTTP/1.1 200 OK"),
            extra_headers: &[
                ("X-Ok", "fine"),
                ("X-Bad", "a\r\nX-Evil: 1"),
                ("X-Bad2", "a\nb"),
                ("X-Bad3", "a\rb"),
                ("X-Bad4", "nul\0"),
                ("X-Evil: 1\r\nX", "v"),
                ("Bad Name", "v"),
                ("", "v"),
                ("Content-Length", "5"),
                ("sec-websocket-accept", "forged"),
                ("connection", "close"),
            ],
        };
        let mut out = [0u8; 1024];
        let n = write_accept(&request, &accept, &mut out).unwrap();
        let names = header_names(&out[..n]);
        assert_eq!(
            names,
            ["Upgrade", "Connection", "Sec-WebSocket-Accept", "X-Ok"]
        );
        assert!(!out[..n].windows(4).any(|w| w == b"Evil"));
    }

    #[test]
    fn rejections() {
        let mut out = [0u8; 512];
        for (status, phrase) in [
            (400, "Bad Request"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (426, "Upgrade Required"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (503, "Service Unavailable"),
            (418, "Error"),
            (302, "Found"),
            (599, "Error"),
        ] {
            let reject = Reject {
                status,
                reason: "why",
                extra_headers: &[],
            };
            let n = write_reject(&reject, &mut out).unwrap();
            let text = core::str::from_utf8(&out[..n]).unwrap();
            assert!(
                text.starts_with(&format!("HTTP/1.1 {status} {phrase}\r\n")),
                "{text}"
            );
            assert!(text.contains("\r\nContent-Length: 3\r\n"));
            assert!(text.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"));
            assert!(text.contains("\r\nConnection: close"));
            assert_eq!(text.contains("Sec-WebSocket-Version: 13"), status == 426);
            assert!(text.ends_with("\r\n\r\nwhy"));
        }
        for bogus in [0, 99, 1000, u16::MAX] {
            let reject = Reject {
                status: bogus,
                reason: "",
                extra_headers: &[],
            };
            let n = write_reject(&reject, &mut out).unwrap();
            assert!(out[..n].starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
        }
        let err = HandshakeError::HeadTooLarge;
        let n = write_reject(&err.rejection(), &mut out).unwrap();
        assert!(out[..n].starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert_eq!(
            write_reject(&err.rejection(), &mut out[..n - 1]),
            Err(BufferTooSmall)
        );
    }

    #[test]
    fn crlf_injection_is_impossible_in_reject() {
        let reject = Reject {
            status: 302,
            reason: "moved\r\n\r\nHTTP/1.1 200 OK\r\n",
            extra_headers: &[
                ("Location", "/login"),
                ("Location2", "/x\r\nSet-Cookie: evil"),
                ("Content-Length", "0"),
                ("Transfer-Encoding", "chunked"),
                ("connection", "keep-alive"),
            ],
        };
        let mut out = [0u8; 512];
        let n = write_reject(&reject, &mut out).unwrap();
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let end = response.parse(&out[..n]).unwrap().unwrap();
        let names: Vec<_> = response.headers.iter().map(|h| h.name).collect();
        assert_eq!(
            names,
            ["Content-Type", "Content-Length", "Connection", "Location"]
        );
        // The reason is the body, delimited by Content-Length.
        assert_eq!(&out[end..n], reject.reason.as_bytes());
        assert_eq!(response.headers[1].value, b"26");
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn server_handshake_one_byte_at_a_time() {
        let mut bytes = RFC_REQUEST.to_vec();
        bytes.extend_from_slice(b"\x81\x80abcd");
        let mut at_once = ServerHandshake::new(Limits::default());
        assert_eq!(at_once.feed(&bytes), Ok(true));

        let mut trickled = ServerHandshake::new(Limits::default());
        let mut done_at = None;
        for (i, b) in bytes.iter().enumerate() {
            if trickled.feed(core::slice::from_ref(b)).unwrap() && done_at.is_none() {
                done_at = Some(i + 1);
            }
        }
        assert_eq!(done_at, Some(RFC_REQUEST.len()));
        for hs in [&at_once, &trickled] {
            assert_eq!(hs.head(), RFC_REQUEST);
            assert_eq!(hs.leftover(), b"\x81\x80abcd");
            let request = hs.request().unwrap();
            assert_eq!(request.path(), "/chat");
            assert!(request.subprotocols().eq(["chat", "superchat"]));
        }
        // Linear: the scanner looked at each head byte once.
        assert_eq!(trickled.inner.scanner.examined, RFC_REQUEST.len());
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn server_handshake_refuses_to_buffer_past_the_limit() {
        let limits = Limits {
            max_head_bytes: 100,
            ..Limits::default()
        };
        let mut hs = ServerHandshake::new(limits);
        assert_eq!(hs.feed(&[b'a'; 60]), Ok(false));
        assert_eq!(hs.feed(&[b'a'; 100_000]), Err(HandshakeError::HeadTooLarge));
        assert!(hs.inner.buf.len() <= 101);
        assert_eq!(hs.feed(b"\r\n\r\n"), Err(HandshakeError::HeadTooLarge));
        assert!(hs.head().is_empty());
        assert!(hs.leftover().is_empty());

        // A head that fits, followed by much more data, keeps all of it.
        let mut hs = ServerHandshake::new(Limits {
            max_head_bytes: RFC_REQUEST.len(),
            ..Limits::default()
        });
        let mut bytes = RFC_REQUEST.to_vec();
        bytes.extend_from_slice(&[7; 10_000]);
        assert_eq!(hs.feed(&bytes), Ok(true));
        assert_eq!(hs.leftover(), &[7; 10_000][..]);
        assert_eq!(hs.feed(b"more"), Ok(true));
        assert_eq!(hs.leftover().len(), 10_004);
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn server_handshake_reports_bad_requests() {
        let mut hs = ServerHandshake::new(Limits::default());
        assert_eq!(hs.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), Ok(true));
        assert_eq!(hs.request().unwrap_err(), HandshakeError::MissingUpgrade);
        assert_eq!(request_target(hs.head()), Some("/"));
    }

    #[cfg(not(miri))]
    mod props {
        use super::*;
        use crate::handshake::check_crlf;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parse_request_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = parse_request(&bytes);
                let _ = request_target(&bytes);
            }

            #[test]
            fn parse_request_survives_mutations(
                edits in proptest::collection::vec((0..RFC_REQUEST.len(), any::<u8>()), 0..6)
            ) {
                let mut bytes = RFC_REQUEST.to_vec();
                for (at, b) in edits {
                    bytes[at] = b;
                }
                if let Ok(request) = parse_request(&bytes) {
                    let _ = (request.subprotocols().count(), request.extensions().count());
                    let mut out = [0u8; 1024];
                    let n = write_accept(&request, &Accept::default(), &mut out).unwrap();
                    prop_assert!(out[..n].ends_with(b"\r\n\r\n"));
                }
            }

            #[cfg(feature = "alloc")]
            #[test]
            fn any_split_gives_the_same_request(
                cuts in proptest::collection::vec(0..RFC_REQUEST.len() + 4, 0..10)
            ) {
                let mut bytes = RFC_REQUEST.to_vec();
                bytes.extend_from_slice(b"\x81\x80ab");
                let mut cuts = cuts;
                cuts.sort_unstable();
                let mut hs = ServerHandshake::new(Limits::default());
                let mut prev = 0;
                for cut in cuts.into_iter().chain([bytes.len()]) {
                    hs.feed(&bytes[prev..cut]).unwrap();
                    prev = cut;
                }
                prop_assert_eq!(hs.head(), RFC_REQUEST);
                prop_assert_eq!(hs.leftover(), b"\x81\x80ab");
                prop_assert_eq!(hs.request().unwrap().key(), "dGhlIHNhbXBsZSBub25jZQ==");
            }

            #[test]
            fn written_accepts_always_parse(
                subprotocol in proptest::option::of("(?s).{0,12}"),
                extensions in proptest::option::of("(?s).{0,12}"),
                name in "(?s).{0,8}",
                value in "(?s).{0,8}",
            ) {
                let request = parse_request(RFC_REQUEST).unwrap();
                let extra = [(name.as_str(), value.as_str())];
                let accept = Accept {
                    subprotocol: subprotocol.as_deref(),
                    extensions: extensions.as_deref(),
                    extra_headers: &extra,
                };
                let mut out = [0u8; 1024];
                let n = write_accept(&request, &accept, &mut out).unwrap();
                let names = header_names(&out[..n]);
                prop_assert!(names.len() <= 6);
                check_crlf(&out[..n]).unwrap();
            }
        }
    }
}
