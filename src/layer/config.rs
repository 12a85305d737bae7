//! What every request through one layer shares: the configuration, checked when it was
//! built, and the rejection hook.

use std::fmt;
use std::sync::Arc;

use http::request::Parts;
use http::Response;

use crate::keys::{KeyResolver, Keyring};
use crate::public_url::PublicUrl;
use crate::rejection::{OnRejection, Rejection};
use crate::url::UrlVariants;

/// The layer's configuration.
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

/// The configuration and the rejection hook, behind one `Arc` per service.
pub(crate) struct Shared<R> {
    pub(crate) config: Arc<Config>,
    pub(crate) on_rejection: Arc<R>,
}

impl<R> Shared<R> {
    /// Logs `rejection`, builds its response with the hook, and attaches it to the response.
    pub(crate) fn reject<B>(&self, parts: &Parts, rejection: Rejection) -> Response<B>
    where
        R: OnRejection<B>,
    {
        rejection.log(&parts.method, parts.uri.path());
        let mut response = self.on_rejection.response(&rejection);
        response.extensions_mut().insert(rejection);
        response
    }
}
