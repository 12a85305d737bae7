use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt as _, Full, Limited};
use tower_service::Service;

use super::config::Shared;
use super::future::ResponseFuture;
use super::verify::check_head;
use crate::rejection::OnRejection;
use crate::telemetry::Stopwatch;

/// Middleware that verifies Twilio's webhook signatures; made by
/// [`TwilioWebhookLayer`](crate::TwilioWebhookLayer).
///
/// The inner service receives the request with its body buffered into a
/// [`Full<Bytes>`](http_body_util::Full) (the same bytes, untouched) and a
/// [`VerifiedWebhook`](crate::VerifiedWebhook) in its extensions.
pub struct TwilioWebhook<S, R> {
    inner: S,
    shared: Arc<Shared<R>>,
}

impl<S, R> TwilioWebhook<S, R> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<R>>) -> Self {
        Self { inner, shared }
    }
}

impl<S: Clone, R> Clone for TwilioWebhook<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, R> fmt::Debug for TwilioWebhook<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioWebhook")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for TwilioWebhook<S, R>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone,
    ReqBody: Body,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    R: OnRejection<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let stopwatch = Stopwatch::started();
        let (parts, body) = request.into_parts();
        let check = match check_head(&self.shared.config, &parts) {
            Ok(check) => check,
            Err(rejection) => {
                stopwatch.record();
                return ResponseFuture::rejected(self.shared.reject(&parts, rejection));
            }
        };
        // The clone takes the place of the service that was polled ready, which goes into
        // the future.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let body = Limited::new(body, self.shared.config.body_limit).collect();
        ResponseFuture::reading(
            parts,
            body,
            check,
            inner,
            Arc::clone(&self.shared),
            stopwatch,
        )
    }
}
