use super::read::OCCURRENCE_FIELDS;
use super::*;
use crate::graph::wire::{CopyEvent, GraphEvent};
use chrono::{NaiveDate, TimeZone};
use serde::Deserialize;

/// An item as a page of calendarView or delta gives it.
fn event(v: &Value) -> GraphEvent {
    GraphEvent::deserialize(v).unwrap()
}

/// An item as a page of the target's copies gives it.
fn copy(v: &Value) -> CopyEvent {
    CopyEvent::deserialize(v).unwrap()
}

fn source_event(v: &Value) -> anyhow::Result<Option<SourceEvent>> {
    super::source_event(&event(v))
}

fn managed_event(v: &Value) -> anyhow::Result<Option<ManagedEvent>> {
    super::managed_event(&copy(v))
}

fn inspected_copy(v: &Value) -> anyhow::Result<Option<InspectedCopy>> {
    super::inspected_copy(&copy(v))
}

#[test]
fn pieces_never_exceed_graph_limit_and_cover_the_range() {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let end = start + Duration::days(1825) + Duration::seconds(1);
    let pieces = view_pieces(start, end);
    assert_eq!(pieces.len(), 2);
    assert_eq!(pieces[0], (start, start + Duration::days(1825)));
    assert_eq!(pieces[1].1, end);
    assert!(view_pieces(start, start + Duration::days(10)).len() == 1);
    let long = view_pieces(start, start + Duration::days(4000));
    assert_eq!(long.len(), 3);
    assert!(long.iter().all(|(a, b)| *b - *a <= Duration::days(1825)));
}

/// A full occurrence as calendarView and instances send it.
fn full_occurrence() -> Value {
    json!({"id":"occ-1","type":"occurrence","seriesMasterId":"M","originalStart":"2026-12-01T10:00:00Z",
            "start":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2026-12-01T11:00:00.0000000","timeZone":"UTC"},"sensitivity":"normal",
            "subject":"Open hour","isAllDay":false,"isCancelled":false,"showAs":"busy","categories":[]})
}

fn calendar() -> GraphCalendar {
    let url = url::Url::parse("http://127.0.0.1:9/v1.0").unwrap();
    let http = crate::graph::client::http_client(std::time::Duration::from_secs(1)).unwrap();
    let client = GraphClient::new(
        http,
        std::sync::Arc::new(crate::auth::StaticToken::new("t".to_string().into())),
        crate::graph::client::ClientOptions::new(url),
    );
    GraphCalendar::new(client, "a@b.example", "CAL", CopyPolicy::default())
}

