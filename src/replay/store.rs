//! What the replay guard asks of a store, and what it keeps there.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::keys::BoxFuture;

/// The name under which a store keeps one webhook: a namespace, then the hex SHA-256 of the
/// string Twilio signed ([`VerifiedWebhook::fingerprint`](crate::VerifiedWebhook::fingerprint)).
///
/// Derived from signed data only: a client cannot change it without breaking the signature,
/// and no header it sends (such as `I-Twilio-Idempotency-Token`) takes part.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ReplayKey(Arc<str>);

impl ReplayKey {
    pub(crate) fn new(namespace: &str, fingerprint: &[u8; 32]) -> Self {
        Self(format!("{namespace}:{}", hex::encode(fingerprint)).into())
    }

    /// The key as a string, e.g. `tower-twilio:replay:v1:3f9a...`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who holds a key while its first request runs: a random value per request, so that a
/// late answer from one instance never completes or releases another instance's claim.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Claim(u128);

impl Claim {
    /// A fresh, random claim.
    pub fn new() -> Self {
        let mut bytes = [0u8; 16];
        // The OS random source; a claim only needs to be unique, not secret.
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
        Self(u128::from_le_bytes(bytes))
    }

    /// The claim as 32 hex digits (how the Redis store writes it).
    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }
}

impl Default for Claim {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Claim({:032x})", self.0)
    }
}

/// The response the first request got: what a duplicate is answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

impl StoredResponse {
    /// A response to store.
    pub fn new(status: StatusCode, content_type: Option<HeaderValue>, body: Bytes) -> Self {
        Self {
            status,
            content_type,
            body,
        }
    }

    /// Its status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Its `Content-Type`, if it had one.
    pub fn content_type(&self) -> Option<&HeaderValue> {
        self.content_type.as_ref()
    }

    /// Its body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// What [`ReplayStore::begin`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begin {
    /// The key was unknown and is now claimed: run the handler.
    Started,
    /// Another request with this key is running.
    InProgress,
    /// A request with this key was handled; here is what it answered.
    Completed(StoredResponse),
}

/// A store operation failed: the store is unreachable, timed out, or answered nonsense.
#[derive(Debug)]
pub struct StoreError(Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps the store's own error.
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(err.into())
    }

    pub(crate) fn timeout(limit: Duration) -> Self {
        Self(format!("no answer within {} ms", limit.as_millis()).into())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "replay store: {}", self.0)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Where the replay guard remembers webhooks: in memory ([`MemoryStore`](super::MemoryStore)),
/// in Redis (`RedisStore`, cargo feature `redis`), or a store of yours.
///
/// Each operation must be atomic for its key: when two instances call `begin` for one key
/// at the same moment, exactly one gets [`Begin::Started`]. `complete` and `release` act only
/// while `claim` still holds the key; a claim that expired (the handler outlived
/// `in_progress_ttl`) is not an error.
pub trait ReplayStore: Send + Sync + 'static {
    /// Claims `key` for `in_progress_ttl` unless it is known; says what it found.
    fn begin(
        &self,
        key: &ReplayKey,
        claim: Claim,
        in_progress_ttl: Duration,
    ) -> BoxFuture<Result<Begin, StoreError>>;

    /// Records `response` as the answer for `key`, kept for `ttl`.
    fn complete(
        &self,
        key: &ReplayKey,
        claim: Claim,
        response: StoredResponse,
        ttl: Duration,
    ) -> BoxFuture<Result<(), StoreError>>;

    /// Forgets `key`, so that the next request with it runs the handler again.
    fn release(&self, key: &ReplayKey, claim: Claim) -> BoxFuture<Result<(), StoreError>>;
}
