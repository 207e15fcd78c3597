//! The echo server of `ws-server`, on tokio: the same page at `/`, the same
//! echo endpoint at `/ws` (text as text, binary as binary, until the client
//! closes).
//!
//! ```text
//! cargo run --release -p ws-tokio --example echo -- --bind 127.0.0.1:5000 [--current-thread] [--compression]
//! ```
//!
//! A multi-thread runtime by default; `--current-thread` runs everything on
//! one thread. Port 0 picks a free port; the address is printed either way.

use std::env;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use ws_tokio::proto::handshake::policy::AcceptPolicy;
use ws_tokio::proto::negotiation::DeflateConfig;
use ws_tokio::{AcceptOptions, Config, Incoming, WebSocketStream};

/// The page of the bundled server, shared rather than copied.
const PAGE: &str = include_str!("../../ws-server/static/index.html");

const USAGE: &str = "usage: echo [--bind ADDR] [--current-thread] [--compression]";

fn main() -> ExitCode {
    let mut bind = "127.0.0.1:5000".to_owned();
    let mut current_thread = false;
    let mut compression = false;
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => match args.next() {
                Some(addr) => bind = addr,
                None => return usage(),
            },
            "--current-thread" => current_thread = true,
            "--compression" => compression = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let runtime = if current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(serve(&bind, compression)),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

async fn serve(bind: &str, compression: bool) -> std::io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let options = Arc::new(AcceptOptions {
        // As the bundled server: a ping every 2 minutes keeps proxies from
        // closing idle connections.
        config: Config {
            keep_alive_interval: Some(Duration::from_secs(120)),
            ..Config::default()
        },
        // permessage-deflate when asked for (off by default, as in the
        // bundled server: see docs/security.md).
        policy: AcceptPolicy {
            deflate: compression.then(DeflateConfig::default),
            ..AcceptPolicy::default()
        },
        ..AcceptOptions::default()
    });
    loop {
        let (tcp, _) = listener.accept().await?;
        let options = options.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            handle(tcp, &options).await;
        });
    }
}

async fn handle(tcp: TcpStream, options: &AcceptOptions) {
    let Ok(incoming) = Incoming::read(tcp, options).await else {
        return;
    };
    let path = incoming.path();
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    match path {
        "/ws" => {
            if let Ok(ws) = incoming.accept().await {
                echo(ws).await;
            }
        }
        "/" | "/index.html" if !incoming.is_websocket() => {
            let _ = incoming
                .respond(200, "text/html; charset=utf-8", PAGE.as_bytes())
                .await;
        }
        _ => {
            let _ = incoming.reject(404, "not found").await;
        }
    }
}

/// Sends every message back. Messages that arrived in the same read go out
/// together in one write.
async fn echo(mut ws: WebSocketStream<TcpStream>) {
    while let Some(Ok(message)) = ws.recv().await {
        if ws.feed(message).await.is_err() {
            return;
        }
        while let Some(message) = ws.recv_buffered() {
            if ws.feed(message).await.is_err() {
                return;
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}
