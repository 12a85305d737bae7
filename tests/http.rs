//! End to end over real HTTP on loopback: an axum server with the layer, a raw TCP client.

mod common;

use axum::routing::post;
use axum::Router;
use common::{exchange, raw_form_post, serve};
use tower_twilio::{TwilioWebhookLayer, VerifiedWebhook};

const TOKEN: &str = "fake_auth_token_for_tests";

fn app() -> Router {
    Router::new()
        .route(
            "/voice",
            post(|webhook: VerifiedWebhook| async move {
                format!(
                    "<Response><Say>{}</Say></Response>",
                    webhook.params().get("From").unwrap_or("?")
                )
            }),
        )
        .layer(TwilioWebhookLayer::new(TOKEN).unwrap().body_limit(4096))
}

#[tokio::test]
async fn signed_request_passes_and_forged_one_is_refused() {
    let addr = serve(app()).await;
    let host = addr.to_string();
    let url = format!("http://{addr}/voice");
    let params = [("CallSid", "CA1"), ("From", "+14158675309")];
    let signed = raw_form_post(&host, "/voice", &url, TOKEN, &params, &[]);
    let (status, text) = exchange(addr, &signed).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.ends_with("<Response><Say>+14158675309</Say></Response>"),
        "{text}"
    );

    let forged = raw_form_post(&host, "/voice", &url, "forged", &params, &[]);
    let (status, text) = exchange(addr, &forged).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("content-type: text/plain"), "{text}");
    assert!(text.ends_with("Invalid Twilio signature\n"), "{text}");
}

#[tokio::test]
async fn over_limit_bodies_get_413_and_the_server_keeps_serving() {
    let addr = serve(app()).await;
    // Content-Length over the limit: answered from the headers alone, no body sent.
    let head = format!(
        "POST /voice HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: RSOYDt4T1cUTdK1PDd93/VVr8B8=\r\nContent-Length: 1000000\r\n\r\n"
    );
    assert_eq!(exchange(addr, head.as_bytes()).await.0, 413);

    // Chunked, no Content-Length, 10 KiB in 1 KiB chunks against a 4 KiB limit.
    let mut chunked = format!(
        "POST /voice HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: RSOYDt4T1cUTdK1PDd93/VVr8B8=\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..10 {
        chunked.push_str(&format!("400\r\n{}\r\n", "a".repeat(1024)));
    }
    chunked.push_str("0\r\n\r\n");
    assert_eq!(exchange(addr, chunked.as_bytes()).await.0, 413);

    let url = format!("http://{addr}/voice");
    let signed = raw_form_post(
        &addr.to_string(),
        "/voice",
        &url,
        TOKEN,
        &[("From", "x")],
        &[],
    );
    assert_eq!(exchange(addr, &signed).await.0, 200);
}
