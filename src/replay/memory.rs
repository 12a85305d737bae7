//! The in-memory store: one process's memory, bounded in bytes (`moka`).

use std::fmt;
use std::time::{Duration, Instant};

use moka::ops::compute::Op;
use moka::sync::Cache;
use moka::Expiry;

use super::store::{Begin, Claim, ReplayId, ReplayKey, ReplayStore, StoreError, StoredResponse};
use crate::keys::BoxFuture;

/// The default bound on what a [`MemoryStore`] holds: 64 MiB of keys and stored responses.
pub const DEFAULT_MEMORY_CAPACITY: u64 = 64 * 1024 * 1024;

/// A [`ReplayStore`] in this process's memory, bounded in bytes.
///
/// It deduplicates the requests one instance sees: Twilio's retries that land on another
/// instance are not caught, so several instances behind a load balancer need a shared store
/// (`RedisStore`). When full, it evicts the entries it expects to be least used
/// (TinyLFU): a replay older than what fits is no longer caught.
///
/// ```
/// use tower_twilio::replay::{MemoryStore, ReplayGuardLayer};
/// let guard = ReplayGuardLayer::new(MemoryStore::with_capacity(16 * 1024 * 1024));
/// # let _ = guard;
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    /// One process needs no namespace.
    entries: Cache<ReplayId, Entry>,
}

#[derive(Clone)]
enum Entry {
    InProgress {
        claim: Claim,
        ttl: Duration,
    },
    Completed {
        response: StoredResponse,
        ttl: Duration,
    },
}

impl Entry {
    fn ttl(&self) -> Duration {
        match self {
            Self::InProgress { ttl, .. } | Self::Completed { ttl, .. } => *ttl,
        }
    }

    fn holds(&self, claim: Claim) -> bool {
        matches!(self, Self::InProgress { claim: held, .. } if *held == claim)
    }
}

/// Each entry lives for the TTL it was written with.
struct EntryTtl;

impl Expiry<ReplayId, Entry> for EntryTtl {
    fn expire_after_create(&self, _: &ReplayId, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl())
    }

    fn expire_after_update(
        &self,
        _: &ReplayId,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl())
    }
}

impl MemoryStore {
    /// A store holding at most `bytes` of keys and stored responses.
    pub fn with_capacity(bytes: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(bytes)
            .weigher(|_: &ReplayId, entry: &Entry| {
                let body = match entry {
                    Entry::InProgress { .. } => 0,
                    Entry::Completed { response, .. } => response.body().len(),
                };
                // The body, and a guess at the key and the bookkeeping around them.
                u32::try_from(body + 160).unwrap_or(u32::MAX)
            })
            .expire_after(EntryTtl)
            .build();
        Self { entries }
    }

    fn begin_now(&self, key: &ReplayKey, claim: Claim, ttl: Duration) -> Begin {
        let mut found = Begin::Started;
        self.entries.entry(key.id()).and_compute_with(|existing| {
            match existing.map(|e| e.into_value()) {
                None => Op::Put(Entry::InProgress { claim, ttl }),
                Some(Entry::InProgress { .. }) => {
                    found = Begin::InProgress;
                    Op::Nop
                }
                Some(Entry::Completed { response, .. }) => {
                    found = Begin::Completed(response);
                    Op::Nop
                }
            }
        });
        found
    }

    fn complete_now(&self, key: &ReplayKey, claim: Claim, response: StoredResponse, ttl: Duration) {
        self.entries
            .entry(key.id())
            .and_compute_with(|existing| match existing {
                Some(entry) if entry.value().holds(claim) => {
                    Op::Put(Entry::Completed { response, ttl })
                }
                _ => Op::Nop,
            });
    }

