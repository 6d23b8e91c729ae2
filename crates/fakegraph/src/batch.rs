//! JSON batching: `POST /v1.0/$batch`.
//!
//! Each inner request goes through the same pipeline as a top-level request
//! (authentication with the outer `Authorization`, throttling, faults,
//! recording, state). At most 4 run at a time; requests with `dependsOn` wait
//! for their dependencies and get `424` when one failed. Responses come back
//! in shuffled order, and the batch itself answers 200 whatever the inner
//! statuses are.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::GraphError;
use crate::http::{Body, Req, Resp};
use crate::server::{self, Meta, Shared};

/// Graph's limit on requests in one batch.
const MAX_REQUESTS: usize = 20;
/// Outlook runs at most this many inner requests of a batch at a time.
const CONCURRENCY: usize = 4;
/// How late the fake may get to an inner request and still start it when
/// its slot came free in the model's time.
const LATE_TOLERANCE: Duration = Duration::from_millis(5);

struct Inner {
    id: String,
    depends_on: Vec<String>,
    req: Req,
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::bad_request(message)
}

fn parse(outer: &Req) -> Result<Vec<Inner>, GraphError> {
    if outer.method != "POST" {
        return Err(GraphError::new(
            405,
            "BadRequest",
            "$batch accepts POST only.",
        ));
    }
    let body: Value =
        serde_json::from_slice(&outer.body).map_err(|_| GraphError::unreadable_body())?;
    let requests = body
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("Invalid batch payload format."))?;
    if requests.is_empty() {
        return Err(invalid("Invalid batch payload format."));
    }
    if requests.len() > MAX_REQUESTS {
        return Err(invalid("Number of requests inside batch exceed the limit"));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in requests {
        let id = r.get("id").and_then(Value::as_str).ok_or_else(|| {
            invalid("Invalid batch payload format: every request needs a string 'id'.")
        })?;
        let method = r
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(format!(
                    "Invalid batch payload format: request '{id}' has no 'method'."
                ))
            })?
            .to_ascii_uppercase();
        if !["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&method.as_str()) {
            return Err(invalid(format!(
                "Invalid method '{method}' in request '{id}'."
            )));
        }
        let url = r.get("url").and_then(Value::as_str).ok_or_else(|| {
            invalid(format!(
                "Invalid batch payload format: request '{id}' has no 'url'."
            ))
        })?;
        if !seen.insert(id.to_string()) {
            return Err(invalid(format!(
                "Batch request ids must be unique; '{id}' is repeated."
            )));
        }
        let mut headers: Vec<(String, String)> = match r.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(h)) => h
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect(),
            Some(_) => {
                return Err(invalid(format!(
                    "The headers of request '{id}' must be an object."
                )));
            }
        };
        let body = match r.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone().into_bytes()),
            Some(v) => Some(serde_json::to_vec(v).unwrap_or_default()),
        };
        let has_content_type = headers.iter().any(|(k, _)| k == "content-type");
        let write = matches!(method.as_str(), "POST" | "PATCH" | "PUT");
        if (body.is_some() && !has_content_type) || (write && body.is_none()) {
            return Err(invalid(format!(
                "Write request id : {id} does not contain Content-Type header or body."
            )));
        }
        let depends_on = match r.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|d| d.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    invalid(format!(
                        "The dependsOn of request '{id}' must list request ids."
                    ))
                })?,
            Some(_) => {
                return Err(invalid(format!(
                    "The dependsOn of request '{id}' must be an array."
                )));
            }
        };
        headers.retain(|(k, _)| k != "authorization");
        if let Some(auth) = outer.header("authorization") {
            headers.push(("authorization".into(), auth.to_string()));
        }
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let path = if path.starts_with('/') {
            format!("/v1.0{path}")
        } else {
            format!("/v1.0/{path}")
        };
        out.push(Inner {
            id: id.to_string(),
            depends_on,
            req: Req {
                method,
                path,
                query: query.to_string(),
                headers,
                body: body.unwrap_or_default(),
                in_batch: true,
                model_start: None,
                model_hold: None,
            },
        });
    }
    let ids: HashSet<&str> = out.iter().map(|r| r.id.as_str()).collect();
    for r in &out {
        if let Some(missing) = r.depends_on.iter().find(|d| !ids.contains(d.as_str())) {
            return Err(invalid(format!(
                "Request '{}' depends on '{missing}', which is not in the batch.",
                r.id
            )));
        }
    }
    Ok(out)
}

