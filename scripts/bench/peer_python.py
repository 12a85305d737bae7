#!/usr/bin/env python3
"""twilio-python's RequestValidator.validate on the benchmark's voice webhook.

    python peer_python.py [--json OUT.json]     # run with the venv that has twilio 9.13

Prints microseconds per call (median over RUNS runs of about RUN_SECONDS each) for a valid
and an invalid signature, in three forms:
  * validate(url, params, signature), params already decoded into a dict;
  * the same with a mapping that has `getall` (as aiohttp's MultiDict): for a plain dict,
    `get_values` raises and catches two AttributeErrors per parameter, Flask's and Django's
    forms one; this is the library's best case;
  * decoding the raw body with urllib.parse.parse_qsl first, then validate: the same work
    as tower-twilio's full verification (decode, sort, MAC, compare).
"""

import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl

import twilio
from twilio.request_validator import RequestValidator

RUNS = 7
RUN_SECONDS = 0.3

FIXTURE = Path(__file__).resolve().parents[2] / "benches" / "fixtures" / "voice_webhook.json"


class MultiDict(dict):
    """One value per key, served through `getall` as multi-value mappings do."""

    def getall(self, key):
        return [self[key]]


def per_call_us(fn):
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < RUN_SECONDS / 3:  # warm-up, and calibration
        fn()
        calls += 1
    iterations = max(10, int(calls * 3))
    runs = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        runs.append((time.perf_counter() - start) / iterations * 1e6)
    return statistics.median(runs)


def main():
    webhook = json.loads(FIXTURE.read_text())
    validator = RequestValidator(webhook["auth_token"])
    url, body = webhook["url"], webhook["body"]
    params = dict(parse_qsl(body, keep_blank_values=True))
    multi = MultiDict(params)
    good, bad = webhook["signature"], webhook["bad_signature"]
    assert validator.validate(url, params, good)
    assert not validator.validate(url, params, bad)
    assert validator.validate(url, multi, good)

    def with_body(signature):
        return lambda: validator.validate(
            url, dict(parse_qsl(body, keep_blank_values=True)), signature
        )

    cases = [
        {
            "call": "`RequestValidator.validate`, params decoded beforehand",
            "valid_us": per_call_us(lambda: validator.validate(url, params, good)),
            "invalid_us": per_call_us(lambda: validator.validate(url, params, bad)),
        },
        {
            "call": "`RequestValidator.validate`, params in a mapping with `getall`",
            "valid_us": per_call_us(lambda: validator.validate(url, multi, good)),
            "invalid_us": per_call_us(lambda: validator.validate(url, multi, bad)),
        },
        {
            "call": "`parse_qsl` + `RequestValidator.validate`",
            "valid_us": per_call_us(with_body(good)),
            "invalid_us": per_call_us(with_body(bad)),
        },
    ]
    result = {
        "library": f"twilio-python {twilio.__version__} (CPython {sys.version.split()[0]})",
        "cases": cases,
    }
    for case in cases:
        print(
            f"{result['library']}: {case['call']}: valid {case['valid_us']:.2f} µs/call, "
            f"invalid {case['invalid_us']:.2f} µs/call"
        )
    if len(sys.argv) == 3 and sys.argv[1] == "--json":
        Path(sys.argv[2]).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
