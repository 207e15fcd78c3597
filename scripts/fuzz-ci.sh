#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a short fixed time against its
# committed seeds, and fails on any crash or broken invariant.
#
#   FUZZ_SECONDS=20     time per target (default 20)
#   FUZZ_TARGETS="a b"  only these targets (default: all)
#   FUZZ_ALLOW_SKIP=1   exit 0 with a message if no nightly toolchain can be
#                       installed (default: fail, loudly)
#
# Installs cargo-fuzz under target/tools (a cache CI can keep) and builds
# into target/fuzz. Needs a nightly toolchain (libFuzzer's sanitizer
# coverage flags are nightly-only); installs one through rustup if missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-20}"
TOOLS="$ROOT/target/tools"
TARGET_DIR="$ROOT/target/fuzz"
export PATH="$TOOLS/bin:$HOME/.cargo/bin:$PATH"
start=$(date +%s)

log() { printf '[fuzz-ci] %s\n' "$*"; }

# --- nightly -----------------------------------------------------------------
if ! cargo +nightly --version >/dev/null 2>&1; then
    log "no nightly toolchain; installing one with rustup"
    if ! command -v rustup >/dev/null 2>&1 ||
        ! rustup toolchain install nightly --profile minimal; then
        if [ "${FUZZ_ALLOW_SKIP:-0}" = 1 ]; then
            log "SKIPPED: no nightly toolchain can be installed here, so no target was fuzzed"
            exit 0
        fi
        log "FAILED: cargo-fuzz needs a nightly toolchain and none could be installed"
        log "(set FUZZ_ALLOW_SKIP=1 to skip instead)"
        exit 1
    fi
fi
log "$(cargo +nightly --version)"

# --- cargo-fuzz ----------------------------------------------------------------
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz into $TOOLS"
    cargo install --locked --root "$TOOLS" cargo-fuzz
fi
log "$(cargo fuzz --version)"

# --- build -----------------------------------------------------------------------
cd "$ROOT/fuzz"
# Release with debug assertions: overflow checks catch arithmetic bugs too.
cargo +nightly fuzz build -O -a --target-dir "$TARGET_DIR"
log "built in $(( $(date +%s) - start )) s"

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
failed=()
summary=()
for t in $targets; do
    corpus="$ROOT/fuzz/corpus/$t"
    mkdir -p "$corpus" "$ROOT/fuzz/artifacts/$t"
    seeds="$ROOT/fuzz/seeds/$t"
    [ -d "$seeds" ] || seeds=""
    out="$TARGET_DIR/$t.log"
    log "running $t for ${SECONDS_PER_TARGET} s"
    # The first corpus directory receives new inputs; the seeds stay as
    # committed.
    if cargo +nightly fuzz run -O -a --target-dir "$TARGET_DIR" "$t" "$corpus" $seeds -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -print_final_stats=1 \
        >"$out" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$out" | grep -o '[0-9]*$' || echo '?')
        rate=$(grep -o 'exec/s: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*$' || echo '?')
        summary+=("$t: ok, $runs runs, $rate exec/s")
    else
        failed+=("$t")
        summary+=("$t: FAILED")
        log "$t FAILED; last lines of $out:"
        tail -n 60 "$out"
    fi
done

log "summary (total $(( $(date +%s) - start )) s):"
for line in "${summary[@]}"; do log "  $line"; done
if [ ${#failed[@]} -gt 0 ]; then
    log "crashing inputs are in fuzz/artifacts/<target>/; reproduce with"
    log "  cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>"
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all targets passed"
