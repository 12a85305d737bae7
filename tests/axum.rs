//! The layer inside axum routers: extractors downstream, nesting, route layers, rejections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Form, Json};
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{testing, Rejection, RejectionReason, TwilioWebhookLayer, VerifiedWebhook};

const TOKEN: &str = "fake_auth_token_for_tests";

fn layer() -> TwilioWebhookLayer {
    TwilioWebhookLayer::new(TOKEN).unwrap()
}

async fn send(
    app: Router,
    request: Request<impl Into<Body>>,
) -> (StatusCode, String, Option<Rejection>) {
    let response = app.oneshot(request.map(Into::into)).await.unwrap();
    let status = response.status();
    let rejection = response.extensions().get::<Rejection>().cloned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), rejection)
}

#[tokio::test]
async fn form_extractor_downstream_sees_the_params() {
    let app = Router::new()
        .route(
            "/sms",
            post(|Form(form): Form<HashMap<String, String>>| async move {
                format!("{} said {}", form["From"], form["Body"])
            }),
        )
        .layer(layer());
    let request = testing::form_request(
        TOKEN,
        "http://example.com/sms",
        &[("From", "+14158675309"), ("Body", "Hello & goodbye = 100%")],
    );
    let (status, body, _) = send(app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "+14158675309 said Hello & goodbye = 100%");
}

#[tokio::test]
async fn bytes_string_and_marker_extractors_downstream() {
    let app = Router::new()
        .route(
            "/bytes",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route("/string", post(|body: String| async move { body }))
        .route(
            "/marker",
            post(|webhook: VerifiedWebhook| async move {
                format!(
                    "{} {} {}",
                    webhook.key_id(),
                    webhook.url(),
                    webhook.params().get("CallSid").unwrap()
                )
            }),
        )
        .layer(layer());
    let params = [("CallSid", "CA1"), ("Caller", "+1 415")];
    let request = testing::form_request(TOKEN, "http://example.com/bytes", &params);
    let sent = request.body().len();
    assert_eq!(send(app.clone(), request).await.1, sent.to_string());
    let request = testing::form_request(TOKEN, "http://example.com/string", &params);
    let sent = request.body().clone();
    assert_eq!(send(app.clone(), request).await.1, sent);
    let request = testing::form_request(TOKEN, "http://example.com/marker", &params);
    assert_eq!(
        send(app, request).await.1,
        "primary http://example.com/marker CA1"
    );
}

#[tokio::test]
async fn nested_router_verifies_the_full_path() {
    let inner = Router::new()
        .route("/voice", post(|| async { "ok" }))
        .layer(layer());
    let app = Router::new().nest("/twilio", inner);
    let params = [("CallSid", "CA1")];
    let full = testing::form_request(TOKEN, "http://example.com/twilio/voice", &params);
    assert_eq!(send(app.clone(), full).await.0, StatusCode::OK);
    // Signed over the stripped path, as a naive middleware would rebuild it: refused.
    let mut stripped = testing::form_request(TOKEN, "http://example.com/voice", &params);
    *stripped.uri_mut() = "/twilio/voice".parse().unwrap();
    let (status, _, rejection) = send(app, stripped).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        rejection.unwrap().reason(),
        RejectionReason::SignatureMismatch
    );
}

#[tokio::test]
async fn route_layer_protects_matched_routes_only() {
    let app = Router::new()
        .route("/voice", post(|| async { "ok" }))
        .route_layer(layer())
        .route("/healthz", get(|| async { "up" }));
    let unsigned = Request::post("/voice")
        .header("host", "example.com")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app.clone(), unsigned).await.0, StatusCode::FORBIDDEN);
    let health = Request::get("/healthz").body(Body::empty()).unwrap();
    assert_eq!(send(app.clone(), health).await.0, StatusCode::OK);
    let signed = testing::form_request(TOKEN, "http://example.com/voice", &[("A", "1")]);
    assert_eq!(send(app.clone(), signed).await.0, StatusCode::OK);
    // An unknown route is still a 404, not a 403: route_layer runs only on a match.
    let unknown = Request::post("/nope").body(Body::empty()).unwrap();
    assert_eq!(send(app, unknown).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_body_with_content_length_is_refused_before_reading() {
    let polled = Arc::new(AtomicUsize::new(0));
    let counter = polled.clone();
    let stream = futures_util::stream::iter(0..1).map(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 2048]))
    });
    let app = Router::new()
        .route("/voice", post(|| async { "ok" }))
        .layer(layer().body_limit(1024));
    let mut request = testing::form_request(TOKEN, "http://example.com/voice", &[("A", "1")])
        .map(|_| Body::from_stream(stream));
    request
        .headers_mut()
        .insert("content-length", "2048".parse().unwrap());
    let (status, body, rejection) = send(app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body, "Request body too large\n");
    assert_eq!(
        rejection.unwrap().reason(),
        RejectionReason::BodyTooLarge { limit: 1024 }
    );
    assert_eq!(polled.load(Ordering::SeqCst), 0, "the body was never read");
}

