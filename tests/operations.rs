//! What forgers cost and what operators see: the limit on failed verifications per client
//! over real HTTP on loopback (clients on 127.0.0.1, 127.0.0.2 and 127.0.0.3), its log
//! lines, and repeated signature headers.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::routing::post;
use axum::Router;
use tower::ServiceExt;
use tower_twilio::layer::FailureLimit;
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{PublicUrl, Rejection, RejectionReason, TwilioWebhookLayer};

const TOKEN: &str = "fake_operations_token";
const FORGED: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const PARAMS: [(&str, &str); 2] = [("CallSid", "CA1"), ("From", "+15550001")];

fn app(layer: TwilioWebhookLayer) -> Router {
    Router::new()
        .route("/voice", post(|| async { "<Response/>" }))
        .layer(layer)
}

/// A form POST from source address `from` (a loopback address) to `addr`, with `signature`
/// (or none) and extra headers; returns (status, response head and body).
async fn post_from(
    from: &str,
    addr: SocketAddr,
    signature: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse().unwrap(), 0))
        .unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let body = "CallSid=CA1&From=%2B15550001";
    let mut head = format!(
        "POST /voice HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(signature) = signature {
        head.push_str(&format!("X-Twilio-Signature: {signature}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .expect("an answer")
        .unwrap();
    let status = response[9..12].parse().unwrap();
    (status, response)
}

fn signature_for(addr: SocketAddr) -> String {
    sign(
        TOKEN,
        &format!("http://{addr}/voice"),
        PARAMS,
        Algorithm::HmacSha1,
    )
}

fn retry_after(response: &str) -> Option<u64> {
    response
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("retry-after: ")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn forged_requests_get_403_then_429_and_never_limit_a_valid_signature() {
    let limit = FailureLimit::new(3, Duration::from_secs(60)).unwrap();
    let addr = common::serve(app(TwilioWebhookLayer::new(TOKEN)
        .unwrap()
        .failed_verification_limit(limit)))
    .await;
    for _ in 0..3 {
        let (status, _) = post_from("127.0.0.1", addr, Some(FORGED), &[]).await;
        assert_eq!(status, 403);
    }
    let (status, response) = post_from("127.0.0.1", addr, Some(FORGED), &[]).await;
    assert_eq!(status, 429, "{response}");
    let wait = retry_after(&response).expect("Retry-After");
    assert!((1..=20).contains(&wait), "{wait}");
    // Judged from the head alone, and limited all the same.
    assert_eq!(post_from("127.0.0.1", addr, None, &[]).await.0, 429);
    // A valid signature from the same client right after: never limited.
    let (status, response) = post_from("127.0.0.1", addr, Some(&signature_for(addr)), &[]).await;
    assert_eq!(status, 200, "{response}");
    // Another client has a budget of its own.
    assert_eq!(post_from("127.0.0.2", addr, Some(FORGED), &[]).await.0, 403);
}

#[tokio::test]
async fn behind_trusted_proxies_the_limit_follows_the_believed_client() {
    let limit = FailureLimit::new(2, Duration::from_secs(60)).unwrap();
    let layer = TwilioWebhookLayer::new(TOKEN)
        .unwrap()
        .public_url(PublicUrl::trusted_proxies(["127.0.0.1"]).unwrap())
        .failed_verification_limit(limit);
    let addr = common::serve(app(layer)).await;
    // The proxy on 127.0.0.1 names the client.
    let client = |ip| [("X-Forwarded-For", ip)];
    for expected in [403, 403, 429] {
        let (status, _) = post_from("127.0.0.1", addr, Some(FORGED), &client("198.51.100.7")).await;
        assert_eq!(status, expected);
    }
    let (status, _) = post_from("127.0.0.1", addr, Some(FORGED), &client("198.51.100.8")).await;
    assert_eq!(
        status, 403,
        "another client behind the proxy has its own budget"
    );
    // An untrusted peer's X-Forwarded-For is not believed: its own budget is spent,
    // whatever address it writes.
    for (ip, expected) in [
        ("198.51.100.9", 403),
        ("198.51.100.10", 403),
        ("198.51.100.11", 429),
    ] {
        let (status, _) = post_from("127.0.0.3", addr, Some(FORGED), &client(ip)).await;
        assert_eq!(status, expected, "{ip}");
    }
    // A client behind the proxy that someone else named in vain is not limited.
    let (status, _) = post_from("127.0.0.1", addr, Some(FORGED), &client("198.51.100.9")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn repeated_signature_headers_are_refused_with_a_reason_of_their_own() {
    let app = app(TwilioWebhookLayer::new(TOKEN).unwrap());
    let good = tower_twilio::testing::form_request(TOKEN, "http://hooks.test/voice", &PARAMS);
    let signature = good.headers()["x-twilio-signature"].clone();
    for (header, second) in [
        ("x-twilio-signature", FORGED.parse().unwrap()),
        // The same value twice is refused too: which one a proxy meant is a guess.
        ("x-twilio-signature", signature.clone()),
        (
            "x-twilio-webhooks-signature-settings",
            "key=k1,algorithm=HMAC_SHA256".parse().unwrap(),
        ),
    ] {
        let mut request =
            tower_twilio::testing::form_request(TOKEN, "http://hooks.test/voice", &PARAMS)
                .map(Body::from);
        if header != "x-twilio-signature" {
            request.headers_mut().append(header, second.clone());
        }
        request.headers_mut().append(header, second);
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 400, "{header}");
        let rejection = response.extensions().get::<Rejection>().unwrap();
        assert!(matches!(
            rejection.reason(),
            RejectionReason::RepeatedHeader(_)
        ));
        assert_eq!(rejection.reason().name(), "repeated_header");
    }
    // One of each is fine.
    let request = good.map(Body::from);
    assert_eq!(app.oneshot(request).await.unwrap().status(), 200);
}
