//! The secrets requests are verified against: Auth Tokens and shared keys.
//!
//! Twilio signs with the account's Auth Token (HMAC-SHA1), or, for webhooks configured with
//! the Webhooks API, with a shared key named in `X-Twilio-Webhooks-Signature-Settings`. A
//! [`Keyring`] holds both kinds. Secrets are prepared once ([`SigningKey`]), zeroized on
//! drop, and never shown: `Debug` prints key ids only.
//!
//! ```
//! use tower_twilio::Keyring;
//! let keyring = Keyring::new()
//!     .with_auth_token("primary", "fake_primary_token")?
//!     .with_auth_token("secondary", "fake_secondary_token")?
//!     .with_shared_key("webhooks_sharedkey_01ab", "fake_shared_secret")?;
//! assert_eq!(
//!     format!("{keyring:?}"),
//!     r#"Keyring { auth_tokens: ["primary", "secondary"], shared_keys: ["webhooks_sharedkey_01ab"] }"#,
//! );
//! # Ok::<_, tower_twilio::ConfigError>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use zeroize::Zeroizing;

use crate::error::ConfigError;
use crate::signature::{Algorithm, SigningKey};

/// Environment variable holding the primary Auth Token.
pub const AUTH_TOKEN_ENV: &str = "TWILIO_AUTH_TOKEN";
/// Environment variable holding an optional second Auth Token (during rotation).
pub const SECONDARY_AUTH_TOKEN_ENV: &str = "TWILIO_SECONDARY_AUTH_TOKEN";
/// Environment variable holding optional shared keys, `id=secret` separated by commas.
pub const SHARED_KEYS_ENV: &str = "TWILIO_WEBHOOK_SHARED_KEYS";

/// The name of a key: `primary`, `secondary`, a label of yours, or a shared key's id.
///
/// Not secret: it is logged and put in the [verified marker](crate::VerifiedWebhook).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyId(Arc<str>);

