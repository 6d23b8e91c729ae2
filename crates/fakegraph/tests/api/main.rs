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

// ------------------------------------------------------------------ identity

#[tokio::test]
async fn token_endpoint_follows_the_identity_platform() {
    let w = World::new().await;
    assert!(w.fake.issued_tokens().contains(&w.token));
    assert!(w.fake.issued_tokens().contains(&SECRET.to_string()));

    let wrong = token_request(&w.fake, &w.http, TENANT, client_credentials("nope")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["error"], "invalid_client");
    assert_eq!(wrong.body["error_codes"], json!([7000215]));
    assert!(
        wrong.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: ")
    );
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(wrong.body[key].is_string(), "{key}");
    }

    let unknown_client = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "00000000-0000-0000-0000-000000000000"),
        ("client_secret", SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ]);
    let got = token_request(&w.fake, &w.http, TENANT, unknown_client).await;
    assert_eq!(
        (got.status, got.body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    assert_eq!(got.body["error_codes"], json!([700016]));

    let got = token_request(&w.fake, &w.http, "other-tenant", client_credentials(SECRET)).await;
    assert_eq!(
        (got.status, got.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(got.body["error_codes"], json!([90002]));

    let bad_scope = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT),
        ("client_secret", SECRET),
        ("scope", "https://graph.microsoft.com/Calendars.Read"),
    ]);
    let got = token_request(&w.fake, &w.http, TENANT, bad_scope).await;
    assert_eq!(
        (got.status, got.body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    assert_eq!(got.body["error_codes"], json!([1002012]));

    // HTTP Basic client authentication works too.
    let basic = reqwest::Client::new()
        .post(format!(
            "{}/{TENANT}/oauth2/v2.0/token",
            w.fake.authority_url()
        ))
        .basic_auth(CLIENT, Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("scope", "api://x/.default"),
        ]))
        .send()
        .await
        .unwrap();
    let got = answer(basic).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["token_type"], "Bearer");
    assert_eq!(got.body["expires_in"], 3599);
    assert!(got.body.get("refresh_token").is_none());
}

#[tokio::test]
async fn graph_requires_a_valid_bearer_token() {
    let w = World::new().await;
    let resp = w
        .http
        .get(w.url(&format!("/users/{MAILBOX}/calendars")))
        .header("client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    let got = answer(resp).await;
    assert_eq!(got.status, 401);
    assert_eq!(got.code(), "InvalidAuthenticationToken");
    assert_eq!(got.body["error"]["message"], "Access token is empty.");
    assert!(
        got.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(got.header("client-request-id"), Some("abc-123"));
    assert!(got.header("request-id").is_some());
    let inner = &got.body["error"]["innerError"];
    assert_eq!(inner["client-request-id"], "abc-123");
    assert_eq!(inner["request-id"].as_str(), got.header("request-id"));
    assert!(inner["date"].is_string());

    assert_eq!(
        w.get(&format!("/users/{MAILBOX}/calendars")).await.status,
        200
    );
    w.fake.expire_tokens();
    let got = w.get(&format!("/users/{MAILBOX}/calendars")).await;
    assert_eq!(got.status, 401);
    assert_eq!(
        got.body["error"]["message"],
        "Access token has expired or is not yet valid."
    );

    let recorded = w.fake.requests();
    let last = recorded.last().unwrap();
    assert_eq!(last.path, format!("/users/{MAILBOX}/calendars"));
    assert_eq!(last.status, 401);
    assert_eq!(
        last.authorization.as_deref(),
        Some(format!("Bearer {}", w.token).as_str())
    );
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn access_tokens_carry_their_claims() {
    let w = World::new().await;
    let origin = w.fake.authority_url();
    let app = claims(&w.token);
    assert_eq!(app["aud"], origin.as_str());
    assert_eq!(app["tid"], TENANT);
    assert_eq!(app["appid"], CLIENT);
    assert_eq!(app["roles"], json!(["Calendars.ReadWrite"]));
    assert!(app.get("scp").is_none());
    assert_eq!(app["idtyp"], "app");
    let (iat, nbf, exp) = (
        app["iat"].as_i64().unwrap(),
        app["nbf"].as_i64().unwrap(),
        app["exp"].as_i64().unwrap(),
    );
    assert!(nbf <= iat && exp - iat == 3599, "{app}");
    assert!((iat - Utc::now().timestamp()).abs() < 60);

    // Delegated: scp as asked for (dynamic consent), with the user.
    let user = "ada.lovelace@contoso.example";
    let (token, body) = w
        .sign_in(
            user,
            "offline_access https://graph.microsoft.com/Calendars.ReadWrite.Shared User.Read",
        )
        .await;
    let c = claims(&token);
    assert_eq!(c["scp"], "Calendars.ReadWrite.Shared User.Read");
    assert_eq!(c["upn"], user);
    assert_eq!(c["preferred_username"], user);
    assert_eq!(c["aud"], origin.as_str());
    assert_eq!(c["tid"], TENANT);
    assert_eq!(c["appid"], CLIENT);
    assert!(c.get("roles").is_none());
    assert!(body["refresh_token"].is_string());

    // Fixed consent: the token carries the consented set, whatever is asked.
    w.fake
        .set_delegated_scopes(TENANT, CLIENT, &["Calendars.Read.Shared"]);
    let (token, body) = w
        .sign_in(
            user,
            "https://graph.microsoft.com/Calendars.ReadWrite.Shared User.Read",
        )
        .await;
    assert_eq!(claims(&token)["scp"], "Calendars.Read.Shared");
    assert_eq!(body["scope"], "Calendars.Read.Shared");
}

#[tokio::test]
async fn me_needs_user_read() {
    let w = World::new().await;
    let user = "ada.lovelace@contoso.example";
    let (calendars_only, _) = w
        .sign_in(user, "https://graph.microsoft.com/Calendars.ReadWrite")
        .await;
    let got = w.get_as(&calendars_only, "/me").await;
    assert_eq!(
        (got.status, got.code()),
        (403, "Authorization_RequestDenied")
    );
    assert_eq!(
        got.body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    // The calendar still works with the same token.
    assert_eq!(w.get_as(&calendars_only, "/me/calendar").await.status, 200);

    let (with_user_read, _) = w
        .sign_in(
            user,
            "https://graph.microsoft.com/Calendars.ReadWrite User.Read",
        )
        .await;
    let got = w.get_as(&with_user_read, "/me").await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["userPrincipalName"], user);
    // User.Read is for oneself only.
    let got = w
        .get_as(&with_user_read, &format!("/users/{MAILBOX}"))
        .await;
    assert_eq!(got.status, 403);

    // App-only: the user object needs User.Read.All.
    assert_eq!(w.get(&format!("/users/{MAILBOX}")).await.status, 403);
    w.fake
        .set_app_roles(TENANT, CLIENT, &["Calendars.ReadWrite", "User.Read.All"]);
    let got = token_request(&w.fake, &w.http, TENANT, client_credentials(SECRET)).await;
    let token = got.body["access_token"].as_str().unwrap();
    let got = w.get_as(token, &format!("/users/{MAILBOX}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["userPrincipalName"], MAILBOX);
}

#[tokio::test]
async fn mailbox_settings_need_their_permission() {
    let w = World::new().await;
    w.fake
        .set_mailbox_time_zone(MAILBOX, "W. Europe Standard Time");
    let path = format!("/users/{MAILBOX}/mailboxSettings/timeZone");
    // App-only without MailboxSettings.Read.
    let got = w.get(&path).await;
    assert_eq!((got.status, got.code()), (403, "ErrorAccessDenied"));
    w.fake.set_app_roles(
        TENANT,
        CLIENT,
        &["Calendars.ReadWrite", "MailboxSettings.Read"],
    );
    let got = token_request(&w.fake, &w.http, TENANT, client_credentials(SECRET)).await;
    let token = got.body["access_token"].as_str().unwrap().to_string();
    let got = w.get_as(&token, &path).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["value"], "W. Europe Standard Time");
    assert!(
        got.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/mailboxSettings/timeZone")
    );
    let all = w
        .get_as(&token, &format!("/users/{MAILBOX}/mailboxSettings"))
        .await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["timeZone"], "W. Europe Standard Time");
    assert_eq!(
        all.body["workingHours"]["timeZone"]["name"],
        "W. Europe Standard Time"
    );
    let hours = w
        .get_as(
            &token,
            &format!("/users/{MAILBOX}/mailboxsettings/workingHours"),
        )
        .await;
    assert_eq!(hours.body["startTime"], "08:00:00.0000000");

    // Delegated: for one's own mailbox with the permission; default "UTC".
    let user = "ada.lovelace@contoso.example";
    let (without, _) = w
        .sign_in(user, "https://graph.microsoft.com/Calendars.ReadWrite")
        .await;
    assert_eq!(
        w.get_as(&without, "/me/mailboxSettings/timeZone")
            .await
            .status,
        403
    );
    let (with, _) = w
        .sign_in(user, "Calendars.ReadWrite.Shared MailboxSettings.Read")
        .await;
    let got = w.get_as(&with, "/me/mailboxSettings/timeZone").await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["value"], "UTC");
    assert_eq!(w.get_as(&with, &path).await.status, 403, "not another's");
}

#[tokio::test]
async fn delegates_reach_the_calendar_but_may_not_list_calendars() {
    let w = World::new().await;
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 3),
    );
    let user = "ada.lovelace@contoso.example";
    let (token, _) = w
        .sign_in(
            user,
            "https://graph.microsoft.com/Calendars.ReadWrite.Shared",
        )
        .await;
    let got = w
        .get_as(&token, &format!("/users/{MAILBOX}/calendars"))
        .await;
    assert_eq!((got.status, got.code()), (403, "ErrorAccessDenied"));

    let got = w
        .get_as(&token, &format!("/users/{MAILBOX}/calendar"))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["id"], w.calendar.as_str());
    assert_eq!(got.body["isDefaultCalendar"], true);
    assert_eq!(got.body["owner"]["address"], MAILBOX);
    assert_eq!(got.body["canEdit"], true);
    let range = "startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-04-01T00:00:00Z";
    for path in [
        format!(
            "/users/{MAILBOX}/calendars/{}/calendarView?{range}",
            w.calendar
        ),
        format!("/users/{MAILBOX}/calendar/calendarView?{range}"),
        format!(
            "/users/{MAILBOX}/calendars/{}/calendarView/delta?{range}",
            w.calendar
        ),
        format!("/users/{MAILBOX}/calendars/{}/events", w.calendar),
        format!(
            "/users/{MAILBOX}/calendars/{}/events/{series}/instances?{range}",
            w.calendar
        ),
        format!("/users/{MAILBOX}/calendar/events/{series}/instances?{range}"),
    ] {
        let got = w.get_as(&token, &path).await;
        assert_eq!(got.status, 200, "{path}: {}", got.body);
    }
    // Their own calendars they may list; app-only tokens list any.
    assert_eq!(w.get_as(&token, "/me/calendars").await.status, 200);
    assert_eq!(
        w.get_as(&token, &format!("/users/{user}/calendars"))
            .await
            .status,
        200
    );
    assert_eq!(
        w.get(&format!("/users/{MAILBOX}/calendars")).await.status,
        200
    );

    w.fake.set_behaviour(Behaviour {
        delegate_can_list_calendars: true,
        ..Behaviour::default()
    });
    let got = w
        .get_as(&token, &format!("/users/{MAILBOX}/calendars"))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["value"][0]["owner"]["address"], MAILBOX);
}

