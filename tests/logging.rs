//! Rejections are logged once, under `tower_twilio`, with the reason and never a secret;
//! limited clients once per period; warnings without personal data; the replay guard's
//! decisions and store failures.

mod common;
#[path = "common/replay.rs"]
mod replay_support;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::routing::post;
use axum::Router;
use common::capture_logs;
use std::time::Duration;
use tower::ServiceExt;

use replay_support::BrokenStore;
use tower_twilio::layer::FailureLimit;
use tower_twilio::public_url::PeerAddr;
use tower_twilio::replay::ReplayGuardLayer;
use tower_twilio::{testing, Hint, Keyring, PublicUrl, TwilioWebhookLayer, UrlVariants};

const TOKEN: &str = "fake_token_SECRET_MARKER_1";
const SECONDARY: &str = "fake_token_SECRET_MARKER_2";
const PASSWORD: &str = "SECRET_MARKER_password";

fn app() -> Router {
    let keyring = Keyring::new()
        .with_auth_token("primary", TOKEN)
        .unwrap()
        .with_auth_token("secondary", SECONDARY)
        .unwrap();
    let layer = TwilioWebhookLayer::with_keyring(keyring)
        .url_variants(UrlVariants::default().userinfo(Some(&format!("twilio:{PASSWORD}"))));
    Router::new()
        .route("/voice", post(|| async { "ok" }))
        .layer(layer)
}

#[test]
fn a_rejection_is_one_event_with_reason_urls_and_key_ids_but_no_secret() {
    let log = capture_logs(|| async {
        let forged =
            testing::form_request("not_the_token", "http://example.com/voice", &[("A", "1")]);
        let response = app().oneshot(forged.map(Body::from)).await.unwrap();
        assert_eq!(response.status(), 403);
    });
    let events: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Twilio webhook rejected"))
        .collect();
    assert_eq!(events.len(), 1, "{log}");
    let event = events[0];
    assert!(event.contains("WARN tower_twilio"), "{event}");
    assert!(event.contains("reason=signature does not match"), "{event}");
    assert!(event.contains("http://example.com/voice"), "{event}");
    assert!(
        event.contains("twilio:***@example.com"),
        "userinfo candidates are masked: {event}"
    );
    assert!(event.contains("\"primary\", \"secondary\""), "{event}");
    assert!(
        !log.contains("SECRET_MARKER"),
        "a secret leaked into the log: {log}"
    );
}

#[test]
fn accepted_requests_log_no_warning() {
    let log = capture_logs(|| async {
        let signed = testing::form_request(TOKEN, "http://example.com/voice", &[("A", "1")]);
        let response = app().oneshot(signed.map(Body::from)).await.unwrap();
        assert_eq!(response.status(), 200);
    });
    assert!(!log.contains("WARN"), "{log}");
}

#[test]
fn debug_output_of_configuration_shows_no_secret() {
    let layer = app();
    let shown = format!("{layer:?}");
    assert!(!shown.contains("SECRET_MARKER"), "{shown}");
    let keyring = Keyring::auth_token(TOKEN).unwrap();
    assert!(!format!("{keyring:?}").contains("SECRET_MARKER"));
    let layer = TwilioWebhookLayer::new(TOKEN).unwrap();
    assert!(!format!("{layer:?}").contains("SECRET_MARKER"));
}

#[test]
fn the_layer_reads_its_token_from_the_environment() {
    // The only test in this binary that touches the environment.
    std::env::remove_var("TWILIO_AUTH_TOKEN");
    let err = TwilioWebhookLayer::from_env().unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable TWILIO_AUTH_TOKEN is not set"
    );
    std::env::set_var("TWILIO_AUTH_TOKEN", "");
    let err = TwilioWebhookLayer::from_env().unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable TWILIO_AUTH_TOKEN is invalid: set but empty"
    );
    std::env::set_var("TWILIO_AUTH_TOKEN", TOKEN);
    let layer = TwilioWebhookLayer::from_env().unwrap();
    let log = capture_logs(|| async move {
        let app = Router::new()
            .route("/voice", post(|| async { "ok" }))
            .layer(layer);
        let signed = testing::form_request(TOKEN, "http://example.com/voice", &[("A", "1")]);
        assert_eq!(
            app.oneshot(signed.map(Body::from)).await.unwrap().status(),
            200
        );
    });
    assert!(!log.contains("SECRET_MARKER"));
    std::env::remove_var("TWILIO_AUTH_TOKEN");
}

