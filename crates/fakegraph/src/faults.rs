//! Throttling and injected faults.
//!
//! Outlook limits each app + mailbox pair to 4 concurrent requests (more get
//! `429 ApplicationThrottled`); an optional request rate can be set too. On
//! top of that, [`Faults`] injects gateway throttling, 503s, 504s, failures
//! of chosen paths, malformed JSON and dropped connections.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::GraphError;
use crate::server::Shared;

/// Outlook's concurrency limit per app + mailbox.
const MAILBOX_CONCURRENCY: usize = 4;

/// Faults to inject; the default injects none.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Added to every request (while it counts as in flight).
    pub latency: Duration,
    /// Fraction of Graph operations (top-level and inside batches) answered
    /// `429 TooManyRequests` with `Retry-After`.
    pub throttle_fraction: f64,
    /// The `Retry-After` seconds to send; 0 means 1.
    pub retry_after_secs: u64,
    /// Fraction of Graph operations answered `503` with `Retry-After`.
    pub fail_503_fraction: f64,
    /// Fraction of Graph operations answered `504 UnknownError` (no `Retry-After`).
    pub fail_504_fraction: f64,
    /// The next N top-level Graph GETs that succeed get status 200 with a
    /// truncated JSON body.
    pub malformed_json: u32,
    /// The next N top-level Graph requests are handled (writes are applied)
    /// but the connection is aborted part-way through the response body.
    pub drop_connections: u32,
    /// Requests whose path contains the string (ignoring case, as Graph's
    /// paths do) get this status N times, with a Graph error body (or the
    /// identity platform's, on the token endpoint).
    pub fail_path: Option<(String, u16, u32)>,
    /// Seed of the random draws behind the fractions (and batch shuffling).
    pub seed: u64,
    /// At most this many operations per app + mailbox in a sliding window;
    /// more get `429 ApplicationThrottled`. Refused operations don't count.
    pub rate_limit: Option<(u32, Duration)>,
}

type FlightKey = (String, String);

pub(crate) struct FaultState {
    pub cfg: Faults,
    rng: fastrand::Rng,
    malformed_left: u32,
    drop_left: u32,
    fail_path_left: u32,
    windows: HashMap<FlightKey, VecDeque<Instant>>,
    in_flight: HashMap<FlightKey, usize>,
}

impl FaultState {
    pub fn new() -> FaultState {
        let mut state = FaultState {
            cfg: Faults::default(),
            rng: fastrand::Rng::with_seed(0),
            malformed_left: 0,
            drop_left: 0,
            fail_path_left: 0,
            windows: HashMap::new(),
            in_flight: HashMap::new(),
        };
        state.set(Faults::default());
        state
    }

    /// Replaces the faults; counters start afresh, requests in flight stay counted.
    pub fn set(&mut self, faults: Faults) {
        self.rng = fastrand::Rng::with_seed(faults.seed);
        self.malformed_left = faults.malformed_json;
        self.drop_left = faults.drop_connections;
        self.fail_path_left = faults.fail_path.as_ref().map_or(0, |(_, _, n)| *n);
        self.windows.clear();
        self.cfg = faults;
    }

    pub fn retry_after(&self) -> u64 {
        self.cfg.retry_after_secs.max(1)
    }

    /// The status to fail a request with, if `fail_path` matches it.
    pub fn fail_path(&mut self, path: &str) -> Option<u16> {
        let (needle, status, _) = self.cfg.fail_path.as_ref()?;
        if self.fail_path_left > 0 && path.to_lowercase().contains(&needle.to_lowercase()) {
            self.fail_path_left -= 1;
            return Some(*status);
        }
        None
    }

    pub fn take_drop(&mut self) -> bool {
        take(&mut self.drop_left)
    }

    pub fn take_malformed(&mut self) -> bool {
        take(&mut self.malformed_left)
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        self.rng.shuffle(items);
    }

    fn draw(&mut self, fraction: f64) -> bool {
        fraction > 0.0 && self.rng.f64() < fraction
    }

    /// Admits one Graph operation for an app + mailbox, or refuses it.
    fn admit(&mut self, key: &FlightKey, date: &str, request_id: &str) -> Result<(), GraphError> {
        let retry_after = self.retry_after();
        if self.draw(self.cfg.throttle_fraction) {
            return Err(GraphError::too_many_requests(retry_after, date, request_id));
        }
        if self.draw(self.cfg.fail_503_fraction) {
            return Err(GraphError::for_status(503, retry_after));
        }
        if self.draw(self.cfg.fail_504_fraction) {
            return Err(GraphError::for_status(504, retry_after));
        }
        if let Some((limit, window)) = self.cfg.rate_limit {
            let now = Instant::now();
            let seen = self.windows.entry(key.clone()).or_default();
            while seen
                .front()
                .is_some_and(|t| now.duration_since(*t) >= window)
            {
                seen.pop_front();
            }
            if seen.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                let wait = seen.front().map_or(window, |oldest| {
                    window.saturating_sub(now.duration_since(*oldest))
                });
                return Err(GraphError::new(
                    429,
                    "ApplicationThrottled",
                    "Application is over its request rate limit for this mailbox.",
                )
                .with_retry_after(wait.as_secs_f64().ceil().max(1.0) as u64));
            }
            seen.push_back(now);
        }
        let flying = self.in_flight.entry(key.clone()).or_default();
        if *flying >= MAILBOX_CONCURRENCY {
            return Err(GraphError::new(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            )
            .with_retry_after(retry_after));
        }
        *flying += 1;
        Ok(())
    }

    fn release(&mut self, key: &FlightKey) {
        if let Some(n) = self.in_flight.get_mut(key) {
            *n = n.saturating_sub(1);
        }
    }
}

fn take(counter: &mut u32) -> bool {
    if *counter > 0 {
        *counter -= 1;
        true
    } else {
        false
    }
}

/// An admitted operation; it stops counting as in flight when dropped.
pub(crate) struct Flight {
    shared: Arc<Shared>,
    key: FlightKey,
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.shared.faults().release(&self.key);
    }
}

/// Admits a Graph operation of `app` on `mailbox` (lowercased), or refuses it
/// with the error Graph would send.
pub(crate) fn admit(
    shared: &Arc<Shared>,
    app: &str,
    mailbox: &str,
    date: &str,
    request_id: &str,
) -> Result<Flight, GraphError> {
    let key = (app.to_string(), mailbox.to_ascii_lowercase());
    shared.faults().admit(&key, date, request_id)?;
    Ok(Flight {
        shared: Arc::clone(shared),
        key,
    })
}
