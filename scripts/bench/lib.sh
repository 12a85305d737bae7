# Sourced by the bench scripts.

# bench_exe NAME: builds the `benches/NAME.rs` target (bench profile) and prints its path.
bench_exe() {
  local exe
  exe=$(cargo bench --no-run --bench "$1" --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1")
  [ -n "$exe" ] || { echo "build failed: run cargo bench --no-run --bench $1" >&2; return 1; }
  echo "$exe"
}