#[test]
fn delta_items_are_taken_whole_or_as_a_series_signal() {
    let cal = calendar();
    // Reported shape of an unmodified occurrence in delta.
    let bare = json!({"@odata.type":"#microsoft.graph.event","@odata.etag":"W/\"x\"","id":"occ-9",
            "type":"occurrence","seriesMasterId":"M",
            "start":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2026-12-01T11:00:00.0000000","timeZone":"UTC"}});
    assert!(matches!(cal.delta_change(&event(&bare)).unwrap(),
            SourceChange::SeriesChanged { series_id } if series_id == "M"));
    let master =
        json!({"id":"M","type":"seriesMaster","subject":"Open hour","sensitivity":"normal"});
    assert!(matches!(cal.delta_change(&event(&master)).unwrap(),
            SourceChange::SeriesChanged { series_id } if series_id == "M"));
    // One missing field is enough: nothing is defaulted.
    for field in OCCURRENCE_FIELDS {
        let mut partial = full_occurrence();
        partial.as_object_mut().unwrap().remove(field);
        assert!(
            matches!(
                cal.delta_change(&event(&partial)).unwrap(),
                SourceChange::SeriesChanged { .. }
            ),
            "{field}"
        );
    }
    let mut exception = full_occurrence();
    exception["type"] = json!("exception");
    assert!(matches!(cal.delta_change(&event(&exception)).unwrap(),
            SourceChange::Upsert { item_id, event: Some(ev) } if item_id == "occ-1"
                && ev.key.as_str() == "s:M@20261201T100000Z"));
    let removed = json!({"id":"occ-1","@removed":{"reason":"deleted"}});
    assert!(matches!(cal.delta_change(&event(&removed)).unwrap(),
            SourceChange::Remove { item_id } if item_id == "occ-1"));
}

#[test]
fn an_all_day_occurrence_keeps_its_own_original_start() {
    // microsoft-graph-docs-contrib#7803: originalStart is the original
    // local midnight of the organizer's zone, not the start.
    let mut v = full_occurrence();
    v["isAllDay"] = json!(true);
    v["start"] = json!({"dateTime":"2018-06-05T00:00:00.0000000","timeZone":"UTC"});
    v["end"] = json!({"dateTime":"2018-06-06T00:00:00.0000000","timeZone":"UTC"});
    v["originalStart"] = json!("2018-06-05T07:00:00Z");
    let ev = source_event(&v).unwrap().unwrap();
    assert_eq!(ev.key.as_str(), "s:M@20180605T070000Z");
    assert_eq!(
        ev.start,
        EventTime::Date(NaiveDate::from_ymd_opt(2018, 6, 5).unwrap())
    );
}

#[test]
fn the_ical_uid_of_an_occurrence_is_its_series() {
    // Exchange's global object id, with the date slot zero (the series) and
    // filled in (one occurrence).
    let head = "040000008200E00074C5B7101A82E008";
    let tail = "0000000000000000000000000000000010000000ABCDEF";
    let series = format!("{head}00000000{tail}");
    let mut v = full_occurrence();
    v["iCalUId"] = json!(format!("{head}07EA0C01{tail}"));
    let ev = source_event(&v).unwrap().unwrap();
    assert_eq!(ev.ical_uid.as_deref(), Some(series.as_str()));
    v["iCalUId"] = json!("meeting-1@example.org");
    let ev = source_event(&v).unwrap().unwrap();
    assert_eq!(ev.ical_uid.as_deref(), Some("meeting-1@example.org"));
    // A single instance keeps its own, whatever its form.
    v["type"] = json!("singleInstance");
    v["iCalUId"] = json!(format!("{head}07EA0C01{tail}"));
    let ev = source_event(&v).unwrap().unwrap();
    assert_eq!(ev.ical_uid, Some(format!("{head}07EA0C01{tail}")));
    // Missing, empty or odd: no UID, and the event is as public as before.
    for uid in [None, Some(json!("")), Some(json!(5))] {
        let mut v = full_occurrence();
        match uid {
            Some(u) => v["iCalUId"] = u,
            None => drop(v.as_object_mut().unwrap().remove("iCalUId")),
        }
        let ev = source_event(&v).unwrap().unwrap();
        assert_eq!(ev.ical_uid, None);
        assert_eq!(ev.sensitivity, Sensitivity::Normal);
    }
}

#[test]
fn a_missing_deciding_field_is_never_public() {
    for field in DECIDING_FIELDS {
        let mut v = full_occurrence();
        v["type"] = json!("singleInstance");
        v.as_object_mut().unwrap().remove(field);
        let ev = source_event(&v).unwrap().unwrap();
        assert_eq!(ev.sensitivity, Sensitivity::Private, "{field}");
    }
    let mut v = full_occurrence();
    v.as_object_mut().unwrap().remove("isAllDay");
    assert!(
        source_event(&v).is_err(),
        "where an event falls is never guessed"
    );
}

/// A delta or calendarView item as Graph might send it, or mangle it:
/// each field present or not, with a plausible or an odd value.
fn any_item() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let odd = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ];
    let time = prop_oneof![
        Just(json!({"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"})),
        Just(json!({"dateTime":"2026-12-01T00:00:00.0000000","timeZone":"Tokyo Standard Time"})),
        Just(json!({"dateTime":"+275760-09-13T00:00:00","timeZone":"UTC"})),
        Just(json!({"dateTime":"2026-03-29T02:30:00","timeZone":"Europe/Berlin"})),
        odd.clone(),
    ];
    let field = |good: BoxedStrategy<Value>| prop_oneof![3 => good.prop_map(Some), 1 => odd.clone().prop_map(Some), 2 => Just(None)];
    (
        field(prop_oneof![Just(json!("occ")), Just(json!(""))].boxed()),
        field(
            prop_oneof![
                Just(json!("singleInstance")),
                Just(json!("occurrence")),
                Just(json!("exception")),
                Just(json!("seriesMaster"))
            ]
            .boxed(),
        ),
        field(Just(json!("M")).boxed()),
        field(prop_oneof![Just(json!("2026-12-01T10:00:00Z")), Just(json!("garbage"))].boxed()),
        field(
            prop_oneof![
                Just(json!("normal")),
                Just(json!("private")),
                Just(json!("NORMAL"))
            ]
            .boxed(),
        ),
        field(any::<bool>().prop_map(Value::from).boxed()),
        field(any::<bool>().prop_map(Value::from).boxed()),
        (
            field(Just(json!("Open day")).boxed()),
            field(Just(json!("busy")).boxed()),
            field(Just(json!(["Public"])).boxed()),
            field(Just(json!({"reason":"deleted"})).boxed()),
            time.clone().prop_map(Some),
            time.prop_map(Some),
        ),
    )
        .prop_map(
            |(id, kind, series, original, sensitivity, all_day, cancelled, rest)| {
                let (subject, show_as, categories, removed, start, end) = rest;
                let mut m = serde_json::Map::new();
                for (k, v) in [
                    ("id", id),
                    ("type", kind),
                    ("seriesMasterId", series),
                    ("originalStart", original),
                    ("sensitivity", sensitivity),
                    ("isAllDay", all_day),
                    ("isCancelled", cancelled),
                    ("subject", subject),
                    ("showAs", show_as),
                    ("categories", categories),
                    ("@removed", removed),
                    ("start", start),
                    ("end", end),
                ] {
                    if let Some(v) = v {
                        m.insert(k.to_owned(), v);
                    }
                }
                Value::Object(m)
            },
        )
}

