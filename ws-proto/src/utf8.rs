//! Incremental UTF-8 validation (RFC 6455 §5.6, §8.1).
//!
//! A text message may be split across frames, and a frame across reads, at
//! any byte, even inside a code point. [`Utf8Validator`] keeps the state of a
//! partly-seen code point between calls and fails on the *first* byte that
//! cannot belong to a valid sequence, so a connection can close with 1007 as
//! soon as that byte arrives instead of at the end of the message.
//!
//! Whole runs of input are checked with `core::str::from_utf8` (fast on every
//! target); only the at most three bytes of a code point that straddles a
//! boundary go through the byte-at-a-time state machine.

use core::fmt;

/// An invalid UTF-8 sequence: the message must be failed with close code 1007.
///
/// # Example
///
/// ```
/// use ws_proto::utf8::Utf8Validator;
///
/// let mut v = Utf8Validator::new();
/// let err = v.feed(b"ab\xffcd").unwrap_err();
/// assert_eq!(err.offset(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error {
    offset: usize,
}

impl Utf8Error {
    /// Index, in the slice passed to the failing call, of the byte that
    /// proved the input invalid. For [`Utf8Validator::finish`] this is 0.
    ///
    /// ```
    /// # use ws_proto::utf8::Utf8Validator;
    /// assert_eq!(Utf8Validator::new().feed(b"\xc0").unwrap_err().offset(), 0);
    /// ```
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid UTF-8 at byte {} of the input", self.offset)
    }
}

impl core::error::Error for Utf8Error {}

/// Checks a complete text at once: the fast path for a message that
/// arrived whole.
///
/// ```
/// use ws_proto::utf8::validate;
/// assert!(validate("naïve café".as_bytes()).is_ok());
/// assert_eq!(validate(b"ab\xffcd").unwrap_err().offset(), 2);
/// assert!(validate(b"\xe2\x82").is_err(), "an unfinished code point");
/// ```
pub fn validate(input: &[u8]) -> Result<(), Utf8Error> {
    let mut v = Utf8Validator::new();
    v.feed(input)?;
    v.finish().map_err(|_| Utf8Error {
        offset: input.len(),
    })
}

