//! The binary out of file descriptors (run under `ulimit -n 40`): it keeps
//! serving its connections, answers the excess at once instead of leaving
//! it in the listen backlog, logs the condition once rather than per failed
//! accept, and serves new connections again when descriptors free up.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;

/// What became of one upgrade attempt.
#[derive(Debug)]
enum Upgrade {
    Open(TcpStream),
    Status(u16),
    Closed,
}

fn try_upgrade(addr: SocketAddr) -> Upgrade {
    let mut stream = tcp(addr);
    // The server either answers or closes; a read timing out here means
    // the connection was left waiting, which is the failure under test.
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    if stream
        .write_all(upgrade_request(addr, "/ws", "").as_bytes())
        .is_err()
    {
        return Upgrade::Closed;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => return Upgrade::Closed,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Upgrade::Closed,
            Err(e) => panic!("no answer and no close: {e} (left waiting)"),
        }
    }
    match status_of(&got) {
        101 => Upgrade::Open(stream),
        status => Upgrade::Status(status),
    }
}

fn echo_once(stream: &mut TcpStream, text: &str) {
    stream
        .write_all(&client_frame(true, 1, text.as_bytes()))
        .unwrap();
    let mut got = vec![0u8; 2 + text.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(&got[..2], &[0x81, text.len() as u8]);
    assert_eq!(&got[2..], text.as_bytes());
}

#[test]
fn out_of_descriptors_the_server_refuses_at_once_and_recovers() {
    let child = Command::new("sh")
        .args(["-c", "ulimit -n 40 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_ws-server"))
        .args(["--bind", "127.0.0.1:0", "--max-connections", "1000"])
        .env("RUST_LOG", "warn,ws_server::server=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(child);
    let (lines_tx, lines_rx) = mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let addr: SocketAddr = loop {
        let line = lines_rx.recv_timeout(GENEROUS).expect("a listening line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().parse().unwrap();
        }
    };

    // Fill the descriptor table: open until three attempts in a row fail.
    let mut open = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..64 {
        match try_upgrade(addr) {
            Upgrade::Open(stream) => {
                refused.clear();
                open.push(stream);
            }
            other => {
                refused.push(other);
                if refused.len() == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(refused.len(), 3, "the limit was never reached");
    assert!((10..40).contains(&open.len()), "{} open", open.len());
    // Many more attempts while out of descriptors: each one answered or
    // closed at once, none left waiting.
    for _ in 0..30 {
        match try_upgrade(addr) {
            Upgrade::Status(503) | Upgrade::Closed => {}
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    // The connections the server holds are served throughout.
    for (i, stream) in open.iter_mut().enumerate() {
        echo_once(stream, &format!("still here {i}"));
    }
    // Descriptors free up: new connections are served again.
    open.truncate(open.len() - 5);
    let mut fresh = eventually(|| match try_upgrade(addr) {
        Upgrade::Open(stream) => Some(stream),
        _ => None,
    });
    echo_once(&mut fresh, "after recovery");
    echo_once(&mut open[0], "and the old ones");

    drop((open, fresh));
    let _ = child.0.kill();
    let _ = child.0.wait();
    let log: Vec<String> = lines_rx.iter().collect();
    let reports = log.iter().filter(|l| l.contains("accept failed")).count();
    // 33 or more failed accepts within seconds: one report (two if the
    // run straddled the 10 s interval).
    assert!(
        (1..=2).contains(&reports),
        "{reports} reports:\n{}",
        log.join("\n")
    );
}
