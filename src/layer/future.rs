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
use super::verify::verify_request;
use crate::rejection::{OnRejection, Rejection, RejectionReason};
use crate::signature::Signature;

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
    signature: Signature,
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
        signature: Signature,
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
                    let Pending {
                        mut parts,
                        signature,
                        mut inner,
                        shared,
                    } = pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let body = std::mem::take(buffer).finish();
                    let verified = read
                        .map_err(Rejection::new)
                        .and_then(|()| verify_request(&shared.config, &parts, &signature, &body));
                    match verified {
                        Ok(marker) => {
                            parts.extensions.insert(marker);
                            let future = inner.call(Request::from_parts(parts, Full::new(body)));
                            State::Calling { future }
                        }
                        Err(rejection) => State::Done {
                            response: Some(reject(&shared, &parts, rejection)),
                        },
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
