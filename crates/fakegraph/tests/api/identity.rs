//! The token endpoint, bearer tokens and what each permission reaches.

use super::*;

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
