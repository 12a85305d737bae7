//! Keys: rotation, shared keys named by the settings header, per-account resolvers.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::Router;
use tower::ServiceExt;
use tower_twilio::keys::{AccountLookup, KeyLookupError, SettingsError};
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{
    testing, Keyring, Rejection, RejectionReason, TwilioWebhookLayer, VerifiedWebhook,
};

const URL: &str = "http://example.com/voice";

fn app(layer: TwilioWebhookLayer) -> Router {
    Router::new()
        .route(
            "/voice",
            post(|w: VerifiedWebhook| async move {
                format!("{} {:?} {}", w.key_id(), w.key_kind(), w.algorithm())
            }),
        )
        .layer(layer)
}

async fn send(app: &Router, request: Request<String>) -> (StatusCode, String, Option<Rejection>) {
    let response = app.clone().oneshot(request.map(Body::from)).await.unwrap();
    let status = response.status();
    let rejection = response.extensions().get::<Rejection>().cloned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), rejection)
}

/// A form request signed with `secret` and `algorithm`, with an optional settings header.
fn signed(secret: &str, algorithm: Algorithm, settings: Option<&str>) -> Request<String> {
    let params = [("AccountSid", "ACaaaa"), ("CallSid", "CA1")];
    let mut request = testing::form_request("unused", URL, &params);
    let signature = sign(secret, URL, params, algorithm);
    request
        .headers_mut()
        .insert("x-twilio-signature", signature.parse().unwrap());
    if let Some(settings) = settings {
        request.headers_mut().insert(
            "x-twilio-webhooks-signature-settings",
            settings.parse().unwrap(),
        );
    }
    request
}

#[tokio::test]
async fn rotation_accepts_both_tokens_and_says_which_matched() {
    let keyring = Keyring::new()
        .with_auth_token("primary", "fake_old_token")
        .unwrap()
        .with_auth_token("secondary", "fake_new_token")
        .unwrap();
    let app = app(TwilioWebhookLayer::with_keyring(keyring));
    let (status, body, _) = send(&app, signed("fake_old_token", Algorithm::HmacSha1, None)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "primary AuthToken HMAC_SHA1")
    );
    let (status, body, _) = send(&app, signed("fake_new_token", Algorithm::HmacSha1, None)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "secondary AuthToken HMAC_SHA1")
    );
    let (status, _, rejection) =
        send(&app, signed("fake_other_token", Algorithm::HmacSha1, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rejection.unwrap().keys_tried(), ["primary", "secondary"]);
}

fn shared_keys_app() -> Router {
    let keyring = Keyring::auth_token("fake_auth_token")
        .unwrap()
        .with_shared_key("key_sha256", "fake_shared_secret_a")
        .unwrap()
        .with_shared_key("key_sha1", "fake_shared_secret_b")
        .unwrap();
    app(TwilioWebhookLayer::with_keyring(keyring))
}

#[tokio::test]
async fn shared_keys_are_chosen_by_the_settings_header() {
    let app = shared_keys_app();
    let ok = [
        (
            "fake_shared_secret_a",
            Algorithm::HmacSha256,
            "key=key_sha256,algorithm=HMAC_SHA256",
            "key_sha256 SharedKey HMAC_SHA256",
        ),
        (
            "fake_shared_secret_b",
            Algorithm::HmacSha1,
            "key=key_sha1,algorithm=HMAC_SHA1",
            "key_sha1 SharedKey HMAC_SHA1",
        ),
        // No algorithm named: HMAC-SHA1, as twilio-python reads it.
        (
            "fake_shared_secret_b",
            Algorithm::HmacSha1,
            "key=key_sha1",
            "key_sha1 SharedKey HMAC_SHA1",
        ),
        // An empty header is a legacy signature.
        (
            "fake_auth_token",
            Algorithm::HmacSha1,
            "",
            "primary AuthToken HMAC_SHA1",
        ),
    ];
    for (secret, algorithm, settings, expected) in ok {
        let (status, body, rejection) = send(&app, signed(secret, algorithm, Some(settings))).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, expected),
            "{settings}: {rejection:?}"
        );
    }
}

