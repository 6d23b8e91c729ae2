//! JSON batching: writes (and reads) sent 20 to a `$batch`, each batch
//! holding its slots on the mailboxes it addresses until its answer, and
//! inner requests Graph throttled sent again on their own.
//!
//! What Graph does here: docs/graph.md, Batching.

use super::client::{GraphClient, PREFER, new_client_request_id, strip_query};
use super::error::{GraphError, error_from_value};
use super::governor::{Cost, Lease, Mailbox};
use super::pacing::parse_retry_after;
use futures_util::stream::{FuturesUnordered, StreamExt};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Graph's limit on requests in one `$batch`.
pub const MAX_BATCH: usize = 20;

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

impl GraphClient {
    /// Sends requests through JSON batching, at most 20 per `$batch`, and
    /// returns one outcome per request, in input order.
    ///
    /// Graph may run an unordered batch's inner requests 4 at once, each
    /// counting against the mailbox's 4 concurrent operations, and a client
    /// cannot tell when the last of them finished before the answer arrives
    /// (`concepts/json-batching.md`). So a batch holds min(4, its size) of
    /// the slots of each mailbox it addresses from sending until its answer
    /// (see `governor.rs`): batches of 4 or more to one mailbox go one after
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
        // Batches sent and not answered yet, each to give back its requests
        // and the answer: polled here, side by side with the wait for room
        // for the next batch and for the next retry due.
        let mut flying = FuturesUnordered::new();
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
                    if let Some(sent) = self.send_batch(&mut w, next, cost, lease) {
                        flying.push(sent);
                    }
                }
                Some((chunk, answer)) = flying.next() => self.settle_batch(&mut w, &chunk, answer),
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

    /// Sends the requests `chunk` as one `$batch` holding `lease`: the
    /// batch's answer, with `chunk`, once it came. `None` when the batch
    /// could not be made, its requests failed here.
    fn send_batch<'c>(
        &'c self,
        w: &mut Writes<'_>,
        chunk: Vec<usize>,
        cost: Cost,
        lease: Lease,
    ) -> Option<impl Future<Output = (Vec<usize>, Result<Value, GraphError>)> + Send + 'c> {
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
                return None;
            }
        };
        let request = self
            .request_to(Method::POST, url, BATCH_LABEL)
            .body(payload)
            .cost(cost);
        let send = async move {
            let answer = self.execute(request, Some(lease)).await;
            (chunk, answer)
        };
        Some(send.in_current_span())
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
}

/// The label of `$batch` requests in errors and logs.
pub(super) const BATCH_LABEL: &str = "POST /$batch";

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
mod tests;
