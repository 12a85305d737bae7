use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::BodyBuffer;
use super::layer::Shared;
use super::service::reject;
use super::verify::{
    account_lookup, public_url, request_params, unverified, verify_request, RequestParams,
};
use super::Keys;
use crate::keys::{BoxFuture, KeyLookupError, Keyring};
use crate::rejection::{OnRejection, Rejection, RejectionReason};
use crate::signature::Signature;
use crate::verified::VerifiedWebhook;

pin_project! {
    /// Response future of [`TwilioWebhook`](super::TwilioWebhook): buffers the body,
    /// verifies, then runs the inner service or answers the rejection.
    pub struct ResponseFuture<S, B, R>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        #[pin]
        state: State<S, B, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B, R>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        Buffering {
            #[pin]
            body: B,
            buffer: BodyBuffer,
            pending: Option<Pending<S, R>>,
        },
        Resolving {
            lookup: BoxFuture<Result<Keyring, KeyLookupError>>,
            url: String,
            body: Bytes,
            params: RequestParams,
            pending: Option<Pending<S, R>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Done {
            response: Option<S::Response>,
        },
    }
}

/// What the request needs once its body is in.
struct Pending<S, R> {
    parts: Parts,
    /// `None` when verification is skipped (local development).
    signature: Option<Signature>,
    inner: S,
    shared: Arc<Shared<R>>,
}

impl<S, B, R> ResponseFuture<S, B, R>
where
    S: Service<Request<Full<Bytes>>>,
{
    pub(super) fn buffering(
        parts: Parts,
        body: B,
        capacity_hint: usize,
        signature: Option<Signature>,
        inner: S,
        shared: Arc<Shared<R>>,
    ) -> Self {
        Self {
            state: State::Buffering {
                body,
                buffer: BodyBuffer::with_capacity_hint(capacity_hint),
                pending: Some(Pending {
                    parts,
                    signature,
                    inner,
                    shared,
                }),
            },
        }
    }

    pub(super) fn rejected(response: S::Response) -> Self {
        Self {
            state: State::Done {
                response: Some(response),
            },
        }
    }
}

impl<S, R> Pending<S, R> {
    fn reject<B, ResBody>(self, rejection: Rejection) -> State<S, B, R>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
        R: OnRejection<ResBody>,
    {
        State::Done {
            response: Some(reject(&self.shared, &self.parts, rejection)),
        }
    }

    /// Passes the request on unverified (local development only).
    fn skip<B, ResBody>(self, body: Bytes, url: String, params: RequestParams) -> State<S, B, R>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    {
        tracing::warn!(
            target: "tower_twilio",
            method = %self.parts.method,
            path = self.parts.uri.path(),
            "Twilio signature NOT verified: verification is switched off"
        );
        let marker = unverified(url, params.decoded);
        self.call(marker, body)
    }

    fn call<B, ResBody>(mut self, marker: VerifiedWebhook, body: Bytes) -> State<S, B, R>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    {
        self.parts.extensions.insert(marker);
        let future = self
            .inner
            .call(Request::from_parts(self.parts, Full::new(body)));
        State::Calling { future }
    }

    /// Verifies against `keyring`, then calls the inner service or answers the rejection.
    /// `params` is `None` when the body is not decoded yet.
    fn verify<B, ResBody>(
        self,
        keyring: &Keyring,
        body: Bytes,
        url: String,
        params: Option<RequestParams>,
    ) -> State<S, B, R>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
        R: OnRejection<ResBody>,
    {
        let Some(signature) = &self.signature else {
            let params = params.unwrap_or_else(|| request_params(&self.parts, &body));
            return self.skip(body, url, params);
        };
        match verify_request(
            &self.shared.config,
            keyring,
            &self.parts,
            signature,
            &body,
            url,
            params,
        ) {
            Ok(marker) => self.call(marker, body),
            Err(rejection) => self.reject(rejection),
        }
    }
}

impl<S, B, R, ResBody> Future for ResponseFuture<S, B, R>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    B: Body,
    B::Error: std::fmt::Display,
    R: OnRejection<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Buffering {
                    mut body,
                    buffer,
                    pending,
                } => {
                    let limit = pending
                        .as_ref()
                        .expect("ResponseFuture polled after completion")
                        .shared
                        .config
                        .body_limit;
                    let read = loop {
                        match ready!(body.as_mut().poll_frame(cx)) {
                            None => break Ok(()),
                            Some(Ok(frame)) => {
                                if let Ok(data) = frame.into_data() {
                                    if buffer.push(data, limit).is_err() {
                                        break Err(RejectionReason::BodyTooLarge { limit });
                                    }
                                }
                            }
                            Some(Err(err)) => {
                                tracing::debug!(target: "tower_twilio", error = %err, "reading the request body failed");
                                break Err(RejectionReason::BodyReadFailed);
                            }
                        }
                    };
                    let pending = pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let body = std::mem::take(buffer).finish();
                    let url = read
                        .map_err(Rejection::new)
                        .and_then(|()| public_url(&pending.shared.config, &pending.parts));
                    // `pending` moves into the next state; the configuration stays borrowed.
                    let shared = Arc::clone(&pending.shared);
                    match url {
                        Err(rejection) => pending.reject(rejection),
                        Ok(url) => match &shared.config.keys {
                            _ if pending.signature.is_none() => {
                                let params = request_params(&pending.parts, &body);
                                pending.skip(body, url, params)
                            }
                            // The keys are known: the body is decoded while it is MACed.
                            Keys::Static(keyring) => pending.verify(keyring, body, url, None),
                            Keys::Resolver(resolver) => {
                                let params = request_params(&pending.parts, &body);
                                State::Resolving {
                                    lookup: resolver.keys_for(account_lookup(
                                        &pending.parts,
                                        &params.decoded,
                                        &body,
                                        &url,
                                    )),
                                    url,
                                    body,
                                    params,
                                    pending: Some(pending),
                                }
                            }
                        },
                    }
                }
                StateProj::Resolving {
                    lookup,
                    url,
                    body,
                    params,
                    pending,
                } => {
                    let looked_up = ready!(lookup.as_mut().poll(cx));
                    let pending = pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    match looked_up {
                        Ok(keyring) => pending.verify(
                            &keyring,
                            std::mem::take(body),
                            std::mem::take(url),
                            Some(std::mem::take(params)),
                        ),
                        Err(KeyLookupError::UnknownAccount) => {
                            pending.reject(Rejection::new(RejectionReason::UnknownAccount))
                        }
                        Err(err) => pending.reject(
                            Rejection::new(RejectionReason::KeyLookupFailed)
                                .with_detail(err.to_string()),
                        ),
                    }
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Done { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response));
                }
            };
            this.state.set(next);
        }
    }
}
