//! wss:// and https:// with a self-signed certificate made at test time.
#![cfg(feature = "tls")]

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::*;
use ws_server::tls::{client_config, server_config_from_pem, TlsStream};
use ws_server::{ClientBuilder, CloseCode, ConnectError, Message, RunningServer, Transport};

struct Cert {
    cert_pem: String,
    key_pem: String,
}

fn self_signed() -> Cert {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    Cert {
        cert_pem: cert.cert.pem(),
        key_pem: cert.key_pair.serialize_pem(),
    }
}

fn start_tls(cert: &Cert) -> RunningServer {
    let config = server_config_from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    start(|b| b.tls(config))
}

#[test]
fn wss_echo_with_a_custom_ca() {
    let cert = self_signed();
    let server = start_tls(&cert);
    let port = server.local_addr().port();
    for host in ["127.0.0.1", "localhost"] {
        let mut ws = ClientBuilder::new(format!("wss://{host}:{port}/ws"))
            .ca_pem(cert.cert_pem.as_bytes())
            .connect()
            .unwrap();
        assert!(ws.get_ref().is_tls());
        ws.send_text("over TLS").unwrap();
        assert_eq!(ws.recv().unwrap(), Some(Message::Text("over TLS".into())));
        let big = vec![7u8; 200_000];
        ws.send_binary(&big).unwrap();
        assert_eq!(ws.recv().unwrap(), Some(Message::Binary(big.into())));
        ws.close(CloseCode::NORMAL, "").unwrap();
        assert_eq!(ws.received_close().map(|(c, _)| c), Some(CloseCode::NORMAL));
    }
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let cert = self_signed();
    let server = start_tls(&cert);
    let url = format!("wss://127.0.0.1:{}/ws", server.local_addr().port());
    match ClientBuilder::new(url.as_str()).connect().unwrap_err() {
        ConnectError::Tls(e) => assert!(e.to_string().contains("certificate"), "{e}"),
        other => panic!("expected a TLS error, got {other}"),
    }
    // Plain ws:// to a TLS server fails in the handshake, not with a hang.
    let plain = url.replace("wss://", "ws://");
    assert!(ClientBuilder::new(plain)
        .handshake_timeout(GENEROUS)
        .connect()
        .is_err());
}

#[test]
fn the_page_is_served_over_https() {
    let cert = self_signed();
    let server = start_tls(&cert);
    let addr = server.local_addr();
    let tcp = TcpStream::connect(addr).unwrap();
    let config = client_config(cert.cert_pem.as_bytes()).unwrap();
    let tls = TlsStream::connect(tcp, config, "localhost", GENEROUS).unwrap();
    tls.set_read_timeout(Some(GENEROUS)).unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", addr.port());
    assert_eq!(tls.write(request.as_bytes()).unwrap(), request.len());
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // The server closes without close_notify after the answer.
            Err(_) => break,
        }
    }
    assert_eq!(status_of(&answer), 200);
    assert!(String::from_utf8_lossy(&answer).contains("Communication Log"));
}

#[test]
fn the_binary_serves_wss_with_tls_flags() {
    use std::process::{Command, Stdio};
    let cert = self_signed();
    let dir = std::env::temp_dir().join(format!("ws-server-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, &cert.cert_pem).unwrap();
    std::fs::write(&key_path, &cert.key_pem).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ws-server"))
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(&cert_path)
        .env("WS_SERVER_TLS_KEY", &key_path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("wss://localhost:{port}/ws");
    let mut ws = eventually(|| {
        ClientBuilder::new(url.as_str())
            .ca_pem(cert.cert_pem.as_bytes())
            .connect_timeout(Duration::from_secs(1))
            .connect()
            .ok()
    });
    ws.send_text("binary over TLS").unwrap();
    assert_eq!(
        ws.recv().unwrap(),
        Some(Message::Text("binary over TLS".into()))
    );
    ws.close(CloseCode::NORMAL, "").unwrap();
    let _ = child.kill();
    let _ = child.wait();

    // A key that does not exist is named in the refusal.
    let out = Command::new(env!("CARGO_BIN_EXE_ws-server"))
        .args(["--bind", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_path)
        .args(["--tls-key", "/nonexistent/key.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-key") && err.contains("private key"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_client_that_never_finishes_the_tls_handshake_is_dropped() {
    use std::io::Write;
    let cert = self_signed();
    let config = server_config_from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = start(|b| b.tls(config).handshake_timeout(Duration::from_millis(300)));
    let mut tcp = TcpStream::connect(server.local_addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    // A handshake record of 512 bytes, whose bytes then trickle in, each
    // well within the handshake timeout of the previous one: only a
    // deadline for the whole handshake ends it.
    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 64];
    loop {
        assert!(start.elapsed() < GENEROUS, "still connected");
        std::thread::sleep(Duration::from_millis(100));
        if tcp.write_all(&[0x01]).is_err() {
            break;
        }
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}