/// The one rejection event a request produced.
fn rejection_event(log: &str) -> &str {
    let events: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Twilio webhook rejected"))
        .collect();
    assert_eq!(events.len(), 1, "{log}");
    events[0]
}

async fn send(app: Router, request: Request<Body>) -> u16 {
    app.oneshot(request).await.unwrap().status().as_u16()
}

#[test]
fn each_hint_appears_in_the_case_it_describes() {
    let voice = || {
        Router::new()
            .route("/voice", post(|| async { "ok" }))
            .route("/voice/", post(|| async { "ok" }))
    };
    let form = |target: &str| {
        let mut request =
            testing::form_request(TOKEN, &format!("http://example.com{target}"), &[("A", "1")]);
        request.headers_mut().insert(
            "x-twilio-signature",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=".parse().unwrap(),
        );
        request.map(Body::from)
    };
    let peer = |request: Request<Body>, ip: &str| {
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(
            format!("{ip}:5000")
                .parse::<std::net::SocketAddr>()
                .unwrap(),
        ));
        Request::from_parts(parts, body)
    };
    let layer = || TwilioWebhookLayer::new(TOKEN).unwrap();

    let cases: Vec<(Hint, Router, Request<Body>)> = vec![
        (
            Hint::ProxyHeadersFromUntrustedPeer,
            voice().layer(layer().public_url(PublicUrl::trusted_proxies(["10.0.0.0/8"]).unwrap())),
            {
                let mut request = peer(form("/voice"), "192.0.2.9");
                request
                    .headers_mut()
                    .insert("x-forwarded-proto", "https".parse().unwrap());
                request
            },
        ),
        (Hint::ProxyHeadersIgnored, voice().layer(layer()), {
            let mut request = form("/voice");
            request
                .headers_mut()
                .insert("x-forwarded-proto", "https".parse().unwrap());
            request
        }),
        (
            Hint::NoPeerAddress,
            voice().layer(layer().public_url(PublicUrl::trusted_proxies(["10.0.0.0/8"]).unwrap())),
            form("/voice"),
        ),
        (
            Hint::HostDiffersFromPublicUrl,
            voice()
                .layer(layer().public_url(PublicUrl::fixed("https://hooks.example.org").unwrap())),
            form("/voice"),
        ),
        (
            Hint::TrailingSlash,
            voice().layer(layer().url_variants(UrlVariants::default().trailing_slash(false))),
            form("/voice/"),
        ),
        (Hint::JsonWithoutBodyHash, voice().layer(layer()), {
            let mut request = form("/voice");
            request
                .headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            request
        }),
        (
            Hint::UnknownSharedKey,
            voice().layer(TwilioWebhookLayer::with_keyring(
                Keyring::auth_token(TOKEN)
                    .unwrap()
                    .with_shared_key("k1", SECONDARY)
                    .unwrap(),
            )),
            {
                let mut request = form("/voice");
                request.headers_mut().insert(
                    "x-twilio-webhooks-signature-settings",
                    "key=k2".parse().unwrap(),
                );
                request
            },
        ),
    ];
    for (hint, app, request) in cases {
        let log = capture_logs(|| async move {
            assert_eq!(send(app, request).await, 403);
        });
        let event = rejection_event(&log);
        assert!(
            event.contains(hint.message()),
            "{hint:?} missing from {event}"
        );
        assert!(!log.contains("SECRET_MARKER"), "{log}");
    }
}