proptest::proptest! {
    /// Whatever Graph sends, reading it never panics, and an event is
    /// public only when Graph said all that decides it: a field it did
    /// not send is never taken to be public.
    #[test]
    fn no_item_is_public_unless_graph_said_so(item in any_item()) {
        let cal = calendar();
        let said_public = item.get("sensitivity").and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("normal"))
            && DECIDING_FIELDS.iter().all(|f| item.get(*f).is_some());
        if let Ok(Some(ev)) = source_event(&item) {
            proptest::prop_assert!(ev.sensitivity != Sensitivity::Normal || said_public);
        }
        if let Ok(SourceChange::Upsert { event: Some(ev), .. }) = cal.delta_change(&event(&item)) {
            proptest::prop_assert!(ev.sensitivity != Sensitivity::Normal || said_public);
            if matches!(item.get("type").and_then(Value::as_str), Some("occurrence" | "exception")) {
                proptest::prop_assert!(OCCURRENCE_FIELDS.iter().all(|f| item.get(*f).is_some()));
            }
        }
    }
}

#[test]
fn transaction_ids_are_fixed_within_an_attempt_and_new_in_the_next() {
    let m = Marker {
        source_key: SourceKey::single("abc"),
        content_hash: "h1".into(),
    };
    let t = transaction_id("run-1/0a", &m);
    assert_eq!(t.len(), 32);
    assert_eq!(t, transaction_id("run-1/0a", &m));
    assert_ne!(t, transaction_id("run-2/0b", &m));
    let other = Marker {
        content_hash: "h2".into(),
        ..m.clone()
    };
    assert_ne!(t, transaction_id("run-1/0a", &other));
    let cal = calendar();
    assert_ne!(cal.attempt, calendar().attempt);
    assert!(
        calendar()
            .for_run("20261206T101500Z-ab12")
            .attempt
            .starts_with("20261206T101500Z-ab12/")
    );
}

#[test]
fn occurrence_key_survives_new_occurrence_ids() {
    let a = full_occurrence();
    let mut b = a.clone();
    b["id"] = json!("occ-2-reissued");
    let ka = source_event(&a).unwrap().unwrap().key;
    let kb = source_event(&b).unwrap().unwrap().key;
    assert_eq!(ka, kb);
    assert_eq!(ka.as_str(), "s:M@20261201T100000Z");
}

#[test]
fn unknown_sensitivity_fails_closed_and_all_day_is_a_date() {
    let v = json!({"id":"x","isAllDay":true,"sensitivity":"weird","subject":"","isCancelled":false,
            "showAs":"busy","categories":[],
            "start":{"dateTime":"2026-12-01T00:00:00.0000000","timeZone":"Tokyo Standard Time"},
            "end":{"dateTime":"2026-12-02T00:00:00.0000000","timeZone":"Tokyo Standard Time"}});
    let ev = source_event(&v).unwrap().unwrap();
    assert_eq!(ev.sensitivity, Sensitivity::Private);
    assert_eq!(
        ev.start,
        EventTime::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
    );
}

