//! The opening handshake (RFC 6455 §4), both roles, without allocation.
//!
//! A server:
//!
//! 1. appends what it reads to a buffer and, after each read, calls
//!    [`HeadScanner::scan`], which looks only at the new bytes and enforces
//!    the size [`Limits`] (an oversized head is refused with 431 before it is
//!    buffered, let alone parsed);
//! 2. parses the complete head with [`parse_request`], which checks every
//!    §4.2.1 requirement;
//! 3. answers with [`write_accept`], or [`write_reject`] (for example with
//!    [`HandshakeError::rejection`]); extensions are negotiated with
//!    [`crate::negotiation`] (or `policy::AcceptPolicy`), whose
//!    [`Negotiated`](crate::negotiation::Negotiated) goes to the connection;
//! 4. keeps the bytes after the head: a client may send its first frames
//!    right behind the request.
//!
//! A client writes its request with [`ClientRequest::write`] (offering
//! permessage-deflate through [`ClientRequest::deflate`]), scans the answer
//! with the same [`HeadScanner`], and checks it with [`parse_response`],
//! whose [`Response::negotiated`] goes to the connection.
//!
//! Nothing here allocates: parsed heads borrow the caller's buffer, and
//! [`Request`] and [`Response`] keep their header tables in fixed arrays of
//! [`MAX_HEADERS`] entries (about 2 KiB). With the `alloc` feature,
//! `ServerHandshake` and `ClientHandshake` own the buffer for callers who
//! would rather not.
//!
//! Line endings must be CRLF. `httparse` also accepts a bare LF, but two
//! parsers that disagree on where a line ends are how request smuggling
//! starts, so both the scanner and the parsers here refuse it.
//!
//! Everything written is checked so that no caller-supplied string can add a
//! header or end the head early: see [`write_accept`] for the rules.
//!
//! ```
//! use ws_proto::handshake::{parse_request, write_accept, Accept, HeadScanner, Limits};
//!
//! // Two reads; the second ends with the first bytes of a frame.
//! let reads: [&[u8]; 2] = [
//!     b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n",
//!     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!       Sec-WebSocket-Version: 13\r\n\r\n\x81\x85",
//! ];
//! let mut buf = [0u8; 1024];
//! let mut len = 0;
//! let mut scanner = HeadScanner::new(Limits::default());
//! let mut head_len = None;
//! for read in reads {
//!     buf[len..len + read.len()].copy_from_slice(read);
//!     len += read.len();
//!     head_len = scanner.scan(&buf[..len])?;
//!     if head_len.is_some() {
//!         break;
//!     }
//! }
//! let head_len = head_len.unwrap();
//! let request = parse_request(&buf[..head_len])?;
//! assert_eq!(request.path(), "/chat");
//!
//! let mut out = [0u8; 256];
//! let n = write_accept(&request, &Accept::default(), &mut out)?;
//! assert!(out[..n].starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! assert_eq!(&buf[head_len..len], b"\x81\x85"); // the first frame starts here
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
#[cfg(feature = "alloc")]
pub mod policy;
mod server;

use core::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::extension::Offers;
use crate::http::{is_field_value, is_token, list_contains, HeaderValues};

#[cfg(feature = "alloc")]
pub use client::ClientHandshake;
pub use client::{parse_response, ClientHandshakeError, ClientRequest, Response};
#[cfg(feature = "alloc")]
pub use server::ServerHandshake;
pub use server::{
    parse_request, reason_phrase, request_target, write_accept, write_reject, Accept, Reject,
    Request,
};

/// The GUID that §1.3 appends to the client's key to compute
/// `Sec-WebSocket-Accept`.
///
/// ```
/// assert_eq!(ws_proto::handshake::GUID.len(), 36);
/// ```
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Most header fields a [`Request`] or [`Response`] can hold, and the
/// highest [`Limits::max_headers`] that takes effect.
///
/// ```
/// use ws_proto::handshake::{Limits, MAX_HEADERS};
/// assert_eq!(Limits::default().max_headers, MAX_HEADERS);
/// ```
pub const MAX_HEADERS: usize = 64;

/// The `Sec-WebSocket-Accept` value: base64 of the SHA-1 of the key followed
/// by [`GUID`] (§1.3, §4.2.2).
///
/// ```
/// use ws_proto::handshake::AcceptKey;
///
/// // The example of RFC 6455 §1.3.
/// let accept = AcceptKey::from_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(accept.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptKey([u8; 28]);

