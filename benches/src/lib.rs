//! Benchmarks for ws-proto live under `benches/`; the binaries under
//! `src/bin/` are the load generator (`ws-load`) and the echo servers it
//! measures. This library holds what those servers share.

use std::net::SocketAddr;

/// The largest message every benchmark echo server accepts, 64 MiB, so that
/// all of them are configured alike.
pub const MAX_MESSAGE: usize = 64 << 20;

/// Parses the address an echo server should listen on (default
/// `127.0.0.1:0`) and refuses anything that is not loopback: these servers
/// are for measurements on this machine only.
///
/// ```
/// use ws_benches::loopback_addr;
///
/// assert_eq!(loopback_addr(None).unwrap().to_string(), "127.0.0.1:0");
/// assert!(loopback_addr(Some("[::1]:9000")).is_ok());
/// assert!(loopback_addr(Some("0.0.0.0:9000")).is_err());
/// assert!(loopback_addr(Some("nonsense")).is_err());
/// ```
pub fn loopback_addr(arg: Option<&str>) -> Result<SocketAddr, String> {
    let text = arg.unwrap_or("127.0.0.1:0");
    let addr: SocketAddr = text
        .parse()
        .map_err(|e| format!("{text}: {e} (expected IP:PORT)"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address"));
    }
    Ok(addr)
}

/// Prints the line the benchmark scripts wait for once the server listens.
///
/// ```
/// ws_benches::announce("example", "127.0.0.1:9000".parse().unwrap());
/// ```
pub fn announce(name: &str, addr: SocketAddr) {
    eprintln!("{name} listening on ws://{addr}/");
}
