//! Rejections are logged once, under `tower_twilio`, with the reason and never a secret.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::routing::post;
use axum::Router;
use tower::ServiceExt;
use tower_twilio::{testing, Keyring, TwilioWebhookLayer, UrlVariants};

const TOKEN: &str = "fake_token_SECRET_MARKER_1";
const SECONDARY: &str = "fake_token_SECRET_MARKER_2";
const PASSWORD: &str = "SECRET_MARKER_password";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` on a current-thread runtime with every event captured as text.
fn capture<F: std::future::Future<Output = ()>>(f: impl FnOnce() -> F) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f());
    });
    let bytes = captured.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

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
    let log = capture(|| async {
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
    let log = capture(|| async {
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
    let log = capture(|| async move {
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
