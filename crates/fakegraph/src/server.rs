//! The HTTP server: shared state, the request pipeline every request (top-level
//! or inside a `$batch`) goes through, and the axum glue.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use tokio::sync::oneshot;

use crate::RecordedRequest;
use crate::faults::{self, FaultState};
use crate::graph;
use crate::http::{Body, Delivery, Req, Resp};
use crate::identity::{self, Identity};
use crate::ids;
use crate::odata::Prefer;
use crate::store::Store;

/// Per-request facts shared by the handlers.
pub(crate) struct Meta {
    pub request_id: String,
    pub client_request_id: Option<String>,
    /// `innerError.date`: `2024-05-01T12:00:00`.
    pub date: String,
}

#[derive(Default)]
struct Log {
    entries: Vec<(u64, RecordedRequest)>,
    next_seq: u64,
}

/// State shared by the server and every [`crate::FakeGraph`] handle.
pub(crate) struct Shared {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    store: Mutex<Store>,
    identity: Mutex<Identity>,
    faults: Mutex<FaultState>,
    log: Mutex<Log>,
    rng: Mutex<fastrand::Rng>,
    pub verbose: AtomicBool,
    /// How far the fake's clock is ahead of the machine's (see
    /// `FakeGraph::set_clock_offset`).
    clock_offset: Mutex<chrono::Duration>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn new(base: String) -> Shared {
        let seed = fastrand::u64(..);
        let mut identity = Identity::new(seed ^ 0x5eed);
        identity.graph_origin = base.clone();
        Shared {
            base,
            store: Mutex::new(Store::new(seed)),
            identity: Mutex::new(identity),
            faults: Mutex::new(FaultState::new()),
            log: Mutex::new(Log::default()),
            rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0xface)),
            verbose: AtomicBool::new(false),
            clock_offset: Mutex::new(chrono::Duration::zero()),
        }
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub fn identity(&self) -> MutexGuard<'_, Identity> {
        lock(&self.identity)
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    /// The key throttling counts a mailbox under: its UPN lowercased,
    /// whether a path names it by UPN or by id.
    pub fn mailbox_key(&self, user: &str) -> String {
        let store = self.store();
        store.mailbox_index(user).map_or_else(
            || user.to_ascii_lowercase(),
            |i| store.mailboxes[i].upn.to_ascii_lowercase(),
        )
    }

    /// The service's clock: the machine's, shifted by the clock offset.
    pub fn now(&self) -> chrono::DateTime<Utc> {
        Utc::now() + *lock(&self.clock_offset)
    }

    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        *lock(&self.clock_offset) = offset;
    }

    pub fn graph_base(&self) -> String {
        format!("{}/v1.0", self.base)
    }

    fn new_guid(&self) -> String {
        ids::new_guid(&mut lock(&self.rng))
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log)
            .entries
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.log).entries.clear();
    }

    fn record_arrival(&self, req: &Req, path: String, request_id: &str) -> u64 {
        let immutable_id = Prefer::parse(req.headers_named("prefer")).is_ok_and(|p| p.immutable_id);
        let mut log = lock(&self.log);
        let seq = log.next_seq;
        log.next_seq += 1;
        log.entries.push((
            seq,
            RecordedRequest {
                method: req.method.clone(),
                path,
                query: req.query.clone(),
                status: 0,
                in_batch: req.in_batch,
                authorization: req.header("authorization").map(str::to_string),
                body: String::from_utf8_lossy(&req.body).into_owned(),
                headers: req.headers.clone(),
                immutable_id,
                dropped: false,
                request_id: request_id.to_string(),
                received: std::time::Instant::now(),
            },
        ));
        seq
    }

    fn record_finish(&self, seq: u64, status: u16, dropped: bool) {
        let mut log = lock(&self.log);
        if let Some((_, r)) = log.entries.iter_mut().rev().find(|(s, _)| *s == seq) {
            r.status = status;
            r.dropped = dropped;
            if self.verbose.load(Ordering::Relaxed) {
                let batch = if r.in_batch { "  (in batch)" } else { "" };
                let query = if r.query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", r.query)
                };
                eprintln!("{status} {} {}{query}{batch}", r.method, r.path);
            }
        }
    }
}

/// The path after `/v1.0`, if this is a Graph request.
fn graph_rest(path: &str) -> Option<&str> {
    let rest = path.get(..5).filter(|p| p.eq_ignore_ascii_case("/v1.0"))?;
    let tail = &path[rest.len()..];
    (tail.is_empty() || tail.starts_with('/')).then_some(tail)
}

