//! Criterion benchmarks of signature verification, from the HMAC floor to the whole layer.
//!
//! ```sh
//! cargo bench --bench verify
//! python3 scripts/bench/report.py   # markdown tables from target/criterion
//! ```
//!
//! Groups (criterion ids are `group/name`):
//! * `floor`: one HMAC-SHA1 over URL + canonical params, with the key schedule per call and
//!   with a prepared key (what `SigningKey` keeps);
//! * `steps`: each step of verification alone, and `form_urlencoded` on the same body;
//! * `verify`: decode + sort + base64 decode + MAC + compare, valid and invalid signature, as
//!   the layer does it;
//! * `layer`: one request through `TwilioWebhookLayer` around a `service_fn`, and the bare
//!   `service_fn` for reference; each also with the request as axum's router passes it on
//!   (`OriginalUri` in its extensions);
//! * `replay`: the layer alone and with the in-memory replay guard inside it, on new
//!   webhooks (each request signed with a field of its own) and on a duplicate;
//! * `scaling_size`, `scaling_params`: `verify` against body size and field count;
//! * `operations` (with `--features metrics`): an accepted request through the layer, then
//!   through a layer with the failure limit and a Prometheus recorder installed.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use axum::extract::OriginalUri;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use http::StatusCode;
use sha1::Sha1;
use tower::Layer as _;
use tower_twilio::form::FormParams;
use tower_twilio::replay::ReplayGuardLayer;
use tower_twilio::signature::{sign, Algorithm, Signature};
use tower_twilio::{Scheme, TwilioWebhookLayer};

#[allow(dead_code)]
mod support;

use support::{call, inner, Inner, Webhook};

fn floor(c: &mut Criterion) {
    let webhook = Webhook::voice();
    let parsed = FormParams::parse(webhook.body.as_bytes());
    let canonical = parsed.canonical();
    let url = webhook.url.as_bytes();
    let params = canonical.to_bytes();
    let params = params.as_slice();
    let token = webhook.auth_token.as_bytes();
    let prepared = <Hmac<Sha1> as KeyInit>::new_from_slice(token).expect("any key length");

    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Bytes((url.len() + params.len()) as u64));
    group.bench_function("hmac_sha1_key_per_call", |b| {
        b.iter(|| {
            let mut mac =
                <Hmac<Sha1> as KeyInit>::new_from_slice(black_box(token)).expect("any key length");
            mac.update(black_box(url));
            mac.update(black_box(params));
            mac.finalize().into_bytes()
        })
    });
    group.bench_function("hmac_sha1_prepared_key", |b| {
        b.iter(|| {
            let mut mac = black_box(&prepared).clone();
            mac.update(black_box(url));
            mac.update(black_box(params));
            mac.finalize().into_bytes()
        })
    });
    group.finish();
}