impl AcceptKey {
    /// Computes the answer to `key`, the `Sec-WebSocket-Key` value exactly as
    /// sent (base64 text, not the decoded bytes).
    ///
    /// ```
    /// # use ws_proto::handshake::AcceptKey;
    /// let a = AcceptKey::from_key(b"dGhlIHNhbXBsZSBub25jZQ==");
    /// assert_eq!(a, AcceptKey::from_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
    /// ```
    pub fn from_key(key: &[u8]) -> AcceptKey {
        let mut sha1 = Sha1::new();
        sha1.update(key);
        sha1.update(GUID.as_bytes());
        let digest = sha1.finalize();
        let mut out = [0u8; 28];
        // 20 bytes always encode to exactly 28 characters.
        let _ = STANDARD.encode_slice(digest, &mut out);
        AcceptKey(out)
    }

    /// The header value.
    ///
    /// ```
    /// # use ws_proto::handshake::AcceptKey;
    /// assert_eq!(AcceptKey::from_key(b"x").as_str().len(), 28);
    /// ```
    pub fn as_str(&self) -> &str {
        // base64 output is ASCII, so this never falls back.
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Size limits on a request or response head, checked by [`HeadScanner`].
///
/// The defaults (8 KiB head, 8 KiB line, 64 header fields) are far above what
/// browsers send for a WebSocket handshake and far below what it takes to
/// exhaust a server.
///
/// ```
/// use ws_proto::handshake::Limits;
///
/// let tight = Limits { max_head_bytes: 2048, ..Limits::default() };
/// assert_eq!(tight.max_line_bytes, 8192);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest head, request line and final empty line included.
    pub max_head_bytes: usize,
    /// Longest line, CRLF excluded.
    pub max_line_bytes: usize,
    /// Most header fields; values above [`MAX_HEADERS`] count as
    /// [`MAX_HEADERS`].
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 8192,
            max_line_bytes: 8192,
            max_headers: MAX_HEADERS,
        }
    }
}

/// Finds the end of a request or response head in a buffer that grows one
/// read at a time, in time linear in the bytes received.
///
/// Each call to [`scan`](Self::scan) looks only at the bytes added since the
/// previous call: a peer trickling a head one byte per packet costs one step
/// per byte, not a rescan of the whole buffer each time (the quadratic
/// behaviour of RUSTSEC-2023-0065). The [`Limits`] are enforced on the fly,
/// so an oversized head is refused as soon as it is too big.
///
/// Lines must end in CRLF: a bare CR or LF is refused as
/// [`Malformed`](HandshakeError::Malformed). Empty lines before the start
/// line are skipped, as RFC 7230 §3.5 suggests (and `httparse` does).
///
/// ```
/// use ws_proto::handshake::{HeadScanner, Limits};
///
/// let mut scanner = HeadScanner::new(Limits::default());
/// let mut buf = Vec::new();
/// buf.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n");
/// assert_eq!(scanner.scan(&buf), Ok(None));
/// buf.extend_from_slice(b"\r\nframe bytes");
/// assert_eq!(scanner.scan(&buf), Ok(Some(27)));
/// assert_eq!(&buf[27..], b"frame bytes");
/// ```
#[derive(Debug, Clone)]
pub struct HeadScanner {
    max_head: usize,
    max_line: usize,
    max_headers: usize,
    /// Bytes examined so far: the prefix of every buffer passed in that is
    /// already known not to finish the head.
    pos: usize,
    /// Bytes in the current line so far, CR excluded.
    line_len: usize,
    /// Non-empty lines started so far: the start line, then header fields.
    lines: usize,
    /// The last byte examined was a CR.
    cr: bool,
    /// Once decided, every later call returns the same answer.
    outcome: Option<Result<usize, HandshakeError>>,
    /// Bytes examined over the scanner's life, to test linearity.
    #[cfg(test)]
    examined: usize,
}

impl HeadScanner {
    /// A scanner for a new head.
    ///
    /// ```
    /// # use ws_proto::handshake::{HeadScanner, Limits};
    /// let mut scanner = HeadScanner::new(Limits::default());
    /// assert_eq!(scanner.scan(b""), Ok(None));
    /// ```
    pub fn new(limits: Limits) -> Self {
        HeadScanner {
            max_head: limits.max_head_bytes,
            max_line: limits.max_line_bytes,
            max_headers: limits.max_headers.min(MAX_HEADERS),
            pos: 0,
            line_len: 0,
            lines: 0,
            cr: false,
            outcome: None,
            #[cfg(test)]
            examined: 0,
        }
    }

