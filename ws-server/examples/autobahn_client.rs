//! A WebSocket client for the Autobahn TestSuite's fuzzing server, built on
//! the client role of `ws-proto` and a blocking `std::net::TcpStream` only.
//!
//! It follows the fuzzing server's protocol: ask `/getCaseCount`, run every
//! case at `/runCase?case=N&agent=AGENT` echoing each message back, then call
//! `/updateReports?agent=AGENT`.
//!
//! ```text
//! cargo run --release -p ws-server --example autobahn_client -- 127.0.0.1:9001 [AGENT]
//! ```
//!
//! `scripts/autobahn.sh client` starts the fuzzing server and runs this.

use std::env;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ws_proto::connection::{Config, Connection, Error, Event, Message, State};
use ws_proto::handshake::{parse_response, ClientRequest, HeadScanner, Limits};
use ws_proto::negotiation::{DeflateOffer, Negotiated};

/// How long to wait for the server to close the TCP connection after the
/// close handshake (§7.1.1: the server closes first) before closing it here.
const LINGER: Duration = Duration::from_secs(2);

/// Upper bound on one blocking read, so timers are looked at regularly even
/// when the connection has no deadline of its own.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// A case that is still running after this long is abandoned. Autobahn's
/// slowest cases (9.x, 16 MiB messages) finish in seconds.
const CASE_LIMIT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let agent = args.next().unwrap_or_else(|| "ws-proto".to_owned());
    let addr = addr
        .strip_prefix("ws://")
        .unwrap_or(&addr)
        .trim_end_matches('/');
    match run(addr, &agent) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autobahn_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(addr: &str, agent: &str) -> io::Result<()> {
    let count = case_count(addr)?;
    eprintln!("autobahn_client: {count} cases");
    for case in 1..=count {
        let path = format!("/runCase?case={case}&agent={agent}");
        match session(addr, &path, Mode::Echo) {
            Ok(_) => {}
            // One case failing at the transport level must not stop the run:
            // the fuzzing server records it as a failed case.
            Err(e) => eprintln!("autobahn_client: case {case}: {e}"),
        }
    }
    session(
        addr,
        &format!("/updateReports?agent={agent}"),
        Mode::Collect,
    )?;
    Ok(())
}

fn case_count(addr: &str) -> io::Result<u32> {
    let messages = session(addr, "/getCaseCount", Mode::Collect)?;
    let text = match messages.first() {
        Some(Message::Text(text)) => text.clone(),
        other => return Err(invalid(format!("no case count in {other:?}"))),
    };
    text.trim()
        .parse()
        .map_err(|_| invalid(format!("case count {text:?} is not a number")))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Send every data message back as it came (the test cases).
    Echo,
    /// Keep the messages (the control endpoints).
    Collect,
}

