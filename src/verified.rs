//! The proof of verification the layer leaves in the request's extensions.

use std::fmt;
use std::sync::Arc;

use crate::canonical::CanonicalParams;
use crate::form::FormParams;
use crate::keys::{KeyId, KeyKind};
use crate::replay::ReplayId;
use crate::signature::{Algorithm, Signature};
use crate::url::mask_userinfo;

/// Proof that a request's Twilio signature was verified, and what it was verified with.
///
/// The [layer](crate::TwilioWebhookLayer) inserts it into the request extensions of every
/// request it lets through; nothing else creates one. With the `axum` feature it is also an
/// extractor, which answers 500 (a wiring bug, not a client error) when the layer is missing.
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use tower_twilio::VerifiedWebhook;
///
/// async fn voice(webhook: VerifiedWebhook) -> String {
///     let from = webhook.params().get("From").unwrap_or("unknown caller");
///     format!("verified with key {} at {}: call from {from}", webhook.key_id(), webhook.url())
/// }
/// # let _: axum::Router = axum::Router::new().route("/voice", axum::routing::post(voice));
/// # }
/// ```
#[derive(Clone)]
pub struct VerifiedWebhook {
    pub(crate) key_id: KeyId,
    pub(crate) key_kind: KeyKind,
    pub(crate) algorithm: Algorithm,
    pub(crate) url: String,
    /// Shared, so that extracting the parameters copies nothing.
    pub(crate) params: Arc<FormParams>,
    /// Whether `params` are part of the string to sign (a form body), or were read from a
    /// query the URL already carries.
    pub(crate) params_signed: bool,
    /// The signature that matched; `None` when verification is switched off.
    pub(crate) signature: Option<Signature>,
}

/// The URL with its password masked: Twilio signs `https://user:pass@host/...` when the
/// webhook is configured with credentials, and `Debug` output ends up in logs.
impl fmt::Debug for VerifiedWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedWebhook")
            .field("key_id", &self.key_id)
            .field("key_kind", &self.key_kind)
            .field("algorithm", &self.algorithm)
            .field("url", &mask_userinfo(&self.url))
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl VerifiedWebhook {
    /// The id of the key that matched (`primary`, `secondary`, a shared key id, ...).
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Whether an Auth Token or a shared key matched.
    pub fn key_kind(&self) -> KeyKind {
        self.key_kind
    }

    /// The algorithm the signature was made with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The URL candidate the signature covered: the public URL Twilio called (with a
    /// password in it, if any, as Twilio signed it; do not log it unmasked).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// SHA-256 of the string Twilio signed (the URL, then the parameters in Twilio's order):
    /// the same for every retry of one webhook, and different for any change a signature
    /// would catch.
    pub fn fingerprint(&self) -> [u8; 32] {
        let params = if self.params_signed {
            self.params.canonical()
        } else {
            CanonicalParams::none()
        };
        params.sha256(&self.url)
    }

    /// What the [replay guard](crate::replay) knows this webhook by: the MAC it was verified
    /// with, a keyed hash of the string Twilio signed (so a store holds nothing from which
    /// the parameters could be guessed); the [fingerprint](Self::fingerprint) when
    /// verification is switched off.
    pub(crate) fn replay_id(&self) -> ReplayId {
        match &self.signature {
            Some(signature) => ReplayId::new(signature.as_bytes()),
            None => ReplayId::new(&self.fingerprint()),
        }
    }

    /// The decoded parameters: the form body's fields, or for a GET the query's (where
    /// Twilio puts them); empty for JSON and other bodies.
    pub fn params(&self) -> &FormParams {
        &self.params
    }
}
