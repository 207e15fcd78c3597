//! A WebSocket client for the Autobahn TestSuite's fuzzing server, on
//! ws-tokio: ask `/getCaseCount`, run every case at
//! `/runCase?case=N&agent=AGENT` echoing each message back, then call
//! `/updateReports?agent=AGENT`.
//!
//! ```text
//! cargo run --release -p ws-tokio --example autobahn_tokio_client -- 127.0.0.1:9001 [AGENT]
//! ```
//!
//! `scripts/autobahn.sh tokio-client` starts the fuzzing server and runs this.

use std::env;
use std::process::ExitCode;
use std::time::Duration;

use ws_tokio::{connect_with, ClientOptions, Config, ConnectError, Message};

/// A case still running after this long is abandoned. Autobahn's slowest
/// cases (9.x, 16 MiB messages) finish in seconds.
const CASE_LIMIT: Duration = Duration::from_secs(120);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let agent = args.next().unwrap_or_else(|| "ws-tokio".to_owned());
    let addr = addr
        .strip_prefix("ws://")
        .unwrap_or(&addr)
        .trim_end_matches('/')
        .to_owned();
    match run(&addr, &agent).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autobahn_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        config: Config {
            // Autobahn's largest messages are exactly 16 MiB (9.1.6, 9.2.6).
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            // An echo client queues one whole message at a time.
            max_send_queue: 32 << 20,
            ..Config::default()
        },
        // Offer permessage-deflate (groups 12 and 13), letting the server
        // limit our window and ask us to reset it after each message: the
        // fuzzing server's 13.x cases accept only offers that allow both.
        compression: Some(ws_tokio::proto::negotiation::DeflateOffer {
            client_no_context_takeover: true,
            ..Default::default()
        }),
        ..ClientOptions::default()
    }
}

async fn run(addr: &str, agent: &str) -> Result<(), ConnectError> {
    let count = case_count(addr).await?;
    eprintln!("autobahn_client: {count} cases");
    for case in 1..=count {
        let url = format!("ws://{addr}/runCase?case={case}&agent={agent}");
        // One case failing must not stop the run: the fuzzing server
        // records it.
        match tokio::time::timeout(CASE_LIMIT, echo_case(&url)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("autobahn_client: case {case}: {e}"),
            Err(_) => eprintln!("autobahn_client: case {case}: took too long"),
        }
    }
    let mut ws = connect_with(
        &format!("ws://{addr}/updateReports?agent={agent}"),
        &options(),
    )
    .await?;
    while ws.recv().await.is_some() {}
    Ok(())
}

async fn case_count(addr: &str) -> Result<u32, ConnectError> {
    let mut ws = connect_with(&format!("ws://{addr}/getCaseCount"), &options()).await?;
    let mut count = None;
    while let Some(item) = ws.recv().await {
        if let Ok(Message::Text(text)) = item {
            count = text.trim().parse().ok();
        }
    }
    count.ok_or(ConnectError::InvalidUrl("no case count from the server"))
}

/// Echoes every message until the connection ends. Protocol errors are
/// expected (the suite sends invalid input on purpose) and end the case.
async fn echo_case(url: &str) -> Result<(), ConnectError> {
    let mut ws = connect_with(url, &options()).await?;
    while let Some(item) = ws.recv().await {
        match item {
            Ok(message) => {
                // Refused only once we are closing: nothing to echo then.
                let _ = ws.send(message).await;
            }
            Err(_) => break,
        }
    }
    Ok(())
}
