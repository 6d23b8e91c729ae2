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
    /// Top-level Graph requests whose path contains the string (ignoring
    /// case) are handled (writes are applied) but their connection is
    /// aborted part-way through the response, N times: the client never
    /// learns that its writes were made, as after a timeout (the case
    /// `transactionId` exists for: `concepts/throttling.md`, "a POST that
    /// timed out may have been applied").
    pub drop_path: Option<(String, u32)>,
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
    /// `(days, status)`: every calendarView or calendarView/delta request
    /// over a range longer than `days` (the first call, or any page or round
    /// of such a window) answers `status`: 504 `UnknownError` with an empty
    /// message, or 503 with `Retry-After`. Shorter ranges work. Long windows
    /// over series without an end have been seen to fail this way, part-way
    /// through paging (microsoftgraph/microsoft-graph-docs#3657,
    /// microsoftgraph/microsoft-graph-docs#6499).
    pub fail_long_ranges: Option<(u32, u16)>,
    /// Graph requests (top-level, not the token endpoint) whose path
    /// contains the string (ignoring case; `/` matches every one) are
    /// received, recorded and never answered: the connection stays open
    /// and silent until the client gives up, as with a Graph that accepts
    /// connections but hangs.
    pub never_answer: Option<String>,
}

/// How long requests take: every HTTP request (top-level, including the
/// token endpoint) costs `round_trip`, half before it is handled and half
/// after; every Graph operation (a top-level request other than `$batch`, or
/// an inner request of a batch) holds one of its mailbox's 4 slots for a
/// time drawn from `operation` (or for as long as the fake takes to handle
/// it, if longer). An operation that finds the 4 slots taken is refused at
/// once with `429 ApplicationThrottled`, as Outlook refuses it
/// (`concepts/throttling-limits.md`, Outlook service limits: 4 concurrent
/// requests per app and mailbox); a batch runs its inner requests at most 4
/// at a time (`concepts/json-batching.md`), so one batch alone never is,
/// and answers only once its last inner request has finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyModel {
    pub round_trip: Duration,
    pub operation: OperationTime,
}

/// How long the mailbox takes over one operation. Graph publishes no
/// figures; Microsoft Q&A 1660054 reports that processing times vary, so a
/// client cannot know when a batch's last inner request is done before the
/// batch's answer arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationTime {
    /// Every operation takes exactly this long.
    Constant(Duration),
    /// Drawn for each operation (from the seeded generator of
    /// [`Faults::seed`]) from a log-normal distribution with this median
    /// and 95th percentile, capped at 10 times the median.
    Spread { median: Duration, p95: Duration },
}

/// The 95th percentile of the standard normal distribution.
const Z95: f64 = 1.644_853_626_951_472_2;
/// A drawn operation time is at most this many times the median.
const SPREAD_CAP: f64 = 10.0;

impl OperationTime {
    /// The expected time of an operation (of the capped distribution), e.g.
    /// for the floor a benchmark can reach: operations × mean / 4.
    pub fn mean(&self) -> Duration {
        match *self {
            OperationTime::Constant(d) => d,
            OperationTime::Spread { median, p95 } => {
                let Some(sigma) = spread_sigma(median, p95) else {
                    return median;
                };
                // E[min(X, c)] for X log-normal(mu, sigma), c = cap × median:
                // e^(mu + sigma²/2) Φ((ln c − mu − sigma²)/sigma) + c (1 − Φ((ln c − mu)/sigma)).
                let m = median.as_secs_f64();
                let (mu, cap) = (m.ln(), SPREAD_CAP * m);
                let head = (mu + sigma * sigma / 2.0).exp()
                    * normal_cdf((cap.ln() - mu - sigma * sigma) / sigma);
                let tail = cap * (1.0 - normal_cdf((cap.ln() - mu) / sigma));
                Duration::from_secs_f64(head + tail)
            }
        }
    }

    /// One operation's time.
    fn sample(&self, rng: &mut fastrand::Rng) -> Duration {
        match *self {
            OperationTime::Constant(d) => d,
            OperationTime::Spread { median, p95 } => {
                let Some(sigma) = spread_sigma(median, p95) else {
                    return median;
                };
                // Box-Muller: a standard normal draw from two uniform ones.
                let u1 = 1.0 - rng.f64();
                let u2 = rng.f64();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let factor = (sigma * z).exp().min(SPREAD_CAP);
                Duration::from_secs_f64(median.as_secs_f64() * factor)
            }
        }
    }
}

