//! The one HTTP client every Microsoft Graph request goes through.
//!
//! It adds the bearer token (only ever to the configured Graph origin), the
//! `Prefer` headers calsync always wants (UTC times, immutable ids) and a
//! `client-request-id`; pages through `@odata.nextLink`; sends writes as JSON
//! batches of at most 20; keeps every mailbox within 4 operations outstanding
//! and within its rate limit per window (see [`GraphClient::batch`]); retries
//! throttling (429), 503, 504, transport failures and malformed answers with
//! `Retry-After` or capped, jittered exponential backoff; refreshes the token
//! once after a 401; stops sending anything once Graph has failed several
//! requests in a row (circuit breaker); and keeps the run's request metrics. A [`Progress`] observer, when set,
//! hears of each page read and each batched write finished.
//!
//! Bodies of successful answers never appear in errors or logs: they may hold
//! private event data.

use crate::auth::{TokenSource, error_chain_text, truncate_chars};
use crate::error::Failure;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// Graph's limit on requests in one `$batch`.
pub const MAX_BATCH: usize = 20;

/// Retries after a refused connection (see `send_with_retries`).
const CONNECT_RETRIES: u32 = 2;
/// Retries after a request that got no answer within the timeout: a Graph
/// that does not answer once seldom answers the fourth time, and waiting
/// `max_retries` timeouts would keep a scheduled run silent for minutes.
const TIMEOUT_RETRIES: u32 = 2;
/// The preferences sent with every request.
pub const PREFER: &str = r#"outlook.timezone="UTC", IdType="ImmutableId""#;
/// Longest excerpt of a non-JSON error body quoted in an error.
const MAX_EXCERPT: usize = 200;

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
    pub rate_limit: Option<(u32, Duration)>,
    /// Consecutive requests failing with an outage (5xx, timeout, connection
    /// failure, malformed answer) after their retries before the client stops
    /// sending anything. 0 disables the breaker.
    pub circuit_breaker_after: u32,
}

impl ClientOptions {
    /// The defaults for a Graph root.
    pub fn new(graph_url: Url) -> Self {
        ClientOptions {
            graph_url,
            timeout: Duration::from_secs(60),
            max_retries: 6,
            backoff_base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            max_concurrency: 4,
            rate_limit: rate_limit_from_env().or(Some(DEFAULT_RATE_LIMIT)),
            circuit_breaker_after: 5,
        }
    }
}

/// Outlook's rate limit per app and mailbox.
pub const DEFAULT_RATE_LIMIT: (u32, Duration) = (10_000, Duration::from_secs(600));

/// `CALSYNC_GRAPH_RATE_LIMIT=OPS/SECONDS` replaces Outlook's rate limit,
/// for a Graph (or a stand-in) that counts over another window, such as a
/// benchmark that compresses time. Not part of the configuration contract.
fn rate_limit_from_env() -> Option<(u32, Duration)> {
    let value = std::env::var("CALSYNC_GRAPH_RATE_LIMIT").ok()?;
    let (ops, secs) = value.trim().split_once('/')?;
    let ops: u32 = ops.trim().parse().ok()?;
    let secs: f64 = secs.trim().trim_end_matches('s').parse().ok()?;
    (ops > 0 && secs.is_finite() && secs > 0.0)
        .then(|| (ops, Duration::from_secs_f64(secs.min(86_400.0))))
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

/// A failed Graph request.
///
/// `code` is Graph's error code (`ErrorItemNotFound`, `TooManyRequests`, …) or
/// a local kind: `transport`, `timeout`, `malformed`, `http_<status>` (error
/// body not JSON), `token` (no access token), `foreign_next_link`,
/// `unavailable` (circuit breaker open), `invalid_url`.
#[derive(Debug, Clone)]
pub struct GraphError {
    /// HTTP status, when Graph answered.
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
    /// Graph's `request-id`, for support cases.
    pub request_id: Option<String>,
    /// Method and path, e.g. `GET /users/a@b/calendars`.
    pub request: String,
    /// How many times the request was sent (1 unless it was retried).
    pub attempts: u32,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl GraphError {
    fn local(code: &str, request: &str, message: impl Into<String>) -> Self {
        GraphError {
            status: None,
            code: code.to_owned(),
            message: message.into(),
            request_id: None,
            request: request.to_owned(),
            attempts: 1,
            source: None,
        }
    }

    fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// 404, or Graph's "not found" codes.
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
            || matches!(self.code.as_str(), "ErrorItemNotFound" | "itemNotFound")
    }

    /// The event Graph names in an `ErrorDuplicateTransactionId` error
    /// (`@event.existingEventId`): the one an earlier POST with the same
    /// `transactionId` created.
    pub fn existing_event_id(&self) -> Option<&str> {
        let source: &(dyn std::error::Error + 'static) = self.source.as_deref()?;
        source.downcast_ref::<ExistingEvent>().map(|e| e.0.as_str())
    }

    /// 401 or 403 (token refused, or no permission), or no token could be had.
    pub fn is_auth(&self) -> bool {
        matches!(self.status, Some(401 | 403)) || self.code == "token"
    }

    /// 429.
    pub fn is_throttled(&self) -> bool {
        self.status == Some(429)
    }

    /// The circuit breaker is open: Graph kept failing and nothing was sent.
    pub fn is_unavailable(&self) -> bool {
        self.code == "unavailable"
    }

    /// A failure that says Graph is not working (5xx, timeout, connection
    /// failure, malformed answer) rather than that the request was wrong.
    pub fn is_outage(&self) -> bool {
        match self.status {
            Some(s) => s >= 500 || self.code == "malformed",
            None => matches!(
                self.code.as_str(),
                "transport" | "connect" | "timeout" | "malformed" | "unavailable"
            ),
        }
    }
}

/// The `@event.existingEventId` of an `ErrorDuplicateTransactionId` error,
/// kept as the error's source.
#[derive(Debug)]
struct ExistingEvent(String);

impl fmt::Display for ExistingEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Graph names the event created with this transactionId earlier")
    }
}

impl std::error::Error for ExistingEvent {}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let req = &self.request;
        match (self.status, self.code.as_str()) {
            (_, "malformed") => write!(
                f,
                "Graph gave a malformed answer to {req}: {}",
                self.message
            )?,
            (Some(status), code) => {
                write!(f, "Graph answered {status} {code} to {req}")?;
                if !self.message.is_empty() {
                    write!(f, ": {}", self.message)?;
                }
            }
            (None, "transport" | "connect" | "timeout") if self.attempts > 1 => write!(
                f,
                "Graph could not be reached for {req} ({} attempts): {}",
                self.attempts, self.message
            )?,
            (None, "transport" | "connect" | "timeout") => {
                write!(f, "Graph could not be reached for {req}: {}", self.message)?
            }
            (None, "token") => write!(f, "Could not obtain an access token for {req}")?,
            (None, _) => write!(f, "{req} failed: {}", self.message)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// One write (or read) to send inside a `$batch`.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub method: Method,
    /// Relative to the Graph root, e.g. `/users/x/events/ID`.
    pub url: String,
    /// The JSON body, already encoded: a run of thousands of writes holds
    /// every body until its batch leaves, and the encoded form is the
    /// smallest.
    pub body: Option<Box<RawValue>>,
}

impl BatchRequest {
    /// A request without a body (`DELETE`, `GET`).
    pub fn bare(method: Method, url: String) -> Self {
        BatchRequest {
            method,
            url,
            body: None,
        }
    }

    /// A request with a JSON body.
    pub fn with_body(
        method: Method,
        url: String,
        body: &impl Serialize,
    ) -> serde_json::Result<Self> {
        Ok(BatchRequest {
            method,
            url,
            body: Some(serde_json::value::to_raw_value(body)?),
        })
    }
}

/// A successful (status below 400) inner answer.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResponse {
    pub status: u16,
    /// `Null` when there is none.
    pub body: Value,
}

/// Every item of a collection, and the delta link that ended it, if any.
#[derive(Debug, Clone, Default)]
pub struct Collection {
    pub items: Vec<Value>,
    /// `@odata.deltaLink` of the last page (delta queries only).
    pub delta_link: Option<String>,
}

/// Why [`GraphClient::for_each_page`] stopped.
#[derive(Debug)]
pub enum PageError {
    /// Graph (or the way to it) failed.
    Graph(GraphError),
    /// The page consumer refused a page.
    Consumer(anyhow::Error),
}

impl From<GraphError> for PageError {
    fn from(e: GraphError) -> Self {
        PageError::Graph(e)
    }
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
struct Counters {
    requests: u64,
    operations: u64,
    retries: u64,
    throttled: u64,
    latencies_ms: Vec<f64>,
}

/// The Graph client. Cheap to clone; clones share the token source,
/// concurrency limit, circuit breaker and metrics.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    tokens: Arc<dyn TokenSource>,
    opts: ClientOptions,
    /// `graph_url` without a trailing slash, to append paths to.
    base: String,
    governor: Arc<Governor>,
    counters: Mutex<Counters>,
    consecutive_outages: AtomicU32,
    open: AtomicBool,
    /// Whether a retry was logged at the default level yet (the first is;
    /// the rest are info, shown with -v).
    retry_told: AtomicBool,
    progress: Mutex<Option<Arc<dyn Progress>>>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.inner.opts.graph_url.as_str())
            .finish_non_exhaustive()
    }
}

/// How one request is sent, beyond its method, URL and body.
#[derive(Debug, Clone, Copy, Default)]
struct Call<'a> {
    /// Added to the `Prefer` header.
    extra_prefer: Option<&'a str>,
    /// Retries of a 503 or 504 answer (`None`: `max_retries`).
    unavailable_retries: Option<u32>,
}

