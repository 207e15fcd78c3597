//! RFC 7692 §7.2.3 vectors, round trips over every parameter combination
//! and backend pair, and the window-limit check with an independent decoder.

mod inspect;

use alloc::vec::Vec;

use bytes::BytesMut;
use proptest::prelude::*;

use super::{Backend, Config, DecompressError, MessageCompressor, MessageDecompressor};
use inspect::Inspector;

fn backends() -> Vec<Backend> {
    #[allow(unused_mut)] // only pushed to with `deflate-zlib-rs`
    let mut v = alloc::vec![Backend::MinizOxide];
    #[cfg(feature = "deflate-zlib-rs")]
    v.push(Backend::ZlibRs);
    v
}

const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

fn inflate_all(config: Config, messages: &[&[u8]]) -> Result<Vec<Vec<u8>>, DecompressError> {
    let mut d = MessageDecompressor::new(config).unwrap();
    let mut all = Vec::new();
    for m in messages {
        let mut out = BytesMut::new();
        d.decompress(m, &mut out, 1 << 20)?;
        all.push(out.to_vec());
    }
    Ok(all)
}

// ----- RFC 7692 §7.2.3 -------------------------------------------------------

#[cfg(feature = "deflate-zlib-rs")]
#[test]
fn rfc_7_2_3_1_and_2_zlib_rs_compresses_to_the_rfc_bytes() {
    let mut c = MessageCompressor::new(Config::default().with_backend(Backend::ZlibRs)).unwrap();
    let mut out = BytesMut::new();
    c.compress(b"Hello", &mut out).unwrap();
    assert_eq!(&out[..], &HELLO);
    out.clear();
    c.compress(b"Hello", &mut out).unwrap();
    assert_eq!(&out[..], &[0xf2, 0x00, 0x11, 0x00, 0x00]);
}

#[test]
fn rfc_7_2_3_1_one_block_in_one_or_two_frames() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        assert_eq!(inflate_all(config, &[&HELLO]).unwrap(), [b"Hello"]);
        // §7.2.3.1 also shows the message split over two frames.
        let mut d = MessageDecompressor::new(config).unwrap();
        let mut out = BytesMut::new();
        d.feed(&[0xf2, 0x48, 0xcd], &mut out, 64).unwrap();
        d.feed(&[0xc9, 0xc9, 0x07, 0x00], &mut out, 64).unwrap();
        d.finish(&mut out, 64).unwrap();
        assert_eq!(&out[..], b"Hello", "{backend:?}");
    }
}

#[test]
fn rfc_7_2_3_2_shared_window() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let got = inflate_all(config, &[&HELLO, &[0xf2, 0x00, 0x11, 0x00, 0x00]]).unwrap();
        assert_eq!(got, [b"Hello", b"Hello"], "{backend:?}");
    }
}

#[test]
fn rfc_7_2_3_3_no_compression_block() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let msg = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(
            inflate_all(config, &[&msg]).unwrap(),
            [b"Hello"],
            "{backend:?}"
        );
    }
}

#[test]
fn rfc_7_2_3_4_final_block_then_one_byte() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let msg = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        // The window survives the final block: the next message refers to it.
        let got = inflate_all(config, &[&msg, &[0xf2, 0x00, 0x11, 0x00, 0x00], &HELLO]).unwrap();
        assert_eq!(got, [b"Hello", b"Hello", b"Hello"], "{backend:?}");
    }
}

#[test]
fn a_message_ending_exactly_after_a_final_block_needs_no_tail() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let msg = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let got = inflate_all(config, &[&msg, &[0xf2, 0x00, 0x11, 0x00, 0x00]]).unwrap();
        assert_eq!(got, [b"Hello", b"Hello"], "{backend:?}");
    }
}

#[test]
fn a_final_block_inside_a_message_is_followed_by_a_stream_using_the_window() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let mut msg = alloc::vec![0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        msg.extend_from_slice(&[0xf2, 0x00, 0x11, 0x00, 0x00]);
        // Fed byte by byte, so the restart also happens between calls.
        let mut d = MessageDecompressor::new(config).unwrap();
        let mut out = BytesMut::new();
        for b in &msg {
            d.feed(core::slice::from_ref(b), &mut out, 64).unwrap();
        }
        d.finish(&mut out, 64).unwrap();
        assert_eq!(&out[..], b"HelloHello", "{backend:?}");
    }
}

