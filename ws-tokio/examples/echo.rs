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
    let mut failures = AcceptFailures::default();
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                failures.failed(&listener, &e).await;
                continue;
            }
        };
        let options = options.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            handle(tcp, &options).await;
        });
    }
}

/// A failed `accept` (above all EMFILE: out of descriptors) must not end
/// the server, spin, or log per attempt, and the connection waiting in the
/// backlog should be answered rather than left to time out: as ws-server
/// does, a spare descriptor is freed to accept it, answer 503 and close.
struct AcceptFailures {
    spare: Option<std::fs::File>,
    last_log: Option<std::time::Instant>,
    since_log: u64,
}

impl Default for AcceptFailures {
    fn default() -> Self {
        AcceptFailures {
            spare: std::fs::File::open("/dev/null").ok(),
            last_log: None,
            since_log: 0,
        }
    }
}

impl AcceptFailures {
    async fn failed(&mut self, listener: &TcpListener, e: &std::io::Error) {
        self.since_log += 1;
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            eprintln!(
                "echo: accept failed: {e} ({} time(s) since the last report)",
                self.since_log
            );
            self.last_log = Some(std::time::Instant::now());
            self.since_log = 0;
        }
        // EMFILE and ENFILE.
        if matches!(e.raw_os_error(), Some(23 | 24)) && self.spare.take().is_some() {
            if let Ok(Ok((tcp, _))) =
                tokio::time::timeout(Duration::from_millis(10), listener.accept()).await
            {
                let _ = tcp.try_write(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
                      Content-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
            self.spare = std::fs::File::open("/dev/null").ok();
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn handle(tcp: TcpStream, options: &AcceptOptions) {
    let Ok(incoming) = Incoming::read(tcp, options).await else {
        return;
    };
    let path = incoming.path();
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    match path {
        // An unparseable head (control bytes in a field, say) has no path:
        // `accept` answers it with its status (400) rather than a 404.
        "/ws" | "" => {
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
