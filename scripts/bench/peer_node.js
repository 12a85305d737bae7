#!/usr/bin/env node
// twilio-node's validateRequest on the benchmark's voice webhook.
//
//   NODE_PATH=DIR/node_modules node peer_node.js [--json OUT.json]   # DIR has twilio 6.2
//
// Prints microseconds per call (median over RUNS runs of about RUN_MS each) for a valid
// and an invalid signature, in two forms:
//  * validateRequest(token, signature, url, params), params already decoded (what Express's
//    urlencoded middleware hands it);
//  * decoding the raw body with querystring.parse first, then validateRequest: the same work
//    as tower-twilio's full verification (decode, sort, MAC, compare).
"use strict";

const fs = require("fs");
const path = require("path");
const querystring = require("querystring");
const twilio = require("twilio");

const RUNS = 7;
const RUN_MS = 300;
const FIXTURE = path.join(__dirname, "..", "..", "benches", "fixtures", "voice_webhook.json");

function perCallUs(fn) {
  // Warm-up (and JIT), and calibration of the run length.
  const warm = process.hrtime.bigint();
  let calls = 0;
  while (Number(process.hrtime.bigint() - warm) < (RUN_MS * 1e6) / 3) {
    fn();
    calls++;
  }
  const iterations = Math.max(10, calls * 3);
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    runs.push(Number(process.hrtime.bigint() - start) / 1000 / iterations);
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(RUNS / 2)];
}

function main() {
  const webhook = JSON.parse(fs.readFileSync(FIXTURE, "utf8"));
  const { auth_token: token, url, body, signature: good, bad_signature: bad } = webhook;
  const params = querystring.parse(body);
  if (!twilio.validateRequest(token, good, url, params)) throw new Error("valid signature refused");
  if (twilio.validateRequest(token, bad, url, params)) throw new Error("invalid signature accepted");

  const withBody = (signature) => () =>
    twilio.validateRequest(token, signature, url, querystring.parse(body));
  const cases = [
    {
      call: "`validateRequest`, params decoded beforehand",
      valid_us: perCallUs(() => twilio.validateRequest(token, good, url, params)),
      invalid_us: perCallUs(() => twilio.validateRequest(token, bad, url, params)),
    },
    {
      call: "`querystring.parse` + `validateRequest`",
      valid_us: perCallUs(withBody(good)),
      invalid_us: perCallUs(withBody(bad)),
    },
  ];
  const version = require("twilio/package.json").version;
  const result = { library: `twilio-node ${version} (Node ${process.version})`, cases };
  for (const c of cases) {
    console.log(
      `${result.library}: ${c.call}: valid ${c.valid_us.toFixed(2)} µs/call, ` +
        `invalid ${c.invalid_us.toFixed(2)} µs/call`,
    );
  }
  const at = process.argv.indexOf("--json");
  if (at !== -1) fs.writeFileSync(process.argv[at + 1], JSON.stringify(result, null, 2) + "\n");
}

main();
