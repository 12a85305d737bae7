//! Stateless Digest nonces: `base64url(timestamp || HMAC-SHA256(key, context || timestamp ||
//! realm))`.
//!
//! Only a holder of the key can make one, and its age is read from it, so nothing is stored
//! and any server instance sharing the key accepts the others' nonces.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::AuthRejection;

/// Domain separation for the nonce MAC, so the key could never sign anything else by accident.
const NONCE_CONTEXT: &[u8] = b"tower-twilio digest nonce v1\0";
/// A nonce's bytes: an 8-byte big-endian Unix timestamp, then a 32-byte HMAC-SHA256.
const NONCE_LEN: usize = 8 + 32;
/// The base64url length of a nonce (no padding).
pub(super) const NONCE_B64_LEN: usize = (NONCE_LEN * 4).div_ceil(3);

/// The key nonces are made and checked with, and how long they are accepted.
#[derive(Clone)]
pub(super) struct Nonces {
    /// HMAC-SHA256 keyed with the nonce key, cloned for each nonce.
    key: Hmac<Sha256>,
    lifetime: Duration,
}

impl Nonces {
    pub(super) fn new(key: &[u8; 32], lifetime: Duration) -> Self {
        Self {
            key: nonce_mac(key),
            lifetime,
        }
    }

    pub(super) fn set_key(&mut self, key: &[u8; 32]) {
        self.key = nonce_mac(key);
    }

    pub(super) fn set_lifetime(&mut self, lifetime: Duration) {
        self.lifetime = lifetime;
    }

    pub(super) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The MAC of a nonce issued at `timestamp` for `realm`.
    fn tag(&self, realm: &str, timestamp: u64) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        mac.update(NONCE_CONTEXT);
        mac.update(&timestamp.to_be_bytes());
        mac.update(realm.as_bytes());
        mac
    }

    /// A fresh nonce for `realm`, issued at Unix time `now` (seconds).
    pub(super) fn make(&self, realm: &str, now: u64) -> String {
        let mut raw = [0u8; NONCE_LEN];
        raw[..8].copy_from_slice(&now.to_be_bytes());
        raw[8..].copy_from_slice(&self.tag(realm, now).finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// When `nonce` was issued, if it was issued with this key for `realm`.
    pub(super) fn issued_at(&self, realm: &str, nonce: &str) -> Result<u64, AuthRejection> {
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
        self.tag(realm, timestamp)
            .verify_slice(&raw[8..NONCE_LEN])
            .map_err(|_| AuthRejection::InvalidNonce)?;
        Ok(timestamp)
    }

    /// Whether a nonce issued at `issued` is out of its lifetime at `now`, either way: a
    /// nonce from the future is accepted as far ahead as one from the past.
    pub(super) fn is_stale(&self, issued: u64, now: u64) -> bool {
        now.abs_diff(issued) > self.lifetime.as_secs()
    }
}

fn nonce_mac(key: &[u8; 32]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::DEFAULT_NONCE_LIFETIME;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn nonce_is_bound_to_the_realm() {
        let nonces = Nonces::new(&[42; 32], DEFAULT_NONCE_LIFETIME);
        assert_eq!(
            nonces.issued_at("other realm", &nonces.make("test realm", NOW)),
            Err(AuthRejection::InvalidNonce)
        );
        assert_eq!(
            nonces.issued_at("test realm", &nonces.make("test realm", NOW)),
            Ok(NOW)
        );
    }
}