fn steps(c: &mut Criterion) {
    let webhook = Webhook::voice();
    let body = webhook.body.as_bytes();
    let parsed = FormParams::parse(body);
    let canonical = parsed.canonical();
    let key = webhook.key();
    let signature = Signature::from_base64(&webhook.signature).expect("valid header");

    let mut group = c.benchmark_group("steps");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("parse_form_params", |b| {
        b.iter(|| FormParams::parse(black_box(body)))
    });
    group.bench_function("parse_form_urlencoded", |b| {
        b.iter(|| {
            form_urlencoded::parse(black_box(body)).collect::<Vec<(Cow<'_, str>, Cow<'_, str>)>>()
        })
    });
    group.bench_function("canonical_sort", |b| {
        b.iter(|| black_box(&parsed).canonical())
    });
    group.bench_function("base64_decode", |b| {
        b.iter(|| Signature::from_base64(black_box(webhook.signature.as_bytes())))
    });
    group.bench_function("mac_and_compare", |b| {
        b.iter(|| {
            black_box(&signature).matches(&key, Algorithm::HmacSha1, &webhook.url, &canonical)
        })
    });
    group.bench_function("base64_decode_mac_and_compare", |b| {
        b.iter(|| {
            Signature::from_base64(black_box(webhook.signature.as_bytes()))
                .is_ok_and(|s| s.matches(&key, Algorithm::HmacSha1, &webhook.url, &canonical))
        })
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let webhook = Webhook::voice();
    let key = webhook.key();
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Bytes(webhook.body.len() as u64));
    group.bench_function("valid", |b| {
        b.iter(|| {
            let ok = webhook.verify(&key, black_box(&webhook.signature));
            assert!(ok);
        })
    });
    group.bench_function("invalid", |b| {
        b.iter(|| {
            let ok = webhook.verify(&key, black_box(&webhook.bad_signature));
            assert!(!ok);
        })
    });
    group.finish();
}

fn layer(c: &mut Criterion) {
    let webhook = Webhook::voice();
    let bare = tower::service_fn(inner as Inner);
    let mut layered = TwilioWebhookLayer::new(&webhook.auth_token)
        .expect("valid token")
        .scheme(Scheme::Https)
        .layer(tower::service_fn(inner as Inner));
    let status = call(&mut layered, webhook.request(&webhook.signature)).status();
    assert_eq!(status, StatusCode::OK);
    let status = call(&mut layered, webhook.request(&webhook.bad_signature)).status();
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mut group = c.benchmark_group("layer");
    group.throughput(Throughput::Bytes(webhook.body.len() as u64));
    group.bench_function("bare_service", |b| {
        let mut bare = bare;
        b.iter_batched(
            || webhook.request(&webhook.signature),
            |request| call(&mut bare, request),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("valid", |b| {
        b.iter_batched(
            || webhook.request(&webhook.signature),
            |request| call(&mut layered, request),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("invalid", |b| {
        b.iter_batched(
            || webhook.request(&webhook.bad_signature),
            |request| call(&mut layered, request),
            BatchSize::SmallInput,
        )
    });
    // As axum's router hands the request on: with `OriginalUri` already in its extensions,
    // so the marker is one more entry, not a new map (3 allocations fewer).
    let axum_request = |header: &str| {
        let mut request = webhook.request(header);
        let uri = request.uri().clone();
        request.extensions_mut().insert(OriginalUri(uri));
        request
    };
    group.bench_function("bare_service_axum_request", |b| {
        let mut bare = bare;
        b.iter_batched(
            || axum_request(&webhook.signature),
            |request| call(&mut bare, request),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("valid_axum_request", |b| {
        b.iter_batched(
            || axum_request(&webhook.signature),
            |request| call(&mut layered, request),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling_size");
    for size in [1 << 10, 16 << 10, 256 << 10] {
        let webhook = Webhook::with_body(support::body_of_size(size));
        let key = webhook.key();
        group.throughput(Throughput::Bytes(webhook.body.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| assert!(webhook.verify(&key, black_box(&webhook.signature))))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("scaling_params");
    for count in [10, 100, 1000] {
        let webhook = Webhook::with_body(support::body_with_params(count));
        let key = webhook.key();
        group.throughput(Throughput::Elements(count as u64));
        group.bench_function(BenchmarkId::from_parameter(count), |b| {
            b.iter(|| assert!(webhook.verify(&key, black_box(&webhook.signature))))
        });
    }
    group.finish();
}

fn replay(c: &mut Criterion) {
    // The guard bounds store calls with Tokio's timer: a runtime must be current.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let _entered = runtime.enter();
    let webhook = Webhook::voice();
    let layer = || {
        TwilioWebhookLayer::new(&webhook.auth_token)
            .expect("valid token")
            .scheme(Scheme::Https)
    };
    let mut alone = layer().layer(tower::service_fn(inner as Inner));
    let mut guarded =
        layer().layer(ReplayGuardLayer::in_memory().layer(tower::service_fn(inner as Inner)));
    // A webhook of its own per request: the body with one more field, signed again.
    let mut n = 0u64;
    let mut fresh = || {
        n += 1;
        let body = format!("{}&Nonce={n}", webhook.body);
        let params = FormParams::parse(body.as_bytes());
        let header = sign(
            &webhook.auth_token,
            &webhook.url,
            params.iter(),
            Algorithm::HmacSha1,
        );
        Webhook {
            body,
            signature: header.clone(),
            ..webhook.clone()
        }
        .request(&header)
    };
    let duplicate = || webhook.request(&webhook.signature);
    assert_eq!(call(&mut guarded, duplicate()).status(), StatusCode::OK);
    let replayed = call(&mut guarded, duplicate());
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");

    let mut group = c.benchmark_group("replay");
    group.bench_function("layer_alone_new", |b| {
        b.iter_batched(
            &mut fresh,
            |request| call(&mut alone, request),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("guard_new", |b| {
        b.iter_batched(
            &mut fresh,
            |request| call(&mut guarded, request),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("layer_alone_duplicate", |b| {
        b.iter_batched(
            duplicate,
            |request| call(&mut alone, request),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("guard_duplicate", |b| {
        b.iter_batched(
            duplicate,
            |request| call(&mut guarded, request),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The layer on an accepted request, then the same with the failure limit set and a metrics
/// recorder installed (Prometheus'): what operations cost a webhook that verifies.
#[cfg(feature = "metrics")]
fn operations(c: &mut Criterion) {
    let webhook = Webhook::voice();
    let layer = || {
        TwilioWebhookLayer::new(&webhook.auth_token)
            .expect("valid token")
            .scheme(Scheme::Https)
    };
    let mut plain = layer().layer(tower::service_fn(inner as Inner));
    let limit = "20/60s".parse().expect("a limit");
    let mut operated = layer()
        .failed_verification_limit(limit)
        .layer(tower::service_fn(inner as Inner));
    let request = || {
        let mut request = webhook.request(&webhook.signature);
        request
            .extensions_mut()
            .insert(tower_twilio::public_url::PeerAddr([192, 0, 2, 1].into()));
        request
    };
    let mut group = c.benchmark_group("operations");
    group.bench_function("layer_without_recorder", |b| {
        b.iter_batched(request, |r| call(&mut plain, r), BatchSize::SmallInput)
    });
    // From here on every case records: the recorder is global.
    let _ = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
    group.bench_function("layer_with_limit_and_recorder", |b| {
        b.iter_batched(request, |r| call(&mut operated, r), BatchSize::SmallInput)
    });
    group.finish();
}

#[cfg(not(feature = "metrics"))]
fn operations(_: &mut Criterion) {}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(60)
}

criterion_group! {
    name = benches;
    config = config();
    targets = floor, steps, verify, layer, replay, scaling, operations
}
criterion_main!(benches);
