//! A chat server: every message a client sends on `/ws` goes to every
//! connected client, the sender included, unchanged and in one order. A
//! client that falls `--queue` messages behind is closed with 1013.
//!
//! ```sh
//! cargo run --release -p ws-server --example chat -- --bind 127.0.0.1:5001
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use ws_server::chat::{self, Room};
use ws_server::Server;

const USAGE: &str = "usage: chat [--bind ADDR] [--queue MESSAGES]\n\n\
    --bind ADDR        address to listen on (default 127.0.0.1:5001)\n\
    --queue MESSAGES   messages a client may have waiting before it is closed with 1013 (default 256)";

fn main() -> ExitCode {
    let mut bind = "127.0.0.1:5001".to_owned();
    let mut queue = 256usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--bind" | "--queue" => args.next(),
            _ => None,
        };
        match (arg.as_str(), value) {
            ("--bind", Some(v)) => bind = v,
            ("--queue", Some(v)) if v.parse::<usize>().is_ok_and(|n| n > 0) => {
                queue = v.parse().unwrap_or(queue)
            }
            _ => {
                eprintln!("chat: bad argument `{arg}`\n{USAGE}");
                return ExitCode::FAILURE;
            }
        }
    }
    let room = Arc::new(Room::new(queue));
    let server = match chat::routes(Server::builder().bind(bind), room).build() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("chat: ws://{}/ws", server.local_addr());
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat: {e}");
            ExitCode::FAILURE
        }
    }
}
