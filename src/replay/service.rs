use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderName, Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use super::future::{unverified, ResponseFuture, Webhook};
use super::layer::Guard;
use super::store::{Claim, ReplayId, ReplayKey};
use crate::verified::VerifiedWebhook;

/// `I-Twilio-Idempotency-Token`: the same on Twilio's retries, but not signed.
static IDEMPOTENCY_TOKEN: HeaderName = HeaderName::from_static("i-twilio-idempotency-token");

/// Middleware that answers duplicates of a verified webhook from the stored response; made
/// by [`ReplayGuardLayer`](super::ReplayGuardLayer).
///
/// Responses of the routes it guards reach the client buffered, as
/// [`Full<Bytes>`](http_body_util::Full): they are what it stores.
pub struct ReplayGuard<S> {
    inner: S,
    guard: Arc<Guard>,
}

impl<S> ReplayGuard<S> {
    pub(crate) fn new(inner: S, guard: Arc<Guard>) -> Self {
        Self { inner, guard }
    }
}

impl<S: Clone> Clone for ReplayGuard<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            guard: Arc::clone(&self.guard),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ReplayGuard<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for ReplayGuard<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    ResBody: Body,
    ResBody::Error: fmt::Display,
{
    type Response = Response<Full<Bytes>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let token = request
            .headers()
            .get(&IDEMPOTENCY_TOKEN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let id = request
            .extensions()
            .get::<VerifiedWebhook>()
            .map(VerifiedWebhook::replay_id);
        let webhook = |id: ReplayId| Webhook {
            guard: Arc::clone(&self.guard),
            key: ReplayKey::new(Arc::clone(&self.guard.namespace), id),
            claim: Claim::new(),
            token,
        };
        let Some(id) = id else {
            tracing::error!(
                target: "tower_twilio",
                path = request.uri().path(),
                "no VerifiedWebhook in the request: is ReplayGuardLayer inside TwilioWebhookLayer?"
            );
            return ResponseFuture::ready(webhook(ReplayId::new(&[])), unverified());
        };
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::beginning(webhook(id), inner, request)
    }
}
