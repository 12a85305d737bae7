use std::fmt;
use std::sync::Arc;

use http::Method;
use tower_layer::Layer;

use super::config::{Config, Keys, Shared};
use super::limit::{FailureLimit, FailureLimiter};
use super::service::TwilioWebhook;
#[cfg(feature = "auth")]
use crate::auth::Credentials;
use crate::error::ConfigError;
use crate::keys::{KeyResolver, Keyring};
use crate::public_url::{PublicUrl, Scheme};
use crate::rejection::DefaultOnRejection;
use crate::url::UrlVariants;

/// The default body limit: 256 KiB. Twilio's form webhooks are a few KiB; JSON event
/// webhooks can be larger.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// Layer that verifies Twilio's webhook signatures before the inner service runs.
///
/// See the [crate docs](crate) for what it does, step by step.
///
/// ```
/// use axum::{routing::post, Router};
/// use tower_twilio::TwilioWebhookLayer;
///
/// let app: Router = Router::new()
///     .route("/voice", post(|| async { "<Response/>" }))
///     .layer(TwilioWebhookLayer::new("fake_auth_token")?);
/// # Ok::<_, tower_twilio::ConfigError>(())
/// ```
#[must_use]
pub struct TwilioWebhookLayer<R = DefaultOnRejection> {
    config: Arc<Config>,
    on_rejection: Arc<R>,
}

impl TwilioWebhookLayer {
    /// A layer that verifies legacy signatures made with one Auth Token.
    ///
    /// Fails if the token is empty or has surrounding whitespace.
    pub fn new(auth_token: impl AsRef<str>) -> Result<Self, ConfigError> {
        Ok(Self::with_keyring(Keyring::auth_token(auth_token)?))
    }

    /// A layer with the keyring from the environment (`TWILIO_AUTH_TOKEN`, and optionally
    /// `TWILIO_SECONDARY_AUTH_TOKEN` and `TWILIO_WEBHOOK_SHARED_KEYS`); see
    /// [`Keyring::from_env`]. Fails, naming the variable, when one is missing or malformed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::with_keyring(Keyring::from_env()?))
    }

    /// A layer verifying against `keyring`.
    pub fn with_keyring(keyring: Keyring) -> Self {
        Self::with_keys(Keys::Static(keyring))
    }

    /// A layer that asks `resolver` for the keys of each request: per-account (subaccount,
    /// tenant) or per-region tokens. See [`KeyResolver`] for an example. A failed lookup is
    /// answered 503, so Twilio retries, never 403.
    pub fn with_key_resolver(resolver: impl KeyResolver) -> Self {
        Self::with_keys(Keys::Resolver(Arc::new(resolver)))
    }

    fn with_keys(keys: Keys) -> Self {
        Self {
            config: Arc::new(Config {
                keys,
                public_url: PublicUrl::default(),
                variants: UrlVariants::default(),
                body_limit: DEFAULT_BODY_LIMIT,
                skip_verification: false,
                limiter: None,
                methods: vec![Method::GET, Method::POST],
                scheme: None,
                strict_params: false,
            }),
            on_rejection: Arc::new(DefaultOnRejection),
        }
    }
}

impl<R> TwilioWebhookLayer<R> {
    /// The largest body buffered, in bytes (default [`DEFAULT_BODY_LIMIT`]). A larger body
    /// gets 413, refused from its `Content-Length` before reading anything, or as soon as a
    /// chunked body passes the limit.
    pub fn body_limit(mut self, limit: usize) -> Self {
        Arc::make_mut(&mut self.config).body_limit = limit;
        self
    }