/// A zlib sender that ends each message with `Z_FINISH` and carries its
/// window over with a dictionary: the second message refers ~30 KiB back,
/// across the final block, so the whole window must survive it (for
/// zlib-rs, through the decompressor's own copy of the window).
#[cfg(feature = "deflate-zlib-rs")]
#[test]
fn a_window_of_32_kib_survives_a_final_block() {
    let first = periodic(11, 31_000, 40_000);
    let second: Vec<u8> = first[9_000..19_000].to_vec();
    let mut d1 = zlib_rs::Deflate::new(6, false, 15);
    let mut wire1 = alloc::vec![0u8; 64 * 1024];
    let status = d1
        .compress(&first, &mut wire1, zlib_rs::DeflateFlush::Finish)
        .unwrap();
    assert_eq!(status, zlib_rs::Status::StreamEnd);
    wire1.truncate(d1.total_out() as usize);
    let mut d2 = zlib_rs::Deflate::new(6, false, 15);
    d2.set_dictionary(&first[first.len() - 32 * 1024..])
        .unwrap();
    let mut wire2 = alloc::vec![0u8; 64 * 1024];
    d2.compress(&second, &mut wire2, zlib_rs::DeflateFlush::SyncFlush)
        .unwrap();
    wire2.truncate(d2.total_out() as usize - 4);
    assert!(
        wire2.len() < 1_000,
        "the second message must refer back, not repeat"
    );

    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let mut d = MessageDecompressor::new(config).unwrap();
        for (wire, want) in [(&wire1, &first), (&wire2, &second)] {
            let mut out = BytesMut::new();
            for chunk in wire.chunks(999) {
                d.feed(chunk, &mut out, 1 << 20).unwrap();
            }
            d.finish(&mut out, 1 << 20).unwrap();
            assert!(out[..] == want[..], "{backend:?}");
        }
    }
}

#[test]
fn rfc_7_2_3_5_two_blocks_in_one_message() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let msg = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        assert_eq!(
            inflate_all(config, &[&msg]).unwrap(),
            [b"Hello"],
            "{backend:?}"
        );
    }
}

#[test]
fn an_empty_message_compresses_to_one_stored_block_header() {
    for backend in backends() {
        for takeover in [false, true] {
            let config = Config::default()
                .with_backend(backend)
                .with_no_context_takeover(!takeover);
            let mut c = MessageCompressor::new(config).unwrap();
            let mut d = MessageDecompressor::new(config).unwrap();
            for payload in [&b""[..], b"abc", b"", b""] {
                let mut wire = BytesMut::new();
                c.compress(payload, &mut wire).unwrap();
                if payload.is_empty() {
                    assert_eq!(&wire[..], &[0x00]);
                }
                let mut out = BytesMut::new();
                d.decompress(&wire, &mut out, 64).unwrap();
                assert_eq!(&out[..], payload);
            }
        }
    }
}

#[test]
fn an_empty_payload_is_an_empty_message_and_leaves_the_stream_in_step() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let got =
            inflate_all(config, &[&HELLO, &[], &[0xf2, 0x00, 0x11, 0x00, 0x00], &[]]).unwrap();
        assert_eq!(got, [&b"Hello"[..], b"", b"Hello", b""], "{backend:?}");
    }
}

#[test]
fn garbage_is_refused_and_the_decompressor_stays_failed() {
    for backend in backends() {
        let mut d = MessageDecompressor::new(Config::default().with_backend(backend)).unwrap();
        let mut out = BytesMut::new();
        // BTYPE = 11 is reserved.
        assert_eq!(
            d.decompress(&[0xff, 0xff, 0xff], &mut out, 64),
            Err(DecompressError::Corrupt)
        );
        assert_eq!(
            d.decompress(&HELLO, &mut out, 64),
            Err(DecompressError::Failed)
        );
        assert!(out.is_empty());
    }
}

