//! The blocking client: [`connect`] a `ws://` URL, or configure the
//! request with a [`ClientBuilder`]; either returns the same [`WebSocket`]
//! type the server hands its handlers.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use ws_proto::connection::{Config, Connection};
use ws_proto::handshake::{ClientHandshake, ClientHandshakeError, ClientRequest, Limits};
use ws_proto::negotiation::DeflateOffer;

use crate::server::write_all;
use crate::stream::Stream;
use crate::websocket::{RequestInfo, Transport, WebSocket};

/// A `ws://` URL taken apart.
///
/// ```
/// use ws_server::client::Url;
///
/// let url = Url::parse("ws://[::1]:9000/chat?room=1").unwrap();
/// assert_eq!(url.host, "::1");
/// assert_eq!(url.port, 9000);
/// assert_eq!(url.target, "/chat?room=1");
/// assert_eq!(url.host_header(), "[::1]:9000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `ws` or `wss`.
    pub scheme: String,
    /// The host name or IP address, without the brackets of an IPv6
    /// literal.
    pub host: String,
    /// The port, explicit or the scheme's default (80 for `ws`, 443 for
    /// `wss`).
    pub port: u16,
    /// Path and query (`/` if the URL has none).
    pub target: String,
}

/// Why a URL was refused.
///
/// ```
/// use ws_server::client::{Url, UrlError};
/// assert_eq!(Url::parse("http://example.com/"), Err(UrlError::Scheme("http".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Not `scheme://...`.
    NotAUrl,
    /// A scheme other than `ws` (or `wss`).
    Scheme(String),
    /// No host, or a malformed one (an unclosed `[`).
    Host,
    /// A port that is not a number from 1 to 65535.
    Port(String),
    /// User information (`user@host`): WebSocket URLs have none.
    UserInfo,
    /// A fragment (`#...`): RFC 6455 §3 forbids one.
    Fragment,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::NotAUrl => f.write_str("not a URL of the form ws://host[:port]/path"),
            UrlError::Scheme(s) => write!(f, "scheme {s:?} is not ws or wss"),
            UrlError::Host => f.write_str("missing or malformed host"),
            UrlError::Port(p) => write!(f, "port {p:?} is not a number from 1 to 65535"),
            UrlError::UserInfo => f.write_str("user information is not allowed in a WebSocket URL"),
            UrlError::Fragment => f.write_str("a fragment is not allowed in a WebSocket URL"),
        }
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// Parses `ws://host[:port][/path][?query]` (and `wss://`). Host names
    /// are compared case-insensitively elsewhere, so they are kept as
    /// given; IPv6 literals go in brackets (`ws://[::1]:80/`).
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let (scheme, rest) = text.split_once("://").ok_or(UrlError::NotAUrl)?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "ws" => 80,
            "wss" => 443,
            _ => return Err(UrlError::Scheme(scheme)),
        };
        if rest.contains('#') {
            return Err(UrlError::Fragment);
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, tail) = v6.split_once(']').ok_or(UrlError::Host)?;
            match tail {
                "" => (host, None),
                t => (host, Some(t.strip_prefix(':').ok_or(UrlError::Host)?)),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains([' ', '[', ']']) {
            return Err(UrlError::Host);
        }
        let port = match port {
            None | Some("") => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(UrlError::Port(p.to_owned())),
            },
        };
        let target = match target {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        Ok(Url {
            scheme,
            host: host.to_owned(),
            port,
            target,
        })
    }

    /// The `Host` field: the host (in brackets if IPv6), and the port
    /// unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.scheme == "wss" { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.host_header(), self.target)
    }
}

