#!/usr/bin/env bash
# Every in-process benchmark in one session, then the markdown tables for benches/README.md:
#
#   scripts/bench/all.sh
#
# 1. cargo bench --bench verify   criterion: floor, steps, verification, layer, scaling
# 2. cargo bench --bench allocs   heap allocations per call
# 3. scripts/bench/peers.sh       twilio-python 9.13 and twilio-node 6.2 on the same input
# 4. scripts/bench/report.py      tables with medians and ratios from runs 1 and 3
#
# The HTTP-level benchmark is separate: scripts/bench/http.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CRITERION_HOME="${CRITERION_HOME:-$CARGO_TARGET_DIR/criterion}"
peers="$CARGO_TARGET_DIR/peers"

lscpu | head -20
echo
cargo bench --bench verify
cargo bench --bench allocs
scripts/bench/peers.sh "$peers"
echo
python3 scripts/bench/report.py "$CRITERION_HOME" "$peers/peer_python.json" "$peers/peer_node.json"