impl KeyId {
    pub(crate) fn verification_skipped() -> Self {
        Self("verification-skipped".into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for KeyId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for KeyId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

/// Which kind of secret a key is. The two are never tried in each other's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// An account's Auth Token: legacy signatures, always HMAC-SHA1.
    AuthToken,
    /// A shared key of the Webhooks API, named by the settings header.
    SharedKey,
    /// No key: verification is switched off for local development
    /// ([`TwilioWebhookLayer::dangerously_skip_verification`](crate::TwilioWebhookLayer::dangerously_skip_verification)).
    VerificationSkipped,
}

/// One named, prepared secret.
#[derive(Clone, Debug)]
pub(crate) struct Key {
    pub(crate) id: KeyId,
    pub(crate) signing: SigningKey,
}

impl Key {
    fn new(id: &str, secret: &str) -> Result<Self, ConfigError> {
        if secret.is_empty() {
            return Err(ConfigError::EmptySecret { key: id.to_owned() });
        }
        if secret.trim() != secret {
            return Err(ConfigError::SecretWhitespace { key: id.to_owned() });
        }
        if id.is_empty() || id.contains(|c: char| c == ',' || c == '=' || c.is_whitespace()) {
            return Err(ConfigError::InvalidKeyId { key: id.to_owned() });
        }
        Ok(Self {
            id: KeyId(id.into()),
            signing: SigningKey::new(secret.as_bytes()),
        })
    }
}

/// The secrets a [layer](crate::TwilioWebhookLayer) verifies against.
///
/// * Auth Tokens, tried in the order added (during rotation: primary and secondary). A
///   request without a settings header must match one of them with HMAC-SHA1.
/// * Shared keys, looked up by the id in `X-Twilio-Webhooks-Signature-Settings`; a request
///   with that header is verified with that key and that algorithm only.
///
/// ```
/// use tower_twilio::{Keyring, TwilioWebhookLayer};
/// // Rotating the Auth Token: the new one first, the old one until Twilio stops using it.
/// let keyring = Keyring::new()
///     .with_auth_token("new", "fake_new_token")?
///     .with_auth_token("old", "fake_old_token")?;
/// let layer = TwilioWebhookLayer::with_keyring(keyring);
/// # let _ = layer;
/// # Ok::<_, tower_twilio::ConfigError>(())
/// ```
#[derive(Clone, Default)]
pub struct Keyring {
    auth_tokens: Vec<Key>,
    shared_keys: Vec<Key>,
}

impl Keyring {
    /// An empty keyring; add keys with the `with_*` methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// A keyring with one Auth Token, named `primary`.
    ///
    /// ```
    /// # use tower_twilio::{ConfigError, Keyring};
    /// assert!(Keyring::auth_token("fake_token").is_ok());
    /// assert!(matches!(Keyring::auth_token(""), Err(ConfigError::EmptySecret { .. })));
    /// assert!(matches!(Keyring::auth_token("tok\n"), Err(ConfigError::SecretWhitespace { .. })));
    /// ```
    pub fn auth_token(token: impl AsRef<str>) -> Result<Self, ConfigError> {
        Self::new().with_auth_token("primary", token)
    }

    /// Adds an Auth Token under the id `id`. Tokens are tried in the order added.
    pub fn with_auth_token(
        mut self,
        id: impl AsRef<str>,
        token: impl AsRef<str>,
    ) -> Result<Self, ConfigError> {
        let key = Key::new(id.as_ref(), token.as_ref())?;
        if self.auth_tokens.iter().any(|k| k.id == key.id) {
            return Err(ConfigError::DuplicateKeyId {
                key: id.as_ref().to_owned(),
            });
        }
        self.auth_tokens.push(key);
        Ok(self)
    }

    /// Adds a shared key (the Webhooks API's `sharedKeyId` and its signing secret).
    pub fn with_shared_key(
        mut self,
        id: impl AsRef<str>,
        secret: impl AsRef<str>,
    ) -> Result<Self, ConfigError> {
        let key = Key::new(id.as_ref(), secret.as_ref())?;
        if self.shared_keys.iter().any(|k| k.id == key.id) {
            return Err(ConfigError::DuplicateKeyId {
                key: id.as_ref().to_owned(),
            });
        }
        self.shared_keys.push(key);
        Ok(self)
    }

    /// Reads the keyring from the environment.
    ///
    /// | variable | |
    /// |---|---|
    /// | `TWILIO_AUTH_TOKEN` | required; key id `primary` |
    /// | `TWILIO_SECONDARY_AUTH_TOKEN` | optional; key id `secondary` |
    /// | `TWILIO_WEBHOOK_SHARED_KEYS` | optional; `id=secret,id=secret` |
    ///
    /// A variable that is set must be well-formed: empty or malformed values are errors
    /// that name the variable (never its value).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(std::env::var_os)
    }

    /// [`from_env`](Self::from_env) with a lookup of your own (a config file, a test).
    pub fn from_lookup<F>(lookup: F) -> Result<Self, ConfigError>
    where
        F: Fn(&'static str) -> Option<std::ffi::OsString>,
    {
        let read = |var: &'static str| -> Result<Option<Zeroizing<String>>, ConfigError> {
            match lookup(var) {
                None => Ok(None),
                Some(value) => match value.into_string() {
                    Ok(value) if value.is_empty() => Err(ConfigError::env(var, "set but empty")),
                    Ok(value) => Ok(Some(Zeroizing::new(value))),
                    Err(_) => Err(ConfigError::env(var, "not valid UTF-8")),
                },
            }
        };
        let primary = read(AUTH_TOKEN_ENV)?.ok_or(ConfigError::MissingEnvVar {
            var: AUTH_TOKEN_ENV,
        })?;
        let in_var =
            |var: &'static str| move |err: ConfigError| ConfigError::env(var, err.to_string());
        let mut keyring = Self::new()
            .with_auth_token("primary", primary.as_str())
            .map_err(in_var(AUTH_TOKEN_ENV))?;
        if let Some(secondary) = read(SECONDARY_AUTH_TOKEN_ENV)? {
            keyring = keyring
                .with_auth_token("secondary", secondary.as_str())
                .map_err(in_var(SECONDARY_AUTH_TOKEN_ENV))?;
        }
        if let Some(list) = read(SHARED_KEYS_ENV)? {
            for (n, entry) in list.split(',').map(str::trim).enumerate() {
                let Some((id, secret)) = entry.split_once('=') else {
                    return Err(ConfigError::env(
                        SHARED_KEYS_ENV,
                        format!("entry {} is not of the form id=secret", n + 1),
                    ));
                };
                keyring = keyring
                    .with_shared_key(id.trim(), secret)
                    .map_err(in_var(SHARED_KEYS_ENV))?;
            }
        }
        Ok(keyring)
    }

    /// Whether the keyring holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.auth_tokens.is_empty() && self.shared_keys.is_empty()
    }

