//! The same shape of server as `ws-server`'s echo endpoint (one thread per
//! connection, blocking I/O, echo every message), written with tungstenite,
//! so `loadgen` can measure both in one run. Loopback only.
//!
//! ```text
//! cargo run --release -p ws-benches --bin tungstenite_echo -- 127.0.0.1:5078
//! ```
use std::net::TcpListener;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5078".into());
    let listener = TcpListener::bind(&addr).expect("bind");
    assert!(
        listener
            .local_addr()
            .expect("local address")
            .ip()
            .is_loopback(),
        "loopback only"
    );
    eprintln!("tungstenite echo on ws://{addr}/");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let Ok(mut ws) = tungstenite::accept(stream) else {
                return;
            };
            while let Ok(msg) = ws.read() {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).is_err() {
                    break;
                }
            }
        });
    }
}
