//! Whole receive path of a server connection: masked client frames in,
//! messages out, fed in 4 KiB reads as a socket would deliver them. The same
//! bytes go through tungstenite's server in the same run, for a ratio.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::io::{Cursor, Read, Write};
use ws_proto::connection::{Config, Connection};

fn client_stream(text: bool, size: usize, count: usize) -> Vec<u8> {
    let mut client = Connection::client(
        Config {
            max_send_queue: usize::MAX,
            ..Config::default()
        },
        [7; 32],
    );
    let payload = "a".repeat(size);
    for _ in 0..count {
        if text {
            client.send_text(&payload).unwrap();
        } else {
            client.send_binary(payload.as_bytes()).unwrap();
        }
    }
    client.pending_output().to_vec()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("connection_receive");
    for (text, size, count) in [
        (false, 16, 1000),
        (true, 16, 1000),
        (false, 64 * 1024, 16),
        (true, 64 * 1024, 16),
    ] {
        let wire = client_stream(text, size, count);
        let name = format!(
            "{}_{}x{}",
            if text { "text" } else { "binary" },
            count,
            size
        );
        group.throughput(Throughput::Bytes(wire.len() as u64));
        let label = name.clone();
        group.bench_with_input(BenchmarkId::new("ws_proto", name), &wire, |b, wire| {
            b.iter(|| {
                let mut server = Connection::server(Config::default());
                let mut n = 0;
                for chunk in wire.chunks(4096) {
                    server.feed(black_box(chunk));
                    while let Some(e) = server.poll_event() {
                        black_box(&e);
                        n += 1;
                    }
                }
                assert_eq!(n, count);
            })
        });
        group.bench_with_input(BenchmarkId::new("tungstenite", &label), &wire, |b, wire| {
            b.iter(|| {
                let stream = MemStream {
                    input: Cursor::new(black_box(&wire[..])),
                };
                let mut ws = tungstenite::WebSocket::from_raw_socket(
                    stream,
                    tungstenite::protocol::Role::Server,
                    None,
                );
                for _ in 0..count {
                    black_box(ws.read().expect("tungstenite reads the stream"));
                }
            })
        });
    }
    group.finish();
}

/// Reads come from memory in at most 4 KiB pieces, like the ws-proto side;
/// writes (none expected) are discarded.
struct MemStream<'a> {
    input: Cursor<&'a [u8]>,
}

impl Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(4096);
        self.input.read(&mut buf[..n])
    }
}

impl Write for MemStream<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
