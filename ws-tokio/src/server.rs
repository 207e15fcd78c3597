//! The server role: read the request head ([`Incoming::read`]), decide with
//! ws-proto's [`AcceptPolicy`] (the same policy `ws-server` applies) and
//! answer with ws-proto's `write_accept` / `write_reject`, all within the
//! handshake timeout. [`accept`] does all of it in one call.

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use ws_proto::connection::Config;
use ws_proto::handshake::policy::AcceptPolicy;
use ws_proto::handshake::{
    request_target, write_accept, write_reject, BufferTooSmall, HandshakeError, Limits, Reject,
    Request, ServerHandshake,
};

use crate::core::Core;
use crate::stream::{WebSocketStream, DEFAULT_READ_SIZE};

/// Settings of the server's opening handshake and of the connections it
/// opens.
///
/// ```
/// use std::time::Duration;
/// use ws_tokio::AcceptOptions;
/// use ws_tokio::proto::handshake::policy::AcceptPolicy;
///
/// let options = AcceptOptions {
///     policy: AcceptPolicy { subprotocols: vec!["chat".into()], ..Default::default() },
///     handshake_timeout: Duration::from_secs(5),
///     ..AcceptOptions::default()
/// };
/// options.policy.validate().unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct AcceptOptions {
    /// Allowed origins (others get 403) and the subprotocols spoken. Check
    /// it once with [`AcceptPolicy::validate`] when the server starts.
    pub policy: AcceptPolicy,
    /// Size limits on the request head (431 beyond them).
    pub limits: Limits,
    /// The client must send its whole request head, and take our answer,
    /// within this time; otherwise the transport is dropped without an
    /// answer. Default 10 s.
    pub handshake_timeout: Duration,
    /// The connection's settings (limits, keep-alive, close timeout).
    pub config: Config,
    /// Bytes asked of the transport by one read. Default 4 KiB.
    pub read_buffer_size: usize,
}

impl Default for AcceptOptions {
    fn default() -> Self {
        AcceptOptions {
            policy: AcceptPolicy::default(),
            limits: Limits::default(),
            handshake_timeout: Duration::from_secs(10),
            config: Config::default(),
            read_buffer_size: DEFAULT_READ_SIZE,
        }
    }
}

/// Why the server side of the handshake did not open a connection. Where
/// an HTTP answer was due, it has been sent.
///
/// ```
/// use ws_tokio::AcceptError;
/// let e = AcceptError::Rejected { status: 403, reason: "origin not allowed".into() };
/// assert_eq!(e.to_string(), "refused with 403: origin not allowed");
/// ```
#[derive(Debug)]
pub enum AcceptError {
    /// The transport failed or ended during the handshake.
    Io(io::Error),
    /// The handshake did not finish within
    /// [`AcceptOptions::handshake_timeout`]; nothing was answered.
    Timeout,
    /// The request was refused with this status (400, 403, 426, 431...) and
    /// reason.
    Rejected {
        /// The HTTP status sent.
        status: u16,
        /// The reason, as sent in the body.
        reason: String,
    },
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::Io(e) => write!(f, "transport error during the handshake: {e}"),
            AcceptError::Timeout => f.write_str("handshake timed out"),
            AcceptError::Rejected { status, reason } => {
                write!(f, "refused with {status}: {reason}")
            }
        }
    }
}

impl std::error::Error for AcceptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AcceptError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for AcceptError {
    fn from(e: io::Error) -> Self {
        AcceptError::Io(e)
    }
}

/// Runs `write` on a buffer that grows until it fits (up to 1 MiB): the
/// handshake writers are allocation-free and report `BufferTooSmall`.
pub(crate) fn write_growing(
    mut write: impl FnMut(&mut [u8]) -> Result<usize, BufferTooSmall>,
) -> Option<Vec<u8>> {
    let mut out = vec![0u8; 1024];
    loop {
        match write(&mut out) {
            Ok(n) => {
                out.truncate(n);
                return Some(out);
            }
            Err(BufferTooSmall) if out.len() < 1 << 20 => out.resize(out.len() * 2, 0),
            Err(BufferTooSmall) => return None,
        }
    }
}

