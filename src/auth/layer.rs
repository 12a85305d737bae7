//! [`HttpAuthLayer`], its service [`HttpAuth`] and [`ResponseFuture`]: read the
//! `Authorization` header, hand it to the Basic or Digest check, answer `401` and log when
//! it fails.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use zeroize::Zeroizing;

use super::nonce::Nonces;
use super::params::is_tchar;
use super::{basic, digest};
use super::{AuthRejection, AuthScheme, Credentials, DEFAULT_NONCE_LIFETIME, DEFAULT_REALM};
use crate::error::ConfigError;

/// The longest `Authorization` header read; a longer one is refused unparsed.
const MAX_AUTHORIZATION_LEN: usize = 4096;

/// Layer that requires HTTP Basic or Digest authentication before the inner service runs.
///
/// Made from [`Credentials`] and the [scheme(s)](AuthScheme) to offer; the realm, nonce
/// lifetime and nonce key have defaults. See the [module docs](crate::auth) for what is
/// checked.
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
                nonces: Nonces::new(&key, DEFAULT_NONCE_LIFETIME),
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

    /// HTTP Digest with SHA-256 only: [`new`](Self::new) with [`AuthScheme::DigestSha256`].
    ///
    /// ```
    /// use tower_twilio::auth::{Credentials, HttpAuthLayer};
    /// let layer = HttpAuthLayer::digest_sha256_only(Credentials::new("twilio", "fake-password")?);
    /// # let _ = layer;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn digest_sha256_only(credentials: Credentials) -> Self {
        Self::new(credentials, AuthScheme::DigestSha256)
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
        Arc::make_mut(&mut self.config)
            .nonces
            .set_lifetime(lifetime);
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
        Arc::make_mut(&mut self.config).nonces.set_key(&key);
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

/// The layer's configuration, checked when it was built.
#[derive(Clone)]
struct AuthConfig {
    credentials: Credentials,
    scheme: AuthScheme,
    realm: String,
    nonces: Nonces,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("credentials", &self.credentials)
            .field("scheme", &self.scheme)
            .field("realm", &self.realm)
            .field("nonce_lifetime", &self.nonces.lifetime())
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
            basic::check(rest, &self.credentials)
        } else if scheme.eq_ignore_ascii_case("Digest") && self.scheme.offers_digest() {
            digest::check(
                parts,
                rest,
                &self.credentials,
                &self.realm,
                &self.nonces,
                now,
                self.scheme.offers_md5(),
            )
        } else {
            Err(AuthRejection::SchemeNotOffered)
        }
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
            let nonce = self.nonces.make(&self.realm, now);
            challenges.extend(digest::challenges(
                &self.realm,
                &nonce,
                stale,
                self.scheme.offers_md5(),
            ));
        }
        if self.scheme.offers_basic() {
            challenges.extend(basic::challenge(&self.realm));
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

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    use super::*;
    use crate::auth::digest::tests::Client;
    use crate::auth::nonce::NONCE_B64_LEN;

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

    /// A Digest client's right answer, for `config`, with a nonce issued at `issued`.
    fn digest_client(config: &AuthConfig, issued: u64) -> Client {
        Client::new(&config.realm, &config.nonces, issued)
    }

    fn basic(user_password: &[u8]) -> Vec<u8> {
        let mut header = b"Basic ".to_vec();
        header.extend_from_slice(STANDARD.encode(user_password).as_bytes());
        header
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
        assert_eq!(config.nonces.issued_at(&config.realm, nonce), Ok(NOW));
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
        let config = make_config(AuthScheme::Digest);
        let nonce = config.nonces.make(&config.realm, NOW);
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
    fn scheme_is_case_insensitive_and_must_be_offered() {
        let config = make_config(AuthScheme::Basic);
        let check = |header: &[u8]| config.authenticate(&parts("GET", "/", Some(header)), NOW);
        let lowercase = basic(b"twilio:fake-password-1").to_ascii_lowercase();
        assert_eq!(check(&lowercase), Err(AuthRejection::Malformed)); // base64 lowercased
        let mut lowercase_scheme = b"basic ".to_vec();
        lowercase_scheme.extend_from_slice(&basic(b"twilio:fake-password-1")[6..]);
        assert_eq!(check(&lowercase_scheme), Ok(()));
        let digest = digest_client(&config, NOW).header();
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
        let good = digest_client(&config, NOW);
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
}
