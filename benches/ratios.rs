//! The goal ratios (verification and the layer against the HMAC floor) from cases measured
//! side by side: each round times a batch of every case in turn, so that all cases share
//! whatever the machine's neighbours are doing at that moment.
//!
//! ```sh
//! cargo bench --bench ratios                 # 300 rounds of 200 calls per case
//! ROUNDS=1000 cargo bench --bench ratios
//! ```
//!
//! Prints, per case, the minimum, the 10th percentile and the median of the per-call time of
//! its batches, then the ratios from the minima and from the medians. On a shared VM the
//! minimum is the time of a quiet moment and moves least between runs; criterion's medians
//! (`benches/verify.rs`) are the figures of record. The CPU model is printed too: CI-class
//! machines are not all the same generation, and the ratios depend on it (see README).

use std::hint::black_box;
use std::time::Instant;

use axum::extract::OriginalUri;
use hmac::{Hmac, KeyInit, Mac};
use http::StatusCode;
use sha1::Sha1;
use tower::Layer as _;
use tower_twilio::form::FormParams;
use tower_twilio::{Scheme, TwilioWebhookLayer};

#[allow(dead_code)]
mod support;

use support::{call, inner, Inner, Webhook};

/// Calls per batch: long enough to time with `Instant`, short enough to fit in a quiet
/// moment.
const BATCH: usize = 200;

#[derive(Clone, Copy, PartialEq)]
enum Case {
    Floor,
    Parse,
    Verify,
    VerifyInTwoSteps,
    Bare,
    Layer,
    BareAxum,
    LayerAxum,
}

const CASES: [(Case, &str); 8] = [
    (Case::Floor, "HMAC-SHA1, prepared key (the floor)"),
    (Case::Parse, "FormParams::parse"),
    (
        Case::Verify,
        "full verification (from_base64 + matches_form)",
    ),
    (
        Case::VerifyInTwoSteps,
        "the same in two steps (parse, then matches)",
    ),
    (Case::Bare, "bare service_fn"),
    (Case::Layer, "layer + service_fn"),
    (Case::BareAxum, "bare service_fn, axum-shaped request"),
    (Case::LayerAxum, "layer + service_fn, axum-shaped request"),
];

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(300);
    let webhook = Webhook::voice();
    let key = webhook.key();
    let body = webhook.body.as_bytes();
    let parsed = FormParams::parse(body);
    let canonical = parsed.canonical();
    let (url, params) = (webhook.url.as_bytes(), canonical.as_bytes());
    let prepared = <Hmac<Sha1> as KeyInit>::new_from_slice(webhook.auth_token.as_bytes())
        .expect("any key length");
    let mut bare = tower::service_fn(inner as Inner);
    let mut layered = TwilioWebhookLayer::new(&webhook.auth_token)
        .expect("valid token")
        .scheme(Scheme::Https)
        .layer(tower::service_fn(inner as Inner));
    let axum_request = || {
        let mut request = webhook.request(&webhook.signature);
        let uri = request.uri().clone();
        request.extensions_mut().insert(OriginalUri(uri));
        request
    };
    let status = call(&mut layered, axum_request()).status();
    assert_eq!(status, StatusCode::OK);

    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); CASES.len()];
    for _ in 0..rounds {
        for (slot, &(case, _)) in times.iter_mut().zip(CASES.iter()) {
            // Requests are built before the clock starts; dropping them is part of the call.
            let requests: Vec<_> = match case {
                Case::Bare | Case::Layer => (0..BATCH)
                    .map(|_| webhook.request(&webhook.signature))
                    .collect(),
                Case::BareAxum | Case::LayerAxum => (0..BATCH).map(|_| axum_request()).collect(),
                _ => Vec::new(),
            };
            let start = Instant::now();
            match case {
                Case::Floor => {
                    for _ in 0..BATCH {
                        let mut mac = black_box(&prepared).clone();
                        mac.update(black_box(url));
                        mac.update(black_box(params));
                        black_box(mac.finalize().into_bytes());
                    }
                }
                Case::Parse => {
                    for _ in 0..BATCH {
                        black_box(FormParams::parse(black_box(body)));
                    }
                }
                Case::Verify => {
                    for _ in 0..BATCH {
                        assert!(webhook.verify(&key, black_box(&webhook.signature)));
                    }
                }
                Case::VerifyInTwoSteps => {
                    for _ in 0..BATCH {
                        assert!(support::verify_in_two_steps(
                            &key,
                            &webhook.url,
                            body,
                            black_box(&webhook.signature),
                        ));
                    }
                }
                Case::Bare | Case::BareAxum => {
                    for request in requests {
                        black_box(call(&mut bare, request));
                    }
                }
                Case::Layer | Case::LayerAxum => {
                    for request in requests {
                        black_box(call(&mut layered, request));
                    }
                }
            }
            slot.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
        }
    }

    println!("CPU: {}", cpu_model());
    println!("{rounds} rounds of {BATCH} calls per case, the cases side by side in each round\n");
    println!("| case | min ns | p10 ns | median ns |");
    println!("|---|---:|---:|---:|");
    let mut stats = Vec::new();
    for (batches, &(_, name)) in times.iter_mut().zip(CASES.iter()) {
        batches.sort_by(f64::total_cmp);
        let at = |q: f64| batches[((batches.len() - 1) as f64 * q) as usize];
        let (min, p10, median) = (batches[0], at(0.1), at(0.5));
        println!("| {name} | {min:.0} | {p10:.0} | {median:.0} |");
        stats.push((min, median));
    }
    let get = |case: Case| stats[CASES.iter().position(|&(c, _)| c == case).expect("a case")];
    let net = |layer: Case, bare: Case| {
        let (layer, bare) = (get(layer), get(bare));
        (layer.0 - bare.0, layer.1 - bare.1)
    };
    let floor = get(Case::Floor);
    println!("\n| ratio | from minima | from medians |");
    println!("|---|---:|---:|");
    for (name, (min, median)) in [
        ("parse / floor", get(Case::Parse)),
        ("verification / floor (goal: 2)", get(Case::Verify)),
        (
            "layer net of the bare service / floor (goal: 3)",
            net(Case::Layer, Case::Bare),
        ),
        (
            "the same, axum-shaped request",
            net(Case::LayerAxum, Case::BareAxum),
        ),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} |",
            min / floor.0,
            median / floor.1
        );
    }
}

/// `model name`, family and model from `/proc/cpuinfo`, where there is one.
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|line| line.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|line| line.split_once(':'))
            .map_or("?", |(_, value)| value.trim())
    };
    format!(
        "{} (family {}, model {})",
        field("model name"),
        field("cpu family"),
        field("model")
    )
}
