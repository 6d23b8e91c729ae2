//! The one HTTP client every Microsoft Graph request goes through.
//!
//! It adds the bearer token (only ever to the configured Graph origin), the
//! `Prefer` headers calsync always wants (UTC times, immutable ids) and a
//! `client-request-id`; pages through `@odata.nextLink` (`paging`);
//! sends writes as JSON batches of at most 20 (`batch`);
//! keeps every mailbox within 4 operations outstanding and within its rate
//! limit per window (`governor`); retries throttling
//! (429), 503, 504, transport failures and malformed answers with
//! `Retry-After` or capped, jittered exponential backoff
//! (`pacing`); refreshes the token once after a 401; stops
//! sending anything once Graph has failed several requests in a row (circuit
//! breaker); and keeps the run's request metrics. A [`Progress`] observer,
//! when set, hears of each page read and each batched write finished.
//!
//! Bodies of successful answers never appear in errors or logs: they may hold
//! private event data.

use super::error::error_from_bytes;
use super::governor::{Cost, Governor, Lease, Mailbox};
use super::pacing::{backoff, parse_retry_after};
use crate::auth::TokenSource;
use crate::error::Failure;
use crate::text::error_chain_text;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

// What moved out of this module stays reachable here, where callers look.
pub use super::batch::{BatchRequest, BatchResponse, MAX_BATCH};
pub use super::error::{GraphError, PageError};
pub use super::pacing::{DEFAULT_RATE_LIMIT, RateLimit};
pub use super::paging::{Collection, PageOptions};
use reqwest::Method;

/// Retries after a refused connection (see `send_with_retries`).
const CONNECT_RETRIES: u32 = 2;
/// Retries after a request that got no answer within the timeout: a Graph
/// that does not answer once seldom answers the fourth time, and waiting
/// `max_retries` timeouts would keep a scheduled run silent for minutes.
const TIMEOUT_RETRIES: u32 = 2;
/// The preferences sent with every request.
pub const PREFER: &str = r#"outlook.timezone="UTC", IdType="ImmutableId""#;

/// Tunables of [`GraphClient`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Graph root including the version, e.g. `https://graph.microsoft.com/v1.0`.
    pub graph_url: Url,
    /// Timeout of one HTTP request (connect to last body byte).
    pub timeout: Duration,
    /// Retries after the first attempt for 429/503/504, transport failures and
    /// malformed answers.
    pub max_retries: u32,
    /// First backoff step (doubled each retry, full jitter).
    pub backoff_base: Duration,
    /// Cap on one backoff wait.
    pub max_backoff: Duration,
    /// Cap on an honoured `Retry-After`.
    pub max_retry_after: Duration,
    /// Most Graph operations outstanding at once per mailbox (Outlook allows
    /// 4 per app and mailbox): a request outside a batch counts one until its
    /// answer, a batch min(4, its inner requests to that mailbox) from
    /// sending until its answer.
    pub max_concurrency: usize,
    /// At most this many Graph operations per window and mailbox (Outlook
    /// allows 10,000 per 10 minutes per app and mailbox); `None` sends
    /// without counting.
    pub rate_limit: Option<RateLimit>,
    /// Consecutive requests failing with an outage (5xx, timeout, connection
    /// failure, malformed answer) after their retries before the client stops
    /// sending anything. 0 disables the breaker.
    pub circuit_breaker_after: u32,
}

impl ClientOptions {
    /// The defaults for a Graph root, with Outlook's rate limit.
    pub fn new(graph_url: Url) -> Self {
        ClientOptions {
            graph_url,
            timeout: Duration::from_secs(60),
            max_retries: 6,
            backoff_base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            max_concurrency: 4,
            rate_limit: Some(DEFAULT_RATE_LIMIT),
            circuit_breaker_after: 5,
        }
    }

    /// The same options counting `rate_limit` per mailbox (`None`: sending
    /// without counting).
    pub fn with_rate_limit(mut self, rate_limit: Option<RateLimit>) -> Self {
        self.rate_limit = rate_limit;
        self
    }
}

