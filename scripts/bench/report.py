#!/usr/bin/env python3
"""Markdown tables from one run of `cargo bench --bench verify` (criterion's estimates).

    python3 scripts/bench/report.py [CRITERION_DIR] [PEER_JSON...]

CRITERION_DIR defaults to $CRITERION_HOME, else $CARGO_TARGET_DIR/criterion, else
target/criterion.
PEER_JSON files are what scripts/bench/peer_python.py and peer_node.js write with --json.
Every time is criterion's median estimate; ratios are against the HMAC floor measured in
the same run.
"""

import json
import math
import os
import sys
from pathlib import Path


def load(criterion_dir):
    results = {}
    for bench in Path(criterion_dir).rglob("new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        results[meta["full_id"]] = {
            "median_ns": estimates["median"]["point_estimate"],
            "low_ns": estimates["median"]["confidence_interval"]["lower_bound"],
            "high_ns": estimates["median"]["confidence_interval"]["upper_bound"],
            "throughput": meta.get("throughput"),
        }
    return results


def us(ns):
    return f"{ns / 1000:.3f}"


def main():
    args = sys.argv[1:]
    default_dir = Path(
        os.environ.get("CRITERION_HOME")
        or Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    )
    criterion_dir = Path(args.pop(0)) if args and not args[0].endswith(".json") else default_dir
    r = load(criterion_dir)
    if not r:
        sys.exit(f"no criterion results under {criterion_dir}")

    def get(name):
        if name not in r:
            sys.exit(f"missing benchmark {name!r} in {criterion_dir}")
        return r[name]["median_ns"]

    floor_call = get("floor/hmac_sha1_key_per_call")
    floor = get("floor/hmac_sha1_prepared_key")

    print("#### Verification against the HMAC floor\n")
    print("| benchmark | median µs (95% CI) | x floor (prepared key) | x floor (key per call) |")
    print("|---|---:|---:|---:|")
    rows = [
        ("floor/hmac_sha1_key_per_call", "HMAC-SHA1, key schedule per call"),
        ("floor/hmac_sha1_prepared_key", "HMAC-SHA1, prepared key (`SigningKey`)"),
        ("steps/parse_form_params", "`FormParams::parse`"),
        ("steps/parse_form_urlencoded", "`form_urlencoded::parse` into `Vec<(Cow, Cow)>`"),
        ("steps/canonical_sort", "`canonical()` (sort the borrowed pairs)"),
        ("steps/base64_decode", "`Signature::from_base64`"),
        ("steps/mac_and_compare", "`matches` (HMAC + constant-time compare)"),
        ("steps/base64_decode_mac_and_compare", "`from_base64` + `matches`"),
        ("verify/valid", "**full verification, valid signature** (decode, sort, base64, MAC, compare)"),
        ("verify/invalid", "full verification, invalid signature"),
        ("layer/bare_service", "bare `service_fn` (no layer), for reference"),
        ("layer/valid", "**layer + `service_fn`, valid signature**"),
        ("layer/invalid", "layer + `service_fn`, invalid signature (403)"),
        ("layer/bare_service_axum_request", "bare `service_fn`, request with axum's `OriginalUri`"),
        ("layer/valid_axum_request", "layer + `service_fn`, request with axum's `OriginalUri`"),
    ]
    for name, label in rows:
        m = r.get(name)
        if m is None:
            continue
        ci = f"{us(m['median_ns'])} ({us(m['low_ns'])}–{us(m['high_ns'])})"
        print(
            f"| {label} | {ci} | {m['median_ns'] / floor:.2f} | {m['median_ns'] / floor_call:.2f} |"
        )

    ours = get("steps/parse_form_params")
    theirs = get("steps/parse_form_urlencoded")
    print(
        f"\nDecoder: `FormParams::parse` takes {ours / theirs:.2f}x the time of "
        f"`form_urlencoded::parse`."
    )
    if "layer/valid" in r and "layer/bare_service" in r:
        net = get("layer/valid") - get("layer/bare_service")
        print(
            f"Layer overhead net of the bare service: {us(net)} µs = {net / floor:.2f}x the floor."
        )
    if "layer/valid_axum_request" in r and "layer/bare_service_axum_request" in r:
        net = get("layer/valid_axum_request") - get("layer/bare_service_axum_request")
        print(
            f"The same for a request as axum passes it on: {us(net)} µs = {net / floor:.2f}x the floor."
        )

    print("\n#### Scaling (full verification, valid signature)\n")
    print("| body | fields | median µs | ns per byte |")
    print("|---:|---:|---:|---:|")
    for size in (1 << 10, 16 << 10, 256 << 10):
        name = f"scaling_size/{size}"
        if name in r:
            m = get(name)
            nbytes = r[name]["throughput"]["Bytes"]
            print(f"| {nbytes} B | 16 | {us(m)} | {m / nbytes:.2f} |")
    print("\n| fields | median µs | ns per field | ns per (n log2 n) |")
    print("|---:|---:|---:|---:|")
    for count in (10, 100, 1000):
        name = f"scaling_params/{count}"
        if name in r:
            m = get(name)
            print(
                f"| {count} | {us(m)} | {m / count:.1f} | {m / (count * math.log2(count)):.2f} |"
            )

    peers = [json.loads(Path(p).read_text()) for p in args]
    if peers:
        valid = get("verify/valid")
        invalid = get("verify/invalid")
        print("\n#### Official libraries on the same input\n")
        print("| library | call | valid µs | invalid µs | x ours (valid) | x ours (invalid) |")
        print("|---|---|---:|---:|---:|---:|")
        print(f"| tower-twilio | `FormParams::parse` + `from_base64` + `matches` (decode, sort, MAC, compare) | "
              f"{us(valid)} | {us(invalid)} | 1 | 1 |")
        for peer in peers:
            for case in peer["cases"]:
                v, i = case["valid_us"], case["invalid_us"]
                print(
                    f"| {peer['library']} | {case['call']} | {v:.2f} | {i:.2f} | "
                    f"{v * 1000 / valid:.0f} | {i * 1000 / invalid:.0f} |"
                )


if __name__ == "__main__":
    main()