    /// Answers `429 Too Many Requests` (with `Retry-After`) to a client that has failed
    /// verification more than `limit` allows, and logs its rejections once per period
    /// instead of one by one. Off unless set.
    ///
    /// Only failures count, and a request whose signature verifies is never limited, even
    /// from a client over its limit: Twilio shares its addresses with nobody who can sign as
    /// you, and checking a signature costs microseconds. The client is the TCP peer, or,
    /// with [`PublicUrl::trusted_proxies`], the address your proxy says it forwarded for,
    /// never an address an untrusted peer wrote. Keyed on the proxy's own address, every
    /// client behind it would share one budget: a forger's failures would spend it, and a
    /// limiter that refused before checking signatures would lock Twilio out with it.
    ///
    /// ```
    /// use tower_twilio::layer::FailureLimit;
    /// use tower_twilio::TwilioWebhookLayer;
    /// let layer = TwilioWebhookLayer::new("fake_token")?
    ///     .failed_verification_limit("20/60s".parse::<FailureLimit>()?);
    /// # let _ = layer;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    ///
    /// [`PublicUrl::trusted_proxies`]: crate::PublicUrl::trusted_proxies
    pub fn failed_verification_limit(mut self, limit: FailureLimit) -> Self {
        Arc::make_mut(&mut self.config).limiter = Some(Arc::new(FailureLimiter::new(limit)));
        self
    }

    /// The methods let through (default `GET` and `POST`, the only ones Twilio sends); any
    /// other is answered `405` with `Allow`, before its body is read. The signature does not
    /// cover the method: without this, a `GET`'s signature would pass for a `PUT` or a
    /// `DELETE` of the same URL, reaching whatever handler is registered for it.
    ///
    /// ```
    /// use http::Method;
    /// use tower_twilio::TwilioWebhookLayer;
    /// let layer = TwilioWebhookLayer::new("fake_token")?.methods([Method::POST]);
    /// # let _ = layer;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        Arc::make_mut(&mut self.config).methods = methods.into_iter().collect();
        self
    }

    /// Refuses (`400`) a form body in which a key repeats, or has a character outside
    /// Twilio's parameter names (ASCII letters, digits, `_` and `-`: `CallSid`,
    /// `MediaUrl0`, `SipHeader_X-Custom`). Off unless set.
    ///
    /// Twilio's string to sign joins each key to its value with no separator, so whoever
    /// holds a signed request can cut it differently and keep the signature:
    /// `Body=hiFrom+15550000001` can be sent as `Body=hi` and `From=+15550000001`, and a
    /// repeated key's values can come in any order. [`FormParams::get`] returns the first
    /// value in the signed order, which the sender cannot choose, and this mode refuses the
    /// re-cut forms outright. No configuration makes Twilio's scheme say which parameter a
    /// byte belonged to: confirm facts worth money (who called, what was paid) through the
    /// REST API by `CallSid` or `MessageSid`.
    ///
    /// [`FormParams::get`]: crate::FormParams::get
    pub fn strict_params(mut self) -> Self {
        Arc::make_mut(&mut self.config).strict_params = true;
        self
    }

    /// Where the URL Twilio called comes from (default: as seen, over plain `http`).
    ///
    /// A [`scheme`](Self::scheme) set on the layer applies to it, whichever is set first.
    pub fn public_url(mut self, public_url: PublicUrl) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.public_url = match config.scheme {
            Some(scheme) => public_url.scheme(scheme),
            None => public_url,
        };
        self
    }

    /// The scheme of this server's own listener (default `http`); see [`PublicUrl::scheme`].
    /// Set before or after [`public_url`](Self::public_url), it applies the same.
    ///
    /// ```
    /// use tower_twilio::{PublicUrl, Scheme, TwilioWebhookLayer};
    /// let proxies = PublicUrl::trusted_proxies(["127.0.0.1"])?;
    /// let layer = TwilioWebhookLayer::new("fake_token")?
    ///     .scheme(Scheme::Https)
    ///     .public_url(proxies);
    /// # let _ = layer;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.scheme = Some(scheme);
        config.public_url = config.public_url.clone().scheme(scheme);
        self
    }

    /// Which variants of the URL are tried after the URL itself (default: port toggled and
    /// trailing slash dropped).
    pub fn url_variants(mut self, variants: UrlVariants) -> Self {
        Arc::make_mut(&mut self.config).variants = variants;
        self
    }

    #[cfg(feature = "auth")]
    /// Also tries the URL with `credentials` in it (`https://user:pass@host/...`): Twilio
    /// signs the URL of a webhook configured with HTTP Basic/Digest credentials that way,
    /// while the request line never carries them. Use it with
    /// [`HttpAuthLayer`](crate::auth::HttpAuthLayer) and the same credentials.
    pub fn credentials_in_url(mut self, credentials: &Credentials) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.variants = config
            .variants
            .clone()
            .userinfo(Some(&credentials.userinfo()));
        self
    }

    /// Accepts every request **without verifying it**, for local development against a
    /// tunnel or a hand-written `curl`. Requests still get a [`VerifiedWebhook`] (its
    /// [`key_kind`](crate::VerifiedWebhook::key_kind) is `VerificationSkipped`) so handlers
    /// run unchanged.
    ///
    /// Logs a warning now and on every request. In a release build it is refused unless the
    /// opt-in says [`even_in_release_builds`](SkipVerification::even_in_release_builds).
    ///
    /// ```
    /// use tower_twilio::layer::SkipVerification;
    /// use tower_twilio::TwilioWebhookLayer;
    /// # #[cfg(debug_assertions)] {
    /// let layer = TwilioWebhookLayer::new("fake_token")?
    ///     .dangerously_skip_verification(SkipVerification::local_development_only())?;
    /// # let _ = layer; }
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    ///
    /// [`VerifiedWebhook`]: crate::VerifiedWebhook
    pub fn dangerously_skip_verification(
        mut self,
        opt_in: SkipVerification,
    ) -> Result<Self, ConfigError> {
        opt_in.check(cfg!(debug_assertions))?;
        tracing::warn!(
            target: "tower_twilio",
            "TWILIO SIGNATURE VERIFICATION IS OFF: every request is accepted, forged or not. \
             Never run this configuration where the internet can reach it."
        );
        Arc::make_mut(&mut self.config).skip_verification = true;
        Ok(self)
    }

    /// Replaces the response sent for a refused request; see [`OnRejection`]. The layer
    /// still logs the rejection and puts it in the response's extensions.
    ///
    /// ```
    /// use http::{Response, StatusCode};
    /// use tower_twilio::{Rejection, TwilioWebhookLayer};
    ///
    /// // TwiML that hangs up, with the status the layer chose.
    /// let layer = TwilioWebhookLayer::new("fake_token")?.on_rejection(|rejection: &Rejection| {
    ///     let mut response = Response::new("<Response><Hangup/></Response>".to_owned());
    ///     *response.status_mut() = rejection.status();
    ///     response
    /// });
    /// # let _ = layer;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    ///
    /// [`OnRejection`]: crate::OnRejection
    pub fn on_rejection<T>(self, on_rejection: T) -> TwilioWebhookLayer<T> {
        TwilioWebhookLayer {
            config: self.config,
            on_rejection: Arc::new(on_rejection),
        }
    }
}

