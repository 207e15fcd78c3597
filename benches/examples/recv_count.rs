//! Runs one receive path over a fixed masked byte stream, for instruction
//! counting under `valgrind --tool=callgrind` (repeatable on a noisy
//! machine, unlike a timing):
//!
//! ```text
//! cargo build --release -p ws-benches --example recv_count
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/recv_count ws_proto binary 16 1000 100
//! ```
//!
//! Arguments: `ws_proto|ws_proto_feed|tungstenite`, `text|binary`, payload
//! size, messages per stream, repetitions. Run with 0 repetitions for the
//! fixed cost to subtract.
use std::hint::black_box;
use std::io::{Cursor, Read, Write};
use ws_proto::connection::{Config, Connection};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [which, kind, size, count, reps] = &args[..] else {
        eprintln!("usage: recv_count IMPL text|binary SIZE COUNT REPS");
        std::process::exit(2);
    };
    let (size, count, reps): (usize, usize, usize) = (
        size.parse().unwrap(),
        count.parse().unwrap(),
        reps.parse().unwrap(),
    );
    let text = kind == "text";
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
    let wire = client.pending_output().to_vec();
    for _ in 0..reps {
        let n = match which.as_str() {
            "ws_proto" => {
                let mut server = Connection::server(Config::default());
                let mut n = 0;
                for chunk in wire.chunks(4096) {
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
            "ws_proto_feed" => {
                let mut server = Connection::server(Config::default());
                let mut n = 0;
                for chunk in wire.chunks(4096) {
                    server.feed(black_box(chunk));
                    while let Some(e) = server.poll_event() {
                        black_box(&e);
                        n += 1;
                    }
                }
                n
            }
            "tungstenite" => {
                let stream = MemStream {
                    input: Cursor::new(&wire[..]),
                };
                let mut ws = tungstenite::WebSocket::from_raw_socket(
                    stream,
                    tungstenite::protocol::Role::Server,
                    None,
                );
                for _ in 0..count {
                    black_box(ws.read().unwrap());
                }
                count
            }
            other => panic!("unknown implementation {other}"),
        };
        assert_eq!(n, count);
    }
}

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
