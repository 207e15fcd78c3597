//! The client role: [`connect`] to a `ws://` (or, with the `tls` feature,
//! `wss://`) URL, or run the opening handshake over a transport of your
//! own with [`client_handshake`].

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use ws_proto::connection::Config;
use ws_proto::connection::ExtensionError;
use ws_proto::handshake::{ClientHandshake, ClientHandshakeError, ClientRequest, Limits};
use ws_proto::negotiation::DeflateOffer;

use crate::core::Core;
use crate::stream::{WebSocketStream, DEFAULT_READ_SIZE};

/// Settings of a client connection.
///
/// ```
/// use std::time::Duration;
/// use ws_tokio::ClientOptions;
///
/// let options = ClientOptions {
///     subprotocols: vec!["chat.v1".into()],
///     handshake_timeout: Duration::from_secs(5),
///     ..ClientOptions::default()
/// };
/// assert!(options.origin.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The connection's settings (limits, keep-alive, close timeout).
    pub config: Config,
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// The `Origin` field to send, if any (browsers always do; other
    /// clients usually do not).
    pub origin: Option<String>,
    /// More request fields (for example `Authorization`). Those the
    /// handshake writes itself are left out.
    pub extra_headers: Vec<(String, String)>,
    /// Size limits on the server's answer.
    pub limits: Limits,
    /// TCP connect, TLS and the opening handshake together must finish
    /// within this time. Default 10 s.
    pub handshake_timeout: Duration,
    /// Bytes asked of the transport by one read. Default 4 KiB.
    pub read_buffer_size: usize,
    /// Offer permessage-deflate (RFC 7692) with these parameters. Default
    /// `None`: no compression. `Some(DeflateOffer::default())` makes the
    /// offer browsers make.
    pub compression: Option<DeflateOffer>,
    /// The TLS settings for `wss://`; `None` (the default) verifies the
    /// server against the webpki-roots (Mozilla) root store.
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            config: Config::default(),
            subprotocols: Vec::new(),
            origin: None,
            extra_headers: Vec::new(),
            limits: Limits::default(),
            handshake_timeout: Duration::from_secs(10),
            read_buffer_size: DEFAULT_READ_SIZE,
            compression: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Why [`connect`] or [`client_handshake`] did not produce a connection.