#[tokio::test]
async fn oversized_chunked_body_is_refused_without_buffering_it_all() {
    // An endless body: only stopping at the limit ends this test.
    let polled = Arc::new(AtomicUsize::new(0));
    let counter = polled.clone();
    let stream = futures_util::stream::repeat_with(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok::<_, std::io::Error>(Bytes::from_static(&[b'a'; 100]))
    });
    let app = Router::new()
        .route("/voice", post(|| async { "ok" }))
        .layer(layer().body_limit(1000));
    let request = testing::form_request(TOKEN, "http://example.com/voice", &[("A", "1")])
        .map(|_| Body::from_stream(stream));
    assert!(request.headers().get("content-length").is_none());
    let (status, _, _) = send(app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        polled.load(Ordering::SeqCst),
        11,
        "stopped at the first chunk past the limit"
    );
}

#[tokio::test]
async fn a_body_at_the_limit_passes() {
    let app = Router::new().route(
        "/voice",
        post(|body: Bytes| async move { body.len().to_string() }),
    );
    let request = testing::form_request(TOKEN, "http://example.com/voice", &[("A", "1")]);
    let limit = request.body().len();
    let app = app.layer(layer().body_limit(limit));
    assert_eq!(send(app, request).await.1, limit.to_string());
}

#[tokio::test]
async fn forged_and_unsigned_requests_get_403_with_their_reason() {
    let app = Router::new()
        .route("/voice", post(|| async { "ok" }))
        .layer(layer());
    let forged = testing::form_request("not_the_token", "http://example.com/voice", &[("A", "1")]);
    let (status, body, rejection) = send(app.clone(), forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, "Invalid Twilio signature\n");
    let rejection = rejection.unwrap();
    assert_eq!(rejection.reason(), RejectionReason::SignatureMismatch);
    assert_eq!(
        rejection.urls_tried(),
        ["http://example.com/voice", "http://example.com:80/voice"]
    );
    assert_eq!(rejection.keys_tried(), ["primary"]);

    let mut unsigned = testing::form_request(TOKEN, "http://example.com/voice", &[("A", "1")]);
    unsigned.headers_mut().remove("x-twilio-signature");
    let (status, body, rejection) = send(app.clone(), unsigned).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, "Missing X-Twilio-Signature header\n");
    assert_eq!(
        rejection.unwrap().reason(),
        RejectionReason::MissingSignature
    );

    let mut garbled = testing::form_request(TOKEN, "http://example.com/voice", &[("A", "1")]);
    garbled
        .headers_mut()
        .insert("x-twilio-signature", "***".parse().unwrap());
    let (status, _, rejection) = send(app, garbled).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(matches!(
        rejection.unwrap().reason(),
        RejectionReason::MalformedSignature(_)
    ));
}

#[tokio::test]
async fn custom_rejection_hook_sees_the_reason() {
    let app = Router::new()
        .route("/voice", post(|| async { "ok" }))
        .layer(layer().on_rejection(|rejection: &Rejection| {
            axum::response::IntoResponse::into_response((
                StatusCode::UNAUTHORIZED,
                format!("custom: {}", rejection.reason()),
            ))
        }));
    let forged = testing::form_request("nope", "http://example.com/voice", &[("A", "1")]);
    let (status, body, rejection) = send(app, forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "custom: signature does not match");
    assert!(
        rejection.is_some(),
        "the layer attaches the rejection to custom responses too"
    );
}