/// Performs the server's opening handshake on `stream`: every path is
/// accepted; the origin and subprotocol are decided by
/// [`AcceptOptions::policy`]. Requests that are not WebSocket upgrades, or
/// break a limit, are refused with the matching status. For routing (a
/// page on `/`, WebSockets on `/ws`) use [`Incoming`].
///
/// ```no_run
/// use ws_tokio::{accept, AcceptOptions};
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
/// let options = std::sync::Arc::new(AcceptOptions::default());
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let options = options.clone();
///     tokio::spawn(async move {
///         if let Ok(mut ws) = accept(tcp, &options).await {
///             while let Some(Ok(message)) = ws.recv().await {
///                 if ws.send(message).await.is_err() { break }
///             }
///         }
///     });
/// }
/// # }
/// ```
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    options: &AcceptOptions,
) -> Result<WebSocketStream<S>, AcceptError> {
    Incoming::read(stream, options).await?.accept().await
}

/// A request head read from a new connection, not answered yet: route it,
/// then [`accept`](Self::accept) it as a WebSocket or
/// [`respond`](Self::respond) with plain HTTP. The handshake timeout runs
/// from [`read`](Self::read) to the answer.
///
/// ```
/// use ws_tokio::{client_handshake, AcceptOptions, ClientOptions, Incoming};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (a, b) = tokio::io::duplex(4096);
/// tokio::spawn(async move { client_handshake(b, "h", "/ws?room=1", &ClientOptions::default()).await });
/// let options = AcceptOptions::default();
/// let incoming = Incoming::read(a, &options).await?;
/// assert_eq!(incoming.path(), "/ws?room=1");
/// assert!(incoming.is_websocket());
/// let _ws = incoming.accept().await?;
/// # Ok(()) }
/// ```
pub struct Incoming<'o, S> {
    stream: S,
    hs: ServerHandshake,
    options: &'o AcceptOptions,
    deadline: Instant,
}

impl<S> fmt::Debug for Incoming<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("path", &request_target(self.hs.head()).unwrap_or(""))
            .finish_non_exhaustive()
    }
}

