//! An axum extractor that upgrades a request to a [`WebSocketStream`]
//! (feature `axum`).
//!
//! The request is checked, the origin and subprotocol decided, and the
//! `101 Switching Protocols` answer written by ws-proto, exactly as for
//! [`accept`](crate::accept): the request head is handed to
//! `ws_proto::handshake::parse_request`, the decision to the shared
//! [`AcceptPolicy`], and the answer's fields are those of
//! `ws_proto::handshake::write_accept`. hyper then hands over the
//! connection.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use ws_tokio::axum::WebSocketUpgrade;
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> axum::response::Response {
//!     upgrade.protocols(["chat"]).on_upgrade(|mut ws| async move {
//!         while let Some(Ok(message)) = ws.recv().await {
//!             if ws.send(message).await.is_err() { break; }
//!         }
//!     })
//! }
//!
//! # #[tokio::main]
//! # async fn main() -> std::io::Result<()> {
//! let app = Router::new().route("/ws", get(ws)).route("/", get(|| async { "hello" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use std::fmt;
use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode, Version};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use ws_proto::connection::Config;
use ws_proto::handshake::policy::AcceptPolicy;
use ws_proto::handshake::{parse_request, write_accept, HandshakeError, Reject};

use crate::core::Core;
use crate::server::write_growing;
use crate::stream::{WebSocketStream, DEFAULT_READ_SIZE};

/// The transport of a connection upgraded through axum.
pub type UpgradedStream = TokioIo<Upgraded>;

/// Extracts a WebSocket upgrade request; answer it with
/// [`on_upgrade`](Self::on_upgrade). See the [module](self) documentation.
pub struct WebSocketUpgrade {
    /// The request head as HTTP/1.1 bytes, for ws-proto's parser.
    head: Vec<u8>,
    on_upgrade: OnUpgrade,
    policy: AcceptPolicy,
    config: Config,
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Why a request could not be upgraded: answered with ws-proto's status
/// and reason (400, 426 with `Sec-WebSocket-Version: 13`, ...).
///
/// ```
/// use axum::response::IntoResponse;
/// use ws_tokio::axum::UpgradeRejection;
/// use ws_tokio::proto::handshake::HandshakeError;
///
/// let response = UpgradeRejection::from(HandshakeError::UnsupportedVersion).into_response();
/// assert_eq!(response.status(), 426);
/// assert_eq!(response.headers()["sec-websocket-version"], "13");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeRejection {
    /// The HTTP status.
    pub status: u16,
    /// The reason, sent as the text body.
    pub reason: &'static str,
}

impl From<HandshakeError> for UpgradeRejection {
    fn from(e: HandshakeError) -> Self {
        UpgradeRejection {
            status: e.status(),
            reason: e.reason(),
        }
    }
}

impl fmt::Display for UpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WebSocket upgrade refused with {}: {}",
            self.status, self.reason
        )
    }
}

impl std::error::Error for UpgradeRejection {}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        let reject = Reject {
            status: self.status,
            reason: self.reason,
            extra_headers: &[],
        };
        // ws-proto writes the refusal (426 gets Sec-WebSocket-Version: 13);
        // hyper frames it, so its own framing fields are left to hyper.
        let head = write_growing(|out| ws_proto::handshake::write_reject(&reject, out));
        response_from_head(head.as_deref().unwrap_or(b""), Body::from(self.reason))
    }
}

impl<St: Send + Sync> FromRequestParts<St> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        if parts.version != Version::HTTP_11 {
            // HTTP/2 upgrades (RFC 8441 extended CONNECT) are not supported.
            return Err(HandshakeError::HttpVersion.into());
        }
        let head = request_head(parts);
        parse_request(&head)?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(UpgradeRejection {
                status: 426,
                reason: "this connection cannot be upgraded",
            })?;
        Ok(WebSocketUpgrade {
            head,
            on_upgrade,
            policy: AcceptPolicy::default(),
            config: Config::default(),
        })
    }
}

