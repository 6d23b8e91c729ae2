//! The one HTTP client every Microsoft Graph request goes through.
//!
//! It adds the bearer token (only ever to the configured Graph origin), the
//! `Prefer` headers calsync always wants (UTC times, immutable ids) and a
//! `client-request-id`; pages through `@odata.nextLink`; sends writes as JSON
//! batches of at most 20, paced so that the mailbox never has more than 4
//! operations in flight nor more than its rate limit per window (see
//! [`GraphClient::batch`]); retries throttling (429), 503, 504, transport
//! failures and malformed answers with `Retry-After` or capped, jittered
//! exponential backoff; refreshes the token once after a 401; stops sending
//! anything once Graph has failed several requests in a row (circuit breaker);
//! and keeps the run's request metrics. A [`Progress`] observer, when set,
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
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};
use url::Url;

/// Graph's limit on requests in one `$batch`.
pub const MAX_BATCH: usize = 20;

/// Retries after a refused connection (see `send_with_retries`).
const CONNECT_RETRIES: u32 = 2;
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
    /// Most Graph operations in flight at once (Outlook allows 4 per app and
    /// mailbox): a request outside a batch counts one, a batch as many as
    /// Graph runs of it at once (its inner requests, at most 4).
    pub max_concurrency: usize,
    /// At most this many Graph operations per window (Outlook allows 10,000
    /// per 10 minutes per app and mailbox); `None` sends without counting.
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
    governor: Governor,
    counters: Mutex<Counters>,
    consecutive_outages: AtomicU32,
    open: AtomicBool,
    progress: Mutex<Option<Arc<dyn Progress>>>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.inner.opts.graph_url.as_str())
            .finish_non_exhaustive()
    }
}

/// What one HTTP attempt came to.
enum Attempt<T> {
    /// The answer, and how long it took from sending to its last byte.
    Done(T, Duration),
    /// Worth another try, after `Retry-After` when given.
    Retry(GraphError, Option<Duration>),
    Unauthorized(GraphError),
    Fail(GraphError),
}