    /// Every key's id and kind (never a secret).
    pub fn key_ids(&self) -> impl Iterator<Item = (&KeyId, KeyKind)> {
        let tokens = self.auth_tokens.iter().map(|k| (&k.id, KeyKind::AuthToken));
        let shared = self.shared_keys.iter().map(|k| (&k.id, KeyKind::SharedKey));
        tokens.chain(shared)
    }

    /// The keys to try for a request with settings header `settings` (if any).
    pub(crate) fn select(&self, settings: Option<&str>) -> Result<Selection<'_>, SettingsError> {
        match SignatureSettings::parse(settings.unwrap_or(""))? {
            None => Ok(Selection {
                keys: &self.auth_tokens,
                kind: KeyKind::AuthToken,
                algorithm: Algorithm::HmacSha1,
            }),
            Some(settings) => {
                let key = self
                    .shared_keys
                    .iter()
                    .position(|k| k.id == settings.key)
                    .ok_or(SettingsError::UnknownKey)?;
                Ok(Selection {
                    keys: &self.shared_keys[key..=key],
                    kind: KeyKind::SharedKey,
                    algorithm: settings.algorithm,
                })
            }
        }
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = |keys: &[Key]| keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>();
        f.debug_struct("Keyring")
            .field("auth_tokens", &ids(&self.auth_tokens))
            .field("shared_keys", &ids(&self.shared_keys))
            .finish()
    }
}

/// The keys one request may be verified with, and how.
#[derive(Debug)]
pub(crate) struct Selection<'a> {
    pub(crate) keys: &'a [Key],
    pub(crate) kind: KeyKind,
    pub(crate) algorithm: Algorithm,
}

/// The parsed `X-Twilio-Webhooks-Signature-Settings` header.
///
/// ```
/// use tower_twilio::keys::SignatureSettings;
/// use tower_twilio::signature::Algorithm;
/// let settings = SignatureSettings::parse("key=webhooks_sharedkey_01ab,algorithm=HMAC_SHA256")
///     .unwrap()
///     .unwrap();
/// assert_eq!(settings.key, "webhooks_sharedkey_01ab");
/// assert_eq!(settings.algorithm, Algorithm::HmacSha256);
/// // No header, or an empty one: a legacy Auth Token signature.
/// assert_eq!(SignatureSettings::parse(""), Ok(None));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureSettings<'a> {
    /// The shared key's id.
    pub key: &'a str,
    /// The algorithm it signed with; `HMAC_SHA1` when the header names none.
    pub algorithm: Algorithm,
}

impl<'a> SignatureSettings<'a> {
    /// Parses a header value: comma-separated `name=value` items. `key` is required,
    /// `algorithm` defaults to HMAC-SHA1, other items are ignored (forward compatibility).
    /// An empty (or all-blank) value is `Ok(None)`.
    pub fn parse(value: &'a str) -> Result<Option<Self>, SettingsError> {
        if value.trim().is_empty() {
            return Ok(None);
        }
        let mut key = None;
        let mut algorithm = None;
        for item in value.split(',') {
            let (name, val) = item.split_once('=').ok_or(SettingsError::Malformed)?;
            let (name, val) = (name.trim(), val.trim());
            let slot_is_full = match name {
                "key" => key.replace(val).is_some(),
                "algorithm" => algorithm.replace(val).is_some(),
                _ => false,
            };
            if slot_is_full {
                return Err(SettingsError::Malformed);
            }
        }
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or(SettingsError::Malformed)?;
        let algorithm = match algorithm {
            None => Algorithm::HmacSha1,
            Some(name) => Algorithm::from_name(name).ok_or(SettingsError::UnsupportedAlgorithm)?,
        };
        Ok(Some(Self { key, algorithm }))
    }
}

/// Why the settings header could not be used.
///
/// ```
/// use tower_twilio::keys::{SettingsError, SignatureSettings};
/// assert_eq!(SignatureSettings::parse("algorithm=HMAC_SHA256"), Err(SettingsError::Malformed));
/// assert_eq!(
///     SignatureSettings::parse("key=k1,algorithm=HMAC_MD5"),
///     Err(SettingsError::UnsupportedAlgorithm)
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsError {
    /// Not a list of `name=value` items with one non-empty `key`.
    Malformed,
    /// `algorithm` names something other than `HMAC_SHA1` or `HMAC_SHA256`.
    UnsupportedAlgorithm,
    /// No shared key with that id is configured.
    UnknownKey,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "signature settings header is malformed",
            Self::UnsupportedAlgorithm => {
                "signature settings header names an unsupported algorithm"
            }
            Self::UnknownKey => "signature settings header names an unknown shared key",
        })
    }
}

