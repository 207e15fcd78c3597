//! Split halves: different tasks, the driver answering while nobody reads,
//! bounded queues.
// `Message::Text` takes `Utf8Bytes` once ws-proto's data-path rewrite lands;
// `String::into()` builds it then and is a no-op today.
#![allow(clippy::useless_conversion)]

mod common;

use std::time::Duration;

use common::RawPeer;
use futures_util::{SinkExt, StreamExt};
use ws_tokio::proto::connection::{Error as ProtocolError, Event};
use ws_tokio::{CloseCode, Config, Error, Message, Role, SplitOptions, WebSocketStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halves_work_from_different_tasks_and_the_writer_clones() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let (mut reader, writer) =
        WebSocketStream::from_raw(a, Role::Server, Config::default()).split();
    let mut client = WebSocketStream::from_raw(b, Role::Client, Config::default());

    // Two tasks write through clones of the write half.
    let senders: Vec<_> = (0..2)
        .map(|task| {
            let writer = writer.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    writer
                        .send(Message::Text(format!("{task}:{i}").into()))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    // A third task reads.
    let reading = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(item) = reader.recv().await {
            got.push(item.unwrap());
        }
        got
    });
    for i in 0..30u8 {
        client.send(Message::Binary(vec![i].into())).await.unwrap();
    }
    let mut from_server = Vec::new();
    while from_server.len() < 100 {
        match client.recv().await.unwrap().unwrap() {
            Message::Text(t) => from_server.push(t.to_string()),
            other => panic!("{other:?}"),
        }
    }
    for s in senders {
        s.await.unwrap();
    }
    // Each task's messages arrive in its own order.
    for task in 0..2 {
        let mine: Vec<_> = from_server
            .iter()
            .filter(|t| t.starts_with(&format!("{task}:")))
            .cloned()
            .collect();
        let expected: Vec<_> = (0..50).map(|i| format!("{task}:{i}")).collect();
        assert_eq!(mine, expected);
    }
    client.close(CloseCode::NORMAL, "").await.unwrap();
    let got = reading.await.unwrap();
    let expected: Vec<Message> = (0..30u8).map(|i| Message::Binary(vec![i].into())).collect();
    assert_eq!(got, expected);
    // The connection is over: the write half says so.
    writer.closed().await;
    assert!(matches!(
        writer.send(Message::Text("late".into())).await,
        Err(Error::Closed)
    ));
}

/// Nobody awaits the read half: the driver still answers pings, sends
/// keep-alive pings on time and replies to the peer's close.
#[tokio::test(start_paused = true)]
async fn the_driver_answers_and_pings_while_nobody_reads() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let config = Config {
        keep_alive_interval: Some(Duration::from_secs(20)),
        ..Config::default()
    };
    let (reader, _writer) = WebSocketStream::from_raw(a, Role::Server, config).split();
    let mut peer = RawPeer::new(b, Role::Client);
    let start = tokio::time::Instant::now();

    peer.conn.send_ping(b"1").unwrap();
    peer.flush().await;
    assert_eq!(peer.next_event().await, Some(Event::Pong(b"1"[..].into())));

    assert!(matches!(peer.next_event().await, Some(Event::Ping(_))));
    assert_eq!(start.elapsed(), Duration::from_secs(20));

    peer.conn.close(CloseCode::NORMAL, "").unwrap();
    peer.flush().await;
    assert!(matches!(
        peer.next_event().await,
        Some(Event::Close {
            code: CloseCode::NORMAL,
            ..
        })
    ));
    drop(reader);
}