#[test]
fn the_budget_is_exact() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let mut c = MessageCompressor::new(config).unwrap();
        let payload = alloc::vec![b'x'; 10_000];
        let mut wire = BytesMut::new();
        c.compress(&payload, &mut wire).unwrap();
        let mut out = BytesMut::new();
        let mut d = MessageDecompressor::new(config).unwrap();
        assert_eq!(d.decompress(&wire, &mut out, 10_000), Ok(10_000));
        let mut d = MessageDecompressor::new(config).unwrap();
        out.clear();
        assert_eq!(
            d.decompress(&wire, &mut out, 9_999),
            Err(DecompressError::TooLarge)
        );
        assert!(out.is_empty());
    }
}

#[test]
fn no_state_is_allocated_before_the_first_message() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let mut c = MessageCompressor::new(config).unwrap();
        let d = MessageDecompressor::new(config).unwrap();
        assert!(!c.is_allocated() && !d.is_allocated());
        // An empty message needs no state either.
        c.compress(b"", &mut BytesMut::new()).unwrap();
        assert!(!c.is_allocated());
    }
}

#[test]
fn a_streamed_message_cannot_be_interleaved_with_a_whole_one() {
    let mut c = MessageCompressor::new(Config::default()).unwrap();
    let mut out = BytesMut::new();
    c.compress_fragment(b"abc", false, &mut out).unwrap();
    assert_eq!(
        c.compress(b"x", &mut out),
        Err(super::CompressError::MessageOpen)
    );
    assert!(!c.release());
    c.compress_fragment(b"", true, &mut out).unwrap();
    assert!(c.release());
}

#[test]
fn a_released_compressor_restarts_without_confusing_the_peer() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let mut c = MessageCompressor::new(config).unwrap();
        let mut ins = Inspector::default();
        let text = b"the same words, the same words, the same words";
        for _ in 0..3 {
            let mut wire = BytesMut::new();
            c.compress(text, &mut wire).unwrap();
            assert_eq!(ins.message(&wire).unwrap(), text);
            assert!(c.release());
        }
    }
}

// ----- every parameter combination ------------------------------------------------

/// Data that tempts a matcher to reach `period` bytes back.
fn periodic(seed: u64, period: usize, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let base: Vec<u8> = (0..period)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"{}\":,abcdefgh 0123"[(x % 18) as usize]
        })
        .collect();
    (0..len).map(|i| base[i % period]).collect()
}

/// Compresses `messages` in pieces of `piece` bytes, checks the window limit
/// and the bytes with the independent decoder, and inflates the result with
/// every backend in pieces of `feed` bytes.
fn round_trip(config: Config, messages: &[Vec<u8>], piece: usize, feed: usize) {
    let mut c = MessageCompressor::new(config).unwrap();
    let mut ins = Inspector::default();
    let mut decoders: Vec<_> = backends()
        .into_iter()
        .map(|b| MessageDecompressor::new(config.with_backend(b)).unwrap())
        .collect();
    for m in messages {
        let mut wire = BytesMut::new();
        if piece >= m.len() {
            c.compress(m, &mut wire).unwrap();
        } else {
            let mut chunks = m.chunks(piece).peekable();
            while let Some(chunk) = chunks.next() {
                c.compress_fragment(chunk, chunks.peek().is_none(), &mut wire)
                    .unwrap();
            }
        }
        if config.no_context_takeover {
            ins = Inspector::default();
        }
        assert_eq!(&ins.message(&wire).unwrap(), m, "{config:?}");
        let limit = 1usize << config.window_bits;
        assert!(
            ins.max_distance <= limit,
            "{config:?}: distance {} > {limit}",
            ins.max_distance
        );
        for d in &mut decoders {
            let mut out = BytesMut::new();
            for chunk in wire.chunks(feed.max(1)) {
                let left = m.len() - out.len();
                d.feed(chunk, &mut out, left).unwrap();
            }
            let left = m.len() - out.len();
            d.finish(&mut out, left).unwrap();
            assert_eq!(
                &out[..],
                &m[..],
                "{config:?} inflated by {:?}",
                d.config().backend
            );
        }
    }
}

