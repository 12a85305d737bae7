//! Axum extractors for verified requests.

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::verified::VerifiedWebhook;

/// The [`VerifiedWebhook`] extractor's rejection: the handler runs without
/// [`TwilioWebhookLayer`](crate::TwilioWebhookLayer) in front of it.
///
/// That is a wiring bug in the application, not a client error, so it answers
/// `500 Internal Server Error` and logs an `error` event (target `tower_twilio`).
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct MissingVerification;

impl std::fmt::Display for MissingVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "no VerifiedWebhook in the request: is TwilioWebhookLayer applied to this route?",
        )
    }
}

impl std::error::Error for MissingVerification {}

impl IntoResponse for MissingVerification {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Twilio verification is not configured for this route\n",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedWebhook {
    type Rejection = MissingVerification;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<VerifiedWebhook>()
            .cloned()
            .ok_or_else(|| {
                tracing::error!(
                    target: "tower_twilio",
                    path = parts.uri.path(),
                    "{MissingVerification}"
                );
                MissingVerification
            })
    }
}
