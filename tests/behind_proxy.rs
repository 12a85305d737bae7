//! The `behind_proxy` example, run as a process: behind a trusted proxy (here the test, on
//! 127.0.0.1), and with a fixed public URL.

mod common;

use common::ExampleServer;
use tower_twilio::signature::{sign, Algorithm};

const TOKEN: &str = "fake_behind_proxy_token";

/// A form POST to `/voice` on `server`, signed over `signed_url`, with extra headers.
async fn post(server: &ExampleServer, signed_url: &str, headers: &str) -> u16 {
    let signature = sign(TOKEN, signed_url, [("CallSid", "CA1")], Algorithm::HmacSha1);
    let request = format!(
        "POST /voice HTTP/1.1\r\nHost: internal:3000\r\n{headers}Content-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: {signature}\r\nContent-Length: 11\r\nConnection: close\r\n\r\nCallSid=CA1"
    );
    common::exchange(server.addr, request.as_bytes()).await.0
}

#[tokio::test]
async fn the_url_comes_from_the_trusted_proxy_or_the_fixed_base() {
    let proxied = ExampleServer::start_example(
        "behind_proxy",
        &[
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    let forwarded = "X-Forwarded-Proto: https\r\nX-Forwarded-Host: hooks.example.com\r\n";
    assert_eq!(
        post(&proxied, "https://hooks.example.com/voice", forwarded).await,
        200
    );
    assert_eq!(
        post(&proxied, "http://internal:3000/voice", forwarded).await,
        403
    );

    let fixed = ExampleServer::start_example(
        "behind_proxy",
        &[
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("PUBLIC_URL", "https://hooks.example.com"),
        ],
    );
    assert_eq!(
        post(&fixed, "https://hooks.example.com/voice", "").await,
        200
    );
    assert_eq!(post(&fixed, "http://internal:3000/voice", "").await, 403);
}
