//! The [`Server`]: bind, accept, one thread per connection, route by path.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use ws_proto::close::CloseCode;
use ws_proto::connection::{CompressionConfig, Config, Connection};
use ws_proto::handshake::policy::{AcceptPolicy, PolicyError};
use ws_proto::handshake::{
    write_accept, write_reject, HandshakeError, Limits, Reject, Request, ServerHandshake,
};

use crate::http::{HttpRequest, HttpResponse};
use crate::overload::AcceptFailures;
use crate::stream::Stream;
use crate::websocket::{RequestInfo, Transport, WebSocket, Writer};

/// Every setting of the server, with ASP.NET Core's names where it has one.
///
/// ```
/// use std::time::Duration;
/// use ws_server::Options;
///
/// let options = Options::default();
/// assert_eq!(options.keep_alive_interval, Duration::from_secs(120));
/// assert_eq!(options.receive_buffer_size, 4096);
/// assert_eq!(options.bind, "127.0.0.1:5000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Address to listen on. Default `127.0.0.1:5000`.
    pub bind: String,
    /// Send a ping this often so proxies keep the connection open. Default
    /// 2 minutes; zero disables keep-alive pings.
    pub keep_alive_interval: Duration,
    /// Fail the connection (close 1011, then drop it without waiting for
    /// the peer's close) if a keep-alive ping gets no pong within this time.
    /// Default `None` (off). Needs a non-zero `keep_alive_interval`.
    pub keep_alive_timeout: Option<Duration>,
    /// Bytes asked for by one socket read. Default 4 KiB.
    pub receive_buffer_size: usize,
    /// Which origins may open a WebSocket and which subprotocol is chosen:
    /// `ws_proto`'s policy, the same for every driver. Default: every
    /// origin, no subprotocol.
    pub policy: AcceptPolicy,
    /// Largest message accepted, summed over its fragments; a larger one
    /// fails the connection with 1009. Default 16 MiB.
    pub max_message_size: usize,
    /// Largest frame payload accepted; a larger one fails the connection
    /// with 1009. Default 16 MiB.
    pub max_frame_size: usize,
    /// A client must complete its opening handshake within this time, or
    /// the TCP connection is closed without an answer. Default 10 s.
    pub handshake_timeout: Duration,
    /// Most connections served at once (WebSocket or plain HTTP); the ones
    /// beyond get `503`. Default 1024.
    pub max_connections: usize,
    /// Writing one message may take at most this long; a peer that does not
    /// read is dropped after it. Default 30 s.
    pub write_timeout: Duration,
    /// After sending a close frame, wait this long for the peer's. Default
    /// 5 s.
    pub close_timeout: Duration,
    /// On shutdown, wait this long for the close handshakes before cutting
    /// the remaining connections. Default 5 s.
    pub shutdown_timeout: Duration,
    /// Largest request head (request line and header fields). Default 8 KiB;
    /// a larger one gets `431`.
    pub max_head_size: usize,
    /// Stack size of each connection thread. Default 128 KiB: the echo
    /// handler needs under 32 KiB (see docs/performance.md); a handler
    /// with deep recursion or large locals needs more.
    pub thread_stack_size: usize,
    /// How hard to compress when a client negotiates permessage-deflate
    /// (enabled by [`AcceptPolicy::deflate`](ws_proto::handshake::policy::AcceptPolicy::deflate),
    /// off by default): level 6 and memory level 5, the settings
    /// python-websockets chose for servers holding many connections.
    pub compression: CompressionConfig,
    /// Answer a client's close frame with its reason as well as its code
    /// (the bundled echo server does, as ASP.NET Core's sample does).
    /// Default `false`: the code only.
    pub echo_close_reason: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bind: "127.0.0.1:5000".into(),
            keep_alive_interval: Duration::from_secs(120),
            keep_alive_timeout: None,
            receive_buffer_size: 4096,
            policy: AcceptPolicy::default(),
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            write_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
            max_head_size: 8192,
            thread_stack_size: 128 << 10,
            compression: CompressionConfig {
                mem_level: 5,
                ..CompressionConfig::default()
            },
            echo_close_reason: false,
        }
    }
}