impl GraphClient {
    pub fn new(http: reqwest::Client, tokens: Arc<dyn TokenSource>, opts: ClientOptions) -> Self {
        let base = opts.graph_url.as_str().trim_end_matches('/').to_owned();
        let governor = Governor::new(opts.max_concurrency, opts.rate_limit);
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
        self.execute(method, url, &label, body, None, Cost::SINGLE, None)
            .await
            .map(|(v, _)| v)
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
            .for_each_page(path, query, max_page_size, None, |page| {
                items.extend(page);
                Ok(())
            })
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
        max_page_size: Option<u32>,
        keep: Option<&[&str]>,
        mut on_page: F,
    ) -> Result<Option<String>, PageError>
    where
        F: FnMut(Vec<Value>) -> anyhow::Result<()> + Send,
    {
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
            let (answer, _) = self
                .execute_parsed(
                    Method::GET,
                    url.clone(),
                    &label,
                    None,
                    extra_prefer.as_deref(),
                    Cost::SINGLE,
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
    /// Batches are pipelined within the mailbox's limits: Graph runs at most
    /// 4 inner requests of a batch at a time and counts each against the
    /// mailbox's 4 concurrent operations, so a batch is sent only when the
    /// mailbox has room for it. The first of many is a small one, to time
    /// Graph; from then on the next batch leaves once the previous one is
    /// expected to have run (see [`Pace`]), so that its round trip overlaps
    /// the other's work instead of leaving the mailbox idle. The rate limit
    /// is counted in a sliding window and waited for, never hit.
    ///
    /// Inner 429/503/504 answers (and inner answers missing from a batch)
    /// are sent again, without the requests that succeeded, after their
    /// `Retry-After` (else backoff), up to `max_retries` times; a 429 also
    /// pauses every request for its `Retry-After` and makes the pacing more
    /// careful. Inner answers of 400 and above are errors.
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
        type Sent<'a> = Pin<
            Box<
                dyn Future<Output = (Vec<usize>, Cost, Result<(Value, Duration), GraphError>)>
                    + Send
                    + 'a,
            >,
        >;
        type Leasing<'a> = Pin<Box<dyn Future<Output = Lease<'a>> + Send + 'a>>;
        enum Next<'a> {
            Answered(Vec<usize>, Cost, Result<(Value, Duration), GraphError>),
            Leased(Lease<'a>),
            RetryDue,
        }

        let batch_label = "POST /$batch";
        let governor = &self.inner.governor;
        let mut outcomes: Vec<Option<Result<BatchResponse, GraphError>>> =
            (0..requests.len()).map(|_| None).collect();
        let mut attempts = vec![0u32; requests.len()];
        let mut queue: VecDeque<usize> = (0..requests.len()).collect();
        // Requests to send again, and from when.
        let mut later: Vec<(Instant, usize)> = Vec::new();
        let mut flying: Vec<Sent<'_>> = Vec::new();
        let mut leasing: Option<(usize, Leasing<'_>)> = None;
        let mut reported = 0usize;

        loop {
            let now = Instant::now();
            later.sort_by_key(|(t, _)| *t);
            while later.first().is_some_and(|(t, _)| *t <= now) {
                let (_, i) = later.remove(0);
                queue.push_back(i);
            }
            if queue.is_empty() && flying.is_empty() && leasing.is_none() && later.is_empty() {
                break;
            }
            if leasing.is_none() && !queue.is_empty() {
                if self.inner.open.load(Ordering::SeqCst) {
                    // The breaker is open: what is left fails without a request.
                    let err = self.unavailable(batch_label);
                    for i in queue.drain(..) {
                        outcomes[i] = Some(Err(err.clone()));
                    }
                    for (_, i) in later.drain(..) {
                        outcomes[i] = Some(Err(err.clone()));
                    }
                    continue;
                }
                // Time Graph with a small batch first when there are many.
                let calibrate =
                    queue.len() > 2 * MAX_BATCH && !governor.knows_small_batches(requests.len());
                if !calibrate || flying.is_empty() {
                    let size = if calibrate {
                        BATCH_PARALLELISM
                    } else {
                        MAX_BATCH
                    }
                    .min(queue.len());
                    leasing = Some((size, Box::pin(governor.acquire(Cost::batch(size)))));
                }
            }
            let mut retry_due = later
                .first()
                .map(|(t, _)| Box::pin(tokio::time::sleep_until((*t).into())));
            let next = std::future::poll_fn(|cx| {
                for k in 0..flying.len() {
                    if let Poll::Ready((chunk, cost, answer)) = flying[k].as_mut().poll(cx) {
                        drop(flying.swap_remove(k));
                        return Poll::Ready(Next::Answered(chunk, cost, answer));
                    }
                }
                if let Some((_, fut)) = leasing.as_mut()
                    && let Poll::Ready(lease) = fut.as_mut().poll(cx)
                {
                    return Poll::Ready(Next::Leased(lease));
                }
                if let Some(sleep) = retry_due.as_mut()
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Next::RetryDue);
                }
                Poll::Pending
            })
            .await;
            match next {
                Next::RetryDue => {}
                Next::Leased(lease) => {
                    let size = leasing.take().map_or(0, |(size, _)| size);
                    let chunk: Vec<usize> = queue.drain(..size.min(queue.len())).collect();
                    let cost = Cost::batch(chunk.len());
                    let prepared = batch_payload(&requests, &chunk)
                        .map_err(|e| {
                            GraphError::local(
                                "invalid_body",
                                batch_label,
                                format!("could not encode the batch: {e}"),
                            )
                        })
                        .and_then(|payload| {
                            Ok((payload, self.resolve("/$batch", &[], batch_label)?))
                        });
                    match prepared {
                        Ok((payload, url)) => flying.push(Box::pin(async move {
                            let answer = self
                                .execute(
                                    Method::POST,
                                    url,
                                    batch_label,
                                    Some(payload),
                                    None,
                                    cost,
                                    Some(lease),
                                )
                                .await;
                            (chunk, cost, answer)
                        })),
                        Err(err) => {
                            drop(lease);
                            for &i in &chunk {
                                outcomes[i] = Some(Err(err.clone()));
                            }
                        }
                    }
                }
                Next::Answered(chunk, cost, answer) => {
                    let mut answers = match answer
                        .and_then(|(v, elapsed)| Ok((parse_batch_answer(v, batch_label)?, elapsed)))
                    {
                        Ok(a) => a,
                        Err(err) => {
                            for &i in &chunk {
                                outcomes[i] = Some(Err(err.clone()));
                            }
                            self.report_writes(&outcomes, &mut reported);
                            continue;
                        }
                    };
                    let elapsed = answers.1;
                    let mut again: Vec<(usize, GraphError, Option<Duration>)> = Vec::new();
                    let mut throttled = false;
                    for &i in &chunk {
                        let req = &requests[i];
                        let label = format!("{} {}", req.method, strip_query(&req.url));
                        let Some(ans) = answers.0.remove(&i.to_string()) else {
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
                            outcomes[i] = Some(Ok(BatchResponse {
                                status: ans.status,
                                body: kept_fields(ans.body, keep),
                            }));
                            continue;
                        }
                        let err = error_from_value(ans.status, &ans.body, None, &label);
                        if ans.status == 429 {
                            throttled = true;
                            self.count(|c| c.throttled += 1);
                        }
                        if matches!(ans.status, 429 | 503 | 504) {
                            let ra = header_str(&ans.headers, "retry-after")
                                .as_deref()
                                .and_then(parse_retry_after);
                            again.push((i, err, ra));
                        } else {
                            self.note_outcome(err.is_outage());
                            outcomes[i] = Some(Err(err));
                        }
                    }
                    if again.is_empty() {
                        governor.sample(cost, elapsed);
                    } else {
                        let pause = again
                            .iter()
                            .filter_map(|(_, _, ra)| *ra)
                            .max()
                            .map(|ra| ra.min(self.inner.opts.max_retry_after));
                        governor.back_off(pause, throttled);
                        let now = Instant::now();
                        let mut retried = 0u64;
                        for (i, err, ra) in again {
                            if attempts[i] >= self.inner.opts.max_retries
                                || self.inner.open.load(Ordering::SeqCst)
                            {
                                self.note_outcome(err.is_outage());
                                outcomes[i] = Some(Err(err));
                                continue;
                            }
                            attempts[i] += 1;
                            retried += 1;
                            let delay = self.delay(attempts[i], ra);
                            tracing::info!(
                                request = %err.request,
                                status = err.status,
                                code = %err.code,
                                wait_ms = delay.as_millis() as u64,
                                retry = attempts[i],
                                "retrying a throttled or failed batch request"
                            );
                            later.push((now + delay, i));
                        }
                        self.count(|c| c.retries += retried);
                    }
                }
            }
            self.report_writes(&outcomes, &mut reported);
        }
        self.report_writes(&outcomes, &mut reported);
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Err(GraphError::local(
                        "internal",
                        batch_label,
                        "request was never sent",
                    ))
                })
            })
            .collect()
    }

    /// Tells the progress observer how many more batched requests have their
    /// final outcome since the last report.
    fn report_writes(
        &self,
        outcomes: &[Option<Result<BatchResponse, GraphError>>],
        reported: &mut usize,
    ) {
        let done = outcomes.iter().filter(|o| o.is_some()).count();
        if done > *reported {
            self.progress(|p| p.writes_done(done - *reported));
            *reported = done;
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
        extra_prefer: Option<&str>,
        cost: Cost,
        lease: Option<Lease<'_>>,
    ) -> Result<(Value, Duration), GraphError> {
        self.execute_parsed(
            method,
            url,
            label,
            body,
            extra_prefer,
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
        extra_prefer: Option<&str>,
        cost: Cost,
        mut lease: Option<Lease<'_>>,
        parse: &(dyn Fn(&[u8]) -> serde_json::Result<T> + Send + Sync),
    ) -> Result<(T, Duration), GraphError> {
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
                None => self.inner.governor.acquire(cost).await,
            };
            let outcome = self
                .attempt(
                    &method,
                    &url,
                    label,
                    body.as_ref(),
                    extra_prefer,
                    &token,
                    lease,
                    parse,
                )
                .await;
            match outcome {
                Attempt::Done(v, elapsed) => {
                    self.note_outcome(false);
                    return Ok((v, elapsed));
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
                    let limit = if e.code == "connect" {
                        self.inner.opts.max_retries.min(CONNECT_RETRIES)
                    } else {
                        self.inner.opts.max_retries
                    };
                    if attempt >= limit {
                        self.note_outcome(e.is_outage());
                        return Err(e);
                    }
                    attempt += 1;
                    self.count(|c| c.retries += 1);
                    let delay = self.delay(attempt, retry_after);
                    tracing::info!(
                        request = %label,
                        status = e.status,
                        code = %e.code,
                        wait_ms = delay.as_millis() as u64,
                        retry = attempt,
                        "retrying Graph request"
                    );
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
        lease: Lease<'_>,
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

        let cost = lease.cost;
        self.count(|c| {
            c.requests += 1;
            c.operations += u64::from(cost.ops);
        });
        lease.sent();
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
                let what = if e.is_timeout() {
                    "the request timed out"
                } else if e.is_connect() {
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
                Ok(v) => Attempt::Done(v, elapsed),
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
                self.inner.governor.back_off(
                    ra.map(|ra| ra.min(self.inner.opts.max_retry_after)),
                    status == 429,
                );
                Attempt::Retry(err, ra)
            }
            _ => Attempt::Fail(err),
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

/// Graph runs at most this many inner requests of an unordered batch at a time.
const BATCH_PARALLELISM: usize = 4;

/// What one HTTP request costs the mailbox: the Graph operations it carries
/// (1, or a batch's inner requests) and the slots they occupy at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cost {
    ops: u32,
    /// `Some(n)` for a batch of `n` inner requests.
    batch: Option<usize>,
}

impl Cost {
    const SINGLE: Cost = Cost {
        ops: 1,
        batch: None,
    };

    fn batch(n: usize) -> Cost {
        Cost {
            ops: u32::try_from(n).unwrap_or(u32::MAX),
            batch: Some(n),
        }
    }

    fn slots(self) -> usize {
        self.batch.map_or(1, |n| n.clamp(1, BATCH_PARALLELISM))
    }

    /// How many times Graph fills its 4 slots to run the batch.
    fn waves(self) -> usize {
        self.batch
            .map_or(1, |n| n.max(1).div_ceil(BATCH_PARALLELISM))
    }
}

/// Learns how long the mailbox takes to run a batch, and how far a batch may
/// be sent before the previous one has answered.
///
/// A batch of `n` inner requests answers after `T(w) = rtt + w · wave`, with
/// `w = ceil(n / 4)` waves of 4 inner requests. The mailbox is busy with it
/// only for `w · wave`, the rest is the round trip: the next batch can leave
/// once the previous one has been *running* for that long, and arrive as its
/// last wave ends, so that round trips overlap and the 4 slots never idle
/// nor hold more than 4. `wave` is the slope between the quickest answer of
/// a small batch and the usual answer of a large one, taken with a 4%
/// margin and a guard of 2 ms plus three times the answers' spread. Each 429
/// halves how much of the round trip is overlapped and widens the margin
/// (multiplicative decrease); each clean answer gives a little overlap back
/// (additive increase).
#[derive(Debug, Clone)]
struct Pace {
    /// Per wave count (index = waves): quickest answer, in ms.
    fastest: [Option<f64>; BATCH_PARALLELISM * 5 / 4 + 2],
    /// Per wave count: moving mean of answers, in ms.
    mean: [Option<f64>; BATCH_PARALLELISM * 5 / 4 + 2],
    /// Moving mean absolute deviation of answers from their mean, in ms.
    spread: f64,
    /// Answers timed per wave count.
    samples: [u32; BATCH_PARALLELISM * 5 / 4 + 2],
    /// Share of the round trip overlapped, 0 (wait for each answer) to 1.
    overlap: f64,
    /// Extra share of the estimated running time waited.
    margin: f64,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            fastest: Default::default(),
            mean: Default::default(),
            spread: 0.0,
            samples: Default::default(),
            overlap: 1.0,
            margin: 0.04,
        }
    }
}

/// Small batches timed before batches are pipelined: the quickest of a few
/// tells the round trip better than one, but each costs a request, so the
/// extra ones are spent only on long runs of writes.
const CALIBRATION_BATCHES: u32 = 1;
const CALIBRATION_BATCHES_LONG: u32 = 3;
/// Writes from which a run counts as long.
const LONG_RUN: usize = 100 * MAX_BATCH;
/// Fixed part of the guard added to the estimated running time.
const PACE_GUARD_MS: f64 = 2.0;
const PACE_INCREASE: f64 = 0.05;

impl Pace {
    fn max_waves() -> usize {
        MAX_BATCH.div_ceil(BATCH_PARALLELISM)
    }

    /// An answer to a batch of `waves` waves took `ms` from send to answer,
    /// with nothing throttled.
    fn sample(&mut self, waves: usize, ms: f64) {
        let w = waves.min(Self::max_waves());
        if !ms.is_finite() || ms < 0.0 || w == 0 {
            return;
        }
        self.fastest[w] = Some(self.fastest[w].map_or(ms, |f| f.min(ms)));
        let mean = self.mean[w].map_or(ms, |m| m + (ms - m) * 0.2);
        if let Some(m) = self.mean[w] {
            self.spread += ((ms - m).abs() - self.spread) * 0.2;
        }
        self.mean[w] = Some(mean);
        self.samples[w] = self.samples[w].saturating_add(1);
        self.overlap = (self.overlap + PACE_INCREASE).min(1.0);
    }

    /// Graph answered 429: overlap less, keep a wider margin.
    fn throttled(&mut self) {
        self.overlap /= 2.0;
        if self.overlap < 0.1 {
            self.overlap = 0.0;
        }
        self.margin = (self.margin + 0.05).min(0.5);
    }

    /// Whether enough small batches have been timed to tell the round trip
    /// from the running time, before `writes` writes.
    fn knows_small(&self, writes: usize) -> bool {
        let wanted = if writes >= LONG_RUN {
            CALIBRATION_BATCHES_LONG
        } else {
            CALIBRATION_BATCHES
        };
        self.samples[1] >= wanted
    }

    /// The time per wave and the round trip, in ms, once batches of two
    /// different sizes have answered.
    fn estimate(&self) -> Option<(f64, f64)> {
        let lo = (1..=Self::max_waves()).find(|&w| self.fastest[w].is_some())?;
        let hi = (1..=Self::max_waves())
            .rev()
            .find(|&w| self.mean[w].is_some())?;
        if hi <= lo {
            return None;
        }
        let (t_lo, t_hi) = (self.fastest[lo]?, self.mean[hi]?);
        let wave = (t_hi - t_lo) / (hi - lo) as f64;
        let rtt = t_lo - wave * lo as f64;
        (wave > 0.0 && rtt > 0.0).then_some((wave, rtt))
    }

    /// How long after it was sent a batch of `waves` waves stops holding the
    /// mailbox's slots, when that is before its answer can arrive.
    fn release_after(&self, waves: usize) -> Option<Duration> {
        if self.overlap <= 0.0 {
            return None;
        }
        let (wave, rtt) = self.estimate()?;
        let answer = rtt + wave * waves as f64;
        let running = wave * waves as f64 * (1.0 + self.margin) + PACE_GUARD_MS + 3.0 * self.spread;
        let after = answer - self.overlap * (answer - running);
        (after < answer && after > 0.0).then(|| Duration::from_secs_f64(after / 1000.0))
    }
}

/// One lease on the mailbox: its slots, and when they count as free.
#[derive(Debug)]
struct Held {
    id: u64,
    slots: usize,
    /// Set when the request was sent, for batches Graph will have finished
    /// running before their answer arrives.
    release_at: Option<Instant>,
}

#[derive(Debug)]
struct GovernorState {
    capacity: usize,
    held: Vec<Held>,
    next_id: u64,
    /// Operations sent, with when, within the rate window.
    sent: VecDeque<(Instant, u32)>,
    sent_ops: u64,
    /// No request is sent before this (a `Retry-After` was received).
    paused_until: Option<Instant>,
    pace: Pace,
}

/// Keeps the mailbox within Outlook's limits: at most `max_concurrency`
/// operations in flight and at most `rate_limit` operations per window;
/// pauses every request after a `Retry-After`; paces batches (see [`Pace`]).
#[derive(Debug)]
struct Governor {
    state: Mutex<GovernorState>,
    notify: tokio::sync::Notify,
    /// Operations and window, the window lengthened by a safety margin.
    rate: Option<(u64, Duration)>,
}

/// Slots held on the mailbox; given back when dropped.
struct Lease<'a> {
    governor: &'a Governor,
    id: u64,
    cost: Cost,
}