#[tokio::test]
async fn localized_default_calendar() {
    let w = World::new().await;
    let upn = "events@contoso.example.de";
    w.fake.add_mailbox_localized(upn, "Kalender");
    let id = w.fake.default_calendar_id(upn).unwrap();
    assert_eq!(
        w.fake.calendar_id(upn, "Kalender").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(w.fake.calendar_id(upn, "Calendar"), None);
    let got = w.get(&format!("/users/{upn}/calendar")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["name"], "Kalender");
    assert_eq!(got.body["id"], id.as_str());
    assert_eq!(got.body["isDefaultCalendar"], true);
    let list = w.get(&format!("/users/{upn}/calendars")).await;
    let names: Vec<&str> = list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Kalender"]);
    assert_eq!(
        w.fake.default_calendar_id(MAILBOX).as_deref(),
        Some(w.calendar.as_str())
    );
    assert_eq!(w.fake.default_calendar_id("nobody@contoso.example"), None);

    // From a seed file.
    let fake = FakeGraph::start();
    fake.load_seed(
        &json!({"mailboxes": [{"upn": upn, "defaultCalendarName": "Calendrier",
        "timeZone": "Romance Standard Time",
        "calendars": [{"name": "Calendrier", "events": []}]}]}),
    )
    .unwrap();
    let id = fake.default_calendar_id(upn).unwrap();
    assert_eq!(fake.calendar_id(upn, "Calendrier"), Some(id));
}

// ------------------------------------------------------------------ reads

#[tokio::test]
async fn users_and_calendars() {
    let w = World::new().await;
    let got = w.get("/users/Nobody@Contoso.example/calendars").await;
    assert_eq!((got.status, got.code()), (404, "ErrorInvalidUser"));
    assert_eq!(
        got.body["error"]["message"],
        "The requested user 'Nobody@Contoso.example' is invalid."
    );

    // UPNs are case-insensitive.
    let got = w.get("/users/EVENTS@contoso.example/calendar").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["name"], "Calendar");
    assert_eq!(got.body["isDefaultCalendar"], true);
    assert_eq!(got.body["owner"]["address"], MAILBOX);

    for i in 0..11 {
        w.fake.add_calendar(MAILBOX, &format!("Extra {i}"));
    }
    let first = w.get(&format!("/users/{MAILBOX}/calendars")).await;
    assert_eq!(first.body["value"].as_array().unwrap().len(), 10);
    let next = first.body["@odata.nextLink"].as_str().unwrap();
    assert!(next.ends_with("$skip=10"), "{next}");
    let second = w.get(next).await;
    assert_eq!(second.body["value"].as_array().unwrap().len(), 2);
    assert!(second.body.get("@odata.nextLink").is_none());

    let malformed = w
        .get(&format!("/users/{MAILBOX}/calendars/not-an-id!/events"))
        .await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (400, "ErrorInvalidIdMalformed")
    );
    let unknown_segment = w.get(&format!("/users/{MAILBOX}/contacts")).await;
    assert_eq!(unknown_segment.status, 400);
}

#[tokio::test]
async fn calendar_view_bounds_and_paging() {
    let w = World::new().await;
    for i in 0..25 {
        let start = format!("2030-01-{:02}T09:00:00", i + 1);
        let end = format!("2030-01-{:02}T10:00:00", i + 1);
        w.fake.insert_event(
            MAILBOX,
            &w.calendar,
            timed(&format!("E{i:02}"), &start, &end, "UTC"),
        );
    }
    let base = format!("/users/{MAILBOX}/calendars/{}/calendarView", w.calendar);
    let got = w.get(&base).await;
    assert_eq!((got.status, got.code()), (400, "ErrorInvalidParameter"));
    let got = w
        .get(&format!("{base}?startDateTime=2030-01-01T00:00:00Z"))
        .await;
    assert_eq!(got.status, 400);
    let got = w
        .get(&w.view_path("2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z"))
        .await;
    assert_eq!((got.status, got.code()), (400, "ErrorInvalidRequest"));
    assert!(
        got.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Maximum number of days: 1825")
    );
    for top in ["0", "1001"] {
        let got = w
            .get(&format!(
                "{}&$top={top}",
                w.view_path("2030-01-01", "2030-02-01")
            ))
            .await;
        assert_eq!(got.status, 400, "$top={top}");
    }

    // Names are case-insensitive; default page 10; nextLink adds $skip.
    let mut url = format!(
        "{}/users/{MAILBOX}/calendars/{}/calendarview?startdatetime=2030-01-01T00:00:00Z&ENDDATETIME=2030-02-01T00:00:00Z",
        w.fake.graph_url(),
        w.calendar
    );
    let mut subjects = Vec::new();
    let mut pages = 0;
    loop {
        let got = w.get(&url).await;
        assert_eq!(got.status, 200, "{}", got.body);
        pages += 1;
        subjects.extend(
            got.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["subject"].as_str().unwrap().to_string()),
        );
        match got.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.contains("$skip="), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(subjects.len(), 25);
    assert_eq!(subjects.iter().collect::<HashSet<_>>().len(), 25);

    // The offset decides the instant: 10:00+01:00 is 09:00Z, so E00 (09:00-10:00Z) overlaps.
    let got = w
        .get(&format!(
            "{}&$top=1000&$select=subject&$orderby=start/dateTime desc",
            w.view_path("2030-01-01T10:30:00%2B01:00", "2030-01-02T00:00:00")
        ))
        .await;
    let value = got.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{}", got.body);
    assert_eq!(value[0]["subject"], "E00");
    assert!(
        value[0]["@odata.etag"]
            .as_str()
            .unwrap()
            .starts_with("W/\"")
    );
    assert!(value[0]["id"].is_string());
    assert!(value[0].get("start").is_none());

    let got = w
        .get(&format!(
            "{}&$top=3&$orderby=start/dateTime desc",
            w.view_path("2030-01-01", "2030-02-01")
        ))
        .await;
    assert_eq!(got.body["value"][0]["subject"], "E24");
    assert!(
        got.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skip=3")
    );
}

