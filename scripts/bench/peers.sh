#!/usr/bin/env bash
# The official libraries on the benchmark's voice webhook (benches/fixtures/voice_webhook.json):
# twilio-python 9.13 and twilio-node 6.2, installed once under /tmp (nothing in the repo).
#
#   scripts/bench/peers.sh [OUT_DIR]     # writes OUT_DIR/peer_python.json, peer_node.json
#
# OUT_DIR defaults to $CARGO_TARGET_DIR/peers; scripts/bench/report.py turns the JSON into
# ratios against tower-twilio's full verification from the same session.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-${CARGO_TARGET_DIR:-$here/../../target}/peers}"
venv="${TWILIO_PY_VENV:-/tmp/twilio-bench-venv}"
node_dir="${TWILIO_NODE_DIR:-/tmp/twilio-node-bench}"
mkdir -p "$out"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import twilio' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'twilio==9.13.*'
fi
if [ ! -d "$node_dir/node_modules/twilio" ]; then
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund twilio@6.2)
fi

"$venv/bin/python" "$here/peer_python.py" --json "$out/peer_python.json"
NODE_PATH="$node_dir/node_modules" node "$here/peer_node.js" --json "$out/peer_node.json"
