//! Shared by the replay guard's tests: a router whose handler counts its runs, a way to
//! send to it, and a store that fails.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_twilio::keys::BoxFuture;
use tower_twilio::replay::{
    Begin, Claim, ReplayGuardLayer, ReplayKey, ReplayStore, StoreError, StoredResponse,
};
use tower_twilio::TwilioWebhookLayer;

/// A router whose `/sms` handler counts its runs and answers TwiML naming the run, behind
/// `guard` and the signature layer for `token`.
pub fn counting_app(guard: ReplayGuardLayer, runs: Arc<AtomicUsize>, token: &str) -> Router {
    Router::new()
        .route(
            "/sms",
            post(move || {
                let runs = Arc::clone(&runs);
                async move {
                    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                    let twiml = format!("<Response><Message>run {run}</Message></Response>");
                    ([("content-type", "text/xml")], twiml)
                }
            }),
        )
        .layer(guard)
        .layer(TwilioWebhookLayer::new(token).unwrap())
}

/// The response's head and its body as text.
pub async fn send(app: &Router, request: Request<Body>) -> (Response<()>, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// Whether the guard answered from its store.
pub fn replayed(response: &Response<()>) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

/// A store that fails every operation, or whose `begin` answers only after `delay`.
#[derive(Clone, Copy)]
pub struct BrokenStore {
    pub delay: Option<Duration>,
}

impl ReplayStore for BrokenStore {
    fn begin(&self, _: &ReplayKey, _: Claim, _: Duration) -> BoxFuture<Result<Begin, StoreError>> {
        let delay = self.delay;
        Box::pin(async move {
            match delay {
                Some(delay) => {
                    tokio::time::sleep(delay).await;
                    Ok(Begin::Started)
                }
                None => Err(StoreError::new("connection refused")),
            }
        })
    }

    fn complete(
        &self,
        _: &ReplayKey,
        _: Claim,
        _: StoredResponse,
        _: Duration,
    ) -> BoxFuture<Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }

    fn release(&self, _: &ReplayKey, _: Claim) -> BoxFuture<Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }
}
