//! What the replay guard asks of a store, and what it keeps there.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::keys::BoxFuture;

/// What identifies one webhook to the guard: up to 32 bytes (a MAC, or a SHA-256).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ReplayId {
    bytes: [u8; 32],
    len: u8,
}

impl ReplayId {
    /// The first 32 bytes of `id` (MACs and SHA-256 have at most 32).
    pub(crate) fn new(id: &[u8]) -> Self {
        let len = id.len().min(32);
        let mut bytes = [0; 32];
        bytes[..len].copy_from_slice(&id[..len]);
        Self {
            bytes,
            len: len as u8,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The name under which a store keeps one webhook: a namespace, then the hex of the MAC its
/// signature matched.
///
/// Derived from signed data only: a client cannot change it without breaking the signature,
/// and no header it sends (such as `I-Twilio-Idempotency-Token`) takes part. Being a keyed
/// hash, it tells a store's reader nothing about the webhook's parameters.
#[derive(Clone)]
pub struct ReplayKey {
    namespace: Arc<str>,
    id: ReplayId,
    /// Written out only for a store that asks (the in-memory one never does).
    name: OnceLock<Box<str>>,
}

impl ReplayKey {
    pub(crate) fn new(namespace: Arc<str>, id: ReplayId) -> Self {
        Self {
            namespace,
            id,
            name: OnceLock::new(),
        }
    }

    /// The key as a string, e.g. `tower-twilio:replay:v1:3f9a...`.
    pub fn as_str(&self) -> &str {
        self.name.get_or_init(|| {
            format!("{}:{}", self.namespace, hex::encode(self.id.as_slice())).into()
        })
    }

    /// The key without its namespace: what one process needs to tell webhooks apart.
    pub(crate) fn id(&self) -> ReplayId {
        self.id
    }
}

impl PartialEq for ReplayKey {
    fn eq(&self, other: &Self) -> bool {
        self.namespace == other.namespace && self.id == other.id
    }
}

impl Eq for ReplayKey {}

impl std::hash::Hash for ReplayKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.namespace.hash(state);
        self.id.hash(state);
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who holds a key while its first request runs: a random value per request, so that a
/// late answer from one instance never completes or releases another instance's claim.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Claim(u128);

impl Claim {
    /// A claim no other request, in this process or another, holds: a random number drawn
    /// once per process, with a counter in its low half.
    pub fn new() -> Self {
        static PROCESS: OnceLock<u64> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // std's hasher keys are drawn from the operating system's random source: unique
        // per process, which is all a claim needs (it is not a secret).
        let process = *PROCESS.get_or_init(|| RandomState::new().build_hasher().finish());
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self(u128::from(process) << 64 | u128::from(count))
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
///
/// ```
/// use tower_twilio::replay::StoreError;
/// let err = StoreError::new("connection refused");
/// assert_eq!(err.to_string(), "replay store: connection refused");
/// ```
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
