//! Exactly-once webhooks: a duplicate of a verified webhook gets the response the first one
//! got, and the handler does not run again.
//!
//! Twilio's signatures carry no timestamp, so a captured request verifies again forever, and
//! Twilio retries a webhook whose answer it did not get (connection overrides `#rc`,
//! timeouts), although the first try may have run the handler. [`ReplayGuardLayer`]
//! remembers each webhook it handled, the way Stripe's idempotency keys work:
//!
//! * **First arrival**: the webhook's key is claimed atomically ("in progress"), the handler
//!   runs, and its response (status, `Content-Type`, body up to
//!   [64 KiB](ReplayGuardLayer::max_stored_body)) is stored for the
//!   [TTL](ReplayGuardLayer::ttl) (24 hours by default).
//! * **Duplicate after that**: the stored response, with `Idempotent-Replayed: true`; the
//!   handler does not run.
//! * **Duplicate while the first still runs**: `409 Conflict` with `Retry-After: 1`.
//! * **The handler fails**: a 5xx answer, an error, a panic (caught further out, e.g. by
//!   tower-http's `CatchPanicLayer`), or a request dropped before its answer: the key is
//!   released, so Twilio's retry runs the handler again.
//!
//! The key is the MAC the request's signature matched: a keyed hash of the string Twilio
//! signed, so nothing a client can change without failing verification, and nothing from
//! which a store's reader could guess the parameters; never `I-Twilio-Idempotency-Token`
//! (which is not signed; it is logged with each decision as a hint). A forged request with
//! the same parameters is refused by the signature layer before it reaches the guard. (With
//! verification switched off, the key is the SHA-256 of the string to sign,
//! [`VerifiedWebhook::fingerprint`](crate::VerifiedWebhook::fingerprint).) A retry that
//! Twilio signs with another key than the first try (the moment an Auth Token is rotated)
//! is a new webhook to the guard.
//!
//! Place it inside [`TwilioWebhookLayer`](crate::TwilioWebhookLayer), on the routes to guard
//! (added before the signature layer, so it runs after it). Requests the signature layer
//! refuses, and the `401` challenges of [`HttpAuthLayer`](crate::auth::HttpAuthLayer), never
//! reach it, so they are never recorded. Leave unguarded the routes whose requests may
//! repeat on purpose, such as a WebSocket `/media` route.
//!
//! ```
//! use axum::{routing::post, Router};
//! use tower_twilio::replay::ReplayGuardLayer;
//! use tower_twilio::TwilioWebhookLayer;
//!
//! let app: Router = Router::new()
//!     .route("/sms", post(|| async { ([("content-type", "text/xml")], "<Response/>") }))
//!     .layer(ReplayGuardLayer::in_memory())          // inner: runs second
//!     .layer(TwilioWebhookLayer::new("fake_token")?); // outer: runs first
//! # Ok::<_, tower_twilio::ConfigError>(())
//! ```
//!
//! # Stores
//!
//! [`MemoryStore`] (the default, bounded in bytes) catches what one instance sees. Several
//! instances behind a load balancer must share a store: [`RedisStore`] (cargo feature
//! `redis`: Redis, Valkey, ElastiCache, Upstash; Redis Cluster too), or your own
//! [`ReplayStore`].
//!
//! # When the store fails
//!
//! A store that errors or takes longer than the [timeout](ReplayGuardLayer::store_timeout)
//! (50 ms by default) is a failure, warned about at most once every 5 seconds (with how many
//! failures the warning stands for). [`OnStoreFailure::Open`], the default, handles the
//! verified request without deduplication: the service stays available, but a retry or a
//! replay arriving while the store is down runs the handler again. [`OnStoreFailure::Closed`]
//! answers `503` with `Retry-After`: nothing runs twice, and nothing runs at all until the
//! store is back. Either way a forged request is still refused: the signature is checked
//! first.
//!
//! # Limits
//!
//! Two webhooks whose signed strings are equal are one webhook. Twilio makes most of them
//! unique (`MessageSid`, `CallSid` with `CallStatus`, `SequenceNumber`, `Timestamp`), but a
//! `<Gather>` action that receives the same digits twice in one call is the same request
//! twice: give such routes a distinguishing query parameter, or leave them unguarded.
//! Responses of guarded routes are buffered (they are stored).
//!
//! The guard needs a Tokio runtime with its timer (as axum has).
//!
#![cfg_attr(feature = "redis", doc = "[`RedisStore`]: RedisStore")]
// Without the feature the item is missing here, so the link goes to the full docs.
#![cfg_attr(
    not(feature = "redis"),
    doc = "[`RedisStore`]: https://docs.rs/tower-twilio/latest/tower_twilio/replay/struct.RedisStore.html"
)]

mod future;
mod layer;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod service;
mod store;

pub(crate) use self::future::ReplayDecision;
pub use self::future::ResponseFuture;
pub use self::layer::{
    OnStoreFailure, ReplayGuardLayer, DEFAULT_IN_PROGRESS_TTL, DEFAULT_MAX_STORED_BODY,
    DEFAULT_NAMESPACE, DEFAULT_STORE_TIMEOUT, DEFAULT_TTL,
};
pub use self::memory::{MemoryStore, DEFAULT_MEMORY_CAPACITY};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisStore;
pub use self::service::ReplayGuard;
pub(crate) use self::store::ReplayId;
pub use self::store::{Begin, Claim, ReplayKey, ReplayStore, StoreError, StoredResponse};
