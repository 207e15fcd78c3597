#!/usr/bin/env bash
# Real-browser test of the echo page: headless Chromium loads /, clicks
# Connect, sends a message, sees the echo in the Communication Log, clicks
# Close Socket and sees the close logged. Saves a screenshot.
#
# Installs what it needs if missing (Chromium from apt, playwright-core from
# npm into ws-server/tests/browser/), builds and starts the release server
# on a free loopback port, runs the test, stops the server. Exits non-zero
# on any failure.
#
# Usage: scripts/browser-test.sh [SCREENSHOT]   (default: a temporary file;
#        pass docs/echo-page.png to refresh the README's picture)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BROWSER_DIR="$ROOT/ws-server/tests/browser"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
SCREENSHOT="${1:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

log() { printf 'browser-test: %s\n' "$*" >&2; }

if [ ! -x "$CHROMIUM" ]; then
  log "installing chromium"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
"$CHROMIUM" --version >&2

if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
  log "installing playwright-core (package-lock.json)"
  (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

log "building the release server"
cargo build --release -p ws-server --bin ws-server --quiet
SERVER="$CARGO_TARGET_DIR/release/ws-server"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# One run of the page test against a fresh server. $1: http or https; the
# rest: extra server flags.
run_once() {
  local scheme="$1"; shift
  # Port 0: the server picks a free port and logs it.
  RUST_LOG=info "$SERVER" --bind 127.0.0.1:0 "$@" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  local addr=""
  for _ in $(seq 1 100); do
    addr="$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$WORK/server.log" | head -n1)"
    [ -n "$addr" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; log "server exited"; exit 1; }
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$WORK/server.log" >&2; log "server did not start"; exit 1; }
  log "server on $scheme://$addr/"

  local shot="$WORK/echo-page-$scheme.png"
  [ "$scheme" = http ] && shot="${SCREENSHOT:-$shot}"
  local status=0
  CHROMIUM="$CHROMIUM" EXPECT_DEFLATE="${EXPECT_DEFLATE:-0}" \
    node "$BROWSER_DIR/echo-page.test.js" "$scheme://$addr/" "$shot" || status=$?

  # Stop the server the way an operator would, and check it exits cleanly.
  kill -TERM "$SERVER_PID"
  local server_status=0
  wait "$SERVER_PID" || server_status=$?
  SERVER_PID=""
  log "server log ($scheme):"
  sed 's/^/  /' "$WORK/server.log" >&2
  if [ "$status" -ne 0 ]; then
    log "FAILED over $scheme (browser test exit $status)"
    exit "$status"
  fi
  if [ "$server_status" -ne 0 ]; then
    log "FAILED over $scheme (server exit $server_status after SIGTERM)"
    exit 1
  fi
  grep -q "WebSocket closed: close received 1000" "$WORK/server.log" \
    || { log "FAILED over $scheme: the server did not log the browser's close 1000"; exit 1; }
  log "passed over $scheme"
}

# Over http with compression on: Chromium must negotiate permessage-deflate.
EXPECT_DEFLATE=1 run_once http --compression

# Once more over https and wss, with a throwaway self-signed certificate
# (Chromium runs with --ignore-certificate-errors for an https base URL).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
run_once https --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