#[tokio::test]
async fn kinds_of_keys_are_never_tried_in_each_others_place() {
    let app = shared_keys_app();
    let refused = [
        // A shared-key signature without its header is not tried against shared keys.
        ("fake_shared_secret_b", Algorithm::HmacSha1, None),
        // The Auth Token is not a shared key.
        (
            "fake_auth_token",
            Algorithm::HmacSha1,
            Some("key=key_sha1,algorithm=HMAC_SHA1"),
        ),
        // The right key with the other algorithm.
        (
            "fake_shared_secret_a",
            Algorithm::HmacSha1,
            Some("key=key_sha256,algorithm=HMAC_SHA256"),
        ),
        // Another shared key's secret.
        (
            "fake_shared_secret_b",
            Algorithm::HmacSha256,
            Some("key=key_sha256,algorithm=HMAC_SHA256"),
        ),
    ];
    for (secret, algorithm, settings) in refused {
        let (status, _, rejection) = send(&app, signed(secret, algorithm, settings)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{secret} {settings:?}");
        assert_eq!(
            rejection.unwrap().reason(),
            RejectionReason::SignatureMismatch
        );
    }
}

#[tokio::test]
async fn unusable_settings_headers_have_their_own_reasons() {
    let app = shared_keys_app();
    for (settings, error) in [
        (
            "key=nobody,algorithm=HMAC_SHA256",
            SettingsError::UnknownKey,
        ),
        (
            "key=key_sha256,algorithm=HMAC_SHA512",
            SettingsError::UnsupportedAlgorithm,
        ),
        ("algorithm=HMAC_SHA256", SettingsError::Malformed),
        ("garbage", SettingsError::Malformed),
    ] {
        let request = signed(
            "fake_shared_secret_a",
            Algorithm::HmacSha256,
            Some(settings),
        );
        let (status, _, rejection) = send(&app, request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{settings}");
        let rejection = rejection.unwrap();
        assert_eq!(
            rejection.reason(),
            RejectionReason::SignatureSettings(error),
            "{settings}"
        );
        if error == SettingsError::UnknownKey {
            assert_eq!(rejection.hints(), [tower_twilio::Hint::UnknownSharedKey]);
        }
    }
}

#[tokio::test]
async fn shared_key_vectors_fail_with_key_id_or_algorithm_changed() {
    let vectors: Vec<_> = common::vectors()
        .into_iter()
        .filter(|v| v.signature_settings.is_some())
        .collect();
    assert_eq!(vectors.len(), 3);
    for v in vectors {
        let settings = v.signature_settings.clone().unwrap();
        let id = settings
            .split(',')
            .find_map(|i| i.strip_prefix("key="))
            .unwrap()
            .to_owned();
        let keyring = Keyring::new()
            .with_shared_key(&id, &v.secret)
            .unwrap()
            .with_shared_key(format!("{id}x"), &v.secret)
            .unwrap();
        let app = Router::new()
            .route("/voice", post(|| async { "ok" }))
            .route("/events", post(|| async { "ok" }))
            .layer(TwilioWebhookLayer::with_keyring(keyring).scheme(tower_twilio::Scheme::Https));
        let url = common::pieces(&v.url);
        let request = |settings: &str| {
            Request::post(url.target)
                .header("host", url.host)
                .header("content-type", &v.content_type)
                .header("x-twilio-signature", &v.signature)
                .header("x-twilio-webhooks-signature-settings", settings)
                .body(v.body.clone())
                .unwrap()
        };
        assert_eq!(
            send(&app, request(&settings)).await.0,
            StatusCode::OK,
            "{}",
            v.name
        );
        // Another key id (configured, with the same secret even): its own algorithm only.
        let other_algorithm = if settings.ends_with("HMAC_SHA256") {
            settings.replace("HMAC_SHA256", "HMAC_SHA1")
        } else {
            settings.replace("HMAC_SHA1", "HMAC_SHA256")
        };
        let unknown_id = settings.replace(&format!("key={id}"), "key=webhooks_sharedkey_ffff");
        for changed in [other_algorithm, unknown_id] {
            let (status, _, rejection) = send(&app, request(&changed)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{}: {changed}", v.name);
            assert!(rejection.is_some());
        }
    }
}

/// Two tenants' tokens, looked up by AccountSid, with a switch to make the "database" fail.
#[derive(Clone, Default)]
struct Tenants {
    down: Arc<Mutex<bool>>,
    lookups: Arc<AtomicUsize>,
    seen_regions: Arc<Mutex<Vec<Option<String>>>>,
}

impl Tenants {
    fn layer(&self) -> TwilioWebhookLayer {
        let tenants = self.clone();
        TwilioWebhookLayer::with_key_resolver(move |account: AccountLookup| {
            let tenants = tenants.clone();
            async move {
                tenants.lookups.fetch_add(1, Ordering::SeqCst);
                tenants
                    .seen_regions
                    .lock()
                    .unwrap()
                    .push(account.home_region().map(str::to_owned));
                if *tenants.down.lock().unwrap() {
                    return Err(KeyLookupError::unavailable(
                        "connection refused by tenant-db:5432",
                    ));
                }
                let tokens = HashMap::from([
                    ("ACaaaa", "fake_token_tenant_a"),
                    ("ACbbbb", "fake_token_tenant_b"),
                ]);
                // JSON webhooks name the account in the body.
                let sid = account.account_sid().map(str::to_owned).or_else(|| {
                    let json: serde_json::Value = serde_json::from_slice(account.body()).ok()?;
                    json["account_sid"].as_str().map(str::to_owned)
                });
                let token = sid
                    .as_deref()
                    .and_then(|sid| tokens.get(sid))
                    .ok_or(KeyLookupError::UnknownAccount)?;
                Ok(Keyring::new().with_auth_token(sid.unwrap(), token).unwrap())
            }
        })
    }
}

fn tenant_request(account: &str, token: &str) -> Request<String> {
    testing::form_request(token, URL, &[("AccountSid", account), ("CallSid", "CA1")])
}

#[tokio::test]
async fn each_account_is_accepted_only_with_its_own_token() {
    let tenants = Tenants::default();
    let app = app(tenants.layer());
    let (status, body, _) = send(&app, tenant_request("ACaaaa", "fake_token_tenant_a")).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "ACaaaa AuthToken HMAC_SHA1")
    );
    let (status, body, _) = send(&app, tenant_request("ACbbbb", "fake_token_tenant_b")).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "ACbbbb AuthToken HMAC_SHA1")
    );
    // Tenant B's token cannot sign for tenant A, nor the other way round.
    let (status, _, rejection) = send(&app, tenant_request("ACaaaa", "fake_token_tenant_b")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rejection.unwrap().keys_tried(), ["ACaaaa"]);
    assert_eq!(
        send(&app, tenant_request("ACbbbb", "fake_token_tenant_a"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // An unknown account is a 403 like any bad signature.
    let (status, _, rejection) = send(&app, tenant_request("ACcccc", "fake_token_tenant_a")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rejection.unwrap().reason(), RejectionReason::UnknownAccount);
    assert_eq!(tenants.lookups.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn the_resolver_sees_the_home_region_and_json_bodies() {
    let tenants = Tenants::default();
    let app = Router::new()
        .route("/events", post(|| async { "ok" }))
        .layer(tenants.layer());
    let json = r#"{"account_sid":"ACbbbb","type":"delivered"}"#;
    let mut request =
        testing::json_request("fake_token_tenant_b", "http://example.com/events", json);
    request
        .headers_mut()
        .insert("x-home-region", "ie1".parse().unwrap());
    assert_eq!(send(&app, request).await.0, StatusCode::OK);
    assert_eq!(
        *tenants.seen_regions.lock().unwrap(),
        [Some("ie1".to_owned())]
    );
    // Another tenant's account in the body: its token does not match.
    let json = r#"{"account_sid":"ACaaaa","type":"delivered"}"#;
    let request = testing::json_request("fake_token_tenant_b", "http://example.com/events", json);
    assert_eq!(send(&app, request).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_failed_lookup_is_a_503_not_a_forgery() {
    let tenants = Tenants::default();
    *tenants.down.lock().unwrap() = true;
    let app = app(tenants.layer());
    let (status, body, rejection) =
        send(&app, tenant_request("ACaaaa", "fake_token_tenant_a")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "Signature keys are unavailable, try again later\n");
    let rejection = rejection.unwrap();
    assert_eq!(rejection.reason(), RejectionReason::KeyLookupFailed);
    assert_eq!(
        rejection.detail(),
        Some("key lookup failed: connection refused by tenant-db:5432")
    );
    // Back up: the same request passes.
    *tenants.down.lock().unwrap() = false;
    assert_eq!(
        send(&app, tenant_request("ACaaaa", "fake_token_tenant_a"))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unsigned_requests_never_reach_the_resolver() {
    let tenants = Tenants::default();
    let app = app(tenants.layer());
    let mut request = tenant_request("ACaaaa", "fake_token_tenant_a");
    request.headers_mut().remove("x-twilio-signature");
    assert_eq!(send(&app, request).await.0, StatusCode::FORBIDDEN);
    assert_eq!(tenants.lookups.load(Ordering::SeqCst), 0);
}