/// The shared HTTP client: rustls, no redirects, `calsync/<version>` user agent.
pub fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("calsync/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(15)))
        .build()
        .map_err(|e| anyhow::anyhow!("could not set up the HTTP client: {}", error_chain_text(&e)))
}

/// The run's Graph traffic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// HTTP requests sent to Graph (retries and `$batch` POSTs included).
    pub requests: u64,
    /// Graph operations attempted: every HTTP request except `$batch` POSTs,
    /// plus every inner request of a batch (retries included).
    pub operations: u64,
    /// Requests and inner requests sent again (throttling, outages, 401).
    pub retries: u64,
    /// 429 answers, inner ones included.
    pub throttled: u64,
    /// Mean latency of the HTTP requests, in milliseconds.
    pub mean_ms: Option<f64>,
    /// 95th percentile latency, in milliseconds.
    pub p95_ms: Option<f64>,
}

impl Metrics {
    /// Mean latency in milliseconds, 0 when no request was sent.
    pub fn mean_latency_ms(&self) -> f64 {
        self.mean_ms.unwrap_or(0.0)
    }

    /// 95th percentile latency in milliseconds, 0 when no request was sent.
    pub fn p95_latency_ms(&self) -> f64 {
        self.p95_ms.unwrap_or(0.0)
    }
}

/// Told how long work advances, to draw progress; set on a client with
/// [`GraphClient::set_progress`]. Calls come from the request tasks and must
/// return quickly.
pub trait Progress: Send + Sync {
    /// A page of a collection was read, holding `items` items.
    fn page_read(&self, items: usize) {
        let _ = items;
    }

    /// `count` more requests given to [`GraphClient::batch`] have their final
    /// outcome (success or failure after retries).
    fn writes_done(&self, count: usize) {
        let _ = count;
    }
}

#[derive(Default)]
pub(super) struct Counters {
    requests: u64,
    operations: u64,
    pub(super) retries: u64,
    pub(super) throttled: u64,
    latencies_ms: Vec<f64>,
}

/// The Graph client. Cheap to clone; clones share the token source,
/// concurrency limit, circuit breaker and metrics.
#[derive(Clone)]
pub struct GraphClient {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    http: reqwest::Client,
    tokens: Arc<dyn TokenSource>,
    pub(super) opts: ClientOptions,
    /// `graph_url` without a trailing slash, to append paths to.
    base: String,
    pub(super) governor: Arc<Governor>,
    counters: Mutex<Counters>,
    consecutive_outages: AtomicU32,
    pub(super) open: AtomicBool,
    /// Whether a retry was logged at the default level yet (the first is;
    /// the rest are info, shown with -v).
    retry_told: AtomicBool,
    progress: Mutex<Option<Arc<dyn Progress>>>,
    /// Collections read once per process and shared with every sibling
    /// ([`GraphClient::get_all_once`]).
    listed: Arc<Mutex<Listings>>,
}

/// Each collection read once, by its path: a cell that the first reader
/// fills and later readers wait for.
type Listings = std::collections::HashMap<String, Arc<tokio::sync::OnceCell<Arc<Vec<Value>>>>>;

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.inner.opts.graph_url.as_str())
            .finish_non_exhaustive()
    }
}

/// How one request is sent, beyond its method, URL and body.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RequestOptions<'a> {
    /// Added to the `Prefer` header.
    pub(super) extra_prefer: Option<&'a str>,
    /// Retries of a 503 or 504 answer (`None`: `max_retries`).
    pub(super) unavailable_retries: Option<u32>,
}

/// One request as the client sends it, resolved against the Graph root:
/// built by [`GraphClient::request`], then given to
/// [`GraphClient::execute`].
pub(super) struct Request<'a> {
    pub(super) method: Method,
    pub(super) url: Url,
    /// Method and path, for errors and logs.
    pub(super) label: std::borrow::Cow<'a, str>,
    /// The encoded JSON body.
    pub(super) body: Option<Vec<u8>>,
    pub(super) options: RequestOptions<'a>,
    /// What it asks of the mailboxes it addresses.
    pub(super) cost: Cost,
}

