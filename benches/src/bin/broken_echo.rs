//! An echo server that is wrong on purpose, to prove that ws-load catches
//! each kind of bad echo. Built on tungstenite 0.30 (one thread per
//! connection); every `--every`th data message of each connection (default
//! 10th) is mishandled as chosen:
//!
//! - `--flip-byte`: one payload byte changed (text stays valid UTF-8);
//! - `--drop`: not echoed at all;
//! - `--swap-opcode`: echoed as binary if it was text and the reverse;
//! - `--reorder`: echoed after the message that follows it;
//! - `--fragment`: not a fault: echoed correctly, split into frames of at
//!   most 7 bytes, which ws-load must accept.
//!
//! ```text
//! cargo run -p ws-benches --bin broken_echo -- 127.0.0.1:5081 --flip-byte --every 100
//! ```
use std::net::TcpListener;

use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::Message;
use ws_benches::{announce, loopback_addr};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    FlipByte,
    Drop,
    SwapOpcode,
    Reorder,
    Fragment,
}

fn usage() -> ! {
    eprintln!(
        "usage: broken_echo [ADDR] (--flip-byte | --drop | --swap-opcode | --reorder | --fragment) [--every N]"
    );
    std::process::exit(2)
}

fn main() {
    let (mut addr, mut fault, mut every) = (None, None, 10u64);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--flip-byte" => fault = Some(Fault::FlipByte),
            "--drop" => fault = Some(Fault::Drop),
            "--swap-opcode" => fault = Some(Fault::SwapOpcode),
            "--reorder" => fault = Some(Fault::Reorder),
            "--fragment" => fault = Some(Fault::Fragment),
            "--every" => {
                every = match args.next().and_then(|n| n.parse().ok()) {
                    Some(n) if n > 0 => n,
                    _ => usage(),
                }
            }
            _ if !arg.starts_with('-') => addr = Some(arg),
            _ => usage(),
        }
    }
    let Some(fault) = fault else { usage() };
    let addr = loopback_addr(addr.as_deref()).unwrap_or_else(|e| {
        eprintln!("broken_echo: {e}");
        std::process::exit(2)
    });
    let listener = TcpListener::bind(addr).expect("bind");
    announce("broken_echo", listener.local_addr().expect("local address"));
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let Ok(mut ws) = tungstenite::accept(stream) else {
                return;
            };
            let mut count = 0u64;
            let mut held: Option<Frame> = None;
            while let Ok(msg) = ws.read() {
                let text = match msg {
                    Message::Text(_) => true,
                    Message::Binary(_) => false,
                    _ => continue,
                };
                count += 1;
                let mut payload = msg.into_data().to_vec();
                let faulty = count.is_multiple_of(every);
                let mut opcode = if text { Data::Text } else { Data::Binary };
                if faulty {
                    match fault {
                        Fault::Drop => continue,
                        Fault::FlipByte => flip(&mut payload, text),
                        Fault::SwapOpcode => opcode = if text { Data::Binary } else { Data::Text },
                        Fault::Reorder => {
                            held = Some(Frame::message(payload, OpCode::Data(opcode), true));
                            continue;
                        }
                        Fault::Fragment => {
                            if send_fragments(&mut ws, &payload, opcode).is_err() {
                                break;
                            }
                            continue;
                        }
                    }
                }
                // Raw frames, so that a text frame need not be valid UTF-8.
                let frame = Frame::message(payload, OpCode::Data(opcode), true);
                if ws.send(Message::Frame(frame)).is_err() {
                    break;
                }
                if let Some(frame) = held.take() {
                    if ws.send(Message::Frame(frame)).is_err() {
                        break;
                    }
                }
            }
        });
    }
}

/// Sends `payload` as one message in frames of at most 7 bytes (a text
/// message's frames may split a character, as RFC 6455 allows).
fn send_fragments<S: std::io::Read + std::io::Write>(
    ws: &mut tungstenite::WebSocket<S>,
    payload: &[u8],
    opcode: Data,
) -> tungstenite::Result<()> {
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![&[][..]]
    } else {
        payload.chunks(7).collect()
    };
    for (i, piece) in pieces.iter().enumerate() {
        let op = if i == 0 {
            OpCode::Data(opcode)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(piece.to_vec(), op, i + 1 == pieces.len());
        ws.write(Message::Frame(frame))?;
    }
    ws.flush()
}

/// Changes one byte; in text, an ASCII byte to another ASCII byte, so the
/// echo is still valid UTF-8 and only the comparison can catch it.
fn flip(payload: &mut [u8], text: bool) {
    let at = if text {
        payload.iter().rposition(u8::is_ascii)
    } else {
        payload.len().checked_sub(1)
    };
    if let Some(i) = at {
        payload[i] ^= 0x01;
    }
}
