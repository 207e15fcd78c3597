//! Echo server written with fastwebsockets 0.10, upgraded from hyper 1's
//! HTTP/1.1 server, on tokio's current-thread runtime (`--current-thread`)
//! or its multi-thread runtime (the default). Echoes every text and binary
//! message on any path, no extensions, `TCP_NODELAY`, 64 MiB messages.
//! Fragmented messages are reassembled (`FragmentCollector`), which also
//! checks text for UTF-8. Loopback only.
//!
//! ```text
//! cargo run --release -p ws-benches --bin fastwebsockets_echo -- 127.0.0.1:5080 --current-thread
//! ```
use bytes::Bytes;
use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use ws_benches::{announce, loopback_addr, MAX_MESSAGE};

fn main() {
    let mut addr = None;
    let mut current_thread = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--current-thread" => current_thread = true,
            "--multi-thread" => current_thread = false,
            _ => addr = Some(arg),
        }
    }
    let addr = loopback_addr(addr.as_deref()).unwrap_or_else(|e| {
        eprintln!(
            "fastwebsockets_echo: {e} (usage: fastwebsockets_echo [ADDR] [--current-thread])"
        );
        std::process::exit(2)
    });
    let mut builder = if current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = builder.enable_io().build().expect("tokio runtime");
    runtime.block_on(serve(addr));
}

async fn serve(addr: std::net::SocketAddr) {
    let listener = TcpListener::bind(addr).await.expect("bind");
    announce(
        "fastwebsockets_echo",
        listener.local_addr().expect("local address"),
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let _ = http1::Builder::new()
                .serve_connection(io, service_fn(upgrade_request))
                .with_upgrades()
                .await;
        });
    }
}

async fn upgrade_request(
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        let _ = echo(fut).await;
    });
    Ok(response)
}

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = fut.await?;
    ws.set_max_message_size(MAX_MESSAGE);
    ws.set_auto_pong(true);
    ws.set_auto_close(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}
