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
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::error::ConfigError;

mod basic;
mod digest;
mod layer;
mod nonce;
mod params;

pub use self::layer::{HttpAuth, HttpAuthLayer, ResponseFuture};

/// The realm used when none is configured.
pub const DEFAULT_REALM: &str = "Twilio webhook";

/// How long a Digest nonce is accepted when no lifetime is configured: 5 minutes.
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(5 * 60);

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
        let username = utf8_percent_encode(&self.username, USERINFO);
        let password = utf8_percent_encode(&self.password, USERINFO);
        format!("{username}:{password}")
    }

    /// Whether `username` is this username, compared in constant time.
    fn username_matches(&self, username: &[u8]) -> Choice {
        hashed_eq(username, self.username.as_bytes())
    }

    /// Whether `password` is this password, compared in constant time.
    fn password_matches(&self, password: &[u8]) -> Choice {
        hashed_eq(password, self.password.as_bytes())
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

/// What a URL's userinfo must percent-encode: all but unreserved characters and sub-delims
/// (RFC 3986 §3.2.1), and `&`, which Twilio does not allow anyway.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

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
    /// HTTP Digest with SHA-256 only: no MD5 challenge, and MD5 responses are refused, so a
    /// man in the middle cannot downgrade the exchange to MD5 or Basic. Whether Twilio
    /// answers SHA-256 challenges is not documented: try it with your account first.
    DigestSha256,
}

impl AuthScheme {
    pub(crate) fn offers_basic(self) -> bool {
        matches!(self, Self::Basic | Self::BasicAndDigest)
    }

    fn offers_digest(self) -> bool {
        matches!(
            self,
            Self::Digest | Self::BasicAndDigest | Self::DigestSha256
        )
    }

    fn offers_md5(self) -> bool {
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

/// Compares the SHA-256 hashes of `a` and `b` in constant time, so neither their contents
/// nor their lengths show in the timing.
fn hashed_eq(a: &[u8], b: &[u8]) -> Choice {
    Sha256::digest(a)
        .as_slice()
        .ct_eq(Sha256::digest(b).as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

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
