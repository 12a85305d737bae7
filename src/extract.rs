//! Axum extractors for verified requests.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::form::FormParams;
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

/// The layer's marker, or a logged [`MissingVerification`].
fn marker(parts: &Parts) -> Result<&VerifiedWebhook, MissingVerification> {
    parts.extensions.get::<VerifiedWebhook>().ok_or_else(|| {
        tracing::error!(target: "tower_twilio", path = parts.uri.path(), "{MissingVerification}");
        MissingVerification
    })
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedWebhook {
    type Rejection = MissingVerification;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        marker(parts).cloned()
    }
}

/// The verified request's form parameters, decoded once by the layer: the common voice and
/// messaging fields by name, and every field through [`Deref`](std::ops::Deref) to
/// [`FormParams`].
///
/// Cheaper than axum's `Form`, which would decode the body a second time, and shared with the
/// layer's proof rather than copied from it. For a GET, the query's parameters; empty for
/// JSON bodies. Answers 500 when the layer is missing, like [`VerifiedWebhook`].
///
/// ```
/// use tower_twilio::extract::TwilioParams;
///
/// async fn sms(params: TwilioParams) -> String {
///     format!("{} wrote {:?}", params.from_number().unwrap_or("?"), params.body().unwrap_or(""))
/// }
/// # let _: axum::Router = axum::Router::new().route("/sms", axum::routing::post(sms));
/// ```
///
/// Handlers can be tested without the layer by building one from decoded parameters:
///
/// ```
/// use tower_twilio::{extract::TwilioParams, FormParams};
///
/// let params = TwilioParams::from(FormParams::parse(b"From=%2B14158675309"));
/// assert_eq!(params.from_number(), Some("+14158675309"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct TwilioParams(Arc<FormParams>);

impl From<FormParams> for TwilioParams {
    fn from(params: FormParams) -> Self {
        Self(Arc::new(params))
    }
}

impl TwilioParams {
    /// `AccountSid`: the account (or subaccount) the webhook is for.
    pub fn account_sid(&self) -> Option<&str> {
        self.0.get("AccountSid")
    }

    /// `CallSid` (voice).
    pub fn call_sid(&self) -> Option<&str> {
        self.0.get("CallSid")
    }

    /// `MessageSid` (messaging).
    pub fn message_sid(&self) -> Option<&str> {
        self.0.get("MessageSid")
    }

    /// `From`: the caller or sender (named so that it cannot be mistaken for
    /// `From::from`).
    pub fn from_number(&self) -> Option<&str> {
        self.0.get("From")
    }

    /// `To`: the number or address called or written to.
    pub fn to(&self) -> Option<&str> {
        self.0.get("To")
    }

    /// `Body`: the text of a message.
    pub fn body(&self) -> Option<&str> {
        self.0.get("Body")
    }

    /// `CallStatus` (voice and status callbacks).
    pub fn call_status(&self) -> Option<&str> {
        self.0.get("CallStatus")
    }

    /// `MessageStatus` (messaging status callbacks).
    pub fn message_status(&self) -> Option<&str> {
        self.0.get("MessageStatus")
    }

    /// `Digits`: keys pressed in a `<Gather>`.
    pub fn digits(&self) -> Option<&str> {
        self.0.get("Digits")
    }
}

impl std::ops::Deref for TwilioParams {
    type Target = FormParams;

    fn deref(&self) -> &FormParams {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TwilioParams {
    type Rejection = MissingVerification;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The layer's decoding, shared: nothing is copied.
        marker(parts).map(|webhook| Self(Arc::clone(&webhook.params)))
    }
}