#[test]
fn every_window_level_and_takeover_round_trips_within_its_window() {
    let messages = alloc::vec![
        periodic(1, 300, 2_000),
        periodic(2, 700, 3_000),
        periodic(3, 5_000, 12_000),
        Vec::new(),
        periodic(4, 20_000, 41_000),
        periodic(1, 300, 500),
    ];
    for backend in backends() {
        for window_bits in 8..=15u8 {
            for no_context_takeover in [false, true] {
                for (level, mem_level) in [(0, 8), (1, 1), (6, 5), (9, 9)] {
                    let config = Config {
                        window_bits,
                        no_context_takeover,
                        level,
                        mem_level,
                        backend,
                    };
                    round_trip(config, &messages, usize::MAX, 4096);
                }
            }
        }
    }
}

#[test]
fn miniz_at_12_bits_restarts_instead_of_falling_back_to_rle() {
    // Repeats 1,500 bytes back: within a 4 KiB segment, out of RLE's reach.
    let data = periodic(9, 1_500, 40_000);
    let size = |window_bits: u8| {
        let config = Config::default()
            .with_backend(Backend::MinizOxide)
            .with_window_bits(window_bits);
        let mut c = MessageCompressor::new(config).unwrap();
        let mut ins = Inspector::default();
        let mut total = 0;
        for _ in 0..2 {
            let mut wire = BytesMut::new();
            c.compress(&data, &mut wire).unwrap();
            assert_eq!(ins.message(&wire).unwrap(), data);
            total += wire.len();
        }
        assert!(ins.max_distance <= 1 << window_bits, "{}", ins.max_distance);
        total
    };
    let (segmented, rle) = (size(12), size(11));
    assert!(
        segmented * 2 < rle,
        "12 bits: {segmented} bytes, 11 bits: {rle} bytes"
    );
}

#[test]
fn tiny_output_room_still_yields_one_marker() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let mut c = MessageCompressor::new(config).unwrap();
        c.set_min_spare(1);
        let mut ins = Inspector::default();
        for m in [
            periodic(5, 100, 3_000),
            periodic(6, 40, 300),
            alloc::vec![7u8; 1],
        ] {
            let mut wire = BytesMut::new();
            c.compress(&m, &mut wire).unwrap();
            assert_eq!(ins.message(&wire).unwrap(), m);
        }
    }
}

#[test]
fn a_bomb_stops_at_the_budget() {
    for backend in backends() {
        let config = Config::default().with_backend(backend);
        let mut c = MessageCompressor::new(config).unwrap();
        let mut wire = BytesMut::new();
        c.compress(&alloc::vec![0u8; 4 << 20], &mut wire).unwrap();
        let mut d = MessageDecompressor::new(config).unwrap();
        let mut out = BytesMut::new();
        let budget = 100_000;
        assert_eq!(
            d.feed(&wire, &mut out, budget),
            Err(DecompressError::TooLarge)
        );
        assert!(out.is_empty());
        // At most budget + 1 + one step was ever asked of the buffer; its
        // own growth policy may double that.
        assert!(
            out.capacity() <= 2 * (budget + 1 + 64 * 1024),
            "capacity {}",
            out.capacity()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_parameters_messages_and_pieces_round_trip(
        backend in proptest::sample::select(backends()),
        window_bits in 8..=15u8,
        no_context_takeover in any::<bool>(),
        level in 0..=9u8,
        mem_level in 1..=9u8,
        specs in proptest::collection::vec((any::<u64>(), 1..40_000usize, 0..20_000usize), 1..4),
        piece in 1..5_000usize,
        feed in 1..3_000usize,
    ) {
        let config = Config { window_bits, no_context_takeover, level, mem_level, backend };
        let messages: Vec<Vec<u8>> = specs.iter().map(|&(s, p, l)| periodic(s, p, l)).collect();
        round_trip(config, &messages, piece, feed);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_respect_the_budget(
        backend in proptest::sample::select(backends()),
        window_bits in 8..=15u8,
        data in proptest::collection::vec(any::<u8>(), 0..2_000),
        budget in 0..5_000usize,
    ) {
        let mut d = MessageDecompressor::new(Config::default().with_backend(backend).with_window_bits(window_bits)).unwrap();
        let mut out = BytesMut::new();
        match d.decompress(&data, &mut out, budget) {
            Ok(n) => prop_assert!(n <= budget && out.len() == n),
            Err(_) => prop_assert!(out.is_empty()),
        }
    }
}
