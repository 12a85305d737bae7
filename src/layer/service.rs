use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::Shared;
use super::verify::read_signature;
use crate::rejection::{OnRejection, Rejection, RejectionReason};

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
    ReqBody::Error: fmt::Display,
    R: OnRejection<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let limit = self.shared.config.body_limit;
        let declared_len = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_len.is_some_and(|len| len > limit as u64) {
            let rejection = Rejection::new(RejectionReason::BodyTooLarge { limit });
            return ResponseFuture::rejected(reject(&self.shared, &parts, rejection));
        }
        // Refuse an unsigned request before reading its body.
        let signature = match read_signature(&parts) {
            _ if self.shared.config.skip_verification => None,
            Ok(signature) => Some(signature),
            Err(reason) => {
                return ResponseFuture::rejected(reject(
                    &self.shared,
                    &parts,
                    Rejection::new(reason),
                ))
            }
        };
        // The clone takes the place of the service that was polled ready, which goes into
        // the future.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let capacity_hint = declared_len.map_or(0, |len| len as usize);
        ResponseFuture::buffering(
            parts,
            body,
            capacity_hint,
            signature,
            inner,
            Arc::clone(&self.shared),
        )
    }
}

/// Logs `rejection`, builds its response with the hook, and attaches it to the response.
pub(crate) fn reject<R, B>(shared: &Shared<R>, parts: &Parts, rejection: Rejection) -> Response<B>
where
    R: OnRejection<B>,
{
    rejection.log(&parts.method, parts.uri.path());
    let mut response = shared.on_rejection.response(&rejection);
    response.extensions_mut().insert(rejection);
    response
}
