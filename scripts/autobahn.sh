#!/usr/bin/env bash
# Runs the Autobahn TestSuite (through kosoku, no Docker) against our stack.
#
#   scripts/autobahn.sh ROLE [-i GLOB]... [-x GLOB]...
#
#   server        kosoku drives the bundled `ws-server` echo server (/ws).
#   client        kosoku serves the cases to ws-server/examples/autobahn_client.rs.
#   all           both, one after the other (the default).
#   tokio-server  kosoku drives ws-tokio's echo example (/ws).
#   tokio-client  kosoku serves the cases to ws-tokio/examples/autobahn_tokio_client.rs.
#   tokio         tokio-server then tokio-client.
#   -i/-x   only run / skip the case ids matching GLOB (kosoku syntax, e.g.
#           -i '9.*'); the default is every case, groups 1 to 13.
#
# Installs kosoku==0.1.0 into target/autobahn/venv (reused when present),
# builds the release binaries, writes the reports to
# target/autobahn/ROLE/ (index.html to browse, index.json), prints
# a summary table per case group and exits non-zero if any case is worse than
# expected (see scripts/autobahn_summary.py for the rules).
#
# Environment:
#   CARGO_TARGET_DIR           honoured for the build (default: target/)
#   AUTOBAHN_REQUIRE_DEFLATE=0 accept UNIMPLEMENTED in groups 12 and 13
#                              (default 1: permessage-deflate must pass;
#                              the servers run with --compression and the
#                              clients offer it)
#   AUTOBAHN_TIMEOUT           seconds allowed for one role (default 1200)
#   AUTOBAHN_QUICK=1           skip the compression cases with the largest
#                              messages (12.x.10-18, 13.x.10-18): they take
#                              about 6 minutes per role, almost all of it in
#                              the Python test client; CI runs the rest
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KOSOKU_VERSION=0.1.0
AGENT=ws-proto
VENV="$ROOT/target/autobahn/venv"
OUT="$ROOT/target/autobahn"
TIMEOUT="${AUTOBAHN_TIMEOUT:-1200}"

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

ROLE="${1:-all}"
[ $# -gt 0 ] && shift
case "$ROLE" in
    server | client | all | tokio-server | tokio-client | tokio) ;;
    -h | --help | help) usage ;;
    *) echo "autobahn.sh: unknown role '$ROLE'" >&2; usage ;;
esac

KOSOKU_FILTER=()
SUMMARY_FILTER=()
while [ $# -gt 0 ]; do
    case "$1" in
        -i | -x)
            [ $# -ge 2 ] || usage
            KOSOKU_FILTER+=("$1" "$2")
            if [ "$1" = -i ]; then SUMMARY_FILTER+=(--include "$2"); else SUMMARY_FILTER+=(--exclude "$2"); fi
            shift 2
            ;;
        *) echo "autobahn.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
if [ "${AUTOBAHN_QUICK:-0}" = 1 ]; then
    # kosoku's globs know only `*`, so the cases are named one by one.
    for sub in 1 2 3 4 5; do for n in $(seq 10 18); do
        KOSOKU_FILTER+=(-x "12.$sub.$n"); SUMMARY_FILTER+=(--exclude "12.$sub.$n")
    done; done
    for sub in 1 2 3 4 5 6 7; do for n in $(seq 10 18); do
        KOSOKU_FILTER+=(-x "13.$sub.$n"); SUMMARY_FILTER+=(--exclude "13.$sub.$n")
    done; done
fi
if [ "${AUTOBAHN_REQUIRE_DEFLATE:-1}" = 1 ]; then
    SUMMARY_FILTER+=(--require-deflate)
fi

log() { printf '==> %s\n' "$*" >&2; }

# --- processes we start, stopped on every exit path -----------------------
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            # Give it a moment, then make sure.
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- kosoku ---------------------------------------------------------------
ensure_kosoku() {
    if [ -x "$VENV/bin/kosoku" ] &&
        "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('kosoku') != '$KOSOKU_VERSION')" 2>/dev/null; then
        return
    fi
    log "installing kosoku==$KOSOKU_VERSION into $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        # Debian ships venv separately; a fresh CI machine may lack it.
        if [ "${CI:-}" = true ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            log "python3 -m venv failed; installing python3-venv"
            apt-get install -y -qq python3-venv >/dev/null ||
                { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }
            rm -rf "$VENV"
            python3 -m venv "$VENV"
        else
            echo "autobahn.sh: 'python3 -m venv' failed; install python3-venv (Debian/Ubuntu)" >&2
            exit 1
        fi
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "kosoku==$KOSOKU_VERSION"
}

# --- build ----------------------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
# The driver under test: the blocking ws-server, or ws-tokio.
case "$ROLE" in
    tokio*)
        STACK=ws-tokio
        AGENT=ws-tokio
        SERVER_BIN="$TARGET_DIR/release/examples/echo"
        CLIENT_BIN="$TARGET_DIR/release/examples/autobahn_tokio_client"
        ;;
    *)
        STACK=ws-server
        SERVER_BIN="$TARGET_DIR/release/ws-server"
        CLIENT_BIN="$TARGET_DIR/release/examples/autobahn_client"
        ;;
esac