#[tokio::test]
async fn series_expand_into_occurrences_and_exceptions() {
    let w = World::new().await;
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        json!({
            "subject": "Choir", "sensitivity": "normal",
            "start": {"dateTime": "2030-03-04T18:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2030-03-04T20:00:00", "timeZone": "W. Europe Standard Time"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
                "range": {"type": "numbered", "startDate": "2030-03-04", "numberOfOccurrences": 5}
            }
        }),
    );
    // 2030-03-18 18:00 in Berlin is 17:00Z; the 25th is moved and renamed; April 1st is cancelled.
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-03-25T17:00:00Z"),
        json!({"subject": "Choir (late)", "start": {"dateTime": "2030-03-25T19:00:00", "timeZone": "W. Europe Standard Time"},
               "end": {"dateTime": "2030-03-25T21:00:00", "timeZone": "W. Europe Standard Time"}}),
    );
    // After the DST change (March 31st) 18:00 in Berlin is 16:00Z.
    w.fake
        .cancel_occurrence(MAILBOX, &series, utc("2030-04-01T16:00:00Z"));

    let path = format!(
        "{}&$top=50",
        w.view_path("2030-03-01T00:00:00Z", "2030-05-01T00:00:00Z")
    );
    let got = w.get(&path).await;
    let value = got.body["value"].as_array().unwrap().clone();
    let kinds: Vec<&str> = value.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["occurrence", "occurrence", "occurrence", "exception"],
        "{}",
        got.body
    );
    for e in &value {
        assert_eq!(e["seriesMasterId"], series.as_str());
        assert_ne!(e["id"], series.as_str());
    }
    let originals: Vec<&str> = value
        .iter()
        .map(|e| e["originalStart"].as_str().unwrap())
        .collect();
    assert_eq!(
        originals,
        [
            "2030-03-04T17:00:00.0000000Z",
            "2030-03-11T17:00:00.0000000Z",
            "2030-03-18T17:00:00.0000000Z",
            "2030-03-25T17:00:00.0000000Z"
        ]
    );
    assert_eq!(value[3]["subject"], "Choir (late)");
    assert_eq!(
        value[3]["start"],
        json!({"dateTime": "2030-03-25T18:00:00.0000000", "timeZone": "UTC"})
    );
    let last = &value[2];
    assert_eq!(last["start"]["dateTime"], "2030-03-18T17:00:00.0000000");
    let icals: HashSet<&str> = value
        .iter()
        .map(|e| e["iCalUId"].as_str().unwrap())
        .collect();
    assert_eq!(icals.len(), 4, "iCalUId differs per occurrence");

    // /events lists the master, not its instances.
    let listed = w.get(&w.events_path()).await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["value"][0]["type"], "seriesMaster");
    assert_eq!(
        listed.body["value"][0]["recurrence"]["range"]["numberOfOccurrences"],
        5
    );

    // Occurrence ids can be read, and are re-issued.
    let occ_id = value[0]["id"].as_str().unwrap().to_string();
    let one = w.get(&format!("/users/{MAILBOX}/events/{occ_id}")).await;
    assert_eq!(
        (one.status, one.body["type"].as_str()),
        (200, Some("occurrence"))
    );
    w.fake.reissue_occurrence_ids();
    let again = w.get(&path).await;
    let new_ids: HashSet<&str> = again.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(!new_ids.contains(occ_id.as_str()));
    assert_eq!(
        again.body["value"][0]["originalStart"],
        value[0]["originalStart"]
    );
    assert_eq!(
        w.get(&format!("/users/{MAILBOX}/events/{occ_id}"))
            .await
            .status,
        404
    );

    // Patching an occurrence makes it an exception.
    let second = again.body["value"][1]["id"].as_str().unwrap().to_string();
    let patched = w
        .send(
            "PATCH",
            &format!("/users/{MAILBOX}/events/{second}"),
            &[],
            Some(json!({"subject": "Choir (moved)"})),
        )
        .await;
    assert_eq!(
        (patched.status, patched.body["type"].as_str()),
        (200, Some("exception"))
    );
}

#[tokio::test]
async fn time_zone_and_body_preferences() {
    let w = World::new().await;
    w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        json!({"subject": "Talk", "body": {"contentType": "text", "content": "Hello <world>"},
               "start": {"dateTime": "2030-06-01T09:00:00", "timeZone": "Tokyo Standard Time"},
               "end": {"dateTime": "2030-06-01T10:00:00", "timeZone": "Tokyo Standard Time"}}),
    );
    w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        json!({"subject": "Holiday", "isAllDay": true,
               "start": {"dateTime": "2030-06-02T00:00:00", "timeZone": "UTC"},
               "end": {"dateTime": "2030-06-03T00:00:00", "timeZone": "UTC"}}),
    );
    let path = format!(
        "{}&$orderby=start/dateTime",
        w.view_path("2030-05-31T00:00:00Z", "2030-06-05T00:00:00Z")
    );
    let utc_view = w.get(&path).await;
    let talk = &utc_view.body["value"][0];
    assert_eq!(
        talk["start"],
        json!({"dateTime": "2030-06-01T00:00:00.0000000", "timeZone": "UTC"})
    );
    assert_eq!(talk["body"]["contentType"], "html");
    assert!(
        talk["body"]["content"]
            .as_str()
            .unwrap()
            .contains("Hello &lt;world&gt;")
    );
    assert_eq!(talk["bodyPreview"], "Hello <world>");
    assert_eq!(talk["originalStartTimeZone"], "Tokyo Standard Time");

    let pacific = w
        .send(
            "GET",
            &path,
            &[(
                "Prefer",
                "outlook.timezone=\"Pacific Standard Time\", outlook.body-content-type=\"text\"",
            )],
            None,
        )
        .await;
    assert_eq!(
        pacific.header("preference-applied"),
        Some("outlook.body-content-type=\"text\"")
    );
    let value = pacific.body["value"].as_array().unwrap();
    assert_eq!(
        value[0]["start"],
        json!({"dateTime": "2030-05-31T17:00:00.0000000", "timeZone": "Pacific Standard Time"})
    );
    assert_eq!(
        value[0]["body"],
        json!({"contentType": "text", "content": "Hello <world>"})
    );
    // All-day events stay midnight to midnight; only the label changes.
    assert_eq!(
        value[1]["start"],
        json!({"dateTime": "2030-06-02T00:00:00.0000000", "timeZone": "Pacific Standard Time"})
    );
    assert_eq!(value[1]["end"]["dateTime"], "2030-06-03T00:00:00.0000000");

    let iana = w
        .send(
            "GET",
            &path,
            &[("Prefer", "outlook.timezone=\"Europe/Paris\"")],
            None,
        )
        .await;
    assert_eq!(
        iana.body["value"][0]["start"]["dateTime"],
        "2030-06-01T02:00:00.0000000"
    );
    let bad = w
        .send(
            "GET",
            &path,
            &[("Prefer", "outlook.timezone=\"Atlantis\"")],
            None,
        )
        .await;
    assert_eq!(bad.status, 400);

    // ImmutableId is recorded.
    w.send("GET", &path, &[("Prefer", "IdType=\"ImmutableId\"")], None)
        .await;
    assert!(w.fake.requests().last().unwrap().immutable_id);
}

#[tokio::test]
async fn calendar_view_delta_rounds() {
    let w = World::new().await;
    let day = |d: u32, subject: &str| {
        timed(
            subject,
            &format!("2030-02-{d:02}T10:00:00"),
            &format!("2030-02-{d:02}T11:00:00"),
            "UTC",
        )
    };
    let a = w.fake.insert_event(MAILBOX, &w.calendar, day(1, "A"));
    let b = w.fake.insert_event(MAILBOX, &w.calendar, day(2, "B"));
    let c = w.fake.insert_event(MAILBOX, &w.calendar, day(3, "C"));
    w.fake
        .insert_event(MAILBOX, &w.calendar, day(20, "Outside"));
    let first = format!(
        "/users/{MAILBOX}/calendars/{}/calendarView/delta?startDateTime=2030-02-01T00:00:00Z&endDateTime=2030-02-10T00:00:00Z",
        w.calendar
    );
    let page_of_2 = [("Prefer", "odata.maxpagesize=2")];
    let p1 = w.send("GET", &first, &page_of_2, None).await;
    assert_eq!(p1.status, 200, "{}", p1.body);
    assert_eq!(
        p1.body["@odata.context"],
        format!("{}/$metadata#Collection(event)", w.fake.graph_url())
    );
    assert_eq!(p1.body["value"].as_array().unwrap().len(), 2);
    let next = p1.body["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$skiptoken="), "{next}");
    let p2 = w.send("GET", next, &page_of_2, None).await;
    assert_eq!(p2.body["value"].as_array().unwrap().len(), 1);
    let delta_link = p2.body["@odata.deltaLink"].as_str().unwrap().to_string();
    assert!(delta_link.contains("$deltatoken="));

    let quiet = w.get(&delta_link).await;
    assert_eq!(quiet.body["value"], json!([]));
    let delta_link = quiet.body["@odata.deltaLink"].as_str().unwrap().to_string();

    w.fake.update_event(MAILBOX, &a, json!({"subject": "A2"}));
    w.fake.delete_event(MAILBOX, &b);
    w.fake.update_event(MAILBOX, &c, json!({"start": {"dateTime": "2030-02-25T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-02-25T11:00:00", "timeZone": "UTC"}}));
    w.fake.insert_event(MAILBOX, &w.calendar, day(4, "D"));
    let round = w.get(&delta_link).await;
    let value = round.body["value"].as_array().unwrap();
    let full: HashSet<&str> = value
        .iter()
        .filter(|e| e.get("@removed").is_none())
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(full, HashSet::from(["A2", "D"]));
    let removed: HashSet<&str> = value
        .iter()
        .filter(|e| e.get("@removed").is_some())
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(removed, HashSet::from([b.as_str(), c.as_str()]));
    assert!(
        value
            .iter()
            .all(|e| e["@odata.type"] == "#microsoft.graph.event")
    );

    let bad = w.get(&format!("{first}&$select=subject")).await;
    assert_eq!(bad.status, 400);
    w.fake.invalidate_delta_tokens();
    let gone = w
        .get(round.body["@odata.deltaLink"].as_str().unwrap())
        .await;
    assert_eq!((gone.status, gone.code()), (410, "SyncStateNotFound"));
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

fn of_type<'a>(items: &'a [Value], kind: &str) -> Vec<&'a Value> {
    items.iter().filter(|i| i["type"] == kind).collect()
}

