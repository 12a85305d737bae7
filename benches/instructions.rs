//! Runs one step of verification a given number of times, for instruction counts under
//! `valgrind --tool=callgrind` (see `scripts/bench/callgrind.sh`): counts that do not depend
//! on what else the (shared) machine is doing.
//!
//! ```sh
//! instructions CASE ITERATIONS [INPUTS]   # CASE as listed by `instructions list`
//! ```
//!
//! Inputs (requests for the layer cases) are built for `INPUTS` calls (default
//! `ITERATIONS`) and the unused ones leaked, so that running twice with the same `INPUTS`
//! and different `ITERATIONS` differs only by the calls themselves.
//!
//! Run without arguments (as `cargo bench` does) it does nothing.

use std::borrow::Cow;
use std::hint::black_box;

use hmac::{Hmac, KeyInit, Mac};
use http::StatusCode;
use sha1::Sha1;
use tower::Layer as _;
use tower_twilio::form::FormParams;
use tower_twilio::signature::{Algorithm, Signature};
use tower_twilio::{Scheme, TwilioWebhookLayer};

#[allow(dead_code)]
mod support;

use support::{call, inner, Inner, Webhook};

const CASES: &[&str] = &[
    "hmac_sha1_key_per_call",
    "hmac_sha1_prepared_key",
    "parse_form_params",
    "parse_form_urlencoded",
    "canonical_sort",
    "base64_decode",
    "base64_decode_mac_and_compare",
    "verify_valid",
    "verify_invalid",
    "layer_bare_service",
    "layer_valid",
    "layer_invalid",
];

/// How many calls to make, and for how many calls to build inputs.
#[derive(Clone, Copy)]
struct Count {
    calls: usize,
    inputs: usize,
}

/// Builds `count.inputs` inputs with `setup`, runs `routine` on `count.calls` of them and
/// leaks the rest, so that only the calls grow with `count.calls`.
fn run<I, O>(count: Count, mut setup: impl FnMut() -> I, mut routine: impl FnMut(I) -> O) {
    let mut inputs: Vec<I> = (0..count.inputs.max(count.calls))
        .map(|_| setup())
        .collect();
    let unused = inputs.split_off(count.calls);
    std::mem::forget(unused);
    for input in inputs {
        drop(black_box(routine(black_box(input))));
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let number = |arg: &String| {
        arg.parse::<usize>()
            .expect("ITERATIONS and INPUTS are numbers")
    };
    let (case, n) = match args.as_slice() {
        [case, calls] => (
            case.as_str(),
            Count {
                calls: number(calls),
                inputs: number(calls),
            },
        ),
        [case, calls, inputs] => (
            case.as_str(),
            Count {
                calls: number(calls),
                inputs: number(inputs),
            },
        ),
        [list] if list == "list" => {
            CASES.iter().for_each(|case| println!("{case}"));
            return;
        }
        _ => return,
    };

    let webhook = Webhook::voice();
    let key = webhook.key();
    let body = webhook.body.as_bytes();
    let parsed = FormParams::parse(body);
    let canonical = parsed.canonical();
    let url = webhook.url.as_str();
    let token = webhook.auth_token.as_bytes();
    let prepared = <Hmac<Sha1> as KeyInit>::new_from_slice(token).expect("any key length");
    let signature = webhook.signature.as_bytes();
    let mut bare = tower::service_fn(inner as Inner);
    let mut layered = TwilioWebhookLayer::new(&webhook.auth_token)
        .expect("valid token")
        .scheme(Scheme::Https)
        .layer(tower::service_fn(inner as Inner));

    match case {
        "hmac_sha1_key_per_call" => run(
            n,
            || (),
            |()| {
                let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(black_box(token))
                    .expect("any key length");
                mac.update(url.as_bytes());
                mac.update(canonical.as_bytes());
                mac.finalize().into_bytes()
            },
        ),
        "hmac_sha1_prepared_key" => run(
            n,
            || (),
            |()| {
                let mut mac = black_box(&prepared).clone();
                mac.update(url.as_bytes());
                mac.update(canonical.as_bytes());
                mac.finalize().into_bytes()
            },
        ),
        "parse_form_params" => run(n, || (), |()| FormParams::parse(black_box(body))),
        "parse_form_urlencoded" => run(
            n,
            || (),
            |()| {
                form_urlencoded::parse(black_box(body))
                    .collect::<Vec<(Cow<'_, str>, Cow<'_, str>)>>()
            },
        ),
        "canonical_sort" => run(n, || (), |()| black_box(&parsed).canonical()),
        "base64_decode" => run(n, || (), |()| Signature::from_base64(black_box(signature))),
        "base64_decode_mac_and_compare" => run(
            n,
            || (),
            |()| {
                Signature::from_base64(black_box(signature))
                    .is_ok_and(|s| s.matches(&key, Algorithm::HmacSha1, url, &canonical))
            },
        ),
        "verify_valid" => run(
            n,
            || (),
            |()| assert!(webhook.verify(&key, &webhook.signature)),
        ),
        "verify_invalid" => run(
            n,
            || (),
            |()| assert!(!webhook.verify(&key, &webhook.bad_signature)),
        ),
        "layer_bare_service" => run(
            n,
            || webhook.request(&webhook.signature),
            |request| call(&mut bare, request),
        ),
        "layer_valid" => run(
            n,
            || webhook.request(&webhook.signature),
            |request| assert_eq!(call(&mut layered, request).status(), StatusCode::OK),
        ),
        "layer_invalid" => run(
            n,
            || webhook.request(&webhook.bad_signature),
            |request| assert_eq!(call(&mut layered, request).status(), StatusCode::FORBIDDEN),
        ),
        other => panic!("unknown case {other:?}; see `instructions list`"),
    }
}
