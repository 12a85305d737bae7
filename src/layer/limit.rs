//! A limit on failed verifications per client (`governor`), and the log lines it saves.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ConfigError;

/// How many failed verifications a client may cause per period before its failures are
/// answered `429 Too Many Requests`; see
/// [`TwilioWebhookLayer::failed_verification_limit`](crate::TwilioWebhookLayer::failed_verification_limit).
///
/// Written `count/period`, the period in seconds, minutes or hours:
///
/// ```
/// use std::time::Duration;
/// use tower_twilio::layer::FailureLimit;
///
/// let limit: FailureLimit = "20/60s".parse()?;
/// assert_eq!((limit.count(), limit.period()), (20, Duration::from_secs(60)));
/// assert_eq!("100/5m".parse::<FailureLimit>()?.period(), Duration::from_secs(300));
/// assert!("0/60s".parse::<FailureLimit>().is_err());
/// assert!("20 per minute".parse::<FailureLimit>().is_err());
/// # Ok::<_, tower_twilio::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureLimit {
    count: NonZeroU32,
    period: Duration,
}

impl FailureLimit {
    /// At most `count` failures per `period` (both above zero).
    pub fn new(count: u32, period: Duration) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::invalid("failed verification limit", reason);
        let count = NonZeroU32::new(count).ok_or_else(|| invalid("the count must be above 0"))?;
        if period.is_zero() {
            return Err(invalid("the period must be above 0"));
        }
        Ok(Self { count, period })
    }

    /// The failures allowed per period.
    pub fn count(&self) -> u32 {
        self.count.get()
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl FromStr for FailureLimit {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let invalid = || {
            ConfigError::invalid(
                "failed verification limit",
                "expected count/period, e.g. 20/60s, 100/5m or 1000/1h",
            )
        };
        let (count, period) = s.trim().split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        let period = period.trim();
        let (number, unit) = period.split_at(period.len().saturating_sub(1));
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return Err(invalid()),
        };
        let number: u64 = number.parse().map_err(|_| invalid())?;
        Self::new(count, Duration::from_secs(number.saturating_mul(seconds)))
    }
}

impl fmt::Display for FailureLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:?}", self.count, self.period)
    }
}

/// Clean up the per-client state after this many checks.
const CLEANUP_EVERY: u64 = 4096;

/// The limiter of one layer: a `governor` bucket per client address, and per client how
/// many rejections went unlogged since its last log line.
pub(crate) struct FailureLimiter {
    limit: FailureLimit,
    buckets: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    suppressed: Mutex<HashMap<IpAddr, Suppressed>>,
    checks: AtomicU64,
}

struct Suppressed {
    since: Instant,
    count: u64,
}

impl FailureLimiter {
    pub(crate) fn new(limit: FailureLimit) -> Self {
        let per_failure = limit.period / limit.count.get();
        // `with_period` refuses only a zero period; a period under a nanosecond per failure is
        // one failure per nanosecond.
        let quota = Quota::with_period(per_failure.max(Duration::from_nanos(1)))
            .expect("a period above zero")
            .allow_burst(limit.count);
        Self {
            limit,
            buckets: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            suppressed: Mutex::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one failure of `client`: `None` while it is within its limit, else how long
    /// until it may fail again.
    pub(crate) fn failure(&self, client: IpAddr) -> Option<Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY == CLEANUP_EVERY - 1 {
            self.clean_up();
        }
        match self.buckets.check_key(&client) {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(self.clock.now())),
        }
    }

    /// Logs, instead of each rejection of a limited client, one line per client per period.
    pub(crate) fn suppressed(&self, client: IpAddr) {
        let now = Instant::now();
        let mut suppressed = self.suppressed.lock().unwrap_or_else(|e| e.into_inner());
        let entry = suppressed.entry(client).or_insert(Suppressed {
            since: now,
            count: 0,
        });
        if entry.count == 0 {
            tracing::warn!(
                target: "tower_twilio",
                %client,
                limit = %self.limit,
                "client over its limit of failed verifications: its rejections are answered 429 and logged once per period"
            );
        }
        entry.count += 1;
        if now.duration_since(entry.since) >= self.limit.period {
            tracing::warn!(
                target: "tower_twilio",
                %client,
                suppressed = entry.count,
                "client {client}: {} rejections suppressed",
                entry.count
            );
            entry.since = now;
            entry.count = 1;
        }
    }

    /// Forgets clients that have been quiet for a period: memory stays bounded however many
    /// addresses a forger uses.
    fn clean_up(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
        let now = Instant::now();
        let mut suppressed = self.suppressed.lock().unwrap_or_else(|e| e.into_inner());
        suppressed.retain(|_, s| now.duration_since(s.since) < self.limit.period);
        suppressed.shrink_to_fit();
    }

    #[cfg(test)]
    fn clients(&self) -> (usize, usize) {
        let suppressed = self.suppressed.lock().unwrap().len();
        (self.buckets.len(), suppressed)
    }
}

impl fmt::Debug for FailureLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureLimiter")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_count_per_period() {
        for (text, count, secs) in [("20/60s", 20, 60), (" 5 / 2m ", 5, 120), ("1/1h", 1, 3600)] {
            let limit: FailureLimit = text.parse().unwrap();
            assert_eq!(
                (limit.count(), limit.period().as_secs()),
                (count, secs),
                "{text}"
            );
        }
        for bad in [
            "", "20", "20/", "/60s", "20/60", "20/60d", "-1/60s", "0/60s", "20/0s", "x/1s",
        ] {
            assert!(bad.parse::<FailureLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_client_over_its_limit_waits_and_others_do_not() {
        let limiter = FailureLimiter::new(FailureLimit::new(3, Duration::from_secs(60)).unwrap());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.failure(a), None);
        }
        let wait = limiter.failure(a).expect("over the limit");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert_eq!(limiter.failure(b), None);
    }

    #[test]
    fn many_clients_are_forgotten_once_quiet() {
        let limiter = FailureLimiter::new(FailureLimit::new(1, Duration::from_millis(50)).unwrap());
        for n in 0..20_000u32 {
            let client = IpAddr::from(n.to_be_bytes());
            limiter.failure(client);
            limiter.suppressed(client);
        }
        std::thread::sleep(Duration::from_millis(120));
        limiter.clean_up();
        assert_eq!(limiter.clients(), (0, 0));
    }
}
