//! The split API: writers on many threads, the reader's pongs in between,
//! timeouts on receive, timers run by writers, closing from a writer.

mod common;

use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use common::*;
use ws_proto::connection::{Config, Connection};
use ws_server::{CloseCode, Error, Message, WebSocket};

fn pair(server_config: Config) -> (WebSocket<UnixStream>, WebSocket<UnixStream>) {
    let (a, b) = UnixStream::pair().unwrap();
    let server = WebSocket::new(a, Connection::server(server_config), &[]);
    let client = WebSocket::new(b, Connection::client(Config::default(), random()), &[]);
    (server, client)
}

#[test]
fn frames_from_many_writers_and_the_readers_pongs_never_interleave() {
    const THREADS: usize = 6;
    const EACH: usize = 40;
    let (server, mut client) = pair(Config::default());
    let (mut reader, writer) = server.split();
    let pushers: Vec<_> = (0..THREADS)
        .map(|t| {
            let writer = writer.clone();
            thread::spawn(move || {
                for n in 0..EACH {
                    // Sizes across the 7-bit, 16-bit and 64-bit length forms.
                    let len = [10, 300, 70_000][n % 3];
                    let mut data = vec![t as u8; len];
                    data[0] = n as u8;
                    writer.send_binary(&data).unwrap();
                }
            })
        })
        .collect();
    // The server's reader answers the client's pings while the pushers
    // write: each pong must land between whole frames.
    let server_reader = thread::spawn(move || reader.recv().map(|m| m.is_none()));
    let client_writer = client.writer();
    let pinger = thread::spawn(move || {
        for i in 0..100u8 {
            client_writer.ping(&[i]).unwrap();
        }
    });
    let mut next = [0usize; THREADS];
    for _ in 0..THREADS * EACH {
        match client.recv().unwrap() {
            Some(Message::Binary(data)) => {
                let t = data[1] as usize;
                assert_eq!(data[0] as usize, next[t], "thread {t} out of order");
                assert!(data[1..].iter().all(|&b| b as usize == t), "mixed payload");
                assert_eq!(data.len(), [10, 300, 70_000][next[t] % 3]);
                next[t] += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for p in pushers {
        p.join().unwrap();
    }
    pinger.join().unwrap();
    client.close(CloseCode::NORMAL, "").unwrap();
    assert!(server_reader.join().unwrap().unwrap(), "clean close");
}

#[test]
fn recv_timeout_and_try_recv_give_up_and_leave_the_connection_usable() {
    let (mut server, client) = pair(Config::default());
    assert!(matches!(
        server.recv_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    assert!(matches!(server.try_recv(), Err(Error::Timeout)));
    client.send_text("one").unwrap();
    client.send_text("two").unwrap();
    assert_eq!(
        server.recv_timeout(GENEROUS).unwrap(),
        Some(Message::Text("one".into()))
    );
    // Already read and buffered, or waiting in the socket: no wait needed.
    let second = eventually(|| server.try_recv().ok());
    assert_eq!(second, Some(Message::Text("two".into())));
}

#[test]
fn keep_alive_pings_go_out_while_the_handler_only_sends() {
    let server = start(|b| {
        b.keep_alive_interval(Duration::from_millis(100))
            .websocket("/push", |ws| {
                // Never in recv: the sends run the timers.
                let writer = ws.writer();
                for _ in 0..12 {
                    thread::sleep(Duration::from_millis(50));
                    if writer.send_text("tick").is_err() {
                        return;
                    }
                }
            })
    });
    let mut tung = tungstenite_client(server.local_addr(), "/push");
    let (mut ticks, mut pings) = (0, 0);
    while ticks < 12 {
        match tung.read().unwrap() {
            tungstenite::Message::Text(t) => {
                assert_eq!(t.as_str(), "tick");
                ticks += 1;
            }
            tungstenite::Message::Ping(_) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        pings >= 1,
        "no keep-alive ping in 600 ms at a 100 ms interval"
    );
}

#[test]
fn a_writer_on_another_thread_closes_while_the_reader_waits() {
    let (server, mut client) = pair(Config::default());
    let (mut reader, writer) = server.split();
    let waiting = thread::spawn(move || reader.recv().map(|m| m.is_none()));
    // The client must read for the handshake to complete.
    let closer = thread::spawn(move || {
        writer.close(CloseCode::GOING_AWAY, "bye").unwrap();
        writer.wait_finished(GENEROUS)
    });
    assert_eq!(client.recv().unwrap(), None);
    assert_eq!(
        client.received_close(),
        Some((CloseCode::GOING_AWAY, "bye".into()))
    );
    assert!(waiting.join().unwrap().unwrap(), "reader saw the end");
    assert!(closer.join().unwrap(), "the writer saw it finish");
}

#[test]
fn abort_wakes_a_blocked_reader() {
    let (server, _client) = pair(Config::default());
    let (mut reader, writer) = server.split();
    let waiting = thread::spawn(move || reader.recv());
    thread::sleep(Duration::from_millis(20));
    writer.abort();
    // The reader returns (nothing more to read) instead of blocking.
    assert!(matches!(waiting.join().unwrap(), Ok(None) | Err(_)));
    assert!(matches!(writer.send_text("late"), Err(Error::Closed)));
}
