#!/usr/bin/env bash
# Instructions and (simulated) branch mispredictions per call of each verification step,
# under valgrind's callgrind: numbers that do not move with the load of a shared machine
# (wall-clock numbers do; see benches/verify.rs).
#
#   scripts/bench/callgrind.sh [CASE...]      # default: every case of benches/instructions.rs
#
# Each case is run with N1 and N2 calls (inputs built for N2 calls both times); instructions
# per call = (I2 - I1) / (N2 - N1), so start-up and building inputs cancel out. The layer
# cases count the whole call: the layer, the inner service, dropping the request. Note: valgrind does not emulate SHA-NI, so under it
# sha1 takes its portable path and the HMAC counts are those of the software SHA-1.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
N1="${N1:-200}"
N2="${N2:-1200}"

source scripts/bench/lib.sh
exe=$(bench_exe instructions)

counts() { # CASE N -> "instructions mispredictions" in total
  valgrind --tool=callgrind --branch-sim=yes --callgrind-out-file=/dev/null \
    "$exe" "$1" "$2" "$N2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\) [0-9]* \([0-9]*\) [0-9]* \([0-9]*\).*/\1 \2 \3/p' |
    awk '{ print $1, $2 + $3 }'
}

cases=("$@")
[ ${#cases[@]} -gt 0 ] || mapfile -t cases < <("$exe" list)
echo "| case | instructions per call | branch mispredictions per call (simulated) |"
echo "|---|---:|---:|"
for case in "${cases[@]}"; do
  read -r i1 m1 < <(counts "$case" "$N1")
  read -r i2 m2 < <(counts "$case" "$N2")
  echo "| $case | $(( (i2 - i1) / (N2 - N1) )) | $(( (m2 - m1) / (N2 - N1) )) |"
done
