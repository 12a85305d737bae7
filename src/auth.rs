//! HTTP Basic and Digest authentication for TwiML URLs.
//!
//! Twilio lets you protect a webhook URL with a username and password
//! (`https://user:password@example.com/voice`). It first requests the URL without
//! credentials; answered `401` with a `WWW-Authenticate` challenge, it sends the request again
//! with them, by HTTP Basic ([RFC 7617]) or Digest ([RFC 7616]). [`HttpAuthLayer`] is the
//! server side of that exchange, as a Tower layer of its own:
//!
//! * no `Authorization` header, a malformed one, or wrong credentials: `401` with fresh
//!   challenges, and nothing reaches the inner service;
//! * right credentials: the request is passed on unchanged. The layer reads the request
//!   head only, so the body is neither buffered nor touched and the inner service receives
//!   the body type it would have had without the layer.
//!
//! It composes with the signature layer in either order. Outermost (added last) is usually
//! best: Twilio's first, unauthenticated request is then answered before anything else runs.
//!
//! ```
//! use axum::{routing::post, Router};
//! use tower_twilio::auth::{Credentials, HttpAuthLayer};
//! use tower_twilio::TwilioWebhookLayer;
//!
//! // `&` and `:` are not allowed in Twilio's usernames and passwords, and are refused here.
//! let credentials = Credentials::parse("twilio:fake-password-for-docs")?;
//! let app: Router = Router::new()
//!     .route("/voice", post(|| async { "<Response/>" }))
//!     .layer(TwilioWebhookLayer::new("fake_auth_token")?)
//!     .layer(HttpAuthLayer::basic_and_digest(credentials));
//! # Ok::<_, tower_twilio::ConfigError>(())
//! ```
//!
//! # What is checked
//!
//! * Credentials are compared in constant time (`subtle`): for Basic, the SHA-256 hashes of
//!   the username and of the password, so not even their lengths leak; for Digest, the
//!   username's hash and the computed `response`. Both results are combined before
//!   branching.
//! * Digest: `realm` must be this layer's; `uri` must be the request target (RFC 7616
//!   §3.4.6; behind axum's `Router::nest`, the original one); `qop` must be `auth`, with `nc`
//!   (8 hex digits) and `cnonce`; `algorithm` may be `SHA-256`, `MD5` (the default when
//!   absent), `SHA-256-sess` or `MD5-sess`; the `nonce` must be one this layer (or one
//!   sharing its [nonce key](HttpAuthLayer::nonce_key)) issued, and not older than the
//!   [lifetime](HttpAuthLayer::nonce_lifetime).
//! * Not supported (`401`): `qop=auth-int` (it would need the body), `userhash=true` and
//!   `username*` (never offered in the challenge), RFC 2069 Digest without `qop`.
//! * Any malformed header (bad quoting, missing or repeated parameters, several
//!   `Authorization` headers, more than 4 KiB, not UTF-8, invalid base64) is a `401`, never a
//!   panic. Scheme names are case-insensitive (RFC 9110 §11.1): `basic` is `Basic`.
//!
//! # Nonces
//!
//! Nonces need no server-side state: a nonce is
//! `base64url(timestamp || HMAC-SHA256(nonce key, timestamp || realm))`, so only a holder of
//! the key can make one, and its age is read from it. An expired nonce sent with the right
//! credentials gets a `401` whose Digest challenges carry `stale=true`, telling the client to
//! retry with the new nonce without asking for the password again.
//!
//! Without server-side state, a nonce (and a whole captured request) can be replayed within
//! its lifetime: nothing records which `nc` values were used. Twilio's signatures have the
//! same property (a captured signed request verifies again), which is one more reason to
//! serve webhooks over HTTPS only.
//!
//! Every `401` is logged as one `tracing` event, target `tower_twilio`, with the reason
//! only, never a credential or the `Authorization` header: at `debug` for the expected steps
//! of the exchange (no credentials yet, stale nonce), at `warn` otherwise. The reason is also
//! in the response's extensions ([`AuthRejection`]).
//!
//! [RFC 7617]: https://www.rfc-editor.org/rfc/rfc7617
//! [RFC 7616]: https://www.rfc-editor.org/rfc/rfc7616

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use md5::Md5;
use pin_project_lite::pin_project;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use tower_layer::Layer;
use tower_service::Service;
use zeroize::Zeroizing;

use crate::error::ConfigError;

/// The realm used when none is configured.
pub const DEFAULT_REALM: &str = "Twilio webhook";

/// How long a Digest nonce is accepted when no lifetime is configured: 5 minutes.
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The longest `Authorization` header read; a longer one is refused unparsed.
const MAX_AUTHORIZATION_LEN: usize = 4096;

/// The most parameters a Digest header may have (RFC 7616 defines 12).
const MAX_DIGEST_PARAMS: usize = 32;

/// Basic credentials are standard base64; padding optional on input, so a client that strips
/// `=` is not refused for formatting alone.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Domain separation for the nonce MAC, so the key could never sign anything else by accident.
const NONCE_CONTEXT: &[u8] = b"tower-twilio digest nonce v1\0";
/// A nonce's bytes: an 8-byte big-endian Unix timestamp, then a 32-byte HMAC-SHA256.
const NONCE_LEN: usize = 8 + 32;
/// The base64url length of a nonce (no padding).
const NONCE_B64_LEN: usize = (NONCE_LEN * 4).div_ceil(3);

/// A username and password, checked when made, never shown.
///
/// Twilio does not allow `:` or `&` in either, so both are refused here, as are empty
/// values, control characters, and leading or trailing whitespace (a stray newline from a
/// file or a shell). `Debug` and `Display` show the username only, and the password is
/// zeroized when dropped.
///
/// ```
/// use tower_twilio::auth::Credentials;
///
/// let credentials = Credentials::parse("twilio:fake-password")?;
/// assert_eq!(credentials.username(), "twilio");
/// assert_eq!(credentials.to_string(), "twilio:***");
/// assert!(!format!("{credentials:?}").contains("fake-password"));
///
/// assert!(Credentials::new("twilio", "").is_err());
/// assert!(Credentials::new("twilio", "a&b").is_err());
/// assert!(Credentials::parse("no-colon").is_err());
/// # Ok::<_, tower_twilio::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: Zeroizing<String>,
}

impl Credentials {
    /// Credentials from a username and a password.
    ///
    /// Fails with [`ConfigError::Invalid`] (naming the field, never showing its value) when
    /// either is empty, contains `:` or `&`, contains a control character, or starts or ends
    /// with whitespace.
    pub fn new(
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        // Owned (and zeroized on every path) before anything can fail.
        let password = Zeroizing::new(password.into());
        let username = username.into();
        check_credential("HTTP auth username", &username)?;
        check_credential("HTTP auth password", &password)?;
        Ok(Self { username, password })
    }

