//! Echo server written with tungstenite 0.30: one thread per connection,
//! blocking I/O, the same shape as ws-server's echo. Echoes every text and
//! binary message on any path, no extensions, `TCP_NODELAY`, 64 MiB
//! messages and frames. Loopback only.
//!
//! ```text
//! cargo run --release -p ws-benches --bin tungstenite_echo -- 127.0.0.1:5078
//! ```
use std::net::TcpListener;

use tungstenite::protocol::WebSocketConfig;
use ws_benches::{announce, loopback_addr, MAX_MESSAGE};

fn main() {
    let arg = std::env::args().nth(1);
    let addr = loopback_addr(arg.as_deref()).unwrap_or_else(|e| {
        eprintln!("tungstenite_echo: {e}");
        std::process::exit(2)
    });
    let listener = TcpListener::bind(addr).expect("bind");
    announce(
        "tungstenite_echo",
        listener.local_addr().expect("local address"),
    );
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let Ok(mut ws) = tungstenite::accept_with_config(stream, Some(config)) else {
                return;
            };
            // Reading also answers pings and closes; an error ends the
            // connection, including the normal end after a close.
            while let Ok(msg) = ws.read() {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).is_err() {
                    break;
                }
            }
        });
    }
}
