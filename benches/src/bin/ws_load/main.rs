//! `ws-load`: a verifying load generator for WebSocket echo servers on this
//! machine.
//!
//! Each thread runs one non-blocking event loop (mio) over its share of the
//! connections. Every connection does its own opening handshake, keeps
//! `--in-flight` messages outstanding, masks every frame with a fresh random
//! key, and checks every echo byte for byte, by opcode and in order. A wrong,
//! missing, reordered or wrongly typed echo is an error, and any error makes
//! the exit status 1. The run is bounded in time whatever the server does.
//!
//! ```text
//! ws-load ws://127.0.0.1:5000/ws -c 100 -s 20 --warmup 2 --duration 5 --server-pid PID
//! ws-load ws://127.0.0.1:5000/ws -c 4 --messages 200 -s 1024      # fixed count, then close
//! ws-load ws://127.0.0.1:5000/ws -c 1000 --idle --server-pid PID  # server RSS per connection
//! ```

mod client;
mod codec;
mod payload;
mod procfs;
mod report;
mod worker;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;

use client::{Plan, MEASURE, STOP, WARMUP};
use report::{Outcome, Report};
use worker::Shared;

/// A verifying, event-driven load generator for WebSocket echo servers on
/// loopback.
#[derive(Debug, Parser)]
#[command(name = "ws-load", version)]
struct Args {
    /// The echo endpoint: ws://HOST:PORT/PATH, HOST a loopback address.
    url: String,
    /// Client connections.
    #[arg(short = 'c', long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    connections: u32,
    /// Payload bytes per message.
    #[arg(short = 's', long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=(32 << 20)))]
    size: u32,
    /// Messages in flight per connection.
    #[arg(short = 'k', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    in_flight: u32,
    /// Send text (UTF-8 with 1- to 4-byte characters) instead of binary.
    #[arg(long)]
    text: bool,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Send exactly this many messages per connection, then close; the
    /// whole run is measured (no warm-up or window).
    #[arg(long, conflicts_with = "idle")]
    messages: Option<u64>,
    /// Event-loop threads.
    #[arg(short = 't', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
    /// The server's process id, for its CPU time, RSS and threads.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Open the connections, echo one message on each, hold them for
    /// `--settle` seconds and report the server's RSS per connection.
    #[arg(long, requires = "server_pid")]
    idle: bool,
    /// Seconds to hold idle connections before reading the server's RSS.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// Seconds an echo may take before it counts as missing.
    #[arg(long, default_value_t = 10.0)]
    echo_timeout: f64,
    /// Seconds a connection may take to open.
    #[arg(long, default_value_t = 30.0)]
    connect_timeout: f64,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(short, long)]
    quiet: bool,
}

/// The longest any single timed setting may be, to keep every run bounded.
const MAX_SECONDS: f64 = 3600.0;

fn seconds(name: &str, v: f64) -> Result<Duration, String> {
    if !(0.0..=MAX_SECONDS).contains(&v) {
        return Err(format!(
            "--{name} must be between 0 and {MAX_SECONDS} seconds"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Splits `ws://host:port/path` into a loopback socket address, the Host
/// field and the request target.
fn parse_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addrs: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .collect();
    let addr = *addrs.first().ok_or("the host resolves to no address")?;
    if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "{a} is not a loopback address: ws-load only measures this machine"
        ));
    }
    Ok((addr, authority.to_string(), path.to_string()))
}