/// Why [`connect`] failed, saying which step did.
///
/// ```
/// use ws_server::ConnectError;
/// let err = ws_server::connect("ws://127.0.0.1:5000/#frag").unwrap_err();
/// assert!(matches!(err, ConnectError::Url(_)));
/// assert_eq!(err.to_string(), "bad URL: a fragment is not allowed in a WebSocket URL");
/// ```
#[derive(Debug)]
pub enum ConnectError {
    /// The URL could not be used.
    Url(UrlError),
    /// `wss://` needs TLS, which this build does not have.
    TlsUnsupported,
    /// The TLS configuration (a custom CA) could not be built.
    #[cfg(feature = "tls")]
    TlsConfig(crate::tls::TlsError),
    /// The TLS handshake failed: a certificate not trusted or not for this
    /// host, no common protocol version, not a TLS server.
    Tls(io::Error),
    /// The host name did not resolve.
    Dns {
        /// The host looked up.
        host: String,
        /// What the resolver said.
        source: io::Error,
    },
    /// No address of the host accepted a TCP connection.
    Tcp {
        /// The last address tried.
        addr: SocketAddr,
        /// Why it failed.
        source: io::Error,
    },
    /// The operating system's random source failed (nonce, masking seed).
    Random(String),
    /// The connection failed or ended during the handshake.
    Io(io::Error),
    /// The server did not answer the handshake within the timeout.
    Timeout,
    /// The server answered with another status than 101.
    Status {
        /// The status code.
        status: u16,
        /// The first line of the answer's body (often the reason), if any.
        body: String,
    },
    /// The answer was a 101 but broke the protocol: a wrong
    /// `Sec-WebSocket-Accept` (not a WebSocket server, or a proxy that
    /// mangled it), a subprotocol not offered, a malformed head.
    Handshake(ClientHandshakeError),
    /// The extension the server accepted could not be set up.
    Extension(ws_proto::connection::ExtensionError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Url(e) => write!(f, "bad URL: {e}"),
            ConnectError::Extension(e) => write!(f, "negotiated extension: {e}"),
            ConnectError::TlsUnsupported => {
                f.write_str("wss:// needs the `tls` feature, which this build lacks")
            }
            #[cfg(feature = "tls")]
            ConnectError::TlsConfig(e) => write!(f, "{e}"),
            ConnectError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            ConnectError::Dns { host, source } => write!(f, "cannot resolve {host}: {source}"),
            ConnectError::Tcp { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            ConnectError::Random(e) => write!(f, "no random numbers from the OS: {e}"),
            ConnectError::Io(e) => write!(f, "connection failed during the handshake: {e}"),
            ConnectError::Timeout => f.write_str("the server did not answer the handshake in time"),
            ConnectError::Status { status, body } if body.is_empty() => {
                write!(f, "server answered {status} instead of 101")
            }
            ConnectError::Status { status, body } => {
                write!(f, "server answered {status} instead of 101: {body}")
            }
            ConnectError::Handshake(e) => write!(f, "bad handshake answer: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Url(e) => Some(e),
            ConnectError::Dns { source, .. } | ConnectError::Tcp { source, .. } => Some(source),
            ConnectError::Io(e) | ConnectError::Tls(e) => Some(e),
            ConnectError::Handshake(e) => Some(e),
            _ => None,
        }
    }
}

/// Opens a WebSocket to `url` (`ws://host[:port]/path?query`) with the
/// default settings. See [`ClientBuilder`] for headers, subprotocols,
/// `Origin`, limits and timeouts.
///
/// ```no_run
/// use ws_server::Message;
///
/// let mut ws = ws_server::connect("ws://127.0.0.1:5000/ws")?;
/// ws.send_text("hello")?;
/// if let Some(Message::Text(reply)) = ws.recv()? {
///     println!("{reply}");
/// }
/// ws.close(ws_server::CloseCode::NORMAL, "")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect(url: &str) -> Result<WebSocket<Stream>, ConnectError> {
    ClientBuilder::new(url).connect()
}

/// The settings of a client connection.
///
/// ```no_run
/// use std::time::Duration;
/// use ws_server::ClientBuilder;
///
/// let ws = ClientBuilder::new("ws://127.0.0.1:5000/ws")
///     .origin("http://127.0.0.1:5000")
///     .subprotocol("chat.v1")
///     .header("Authorization", "Bearer abc")
///     .max_message_size(1 << 20)
///     .connect_timeout(Duration::from_secs(3))
///     .connect()?;
/// println!("subprotocol: {:?}", ws.subprotocol());
/// # Ok::<(), ws_server::ConnectError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    origin: Option<String>,
    subprotocols: Vec<String>,
    headers: Vec<(String, String)>,
    config: Config,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    write_timeout: Option<Duration>,
    max_head_size: usize,
    compression: Option<DeflateOffer>,
    #[cfg(feature = "tls")]
    tls: TlsChoice,
}

#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
enum TlsChoice {
    /// webpki-roots plus these PEM CA certificates.
    Roots(Vec<u8>),
    Config(std::sync::Arc<rustls::ClientConfig>),
}

