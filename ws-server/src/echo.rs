//! The echo application of the `ws-server` binary: `GET /` serves a page to
//! try WebSockets from a browser, `/ws` sends every message back as it came
//! (text as text, binary as binary) until the client closes.
//!
//! It uses only the crate's public API, as any application would.
//!
//! ```no_run
//! let server = ws_server::echo::routes(ws_server::Server::builder().bind("127.0.0.1:5000"))
//!     .build()
//!     .unwrap();
//! server.run().unwrap();
//! ```

use crate::{HttpRequest, HttpResponse, ServerBuilder, Transport, WebSocket};

/// The echo page: one HTML file with its script and style inline, so the
/// binary needs no files beside it.
pub const PAGE: &str = include_str!("../static/index.html");

/// Echoes every message until the peer closes or the connection fails.
pub fn echo<S: Transport>(ws: &mut WebSocket<S>) {
    loop {
        match ws.recv() {
            Ok(Some(message)) => {
                if ws.send(&message).is_err() {
                    return;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// Serves the page.
pub fn page(_request: &HttpRequest) -> HttpResponse {
    HttpResponse::html(PAGE)
}

/// Adds the echo routes: the page on `/` (and `/index.html`), the echo
/// endpoint on `/ws`.
pub fn routes(builder: ServerBuilder) -> ServerBuilder {
    builder
        .http("/", page)
        .http("/index.html", page)
        .websocket("/ws", echo)
}