/// The request head as ws-proto parses it: request line and fields as
/// received (hyper has already parsed them with its own limits).
fn request_head(parts: &Parts) -> Vec<u8> {
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(parts.method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// An axum response with the status and fields of an HTTP/1.1 head that
/// ws-proto wrote. Framing fields are hyper's business.
fn response_from_head(head: &[u8], body: Body) -> Response {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for line in lines.take_while(|line| !line.is_empty()) {
        let Some((name, value)) = line.split_once(": ") else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

impl WebSocketUpgrade {
    /// The subprotocols the server speaks; the client's first offer among
    /// them is chosen (ws-proto's [`AcceptPolicy`]).
    ///
    /// See the [module](self) documentation for an example.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.policy.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The whole acceptance policy: allowed origins (others get 403) and
    /// subprotocols.
    ///
    /// ```no_run
    /// # use ws_tokio::axum::WebSocketUpgrade;
    /// use ws_tokio::proto::handshake::policy::AcceptPolicy;
    /// async fn ws(upgrade: WebSocketUpgrade) -> axum::response::Response {
    ///     let policy = AcceptPolicy { allowed_origins: vec!["https://app.example".into()], ..Default::default() };
    ///     upgrade.policy(policy).on_upgrade(|_ws| async {})
    /// }
    /// ```
    pub fn policy(mut self, policy: AcceptPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The connection's settings (limits, keep-alive, close timeout).
    ///
    /// ```no_run
    /// # use ws_tokio::axum::WebSocketUpgrade;
    /// use std::time::Duration;
    /// use ws_tokio::Config;
    /// async fn ws(upgrade: WebSocketUpgrade) -> axum::response::Response {
    ///     let config = Config { keep_alive_interval: Some(Duration::from_secs(30)), ..Config::default() };
    ///     upgrade.config(config).on_upgrade(|_ws| async {})
    /// }
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The subprotocol the policy would choose for this request.
    ///
    /// ```no_run
    /// # use ws_tokio::axum::WebSocketUpgrade;
    /// async fn ws(upgrade: WebSocketUpgrade) -> axum::response::Response {
    ///     let upgrade = upgrade.protocols(["v2", "v1"]);
    ///     println!("{:?}", upgrade.selected_protocol());
    ///     upgrade.on_upgrade(|_ws| async {})
    /// }
    /// ```
    pub fn selected_protocol(&self) -> Option<String> {
        let request = parse_request(&self.head).ok()?;
        let decision = self.policy.evaluate(&request).ok()?;
        decision.subprotocol.map(str::to_owned)
    }

    /// Answers `101 Switching Protocols` (or 403 for a disallowed origin)
    /// and, once hyper hands the connection over, runs `callback` with it
    /// on a new task.
    ///
    /// See the [module](self) documentation for an example.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocketStream<UpgradedStream>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let WebSocketUpgrade {
            head,
            on_upgrade,
            policy,
            config,
        } = self;
        let (answer, subprotocol, negotiated) = {
            let request = match parse_request(&head) {
                Ok(request) => request,
                Err(e) => return UpgradeRejection::from(e).into_response(),
            };
            let decision = match policy.evaluate(&request) {
                Ok(decision) => decision,
                Err(refusal) => {
                    return UpgradeRejection {
                        status: refusal.status(),
                        reason: refusal.reason(),
                    }
                    .into_response()
                }
            };
            let accept = decision.accept();
            (
                write_growing(|out| write_accept(&request, &accept, out)),
                decision.subprotocol.map(str::to_owned),
                decision.extensions,
            )
        };
        let Some(answer) = answer else {
            return UpgradeRejection {
                status: 500,
                reason: "handshake answer too large",
            }
            .into_response();
        };
        tokio::spawn(async move {
            // Fails if the client went away before the switch.
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            // Settings were validated with the policy; a failure here would
            // be a compression level out of range: drop the connection.
            let Ok(core) = Core::server(config, negotiated, &[], DEFAULT_READ_SIZE) else {
                return;
            };
            let mut ws = WebSocketStream::from_core(TokioIo::new(upgraded), core);
            ws.set_subprotocol(subprotocol);
            callback(ws).await;
        });
        response_from_head(&answer, Body::empty())
    }
}