impl std::error::Error for SettingsError {}

/// What a [`KeyResolver`] gets to choose the keys for one request.
///
/// Nothing here is verified yet: an attacker chooses every value. Look the account up, and
/// answer [`KeyLookupError::UnknownAccount`] for one you do not know.
#[derive(Clone, Debug)]
pub struct AccountLookup {
    pub(crate) account_sid: Option<String>,
    pub(crate) home_region: Option<String>,
    pub(crate) url: String,
    pub(crate) body: Bytes,
}

impl AccountLookup {
    /// The `AccountSid` form field (or query parameter, for GET webhooks). JSON webhooks may
    /// not carry it where a form does: see [`body`](Self::body).
    pub fn account_sid(&self) -> Option<&str> {
        self.account_sid.as_deref()
    }

    /// The `X-Home-Region` header: Twilio Regions have their own Auth Tokens.
    pub fn home_region(&self) -> Option<&str> {
        self.home_region.as_deref()
    }

    /// The public URL as rebuilt for this request (before variants), e.g. to pick a tenant
    /// by host or path.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The raw body, for webhooks (e.g. JSON) that name the account elsewhere.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// Why a [`KeyResolver`] returned no keys.
///
/// ```
/// use tower_twilio::keys::KeyLookupError;
/// // The database is down: answered 503, so Twilio retries; never a 403.
/// let err = KeyLookupError::unavailable("connection refused");
/// assert_eq!(err.to_string(), "key lookup failed: connection refused");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyLookupError {
    /// No such account (or none given): the request is refused with 403, like a bad
    /// signature.
    UnknownAccount,
    /// The lookup itself failed (the database is down). The request is answered 503 so
    /// Twilio retries it, and the error is logged at `error` level: make sure its message
    /// holds no secret.
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

impl KeyLookupError {
    /// Wraps a lookup failure.
    pub fn unavailable(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(err.into())
    }
}

impl fmt::Display for KeyLookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownAccount => f.write_str("no keys for this account"),
            Self::Unavailable(err) => write!(f, "key lookup failed: {err}"),
        }
    }
}

impl std::error::Error for KeyLookupError {}

/// A boxed, sendable future, as [`KeyResolver`] returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Chooses the keys for each request: per-account Auth Tokens (subaccounts,
/// multi-tenant apps) and per-region tokens.
///
/// Implemented for async closures `Fn(AccountLookup) -> impl Future<Output =
/// Result<Keyring, KeyLookupError>>`. Called once per signed request after its body is read;
/// cache what is slow to fetch.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Arc;
/// use tower_twilio::keys::{AccountLookup, KeyLookupError};
/// use tower_twilio::{Keyring, TwilioWebhookLayer};
///
/// // A stand-in for your database of tenants.
/// let tenants: Arc<HashMap<String, Keyring>> = Arc::new(HashMap::from([
///     ("ACaaaa".to_owned(), Keyring::auth_token("fake_token_a")?),
///     ("ACbbbb".to_owned(), Keyring::auth_token("fake_token_b")?),
/// ]));
/// let layer = TwilioWebhookLayer::with_key_resolver(move |account: AccountLookup| {
///     let tenants = Arc::clone(&tenants);
///     async move {
///         let sid = account.account_sid().ok_or(KeyLookupError::UnknownAccount)?;
///         tenants.get(sid).cloned().ok_or(KeyLookupError::UnknownAccount)
///     }
/// });
/// # let _ = layer;
/// # Ok::<_, tower_twilio::ConfigError>(())
/// ```
pub trait KeyResolver: Send + Sync + 'static {
    /// The keys to verify this request with.
    fn keys_for(&self, account: AccountLookup) -> BoxFuture<Result<Keyring, KeyLookupError>>;
}