    /// Parses `user:password`, e.g. from an environment variable.
    ///
    /// The string is split at its only `:`; a second one is refused with the password (see
    /// [`new`](Self::new)).
    ///
    /// ```
    /// use tower_twilio::auth::Credentials;
    /// let credentials = Credentials::parse("twilio:fake-password")?;
    /// assert_eq!(credentials.username(), "twilio");
    /// assert!(Credentials::parse("twilio:pass:word").is_err());
    /// assert!(Credentials::parse(":fake-password").is_err());
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn parse(user_password: &str) -> Result<Self, ConfigError> {
        let (username, password) =
            user_password
                .split_once(':')
                .ok_or_else(|| ConfigError::Invalid {
                    what: "HTTP auth credentials",
                    reason: "not of the form user:password".to_owned(),
                })?;
        Self::new(username, password)
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// `user:password`, each percent-encoded as needed for the userinfo of a URL
    /// (RFC 3986 §3.2.1): unreserved characters and sub-delimiters are kept, everything else
    /// (`@`, `/`, `%`, space, non-ASCII...) is encoded as `%XX`.
    ///
    /// This is how the credentials appear in the webhook URL configured in Twilio, and so
    /// in the URL Twilio signs. The result contains the password: do not log it.
    ///
    /// ```
    /// use tower_twilio::auth::Credentials;
    /// let credentials = Credentials::new("twilio", "p@ss word/é!")?;
    /// assert_eq!(credentials.userinfo(), "twilio:p%40ss%20word%2F%C3%A9!");
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn userinfo(&self) -> String {
        let mut out = String::with_capacity(self.username.len() + self.password.len() + 1);
        push_userinfo_part(&mut out, &self.username);
        out.push(':');
        push_userinfo_part(&mut out, &self.password);
        out
    }
}

impl FromStr for Credentials {
    type Err = ConfigError;

    /// Same as [`Credentials::parse`].
    fn from_str(user_password: &str) -> Result<Self, Self::Err> {
        Self::parse(user_password)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:***", self.username)
    }
}

fn check_credential(what: &'static str, value: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| {
        Err(ConfigError::Invalid {
            what,
            reason: reason.to_owned(),
        })
    };
    if value.is_empty() {
        return invalid("empty");
    }
    if value.contains([':', '&']) {
        return invalid("contains ':' or '&', which Twilio does not allow");
    }
    if value.contains(char::is_control) || value.trim() != value {
        return invalid(
            "contains a control character or starts or ends with whitespace (a stray newline?)",
        );
    }
    Ok(())
}

/// Appends `part` percent-encoded for a URL's userinfo (keeping unreserved and sub-delims,
/// except `&`, which never occurs).
fn push_userinfo_part(out: &mut String, part: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in part.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$'()*+,;=".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
}

/// Which authentication schemes a layer offers and accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthScheme {
    /// HTTP Basic (RFC 7617): the password travels base64-encoded, readable by anyone who
    /// can read the request. Only over HTTPS.
    Basic,
    /// HTTP Digest (RFC 7616), SHA-256 and MD5: the password never travels.
    Digest,
    /// Both: the `401` carries the Digest challenges first, then Basic, and either kind of
    /// credentials is accepted.
    BasicAndDigest,
}

impl AuthScheme {
    fn offers_basic(self) -> bool {
        matches!(self, Self::Basic | Self::BasicAndDigest)
    }

    fn offers_digest(self) -> bool {
        matches!(self, Self::Digest | Self::BasicAndDigest)
    }
}

/// Why a request got a `401`.
///
/// Logged (never with credentials) and put in the extensions of the `401` response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No `Authorization` header: the first step of every exchange.
    MissingCredentials,
    /// The header names a scheme this layer does not offer (e.g. `Bearer`, or `Basic` on a
    /// Digest-only layer).
    SchemeNotOffered,
    /// The header cannot be parsed: bad quoting or base64, a missing or repeated parameter,
    /// a malformed `nc` or `response`, several `Authorization` headers, over 4 KiB, not UTF-8.
    Malformed,
    /// The username or password is wrong (for Digest: the `response` does not match).
    WrongCredentials,
    /// Digest: the nonce was not issued with this layer's key and realm (forged, mangled, or
    /// from another server).
    InvalidNonce,
    /// Digest: the credentials are right but the nonce has expired. The challenge says
    /// `stale=true`, so the client retries with the new nonce.
    StaleNonce,
    /// Digest: `uri` is not the request target.
    UriMismatch,
    /// Digest: `realm` is not this layer's.
    RealmMismatch,
    /// Digest: `algorithm` is not `MD5`, `SHA-256` or their `-sess` variants.
    UnsupportedAlgorithm,
    /// Digest: `qop` is missing (RFC 2069) or not `auth` (e.g. `auth-int`).
    UnsupportedQop,
    /// Digest: `userhash=true` or `username*`, which this layer does not offer.
    UnsupportedUsername,
}

impl AuthRejection {
    /// Whether this is an expected step of the exchange rather than a failure.
    fn is_expected(self) -> bool {
        matches!(self, Self::MissingCredentials | Self::StaleNonce)
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingCredentials => "no Authorization header",
            Self::SchemeNotOffered => "Authorization scheme not offered",
            Self::Malformed => "malformed Authorization header",
            Self::WrongCredentials => "wrong username or password",
            Self::InvalidNonce => "Digest nonce not issued by this server",
            Self::StaleNonce => "Digest nonce expired",
            Self::UriMismatch => "Digest uri is not the request target",
            Self::RealmMismatch => "Digest realm is not this server's",
            Self::UnsupportedAlgorithm => "unsupported Digest algorithm",
            Self::UnsupportedQop => "unsupported or missing Digest qop",
            Self::UnsupportedUsername => "unsupported Digest userhash or username*",
        })
    }
}

impl std::error::Error for AuthRejection {}

/// Layer that requires HTTP Basic or Digest authentication before the inner service runs.
///
/// Made from [`Credentials`] and the [scheme(s)](AuthScheme) to offer; the realm, nonce
/// lifetime and nonce key have defaults. See the [module docs](self) for what is checked.
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::post, Router};
/// use tower_twilio::auth::{Credentials, HttpAuthLayer};
///
/// let layer = HttpAuthLayer::digest(Credentials::parse("twilio:fake-password")?)
///     .realm("Support line")?
///     .nonce_lifetime(Duration::from_secs(60));
/// let app: Router = Router::new()
///     .route("/voice", post(|| async { "<Response/>" }))
///     .layer(layer);
/// # Ok::<_, tower_twilio::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct HttpAuthLayer {
    config: Arc<AuthConfig>,
}

