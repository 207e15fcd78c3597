//! Whole receive path of a server connection: masked client frames in,
//! complete messages out, read 4 KiB at a time from memory as a socket would
//! deliver them. The same byte stream goes through ws-proto, tungstenite 0.30
//! and fastwebsockets 0.10 in the same run, for ratios.
//!
//! Each library is driven by one small adapter function, so that a change
//! of ws-proto's receive API touches one place.
use std::io::{Cursor, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::FutureExt;
use ws_proto::connection::{Config, Connection};

/// Bytes handed over per read, for every library alike.
const READ: usize = 4096;

/// `size` bytes of text with characters of 1 to 4 UTF-8 bytes.
fn mixed_text(size: usize) -> String {
    let mut out = String::with_capacity(size);
    for c in "κόσμε 日本語 🦀 ascii, ünïcödé ".chars().cycle() {
        if out.len() + c.len_utf8() > size {
            break;
        }
        out.push(c);
    }
    while out.len() < size {
        out.push('.');
    }
    out
}

/// What a client sends: `count` masked frames of `size` bytes.
fn client_stream(text: bool, size: usize, count: usize) -> Vec<u8> {
    let mut client = Connection::client(
        Config {
            max_send_queue: usize::MAX,
            ..Config::default()
        },
        [7; 32],
    );
    let payload = mixed_text(size);
    for _ in 0..count {
        if text {
            client.send_text(&payload).unwrap();
        } else {
            client.send_binary(payload.as_bytes()).unwrap();
        }
    }
    client.pending_output().to_vec()
}

/// ws-proto: feed the reads, take the messages; returns how many.
fn ws_proto_receive(wire: &[u8]) -> usize {
    let mut server = Connection::server(Config::default());
    let mut n = 0;
    for chunk in wire.chunks(READ) {
        // A socket read lands straight in the connection's buffer; the copy
        // from memory stands for it, as the other libraries' reads do.
        let buf = server.recv_buffer(chunk.len());
        buf[..chunk.len()].copy_from_slice(black_box(chunk));
        server.commit(chunk.len());
        while let Some(e) = server.poll_event() {
            black_box(&e);
            n += 1;
        }
    }
    n
}

/// tungstenite: a server `WebSocket` over a blocking in-memory stream.
fn tungstenite_receive(wire: &[u8], count: usize) -> usize {
    let stream = MemStream(Cursor::new(wire));
    let mut ws =
        tungstenite::WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Server, None);
    for _ in 0..count {
        black_box(ws.read().expect("tungstenite reads the stream"));
    }
    count
}

/// fastwebsockets: a server `WebSocket` with `FragmentCollector` (whole
/// messages, text checked as UTF-8, as its echo server uses it) over an
/// in-memory async stream that is always ready, so every future completes
/// on its first poll and no runtime is involved.
fn fastwebsockets_receive(wire: &[u8], count: usize) -> usize {
    let stream = MemStream(Cursor::new(wire));
    let ws = fastwebsockets::WebSocket::after_handshake(stream, fastwebsockets::Role::Server);
    let mut ws = fastwebsockets::FragmentCollector::new(ws);
    for _ in 0..count {
        let frame = ws
            .read_frame()
            .now_or_never()
            .expect("an in-memory stream is always ready")
            .expect("fastwebsockets reads the stream");
        black_box(&frame.payload);
    }
    count
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("connection_receive");
    for (text, size, count) in [
        (false, 16, 1000),
        (true, 16, 1000),
        (false, 1024, 1000),
        (true, 1024, 1000),
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
        group.bench_with_input(BenchmarkId::new("ws_proto", &name), &wire, |b, wire| {
            b.iter(|| assert_eq!(ws_proto_receive(wire), count))
        });
        group.bench_with_input(BenchmarkId::new("tungstenite", &name), &wire, |b, wire| {
            b.iter(|| tungstenite_receive(wire, count))
        });
        group.bench_with_input(
            BenchmarkId::new("fastwebsockets", &name),
            &wire,
            |b, wire| b.iter(|| fastwebsockets_receive(wire, count)),
        );
    }
    group.finish();
}

/// Reads come from memory in at most [`READ`] bytes; writes (none
/// expected) are discarded. Blocking and async, for both libraries.
struct MemStream<'a>(Cursor<&'a [u8]>);

impl Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(READ);
        self.0.read(&mut buf[..n])
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

impl tokio::io::AsyncRead for MemStream<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = buf.remaining().min(READ);
        let start = self.0.position() as usize;
        let data = *self.0.get_ref();
        let end = (start + n).min(data.len());
        buf.put_slice(&data[start..end]);
        self.0.set_position(end as u64);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for MemStream<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
