//! A load generator for any WebSocket echo endpoint on this machine.
//!
//! Opens `--connections` client connections (ws-proto's client role over
//! std `TcpStream`s, one thread each), sends `--messages` messages of
//! `--size` bytes on each, one at a time, waits for each echo and checks it
//! byte for byte, then closes cleanly. Prints throughput and round-trip
//! latency percentiles. It stops by itself: the work is a fixed count, and
//! every socket has a read timeout.
//!
//! ```text
//! cargo run --release -p ws-server &
//! cargo run --release -p ws-benches --bin loadgen -- ws://127.0.0.1:5000/ws --connections 8 --messages 2000 --size 1024
//! ```
//!
//! Only loopback addresses are accepted: this tool is for measuring servers
//! on this machine.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use ws_proto::close::CloseCode;
use ws_proto::connection::{Config, Connection, Event, Message};
use ws_proto::handshake::{ClientHandshake, ClientRequest, Limits};

struct Args {
    url: String,
    connections: usize,
    messages: usize,
    size: usize,
    text: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen ws://HOST:PORT/PATH [--connections N (8)] [--messages N (1000)] [--size BYTES (1024)] [--text]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        url: String::new(),
        connections: 8,
        messages: 1000,
        size: 1024,
        text: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> usize {
            it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("{name} needs a number");
                usage()
            })
        };
        match a.as_str() {
            "--connections" => args.connections = num("--connections").max(1),
            "--messages" => args.messages = num("--messages"),
            "--size" => args.size = num("--size"),
            "--text" => args.text = true,
            "-h" | "--help" => usage(),
            _ if args.url.is_empty() => args.url = a,
            _ => usage(),
        }
    }
    if args.url.is_empty() {
        usage();
    }
    args
}

/// Splits `ws://host:port/path` into the socket address, Host header and path.
fn parse_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or("no address")?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address"));
    }
    Ok((addr, authority.to_string(), path.to_string()))
}

/// 16 bytes for nonces and mask seeds, from std's randomly keyed SipHash
/// (`RandomState` draws its keys from the operating system).
fn seed<const N: usize>(salt: u64) -> [u8; N] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; N];
    for (i, half) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_usize(i);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

fn run_one(
    id: usize,
    addr: SocketAddr,
    host: &str,
    path: &str,
    args: &Args,
) -> Result<Vec<Duration>, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).ok();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = ClientRequest::new(host, path, seed(id as u64));
    let mut buf = vec![0u8; 64 * 1024];
    let n = request.write(&mut buf).map_err(|e| e.to_string())?;
    stream.write_all(&buf[..n]).map_err(|e| e.to_string())?;
    let mut hs = ClientHandshake::new(Limits::default());
    loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed during the handshake".into());
        }
        if hs.feed(&buf[..n]).map_err(|e| e.to_string())? {
            break;
        }
    }
    hs.response(&request).map_err(|e| e.to_string())?;
    let mut conn = Connection::client(Config::default(), seed(!(id as u64)));
    conn.feed(hs.leftover());

    let payload: Vec<u8> = (0..args.size).map(|i| b'a' + (i % 26) as u8).collect();
    let text = String::from_utf8(payload.clone()).expect("ASCII");
    let mut latencies = Vec::with_capacity(args.messages);
    for _ in 0..args.messages {
        let sent_at = Instant::now();
        if args.text {
            conn.send_text(&text).map_err(|e| e.to_string())?;
        } else {
            conn.send_binary(&payload).map_err(|e| e.to_string())?;
        }
        flush(&mut conn, &mut stream)?;
        loop {
            match conn.poll_event() {
                Some(Event::Message(m)) => {
                    let expected: &[u8] = &payload;
                    if m.as_bytes() != expected || matches!(m, Message::Text(_)) != args.text {
                        return Err("echo differs from what was sent".into());
                    }
                    latencies.push(sent_at.elapsed());
                    break;
                }
                Some(Event::Close { code, reason }) => {
                    return Err(format!("server closed: {code} {reason}"))
                }
                Some(Event::Error(e)) => return Err(e.to_string()),
                Some(_) => {}
                None => {
                    flush(&mut conn, &mut stream)?;
                    let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err("server closed the connection".into());
                    }
                    conn.feed(&buf[..n]);
                }
            }
        }
    }
    conn.close(CloseCode::NORMAL, "done")
        .map_err(|e| e.to_string())?;
    flush(&mut conn, &mut stream)?;
    // Wait (bounded by the read timeout) for the server's close reply.
    while !conn.should_close_transport() {
        match conn.poll_event() {
            Some(_) => continue,
            None => {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                conn.feed(&buf[..n]);
            }
        }
    }
    Ok(latencies)
}

fn flush(conn: &mut Connection, stream: &mut TcpStream) -> Result<(), String> {
    let out = conn.pending_output();
    if !out.is_empty() {
        stream.write_all(out).map_err(|e| e.to_string())?;
        let n = out.len();
        conn.consume_output(n);
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let args = parse_args();
    let (addr, host, path) = parse_url(&args.url).unwrap_or_else(|e| {
        eprintln!("loadgen: {e}");
        std::process::exit(2)
    });
    let start = Instant::now();
    let results: Vec<Result<Vec<Duration>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.connections)
            .map(|id| {
                let (host, path, args) = (&host, &path, &args);
                s.spawn(move || run_one(id, addr, host, path, args))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let elapsed = start.elapsed();
    let mut all = Vec::new();
    let mut failures = 0;
    for r in results {
        match r {
            Ok(l) => all.extend(l),
            Err(e) => {
                failures += 1;
                eprintln!("loadgen: connection failed: {e}");
            }
        }
    }
    all.sort_unstable();
    let msgs = all.len() as f64;
    let secs = elapsed.as_secs_f64();
    println!(
        "{} connections x {} messages of {} B ({}): {} echoes in {:.3} s",
        args.connections,
        args.messages,
        args.size,
        if args.text { "text" } else { "binary" },
        all.len(),
        secs
    );
    println!(
        "throughput: {:.0} msg/s, {:.1} MiB/s each way",
        msgs / secs,
        msgs * args.size as f64 / secs / (1024.0 * 1024.0)
    );
    println!(
        "round trip: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        percentile(&all, 0.5),
        percentile(&all, 0.9),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or_default()
    );
    if failures > 0 {
        eprintln!("loadgen: {failures} connection(s) failed");
        std::process::exit(1);
    }
}