impl HttpAuthLayer {
    /// A layer offering `scheme`, with the default realm ([`DEFAULT_REALM`]), nonce lifetime
    /// ([`DEFAULT_NONCE_LIFETIME`]) and a random nonce key.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails (see `getrandom`).
    pub fn new(credentials: Credentials, scheme: AuthScheme) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut_slice())
            .expect("the operating system's random number generator failed");
        Self {
            config: Arc::new(AuthConfig {
                credentials,
                scheme,
                realm: DEFAULT_REALM.to_owned(),
                nonce_lifetime: DEFAULT_NONCE_LIFETIME,
                nonce_key: nonce_mac(&key),
            }),
        }
    }

    /// HTTP Basic only: [`new`](Self::new) with [`AuthScheme::Basic`].
    ///
    /// ```
    /// use tower_twilio::auth::{Credentials, HttpAuthLayer};
    /// let layer = HttpAuthLayer::basic(Credentials::new("twilio", "fake-password")?);
    /// # let _ = layer;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn basic(credentials: Credentials) -> Self {
        Self::new(credentials, AuthScheme::Basic)
    }

    /// HTTP Digest only (SHA-256 and MD5): [`new`](Self::new) with [`AuthScheme::Digest`].
    ///
    /// ```
    /// use tower_twilio::auth::{Credentials, HttpAuthLayer};
    /// let layer = HttpAuthLayer::digest(Credentials::new("twilio", "fake-password")?);
    /// # let _ = layer;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn digest(credentials: Credentials) -> Self {
        Self::new(credentials, AuthScheme::Digest)
    }

    /// Digest and Basic: [`new`](Self::new) with [`AuthScheme::BasicAndDigest`].
    ///
    /// ```
    /// use tower_twilio::auth::{Credentials, HttpAuthLayer};
    /// let layer = HttpAuthLayer::basic_and_digest(Credentials::new("twilio", "fake-password")?);
    /// # let _ = layer;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn basic_and_digest(credentials: Credentials) -> Self {
        Self::new(credentials, AuthScheme::BasicAndDigest)
    }

    /// The realm named in the challenges (default [`DEFAULT_REALM`]).
    ///
    /// Fails with [`ConfigError::Invalid`] unless it is 1 to 256 printable ASCII characters
    /// without `"` or `\`.
    ///
    /// ```
    /// use tower_twilio::auth::{Credentials, HttpAuthLayer};
    /// let credentials = Credentials::new("twilio", "fake-password")?;
    /// assert!(HttpAuthLayer::digest(credentials.clone()).realm("Support line").is_ok());
    /// assert!(HttpAuthLayer::digest(credentials).realm("say \"hi\"").is_err());
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn realm(mut self, realm: impl Into<String>) -> Result<Self, ConfigError> {
        let realm = realm.into();
        let printable = realm
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
        if realm.is_empty() || realm.len() > 256 || !printable {
            return Err(ConfigError::Invalid {
                what: "HTTP auth realm",
                reason: "must be 1 to 256 printable ASCII characters without '\"' or '\\'"
                    .to_owned(),
            });
        }
        Arc::make_mut(&mut self.config).realm = realm;
        Ok(self)
    }

    /// How long a Digest nonce is accepted after it was issued (default
    /// [`DEFAULT_NONCE_LIFETIME`]), in whole seconds. A nonce issued up to that long in the
    /// future is accepted too, for servers whose clocks differ slightly.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_twilio::auth::{Credentials, HttpAuthLayer};
    /// let layer = HttpAuthLayer::digest(Credentials::new("twilio", "fake-password")?)
    ///     .nonce_lifetime(Duration::from_secs(60));
    /// # let _ = layer;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn nonce_lifetime(mut self, lifetime: Duration) -> Self {
        Arc::make_mut(&mut self.config).nonce_lifetime = lifetime;
        self
    }

    /// The key nonces are made and checked with (default: 32 random bytes per layer).
    ///
    /// Set the same key on every server instance behind a load balancer, so a nonce issued
    /// by one is accepted by the others. Keep it as secret as the password: whoever has it
    /// can make nonces (though not answer them without the password).
    ///
    /// ```
    /// use tower_twilio::auth::{Credentials, HttpAuthLayer};
    /// let shared_key = [7u8; 32]; // read it from your secret store
    /// let layer = HttpAuthLayer::digest(Credentials::new("twilio", "fake-password")?)
    ///     .nonce_key(shared_key);
    /// # let _ = layer;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn nonce_key(mut self, key: [u8; 32]) -> Self {
        let key = Zeroizing::new(key);
        Arc::make_mut(&mut self.config).nonce_key = nonce_mac(&key);
        self
    }
}

impl fmt::Debug for HttpAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpAuthLayer")
            .field("config", &self.config)
            .finish()
    }
}

impl<S> Layer<S> for HttpAuthLayer {
    type Service = HttpAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpAuth {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// Middleware that requires HTTP Basic or Digest authentication; made by [`HttpAuthLayer`].
///
/// Authenticated requests reach the inner service exactly as they came (headers, extensions
/// and body untouched); the others are answered `401` without calling it.
pub struct HttpAuth<S> {
    inner: S,
    config: Arc<AuthConfig>,
}

impl<S: Clone> Clone for HttpAuth<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for HttpAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpAuth")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<&'static str>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let now = unix_now();
        let (parts, body) = request.into_parts();
        match self.config.authenticate(&parts, now) {
            Ok(()) => ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body))),
            Err(rejection) => {
                log_rejection(rejection, &parts.method, parts.uri.path());
                ResponseFuture::unauthorized(self.config.unauthorized(rejection, now))
            }
        }
    }
}