fn response_json(id: &str, resp: &Resp) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("status".into(), json!(resp.status));
    let headers: Map<String, Value> = resp
        .headers
        .iter()
        .map(|(k, v)| (canonical_header(k), json!(v)))
        .collect();
    m.insert("headers".into(), Value::Object(headers));
    if let Body::Json(body) = &resp.body {
        m.insert("body".into(), body.clone());
    }
    Value::Object(m)
}

/// `retry-after` -> `Retry-After`, as Graph writes inner headers.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn failed_dependency(id: &str, meta: &Meta) -> Resp {
    let e = GraphError::new(
        424,
        "FailedDependency",
        format!("The request '{id}' was not run because a request it depends on failed."),
    );
    Resp::graph_error(
        &e,
        &meta.date,
        &meta.request_id,
        meta.client_request_id.as_deref(),
    )
}

/// Handles a `$batch` request (already authenticated).
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    outer: &Req,
    meta: &Meta,
) -> Result<Resp, GraphError> {
    let requests = parse(outer)?;
    let mut pending: Vec<Inner> = requests;
    let mut status: HashMap<String, u16> = HashMap::new();
    let mut responses: Vec<Value> = Vec::new();
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    // With a latency model, when each of the 4 slots comes free in the
    // model's time: the next inner request starts then, however late the
    // fake itself gets to it, so its own delays do not add up.
    let model = shared.faults().cfg.model.is_some();
    let lanes = Arc::new(Mutex::new(vec![Instant::now(); CONCURRENCY]));
    while !pending.is_empty() {
        let (ready, waiting): (Vec<Inner>, Vec<Inner>) = pending
            .into_iter()
            .partition(|r| r.depends_on.iter().all(|d| status.contains_key(d)));
        pending = waiting;
        if ready.is_empty() {
            // A dependency cycle: nothing can run.
            for r in pending.drain(..) {
                responses.push(response_json(&r.id, &failed_dependency(&r.id, meta)));
            }
            break;
        }
        let mut running = JoinSet::new();
        for r in ready {
            let failed = r
                .depends_on
                .iter()
                .any(|d| !(200..300).contains(&status.get(d).copied().unwrap_or(0)));
            if failed {
                let resp = failed_dependency(&r.id, meta);
                status.insert(r.id.clone(), resp.status);
                responses.push(response_json(&r.id, &resp));
                continue;
            }
            let shared = Arc::clone(shared);
            let limit = Arc::clone(&limit);
            let lanes = Arc::clone(&lanes);
            running.spawn(async move {
                let _permit = limit
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let mut req = r.req;
                if model {
                    let hold = shared.faults().draw_operation().unwrap_or_default();
                    let now = Instant::now();
                    let mut lanes = lanes.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(lane) = lanes.iter_mut().min() {
                        let start = if now.saturating_duration_since(*lane) <= LATE_TOLERANCE {
                            *lane
                        } else {
                            now
                        };
                        *lane = start + hold;
                        req.model_start = Some(start);
                        req.model_hold = Some(hold);
                    }
                }
                let resp = server::handle(shared, req).await;
                (r.id, resp)
            });
        }
        while let Some(done) = running.join_next().await {
            let (id, resp) =
                done.map_err(|e| GraphError::new(500, "ErrorInternalServerError", e.to_string()))?;
            status.insert(id.clone(), resp.status);
            responses.push(response_json(&id, &resp));
        }
    }
    shared.faults().shuffle(&mut responses);
    Ok(Resp::odata(200, json!({"responses": responses})))
}