/// The log-normal's sigma for a median and a 95th percentile; `None` when
/// the spread is degenerate (then every draw is the median).
fn spread_sigma(median: Duration, p95: Duration) -> Option<f64> {
    let (m, p) = (median.as_secs_f64(), p95.as_secs_f64());
    (m > 0.0 && p > m).then(|| (p / m).ln() / Z95)
}

/// Φ, the standard normal distribution function.
fn normal_cdf(x: f64) -> f64 {
    0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

/// The error function (Abramowitz and Stegun 7.1.26; error below 1.5e-7).
fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    sign * (1.0 - poly * (-x * x).exp())
}

impl LatencyModel {
    /// Assumptions, not measurements (Graph publishes none): a 25 ms round
    /// trip, and operations taking 10 ms at the median and 25 ms at the
    /// 95th percentile (a mean of about 11.7 ms).
    pub const GRAPH: LatencyModel = LatencyModel {
        round_trip: Duration::from_millis(25),
        operation: OperationTime::Spread {
            median: Duration::from_millis(10),
            p95: Duration::from_millis(25),
        },
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
    /// The most operations of one app on one mailbox outstanding at once as
    /// a client holds them: a top-level request counts 1 and a `$batch`
    /// min(4, its requests on that mailbox), from the moment the fake
    /// receives the HTTP request until it has handled it (before the
    /// model's trailing half round trip). A client that keeps this at 4 or
    /// below is never refused for concurrency.
    pub peak_outstanding: usize,
}

type FlightKey = (String, String);

pub(crate) struct FaultState {
    pub cfg: Faults,
    rng: fastrand::Rng,
    malformed_left: u32,
    drop_left: u32,
    drop_path_left: u32,
    fail_path_left: u32,
    windows: HashMap<FlightKey, VecDeque<Instant>>,
    /// Operations in flight: id, and when the model's slot hold ends.
    in_flight: HashMap<FlightKey, Vec<(u64, Option<Instant>)>>,
    next_flight: u64,
    /// Operations outstanding as clients hold them (see
    /// [`Throttling::peak_outstanding`]).
    outstanding: HashMap<FlightKey, usize>,
    /// Draws operation times of the latency model.
    operation_rng: fastrand::Rng,
    pub throttling: Throttling,
}

impl FaultState {
    pub fn new() -> FaultState {
        let mut state = FaultState {
            cfg: Faults::default(),
            rng: fastrand::Rng::with_seed(0),
            malformed_left: 0,
            drop_left: 0,
            drop_path_left: 0,
            fail_path_left: 0,
            windows: HashMap::new(),
            in_flight: HashMap::new(),
            next_flight: 0,
            outstanding: HashMap::new(),
            operation_rng: fastrand::Rng::with_seed(0),
            throttling: Throttling::default(),
        };
        state.set(Faults::default());
        state
    }

    /// Replaces the faults; counters start afresh, requests in flight stay counted.
    pub fn set(&mut self, faults: Faults) {
        self.rng = fastrand::Rng::with_seed(faults.seed);
        self.operation_rng = fastrand::Rng::with_seed(faults.seed ^ 0x0b5e_55ed);
        self.malformed_left = faults.malformed_json;
        self.drop_left = faults.drop_connections;
        self.drop_path_left = faults.drop_path.as_ref().map_or(0, |(_, n)| *n);
        self.fail_path_left = faults.fail_path.as_ref().map_or(0, |(_, _, n)| *n);
        self.windows.clear();
        self.throttling = Throttling::default();
        self.cfg = faults;
    }

    pub fn retry_after(&self) -> u64 {
        self.cfg.retry_after_secs.max(1)
    }

    /// The status to fail a request with, if `fail_path` matches it.
    /// Whether a Graph request to `path` is never to be answered.
    pub fn never_answers(&self, path: &str) -> bool {
        self.cfg
            .never_answer
            .as_ref()
            .is_some_and(|needle| path.to_lowercase().contains(&needle.to_lowercase()))
    }

    pub fn fail_path(&mut self, path: &str) -> Option<u16> {
        let (needle, status, _) = self.cfg.fail_path.as_ref()?;
        if self.fail_path_left > 0 && path.to_lowercase().contains(&needle.to_lowercase()) {
            self.fail_path_left -= 1;
            return Some(*status);
        }
        None
    }