/// The read half's queue is bounded: with a reader that does not read, the
/// driver stops taking input, so the peer's writes back up instead of
/// memory growing.
#[tokio::test(start_paused = true)]
async fn a_slow_reader_stops_the_driver_reading() {
    let (a, b) = tokio::io::duplex(4096);
    let ws = WebSocketStream::from_raw(a, Role::Server, Config::default());
    let options = SplitOptions {
        read_queue: 2,
        write_queue: 2,
    };
    let (mut reader, _writer) = ws.split_with(options);
    let mut client = WebSocketStream::from_raw(b, Role::Client, Config::default());
    let mut sent = 0;
    loop {
        let send = client.send(Message::Binary(vec![7; 1024].into()));
        match tokio::time::timeout(Duration::from_secs(5), send).await {
            Ok(result) => {
                result.unwrap();
                sent += 1;
            }
            Err(_) => break,
        }
        assert!(
            sent < 100,
            "the driver keeps reading for a reader that does not"
        );
    }
    // What is buffered: the reader's queue, the duplex, the core's input.
    assert!(sent >= 2, "{sent}");
    // Nothing was lost: reading drains it all, and the client can go on.
    for _ in 0..sent {
        assert_eq!(
            reader.recv().await.unwrap().unwrap(),
            Message::Binary(vec![7; 1024].into())
        );
    }
}

/// A write half whose queue is full refuses `try_send`, and `send` waits
/// for room rather than queueing without bound.
#[tokio::test(start_paused = true)]
async fn the_write_queue_is_bounded() {
    let (a, _b) = tokio::io::duplex(1024);
    let config = Config {
        max_send_queue: 2048,
        ..Config::default()
    };
    let ws = WebSocketStream::from_raw(a, Role::Server, config);
    let (_reader, writer) = ws.split_with(SplitOptions {
        read_queue: 1,
        write_queue: 4,
    });
    let mut accepted = 0;
    loop {
        let send = writer.send(Message::Binary(vec![1; 512].into()));
        match tokio::time::timeout(Duration::from_secs(1), send).await {
            Ok(result) => {
                result.unwrap();
                accepted += 1;
            }
            Err(_) => break,
        }
        assert!(accepted < 64, "the write half accepts without bound");
    }
    assert!(matches!(
        writer.try_send(Message::Text("x".into())),
        Err(Error::QueueFull)
    ));
}

/// The write half is a Sink and the read half a Stream.
#[tokio::test]
async fn halves_are_sink_and_stream() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let (reader, mut writer) =
        WebSocketStream::from_raw(a, Role::Server, Config::default()).split();
    let client = WebSocketStream::from_raw(b, Role::Client, Config::default());
    let echo = tokio::spawn(async move {
        let (sink, stream) = StreamExt::split(client);
        stream.forward(sink).await
    });
    let messages: Vec<Message> = (0..20)
        .map(|i| Message::Text(format!("{i}").into()))
        .collect();
    writer
        .send_all(&mut futures_util::stream::iter(
            messages.clone().into_iter().map(Ok),
        ))
        .await
        .unwrap();
    let echoed: Vec<Message> = reader.take(20).map(Result::unwrap).collect().await;
    assert_eq!(echoed, messages);
    writer.close(CloseCode::NORMAL, "").await.unwrap();
    echo.await.unwrap().unwrap();
}

/// When the peer vanishes, the read half reports it once and ends.
#[tokio::test]
async fn the_read_half_reports_an_abnormal_end() {
    let (a, b) = tokio::io::duplex(1024);
    let (mut reader, _writer) =
        WebSocketStream::from_raw(a, Role::Server, Config::default()).split();
    drop(b);
    assert!(matches!(
        reader.recv().await,
        Some(Err(Error::Protocol(ProtocolError::AbnormalClosure)))
    ));
    assert!(reader.recv().await.is_none());
}

/// Once both halves are gone nobody can use the connection: the driver
/// closes it with 1000 and finishes the handshake.
#[tokio::test]
async fn dropping_both_halves_closes_with_1000() {
    let (a, b) = tokio::io::duplex(1024);
    let ws = WebSocketStream::from_raw(a, Role::Server, Config::default());
    let (reader, writer, driver) = ws.split_with_driver(SplitOptions::default());
    let driver = tokio::spawn(driver);
    let mut peer = RawPeer::new(b, Role::Client);
    drop((reader, writer));
    assert!(matches!(
        peer.next_event().await,
        Some(Event::Close {
            code: CloseCode::NORMAL,
            ..
        })
    ));
    peer.flush().await; // the reply
    driver.await.unwrap();
    assert!(
        peer.next_event().await.is_none(),
        "the server closed the transport"
    );
}
