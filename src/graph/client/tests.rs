use super::*;
use crate::graph::error::{MAX_EXCERPT, error_from_value};
use crate::graph::test_support::*;
use serde_json::json;
use std::sync::atomic::AtomicUsize;

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
    let (url, log) =
        serve(|_, _, _| graph_error(400, "ErrorInvalidRequest", "Maximum number of days: 1825"))
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

#[test]
fn rate_limit_defaults_to_outlooks_and_can_be_replaced() {
    assert_eq!(DEFAULT_RATE_LIMIT, (10_000, Duration::from_secs(600)));
    let url = Url::parse("https://graph.microsoft.com/v1.0").unwrap();
    let o = ClientOptions::new(url);
    assert_eq!(o.rate_limit, Some(DEFAULT_RATE_LIMIT));
    let window = (60, Duration::from_secs(1));
    assert_eq!(
        o.clone().with_rate_limit(Some(window)).rate_limit,
        Some(window)
    );
    assert_eq!(o.with_rate_limit(None).rate_limit, None);
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
    // Every byte outside the kept set, as two upper-case hex digits.
    let mut s = String::new();
    encode_component("AZaz09-._~$(),:/@*! \"%'+;<=>?[\\]^`{|}\u{7f}äé€", &mut s);
    assert_eq!(
        s,
        "AZaz09-._~$(),:/@*!%20%22%25%27%2B%3B%3C%3D%3E%3F%5B%5C%5D%5E%60%7B%7C%7D%7F%C3%A4%C3%A9%E2%82%AC"
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
