use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tower_layer::Layer;

use super::memory::MemoryStore;
use super::service::ReplayGuard;
use super::store::{ReplayStore, StoreError};
use crate::telemetry;

/// How long a handled webhook is remembered by default: 24 hours.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a first request holds its key by default: 30 seconds.
pub const DEFAULT_IN_PROGRESS_TTL: Duration = Duration::from_secs(30);
/// How long a store operation may take by default: 50 ms.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(50);
/// The largest response body stored by default: 64 KiB, Twilio's limit for a TwiML document.
pub const DEFAULT_MAX_STORED_BODY: usize = 64 * 1024;
/// The default namespace of the keys.
pub const DEFAULT_NAMESPACE: &str = "tower-twilio:replay:v1";

/// What the guard does when its store fails (unreachable, or slower than the timeout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnStoreFailure {
    /// Handle the verified request without deduplication (the default): available, but a
    /// retry or a replay that arrives while the store is down runs the handler again.
    #[default]
    Open,
    /// Answer `503 Service Unavailable` with `Retry-After`: nothing runs twice, but no
    /// webhook is handled while the store is down (Twilio retries some of them later).
    Closed,
}

/// Layer that answers duplicates of verified webhooks from the stored response, so that each
/// webhook's handler runs once; made for the routes behind
/// [`TwilioWebhookLayer`](crate::TwilioWebhookLayer). See the [module docs](super).
#[must_use]
#[derive(Clone)]
pub struct ReplayGuardLayer {
    guard: Arc<Guard>,
}

/// The guard's configuration and its store, shared by every request.
#[derive(Clone)]
pub(crate) struct Guard {
    pub(crate) store: Arc<dyn ReplayStore>,
    pub(crate) namespace: Arc<str>,
    pub(crate) ttl: Duration,
    pub(crate) in_progress_ttl: Duration,
    pub(crate) store_timeout: Duration,
    pub(crate) max_stored_body: usize,
    pub(crate) on_store_failure: OnStoreFailure,
    warnings: Arc<Mutex<Warnings>>,
}

/// Store failures, warned about at most once per [`WARNING_INTERVAL`].
#[derive(Default)]
struct Warnings {
    last: Option<Instant>,
    since_last: u64,
}

/// At most one store-failure warning per this interval; the next one says how many it hid.
const WARNING_INTERVAL: Duration = Duration::from_secs(5);

impl Guard {
    /// Logs a store failure, at most once per interval, with how many failed since.
    pub(crate) fn store_failed(&self, operation: &'static str, err: &StoreError) {
        telemetry::replay_store_error();
        let mut warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        warnings.since_last += 1;
        let now = Instant::now();
        if warnings
            .last
            .is_some_and(|last| now.duration_since(last) < WARNING_INTERVAL)
        {
            return;
        }
        let failures = std::mem::take(&mut warnings.since_last);
        warnings.last = Some(now);
        drop(warnings);
        tracing::warn!(
            target: "tower_twilio",
            operation,
            error = %err,
            failures_since_last_warning = failures,
            on_store_failure = ?self.on_store_failure,
            "replay store failed"
        );
    }
}

impl ReplayGuardLayer {
    /// A guard over `store`, with the defaults: remember handled webhooks for 24 hours, fail
    /// open.
    pub fn new(store: impl ReplayStore) -> Self {
        Self {
            guard: Arc::new(Guard {
                store: Arc::new(store),
                namespace: DEFAULT_NAMESPACE.into(),
                ttl: DEFAULT_TTL,
                in_progress_ttl: DEFAULT_IN_PROGRESS_TTL,
                store_timeout: DEFAULT_STORE_TIMEOUT,
                max_stored_body: DEFAULT_MAX_STORED_BODY,
                on_store_failure: OnStoreFailure::default(),
                warnings: Arc::default(),
            }),
        }
    }

    /// A guard over a [`MemoryStore`] of the default size: for one instance.
    pub fn in_memory() -> Self {
        Self::new(MemoryStore::default())
    }

    fn guard(&mut self) -> &mut Guard {
        Arc::make_mut(&mut self.guard)
    }

    /// How long a handled webhook is remembered (default 24 hours): Twilio's retries come
    /// within minutes; a captured request replayed later than this runs the handler again.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.guard().ttl = ttl;
        self
    }

    /// How long a first request holds its key while its handler runs (default 30 s).
    /// Duplicates meanwhile get `409`; a handler that runs longer loses the key to the
    /// next retry. Twilio gives up on a webhook after 15 s.
    pub fn in_progress_ttl(mut self, ttl: Duration) -> Self {
        self.guard().in_progress_ttl = ttl;
        self
    }

    /// How long one store operation may take before it counts as a failure (default 50 ms).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.guard().store_timeout = timeout;
        self
    }

    /// The largest response body stored (default 64 KiB). A larger response is passed on
    /// but not stored, and its key is released: a retry runs the handler again.
    pub fn max_stored_body(mut self, bytes: usize) -> Self {
        self.guard().max_stored_body = bytes;
        self
    }

    /// What to do when the store fails (default [`OnStoreFailure::Open`]).
    pub fn on_store_failure(mut self, on_failure: OnStoreFailure) -> Self {
        self.guard().on_store_failure = on_failure;
        self
    }

    /// The prefix of every key (default `tower-twilio:replay:v1`), for several applications
    /// sharing one Redis.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.guard().namespace = namespace.into().into();
        self
    }
}

impl fmt::Debug for ReplayGuardLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = &self.guard;
        f.debug_struct("ReplayGuardLayer")
            .field("namespace", &guard.namespace)
            .field("ttl", &guard.ttl)
            .field("in_progress_ttl", &guard.in_progress_ttl)
            .field("store_timeout", &guard.store_timeout)
            .field("max_stored_body", &guard.max_stored_body)
            .field("on_store_failure", &guard.on_store_failure)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for ReplayGuardLayer {
    type Service = ReplayGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReplayGuard::new(inner, Arc::clone(&self.guard))
    }
}
