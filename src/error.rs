//! Configuration errors: everything that can be wrong is refused when the layer is built,
//! never on the first request.

use std::fmt;

/// A configuration value was missing or malformed.
///
/// Messages name the key or environment variable at fault and never contain a secret.
///
/// ```
/// use tower_twilio::{ConfigError, TwilioWebhookLayer};
/// // A token read from a file with its newline: refused when the layer is built.
/// let err = TwilioWebhookLayer::new("fake_token\n").unwrap_err();
/// assert!(matches!(err, ConfigError::SecretWhitespace { .. }));
/// assert!(!err.to_string().contains("fake_token"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required environment variable is not set.
    MissingEnvVar {
        /// The variable's name.
        var: &'static str,
    },
    /// An environment variable is set but malformed (empty, not UTF-8, bad syntax).
    InvalidEnvVar {
        /// The variable's name.
        var: &'static str,
        /// What is wrong with it (never its value).
        reason: String,
    },
    /// A secret is empty.
    EmptySecret {
        /// The key id the secret was given for.
        key: String,
    },
    /// A secret starts or ends with whitespace, which is never part of a Twilio secret and
    /// usually a stray newline from a file or a shell.
    SecretWhitespace {
        /// The key id the secret was given for.
        key: String,
    },
    /// A key id is empty or contains characters the settings header cannot carry
    /// (`,`, `=`, whitespace).
    InvalidKeyId {
        /// The offending id.
        key: String,
    },
    /// Two keys of the same kind have the same id.
    DuplicateKeyId {
        /// The repeated id.
        key: String,
    },
    /// The keyring has no key at all, so no request could ever pass.
    NoKeys,
    /// A URL, host, address or other value is malformed.
    Invalid {
        /// What the value is (e.g. `public URL`).
        what: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn env(var: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidEnvVar {
            var,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingEnvVar { var } => write!(f, "environment variable {var} is not set"),
            Self::InvalidEnvVar { var, reason } => {
                write!(f, "environment variable {var} is invalid: {reason}")
            }
            Self::EmptySecret { key } => write!(f, "the secret for key {key:?} is empty"),
            Self::SecretWhitespace { key } => write!(
                f,
                "the secret for key {key:?} starts or ends with whitespace (a stray newline?)"
            ),
            Self::InvalidKeyId { key } => write!(
                f,
                "key id {key:?} is empty or contains ',', '=' or whitespace"
            ),
            Self::DuplicateKeyId { key } => write!(f, "key id {key:?} is configured twice"),
            Self::NoKeys => f.write_str("no Auth Token or shared key is configured"),
            Self::Invalid { what, reason } => write!(f, "invalid {what}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}
