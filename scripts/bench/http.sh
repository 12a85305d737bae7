#!/usr/bin/env bash
# HTTP-level cost of the layer: one axum server (benches/http_server.rs, release build) with
# four routes (see the file): /open/voice and /plain/voice without the layer, /twilio/voice and
# /params/voice behind it, driven by
# wrk over loopback with the benchmark's voice webhook (same body and headers on both).
#
#   scripts/bench/http.sh            # env: ROUNDS (3), DURATION (10s), CONNECTIONS (32)
#
# The server runs single-threaded, pinned to CPU 0; wrk runs one thread pinned to CPU 1.
# Throughput is measured with CONNECTIONS connections (the server saturated, so latency there
# is mostly queueing); latency with one connection (one request in flight, no queue). Each
# measurement alternates the routes ROUNDS times (in both orders); the table shows the
# median round. It also shows the server's CPU time per request (user + system, from
# /proc), which moves less than throughput when other work shares the machine.
# Needs wrk (apt-get install -y wrk), taskset and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

source scripts/bench/lib.sh
exe=$(bench_exe http_server)

work=$(mktemp -d)
taskset -c 0 "$exe" serve "$work" >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
[ -s "$work/addr" ] || { cat "$work/server.log" >&2; exit 1; }
addr=$(cat "$work/addr")
query='?tenant=acme&flow=main'

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }

run() { # NAME ROUTE CONNECTIONS DURATION
  local before
  before=$(cpu_ticks)
  taskset -c 1 wrk -t1 -c"$3" -d"$4" --latency -s "$work/$2.lua" \
    "http://$addr/$2/voice$query" >"$work/$1.txt"
  echo "server_cpu_ticks $(( $(cpu_ticks) - before ))" >>"$work/$1.txt"
  if grep -q "Non-2xx" "$work/$1.txt"; then
    echo "route $2 answered non-2xx:" >&2
    cat "$work/$1.txt" >&2
    exit 1
  fi
}

echo "server: $exe on $addr (CPU 0); wrk -t1 on CPU 1; $ROUNDS rounds of $DURATION per route"
run warmup-open open "$CONNECTIONS" 3s
run warmup-plain plain "$CONNECTIONS" 3s
run warmup-protected twilio "$CONNECTIONS" 3s
run warmup-params params "$CONNECTIONS" 3s
for round in $(seq "$ROUNDS"); do
  routes="open plain twilio params"
  [ $((round % 2)) -eq 0 ] && routes="params twilio plain open"
  for load in "$CONNECTIONS" 1; do
    for route in $routes; do
      run "c$load-$route-$round" "$route" "$load" "$DURATION"
    done
  done
done

python3 - "$work" "$ROUNDS" "$CONNECTIONS" "$(getconf CLK_TCK)" <<'EOF'
import re
import statistics
import sys
from pathlib import Path

work, rounds, connections = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ticks_per_second = int(sys.argv[4])
UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def parse(path):
    text = path.read_text()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    ticks = int(re.search(r"server_cpu_ticks (\d+)", text).group(1))
    pct = {
        p: float(v) * UNITS[u]
        for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    }
    cpu_us = ticks / ticks_per_second * 1e6 / requests
    return {"rps": rps, "p50": pct["50"], "p99": pct["99"], "cpu": cpu_us}


def median_round(load, route):
    runs = [parse(work / f"{load}-{route}-{r}.txt") for r in range(1, rounds + 1)]
    return {k: statistics.median(run[k] for run in runs) for k in runs[0]}


print()
print("| load | route | req/s | p50 µs | p99 µs | server CPU µs/request |")
print("|---|---|---:|---:|---:|---:|")
summary = {}
for load, label in ((f"c{connections}", f"{connections} connections"), ("c1", "1 connection")):
    for route, name in (
        ("open", "/open/voice (no layer, Form)"),
        ("plain", "/plain/voice (no layer, FormParams)"),
        ("twilio", "/twilio/voice (layer, Form)"),
        ("params", "/params/voice (layer, TwilioParams)"),
    ):
        m = summary[load, route] = median_round(load, route)
        print(
            f"| {label} | {name} | {m['rps']:.0f} | {m['p50']:.0f} | {m['p99']:.0f} "
            f"| {m['cpu']:.1f} |"
        )
print()
for load, label in ((f"c{connections}", f"{connections} connections"), ("c1", "1 connection")):
    for route, base in (("twilio", "open"), ("params", "plain"), ("params", "open")):
        o, p = summary[load, base], summary[load, route]
        print(
            f"{label}, {route} vs {base}: throughput {p['rps'] / o['rps']:.3f}; "
            f"latency added p50 {p['p50'] - o['p50']:+.0f} µs, p99 {p['p99'] - o['p99']:+.0f} µs; "
            f"server CPU per request {p['cpu'] - o['cpu']:+.1f} µs"
        )
EOF
