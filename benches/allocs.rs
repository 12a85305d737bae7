//! Heap allocations per request, counted by a `#[global_allocator]` that wraps the system
//! allocator (kept out of the timing benchmarks, whose numbers it would skew).
//!
//! ```sh
//! cargo bench --bench allocs
//! ```
//!
//! Prints one markdown table row per case: allocations (and reallocations) and bytes
//! requested per call, averaged over many calls after a warm-up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use http::StatusCode;
use tower::Layer as _;
use tower_twilio::form::FormParams;
use tower_twilio::signature::{Algorithm, Signature};
use tower_twilio::{Scheme, TwilioWebhookLayer};

#[allow(dead_code)]
mod support;

use support::{call, inner, Inner, Webhook};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated and not yet freed.
static LIVE: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        LIVE.fetch_add(layout.size() as i64, Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        LIVE.fetch_add(layout.size() as i64, Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size.saturating_sub(layout.size()) as u64, Relaxed);
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy)]
struct Counts {
    allocs: u64,
    reallocs: u64,
    bytes: u64,
}

fn snapshot() -> Counts {
    Counts {
        allocs: ALLOCS.load(Relaxed),
        reallocs: REALLOCS.load(Relaxed),
        bytes: BYTES.load(Relaxed),
    }
}

const CALLS: u64 = 1000;

/// Runs `setup` outside and `routine` inside the count, `CALLS` times after a warm-up, and
/// prints the allocations per call of `routine` alone.
fn count<I, O>(name: &str, mut setup: impl FnMut() -> I, mut routine: impl FnMut(I) -> O) {
    for _ in 0..10 {
        drop(black_box(routine(setup())));
    }
    let mut allocs = 0;
    let mut reallocs = 0;
    let mut bytes = 0;
    for _ in 0..CALLS {
        let input = setup();
        let before = snapshot();
        let output = routine(black_box(input));
        drop(black_box(output));
        let after = snapshot();
        allocs += after.allocs - before.allocs;
        reallocs += after.reallocs - before.reallocs;
        bytes += after.bytes - before.bytes;
    }
    let per_call = |n: u64| n as f64 / CALLS as f64;
    println!(
        "| {name} | {} | {} | {} |",
        per_call(allocs),
        per_call(reallocs),
        per_call(bytes)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that names no case skips the run.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !"allocs".contains(&f)) {
        return;
    }
    let webhook = Webhook::voice();
    let key = webhook.key();
    let body = webhook.body.as_bytes();
    let parsed = FormParams::parse(body);

    println!(
        "Heap allocations per call ({} fields, {} bytes); mean of {CALLS} calls",
        parsed.len(),
        body.len()
    );
    println!();
    println!("| case | allocations | reallocations | bytes requested |");
    println!("|---|---:|---:|---:|");
    count("FormParams::parse", || (), |()| FormParams::parse(body));
    count(
        "form_urlencoded::parse into Vec<(Cow, Cow)>",
        || (),
        |()| form_urlencoded::parse(body).collect::<Vec<(Cow<'_, str>, Cow<'_, str>)>>(),
    );
    count(
        "canonical() (sort the borrowed pairs)",
        || (),
        |()| parsed.canonical(),
    );
    let canonical = parsed.canonical();
    count(
        "Signature::from_base64 + matches",
        || (),
        |()| {
            Signature::from_base64(&webhook.signature)
                .is_ok_and(|s| s.matches(&key, Algorithm::HmacSha1, &webhook.url, &canonical))
        },
    );
    count(
        "verify (parse + sort + decode + MAC + compare), valid",
        || (),
        |()| assert!(webhook.verify(&key, &webhook.signature)),
    );
    count(
        "verify, invalid signature",
        || (),
        |()| assert!(!webhook.verify(&key, &webhook.bad_signature)),
    );

    let mut bare = tower::service_fn(inner as Inner);
    let mut layered = TwilioWebhookLayer::new(&webhook.auth_token)
        .expect("valid token")
        .scheme(Scheme::Https)
        .layer(tower::service_fn(inner as Inner));
    count(
        "bare service_fn (request dropped, empty response)",
        || webhook.request(&webhook.signature),
        |request| call(&mut bare, request),
    );
    count(
        "layer + service_fn, valid",
        || webhook.request(&webhook.signature),
        |request| {
            let response = call(&mut layered, request);
            assert_eq!(response.status(), StatusCode::OK);
            response
        },
    );
    limited_clients(&webhook);
    count(
        "layer + service_fn, invalid signature (403)",
        || webhook.request(&webhook.bad_signature),
        |request| {
            let response = call(&mut layered, request);
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            response
        },
    );
}

/// The memory the failure limit holds for 100,000 distinct clients over their limit: each
/// fails twice (the second time limited), then the layer is dropped.
fn limited_clients(webhook: &Webhook) {
    const CLIENTS: u32 = 100_000;
    let before = LIVE.load(Relaxed);
    let mut layered = TwilioWebhookLayer::new(&webhook.auth_token)
        .expect("valid token")
        .scheme(Scheme::Https)
        .failed_verification_limit("1/3600s".parse().expect("a limit"))
        .layer(tower::service_fn(inner as Inner));
    for n in 0..CLIENTS {
        let peer = std::net::IpAddr::from((0x0a00_0000 + n).to_be_bytes());
        for expected in [StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS] {
            let mut request = webhook.request(&webhook.bad_signature);
            request
                .extensions_mut()
                .insert(tower_twilio::public_url::PeerAddr(peer));
            assert_eq!(call(&mut layered, request).status(), expected);
        }
    }
    let held = LIVE.load(Relaxed) - before;
    println!();
    println!(
        "Failure limit with {CLIENTS} distinct limited clients: {:.1} MiB held ({} bytes per client)",
        held as f64 / (1024.0 * 1024.0),
        held / i64::from(CLIENTS)
    );
    drop(layered);
}
