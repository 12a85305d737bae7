use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{Collected, Full, Limited};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::config::{Keys, Shared};
use super::verify::{
    account_lookup, receive, unreadable_body, unverified, verify, Check, Received,
};
use crate::keys::{BoxFuture, KeyLookupError, Keyring};
use crate::rejection::{OnRejection, Rejection, RejectionReason};
use crate::replay::ReplayDecision;
use crate::signature::Signature;
use crate::telemetry::{self, Stopwatch};
use crate::verified::VerifiedWebhook;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// Response future of [`TwilioWebhook`](super::TwilioWebhook): reads the body, verifies,
    /// then runs the inner service or answers the rejection.
    pub struct ResponseFuture<S, B, R>
    where
        S: Service<Request<Full<Bytes>>>,
        B: Body,
        B::Error: Into<BoxError>,
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
        B: Body,
        B::Error: Into<BoxError>,
    {
        Reading {
            #[pin]
            body: Collect<Limited<B>>,
            request: Option<Pending<S, R>>,
        },
        Resolving {
            lookup: BoxFuture<Result<Keyring, KeyLookupError>>,
            request: Option<(Pending<S, R>, Verifying)>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Rejected {
            response: Option<S::Response>,
        },
    }
}

/// What verification needs once the key resolver has answered.
struct Verifying {
    signature: Signature,
    body: Bytes,
    received: Received,
}

/// A request on its way through the layer: what it needs once its body is in.
struct Pending<S, R> {
    parts: Parts,
    check: Check,
    inner: S,
    shared: Arc<Shared<R>>,
    /// The layer's own work, not the waits for the body and the key resolver.
    stopwatch: Stopwatch,
}

impl<S, B, R> ResponseFuture<S, B, R>
where
    S: Service<Request<Full<Bytes>>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    pub(super) fn reading(
        parts: Parts,
        body: Collect<Limited<B>>,
        check: Check,
        inner: S,
        shared: Arc<Shared<R>>,
        mut stopwatch: Stopwatch,
    ) -> Self {
        stopwatch.pause();
        let request = Pending {
            parts,
            check,
            inner,
            shared,
            stopwatch,
        };
        Self {
            state: State::Reading {
                body,
                request: Some(request),
            },
        }
    }

    pub(super) fn rejected(response: S::Response) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<S, R, ResBody> Pending<S, R>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    R: OnRejection<ResBody>,
{
    /// The body is in (or broke off): verify, or ask the key resolver first.
    fn body_read<B>(mut self, body: Result<Collected<B::Data>, BoxError>) -> State<S, B, R>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        self.stopwatch.resume();
        let config = Arc::clone(&self.shared.config);
        let body = match body {
            Ok(collected) => collected.to_bytes(),
            Err(err) => return self.reject(unreadable_body(&*err, config.body_limit)),
        };
        let received = match receive(&config, &self.parts, &body) {
            Ok(received) => received,
            Err(rejection) => return self.reject(rejection),
        };
        let signature = match self.check {
            Check::Signature(signature) => signature,
            Check::Skipped => {
                let marker = unverified(&self.parts, received);
                return self.call(marker, body);
            }
        };
        match &config.keys {
            Keys::Static(keyring) => {
                let verdict = verify(&config, keyring, &self.parts, &signature, &body, received);
                self.finish(verdict, body)
            }
            Keys::Resolver(resolver) => State::Resolving {
                lookup: {
                    let lookup = resolver.keys_for(account_lookup(&self.parts, &received, &body));
                    self.stopwatch.pause();
                    lookup
                },
                request: Some((
                    self,
                    Verifying {
                        signature,
                        body,
                        received,
                    },
                )),
            },
        }
    }

    /// The key resolver answered.
    fn keys_found<B>(
        mut self,
        keys: Result<Keyring, KeyLookupError>,
        waiting: Verifying,
    ) -> State<S, B, R>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        self.stopwatch.resume();
        let keyring = match keys {
            Ok(keyring) => keyring,
            Err(KeyLookupError::UnknownAccount) => {
                return self.reject(Rejection::new(RejectionReason::UnknownAccount))
            }
            Err(err) => {
                return self.reject(
                    Rejection::new(RejectionReason::KeyLookupFailed).with_detail(err.to_string()),
                )
            }
        };
        let Verifying {
            signature,
            body,
            received,
        } = waiting;
        let config = &self.shared.config;
        let verdict = verify(config, &keyring, &self.parts, &signature, &body, received);
        self.finish(verdict, body)
    }

    fn finish<B>(self, verdict: Result<VerifiedWebhook, Rejection>, body: Bytes) -> State<S, B, R>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        match verdict {
            Ok(marker) => self.call(marker, body),
            Err(rejection) => self.reject(rejection),
        }
    }

    fn call<B>(mut self, marker: VerifiedWebhook, body: Bytes) -> State<S, B, R>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        self.stopwatch.record();
        self.parts.extensions.insert(marker);
        let request = Request::from_parts(self.parts, Full::new(body));
        State::Calling {
            future: self.inner.call(request),
        }
    }

    fn reject<B>(self, rejection: Rejection) -> State<S, B, R>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        self.stopwatch.record();
        State::Rejected {
            response: Some(self.shared.reject(&self.parts, rejection)),
        }
    }
}

impl<S, B, R, ResBody> Future for ResponseFuture<S, B, R>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    B: Body,
    B::Error: Into<BoxError>,
    R: OnRejection<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        const DONE: &str = "ResponseFuture polled after completion";
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Reading { body, request } => {
                    let body = ready!(body.poll(cx));
                    request.take().expect(DONE).body_read(body)
                }
                StateProj::Resolving { lookup, request } => {
                    let keys = ready!(lookup.as_mut().poll(cx));
                    let (pending, waiting) = request.take().expect(DONE);
                    pending.keys_found(keys, waiting)
                }
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx))?;
                    // The replay guard inside says when it answered instead of the handler.
                    match response.extensions().get::<ReplayDecision>() {
                        Some(decision) => telemetry::webhook(decision.outcome(), "none"),
                        None => telemetry::accepted(),
                    }
                    return Poll::Ready(Ok(response));
                }
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(response.take().expect(DONE)))
                }
            };
            this.state.set(next);
        }
    }
}