fn removed_ids(items: &[Value]) -> HashSet<&str> {
    items
        .iter()
        .filter(|i| i.get("@removed").is_some())
        .map(|i| i["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn delta_sends_bare_occurrences_and_lists_their_master() {
    let w = World::new().await;
    // Mondays 2030-03-04 .. 2030-04-01, 18:00Z.
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 5),
    );
    let single = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        timed("Fair", "2030-03-06T10:00:00", "2030-03-06T11:00:00", "UTC"),
    );
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-03-11T18:00:00Z"),
        json!({"subject": "Choir (moved)"}),
    );
    let first = format!(
        "/users/{MAILBOX}/calendars/{}/calendarView/delta?startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-05-01T00:00:00Z",
        w.calendar
    );
    let (items, link) = delta_round(&w, &first, &[]).await;
    let occurrences = of_type(&items, "occurrence");
    assert_eq!(occurrences.len(), 4, "{items:#?}");
    for o in &occurrences {
        assert_eq!(
            keys(o),
            [
                "@odata.etag",
                "@odata.type",
                "end",
                "id",
                "seriesMasterId",
                "start",
                "type"
            ]
        );
        assert_eq!(o["seriesMasterId"], series.as_str());
        assert_eq!(o["@odata.type"], "#microsoft.graph.event");
    }
    let exception = of_type(&items, "exception");
    assert_eq!(exception.len(), 1);
    assert_eq!(exception[0]["subject"], "Choir (moved)");
    assert_eq!(
        exception[0]["originalStart"],
        "2030-03-11T18:00:00.0000000Z"
    );
    let masters = of_type(&items, "seriesMaster");
    assert_eq!(masters.len(), 1);
    let master = masters[0];
    assert_eq!(master["id"], series.as_str());
    assert_eq!(master["subject"], "Choir");
    assert_eq!(master["sensitivity"], "normal");
    assert_eq!(master["recurrence"]["pattern"]["type"], "weekly");
    assert_eq!(master["@odata.type"], "#microsoft.graph.event");
    let singles = of_type(&items, "singleInstance");
    assert_eq!(singles.len(), 1);
    assert_eq!(singles[0]["id"], single.as_str());
    assert_eq!(singles[0]["subject"], "Fair");
    assert_eq!(items.len(), 7);

    // Nothing changed: nothing sent.
    let (quiet, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(quiet, Vec::<Value>::new());

    // Modifying one occurrence changes the series: the master and the new
    // exception come, the other occurrences do not.
    let before = master["@odata.etag"].clone();
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-03-18T18:00:00Z"),
        json!({"subject": "Choir (guest)"}),
    );
    let (items, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(items.len(), 2, "{items:#?}");
    let master = of_type(&items, "seriesMaster")[0];
    assert_ne!(master["@odata.etag"], before);
    assert_eq!(of_type(&items, "exception")[0]["subject"], "Choir (guest)");

    // Cancelling one: @removed for it, and the master again.
    let cancelled = occurrences
        .iter()
        .find(|o| o["start"]["dateTime"] == "2030-03-25T18:00:00.0000000")
        .map(|o| o["id"].as_str().unwrap().to_string())
        .unwrap();
    w.fake
        .cancel_occurrence(MAILBOX, &series, utc("2030-03-25T18:00:00Z"));
    let (items, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(items.len(), 2, "{items:#?}");
    assert_eq!(removed_ids(&items), HashSet::from([cancelled.as_str()]));
    assert_eq!(
        items.iter().find(|i| i.get("@removed").is_some()).unwrap(),
        &json!({"@odata.type": "#microsoft.graph.event", "id": cancelled, "@removed": {"reason": "deleted"}})
    );
    assert_eq!(of_type(&items, "seriesMaster").len(), 1);

    // Editing the master brings every unmodified occurrence back, bare.
    w.fake
        .update_event(MAILBOX, &series, json!({"subject": "Choir rehearsal"}));
    let (items, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(of_type(&items, "occurrence").len(), 2, "{items:#?}");
    assert!(
        of_type(&items, "occurrence")
            .iter()
            .all(|o| o.get("subject").is_none())
    );
    assert_eq!(
        of_type(&items, "seriesMaster")[0]["subject"],
        "Choir rehearsal"
    );
    assert!(of_type(&items, "exception").is_empty());

    // The whole series deleted: @removed for the master and each instance.
    w.fake.delete_event(MAILBOX, &series);
    let (items, _) = delta_round(&w, &link, &[]).await;
    assert_eq!(items.len(), 5, "{items:#?}");
    assert!(removed_ids(&items).contains(series.as_str()));
    assert_eq!(removed_ids(&items).len(), 5);
}

#[tokio::test]
async fn delta_can_leave_deleted_occurrences_unsignalled() {
    let w = World::new().await;
    w.fake.set_behaviour(Behaviour {
        delta_signals_deleted_occurrences: false,
        ..Behaviour::default()
    });
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 5),
    );
    let other = w
        .fake
        .insert_event(MAILBOX, &w.calendar, weekly_series("Band", "2030-03-05", 2));
    let first = format!(
        "/users/{MAILBOX}/calendar/calendarView/delta?startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-05-01T00:00:00Z"
    );
    let (items, link) = delta_round(&w, &first, &[]).await;
    assert_eq!(items.len(), 5 + 2 + 2);

    w.fake
        .cancel_occurrence(MAILBOX, &series, utc("2030-03-25T18:00:00Z"));
    let (items, link) = delta_round(&w, &link, &[]).await;
    // No item for the cancelled occurrence; its master comes as it changed.
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["type"], "seriesMaster");
    assert_eq!(items[0]["id"], series.as_str());

    // A deleted series: only its master is @removed.
    w.fake.delete_event(MAILBOX, &other);
    let (items, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(removed_ids(&items), HashSet::from([other.as_str()]));
    assert_eq!(items.len(), 1);

    // An exception moved out of the window is still signalled: it left.
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-04-01T18:00:00Z"),
        json!({"start": {"dateTime": "2030-06-01T18:00:00", "timeZone": "UTC"},
               "end": {"dateTime": "2030-06-01T19:00:00", "timeZone": "UTC"}}),
    );
    let (items, _) = delta_round(&w, &link, &[]).await;
    assert_eq!(removed_ids(&items).len(), 1, "{items:#?}");
    assert_eq!(of_type(&items, "seriesMaster").len(), 1);
}

#[tokio::test]
async fn delta_full_occurrences_as_documented() {
    let w = World::new().await;
    w.fake.set_behaviour(Behaviour {
        delta_occurrences: DeltaOccurrences::Full,
        ..Behaviour::default()
    });
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 3),
    );
    let first = format!(
        "/users/{MAILBOX}/calendarView/delta?startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-05-01T00:00:00Z"
    );
    let (items, link) = delta_round(
        &w,
        &first,
        &[("Prefer", "outlook.timezone=\"Pacific Standard Time\"")],
    )
    .await;
    assert_eq!(items.len(), 3, "no master: {items:#?}");
    for o in &items {
        assert_eq!(o["type"], "occurrence");
        assert_eq!(o["subject"], "Choir");
        assert_eq!(o["sensitivity"], "normal");
        assert_eq!(o["categories"], json!(["Public"]));
        assert!(o["originalStart"].is_string());
        assert_eq!(o["isCancelled"], false);
        assert_eq!(o["start"]["timeZone"], "Pacific Standard Time");
    }
    // One occurrence modified: just it comes; no master.
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-03-11T18:00:00Z"),
        json!({"subject": "Choir (moved)"}),
    );
    let (items, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["type"], "exception");
    // Cancelling: @removed.
    w.fake
        .cancel_occurrence(MAILBOX, &series, utc("2030-03-18T18:00:00Z"));
    let (items, _) = delta_round(&w, &link, &[]).await;
    assert_eq!(removed_ids(&items).len(), 1, "{items:#?}");
    assert_eq!(items.len(), 1);
}

#[tokio::test]
async fn delta_keeps_a_series_on_one_page() {
    let w = World::new().await;
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 6),
    );
    for d in 1..=3 {
        w.fake.insert_event(
            MAILBOX,
            &w.calendar,
            timed(
                &format!("S{d}"),
                &format!("2030-03-0{d}T10:00:00"),
                &format!("2030-03-0{d}T11:00:00"),
                "UTC",
            ),
        );
    }
    let mut url = format!(
        "/users/{MAILBOX}/calendars/{}/calendarView/delta?startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-05-01T00:00:00Z",
        w.calendar
    );
    let mut pages = Vec::new();
    loop {
        let got = w
            .send("GET", &url, &[("Prefer", "odata.maxpagesize=2")], None)
            .await;
        let value = got.body["value"].as_array().unwrap().clone();
        pages.push(value);
        match got.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    let with_series: Vec<&Vec<Value>> = pages
        .iter()
        .filter(|p| {
            p.iter()
                .any(|i| i["seriesMasterId"] == series.as_str() || i["id"] == series.as_str())
        })
        .collect();
    assert_eq!(with_series.len(), 1, "{pages:#?}");
    assert_eq!(with_series[0].len(), 7);
    assert_eq!(pages.iter().map(Vec::len).sum::<usize>(), 10);
}

