//! ws-load against echo servers that are right and wrong: it must pass the
//! bundled echo server and fail on every kind of bad echo.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

const WS_LOAD: &str = env!("CARGO_BIN_EXE_ws-load");
const BROKEN: &str = env!("CARGO_BIN_EXE_broken_echo");

/// A child process killed when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the broken echo server on a free port; returns it and its URL.
fn broken(fault: &str) -> (Server, String) {
    let mut child = Command::new(BROKEN)
        .args(["127.0.0.1:0", fault, "--every", "7"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("broken_echo starts");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("broken_echo announces its address");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (Server(child), url)
}

fn ws_load(url: &str, extra: &[&str]) -> Output {
    Command::new(WS_LOAD)
        .arg(url)
        .args([
            "--connections",
            "3",
            "--messages",
            "40",
            "--json",
            "--quiet",
        ])
        .args(extra)
        .output()
        .expect("ws-load runs")
}

fn errors(out: &Output) -> u64 {
    let json = String::from_utf8_lossy(&out.stdout);
    let field = json
        .split("\"errors\": ")
        .nth(1)
        .unwrap_or_else(|| panic!("no errors field in {json}"));
    field[..field.find(',').expect("a field follows")]
        .parse()
        .expect("a count")
}

#[test]
fn every_kind_of_bad_echo_is_an_error_and_a_failed_exit() {
    for fault in ["--flip-byte", "--drop", "--swap-opcode", "--reorder"] {
        let (_server, url) = broken(fault);
        for (text, in_flight) in [(false, "1"), (true, "4")] {
            // A dropped or held-back echo with 1 in flight is caught by
            // the echo timeout; a connection fails at its first error, so
            // the count stays one per connection even on a slow machine.
            let mut extra = vec!["--in-flight", in_flight, "--echo-timeout", "2"];
            if text {
                extra.push("--text");
            }
            let out = ws_load(&url, &extra);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(1), "{fault} {extra:?}: {stdout}");
            // Every connection meets the fault at its 7th message.
            assert_eq!(errors(&out), 3, "{fault} {extra:?}: {stdout}");
        }
    }
}

#[test]
fn the_bundled_echo_server_passes_with_zero_errors() {
    let server = ws_server::echo::routes(ws_server::Server::builder().bind("127.0.0.1:0"))
        .build()
        .expect("server binds")
        .spawn()
        .expect("server runs");
    let url = format!("ws://{}/ws", server.local_addr());
    for extra in [
        &["--in-flight", "1"][..],
        &["--in-flight", "8", "--text", "--size", "3000"],
        &["--in-flight", "2", "--size", "70000"],
    ] {
        let out = ws_load(&url, extra);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{extra:?}: {stdout}");
        assert_eq!(errors(&out), 0, "{extra:?}: {stdout}");
        assert!(
            stdout.contains("\"messages\": 120,"),
            "3 x 40 echoes: {stdout}"
        );
    }
    server.shutdown().expect("server stops");
}

#[test]
fn refuses_an_address_that_is_not_loopback() {
    let out = ws_load("ws://192.0.2.1:80/", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

#[test]
fn answers_the_servers_keep_alive_pings() {
    // The server pings every 50 ms and closes (1011) a connection whose
    // pong is 300 ms late: over a second, ws-load must answer every ping.
    let server = ws_server::echo::routes(
        ws_server::Server::builder()
            .bind("127.0.0.1:0")
            .keep_alive_interval(std::time::Duration::from_millis(50))
            .keep_alive_timeout(Some(std::time::Duration::from_millis(300))),
    )
    .build()
    .expect("server binds")
    .spawn()
    .expect("server runs");
    let url = format!("ws://{}/ws", server.local_addr());
    let out = Command::new(WS_LOAD)
        .arg(&url)
        .args([
            "--connections",
            "2",
            "--warmup",
            "0",
            "--duration",
            "1",
            "--json",
            "--quiet",
        ])
        .output()
        .expect("ws-load runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(errors(&out), 0, "{stdout}");
    server.shutdown().expect("server stops");
}

#[test]
fn fragmented_echoes_are_reassembled_and_pass() {
    // With --fragment the server is correct: every 7th echo comes in
    // frames of at most 7 bytes, splitting text characters between frames.
    let (_server, url) = broken("--fragment");
    for extra in [&["--in-flight", "3"][..], &["--text", "--size", "300"]] {
        let out = ws_load(&url, extra);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{extra:?}: {stdout}");
        assert_eq!(errors(&out), 0, "{extra:?}: {stdout}");
    }
}
