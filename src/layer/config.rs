//! What every request through one layer shares: the configuration, checked when it was
//! built, and the rejection hook.

use std::fmt;
use std::sync::Arc;

use http::header::ALLOW;
use http::request::Parts;
use http::{HeaderValue, Method, Response};

use super::limit::FailureLimiter;
use crate::keys::{KeyResolver, Keyring};
use crate::public_url::{self, PublicUrl, Scheme};
use crate::rejection::{OnRejection, Rejection, RejectionReason};
use crate::telemetry;
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
    /// Off unless configured; see `failed_verification_limit`.
    pub(crate) limiter: Option<Arc<FailureLimiter>>,
    /// The scheme set on the layer, kept to apply to a public URL set after it.
    pub(crate) scheme: Option<Scheme>,
    /// The methods let through (default `GET` and `POST`, all Twilio sends).
    pub(crate) methods: Vec<Method>,
    /// Refuse form bodies whose keys repeat or are not Twilio parameter names.
    pub(crate) strict_params: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("keys", &self.keys)
            .field("public_url", &self.public_url)
            .field("variants", &self.variants)
            .field("body_limit", &self.body_limit)
            .field("skip_verification", &self.skip_verification)
            .field("limiter", &self.limiter)
            .field("scheme", &self.scheme)
            .field("methods", &self.methods)
            .field("strict_params", &self.strict_params)
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
    /// Answers a refused request: counts a client's failure against its limit, logs the
    /// rejection (once per period for a client over its limit), builds the response with
    /// the hook and attaches the rejection to it.
    pub(crate) fn reject<B>(&self, parts: &Parts, rejection: Rejection) -> Response<B>
    where
        R: OnRejection<B>,
    {
        let rejection = self.limit(parts, rejection);
        let outcome = if rejection.retry_after().is_some() {
            "limited"
        } else {
            let peer = public_url::peer_ip(parts);
            rejection.log(&parts.method, parts.uri.path(), peer);
            "rejected"
        };
        telemetry::webhook(outcome, rejection.reason().name());
        let mut response = self.on_rejection.response(&rejection);
        if rejection.reason() == RejectionReason::MethodNotAllowed {
            let allow = self
                .config
                .methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>();
            if let Ok(allow) = HeaderValue::from_str(&allow.join(", ")) {
                response.headers_mut().entry(ALLOW).or_insert(allow);
            }
        }
        response.extensions_mut().insert(rejection);
        response
    }

    /// Only the client's failures count: a 5xx is this server's, and a request that
    /// verifies never gets here.
    fn limit(&self, parts: &Parts, rejection: Rejection) -> Rejection {
        let Some(limiter) = &self.config.limiter else {
            return rejection;
        };
        if !rejection.status().is_client_error() {
            return rejection;
        }
        let Some(client) = self.config.public_url.client(parts) else {
            return rejection;
        };
        match limiter.failure(client) {
            None => rejection,
            Some(wait) => {
                limiter.suppressed(client);
                rejection.limited(wait)
            }
        }
    }
}
