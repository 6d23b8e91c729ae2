//! A stand-in Graph for the client's tests: a local server whose answers a
//! test writes, and a token source that counts its calls.

use super::client::{ClientOptions, GraphClient, http_client};
use crate::auth::TokenSource;
use axum::extract::State;
use axum::http::{HeaderMap as AxHeaders, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// One request the test server saw.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub(super) method: String,
    pub(super) uri: String,
    pub(super) headers: AxHeaders,
    pub(super) body: Vec<u8>,
}

impl Seen {
    pub(super) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

pub(super) type Handler = Arc<dyn Fn(&Seen, usize, &str) -> Response + Send + Sync>;

#[derive(Clone)]
pub(super) struct Srv {
    seen: Arc<Mutex<Vec<Seen>>>,
    handler: Handler,
    base: Arc<Mutex<String>>,
}

pub(super) async fn any(State(s): State<Srv>, req: axum::extract::Request) -> Response {
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
pub(super) async fn serve(
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

pub(super) fn reply(
    status: u16,
    headers: &[(&'static str, &str)],
    body: impl Into<String>,
) -> Response {
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

pub(super) fn graph_error(status: u16, code: &str, message: &str) -> Response {
    reply(
            status,
            &[("request-id", "rid-1")],
            json!({"error":{"code":code,"message":message,"innerError":{"request-id":"rid-1","date":"2024-01-01T00:00:00"}}})
                .to_string(),
        )
}

/// "tok-N", N = number of forced refreshes so far.
#[derive(Default)]
pub(super) struct Tokens {
    pub(super) calls: AtomicUsize,
    pub(super) forced: AtomicUsize,
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

pub(super) fn opts(url: &Url) -> ClientOptions {
    let mut o = ClientOptions::new(url.clone());
    o.timeout = Duration::from_secs(5);
    o.backoff_base = Duration::from_millis(5);
    o.max_backoff = Duration::from_millis(20);
    o
}

pub(super) fn client_with(url: &Url, o: ClientOptions) -> (GraphClient, Arc<Tokens>) {
    let tokens = Arc::new(Tokens::default());
    let c = GraphClient::new(
        http_client(Duration::from_secs(5)).unwrap(),
        tokens.clone(),
        o,
    );
    let _ = url;
    (c, tokens)
}

pub(super) fn client(url: &Url) -> (GraphClient, Arc<Tokens>) {
    client_with(url, opts(url))
}

pub(super) fn seen(s: &Arc<Mutex<Vec<Seen>>>) -> Vec<Seen> {
    s.lock().unwrap().clone()
}