#[tokio::test]
async fn get_with_query_signs_the_url_alone() {
    let app = Router::new()
        .route(
            "/voice",
            get(|webhook: VerifiedWebhook| async move { webhook.params().len().to_string() }),
        )
        .layer(layer());
    let url = "http://example.com/voice?CallSid=CA1&From=%2B14158675309";
    let (status, body, _) = send(app.clone(), testing::get_request(TOKEN, url)).await;
    // The handler sees the query's parameters; none were appended to what was signed.
    assert_eq!((status, body.as_str()), (StatusCode::OK, "2"));
    // The query is part of what is signed.
    let mut changed = testing::get_request(TOKEN, url);
    *changed.uri_mut() = "/voice?CallSid=CA2&From=%2B14158675309".parse().unwrap();
    assert_eq!(send(app, changed).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn json_body_with_body_sha256() {
    #[derive(serde::Deserialize)]
    struct Event {
        kind: String,
    }
    let app = Router::new()
        .route(
            "/events",
            post(|Json(event): Json<Event>| async move { event.kind }),
        )
        .layer(layer());
    let json = r#"{"kind":"delivered"}"#;
    let (status, body, _) = send(
        app.clone(),
        testing::json_request(TOKEN, "http://example.com/events", json),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "delivered"));

    // The URL is signed correctly, but the body is another one.
    let request = testing::json_request(TOKEN, "http://example.com/events", json)
        .map(|_| r#"{"kind":"forged"}"#.to_owned());
    let (status, _, rejection) = send(app.clone(), request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        rejection.unwrap().reason(),
        RejectionReason::BodyHashMismatch
    );

    // A JSON body signed without bodySHA256 in the URL.
    let signature = sign(TOKEN, "http://example.com/events", [], Algorithm::HmacSha1);
    let request = Request::post("/events")
        .header("host", "example.com")
        .header("content-type", "application/json")
        .header("x-twilio-signature", signature)
        .body(json.to_owned())
        .unwrap();
    let (status, _, rejection) = send(app, request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        rejection.unwrap().reason(),
        RejectionReason::MissingBodyHash
    );
}

#[tokio::test]
async fn form_content_type_with_charset_is_a_form() {
    let app = Router::new()
        .route(
            "/sms",
            post(|webhook: VerifiedWebhook| async move {
                webhook.params().get("Body").unwrap().to_owned()
            }),
        )
        .layer(layer());
    let mut request =
        testing::form_request(TOKEN, "http://example.com/sms", &[("Body", "h\u{e9}")]);
    request.headers_mut().insert(
        "content-type",
        "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
            .parse()
            .unwrap(),
    );
    assert_eq!(send(app, request).await.1, "h\u{e9}");
}

#[tokio::test]
async fn marker_extractor_without_the_layer_is_a_500() {
    let app = Router::new().route("/voice", post(|_: VerifiedWebhook| async { "unreachable" }));
    let request = testing::form_request(TOKEN, "http://example.com/voice", &[("A", "1")]);
    assert_eq!(
        send(app, request).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn twilio_params_share_the_markers_decoding_without_copying_it() {
    use tower_twilio::extract::TwilioParams;
    let app = Router::new()
        .route(
            "/voice",
            post(
                |webhook: VerifiedWebhook, first: TwilioParams, second: TwilioParams| async move {
                    // The same decoded fields, not copies of them.
                    let shared =
                        std::ptr::eq(webhook.params(), &*first) && std::ptr::eq(&*first, &*second);
                    format!("{shared} {}", first.call_sid().unwrap())
                },
            ),
        )
        .layer(layer());
    let request = testing::form_request(TOKEN, "http://example.com/voice", &[("CallSid", "CA1")]);
    assert_eq!(send(app, request).await.1, "true CA1");
}

#[tokio::test]
async fn twilio_params_extractor_reuses_the_layers_decoding() {
    use tower_twilio::extract::TwilioParams;
    let app = Router::new()
        .route(
            "/sms",
            post(|params: TwilioParams| async move {
                format!(
                    "{}|{}|{}|{}|{}",
                    params.account_sid().unwrap(),
                    params.message_sid().unwrap(),
                    params.from_number().unwrap(),
                    params.body().unwrap(),
                    params.get_all("MediaUrl").collect::<Vec<_>>().join(",")
                )
            }),
        )
        .layer(layer());
    let request = testing::form_request(
        TOKEN,
        "http://example.com/sms",
        &[
            ("AccountSid", "ACaaaa"),
            ("MessageSid", "SM1"),
            ("From", "+1 415"),
            ("Body", "a+b=c"),
            ("MediaUrl", "u1"),
            ("MediaUrl", "u2"),
        ],
    );
    assert_eq!(send(app, request).await.1, "ACaaaa|SM1|+1 415|a+b=c|u1,u2");
    let without_layer =
        Router::new().route("/sms", post(|_: TwilioParams| async { "unreachable" }));
    let request = testing::form_request(TOKEN, "http://example.com/sms", &[("A", "1")]);
    assert_eq!(
        send(without_layer, request).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

// The opt-in used here is refused in a release build (unit-tested in `src/layer/layer.rs`),
// so this runs in debug builds only, as `cargo test` builds by default.
#[cfg(debug_assertions)]
#[tokio::test]
async fn skipping_verification_passes_unsigned_requests_with_a_marked_marker() {
    use tower_twilio::layer::SkipVerification;
    use tower_twilio::KeyKind;
    let layer = layer()
        .dangerously_skip_verification(SkipVerification::local_development_only())
        .unwrap();
    let app = Router::new()
        .route(
            "/voice",
            post(|w: VerifiedWebhook| async move {
                assert_eq!(w.key_kind(), KeyKind::VerificationSkipped);
                format!("{} {}", w.key_id(), w.params().get("From").unwrap())
            }),
        )
        .layer(layer.body_limit(100));
    let unsigned = Request::post("/voice")
        .header("host", "example.com")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("From=%2B1"))
        .unwrap();
    let (status, body, _) = send(app.clone(), unsigned).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "verification-skipped +1")
    );
    // The body limit still holds.
    let big = Request::post("/voice")
        .header("host", "example.com")
        .body(Body::from("x".repeat(200)))
        .unwrap();
    assert_eq!(send(app, big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}