#[test]
fn missing_start_is_malformed() {
    let v = json!({"id":"x","sensitivity":"normal"});
    assert!(source_event(&v).is_err());
}

#[test]
fn events_without_marker_are_not_managed() {
    let v = json!({"id":"x","subject":"by hand",
            "start":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2026-12-01T11:00:00.0000000","timeZone":"UTC"}});
    assert!(managed_event(&v).unwrap().is_none());
}

#[test]
fn payload_has_no_attendees_and_carries_marker() {
    let p = EventPayload {
        subject: "Open day".into(),
        start: EventTime::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
        end: EventTime::Date(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()),
        is_all_day: true,
        show_as: ShowAs::Free,
        location: String::new(),
        body: Body::default(),
        categories: vec![],
    };
    let m = Marker {
        source_key: SourceKey::single("abc"),
        content_hash: "h".into(),
    };
    let j = payload_json(&p, &m, "W. Europe Standard Time");
    assert!(j.get("attendees").is_none());
    assert_eq!(j["start"]["dateTime"], "2026-12-01T00:00:00");
    assert_eq!(j["start"]["timeZone"], "W. Europe Standard Time");
    assert_eq!(j["end"]["dateTime"], "2026-12-02T00:00:00");
    assert_eq!(j["singleValueExtendedProperties"][0]["value"], "i:abc");
}

fn marked(extra: Value) -> Value {
    let mut v = json!({"id":"t1","subject":"Open day",
            "start":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2026-12-01T11:00:00.0000000","timeZone":"UTC"},
            "singleValueExtendedProperties":[
                {"id": SOURCE_KEY_PROPERTY, "value": "i:abc"},
                {"id": CONTENT_HASH_PROPERTY, "value": "h"}]});
    if let (Some(obj), Some(more)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in more {
            obj.insert(k.clone(), x.clone());
        }
    }
    v
}

#[test]
fn a_copy_as_calsync_writes_it_holds_nothing_forbidden() {
    // What Exchange returns for an event written with an empty body.
    let c = inspected_copy(&marked(json!({
            "body": {"contentType": "html", "content": "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><style type=\"text/css\" style=\"display:none\">P {margin-top:0;margin-bottom:0;}</style></head><body dir=\"ltr\">&nbsp;<br></body></html>"},
            "bodyPreview": "",
            "attendees": [],
            "isOnlineMeeting": false,
            "onlineMeeting": null,
            "onlineMeetingUrl": null,
        })))
        .unwrap()
        .unwrap();
    assert!(!c.has_body);
    assert_eq!(c.attendees, 0);
    assert!(!c.online_meeting);
    assert_eq!(c.managed.marker.source_key.as_str(), "i:abc");
}

#[test]
fn forbidden_fields_are_noticed_but_not_kept() {
    let c = inspected_copy(&marked(json!({
            "body": {"contentType": "html", "content": "<html><body><p>Door code 4711</p></body></html>"},
            "attendees": [{"emailAddress": {"address": "ceo@contoso.example"}}],
            "onlineMeeting": {"joinUrl": "https://teams.example/join/1"},
        })))
        .unwrap()
        .unwrap();
    assert!(c.has_body);
    assert_eq!(c.attendees, 1);
    assert!(c.online_meeting);
    let kept = format!("{c:?}");
    assert!(!kept.contains("4711") && !kept.contains("ceo@") && !kept.contains("teams"));

    let text = inspected_copy(&marked(
        json!({"body": {"contentType": "text", "content": " x "}}),
    ))
    .unwrap()
    .unwrap();
    assert!(text.has_body);
    let preview = inspected_copy(&marked(json!({"bodyPreview": "Agenda"})))
        .unwrap()
        .unwrap();
    assert!(preview.has_body);
    let flag = inspected_copy(&marked(json!({"isOnlineMeeting": true})))
        .unwrap()
        .unwrap();
    assert!(flag.online_meeting);
    let unmarked = json!({"id":"x","subject":"by hand",
            "start":{"dateTime":"2026-12-01T10:00:00","timeZone":"UTC"},
            "end":{"dateTime":"2026-12-01T11:00:00","timeZone":"UTC"}});
    assert!(inspected_copy(&unmarked).unwrap().is_none());
}
