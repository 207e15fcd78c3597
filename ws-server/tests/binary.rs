//! The `ws-server` binary: options from the environment, logs, echo, and a
//! clean exit on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use common::*;

#[test]
fn binary_serves_echo_and_exits_cleanly_on_sigterm() {
    let child = Command::new(env!("CARGO_BIN_EXE_ws-server"))
        .env("WS_SERVER_BIND", "127.0.0.1:0")
        .env(
            "WS_SERVER_ALLOWED_ORIGINS",
            "http://a.example,http://b.example",
        )
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kills the server if the test fails before it exits by itself.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(child);
    let child = &mut child.0;
    let (lines_tx, lines_rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let addr: SocketAddr = loop {
        let line = lines_rx.recv_timeout(GENEROUS).expect("a listening line");
        log.push(line.clone());
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().parse().unwrap();
        }
    };

    let mut ws = tungstenite_client(addr, "/ws");
    ws.send(tungstenite::Message::text("from the binary"))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::text("from the binary")
    );
    // The origin list came from the environment.
    let denied = exchange(
        addr,
        upgrade_request(addr, "/ws", "Origin: http://c.example\r\n").as_bytes(),
    );
    assert_eq!(status_of(&denied), 403);
    let mut allowed = tcp(addr);
    allowed
        .write_all(upgrade_request(addr, "/ws", "Origin: http://b.example\r\n").as_bytes())
        .unwrap();
    read_upgrade(&mut allowed);
    drop(allowed);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    match ws.read() {
        Ok(tungstenite::Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    while ws.read().is_ok() {}
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    log.extend(lines_rx.iter());
    let log = log.join("\n");
    for needle in [
        "WebSocket open",
        "refused 403",
        "close received 1001",
        "server stopped",
    ] {
        assert!(log.contains(needle), "log lacks {needle:?}:\n{log}");
    }
}

#[test]
fn binary_help_lists_every_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_ws-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--bind",
        "--allowed-origin",
        "--keep-alive-interval",
        "--keep-alive-timeout",
        "--receive-buffer-size",
        "--max-message-size",
        "--max-frame-size",
        "--handshake-timeout",
        "--max-connections",
        "--subprotocol",
        "WS_SERVER_BIND",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_ws-server"))
        .args(["--keep-alive-interval", "2 fortnights"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn short_and_long_help_describe_the_binary_alike() {
    let help = |flag: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_ws-server"))
            .arg(flag)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let (short, long) = (help("-h"), help("--help"));
    let intro = |text: &str| text.split("Usage:").next().unwrap().trim().to_owned();
    assert_eq!(intro(&short), intro(&long));
    assert_eq!(
        intro(&short),
        "A WebSocket echo server with a page to try it from a browser"
    );
    let tail = |text: &str| text.trim_end().lines().last().unwrap_or("").to_owned();
    assert_eq!(tail(&short), tail(&long), "the same closing note");
}

#[test]
fn bad_settings_are_refused_naming_the_flag_or_variable() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ws-server"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!out.status.success(), "started with {args:?} {env:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--max-message-size", "0"], &[]);
    assert!(
        err.contains("--max-message-size must be at least 1"),
        "{err}"
    );
    let err = run(
        &["--keep-alive-interval", "0", "--keep-alive-timeout", "5s"],
        &[],
    );
    assert!(err.contains("--keep-alive-timeout"), "{err}");
    let err = run(&[], &[("WS_SERVER_ALLOWED_ORIGINS", "example.com")]);
    assert!(err.contains("WS_SERVER_ALLOWED_ORIGINS"), "{err}");
    let err = run(&["--subprotocol", "a b"], &[]);
    assert!(
        err.contains("--subprotocol") && err.contains("not an HTTP token"),
        "{err}"
    );
}

#[test]
fn an_address_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ws-server"))
        .args(["--bind", &addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}: ")), "{err}");
}