impl<'o, S: AsyncRead + AsyncWrite + Unpin> Incoming<'o, S> {
    /// Reads a request head from `stream`, within the handshake timeout
    /// and the size limits (a head over them is refused with 431).
    ///
    /// ```
    /// use ws_tokio::{AcceptError, AcceptOptions, Incoming};
    /// use ws_tokio::proto::handshake::Limits;
    /// use tokio::io::AsyncWriteExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, mut b) = tokio::io::duplex(4096);
    /// b.write_all(&[b'a'; 300]).await.unwrap();
    /// let options = AcceptOptions { limits: Limits { max_head_bytes: 256, ..Limits::default() }, ..Default::default() };
    /// let err = Incoming::read(a, &options).await.unwrap_err();
    /// assert!(matches!(err, AcceptError::Rejected { status: 431, .. }));
    /// # }
    /// ```
    pub async fn read(mut stream: S, options: &'o AcceptOptions) -> Result<Self, AcceptError> {
        let deadline = Instant::now() + options.handshake_timeout;
        let mut hs = ServerHandshake::new(options.limits);
        let mut buf = vec![0u8; options.read_buffer_size.clamp(512, 16 << 10)];
        let outcome = tokio::time::timeout_at(deadline, async {
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into()));
                }
                if hs.feed(&buf[..n])? {
                    return Ok(());
                }
            }
        })
        .await;
        match outcome {
            Err(_) => Err(AcceptError::Timeout),
            Ok(Ok(())) => Ok(Incoming {
                stream,
                hs,
                options,
                deadline,
            }),
            Ok(Err(HeadError::Io(e))) => Err(AcceptError::Io(e)),
            Ok(Err(HeadError::Bad(e))) => Err(refuse(&mut stream, deadline, &e.rejection()).await),
        }
    }

    /// The request target (`/ws?room=1`).
    ///
    /// See [`Incoming`] for an example.
    pub fn path(&self) -> &str {
        request_target(self.hs.head()).unwrap_or("")
    }

    /// The raw request head.
    ///
    /// ```
    /// # use ws_tokio::{client_handshake, AcceptOptions, ClientOptions, Incoming};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (a, b) = tokio::io::duplex(4096);
    /// # tokio::spawn(async move { client_handshake(b, "h", "/", &ClientOptions::default()).await });
    /// let options = AcceptOptions::default();
    /// let incoming = Incoming::read(a, &options).await?;
    /// assert!(incoming.head().starts_with(b"GET / HTTP/1.1\r\n"));
    /// # Ok(()) }
    /// ```
    pub fn head(&self) -> &[u8] {
        self.hs.head()
    }

    /// The parsed WebSocket request, or why it is not a valid one
    /// ([`HandshakeError::MissingUpgrade`]: plain HTTP).
    ///
    /// ```
    /// # use ws_tokio::{client_handshake, AcceptOptions, ClientOptions, Incoming};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (a, b) = tokio::io::duplex(4096);
    /// # tokio::spawn(async move { client_handshake(b, "chat.example", "/", &ClientOptions::default()).await });
    /// let options = AcceptOptions::default();
    /// let incoming = Incoming::read(a, &options).await?;
    /// assert_eq!(incoming.request()?.host(), "chat.example");
    /// # Ok(()) }
    /// ```
    pub fn request(&self) -> Result<Request<'_>, HandshakeError> {
        self.hs.request()
    }

    /// Whether the request asks for a WebSocket (it may still be invalid:
    /// [`accept`](Self::accept) refuses it then).
    ///
    /// See [`Incoming`] for an example.
    pub fn is_websocket(&self) -> bool {
        !matches!(self.hs.request(), Err(HandshakeError::MissingUpgrade))
    }

    /// Answers with `101 Switching Protocols`, or refuses: an invalid
    /// request with its status (400, 426...), a disallowed origin with 403.
    ///
    /// See [`Incoming`] for an example.
    pub async fn accept(self) -> Result<WebSocketStream<S>, AcceptError> {
        let Incoming {
            mut stream,
            hs,
            options,
            deadline,
        } = self;
        let (answer, subprotocol, negotiated) = {
            let request = match hs.request() {
                Ok(request) => request,
                Err(e) => return Err(refuse(&mut stream, deadline, &e.rejection()).await),
            };
            let decision = match options.policy.evaluate(&request) {
                Ok(decision) => decision,
                Err(refusal) => {
                    let reject = Reject {
                        status: refusal.status(),
                        reason: refusal.reason(),
                        extra_headers: &[],
                    };
                    return Err(refuse(&mut stream, deadline, &reject).await);
                }
            };
            // The subprotocol and the permessage-deflate answer, as the
            // policy decided them.
            let accept = decision.accept();
            let answer = write_growing(|out| write_accept(&request, &accept, out));
            (
                answer,
                decision.subprotocol.map(str::to_owned),
                decision.extensions,
            )
        };
        let Some(answer) = answer else {
            let reject = Reject {
                status: 500,
                reason: "handshake answer too large",
                extra_headers: &[],
            };
            return Err(refuse(&mut stream, deadline, &reject).await);
        };
        let core = match Core::server(
            options.config.clone(),
            negotiated,
            hs.leftover(),
            options.read_buffer_size,
        ) {
            Ok(core) => core,
            Err(_) => {
                let reject = Reject {
                    status: 500,
                    reason: "compression settings out of range",
                    extra_headers: &[],
                };
                return Err(refuse(&mut stream, deadline, &reject).await);
            }
        };
        write_all_until(&mut stream, &answer, deadline).await?;
        let mut ws = WebSocketStream::from_core(stream, core);
        ws.set_subprotocol(subprotocol);
        Ok(ws)
    }

    /// Answers with a plain HTTP response and closes: `status`,
    /// `Content-Type: content_type`, `body` (left out for a `HEAD`
    /// request). A content type with a control character is replaced by
    /// `application/octet-stream`.
    ///
    /// ```
    /// # use ws_tokio::{AcceptOptions, Incoming};
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (a, mut b) = tokio::io::duplex(4096);
    /// b.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await?;
    /// let options = AcceptOptions::default();
    /// let incoming = Incoming::read(a, &options).await?;
    /// assert!(!incoming.is_websocket());
    /// incoming.respond(200, "text/plain", b"hello").await?;
    /// let mut answer = String::new();
    /// b.read_to_string(&mut answer).await?;
    /// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nhello"));
    /// # Ok(()) }
    /// ```
    pub async fn respond(
        mut self,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), AcceptError> {
        let head_only = self.hs.head().starts_with(b"HEAD ");
        let content_type = if content_type.bytes().any(|b| b.is_ascii_control()) {
            "application/octet-stream"
        } else {
            content_type
        };
        let status = if (100..=999).contains(&status) {
            status
        } else {
            500
        };
        let mut out = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            ws_proto::handshake::reason_phrase(status),
            body.len()
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(body);
        }
        write_all_until(&mut self.stream, &out, self.deadline).await?;
        let _ = self.stream.shutdown().await;
        Ok(())
    }

    /// Refuses with `status` and `reason` (sent as the text body) and
    /// closes; returns the matching [`AcceptError::Rejected`].
    ///
    /// ```
    /// # use ws_tokio::{AcceptError, AcceptOptions, Incoming};
    /// use tokio::io::AsyncWriteExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (a, mut b) = tokio::io::duplex(4096);
    /// b.write_all(b"GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n").await?;
    /// let options = AcceptOptions::default();
    /// let incoming = Incoming::read(a, &options).await?;
    /// let e = incoming.reject(404, "no such route").await;
    /// assert!(matches!(e, AcceptError::Rejected { status: 404, .. }));
    /// # Ok(()) }
    /// ```
    pub async fn reject(mut self, status: u16, reason: &str) -> AcceptError {
        let reject = Reject {
            status,
            reason,
            extra_headers: &[],
        };
        refuse(&mut self.stream, self.deadline, &reject).await
    }
}