impl Options {
    /// The `ws_proto` connection settings these options imply.
    pub fn connection_config(&self) -> Config {
        Config {
            max_frame_size: self.max_frame_size,
            max_message_size: self.max_message_size,
            keep_alive_interval: (!self.keep_alive_interval.is_zero())
                .then_some(self.keep_alive_interval),
            keep_alive_timeout: self.keep_alive_timeout.filter(|t| !t.is_zero()),
            close_timeout: self.close_timeout,
            receive_buffer_size: self.receive_buffer_size,
            compression: self.compression,
            echo_close_reason: self.echo_close_reason,
            ..Config::default()
        }
    }

    /// Refuses settings that cannot work, naming the setting: a zero
    /// message or frame size, a keep-alive timeout without an interval, an
    /// allowed origin that is not `scheme://host[:port]`, a subprotocol
    /// that is not an HTTP token, a zero connection limit.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_server::{Options, OptionsError};
    ///
    /// assert_eq!(Options::default().validate(), Ok(()));
    /// let options = Options { max_message_size: 0, ..Options::default() };
    /// assert_eq!(options.validate(), Err(OptionsError::Zero("max_message_size")));
    /// let options = Options {
    ///     keep_alive_interval: Duration::ZERO,
    ///     keep_alive_timeout: Some(Duration::from_secs(5)),
    ///     ..Options::default()
    /// };
    /// assert_eq!(options.validate(), Err(OptionsError::KeepAliveTimeoutWithoutInterval));
    /// ```
    pub fn validate(&self) -> Result<(), OptionsError> {
        for (name, value) in [
            ("max_message_size", self.max_message_size),
            ("max_frame_size", self.max_frame_size),
            ("receive_buffer_size", self.receive_buffer_size),
            ("max_connections", self.max_connections),
            ("max_head_size", self.max_head_size),
        ] {
            if value == 0 {
                return Err(OptionsError::Zero(name));
            }
        }
        if self.keep_alive_timeout.is_some_and(|t| !t.is_zero())
            && self.keep_alive_interval.is_zero()
        {
            return Err(OptionsError::KeepAliveTimeoutWithoutInterval);
        }
        if self.compression.level > 9 {
            return Err(OptionsError::CompressionLevel(self.compression.level));
        }
        if !(1..=9).contains(&self.compression.mem_level) {
            return Err(OptionsError::CompressionMemLevel(
                self.compression.mem_level,
            ));
        }
        self.policy.validate().map_err(OptionsError::Policy)
    }
}

/// A setting [`Options::validate`] refuses.
///
/// ```
/// use ws_server::OptionsError;
/// assert!(OptionsError::Zero("max_frame_size").to_string().contains("max_frame_size"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionsError {
    /// A size or count that must be at least 1 (the field's name).
    Zero(&'static str),
    /// `keep_alive_timeout` is set but `keep_alive_interval` is zero, so no
    /// ping would ever be sent for the timeout to wait on.
    KeepAliveTimeoutWithoutInterval,
    /// An allowed origin or a subprotocol the policy can never match, or
    /// window bits outside 8..=15.
    Policy(PolicyError),
    /// A compression level over 9.
    CompressionLevel(u8),
    /// A compression memory level outside 1..=9.
    CompressionMemLevel(u8),
}

impl std::fmt::Display for OptionsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionsError::Zero(name) => write!(f, "{name} must be at least 1"),
            OptionsError::KeepAliveTimeoutWithoutInterval => f.write_str(
                "keep_alive_timeout needs a non-zero keep_alive_interval (no ping would be sent)",
            ),
            OptionsError::Policy(e) => write!(f, "{e}"),
            OptionsError::CompressionLevel(l) => {
                write!(f, "compression level {l} is not in 0..=9")
            }
            OptionsError::CompressionMemLevel(l) => {
                write!(f, "compression memory level {l} is not in 1..=9")
            }
        }
    }
}

impl std::error::Error for OptionsError {}

/// Why [`accept`] did not produce a WebSocket. Where an HTTP error answer
/// was due, it has been sent.
#[derive(Debug)]
pub enum AcceptError {
    /// The transport failed or reached end-of-file during the handshake.
    Io(io::Error),
    /// The client did not complete its handshake in time; no answer sent.
    Timeout,
    /// The request was refused with this status (400, 403, 426, 431, ...)
    /// and reason.
    Rejected {
        /// The HTTP status sent.
        status: u16,
        /// Why, as sent in the body.
        reason: String,
    },
}

impl std::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcceptError::Io(e) => write!(f, "transport error during the handshake: {e}"),
            AcceptError::Timeout => f.write_str("handshake timed out"),
            AcceptError::Rejected { status, reason } => {
                write!(f, "refused with {status}: {reason}")
            }
        }
    }
}

