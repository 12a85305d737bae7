//! The replay guard with its in-memory store, in an axum router behind the signature layer:
//! every rule of `tower_twilio::replay`, each with a handler that counts its runs.

mod common;
#[path = "common/replay.rs"]
mod replay_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use replay_support::{replayed, send, BrokenStore};
use tokio::sync::Notify;
use tower::ServiceExt;
use tower_twilio::auth::{Credentials, HttpAuthLayer};
use tower_twilio::replay::{OnStoreFailure, ReplayGuardLayer};
use tower_twilio::{testing, TwilioWebhookLayer, VerifiedWebhook};

const TOKEN: &str = "fake_replay_token";
const URL: &str = "http://hooks.test/sms";

fn signed(params: &[(&str, &str)]) -> Request<Body> {
    testing::form_request(TOKEN, URL, params).map(Body::from)
}

fn sms() -> Request<Body> {
    signed(&[
        ("MessageSid", "SM1"),
        ("Body", "hello"),
        ("From", "+15550001"),
    ])
}

fn app(guard: ReplayGuardLayer, runs: Arc<AtomicUsize>) -> Router {
    replay_support::counting_app(guard, runs, TOKEN)
}

#[tokio::test]
async fn a_duplicate_gets_the_stored_response_and_the_handler_runs_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let app = app(ReplayGuardLayer::in_memory(), Arc::clone(&runs));
    let (first, first_body) = send(&app, sms()).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(!replayed(&first));
    for _ in 0..3 {
        let (again, body) = send(&app, sms()).await;
        assert_eq!(again.status(), StatusCode::OK);
        assert!(replayed(&again), "{:?}", again.headers());
        assert_eq!(again.headers()["content-type"], "text/xml");
        assert_eq!(body, first_body);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Another webhook is another key.
    let (other, body) = send(&app, signed(&[("MessageSid", "SM2"), ("Body", "hello")])).await;
    assert!(!replayed(&other));
    assert_eq!(body, "<Response><Message>run 2</Message></Response>");
}

#[tokio::test]
async fn reordering_the_signed_fields_does_not_make_a_new_webhook() {
    let runs = Arc::new(AtomicUsize::new(0));
    let app = app(ReplayGuardLayer::in_memory(), Arc::clone(&runs));
    send(&app, sms()).await;
    // The same signed fields in another order: the signature still matches (Twilio sorts
    // them), and so does the key.
    let mut request = signed(&[
        ("From", "+15550001"),
        ("MessageSid", "SM1"),
        ("Body", "hello"),
    ]);
    let header = sms().headers()["x-twilio-signature"].clone();
    request.headers_mut().insert("x-twilio-signature", header);
    let (response, _) = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(replayed(&response));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_forged_copy_of_a_handled_webhook_is_refused_not_replayed() {
    let runs = Arc::new(AtomicUsize::new(0));
    let app = app(ReplayGuardLayer::in_memory(), Arc::clone(&runs));
    send(&app, sms()).await;
    let mut forged = sms();
    forged.headers_mut().insert(
        "x-twilio-signature",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".parse().unwrap(),
    );
    let (response, body) = send(&app, forged).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!replayed(&response));
    assert!(!body.contains("<Response>"));
}