impl ClientBuilder {
    /// Settings for `url` with the defaults: no `Origin`, no subprotocol,
    /// `ws_proto`'s default limits, 10 s to connect and 10 s for the
    /// handshake, a 30 s write timeout.
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            url: url.into(),
            origin: None,
            subprotocols: Vec::new(),
            headers: Vec::new(),
            config: Config::default(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Some(Duration::from_secs(30)),
            max_head_size: 8192,
            compression: None,
            #[cfg(feature = "tls")]
            tls: TlsChoice::Roots(Vec::new()),
        }
    }
    /// For `wss://`: also trust the CA certificates in `pem` (PEM text),
    /// besides the Mozilla roots of `webpki-roots`.
    #[cfg(feature = "tls")]
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        let mut all = match self.tls {
            TlsChoice::Roots(pem) => pem,
            TlsChoice::Config(_) => Vec::new(),
        };
        all.extend_from_slice(&pem.into());
        all.push(b'\n');
        self.tls = TlsChoice::Roots(all);
        self
    }
    /// For `wss://`: use this rustls configuration as is (client
    /// certificates, other roots, ALPN).
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls = TlsChoice::Config(config);
        self
    }
    /// Offers permessage-deflate (RFC 7692) with `offer`'s parameters;
    /// `DeflateOffer::default()` is the offer browsers make. Whether it was
    /// accepted is up to the server.
    ///
    /// ```
    /// use ws_server::ws_proto::negotiation::DeflateOffer;
    /// let builder = ws_server::ClientBuilder::new("ws://127.0.0.1:5000/ws")
    ///     .compression(DeflateOffer::default());
    /// # drop(builder);
    /// ```
    pub fn compression(mut self, offer: DeflateOffer) -> Self {
        self.compression = Some(offer);
        self
    }
    /// Sends `Origin: origin` (what a browser page at that origin sends).
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }
    /// Offers a subprotocol (repeat in order of preference).
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> Self {
        self.subprotocols.push(protocol.into());
        self
    }
    /// Adds a request header field (those the handshake writes itself are
    /// left out).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// The connection's settings (limits, keep-alive, close timeout).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// Largest message accepted (see `Config::max_message_size`).
    pub fn max_message_size(mut self, size: usize) -> Self {
        self.config.max_message_size = size;
        self
    }
    /// How long the TCP connection may take, per address tried.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// How long the server may take to answer the handshake.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
    /// See [`WebSocket::set_write_timeout`].
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Resolves the host, connects, runs TLS for `wss://`, performs the
    /// WebSocket handshake.
    pub fn connect(self) -> Result<WebSocket<Stream>, ConnectError> {
        let url = Url::parse(&self.url).map_err(ConnectError::Url)?;
        let tcp = self.tcp(&url)?;
        let _ = tcp.set_nodelay(true);
        let stream = if url.scheme == "wss" {
            self.secure(tcp, &url)?
        } else {
            Stream::Plain(tcp)
        };
        self.handshake(stream, &url)
    }

    #[cfg(feature = "tls")]
    fn secure(&self, tcp: TcpStream, url: &Url) -> Result<Stream, ConnectError> {
        let config = match &self.tls {
            TlsChoice::Roots(pem) => {
                crate::tls::client_config(pem).map_err(ConnectError::TlsConfig)?
            }
            TlsChoice::Config(config) => config.clone(),
        };
        crate::tls::TlsStream::connect(tcp, config, &url.host, self.handshake_timeout)
            .map(|tls| Stream::Tls(Box::new(tls)))
            .map_err(ConnectError::Tls)
    }

    #[cfg(not(feature = "tls"))]
    fn secure(&self, _tcp: TcpStream, _url: &Url) -> Result<Stream, ConnectError> {
        Err(ConnectError::TlsUnsupported)
    }

    fn tcp(&self, url: &Url) -> Result<TcpStream, ConnectError> {
        let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|source| ConnectError::Dns {
                host: url.host.clone(),
                source,
            })?
            .collect();
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => return Ok(stream),
                Err(source) => last = Some(ConnectError::Tcp { addr, source }),
            }
        }
        Err(last.unwrap_or_else(|| ConnectError::Dns {
            host: url.host.clone(),
            source: io::Error::new(io::ErrorKind::NotFound, "no address"),
        }))
    }

    /// The client side of the opening handshake over any transport.
    pub(crate) fn handshake<S: Transport>(
        &self,
        stream: S,
        url: &Url,
    ) -> Result<WebSocket<S>, ConnectError> {
        // The key must be unpredictable (§4.1) and so must the masking keys
        // (§5.3): both come from the operating system.
        let (mut nonce, mut seed) = ([0u8; 16], [0u8; 32]);
        getrandom::fill(&mut nonce)
            .and_then(|()| getrandom::fill(&mut seed))
            .map_err(|e| ConnectError::Random(e.to_string()))?;
        let host = url.host_header();
        let protocols: Vec<&str> = self.subprotocols.iter().map(String::as_str).collect();
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = ClientRequest {
            origin: self.origin.as_deref(),
            subprotocols: &protocols,
            extra_headers: &headers,
            deflate: self.compression,
            ..ClientRequest::new(&host, &url.target, nonce)
        };
        let mut out = vec![0u8; 1024 + url.target.len() + host.len()];
        for (n, v) in &headers {
            out.resize(out.len() + n.len() + v.len() + 4, 0);
        }
        let n = request.write(&mut out).map_err(|_| {
            ConnectError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "request too large",
            ))
        })?;
        let deadline = Instant::now() + self.handshake_timeout;
        stream
            .set_write_timeout(Some(self.handshake_timeout))
            .map_err(ConnectError::Io)?;
        write_all(&stream, &out[..n]).map_err(ConnectError::Io)?;

        let mut hs = ClientHandshake::new(Limits {
            max_head_bytes: self.max_head_size,
            ..Limits::default()
        });
        let mut buf = [0u8; 2048];
        loop {
            let read = read_until(&stream, &mut buf, deadline)?;
            if read == 0 {
                return Err(ConnectError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            match hs.feed(&buf[..read]) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => return Err(ConnectError::Handshake(e.into())),
            }
        }
        let (subprotocol, negotiated) = match hs.response(&request) {
            Ok(response) => (
                response.subprotocol().map(str::to_owned),
                response.negotiated(),
            ),
            Err(ClientHandshakeError::Status(status)) => {
                let body = first_line(&stream, hs.leftover(), deadline);
                return Err(ConnectError::Status { status, body });
            }
            Err(e) => return Err(ConnectError::Handshake(e)),
        };
        let conn = Connection::client_with(self.config.clone(), negotiated, seed)
            .map_err(ConnectError::Extension)?;
        let info = RequestInfo {
            path: url.target.clone(),
            host,
            origin: self.origin.clone(),
            subprotocol,
            peer: None,
        };
        let mut ws = WebSocket::with_info(stream, conn, hs.leftover(), info);
        ws.set_write_timeout(self.write_timeout);
        Ok(ws)
    }
}

