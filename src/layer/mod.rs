//! The Tower layer: buffer the body, rebuild the URL, verify, then pass on or refuse.
//!
//! Laid out as tower-http lays out a middleware: [`TwilioWebhookLayer`] (configuration),
//! [`TwilioWebhook`] (the service), [`ResponseFuture`]. The policy itself, request parts
//! and body in, proof or rejection out, is one module of plain functions (`verify.rs`)
//! around the pure [`signature`](crate::signature) core.

mod config;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod limit;
mod service;
mod verify;

pub use self::future::ResponseFuture;
pub use self::layer::{SkipVerification, TwilioWebhookLayer, DEFAULT_BODY_LIMIT};
pub use self::limit::FailureLimit;
pub use self::service::TwilioWebhook;
