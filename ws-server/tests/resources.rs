//! What an idle connection costs the server process: one file descriptor
//! and no wake-ups. Alone in its test binary, so no other test opens
//! descriptors or threads meanwhile.

mod common;

use std::fs;
use std::thread;
use std::time::Duration;

use common::*;
use ws_proto::connection::Config;

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Voluntary context switches of every connection thread, by thread id.
fn connection_thread_switches() -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for task in fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("ws-conn-") {
            continue;
        }
        let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let switches = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        out.push((task.file_name().to_string_lossy().into_owned(), switches));
    }
    out.sort();
    out
}

#[test]
fn an_idle_connection_holds_one_descriptor_and_never_wakes() {
    const N: usize = 8;
    let server = start(|b| b);
    // One connection first, so that the accept loop is up and holds its
    // spare descriptor (see overload.rs) before counting.
    let mut warm = proto_client(server.local_addr(), "/ws", Config::default());
    warm.send_text("x").unwrap();
    assert!(warm.recv().unwrap().is_some());
    let before = open_fds();
    let mut clients: Vec<_> = (0..N)
        .map(|_| proto_client(server.local_addr(), "/ws", Config::default()))
        .collect();
    // Each connection works (and its server thread is up).
    for ws in &mut clients {
        ws.send_text("x").unwrap();
        assert!(ws.recv().unwrap().is_some());
    }
    // One descriptor on our client side, one on the server side.
    assert_eq!(open_fds() - before, 2 * N);

    // Let every server thread go back into its read after the echo.
    let first = eventually(|| {
        let a = connection_thread_switches();
        thread::sleep(Duration::from_millis(100));
        (a == connection_thread_switches()).then_some(a)
    });
    assert_eq!(first.len(), N + 1);
    thread::sleep(Duration::from_millis(1200));
    let second = connection_thread_switches();
    // The old driver woke every 250 ms to look for a shutdown; an idle
    // connection now sleeps in read until its keep-alive deadline (2 min).
    assert_eq!(first, second, "idle connection threads woke up");
    drop(clients);
    drop(warm);
}
