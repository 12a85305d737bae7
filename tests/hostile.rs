//! Hostile input over real HTTP on loopback: every case gets a 4xx (or a closed connection
//! where the client broke HTTP), nothing panics, and the server keeps serving.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use common::exchange;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_http::timeout::TimeoutLayer;
use tower_twilio::signature::{body_sha256, sign, Algorithm};
use tower_twilio::{FormParams, TwilioWebhookLayer, VerifiedWebhook};

const TOKEN: &str = "fake_hostile_token";
const LIMIT: usize = tower_twilio::layer::DEFAULT_BODY_LIMIT;
const FORGED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics anywhere in this process (the server runs in it).
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// The app behind the layer, and tower-http's timeout outside it: the layer waits for a
/// body as long as the client sends one, so the time limit belongs to a timeout layer.
async fn server() -> SocketAddr {
    let app = Router::new()
        .route(
            "/voice",
            post(|w: VerifiedWebhook| async move { format!("ok {}", w.params().len()) }),
        )
        .route("/events", post(|| async { "ok" }))
        .layer(TwilioWebhookLayer::new(TOKEN).unwrap().body_limit(LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(1),
        ));
    common::serve(app).await
}

/// A form POST with a raw body, signed the way Twilio would sign its decoded params (or
/// with `FORGED`).
fn form_post(addr: SocketAddr, target: &str, body: &[u8], signed: bool) -> Vec<u8> {
    let signature = if signed {
        let params = FormParams::parse(body);
        sign(
            TOKEN,
            &format!("http://{addr}{target}"),
            params.iter(),
            Algorithm::HmacSha1,
        )
    } else {
        FORGED.to_owned()
    };
    let mut request = format!(
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// What a case may answer.
#[derive(Debug)]
enum Expect {
    Status(u16),
    /// Any 4xx, or the connection closed without a response.
    ClientErrorOrClosed,
}

async fn still_serving(addr: SocketAddr) {
    let (status, text) = exchange(addr, &form_post(addr, "/voice", b"CallSid=CA1", true)).await;
    assert_eq!(status, 200, "the server stopped serving: {text}");
}

#[tokio::test]
async fn hostile_requests_get_4xx_and_the_server_keeps_serving() {
    count_panics();
    let addr = server().await;
    let panics_before = PANICS.load(Ordering::SeqCst);

    let ten_thousand: Vec<u8> = (0..10_000)
        .map(|i| format!("p{i}=v{i}"))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes();
    let json = br#"{"type":"forged"}"#;
    let other_hash = body_sha256(br#"{"type":"genuine"}"#);
    let json_target = format!("/events?bodySHA256={other_hash}");
    let json_signature = sign(
        TOKEN,
        &format!("http://{addr}{json_target}"),
        [],
        Algorithm::HmacSha1,
    );
    let big_header = "a".repeat(100_000);
    let mut chunked_over_limit = format!(
        "POST /voice HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: {FORGED}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..(LIMIT / 4096 + 2) {
        chunked_over_limit.push_str(&format!("1000\r\n{}\r\n", "a".repeat(4096)));
    }
    chunked_over_limit.push_str("0\r\n\r\n");
    let many_headers: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();

    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("malformed percent-encoding, signed", form_post(addr, "/voice", b"a=%zz&b=%&c=%4&%=%%", true), Expect::Status(200)),
        ("malformed percent-encoding, forged", form_post(addr, "/voice", b"a=%zz&b=%", false), Expect::Status(403)),
        ("invalid UTF-8, signed", form_post(addr, "/voice", b"a=%ff%fe&b=\xff\xfe", true), Expect::Status(200)),
        ("invalid UTF-8, forged", form_post(addr, "/voice", b"a=\xc3\x28&\xff=\xfe", false), Expect::Status(403)),
        ("NUL bytes in the body", form_post(addr, "/voice", b"a=\0&\0=%00", false), Expect::Status(403)),
        ("10k params, signed", form_post(addr, "/voice", &ten_thousand, true), Expect::Status(200)),
        ("10k params, forged", form_post(addr, "/voice", &ten_thousand, false), Expect::Status(403)),
        (
            "100k-byte signature header",
            format!("POST /voice HTTP/1.1\r\nHost: {addr}\r\nX-Twilio-Signature: {big_header}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
            Expect::Status(403),
        ),
        (
            "100k-byte other header",
            format!("POST /voice HTTP/1.1\r\nHost: {addr}\r\nX-Junk: {big_header}\r\nX-Twilio-Signature: {FORGED}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
            Expect::Status(403),
        ),
        (
            "500 headers",
            format!("POST /voice HTTP/1.1\r\nHost: {addr}\r\n{many_headers}Content-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
            Expect::ClientErrorOrClosed,
        ),
        (
            "repeated Host headers",
            format!("POST /voice HTTP/1.1\r\nHost: {addr}\r\nHost: evil.example\r\nX-Twilio-Signature: {FORGED}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
            Expect::Status(400),
        ),
        (
            "missing Host",
            format!("POST /voice HTTP/1.1\r\nX-Twilio-Signature: {FORGED}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
            Expect::Status(400),
        ),
        (
            "absolute-form target, forged",
            format!("POST http://evil.example/voice HTTP/1.1\r\nHost: {addr}\r\nX-Twilio-Signature: {FORGED}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
            Expect::Status(403),
        ),
        ("chunked body over the limit", chunked_over_limit.into_bytes(), Expect::Status(413)),
        (
            "Content-Length over the limit",
            format!("POST /voice HTTP/1.1\r\nHost: {addr}\r\nX-Twilio-Signature: {FORGED}\r\nContent-Length: 99999999999\r\n\r\n").into_bytes(),
            Expect::Status(413),
        ),
        (
            "JSON body claiming the bodySHA256 of another body",
            format!(
                "POST {json_target} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-Twilio-Signature: {json_signature}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                json.len(),
                String::from_utf8_lossy(json)
            )
            .into_bytes(),
            Expect::Status(403),
        ),
        (
            "bad chunk size",
            format!("POST /voice HTTP/1.1\r\nHost: {addr}\r\nX-Twilio-Signature: {FORGED}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n").into_bytes(),
            Expect::ClientErrorOrClosed,
        ),
        (
            "malformed Content-Length",
            format!("POST /voice HTTP/1.1\r\nHost: {addr}\r\nX-Twilio-Signature: {FORGED}\r\nContent-Length: -1\r\nConnection: close\r\n\r\n").into_bytes(),
            Expect::ClientErrorOrClosed,
        ),
        (
            "NUL in the request target",
            format!("POST /voice?a=\0 HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
            Expect::ClientErrorOrClosed,
        ),
        (
            "a Host with a path in it",
            format!("POST /voice HTTP/1.1\r\nHost: {addr}/evil\r\nX-Twilio-Signature: {FORGED}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
            Expect::ClientErrorOrClosed,
        ),
        (
            "garbage signature settings",
            format!("POST /voice HTTP/1.1\r\nHost: {addr}\r\nX-Twilio-Signature: {FORGED}\r\nX-Twilio-Webhooks-Signature-Settings: ,,=,key\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
            Expect::Status(403),
        ),
    ];

    for (name, request, expect) in cases {
        let (status, text) = exchange(addr, &request).await;
        match expect {
            Expect::Status(expected) => assert_eq!(status, expected, "{name}: {}", head(&text)),
            Expect::ClientErrorOrClosed => {
                assert!(
                    status == 0 || (400..500).contains(&status),
                    "{name}: {}",
                    head(&text)
                )
            }
        }
        still_serving(addr).await;
    }
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        panics_before,
        "something panicked"
    );
}

/// The signed absolute-form case: the target's authority is what the client addressed.
#[tokio::test]
async fn absolute_form_target_is_verified_against_its_own_authority() {
    let addr = server().await;
    let url = "http://hooks.example.com/voice";
    let signature = sign(TOKEN, url, [("A", "1")], Algorithm::HmacSha1);
    let request = format!(
        "POST {url} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: {signature}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nA=1"
    );
    assert_eq!(exchange(addr, request.as_bytes()).await.0, 200);
}

fn head(text: &str) -> &str {
    text.lines()
        .next()
        .unwrap_or("(connection closed without a response)")
}

#[tokio::test]
async fn a_body_that_stops_midway_does_not_hurt_the_server() {
    count_panics();
    let addr = server().await;
    let before = PANICS.load(Ordering::SeqCst);
    for _ in 0..20 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /voice HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             X-Twilio-Signature: {FORGED}\r\nContent-Length: 1000\r\n\r\nCallSid=CA"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // The client goes away mid-body.
        drop(stream);
    }
    still_serving(addr).await;
    assert_eq!(PANICS.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn a_slow_body_is_cut_off_by_the_timeout_layer_outside() {
    let addr = server().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /voice HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: {FORGED}\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    // One byte every 200 ms: a slowloris that would take 200 s to finish.
    let dribble = tokio::spawn(async move {
        for _ in 0..1000 {
            if writer.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&response).contains("\r\n\r\n") {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await
        .expect("the server answered before the client finished");
    dribble.abort();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    still_serving(addr).await;
}
