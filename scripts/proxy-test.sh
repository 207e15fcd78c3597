#!/usr/bin/env bash
# Reverse-proxy test: the echo server behind nginx, configured with the
# `location /` block documented in docs/server.md ("Behind a reverse proxy").
#
# Installs nginx if missing (apt), builds ws-server and ws-load in release,
# starts the server and an unprivileged nginx (every path it writes under a
# temporary directory, both on free 127.0.0.1 ports), then checks through
# nginx:
#   1. GET / returns the echo page;
#   2. ws-load echoes 4 connections x 200 binary messages of 1 KiB and
#      4 x 20 text messages of 70000 bytes (16-bit and 64-bit frame lengths),
#      every echo compared byte for byte;
#   3. the server logged each of those 8 WebSockets closed cleanly with 1000
#      after the expected number of messages, and nginx logged 8 upgrades (101);
#   4. the server exits 0 on SIGTERM.
# Stops everything it started; exits non-zero with a message on any failure.
#
# Usage: scripts/proxy-test.sh     (honours CARGO_TARGET_DIR, default ./target)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

log() { printf 'proxy-test: %s\n' "$*" >&2; }

WORK=""
SERVER_PID=""
NGINX_PID=""

# Kill a process we started and reap it; gives it 5 s before SIGKILL.
stop() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

show_logs() {
  [ -n "$WORK" ] || return 0
  local f
  for f in server.log nginx-stderr.log error.log access.log; do
    if [ -s "$WORK/$f" ]; then
      log "$f:"
      sed 's/^/  /' "$WORK/$f" >&2
    fi
  done
}

