//! Frame header decoding for each length form, and encoding.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ws_proto::frame::{FrameHeader, FrameRules, OpCode, MAX_HEADER_LEN};
use ws_proto::Role;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    let rules = FrameRules {
        role: Role::Server,
        allowed_rsv: 0,
        max_payload: u64::MAX >> 1,
    };
    for len in [5u64, 300, 70_000] {
        let mut h = FrameHeader::new(OpCode::Binary, true, len);
        h.mask = Some([1, 2, 3, 4]);
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut buf);
        group.bench_with_input(BenchmarkId::new("decode_and_check", len), &len, |b, _| {
            b.iter(|| {
                let (h, used) = FrameHeader::decode(black_box(&buf[..n])).unwrap().unwrap();
                h.check(&rules).unwrap();
                used
            })
        });
        group.bench_with_input(BenchmarkId::new("encode", len), &len, |b, _| {
            let mut out = [0u8; MAX_HEADER_LEN];
            b.iter(|| black_box(&h).encode(black_box(&mut out)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
