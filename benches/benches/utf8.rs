//! The incremental validator against `core::str::from_utf8` and simdutf8
//! on the same input, whole and (validator) fed in 1 KiB pieces.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ws_proto::utf8::Utf8Validator;

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let ascii: Vec<u8> = "The quick brown fox jumps over the lazy dog. "
        .repeat(1500)
        .into_bytes();
    let mixed: Vec<u8> = "κόσμε – ünïcödé – 日本語テキスト – 🦀🦀 – plain ascii too. "
        .repeat(700)
        .into_bytes();
    let mixed_64k = mixed[..mixed.len().min(64 * 1024)].to_vec();
    let mixed_64k = match std::str::from_utf8(&mixed_64k) {
        Ok(_) => mixed_64k,
        Err(e) => mixed_64k[..e.valid_up_to()].to_vec(),
    };
    vec![("ascii", ascii), ("mixed", mixed), ("mixed_64k", mixed_64k)]
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for (name, data) in inputs() {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_with_input(BenchmarkId::new("core_from_utf8", name), &data, |b, d| {
            b.iter(|| core::str::from_utf8(black_box(d)).is_ok())
        });
        group.bench_with_input(BenchmarkId::new("simdutf8_basic", name), &data, |b, d| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(d)).is_ok())
        });
        group.bench_with_input(BenchmarkId::new("simdutf8_compat", name), &data, |b, d| {
            b.iter(|| simdutf8::compat::from_utf8(black_box(d)).is_ok())
        });
        group.bench_with_input(BenchmarkId::new("validator_whole", name), &data, |b, d| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                v.feed(black_box(d)).is_ok() && v.finish().is_ok()
            })
        });
        group.bench_with_input(
            BenchmarkId::new("validator_1k_pieces", name),
            &data,
            |b, d| {
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    d.chunks(1024).all(|c| v.feed(black_box(c)).is_ok()) && v.finish().is_ok()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
