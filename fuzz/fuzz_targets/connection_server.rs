//! A whole server-role `Connection` fed arbitrary bytes (raw, and as
//! structured frames) in arbitrary chunk sizes, with arbitrary clock
//! advances, sends, partial writes and EOF. See `ws_fuzz::run_single` for
//! the input layout and the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_proto::Role;

#[global_allocator]
static ALLOC: ws_fuzz::Counting = ws_fuzz::Counting;

fuzz_target!(|data: &[u8]| ws_fuzz::run_single(Role::Server, data));
