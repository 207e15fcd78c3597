//! The chat application: broadcast order and opcodes, a slow reader that
//! pings while large broadcasts are in flight (the case that corrupted
//! frames when a second handle wrote into the socket), and a client that
//! stops reading.

mod common;

use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use ws_proto::connection::Config;
use ws_server::chat::{self, Room};
use ws_server::{CloseCode, Message, RunningServer, Server, WebSocket};

fn start_chat(capacity: usize) -> RunningServer {
    let room = Arc::new(Room::new(capacity));
    chat::routes(Server::builder().bind("127.0.0.1:0"), room)
        .build()
        .unwrap()
        .spawn()
        .unwrap()
}

/// Message `i` of a run: its bytes say which message and which offset they
/// are, so a cut, a shift or a foreign byte shows.
fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| ((i * 31 + j) % 251) as u8).collect()
}

/// Which message of a run `data` is (the first byte says), after checking
/// every byte of it.
fn index_of(data: &[u8]) -> usize {
    let first = *data.first().expect("empty payload") as usize;
    // 31 * 81 = 2511 = 10 * 251 + 1: 81 is 31's inverse modulo 251.
    let i = first * 81 % 251;
    assert!(
        data == payload(i, data.len()).as_slice(),
        "corrupted payload of {} bytes",
        data.len()
    );
    i
}

/// Waits until the room's server has `n` members, by checking that a probe
/// message reaches the last client to join.
fn joined(ws: &mut WebSocket<TcpStream>) {
    ws.send_text("joined").unwrap();
    assert_eq!(ws.recv().unwrap(), Some(Message::Text("joined".into())));
}