    /// Scans the part of `buf` not seen by earlier calls.
    ///
    /// `buf` is everything received so far: each call must pass the previous
    /// buffer with zero or more bytes appended. Returns `Ok(Some(n))` once the
    /// empty line that ends the head is in `buf[..n]`; `buf[n..]` is what came
    /// after the head (WebSocket frames) and belongs to the caller. Returns
    /// `Ok(None)` while more bytes are needed, and an error as soon as the
    /// head breaks a limit or a line ending is malformed. After `Some` or an
    /// error, every call returns the same.
    ///
    /// ```
    /// use ws_proto::handshake::{HandshakeError, HeadScanner, Limits};
    ///
    /// let mut scanner = HeadScanner::new(Limits { max_line_bytes: 10, ..Limits::default() });
    /// assert_eq!(scanner.scan(b"GET / HTTP"), Ok(None));
    /// assert_eq!(scanner.scan(b"GET / HTTP/1.1"), Err(HandshakeError::LineTooLong));
    /// ```
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, HandshakeError> {
        if let Some(outcome) = self.outcome {
            return outcome.map(Some);
        }
        // A buffer shorter than what was examined breaks the contract; there
        // is nothing new to look at, and no reason to panic.
        let new = buf.get(self.pos..).unwrap_or(&[]);
        for &b in new {
            #[cfg(test)]
            {
                self.examined += 1;
            }
            if let Err(e) = self.step(b) {
                self.outcome = Some(Err(e));
                return Err(e);
            }
            if self.outcome.is_some() {
                return Ok(Some(self.pos));
            }
        }
        Ok(None)
    }

    /// Examines the byte at `self.pos`.
    fn step(&mut self, b: u8) -> Result<(), HandshakeError> {
        if self.pos >= self.max_head {
            return Err(HandshakeError::HeadTooLarge);
        }
        self.pos += 1;
        if self.cr {
            if b != b'\n' {
                return Err(HandshakeError::Malformed("CR without LF"));
            }
            self.cr = false;
            if self.line_len == 0 && self.lines > 0 {
                self.outcome = Some(Ok(self.pos));
            }
            self.line_len = 0;
            return Ok(());
        }
        match b {
            b'\r' => self.cr = true,
            b'\n' => return Err(HandshakeError::Malformed("LF without CR")),
            _ => {
                if self.line_len == 0 {
                    self.lines += 1;
                    // The first line is the start line, not a header field.
                    if self.lines > self.max_headers + 1 {
                        return Err(HandshakeError::TooManyHeaders);
                    }
                }
                self.line_len += 1;
                if self.line_len > self.max_line {
                    return Err(HandshakeError::LineTooLong);
                }
            }
        }
        Ok(())
    }
}

