//! The Tower layer: buffer the body, rebuild the URL, verify, then pass on or refuse.
//!
//! Laid out as tower-http lays out a middleware: [`TwilioWebhookLayer`] (configuration),
//! [`TwilioWebhook`] (the service), [`ResponseFuture`]; the request-level glue around the
//! pure [`signature`](crate::signature) core is in `verify.rs`.

use std::fmt;

use std::sync::Arc;

use crate::keys::{KeyResolver, Keyring};
use crate::public_url::PublicUrl;
use crate::url::UrlVariants;

mod body;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;
mod verify;

pub use self::future::ResponseFuture;
pub use self::layer::{SkipVerification, TwilioWebhookLayer, DEFAULT_BODY_LIMIT};
pub use self::service::TwilioWebhook;

/// The layer's configuration, checked when it was built.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) keys: Keys,
    pub(crate) public_url: PublicUrl,
    pub(crate) variants: UrlVariants,
    pub(crate) body_limit: usize,
    /// Local development only; see `dangerously_skip_verification`.
    pub(crate) skip_verification: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("keys", &self.keys)
            .field("public_url", &self.public_url)
            .field("variants", &self.variants)
            .field("body_limit", &self.body_limit)
            .field("skip_verification", &self.skip_verification)
            .finish()
    }
}

/// Where the keys for a request come from.
#[derive(Clone)]
pub(crate) enum Keys {
    /// The same keyring for every request.
    Static(Keyring),
    /// A keyring looked up per request.
    Resolver(Arc<dyn KeyResolver>),
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(keyring) => fmt::Debug::fmt(keyring, f),
            Self::Resolver(_) => f.write_str("KeyResolver(..)"),
        }
    }
}