#[test]
fn no_secret_in_any_log_line_whatever_happens() {
    let log = capture_logs(|| async {
        let keyring = Keyring::auth_token(TOKEN)
            .unwrap()
            .with_shared_key("k1", SECONDARY)
            .unwrap();
        let layer = TwilioWebhookLayer::with_keyring(keyring)
            .url_variants(UrlVariants::default().userinfo(Some(&format!("twilio:{PASSWORD}"))))
            .body_limit(64);
        let app = Router::new()
            .route("/voice", post(|| async { "ok" }))
            .layer(layer);
        let url = "http://example.com/voice";
        let mut requests = vec![
            testing::form_request(TOKEN, url, &[("A", "1")]),
            testing::form_request("wrong", url, &[("A", "1")]),
            testing::form_request(TOKEN, url, &[("A", &"x".repeat(100))]),
            testing::json_request(TOKEN, url, "{}"),
            testing::json_request("wrong", url, "{}"),
        ];
        let mut shared = testing::form_request(SECONDARY, url, &[("A", "1")]);
        shared.headers_mut().insert(
            "x-twilio-webhooks-signature-settings",
            "key=k1".parse().unwrap(),
        );
        requests.push(shared);
        let mut basic = testing::form_request(
            TOKEN,
            &format!("http://twilio:{PASSWORD}@example.com/voice"),
            &[("A", "1")],
        );
        basic.headers_mut().insert(
            "authorization",
            format!("Basic {PASSWORD}").parse().unwrap(),
        );
        requests.push(basic);
        for request in requests {
            let _ = send(app.clone(), request.map(Body::from)).await;
        }
    });
    assert!(log.matches("Twilio webhook rejected").count() >= 3, "{log}");
    assert!(
        !log.contains("SECRET_MARKER"),
        "a secret leaked into the log: {log}"
    );
}

// The opt-in used here is refused in a release build (unit-tested in `src/layer/layer.rs`),
// so this runs in debug builds only, as `cargo test` builds by default.
#[cfg(debug_assertions)]
#[test]
fn skipping_verification_warns_at_start_up_and_on_every_request() {
    use tower_twilio::layer::SkipVerification;
    let log = capture_logs(|| async {
        let layer = TwilioWebhookLayer::new(TOKEN)
            .unwrap()
            .dangerously_skip_verification(SkipVerification::local_development_only())
            .unwrap();
        let app = Router::new()
            .route("/voice", post(|| async { "ok" }))
            .layer(layer);
        for _ in 0..3 {
            let request = Request::post("/voice")
                .header("host", "h")
                .body(Body::empty())
                .unwrap();
            assert_eq!(send(app.clone(), request).await, 200);
        }
    });
    assert_eq!(
        log.matches("TWILIO SIGNATURE VERIFICATION IS OFF").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("Twilio signature NOT verified").count(),
        3,
        "{log}"
    );
    assert!(log
        .lines()
        .filter(|l| l.contains("NOT verified"))
        .all(|l| l.contains("WARN")));
}

// ---------------------------------------------------------------------------------------
// Failure limit, privacy of warnings, replay guard: here, because every test of this file
// captures its own events (tracing caches a callsite's interest process-wide, so a test
// that logs without a subscriber on another thread can disable a callsite for one that
// captures).
// ---------------------------------------------------------------------------------------

const FORGED: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn voice_behind(layer: TwilioWebhookLayer) -> Router {
    Router::new()
        .route("/voice", post(|| async { "<Response/>" }))
        .layer(layer)
}

/// A signed form POST to `http://hooks.test/voice` from `peer`, with `signature` instead of
/// the right one when given.
fn signed_from(peer: [u8; 4], signature: Option<&str>, target: &str) -> Request<Body> {
    let url = format!("http://hooks.test{target}");
    let mut request = testing::form_request(TOKEN, &url, &[("CallSid", "CA1")]).map(Body::from);
    if let Some(signature) = signature {
        request
            .headers_mut()
            .insert("x-twilio-signature", signature.parse().unwrap());
    }
    request.extensions_mut().insert(PeerAddr(peer.into()));
    request
}