    /// Whether to abort the answer to a top-level request to `path`.
    pub fn take_drop(&mut self, path: &str) -> bool {
        if let Some((needle, _)) = &self.cfg.drop_path
            && self.drop_path_left > 0
            && path.to_lowercase().contains(&needle.to_lowercase())
        {
            self.drop_path_left -= 1;
            return true;
        }
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

    /// With a latency model, how long the next operation holds its slot.
    pub fn draw_operation(&mut self) -> Option<Duration> {
        let model = self.cfg.model?;
        Some(model.operation.sample(&mut self.operation_rng))
    }

    fn hold_outstanding(&mut self, key: &FlightKey, n: usize) {
        let count = self.outstanding.entry(key.clone()).or_default();
        *count += n;
        self.throttling.peak_outstanding = self.throttling.peak_outstanding.max(*count);
    }

    fn release_outstanding(&mut self, key: &FlightKey, n: usize) {
        if let Some(count) = self.outstanding.get_mut(key) {
            *count = count.saturating_sub(n);
        }
    }

    /// Admits one Graph operation for an app + mailbox starting at `start`,
    /// or refuses it. With a latency model, an operation stops counting as in
    /// flight once its slot hold (`hold`) has ended in the model's time.
    fn admit(
        &mut self,
        key: &FlightKey,
        date: &str,
        request_id: &str,
        start: Instant,
        hold: Option<Duration>,
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
        let ends = hold.map(|h| now + h);
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

/// Admits a Graph operation of `app` on `mailbox` (a key from
/// `Shared::mailbox_key`), or refuses it with the error Graph would send.
pub(crate) fn admit(
    shared: &Arc<Shared>,
    app: &str,
    mailbox: &str,
    date: &str,
    request_id: &str,
    start: Instant,
    hold: Option<Duration>,
) -> Result<Flight, GraphError> {
    let key = (app.to_string(), mailbox.to_string());
    let id = shared.faults().admit(&key, date, request_id, start, hold)?;
    Ok(Flight {
        shared: Arc::clone(shared),
        key,
        id,
    })
}

/// Operations a client holds outstanding on mailboxes while the fake handles
/// its HTTP request; they stop counting when dropped.
pub(crate) struct Outstanding {
    shared: Arc<Shared>,
    held: Vec<(FlightKey, usize)>,
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        let mut faults = self.shared.faults();
        for (key, n) in &self.held {
            faults.release_outstanding(key, *n);
        }
    }
}

/// Counts `app`'s request as outstanding: `per_mailbox` says how many
/// operations it holds on each mailbox (keys from `Shared::mailbox_key`).
pub(crate) fn hold_outstanding(
    shared: &Arc<Shared>,
    app: &str,
    per_mailbox: Vec<(String, usize)>,
) -> Outstanding {
    let held: Vec<(FlightKey, usize)> = per_mailbox
        .into_iter()
        .map(|(mailbox, n)| ((app.to_string(), mailbox), n.min(MAILBOX_CONCURRENCY)))
        .collect();
    {
        let mut faults = shared.faults();
        for (key, n) in &held {
            faults.hold_outstanding(key, *n);
        }
    }
    Outstanding {
        shared: Arc::clone(shared),
        held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    #[test]
    fn spread_operation_times_fit_their_median_and_p95() {
        let spread = LatencyModel::GRAPH.operation;
        let mut rng = fastrand::Rng::with_seed(42);
        let mut draws: Vec<f64> = (0..40_000).map(|_| ms(spread.sample(&mut rng))).collect();
        draws.sort_by(f64::total_cmp);
        let median = draws[draws.len() / 2];
        let p95 = draws[draws.len() * 95 / 100];
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((median - 10.0).abs() < 0.3, "median {median}");
        assert!((p95 - 25.0).abs() < 1.0, "p95 {p95}");
        assert!(
            (mean - ms(spread.mean())).abs() < 0.2,
            "mean {mean} vs {:?}",
            spread.mean()
        );
        assert!(
            (ms(spread.mean()) - 11.68).abs() < 0.05,
            "{:?}",
            spread.mean()
        );
        assert!(draws[0] > 0.0 && *draws.last().unwrap() <= 100.0);
        assert!(
            draws[0] < 3.0 && *draws.last().unwrap() > 50.0,
            "they differ"
        );

        let constant = OperationTime::Constant(Duration::from_millis(7));
        assert_eq!(constant.mean(), Duration::from_millis(7));
        assert_eq!(constant.sample(&mut rng), Duration::from_millis(7));
        let degenerate = OperationTime::Spread {
            median: Duration::from_millis(5),
            p95: Duration::from_millis(5),
        };
        assert_eq!(degenerate.sample(&mut rng), Duration::from_millis(5));
        assert_eq!(degenerate.mean(), Duration::from_millis(5));
    }

    #[test]
    fn erf_is_close() {
        assert!(erf(0.0).abs() < 1e-6);
        assert!((erf(1.0) - 0.842_700_79).abs() < 1e-6);
        assert!((normal_cdf(Z95) - 0.95).abs() < 1e-6);
    }
}
