#!/usr/bin/env bash
# Interop with python-websockets (the reference implementation of
# permessage-deflate most Python users have): its client, with its default
# compression settings, against ws-server and ws-tokio's echo example, both
# started with --compression. Each run checks that permessage-deflate was
# negotiated and that text and binary messages up to 1 MiB echo byte for
# byte. Loopback only; every wait is bounded.
#
#   scripts/interop-test.sh
#
# Installs websockets==15.0.1 into target/interop/venv (reused when present).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/target/interop/venv"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
log() { printf 'interop-test: %s\n' "$*" >&2; }

if ! "$VENV/bin/python" -c 'import websockets' 2>/dev/null; then
  log "installing websockets==15.0.1 into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check websockets==15.0.1
fi

cargo build --release --quiet -p ws-server --bin ws-server
cargo build --release --quiet -p ws-tokio --example echo

WORK="$(mktemp -d)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/client.py" <<'PY'
import asyncio, os, sys
from websockets.asyncio.client import connect

async def main(url):
    # websockets' defaults: permessage-deflate offered with
    # client_max_window_bits, max_size 1 MiB (raised for the 1 MiB case).
    async with connect(url, max_size=4 << 20, open_timeout=10) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert ext.startswith("permessage-deflate"), f"not negotiated: {ext!r}"
        base = "κόσμε, 日本語, 🦀 and ascii; " * 40000
        for size in (0, 1, 125, 126, 65535, 65536, 1 << 20):
            text = base.encode()[:size].decode("utf-8", "ignore")
            await ws.send(text)
            echo = await asyncio.wait_for(ws.recv(), 30)
            assert echo == text, f"text of {len(text)} characters came back different"
            data = os.urandom(size)
            await ws.send(data)
            echo = await asyncio.wait_for(ws.recv(), 30)
            assert echo == data, f"binary of {size} bytes came back different"
        print(f"ok - {url}: {ext}; text and binary up to 1 MiB echoed intact")

asyncio.run(main(sys.argv[1]))
PY

run() {
  local name="$1"; shift
  local port
  port="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$@" --bind "127.0.0.1:$port" --compression >"$WORK/$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=0.5).close()" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; log "$name did not start"; exit 1; }
    sleep 0.1
  done
  if ! timeout 120 "$VENV/bin/python" "$WORK/client.py" "ws://127.0.0.1:$port/ws"; then
    log "FAILED against $name; its log:"; cat "$WORK/$name.log" >&2; exit 1
  fi
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}

run ws-server "$TARGET_DIR/release/ws-server"
run ws-tokio "$TARGET_DIR/release/examples/echo"
log "passed"