pub(crate) fn decode_path(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// Handles one request: records it, applies latency and faults, and routes it
/// to Graph or the token endpoint. Boxed because `$batch` recurses into it.
pub(crate) fn handle(shared: Arc<Shared>, req: Req) -> Pin<Box<dyn Future<Output = Resp> + Send>> {
    Box::pin(async move {
        // What the client holds outstanding, from receipt until handled.
        let outstanding = if req.in_batch {
            None
        } else {
            graph_rest(&req.path).and_then(|rest| outstanding(&shared, &req, rest))
        };
        // Half the modelled round trip on the way in, half on the way out.
        let half_trip = match shared.faults().cfg.model {
            Some(model) if !req.in_batch => model.round_trip / 2,
            _ => std::time::Duration::ZERO,
        };
        if !half_trip.is_zero() {
            tokio::time::sleep(half_trip).await;
        }
        let now = shared.now();
        let meta = Meta {
            request_id: shared.new_guid(),
            client_request_id: req.header("client-request-id").map(str::to_string),
            date: now.format("%Y-%m-%dT%H:%M:%S").to_string(),
        };
        let graph_path = graph_rest(&req.path).map(str::to_string);
        let logged_path = decode_path(graph_path.as_deref().unwrap_or(&req.path));
        let seq = shared.record_arrival(&req, logged_path.clone(), &meta.request_id);
        if graph_path.is_some() && !req.in_batch && shared.faults().never_answers(&logged_path) {
            // Silence until the client hangs up, which drops this future
            // (and with it the mailbox slot the request holds).
            match std::future::pending::<std::convert::Infallible>().await {}
        }

        let mut resp = match &graph_path {
            Some(rest) => graph::handle(&shared, &req, rest, &meta).await,
            None => {
                let latency = shared.faults().cfg.latency;
                tokio::time::sleep(latency).await;
                match identity::endpoint(&req.path) {
                    Some((tenant, endpoint)) => {
                        let tenant = decode_path(tenant);
                        let fault = shared.faults().fail_path(&logged_path);
                        let mut identity = shared.identity();
                        match fault {
                            Some(status) => identity.fault_response(status),
                            None => identity.handle(&tenant, endpoint, &req),
                        }
                    }
                    None => Resp::json(
                        404,
                        serde_json::json!({"error": {"code": "NotFound", "message": format!("fakegraph serves /v1.0 and /{{tenant}}/oauth2/v2.0/{{token,devicecode}}, not {}", req.path)}}),
                    ),
                }
            }
        };
        resp.headers
            .push(("request-id".into(), meta.request_id.clone()));
        if !req.in_batch {
            // Every response carries the service's clock (RFC 7231 IMF-fixdate),
            // which a client may compare with its own to detect skew.
            resp.headers.push((
                "date".into(),
                now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            ));
        }
        if let Some(id) = &meta.client_request_id {
            resp.headers.push(("client-request-id".into(), id.clone()));
        }
        if graph_path.is_some() && !req.in_batch {
            let mut faults = shared.faults();
            if faults.take_drop(&logged_path) {
                resp.delivery = Delivery::Abort;
            } else if req.method == "GET" && resp.status == 200 && faults.take_malformed() {
                resp.delivery = Delivery::Truncated;
            }
        }
        shared.record_finish(seq, resp.status, resp.delivery == Delivery::Abort);
        drop(outstanding);
        if !half_trip.is_zero() {
            tokio::time::sleep(half_trip).await;
        }
        resp
    })
}

/// Counts a top-level Graph request as outstanding for its app: 1 on the
/// mailbox it names, or for a `$batch` min(4, its requests) on each mailbox
/// they name. Requests without a valid token or a mailbox count nothing.
fn outstanding(shared: &Arc<Shared>, req: &Req, rest: &str) -> Option<faults::Outstanding> {
    let grant = shared
        .identity()
        .check_bearer(req.header("authorization"))
        .ok()?;
    let me = grant.user.as_deref();
    let mut per_mailbox: Vec<(String, usize)> = Vec::new();
    if rest.trim_matches('/').eq_ignore_ascii_case("$batch") {
        let body: serde_json::Value = serde_json::from_slice(&req.body).ok()?;
        for r in body.get("requests")?.as_array()? {
            let Some(mailbox) = r
                .get("url")
                .and_then(serde_json::Value::as_str)
                .and_then(|url| path_mailbox(url, me))
            else {
                continue;
            };
            let key = shared.mailbox_key(&mailbox);
            match per_mailbox.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => per_mailbox.push((key, 1)),
            }
        }
    } else {
        let mailbox = path_mailbox(rest, me)?;
        per_mailbox.push((shared.mailbox_key(&mailbox), 1));
    }
    Some(faults::hold_outstanding(
        shared,
        &grant.client_id,
        per_mailbox,
    ))
}

/// The mailbox a Graph path (after `/v1.0`) names: `/users/{id|upn}/…`, or
/// the signed-in user's for `/me/…`.
fn path_mailbox(path: &str, me: Option<&str>) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let first = segments.next()?;
    if first.eq_ignore_ascii_case("me") {
        me.map(str::to_string)
    } else if first.eq_ignore_ascii_case("users") {
        segments.next().map(decode_path)
    } else {
        None
    }
}

async fn entry(State(shared): State<Arc<Shared>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let req = Req {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        in_batch: false,
        model_start: None,
        model_hold: None,
    };
    into_axum(handle(shared, req).await)
}

fn into_axum(resp: Resp) -> Response {
    let bytes = match &resp.body {
        Body::Empty => Vec::new(),
        Body::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
    };
    let mut builder = Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body = match resp.delivery {
        Delivery::Normal => axum::body::Body::from(bytes),
        Delivery::Truncated => axum::body::Body::from(bytes[..bytes.len() / 2].to_vec()),
        Delivery::Abort => {
            let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
            let chunks: Vec<Result<Bytes, io::Error>> = vec![
                Ok(half),
                Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "injected fault: connection dropped",
                )),
            ];
            axum::body::Body::from_stream(futures_util::stream::iter(chunks))
        }
    };
    builder.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// Binds `addr` and serves on a runtime in a background thread until the
/// returned sender fires (or is dropped).
pub(crate) fn start(addr: SocketAddr) -> io::Result<(Arc<Shared>, oneshot::Sender<()>)> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let shared = Arc::new(Shared::new(format!("http://{local}")));
    let (stop, stopped) = oneshot::channel::<()>();
    let state = Arc::clone(&shared);
    std::thread::Builder::new()
        .name(format!("fakegraph-{}", local.port()))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .thread_name("fakegraph-worker")
                .enable_all()
                .build()
                .expect("a tokio runtime for fakegraph");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("the bound listener");
                let app = Router::new().fallback(entry).with_state(state);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        })?;
    Ok((shared, stop))
}