#[test]
fn a_limited_client_is_logged_once_per_period_not_once_per_request() {
    let mut statuses = Vec::new();
    let logs = capture_logs(|| async {
        let limit = FailureLimit::new(2, Duration::from_millis(400)).unwrap();
        let app = voice_behind(
            TwilioWebhookLayer::new(TOKEN)
                .unwrap()
                .failed_verification_limit(limit),
        );
        for round in 0..3 {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(450)).await;
            }
            for _ in 0..40 {
                let request = signed_from([192, 0, 2, 9], Some(FORGED), "/voice");
                statuses.push(
                    app.clone()
                        .oneshot(request)
                        .await
                        .unwrap()
                        .status()
                        .as_u16(),
                );
            }
        }
    });
    let rejected = statuses.iter().filter(|&&s| s == 403).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert!(limited >= 100, "{statuses:?}");
    // Each 403 is logged; the 429s are summed up, per client, once per period.
    assert_eq!(
        logs.matches("Twilio webhook rejected").count(),
        rejected,
        "{logs}"
    );
    assert_eq!(logs.matches("client over its limit").count(), 1, "{logs}");
    let summaries = logs.matches("rejections suppressed").count();
    assert!(
        (1..=3).contains(&summaries),
        "{summaries} summaries:\n{logs}"
    );
    assert!(logs.contains("client 192.0.2.9: "), "{logs}");
}

#[test]
fn warnings_show_parameter_names_and_the_peer_not_phone_numbers() {
    let logs = capture_logs(|| async {
        let app = voice_behind(TwilioWebhookLayer::new(TOKEN).unwrap());
        let target = "/voice?From=%2B15557654321&Body=secret+words";
        let request = signed_from([192, 0, 2, 33], Some(FORGED), target);
        assert_eq!(app.oneshot(request).await.unwrap().status(), 403);
    });
    let warn: Vec<&str> = logs.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warn.len(), 1, "{logs}");
    assert!(warn[0].contains("/voice?From&Body"), "{logs}");
    assert!(warn[0].contains("peer=192.0.2.33"), "{logs}");
    assert!(
        !warn[0].contains("5557654321") && !warn[0].contains("secret"),
        "{logs}"
    );
    // The whole URLs are there for whoever turns on `debug`.
    let debug: Vec<&str> = logs.lines().filter(|l| l.contains("DEBUG")).collect();
    assert!(
        debug.iter().any(|l| l.contains("From=%2B15557654321")),
        "{logs}"
    );
}

fn guarded(guard: ReplayGuardLayer) -> Router {
    Router::new()
        .route("/voice", post(|| async { "<Response/>" }))
        .layer(guard)
        .layer(TwilioWebhookLayer::new(TOKEN).unwrap())
}

#[test]
fn replay_store_failures_are_warned_about_once_per_interval_with_a_count() {
    let logs = capture_logs(|| async {
        let app = guarded(ReplayGuardLayer::new(BrokenStore { delay: None }));
        for _ in 0..20 {
            let request = signed_from([192, 0, 2, 1], None, "/voice");
            assert_eq!(app.clone().oneshot(request).await.unwrap().status(), 200);
        }
    });
    assert_eq!(logs.matches("replay store failed").count(), 1, "{logs}");
    assert!(logs.contains("failures_since_last_warning=1"), "{logs}");
    assert!(!logs.contains(TOKEN));
}

#[test]
fn each_replay_decision_is_logged_with_the_idempotency_token_as_a_hint() {
    let logs = capture_logs(|| async {
        let app = guarded(ReplayGuardLayer::in_memory());
        for _ in 0..2 {
            let mut request = signed_from([192, 0, 2, 1], None, "/voice");
            request.headers_mut().insert(
                "i-twilio-idempotency-token",
                "idem-token-42".parse().unwrap(),
            );
            assert_eq!(app.clone().oneshot(request).await.unwrap().status(), 200);
        }
    });
    assert!(logs.contains("decision=\"first\""), "{logs}");
    assert!(logs.contains("decision=\"replayed\""), "{logs}");
    assert_eq!(
        logs.matches("idempotency_token=\"idem-token-42\"").count(),
        2,
        "{logs}"
    );
}
