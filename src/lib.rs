//! Verify Twilio webhook signatures in any Axum router or Tower service.
//!
//! Twilio signs every webhook request: `X-Twilio-Signature` is an HMAC of the URL Twilio
//! called plus the sorted form parameters (or, for JSON bodies, of the URL carrying a
//! `bodySHA256` query parameter). [`TwilioWebhookLayer`] checks it before your handler runs.
//!
//! # Quickstart
//!
//! ```no_run
//! use axum::{routing::post, Router};
//! use tower_twilio::{TwilioWebhookLayer, VerifiedWebhook};
//!
//! async fn voice(webhook: VerifiedWebhook) -> ([(&'static str, &'static str); 1], String) {
//!     let from = webhook.params().get("From").unwrap_or("a stranger");
//!     let twiml = format!("<Response><Say>Hello {from}</Say></Response>");
//!     ([("content-type", "text/xml")], twiml)
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Router::new()
//!     .route("/voice", post(voice))
//!     // Reads TWILIO_AUTH_TOKEN; fails at start-up, naming the variable, if it is unset.
//!     .layer(TwilioWebhookLayer::from_env()?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # What the layer does, per request
//!
//! 1. Refuses a `Content-Length` over the [body limit](TwilioWebhookLayer::body_limit) (413)
//!    and a missing or malformed `X-Twilio-Signature` (403) without reading the body.
//! 2. Buffers the body, refusing it (413) as soon as it passes the limit.
//! 3. Rebuilds the URL Twilio called ([`PublicUrl`]): by default the configured scheme, the
//!    request target's authority or the `Host` header, and the original path and query
//!    (axum's `OriginalUri`, so a layer inside `Router::nest` sees the whole path).
//! 4. Decodes the parameters once ([`FormParams`]): a form body's fields; GET and HEAD have
//!    none (the query is in the URL); any other body must match the URL's `bodySHA256`. The
//!    key resolver, the MAC and the handler all read this one decoding.
//! 5. Tries the URL and its [variants](UrlVariants) (port toggled, trailing slash dropped)
//!    against the [keys](Keyring), comparing in constant time; the first match wins.
//! 6. Passes the request on with the same body bytes and a [`VerifiedWebhook`] in its
//!    extensions, or answers the [`Rejection`] itself: 403, 413, or 400 for a request that
//!    is not valid HTTP for this purpose (no host, a body that breaks off). Each rejection
//!    is logged once as a `tracing` event, target `tower_twilio`, without any secret.
//!
//! The pure algorithm lives in [`canonical`], [`signature`], [`form`] and [`url`], with no
//! HTTP types: use it directly to verify requests outside Tower, and [`testing`] to sign
//! requests in your own tests.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "auth")]
pub mod auth;
pub mod canonical;
pub mod error;
#[cfg(feature = "axum")]
pub mod extract;
pub mod form;
mod hint;
pub mod keys;
pub mod layer;
// The proxy-header parsers are internal; the fuzz targets (built with `--cfg fuzzing`)
// reach them directly.
#[cfg(fuzzing)]
pub mod proxy;
#[cfg(not(fuzzing))]
mod proxy;
pub mod public_url;
pub mod rejection;
pub mod replay;
pub mod signature;
mod telemetry;
pub mod testing;
pub mod url;
mod verified;

#[cfg(feature = "auth")]
pub use crate::auth::{AuthRejection, AuthScheme, Credentials, HttpAuthLayer};
pub use crate::error::ConfigError;
#[cfg(feature = "axum")]
pub use crate::extract::{MissingVerification, TwilioParams};
pub use crate::form::FormParams;
pub use crate::hint::Hint;
pub use crate::keys::{KeyId, KeyKind, Keyring};
pub use crate::layer::{TwilioWebhook, TwilioWebhookLayer};
pub use crate::public_url::{PublicUrl, Scheme};
pub use crate::rejection::{DefaultOnRejection, OnRejection, Rejection, RejectionReason};
pub use crate::signature::Algorithm;
#[cfg(feature = "metrics")]
pub use crate::telemetry::describe_metrics;
pub use crate::telemetry::{REPLAY_STORE_ERRORS_TOTAL, VERIFY_DURATION_SECONDS, WEBHOOKS_TOTAL};
pub use crate::url::UrlVariants;
pub use crate::verified::VerifiedWebhook;

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