/// One read, bounded by `deadline`.
fn read_until<S: Transport>(
    stream: &S,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, ConnectError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ConnectError::Timeout);
        }
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .map_err(ConnectError::Io)?;
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(ConnectError::Io(e)),
        }
    }
}

/// The first line of a refusal's body, read for at most a moment and 1 KiB:
/// it is only there to make the error message useful.
fn first_line<S: Transport>(stream: &S, start: &[u8], deadline: Instant) -> String {
    let mut body = start.to_vec();
    let deadline = deadline.min(Instant::now() + Duration::from_millis(500));
    let mut buf = [0u8; 1024];
    while !body.contains(&b'\n') && body.len() < 1024 {
        match read_until(stream, &mut buf, deadline) {
            Ok(n) if n > 0 => body.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let line = body.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let text = String::from_utf8_lossy(line);
    text.trim().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart() {
        let url = Url::parse("ws://example.com/chat?x=1").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.target.as_str()),
            ("example.com", 80, "/chat?x=1")
        );
        assert_eq!(url.host_header(), "example.com");
        let url = Url::parse("WSS://Example.com:8443").unwrap();
        assert_eq!((url.scheme.as_str(), url.port), ("wss", 8443));
        assert_eq!(url.target, "/");
        assert_eq!(url.host_header(), "Example.com:8443");
        let url = Url::parse("ws://127.0.0.1:5000?q").unwrap();
        assert_eq!(url.target, "/?q");
        let url = Url::parse("ws://[::1]/").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 80));
        assert_eq!(url.host_header(), "[::1]");
        assert_eq!(url.to_string(), "ws://[::1]/");
    }

    #[test]
    fn bad_urls_say_why() {
        assert_eq!(Url::parse("example.com"), Err(UrlError::NotAUrl));
        assert_eq!(
            Url::parse("https://example.com"),
            Err(UrlError::Scheme("https".into()))
        );
        assert_eq!(Url::parse("ws:///path"), Err(UrlError::Host));
        assert_eq!(Url::parse("ws://[::1/"), Err(UrlError::Host));
        assert_eq!(
            Url::parse("ws://h:99999/"),
            Err(UrlError::Port("99999".into()))
        );
        assert_eq!(Url::parse("ws://h:0/"), Err(UrlError::Port("0".into())));
        assert_eq!(Url::parse("ws://h:+80/"), Err(UrlError::Port("+80".into())));
        assert_eq!(Url::parse("ws://u:p@h/"), Err(UrlError::UserInfo));
        assert_eq!(Url::parse("ws://h/#top"), Err(UrlError::Fragment));
    }
}