/// How [`GraphClient::for_each_page`] reads a collection.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageOptions<'a> {
    /// Sent as `Prefer: odata.maxpagesize` (delta queries ignore `$top`).
    pub max_page_size: Option<u32>,
    /// When set, each item holds only these top-level fields: the rest is
    /// skipped as the page is parsed, never built.
    pub keep: Option<&'a [&'a str]>,
    /// Retries of a page answered 503 or 504 before the error is given
    /// back (`None`: as many as any request gets). A caller that can ask
    /// for less, such as a shorter range, sets it low: Graph tends to fail
    /// long ranges again and again (microsoft-graph-docs#3657).
    pub unavailable_retries: Option<u32>,
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

    fn progress(&self, f: impl FnOnce(&dyn Progress)) {
        let observer = self.inner.progress.lock().ok().and_then(|p| p.clone());
        if let Some(p) = observer {
            f(p.as_ref());
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
        let label = format!("{method} {}", self.short_path(path));
        let url = self.resolve(path, query, &label)?;
        let body = match body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| {
                GraphError::local(
                    "invalid_body",
                    &label,
                    format!("could not encode the body: {e}"),
                )
            })?),
            None => None,
        };
        let cost = Cost::single(self.mailbox_of(&url));
        self.execute(method, url, &label, body, Call::default(), cost, None)
            .await
    }

    /// GET a collection, following `@odata.nextLink` until absent (across
    /// empty pages too); all `value` items concatenated.
    pub async fn get_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, GraphError> {
        Ok(self.get_collection(path, query, None).await?.items)
    }

    /// Like [`get_all`](Self::get_all), also returning the final
    /// `@odata.deltaLink`; `max_page_size` sends `Prefer: odata.maxpagesize`
    /// (delta queries). `path` may be a stored delta or next link (absolute,
    /// on the Graph origin).
    pub async fn get_collection(
        &self,
        path: &str,
        query: &[(&str, &str)],
        max_page_size: Option<u32>,
    ) -> Result<Collection, GraphError> {
        let mut items = Vec::new();
        let delta_link = self
            .for_each_page(
                path,
                query,
                PageOptions {
                    max_page_size,
                    ..PageOptions::default()
                },
                |page| {
                    items.extend(page);
                    Ok(())
                },
            )
            .await
            .map_err(|e| match e {
                PageError::Graph(e) => e,
                // The consumer above never fails.
                PageError::Consumer(e) => GraphError::local("internal", path, e.to_string()),
            })?;
        Ok(Collection { items, delta_link })
    }

    /// Reads a collection page by page, following `@odata.nextLink` until
    /// absent (across empty pages too), and hands each page's `value` items
    /// to `on_page` as it arrives, so that no more than one page is held as
    /// JSON at a time. Returns the final `@odata.deltaLink`, if any. An error
    /// of `on_page` stops the reading.
    ///
    /// With `keep`, each item holds only the named top-level fields: the
    /// rest is skipped as the page is parsed, never built (delta queries
    /// take no `$select`, and send whole events).
    pub async fn for_each_page<F>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        options: PageOptions<'_>,
        mut on_page: F,
    ) -> Result<Option<String>, PageError>
    where
        F: FnMut(Vec<Value>) -> anyhow::Result<()> + Send,
    {
        let PageOptions {
            max_page_size,
            keep,
            unavailable_retries,
        } = options;
        let first_label = format!("GET {}", self.short_path(path));
        let mut url = self.resolve(path, query, &first_label)?;
        let extra_prefer = max_page_size.map(|n| format!("odata.maxpagesize={n}"));
        let mut delta_link = None;
        let mut page = 1u32;
        loop {
            let label = if page == 1 {
                first_label.clone()
            } else {
                format!("{first_label} (page {page})")
            };
            let parse = |bytes: &[u8]| {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                let page = PageSeed { keep }.deserialize(&mut de)?;
                de.end()?;
                Ok(page)
            };
            let answer = self
                .execute_parsed(
                    Method::GET,
                    url.clone(),
                    &label,
                    None,
                    Call {
                        extra_prefer: extra_prefer.as_deref(),
                        unavailable_retries,
                    },
                    Cost::single(self.mailbox_of(&url)),
                    None,
                    &parse,
                )
                .await?;
            let Some(mut obj) = answer else {
                return Err(GraphError::local(
                    "malformed",
                    &label,
                    "the answer is not a JSON object",
                )
                .into());
            };
            let items = match obj.items.take() {
                Some(items) => items,
                None => {
                    return Err(GraphError::local(
                        "malformed",
                        &label,
                        "the answer has no `value` array",
                    )
                    .into());
                }
            };
            if let Some(Value::String(delta)) = obj.delta_link.take() {
                delta_link = Some(delta);
            }
            let next = match obj.next_link.take() {
                None | Some(Value::Null) => None,
                Some(Value::String(next)) => Some(next),
                Some(_) => {
                    return Err(GraphError::local(
                        "malformed",
                        &label,
                        "@odata.nextLink is not a string",
                    )
                    .into());
                }
            };
            self.progress(|p| p.page_read(items.len()));
            on_page(items).map_err(PageError::Consumer)?;
            let Some(next) = next else {
                return Ok(delta_link);
            };
            let next_url = self.check_link(&next, &label)?;
            if next_url == url {
                return Err(GraphError::local(
                    "malformed",
                    &label,
                    "the @odata.nextLink repeats the page just read",
                )
                .into());
            }
            url = next_url;
            page += 1;
        }
    }

    /// Sends requests through JSON batching, at most 20 per `$batch`, and
    /// returns one outcome per request, in input order.
    ///
    /// Graph may run an unordered batch's inner requests 4 at once, each
    /// counting against the mailbox's 4 concurrent operations, and a client
    /// cannot tell when the last of them finished before the answer arrives
    /// (`concepts/json-batching.md`). So a batch holds min(4, its size) of
    /// the slots of each mailbox it addresses from sending until its answer
    /// (see [`Governor`]): batches of 4 or more to one mailbox go one after
    /// another, and batches to other mailboxes alongside. The rate limit is
    /// counted in a sliding window and waited for, never hit.
    ///
    /// Inner 429/503/504 answers (and inner answers missing from a batch)
    /// are sent again, without the requests that succeeded, after their
    /// `Retry-After` (else backoff), up to `max_retries` times; a
    /// `Retry-After` also pauses every request to that mailbox. Inner
    /// answers of 400 and above are errors.
    pub async fn batch(
        &self,
        requests: Vec<BatchRequest>,
    ) -> Vec<Result<BatchResponse, GraphError>> {
        self.batch_keeping(requests, None).await
    }

    /// Like [`batch`](Self::batch), keeping of each successful answer's
    /// body only the named top-level fields (all of them with `None`). Graph
    /// answers a create with the whole event; a run of thousands of writes
    /// that needs only the new ids should not hold every event until the
    /// end.
    pub async fn batch_keeping(
        &self,
        requests: Vec<BatchRequest>,
        keep: Option<&[&str]>,
    ) -> Vec<Result<BatchResponse, GraphError>> {
        let mut w = Writes::new(&requests, keep);
        // Batches sent and not answered yet: their requests, and the answer.
        let mut flying: tokio::task::JoinSet<(Vec<usize>, Result<Value, GraphError>)> =
            tokio::task::JoinSet::new();
        loop {
            w.requeue_due(Instant::now());
            if self.inner.open.load(Ordering::SeqCst) {
                // The breaker is open: what is left fails without a request.
                w.fail_waiting(&self.unavailable(BATCH_LABEL));
            }
            if w.queue.is_empty() && w.later.is_empty() && flying.is_empty() {
                break;
            }
            // The next batch: the first 20 waiting.
            let next: Vec<usize> = w.queue.iter().take(MAX_BATCH).copied().collect();
            let cost = Cost::batch(next.iter().map(|&i| w.mailboxes[i].clone()));
            let retry_due = w.later.peek().map(|Reverse((at, _))| *at);
            tokio::select! {
                lease = self.inner.governor.acquire(&cost), if !next.is_empty() => {
                    w.queue.drain(..next.len());
                    self.send_batch(&mut w, next, cost, lease, &mut flying);
                }
                Some(joined) = flying.join_next() => match joined {
                    Ok((chunk, answer)) => self.settle_batch(&mut w, &chunk, answer),
                    // A panic is the caller's, as if the batch were sent inline.
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // Never aborted: only a runtime shutting down cancels it.
                    Err(_) => {}
                },
                () = tokio::time::sleep_until(retry_due.unwrap_or_else(Instant::now).into()),
                    if retry_due.is_some() => {}
            }
            self.report_writes(&mut w);
        }
        self.report_writes(&mut w);
        w.outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Err(GraphError::local(
                        "internal",
                        BATCH_LABEL,
                        "request was never sent",
                    ))
                })
            })
            .collect()
    }

    /// Sends the requests `chunk` as one `$batch` holding `lease`, its
    /// answer to come out of `flying`.
    fn send_batch(
        &self,
        w: &mut Writes<'_>,
        chunk: Vec<usize>,
        cost: Cost,
        lease: Lease,
        flying: &mut tokio::task::JoinSet<(Vec<usize>, Result<Value, GraphError>)>,
    ) {
        use tracing::Instrument;
        let prepared = batch_payload(w.requests, &chunk)
            .map_err(|e| {
                GraphError::local(
                    "invalid_body",
                    BATCH_LABEL,
                    format!("could not encode the batch: {e}"),
                )
            })
            .and_then(|payload| Ok((payload, self.resolve("/$batch", &[], BATCH_LABEL)?)));
        let (payload, url) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                for &i in &chunk {
                    w.outcomes[i] = Some(Err(err.clone()));
                }
                return;
            }
        };
        let client = self.clone();
        let send = async move {
            let answer = client
                .execute(
                    Method::POST,
                    url,
                    BATCH_LABEL,
                    Some(payload),
                    Call::default(),
                    cost,
                    Some(lease),
                )
                .await;
            (chunk, answer)
        };
        flying.spawn(send.in_current_span());
    }

    /// Takes a batch's answer: each request of `chunk` gets its outcome, or
    /// waits to be sent again.
    fn settle_batch(&self, w: &mut Writes<'_>, chunk: &[usize], answer: Result<Value, GraphError>) {
        let mut answers = match answer.and_then(|v| parse_batch_answer(v, BATCH_LABEL)) {
            Ok(answers) => answers,
            Err(err) => {
                for &i in chunk {
                    w.outcomes[i] = Some(Err(err.clone()));
                }
                return;
            }
        };
        let mut again: Vec<(usize, GraphError, Option<Duration>)> = Vec::new();
        for &i in chunk {
            let req = &w.requests[i];
            let label = format!("{} {}", req.method, strip_query(&req.url));
            let Some(ans) = answers.remove(&i.to_string()) else {
                again.push((
                    i,
                    GraphError::local(
                        "malformed",
                        &label,
                        "the $batch answer holds no response for this request",
                    ),
                    None,
                ));
                continue;
            };
            if let Some(id) = header_str(&ans.headers, "request-id") {
                tracing::debug!(request = %label, status = ans.status, request_id = %id, "graph batch item");
            }
            if ans.status < 400 {
                self.note_outcome(false);
                w.outcomes[i] = Some(Ok(BatchResponse {
                    status: ans.status,
                    body: kept_fields(ans.body, w.keep),
                }));
                continue;
            }
            let err = error_from_value(ans.status, &ans.body, None, &label);
            if ans.status == 429 {
                self.count(|c| c.throttled += 1);
            }
            if matches!(ans.status, 429 | 503 | 504) {
                let ra = header_str(&ans.headers, "retry-after")
                    .as_deref()
                    .and_then(parse_retry_after)
                    .map(|ra| ra.min(self.inner.opts.max_retry_after));
                if let Some(ra) = ra {
                    // Nothing goes to the mailbox until Graph said it may.
                    self.inner.governor.back_off([&w.mailboxes[i]], ra);
                }
                again.push((i, err, ra));
            } else {
                self.note_outcome(err.is_outage());
                w.outcomes[i] = Some(Err(err));
            }
        }
        let now = Instant::now();
        let mut retried = 0u64;
        for (i, err, ra) in again {
            if w.attempts[i] >= self.inner.opts.max_retries
                || self.inner.open.load(Ordering::SeqCst)
            {
                self.note_outcome(err.is_outage());
                w.outcomes[i] = Some(Err(err));
                continue;
            }
            w.attempts[i] += 1;
            retried += 1;
            let delay = self.delay(w.attempts[i], ra);
            self.log_retry(&err, delay, w.attempts[i], self.inner.opts.max_retries);
            w.later.push(Reverse((now + delay, i)));
        }
        self.count(|c| c.retries += retried);
    }

    /// Tells the progress observer how many more batched requests have their
    /// final outcome since the last report.
    fn report_writes(&self, w: &mut Writes<'_>) {
        let done = w.outcomes.iter().filter(|o| o.is_some()).count();
        if done > w.reported {
            self.progress(|p| p.writes_done(done - w.reported));
            w.reported = done;
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

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        if let Ok(mut c) = self.inner.counters.lock() {
            f(&mut c);
        }
    }

    /// Feeds the circuit breaker with the final outcome of one request.
    fn note_outcome(&self, outage: bool) {
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
    fn short_path<'a>(&self, path: &'a str) -> &'a str {
        let path = strip_query(path);
        match path.strip_prefix(self.inner.base.as_str()) {
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        }
    }

    /// The mailbox a request to `url` (on the Graph origin) addresses.
    fn mailbox_of(&self, url: &Url) -> Mailbox {
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
    fn resolve(&self, path: &str, query: &[(&str, &str)], label: &str) -> Result<Url, GraphError> {
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
    fn check_link(&self, link: &str, label: &str) -> Result<Url, GraphError> {
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
    fn unavailable(&self, label: &str) -> GraphError {
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
    #[allow(clippy::too_many_arguments)]
    async fn execute(
        &self,
        method: Method,
        url: Url,
        label: &str,
        body: Option<Vec<u8>>,
        call: Call<'_>,
        cost: Cost,
        lease: Option<Lease>,
    ) -> Result<Value, GraphError> {
        self.execute_parsed(
            method,
            url,
            label,
            body,
            call,
            cost,
            lease,
            &|bytes: &[u8]| serde_json::from_slice::<Value>(bytes),
        )
        .await
    }

    /// [`execute`](Self::execute) with the answer's body turned into a `T`
    /// by `parse` (an empty body is given as `null`); an answer `parse`
    /// refuses counts as cut off, and is asked for again.
    #[allow(clippy::too_many_arguments)]
    async fn execute_parsed<T>(
        &self,
        method: Method,
        url: Url,
        label: &str,
        body: Option<Vec<u8>>,
        call: Call<'_>,
        cost: Cost,
        mut lease: Option<Lease>,
        parse: &(dyn Fn(&[u8]) -> serde_json::Result<T> + Send + Sync),
    ) -> Result<T, GraphError> {
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
                None => self.inner.governor.acquire(&cost).await,
            };
            let outcome = self
                .attempt(
                    &method,
                    &url,
                    label,
                    body.as_ref(),
                    call.extra_prefer,
                    &token,
                    lease,
                    parse,
                )
                .await;
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
                    let (limit, caller_retries) =
                        match (e.code.as_str(), e.status, call.unavailable_retries) {
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

    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    async fn attempt<T>(
        &self,
        method: &Method,
        url: &Url,
        label: &str,
        body: Option<&Vec<u8>>,
        extra_prefer: Option<&str>,
        token: &secrecy::SecretString,
        lease: Lease,
        parse: &(dyn Fn(&[u8]) -> serde_json::Result<T> + Send + Sync),
    ) -> Attempt<T> {
        let client_request_id = new_client_request_id();
        let prefer = match extra_prefer {
            Some(extra) => format!("{PREFER}, {extra}"),
            None => PREFER.to_owned(),
        };
        let mut builder = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .timeout(self.inner.opts.timeout)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .header("Prefer", prefer)
            .header("client-request-id", &client_request_id);
        if let Some(body) = body {
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
    fn log_retry(&self, err: &GraphError, wait: Duration, retry: u32, of: u32) {
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
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
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

/// The label of `$batch` requests in errors and logs.
const BATCH_LABEL: &str = "POST /$batch";

/// The requests of one [`GraphClient::batch_keeping`] call and where each
/// stands.
struct Writes<'r> {
    requests: &'r [BatchRequest],
    keep: Option<&'r [&'r str]>,
    /// The mailbox each request addresses.
    mailboxes: Vec<Mailbox>,
    /// Each request's final outcome, once it has one.
    outcomes: Vec<Option<Result<BatchResponse, GraphError>>>,
    /// Each request's retries so far.
    attempts: Vec<u32>,
    /// Requests waiting to be sent, in order.
    queue: VecDeque<usize>,
    /// Requests to send again, and from when.
    later: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Outcomes told to the progress observer.
    reported: usize,
}

impl<'r> Writes<'r> {
    fn new(requests: &'r [BatchRequest], keep: Option<&'r [&'r str]>) -> Self {
        Writes {
            requests,
            keep,
            mailboxes: requests.iter().map(|r| Mailbox::of_path(&r.url)).collect(),
            outcomes: requests.iter().map(|_| None).collect(),
            attempts: vec![0; requests.len()],
            queue: (0..requests.len()).collect(),
            later: BinaryHeap::new(),
            reported: 0,
        }
    }

    /// Requests whose retry is due by `now` join the queue.
    fn requeue_due(&mut self, now: Instant) {
        while let Some(&Reverse((at, i))) = self.later.peek()
            && at <= now
        {
            self.later.pop();
            self.queue.push_back(i);
        }
    }

    /// Every request not sent yet fails with `err`.
    fn fail_waiting(&mut self, err: &GraphError) {
        let waiting = self.queue.drain(..);
        let retries = self.later.drain().map(|Reverse((_, i))| i);
        for i in waiting.chain(retries) {
            self.outcomes[i] = Some(Err(err.clone()));
        }
    }
}

/// Graph runs at most this many inner requests of an unordered batch at a
/// time (`concepts/json-batching.md`).
const BATCH_PARALLELISM: usize = 4;

/// Whose limits a request counts against. Outlook's limits are per app and
/// mailbox (`concepts/throttling-limits.md`), and a run may read one mailbox
/// while it writes another, so the [`Governor`] keeps one count per mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Mailbox {
    /// The id of `/users/{id}/…` (percent-decoded and lowercased: Graph
    /// compares user ids and principal names without case), or `me` for
    /// `/me/…`.
    Named(String),
    /// A request that addresses no mailbox (`/organization`, …): these
    /// share a count of their own, so that nothing is sent unbounded.
    Unnamed,
}

impl Mailbox {
    /// The mailbox a path relative to the Graph root addresses, such as
    /// `/users/a@b.example/events/ID` or an inner request's `url`.
    fn of_path(path: &str) -> Mailbox {
        let mut segments = strip_query(path)
            .trim_start_matches('/')
            .split('/')
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy());
        let Some(first) = segments.next() else {
            return Mailbox::Unnamed;
        };
        if first.eq_ignore_ascii_case("me") {
            return Mailbox::Named("me".to_owned());
        }
        let id = if first.eq_ignore_ascii_case("users") {
            segments.next()
        } else {
            // The OData key form, `users('{id}')`.
            first
                .get(..6)
                .filter(|p| p.eq_ignore_ascii_case("users("))
                .and_then(|_| first.get(6..))
                .and_then(|rest| rest.strip_suffix(')'))
                .map(|key| std::borrow::Cow::Owned(key.trim_matches('\'').to_owned()))
        };
        match id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => Mailbox::Named(id.to_lowercase()),
            _ => Mailbox::Unnamed,
        }
    }
}

/// What one HTTP request asks of the mailboxes it addresses: for each, the
/// Graph operations it carries there (1 for a request outside a batch; a
/// batch's inner requests, counted per mailbox).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cost(Vec<(Mailbox, u32)>);

impl Cost {
    fn single(mailbox: Mailbox) -> Cost {
        Cost(vec![(mailbox, 1)])
    }

    /// A batch whose inner requests address `mailboxes`, one each.
    fn batch(mailboxes: impl IntoIterator<Item = Mailbox>) -> Cost {
        let mut per: Vec<(Mailbox, u32)> = Vec::new();
        for m in mailboxes {
            match per.iter_mut().find(|(k, _)| *k == m) {
                Some((_, n)) => *n = n.saturating_add(1),
                None => per.push((m, 1)),
            }
        }
        Cost(per)
    }

    /// Graph operations in all.
    fn ops(&self) -> u32 {
        self.0
            .iter()
            .fold(0u32, |sum, (_, n)| sum.saturating_add(*n))
    }
}

/// The slots `ops` operations sent in one request hold on their mailbox from
/// sending until the answer: Graph may run an unordered batch's inner
/// requests 4 at once and its running time varies, so nothing tells when a
/// batch's last one finished before its answer arrives; a batch holds
/// min(4, its size), a request alone 1.
fn slots(ops: u32) -> usize {
    usize::try_from(ops)
        .unwrap_or(usize::MAX)
        .clamp(1, BATCH_PARALLELISM)
}

/// One mailbox's share of the limits.
#[derive(Debug, Default)]
struct MailboxState {
    /// Slots held by requests sent and not yet answered.
    in_flight: usize,
    /// Operations sent, with when, within the rate window.
    sent: VecDeque<(Instant, u32)>,
    sent_ops: u64,
    /// Nothing is sent to the mailbox before this (a `Retry-After`).
    paused_until: Option<Instant>,
}

/// Keeps each mailbox within Outlook's limits: at most `capacity` slots held
/// (see [`slots`]) and at most `rate` operations per window, and nothing
/// sent while a `Retry-After` it drew runs.
#[derive(Debug)]
struct Governor {
    capacity: usize,
    /// Operations and window, the window lengthened by a safety margin.
    rate: Option<(u64, Duration)>,
    mailboxes: Mutex<HashMap<Mailbox, MailboxState>>,
    notify: tokio::sync::Notify,
}

/// The slots of one request, held from before it is sent until its answer
/// arrived or it failed; given back when dropped.
struct Lease {
    governor: Arc<Governor>,
    cost: Cost,
}

impl Governor {
    fn new(capacity: usize, rate_limit: Option<(u32, Duration)>) -> Governor {
        Governor {
            capacity: capacity.max(1),
            // Graph counts an operation when it runs it, up to a batch's
            // running time after we send it: a window longer by 2% (at least
            // a second) keeps clear of its count.
            rate: rate_limit
                .filter(|(n, w)| *n > 0 && !w.is_zero())
                .map(|(n, w)| (u64::from(n), w + (w / 50).max(Duration::from_secs(1)))),
            mailboxes: Mutex::new(HashMap::new()),
            notify: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Mailbox, MailboxState>> {
        self.mailboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The slots `ops` operations hold here.
    fn slots(&self, ops: u32) -> usize {
        slots(ops).min(self.capacity)
    }

    /// Waits until `cost` fits the limits of every mailbox it addresses, and
    /// takes its slots.
    async fn acquire(self: &Arc<Self>, cost: &Cost) -> Lease {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake = {
                let mut st = self.lock();
                match self.try_take(&mut st, cost, Instant::now()) {
                    Ok(()) => {
                        return Lease {
                            governor: Arc::clone(self),
                            cost: cost.clone(),
                        };
                    }
                    Err(wake) => wake,
                }
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Takes the slots and rate for `cost` on all its mailboxes now, or none
    /// and says when to look again (`None`: when a lease is given back).
    fn try_take(
        &self,
        st: &mut HashMap<Mailbox, MailboxState>,
        cost: &Cost,
        now: Instant,
    ) -> Result<(), Option<Instant>> {
        for (mailbox, ops) in &cost.0 {
            let Some(mb) = st.get_mut(mailbox) else {
                continue;
            };
            if let Some(until) = mb.paused_until {
                if until > now {
                    return Err(Some(until));
                }
                mb.paused_until = None;
            }
            if mb.in_flight + self.slots(*ops) > self.capacity {
                return Err(None);
            }
            if let Some(at) = self.rate_wait(mb, *ops, now) {
                return Err(Some(at));
            }
        }
        for (mailbox, ops) in &cost.0 {
            let mb = st.entry(mailbox.clone()).or_default();
            mb.in_flight += self.slots(*ops);
            if self.rate.is_some() {
                mb.sent.push_back((now, *ops));
                mb.sent_ops += u64::from(*ops);
            }
        }
        Ok(())
    }

    /// When `ops` more operations fit the mailbox's rate window, if not now.
    fn rate_wait(&self, mb: &mut MailboxState, ops: u32, now: Instant) -> Option<Instant> {
        let (limit, window) = self.rate?;
        while let Some(&(t, n)) = mb.sent.front() {
            if now.duration_since(t) < window {
                break;
            }
            mb.sent.pop_front();
            mb.sent_ops -= u64::from(n);
        }
        let ops = u64::from(ops);
        if mb.sent_ops == 0 || mb.sent_ops + ops <= limit {
            return None;
        }
        // Wait until enough of the oldest have left the window.
        let mut freed = 0u64;
        let mut at = now;
        for &(t, n) in &mb.sent {
            freed += u64::from(n);
            at = t + window;
            if mb.sent_ops - freed + ops <= limit {
                break;
            }
        }
        Some(at)
    }

    /// Nothing is sent to `mailboxes` for `wait`.
    fn back_off<'m>(&self, mailboxes: impl IntoIterator<Item = &'m Mailbox>, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        let until = Instant::now() + wait;
        let mut st = self.lock();
        for mailbox in mailboxes {
            let mb = st.entry(mailbox.clone()).or_default();
            mb.paused_until = Some(mb.paused_until.map_or(until, |u| u.max(until)));
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        {
            let mut st = self.governor.lock();
            for (mailbox, ops) in &self.cost.0 {
                if let Some(mb) = st.get_mut(mailbox) {
                    mb.in_flight = mb.in_flight.saturating_sub(self.governor.slots(*ops));
                }
            }
        }
        self.governor.notify.notify_waiters();
    }
}

/// Full jitter: uniform in [0, min(cap, base · 2^(attempt-1))].
fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let ceiling = base.saturating_mul(1u32 << exp).min(cap);
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(0..=ms))
}

/// Seconds or an HTTP-date; a date in the past means "now".
fn parse_retry_after(value: &str) -> Option<Duration> {
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

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

fn strip_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// Percent-encodes a query key or value, keeping the characters OData uses
/// literally (`$`, parentheses, `/`, `:`, `,`).
fn encode_component(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'$'
            | b'('
            | b')'
            | b','
            | b':'
            | b'/'
            | b'@'
            | b'*'
            | b'!' => out.push(char::from(b)),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xF)]));
            }
        }
    }
}

/// A random version-4 UUID, for `client-request-id`.
fn new_client_request_id() -> String {
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

/// A header of an inner batch answer (any case; string or number).
fn header_str(headers: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// A Graph error from a raw body: the JSON error object, else an excerpt.
fn error_from_bytes(
    status: u16,
    bytes: &[u8],
    request_id: Option<String>,
    label: &str,
) -> GraphError {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if v.get("error").is_some() => error_from_value(status, &v, request_id, label),
        _ => {
            let text = String::from_utf8_lossy(bytes);
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let message = if text.is_empty() {
                "no error body".to_owned()
            } else {
                truncate_chars(&text, MAX_EXCERPT)
            };
            GraphError {
                status: Some(status),
                code: format!("http_{status}"),
                message,
                request_id,
                request: label.to_owned(),
                attempts: 1,
                source: None,
            }
        }
    }
}

/// `{"error":{"code","message","innerError":{"request-id"}}}` to a GraphError.
fn error_from_value(
    status: u16,
    body: &Value,
    request_id: Option<String>,
    label: &str,
) -> GraphError {
    let error = body.get("error");
    let field = |name: &str| error.and_then(|e| e.get(name)).and_then(Value::as_str);
    let inner = error.and_then(|e| e.get("innerError").or_else(|| e.get("innererror")));
    let inner_request_id = inner
        .and_then(|i| i.get("request-id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let code = field("code")
        .filter(|c| !c.is_empty())
        .map_or_else(|| format!("http_{status}"), str::to_owned);
    let message = field("message")
        .map(|m| truncate_chars(&m.split_whitespace().collect::<Vec<_>>().join(" "), 500))
        .unwrap_or_default();
    // Where reports place it: in the error object, or beside it.
    let existing_event_id = field("@event.existingEventId")
        .or_else(|| body.get("@event.existingEventId").and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    GraphError {
        status: Some(status),
        code,
        message,
        request_id: request_id.or(inner_request_id),
        request: label.to_owned(),
        attempts: 1,
        source: existing_event_id
            .map(|id| Arc::new(ExistingEvent(id)) as Arc<dyn std::error::Error + Send + Sync>),
    }
}

#[derive(Serialize)]
struct InnerRequest<'a> {
    id: String,
    method: &'a str,
    url: &'a str,
    headers: HashMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct BatchPayload<'a> {
    requests: Vec<InnerRequest<'a>>,
}

fn batch_payload(requests: &[BatchRequest], chunk: &[usize]) -> serde_json::Result<Vec<u8>> {
    let inner: Vec<InnerRequest<'_>> = chunk
        .iter()
        .map(|&i| {
            let r = &requests[i];
            let mut headers = HashMap::new();
            headers.insert("Prefer", PREFER.to_owned());
            headers.insert("client-request-id", new_client_request_id());
            if r.body.is_some() {
                headers.insert("Content-Type", "application/json".to_owned());
            }
            InnerRequest {
                id: i.to_string(),
                method: r.method.as_str(),
                url: &r.url,
                headers,
                body: r.body.as_deref(),
            }
        })
        .collect();
    serde_json::to_vec(&BatchPayload { requests: inner })
}

/// One page of a collection as parsed: `None` when the answer is not a JSON
/// object.
type ParsedPage = Option<PageParts>;

/// The parts of a collection page calsync reads.
#[derive(Default)]
struct PageParts {
    /// `value`, when it is an array.
    items: Option<Vec<Value>>,
    next_link: Option<Value>,
    delta_link: Option<Value>,
}

/// Parses a collection page, keeping of each item only the `keep` fields
/// (all with `None`) and of the page only `value` and the two links.
#[derive(Clone, Copy)]
struct PageSeed<'k> {
    keep: Option<&'k [&'k str]>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = ParsedPage;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ParsedPage, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = ParsedPage;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a collection page")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParsedPage, A::Error> {
        let mut page = PageParts::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "value" => page.items = map.next_value_seed(ItemsSeed { keep: self.keep })?,
                "@odata.nextLink" => page.next_link = Some(map.next_value()?),
                "@odata.deltaLink" => page.delta_link = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(page))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ParsedPage, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<ParsedPage, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<ParsedPage, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<ParsedPage, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<ParsedPage, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<ParsedPage, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<ParsedPage, E> {
        Ok(None)
    }
}

/// `value` of a page: `None` when it is not an array.
#[derive(Clone, Copy)]
struct ItemsSeed<'k> {
    keep: Option<&'k [&'k str]>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Option<Vec<Value>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.keep {
            None => Ok(match Value::deserialize(d)? {
                Value::Array(items) => Some(items),
                _ => None,
            }),
            Some(_) => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Option<Vec<Value>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1000));
        while let Some(item) = seq.next_element_seed(KeptFields { keep: self.keep })? {
            items.push(item);
        }
        Ok(Some(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One item: an object keeps only the `keep` fields; anything else is
/// taken whole.
#[derive(Clone, Copy)]
struct KeptFields<'k> {
    keep: Option<&'k [&'k str]>,
}