enum HeadError {
    Io(io::Error),
    Bad(HandshakeError),
}

impl From<io::Error> for HeadError {
    fn from(e: io::Error) -> Self {
        HeadError::Io(e)
    }
}

impl From<HandshakeError> for HeadError {
    fn from(e: HandshakeError) -> Self {
        HeadError::Bad(e)
    }
}

async fn write_all_until<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    deadline: Instant,
) -> Result<(), AcceptError> {
    match tokio::time::timeout_at(deadline, async {
        stream.write_all(bytes).await?;
        stream.flush().await
    })
    .await
    {
        Ok(result) => Ok(result?),
        Err(_) => Err(AcceptError::Timeout),
    }
}

/// Sends ws-proto's refusal and closes; returns the error to report.
async fn refuse<S: AsyncWrite + Unpin>(
    stream: &mut S,
    deadline: Instant,
    reject: &Reject<'_>,
) -> AcceptError {
    if let Some(answer) = write_growing(|out| write_reject(reject, out)) {
        // The refusal is best effort: the peer may already be gone.
        if write_all_until(stream, &answer, deadline).await.is_ok() {
            let _ = tokio::time::timeout_at(deadline, stream.shutdown()).await;
        }
    }
    AcceptError::Rejected {
        status: reject.status,
        reason: reject.reason.to_owned(),
    }
}
