//! Helpers shared by the integration tests: start a server on an ephemeral
//! port, connect with the ws-proto client role, tungstenite, or raw bytes.
#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ws_proto::connection::{Config, Connection};
use ws_proto::handshake::{ClientHandshake, ClientRequest, Limits};
use ws_server::{echo, RunningServer, Server, ServerBuilder, WebSocket};

/// A bound generous enough for a loaded 2-core CI machine; tests only check
/// that things happen within it, never how fast.
pub const GENEROUS: Duration = Duration::from_secs(10);

/// The echo application on 127.0.0.1:0, with `configure` applied.
pub fn start(configure: impl FnOnce(ServerBuilder) -> ServerBuilder) -> RunningServer {
    let builder = echo::routes(Server::builder().bind("127.0.0.1:0"));
    configure(builder).build().unwrap().spawn().unwrap()
}

pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x5eed);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(GENEROUS)).unwrap();
    stream.set_write_timeout(Some(GENEROUS)).unwrap();
    stream
}

/// Opens a WebSocket with the ws-proto client role.
pub fn proto_client(addr: SocketAddr, path: &str, config: Config) -> WebSocket<TcpStream> {
    try_proto_client(addr, path, &[], config).unwrap().0
}

/// Opens a WebSocket with the ws-proto client role; `Err(status)` if the
/// server refused. Also returns the chosen subprotocol.
pub fn try_proto_client(
    addr: SocketAddr,
    path: &str,
    subprotocols: &[&str],
    config: Config,
) -> Result<(WebSocket<TcpStream>, Option<String>), u16> {
    let mut stream = tcp(addr);
    let host = addr.to_string();
    let request = ClientRequest {
        subprotocols,
        ..ClientRequest::new(&host, path, random())
    };
    let mut out = [0u8; 1024];
    let n = request.write(&mut out).unwrap();
    stream.write_all(&out[..n]).unwrap();
    let mut hs = ClientHandshake::new(Limits::default());
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "server closed during the handshake");
        if hs.feed(&buf[..n]).unwrap() {
            break;
        }
    }
    let subprotocol = match hs.response(&request) {
        Ok(response) => response.subprotocol().map(str::to_owned),
        Err(ws_proto::handshake::ClientHandshakeError::Status(status)) => return Err(status),
        Err(e) => panic!("bad handshake answer: {e}"),
    };
    let conn = Connection::client(config, random());
    let mut ws = WebSocket::new(stream, conn, hs.leftover());
    ws.set_write_timeout(Some(GENEROUS));
    Ok((ws, subprotocol))
}

pub type Tungstenite = tungstenite::WebSocket<TcpStream>;

/// Opens a WebSocket with tungstenite.
pub fn tungstenite_client(addr: SocketAddr, path: &str) -> Tungstenite {
    let (ws, response) = tungstenite::client(format!("ws://{addr}{path}"), tcp(addr))
        .expect("tungstenite handshake");
    assert_eq!(response.status(), 101);
    ws
}

/// A complete handshake request for `path`, with extra header lines.
pub fn upgrade_request(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Sends raw bytes and returns everything the server sends until it closes.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = tcp(addr);
    stream.write_all(request).unwrap();
    read_to_close(&mut stream)
}

/// Reads until EOF (or a reset, which also ends the connection), failing
/// if the server has not closed within [`GENEROUS`] (a server that keeps
/// sending, pings for instance, would otherwise keep the test waiting).
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            start.elapsed() < GENEROUS,
            "not closed within {GENEROUS:?}; got {} bytes",
            out.len()
        );
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("read failed after {} bytes: {e}", out.len()),
        }
    }
}

/// The status code of an HTTP answer.
pub fn status_of(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next().unwrap_or("");
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"))
}

/// Reads the head of the 101 answer and returns what followed it.
pub fn read_upgrade(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed during the handshake: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(status_of(&got), 101, "{}", String::from_utf8_lossy(&got));
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    got.split_off(end)
}

/// A masked client frame.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let key = [0x12, 0x34, 0x56, 0x78];
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Calls `f` until it returns `Some`, for at most [`GENEROUS`].
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < GENEROUS,
            "condition not met within {GENEROUS:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
