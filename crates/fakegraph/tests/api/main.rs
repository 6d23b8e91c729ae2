//! The fake over real HTTP: identity, Graph reads and writes, batching,
//! throttling and faults.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use fakegraph::{
    Behaviour, DeltaOccurrences, DevicePoll, DuplicateTransactionId, FakeGraph, Faults,
    LatencyModel, OperationTime,
};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const TENANT: &str = "contoso-tenant";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "s3cret~value";
const MAILBOX: &str = "events@contoso.example";
const PROP: &str = "String {5d2c6a0e-8b1f-4e5a-9c3d-7a41f02b6e19} Name calsyncSourceKey";

struct World {
    fake: FakeGraph,
    http: reqwest::Client,
    token: String,
    calendar: String,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn token_request(
    fake: &FakeGraph,
    http: &reqwest::Client,
    tenant: &str,
    body: String,
) -> Answer {
    let resp = http
        .post(format!(
            "{}/{tenant}/oauth2/v2.0/token",
            fake.authority_url()
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    answer(resp).await
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn client_credentials(secret: &str) -> String {
    form(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT),
        ("client_secret", secret),
        ("scope", "https://graph.microsoft.com/.default"),
    ])
}

impl World {
    async fn new() -> World {
        let fake = FakeGraph::start();
        fake.add_app(TENANT, CLIENT, SECRET);
        fake.add_mailbox(MAILBOX);
        let calendar = fake.calendar_id(MAILBOX, "Calendar").unwrap();
        let http = reqwest::Client::new();
        let got = token_request(&fake, &http, TENANT, client_credentials(SECRET)).await;
        assert_eq!(got.status, 200, "{}", got.body);
        let token = got.body["access_token"].as_str().unwrap().to_string();
        World {
            fake,
            http,
            token,
            calendar,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.fake.graph_url())
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        self.send_as(&self.token, method, path, headers, body).await
    }

    async fn send_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        answer(req.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], None).await
    }

    async fn get_as(&self, token: &str, path: &str) -> Answer {
        self.send_as(token, "GET", path, &[], None).await
    }

    /// A delegated access token for `user`, through the device code flow,
    /// asking for `scope`.
    async fn sign_in(&self, user: &str, scope: &str) -> (String, Value) {
        self.fake.add_user(user);
        self.fake.allow_public_client_flows(TENANT, CLIENT);
        self.fake.script_device_flow(user, &[DevicePoll::Approve]);
        let resp = self
            .http
            .post(format!(
                "{}/{TENANT}/oauth2/v2.0/devicecode",
                self.fake.authority_url()
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("client_id", CLIENT), ("scope", scope)]))
            .send()
            .await
            .unwrap();
        let started = answer(resp).await;
        assert_eq!(started.status, 200, "{}", started.body);
        let device_code = started.body["device_code"].as_str().unwrap();
        let got = token_request(
            &self.fake,
            &self.http,
            TENANT,
            form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", CLIENT),
                ("device_code", device_code),
            ]),
        )
        .await;
        assert_eq!(got.status, 200, "{}", got.body);
        (
            got.body["access_token"].as_str().unwrap().to_string(),
            got.body.clone(),
        )
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send("POST", path, &[], Some(body)).await
    }

    fn events_path(&self) -> String {
        format!("/users/{MAILBOX}/calendars/{}/events", self.calendar)
    }

    fn view_path(&self, from: &str, to: &str) -> String {
        format!(
            "/users/{MAILBOX}/calendars/{}/calendarView?startDateTime={from}&endDateTime={to}",
            self.calendar
        )
    }
}

fn timed(subject: &str, start: &str, end: &str, zone: &str) -> Value {
    json!({
        "subject": subject,
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
    })
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Follows a delta round to its end: the items and the deltaLink.
async fn delta_round(w: &World, url: &str, headers: &[(&str, &str)]) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut url = url.to_string();
    loop {
        let got = w.send("GET", &url, headers, None).await;
        assert_eq!(got.status, 200, "{}", got.body);
        items.extend(got.body["value"].as_array().unwrap().iter().cloned());
        if let Some(next) = got.body["@odata.nextLink"].as_str() {
            url = next.to_string();
        } else {
            let link = got.body["@odata.deltaLink"].as_str().unwrap().to_string();
            return (items, link);
        }
    }
}

fn weekly_series(subject: &str, first: &str, count: u32) -> Value {
    json!({
        "subject": subject, "sensitivity": "normal", "categories": ["Public"],
        "start": {"dateTime": format!("{first}T18:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": format!("{first}T19:00:00"), "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
            "range": {"type": "numbered", "startDate": first, "numberOfOccurrences": count}
        }
    })
}

fn keys(item: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn batch_get(id: &str, url: &str) -> Value {
    json!({"id": id, "method": "GET", "url": url})
}

mod batch;
mod delta;
mod faults;
mod identity;
mod reads;
mod writes;
