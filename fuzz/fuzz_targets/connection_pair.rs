//! A client and a server `Connection` wired to each other, driven by an
//! arbitrary sequence of sends (any size, any fragment size), pings, closes,
//! clock advances and partial deliveries. See `ws_fuzz::run_pair` for the
//! invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ws_fuzz::run_pair(data));
