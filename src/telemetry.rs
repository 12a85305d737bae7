//! The crate's metrics, through the `metrics` facade (cargo feature `metrics`): compiled out
//! without the feature, and next to free with it while no recorder is installed.

#[cfg(feature = "metrics")]
use std::time::{Duration, Instant};

/// The counter of webhooks by outcome and reason.
pub const WEBHOOKS_TOTAL: &str = "tower_twilio_webhooks_total";
/// The histogram of the layer's own work per request, in seconds.
pub const VERIFY_DURATION_SECONDS: &str = "tower_twilio_verify_duration_seconds";
/// The counter of failed replay store operations.
pub const REPLAY_STORE_ERRORS_TOTAL: &str = "tower_twilio_replay_store_errors_total";

/// Describes the metrics to the installed recorder (their help texts and units). Call it
/// once, after installing the recorder (e.g. `metrics-exporter-prometheus`'s).
///
/// ```
/// tower_twilio::describe_metrics();
/// ```
#[cfg(feature = "metrics")]
pub fn describe_metrics() {
    metrics::describe_counter!(
        WEBHOOKS_TOTAL,
        "Twilio webhooks by outcome (accepted, rejected, limited, replayed, conflict) and rejection reason"
    );
    metrics::describe_histogram!(
        VERIFY_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time tower-twilio spent on one webhook: URL, decoding, MAC (not waiting for the body)"
    );
    metrics::describe_counter!(
        REPLAY_STORE_ERRORS_TOTAL,
        "Replay store operations that failed or timed out"
    );
}

/// A webhook passed on to the handler. Literal labels make a static, pre-hashed key: this is
/// the call on every accepted request.
pub(crate) fn accepted() {
    #[cfg(feature = "metrics")]
    metrics::counter!("tower_twilio_webhooks_total", "outcome" => "accepted", "reason" => "none")
        .increment(1);
}

/// One webhook's outcome; `reason` is a rejection reason's name, or `none`.
pub(crate) fn webhook(outcome: &'static str, reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(WEBHOOKS_TOTAL, "outcome" => outcome, "reason" => reason).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (outcome, reason);
}

pub(crate) fn replay_store_error() {
    #[cfg(feature = "metrics")]
    metrics::counter!(REPLAY_STORE_ERRORS_TOTAL).increment(1);
}

/// The time the layer spends on one request, paused while it waits for the body or the key
/// resolver. Holds nothing without the `metrics` feature.
#[derive(Debug, Default)]
pub(crate) struct Stopwatch {
    #[cfg(feature = "metrics")]
    spent: Duration,
    #[cfg(feature = "metrics")]
    since: Option<Instant>,
}

impl Stopwatch {
    pub(crate) fn started() -> Self {
        let mut stopwatch = Self::default();
        stopwatch.resume();
        stopwatch
    }

    pub(crate) fn resume(&mut self) {
        #[cfg(feature = "metrics")]
        {
            self.since = Some(Instant::now());
        }
    }

    pub(crate) fn pause(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some(since) = self.since.take() {
            self.spent += since.elapsed();
        }
    }

    /// Stops and records the time spent.
    pub(crate) fn record(mut self) {
        self.pause();
        #[cfg(feature = "metrics")]
        metrics::histogram!("tower_twilio_verify_duration_seconds")
            .record(self.spent.as_secs_f64());
    }
}
