fn main() {
    eprintln!("ws-server: the echo server is not built yet");
}