impl<'a> Request<'a> {
    pub(super) fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    pub(super) fn options(mut self, options: RequestOptions<'a>) -> Self {
        self.options = options;
        self
    }

    pub(super) fn cost(mut self, cost: Cost) -> Self {
        self.cost = cost;
        self
    }
}

/// What one HTTP attempt came to.
enum Attempt<T> {
    Done(T),
    /// Worth another try, after `Retry-After` when given.
    Retry(GraphError, Option<Duration>),
    Unauthorized(GraphError),
    Fail(GraphError),
}

impl GraphClient {
    pub fn new(http: reqwest::Client, tokens: Arc<dyn TokenSource>, opts: ClientOptions) -> Self {
        let base = opts.graph_url.as_str().trim_end_matches('/').to_owned();
        let governor = Arc::new(Governor::new(opts.max_concurrency, opts.rate_limit));
        GraphClient {
            inner: Arc::new(Inner {
                http,
                tokens,
                opts,
                base,
                governor,
                counters: Mutex::new(Counters::default()),
                consecutive_outages: AtomicU32::new(0),
                open: AtomicBool::new(false),
                retry_told: AtomicBool::new(false),
                progress: Mutex::new(None),
                listed: Arc::default(),
            }),
        }
    }

    /// A client for another run in the same process (another pair): it
    /// shares this one's HTTP connections, token source and per-mailbox
    /// governor, so that every run together keeps each mailbox's limits,
    /// and counts its own metrics, circuit breaker and progress.
    pub fn sibling(&self) -> GraphClient {
        let inner = &self.inner;
        GraphClient {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                tokens: inner.tokens.clone(),
                opts: inner.opts.clone(),
                base: inner.base.clone(),
                governor: inner.governor.clone(),
                counters: Mutex::new(Counters::default()),
                consecutive_outages: AtomicU32::new(0),
                open: AtomicBool::new(false),
                retry_told: AtomicBool::new(false),
                progress: Mutex::new(None),
                listed: inner.listed.clone(),
            }),
        }
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.opts
    }

    /// Sets (or with `None` removes) the observer told of pages read and
    /// batched writes finished, for this client and its clones.
    pub fn set_progress(&self, progress: Option<Arc<dyn Progress>>) {
        if let Ok(mut slot) = self.inner.progress.lock() {
            *slot = progress;
        }
    }

    pub(super) fn progress(&self, f: impl FnOnce(&dyn Progress)) {
        let observer = self.inner.progress.lock().ok().and_then(|p| p.clone());
        if let Some(p) = observer {
            f(p.as_ref());
        }
    }

    /// Every item of a collection ([`get_all`](Self::get_all)), read once
    /// for this client and its siblings: a mailbox's calendars, which every
    /// pair writing or reading that mailbox looks its calendar up in, do not
    /// change during a run. A failed read is not kept; the next caller reads
    /// again.
    pub async fn get_all_once(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Arc<Vec<Value>>, GraphError> {
        let key = format!("{path}?{query:?}");
        let cell = self
            .inner
            .listed
            .lock()
            .map(|mut listed| listed.entry(key).or_default().clone())
            // A poisoned map: read without keeping.
            .unwrap_or_default();
        cell.get_or_try_init(|| async { self.get_all(path, query).await.map(Arc::new) })
            .await
            .cloned()
    }

    /// Forgets what [`get_all_once`](Self::get_all_once) kept, for this
    /// client and its siblings: a calendar it listed was found gone.
    pub fn forget_listings(&self) {
        if let Ok(mut listed) = self.inner.listed.lock() {
            listed.clear();
        }
    }

    /// GET one resource. `path` is relative to the Graph root
    /// (`/users/x/calendars`) or an absolute URL on the Graph origin.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, GraphError> {
        self.send(Method::GET, path, query, None).await
    }

    /// Any single request outside a batch. An empty answer is `Null`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, GraphError> {
        let mut request = self.request(method, path, query)?;
        if let Some(v) = body {
            let bytes = serde_json::to_vec(v).map_err(|e| {
                GraphError::local(
                    "invalid_body",
                    &request.label,
                    format!("could not encode the body: {e}"),
                )
            })?;
            request = request.body(bytes);
        }
        self.execute(request, None).await
    }

    /// A request to `path` (relative to the Graph root, or an absolute URL
    /// on its origin) with `query` added, labelled with its method and path,
    /// costing one operation on the mailbox it addresses.
    pub(super) fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Request<'static>, GraphError> {
        let label = format!("{method} {}", self.short_path(path));
        let url = self.resolve(path, query, &label)?;
        Ok(self.request_to(method, url, label))
    }

    /// A request to a resolved `url`, labelled `label`.
    pub(super) fn request_to<'a>(
        &self,
        method: Method,
        url: Url,
        label: impl Into<std::borrow::Cow<'a, str>>,
    ) -> Request<'a> {
        let cost = Cost::single(self.mailbox_of(&url));
        Request {
            method,
            url,
            label: label.into(),
            body: None,
            options: RequestOptions::default(),
            cost,
        }
    }

    /// A snapshot of the metrics so far.
    pub fn metrics(&self) -> Metrics {
        let Ok(c) = self.inner.counters.lock() else {
            return Metrics::default();
        };
        let (mean_ms, p95_ms) = if c.latencies_ms.is_empty() {
            (None, None)
        } else {
            let mut sorted = c.latencies_ms.clone();
            sorted.sort_by(f64::total_cmp);
            let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
            let rank = ((sorted.len() as f64) * 0.95).ceil() as usize;
            let p95 = sorted[rank.clamp(1, sorted.len()) - 1];
            (Some(mean), Some(p95))
        };
        Metrics {
            requests: c.requests,
            operations: c.operations,
            retries: c.retries,
            throttled: c.throttled,
            mean_ms,
            p95_ms,
        }
    }

    pub(super) fn count(&self, f: impl FnOnce(&mut Counters)) {
        if let Ok(mut c) = self.inner.counters.lock() {
            f(&mut c);
        }
    }

    /// Feeds the circuit breaker with the final outcome of one request.
    pub(super) fn note_outcome(&self, outage: bool) {
        if !outage {
            self.inner.consecutive_outages.store(0, Ordering::SeqCst);
            return;
        }
        let n = self
            .inner
            .consecutive_outages
            .fetch_add(1, Ordering::SeqCst)
            + 1;
        let limit = self.inner.opts.circuit_breaker_after;
        if limit > 0 && n >= limit && !self.inner.open.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                failures = n,
                "Graph keeps failing; no further requests will be sent"
            );
        }
    }

    /// A path or link for messages: no query, relative to the Graph root when on it.
    pub(super) fn short_path<'a>(&self, path: &'a str) -> &'a str {
        let path = strip_query(path);
        match path.strip_prefix(self.inner.base.as_str()) {
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        }
    }

    /// The mailbox a request to `url` (on the Graph origin) addresses.
    pub(super) fn mailbox_of(&self, url: &Url) -> Mailbox {
        let root = self.inner.opts.graph_url.path().trim_end_matches('/');
        match url.path().strip_prefix(root) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => Mailbox::of_path(rest),
            // Another version than the configured one (`/beta/users/…`).
            _ => Mailbox::of_path(
                url.path()
                    .trim_start_matches('/')
                    .split_once('/')
                    .map_or("", |(_, rest)| rest),
            ),
        }
    }

    /// `path` relative to the Graph root, or an absolute URL on its origin.
    pub(super) fn resolve(
        &self,
        path: &str,
        query: &[(&str, &str)],
        label: &str,
    ) -> Result<Url, GraphError> {
        let mut url = if path.starts_with("https://") || path.starts_with("http://") {
            self.check_link(path, label)?
        } else {
            let sep = if path.starts_with('/') { "" } else { "/" };
            Url::parse(&format!("{}{sep}{path}", self.inner.base)).map_err(|e| {
                GraphError::local(
                    "invalid_url",
                    label,
                    format!("not a valid request path: {e}"),
                )
            })?
        };
        if !query.is_empty() {
            let mut q = url.query().unwrap_or_default().to_owned();
            for (k, v) in query {
                if !q.is_empty() {
                    q.push('&');
                }
                encode_component(k, &mut q);
                q.push('=');
                encode_component(v, &mut q);
            }
            url.set_query(Some(&q));
        }
        Ok(url)
    }

    /// A link from Graph may be followed only on the configured origin: the
    /// token goes nowhere else.
    pub(super) fn check_link(&self, link: &str, label: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|e| {
            GraphError::local(
                "malformed",
                label,
                format!("Graph sent a link that is not a URL ({e})"),
            )
        })?;
        let graph = &self.inner.opts.graph_url;
        if same_origin(&url, graph) {
            Ok(url)
        } else {
            Err(GraphError::local(
                "foreign_next_link",
                label,
                format!(
                    "Graph sent a link that points at another host ({}, not {}); it was not followed \
                     and the access token was not sent there",
                    url.origin().ascii_serialization(),
                    graph.origin().ascii_serialization()
                ),
            ))
        }
    }

    /// The error of a request not sent because the circuit breaker is open.
    pub(super) fn unavailable(&self, label: &str) -> GraphError {
        GraphError::local(
            "unavailable",
            label,
            format!(
                "Graph is unavailable: {} requests in a row failed with server errors, timeouts \
                 or connection failures, so no further requests are sent",
                self.inner.opts.circuit_breaker_after
            ),
        )
    }

    /// Sends one request with retries, the 401 refresh and the breaker;
    /// `lease`, when given, holds the mailbox room for the first attempt.
    pub(super) async fn execute(
        &self,
        request: Request<'_>,
        lease: Option<Lease>,
    ) -> Result<Value, GraphError> {
        self.execute_parsed(request, lease, &|bytes: &[u8]| {
            serde_json::from_slice::<Value>(bytes)
        })
        .await
    }

    /// [`execute`](Self::execute) with the answer's body turned into a `T`
    /// by `parse` (an empty body is given as `null`); an answer `parse`
    /// refuses counts as cut off, and is asked for again.
    pub(super) async fn execute_parsed<T>(
        &self,
        request: Request<'_>,
        mut lease: Option<Lease>,
        parse: &(dyn Fn(&[u8]) -> serde_json::Result<T> + Send + Sync),
    ) -> Result<T, GraphError> {
        let label: &str = &request.label;
        let mut attempt = 0u32;
        let mut refreshed = false;
        let mut force_refresh = false;
        loop {
            if self.inner.open.load(Ordering::SeqCst) {
                return Err(self.unavailable(label));
            }
            let token = self.inner.tokens.token(force_refresh).await.map_err(|e| {
                GraphError::local("token", label, "could not obtain an access token")
                    .with_source(e.reallocate_into_boxed_dyn_error_without_backtrace())
            })?;
            force_refresh = false;
            let lease = match lease.take() {
                Some(lease) => lease,
                None => self.inner.governor.acquire(&request.cost).await,
            };
            let outcome = self.attempt(&request, &token, lease, parse).await;
            match outcome {
                Attempt::Done(v) => {
                    self.note_outcome(false);
                    return Ok(v);
                }
                Attempt::Fail(e) => {
                    self.note_outcome(e.is_outage());
                    return Err(e);
                }
                Attempt::Unauthorized(e) => {
                    if refreshed {
                        self.note_outcome(false);
                        return Err(e.with_source(Failure::Auth(
                            "Graph refused the access token even after a fresh one was obtained. \
                             Sign in again (`calsync login`), or for app-only access check client_id, \
                             client_secret and the app's admin-consented permissions."
                                .to_owned(),
                        )));
                    }
                    refreshed = true;
                    force_refresh = true;
                    self.count(|c| c.retries += 1);
                    tracing::debug!(request = %label, "Graph answered 401; retrying once with a fresh token");
                }
                Attempt::Retry(e, retry_after) => {
                    // A refused connection is most often a wrong graph_url or a
                    // network that is down: a short retry covers a blip without
                    // keeping a scheduled run waiting for minutes.
                    let max = self.inner.opts.max_retries;
                    let (limit, caller_retries) = match (
                        e.code.as_str(),
                        e.status,
                        request.options.unavailable_retries,
                    ) {
                        ("connect", _, _) => (max.min(CONNECT_RETRIES), false),
                        ("timeout", _, _) => (max.min(TIMEOUT_RETRIES), false),
                        (_, Some(503 | 504), Some(n)) if n < max => (n, true),
                        _ => (max, false),
                    };
                    if attempt >= limit {
                        // A caller that asked to have the failure early
                        // tries another way; only its own failure counts
                        // towards the breaker.
                        if !caller_retries {
                            self.note_outcome(e.is_outage());
                        }
                        let mut e = e;
                        e.attempts = attempt + 1;
                        return Err(e);
                    }
                    attempt += 1;
                    self.count(|c| c.retries += 1);
                    let delay = self.delay(attempt, retry_after);
                    self.log_retry(&e, delay, attempt, limit);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Sends `request` once, holding `lease` until its answer is read.
    async fn attempt<T>(
        &self,
        request: &Request<'_>,
        token: &secrecy::SecretString,
        lease: Lease,
        parse: &(dyn Fn(&[u8]) -> serde_json::Result<T> + Send + Sync),
    ) -> Attempt<T> {
        let label: &str = &request.label;
        let client_request_id = new_client_request_id();
        let prefer = match request.options.extra_prefer {
            Some(extra) => format!("{PREFER}, {extra}"),
            None => PREFER.to_owned(),
        };
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), request.url.clone())
            .timeout(self.inner.opts.timeout)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .header("Prefer", prefer)
            .header("client-request-id", &client_request_id);
        if let Some(body) = &request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }

        let cost = lease.cost.clone();
        self.count(|c| {
            c.requests += 1;
            c.operations += u64::from(cost.ops());
        });
        let started = Instant::now();
        let sent = builder.send().await;
        let result = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                resp.bytes().await.map(|b| (status, headers, b))
            }
            Err(e) => Err(e),
        };
        drop(lease);
        let elapsed = started.elapsed();
        let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
        self.count(|c| c.latencies_ms.push(elapsed_ms));

        let (status, headers, bytes) = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(request = %label, %client_request_id, elapsed_ms, error = %e, "graph request failed");
                let code = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "transport"
                };
                if e.is_timeout() {
                    // reqwest adds only "operation timed out" and the URL.
                    return Attempt::Retry(
                        GraphError::local(
                            code,
                            label,
                            format!(
                                "no answer within {} (request_timeout); check graph_url, the \
                                 network and the Microsoft 365 service health, or raise \
                                 request_timeout",
                                seconds(self.inner.opts.timeout)
                            ),
                        ),
                        None,
                    );
                }
                let what = if e.is_connect() {
                    "could not connect"
                } else if e.is_body() || e.is_decode() {
                    "the answer was cut off"
                } else {
                    "the request failed"
                };
                let err = GraphError::local(
                    code,
                    label,
                    format!(
                        "{what} ({}); check graph_url and the network",
                        error_chain_text(&e)
                    ),
                );
                return if e.is_builder() {
                    Attempt::Fail(err)
                } else {
                    Attempt::Retry(err, None)
                };
            }
        };
        let request_id = header_value(&headers, "request-id");
        tracing::debug!(
            request = %label,
            status,
            request_id = request_id.as_deref().unwrap_or(""),
            %client_request_id,
            elapsed_ms,
            "graph request"
        );

        if (200..300).contains(&status) {
            let parsed = if bytes.iter().all(u8::is_ascii_whitespace) {
                parse(b"null")
            } else {
                parse(&bytes)
            };
            return match parsed {
                Ok(v) => Attempt::Done(v),
                Err(e) => {
                    let mut err = GraphError::local(
                        "malformed",
                        label,
                        format!("the answer is not valid JSON ({e}); it may have been cut off"),
                    );
                    err.status = Some(status);
                    err.request_id = request_id;
                    Attempt::Retry(err, None)
                }
            };
        }

        let err = error_from_bytes(status, &bytes, request_id, label);
        match status {
            401 => Attempt::Unauthorized(err),
            429 | 503 | 504 => {
                if status == 429 {
                    self.count(|c| c.throttled += 1);
                }
                let ra = header_value(&headers, "retry-after")
                    .as_deref()
                    .and_then(parse_retry_after);
                // Nothing goes to the mailbox until Graph said it may.
                if let Some(ra) = ra {
                    let wait = ra.min(self.inner.opts.max_retry_after);
                    self.inner
                        .governor
                        .back_off(cost.0.iter().map(|(m, _)| m), wait);
                }
                Attempt::Retry(err, ra)
            }
            _ => Attempt::Fail(err),
        }
    }

    /// Says that a request is sent again, and why: the first time in a run
    /// at the default level (warn), so that an operator watching a run that
    /// seems stuck learns what it waits for; every retry at info (-v).
    pub(super) fn log_retry(&self, err: &GraphError, wait: Duration, retry: u32, of: u32) {
        let request = &err.request;
        let why = match (err.code.as_str(), err.status) {
            ("timeout", _) => format!(
                "Graph did not answer {request} within {} (request_timeout)",
                seconds(self.inner.opts.timeout)
            ),
            ("connect", _) => format!("calsync could not connect to Graph for {request}"),
            ("malformed", _) => format!("Graph's answer to {request} was cut off or not JSON"),
            ("transport", _) => format!("the connection broke during {request}"),
            (code, Some(429)) => format!("Graph throttled {request} (429 {code})"),
            (code, Some(status)) => format!("Graph answered {request} with {status} {code}"),
            (code, None) => format!("{request} failed ({code})"),
        };
        let first = !self.inner.retry_told.swap(true, Ordering::Relaxed);
        let message = format!(
            "{why}; retrying in {} (retry {retry} of at most {of}){}",
            seconds(wait),
            if first {
                "; further retries are logged with -v"
            } else {
                ""
            }
        );
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        if first {
            tracing::warn!(
                status = err.status,
                code = %err.code,
                wait_ms,
                retry,
                "{message}"
            );
        } else {
            tracing::info!(
                status = err.status,
                code = %err.code,
                wait_ms,
                retry,
                "{message}"
            );
        }
    }

    /// `Retry-After` (capped) when given, else capped full-jitter backoff.
    pub(super) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let o = &self.inner.opts;
        match retry_after {
            Some(ra) => ra.min(o.max_retry_after),
            None => backoff(attempt, o.backoff_base, o.max_backoff),
        }
    }
}

/// A duration for people: `30 s`, `1.5 s`, `250 ms`.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

pub(super) fn strip_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// What a query key or value keeps literally: the unreserved characters and
/// those OData uses literally (`$`, parentheses, `/`, `:`, `,`, `@`, `*`, `!`).
const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b':')
    .remove(b'/')
    .remove(b'@')
    .remove(b'*')
    .remove(b'!');

/// Percent-encodes a query key or value onto `out`.
fn encode_component(s: &str, out: &mut String) {
    out.extend(utf8_percent_encode(s, QUERY_COMPONENT));
}

/// A random version-4 UUID, for `client-request-id`.
pub(super) fn new_client_request_id() -> String {
    let mut r = fastrand::u128(..);
    r = (r & !(0xF_u128 << 76)) | (0x4_u128 << 76);
    r = (r & !(0x3_u128 << 62)) | (0x2_u128 << 62);
    let h = format!("{r:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;