#[tokio::test]
async fn instances_of_a_series() {
    let w = World::new().await;
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 12),
    );
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-03-11T18:00:00Z"),
        json!({"subject": "Choir (moved)", "sensitivity": "private"}),
    );
    w.fake
        .cancel_occurrence(MAILBOX, &series, utc("2030-03-18T18:00:00Z"));
    let range = "startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-06-01T00:00:00Z";
    let base = format!("/users/{MAILBOX}/events/{series}/instances");

    // Default page 10, nextLink with $skip; 11 instances (12 less one cancelled).
    let got = w.get(&format!("{base}?{range}")).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let value = got.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 10);
    let next = got.body["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$skip=10"), "{next}");
    let rest = w.get(next).await;
    assert_eq!(rest.body["value"].as_array().unwrap().len(), 1);
    assert!(rest.body.get("@odata.nextLink").is_none());
    let first = &value[0];
    assert_eq!(first["type"], "occurrence");
    assert_eq!(first["seriesMasterId"], series.as_str());
    assert_eq!(first["originalStart"], "2030-03-04T18:00:00.0000000Z");
    assert_eq!(first["subject"], "Choir");
    assert_eq!(first["sensitivity"], "normal");
    assert_eq!(first["isCancelled"], false);
    assert_eq!(value[1]["type"], "exception");
    assert_eq!(value[1]["subject"], "Choir (moved)");
    assert_eq!(value[1]["originalStart"], "2030-03-11T18:00:00.0000000Z");
    assert_eq!(value[2]["originalStart"], "2030-03-25T18:00:00.0000000Z");

    // $top, $select, Prefer: outlook.timezone and IdType.
    let got = w
        .send(
            "GET",
            &format!("{base}?{range}&$top=3&$select=subject,originalStart,start"),
            &[(
                "Prefer",
                "outlook.timezone=\"W. Europe Standard Time\", IdType=\"ImmutableId\"",
            )],
            None,
        )
        .await;
    let value = got.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 3);
    assert_eq!(
        keys(&value[0]),
        ["@odata.etag", "id", "originalStart", "start", "subject"]
    );
    assert_eq!(
        value[0]["start"],
        json!({"dateTime": "2030-03-04T19:00:00.0000000", "timeZone": "W. Europe Standard Time"})
    );
    assert!(
        got.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skip=3")
    );
    assert!(w.fake.requests().last().unwrap().immutable_id);
    let got = w.get(&format!("{base}?{range}&$top=1001")).await;
    assert_eq!(got.status, 400);

    // The other paths to the same series.
    for path in [
        format!(
            "/users/{MAILBOX}/calendars/{}/events/{series}/instances",
            w.calendar
        ),
        format!("/users/{MAILBOX}/calendar/events/{series}/instances"),
    ] {
        let got = w.get(&format!("{path}?{range}&$top=20")).await;
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.body["value"].as_array().unwrap().len(), 11);
    }
    let other = w.fake.add_calendar(MAILBOX, "Other");
    let got = w
        .get(&format!(
            "/users/{MAILBOX}/calendars/{other}/events/{series}/instances?{range}"
        ))
        .await;
    assert_eq!((got.status, got.code()), (404, "ErrorItemNotFound"));

    // Bounds: both required, at most 1825 days.
    let got = w.get(&base).await;
    assert_eq!((got.status, got.code()), (400, "ErrorInvalidParameter"));
    let got = w
        .get(&format!("{base}?startDateTime=2030-03-01T00:00:00Z"))
        .await;
    assert_eq!(got.status, 400);
    let got = w
        .get(&format!(
            "{base}?startDateTime=2030-01-01T00:00:00Z&endDateTime=2035-01-02T00:00:00Z"
        ))
        .await;
    assert_eq!((got.status, got.code()), (400, "ErrorInvalidRequest"));

    // Inside a batch.
    let got = w
        .post(
            "/$batch",
            json!({"requests": [batch_get("1", &format!("{base}?{range}&$top=50&$select=originalStart"))]}),
        )
        .await;
    assert_eq!(got.body["responses"][0]["status"], 200);
    assert_eq!(
        got.body["responses"][0]["body"]["value"]
            .as_array()
            .unwrap()
            .len(),
        11
    );

    // A master that does not exist, or no longer does.
    let missing = "AAMkAGVtaXNzaW5nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
    let got = w
        .get(&format!(
            "/users/{MAILBOX}/events/{missing}/instances?{range}"
        ))
        .await;
    assert_eq!((got.status, got.code()), (404, "ErrorItemNotFound"));
    w.fake.delete_event(MAILBOX, &series);
    let got = w.get(&format!("{base}?{range}")).await;
    assert_eq!((got.status, got.code()), (404, "ErrorItemNotFound"));
}

// ------------------------------------------------------------------ writes

