//! Throttling, latency and injected faults.
//!
//! Outlook limits each app + mailbox pair to 4 concurrent requests (more get
//! `429 ApplicationThrottled`); an optional request rate can be set too. On
//! top of that, [`Faults`] injects gateway throttling, 503s, 504s, failures
//! of chosen paths, malformed JSON and dropped connections, and a
//! [`LatencyModel`] makes requests take the time they take on Graph.

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
    /// Round trips and operation times close to Graph's (see [`LatencyModel`]).
    pub model: Option<LatencyModel>,
}

/// How long requests take: every HTTP request (top-level, including the
/// token endpoint) costs `round_trip`, half before it is handled and half
/// after; every Graph operation (a top-level request other than `$batch`, or
/// an inner request of a batch) holds one of its mailbox's 4 slots for
/// `slot_hold` (or for as long as the fake takes to handle it, if longer).
/// An operation that finds the
/// 4 slots taken is refused at once with `429 ApplicationThrottled`, as
/// Outlook refuses it; a batch runs its inner requests at most 4 at a time,
/// so one batch alone never is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyModel {
    pub round_trip: Duration,
    pub slot_hold: Duration,
}

impl LatencyModel {
    /// 25 ms round trips and 10 ms per operation.
    pub const GRAPH: LatencyModel = LatencyModel {
        round_trip: Duration::from_millis(25),
        slot_hold: Duration::from_millis(10),
    };
}

impl Faults {
    /// Graph's latency ([`LatencyModel::GRAPH`]) and its per-mailbox rate
    /// limit of 10,000 operations per 10 minutes, with the rate's time
    /// compressed `compression` times (20 gives 10,000 per 30 s). No
    /// injected faults.
    pub fn graph_like(compression: u32) -> Faults {
        Faults {
            model: Some(LatencyModel::GRAPH),
            rate_limit: Some((10_000, Duration::from_secs(600) / compression.max(1))),
            ..Faults::default()
        }
    }
}

/// What throttling the fake did since the faults were last set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throttling {
    /// Operations refused because 4 of the mailbox's were already in flight.
    pub over_concurrency: usize,
    /// Operations refused by [`Faults::rate_limit`].
    pub over_rate: usize,
    /// The most operations of one app on one mailbox that were in flight,
    /// or asked to be, at the same moment (refused ones included).
    pub peak_in_flight: usize,
}

type FlightKey = (String, String);

pub(crate) struct FaultState {
    pub cfg: Faults,
    rng: fastrand::Rng,
    malformed_left: u32,
    drop_left: u32,
    fail_path_left: u32,
    windows: HashMap<FlightKey, VecDeque<Instant>>,
    /// Operations in flight: id, and when the model's slot hold ends.
    in_flight: HashMap<FlightKey, Vec<(u64, Option<Instant>)>>,
    next_flight: u64,
    pub throttling: Throttling,
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
            next_flight: 0,
            throttling: Throttling::default(),
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
        self.throttling = Throttling::default();
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

    /// Admits one Graph operation for an app + mailbox starting at `start`,
    /// or refuses it. With a latency model, an operation stops counting as in
    /// flight once its slot hold has ended in the model's time.
    fn admit(
        &mut self,
        key: &FlightKey,
        date: &str,
        request_id: &str,
        start: Instant,
    ) -> Result<u64, GraphError> {
        let now = start;
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
                self.throttling.over_rate += 1;
                return Err(GraphError::new(
                    429,
                    "ApplicationThrottled",
                    "Application is over its request rate limit for this mailbox.",
                )
                .with_retry_after(wait.as_secs_f64().ceil().max(1.0) as u64));
            }
        }
        let flights = self.in_flight.entry(key.clone()).or_default();
        let flying = flights
            .iter()
            .filter(|(_, ends)| ends.is_none_or(|e| e > now))
            .count();
        self.throttling.peak_in_flight = self.throttling.peak_in_flight.max(flying + 1);
        if flying >= MAILBOX_CONCURRENCY {
            self.throttling.over_concurrency += 1;
            return Err(GraphError::new(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            )
            .with_retry_after(retry_after));
        }
        let id = self.next_flight;
        self.next_flight += 1;
        let ends = self.cfg.model.map(|m| now + m.slot_hold);
        flights.push((id, ends));
        if self.cfg.rate_limit.is_some() {
            self.windows.entry(key.clone()).or_default().push_back(now);
        }
        Ok(id)
    }

    fn release(&mut self, key: &FlightKey, id: u64) {
        if let Some(flights) = self.in_flight.get_mut(key) {
            flights.retain(|(f, _)| *f != id);
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
    id: u64,
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.shared.faults().release(&self.key, self.id);
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
    start: Instant,
) -> Result<Flight, GraphError> {
    let key = (app.to_string(), mailbox.to_ascii_lowercase());
    let id = shared.faults().admit(&key, date, request_id, start)?;
    Ok(Flight {
        shared: Arc::clone(shared),
        key,
        id,
    })
}