impl Governor {
    fn new(capacity: usize, rate_limit: Option<(u32, Duration)>) -> Governor {
        Governor {
            state: Mutex::new(GovernorState {
                capacity: capacity.max(1),
                held: Vec::new(),
                next_id: 0,
                sent: VecDeque::new(),
                sent_ops: 0,
                paused_until: None,
                pace: Pace::default(),
            }),
            notify: tokio::sync::Notify::new(),
            // Graph counts an operation when it runs it, up to a batch's
            // running time after we send it: a window longer by 2% (at least
            // a second) keeps clear of its count.
            rate: rate_limit
                .filter(|(n, w)| *n > 0 && !w.is_zero())
                .map(|(n, w)| (u64::from(n), w + (w / 50).max(Duration::from_secs(1)))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GovernorState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `cost` fits the mailbox's limits, and takes its slots.
    async fn acquire(&self, cost: Cost) -> Lease<'_> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake = {
                let mut st = self.lock();
                match self.try_take(&mut st, cost, Instant::now()) {
                    Ok(id) => {
                        return Lease {
                            governor: self,
                            id,
                            cost,
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

    /// Takes the slots and rate for `cost` now, or says when to look again
    /// (`None`: when a lease is given back).
    fn try_take(
        &self,
        st: &mut GovernorState,
        cost: Cost,
        now: Instant,
    ) -> Result<u64, Option<Instant>> {
        st.held.retain(|h| h.release_at.is_none_or(|t| t > now));
        if let Some(until) = st.paused_until {
            if until > now {
                return Err(Some(until));
            }
            st.paused_until = None;
        }
        let in_use: usize = st.held.iter().map(|h| h.slots).sum();
        let slots = cost.slots().min(st.capacity);
        if in_use + slots > st.capacity {
            return Err(st.held.iter().filter_map(|h| h.release_at).min());
        }
        if let Some((limit, window)) = self.rate {
            while let Some(&(t, n)) = st.sent.front() {
                if now.duration_since(t) < window {
                    break;
                }
                st.sent.pop_front();
                st.sent_ops -= u64::from(n);
            }
            let ops = u64::from(cost.ops);
            if st.sent_ops > 0 && st.sent_ops + ops > limit {
                // Wait until enough of the oldest have left the window.
                let mut freed = 0u64;
                let mut at = now;
                for &(t, n) in &st.sent {
                    freed += u64::from(n);
                    at = t + window;
                    if st.sent_ops - freed + ops <= limit {
                        break;
                    }
                }
                return Err(Some(at));
            }
            st.sent.push_back((now, cost.ops));
            st.sent_ops += ops;
        }
        let id = st.next_id;
        st.next_id += 1;
        st.held.push(Held {
            id,
            slots,
            release_at: None,
        });
        Ok(id)
    }

    /// No request is sent for `wait`; when `throttled`, batches are paced
    /// more carefully from now on.
    fn back_off(&self, wait: Option<Duration>, throttled: bool) {
        let mut st = self.lock();
        if throttled {
            st.pace.throttled();
        }
        if let Some(wait) = wait.filter(|w| !w.is_zero()) {
            let until = Instant::now() + wait;
            st.paused_until = Some(st.paused_until.map_or(until, |u| u.max(until)));
        }
    }

    fn sample(&self, cost: Cost, elapsed: Duration) {
        if cost.batch.is_some() {
            self.lock()
                .pace
                .sample(cost.waves(), elapsed.as_secs_f64() * 1000.0);
        }
    }

    fn knows_small_batches(&self, writes: usize) -> bool {
        self.lock().pace.knows_small(writes)
    }
}

impl Lease<'_> {
    /// The request leaves now: a batch frees its slots once Graph is
    /// expected to have run it, if that is before its answer.
    fn sent(&self) {
        if self.cost.batch.is_none() {
            return;
        }
        let mut st = self.governor.lock();
        let after = st.pace.release_after(self.cost.waves());
        tracing::trace!(
            waves = self.cost.waves(),
            release_after_ms = after.map(|a| a.as_secs_f64() * 1000.0),
            pace = ?st.pace,
            "batch sent"
        );
        if let (Some(after), Some(h)) = (after, st.held.iter_mut().find(|h| h.id == self.id)) {
            h.release_at = Some(Instant::now() + after);
            drop(st);
            self.governor.notify.notify_waiters();
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.governor.lock().held.retain(|h| h.id != self.id);
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
            .for_each_page("/x", &[], None, None, |items| {
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
            .for_each_page("/x", &[], None, Some(&["id", "subject"]), |items| {
                all.extend(items);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(all, [json!({"id": "a", "subject": "S"}), json!(7)]);
        assert!(delta.unwrap().ends_with("$deltatoken=d"));
        let err = c
            .for_each_page("/odd", &[], None, Some(&["id"]), |_| Ok(()))
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
        // A small batch first times Graph; then batches of 20; the throttled
        // request is sent again without the rest of its batch.
        assert_eq!(sizes[..3], [4, 20, 20], "{sizes:?}");
        assert!(sizes.iter().all(|&n| n <= MAX_BATCH), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 46, "{sizes:?}");
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

    fn ms(d: Option<Duration>) -> Option<f64> {
        d.map(|d| (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0)
    }

    #[test]
    fn pace_learns_the_wave_time_and_overlaps_the_round_trip() {
        let mut p = Pace::default();
        assert_eq!(p.release_after(5), None);
        // Batches of one size only cannot tell work from round trip.
        p.sample(5, 75.0);
        assert_eq!(p.estimate(), None);
        assert_eq!(p.release_after(5), None);
        p.sample(1, 37.0);
        assert!(p.knows_small(1000) && !p.knows_small(LONG_RUN));
        p.sample(1, 35.0);
        p.sample(1, 36.0);
        assert!(p.knows_small(LONG_RUN));
        let (wave, rtt) = p.estimate().unwrap();
        assert!((wave - 10.0).abs() < 1e-9 && (rtt - 25.0).abs() < 1e-9);
        // 5 waves of 10 ms, 4% margin, 2 ms guard and three times the
        // 0.44 ms spread: the next batch may leave 55.3 ms after this one,
        // 19.7 ms before its answer.
        assert_eq!(ms(p.release_after(5)), Some(55.3));
        assert_eq!(ms(p.release_after(1)), Some(13.7));
    }

    #[test]
    fn pace_backs_off_on_throttling_and_recovers_slowly() {
        let mut p = Pace::default();
        p.sample(1, 35.0);
        p.sample(5, 75.0);
        let full = p.release_after(5).unwrap();
        p.throttled();
        let careful = p.release_after(5).unwrap();
        assert!(careful > full, "{careful:?} {full:?}");
        // Repeated throttling ends the overlap: wait for each answer.
        for _ in 0..4 {
            p.throttled();
        }
        assert_eq!(p.release_after(5), None);
        // Clean answers give the overlap back a little at a time, never the
        // margin.
        for _ in 0..3 {
            p.sample(5, 75.0);
        }
        let recovering = p.release_after(5).unwrap();
        assert!(recovering > careful, "{recovering:?} {careful:?}");
        for _ in 0..40 {
            p.sample(5, 75.0);
        }
        assert!(p.release_after(5).unwrap() > full);
    }

    #[test]
    fn pace_guard_grows_with_the_spread_of_answers() {
        let mut steady = Pace::default();
        let mut noisy = Pace::default();
        steady.sample(1, 35.0);
        noisy.sample(1, 35.0);
        for k in 0..10 {
            steady.sample(5, 75.0);
            noisy.sample(5, if k % 2 == 0 { 70.0 } else { 80.0 });
        }
        assert!(noisy.release_after(5).unwrap() > steady.release_after(5).unwrap());
    }

    #[test]
    fn cost_of_requests_and_batches() {
        assert_eq!((Cost::SINGLE.slots(), Cost::SINGLE.waves()), (1, 1));
        assert_eq!((Cost::batch(2).slots(), Cost::batch(2).waves()), (2, 1));
        assert_eq!((Cost::batch(20).slots(), Cost::batch(20).waves()), (4, 5));
        assert_eq!((Cost::batch(17).ops, Cost::batch(17).waves()), (17, 5));
    }

    #[test]
    fn governor_keeps_four_operations_in_flight_at_most() {
        let g = Governor::new(4, None);
        let now = Instant::now();
        let mut st = g.lock();
        let first = g.try_take(&mut st, Cost::batch(20), now).unwrap();
        // The batch runs 4 at a time: nothing else fits, and nothing frees
        // the slots but its answer.
        assert_eq!(g.try_take(&mut st, Cost::SINGLE, now), Err(None));
        assert_eq!(g.try_take(&mut st, Cost::batch(3), now), Err(None));
        st.held.retain(|h| h.id != first);
        let a = g.try_take(&mut st, Cost::batch(2), now).unwrap();
        let b = g.try_take(&mut st, Cost::SINGLE, now).unwrap();
        g.try_take(&mut st, Cost::SINGLE, now).unwrap();
        assert_eq!(g.try_take(&mut st, Cost::SINGLE, now), Err(None));
        // A batch expected to have run frees its slots at that time.
        let at = now + Duration::from_millis(50);
        st.held.iter_mut().find(|h| h.id == a).unwrap().release_at = Some(at);
        assert_eq!(g.try_take(&mut st, Cost::batch(2), now), Err(Some(at)));
        g.try_take(&mut st, Cost::batch(2), at).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn governor_counts_operations_against_the_rate_window() {
        let window = Duration::from_secs(10);
        let g = Governor::new(100, Some((10, window)));
        let t0 = Instant::now();
        let mut st = g.lock();
        g.try_take(&mut st, Cost::batch(4), t0).unwrap();
        let t1 = t0 + Duration::from_secs(1);
        g.try_take(&mut st, Cost::batch(4), t1).unwrap();
        st.held.clear();
        // 8 sent; 4 more would make 12 of 10: wait until the first 4 have
        // left the window (lengthened by a second for Graph's later count).
        let later = g
            .try_take(&mut st, Cost::batch(4), t1)
            .unwrap_err()
            .unwrap();
        assert_eq!(later, t0 + window + Duration::from_secs(1));
        g.try_take(&mut st, Cost::batch(2), t1).unwrap();
        g.try_take(&mut st, Cost::batch(4), later).unwrap();
    }

    #[tokio::test]
    async fn governor_pauses_after_retry_after_and_wakes_waiters() {
        let g = Governor::new(4, None);
        g.back_off(Some(Duration::from_millis(200)), true);
        {
            let mut st = g.lock();
            assert!(matches!(
                g.try_take(&mut st, Cost::SINGLE, Instant::now()),
                Err(Some(_))
            ));
            assert!(st.pace.overlap < 1.0);
        }
        let started = Instant::now();
        let lease = g.acquire(Cost::batch(20)).await;
        assert!(started.elapsed() >= Duration::from_millis(150));
        // A waiter gets the room as soon as the lease is given back.
        let waiter = g.acquire(Cost::SINGLE);
        tokio::pin!(waiter);
        assert!(
            tokio::time::timeout(Duration::from_millis(30), waiter.as_mut())
                .await
                .is_err()
        );
        drop(lease);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap();
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
