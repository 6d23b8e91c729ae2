use super::*;
use crate::graph::test_support::*;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use url::Url;

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
                BatchRequest::with_body(Method::POST, format!("/e/{i}"), &json!({"n": i})).unwrap()
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
    let (url, _) = serve(|_, _, _| graph_error(400, "BadRequest", "Invalid batch payload")).await;
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