build() {
    log "building release binaries"
    if [ "$STACK" = ws-tokio ]; then
        cargo build --release -p ws-tokio --example echo --example autobahn_tokio_client
    else
        cargo build --release -p ws-server --bin ws-server --example autobahn_client
    fi
}

# --- helpers --------------------------------------------------------------
free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1, or fails
# if process $2 dies first or 20 s pass.
wait_listening() {
    local port=$1 pid=$2
    for _ in $(seq 1 200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if "$VENV/bin/python" -c "import socket, sys; socket.create_connection(('127.0.0.1', $port), timeout=0.5).close()" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Runs a command under `timeout` in the background and waits for it, so a
# signal to this script is handled at once (bash runs traps only between
# foreground commands) and the command is stopped with the rest. Sets
# RUN_STATUS to its exit status (124: timed out).
run_limited() {
    timeout "$TIMEOUT" "$@" &
    local pid=$!
    PIDS+=("$pid")
    RUN_STATUS=0
    wait "$pid" || RUN_STATUS=$?
}

summarize() {
    local role=$1
    "$VENV/bin/python" "$ROOT/scripts/autobahn_summary.py" "$role" "$OUT/$role" ${SUMMARY_FILTER[@]+"${SUMMARY_FILTER[@]}"}
}

# --- roles ----------------------------------------------------------------
run_server_role() {
    local name=$1 dir="$OUT/$1" port pid start status=0
    rm -rf "$dir"
    mkdir -p "$dir"
    port=$(free_port)
    log "server role: starting $STACK on 127.0.0.1:$port"
    "$SERVER_BIN" --bind "127.0.0.1:$port" --compression >"$dir/ws-server.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if ! wait_listening "$port" "$pid"; then
        echo "autobahn.sh: $STACK did not start; its log:" >&2
        cat "$dir/ws-server.log" >&2
        return 1
    fi
    start=$(date +%s)
    log "server role: running kosoku against ws://127.0.0.1:$port/ws"
    # kosoku's own exit status is not the verdict (it accepts NON-STRICT and
    # rejects UNIMPLEMENTED); the summary decides.
    run_limited "$VENV/bin/kosoku" "ws://127.0.0.1:$port/ws" -o "$dir" \
        ${KOSOKU_FILTER[@]+"${KOSOKU_FILTER[@]}"} >"$dir/kosoku.log" 2>&1
    status=$RUN_STATUS
    if [ "$status" = 124 ]; then
        echo "autobahn.sh: server role timed out after ${TIMEOUT}s" >&2
    fi
    SERVER_SECONDS=$(($(date +%s) - start))
    cleanup
    summarize "$name" || return 1
    [ "$status" != 124 ]
}

run_client_role() {
    local name=$1 dir="$OUT/$1" port pid start status=0 client_status=0
    rm -rf "$dir"
    mkdir -p "$dir"
    port=$(free_port)
    log "client role: starting kosoku's fuzzing server on 127.0.0.1:$port"
    "$VENV/bin/kosoku" -m fuzzingserver "127.0.0.1:$port" -o "$dir" \
        ${KOSOKU_FILTER[@]+"${KOSOKU_FILTER[@]}"} >"$dir/kosoku.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if ! wait_listening "$port" "$pid"; then
        echo "autobahn.sh: kosoku fuzzingserver did not start; its log:" >&2
        cat "$dir/kosoku.log" >&2
        return 1
    fi
    start=$(date +%s)
    log "client role: running autobahn_client against 127.0.0.1:$port"
    run_limited "$CLIENT_BIN" "127.0.0.1:$port" "$AGENT" >"$dir/client.log" 2>&1
    client_status=$RUN_STATUS
    # kosoku writes its reports once the client has run every case; give
    # it a bounded time to do so.
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "autobahn.sh: kosoku fuzzingserver did not finish; stopping it" >&2
        status=1
    fi
    CLIENT_SECONDS=$(($(date +%s) - start))
    cleanup
    if [ "$client_status" != 0 ]; then
        echo "autobahn.sh: autobahn_client exited with status $client_status; its log:" >&2
        tail -n 20 "$dir/client.log" >&2
        status=1
    fi
    summarize "$name" || return 1
    [ "$status" = 0 ]
}

ensure_kosoku
build
[ -x "$SERVER_BIN" ] || { echo "autobahn.sh: $SERVER_BIN missing after build" >&2; exit 1; }
[ -x "$CLIENT_BIN" ] || { echo "autobahn.sh: $CLIENT_BIN missing after build" >&2; exit 1; }

SERVER_SECONDS="(not run) "
CLIENT_SECONDS="(not run) "
result=0
case "$ROLE" in
    server | all) run_server_role server || result=1 ;;
    tokio-server | tokio) run_server_role tokio-server || result=1 ;;
esac
case "$ROLE" in
    client | all) run_client_role client || result=1 ;;
    tokio-client | tokio) run_client_role tokio-client || result=1 ;;
esac

echo
echo "Autobahn run time: server role ${SERVER_SECONDS}s, client role ${CLIENT_SECONDS}s"
echo "Reports: $OUT/<role>/index.html (role: server, client, tokio-server, tokio-client)"
if [ "$result" = 0 ]; then
    echo "Autobahn: every case as expected"
else
    echo "Autobahn: some cases are worse than expected (see above)" >&2
fi
exit "$result"
