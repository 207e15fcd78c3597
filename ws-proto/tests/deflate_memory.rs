//! Heap used by the deflate codec: the state per compressor and decompressor
//! for each backend and setting (printed as a table with `--nocapture`), and
//! the decompression bomb: a message of about 1 MiB on the wire that
//! inflates to 1 GiB must fail within its budget, holding little memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use bytes::BytesMut;
use ws_proto::deflate::{
    Backend, Config, DecompressError, MessageCompressor, MessageDecompressor, SYNC_MARKER,
};

// Per thread, so the test harness's own allocations on other threads do
// not show up in a measurement. Signed: a block freed on another thread
// than the one that allocated it moves both counters.
thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting live bytes and their peak.
struct Counting;

fn added(n: usize) {
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
    let _ = LIVE.try_with(|live| {
        let now = live.get() + n as isize;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn removed(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - n as isize));
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are
// updated on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            added(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            added(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        removed(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            removed(layout.size());
            added(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.with(|l| l.get())
}

fn allocations() -> usize {
    ALLOCS.with(|a| a.get())
}

fn reset_peak() {
    PEAK.with(|p| p.set(LIVE.with(|l| l.get())));
}

fn peak() -> isize {
    PEAK.with(|p| p.get())
}

fn backends() -> Vec<Backend> {
    #[allow(unused_mut)] // only pushed to with `deflate-zlib-rs`
    let mut v = vec![Backend::MinizOxide];
    #[cfg(feature = "deflate-zlib-rs")]
    v.push(Backend::ZlibRs);
    v
}

fn text(len: usize) -> Vec<u8> {
    let unit = br#"{"id":12345,"user":"someone","text":"a chat message of moderate length","tags":["a","b"]},"#;
    unit.iter().copied().cycle().take(len).collect()
}

/// Heap bytes held by a compressor and a decompressor after one message.
fn state_sizes(config: Config) -> (usize, usize) {
    let payload = text(8 * 1024);
    let mut wire = BytesMut::with_capacity(64 * 1024);
    let mut plain = BytesMut::with_capacity(64 * 1024);

    let before = live();
    let mut c = MessageCompressor::new(config).unwrap();
    assert_eq!(live(), before, "construction allocates nothing");
    c.compress(&payload, &mut wire).unwrap();
    let compressor = (live() - before) as usize;

    let before = live();
    let mut d = MessageDecompressor::new(config).unwrap();
    assert_eq!(live(), before, "construction allocates nothing");
    d.decompress(&wire, &mut plain, 1 << 20).unwrap();
    let decompressor = (live() - before) as usize;
    assert_eq!(&plain[..], &payload[..]);

    let before = live();
    assert!(c.release());
    assert_eq!(
        (before - live()) as usize,
        compressor,
        "release gives back all the compressor held"
    );
    (compressor, decompressor)
}

#[test]
fn state_per_backend_and_setting() {
    println!("| backend | window | mem level | takeover | compressor | decompressor |");
    println!("|---|---|---|---|---|---|");
    let mut zlib_15_8 = 0;
    let mut zlib_12_5 = 0;
    for backend in backends() {
        for (window_bits, mem_level) in [(15, 8), (15, 9), (12, 8), (12, 5), (10, 4), (9, 1)] {
            for takeover in [true, false] {
                let config = Config::default()
                    .with_backend(backend)
                    .with_window_bits(window_bits)
                    .with_mem_level(mem_level)
                    .with_no_context_takeover(!takeover);
                let (c, d) = state_sizes(config);
                println!(
                    "| {backend:?} | {window_bits} | {mem_level} | {takeover} | {:.1} KiB | {:.1} KiB |",
                    c as f64 / 1024.0,
                    d as f64 / 1024.0
                );
                if backend != Backend::MinizOxide && takeover {
                    if (window_bits, mem_level) == (15, 8) {
                        zlib_15_8 = c + d;
                    }
                    if (window_bits, mem_level) == (12, 5) {
                        zlib_12_5 = c + d;
                    }
                }
            }
        }
    }
    if cfg!(feature = "deflate-zlib-rs") {
        // The server defaults must buy what they are chosen for.
        assert!(
            zlib_12_5 * 10 < zlib_15_8 * 6,
            "12/5: {zlib_12_5} B, 15/8: {zlib_15_8} B"
        );
    }
}

/// One compressed message of `count` MiB of zeros, built from two sync
/// flushed segments: the first MiB (which starts with a literal) and a MiB
/// that refers only to zeros before it, repeated. Every repeat is valid
/// after the first, because the window then holds only zeros.
fn bomb(backend: Backend, count: usize) -> Vec<u8> {
    let config = Config::default()
        .with_backend(backend)
        .with_level(9)
        .with_mem_level(9);
    let mut c = MessageCompressor::new(config).unwrap();
    let mib = vec![0u8; 1 << 20];
    let mut first = BytesMut::new();
    c.compress_fragment(&mib, true, &mut first).unwrap();
    let mut repeat = BytesMut::new();
    c.compress_fragment(&mib, true, &mut repeat).unwrap();
    let mut wire = first.to_vec();
    for _ in 1..count {
        wire.extend_from_slice(&SYNC_MARKER);
        wire.extend_from_slice(&repeat);
    }
    wire
}

#[test]
fn a_gibibyte_bomb_fails_at_the_limit_with_little_memory() {
    for backend in backends() {
        let wire = bomb(backend, 1024);
        let config = Config::default().with_backend(backend);

        // It really is a gibibyte: inflate it all, dropping the output.
        let mut d = MessageDecompressor::new(config).unwrap();
        let mut sink = BytesMut::new();
        let mut total = 0usize;
        for frame in wire.chunks(64 * 1024) {
            total += d.feed(frame, &mut sink, usize::MAX).unwrap();
            sink.clear();
        }
        total += d.finish(&mut sink, usize::MAX).unwrap();
        assert_eq!(total, 1 << 30);

        // Against a 16 MiB message limit.
        let max_message_size = 16 << 20;
        let mut d = MessageDecompressor::new(config).unwrap();
        let mut message = BytesMut::new();
        let base = live();
        reset_peak();
        let started = Instant::now();
        let mut fed = 0;
        let mut result = Ok(0);
        for frame in wire.chunks(64 * 1024) {
            fed += frame.len();
            let budget = max_message_size - message.len();
            result = d.feed(frame, &mut message, budget);
            if result.is_err() {
                break;
            }
        }
        let elapsed = started.elapsed();
        let peak = (peak() - base) as usize;
        println!(
            "{backend:?}: {} KiB on the wire inflating to 1 GiB: {:?} after {} KiB fed, {:.1} ms, peak heap {:.1} MiB over a {} MiB limit",
            wire.len() / 1024,
            result,
            fed / 1024,
            elapsed.as_secs_f64() * 1e3,
            peak as f64 / (1 << 20) as f64,
            max_message_size >> 20,
        );
        assert_eq!(result, Err(DecompressError::TooLarge));
        assert!(wire.len() < 2 << 20, "the bomb is {} bytes", wire.len());
        assert!(
            fed < wire.len() / 8,
            "stopped after {fed} of {} bytes",
            wire.len()
        );
        // The message buffer (the limit, up to doubled by its growth policy)
        // plus one 64 KiB step and the inflater's state.
        assert!(
            peak <= 2 * (max_message_size + 64 * 1024) + 256 * 1024,
            "peak {peak}"
        );
        assert!(message.len() <= max_message_size);
    }
}

#[test]
fn no_allocation_per_message_once_warm() {
    let sizes = [8 * 1024, 17, 3000, 0, 12_000, 1];
    let messages: Vec<Vec<u8>> = (0..60).map(|i| text(sizes[i % sizes.len()] + i)).collect();
    for backend in backends() {
        for no_context_takeover in [false, true] {
            let config = Config::server_default()
                .with_backend(backend)
                .with_no_context_takeover(no_context_takeover);
            let mut c = MessageCompressor::new(config).unwrap();
            let mut d = MessageDecompressor::new(config).unwrap();
            let mut wire = BytesMut::with_capacity(64 * 1024);
            let mut plain = BytesMut::with_capacity(64 * 1024);
            let mut round = |m: &[u8]| {
                wire.clear();
                plain.clear();
                c.compress(m, &mut wire).unwrap();
                d.decompress(&wire, &mut plain, 1 << 20).unwrap();
                assert_eq!(&plain[..], m);
            };
            // Warm: states allocated, zlib-rs's window copy at full size.
            for m in &messages[..10] {
                round(m);
            }
            let before = allocations();
            for m in &messages[10..] {
                round(m);
            }
            assert_eq!(allocations() - before, 0, "{config:?}");
        }
    }
}
