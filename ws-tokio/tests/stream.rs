//! WebSocketStream behaviour: cancel safety, Stream/Sink, batching, close,
//! and the protocol timers on tokio's (paused) clock.
// `Message::Text` takes `Utf8Bytes` once ws-proto's data-path rewrite lands;
// `String::into()` builds it then and is a no-op today.
#![allow(clippy::useless_conversion)]

mod common;

use std::time::Duration;

use common::{client_text_frame, RawPeer};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use ws_tokio::proto::connection::{Error as ProtocolError, Event, State};
use ws_tokio::{CloseCode, Config, Error, Message, Role, WebSocketStream};

fn pair(config: Config) -> (WebSocketStream<tokio::io::DuplexStream>, RawPeer) {
    let (a, b) = tokio::io::duplex(1 << 16);
    (
        WebSocketStream::from_raw(a, Role::Server, config),
        RawPeer::new(b, Role::Client),
    )
}

/// Frames arrive a few bytes at a time while `recv` is cancelled by
/// `select!` every time it would wait: every message still arrives whole
/// and in order, because the partial frame lives in the core.
#[tokio::test]
async fn recv_cancelled_mid_frame_in_select_loses_nothing() {
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let mut server = WebSocketStream::from_raw(a, Role::Server, Config::default());
    let texts: Vec<String> = (0..200)
        .map(|i| format!("message {i} {}", "x".repeat(i)))
        .collect();
    let wire: Vec<u8> = texts.iter().flat_map(|t| client_text_frame(t)).collect();
    let writer = tokio::spawn(async move {
        // Chunk sizes 1..=7 put frame boundaries everywhere, headers included.
        let mut rest = &wire[..];
        let mut size = 1;
        while !rest.is_empty() {
            let n = size.min(rest.len());
            b.write_all(&rest[..n]).await.unwrap();
            rest = &rest[n..];
            size = size % 7 + 1;
            tokio::task::yield_now().await;
        }
        b
    });

    let mut received = Vec::new();
    let mut cancelled = 0u32;
    while received.len() < texts.len() {
        tokio::select! {
            biased;
            item = server.recv() => match item.unwrap().unwrap() {
                Message::Text(text) => received.push(text.to_string()),
                other => panic!("unexpected {other:?}"),
            },
            // Completes on its second poll: cancels `recv` each time it waits.
            () = tokio::task::yield_now() => cancelled += 1,
        }
    }
    let _b = writer.await.unwrap();
    assert_eq!(received, texts);
    assert!(cancelled > 100, "recv was cancelled only {cancelled} times");
}

#[tokio::test]
async fn a_ping_is_answered_and_a_close_replied_to_while_recv_waits() {
    let (mut server, mut peer) = pair(Config::default());
    let task = tokio::spawn(async move {
        let outcome = server.recv().await;
        (server, outcome)
    });
    peer.conn.send_ping(b"are you there").unwrap();
    peer.flush().await;
    assert_eq!(
        peer.next_event().await,
        Some(Event::Pong(b"are you there"[..].into()))
    );
    peer.conn.close(CloseCode::GOING_AWAY, "bye").unwrap();
    peer.flush().await;
    assert!(matches!(
        peer.next_event().await,
        Some(Event::Close {
            code: CloseCode::GOING_AWAY,
            ..
        })
    ));
    let (server, outcome) = task.await.unwrap();
    assert!(
        outcome.is_none(),
        "a clean close ends the stream: {outcome:?}"
    );
    assert_eq!(
        server.received_close(),
        Some((CloseCode::GOING_AWAY, "bye"))
    );
    assert_eq!(server.state(), State::Closed);
}

/// `futures` Stream and Sink: the echo is one `forward`.
#[tokio::test]
async fn stream_and_sink_echo_with_forward() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = WebSocketStream::from_raw(a, Role::Server, Config::default());
    let mut client = WebSocketStream::from_raw(b, Role::Client, Config::default());
    let echo = tokio::spawn(async move {
        let (sink, stream) = StreamExt::split(server);
        stream.forward(sink).await
    });
    let messages: Vec<Message> = (0..100u8)
        .map(|i| {
            if i % 2 == 0 {
                Message::Text(format!("text {i}").into())
            } else {
                Message::Binary(vec![i; i as usize].into())
            }
        })
        .collect();
    let mut outgoing = futures_util::stream::iter(messages.clone().into_iter().map(Ok));
    client.send_all(&mut outgoing).await.unwrap();
    let echoed: Vec<Message> = (&mut client).take(100).map(Result::unwrap).collect().await;
    assert_eq!(echoed, messages);
    // Sink::close sends 1000; the server's stream then ends and so does forward.
    SinkExt::close(&mut client).await.unwrap();
    echo.await.unwrap().unwrap();
    assert!(client.next().await.is_none());
    assert_eq!(client.received_close(), Some((CloseCode::NORMAL, "")));
}

/// `feed` queues, `flush` writes: three messages, one write, arriving
/// together.
#[tokio::test]
async fn feed_batches_until_flush() {
    let (mut server, mut peer) = pair(Config::default());
    for text in ["a", "b", "c"] {
        server.feed(Message::Text(text.into())).await.unwrap();
    }
    assert!(
        peer.next_event_within(Duration::from_millis(50))
            .await
            .is_none(),
        "nothing is written before flush"
    );
    server.flush().await.unwrap();
    for text in ["a", "b", "c"] {
        assert_eq!(
            peer.next_event().await,
            Some(Event::Message(Message::Text(text.into())))
        );
    }
}

