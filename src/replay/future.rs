use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{BodyExt as _, Full};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::layer::{Guard, OnStoreFailure};
use super::store::{Begin, Claim, ReplayKey, ReplayStore, StoreError, StoredResponse};
use crate::keys::BoxFuture;

/// `Idempotent-Replayed: true` marks a response answered from the store.
pub(crate) static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

type Output<E> = Result<Response<Full<Bytes>>, E>;

/// What the guard did, in the extensions of a response it answered itself, so that the
/// signature layer outside counts it as `replayed` or `conflict` rather than `accepted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplayDecision {
    Replayed,
    Conflict,
}

impl ReplayDecision {
    pub(crate) fn outcome(self) -> &'static str {
        match self {
            Self::Replayed => "replayed",
            Self::Conflict => "conflict",
        }
    }
}

pin_project! {
    /// Response future of [`ReplayGuard`](super::ReplayGuard).
    pub struct ResponseFuture<S, B, ResBody>
    where
        S: Service<Request<B>, Response = Response<ResBody>>,
        ResBody: Body,
    {
        #[pin]
        state: State<S, B, ResBody>,
        webhook: Webhook,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B, ResBody>
    where
        S: Service<Request<B>, Response = Response<ResBody>>,
        ResBody: Body,
    {
        Beginning {
            begin: BoxFuture<Result<Begin, StoreError>>,
            pending: Option<(S, Request<B>)>,
        },
        Calling {
            #[pin]
            future: S::Future,
            claim: Option<HeldClaim>,
        },
        Collecting {
            #[pin]
            body: Collect<ResBody>,
            parts: Option<http::response::Parts>,
            claim: Option<HeldClaim>,
        },
        Settling {
            settle: BoxFuture<Result<(), StoreError>>,
            operation: &'static str,
            output: Option<Output<S::Error>>,
        },
        Ready {
            output: Option<Output<S::Error>>,
        },
    }
}

/// What the guard logs about one request, and where it keeps it.
pub(crate) struct Webhook {
    pub(crate) guard: Arc<Guard>,
    pub(crate) key: ReplayKey,
    pub(crate) claim: Claim,
    /// `I-Twilio-Idempotency-Token`: unsigned, so only a hint in the log.
    pub(crate) token: Option<String>,
}

impl Webhook {
    fn log(&self, decision: &'static str) {
        tracing::debug!(
            target: "tower_twilio",
            decision,
            key = %self.key,
            idempotency_token = self.token.as_deref(),
            "replay guard"
        );
    }
}

/// A key this request holds while its handler runs. Dropped unsettled (the handler
/// panicked, or the client went away and the request was dropped), it releases the key so
/// that Twilio's retry runs the handler again.
struct HeldClaim {
    store: Arc<dyn ReplayStore>,
    key: ReplayKey,
    claim: Claim,
    settled: bool,
}

impl HeldClaim {
    fn complete(
        mut self,
        response: StoredResponse,
        ttl: Duration,
    ) -> BoxFuture<Result<(), StoreError>> {
        self.settled = true;
        self.store.complete(&self.key, self.claim, response, ttl)
    }

    fn release(mut self) -> BoxFuture<Result<(), StoreError>> {
        self.settled = true;
        self.store.release(&self.key, self.claim)
    }
}

impl Drop for HeldClaim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Without a runtime the claim simply expires after `in_progress_ttl`.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let release = self.store.release(&self.key, self.claim);
            runtime.spawn(release);
        }
    }
}

/// `operation`, failing when the store takes longer than `limit`.
pub(crate) fn bounded<T: Send + 'static>(
    limit: Duration,
    operation: BoxFuture<Result<T, StoreError>>,
) -> BoxFuture<Result<T, StoreError>> {
    Box::pin(async move {
        tokio::time::timeout(limit, operation)
            .await
            .unwrap_or_else(|_| Err(StoreError::timeout(limit)))
    })
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn replayed(stored: StoredResponse) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(stored.body().clone()));
    *response.status_mut() = stored.status();
    if let Some(content_type) = stored.content_type() {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, content_type.clone());
    }
    response
        .headers_mut()
        .insert(&IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response.extensions_mut().insert(ReplayDecision::Replayed);
    response
}

