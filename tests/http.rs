//! End to end over real HTTP on loopback: an axum server with the layer, a raw TCP client.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{TwilioWebhookLayer, VerifiedWebhook};

const TOKEN: &str = "fake_auth_token_for_tests";

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

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

/// Sends raw bytes, returns (status, whole response text). The server must answer within
/// five seconds.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
            if response_complete(&response) {
                break;
            }
        }
    });
    read.await.expect("the server answered in time");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Whether a full response (headers and a Content-Length body) has arrived.
fn response_complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let len = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().parse::<usize>().unwrap())
    });
    len.is_some_and(|len| body.len() >= len)
}

fn signed_form(addr: SocketAddr, token: &str, body: &str, params: &[(&str, &str)]) -> Vec<u8> {
    let url = format!("http://{addr}/voice");
    let signature = sign(token, &url, params.iter().copied(), Algorithm::HmacSha1);
    format!(
        "POST /voice HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn signed_request_passes_and_forged_one_is_refused() {
    let addr = serve(app()).await;
    let params = [("CallSid", "CA1"), ("From", "+14158675309")];
    let body = "CallSid=CA1&From=%2B14158675309";
    let (status, text) = exchange(addr, &signed_form(addr, TOKEN, body, &params)).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.ends_with("<Response><Say>+14158675309</Say></Response>"),
        "{text}"
    );

    let (status, text) = exchange(addr, &signed_form(addr, "forged", body, &params)).await;
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

    let params = [("From", "x")];
    assert_eq!(
        exchange(addr, &signed_form(addr, TOKEN, "From=x", &params))
            .await
            .0,
        200
    );
}