#[tokio::test]
async fn close_waits_for_the_reply_and_sends_nothing_after() {
    let (mut server, mut peer) = pair(Config::default());
    let closing = tokio::spawn(async move {
        let result = server.close(CloseCode::NORMAL, "done").await;
        (server, result)
    });
    assert!(matches!(
        peer.next_event().await,
        Some(Event::Close { code: CloseCode::NORMAL, reason }) if reason == "done"
    ));
    peer.flush().await; // the reply ws-proto queued
    let (mut server, result) = closing.await.unwrap();
    result.unwrap();
    assert!(matches!(
        server.send(Message::Text("late".into())).await,
        Err(Error::Closed)
    ));
    // The server closes the transport first (RFC 6455 §7.1.1).
    assert!(peer.next_event().await.is_none());
}

/// With time paused, the keep-alive ping goes out on schedule while `recv`
/// waits, and a peer that never answers is failed with 1011.
#[tokio::test(start_paused = true)]
async fn keepalive_ping_then_pong_deadline_on_tokio_time() {
    let config = Config {
        keep_alive_interval: Some(Duration::from_secs(30)),
        keep_alive_timeout: Some(Duration::from_secs(10)),
        ..Config::default()
    };
    let (mut server, mut peer) = pair(config);
    let start = tokio::time::Instant::now();
    let task = tokio::spawn(async move { server.recv().await });
    assert!(matches!(peer.next_event().await, Some(Event::Ping(_))));
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    // No pong: the deadline fails the connection.
    match task.await.unwrap() {
        Some(Err(Error::Protocol(ProtocolError::KeepAliveTimeout))) => {}
        other => panic!("expected a keep-alive timeout, got {other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_secs(40));
    assert!(matches!(
        peer.next_event().await,
        Some(Event::Close {
            code: CloseCode::INTERNAL_ERROR,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_pong_keeps_the_connection_alive() {
    let config = Config {
        keep_alive_interval: Some(Duration::from_secs(30)),
        keep_alive_timeout: Some(Duration::from_secs(10)),
        ..Config::default()
    };
    let (mut server, mut peer) = pair(config);
    let task = tokio::spawn(async move { server.recv().await });
    for _ in 0..3 {
        assert!(matches!(peer.next_event().await, Some(Event::Ping(_))));
        peer.flush().await; // the automatic pong
    }
    peer.conn.send_text("still here").unwrap();
    peer.flush().await;
    assert_eq!(
        task.await.unwrap().unwrap().unwrap(),
        Message::Text("still here".into())
    );
}

#[tokio::test(start_paused = true)]
async fn close_gives_up_after_the_close_timeout() {
    let config = Config {
        close_timeout: Duration::from_secs(5),
        ..Config::default()
    };
    let (mut server, _peer) = pair(config);
    let start = tokio::time::Instant::now();
    let result = server.close(CloseCode::NORMAL, "").await;
    assert!(
        matches!(result, Err(Error::Protocol(ProtocolError::CloseTimeout))),
        "{result:?}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

/// A peer that stops reading: sends wait (bounded memory) and the pong
/// deadline still fires from the send path, ending the wait.
#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_blocks_sends_until_the_pong_deadline() {
    let (a, _b) = tokio::io::duplex(4096);
    let config = Config {
        max_send_queue: 8192,
        keep_alive_interval: Some(Duration::from_secs(30)),
        keep_alive_timeout: Some(Duration::from_secs(10)),
        ..Config::default()
    };
    let mut server = WebSocketStream::from_raw(a, Role::Server, config);
    let start = tokio::time::Instant::now();
    let mut sent = 0;
    let error = loop {
        match server.send(Message::Binary(vec![0; 1024].into())).await {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert!(
        sent < 20,
        "{sent} KiB accepted by a peer that reads nothing"
    );
    assert!(matches!(error, Error::Closed), "{error:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(40));
    match server.recv().await {
        Some(Err(Error::Protocol(ProtocolError::KeepAliveTimeout))) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn eof_without_close_is_an_abnormal_closure() {
    let (mut server, peer) = pair(Config::default());
    drop(peer);
    match server.recv().await {
        Some(Err(Error::Protocol(ProtocolError::AbnormalClosure))) => {}
        other => panic!("{other:?}"),
    }
    assert!(server.recv().await.is_none());
}

#[tokio::test]
async fn a_protocol_error_is_reported_once_and_the_close_frame_sent() {
    let (a, mut b) = tokio::io::duplex(1024);
    let mut server = WebSocketStream::from_raw(a, Role::Server, Config::default());
    b.write_all(&[0x81, 0x00]).await.unwrap(); // unmasked from a client
    match server.recv().await {
        Some(Err(Error::Protocol(e))) => assert_eq!(e.close_code(), CloseCode::PROTOCOL_ERROR),
        other => panic!("{other:?}"),
    }
    assert!(server.recv().await.is_none());
    let mut peer = RawPeer::new(b, Role::Client);
    assert!(matches!(
        peer.next_event().await,
        Some(Event::Close {
            code: CloseCode::PROTOCOL_ERROR,
            ..
        })
    ));
}
