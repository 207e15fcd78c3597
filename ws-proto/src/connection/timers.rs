//! One table for every timer of a connection, behind
//! [`Connection::poll_timeout`](super::Connection::poll_timeout).
//!
//! The core never reads a clock: it learns the time from `handle_timeout`.
//! A timer started before the first call cannot have an absolute deadline
//! yet, so it waits as "pending" (its duration only) and asks to be woken at
//! once; the next `handle_timeout` turns it into a deadline.

use core::time::Duration;

/// The connection's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Send the next keep-alive ping.
    KeepAlive = 0,
    /// A keep-alive ping must have been answered by now.
    Pong = 1,
    /// The peer must have answered our close frame by now.
    Close = 2,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Slot {
    #[default]
    Off,
    /// Started before the time was known: fires this long after it is.
    Pending(Duration),
    At(Duration),
}

#[derive(Debug, Default)]
pub(super) struct Timers {
    now: Option<Duration>,
    slots: [Slot; 3],
}

impl Timers {
    /// Starts (or restarts) `timer` to fire `after` from now.
    pub(super) fn start(&mut self, timer: Timer, after: Duration) {
        self.slots[timer as usize] = match self.now {
            Some(now) => Slot::At(now.saturating_add(after)),
            None => Slot::Pending(after),
        };
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.slots[timer as usize] = Slot::Off;
    }

    pub(super) fn is_running(&self, timer: Timer) -> bool {
        self.slots[timer as usize] != Slot::Off
    }

    /// Records the time and gives pending timers their deadlines.
    pub(super) fn advance(&mut self, now: Duration) {
        self.now = Some(now);
        for slot in &mut self.slots {
            if let Slot::Pending(after) = *slot {
                *slot = Slot::At(now.saturating_add(after));
            }
        }
    }

    /// Whether `timer` has a deadline that has passed.
    pub(super) fn expired(&self, timer: Timer) -> bool {
        matches!((self.slots[timer as usize], self.now), (Slot::At(at), Some(now)) if now >= at)
    }

    /// The earliest deadline among `timers` ("now" for a pending one).
    pub(super) fn earliest(&self, timers: &[Timer]) -> Option<Duration> {
        timers
            .iter()
            .filter_map(|&t| match self.slots[t as usize] {
                Slot::Off => None,
                Slot::Pending(_) => Some(self.now.unwrap_or(Duration::ZERO)),
                Slot::At(at) => Some(at),
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_started_before_the_time_is_known_asks_for_it() {
        let mut t = Timers::default();
        t.start(Timer::Close, Duration::from_secs(5));
        assert_eq!(t.earliest(&[Timer::Close]), Some(Duration::ZERO));
        assert!(!t.expired(Timer::Close));
        t.advance(Duration::from_secs(100));
        assert_eq!(t.earliest(&[Timer::Close]), Some(Duration::from_secs(105)));
        t.advance(Duration::from_secs(105));
        assert!(t.expired(Timer::Close));
    }

    #[test]
    fn earliest_considers_only_the_named_timers() {
        let mut t = Timers::default();
        t.advance(Duration::ZERO);
        t.start(Timer::KeepAlive, Duration::from_secs(1));
        t.start(Timer::Pong, Duration::from_secs(2));
        assert_eq!(t.earliest(&[Timer::Pong]), Some(Duration::from_secs(2)));
        t.stop(Timer::Pong);
        assert_eq!(t.earliest(&[Timer::Pong, Timer::Close]), None);
    }
}