impl std::error::Error for AcceptError {}

/// Reads a request head within `deadline`, into an owned handshake buffer.
fn read_head<S: Transport>(
    stream: &S,
    deadline: Instant,
    options: &Options,
) -> Result<ServerHandshake, HeadOutcome> {
    let mut hs = ServerHandshake::new(Limits {
        max_head_bytes: options.max_head_size,
        ..Limits::default()
    });
    let mut buf = vec![0u8; options.receive_buffer_size.clamp(512, 16 << 10)];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadOutcome::Timeout);
        }
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .map_err(HeadOutcome::Io)?;
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(HeadOutcome::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            Ok(n) => match hs.feed(&buf[..n]) {
                Ok(true) => return Ok(hs),
                Ok(false) => {}
                Err(e) => return Err(HeadOutcome::Bad(e)),
            },
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(HeadOutcome::Io(e)),
        }
    }
}

enum HeadOutcome {
    Io(io::Error),
    Timeout,
    Bad(HandshakeError),
}

/// Writes all of `bytes` through a [`Transport`] (the server's answers and
/// the client's request head).
pub(crate) fn write_all<S: Transport>(stream: &S, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes an HTTP refusal and returns the matching error.
fn reject<S: Transport>(stream: &S, options: &Options, status: u16, reason: &str) -> AcceptError {
    let extra: &[(&str, &str)] = match status {
        503 => &[("Retry-After", "1")],
        405 => &[("Allow", "GET, HEAD")],
        _ => &[],
    };
    let mut out = vec![0u8; 512 + reason.len()];
    if let Ok(n) = write_reject(
        &Reject {
            status,
            reason,
            extra_headers: extra,
        },
        &mut out,
    ) {
        let _ = stream.set_write_timeout(Some(options.write_timeout.max(Duration::from_millis(1))));
        let _ = write_all(stream, &out[..n]);
    }
    AcceptError::Rejected {
        status,
        reason: reason.to_owned(),
    }
}

/// Checks a parsed request against the policy and answers it: `101` and a
/// [`WebSocket`], or a refusal (403 for a disallowed origin), handing the
/// stream back so the caller can close it gently.
fn upgrade<S: Transport>(
    stream: S,
    request: &Request<'_>,
    leftover: &[u8],
    options: &Options,
    peer: Option<SocketAddr>,
) -> Result<WebSocket<S>, (AcceptError, S)> {
    let decision = match options.policy.evaluate(request) {
        Ok(decision) => decision,
        Err(refusal) => {
            let error = reject(&stream, options, refusal.status(), refusal.reason());
            return Err((error, stream));
        }
    };
    // The subprotocol and permessage-deflate answer the policy chose.
    let accept = decision.accept();
    let conn = match Connection::server_with(options.connection_config(), decision.extensions) {
        Ok(conn) => conn,
        Err(_) => {
            let error = reject(&stream, options, 500, "compression settings out of range");
            return Err((error, stream));
        }
    };
    let mut out = [0u8; 1024];
    let n = match write_accept(request, &accept, &mut out) {
        Ok(n) => n,
        Err(_) => {
            let error = reject(&stream, options, 500, "handshake answer too large");
            return Err((error, stream));
        }
    };
    if let Err(e) = stream
        .set_write_timeout(Some(options.write_timeout.max(Duration::from_millis(1))))
        .and_then(|_| write_all(&stream, &out[..n]))
    {
        return Err((AcceptError::Io(e), stream));
    }
    let info = RequestInfo {
        path: request.path().to_owned(),
        host: request.host().to_owned(),
        origin: request.origin().map(str::to_owned),
        subprotocol: decision.subprotocol.map(str::to_owned),
        peer,
    };
    let mut ws = WebSocket::with_info(stream, conn, leftover, info);
    ws.set_receive_buffer_size(options.receive_buffer_size);
    ws.set_write_timeout(Some(options.write_timeout));
    Ok(ws)
}

/// Performs the server side of the opening handshake on `stream` with the
/// given options (origin check, subprotocol choice, limits, handshake
/// timeout), without any routing: every path is accepted. For a server with
/// routes, threads and shutdown, use [`Server`].
pub fn accept<S: Transport>(stream: S, options: &Options) -> Result<WebSocket<S>, AcceptError> {
    let deadline = Instant::now() + options.handshake_timeout;
    let hs = match read_head(&stream, deadline, options) {
        Ok(hs) => hs,
        Err(HeadOutcome::Io(e)) => return Err(AcceptError::Io(e)),
        Err(HeadOutcome::Timeout) => return Err(AcceptError::Timeout),
        Err(HeadOutcome::Bad(e)) => return Err(reject(&stream, options, e.status(), e.reason())),
    };
    match hs.request() {
        Ok(request) => upgrade(stream, &request, hs.leftover(), options, None).map_err(|e| e.0),
        Err(e) => Err(reject(&stream, options, e.status(), e.reason())),
    }
}

/// A WebSocket route's handler: runs on the connection's own thread for as
/// long as the connection lives. When it returns, the server closes the
/// connection (1000) if the handler did not; if it panics, the panic is
/// logged and the connection closed with 1011.
pub type WsHandler = Arc<dyn Fn(&mut WebSocket<Stream>) + Send + Sync + 'static>;

/// A plain HTTP route's handler (GET and HEAD only).
pub type HttpHandler = Arc<dyn Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static>;

/// Builds a [`Server`]: options and routes.
///
/// ```no_run
/// use ws_server::Server;
///
/// let server = Server::builder()
///     .bind("127.0.0.1:0")
///     .websocket("/ws", |ws| {
///         while let Ok(Some(message)) = ws.recv() {
///             if ws.send(&message).is_err() {
///                 break;
///             }
///         }
///     })
///     .build()
///     .unwrap();
/// println!("listening on {}", server.local_addr());
/// server.run().unwrap();
/// ```
#[derive(Default)]
pub struct ServerBuilder {
    options: Options,
    ws_routes: HashMap<String, WsHandler>,
    http_routes: HashMap<String, HttpHandler>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl ServerBuilder {
    /// Replaces every option at once.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }
    /// See [`Options::bind`]; `127.0.0.1:0` picks a free port.
    pub fn bind(mut self, addr: impl Into<String>) -> Self {
        self.options.bind = addr.into();
        self
    }
    /// See [`Options::keep_alive_interval`].
    pub fn keep_alive_interval(mut self, interval: Duration) -> Self {
        self.options.keep_alive_interval = interval;
        self
    }
    /// See [`Options::keep_alive_timeout`].
    pub fn keep_alive_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.keep_alive_timeout = timeout;
        self
    }
    /// See [`Options::receive_buffer_size`].
    pub fn receive_buffer_size(mut self, size: usize) -> Self {
        self.options.receive_buffer_size = size;
        self
    }
    /// Adds to the policy's
    /// [`allowed_origins`](ws_proto::handshake::policy::AcceptPolicy::allowed_origins).
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.options.policy.allowed_origins.push(origin.into());
        self
    }
    /// Adds to the policy's
    /// [`subprotocols`](ws_proto::handshake::policy::AcceptPolicy::subprotocols).
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> Self {
        self.options.policy.subprotocols.push(protocol.into());
        self
    }
    /// Serves every route over TLS (`https://`, `wss://`) with this
    /// configuration; see [`crate::tls::server_config_from_pem_files`].
    ///
    /// ```
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let config = ws_server::tls::server_config_from_pem(
    ///     cert.cert.pem().as_bytes(),
    ///     cert.key_pair.serialize_pem().as_bytes(),
    /// )
    /// .unwrap();
    /// let server = ws_server::Server::builder().bind("127.0.0.1:0").tls(config).build().unwrap();
    /// println!("https://{}/", server.local_addr());
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }
    /// See [`Options::thread_stack_size`].
    ///
    /// ```
    /// let server = ws_server::Server::builder()
    ///     .bind("127.0.0.1:0")
    ///     .thread_stack_size(64 << 10)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(server.options().thread_stack_size, 64 << 10);
    /// ```
    pub fn thread_stack_size(mut self, size: usize) -> Self {
        self.options.thread_stack_size = size;
        self
    }
    /// See [`Options::echo_close_reason`].
    ///
    /// ```
    /// let server = ws_server::Server::builder()
    ///     .bind("127.0.0.1:0")
    ///     .echo_close_reason(true)
    ///     .build()
    ///     .unwrap();
    /// assert!(server.options().echo_close_reason);
    /// ```
    pub fn echo_close_reason(mut self, on: bool) -> Self {
        self.options.echo_close_reason = on;
        self
    }
    /// See [`Options::max_message_size`].
    pub fn max_message_size(mut self, size: usize) -> Self {
        self.options.max_message_size = size;
        self
    }
    /// See [`Options::max_frame_size`].
    pub fn max_frame_size(mut self, size: usize) -> Self {
        self.options.max_frame_size = size;
        self
    }
    /// See [`Options::handshake_timeout`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.options.handshake_timeout = timeout;
        self
    }
    /// See [`Options::max_connections`].
    pub fn max_connections(mut self, max: usize) -> Self {
        self.options.max_connections = max;
        self
    }
    /// See [`Options::write_timeout`].
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.options.write_timeout = timeout;
        self
    }
    /// See [`Options::close_timeout`].
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.options.close_timeout = timeout;
        self
    }
    /// See [`Options::shutdown_timeout`].
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.options.shutdown_timeout = timeout;
        self
    }

    /// Serves WebSockets on `path` (matched exactly, query string ignored).
    /// A plain HTTP request to it gets `400`.
    pub fn websocket(
        mut self,
        path: impl Into<String>,
        handler: impl Fn(&mut WebSocket<Stream>) + Send + Sync + 'static,
    ) -> Self {
        self.ws_routes.insert(path.into(), Arc::new(handler));
        self
    }

    /// Serves plain HTTP GET and HEAD on `path` (matched exactly, query
    /// string ignored).
    pub fn http(
        mut self,
        path: impl Into<String>,
        handler: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.http_routes.insert(path.into(), Arc::new(handler));
        self
    }

    /// Binds the listening socket.
    ///
    /// Fails with `InvalidInput` if [`Options::validate`] refuses a setting,
    /// and with a message naming the address if it cannot be bound.
    pub fn build(self) -> io::Result<Server> {
        self.options
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let bind = self.options.bind.as_str();
        let listener = TcpListener::bind(bind)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {bind}: {e}")))?;
        let local_addr = listener.local_addr()?;
        Ok(Server {
            listener,
            local_addr,
            shared: Arc::new(Shared {
                options: self.options,
                ws_routes: self.ws_routes,
                http_routes: self.http_routes,
                shutdown: AtomicBool::new(false),
                wake_addr: wake_addr(local_addr),
                open: Mutex::new(HashMap::new()),
                drained: Condvar::new(),
                next_id: AtomicU64::new(0),
                #[cfg(feature = "tls")]
                tls: self.tls,
            }),
        })
    }
}