/// How many bytes at the end of `input` are the start of a multi-byte
/// sequence that the input cuts short (0 to 3). Only looks at the lead
/// byte; whether the bytes are valid is for the caller to find out.
fn unfinished_tail(input: &[u8]) -> usize {
    for back in 1..=input.len().min(3) {
        let b = input[input.len() - back];
        if b & 0xC0 != 0x80 {
            // A lead byte (or ASCII): how long is its sequence?
            let len = match b {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if len > back { back } else { 0 };
        }
    }
    0
}

/// True when `input` is entirely valid UTF-8 (no unfinished code point at
/// the end), checked with SIMD where the `simd` feature and the CPU allow.
/// False means "find out the details the slow way".
#[inline]
fn fast_check(input: &[u8]) -> bool {
    #[cfg(feature = "simd")]
    {
        // SIMD pays only once its setup is amortized; short chat-sized
        // texts are faster through `core`.
        if input.len() < 64 {
            core::str::from_utf8(input).is_ok()
        } else {
            simdutf8::basic::from_utf8(input).is_ok()
        }
    }
    #[cfg(not(feature = "simd"))]
    {
        core::str::from_utf8(input).is_ok()
    }
}

/// Validates UTF-8 fed in pieces of any size.
///
/// # Example
///
/// ```
/// use ws_proto::utf8::Utf8Validator;
///
/// // "€" is E2 82 AC; split it across two feeds.
/// let mut v = Utf8Validator::new();
/// v.feed(b"price: \xe2\x82").unwrap();
/// assert!(!v.is_complete());
/// v.feed(b"\xac").unwrap();
/// assert!(v.finish().is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// Continuation bytes still expected for the current code point.
    remaining: u8,
    /// Inclusive range allowed for the next continuation byte; the first one
    /// after E0, ED, F0 and F4 is narrower to exclude overlongs, surrogates
    /// and code points above U+10FFFF.
    lo: u8,
    hi: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    ///
    /// ```
    /// # use ws_proto::utf8::Utf8Validator;
    /// assert!(Utf8Validator::new().is_complete());
    /// ```
    pub const fn new() -> Self {
        Utf8Validator {
            remaining: 0,
            lo: 0x80,
            hi: 0xBF,
        }
    }

    /// Whether the input so far ends on a code point boundary.
    ///
    /// ```
    /// # use ws_proto::utf8::Utf8Validator;
    /// let mut v = Utf8Validator::new();
    /// v.feed(b"\xc3").unwrap();
    /// assert!(!v.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.remaining == 0
    }

    /// Checks the next piece of input.
    ///
    /// Returns an error as soon as a byte cannot be part of valid UTF-8; a
    /// code point that is merely unfinished at the end of `input` is not an
    /// error (call [`finish`](Self::finish) at the end of the message).
    ///
    /// ```
    /// # use ws_proto::utf8::Utf8Validator;
    /// let mut v = Utf8Validator::new();
    /// assert!(v.feed("κόσμε".as_bytes()).is_ok());
    /// // U+D800 (a surrogate) is never valid, even before the sequence ends.
    /// assert!(v.feed(b"\xed\xa0").is_err());
    /// ```
    pub fn feed(&mut self, input: &[u8]) -> Result<(), Utf8Error> {
        let mut i = 0;
        // Finish a code point left open by the previous call.
        while self.remaining > 0 {
            match input.get(i) {
                None => return Ok(()),
                Some(&b) => {
                    self.step(b).map_err(|()| Utf8Error { offset: i })?;
                    i += 1;
                }
            }
        }
        let rest = &input[i..];
        // A code point cut by the end of this piece (common when text
        // arrives in reads) is set aside, so the fast check sees a complete
        // run and the cut bytes go through the state machine.
        let cut = unfinished_tail(rest);
        let (body, tail) = rest.split_at(rest.len() - cut);
        if fast_check(body) {
            for (j, &b) in tail.iter().enumerate() {
                self.step(b).map_err(|()| Utf8Error {
                    offset: i + body.len() + j,
                })?;
            }
            return Ok(());
        }
        match core::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) => {
                let valid = e.valid_up_to();
                match e.error_len() {
                    Some(_) => {
                        // Report the exact byte that broke the sequence: it may be
                        // a later byte of a multi-byte sequence.
                        let mut probe = Utf8Validator::new();
                        for (j, &b) in rest[valid..].iter().enumerate() {
                            if probe.step(b).is_err() {
                                return Err(Utf8Error {
                                    offset: i + valid + j,
                                });
                            }
                        }
                        unreachable_invalid(i + valid)
                    }
                    None => {
                        // A valid but unfinished code point at the end.
                        for &b in &rest[valid..] {
                            // Cannot fail: from_utf8 said this is a valid prefix.
                            self.step(b).map_err(|()| Utf8Error { offset: i + valid })?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// Checks that the input ended on a code point boundary.
    ///
    /// ```
    /// # use ws_proto::utf8::Utf8Validator;
    /// let mut v = Utf8Validator::new();
    /// v.feed(b"\xf0\x9f\x98").unwrap();
    /// assert!(v.finish().is_err());
    /// ```
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.remaining == 0 {
            Ok(())
        } else {
            Err(Utf8Error { offset: 0 })
        }
    }

    /// Forgets any partial code point, ready for a new message.
    ///
    /// ```
    /// # use ws_proto::utf8::Utf8Validator;
    /// let mut v = Utf8Validator::new();
    /// v.feed(b"\xe2").unwrap();
    /// v.reset();
    /// assert!(v.is_complete());
    /// ```
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    #[inline]
    fn step(&mut self, b: u8) -> Result<(), ()> {
        if self.remaining > 0 {
            if b < self.lo || b > self.hi {
                return Err(());
            }
            self.remaining -= 1;
            self.lo = 0x80;
            self.hi = 0xBF;
            return Ok(());
        }
        let (remaining, lo, hi) = match b {
            0x00..=0x7F => return Ok(()),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return Err(()),
        };
        self.remaining = remaining;
        self.lo = lo;
        self.hi = hi;
        Ok(())
    }
}

/// `from_utf8` and the state machine implement the same grammar, so an
/// invalid run always has a byte the state machine rejects. Should they ever
/// disagree, reporting the start of the run is still a correct rejection.
#[cold]
fn unreachable_invalid(offset: usize) -> Result<(), Utf8Error> {
    Err(Utf8Error { offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_tail_finds_the_cut_code_point() {
        assert_eq!(unfinished_tail(b""), 0);
        assert_eq!(unfinished_tail(b"abc"), 0);
        assert_eq!(unfinished_tail("a€".as_bytes()), 0);
        assert_eq!(unfinished_tail(&"a€".as_bytes()[..3]), 2);
        assert_eq!(unfinished_tail(&"a€".as_bytes()[..2]), 1);
        assert_eq!(unfinished_tail(&"𝄞".as_bytes()[..3]), 3);
        // Four continuation bytes: nothing to set aside, the check fails.
        assert_eq!(unfinished_tail(b"\x80\x80\x80\x80"), 0);
    }

    #[test]
    fn a_piece_cut_inside_a_code_point_is_completed_by_the_next() {
        let text = "κόσμε 日本語 🦀".repeat(20);
        for cut in 0..text.len() {
            let mut v = Utf8Validator::new();
            v.feed(&text.as_bytes()[..cut]).unwrap();
            v.feed(&text.as_bytes()[cut..]).unwrap();
            assert!(v.finish().is_ok(), "cut at {cut}");
        }
    }

    fn validate_split(data: &[u8], cuts: &[usize]) -> bool {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &c in cuts.iter().chain(core::iter::once(&data.len())) {
            if v.feed(&data[start..c]).is_err() {
                return false;
            }
            start = c;
        }
        v.finish().is_ok()
    }

    #[test]
    fn fails_on_the_first_bad_byte() {
        // Autobahn 6.4.1: the bad byte F4 90 arrives; fail before the rest.
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        let e = v.feed(b"\xf4\x90\x80\x80").unwrap_err();
        assert_eq!(e.offset(), 1);
    }

    #[test]
    fn rejects_overlongs_surrogates_and_out_of_range() {
        for bad in [
            &b"\xc0\x80"[..],
            b"\xc1\xbf",
            b"\xe0\x80\x80",
            b"\xe0\x9f\xbf",
            b"\xed\xa0\x80",
            b"\xed\xbf\xbf",
            b"\xf0\x80\x80\x80",
            b"\xf0\x8f\xbf\xbf",
            b"\xf4\x90\x80\x80",
            b"\xf5\x80\x80\x80",
            b"\xff",
            b"\x80",
        ] {
            let mut v = Utf8Validator::new();
            assert!(v.feed(bad).is_err(), "{bad:?}");
            for split in 1..bad.len() {
                assert!(!validate_split(bad, &[split]), "{bad:?} split at {split}");
            }
        }
    }

    #[test]
    fn error_offset_is_relative_to_the_failing_call() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xe2\x82").unwrap();
        assert_eq!(v.feed(b"x").unwrap_err().offset(), 0);
        let mut v = Utf8Validator::new();
        v.feed(b"\xe2").unwrap();
        assert_eq!(v.feed(b"\x82\x41").unwrap_err().offset(), 1);
    }

    #[test]
    fn accepts_boundaries() {
        for good in [
            "\u{0}",
            "\u{7f}",
            "\u{80}",
            "\u{7ff}",
            "\u{800}",
            "\u{d7ff}",
            "\u{e000}",
            "\u{ffff}",
            "\u{10000}",
            "\u{10ffff}",
        ] {
            let b = good.as_bytes();
            for split in 0..=b.len() {
                assert!(validate_split(b, &[split]), "{good:?} split at {split}");
            }
        }
    }

    #[cfg(not(miri))]
    mod props {
        use super::*;
        use proptest::prelude::*;

        fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                any::<String>().prop_map(String::into_bytes),
                (any::<String>(), any::<u8>(), any::<prop::sample::Index>()).prop_map(
                    |(s, b, i)| {
                        let mut v = s.into_bytes();
                        let at = i.index(v.len() + 1);
                        v.insert(at, b);
                        v
                    }
                ),
            ]
        }

        proptest! {
            #[test]
            fn agrees_with_core_from_utf8(data in arb_bytes(),
                                          cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
                let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
                points.sort_unstable();
                prop_assert_eq!(validate_split(&data, &points), core::str::from_utf8(&data).is_ok());
            }

            #[test]
            fn fails_exactly_at_the_first_unextendable_byte(data in arb_bytes()) {
                // Byte-at-a-time feeding: the failing byte is the shortest prefix
                // that is not a prefix of any valid UTF-8 string.
                let mut v = Utf8Validator::new();
                let mut failed_at = None;
                for (i, b) in data.iter().enumerate() {
                    if v.feed(core::slice::from_ref(b)).is_err() { failed_at = Some(i); break; }
                }
                let mut whole = Utf8Validator::new();
                let whole_res = whole.feed(&data);
                prop_assert_eq!(whole_res.err().map(|e| e.offset()), failed_at);
            }
        }
    }
}
