//! Pacing: how long to wait before a retry, what `Retry-After` says, and
//! the rate limit each mailbox is held to.
//!
//! What Graph does here: docs/graph.md, Throttling and Retries.

use std::time::Duration;

/// At most this many Graph operations per window and mailbox.
pub type RateLimit = (u32, Duration);

/// Outlook's rate limit per app and mailbox.
pub const DEFAULT_RATE_LIMIT: RateLimit = (10_000, Duration::from_secs(600));

/// Full jitter: uniform in [0, min(cap, base · 2^(attempt-1))].
pub(super) fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let ceiling = base.saturating_mul(1u32 << exp).min(cap);
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(0..=ms))
}

/// Seconds or an HTTP-date; a date in the past means "now".
pub(super) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}
