//! Load against the example server: 10,000 signed requests over 64 keep-alive connections,
//! all 200; 10,000 forged ones, all 403; and the server's RSS does not grow.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::ExampleServer;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tower_twilio::signature::{sign, Algorithm};

const TOKEN: &str = "fake_load_token_0123456789abcdef";
const CONNECTIONS: usize = 64;
const REQUESTS: usize = 10_000;

/// Resident set size of `pid` in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Sends `total` form POSTs to /sms over `CONNECTIONS` keep-alive connections, signed with
/// `token`; returns how many got each status.
async fn blast(
    server: &ExampleServer,
    token: &str,
    total: usize,
) -> std::collections::BTreeMap<u16, usize> {
    let url = server.url("/sms");
    let mut tasks = Vec::new();
    for connection in 0..CONNECTIONS {
        let count = total / CONNECTIONS + usize::from(connection < total % CONNECTIONS);
        let (addr, url, token) = (server.addr, url.clone(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, connection_task) =
                http1::handshake(TokioIo::new(stream)).await.unwrap();
            tokio::spawn(connection_task);
            let mut statuses = Vec::with_capacity(count);
            for i in 0..count {
                let text = format!("message {connection}-{i}");
                let params = [
                    ("AccountSid", "ACload"),
                    ("Body", text.as_str()),
                    ("From", "+15005550006"),
                ];
                let signature = sign(&token, &url, params, Algorithm::HmacSha1);
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish();
                let request = http::Request::post("/sms")
                    .header("host", addr.to_string())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", signature)
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                sender.ready().await.unwrap();
                let response = sender.send_request(request).await.unwrap();
                let status = response.status().as_u16();
                response.into_body().collect().await.unwrap();
                statuses.push(status);
            }
            statuses
        }));
    }
    let mut counts = std::collections::BTreeMap::new();
    for task in tasks {
        for status in task.await.unwrap() {
            *counts.entry(status).or_insert(0) += 1;
        }
    }
    counts
}

/// One round of the load: `REQUESTS` signed requests, all 200, then `REQUESTS` forged ones,
/// all 403; returns how long each half took.
async fn signed_then_forged(server: &ExampleServer) -> (Duration, Duration) {
    let started = Instant::now();
    let signed = blast(server, TOKEN, REQUESTS).await;
    let signed_time = started.elapsed();
    assert_eq!(
        signed.get(&200),
        Some(&REQUESTS),
        "every signed request is a 200: {signed:?}"
    );

    let started = Instant::now();
    let forged = blast(server, "fake_forger_token", REQUESTS).await;
    let forged_time = started.elapsed();
    assert_eq!(
        forged.get(&403),
        Some(&REQUESTS),
        "every forged request is a 403: {forged:?}"
    );
    (signed_time, forged_time)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_signed_and_ten_thousand_forged_requests() {
    // Rejections log at warn; keep the log quiet so it measures the layer, not the logger.
    let server = ExampleServer::start(&[
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("RUST_LOG", "error,twiml_server=info"),
    ]);
    let pid = server.child.id();
    // Warm up with the same load as is measured: connections, buffers and the allocator
    // reach their working size for answers and for rejections (whose diagnostics allocate
    // differently), so that what grows after this is what the load leaves behind. With a
    // warm-up of 5,000 signed requests only, a release build's RSS still grew by 10-15% in
    // the first measured round and then stayed flat (8.9 to 9.1 MB over 160,000 more).
    signed_then_forged(&server).await;
    let before = rss_kib(pid);
    let (signed_time, forged_time) = signed_then_forged(&server).await;

    let after = rss_kib(pid);
    println!(
        "signed: {REQUESTS} in {signed_time:?}; forged: {REQUESTS} in {forged_time:?}; \
         RSS after warm-up {before} KiB, after load {after} KiB"
    );
    let growth = after as f64 / before as f64;
    assert!(
        growth <= 1.10,
        "RSS grew from {before} KiB to {after} KiB ({growth:.3}x)"
    );
}