impl<'de> DeserializeSeed<'de> for KeptFields<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.keep {
            None => Value::deserialize(d),
            Some(_) => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for KeptFields<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an item")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let keep = self.keep.unwrap_or_default();
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if keep.contains(&key.as_ref()) {
                out.insert(key.into_owned(), map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// The named top-level fields of an object (everything with `None`).
fn kept_fields(body: Value, keep: Option<&[&str]>) -> Value {
    match (body, keep) {
        (Value::Object(mut all), Some(keep)) => Value::Object(
            keep.iter()
                .filter_map(|&k| all.remove(k).map(|v| (k.to_owned(), v)))
                .collect(),
        ),
        (body, _) => body,
    }
}

struct InnerAnswer {
    status: u16,
    headers: serde_json::Map<String, Value>,
    body: Value,
}

fn parse_batch_answer(
    mut v: Value,
    label: &str,
) -> Result<HashMap<String, InnerAnswer>, GraphError> {
    let malformed = |what: &str| GraphError::local("malformed", label, what.to_owned());
    let Some(Value::Array(responses)) = v.get_mut("responses").map(Value::take) else {
        return Err(malformed("the $batch answer has no `responses` array"));
    };
    let mut out = HashMap::with_capacity(responses.len());
    for mut r in responses {
        let id = match r.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(malformed("a $batch response has no `id`")),
        };
        let status = r
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| malformed("a $batch response has no valid `status`"))?;
        let headers = match r.get_mut("headers").map(Value::take) {
            Some(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let body = r.get_mut("body").map(Value::take).unwrap_or(Value::Null);
        out.insert(
            id,
            InnerAnswer {
                status,
                headers,
                body,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::State;
    use axum::http::{HeaderMap as AxHeaders, StatusCode};
    use axum::response::{IntoResponse, Response};
    use secrecy::SecretString;
    use serde_json::json;
    use std::sync::atomic::AtomicUsize;

    /// One request the test server saw.
    #[derive(Clone, Debug)]
    struct Seen {
        method: String,
        uri: String,
        headers: AxHeaders,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<String> {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        }
        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap()
        }
    }

    type Handler = Arc<dyn Fn(&Seen, usize, &str) -> Response + Send + Sync>;

    #[derive(Clone)]
    struct Srv {
        seen: Arc<Mutex<Vec<Seen>>>,
        handler: Handler,
        base: Arc<Mutex<String>>,
    }

    async fn any(State(s): State<Srv>, req: axum::extract::Request) -> Response {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap()
            .to_vec();
        let seen = Seen {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            headers: parts.headers,
            body,
        };
        let n = {
            let mut all = s.seen.lock().unwrap();
            all.push(seen.clone());
            all.len() - 1
        };
        let base = s.base.lock().unwrap().clone();
        (s.handler)(&seen, n, &base)
    }

    /// A server on 127.0.0.1:0; the handler gets the request, its index and
    /// the server's Graph root (`http://127.0.0.1:PORT/v1.0`).
    async fn serve(
        handler: impl Fn(&Seen, usize, &str) -> Response + Send + Sync + 'static,
    ) -> (Url, Arc<Mutex<Vec<Seen>>>) {
        let srv = Srv {
            seen: Arc::new(Mutex::new(Vec::new())),
            handler: Arc::new(handler),
            base: Arc::new(Mutex::new(String::new())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}/v1.0");
        *srv.base.lock().unwrap() = base.clone();
        let seen = srv.seen.clone();
        let app = axum::Router::new().fallback(any).with_state(srv);
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Url::parse(&base).unwrap(), seen)
    }

    fn reply(status: u16, headers: &[(&'static str, &str)], body: impl Into<String>) -> Response {
        let mut resp = (
            StatusCode::from_u16(status).unwrap(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.into(),
        )
            .into_response();
        for (k, v) in headers {
            resp.headers_mut()
                .insert(*k, axum::http::HeaderValue::from_str(v).unwrap());
        }
        resp
    }

    fn graph_error(status: u16, code: &str, message: &str) -> Response {
        reply(
            status,
            &[("request-id", "rid-1")],
            json!({"error":{"code":code,"message":message,"innerError":{"request-id":"rid-1","date":"2024-01-01T00:00:00"}}})
                .to_string(),
        )
    }

    /// "tok-N", N = number of forced refreshes so far.
    #[derive(Default)]
    struct Tokens {
        calls: AtomicUsize,
        forced: AtomicUsize,
    }

    impl TokenSource for Tokens {
        fn token(&self, force_refresh: bool) -> crate::auth::TokenFuture<'_> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if force_refresh {
                self.forced.fetch_add(1, Ordering::SeqCst);
            }
            let n = self.forced.load(Ordering::SeqCst);
            Box::pin(async move { Ok(SecretString::from(format!("tok-{n}"))) })
        }
    }

    fn opts(url: &Url) -> ClientOptions {
        let mut o = ClientOptions::new(url.clone());
        o.timeout = Duration::from_secs(5);
        o.backoff_base = Duration::from_millis(5);
        o.max_backoff = Duration::from_millis(20);
        o
    }

    fn client_with(url: &Url, o: ClientOptions) -> (GraphClient, Arc<Tokens>) {
        let tokens = Arc::new(Tokens::default());
        let c = GraphClient::new(
            http_client(Duration::from_secs(5)).unwrap(),
            tokens.clone(),
            o,
        );
        let _ = url;
        (c, tokens)
    }

    fn client(url: &Url) -> (GraphClient, Arc<Tokens>) {
        client_with(url, opts(url))
    }

    fn seen(s: &Arc<Mutex<Vec<Seen>>>) -> Vec<Seen> {
        s.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn pages_are_handed_over_one_at_a_time_and_a_refused_page_stops_the_reading() {
        let (url, log) = serve(|_, n, base| {
            let body = json!({"value":[{"id":format!("p{n}")}],"@odata.nextLink":format!("{base}/x?$skip={}", n + 1)});
            reply(200, &[], body.to_string())
        })
        .await;
        let (c, _) = client(&url);
        let mut pages = Vec::new();
        let err = c
            .for_each_page("/x", &[], PageOptions::default(), |items| {
                pages.push(items.len());
                if pages.len() == 2 {
                    anyhow::bail!("not this one");
                }
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err, PageError::Consumer(e) if e.to_string() == "not this one"));
        assert_eq!(pages, [1, 1]);
        // No page is fetched after the one refused.
        assert_eq!(seen(&log).len(), 2);
    }

    #[tokio::test]
    async fn pages_keep_only_the_named_fields_and_odd_pages_are_named() {
        let (url, _) = serve(|req, n, base| {
            let body = match (req.uri.contains("odd"), n) {
                (false, 0) => json!({
                    "@odata.context": "x",
                    "value": [{"id": "a", "subject": "S", "body": {"content": "long"}, "attendees": [{"x": 1}]}, 7],
                    "@odata.nextLink": format!("{base}/x?$skip=1"),
                }),
                (false, _) => json!({"value": [], "@odata.deltaLink": format!("{base}/x?$deltatoken=d")}),
                (true, _) => json!({"value": {"id": "a"}}),
            };
            reply(200, &[], body.to_string())
        })
        .await;
        let (c, _) = client(&url);
        let mut all = Vec::new();
        let delta = c
            .for_each_page(
                "/x",
                &[],
                PageOptions {
                    keep: Some(&["id", "subject"]),
                    ..PageOptions::default()
                },
                |items| {
                    all.extend(items);
                    Ok(())
                },
            )
            .await
            .unwrap();
        assert_eq!(all, [json!({"id": "a", "subject": "S"}), json!(7)]);
        assert!(delta.unwrap().ends_with("$deltatoken=d"));
        let err = c
            .for_each_page(
                "/odd",
                &[],
                PageOptions {
                    keep: Some(&["id"]),
                    ..PageOptions::default()
                },
                |_| Ok(()),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PageError::Graph(e) if e.message.contains("no `value` array")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn batch_keeping_keeps_only_the_named_fields_of_answers() {
        let (url, _) = serve(|req, _, _| {
            let payload: Value = serde_json::from_slice(&req.body).unwrap();
            let responses: Vec<Value> = payload["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| json!({"id": r["id"], "status": 201, "body": {"id": format!("new-{}", r["id"].as_str().unwrap()), "subject": "big", "body": {"content": "x"}}}))
                .collect();
            reply(200, &[], json!({"responses": responses}).to_string())
        })
        .await;
        let (c, _) = client(&url);
        let requests = || {
            (0..3)
                .map(|i| {
                    BatchRequest::with_body(Method::POST, format!("/e/{i}"), &json!({"n": i}))
                        .unwrap()
                })
                .collect::<Vec<_>>()
        };
        let kept = c.batch_keeping(requests(), Some(&["id"])).await;
        for (i, o) in kept.iter().enumerate() {
            assert_eq!(o.as_ref().unwrap().body, json!({"id": format!("new-{i}")}));
        }
        let all = c.batch(requests()).await;
        assert_eq!(all[1].as_ref().unwrap().body["subject"], "big");
    }

    #[tokio::test]
    async fn pages_through_next_links_including_an_empty_page() {
        let (url, log) = serve(|req, n, base| {
            let body = match n {
                0 => json!({"value":[{"id":"a"},{"id":"b"}],"@odata.nextLink":format!("{base}/users/a@b.example/calendarView?$skip=2")}),
                1 => json!({"value":[],"@odata.nextLink":format!("{base}/users/a@b.example/calendarView?$skip=4")}),
                _ => json!({"value":[{"id":"c"}]}),
            };
            assert_eq!(req.method, "GET");
            reply(200, &[("request-id", "r")], body.to_string())
        })
        .await;
        let (c, _) = client(&url);
        let items = c
            .get_all(
                "/users/a@b.example/calendarView",
                &[
                    ("startDateTime", "2024-01-01T00:00:00Z"),
                    ("$top", "2"),
                    ("$filter", "sensitivity eq 'normal'"),
                ],
            )
            .await
            .unwrap();
        let ids: Vec<_> = items.iter().map(|v| v["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let reqs = seen(&log);
        assert_eq!(reqs.len(), 3);
        assert_eq!(
            reqs[0].uri,
            "/v1.0/users/a@b.example/calendarView?startDateTime=2024-01-01T00:00:00Z&$top=2&$filter=sensitivity%20eq%20%27normal%27"
        );
        assert!(
            reqs[1].uri.ends_with("calendarView?$skip=2"),
            "{}",
            reqs[1].uri
        );
        assert!(
            reqs[2].uri.ends_with("calendarView?$skip=4"),
            "{}",
            reqs[2].uri
        );
        let mut ids = std::collections::HashSet::new();
        for r in &reqs {
            assert_eq!(r.header("authorization").as_deref(), Some("Bearer tok-0"));
            let prefer = r.header("prefer").unwrap();
            assert!(prefer.contains(r#"outlook.timezone="UTC""#), "{prefer}");
            assert!(prefer.contains(r#"IdType="ImmutableId""#), "{prefer}");
            let crid = r.header("client-request-id").unwrap();
            assert_eq!(crid.len(), 36);
            ids.insert(crid);
            assert!(r.header("user-agent").unwrap().starts_with("calsync/"));
        }
        assert_eq!(ids.len(), 3);
        let m = c.metrics();
        assert_eq!(
            (m.requests, m.operations, m.retries, m.throttled),
            (3, 3, 0, 0)
        );
        assert!(m.mean_ms.is_some() && m.p95_ms.is_some());
    }

    #[tokio::test]
    async fn delta_link_and_page_size_preference() {
        let (url, log) = serve(|_, n, base| {
            let body = match n {
                0 => json!({"value":[{"id":"a"}],"@odata.nextLink":format!("{base}/me/calendarView/delta?$skiptoken=x")}),
                _ => json!({"value":[{"id":"b"}],"@odata.deltaLink":format!("{base}/me/calendarView/delta?$deltatoken=y")}),
            };
            reply(200, &[], body.to_string())
        })
        .await;
        let (c, _) = client(&url);
        let col = c
            .get_collection("/me/calendarView/delta", &[], Some(50))
            .await
            .unwrap();
        assert_eq!(col.items.len(), 2);
        let delta = col.delta_link.unwrap();
        assert!(delta.ends_with("$deltatoken=y"));
        for r in seen(&log) {
            assert!(r.header("prefer").unwrap().contains("odata.maxpagesize=50"));
        }
        // A stored delta link can be followed later.
        let again = c.get_collection(&delta, &[], Some(50)).await.unwrap();
        assert_eq!(again.items.len(), 1);
        assert!(seen(&log)[2].uri.ends_with("$deltatoken=y"));
    }

    #[tokio::test]
    async fn next_link_to_another_host_is_refused_without_sending_the_token() {
        let (other, other_log) = serve(|_, _, _| reply(200, &[], r#"{"value":[]}"#)).await;
        let foreign = format!("{other}/users/x/calendarView?$skip=10");
        let (url, log) = serve(move |_, _, _| {
            reply(
                200,
                &[],
                json!({"value":[{"id":"a"}],"@odata.nextLink":foreign}).to_string(),
            )
        })
        .await;
        let (c, _) = client(&url);
        let err = c.get_all("/users/x/calendarView", &[]).await.unwrap_err();
        assert_eq!(err.code, "foreign_next_link");
        let text = err.to_string();
        assert!(text.contains("another host"), "{text}");
        assert!(text.contains("token was not sent"), "{text}");
        assert_eq!(seen(&log).len(), 1);
        assert!(seen(&other_log).is_empty());
        // An absolute path on another host is refused the same way.
        let err = c.get(&format!("{other}/users/x"), &[]).await.unwrap_err();
        assert_eq!(err.code, "foreign_next_link");
        assert!(seen(&other_log).is_empty());
    }

    #[test]
    fn origin_comparison() {
        let g = Url::parse("https://graph.microsoft.com/v1.0").unwrap();
        let same = |s: &str| same_origin(&Url::parse(s).unwrap(), &g);
        assert!(same("https://graph.microsoft.com/v1.0/x?$skip=1"));
        assert!(same("https://GRAPH.microsoft.com:443/beta/x"));
        assert!(!same("http://graph.microsoft.com/v1.0/x"));
        assert!(!same("https://graph.microsoft.com:8443/v1.0/x"));
        assert!(!same("https://graph.microsoft.com.evil.example/v1.0/x"));
        assert!(!same("https://evil.example/graph.microsoft.com/v1.0"));
    }

    #[tokio::test]
    async fn throttled_request_waits_for_retry_after() {
        let (url, log) = serve(|_, n, _| match n {
            0 => {
                let mut r = graph_error(429, "TooManyRequests", "Please retry again later.");
                r.headers_mut()
                    .insert("retry-after", axum::http::HeaderValue::from_static("1"));
                r
            }
            _ => reply(200, &[], r#"{"id":"x"}"#),
        })
        .await;
        let (c, _) = client(&url);
        let started = Instant::now();
        let v = c.get("/users/x", &[]).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(v["id"], "x");
        assert_eq!(seen(&log).len(), 2);
        let m = c.metrics();
        assert_eq!((m.requests, m.retries, m.throttled), (2, 1, 1));
    }

    #[tokio::test]
    async fn service_unavailable_is_retried_with_backoff() {
        let (url, log) = serve(|_, n, _| match n {
            0 | 1 => graph_error(503, "ServiceNotAvailable", "busy"),
            _ => reply(200, &[], r#"{"ok":true}"#),
        })
        .await;
        let (c, _) = client(&url);
        assert_eq!(c.get("/x", &[]).await.unwrap()["ok"], true);
        assert_eq!(seen(&log).len(), 3);
        assert_eq!(c.metrics().retries, 2);
    }

    #[tokio::test]
    async fn retries_end_after_max_retries() {
        let (url, log) = serve(|_, _, _| graph_error(504, "UnknownError", "")).await;
        let mut o = opts(&url);
        o.max_retries = 2;
        let (c, _) = client_with(&url, o);
        let err = c.get("/x", &[]).await.unwrap_err();
        assert_eq!(err.status, Some(504));
        assert!(err.is_outage());
        assert_eq!(seen(&log).len(), 3);
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (url, log) = serve(|_, _, _| {
            graph_error(400, "ErrorInvalidRequest", "Maximum number of days: 1825")
        })
        .await;
        let (c, _) = client(&url);
        let err = c
            .get(
                "/users/a@b/calendars/C1/calendarView",
                &[("startDateTime", "x")],
            )
            .await
            .unwrap_err();
        assert_eq!(seen(&log).len(), 1);
        assert_eq!(err.status, Some(400));
        assert_eq!(err.code, "ErrorInvalidRequest");
        assert_eq!(err.request_id.as_deref(), Some("rid-1"));
        assert_eq!(
            err.to_string(),
            "Graph answered 400 ErrorInvalidRequest to GET /users/a@b/calendars/C1/calendarView: \
             Maximum number of days: 1825 (request-id rid-1)"
        );
        assert!(!err.is_outage());
    }

    #[tokio::test]
    async fn not_found_helper() {
        let (url, _) = serve(|_, _, _| {
            graph_error(
                404,
                "ErrorItemNotFound",
                "The specified object was not found in the store.",
            )
        })
        .await;
        let (c, _) = client(&url);
        let err = c
            .send(Method::DELETE, "/users/x/events/E", &[], None)
            .await
            .unwrap_err();
        assert!(err.is_not_found());
        assert!(!err.is_auth() && !err.is_throttled());
    }

    #[test]
    fn a_duplicate_transaction_names_the_event_created_earlier() {
        // alcionai/corso#2490: the id is in the error object.
        let body = json!({"error":{"code":"ErrorDuplicateTransactionId",
            "message":"The TransactionId specified in the request has already been used to create a different event.",
            "@event.existingEventId":"AAMkEXISTING"}});
        let err = error_from_value(400, &body, None, "POST /users/a/events");
        assert_eq!(err.code, "ErrorDuplicateTransactionId");
        assert_eq!(err.existing_event_id(), Some("AAMkEXISTING"));
        let plain = error_from_value(
            409,
            &json!({"error":{"code":"ErrorDuplicateTransactionId"}}),
            None,
            "x",
        );
        assert_eq!(plain.existing_event_id(), None);
    }

    #[tokio::test]
    async fn malformed_json_is_retried_then_an_error() {
        let (url, log) = serve(|_, _, _| reply(200, &[], r#"{"value":[{"id":"#)).await;
        let mut o = opts(&url);
        o.max_retries = 2;
        let (c, _) = client_with(&url, o);
        let err = c.get_all("/users/x/calendars", &[]).await.unwrap_err();
        assert_eq!(err.code, "malformed");
        assert_eq!(seen(&log).len(), 3);
        let text = err.to_string();
        assert!(
            text.contains("malformed answer to GET /users/x/calendars"),
            "{text}"
        );
        assert!(!text.contains("\"id\""), "{text}");
    }

    #[tokio::test]
    async fn non_json_error_body_is_excerpted() {
        let page = format!(
            "<html><body>{}</body></html>",
            "gateway trouble ".repeat(40)
        );
        let (url, _) = serve(move |_, _, _| reply(500, &[], page.clone())).await;
        let (c, _) = client(&url);
        let err = c.get("/x", &[]).await.unwrap_err();
        assert_eq!(err.code, "http_500");
        assert!(err.message.chars().count() <= MAX_EXCERPT + 1);
        assert!(err.message.starts_with("<html>"));
    }

    #[tokio::test]
    async fn body_cut_mid_read_is_retried() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let n = h.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    }
                    let resp: &[u8] = if n == 0 {
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"value\":[{\"id\""
                    } else {
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"value\":[]}"
                    };
                    let _ = sock.write_all(resp).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        let url = Url::parse(&format!("http://{addr}/v1.0")).unwrap();
        let (c, _) = client(&url);
        let items = c.get_all("/x", &[]).await.unwrap();
        assert!(items.is_empty());
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(c.metrics().retries, 1);
    }

    #[tokio::test]
    async fn connection_refused_names_the_request() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let url = Url::parse(&format!("http://{addr}/v1.0")).unwrap();
        let mut o = opts(&url);
        o.max_retries = 6;
        let (c, _) = client_with(&url, o);
        let err = c.get("/users/x/calendars", &[]).await.unwrap_err();
        assert_eq!(err.code, "connect");
        assert!(err.is_outage());
        let text = err.to_string();
        assert!(text.contains("GET /users/x/calendars"), "{text}");
        assert!(text.contains("graph_url"), "{text}");
        // A refused connection is retried only briefly, whatever max_retries says.
        assert_eq!(c.metrics().requests, 1 + u64::from(CONNECT_RETRIES));
    }

    #[tokio::test]
    async fn unauthorized_refreshes_the_token_once() {
        let (url, log) = serve(|req, _, _| {
            if req.header("authorization").as_deref() == Some("Bearer tok-1") {
                reply(200, &[], r#"{"id":"me"}"#)
            } else {
                graph_error(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token has expired or is not yet valid.",
                )
            }
        })
        .await;
        let (c, tokens) = client(&url);
        assert_eq!(c.get("/me", &[]).await.unwrap()["id"], "me");
        assert_eq!(seen(&log).len(), 2);
        assert_eq!(tokens.forced.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn persistent_unauthorized_is_an_auth_failure() {
        let (url, log) = serve(|_, _, _| {
            graph_error(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            )
        })
        .await;
        let (c, tokens) = client(&url);
        let err = c.get("/me", &[]).await.unwrap_err();
        assert_eq!(seen(&log).len(), 2);
        assert_eq!(tokens.forced.load(Ordering::SeqCst), 1);
        assert!(err.is_auth());
        let any = anyhow::Error::new(err);
        assert_eq!(
            crate::error::exit_code_of(&any),
            std::process::ExitCode::from(3)
        );
        assert!(!format!("{any:#} {any:?}").contains("tok-"));
    }

    struct FailingTokens;
    impl TokenSource for FailingTokens {
        fn token(&self, _: bool) -> crate::auth::TokenFuture<'_> {
            Box::pin(async { Err(Failure::Auth("secret refused".into()).into()) })
        }
    }

    #[tokio::test]
    async fn token_failure_keeps_its_exit_code() {
        let (url, log) = serve(|_, _, _| reply(200, &[], "{}")).await;
        let c = GraphClient::new(
            http_client(Duration::from_secs(5)).unwrap(),
            Arc::new(FailingTokens),
            opts(&url),
        );
        let err = c.get("/me", &[]).await.unwrap_err();
        assert_eq!(err.code, "token");
        assert!(seen(&log).is_empty());
        let any = anyhow::Error::new(err);
        assert_eq!(
            crate::error::exit_code_of(&any),
            std::process::ExitCode::from(3)
        );
        assert!(format!("{any:#}").contains("secret refused"));
    }

    #[tokio::test]
    async fn circuit_breaker_stops_requests() {
        let (url, log) = serve(|_, _, _| graph_error(500, "ErrorInternalServerError", "")).await;
        let mut o = opts(&url);
        o.circuit_breaker_after = 2;
        let (c, _) = client_with(&url, o);
        for _ in 0..2 {
            assert_eq!(c.get("/x", &[]).await.unwrap_err().status, Some(500));
        }
        let err = c.get("/x", &[]).await.unwrap_err();
        assert!(err.is_unavailable() && err.is_outage());
        assert!(err.to_string().contains("Graph is unavailable"));
        assert_eq!(seen(&log).len(), 2);
    }

    #[tokio::test]
    async fn batch_chunks_matches_by_id_and_retries_inner_throttling_alone() {
        let throttled_once = Arc::new(AtomicBool::new(false));
        let t = throttled_once.clone();
        let (url, log) = serve(move |req, _, _| {
            assert_eq!(req.method, "POST");
            assert!(req.uri.ends_with("/v1.0/$batch"), "{}", req.uri);
            assert_eq!(req.header("content-type").as_deref(), Some("application/json"));
            let body = req.json();
            let reqs = body["requests"].as_array().unwrap();
            assert!(reqs.len() <= MAX_BATCH);
            let mut responses: Vec<Value> = reqs
                .iter()
                .map(|r| {
                    let url = r["url"].as_str().unwrap();
                    let id = r["id"].clone();
                    let prefer = r["headers"]["Prefer"].as_str().unwrap();
                    assert!(prefer.contains(r#"IdType="ImmutableId""#));
                    assert!(prefer.contains(r#"outlook.timezone="UTC""#));
                    assert!(r["headers"]["client-request-id"].is_string());
                    if r.get("body").is_some() {
                        assert_eq!(r["headers"]["Content-Type"], "application/json");
                    }
                    if url == "/users/x/events/7" && !t.swap(true, Ordering::SeqCst) {
                        return json!({"id":id,"status":429,"headers":{"Retry-After":"0"},
                            "body":{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}});
                    }
                    if url == "/users/x/events/13" {
                        return json!({"id":id,"status":404,"headers":{},
                            "body":{"error":{"code":"ErrorItemNotFound","message":"The specified object was not found in the store."}}});
                    }
                    if r["method"] == "DELETE" {
                        return json!({"id":id,"status":204,"headers":{}});
                    }
                    json!({"id":id,"status":201,"headers":{"Content-Type":"application/json"},"body":{"url":url,"subject":r["body"]["subject"]}})
                })
                .collect();
            fastrand::shuffle(&mut responses);
            reply(200, &[], json!({"responses":responses}).to_string())
        })
        .await;
        let (c, _) = client(&url);
        let requests: Vec<BatchRequest> = (0..45)
            .map(|i| {
                if i % 10 == 3 {
                    BatchRequest {
                        method: Method::DELETE,
                        url: format!("/users/x/events/{i}"),
                        body: None,
                    }
                } else {
                    BatchRequest {
                        method: Method::POST,
                        url: format!("/users/x/events/{i}"),
                        body: Some(
                            serde_json::value::to_raw_value(&json!({"subject": format!("s{i}")}))
                                .unwrap(),
                        ),
                    }
                }
            })
            .collect();
        let out = c.batch(requests).await;
        assert_eq!(out.len(), 45);
        for (i, o) in out.iter().enumerate() {
            match i {
                13 => assert!(o.as_ref().unwrap_err().is_not_found()),
                i if i % 10 == 3 => assert_eq!(o.as_ref().unwrap().status, 204),
                _ => {
                    let r = o.as_ref().unwrap();
                    assert_eq!(r.status, 201);
                    assert_eq!(r.body["url"], format!("/users/x/events/{i}"));
                    assert_eq!(r.body["subject"], format!("s{i}"));
                }
            }
        }
        let posts = seen(&log);
        let sizes: Vec<usize> = posts
            .iter()
            .map(|p| p.json()["requests"].as_array().unwrap().len())
            .collect();
        // Batches of 20 in order; the throttled request is sent again
        // without the rest of its batch, with the last requests.
        assert_eq!(sizes, [20, 20, 6], "{sizes:?}");
        let mut urls: Vec<String> = posts
            .iter()
            .flat_map(|p| {
                p.json()["requests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["url"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        urls.sort();
        urls.dedup();
        assert_eq!(urls.len(), 45);
        let m = c.metrics();
        assert_eq!(m.requests, posts.len() as u64);
        assert_eq!(m.operations, 46);
        assert_eq!(m.retries, 1);
        assert_eq!(m.throttled, 1);
    }

    #[tokio::test]
    async fn batch_inner_throttling_gives_up_after_max_retries() {
        let (url, log) = serve(|req, _, _| {
            let body = req.json();
            let responses: Vec<Value> = body["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| json!({"id":r["id"],"status":503,"headers":{"retry-after":"0"},"body":{"error":{"code":"ServiceNotAvailable","message":"x"}}}))
                .collect();
            reply(200, &[], json!({"responses":responses}).to_string())
        })
        .await;
        let mut o = opts(&url);
        o.max_retries = 2;
        let (c, _) = client_with(&url, o);
        let out = c
            .batch(vec![BatchRequest {
                method: Method::PATCH,
                url: "/users/x/events/1".into(),
                body: Some(serde_json::value::to_raw_value(&json!({})).unwrap()),
            }])
            .await;
        assert_eq!(out[0].as_ref().unwrap_err().status, Some(503));
        assert_eq!(seen(&log).len(), 3);
    }

    #[tokio::test]
    async fn batch_outer_failure_fails_every_request_of_the_chunk() {
        let (url, _) =
            serve(|_, _, _| graph_error(400, "BadRequest", "Invalid batch payload")).await;
        let (c, _) = client(&url);
        let out = c
            .batch(
                (0..3)
                    .map(|i| BatchRequest {
                        method: Method::DELETE,
                        url: format!("/e/{i}"),
                        body: None,
                    })
                    .collect(),
            )
            .await;
        assert!(
            out.iter()
                .all(|o| o.as_ref().unwrap_err().code == "BadRequest")
        );
    }

    /// Records what a progress observer hears.
    #[derive(Default)]
    struct Heard {
        pages: Mutex<Vec<usize>>,
        writes: AtomicUsize,
    }

    impl Progress for Heard {
        fn page_read(&self, items: usize) {
            self.pages.lock().unwrap().push(items);
        }
        fn writes_done(&self, count: usize) {
            self.writes.fetch_add(count, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn progress_hears_every_page_and_every_finished_write() {
        let (url, _) = serve(|req, _, base| {
            if req.method == "GET" {
                let body = if req.uri.contains("skip") {
                    json!({"value":[{"id":"c"}]})
                } else {
                    json!({"value":[{"id":"a"},{"id":"b"}],"@odata.nextLink":format!("{base}/x?skip=2")})
                };
                return reply(200, &[], body.to_string());
            }
            let body = req.json();
            let responses: Vec<Value> = body["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let status = if r["url"] == "/e/3" { 400 } else { 204 };
                    json!({"id":r["id"],"status":status,"headers":{}})
                })
                .collect();
            reply(200, &[], json!({"responses":responses}).to_string())
        })
        .await;
        let (c, _) = client(&url);
        let heard = Arc::new(Heard::default());
        c.clone().set_progress(Some(heard.clone()));
        assert_eq!(c.get_all("/x", &[]).await.unwrap().len(), 3);
        assert_eq!(*heard.pages.lock().unwrap(), [2, 1]);
        let out = c
            .batch(
                (0..45)
                    .map(|i| BatchRequest {
                        method: Method::DELETE,
                        url: format!("/e/{i}"),
                        body: None,
                    })
                    .collect(),
            )
            .await;
        assert!(out[3].is_err());
        assert_eq!(heard.writes.load(Ordering::SeqCst), 45);

        // Without an observer nothing is told; removing it is heard no more.
        c.set_progress(None);
        c.get_all("/x", &[]).await.unwrap();
        assert_eq!(heard.pages.lock().unwrap().len(), 2);
    }

    fn named(id: &str) -> Mailbox {
        Mailbox::Named(id.to_owned())
    }

    #[test]
    fn requests_count_against_the_mailbox_their_path_addresses() {
        assert_eq!(
            Mailbox::of_path("/users/Events@Contoso.example/calendars/C1/events?$top=5"),
            named("events@contoso.example")
        );
        assert_eq!(
            Mailbox::of_path("users/EVENTS%40contoso.example/events/E1"),
            named("events@contoso.example")
        );
        assert_eq!(
            Mailbox::of_path("/users('events%40contoso.example')/calendar"),
            named("events@contoso.example")
        );
        assert_eq!(Mailbox::of_path("/me/calendars"), named("me"));
        assert_eq!(Mailbox::of_path("/ME"), named("me"));
        assert_eq!(Mailbox::of_path("/organization"), Mailbox::Unnamed);
        assert_eq!(Mailbox::of_path("/users"), Mailbox::Unnamed);
        assert_eq!(Mailbox::of_path("/users/"), Mailbox::Unnamed);
        assert_eq!(Mailbox::of_path("/$batch"), Mailbox::Unnamed);

        // Absolute links (next and delta links) are read relative to the root.
        let url = Url::parse("https://graph.microsoft.com/v1.0").unwrap();
        let (c, _) = client_with(&url, ClientOptions::new(url.clone()));
        let of = |link: &str| c.mailbox_of(&Url::parse(link).unwrap());
        assert_eq!(
            of(
                "https://graph.microsoft.com/v1.0/users/A@b.example/calendarView/delta?$deltatoken=x"
            ),
            named("a@b.example")
        );
        assert_eq!(
            of("https://graph.microsoft.com/beta/me/events"),
            named("me")
        );
        assert_eq!(
            of("https://graph.microsoft.com/v1.0/$batch"),
            Mailbox::Unnamed
        );
    }

    #[test]
    fn cost_of_requests_and_batches() {
        let one = Cost::single(named("a"));
        assert_eq!((one.ops(), slots(one.ops())), (1, 1));
        let small = Cost::batch([named("a"), named("a")]);
        assert_eq!(small, Cost(vec![(named("a"), 2)]));
        assert_eq!(slots(2), 2);
        let full = Cost::batch(std::iter::repeat_n(named("a"), 20));
        assert_eq!((full.ops(), slots(20)), (20, 4));
        // A batch addressing two mailboxes counts against each.
        let mixed = Cost::batch([named("a"), named("b"), named("a"), Mailbox::Unnamed]);
        assert_eq!(
            mixed.0,
            [(named("a"), 2), (named("b"), 1), (Mailbox::Unnamed, 1)]
        );
        assert_eq!(mixed.ops(), 4);
    }

    #[test]
    fn governor_keeps_four_operations_per_mailbox_until_answered() {
        let g = Governor::new(4, None);
        let now = Instant::now();
        let mut st = g.lock();
        let a = |n| Cost::batch(std::iter::repeat_n(named("a"), n));
        g.try_take(&mut st, &a(20), now).unwrap();
        // The batch may have 4 running at any time until its answer: nothing
        // more for that mailbox, however long ago it was sent.
        let later = now + Duration::from_secs(60);
        assert_eq!(
            g.try_take(&mut st, &Cost::single(named("a")), later),
            Err(None)
        );
        assert_eq!(g.try_take(&mut st, &a(3), later), Err(None));
        // Other mailboxes have their own 4, and so do requests to none.
        g.try_take(&mut st, &Cost::batch([named("b"), named("b")]), now)
            .unwrap();
        g.try_take(&mut st, &Cost::single(named("b")), now).unwrap();
        g.try_take(&mut st, &Cost::single(named("b")), now).unwrap();
        assert_eq!(
            g.try_take(&mut st, &Cost::single(named("b")), now),
            Err(None)
        );
        for _ in 0..4 {
            g.try_take(&mut st, &Cost::single(Mailbox::Unnamed), now)
                .unwrap();
        }
        assert_eq!(
            g.try_take(&mut st, &Cost::single(Mailbox::Unnamed), now),
            Err(None)
        );
        // A batch to c and b takes nothing while b is full, then both.
        let mixed = Cost::batch([named("c"), named("c"), named("b")]);
        assert_eq!(g.try_take(&mut st, &mixed, now), Err(None));
        assert_eq!(st.get(&named("c")).map_or(0, |m| m.in_flight), 0);
        st.get_mut(&named("b")).unwrap().in_flight -= 1;
        g.try_take(&mut st, &mixed, now).unwrap();
        assert_eq!(st[&named("c")].in_flight, 2);
        assert_eq!(st[&named("b")].in_flight, 4);
    }

    #[tokio::test]
    async fn a_lease_holds_its_slots_until_dropped() {
        let g = Arc::new(Governor::new(4, None));
        let batch = g
            .acquire(&Cost::batch(std::iter::repeat_n(named("a"), 20)))
            .await;
        let one = Cost::single(named("a"));
        let waiter = g.acquire(&one);
        tokio::pin!(waiter);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), waiter.as_mut())
                .await
                .is_err()
        );
        // Another mailbox is not held up.
        let other = g.acquire(&Cost::single(named("b"))).await;
        drop(batch);
        let single = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap();
        assert_eq!(g.lock()[&named("a")].in_flight, 1);
        drop((single, other));
        assert!(g.lock().values().all(|m| m.in_flight == 0));
    }

    #[test]
    fn governor_counts_operations_against_each_mailbox_rate_window() {
        let window = Duration::from_secs(10);
        let g = Governor::new(100, Some((10, window)));
        let t0 = Instant::now();
        let mut st = g.lock();
        let a = |n| Cost::batch(std::iter::repeat_n(named("a"), n));
        g.try_take(&mut st, &a(4), t0).unwrap();
        let t1 = t0 + Duration::from_secs(1);
        g.try_take(&mut st, &a(4), t1).unwrap();
        // 8 sent; 4 more would make 12 of 10: wait until the first 4 have
        // left the window (lengthened by a second for Graph's later count).
        let later = g.try_take(&mut st, &a(4), t1).unwrap_err().unwrap();
        assert_eq!(later, t0 + window + Duration::from_secs(1));
        // Another mailbox has a window of its own.
        g.try_take(
            &mut st,
            &Cost::batch(std::iter::repeat_n(named("b"), 10)),
            t1,
        )
        .unwrap();
        g.try_take(&mut st, &a(2), t1).unwrap();
        g.try_take(&mut st, &a(4), later).unwrap();
    }

    #[tokio::test]
    async fn retry_after_pauses_its_mailbox_and_the_waiters_wake() {
        let g = Arc::new(Governor::new(4, None));
        g.back_off([&named("a")], Duration::from_millis(200));
        {
            let mut st = g.lock();
            let now = Instant::now();
            assert!(matches!(
                g.try_take(&mut st, &Cost::single(named("a")), now),
                Err(Some(_))
            ));
            // Graph asked only that mailbox to wait.
            g.try_take(&mut st, &Cost::single(named("b")), now).unwrap();
        }
        let started = Instant::now();
        let lease = g.acquire(&Cost::single(named("a"))).await;
        assert!(started.elapsed() >= Duration::from_millis(150));
        drop(lease);
    }

    /// Operations a test server counts as outstanding per mailbox: a request
    /// from its receipt to its answer, a `$batch` as min(4, n) on each
    /// mailbox its n inner requests address.
    #[derive(Default, Debug)]
    struct Outstanding {
        now: HashMap<String, usize>,
        peak: HashMap<String, usize>,
        peak_total: usize,
    }

    /// The mailbox a path addresses, as the test server reads it.
    fn mailbox_in(path: &str) -> String {
        let mut segments = path.split(['/', '?']);
        while let Some(s) = segments.next() {
            match s {
                "users" => {
                    let id = segments.next().unwrap_or_default();
                    return percent_encoding::percent_decode_str(id)
                        .decode_utf8_lossy()
                        .to_lowercase();
                }
                "me" => return "me".to_owned(),
                _ => {}
            }
        }
        String::new()
    }

    /// How long the test server holds a request, from its URI and the
    /// number of inner requests (0 outside a batch).
    type Hold = Arc<dyn Fn(&str, usize) -> Duration + Send + Sync>;

    #[derive(Clone)]
    struct Holding {
        hold: Hold,
        out: Arc<Mutex<Outstanding>>,
    }

    async fn held(State(s): State<Holding>, req: axum::extract::Request) -> Response {
        let uri = req.uri().to_string();
        let body = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .unwrap();
        let inner: Vec<Value> = if uri.ends_with("/$batch") {
            let v: Value = serde_json::from_slice(&body).unwrap();
            v["requests"].as_array().unwrap().clone()
        } else {
            Vec::new()
        };
        let mut claims: HashMap<String, usize> = HashMap::new();
        if inner.is_empty() {
            claims.insert(mailbox_in(&uri), 1);
        } else {
            for r in &inner {
                *claims
                    .entry(mailbox_in(r["url"].as_str().unwrap()))
                    .or_default() += 1;
            }
            for n in claims.values_mut() {
                *n = (*n).min(4);
            }
        }
        {
            let mut out = s.out.lock().unwrap();
            for (m, n) in &claims {
                let now = out.now.entry(m.clone()).or_default();
                *now += n;
                let now = *now;
                let peak = out.peak.entry(m.clone()).or_default();
                *peak = (*peak).max(now);
            }
            let total = out.now.values().sum();
            out.peak_total = out.peak_total.max(total);
        }
        tokio::time::sleep((s.hold)(&uri, inner.len())).await;
        {
            let mut out = s.out.lock().unwrap();
            for (m, n) in &claims {
                if let Some(now) = out.now.get_mut(m) {
                    *now -= n;
                }
            }
        }
        if inner.is_empty() {
            return reply(200, &[], r#"{"value":[]}"#);
        }
        let responses: Vec<Value> = inner
            .iter()
            .map(|r| json!({"id": r["id"], "status": 201, "body": {"id": format!("new-{}", r["id"].as_str().unwrap())}}))
            .collect();
        reply(200, &[], json!({"responses": responses}).to_string())
    }

    /// A Graph that answers each request after `hold(uri, inner requests)`
    /// (an empty page to a GET, 201 to every inner request of a batch) and
    /// counts what is outstanding per mailbox.
    async fn serve_holding(
        hold: impl Fn(&str, usize) -> Duration + Send + Sync + 'static,
    ) -> (Url, Arc<Mutex<Outstanding>>) {
        let s = Holding {
            hold: Arc::new(hold),
            out: Arc::new(Mutex::new(Outstanding::default())),
        };
        let out = s.out.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(held).with_state(s);
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Url::parse(&format!("http://{addr}/v1.0")).unwrap(), out)
    }

    /// Graph's time for a request: a round trip of 20 ms and 10 ms per wave
    /// of 4 inner requests, give or take a few ms.
    fn graph_time(_: &str, inner: usize) -> Duration {
        Duration::from_millis(20 + 10 * inner.max(1).div_ceil(4) as u64 + fastrand::u64(0..4))
    }

    fn creates(mailbox: &str, n: usize) -> Vec<BatchRequest> {
        (0..n)
            .map(|i| {
                BatchRequest::with_body(
                    Method::POST,
                    format!("/users/{mailbox}/calendars/C/events"),
                    &json!({"subject": format!("s{i}")}),
                )
                .unwrap()
            })
            .collect()
    }

    #[tokio::test]
    async fn no_mailbox_ever_has_more_than_four_operations_outstanding() {
        let (url, out) = serve_holding(graph_time).await;
        let (c, _) = client(&url);
        // 100 writes while reads of the same mailbox (its address in
        // another case) come and go.
        let reads = async {
            for _ in 0..5 {
                let (a, b, d) = tokio::join!(
                    c.get("/users/A@x.example/calendars", &[]),
                    c.get("/users/a@X.example/calendar", &[]),
                    c.get("/users/a%40x.example/events", &[]),
                );
                a.unwrap();
                b.unwrap();
                d.unwrap();
            }
        };
        let (writes, ()) = tokio::join!(c.batch(creates("a@x.example", 100)), reads);
        assert!(writes.iter().all(Result::is_ok));
        let out = out.lock().unwrap();
        assert_eq!(out.peak["a@x.example"], 4, "{out:?}");
        assert_eq!(c.metrics().operations, 115);
    }

    #[tokio::test]
    async fn two_mailboxes_are_written_side_by_side() {
        let (url, out) = serve_holding(graph_time).await;
        let (c, _) = client(&url);
        let (a, b) = tokio::join!(
            c.batch(creates("a@x.example", 60)),
            c.batch(creates("b@x.example", 60))
        );
        assert!(a.iter().chain(&b).all(Result::is_ok));
        let out = out.lock().unwrap();
        assert_eq!(out.peak["a@x.example"], 4, "{out:?}");
        assert_eq!(out.peak["b@x.example"], 4, "{out:?}");
        // Each mailbox had its 4 while the other had its own.
        assert_eq!(out.peak_total, 8, "{out:?}");
    }

    #[tokio::test]
    async fn a_request_holds_its_slot_until_it_times_out() {
        let (url, _) = serve_holding(|uri: &str, _| {
            if uri.contains("slow") {
                Duration::from_secs(30)
            } else {
                Duration::from_millis(5)
            }
        })
        .await;
        let mut o = opts(&url);
        o.timeout = Duration::from_millis(300);
        o.max_retries = 0;
        let (c, _) = client_with(&url, o);
        let started = Instant::now();
        let (s1, s2, s3, s4, quick) = tokio::join!(
            c.get("/users/a/slow", &[]),
            c.get("/users/a/slow", &[]),
            c.get("/users/a/slow", &[]),
            c.get("/users/a/slow", &[]),
            async {
                // Sent last: it finds the mailbox full until the others fail.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let answer = c.get("/users/a/quick", &[]).await;
                (answer, started.elapsed())
            }
        );
        for slow in [s1, s2, s3, s4] {
            assert_eq!(slow.unwrap_err().code, "timeout");
        }
        let (answer, at) = quick;
        answer.unwrap();
        assert!(at >= Duration::from_millis(300), "{at:?}");
    }

    #[test]
    fn rate_limit_override_format() {
        assert_eq!(DEFAULT_RATE_LIMIT, (10_000, Duration::from_secs(600)));
        let url = Url::parse("https://graph.microsoft.com/v1.0").unwrap();
        assert!(ClientOptions::new(url).rate_limit.is_some());
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(30))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn retry_after_is_capped_and_backoff_bounded() {
        let url = Url::parse("https://graph.microsoft.com/v1.0").unwrap();
        let (c, _) = client_with(&url, ClientOptions::new(url.clone()));
        assert_eq!(
            c.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(120)
        );
        for attempt in 1..30 {
            let d = backoff(attempt, Duration::from_millis(500), Duration::from_secs(30));
            let ceiling = Duration::from_millis(500)
                .saturating_mul(1 << (attempt - 1).min(20))
                .min(Duration::from_secs(30));
            assert!(d <= ceiling, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn query_encoding_keeps_odata_literal() {
        let mut s = String::new();
        encode_component(
            "singleValueExtendedProperties/Any(ep: ep/id eq 'String {x} Name K' and ep/value eq 'a&b+c#')",
            &mut s,
        );
        assert_eq!(
            s,
            "singleValueExtendedProperties/Any(ep:%20ep/id%20eq%20%27String%20%7Bx%7D%20Name%20K%27%20and%20ep/value%20eq%20%27a%26b%2Bc%23%27)"
        );
    }

    #[test]
    fn client_request_ids_look_like_uuids() {
        let id = new_client_request_id();
        let parts: Vec<_> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_client_request_id());
    }

    #[test]
    fn futures_are_send() {
        fn is_send<T: Send>(_: &T) {}
        let url = Url::parse("https://graph.microsoft.com/v1.0").unwrap();
        let (c, _) = client_with(&url, ClientOptions::new(url.clone()));
        is_send(&c.get_all("/x", &[]));
        is_send(&c.get_collection("/x", &[], None));
        is_send(&c.send(Method::PATCH, "/x", &[], None));
        is_send(&c.batch(Vec::new()));
    }

    #[test]
    fn metrics_percentiles() {
        let url = Url::parse("https://graph.microsoft.com/v1.0").unwrap();
        let (c, _) = client_with(&url, ClientOptions::new(url.clone()));
        c.count(|k| k.latencies_ms.extend((1..=100).map(f64::from)));
        let m = c.metrics();
        assert_eq!(m.mean_ms, Some(50.5));
        assert_eq!(m.p95_ms, Some(95.0));
        assert_eq!(m.mean_latency_ms(), 50.5);
    }
}