impl<R> Clone for TwilioWebhookLayer<R> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            on_rejection: Arc::clone(&self.on_rejection),
        }
    }
}

impl<R> fmt::Debug for TwilioWebhookLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioWebhookLayer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, R> Layer<S> for TwilioWebhookLayer<R> {
    type Service = TwilioWebhook<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        let shared = Shared {
            config: Arc::clone(&self.config),
            on_rejection: Arc::clone(&self.on_rejection),
        };
        TwilioWebhook::new(inner, Arc::new(shared))
    }
}

/// The opt-in for [`TwilioWebhookLayer::dangerously_skip_verification`].
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct SkipVerification {
    release_builds: bool,
}

impl SkipVerification {
    /// Skip verification in debug builds; a release build refuses to start with it.
    pub fn local_development_only() -> Self {
        Self {
            release_builds: false,
        }
    }

    /// The second opt-in: skip verification in release builds too.
    pub fn even_in_release_builds(self) -> Self {
        Self {
            release_builds: true,
        }
    }

    fn check(self, debug_build: bool) -> Result<(), ConfigError> {
        if debug_build || self.release_builds {
            Ok(())
        } else {
            Err(ConfigError::invalid(
                "configuration",
                "signature verification can only be skipped in a debug build \
                 (SkipVerification::even_in_release_builds() overrides this)",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipping_verification_in_a_release_build_needs_the_second_opt_in() {
        let once = SkipVerification::local_development_only();
        assert!(once.check(true).is_ok());
        assert!(once.check(false).is_err());
        assert!(once.even_in_release_builds().check(false).is_ok());
    }
}