#[tokio::test]
async fn create_sets_server_fields_and_transaction_ids_dedupe() {
    let w = World::new().await;
    let mut body = timed(
        "Fair",
        "2030-07-01T10:00:00",
        "2030-07-01T11:00:00",
        "Eastern Standard Time",
    );
    body["transactionId"] = json!("tx-1");
    body["singleValueExtendedProperties"] = json!([{"id": PROP, "value": "i:abc"}]);
    body["body"] = json!({"contentType": "text", "content": "Agenda"});
    let created = w.post(&w.events_path(), body.clone()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let e = &created.body;
    let id = e["id"].as_str().unwrap().to_string();
    assert!(
        e["@odata.context"]
            .as_str()
            .unwrap()
            .contains("$metadata#users(")
    );
    assert_eq!(
        e["@odata.etag"],
        format!("W/\"{}\"", e["changeKey"].as_str().unwrap())
    );
    assert_eq!(e["type"], "singleInstance");
    assert_eq!(e["sensitivity"], "normal");
    assert_eq!(e["showAs"], "busy");
    assert_eq!(e["importance"], "normal");
    assert_eq!(e["isReminderOn"], true);
    assert_eq!(e["reminderMinutesBeforeStart"], 15);
    assert_eq!(
        e["responseStatus"],
        json!({"response": "organizer", "time": "0001-01-01T00:00:00Z"})
    );
    assert_eq!(e["organizer"]["emailAddress"]["address"], MAILBOX);
    assert_eq!(e["isOrganizer"], true);
    assert_eq!(e["transactionId"], "tx-1");
    assert_eq!(
        e["start"],
        json!({"dateTime": "2030-07-01T14:00:00.0000000", "timeZone": "UTC"})
    );
    assert!(
        e["body"]["content"]
            .as_str()
            .unwrap()
            .starts_with("<html><head>")
    );
    assert!(
        e["iCalUId"]
            .as_str()
            .unwrap()
            .starts_with("040000008200E00074C5B7101A82E008")
    );
    let created_at = e["createdDateTime"].as_str().unwrap();
    assert_eq!(
        created_at.len(),
        "2030-07-01T14:00:00.0000000Z".len(),
        "{created_at}"
    );
    assert!(
        e.get("singleValueExtendedProperties").is_none(),
        "not echoed on writes"
    );

    // By default a repeated transactionId is refused (see
    // repeated_transaction_ids for the other answers).
    let again = w.post(&w.events_path(), body).await;
    assert_eq!(
        (again.status, again.code()),
        (400, "ErrorDuplicateTransactionId")
    );
    assert_eq!(again.body["error"]["@event.existingEventId"], id.as_str());
    assert_eq!(w.fake.events(MAILBOX, &w.calendar).len(), 1);
    assert_eq!(w.fake.writes_applied(), 1);

    let stored = &w.fake.events(MAILBOX, &w.calendar)[0];
    assert_eq!(
        stored["singleValueExtendedProperties"],
        json!([{"id": PROP, "value": "i:abc"}])
    );
    assert_eq!(stored["transactionId"], "tx-1");

    let plain = w
        .post(
            &w.events_path(),
            timed("No tx", "2030-07-02T10:00:00", "2030-07-02T11:00:00", "UTC"),
        )
        .await;
    assert!(plain.body.get("transactionId").is_none());

    let invited = w.post(
        &format!("/users/{MAILBOX}/events"),
        json!({"subject": "Meeting", "start": {"dateTime": "2030-07-03T10:00:00", "timeZone": "UTC"},
               "end": {"dateTime": "2030-07-03T11:00:00", "timeZone": "UTC"},
               "attendees": [{"type": "required", "emailAddress": {"address": "a@x.example"}},
                             {"emailAddress": {"address": "b@x.example", "name": "B"}}]}),
    )
    .await;
    assert_eq!(invited.status, 201);
    assert_eq!(invited.body["attendees"][0]["status"]["response"], "none");
    assert_eq!(w.fake.invites_sent(), 2);
}

#[tokio::test]
async fn repeated_transaction_ids() {
    let w = World::new().await;
    assert_eq!(w.fake.behaviour(), Behaviour::default());
    let with_tx = |subject: &str, tx: &str| {
        let mut e = timed(subject, "2030-07-05T10:00:00", "2030-07-05T11:00:00", "UTC");
        e["transactionId"] = json!(tx);
        e
    };
    let first = w.post(&w.events_path(), with_tx("One", "tx-a")).await;
    assert_eq!(first.status, 201);
    let first_id = first.body["id"].as_str().unwrap().to_string();

    // Default: 400 with the id of the event first created, nothing created.
    let again = w.post(&w.events_path(), with_tx("Two", "tx-a")).await;
    assert_eq!(
        (again.status, again.code()),
        (400, "ErrorDuplicateTransactionId")
    );
    assert_eq!(
        again.body["error"]["message"],
        "The TransactionId specified in the request has already been used to create a different event."
    );
    assert_eq!(
        again.body["error"]["@event.existingEventId"],
        first_id.as_str()
    );
    assert!(again.body["error"]["innerError"]["request-id"].is_string());
    // The key is per mailbox, not per calendar.
    let other = w.fake.add_calendar(MAILBOX, "Other");
    let elsewhere = w
        .post(
            &format!("/users/{MAILBOX}/calendars/{other}/events"),
            with_tx("Three", "tx-a"),
        )
        .await;
    assert_eq!(elsewhere.status, 400);

    w.fake.set_behaviour(Behaviour {
        duplicate_transaction_id: DuplicateTransactionId::Error409,
        ..Behaviour::default()
    });
    let again = w.post(&w.events_path(), with_tx("Two", "tx-a")).await;
    assert_eq!(
        (again.status, again.code()),
        (409, "ErrorDuplicateTransactionId")
    );
    assert!(again.body["error"].get("@event.existingEventId").is_none());

    w.fake.set_behaviour(Behaviour {
        duplicate_transaction_id: DuplicateTransactionId::Created201,
        ..Behaviour::default()
    });
    let again = w.post(&w.events_path(), with_tx("Two", "tx-a")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["id"], first_id.as_str());
    assert_eq!(again.body["subject"], "One");
    assert_eq!(w.fake.events(MAILBOX, &w.calendar).len(), 1);
    assert_eq!(w.fake.writes_applied(), 1);

    // After the first event is deleted the key is still remembered: the
    // error still names the deleted event; 201 creates a new one.
    w.fake.delete_event(MAILBOX, &first_id);
    w.fake.set_behaviour(Behaviour::default());
    let again = w.post(&w.events_path(), with_tx("Two", "tx-a")).await;
    assert_eq!(again.status, 400);
    assert_eq!(
        again.body["error"]["@event.existingEventId"],
        first_id.as_str()
    );
    assert!(w.fake.events(MAILBOX, &w.calendar).is_empty());
    w.fake.set_behaviour(Behaviour {
        duplicate_transaction_id: DuplicateTransactionId::Created201,
        ..Behaviour::default()
    });
    let anew = w.post(&w.events_path(), with_tx("Two", "tx-a")).await;
    assert_eq!(anew.status, 201);
    assert_ne!(anew.body["id"], first_id.as_str());
    assert_eq!(anew.body["subject"], "Two");
    assert_eq!(w.fake.writes_applied(), 2);

    // Inside a batch the inner request gets the error.
    w.fake.set_behaviour(Behaviour::default());
    let got = w
        .post(
            "/$batch",
            json!({"requests": [{"id": "1", "method": "POST", "url": w.events_path(),
                "headers": {"Content-Type": "application/json"}, "body": with_tx("Four", "tx-a")}]}),
        )
        .await;
    assert_eq!(got.body["responses"][0]["status"], 400);
    assert_eq!(
        got.body["responses"][0]["body"]["error"]["code"],
        "ErrorDuplicateTransactionId"
    );
    assert_eq!(w.fake.writes_applied(), 2);
}

#[tokio::test]
async fn create_validates_like_graph() {
    let w = World::new().await;
    let path = w.events_path();
    let all_day = |start: &str, end: &str| json!({"subject": "x", "isAllDay": true, "start": {"dateTime": start, "timeZone": "UTC"}, "end": {"dateTime": end, "timeZone": "UTC"}});
    let got = w
        .post(&path, all_day("2030-01-01T10:00:00", "2030-01-02T10:00:00"))
        .await;
    assert_eq!(got.status, 400);
    let got = w
        .post(&path, all_day("2030-01-01T00:00:00", "2030-01-01T00:00:00"))
        .await;
    assert_eq!(got.status, 400);
    assert!(
        got.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 24 hours")
    );
    assert_eq!(
        w.post(&path, all_day("2030-01-01T00:00:00", "2030-01-03T00:00:00"))
            .await
            .status,
        201
    );

    let got = w
        .post(
            &path,
            timed(
                "x",
                "2030-01-01T10:00:00",
                "2030-01-01T11:00:00",
                "Mars Standard Time",
            ),
        )
        .await;
    assert_eq!(
        (got.status, got.code()),
        (400, "TimeZoneNotSupportedException")
    );
    let got = w.post(&path, json!({"subject": "no times"})).await;
    assert_eq!(got.status, 400);
    let got = w.post(&path, json!({"subjcet": "typo"})).await;
    assert_eq!((got.status, got.code()), (400, "RequestBodyRead"));

    let raw = w
        .http
        .post(w.url(&path))
        .bearer_auth(&w.token)
        .header("content-type", "application/json")
        .body("{\"subject\": ")
        .send()
        .await
        .unwrap();
    let got = answer(raw).await;
    assert_eq!(got.status, 400);
    assert!(got.body["error"]["innerError"]["request-id"].is_string());
    assert_eq!(w.fake.writes_applied(), 1);
}

#[tokio::test]
async fn patch_and_delete() {
    let w = World::new().await;
    let mut body = timed("Draft", "2030-08-01T10:00:00", "2030-08-01T11:00:00", "UTC");
    body["categories"] = json!(["A", "B"]);
    body["singleValueExtendedProperties"] = json!([{"id": PROP, "value": "one"}]);
    let created = w.post(&w.events_path(), body).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let key = created.body["changeKey"].as_str().unwrap().to_string();
    let item = format!("/users/{MAILBOX}/events/{id}");

    let patch = json!({"subject": "Final", "categories": ["C"],
        "singleValueExtendedProperties": [{"id": PROP.replace("5d2c6a0e", "5D2C6A0E"), "value": "two"}]});
    let stale = w
        .send(
            "PATCH",
            &item,
            &[("If-Match", "W/\"stale\"")],
            Some(patch.clone()),
        )
        .await;
    assert_eq!(
        (stale.status, stale.code()),
        (412, "ErrorIrresolvableConflict")
    );
    let etag = format!("W/\"{key}\"");
    let patched = w
        .send("PATCH", &item, &[("If-Match", &etag)], Some(patch))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["subject"], "Final");
    assert_eq!(patched.body["categories"], json!(["C"]));
    assert_eq!(
        patched.body["start"]["dateTime"],
        "2030-08-01T10:00:00.0000000"
    );
    assert_ne!(patched.body["changeKey"], key.as_str());
    let stored = &w.fake.events(MAILBOX, &w.calendar)[0];
    assert_eq!(
        stored["singleValueExtendedProperties"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "merged by id"
    );
    assert_eq!(stored["singleValueExtendedProperties"][0]["value"], "two");

    // The calendar form of the path works too; another calendar's path does not.
    let other = w.fake.add_calendar(MAILBOX, "Other");
    assert_eq!(
        w.get(&format!("{}/{id}", w.events_path())).await.status,
        200
    );
    assert_eq!(
        w.get(&format!("/users/{MAILBOX}/calendars/{other}/events/{id}"))
            .await
            .status,
        404
    );

    assert_eq!(w.send("DELETE", &item, &[], None).await.status, 204);
    let gone = w.send("DELETE", &item, &[], None).await;
    assert_eq!((gone.status, gone.code()), (404, "ErrorItemNotFound"));
    assert_eq!(
        gone.body["error"]["message"],
        "The specified object was not found in the store."
    );
    let bad = w.get(&format!("/users/{MAILBOX}/events/bad*id")).await;
    assert_eq!((bad.status, bad.code()), (400, "ErrorInvalidIdMalformed"));
    assert_eq!(w.fake.writes_applied(), 3);
}

#[tokio::test]
async fn extended_property_filter_and_expand() {
    let w = World::new().await;
    for (i, key) in ["i:Alpha", "i:beta", ""].iter().enumerate() {
        let mut e = timed(
            &format!("E{i}"),
            "2030-09-01T10:00:00",
            "2030-09-01T11:00:00",
            "UTC",
        );
        if !key.is_empty() {
            e["singleValueExtendedProperties"] = json!([{"id": PROP, "value": key}]);
        }
        w.fake.insert_event(MAILBOX, &w.calendar, e);
    }
    let enc = |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let expand = enc(&format!(
        "singleValueExtendedProperties($filter=id eq '{}')",
        PROP.to_uppercase()
    ));
    let filter = |cond: &str| {
        enc(&format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and {cond})"
        ))
    };

    let got = w
        .get(&format!(
            "{}?$filter={}&$expand={expand}",
            w.events_path(),
            filter("ep/value eq 'I:ALPHA'")
        ))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let value = got.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1);
    assert_eq!(
        value[0]["singleValueExtendedProperties"],
        json!([{"id": PROP, "value": "i:Alpha"}])
    );

    let got = w
        .get(&format!(
            "{}?$filter={}",
            w.events_path(),
            filter("startswith(ep/value, 'i:')")
        ))
        .await;
    assert_eq!(got.body["value"].as_array().unwrap().len(), 2);
    assert!(
        got.body["value"][0]
            .get("singleValueExtendedProperties")
            .is_none(),
        "not without $expand"
    );
    let got = w
        .get(&format!(
            "{}?$filter={}",
            w.events_path(),
            filter("contains(ep/value, 'ET')")
        ))
        .await;
    assert_eq!(got.body["value"].as_array().unwrap().len(), 1);
    let got = w
        .get(&format!(
            "{}?$filter={}",
            w.events_path(),
            filter("ep/value ne 'i:beta'")
        ))
        .await;
    assert_eq!(got.body["value"].as_array().unwrap().len(), 1);

    // The name part of the id is case-sensitive in $filter.
    let lower_name = enc(&format!(
        "singleValueExtendedProperties/Any(ep: ep/id eq '{}' and ep/value eq 'i:beta')",
        PROP.replace("calsyncSourceKey", "CALSYNCSOURCEKEY")
    ));
    let got = w
        .get(&format!("{}?$filter={lower_name}", w.events_path()))
        .await;
    assert_eq!(got.body["value"].as_array().unwrap().len(), 0);

    // $expand on calendarView and on one item; absent when nothing matches.
    let got = w
        .get(&format!(
            "{}&$expand={expand}",
            w.view_path("2030-09-01", "2030-09-02")
        ))
        .await;
    let with: Vec<bool> = got.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.get("singleValueExtendedProperties").is_some())
        .collect();
    assert_eq!(with.iter().filter(|b| **b).count(), 2);
    let id = got.body["value"][0]["id"].as_str().unwrap();
    let one = w
        .get(&format!("/users/{MAILBOX}/events/{id}?$expand={expand}"))
        .await;
    assert_eq!(one.status, 200);

    let got = w
        .get(&format!(
            "{}?$filter={}",
            w.events_path(),
            enc("nosuchfield eq 'x'")
        ))
        .await;
    assert_eq!(got.status, 400);
    let got = w
        .get(&format!(
            "{}?$filter={}",
            w.events_path(),
            enc("subject eq")
        ))
        .await;
    assert_eq!(got.status, 400);
}

