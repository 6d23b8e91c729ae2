use super::*;
use serde_json::Value;

fn post(body: &str) -> Req {
    Req {
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: body.as_bytes().to_vec(),
        in_batch: false,
        model_start: None,
        model_hold: None,
    }
}

fn json_of(resp: &Resp) -> Value {
    match &resp.body {
        crate::http::Body::Json(v) => v.clone(),
        crate::http::Body::Empty => Value::Null,
    }
}

fn identity() -> Identity {
    let mut id = Identity::new(7);
    id.add_app("t", "app", "");
    id.set_public_client("t", "app", true);
    id
}

fn start(id: &mut Identity) -> String {
    let resp = id.handle(
        "t",
        Endpoint::DeviceCode,
        &post("client_id=app&scope=offline_access%20openid%20https%3A%2F%2Fgraph.microsoft.com%2FCalendars.ReadWrite"),
    );
    assert_eq!(resp.status, 200);
    let body = json_of(&resp);
    assert_eq!(body["interval"], 5);
    assert_eq!(body["expires_in"], 900);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(body["user_code"].as_str().unwrap())
    );
    body["device_code"].as_str().unwrap().to_string()
}

fn poll(id: &mut Identity, device_code: &str) -> (u16, Value) {
    let resp = id.handle(
        "t",
        Endpoint::Token,
        &post(&format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=app&device_code={device_code}"
        )),
    );
    (resp.status, json_of(&resp))
}

#[test]
fn scripted_device_flow_then_rotation_and_revocation() {
    let mut id = identity();
    id.script_device_flow(
        "ada@x.example",
        &[
            DevicePoll::Pending,
            DevicePoll::SlowDown,
            DevicePoll::Approve,
        ],
    );
    let code = start(&mut id);
    assert_eq!(poll(&mut id, &code).1["error"], "authorization_pending");
    let (status, body) = poll(&mut id, &code);
    assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS")
    );
    let (status, tokens) = poll(&mut id, &code);
    assert_eq!(status, 200, "{tokens}");
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    assert!(tokens["id_token"].as_str().unwrap().split('.').count() == 3);
    let grant = id
        .check_bearer(Some(&format!(
            "Bearer {}",
            tokens["access_token"].as_str().unwrap()
        )))
        .unwrap();
    assert_eq!(grant.user.as_deref(), Some("ada@x.example"));
    assert_eq!(grant.permissions, ["Calendars.ReadWrite"]);
    // A redeemed device code is gone.
    assert_eq!(poll(&mut id, &code).1["error"], "bad_verification_code");

    let refresh = |id: &mut Identity, rt: &str| {
        let resp = id.handle(
            "t",
            Endpoint::Token,
            &post(&format!(
                "grant_type=refresh_token&client_id=app&refresh_token={rt}"
            )),
        );
        (resp.status, json_of(&resp))
    };
    let (status, next) = refresh(&mut id, &rt);
    assert_eq!(status, 200);
    let rt2 = next["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt, rt2);
    // Old refresh tokens keep working unless rotation is strict.
    assert_eq!(refresh(&mut id, &rt).0, 200);
    id.strict_rotation = true;
    assert_eq!(refresh(&mut id, &rt).1["error"], "invalid_grant");
    id.revoke_refresh_tokens();
    let (status, body) = refresh(&mut id, &rt2);
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 50173);
}

#[test]
fn unscripted_codes_stay_pending_and_terminal_outcomes_end_the_session() {
    let mut id = identity();
    let code = start(&mut id);
    for _ in 0..3 {
        assert_eq!(poll(&mut id, &code).1["error"], "authorization_pending");
    }
    for (outcome, error) in [
        (DevicePoll::Decline, "authorization_declined"),
        (DevicePoll::Expire, "expired_token"),
        (DevicePoll::BadCode, "bad_verification_code"),
    ] {
        id.script_device_flow("ada@x.example", &[outcome]);
        let code = start(&mut id);
        assert_eq!(poll(&mut id, &code).1["error"], error);
        assert_eq!(poll(&mut id, &code).1["error"], "bad_verification_code");
    }
}

#[test]
fn device_flow_needs_public_client_flows() {
    let mut id = identity();
    id.set_public_client("t", "app", false);
    id.script_device_flow("ada@x.example", &[DevicePoll::Approve]);
    let code = start(&mut id);
    let (status, body) = poll(&mut id, &code);
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"][0], 7000218);
}

#[test]
fn shared_mailboxes_need_the_shared_permission() {
    let grant = |perms: &[&str]| Grant {
        client_id: "app".into(),
        expired: false,
        user: Some("ada@x.example".into()),
        permissions: perms.iter().map(|p| p.to_string()).collect(),
        expires_at: Instant::now(),
    };
    let cal = Resource::Calendars;
    assert!(authorize(&grant(&["Calendars.ReadWrite"]), true, cal).is_ok());
    assert!(authorize(&grant(&["Calendars.ReadWrite"]), false, cal).is_err());
    assert!(authorize(&grant(&["Calendars.ReadWrite.Shared"]), false, cal).is_ok());
    assert!(authorize(&grant(&["User.Read"]), true, cal).is_err());
    let user = Resource::User;
    assert_eq!(
        authorize(&grant(&["Calendars.ReadWrite"]), true, user).map_err(|d| d.code),
        Err("Authorization_RequestDenied")
    );
    assert!(authorize(&grant(&["User.Read"]), true, user).is_ok());
    assert!(authorize(&grant(&["User.Read"]), false, user).is_err());
    assert!(authorize(&grant(&["User.ReadBasic.All"]), false, user).is_ok());
    let settings = Resource::MailboxSettings;
    assert!(authorize(&grant(&["MailboxSettings.Read"]), true, settings).is_ok());
    assert!(authorize(&grant(&["MailboxSettings.Read"]), false, settings).is_err());
    assert!(authorize(&grant(&["Calendars.ReadWrite"]), true, settings).is_err());
}