///
/// ```
/// use ws_tokio::ConnectError;
/// use ws_tokio::proto::handshake::ClientHandshakeError;
///
/// let e = ConnectError::Handshake(ClientHandshakeError::Status(403));
/// assert!(e.to_string().contains("403"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not `ws://host[:port][/path]` (or `wss://`); says what is
    /// wrong.
    InvalidUrl(&'static str),
    /// `wss://` without the `tls` feature.
    TlsNotEnabled,
    /// Connecting, TLS or the handshake's I/O failed.
    Io(io::Error),
    /// The handshake did not finish within
    /// [`ClientOptions::handshake_timeout`].
    Timeout,
    /// The server's answer did not complete the handshake (a refusal's
    /// status is in [`ClientHandshakeError::Status`]).
    Handshake(ClientHandshakeError),
    /// The operating system's random source failed (no nonce, no masking
    /// keys).
    Random(io::Error),
    /// The negotiated extension could not be set up.
    Extension(ExtensionError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::InvalidUrl(what) => write!(f, "invalid WebSocket URL: {what}"),
            ConnectError::TlsNotEnabled => f.write_str("wss:// needs ws-tokio's `tls` feature"),
            ConnectError::Io(e) => write!(f, "connection failed: {e}"),
            ConnectError::Timeout => f.write_str("opening handshake timed out"),
            ConnectError::Handshake(e) => write!(f, "handshake refused: {e}"),
            ConnectError::Random(e) => write!(f, "no random bytes from the OS: {e}"),
            ConnectError::Extension(e) => write!(f, "negotiated extension: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Io(e) | ConnectError::Random(e) => Some(e),
            ConnectError::Handshake(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ConnectError {
    fn from(e: io::Error) -> Self {
        ConnectError::Io(e)
    }
}

/// 16 bytes from the operating system's CSPRNG, for the handshake nonce.
fn random_nonce() -> io::Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes)
}

/// The parts of a `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    pub(crate) secure: bool,
    /// The host to resolve (an IPv6 literal without its brackets).
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    /// The `Host` field: the URL's authority.
    pub(crate) authority: &'a str,
    /// Path and query, `/` if empty.
    pub(crate) path: String,
}

/// Splits a WebSocket URL (RFC 6455 §3): scheme `ws` or `wss`
/// (case-insensitive), no user info, no fragment.
pub(crate) fn parse_url(url: &str) -> Result<Target<'_>, ConnectError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or(ConnectError::InvalidUrl("no scheme"))?;
    let secure = if scheme.eq_ignore_ascii_case("ws") {
        false
    } else if scheme.eq_ignore_ascii_case("wss") {
        true
    } else {
        return Err(ConnectError::InvalidUrl("the scheme must be ws or wss"));
    };
    if rest.contains('#') {
        return Err(ConnectError::InvalidUrl("a fragment is not allowed"));
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err(ConnectError::InvalidUrl("user info is not supported"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, tail) = v6
            .split_once(']')
            .ok_or(ConnectError::InvalidUrl("unclosed IPv6 literal"))?;
        match tail {
            "" => (host, None),
            t => (
                host,
                Some(
                    t.strip_prefix(':')
                        .ok_or(ConnectError::InvalidUrl("junk after the IPv6 literal"))?,
                ),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(ConnectError::InvalidUrl("no host"));
    }
    let port = match port {
        None => {
            if secure {
                443
            } else {
                80
            }
        }
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(ConnectError::InvalidUrl(
                "the port is not a number from 1 to 65535",
            ))?,
    };
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    Ok(Target {
        secure,
        host,
        port,
        authority,
        path,
    })
}

/// Connects to a `ws://` or `wss://` URL with default options.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut ws = ws_tokio::connect("ws://127.0.0.1:5000/ws").await?;
/// ws.send(ws_tokio::Message::Text("hello".into())).await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<WebSocketStream<MaybeTlsStream>, ConnectError> {
    connect_with(url, &ClientOptions::default()).await
}

/// Connects to a `ws://` or `wss://` URL: TCP (with `TCP_NODELAY`), TLS for
/// `wss://`, then the opening handshake, all within
/// [`ClientOptions::handshake_timeout`].
///
/// ```no_run
/// use ws_tokio::{connect_with, ClientOptions};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let options = ClientOptions { subprotocols: vec!["chat".into()], ..Default::default() };
/// let ws = connect_with("ws://127.0.0.1:5000/ws", &options).await?;
/// println!("subprotocol: {:?}", ws.subprotocol());
/// # Ok(()) }
/// ```
pub async fn connect_with(
    url: &str,
    options: &ClientOptions,
) -> Result<WebSocketStream<MaybeTlsStream>, ConnectError> {
    let target = parse_url(url)?;
    if target.secure && !cfg!(feature = "tls") {
        return Err(ConnectError::TlsNotEnabled);
    }
    tokio::time::timeout(options.handshake_timeout, async {
        let tcp = TcpStream::connect((target.host, target.port)).await?;
        tcp.set_nodelay(true)?;
        let stream = if target.secure {
            secure(tcp, target.host, options).await?
        } else {
            MaybeTlsStream::Plain(tcp)
        };
        handshake(stream, target.authority, &target.path, options).await
    })
    .await
    .map_err(|_| ConnectError::Timeout)?
}

#[cfg(feature = "tls")]
async fn secure(
    tcp: TcpStream,
    host: &str,
    options: &ClientOptions,
) -> Result<MaybeTlsStream, ConnectError> {
    let config = match &options.tls {
        Some(config) => config.clone(),
        None => crate::tls::default_client_config()?,
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| ConnectError::InvalidUrl("the host is not a valid DNS name or IP address"))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(MaybeTlsStream::Tls(Box::new(tls)))
}

#[cfg(not(feature = "tls"))]
async fn secure(
    _tcp: TcpStream,
    _host: &str,
    _options: &ClientOptions,
) -> Result<MaybeTlsStream, ConnectError> {
    Err(ConnectError::TlsNotEnabled)
}

/// Runs the client's opening handshake over `stream` (already connected,
/// and encrypted if need be): `host` is the `Host` field, `path` the
/// request target. Bounded by [`ClientOptions::handshake_timeout`].
///
/// ```
/// use ws_tokio::{accept, client_handshake, AcceptOptions, ClientOptions, Message};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (a, b) = tokio::io::duplex(4096);
/// let server = tokio::spawn(async move { accept(a, &AcceptOptions::default()).await });
/// let mut client = client_handshake(b, "example.com", "/chat", &ClientOptions::default()).await?;
/// let mut server = server.await??;
/// client.send(Message::Text("hi".into())).await?;
/// assert_eq!(server.recv().await.unwrap()?, Message::Text("hi".into()));
/// # Ok(()) }
/// ```
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &str,
    path: &str,
    options: &ClientOptions,
) -> Result<WebSocketStream<S>, ConnectError> {
    tokio::time::timeout(
        options.handshake_timeout,
        handshake(stream, host, path, options),
    )
    .await
    .map_err(|_| ConnectError::Timeout)?
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
    options: &ClientOptions,
) -> Result<WebSocketStream<S>, ConnectError> {
    let nonce = random_nonce().map_err(ConnectError::Random)?;
    let seed = crate::core::random_seed().map_err(ConnectError::Random)?;
    let subprotocols: Vec<&str> = options.subprotocols.iter().map(String::as_str).collect();
    let extra: Vec<(&str, &str)> = options
        .extra_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let request = ClientRequest {
        origin: options.origin.as_deref(),
        subprotocols: &subprotocols,
        extra_headers: &extra,
        deflate: options.compression,
        ..ClientRequest::new(host, path, nonce)
    };
    let head = crate::server::write_growing(|out| request.write(out))
        .ok_or(ConnectError::InvalidUrl("the request head is over 1 MiB"))?;
    stream.write_all(&head).await?;
    stream.flush().await?;

    let mut hs = ClientHandshake::new(options.limits);
    let mut buf = vec![0u8; options.read_buffer_size.clamp(512, 16 << 10)];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        match hs.feed(&buf[..n]) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => return Err(ConnectError::Handshake(e.into())),
        }
    }
    let (subprotocol, negotiated) = {
        let response = hs.response(&request).map_err(ConnectError::Handshake)?;
        (
            response.subprotocol().map(str::to_owned),
            response.negotiated(),
        )
    };
    let core = Core::client(
        options.config.clone(),
        negotiated,
        seed,
        hs.leftover(),
        options.read_buffer_size,
    )
    .map_err(ConnectError::Extension)?;
    let mut ws = WebSocketStream::from_core(stream, core);
    ws.set_subprotocol(subprotocol);
    Ok(ws)
}