/// Where to connect to wake up a blocked `accept`.
fn wake_addr(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

struct Shared {
    options: Options,
    ws_routes: HashMap<String, WsHandler>,
    http_routes: HashMap<String, HttpHandler>,
    shutdown: AtomicBool,
    wake_addr: SocketAddr,
    /// Every open connection; WebSockets with their writer, through which
    /// shutdown sends 1001 and later cuts the socket (no second file
    /// descriptor is kept for it).
    open: Mutex<HashMap<u64, Option<Writer<Stream>>>>,
    drained: Condvar,
    next_id: AtomicU64,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Shared {
    fn tls_enabled(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    fn open(&self) -> MutexGuard<'_, HashMap<u64, Option<Writer<Stream>>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes a connection from the open set when its thread ends, panics
/// included.
struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.shared.open();
        open.remove(&self.id);
        if open.is_empty() {
            self.shared.drained.notify_all();
        }
    }
}

/// A bound server, ready to [`run`](Self::run).
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Server`] from any thread (a signal handler included).
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Asks the server to stop: it stops accepting, sends close 1001 to
    /// every open WebSocket and waits up to the shutdown timeout. Returns at
    /// once; [`Server::run`] returns when that is done.
    pub fn shutdown(&self) {
        if self.shared.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        // Each connection's reader sees the peer's close reply and ends its
        // handler; nothing needs to wake up to notice the shutdown.
        let writers: Vec<_> = self.shared.open().values().flatten().cloned().collect();
        // A writer busy with a slow peer holds its connection for up to the
        // write timeout: those get their 1001 from a helper thread, so one
        // slow peer does not delay the others' close.
        let busy: Vec<_> = writers
            .into_iter()
            .filter(|w| !w.try_close(CloseCode::GOING_AWAY, GOING_AWAY_REASON))
            .collect();
        if !busy.is_empty() {
            let spawned = thread::Builder::new()
                .name("ws-shutdown".into())
                .stack_size(64 << 10)
                .spawn(move || busy.iter().for_each(going_away));
            if let Err(e) = spawned {
                warn!("could not start the shutdown helper: {e}");
            }
        }
        // Wakes the accept loop, which checks the flag after each accept.
        if let Err(e) = TcpStream::connect_timeout(&self.shared.wake_addr, Duration::from_secs(1)) {
            warn!("could not wake the accept loop: {e}");
        }
    }

    /// Whether shutdown was asked for.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutdown.load(Ordering::Acquire)
    }
}

impl Server {
    /// A builder with the default options and no routes.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address actually bound (with the real port for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.shared.clone(),
        }
    }

    /// Runs the server on a background thread.
    pub fn spawn(self) -> io::Result<RunningServer> {
        let local_addr = self.local_addr;
        let handle = self.handle();
        let thread = thread::Builder::new()
            .name("ws-server-accept".into())
            .spawn(move || self.run())?;
        Ok(RunningServer {
            local_addr,
            handle,
            thread: Some(thread),
        })
    }

    /// Accepts connections until [`ShutdownHandle::shutdown`], then shuts
    /// down gracefully: every open WebSocket gets close 1001, and whatever
    /// is still open after the shutdown timeout is cut.
    pub fn run(self) -> io::Result<()> {
        let shared = self.shared;
        info!("listening on {}", self.local_addr);
        let mut failures = AcceptFailures::new();
        loop {
            let stream = self.listener.accept().map(|(stream, _)| stream);
            if shared.shutdown.load(Ordering::Acquire) {
                break;
            }
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: the listener itself is fine.
                    let pause = failures.failed(&self.listener, &e);
                    if !pause.is_zero() {
                        thread::sleep(pause);
                    }
                    continue;
                }
            };
            let peer = stream.peer_addr().ok();
            // Small frames go out at once rather than wait for an ACK.
            let _ = stream.set_nodelay(true);
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            {
                let mut open = shared.open();
                if open.len() >= shared.options.max_connections {
                    drop(open);
                    refuse_busy(stream, &shared, peer);
                    continue;
                }
                open.insert(id, None);
            }
            let registration = Registration {
                shared: shared.clone(),
                id,
            };
            let spawned = thread::Builder::new()
                .name(format!("ws-conn-{id}"))
                .stack_size(shared.options.thread_stack_size)
                .spawn(move || {
                    serve(&registration, stream, peer);
                    drop(registration);
                });
            if let Err(e) = spawned {
                // The closure, and with it the registration, was dropped.
                error!("{}: could not start a thread: {e}", show(peer));
            }
        }
        drain(&shared);
        Ok(())
    }
}

/// Waits for open connections to finish their close handshakes, then cuts
/// the rest.
fn drain(shared: &Shared) {
    let count = shared.open().len();
    if count > 0 {
        info!("shutting down: closing {count} open connection(s)");
    }
    let deadline = Instant::now() + shared.options.shutdown_timeout;
    let mut open = shared.open();
    while !open.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        open = shared
            .drained
            .wait_timeout(open, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    if !open.is_empty() {
        warn!(
            "shutdown timeout: cutting {} connection(s) still open",
            open.len()
        );
        for writer in open.values().flatten() {
            writer.abort();
        }
        // Their threads now fail their next read or write and exit.
        let deadline = Instant::now() + Duration::from_secs(1);
        while !open.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            open = shared
                .drained
                .wait_timeout(open, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
    info!("server stopped");
}

/// Answers `503` on the accept thread without reading the request, briefly,
/// so that a flood of connections cannot stall accepting for long.
fn refuse_busy(stream: TcpStream, shared: &Shared, peer: Option<SocketAddr>) {
    if shared.tls_enabled() {
        // A TLS client could not read a plain answer.
        warn!("{}: dropped: too many connections", show(peer));
        return;
    }
    let stream = Stream::Plain(stream);
    let options = &shared.options;
    let quick = Options {
        write_timeout: Duration::from_millis(100),
        ..options.clone()
    };
    reject(&stream, &quick, 503, "too many connections");
    warn!("{}: refused 503: too many connections", show(peer));
    drain_close(stream);
}

/// Closes after a refusal on the accept thread without waiting for the
/// client: a lingering read there (even 50 ms) let a burst of clients that
/// keep their sockets open stall accepting for 50 ms each. What the client
/// already sent is read without blocking (so the close is a FIN, not a
/// reset that could destroy the answer); a request still in flight may turn
/// the close into a reset, which the client also sees at once.
fn drain_close(stream: Stream) {
    let _ = stream.tcp().shutdown(Shutdown::Write);
    if stream.tcp().set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 4096];
        for _ in 0..4 {
            match Transport::read(&stream, &mut sink) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }
}

/// Closes after an HTTP answer. Reading what the client sent meanwhile
/// (its request, if it was not read) before closing avoids a TCP reset that
/// could destroy the answer before the client reads it.
fn linger_close(stream: Stream, wait: Duration) {
    let _ = stream.tcp().shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(wait));
    let mut sink = [0u8; 4096];
    for _ in 0..4 {
        match Transport::read(&stream, &mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

fn show(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "?".into(), |p| p.to_string())
}

/// The route part of a request target: no query, no fragment.
fn route_of(target: &str) -> &str {
    target.split(['?', '#']).next().unwrap_or(target)
}

/// Method, target and `Host` of any well-formed request head, WebSocket or
/// not, from the same HTTP parser `ws_proto` uses (which skips the empty
/// lines RFC 9112 §2.2 lets a request start with).
fn request_line(head: &[u8]) -> Option<(String, String, Option<String>)> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    let host = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::to_owned);
    Some((request.method?.to_owned(), request.path?.to_owned(), host))
}

/// Refuses and closes a connection before any WebSocket exists.
fn refuse(stream: Stream, options: &Options, status: u16, reason: &str) {
    reject(&stream, options, status, reason);
    linger_close(stream, Duration::from_millis(100));
}

/// One connection, from the first byte to the close.
fn serve(registration: &Registration, tcp: TcpStream, peer: Option<SocketAddr>) {
    let shared = &*registration.shared;
    let options = &shared.options;
    let who = show(peer);
    let Some(stream) = secure(shared, tcp, &who) else {
        return;
    };
    let deadline = Instant::now() + options.handshake_timeout;
    let hs = match read_head(&stream, deadline, options) {
        Ok(hs) => hs,
        Err(HeadOutcome::Timeout) => {
            info!("{who}: dropped: no complete request within the handshake timeout");
            return;
        }
        Err(HeadOutcome::Io(e)) => {
            debug!("{who}: gone before a complete request: {e}");
            return;
        }
        Err(HeadOutcome::Bad(e)) => {
            info!("{who}: refused {}: {e}", e.status());
            refuse(stream, options, e.status(), e.reason());
            return;
        }
    };
    let request = hs.request();
    let (method, target, host) = match (&request, request_line(hs.head())) {
        (Ok(request), _) => (
            "GET".to_owned(),
            request.path().to_owned(),
            Some(request.host().to_owned()),
        ),
        (Err(_), Some(line)) => line,
        (Err(e), None) => {
            info!("{who}: refused 400: {e}");
            refuse(stream, options, 400, e.reason());
            return;
        }
    };
    let route = route_of(&target);
    if let Some(handler) = shared.ws_routes.get(route) {
        match request {
            Ok(request) => serve_websocket(registration, stream, peer, &request, &hs, handler),
            Err(HandshakeError::MissingUpgrade) => {
                info!("{who}: refused 400: plain HTTP request to a WebSocket endpoint");
                let reason = "this endpoint expects a WebSocket upgrade request";
                refuse(stream, options, 400, reason);
            }
            Err(e) => {
                info!("{who}: refused {}: {e}", e.status());
                refuse(stream, options, e.status(), e.reason());
            }
        }
    } else if let Some(handler) = shared.http_routes.get(route) {
        if method != "GET" && method != "HEAD" {
            info!("{who}: {method} {target}: refused 405");
            refuse(stream, options, 405, "only GET and HEAD are served here");
            return;
        }
        let request = HttpRequest {
            method,
            path: target,
            host,
        };
        serve_http(shared, stream, peer, &request, handler);
    } else {
        info!("{who}: {target}: refused 404: no such route");
        refuse(stream, options, 404, "not found");
    }
}

/// Runs the TLS handshake if the server has a certificate.
fn secure(shared: &Shared, tcp: TcpStream, who: &str) -> Option<Stream> {
    #[cfg(feature = "tls")]
    if let Some(config) = &shared.tls {
        return match crate::tls::TlsStream::accept(
            tcp,
            config.clone(),
            shared.options.handshake_timeout,
        ) {
            Ok(tls) => Some(Stream::Tls(Box::new(tls))),
            Err(e) => {
                info!("{who}: TLS handshake failed: {e}");
                None
            }
        };
    }
    let _ = (shared, who);
    Some(Stream::Plain(tcp))
}

/// `io::Write` over a shared transport, for the HTTP answer writer.
struct WriteTo<'a, S>(&'a S);

impl<S: Transport> io::Write for WriteTo<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn serve_http(
    shared: &Shared,
    stream: Stream,
    peer: Option<SocketAddr>,
    request: &HttpRequest,
    handler: &HttpHandler,
) {
    let who = show(peer);
    let (method, target) = (&request.method, &request.path);
    let response = match panic::catch_unwind(AssertUnwindSafe(|| handler(request))) {
        Ok(response) => response,
        Err(payload) => {
            error!(
                "{who}: {method} {target}: handler panicked: {}",
                panic_message(&*payload)
            );
            HttpResponse::text(500, "internal error")
        }
    };
    let _ = stream.set_write_timeout(Some(shared.options.write_timeout));
    match response.write_to(&mut WriteTo(&stream), method == "HEAD") {
        Ok(()) => info!(
            "{who}: {method} {target} -> {} ({} bytes)",
            response.status,
            response.body.len()
        ),
        Err(e) => info!("{who}: {method} {target}: answer not delivered: {e}"),
    }
    linger_close(stream, Duration::from_millis(100));
}

const GOING_AWAY_REASON: &str = "server shutting down";

/// Starts the close handshake with 1001 for a server shutdown.
fn going_away(writer: &Writer<Stream>) {
    // Fails only if the connection is already closing or gone.
    let _ = writer.close(CloseCode::GOING_AWAY, GOING_AWAY_REASON);
}

fn serve_websocket(
    registration: &Registration,
    stream: Stream,
    peer: Option<SocketAddr>,
    request: &Request<'_>,
    hs: &ServerHandshake,
    handler: &WsHandler,
) {
    let shared = &*registration.shared;
    let options = &shared.options;
    let who = show(peer);
    let path = request.path().to_owned();
    let origin = request.origin().map(str::to_owned);
    let mut ws = match upgrade(stream, request, hs.leftover(), options, peer) {
        Ok(ws) => ws,
        Err((AcceptError::Rejected { status, reason }, stream)) => {
            info!(
                "{who}: {path}: refused {status}: {reason} (origin {})",
                origin.as_deref().unwrap_or("none")
            );
            linger_close(stream, Duration::from_millis(100));
            return;
        }
        Err((e, _)) => {
            info!("{who}: {path}: handshake failed: {e}");
            return;
        }
    };
    {
        let writer = ws.writer();
        let mut open = shared.open();
        open.insert(registration.id, Some(writer.clone()));
        drop(open);
        // A shutdown that began before this connection was registered
        // missed it.
        if shared.shutdown.load(Ordering::Acquire) {
            going_away(&writer);
        }
    }
    info!(
        "{who}: {path}: WebSocket open (origin {}, subprotocol {})",
        origin.as_deref().unwrap_or("none"),
        ws.subprotocol().unwrap_or("none")
    );
    match panic::catch_unwind(AssertUnwindSafe(|| handler(&mut ws))) {
        Ok(()) => {
            let _ = ws.close(CloseCode::NORMAL, "");
        }
        Err(payload) => {
            error!(
                "{who}: {path}: handler panicked: {}",
                panic_message(&*payload)
            );
            let _ = ws.close(CloseCode::INTERNAL_ERROR, "internal error");
        }
    }
    let _ = ws.get_ref().shutdown_transport();
    log_close(&who, &path, &ws);
}

fn log_close(who: &str, path: &str, ws: &WebSocket<Stream>) {
    let stats = ws.stats();
    let show_close = |close: Option<(CloseCode, String)>| match close {
        Some((code, reason)) => format!("{code} {reason:?}"),
        None => "none".to_owned(),
    };
    let how = match ws.failure() {
        Some(e) => format!("failed ({e})"),
        None if ws.received_close().is_none() => match ws.transport_error() {
            Some(e) => format!("dropped ({e})"),
            None => "dropped".into(),
        },
        None => "closed".into(),
    };
    info!(
        "{who}: {path}: WebSocket {how}: close received {}, sent {}; \
         received {} message(s) / {} bytes, sent {} message(s) / {} bytes",
        show_close(ws.received_close()),
        show_close(ws.sent_close()),
        stats.messages_received,
        stats.bytes_received,
        stats.messages_sent,
        stats.bytes_sent
    );
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

/// A server running on a background thread (from [`Server::spawn`]).
pub struct RunningServer {
    local_addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Shuts down gracefully and waits until it is done.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<()> {
        self.handle.shutdown();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the accept thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