/// One WebSocket connection to `path`, run until the transport closes.
/// Returns the messages received in [`Mode::Collect`].
fn session(addr: &str, path: &str, mode: Mode) -> io::Result<Vec<Message>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let (nonce, mask_seed) = random_seeds();
    // Offer permessage-deflate (groups 12 and 13 need it; the other cases'
    // servers simply decline it), letting the server limit our window and
    // ask us to reset it after each message: the fuzzing server's 13.x
    // cases accept only offers that allow both.
    let request = ClientRequest {
        deflate: Some(DeflateOffer {
            client_no_context_takeover: true,
            ..DeflateOffer::default()
        }),
        ..ClientRequest::new(addr, path, nonce)
    };
    let (leftover, negotiated) = handshake(&mut stream, &request)?;

    let config = Config {
        // Autobahn's largest messages are exactly 16 MiB (cases 9.1.6, 9.2.6).
        max_message_size: 16 << 20,
        max_frame_size: 16 << 20,
        // An echo client queues one whole message (up to 16 MiB) at a time
        // and writes it out before reading further.
        max_send_queue: 32 << 20,
        ..Config::default()
    };
    let mut conn = Connection::client_with(config, negotiated, mask_seed)
        .map_err(|e| invalid(format!("extension: {e}")))?;
    let start = Instant::now();
    conn.handle_timeout(Duration::ZERO);
    conn.feed(&leftover);

    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Message(message) => {
                    if mode == Mode::Echo {
                        // Refused only once we are closing: nothing to echo then.
                        let _ = conn.send(&message);
                        flush(&mut stream, &mut conn)?;
                    } else {
                        received.push(message);
                    }
                }
                // Expected in many cases: the suite sends invalid input on
                // purpose, and the close frame is already queued. The
                // control endpoints may just drop the connection when done.
                Event::Error(Error::AbnormalClosure) => {}
                Event::Error(e) => {
                    if mode == Mode::Collect {
                        eprintln!("autobahn_client: {path}: {e}");
                    }
                }
                Event::Close { .. }
                | Event::Ping(_)
                | Event::Pong(_)
                | Event::MessageChunk { .. } => {}
            }
        }
        flush(&mut stream, &mut conn)?;
        if conn.should_close_transport() {
            linger(&mut stream);
            return Ok(received);
        }
        if start.elapsed() > CASE_LIMIT {
            return Err(io::Error::new(ErrorKind::TimedOut, "case took too long"));
        }

        let now = start.elapsed();
        let wait = conn
            .poll_timeout()
            .map_or(MAX_WAIT, |deadline| deadline.saturating_sub(now))
            .clamp(Duration::from_millis(1), MAX_WAIT);
        stream.set_read_timeout(Some(wait))?;
        match stream.read(&mut buf) {
            Ok(0) => conn.handle_eof(),
            Ok(n) => conn.feed(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                conn.handle_eof();
                if conn.state() != State::Closed {
                    return Err(e);
                }
            }
        }
        conn.handle_timeout(start.elapsed());
    }
}

/// Writes the whole request, reads until the end of the response head,
/// checks it, and returns the bytes that followed the head and the
/// extensions the server accepted.
fn handshake(
    stream: &mut TcpStream,
    request: &ClientRequest<'_>,
) -> io::Result<(Vec<u8>, Negotiated)> {
    let mut out = [0u8; 1024];
    let n = request
        .write(&mut out)
        .map_err(|_| invalid("request does not fit in 1 KiB".to_owned()))?;
    stream.write_all(&out[..n])?;

    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut scanner = HeadScanner::new(Limits::default());
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(invalid("connection closed during the handshake".to_owned()));
        }
        head.extend_from_slice(&buf[..n]);
        match scanner.scan(&head) {
            Ok(Some(end)) => break end,
            Ok(None) => {}
            Err(e) => return Err(invalid(format!("bad response head: {e}"))),
        }
    };
    let negotiated = parse_response(&head[..end], request)
        .map_err(|e| invalid(format!("handshake: {e}")))?
        .negotiated();
    Ok((head.split_off(end), negotiated))
}

/// Writes everything the connection has queued, blocking as needed.
fn flush(stream: &mut TcpStream, conn: &mut Connection) -> io::Result<()> {
    while !conn.pending_output().is_empty() {
        match stream.write(conn.pending_output()) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => conn.consume_output(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                // The peer is gone: what is queued can never arrive.
                conn.handle_eof();
                return if conn.state() == State::Closed {
                    Ok(())
                } else {
                    Err(e)
                };
            }
        }
    }
    Ok(())
}

/// The close handshake is over: give the server a moment to close the TCP
/// connection first (§7.1.1), discarding anything it still sends, then close.
fn linger(stream: &mut TcpStream) {
    let deadline = Instant::now() + LINGER;
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// The handshake nonce and the masking seed, from the operating system's
/// CSPRNG (§10.3: keys must be unpredictable).
fn random_seeds() -> ([u8; 16], [u8; 32]) {
    let mut nonce = [0u8; 16];
    let mut seed = [0u8; 32];
    getrandom::fill(&mut nonce).expect("the OS random source failed");
    getrandom::fill(&mut seed).expect("the OS random source failed");
    (nonce, seed)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg)
}
