//! What a holder of a captured request, or of a socket, could still do, and no longer can:
//! body hashes checked whatever the content type, methods and bodies the signature does not
//! cover, re-cut parameters, userinfo in an absolute-form target, passwords in `Debug`, and
//! phone numbers in warnings. Stricter than the official libraries on purpose.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::routing::{any, post};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_twilio::extract::TwilioParams;
use tower_twilio::signature::{body_sha256, sign, Algorithm};
use tower_twilio::{Rejection, RejectionReason, TwilioWebhookLayer, VerifiedWebhook};

const TOKEN: &str = "fake_hardening_token";

/// Every method and path answers with what the handler saw: the `From` it read.
fn app(layer: TwilioWebhookLayer) -> Router {
    Router::new()
        .route(
            "/{*path}",
            any(|params: TwilioParams| async move {
                format!("From={}", params.from_number().unwrap_or("-"))
            }),
        )
        .layer(layer)
}

fn layer() -> TwilioWebhookLayer {
    TwilioWebhookLayer::new(TOKEN).unwrap()
}

/// A request to `http://hooks.test{target}` signed over that URL and `params`, carrying
/// `body` as `content_type`.
fn request(
    method: Method,
    target: &str,
    params: &[(&str, &str)],
    content_type: &str,
    body: &str,
) -> Request<Body> {
    let url = format!("http://hooks.test{target}");
    let signature = sign(TOKEN, &url, params.iter().copied(), Algorithm::HmacSha1);
    Request::builder()
        .method(method)
        .uri(target)
        .header("host", "hooks.test")
        .header("content-type", content_type)
        .header("x-twilio-signature", signature)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn send(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, Option<RejectionReason>, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let reason = response
        .extensions()
        .get::<Rejection>()
        .map(Rejection::reason);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, reason, String::from_utf8_lossy(&body).into_owned())
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn a_body_hash_in_the_url_is_checked_whatever_the_content_type() {
    let app = app(layer());
    let target = format!("/events?bodySHA256={}", body_sha256(b"{\"type\":\"x\"}"));
    // Signed over that URL and a form parameter: the signature passes, the hash must too.
    let signed_form = request(Method::POST, &target, &[("a", "1")], FORM, "a=1");
    let (status, reason, _) = send(&app, signed_form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(reason, Some(RejectionReason::BodyHashMismatch));
    // The JSON body the URL names passes.
    let json = request(
        Method::POST,
        &target,
        &[],
        "application/json",
        "{\"type\":\"x\"}",
    );
    assert_eq!(send(&app, json).await.0, StatusCode::OK);
    // The signed URL with empty-ish form bodies (whose string to sign is the URL alone).
    for body in ["", "&=&", "=&&=&="] {
        let replayed = request(Method::POST, &target, &[], FORM, body);
        let (status, reason, _) = send(&app, replayed).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(reason, Some(RejectionReason::EmptyForm), "{body:?}");
    }
}

#[tokio::test]
async fn a_get_signature_is_not_a_post_put_or_delete_signature() {
    let app = app(layer());
    let target = "/voice?From=%2B15550001";
    let get = request(Method::GET, target, &[], FORM, "");
    assert_eq!(send(&app, get).await.0, StatusCode::OK);
    // The same signature on a POST with an empty form: its string to sign is the GET's.
    let post = request(Method::POST, target, &[], FORM, "");
    assert_eq!(send(&app, post).await.1, Some(RejectionReason::EmptyForm));
    for method in [Method::PUT, Method::DELETE, Method::PATCH, Method::HEAD] {
        let response = app
            .clone()
            .oneshot(request(method.clone(), target, &[], FORM, ""))
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "GET, POST");
    }
    // Configurable.
    let head = app_with_methods([Method::GET, Method::HEAD]);
    assert_eq!(
        send(&head, request(Method::HEAD, target, &[], FORM, ""))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        send(
            &head,
            request(Method::POST, target, &[("a", "1")], FORM, "a=1")
        )
        .await
        .0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

fn app_with_methods(methods: impl IntoIterator<Item = Method>) -> Router {
    app(layer().methods(methods))
}

#[tokio::test]
async fn a_get_with_a_body_is_refused_not_passed_on_unsigned() {
    let app = app(layer());
    let target = "/voice?From=%2B15550001";
    let with_body = request(Method::GET, target, &[], FORM, "From=%2B15559999999");
    let (status, reason, _) = send(&app, with_body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reason, Some(RejectionReason::UnsignedBody));
}

#[tokio::test]
async fn re_cut_parameters_are_refused_in_strict_mode() {
    // Twilio signed `Body=hiFrom+15550000001` and `From=+15559999999`.
    let signed = [("Body", "hiFrom+15550000001"), ("From", "+15559999999")];
    let honest = "Body=hiFrom%2B15550000001&From=%2B15559999999";
    let re_cut = "Body=hi&From=%2B15550000001&From%2B15559999999=";
    let lenient = app(layer());
    let (status, _, body) = send(
        &lenient,
        request(Method::POST, "/sms", &signed, FORM, re_cut),
    )
    .await;
    // What Twilio's scheme allows without strict mode: the signature still matches.
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "From=+15550000001")
    );
    let strict = app(layer().strict_params());
    let (status, reason, _) = send(
        &strict,
        request(Method::POST, "/sms", &signed, FORM, re_cut),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reason, Some(RejectionReason::UnexpectedParams));
    let (status, _, body) = send(
        &strict,
        request(Method::POST, "/sms", &signed, FORM, honest),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "From=+15559999999")
    );
    // A repeated key, whatever its values' order: refused when strict...
    let repeated = [("From", "+15550000002"), ("From", "+15550000001")];
    let body = "From=%2B15550000002&From=%2B15550000001";
    let (status, reason, _) = send(
        &strict,
        request(Method::POST, "/sms", &repeated, FORM, body),
    )
    .await;
    assert_eq!(
        (status, reason),
        (
            StatusCode::BAD_REQUEST,
            Some(RejectionReason::UnexpectedParams)
        )
    );
    // ...and otherwise `get` answers the first in the signed order, which the sender of a
    // captured request cannot choose.
    for body in [body, "From=%2B15550000001&From=%2B15550000002"] {
        let (_, _, seen) = send(
            &lenient,
            request(Method::POST, "/sms", &repeated, FORM, body),
        )
        .await;
        assert_eq!(seen, "From=+15550000001", "{body}");
    }
}

