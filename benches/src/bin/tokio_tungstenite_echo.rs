//! Echo server written with tokio-tungstenite 0.30 on tokio's multi-thread
//! runtime: one task per connection. Echoes every text and binary message on
//! any path, no extensions, `TCP_NODELAY`, 64 MiB messages and frames.
//! Loopback only.
//!
//! ```text
//! cargo run --release -p ws-benches --bin tokio_tungstenite_echo -- 127.0.0.1:5079
//! ```
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tungstenite::protocol::WebSocketConfig;
use ws_benches::{announce, loopback_addr, MAX_MESSAGE};

fn main() {
    let arg = std::env::args().nth(1);
    let addr = loopback_addr(arg.as_deref()).unwrap_or_else(|e| {
        eprintln!("tokio_tungstenite_echo: {e}");
        std::process::exit(2)
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()
        .expect("tokio runtime");
    runtime.block_on(serve(addr));
}

async fn serve(addr: std::net::SocketAddr) {
    let listener = TcpListener::bind(addr).await.expect("bind");
    announce(
        "tokio_tungstenite_echo",
        listener.local_addr().expect("local address"),
    );
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) =
                tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
            else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        });
    }
}
