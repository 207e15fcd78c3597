#!/usr/bin/env bash
# Faults and hostile peers while verified echo traffic runs, against the
# bundled ws-server and ws-tokio's echo example (see scripts/faults.py for
# the scenarios and what each asserts). Exits non-zero on any failure.
#
# Usage: scripts/faults.sh [--server ws-server|ws-tokio|both] [--only faults|hostile]
# Honours CARGO_TARGET_DIR (default ./target). Loopback only; about 2 minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
echo "faults: building ws-server, ws-tokio's echo example and ws-load (release)" >&2
cargo build --release --quiet -p ws-server --bin ws-server
cargo build --release --quiet -p ws-tokio --example echo
cargo build --release --quiet -p ws-benches --bin ws-load
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 "$ROOT/scripts/faults.py" --bin-dir "$CARGO_TARGET_DIR/release" --work-dir "$WORK" "$@"