#[test]
fn broadcast_reaches_every_client_in_one_order_with_its_opcode() {
    let server = start_chat(64);
    let addr = server.local_addr();
    let mut clients: Vec<_> = (0..3)
        .map(|_| {
            let mut ws = proto_client(addr, "/ws", Config::default());
            joined(&mut ws);
            ws
        })
        .collect();
    // Earlier clients saw the later ones' join probes.
    for (k, ws) in clients.iter_mut().enumerate() {
        for _ in k + 1..3 {
            assert_eq!(ws.recv().unwrap(), Some(Message::Text("joined".into())));
        }
    }
    // Three senders at once: whatever order the server picks, everybody,
    // the senders included, sees that same order.
    let writers: Vec<_> = clients.iter().map(|ws| ws.writer()).collect();
    let senders: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(k, writer)| {
            thread::spawn(move || {
                for n in 0..20 {
                    if n % 2 == 0 {
                        writer.send_text(&format!("{k}:{n}")).unwrap();
                    } else {
                        writer.send_binary(&[k as u8, n as u8]).unwrap();
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let seen: Vec<Vec<Message>> = clients
        .iter_mut()
        .map(|ws| (0..60).map(|_| ws.recv().unwrap().unwrap()).collect())
        .collect();
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
    for k in 0..3u8 {
        let mine: Vec<&Message> = seen[0]
            .iter()
            .filter(|m| match m {
                Message::Text(t) => t.starts_with(&format!("{k}:")),
                Message::Binary(b) => b[0] == k,
            })
            .collect();
        assert_eq!(mine.len(), 20, "every message of sender {k} arrived");
        for (n, m) in mine.iter().enumerate() {
            match m {
                Message::Text(t) => assert_eq!(t, &format!("{k}:{n}"), "text stays text"),
                Message::Binary(b) => assert_eq!(&b[..], &[k, n as u8], "binary stays binary"),
            }
        }
    }
}

#[test]
fn slow_reader_that_pings_often_gets_intact_frames_during_large_broadcasts() {
    const COUNT: usize = 24;
    const LEN: usize = 200_000;
    let server = start_chat(COUNT + 8);
    let addr = server.local_addr();
    // The slow reader is tungstenite: it rejects any frame whose header is
    // not well formed (a pong written into a data frame shows up as bad
    // reserved bits or an unknown opcode).
    let mut slow = tungstenite_client(addr, "/ws");
    slow.get_ref()
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let mut sender = proto_client(addr, "/ws", Config::default());
    joined(&mut sender);

    let writer = sender.writer();
    let send = thread::spawn(move || {
        for i in 0..COUNT {
            writer.send_binary(&payload(i, LEN)).unwrap();
        }
    });
    let drain_own = thread::spawn(move || {
        for i in 0..COUNT {
            match sender.recv().unwrap() {
                Some(Message::Binary(b)) => assert_eq!(index_of(&b), i),
                other => panic!("sender got {other:?}"),
            }
        }
        sender
    });

    let start = Instant::now();
    let mut got = Vec::new();
    let mut pongs = 0;
    let mut pings = 0u32;
    let mut last_ping = Instant::now();
    while got.len() < COUNT {
        assert!(start.elapsed() < GENEROUS * 3, "only {} arrived", got.len());
        if last_ping.elapsed() >= Duration::from_millis(2) {
            pings += 1;
            slow.send(tungstenite::Message::Ping(
                pings.to_be_bytes().to_vec().into(),
            ))
            .unwrap();
            last_ping = Instant::now();
        }
        match slow.read() {
            Ok(tungstenite::Message::Binary(b)) => {
                got.push(index_of(&b));
                // Slow: the server's writes to us block while it answers
                // our pings.
                thread::sleep(Duration::from_millis(15));
            }
            Ok(tungstenite::Message::Text(t)) => assert_eq!(t.as_str(), "joined"),
            Ok(tungstenite::Message::Pong(_)) => pongs += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!(
                "frame corruption or failure after {} messages: {e}",
                got.len()
            ),
        }
    }
    assert_eq!(got, (0..COUNT).collect::<Vec<_>>(), "all, in order");
    assert!(
        pongs > 0,
        "pings were answered while broadcasts were in flight"
    );
    send.join().unwrap();
    drain_own.join().unwrap();
}

#[test]
fn client_that_stops_reading_is_closed_with_1013_and_the_others_continue() {
    // Enough bytes to fill a stalled client's socket buffers several times.
    const COUNT: usize = 250;
    const LEN: usize = 100_000;
    // Room for a reader that a loaded machine leaves a few dozen messages
    // behind; the stalled client still overflows it (250 × 100 KB is far
    // more than loopback socket buffers plus 48 queued).
    let server = start_chat(48);
    let addr = server.local_addr();
    let mut stalled = proto_client(addr, "/ws", Config::default());
    joined(&mut stalled);
    let mut reader = proto_client(addr, "/ws", Config::default());
    joined(&mut reader);
    let mut sender = proto_client(addr, "/ws", Config::default());
    joined(&mut sender);
    assert_eq!(reader.recv().unwrap(), Some(Message::Text("joined".into())));

    let from_reader = thread::spawn(move || {
        for i in 0..COUNT {
            match reader.recv().unwrap() {
                Some(Message::Binary(b)) => assert_eq!(index_of(&b), i % 251),
                other => panic!("got {other:?} at {i}"),
            }
        }
    });
    // The sender waits for its own copy before the next message, so the
    // clients that read stay close behind and only the stalled one falls
    // behind by the queue's capacity.
    for i in 0..COUNT {
        sender.send_binary(&payload(i % 251, LEN)).unwrap();
        match sender.recv().unwrap() {
            Some(Message::Binary(b)) => assert_eq!(index_of(&b), i % 251),
            other => panic!("got {other:?} at {i}"),
        }
    }
    from_reader.join().unwrap();

    // The stalled client now reads: a prefix of the run, intact and in
    // order, then close 1013.
    // (It was connected first, so it saw the others' join probes.)
    for _ in 0..2 {
        assert_eq!(
            stalled.recv().unwrap(),
            Some(Message::Text("joined".into()))
        );
    }
    let mut n = 0;
    while let Some(message) = stalled.recv().unwrap() {
        match message {
            Message::Binary(b) => assert_eq!(index_of(&b), n % 251),
            other => panic!("got {other:?}"),
        }
        n += 1;
    }
    assert!(n < COUNT, "the stalled client was closed before the end");
    assert_eq!(
        stalled.received_close().map(|(code, _)| code),
        Some(CloseCode::TRY_AGAIN_LATER)
    );
}