fn conflict() -> Response<Full<Bytes>> {
    let mut response = plain(
        StatusCode::CONFLICT,
        "This webhook is being handled; try again shortly\n",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response.extensions_mut().insert(ReplayDecision::Conflict);
    response
}

fn unavailable() -> Response<Full<Bytes>> {
    let mut response = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "Webhooks cannot be deduplicated right now; try again later\n",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// The answer when no [`VerifiedWebhook`](crate::VerifiedWebhook) is in the request: the
/// guard is not behind the signature layer, a wiring bug.
pub(crate) fn unverified() -> Response<Full<Bytes>> {
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Replay guard is not behind TwilioWebhookLayer\n",
    )
}

impl<S, B, ResBody> ResponseFuture<S, B, ResBody>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Body,
{
    pub(super) fn beginning(webhook: Webhook, inner: S, request: Request<B>) -> Self {
        let guard = &webhook.guard;
        let begin = bounded(
            guard.store_timeout,
            guard
                .store
                .begin(&webhook.key, webhook.claim, guard.in_progress_ttl),
        );
        Self {
            state: State::Beginning {
                begin,
                pending: Some((inner, request)),
            },
            webhook,
        }
    }

    pub(super) fn ready(webhook: Webhook, response: Response<Full<Bytes>>) -> Self {
        Self {
            state: State::Ready {
                output: Some(Ok(response)),
            },
            webhook,
        }
    }
}

/// Whether a response may be stored and replayed: a 5xx (the handler failed, so Twilio's
/// retry should run it again) and an interim 1xx may not.
fn storable(status: StatusCode) -> bool {
    !(status.is_server_error() || status.is_informational())
}

impl<S, B, ResBody> Future for ResponseFuture<S, B, ResBody>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Body,
    ResBody::Error: std::fmt::Display,
{
    type Output = Output<S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        const DONE: &str = "ResponseFuture polled after completion";
        let mut this = self.project();
        let webhook = &*this.webhook;
        let guard = &webhook.guard;
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Beginning { begin, pending } => {
                    let found = ready!(begin.as_mut().poll(cx));
                    let (mut inner, request) = pending.take().expect(DONE);
                    let claim = match found {
                        Ok(Begin::Started) => {
                            webhook.log("first");
                            Some(HeldClaim {
                                store: Arc::clone(&guard.store),
                                key: webhook.key.clone(),
                                claim: webhook.claim,
                                settled: false,
                            })
                        }
                        Ok(Begin::InProgress) => {
                            webhook.log("conflict");
                            return Poll::Ready(Ok(conflict()));
                        }
                        Ok(Begin::Completed(stored)) => {
                            webhook.log("replayed");
                            return Poll::Ready(Ok(replayed(stored)));
                        }
                        Err(err) => {
                            guard.store_failed("begin", &err);
                            if guard.on_store_failure == OnStoreFailure::Closed {
                                return Poll::Ready(Ok(unavailable()));
                            }
                            None
                        }
                    };
                    // Called with the claim held: should `call` panic, the claim is released.
                    State::Calling {
                        future: inner.call(request),
                        claim,
                    }
                }
                StateProj::Calling { future, claim } => match ready!(future.poll(cx)) {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        State::Collecting {
                            body: body.collect(),
                            parts: Some(parts),
                            claim: claim.take(),
                        }
                    }
                    Err(err) => match claim.take() {
                        Some(claim) => State::Settling {
                            settle: bounded(guard.store_timeout, claim.release()),
                            operation: "release",
                            output: Some(Err(err)),
                        },
                        None => return Poll::Ready(Err(err)),
                    },
                },
                StateProj::Collecting { body, parts, claim } => {
                    let collected = ready!(body.poll(cx));
                    let parts = parts.take().expect(DONE);
                    let (output, stored) = match collected {
                        Ok(collected) => {
                            let body = collected.to_bytes();
                            let content_type = parts.headers.get(CONTENT_TYPE).cloned();
                            let stored =
                                StoredResponse::new(parts.status, content_type, body.clone());
                            (
                                Ok(Response::from_parts(parts, Full::new(body))),
                                Some(stored),
                            )
                        }
                        Err(err) => {
                            tracing::error!(target: "tower_twilio", error = %err, "the handler's response body failed");
                            let failed =
                                plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error\n");
                            (Ok(failed), None)
                        }
                    };
                    let Some(claim) = claim.take() else {
                        return Poll::Ready(output);
                    };
                    let (operation, settle) = match stored {
                        Some(stored) if storable(stored.status()) => {
                            if stored.body().len() <= guard.max_stored_body {
                                ("complete", claim.complete(stored, guard.ttl))
                            } else {
                                tracing::warn!(
                                    target: "tower_twilio",
                                    len = stored.body().len(),
                                    limit = guard.max_stored_body,
                                    "response too large to store: a retry of this webhook runs the handler again"
                                );
                                ("release", claim.release())
                            }
                        }
                        _ => ("release", claim.release()),
                    };
                    State::Settling {
                        settle: bounded(guard.store_timeout, settle),
                        operation,
                        output: Some(output),
                    }
                }
                StateProj::Settling {
                    settle,
                    operation,
                    output,
                } => {
                    if let Err(err) = ready!(settle.as_mut().poll(cx)) {
                        guard.store_failed(operation, &err);
                    }
                    return Poll::Ready(output.take().expect(DONE));
                }
                StateProj::Ready { output } => return Poll::Ready(output.take().expect(DONE)),
            };
            this.state.set(next);
        }
    }
}
