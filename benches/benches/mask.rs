//! Unmasking against a plain copy of the same buffer: masking reads and
//! writes every byte once, so a copy is the floor it should approach.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ws_proto::mask::apply_mask;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in [16usize, 1024, 64 * 1024, 1024 * 1024] {
        let src: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut buf = src.clone();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("apply_mask", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), black_box([1, 2, 3, 4]), black_box(1)))
        });
        group.bench_with_input(BenchmarkId::new("copy", size), &size, |b, _| {
            b.iter(|| black_box(&mut buf).copy_from_slice(black_box(&src)))
        });
        group.bench_with_input(BenchmarkId::new("bytewise", size), &size, |b, _| {
            b.iter(|| {
                let key = black_box([1u8, 2, 3, 4]);
                for (i, x) in black_box(&mut buf).iter_mut().enumerate() {
                    *x ^= key[(i + 1) % 4];
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