// ------------------------------------------------------------------ batch

fn batch_get(id: &str, url: &str) -> Value {
    json!({"id": id, "method": "GET", "url": url})
}

#[tokio::test]
async fn batch_limits_order_and_dependencies() {
    let w = World::new().await;
    let calendars = format!("/users/{MAILBOX}/calendars");
    let many: Vec<Value> = (0..21)
        .map(|i| batch_get(&i.to_string(), &calendars))
        .collect();
    let got = w.post("/$batch", json!({"requests": many})).await;
    assert_eq!(got.status, 400);
    assert_eq!(
        got.body["error"]["message"],
        "Number of requests inside batch exceed the limit"
    );

    let no_type = json!({"requests": [{"id": "1", "method": "POST", "url": w.events_path(), "body": {"subject": "x"}}]});
    let got = w.post("/$batch", no_type).await;
    assert_eq!(got.status, 400);
    assert!(
        got.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Content-Type")
    );
    let dup = json!({"requests": [batch_get("1", &calendars), batch_get("1", &calendars)]});
    assert_eq!(w.post("/$batch", dup).await.status, 400);
    let missing = json!({"requests": [{"id": "1", "url": calendars}]});
    assert_eq!(w.post("/$batch", missing).await.status, 400);

    w.fake.clear_requests();
    let reqs: Vec<Value> = (0..12)
        .map(|i| batch_get(&i.to_string(), &calendars))
        .collect();
    let got = w.post("/$batch", json!({"requests": reqs})).await;
    assert_eq!(got.status, 200);
    let ids: Vec<String> = got.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let sorted: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>(),
        sorted.iter().collect::<HashSet<_>>()
    );
    assert_ne!(ids, sorted, "responses come back shuffled");
    let recorded = w.fake.requests();
    assert_eq!(recorded.len(), 13);
    assert_eq!(
        (recorded[0].path.as_str(), recorded[0].in_batch),
        ("/$batch", false)
    );
    assert!(
        recorded[1..]
            .iter()
            .all(|r| r.in_batch && r.path == calendars && r.status == 200)
    );
    assert!(
        recorded[1..]
            .iter()
            .all(|r| r.authorization == recorded[0].authorization)
    );

    // A failed dependency gives 424; the batch is still 200.
    let event = timed(
        "Batched",
        "2030-10-01T10:00:00",
        "2030-10-01T11:00:00",
        "UTC",
    );
    let got = w
        .post(
            "/$batch",
            json!({"requests": [
                {"id": "a", "method": "GET", "url": format!("/users/{MAILBOX}/events/AAMkAGVtaXNzaW5nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")},
                {"id": "b", "method": "POST", "url": w.events_path(), "dependsOn": ["a"],
                 "headers": {"Content-Type": "application/json"}, "body": event},
                {"id": "c", "method": "POST", "url": w.events_path(),
                 "headers": {"Content-Type": "application/json"}, "body": event},
            ]}),
        )
        .await;
    assert_eq!(got.status, 200);
    let status = |id: &str| {
        got.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].as_u64().unwrap())
            .unwrap()
    };
    assert_eq!((status("a"), status("b"), status("c")), (404, 424, 201));
    assert_eq!(w.fake.events(MAILBOX, &w.calendar).len(), 1);
    assert_eq!(w.fake.writes_applied(), 1);
}

#[tokio::test]
async fn batch_inner_requests_are_throttled_individually() {
    let w = World::new().await;
    w.fake.set_faults(Faults {
        throttle_fraction: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let calendars = format!("/users/{MAILBOX}/calendars");
    let got = w
        .post(
            "/$batch",
            json!({"requests": [batch_get("1", &calendars), batch_get("2", &calendars)]}),
        )
        .await;
    assert_eq!(got.status, 200);
    for r in got.body["responses"].as_array().unwrap() {
        assert_eq!(r["status"], 429);
        assert_eq!(r["headers"]["Retry-After"], "7");
        assert_eq!(r["body"]["error"]["code"], "TooManyRequests");
    }
}

#[tokio::test]
async fn latency_model_holds_slots_and_refuses_a_fifth_operation() {
    let w = World::new().await;
    w.fake.set_faults(Faults::graph_like(20));
    let calendars = format!("/users/{MAILBOX}/calendars");
    let batch = |n: usize| json!({"requests": (0..n).map(|i| batch_get(&i.to_string(), &calendars)).collect::<Vec<_>>()});
    // One batch of 20 runs 4 at a time: never over the mailbox's limit.
    let got = w.post("/$batch", batch(20)).await;
    let statuses = |a: &Answer| -> Vec<u64> {
        a.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect()
    };
    assert!(
        statuses(&got).iter().all(|s| *s == 200),
        "{:?}",
        statuses(&got)
    );
    let t = w.fake.throttling();
    assert_eq!(
        (t.over_concurrency, t.over_rate, t.peak_in_flight),
        (0, 0, 4)
    );

    // Two at once would run 8: Outlook refuses what is over 4.
    let (a, b) = tokio::join!(w.post("/$batch", batch(20)), w.post("/$batch", batch(20)));
    let refused = statuses(&a)
        .into_iter()
        .chain(statuses(&b))
        .filter(|s| *s == 429)
        .count();
    assert!(refused > 0);
    let t = w.fake.throttling();
    assert_eq!(t.over_concurrency, refused);
    assert!(t.peak_in_flight > 4);

    // The rate limit counts admitted operations only.
    w.fake.set_faults(Faults {
        rate_limit: Some((3, Duration::from_secs(30))),
        ..Faults::graph_like(20)
    });
    let got = w.post("/$batch", batch(5)).await;
    let mut s = statuses(&got);
    s.sort_unstable();
    assert_eq!(s, [200, 200, 200, 429, 429]);
    assert_eq!(w.fake.throttling().over_rate, 2);
}

#[tokio::test]
async fn peak_outstanding_counts_a_batch_as_at_most_four() {
    let w = World::new().await;
    let other = "other@contoso.example";
    w.fake.add_mailbox(other);
    let slow = || Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    };
    let calendars = format!("/users/{MAILBOX}/calendars");
    let batch = |n: usize| json!({"requests": (0..n).map(|i| batch_get(&i.to_string(), &calendars)).collect::<Vec<_>>()});

    // One batch of 5 holds 4, whatever its size.
    w.fake.set_faults(slow());
    w.post("/$batch", batch(5)).await;
    let t = w.fake.throttling();
    assert_eq!((t.peak_outstanding, t.peak_in_flight), (4, 4), "{t:?}");

    // A batch of 2 and two requests at once: 4.
    w.fake.set_faults(slow());
    tokio::join!(
        w.post("/$batch", batch(2)),
        w.get(&calendars),
        w.get(&calendars)
    );
    assert_eq!(w.fake.throttling().peak_outstanding, 4);

    // A batch of 3 and two requests: 5, more than a client may hold.
    w.fake.set_faults(slow());
    tokio::join!(
        w.post("/$batch", batch(3)),
        w.get(&calendars),
        w.get(&calendars)
    );
    assert_eq!(w.fake.throttling().peak_outstanding, 5);

    // Counted per mailbox: 2 on one and 3 on the other.
    w.fake.set_faults(slow());
    let mixed: Vec<Value> = (0..5)
        .map(|i| {
            let upn = if i < 2 { MAILBOX } else { other };
            batch_get(&i.to_string(), &format!("/users/{upn}/calendars"))
        })
        .collect();
    let got = w.post("/$batch", json!({"requests": mixed})).await;
    assert_eq!(got.status, 200);
    assert_eq!(w.fake.throttling().peak_outstanding, 3);

    // Nothing is outstanding afterwards.
    w.fake.set_faults(Faults::default());
    w.get(&calendars).await;
    assert_eq!(w.fake.throttling().peak_outstanding, 1);
}

#[tokio::test]
async fn operation_times_vary_around_the_model() {
    let w = World::new().await;
    let spread = OperationTime::Spread {
        median: Duration::from_millis(20),
        p95: Duration::from_millis(60),
    };
    assert!(spread.mean() > Duration::from_millis(20) && spread.mean() < Duration::from_millis(30));
    w.fake.set_faults(Faults {
        model: Some(LatencyModel {
            round_trip: Duration::ZERO,
            operation: spread,
        }),
        seed: 7,
        ..Faults::default()
    });
    let path = format!("/users/{MAILBOX}/calendars");
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = std::time::Instant::now();
        assert_eq!(w.get(&path).await.status, 200);
        times.push(t.elapsed());
    }
    times.sort_unstable();
    let (min, median, max) = (times[0], times[15], times[29]);
    assert!(max - min > Duration::from_millis(15), "{times:?}");
    assert!(
        median > Duration::from_millis(12) && median < Duration::from_millis(40),
        "{times:?}"
    );
    assert_eq!(
        LatencyModel::GRAPH.operation,
        OperationTime::Spread {
            median: Duration::from_millis(10),
            p95: Duration::from_millis(25)
        }
    );
    assert_eq!(Faults::graph_like(20).model, Some(LatencyModel::GRAPH));
}