    fn release_now(&self, key: &ReplayKey, claim: Claim) {
        self.entries
            .entry(key.id())
            .and_compute_with(|existing| match existing {
                Some(entry) if entry.value().holds(claim) => Op::Remove,
                _ => Op::Nop,
            });
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MEMORY_CAPACITY)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.entries.entry_count())
            .field("weighted_size", &self.entries.weighted_size())
            .finish()
    }
}

impl ReplayStore for MemoryStore {
    fn begin(
        &self,
        key: &ReplayKey,
        claim: Claim,
        in_progress_ttl: Duration,
    ) -> BoxFuture<Result<Begin, StoreError>> {
        let found = self.begin_now(key, claim, in_progress_ttl);
        Box::pin(std::future::ready(Ok(found)))
    }

    fn complete(
        &self,
        key: &ReplayKey,
        claim: Claim,
        response: StoredResponse,
        ttl: Duration,
    ) -> BoxFuture<Result<(), StoreError>> {
        self.complete_now(key, claim, response, ttl);
        Box::pin(std::future::ready(Ok(())))
    }

    fn release(&self, key: &ReplayKey, claim: Claim) -> BoxFuture<Result<(), StoreError>> {
        self.release_now(key, claim);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::StatusCode;

    fn key(n: u8) -> ReplayKey {
        ReplayKey::new("test".into(), ReplayId::new(&[n; 20]))
    }

    fn ok(body: &'static str) -> StoredResponse {
        StoredResponse::new(StatusCode::OK, None, Bytes::from_static(body.as_bytes()))
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn begin_then_complete_then_replay() {
        let store = MemoryStore::default();
        let first = Claim::new();
        assert_eq!(store.begin_now(&key(1), first, LONG), Begin::Started);
        assert_eq!(
            store.begin_now(&key(1), Claim::new(), LONG),
            Begin::InProgress
        );
        store.complete_now(&key(1), first, ok("<Response/>"), LONG);
        assert_eq!(
            store.begin_now(&key(1), Claim::new(), LONG),
            Begin::Completed(ok("<Response/>"))
        );
        // Another key is another webhook.
        assert_eq!(store.begin_now(&key(2), Claim::new(), LONG), Begin::Started);
    }

    #[test]
    fn only_the_claim_holder_completes_or_releases() {
        let store = MemoryStore::default();
        let holder = Claim::new();
        store.begin_now(&key(1), holder, LONG);
        store.release_now(&key(1), Claim::new());
        store.complete_now(&key(1), Claim::new(), ok("late"), LONG);
        assert_eq!(
            store.begin_now(&key(1), Claim::new(), LONG),
            Begin::InProgress
        );
        store.release_now(&key(1), holder);
        assert_eq!(store.begin_now(&key(1), Claim::new(), LONG), Begin::Started);
    }

    #[test]
    fn claims_and_responses_expire() {
        let store = MemoryStore::default();
        let claim = Claim::new();
        store.begin_now(&key(1), claim, Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(60));
        let again = Claim::new();
        assert_eq!(store.begin_now(&key(1), again, LONG), Begin::Started);
        store.complete_now(&key(1), again, ok("x"), Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(store.begin_now(&key(1), Claim::new(), LONG), Begin::Started);
    }

    #[test]
    fn concurrent_begins_start_once() {
        let store = MemoryStore::default();
        let started: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| s.spawn(|| store.begin_now(&key(7), Claim::new(), LONG) == Begin::Started))
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(started, 1);
    }

    #[test]
    fn memory_stays_within_its_capacity() {
        let store = MemoryStore::with_capacity(1024 * 1024);
        let body = Bytes::from(vec![b'x'; 10 * 1024]);
        for n in 0..=255u8 {
            let claim = Claim::new();
            store.begin_now(&key(n), claim, LONG);
            let response = StoredResponse::new(StatusCode::OK, None, body.clone());
            store.complete_now(&key(n), claim, response, LONG);
        }
        store.entries.run_pending_tasks();
        assert!(store.entries.weighted_size() <= 1024 * 1024);
        assert!(store.entries.entry_count() < 256);
    }
}
