#!/usr/bin/env bash
# Scale-out test: nginx load-balancing WebSocket upgrades across two
# ws-server instances, then two ws-tokio echo instances; verified traffic
# through it, one instance stopped mid-run (see scripts/scale_out.py for
# what is asserted). Installs nginx if missing (apt), as scripts/proxy-test.sh.
#
# Usage: scripts/scale-out.sh [--server ws-server|ws-tokio|both]
# Honours CARGO_TARGET_DIR (default ./target). Loopback only; about 40 s.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if ! command -v nginx >/dev/null 2>&1; then
  echo "scale-out: installing nginx" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx >/dev/null
fi
echo "scale-out: building ws-server, ws-tokio's echo example and ws-load (release)" >&2
cargo build --release --quiet -p ws-server --bin ws-server
cargo build --release --quiet -p ws-tokio --example echo
cargo build --release --quiet -p ws-benches --bin ws-load
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 "$ROOT/scripts/scale_out.py" --nginx "$(command -v nginx)" \
  --bin-dir "$CARGO_TARGET_DIR/release" --work-dir "$WORK" "$@"