#[tokio::test]
async fn an_absolute_form_target_with_userinfo_is_refused() {
    let addr = common::serve(app(layer())).await;
    for target in ["http://u:p@evil.example/voice", "http://u@hooks.test/voice"] {
        let raw = format!(
            "POST {target} HTTP/1.1\r\nHost: hooks.test\r\nContent-Type: {FORM}\r\n\
             X-Twilio-Signature: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=1"
        );
        let (status, response) = common::exchange(addr, raw.as_bytes()).await;
        assert_eq!(status, 400, "{target}: {response}");
    }
}

#[tokio::test]
async fn verified_webhook_debug_masks_the_password() {
    let credentials = tower_twilio::auth::Credentials::parse("twilio:fake-secret-pw").unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let app = Router::new()
        .route(
            "/voice",
            post(move |webhook: VerifiedWebhook| {
                let tx = std::sync::Arc::clone(&tx);
                async move {
                    if let Some(tx) = tx.lock().unwrap().take() {
                        let _ = tx.send(format!("{webhook:?}"));
                    }
                    "ok"
                }
            }),
        )
        .layer(layer().credentials_in_url(&credentials));
    let url = "http://twilio:fake-secret-pw@hooks.test/voice";
    let request = tower_twilio::testing::form_request(TOKEN, url, &[("CallSid", "CA1")]);
    assert_eq!(
        app.oneshot(request.map(Body::from)).await.unwrap().status(),
        200
    );
    let debug = rx.await.unwrap();
    assert!(!debug.contains("fake-secret-pw"), "{debug}");
    assert!(debug.contains("twilio:***@hooks.test"), "{debug}");
}