impl<F, Fut> KeyResolver for F
where
    F: Fn(AccountLookup) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Keyring, KeyLookupError>> + Send + 'static,
{
    fn keys_for(&self, account: AccountLookup) -> BoxFuture<Result<Keyring, KeyLookupError>> {
        Box::pin(self(account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::OsString;

    fn env(vars: &[(&'static str, &str)]) -> Result<Keyring, ConfigError> {
        let map: HashMap<&str, OsString> =
            vars.iter().map(|(k, v)| (*k, OsString::from(v))).collect();
        Keyring::from_lookup(|var| map.get(var).cloned())
    }

    #[test]
    fn env_reads_all_three_variables() {
        let keyring = env(&[
            (AUTH_TOKEN_ENV, "fake_primary"),
            (SECONDARY_AUTH_TOKEN_ENV, "fake_secondary"),
            (SHARED_KEYS_ENV, "k1=fake_s1, k2=fake_s2"),
        ])
        .unwrap();
        let ids: Vec<_> = keyring
            .key_ids()
            .map(|(id, kind)| (id.to_string(), kind))
            .collect();
        assert_eq!(
            ids,
            [
                ("primary".to_owned(), KeyKind::AuthToken),
                ("secondary".to_owned(), KeyKind::AuthToken),
                ("k1".to_owned(), KeyKind::SharedKey),
                ("k2".to_owned(), KeyKind::SharedKey),
            ]
        );
    }

    #[test]
    fn env_errors_name_the_variable_and_never_the_secret() {
        let cases: &[(&[(&'static str, &str)], &str)] = &[
            (&[], AUTH_TOKEN_ENV),
            (&[(AUTH_TOKEN_ENV, "")], AUTH_TOKEN_ENV),
            (&[(AUTH_TOKEN_ENV, "fake_secret_value\n")], AUTH_TOKEN_ENV),
            (
                &[(AUTH_TOKEN_ENV, "t"), (SECONDARY_AUTH_TOKEN_ENV, "")],
                SECONDARY_AUTH_TOKEN_ENV,
            ),
            (
                &[
                    (AUTH_TOKEN_ENV, "t"),
                    (SHARED_KEYS_ENV, "fake_secret_value"),
                ],
                SHARED_KEYS_ENV,
            ),
            (
                &[(AUTH_TOKEN_ENV, "t"), (SHARED_KEYS_ENV, "k=")],
                SHARED_KEYS_ENV,
            ),
            (
                &[
                    (AUTH_TOKEN_ENV, "t"),
                    (SHARED_KEYS_ENV, "=fake_secret_value"),
                ],
                SHARED_KEYS_ENV,
            ),
            (
                &[(AUTH_TOKEN_ENV, "t"), (SHARED_KEYS_ENV, "k=a,k=b")],
                SHARED_KEYS_ENV,
            ),
            (
                &[(AUTH_TOKEN_ENV, "t"), (SHARED_KEYS_ENV, "k=a,,")],
                SHARED_KEYS_ENV,
            ),
        ];
        for (vars, var) in cases {
            let err = env(vars).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(var), "{message}");
            assert!(!message.contains("fake_secret_value"), "{message}");
        }
    }

    #[test]
    fn settings_header_parsing() {
        use SettingsError::*;
        let ok = |v| SignatureSettings::parse(v).unwrap().unwrap();
        assert_eq!(ok("key=a").algorithm, Algorithm::HmacSha1);
        assert_eq!(ok(" algorithm=HMAC_SHA256 , key=a ,future=1").key, "a");
        assert_eq!(SignatureSettings::parse("   "), Ok(None));
        for (value, err) in [
            ("key", Malformed),
            ("algorithm=HMAC_SHA1", Malformed),
            ("key=", Malformed),
            ("key=a,key=b", Malformed),
            ("key=a,algorithm=HMAC_SHA1,algorithm=HMAC_SHA1", Malformed),
            ("key=a,algorithm=HMAC_MD5", UnsupportedAlgorithm),
            ("key=a,algorithm=hmac_sha256", UnsupportedAlgorithm),
            ("key=a,algorithm=", UnsupportedAlgorithm),
        ] {
            assert_eq!(SignatureSettings::parse(value), Err(err), "{value}");
        }
    }

    #[test]
    fn selection_never_mixes_kinds() {
        let keyring = Keyring::auth_token("t")
            .unwrap()
            .with_shared_key("s", "x")
            .unwrap();
        let legacy = keyring.select(None).unwrap();
        assert_eq!((legacy.kind, legacy.keys.len()), (KeyKind::AuthToken, 1));
        assert_eq!(legacy.keys[0].id, "primary");
        let shared = keyring.select(Some("key=s,algorithm=HMAC_SHA256")).unwrap();
        assert_eq!(shared.kind, KeyKind::SharedKey);
        assert_eq!(shared.keys[0].id, "s");
        assert_eq!(shared.algorithm, Algorithm::HmacSha256);
        // An Auth Token's id is not a shared key id.
        assert_eq!(
            keyring.select(Some("key=primary")).unwrap_err(),
            SettingsError::UnknownKey
        );
    }
}
