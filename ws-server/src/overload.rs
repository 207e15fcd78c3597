//! What the accept loop does when `accept` fails, above all when the
//! process is out of file descriptors (EMFILE/ENFILE).
//!
//! Out of descriptors, `accept` fails while the connection waits in the
//! listen backlog: retrying in a loop burns a core and logs each attempt,
//! and the client waits until it gives up (30 s and more). Instead the
//! server keeps one spare descriptor (an open `/dev/null`); when it runs
//! out it frees the spare, accepts the waiting connection, answers `503`
//! and closes it at once, then takes the spare back. The condition is
//! logged once per interval with a count, and the server recovers by
//! itself as soon as connections close.

use std::fs::File;
use std::io::{self, Write};
use std::net::{Shutdown, TcpListener};
use std::time::{Duration, Instant};

use log::warn;

/// How often a repeating accept failure is logged.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The answer for a connection refused for want of descriptors: a fixed
/// head written with one non-blocking write, so a slow client cannot hold
/// the accept thread.
const OUT_OF_DESCRIPTORS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Retry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Whether `e` means the process or the system is out of descriptors.
fn out_of_descriptors(e: &io::Error) -> bool {
    // EMFILE and ENFILE: the same numbers on Linux, the BSDs and macOS.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// Logs a repeating condition at most once per interval, with the number
/// of times it happened since the last line.
#[derive(Debug)]
pub(crate) struct Throttle {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub(crate) fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Counts one occurrence at `now`; returns how many occurrences the
    /// line to log now stands for, or `None` if it is too early to log.
    pub(crate) fn hit(&mut self, now: Instant) -> Option<u64> {
        self.suppressed += 1;
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => None,
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// The accept loop's handling of failed accepts.
#[derive(Debug)]
pub(crate) struct AcceptFailures {
    spare: Option<File>,
    log: Throttle,
    shed: u64,
}

impl AcceptFailures {
    pub(crate) fn new() -> AcceptFailures {
        AcceptFailures {
            spare: File::open("/dev/null").ok(),
            log: Throttle::new(LOG_INTERVAL),
            shed: 0,
        }
    }

    /// Deals with a failed `accept`; returns how long the loop should
    /// pause before accepting again (zero when a waiting connection was
    /// answered and the loop can go on at once).
    pub(crate) fn failed(&mut self, listener: &TcpListener, e: &io::Error) -> Duration {
        let shed = out_of_descriptors(e) && self.shed_one(listener);
        if let Some(times) = self.log.hit(Instant::now()) {
            if out_of_descriptors(e) {
                warn!(
                    "accept failed: {e} ({times} time(s) since the last report, \
                     {} connection(s) answered 503 so far); connections that \
                     cannot be served are refused until descriptors free up",
                    self.shed
                );
            } else {
                warn!("accept failed: {e} ({times} time(s) since the last report)");
            }
        }
        if shed {
            Duration::ZERO
        } else if out_of_descriptors(e) {
            // No spare to shed with (it could not be taken back): wait for
            // descriptors rather than spin on the same error.
            Duration::from_millis(50)
        } else {
            // A connection aborted before it was accepted, and the like:
            // the next one may well be fine.
            Duration::from_millis(1)
        }
    }

    /// Frees the spare descriptor, accepts one waiting connection with it,
    /// answers 503 and closes it, then takes the spare back.
    fn shed_one(&mut self, listener: &TcpListener) -> bool {
        if self.spare.take().is_none() {
            self.spare = File::open("/dev/null").ok();
            return false;
        }
        let shed = match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(true);
                let _ = (&stream).write(OUT_OF_DESCRIPTORS);
                // FIN after the answer; the unread request may still turn
                // the close into a reset, which the client sees at once too.
                let _ = stream.shutdown(Shutdown::Write);
                self.shed += 1;
                true
            }
            Err(_) => false,
        };
        self.spare = File::open("/dev/null").ok();
        shed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_logs_once_per_interval_with_the_count() {
        let mut t = Throttle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(t.hit(t0), Some(1));
        for i in 1..=199u64 {
            // 200 failures a second for a second: none logged.
            assert_eq!(t.hit(t0 + Duration::from_millis(5 * i)), None);
        }
        assert_eq!(t.hit(t0 + Duration::from_secs(9)), None);
        // The next line accounts for everything since the last one.
        assert_eq!(t.hit(t0 + Duration::from_secs(10)), Some(201));
        assert_eq!(t.hit(t0 + Duration::from_secs(11)), None);
        assert_eq!(t.hit(t0 + Duration::from_secs(25)), Some(2));
    }

    #[test]
    fn descriptor_exhaustion_is_told_apart_from_other_failures() {
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(24)));
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(23)));
        assert!(!out_of_descriptors(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
    }

    #[test]
    fn a_waiting_connection_is_answered_503_and_closed() {
        use std::io::Read;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut failures = AcceptFailures::new();
        let pause = failures.failed(&listener, &io::Error::from_raw_os_error(24));
        assert_eq!(pause, Duration::ZERO);
        assert_eq!(failures.shed, 1);
        assert!(failures.spare.is_some(), "the spare was taken back");
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 503 "), "{answer:?}");
    }
}
