//! permessage-deflate codec: compress and inflate JSON-like text of 1 KiB and
//! 64 KiB per message, for each backend and the settings that matter
//! (level, window/memory level, context takeover). The compressed sizes are
//! printed once per configuration, so a run shows speed and ratio together.
use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use ws_proto::deflate::{Backend, Config, MessageCompressor, MessageDecompressor};

/// A stream of distinct chat/API-like JSON messages of `len` bytes each.
fn messages(len: usize, count: usize) -> Vec<Vec<u8>> {
    const WORDS: &[&str] = &[
        "alpha",
        "order",
        "status",
        "pending",
        "shipped",
        "user",
        "message",
        "hello",
        "price",
        "quantity",
        "warehouse",
        "berlin",
        "tokyo",
        "delta",
        "update",
        "ok",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..count)
        .map(|_| {
            let mut m = String::from("[");
            while m.len() < len {
                let r = next();
                m.push_str(&format!(
                    r#"{{"id":{},"type":"{}","user":"{}{}","text":"{} {} {}","amount":{}.{:02},"ok":{}}},"#,
                    r % 1_000_000,
                    WORDS[(r >> 20) as usize % WORDS.len()],
                    WORDS[(r >> 24) as usize % WORDS.len()],
                    (r >> 28) % 1000,
                    WORDS[(r >> 32) as usize % WORDS.len()],
                    WORDS[(r >> 36) as usize % WORDS.len()],
                    WORDS[(r >> 40) as usize % WORDS.len()],
                    (r >> 44) % 10_000,
                    (r >> 50) % 100,
                    r & 1 == 0
                ));
            }
            m.truncate(len);
            m.into_bytes()
        })
        .collect()
}

fn configs() -> Vec<(&'static str, Config)> {
    let base = Config::default();
    #[allow(unused_mut)]
    let mut v = vec![
        ("miniz_w15_l6", base.with_backend(Backend::MinizOxide)),
        (
            "miniz_w15_l1",
            base.with_backend(Backend::MinizOxide).with_level(1),
        ),
        // Bounded by restarting every 4 KiB.
        (
            "miniz_w12_l6",
            base.with_backend(Backend::MinizOxide).with_window_bits(12),
        ),
        // Bounded by the RLE strategy.
        (
            "miniz_w10_l6_rle",
            base.with_backend(Backend::MinizOxide).with_window_bits(10),
        ),
    ];
    #[cfg(feature = "zlib-rs")]
    v.extend([
        ("zlibrs_w15_m8_l6", base.with_backend(Backend::ZlibRs)),
        (
            "zlibrs_w15_m8_l1",
            base.with_backend(Backend::ZlibRs).with_level(1),
        ),
        (
            "zlibrs_w12_m5_l6",
            base.with_backend(Backend::ZlibRs)
                .with_window_bits(12)
                .with_mem_level(5),
        ),
    ]);
    v
}

fn compress(c: &mut Criterion) {
    let mut group = c.benchmark_group("deflate_compress");
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    for size in [1024usize, 64 * 1024] {
        let msgs = messages(size, 32);
        group.throughput(Throughput::Bytes(size as u64));
        for (name, config) in configs() {
            for takeover in [true, false] {
                let config = config.with_no_context_takeover(!takeover);
                let id = format!("{name}_{}", if takeover { "takeover" } else { "reset" });
                // Ratio over one pass of the 32 messages.
                let mut probe = MessageCompressor::new(config).unwrap();
                let mut wire = BytesMut::new();
                for m in &msgs {
                    probe.compress(m, &mut wire).unwrap();
                }
                eprintln!(
                    "ratio {id} {size}: {:.2} ({} -> {} bytes)",
                    (msgs.len() * size) as f64 / wire.len() as f64,
                    msgs.len() * size,
                    wire.len()
                );
                let mut comp = MessageCompressor::new(config).unwrap();
                let mut out = BytesMut::with_capacity(2 * size);
                let mut i = 0;
                group.bench_function(BenchmarkId::new(id, size), |b| {
                    b.iter(|| {
                        out.clear();
                        i = (i + 1) % msgs.len();
                        comp.compress(black_box(&msgs[i]), &mut out).unwrap()
                    })
                });
            }
        }
    }
    group.finish();
}

fn inflate(c: &mut Criterion) {
    let mut group = c.benchmark_group("deflate_inflate");
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    for size in [1024usize, 64 * 1024] {
        let msgs = messages(size, 32);
        group.throughput(Throughput::Bytes(size as u64));
        // Messages that stand alone (no context takeover), so a decompressor
        // can go round them forever; compressed by the default backend.
        let config = Config::default().with_no_context_takeover(true);
        let mut comp = MessageCompressor::new(config).unwrap();
        let wires: Vec<BytesMut> = msgs
            .iter()
            .map(|m| {
                let mut w = BytesMut::new();
                comp.compress(m, &mut w).unwrap();
                w
            })
            .collect();
        #[allow(unused_mut)] // only pushed to with the zlib-rs feature
        let mut backends = vec![("miniz", Backend::MinizOxide)];
        #[cfg(feature = "zlib-rs")]
        backends.push(("zlibrs", Backend::ZlibRs));
        for (name, backend) in backends {
            for takeover in [true, false] {
                // With takeover the zlib-rs decompressor also keeps its own
                // copy of the window; the stream is the same.
                let config = config
                    .with_backend(backend)
                    .with_no_context_takeover(!takeover);
                let id = format!("{name}_{}", if takeover { "takeover" } else { "reset" });
                let mut d = MessageDecompressor::new(config).unwrap();
                let mut out = BytesMut::with_capacity(2 * size);
                let mut i = 0;
                group.bench_function(BenchmarkId::new(id, size), |b| {
                    b.iter(|| {
                        out.clear();
                        i = (i + 1) % wires.len();
                        d.decompress(black_box(&wires[i]), &mut out, 1 << 20)
                            .unwrap()
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, compress, inflate);
criterion_main!(benches);