cleanup() {
  stop "$NGINX_PID"
  stop "$SERVER_PID"
  [ -z "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  log "FAILED: $*"
  show_logs
  exit 1
}

if ! command -v nginx >/dev/null 2>&1; then
  log "installing nginx"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx >/dev/null
fi
NGINX="$(command -v nginx)"
"$NGINX" -v

log "building ws-server and ws-load (release)"
cargo build --release --quiet -p ws-server -p ws-benches --bin ws-server --bin ws-load
SERVER="$CARGO_TARGET_DIR/release/ws-server"
WS_LOAD="$CARGO_TARGET_DIR/release/ws-load"

WORK="$(mktemp -d)"
# As root, nginx's workers switch to an unprivileged user; they must be able
# to reach the temp directories the master creates in here.
chmod 755 "$WORK"

# The server picks a free port itself (port 0) and logs it: no race.
RUST_LOG=info "$SERVER" --bind 127.0.0.1:0 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
UPSTREAM=""
for _ in $(seq 1 100); do
  UPSTREAM="$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$WORK/server.log" | head -n1)"
  [ -n "$UPSTREAM" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "ws-server exited at start"
  sleep 0.1
done
[ -n "$UPSTREAM" ] || fail "ws-server did not log its address within 10 s"
log "ws-server on $UPSTREAM"

# Something already answers on 127.0.0.1:$1?
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_nginx_conf() {
  local port="$1" user_line=""
  # nginx's compiled-in worker user is nobody:nobody, and Debian has no
  # group "nobody"; name the pair explicitly when started as root.
  [ "$(id -u)" -ne 0 ] || user_line="user nobody nogroup;"
  cat >"$WORK/nginx.conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log info;
events { worker_connections 64; }
http {
    access_log $WORK/access.log;
    client_body_temp_path $WORK/client_body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;

    server {
        listen 127.0.0.1:$port;
        server_name localhost;

        # The block documented in docs/server.md, with the server's port.
        location / {
            proxy_pass http://$UPSTREAM;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host \$http_host;
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
        }
    }
}
EOF
}

# nginx cannot be told to pick a port, so try a few random free-looking ones;
# a port taken between the check and nginx's bind makes nginx exit, and we
# try the next one.
PROXY_PORT=""
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  port_in_use "$port" && continue
  write_nginx_conf "$port"
  "$NGINX" -t -q -p "$WORK" -e "$WORK/error.log" -c "$WORK/nginx.conf" 2>"$WORK/nginx-stderr.log" \
    || fail "nginx rejected the configuration"
  "$NGINX" -p "$WORK" -e "$WORK/error.log" -c "$WORK/nginx.conf" >>"$WORK/nginx-stderr.log" 2>&1 &
  NGINX_PID=$!
  for _ in $(seq 1 100); do
    kill -0 "$NGINX_PID" 2>/dev/null || break
    if port_in_use "$port"; then
      PROXY_PORT="$port"
      break
    fi
    sleep 0.1
  done
  [ -n "$PROXY_PORT" ] && break
  if kill -0 "$NGINX_PID" 2>/dev/null; then
    fail "nginx did not listen on 127.0.0.1:$port within 10 s"
  fi
  wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=""
  grep -q "Address already in use" "$WORK/error.log" "$WORK/nginx-stderr.log" 2>/dev/null \
    || fail "nginx exited at start"
  log "port $port was taken, trying another"
done
[ -n "$PROXY_PORT" ] || fail "could not start nginx on a free port"
PROXY="127.0.0.1:$PROXY_PORT"
log "nginx on $PROXY -> $UPSTREAM"

# 1. The page, through the proxy.
PAGE="$(curl -fsS --max-time 10 "http://$PROXY/")" || fail "GET http://$PROXY/ failed"
grep -q "Communication Log" <<<"$PAGE" || fail "GET / through nginx did not return the echo page"
log "GET / through nginx: echo page ($(printf '%s' "$PAGE" | wc -c) bytes)"

# 2. Echoes through the proxy; ws-load checks every byte, opcode and order and
#    exits non-zero on any failure. Its echoes time out after 10 s, `timeout`
#    bounds the rest.
run_ws_load() {
  log "ws-load $*"
  timeout 60 "$WS_LOAD" "ws://$PROXY/ws" "$@" >"$WORK/ws-load.out" 2>&1 || {
    local status=$?
    sed 's/^/  /' "$WORK/ws-load.out" >&2
    fail "ws-load $* exited with $status"
  }
  sed 's/^/  /' "$WORK/ws-load.out" >&2
}
run_ws_load --connections 4 --messages 200 --size 1024 --quiet
run_ws_load --connections 4 --messages 20 --size 70000 --text --quiet

# 3. The server logs each end after its close handshake, which ws-load may
#    have finished seeing first: wait (bounded) for all 8 lines.
count() {
  local n
  n="$(grep -cE -- "$1" "$WORK/$2" 2>/dev/null)" || true
  echo "${n:-0}"
}
# Byte counts in the log include frame headers; ws-load already compared
# every payload byte, so match the close codes and message counts.
BINARY='WebSocket closed: close received 1000 "done", sent 1000 [^;]*; received 200 message\(s\) / [0-9]+ bytes, sent 200 message\(s\) / '
TEXT='WebSocket closed: close received 1000 "done", sent 1000 [^;]*; received 20 message\(s\) / [0-9]+ bytes, sent 20 message\(s\) / '
for _ in $(seq 1 50); do
  [ "$(count "$BINARY" server.log)" -ge 4 ] && [ "$(count "$TEXT" server.log)" -ge 4 ] && break
  sleep 0.1
done
[ "$(count "$BINARY" server.log)" -eq 4 ] \
  || fail "expected 4 binary connections closed with 1000 after 200 echoes in the server log"
[ "$(count "$TEXT" server.log)" -eq 4 ] \
  || fail "expected 4 text connections closed with 1000 after 20 echoes in the server log"
[ "$(count "WebSocket open" server.log)" -eq 8 ] || fail "expected 8 WebSocket opens in the server log"
[ "$(count "WebSocket closed" server.log)" -eq 8 ] || fail "a connection did not close cleanly"
# nginx logs a request when it ends; the upgrade shows as status 101.
for _ in $(seq 1 50); do
  [ "$(count '"GET /ws HTTP/1\.1" 101 ' access.log)" -ge 8 ] && break
  sleep 0.1
done
[ "$(count '"GET /ws HTTP/1\.1" 101 ' access.log)" -eq 8 ] \
  || fail "expected nginx to log 8 upgrades (101) to /ws"
[ "$(count '"GET / HTTP/1\.1" 200 ' access.log)" -eq 1 ] || fail "expected nginx to log GET / 200"
log "server: 8 WebSockets closed with 1000, every message echoed; nginx: 8 upgrades (101)"

# 4. Stop the server as an operator would; it must exit 0.
kill -TERM "$SERVER_PID"
SERVER_STATUS=0
for _ in $(seq 1 100); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$SERVER_PID" 2>/dev/null && fail "ws-server still running 10 s after SIGTERM"
wait "$SERVER_PID" || SERVER_STATUS=$?
SERVER_PID=""
[ "$SERVER_STATUS" -eq 0 ] || fail "ws-server exited with $SERVER_STATUS after SIGTERM"
log "passed"