pin_project! {
    /// Response future of [`HttpAuth`]: the inner service's, or a ready `401`.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner {
            #[pin]
            future: F,
        },
        Unauthorized {
            response: Option<Response<B>>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    fn unauthorized(response: Response<B>) -> Self {
        Self {
            kind: Kind::Unauthorized {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Unauthorized { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Unauthorized { .. } => "Unauthorized",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}

/// Logs a `401`: one event, target `tower_twilio`, the reason only.
fn log_rejection(rejection: AuthRejection, method: &Method, path: &str) {
    if rejection.is_expected() {
        tracing::debug!(
            target: "tower_twilio",
            reason = %rejection,
            status = 401,
            %method,
            path,
            "HTTP authentication required"
        );
    } else {
        tracing::warn!(
            target: "tower_twilio",
            reason = %rejection,
            status = 401,
            %method,
            path,
            "HTTP authentication failed"
        );
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn nonce_mac(key: &[u8; 32]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// The layer's configuration, checked when it was built.
#[derive(Clone)]
struct AuthConfig {
    credentials: Credentials,
    scheme: AuthScheme,
    realm: String,
    nonce_lifetime: Duration,
    /// HMAC-SHA256 keyed with the nonce key, cloned for each nonce.
    nonce_key: Hmac<Sha256>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("credentials", &self.credentials)
            .field("scheme", &self.scheme)
            .field("realm", &self.realm)
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("nonce_key", &"<redacted>")
            .finish()
    }
}

impl AuthConfig {
    /// Checks the request head at Unix time `now` (seconds).
    fn authenticate(&self, parts: &Parts, now: u64) -> Result<(), AuthRejection> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let value = values.next().ok_or(AuthRejection::MissingCredentials)?;
        if values.next().is_some() || value.len() > MAX_AUTHORIZATION_LEN {
            return Err(AuthRejection::Malformed);
        }
        let value = std::str::from_utf8(value.as_bytes()).map_err(|_| AuthRejection::Malformed)?;
        let value = value.trim_matches([' ', '\t']);
        let (scheme, rest) = match value.find([' ', '\t']) {
            Some(end) => (&value[..end], value[end..].trim_start_matches([' ', '\t'])),
            None => (value, ""),
        };
        if scheme.is_empty() || !scheme.bytes().all(is_tchar) {
            return Err(AuthRejection::Malformed);
        }
        if scheme.eq_ignore_ascii_case("Basic") && self.scheme.offers_basic() {
            self.check_basic(rest)
        } else if scheme.eq_ignore_ascii_case("Digest") && self.scheme.offers_digest() {
            self.check_digest(parts, rest, now)
        } else {
            Err(AuthRejection::SchemeNotOffered)
        }
    }

    /// `Basic base64(user:password)`.
    fn check_basic(&self, token68: &str) -> Result<(), AuthRejection> {
        if token68.is_empty() || !token68.bytes().all(is_token68) {
            return Err(AuthRejection::Malformed);
        }
        let decoded = Zeroizing::new(
            BASE64
                .decode(token68)
                .map_err(|_| AuthRejection::Malformed)?,
        );
        let colon = decoded
            .iter()
            .position(|&b| b == b':')
            .ok_or(AuthRejection::Malformed)?;
        let (username, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let matches = hashed_eq(username, self.credentials.username.as_bytes())
            & hashed_eq(password, self.credentials.password.as_bytes());
        if bool::from(matches) {
            Ok(())
        } else {
            Err(AuthRejection::WrongCredentials)
        }
    }

    /// `Digest username="...", realm="...", ...`.
    fn check_digest(&self, parts: &Parts, params: &str, now: u64) -> Result<(), AuthRejection> {
        let params = parse_auth_params(params).ok_or(AuthRejection::Malformed)?;
        let fields = DigestFields::from_params(&params)?;
        if fields.realm != self.realm {
            return Err(AuthRejection::RealmMismatch);
        }
        if !uri_matches(parts, fields.uri) {
            return Err(AuthRejection::UriMismatch);
        }
        let (hash, sess) = parse_algorithm(fields.algorithm)?;
        let well_formed = fields.nc.len() == 8
            && fields.nc.bytes().all(|b| b.is_ascii_hexdigit())
            && !fields.cnonce.is_empty()
            && fields.response.len() == hash.output_len() * 2
            && fields.response.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(AuthRejection::Malformed);
        }
        let issued = self.nonce_issued_at(fields.nonce)?;

        let expected = digest_response(&DigestInput {
            hash,
            sess,
            username: &self.credentials.username,
            realm: &self.realm,
            password: &self.credentials.password,
            method: parts.method.as_str(),
            uri: fields.uri,
            nonce: fields.nonce,
            nc: fields.nc,
            cnonce: fields.cnonce,
            qop: fields.qop,
        });
        let received = fields.response.to_ascii_lowercase();
        let matches = hashed_eq(
            fields.username.as_bytes(),
            self.credentials.username.as_bytes(),
        ) & expected.as_bytes().ct_eq(received.as_bytes());
        if !bool::from(matches) {
            return Err(AuthRejection::WrongCredentials);
        }
        // RFC 7616 §3.3: stale only when the response itself was right.
        if now.abs_diff(issued) > self.nonce_lifetime.as_secs() {
            return Err(AuthRejection::StaleNonce);
        }
        Ok(())
    }

    /// The MAC of a nonce issued at `timestamp` for this realm.
    fn nonce_tag(&self, timestamp: u64) -> Hmac<Sha256> {
        let mut mac = self.nonce_key.clone();
        mac.update(NONCE_CONTEXT);
        mac.update(&timestamp.to_be_bytes());
        mac.update(self.realm.as_bytes());
        mac
    }

    /// A fresh nonce: `base64url(timestamp || HMAC-SHA256(key, context || timestamp || realm))`.
    fn make_nonce(&self, now: u64) -> String {
        let mut raw = [0u8; NONCE_LEN];
        raw[..8].copy_from_slice(&now.to_be_bytes());
        raw[8..].copy_from_slice(&self.nonce_tag(now).finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// When `nonce` was issued, if it was issued with this key and realm.
    fn nonce_issued_at(&self, nonce: &str) -> Result<u64, AuthRejection> {
        if nonce.len() != NONCE_B64_LEN {
            return Err(AuthRejection::InvalidNonce);
        }
        let mut raw = [0u8; NONCE_LEN + 2];
        let len = URL_SAFE_NO_PAD
            .decode_slice(nonce, &mut raw)
            .map_err(|_| AuthRejection::InvalidNonce)?;
        if len != NONCE_LEN {
            return Err(AuthRejection::InvalidNonce);
        }
        let mut timestamp = [0u8; 8];
        timestamp.copy_from_slice(&raw[..8]);
        let timestamp = u64::from_be_bytes(timestamp);
        // `verify_slice` compares in constant time.
        self.nonce_tag(timestamp)
            .verify_slice(&raw[8..NONCE_LEN])
            .map_err(|_| AuthRejection::InvalidNonce)?;
        Ok(timestamp)
    }

    /// The `WWW-Authenticate` values, in order of preference.
    ///
    /// Digest SHA-256 first, then Digest MD5, then Basic: RFC 7616 §3.7 has the server list
    /// its preferred algorithm first and the client use the first challenge it supports, so a
    /// client that can do SHA-256 does, one that knows only MD5 (RFC 2617) still finds its
    /// challenge, and Basic, which sends the password itself, is the last resort for clients
    /// without Digest.
    fn challenges(&self, now: u64, stale: bool) -> Vec<HeaderValue> {
        let mut challenges = Vec::with_capacity(3);
        if self.scheme.offers_digest() {
            let nonce = self.make_nonce(now);
            let stale = if stale { ", stale=true" } else { "" };
            for algorithm in [DigestHash::Sha256, DigestHash::Md5] {
                let challenge = format!(
                    "Digest realm=\"{}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\"{stale}",
                    self.realm,
                    algorithm.name(),
                );
                // The realm is printable ASCII without quotes and the nonce base64url, so
                // this cannot fail; never panic on a request anyway.
                challenges.extend(HeaderValue::from_str(&challenge).ok());
            }
        }
        if self.scheme.offers_basic() {
            let challenge = format!("Basic realm=\"{}\", charset=\"UTF-8\"", self.realm);
            challenges.extend(HeaderValue::from_str(&challenge).ok());
        }
        challenges
    }

    /// The `401` for `rejection`, with fresh challenges.
    fn unauthorized<B: From<&'static str>>(
        &self,
        rejection: AuthRejection,
        now: u64,
    ) -> Response<B> {
        let mut response = Response::new(B::from("Unauthorized\n"));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        for challenge in self.challenges(now, rejection == AuthRejection::StaleNonce) {
            headers.append(WWW_AUTHENTICATE, challenge);
        }
        response.extensions_mut().insert(rejection);
        response
    }
}

/// Compares the SHA-256 hashes of `a` and `b` in constant time, so neither their contents
/// nor their lengths show in the timing.
fn hashed_eq(a: &[u8], b: &[u8]) -> Choice {
    Sha256::digest(a)
        .as_slice()
        .ct_eq(Sha256::digest(b).as_slice())
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 `token68` characters.
fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

/// Parses `name=value, name="quoted \"value\"", ...` (RFC 9110 §11.2 `#auth-param`).
///
/// Names are lowercased; quoted strings are unescaped. `None` for anything malformed: a
/// missing `=` or value, an unterminated quote, a control character, a repeated name, or
/// more than [`MAX_DIGEST_PARAMS`] parameters.
fn parse_auth_params(input: &str) -> Option<Vec<(String, String)>> {
    let bytes = input.as_bytes();
    let skip_ows = |i: &mut usize| {
        while *i < bytes.len() && matches!(bytes[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    let mut params: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    loop {
        // Empty list elements are allowed (RFC 9110 §5.6.1).
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && is_tchar(bytes[i]) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let name = input[start..i].to_ascii_lowercase();
        skip_ows(&mut i);
        if bytes.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        skip_ows(&mut i);
        let value = if bytes.get(i) == Some(&b'"') {
            i += 1;
            // Only ASCII bytes are special, so copying the other bytes one by one keeps
            // multi-byte characters whole and the result valid UTF-8.
            let mut value = Vec::new();
            loop {
                match *bytes.get(i)? {
                    b'"' => break,
                    b'\\' => {
                        i += 1;
                        let escaped = *bytes.get(i)?;
                        if escaped.is_ascii_control() && escaped != b'\t' {
                            return None;
                        }
                        value.push(escaped);
                    }
                    b if b.is_ascii_control() && b != b'\t' => return None,
                    b => value.push(b),
                }
                i += 1;
            }
            i += 1;
            String::from_utf8(value).ok()?
        } else {
            let start = i;
            while i < bytes.len() && is_tchar(bytes[i]) {
                i += 1;
            }
            if i == start {
                return None;
            }
            input[start..i].to_owned()
        };
        if params.len() == MAX_DIGEST_PARAMS || params.iter().any(|(n, _)| *n == name) {
            return None;
        }
        params.push((name, value));
        skip_ows(&mut i);
        if i < bytes.len() && bytes[i] != b',' {
            return None;
        }
    }
    (!params.is_empty()).then_some(params)
}

/// The Digest parameters this layer uses, all present.
#[derive(Debug)]
struct DigestFields<'a> {
    username: &'a str,
    realm: &'a str,
    nonce: &'a str,
    uri: &'a str,
    response: &'a str,
    algorithm: Option<&'a str>,
    qop: &'a str,
    nc: &'a str,
    cnonce: &'a str,
}

impl<'a> DigestFields<'a> {
    fn from_params(params: &'a [(String, String)]) -> Result<Self, AuthRejection> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let userhash = get("userhash").is_some_and(|v| !v.eq_ignore_ascii_case("false"));
        if userhash || get("username*").is_some() {
            return Err(AuthRejection::UnsupportedUsername);
        }
        // With qop=auth, nc and cnonce are required (RFC 7616 §3.4).
        let qop = get("qop")
            .filter(|qop| qop.eq_ignore_ascii_case("auth"))
            .ok_or(AuthRejection::UnsupportedQop)?;
        let required = |name: &str| get(name).ok_or(AuthRejection::Malformed);
        Ok(Self {
            username: required("username")?,
            realm: required("realm")?,
            nonce: required("nonce")?,
            uri: required("uri")?,
            response: required("response")?,
            algorithm: get("algorithm"),
            qop,
            nc: required("nc")?,
            cnonce: required("cnonce")?,
        })
    }
}

/// Whether the Digest `uri` names the request target (RFC 7616 §3.4.6): its origin form
/// (path and query, byte for byte), or its absolute form when the request line had one
/// (compared as `http::Uri` compares to a string: scheme and host case-insensitively).
fn uri_matches(parts: &Parts, digest_uri: &str) -> bool {
    let uri = original_uri(parts);
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    digest_uri == target || (uri.scheme().is_some() && *uri == *digest_uri)
}

/// The URI the client sent, before any router stripped a prefix.
fn original_uri(parts: &Parts) -> &Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = parts.extensions.get() {
        return uri;
    }
    &parts.uri
}

/// The hash a Digest algorithm is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DigestHash {
    Md5,
    Sha256,
}

impl DigestHash {
    fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha256 => 32,
        }
    }

    /// Lowercase hex of `H(parts[0] ":" parts[1] ":" ...)`.
    fn hex(self, parts: &[&[u8]]) -> Zeroizing<String> {
        match self {
            Self::Md5 => hex_digest::<Md5>(parts),
            Self::Sha256 => hex_digest::<Sha256>(parts),
        }
    }
}

fn hex_digest<D: Digest>(parts: &[&[u8]]) -> Zeroizing<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = D::new();
    for (n, part) in parts.iter().enumerate() {
        if n > 0 {
            Digest::update(&mut hasher, b":");
        }
        Digest::update(&mut hasher, part);
    }
    let output = hasher.finalize();
    let mut hex = Zeroizing::new(String::with_capacity(output.len() * 2));
    for byte in output.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

/// `(hash, sess)` for an `algorithm` parameter; absent means MD5 (RFC 7616 §3.3).
fn parse_algorithm(name: Option<&str>) -> Result<(DigestHash, bool), AuthRejection> {
    let Some(name) = name else {
        return Ok((DigestHash::Md5, false));
    };
    [
        ("MD5", DigestHash::Md5, false),
        ("MD5-sess", DigestHash::Md5, true),
        ("SHA-256", DigestHash::Sha256, false),
        ("SHA-256-sess", DigestHash::Sha256, true),
    ]
    .into_iter()
    .find(|(known, _, _)| name.eq_ignore_ascii_case(known))
    .map(|(_, hash, sess)| (hash, sess))
    .ok_or(AuthRejection::UnsupportedAlgorithm)
}

/// Everything a Digest `response` is computed from.
struct DigestInput<'a> {
    hash: DigestHash,
    sess: bool,
    username: &'a str,
    realm: &'a str,
    password: &'a str,
    method: &'a str,
    uri: &'a str,
    nonce: &'a str,
    nc: &'a str,
    cnonce: &'a str,
    qop: &'a str,
}

/// The Digest `response` for `qop=auth` (RFC 7616 §3.4.1), lowercase hex:
///
/// ```text
/// A1       = username ":" realm ":" password          (then for -sess:
///            H(A1) ":" nonce ":" cnonce)
/// A2       = method ":" uri
/// response = H(H(A1) ":" nonce ":" nc ":" cnonce ":" qop ":" H(A2))
/// ```
fn digest_response(input: &DigestInput<'_>) -> Zeroizing<String> {
    let h = |parts: &[&[u8]]| input.hash.hex(parts);
    let mut ha1 = h(&[
        input.username.as_bytes(),
        input.realm.as_bytes(),
        input.password.as_bytes(),
    ]);
    if input.sess {
        ha1 = h(&[
            ha1.as_bytes(),
            input.nonce.as_bytes(),
            input.cnonce.as_bytes(),
        ]);
    }
    let ha2 = h(&[input.method.as_bytes(), input.uri.as_bytes()]);
    h(&[
        ha1.as_bytes(),
        input.nonce.as_bytes(),
        input.nc.as_bytes(),
        input.cnonce.as_bytes(),
        input.qop.as_bytes(),
        ha2.as_bytes(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const USER: &str = "twilio";
    const PASSWORD: &str = "fake-password-1";

    fn make_config(scheme: AuthScheme) -> AuthConfig {
        let layer = HttpAuthLayer::new(Credentials::new(USER, PASSWORD).unwrap(), scheme)
            .realm("test realm")
            .unwrap()
            .nonce_key([42; 32]);
        Arc::try_unwrap(layer.config).unwrap()
    }

    fn parts(method: &str, uri: &str, authorization: Option<&[u8]>) -> Parts {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        }
        builder.body(()).unwrap().into_parts().0
    }

    /// A Digest client answering a challenge; each field can be spoiled by a test.
    #[derive(Clone)]
    struct Client {
        hash: DigestHash,
        sess: bool,
        algorithm: Option<&'static str>,
        username: String,
        password: String,
        realm: String,
        method: &'static str,
        uri: String,
        nonce: String,
        nc: &'static str,
        cnonce: &'static str,
        qop: &'static str,
    }

    impl Client {
        fn new(config: &AuthConfig, issued: u64) -> Self {
            Self {
                hash: DigestHash::Sha256,
                sess: false,
                algorithm: Some("SHA-256"),
                username: USER.to_owned(),
                password: PASSWORD.to_owned(),
                realm: config.realm.clone(),
                method: "POST",
                uri: "/voice?x=1".to_owned(),
                nonce: config.make_nonce(issued),
                nc: "00000001",
                cnonce: "0a4f113b",
                qop: "auth",
            }
        }

        fn header(&self) -> String {
            let response = digest_response(&DigestInput {
                hash: self.hash,
                sess: self.sess,
                username: &self.username,
                realm: &self.realm,
                password: &self.password,
                method: self.method,
                uri: &self.uri,
                nonce: &self.nonce,
                nc: self.nc,
                cnonce: self.cnonce,
                qop: self.qop,
            });
            let algorithm = self
                .algorithm
                .map_or(String::new(), |a| format!(", algorithm={a}"));
            format!(
                "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\"{algorithm}, \
                 qop={}, nc={}, cnonce=\"{}\", response=\"{}\"",
                self.username,
                self.realm,
                self.nonce,
                self.uri,
                self.qop,
                self.nc,
                self.cnonce,
                response.as_str()
            )
        }

        /// Sends the answer to `config`, at `now`, for the request `self.method self.uri`.
        fn send(&self, config: &AuthConfig, now: u64) -> Result<(), AuthRejection> {
            let header = self.header();
            config.authenticate(
                &parts(self.method, "/voice?x=1", Some(header.as_bytes())),
                now,
            )
        }
    }

    fn rfc_input(hash: DigestHash) -> DigestInput<'static> {
        DigestInput {
            hash,
            sess: false,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            qop: "auth",
        }
    }

    #[test]
    fn rfc_7616_worked_example() {
        // RFC 7616 §3.9.1.
        assert_eq!(
            digest_response(&rfc_input(DigestHash::Md5)).as_str(),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        assert_eq!(
            digest_response(&rfc_input(DigestHash::Sha256)).as_str(),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn sess_variant_hashes_nonce_and_cnonce_into_a1() {
        let plain = rfc_input(DigestHash::Md5);
        let sess = DigestInput {
            sess: true,
            ..plain
        };
        let ha1 = DigestHash::Md5.hex(&[b"Mufasa", b"http-auth@example.org", b"Circle of Life"]);
        let ha1_sess = DigestHash::Md5.hex(&[
            ha1.as_bytes(),
            sess.nonce.as_bytes(),
            sess.cnonce.as_bytes(),
        ]);
        let ha2 = DigestHash::Md5.hex(&[b"GET", b"/dir/index.html"]);
        let expected = DigestHash::Md5.hex(&[
            ha1_sess.as_bytes(),
            sess.nonce.as_bytes(),
            b"00000001",
            sess.cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]);
        assert_eq!(digest_response(&sess).as_str(), expected.as_str());
        assert_ne!(
            digest_response(&sess).as_str(),
            digest_response(&plain).as_str()
        );
    }

    #[test]
    fn digest_right_credentials_pass_with_every_algorithm() {
        let config = make_config(AuthScheme::Digest);
        for (algorithm, hash, sess) in [
            (Some("SHA-256"), DigestHash::Sha256, false),
            (Some("sha-256"), DigestHash::Sha256, false),
            (Some("SHA-256-sess"), DigestHash::Sha256, true),
            (Some("MD5"), DigestHash::Md5, false),
            (Some("MD5-sess"), DigestHash::Md5, true),
            (None, DigestHash::Md5, false),
        ] {
            let client = Client {
                algorithm,
                hash,
                sess,
                ..Client::new(&config, NOW)
            };
            assert_eq!(client.send(&config, NOW + 10), Ok(()), "{algorithm:?}");
        }
    }

    #[test]
    fn digest_failures() {
        let config = make_config(AuthScheme::Digest);
        let good = Client::new(&config, NOW);
        let other_key = config.clone();
        let other_key = AuthConfig {
            nonce_key: nonce_mac(&[43; 32]),
            ..other_key
        };
        let mut tampered = URL_SAFE_NO_PAD.decode(&good.nonce).unwrap();
        tampered[7] ^= 1; // the timestamp, one second off
        let cases: Vec<(&str, Client, AuthRejection)> = vec![
            (
                "wrong password",
                Client {
                    password: "fake-password-2".into(),
                    ..good.clone()
                },
                AuthRejection::WrongCredentials,
            ),
            (
                "wrong username",
                Client {
                    username: "twilio2".into(),
                    ..good.clone()
                },
                AuthRejection::WrongCredentials,
            ),
            (
                "wrong realm",
                Client {
                    realm: "other realm".into(),
                    ..good.clone()
                },
                AuthRejection::RealmMismatch,
            ),
            (
                "wrong uri",
                Client {
                    uri: "/other".into(),
                    ..good.clone()
                },
                AuthRejection::UriMismatch,
            ),
            (
                "uri without the query",
                Client {
                    uri: "/voice".into(),
                    ..good.clone()
                },
                AuthRejection::UriMismatch,
            ),
            (
                "response computed for another method",
                Client {
                    method: "GET",
                    ..good.clone()
                },
                // The request below is a POST.
                AuthRejection::WrongCredentials,
            ),
            (
                "nonce from another key",
                Client {
                    nonce: other_key.make_nonce(NOW),
                    ..good.clone()
                },
                AuthRejection::InvalidNonce,
            ),
            (
                "nonce with a changed timestamp",
                Client {
                    nonce: URL_SAFE_NO_PAD.encode(&tampered),
                    ..good.clone()
                },
                AuthRejection::InvalidNonce,
            ),
            (
                "nonce of the RFC example",
                Client {
                    nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
                    ..good.clone()
                },
                AuthRejection::InvalidNonce,
            ),
            (
                "unsupported algorithm",
                Client {
                    algorithm: Some("SHA-512-256"),
                    ..good.clone()
                },
                AuthRejection::UnsupportedAlgorithm,
            ),
            (
                "auth-int",
                Client {
                    qop: "auth-int",
                    ..good.clone()
                },
                AuthRejection::UnsupportedQop,
            ),
            (
                "nc not 8 hex digits",
                Client {
                    nc: "1",
                    ..good.clone()
                },
                AuthRejection::Malformed,
            ),
            (
                "empty cnonce",
                Client {
                    cnonce: "",
                    ..good.clone()
                },
                AuthRejection::Malformed,
            ),
        ];
        for (name, client, expected) in cases {
            let header = client.header();
            let request = parts("POST", "/voice?x=1", Some(header.as_bytes()));
            assert_eq!(
                config.authenticate(&request, NOW + 1),
                Err(expected),
                "{name}"
            );
        }
        // The good client passes, so each case above failed for its own reason.
        assert_eq!(good.send(&config, NOW + 1), Ok(()));
    }

    #[test]
    fn nonce_expiry_is_stale_only_with_right_credentials() {
        let config = make_config(AuthScheme::Digest);
        let lifetime = DEFAULT_NONCE_LIFETIME.as_secs();
        let old = Client::new(&config, NOW - lifetime);
        assert_eq!(old.send(&config, NOW), Ok(()), "exactly the lifetime");
        let expired = Client::new(&config, NOW - lifetime - 1);
        assert_eq!(expired.send(&config, NOW), Err(AuthRejection::StaleNonce));
        let future = Client::new(&config, NOW + lifetime + 1);
        assert_eq!(future.send(&config, NOW), Err(AuthRejection::StaleNonce));
        let wrong = Client {
            password: "nope".into(),
            ..expired
        };
        assert_eq!(
            wrong.send(&config, NOW),
            Err(AuthRejection::WrongCredentials)
        );

        let short = HttpAuthLayer {
            config: Arc::new(config.clone()),
        }
        .nonce_lifetime(Duration::from_secs(10));
        let short = &short.config;
        let client = Client::new(short, NOW);
        assert_eq!(client.send(short, NOW + 10), Ok(()));
        assert_eq!(client.send(short, NOW + 11), Err(AuthRejection::StaleNonce));
    }

    #[test]
    fn stale_rejection_says_stale_in_every_digest_challenge() {
        let config = make_config(AuthScheme::BasicAndDigest);
        let response: Response<String> = config.unauthorized(AuthRejection::StaleNonce, NOW);
        let challenges: Vec<_> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(challenges.len(), 3);
        assert!(challenges[0].ends_with(", stale=true"), "{}", challenges[0]);
        assert!(challenges[1].ends_with(", stale=true"), "{}", challenges[1]);
        assert!(!challenges[2].contains("stale"), "{}", challenges[2]);
        // The new nonce is fresh.
        let nonce = challenges[0]
            .split("nonce=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert_eq!(config.nonce_issued_at(nonce), Ok(NOW));
    }

    #[test]
    fn challenges_in_order_of_preference() {
        let challenges = |scheme| -> Vec<String> {
            make_config(scheme)
                .challenges(NOW, false)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect()
        };
        let nonce = make_config(AuthScheme::Digest).make_nonce(NOW);
        assert_eq!(nonce.len(), NONCE_B64_LEN);
        assert_eq!(
            challenges(AuthScheme::BasicAndDigest),
            [
                format!(
                    "Digest realm=\"test realm\", qop=\"auth\", algorithm=SHA-256, nonce=\"{nonce}\""
                ),
                format!(
                    "Digest realm=\"test realm\", qop=\"auth\", algorithm=MD5, nonce=\"{nonce}\""
                ),
                "Basic realm=\"test realm\", charset=\"UTF-8\"".to_owned(),
            ]
        );
        assert_eq!(challenges(AuthScheme::Digest).len(), 2);
        assert_eq!(
            challenges(AuthScheme::Basic),
            ["Basic realm=\"test realm\", charset=\"UTF-8\""]
        );
    }

    #[test]
    fn nonce_is_bound_to_the_realm() {
        let config = make_config(AuthScheme::Digest);
        let mut other = config.clone();
        other.realm = "other realm".into();
        assert_eq!(
            other.nonce_issued_at(&config.make_nonce(NOW)),
            Err(AuthRejection::InvalidNonce)
        );
        assert_eq!(config.nonce_issued_at(&config.make_nonce(NOW)), Ok(NOW));
    }

    fn basic(user_password: &[u8]) -> Vec<u8> {
        let mut header = b"Basic ".to_vec();
        header.extend_from_slice(BASE64.encode(user_password).as_bytes());
        header
    }

    #[test]
    fn basic_credentials() {
        let config = make_config(AuthScheme::Basic);
        let check = |header: &[u8]| config.authenticate(&parts("GET", "/", Some(header)), NOW);
        assert_eq!(check(&basic(b"twilio:fake-password-1")), Ok(()));
        let unpadded = format!("Basic {}", BASE64.encode("twilio:fake-password-1"));
        assert_eq!(check(unpadded.trim_end_matches('=').as_bytes()), Ok(()));
        let lowercase = basic(b"twilio:fake-password-1").to_ascii_lowercase();
        assert_eq!(check(&lowercase), Err(AuthRejection::Malformed)); // base64 lowercased
        let mut lowercase_scheme = b"basic ".to_vec();
        lowercase_scheme.extend_from_slice(&basic(b"twilio:fake-password-1")[6..]);
        assert_eq!(check(&lowercase_scheme), Ok(()));
        for wrong in [
            &b"twilio:fake-password-2"[..],
            b"twilio:fake-password-1 ",
            b"twilio:",
            b"twilio2:fake-password-1",
            b":fake-password-1",
            b"twilio:fake-password-1:",
            b"\xff:\xfe",
        ] {
            assert_eq!(
                check(&basic(wrong)),
                Err(AuthRejection::WrongCredentials),
                "{}",
                String::from_utf8_lossy(wrong)
            );
        }
        let digest = Client::new(&config, NOW).header();
        assert_eq!(
            check(digest.as_bytes()),
            Err(AuthRejection::SchemeNotOffered)
        );
        assert_eq!(
            make_config(AuthScheme::Digest).authenticate(
                &parts("GET", "/", Some(&basic(b"twilio:fake-password-1"))),
                NOW
            ),
            Err(AuthRejection::SchemeNotOffered)
        );
    }

    #[test]
    fn hostile_headers_are_refused_without_panicking() {
        let config = make_config(AuthScheme::BasicAndDigest);
        let good = Client::new(&config, NOW);
        let nonce = good.nonce.clone();
        let long = "a".repeat(100_000);
        let near_limit = format!("Digest username=\"{}\"", "a".repeat(4000));
        let too_many = format!(
            "Digest {}",
            (0..40)
                .map(|n| format!("p{n}=1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let hostile: Vec<(Vec<u8>, AuthRejection)> = {
            use AuthRejection::*;
            let s = |v: &str| v.as_bytes().to_vec();
            vec![
                (s(""), Malformed),
                (s(" "), Malformed),
                (s("Basic"), Malformed),
                (s("Basic "), Malformed),
                (s("Basic !!!"), Malformed),
                (s("Basic dXNlcg=="), Malformed), // "user": no colon
                (s("Basic dXNlcjpwYXNz extra"), Malformed),
                (s("Basic ===="), Malformed),
                (s("Basic dXNlcjpwYXN"), Malformed), // non-canonical trailing bits
                (s("basic dHdpbGlvOm5vcGU="), WrongCredentials),
                (s("Bearer abc"), SchemeNotOffered),
                (s("Negotiate YII="), SchemeNotOffered),
                (s("Dïgest username=x"), Malformed),
                (s("Digest"), Malformed),
                (s("Digest "), Malformed),
                (s("Digest ,,,"), Malformed),
                (s("Digest =x"), Malformed),
                (s("Digest username="), Malformed),
                (s("Digest username"), Malformed),
                (s("Digest username=\"twilio"), Malformed),
                (s("Digest username=\"twilio\\"), Malformed),
                (s("Digest username=\"tw\"ilio\""), Malformed),
                (s("Digest username=tw ilio"), Malformed),
                (s("Digest username=\"a\tb\", realm=x"), UnsupportedQop),
                (s("Digest username=\"\\\"\\\\\", qop=auth"), Malformed),
                (s("Digest qop=auth"), Malformed),
                (
                    s("Digest username=\"twilio\", qop=auth, qop=auth"),
                    Malformed,
                ),
                (
                    s("Digest username=\"twilio\", USERNAME=\"twilio\""),
                    Malformed,
                ),
                (
                    s("Digest username*=UTF-8''twilio, qop=auth"),
                    UnsupportedUsername,
                ),
                (s("Digest userhash=true, qop=auth"), UnsupportedUsername),
                (s(&format!("Digest username=\"{long}\"")), Malformed),
                (s(&near_limit), UnsupportedQop),
                (s(&too_many), Malformed),
                (
                    s(&format!(
                        "Digest username=\"twilio\", realm=\"test realm\", nonce=\"{nonce}\", \
                         uri=\"/voice?x=1\", qop=auth, nc=00000001, cnonce=\"c\", response=\"xyz\""
                    )),
                    Malformed,
                ),
                (
                    s(&format!(
                        "Digest username=\"twilio\", realm=\"test realm\", nonce=\"{nonce}\", \
                         uri=\"/voice?x=1\", qop=auth, nc=00000001, cnonce=\"c\", response=\"{}\"",
                        "0".repeat(32)
                    )),
                    WrongCredentials,
                ),
                (
                    s(&format!(
                        "Digest username=\"twilio\", realm=\"test realm\", nonce=\"{}\", \
                         uri=\"/voice?x=1\", qop=auth, nc=00000001, cnonce=\"c\", response=\"{}\"",
                        "A".repeat(54),
                        "0".repeat(32)
                    )),
                    InvalidNonce,
                ),
                (
                    s(&format!(
                        "Digest username=\"twilio\", realm=\"test realm\", nonce=\"{long}\", \
                         uri=\"/voice?x=1\", qop=auth, nc=00000001, cnonce=\"c\", response=\"{}\"",
                        "0".repeat(32)
                    )),
                    Malformed, // over 4 KiB
                ),
                (
                    s(&format!(
                        "Digest username=\"twilio\", realm=\"test realm\", nonce=\"{}\", \
                         uri=\"/voice?x=1\", qop=auth, nc=00000001, cnonce=\"c\", response=\"{}\"",
                        "%%%",
                        "0".repeat(32)
                    )),
                    InvalidNonce,
                ),
                (b"Basic \xff\xfe".to_vec(), Malformed),
                (b"Digest username=\"\xc3\"".to_vec(), Malformed),
                (b"\x80\x81".to_vec(), Malformed),
            ]
        };
        for (value, expected) in hostile {
            let Ok(header) = HeaderValue::from_bytes(&value) else {
                panic!("test value is not a header value: {value:?}");
            };
            let mut request = parts("POST", "/voice?x=1", None);
            request.headers.insert(AUTHORIZATION, header);
            assert_eq!(
                config.authenticate(&request, NOW),
                Err(expected),
                "{}",
                String::from_utf8_lossy(&value[..value.len().min(80)])
            );
        }
        // Two headers, even if one is right, are ambiguous.
        let mut request = parts("POST", "/voice?x=1", None);
        let right = HeaderValue::from_str(&good.header()).unwrap();
        request.headers.append(AUTHORIZATION, right.clone());
        request.headers.append(AUTHORIZATION, right.clone());
        assert_eq!(
            config.authenticate(&request, NOW),
            Err(AuthRejection::Malformed)
        );
        request.headers.insert(AUTHORIZATION, right);
        assert_eq!(config.authenticate(&request, NOW), Ok(()));
    }

    #[test]
    fn params_parser_unescapes_and_lowercases() {
        let params =
            parse_auth_params("UserName=\"a\\\"b\\\\c é\" , , qop = auth ,nc=00000001,").unwrap();
        assert_eq!(
            params,
            [
                ("username".to_owned(), "a\"b\\c é".to_owned()),
                ("qop".to_owned(), "auth".to_owned()),
                ("nc".to_owned(), "00000001".to_owned()),
            ]
        );
        assert_eq!(
            parse_auth_params("a=\"\""),
            Some(vec![("a".into(), String::new())])
        );
        for bad in [
            "",
            "a",
            "a=",
            "a=\"",
            "a=b c",
            "a=b;c=d",
            "a=\"x\"y",
            "a=\"\x01\"",
        ] {
            assert_eq!(parse_auth_params(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn digest_username_with_quotes_round_trips() {
        let layer = HttpAuthLayer::digest(Credentials::new("a\"b\\c", PASSWORD).unwrap())
            .nonce_key([1; 32]);
        let config = &layer.config;
        let nonce = config.make_nonce(NOW);
        let response = digest_response(&DigestInput {
            hash: DigestHash::Sha256,
            sess: false,
            username: "a\"b\\c",
            realm: DEFAULT_REALM,
            password: PASSWORD,
            method: "GET",
            uri: "/",
            nonce: &nonce,
            nc: "00000001",
            cnonce: "x",
            qop: "auth",
        });
        let header = format!(
            "Digest username=\"a\\\"b\\\\c\", realm=\"{DEFAULT_REALM}\", nonce=\"{nonce}\", uri=\"/\", \
             algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"x\", response=\"{}\"",
            response.as_str()
        );
        assert_eq!(
            config.authenticate(&parts("GET", "/", Some(header.as_bytes())), NOW),
            Ok(())
        );
    }

    #[test]
    fn absolute_form_request_target() {
        let config = make_config(AuthScheme::Digest);
        let client = Client {
            uri: "http://example.com/voice?x=1".into(),
            ..Client::new(&config, NOW)
        };
        let header = client.header();
        let absolute = parts(
            "POST",
            "http://example.com/voice?x=1",
            Some(header.as_bytes()),
        );
        assert_eq!(config.authenticate(&absolute, NOW), Ok(()));
        let origin = parts("POST", "/voice?x=1", Some(header.as_bytes()));
        assert_eq!(
            config.authenticate(&origin, NOW),
            Err(AuthRejection::UriMismatch)
        );
    }

    #[test]
    fn credentials_are_checked_and_redacted() {
        for (user, password) in [
            ("", "SECRET_1"),
            ("u", ""),
            ("u:v", "SECRET_2"),
            ("u", "SECRET_3:q"),
            ("u&v", "SECRET_4"),
            ("u", "SECRET_5&q"),
            ("u", "SECRET_6\n"),
            (" u", "SECRET_7"),
            ("u", "SECRET_8\0q"),
        ] {
            let err = Credentials::new(user, password).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
            assert!(!err.to_string().contains("SECRET"), "{err}");
        }
        let err = Credentials::parse("SECRET_MARKER").unwrap_err();
        assert!(!err.to_string().contains("SECRET_MARKER"), "{err}");
        let credentials: Credentials = "user:SECRET_MARKER".parse().unwrap();
        assert_eq!(credentials.username(), "user");
        assert_eq!(&*credentials.password, "SECRET_MARKER");
        for shown in [
            format!("{credentials}"),
            format!("{credentials:?}"),
            format!("{:?}", HttpAuthLayer::basic(credentials.clone())),
        ] {
            assert!(!shown.contains("SECRET_MARKER"), "{shown}");
            assert!(shown.contains("user"), "{shown}");
        }
    }

    #[test]
    fn userinfo_is_percent_encoded() {
        let credentials = Credentials::new("ü@x", "a b%/?#[]!$'()*+,;=-._~").unwrap();
        assert_eq!(
            credentials.userinfo(),
            "%C3%BC%40x:a%20b%25%2F%3F%23%5B%5D!$'()*+,;=-._~"
        );
        assert_eq!(
            Credentials::parse("twilio:Secret123").unwrap().userinfo(),
            "twilio:Secret123"
        );
    }
}
