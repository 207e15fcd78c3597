//! One thread's event loop over its share of the connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::client::{Client, Ctx, Failure, Plan, State};
use crate::payload::Rng;

/// Counters the main thread reads while the run goes on.
#[derive(Default)]
pub struct Shared {
    pub phase: AtomicU8,
    /// Connections whose opening handshake completed.
    pub opened: AtomicUsize,
    /// Connections that echoed at least one message.
    pub ready: AtomicUsize,
    /// Connections that failed (each is an error).
    pub failed: AtomicUsize,
    /// Verified echoes, all phases.
    pub echoes: AtomicU64,
}

/// What one thread measured.
pub struct Report {
    pub latency: Histogram<u64>,
    pub measured: u64,
    pub failures: u64,
    /// The first few failures, to print.
    pub samples: Vec<Failure>,
}

/// Connections that may be connecting or handshaking at once per thread,
/// so that a burst does not overflow the server's listen backlog.
const MAX_OPENING: usize = 64;
const SAMPLES: usize = 10;
const TICK: Duration = Duration::from_millis(50);

pub fn latency_histogram() -> Histogram<u64> {
    // 1 ns .. 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid bounds")
}

/// Opens `count` connections to `addr` and drives them until every one is
/// closed or failed, or `deadline` passes.
pub fn run(
    addr: SocketAddr,
    count: usize,
    plan: &Plan,
    shared: &Shared,
    deadline: Instant,
    salt: u64,
) -> Report {
    let mut report = Report {
        latency: latency_histogram(),
        measured: 0,
        failures: 0,
        samples: Vec::new(),
    };
    let fail = |report: &mut Report, f: Failure| {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        report.failures += 1;
        if report.samples.len() < SAMPLES {
            report.samples.push(f);
        }
    };
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            for _ in 0..count {
                fail(&mut report, Failure::Io(format!("epoll: {e}")));
            }
            return report;
        }
    };
    let mut events = Events::with_capacity(1024);
    let mut rng = Rng::from_os(salt);
    let mut slots: Vec<Option<Client>> = Vec::with_capacity(count);
    let mut ready_seen: Vec<bool> = Vec::with_capacity(count);
    let (mut to_open, mut opening, mut live) = (count, 0usize, 0usize);
    let mut last_tick = Instant::now();
    let mut last_phase = u8::MAX;
    loop {
        let now = Instant::now();
        while to_open > 0 && opening < MAX_OPENING {
            to_open -= 1;
            let token = Token(slots.len());
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
            nonce[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
            let opened = TcpStream::connect(addr).and_then(|mut s| {
                poll.registry()
                    .register(&mut s, token, Interest::READABLE | Interest::WRITABLE)
                    .map(|_| s)
            });
            match opened {
                Ok(s) => {
                    slots.push(Some(Client::new(s, nonce, plan, &mut rng, now)));
                    ready_seen.push(false);
                    opening += 1;
                    live += 1;
                }
                Err(e) => fail(&mut report, Failure::Io(format!("connect: {e}"))),
            }
        }
        if live == 0 && to_open == 0 {
            break;
        }
        if now > deadline {
            for _ in slots.iter().flatten() {
                fail(
                    &mut report,
                    Failure::Timeout("connection still open at the run's deadline".into()),
                );
            }
            break;
        }
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(10))) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                for _ in slots.iter().flatten() {
                    fail(&mut report, Failure::Io(format!("epoll_wait: {e}")));
                }
                break;
            }
        }
        let phase = shared.phase.load(Ordering::Acquire);
        let mut echoes = 0u64;
        let now = Instant::now();
        let mut ctx = Ctx {
            plan,
            phase,
            now,
            rng: &mut rng,
            latency: &mut report.latency,
            measured: &mut report.measured,
            echoes: &mut echoes,
        };
        let mut outcomes: Vec<(usize, Result<(), Failure>, bool)> = Vec::new();
        for ev in events.iter() {
            let i = ev.token().0;
            if let Some(c) = slots.get_mut(i).and_then(Option::as_mut) {
                let was_opening = matches!(c.state(), State::Connecting(_) | State::Handshake(_));
                let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                outcomes.push((i, c.on_event(readable, &mut ctx), was_opening));
            }
        }
        let tick = now - last_tick >= TICK || phase != last_phase;
        if tick {
            last_tick = now;
            last_phase = phase;
            for (i, slot) in slots.iter_mut().enumerate() {
                if let Some(c) = slot {
                    let was_opening =
                        matches!(c.state(), State::Connecting(_) | State::Handshake(_));
                    outcomes.push((i, c.tick(&mut ctx), was_opening));
                }
            }
        }
        for (i, result, was_opening) in outcomes {
            let Some(c) = slots[i].as_mut() else {
                continue; // failed earlier in this round
            };
            let state = c.state();
            let still_opening = matches!(state, State::Connecting(_) | State::Handshake(_));
            if was_opening && (result.is_err() || !still_opening) {
                opening -= 1;
                if result.is_ok() {
                    shared.opened.fetch_add(1, Ordering::Relaxed);
                }
            }
            if c.echoed > 0 && !ready_seen[i] {
                ready_seen[i] = true;
                shared.ready.fetch_add(1, Ordering::Relaxed);
            }
            let done = match result {
                Err(f) => {
                    fail(&mut report, f);
                    true
                }
                Ok(()) => state == State::Done,
            };
            if done {
                if let Some(mut c) = slots[i].take() {
                    let _ = poll.registry().deregister(c.stream());
                }
                live -= 1;
            }
        }
        if echoes > 0 {
            shared.echoes.fetch_add(echoes, Ordering::Relaxed);
        }
    }
    report
}