/// Why a request head cannot start a WebSocket connection. Also reports
/// limit and syntax problems of a response head, wrapped in
/// [`ClientHandshakeError::Http`].
///
/// [`status`](Self::status) gives the HTTP status to answer with and
/// [`rejection`](Self::rejection) the whole answer.
///
/// ```
/// use ws_proto::handshake::{parse_request, HandshakeError};
///
/// let err = parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err();
/// assert_eq!(err, HandshakeError::MissingUpgrade);
/// assert_eq!(err.status(), 400);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// The head is longer than [`Limits::max_head_bytes`] (431).
    HeadTooLarge,
    /// A line is longer than [`Limits::max_line_bytes`] (431).
    LineTooLong,
    /// More header fields than [`Limits::max_headers`] or [`MAX_HEADERS`]
    /// (431).
    TooManyHeaders,
    /// Not a well-formed HTTP/1.x head (400); says what is wrong.
    Malformed(&'static str),
    /// The method is not `GET` (400).
    MethodNotGet,
    /// HTTP/1.0, or a version `httparse` does not know (400).
    HttpVersion,
    /// No `Host` field, or an empty one (400).
    MissingHost,
    /// A field that may appear only once appeared again (400): `Host`,
    /// `Origin` or `Sec-WebSocket-Version` in a request,
    /// `Sec-WebSocket-Accept` or `Sec-WebSocket-Protocol` in a response.
    DuplicateHeader(&'static str),
    /// No `Upgrade` field listing `websocket` (400). [`parse_request`] checks
    /// this first: this error means "not a WebSocket request at all", so a
    /// server may answer it as plain HTTP (see [`request_target`]).
    MissingUpgrade,
    /// No `Connection` field listing `Upgrade` (400).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13 (426, with
    /// `Sec-WebSocket-Version: 13` in the answer, §4.2.2).
    UnsupportedVersion,
    /// No `Sec-WebSocket-Key` (400).
    MissingKey,
    /// `Sec-WebSocket-Key` is not the base64 encoding of 16 bytes (400).
    InvalidKey,
    /// More than one `Sec-WebSocket-Key` (400).
    DuplicateKey,
}

impl HandshakeError {
    /// The HTTP status to refuse the request with: 431 for the limits, 426
    /// for the version, 400 for the rest.
    ///
    /// ```
    /// # use ws_proto::handshake::HandshakeError;
    /// assert_eq!(HandshakeError::HeadTooLarge.status(), 431);
    /// assert_eq!(HandshakeError::UnsupportedVersion.status(), 426);
    /// assert_eq!(HandshakeError::InvalidKey.status(), 400);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::HeadTooLarge
            | HandshakeError::LineTooLong
            | HandshakeError::TooManyHeaders => 431,
            HandshakeError::UnsupportedVersion => 426,
            _ => 400,
        }
    }

    /// A short explanation, fit for the body of the error response.
    ///
    /// ```
    /// # use ws_proto::handshake::HandshakeError;
    /// assert_eq!(HandshakeError::MissingKey.reason(), "missing Sec-WebSocket-Key");
    /// ```
    pub fn reason(&self) -> &'static str {
        match self {
            HandshakeError::HeadTooLarge => "header block too large",
            HandshakeError::LineTooLong => "header line too long",
            HandshakeError::TooManyHeaders => "too many header fields",
            HandshakeError::Malformed(what) => what,
            HandshakeError::MethodNotGet => "method must be GET",
            HandshakeError::HttpVersion => "HTTP/1.1 required",
            HandshakeError::MissingHost => "missing Host",
            HandshakeError::DuplicateHeader(_) => "duplicate header field",
            HandshakeError::MissingUpgrade => "missing Upgrade: websocket",
            HandshakeError::MissingConnectionUpgrade => "missing Connection: Upgrade",
            HandshakeError::UnsupportedVersion => "Sec-WebSocket-Version must be 13",
            HandshakeError::MissingKey => "missing Sec-WebSocket-Key",
            HandshakeError::InvalidKey => "Sec-WebSocket-Key is not 16 bytes of base64",
            HandshakeError::DuplicateKey => "more than one Sec-WebSocket-Key",
        }
    }

    /// The complete refusal: [`status`](Self::status) and
    /// [`reason`](Self::reason), ready for [`write_reject`] (which adds
    /// `Sec-WebSocket-Version: 13` to a 426).
    ///
    /// ```
    /// use ws_proto::handshake::{write_reject, HandshakeError};
    ///
    /// let mut out = [0u8; 256];
    /// let n = write_reject(&HandshakeError::UnsupportedVersion.rejection(), &mut out).unwrap();
    /// let text = std::str::from_utf8(&out[..n]).unwrap();
    /// assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    /// assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
    /// ```
    pub fn rejection(&self) -> Reject<'static> {
        Reject {
            status: self.status(),
            reason: self.reason(),
            extra_headers: &[],
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Malformed(what) => write!(f, "malformed HTTP head: {what}"),
            HandshakeError::DuplicateHeader(name) => write!(f, "duplicate {name} header field"),
            other => f.write_str(other.reason()),
        }
    }
}

impl core::error::Error for HandshakeError {}

/// The output buffer cannot hold what was to be written. Nothing useful was
/// written; retry with a larger buffer.
///
/// ```
/// use ws_proto::handshake::{write_reject, BufferTooSmall, HandshakeError};
///
/// let mut out = [0u8; 16];
/// assert_eq!(write_reject(&HandshakeError::MissingKey.rejection(), &mut out), Err(BufferTooSmall));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall;

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("output buffer too small for the handshake")
    }
}

impl core::error::Error for BufferTooSmall {}

// ---------------------------------------------------------------------------
// Shared parsing helpers.

/// The header table of a parsed head, with the head it borrows: what
/// [`Request`] and [`Response`] have in common.
#[derive(Clone)]
struct Fields<'b> {
    /// The head, up to and including its empty line.
    head: &'b [u8],
    /// Only `table[..len]` is meaningful.
    table: [httparse::Header<'b>; MAX_HEADERS],
    len: usize,
}

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.all().fmt(f)
    }
}