// ------------------------------------------------------------------ throttling and faults

#[tokio::test]
async fn throttling_sends_retry_after() {
    let w = World::new().await;
    let path = format!("/users/{MAILBOX}/calendars");
    w.fake.set_faults(Faults {
        throttle_fraction: 1.0,
        ..Faults::default()
    });
    let got = w.get(&path).await;
    assert_eq!((got.status, got.code()), (429, "TooManyRequests"));
    assert_eq!(got.header("retry-after"), Some("1"));
    assert_eq!(got.body["error"]["innerError"]["status"], "429");

    // More than 4 concurrent requests per mailbox: ApplicationThrottled.
    w.fake.set_faults(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    });
    let all = futures_util::future::join_all((0..6).map(|_| w.get(&path))).await;
    let throttled: Vec<&Answer> = all.iter().filter(|a| a.status == 429).collect();
    assert_eq!(
        throttled.len(),
        2,
        "{:?}",
        all.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(throttled[0].code(), "ApplicationThrottled");
    assert_eq!(
        throttled[0].body["error"]["message"],
        "Application is over its MailboxConcurrency limit."
    );
    assert!(throttled[0].header("retry-after").is_some());

    w.fake.set_faults(Faults {
        rate_limit: Some((2, Duration::from_secs(30))),
        ..Faults::default()
    });
    let statuses = [
        w.get(&path).await.status,
        w.get(&path).await.status,
        w.get(&path).await.status,
    ];
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test]
async fn injected_faults() {
    let w = World::new().await;
    let path = format!("/users/{MAILBOX}/calendars");
    w.fake.set_faults(Faults {
        fail_path: Some(("calendars".into(), 503, 2)),
        retry_after_secs: 3,
        ..Faults::default()
    });
    let first = w.get(&path).await;
    assert_eq!(
        (first.status, first.header("retry-after")),
        (503, Some("3"))
    );
    assert_eq!(w.get(&path).await.status, 503);
    assert_eq!(w.get(&path).await.status, 200);

    w.fake.set_faults(Faults {
        fail_504_fraction: 1.0,
        ..Faults::default()
    });
    let got = w.get(&path).await;
    assert_eq!((got.status, got.code()), (504, "UnknownError"));
    assert!(got.header("retry-after").is_none());

    w.fake.set_faults(Faults {
        malformed_json: 1,
        ..Faults::default()
    });
    let resp = w
        .http
        .get(w.url(&path))
        .bearer_auth(&w.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert_eq!(w.get(&path).await.status, 200);

    // A dropped connection after the write was applied.
    w.fake.set_faults(Faults {
        drop_connections: 1,
        ..Faults::default()
    });
    let event = timed(
        "Dropped",
        "2030-11-01T10:00:00",
        "2030-11-01T11:00:00",
        "UTC",
    );
    let sent = w
        .http
        .post(w.url(&w.events_path()))
        .bearer_auth(&w.token)
        .json(&event)
        .send()
        .await;
    let failed = match sent {
        Err(_) => true,
        Ok(resp) => resp.text().await.is_err(),
    };
    assert!(failed, "the connection should have been dropped");
    assert_eq!(w.fake.writes_applied(), 1);
    assert!(w.fake.requests().last().unwrap().dropped);
    assert_eq!(w.post(&w.events_path(), event).await.status, 201);
}

#[tokio::test]
async fn responses_carry_the_service_clock() {
    let w = World::new().await;
    let path = format!("/users/{MAILBOX}/calendars");
    let date = |a: &Answer| {
        assert_eq!(a.headers.get_all("date").iter().count(), 1);
        let raw = a.header("date").unwrap().to_string();
        assert!(raw.ends_with(" GMT"), "{raw}");
        DateTime::parse_from_rfc2822(&raw)
            .unwrap()
            .with_timezone(&Utc)
    };
    let got = w.get(&path).await;
    assert!((date(&got) - Utc::now()).num_seconds().abs() <= 2);

    w.fake.set_clock_offset(chrono::Duration::minutes(-10));
    let got = w.get(&path).await;
    let skew = (date(&got) - Utc::now()).num_seconds();
    assert!((-602..=-598).contains(&skew), "{skew}");
    // Error bodies' innerError.date too (and the token endpoint's Date).
    let missing = w
        .get(&format!(
            "/users/{MAILBOX}/events/AAMkAGVtaXNzaW5nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
        ))
        .await;
    assert_eq!(missing.status, 404);
    let inner = missing.body["error"]["innerError"]["date"]
        .as_str()
        .unwrap();
    let inner = chrono::NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S")
        .unwrap()
        .and_utc();
    assert!(
        ((inner - Utc::now()).num_seconds() + 600).abs() <= 2,
        "{inner}"
    );
    let token = token_request(&w.fake, &w.http, TENANT, client_credentials(SECRET)).await;
    assert!(((date(&token) - Utc::now()).num_seconds() + 600).abs() <= 2);
}

#[tokio::test]
async fn long_ranges_fail_when_asked_to() {
    let w = World::new().await;
    for i in 0..3 {
        w.fake.insert_event(
            MAILBOX,
            &w.calendar,
            timed(
                &format!("E{i}"),
                &format!("2030-01-0{}T10:00:00", i + 1),
                &format!("2030-01-0{}T11:00:00", i + 1),
                "UTC",
            ),
        );
    }
    let long_delta = format!(
        "/users/{MAILBOX}/calendars/{}/calendarView/delta?startDateTime=2030-01-01T00:00:00Z&endDateTime=2031-06-01T00:00:00Z",
        w.calendar
    );
    // A round started before the fault: its next page fails once it is on.
    let page = [("Prefer", "odata.maxpagesize=1")];
    let first = w.send("GET", &long_delta, &page, None).await;
    assert_eq!(first.status, 200);
    let next = first.body["@odata.nextLink"].as_str().unwrap().to_string();

    w.fake.set_faults(Faults {
        fail_long_ranges: Some((365, 504)),
        ..Faults::default()
    });
    for _ in 0..2 {
        let got = w.send("GET", &next, &page, None).await;
        assert_eq!((got.status, got.code()), (504, "UnknownError"));
        assert_eq!(got.body["error"]["message"], "");
        assert!(got.header("retry-after").is_none());
    }
    let got = w.get(&long_delta).await;
    assert_eq!(got.status, 504);
    let got = w
        .get(&w.view_path("2030-01-01T00:00:00Z", "2031-06-01T00:00:00Z"))
        .await;
    assert_eq!((got.status, got.code()), (504, "UnknownError"));
    // Shorter ranges work.
    let got = w
        .get(&w.view_path("2030-01-01T00:00:00Z", "2030-12-01T00:00:00Z"))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["value"].as_array().unwrap().len(), 3);
    let short_delta = long_delta.replace("2031-06-01", "2030-06-01");
    let (items, _) = delta_round(&w, &short_delta, &[]).await;
    assert_eq!(items.len(), 3);

    w.fake.set_faults(Faults {
        fail_long_ranges: Some((365, 503)),
        retry_after_secs: 4,
        ..Faults::default()
    });
    let got = w.get(&long_delta).await;
    assert_eq!((got.status, got.header("retry-after")), (503, Some("4")));
}

#[test]
fn usable_from_plain_tests_and_seedable() {
    let fake = FakeGraph::start();
    let seed: Value = serde_json::from_str(include_str!("../../examples/seed.json")).unwrap();
    let summary = fake.load_seed(&seed).unwrap();
    assert!(!summary.apps.is_empty());
    let source = fake
        .calendar_id("events@contoso.example", "Calendar")
        .unwrap();
    let target = fake
        .calendar_id("events@contoso.example", "Public Calendar")
        .unwrap();
    assert!(fake.events("events@contoso.example", &target).is_empty());
    let events = fake.events("events@contoso.example", &source);
    assert_eq!(events.len(), summary.events);
    let today = Utc::now().date_naive();
    assert!(events.iter().all(|e| {
        let start =
            NaiveDate::parse_from_str(&e["start"]["dateTime"].as_str().unwrap()[..10], "%Y-%m-%d")
                .unwrap();
        start >= today - chrono::Duration::days(30)
    }));
    assert!(fake.graph_url().ends_with("/v1.0"));
    // A mailbox whose default calendar has a localized name.
    let kalender = fake
        .default_calendar_id("veranstaltungen@contoso.example")
        .unwrap();
    assert_eq!(
        fake.calendar_id("veranstaltungen@contoso.example", "Kalender"),
        Some(kalender)
    );
    assert!(
        fake.calendar_id("veranstaltungen@contoso.example", "Öffentlicher Kalender")
            .is_some()
    );
}