/// Sleeps until `done()` or `until`, printing a progress line each second.
fn wait(
    shared: &Shared,
    start: Instant,
    until: Instant,
    label: &str,
    quiet: bool,
    done: impl Fn() -> bool,
) {
    let mut next_line = Instant::now() + Duration::from_secs(1);
    let mut last = shared.echoes.load(Ordering::Relaxed);
    let mut last_at = Instant::now();
    while !done() {
        let now = Instant::now();
        if now >= until {
            return;
        }
        if now >= next_line && !quiet {
            let echoes = shared.echoes.load(Ordering::Relaxed);
            let rate = (echoes - last) as f64 / (now - last_at).as_secs_f64();
            eprintln!(
                "ws-load [{:6.1}s] {label}: open {}, echoes {echoes} ({rate:.0}/s), errors {}",
                (now - start).as_secs_f64(),
                shared.opened.load(Ordering::Relaxed),
                shared.failed.load(Ordering::Relaxed),
            );
            (last, last_at) = (echoes, now);
            next_line += Duration::from_secs(1);
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.text());
            }
            if report.errors > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("ws-load: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<Report, String> {
    let (addr, host, path) = parse_url(&args.url)?;
    let warmup = seconds("warmup", args.warmup)?;
    let duration = seconds("duration", args.duration)?;
    let settle = seconds("settle", args.settle)?;
    let echo_timeout = seconds("echo-timeout", args.echo_timeout)?;
    let connect_timeout = seconds("connect-timeout", args.connect_timeout)?;
    // Every connection is a file descriptor on each side.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("ws-load: could not raise the open-file limit: {e}");
    }
    let connections = args.connections as usize;
    let plan = Plan {
        host: Box::leak(host.into_boxed_str()),
        path: Box::leak(path.into_boxed_str()),
        size: args.size as usize,
        text: args.text,
        in_flight: args.in_flight as usize,
        messages: if args.idle { Some(1) } else { args.messages },
        hold: args.idle,
        echo_timeout,
        connect_timeout,
        close_timeout: Duration::from_secs(5),
    };
    let shared = Shared::default();
    let count_mode = plan.messages.is_some();
    shared
        .phase
        .store(if count_mode { MEASURE } else { WARMUP }, Ordering::Release);
    let server = |what: &str| match args.server_pid {
        None => Ok(None),
        Some(pid) => procfs::sample(pid)
            .map(Some)
            .ok_or_else(|| format!("server pid {pid} is not running ({what})")),
    };
    let idle_before = if args.idle {
        server("before connecting")?
    } else {
        None
    };

    let start = Instant::now();
    // Whatever the server does, the run ends by this time.
    let deadline = start
        + connect_timeout
        + if count_mode {
            Duration::from_secs(600)
        } else {
            warmup + duration
        }
        + settle
        + echo_timeout
        + plan.close_timeout
        + Duration::from_secs(5);
    let threads = (args.threads as usize).min(connections);
    let mut outcome = Outcome::default();
    let reports = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let count = connections / threads + usize::from(t < connections % threads);
                let (plan, shared) = (&plan, &shared);
                s.spawn(move || worker::run(addr, count, plan, shared, deadline, t as u64))
            })
            .collect();
        let all_settled = |n: &std::sync::atomic::AtomicUsize| {
            n.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) >= connections
        };
        let finished = || handles.iter().all(|h| h.is_finished());
        let quiet = args.quiet;
        if args.idle {
            wait(
                &shared,
                start,
                start + connect_timeout + echo_timeout,
                "opening",
                quiet,
                || all_settled(&shared.ready) || finished(),
            );
            wait(
                &shared,
                start,
                Instant::now() + settle,
                "idle",
                quiet,
                finished,
            );
            outcome.server_end = server("idle").ok().flatten();
            shared.phase.store(STOP, Ordering::Release);
        } else if count_mode {
            outcome.server_start = server("start").ok().flatten();
            outcome.own_start = procfs::own();
            outcome.window_start = Some(Instant::now());
            wait(&shared, start, deadline, "running", quiet, finished);
        } else {
            wait(
                &shared,
                start,
                start + connect_timeout,
                "opening",
                quiet,
                || all_settled(&shared.opened) || finished(),
            );
            wait(
                &shared,
                start,
                Instant::now() + warmup,
                "warm-up",
                quiet,
                finished,
            );
            outcome.server_start = server("start").ok().flatten();
            outcome.own_start = procfs::own();
            outcome.window_start = Some(Instant::now());
            shared.phase.store(MEASURE, Ordering::Release);
            wait(
                &shared,
                start,
                Instant::now() + duration,
                "measuring",
                quiet,
                finished,
            );
            shared.phase.store(STOP, Ordering::Release);
            outcome.window_end = Some(Instant::now());
            outcome.server_end = server("end").ok().flatten();
            outcome.own_end = procfs::own();
            wait(&shared, start, deadline, "closing", quiet, finished);
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker thread panicked"))
            .collect::<Vec<_>>()
    });
    if count_mode && !args.idle {
        outcome.window_end = Some(Instant::now());
        outcome.server_end = server("end").ok().flatten();
        outcome.own_end = procfs::own();
    }
    outcome.idle_before = idle_before;
    Ok(Report::new(args_summary(args), plan.size, outcome, reports))
}

fn args_summary(args: &Args) -> report::Settings {
    report::Settings {
        url: args.url.clone(),
        connections: args.connections as usize,
        size: args.size as usize,
        in_flight: args.in_flight as usize,
        text: args.text,
        threads: args.threads as usize,
        idle: args.idle,
        messages: args.messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_loopback_urls() {
        let (addr, host, path) = parse_url("ws://127.0.0.1:9/echo?x=1").unwrap();
        assert_eq!(addr, "127.0.0.1:9".parse().unwrap());
        assert_eq!((host.as_str(), path.as_str()), ("127.0.0.1:9", "/echo?x=1"));
        assert_eq!(parse_url("ws://[::1]:9").unwrap().2, "/");
        assert!(parse_url("ws://10.0.0.1:80/")
            .unwrap_err()
            .contains("not a loopback"));
        assert!(parse_url("wss://127.0.0.1:9/").is_err());
    }
}