impl<'b> Fields<'b> {
    /// The fields `httparse` found in `head[..end]`, once the line endings
    /// passed [`check_crlf`].
    fn new(
        head: &'b [u8],
        end: usize,
        table: [httparse::Header<'b>; MAX_HEADERS],
        len: usize,
    ) -> Result<Self, HandshakeError> {
        let head = &head[..end];
        check_crlf(head)?;
        Ok(Fields { head, table, len })
    }

    fn all(&self) -> &[httparse::Header<'b>] {
        &self.table[..self.len]
    }

    /// The values of the fields named `name` (ASCII case-insensitive).
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'b [u8]> + 's {
        self.all()
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    fn first(&self, name: &str) -> Option<&'b [u8]> {
        self.values(name).next()
    }

    /// The one value of a field that must not repeat: `Ok(None)` when
    /// absent, `DuplicateHeader(name)` when repeated.
    fn single(&self, name: &'static str) -> Result<Option<&'b [u8]>, HandshakeError> {
        let mut values = self.values(name);
        match (values.next(), values.next()) {
            (first, None) => Ok(first),
            (Some(_), Some(_)) | (None, Some(_)) => Err(HandshakeError::DuplicateHeader(name)),
        }
    }

    /// Whether some field named `name` lists `token` (ASCII
    /// case-insensitive), as `Connection: keep-alive, Upgrade` lists
    /// `upgrade`.
    fn lists(&self, name: &str, token: &str) -> bool {
        self.values(name).any(|v| list_contains(v, token))
    }

    fn pairs(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> + '_ {
        self.all().iter().map(|h| (h.name, h.value))
    }

    /// Every extension named by every `Sec-WebSocket-Extensions` field.
    fn extensions(&self) -> Offers<'b> {
        Offers::from_values(HeaderValues::new(self.head, "sec-websocket-extensions"))
    }
}

fn utf8<'b>(value: &'b [u8], what: &'static str) -> Result<&'b str, HandshakeError> {
    core::str::from_utf8(value).map_err(|_| HandshakeError::Malformed(what))
}

fn parse_error(e: httparse::Error) -> HandshakeError {
    match e {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
        httparse::Error::Version => HandshakeError::HttpVersion,
        httparse::Error::HeaderName => HandshakeError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HandshakeError::Malformed("invalid header value"),
        httparse::Error::NewLine => HandshakeError::Malformed("invalid line ending"),
        httparse::Error::Status => HandshakeError::Malformed("invalid status code"),
        httparse::Error::Token => HandshakeError::Malformed("invalid start line"),
    }
}

/// Maps `httparse`'s outcome: a partial head is an error here, since heads
/// come from [`HeadScanner`] and end with their empty line.
fn complete(status: httparse::Result<usize>) -> Result<usize, HandshakeError> {
    match status {
        Ok(httparse::Status::Complete(n)) => Ok(n),
        Ok(httparse::Status::Partial) => Err(HandshakeError::Malformed("incomplete head")),
        Err(e) => Err(parse_error(e)),
    }
}

/// Refuses bare LF line endings, which `httparse` accepts but
/// [`HeadScanner`] and [`HeaderValues`] do not (a bare CR `httparse` already
/// refuses).
fn check_crlf(head: &[u8]) -> Result<(), HandshakeError> {
    let mut prev = 0u8;
    for &b in head {
        if b == b'\n' && prev != b'\r' {
            return Err(HandshakeError::Malformed("LF without CR"));
        }
        prev = b;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Shared writing helpers.

/// Writes into a caller's buffer, failing (rather than truncating) when it
/// is full.
struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut [u8]) -> Self {
        Writer { out, len: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        let end = self.len.checked_add(bytes.len()).ok_or(BufferTooSmall)?;
        self.out
            .get_mut(self.len..end)
            .ok_or(BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    fn decimal(&mut self, mut n: usize) -> Result<(), BufferTooSmall> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&digits[i..])
    }

    /// Writes `s` with every byte that may not appear raw in a request
    /// target or host (controls, space, DEL, non-ASCII) percent-encoded, so
    /// that it stays one token of the request line or one field value.
    fn put_escaped(&mut self, s: &str) -> Result<(), BufferTooSmall> {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for &b in s.as_bytes() {
            if (0x21..0x7f).contains(&b) {
                self.put(&[b])?;
            } else {
                self.put(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])?;
            }
        }
        Ok(())
    }

    /// Writes `value` as its `Display` impl renders it.
    fn display(&mut self, value: &impl fmt::Display) -> Result<(), BufferTooSmall> {
        fmt::write(self, format_args!("{value}")).map_err(|_| BufferTooSmall)
    }

    /// Writes a field the handshake itself builds (name and value trusted).
    fn header(&mut self, name: &str, value: &str) -> Result<(), BufferTooSmall> {
        self.put(name.as_bytes())?;
        self.put(b": ")?;
        self.put(value.as_bytes())?;
        self.put(b"\r\n")
    }

    /// Writes caller-supplied fields, leaving out any whose name is not a
    /// token, whose value holds a control character (CR and LF included), or
    /// whose name is in `reserved` (fields the handshake writes itself, and
    /// the body framing fields): none of them can add a header, end the
    /// head, or contradict the handshake.
    fn extra_headers(
        &mut self,
        extras: &[(&str, &str)],
        reserved: &[&str],
    ) -> Result<(), BufferTooSmall> {
        for &(name, value) in extras {
            let allowed = is_token(name)
                && is_field_value(value)
                && !reserved.iter().any(|r| r.eq_ignore_ascii_case(name));
            if allowed {
                self.header(name, value)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> usize {
        self.len
    }
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

// ---------------------------------------------------------------------------
// Owned buffering, shared by `ServerHandshake` and `ClientHandshake`.

#[cfg(feature = "alloc")]
#[derive(Debug, Clone)]
struct HeadBuffer {
    buf: alloc::vec::Vec<u8>,
    scanner: HeadScanner,
    max_head: usize,
    head_len: Option<usize>,
}

#[cfg(feature = "alloc")]
impl HeadBuffer {
    fn new(limits: Limits) -> Self {
        HeadBuffer {
            buf: alloc::vec::Vec::new(),
            scanner: HeadScanner::new(limits),
            max_head: limits.max_head_bytes,
            head_len: None,
        }
    }

    fn feed(&mut self, data: &[u8]) -> Result<bool, HandshakeError> {
        if self.head_len.is_some() {
            self.buf.extend_from_slice(data);
            return Ok(true);
        }
        // One byte past the limit is enough for the scanner to refuse, so
        // never buffer more than that before the head is complete. The rest
        // of `data` is kept only if the head ends before it.
        let room = self
            .max_head
            .saturating_add(1)
            .saturating_sub(self.buf.len());
        let (now, later) = data.split_at(room.min(data.len()));
        self.buf.extend_from_slice(now);
        match self.scanner.scan(&self.buf)? {
            Some(n) => {
                self.buf.extend_from_slice(later);
                self.head_len = Some(n);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn head(&self) -> Result<&[u8], HandshakeError> {
        match self.head_len {
            Some(n) => Ok(&self.buf[..n]),
            None => Err(HandshakeError::Malformed("incomplete head")),
        }
    }

    fn leftover(&self) -> &[u8] {
        match self.head_len {
            Some(n) => &self.buf[n..],
            None => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_1_3_accept_key() {
        let key = AcceptKey::from_key(b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(key.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(key.to_string(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    const HEAD: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\r\n";

    fn scan_at_once(limits: Limits, bytes: &[u8]) -> Result<Option<usize>, HandshakeError> {
        HeadScanner::new(limits).scan(bytes)
    }

    /// Feeds `bytes` cut at `cuts` (increasing offsets), returning the
    /// outcome and how many bytes the scanner examined in all.
    fn scan_in_pieces(
        limits: Limits,
        bytes: &[u8],
        cuts: &[usize],
    ) -> (Result<Option<usize>, HandshakeError>, usize) {
        let mut scanner = HeadScanner::new(limits);
        let mut result = Ok(None);
        for &cut in cuts.iter().chain([&bytes.len()]) {
            result = scanner.scan(&bytes[..cut]);
            if result != Ok(None) {
                break;
            }
        }
        (result, scanner.examined)
    }

    /// A head of exactly `len` bytes: a request line, a Host field, and an
    /// `X` field padded to fit.
    fn head_of_len(len: usize) -> Vec<u8> {
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        let pad = len - head.len() - 4;
        head.resize(head.len() + pad, b'x');
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(head.len(), len);
        head
    }

    #[test]
    fn finds_the_end_and_keeps_what_follows() {
        let mut bytes = HEAD.to_vec();
        bytes.extend_from_slice(b"\x81\x80rest\r\n\r\n");
        assert_eq!(
            scan_at_once(Limits::default(), &bytes),
            Ok(Some(HEAD.len()))
        );
        assert_eq!(scan_at_once(Limits::default(), HEAD), Ok(Some(HEAD.len())));
        assert_eq!(
            scan_at_once(Limits::default(), &HEAD[..HEAD.len() - 1]),
            Ok(None)
        );
        assert_eq!(scan_at_once(Limits::default(), b""), Ok(None));
        // Once found, the answer does not change.
        let mut scanner = HeadScanner::new(Limits::default());
        assert_eq!(scanner.scan(&bytes), Ok(Some(HEAD.len())));
        assert_eq!(scanner.scan(&bytes), Ok(Some(HEAD.len())));
        assert_eq!(scanner.scan(b""), Ok(Some(HEAD.len())));
    }

    #[test]
    fn empty_lines_before_the_start_line_are_skipped() {
        let mut bytes = b"\r\n\r\n".to_vec();
        bytes.extend_from_slice(HEAD);
        assert_eq!(
            scan_at_once(Limits::default(), &bytes),
            Ok(Some(bytes.len()))
        );
        assert_eq!(scan_at_once(Limits::default(), b"\r\n\r\n"), Ok(None));
    }

    #[test]
    fn one_byte_at_a_time_examines_each_byte_once() {
        // RUSTSEC-2023-0065: an 8 KiB head trickled in one byte per read
        // must cost 8 KiB of work, not 8 KiB squared.
        let head = head_of_len(8192);
        let cuts: Vec<usize> = (1..head.len()).collect();
        let (result, examined) = scan_in_pieces(Limits::default(), &head, &cuts);
        assert_eq!(result, Ok(Some(8192)));
        assert_eq!(examined, 8192);

        // The same holds when the limit is what stops it.
        let head = head_of_len(20_000);
        let cuts: Vec<usize> = (1..head.len()).collect();
        let (result, examined) = scan_in_pieces(Limits::default(), &head, &cuts);
        assert_eq!(result, Err(HandshakeError::HeadTooLarge));
        assert_eq!(examined, 8193);
    }

    #[test]
    fn head_size_limit() {
        let limits = Limits::default();
        assert_eq!(scan_at_once(limits, &head_of_len(8192)), Ok(Some(8192)));
        let err = scan_at_once(limits, &head_of_len(8193)).unwrap_err();
        assert_eq!(err, HandshakeError::HeadTooLarge);
        assert_eq!(err.status(), 431);
        // Refused as soon as byte 8193 arrives, without waiting for the end.
        let big = head_of_len(8193);
        assert_eq!(scan_at_once(limits, &big[..8192]), Ok(None));
        assert_eq!(
            scan_at_once(limits, &big[..8193]),
            Err(HandshakeError::HeadTooLarge)
        );
        // Bytes after a head that fits do not count against it.
        let mut bytes = head_of_len(8192);
        bytes.extend_from_slice(&[0; 100]);
        assert_eq!(scan_at_once(limits, &bytes), Ok(Some(8192)));
    }

    #[test]
    fn line_length_limit() {
        let limits = Limits {
            max_line_bytes: 30,
            ..Limits::default()
        };
        let ok = b"GET / HTTP/1.1\r\nX: 012345678901234567890123456\r\n\r\n";
        assert_eq!(scan_at_once(limits, ok), Ok(Some(ok.len())));
        let long = b"GET / HTTP/1.1\r\nX: 0123456789012345678901234567\r\n\r\n";
        let err = scan_at_once(limits, long).unwrap_err();
        assert_eq!((err, err.status()), (HandshakeError::LineTooLong, 431));
        // The request line counts too.
        let limits = Limits {
            max_line_bytes: 10,
            ..Limits::default()
        };
        assert_eq!(scan_at_once(limits, HEAD), Err(HandshakeError::LineTooLong));
    }

    #[test]
    fn header_count_limit() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..MAX_HEADERS {
            head.extend_from_slice(b"A: b\r\n");
        }
        let mut ok = head.clone();
        ok.extend_from_slice(b"\r\n");
        assert_eq!(scan_at_once(Limits::default(), &ok), Ok(Some(ok.len())));
        // Asking for more than MAX_HEADERS gets MAX_HEADERS.
        let greedy = Limits {
            max_headers: 1000,
            ..Limits::default()
        };
        head.extend_from_slice(b"A: b\r\n\r\n");
        for limits in [Limits::default(), greedy] {
            let err = scan_at_once(limits, &head).unwrap_err();
            assert_eq!((err, err.status()), (HandshakeError::TooManyHeaders, 431));
        }
        let none = Limits {
            max_headers: 0,
            ..Limits::default()
        };
        assert_eq!(scan_at_once(none, b"GET / HTTP/1.1\r\n\r\n"), Ok(Some(18)));
        assert_eq!(
            scan_at_once(none, HEAD),
            Err(HandshakeError::TooManyHeaders)
        );
    }

    #[test]
    fn line_endings_must_be_crlf() {
        let limits = Limits::default();
        assert_eq!(
            scan_at_once(limits, b"GET / HTTP/1.1\nHost: a\n\n"),
            Err(HandshakeError::Malformed("LF without CR"))
        );
        assert_eq!(
            scan_at_once(limits, b"GET / HTTP/1.1\rHost: a\r\n\r\n"),
            Err(HandshakeError::Malformed("CR without LF"))
        );
        // Errors stick.
        let mut scanner = HeadScanner::new(limits);
        assert!(scanner.scan(b"\n").is_err());
        assert!(scanner.scan(HEAD).is_err());
    }

    #[test]
    fn a_shrinking_buffer_does_not_panic() {
        let mut scanner = HeadScanner::new(Limits::default());
        assert_eq!(scanner.scan(&HEAD[..20]), Ok(None));
        assert_eq!(scanner.scan(&HEAD[..5]), Ok(None));
        assert_eq!(scanner.scan(HEAD), Ok(Some(HEAD.len())));
    }

    #[test]
    fn errors_have_status_reason_and_display() {
        use HandshakeError::*;
        let all = [
            HeadTooLarge,
            LineTooLong,
            TooManyHeaders,
            Malformed("oops"),
            MethodNotGet,
            HttpVersion,
            MissingHost,
            DuplicateHeader("Host"),
            MissingUpgrade,
            MissingConnectionUpgrade,
            UnsupportedVersion,
            MissingKey,
            InvalidKey,
            DuplicateKey,
        ];
        for e in all {
            let expected = match e {
                HeadTooLarge | LineTooLong | TooManyHeaders => 431,
                UnsupportedVersion => 426,
                _ => 400,
            };
            assert_eq!(e.status(), expected, "{e:?}");
            assert!(!e.reason().is_empty());
            assert!(!e.to_string().is_empty());
            let reject = e.rejection();
            assert_eq!((reject.status, reject.reason), (e.status(), e.reason()));
        }
        assert_eq!(Malformed("oops").to_string(), "malformed HTTP head: oops");
        assert_eq!(
            DuplicateHeader("Host").to_string(),
            "duplicate Host header field"
        );
        assert!(!BufferTooSmall.to_string().is_empty());
    }

    #[test]
    fn httparse_errors_are_mapped() {
        use httparse::Error as E;
        assert_eq!(
            parse_error(E::TooManyHeaders),
            HandshakeError::TooManyHeaders
        );
        assert_eq!(parse_error(E::Version), HandshakeError::HttpVersion);
        for e in [
            E::HeaderName,
            E::HeaderValue,
            E::NewLine,
            E::Status,
            E::Token,
        ] {
            assert!(matches!(parse_error(e), HandshakeError::Malformed(_)));
        }
    }

    #[test]
    fn writer() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        w.put_escaped("/a b\r\né?x=1").unwrap();
        w.decimal(0).unwrap();
        w.decimal(usize::MAX).unwrap();
        let n = w.finish();
        assert_eq!(&buf[..n], b"/a%20b%0D%0A%C3%A9?x=1018446744073709551615");
        let mut small = [0u8; 3];
        let mut w = Writer::new(&mut small);
        assert_eq!(w.put(b"abcd"), Err(BufferTooSmall));
        assert_eq!(w.put(b"abc"), Ok(()));
        assert_eq!(w.put(b"d"), Err(BufferTooSmall));
    }

    #[cfg(not(miri))]
    mod props {
        use super::*;
        use proptest::prelude::*;

        fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
            proptest::collection::vec(0..=len, 0..12).prop_map(|mut v| {
                v.sort_unstable();
                v
            })
        }

        fn bytes_and_cuts(
            bytes: impl Strategy<Value = Vec<u8>>,
        ) -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
            bytes.prop_flat_map(|b| {
                let len = b.len();
                (Just(b), cuts(len))
            })
        }

        /// Bytes made mostly of line-ending material, so heads end often.
        fn heady() -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::vec(
                prop_oneof![
                    Just(b'\r'),
                    Just(b'\n'),
                    Just(b'a'),
                    Just(b':'),
                    any::<u8>()
                ],
                0..200,
            )
        }

        proptest! {
            #[test]
            fn any_split_gives_the_same_outcome((bytes, cuts) in bytes_and_cuts(heady())) {
                let limits = Limits { max_head_bytes: 150, max_line_bytes: 40, max_headers: 5 };
                let whole = scan_at_once(limits, &bytes);
                let (pieces, examined) = scan_in_pieces(limits, &bytes, &cuts);
                prop_assert_eq!(pieces, whole);
                // Never more than one look at each byte.
                prop_assert!(examined <= bytes.len());
                if let Ok(Some(n)) = whole {
                    prop_assert_eq!(examined, n);
                    prop_assert!(bytes[..n].ends_with(b"\r\n\r\n"));
                }
            }

            #[test]
            fn a_real_head_with_trailing_frames_splits_anywhere(cuts in cuts(HEAD.len() + 6)) {
                let mut bytes = HEAD.to_vec();
                bytes.extend_from_slice(b"\x81\x80\r\n\r\n");
                let (result, _) = scan_in_pieces(Limits::default(), &bytes, &cuts);
                prop_assert_eq!(result, Ok(Some(HEAD.len())));
            }
        }
    }
}