#[tokio::test]
async fn rejected_requests_are_never_recorded() {
    let runs = Arc::new(AtomicUsize::new(0));
    let app = app(ReplayGuardLayer::in_memory(), Arc::clone(&runs));
    let mut forged = sms();
    forged.headers_mut().insert(
        "x-twilio-signature",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".parse().unwrap(),
    );
    assert_eq!(send(&app, forged).await.0.status(), StatusCode::FORBIDDEN);
    let (response, _) = send(&app, sms()).await;
    assert!(
        !replayed(&response),
        "the forged try must not have been stored"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_basic_auth_challenge_is_not_recorded() {
    let runs = Arc::new(AtomicUsize::new(0));
    let credentials = Credentials::parse("twilio:fake-password").unwrap();
    let url = "http://twilio:fake-password@hooks.test/sms";
    let app = app(ReplayGuardLayer::in_memory(), Arc::clone(&runs))
        .layer(HttpAuthLayer::basic(credentials.clone()));
    let params = [("MessageSid", "SM9")];
    // Twilio first sends without credentials, and is challenged.
    let request = testing::form_request(TOKEN, url, &params).map(Body::from);
    assert_eq!(
        send(&app, request).await.0.status(),
        StatusCode::UNAUTHORIZED
    );
    // Then again with them: a first arrival.
    let mut request =
        testing::form_request(TOKEN, "http://hooks.test/sms", &params).map(Body::from);
    request.headers_mut().insert(
        "authorization",
        "Basic dHdpbGlvOmZha2UtcGFzc3dvcmQ=".parse().unwrap(),
    );
    let (response, _) = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!replayed(&response));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_duplicate_while_the_first_runs_gets_409_with_retry_after() {
    let runs = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let handler_release = Arc::clone(&release);
    let handler_entered = Arc::clone(&entered);
    let handler_runs = Arc::clone(&runs);
    let app = Router::new()
        .route(
            "/sms",
            post(move || {
                let (release, entered, runs) = (
                    Arc::clone(&handler_release),
                    Arc::clone(&handler_entered),
                    Arc::clone(&handler_runs),
                );
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    entered.notify_one();
                    release.notified().await;
                    "<Response/>"
                }
            }),
        )
        .layer(ReplayGuardLayer::in_memory())
        .layer(TwilioWebhookLayer::new(TOKEN).unwrap());
    let first = tokio::spawn({
        let app = app.clone();
        async move { send(&app, sms()).await }
    });
    entered.notified().await;
    let (second, _) = send(&app, sms()).await;
    assert_eq!(second.status(), StatusCode::CONFLICT);
    assert_eq!(second.headers()["retry-after"], "1");
    release.notify_one();
    assert_eq!(first.await.unwrap().0.status(), StatusCode::OK);
    let (third, _) = send(&app, sms()).await;
    assert!(replayed(&third));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// A router whose handler answers with `status` the first `failures` times, then 200.
/// A router behind the in-memory guard whose handler runs `first` on its first call and
/// answers `<Response/>` after; `runs` counts the calls.
fn first_call_differs<F, Fut>(runs: Arc<AtomicUsize>, first: F) -> Router
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = axum::response::Response> + Send,
{
    Router::new()
        .route(
            "/sms",
            post(move || {
                let (runs, first) = (Arc::clone(&runs), first.clone());
                async move {
                    if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                        first().await
                    } else {
                        "<Response/>".into_response()
                    }
                }
            }),
        )
        .layer(ReplayGuardLayer::in_memory())
        .layer(TwilioWebhookLayer::new(TOKEN).unwrap())
}

/// The handler answers `status` on its first call.
fn failing_app(runs: Arc<AtomicUsize>, status: StatusCode) -> Router {
    first_call_differs(
        runs,
        move || async move { (status, "failed").into_response() },
    )
}

#[tokio::test]
async fn a_5xx_answer_releases_the_key_so_the_retry_runs_again() {
    for status in [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ] {
        let runs = Arc::new(AtomicUsize::new(0));
        let app = failing_app(Arc::clone(&runs), status);
        assert_eq!(send(&app, sms()).await.0.status(), status);
        let (retry, _) = send(&app, sms()).await;
        assert_eq!(retry.status(), StatusCode::OK);
        assert!(!replayed(&retry));
        let (third, _) = send(&app, sms()).await;
        assert!(replayed(&third));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test]
async fn a_4xx_answer_is_stored_like_any_other() {
    let runs = Arc::new(AtomicUsize::new(0));
    let app = failing_app(Arc::clone(&runs), StatusCode::UNPROCESSABLE_ENTITY);
    send(&app, sms()).await;
    let (again, body) = send(&app, sms()).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(replayed(&again));
    assert_eq!(body, "failed");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_panicking_handler_releases_the_key() {
    let runs = Arc::new(AtomicUsize::new(0));
    let app = first_call_differs(Arc::clone(&runs), || async {
        panic!("the handler failed");
    })
    .layer(tower_http::catch_panic::CatchPanicLayer::new());
    let (first, _) = send(&app, sms()).await;
    assert_eq!(first.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // The release runs on the runtime; give it a moment.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (retry, _) = send(&app, sms()).await;
    assert_eq!(retry.status(), StatusCode::OK);
    assert!(!replayed(&retry));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_request_dropped_before_its_answer_releases_the_key() {
    let runs = Arc::new(AtomicUsize::new(0));
    // Never answers the first time: the client gives up.
    let app = first_call_differs(Arc::clone(&runs), std::future::pending);
    let gave_up = tokio::time::timeout(Duration::from_millis(100), send(&app, sms())).await;
    assert!(gave_up.is_err());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (retry, _) = send(&app, sms()).await;
    assert_eq!(retry.status(), StatusCode::OK);
    assert!(!replayed(&retry));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_inner_error_releases_the_key() {
    let runs = Arc::new(AtomicUsize::new(0));
    let service_runs = Arc::clone(&runs);
    let inner = tower::service_fn(move |_: Request<http_body_util::Full<Bytes>>| {
        let run = service_runs.fetch_add(1, Ordering::SeqCst);
        async move {
            if run == 0 {
                Err("the inner service failed")
            } else {
                Ok(Response::new(http_body_util::Full::new(
                    Bytes::from_static(b"ok"),
                )))
            }
        }
    });
    let service = tower::ServiceBuilder::new()
        .layer(TwilioWebhookLayer::new(TOKEN).unwrap())
        .layer(ReplayGuardLayer::in_memory())
        .service(inner);
    let request = || testing::form_request(TOKEN, URL, &[("MessageSid", "SM1")]);
    assert!(service.clone().oneshot(request()).await.is_err());
    let response = service.clone().oneshot(request()).await.unwrap();
    assert!(response.headers().get("idempotent-replayed").is_none());
    let response = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_response_over_the_stored_limit_is_passed_on_but_not_stored() {
    let runs = Arc::new(AtomicUsize::new(0));
    let app = app(
        ReplayGuardLayer::in_memory().max_stored_body(10),
        Arc::clone(&runs),
    );
    let (first, body) = send(&app, sms()).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(body.len() > 10);
    let (second, _) = send(&app, sms()).await;
    assert!(!replayed(&second));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn without_the_signature_layer_the_guard_answers_500() {
    let app: Router = Router::new()
        .route("/sms", post(|| async { "<Response/>" }))
        .layer(ReplayGuardLayer::in_memory());
    let (response, _) = send(&app, sms()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_failing_store_fails_open_by_default_and_closed_when_configured() {
    for store in [
        BrokenStore { delay: None },
        BrokenStore {
            delay: Some(Duration::from_secs(5)),
        },
    ] {
        let runs = Arc::new(AtomicUsize::new(0));
        let open = app(ReplayGuardLayer::new(store), Arc::clone(&runs));
        for _ in 0..2 {
            let (response, _) = send(&open, sms()).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert!(!replayed(&response));
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "open: handled, not deduplicated"
        );

        let closed_runs = Arc::new(AtomicUsize::new(0));
        let closed = app(
            ReplayGuardLayer::new(store).on_store_failure(OnStoreFailure::Closed),
            Arc::clone(&closed_runs),
        );
        let (response, _) = send(&closed, sms()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "5");
        assert_eq!(closed_runs.load(Ordering::SeqCst), 0);
        // A forged request is still refused first.
        let mut forged = sms();
        forged.headers_mut().insert(
            "x-twilio-signature",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".parse().unwrap(),
        );
        assert_eq!(
            send(&closed, forged).await.0.status(),
            StatusCode::FORBIDDEN
        );
    }
}

#[tokio::test]
async fn the_fingerprint_covers_the_url_and_the_signed_params_only() {
    let fingerprint = |request: Request<Body>| async {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
        let app: Router = Router::new()
            .route(
                "/sms",
                post(move |webhook: VerifiedWebhook| {
                    let tx = Arc::clone(&tx);
                    async move {
                        if let Some(tx) = tx.lock().unwrap().take() {
                            let _ = tx.send(webhook.fingerprint());
                        }
                        "<Response/>"
                    }
                }),
            )
            .layer(TwilioWebhookLayer::new(TOKEN).unwrap());
        app.oneshot(request).await.unwrap();
        rx.await.unwrap()
    };
    let a = fingerprint(sms()).await;
    assert_eq!(a, fingerprint(sms()).await);
    let b = fingerprint(signed(&[
        ("MessageSid", "SM1"),
        ("Body", "hello!"),
        ("From", "+15550001"),
    ]))
    .await;
    assert_ne!(a, b);
    let with_query = testing::form_request(
        TOKEN,
        "http://hooks.test/sms?x=1",
        &[
            ("MessageSid", "SM1"),
            ("Body", "hello"),
            ("From", "+15550001"),
        ],
    );
    assert_ne!(a, fingerprint(with_query.map(Body::from)).await);
}