/// The transport of a connection made by [`connect`]: plain TCP, or TLS
/// over TCP with the `tls` feature.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ws = ws_tokio::connect("ws://127.0.0.1:5000/ws").await?;
/// if let ws_tokio::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
///     println!("connected to {}", tcp.peer_addr()?);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_and_path() {
        let t = parse_url("ws://example.com/chat?room=1").unwrap();
        assert_eq!(
            (t.secure, t.host, t.port, t.authority, t.path.as_str()),
            (false, "example.com", 80, "example.com", "/chat?room=1")
        );
        let t = parse_url("WSS://[::1]:8443").unwrap();
        assert_eq!(
            (t.secure, t.host, t.port, t.authority, t.path.as_str()),
            (true, "::1", 8443, "[::1]:8443", "/")
        );
        let t = parse_url("ws://h:9?x").unwrap();
        assert_eq!((t.port, t.path.as_str()), (9, "/?x"));
    }

    #[test]
    fn malformed_urls_are_refused_with_the_reason() {
        for (url, why) in [
            ("example.com", "no scheme"),
            ("http://example.com", "the scheme must be ws or wss"),
            ("ws://h/#frag", "a fragment is not allowed"),
            ("ws://user@h/", "user info is not supported"),
            ("ws://[::1/", "unclosed IPv6 literal"),
            ("ws://:80/", "no host"),
            ("ws://h:0/", "the port is not a number from 1 to 65535"),
            ("ws://h:65536/", "the port is not a number from 1 to 65535"),
        ] {
            match parse_url(url) {
                Err(ConnectError::InvalidUrl(w)) => assert_eq!(w, why, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
