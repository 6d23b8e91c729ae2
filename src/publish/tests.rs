use super::*;
use crate::model::{Body, BodyType, ShowAs};
use chrono::{NaiveDate, TimeZone};

fn settings(vars: &[(&str, &str)]) -> Settings {
    let mut all: Vec<(&str, &str)> = vec![
        ("HOME", "/nonexistent-home"),
        ("CALSYNC_STATE_DIR", "/nonexistent-state"),
        ("CALSYNC_PUBLISH_HTML", "/nonexistent/page.html"),
    ];
    all.extend_from_slice(vars);
    crate::config::load(&crate::config::FlagOverrides::default(), &|k| {
        all.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
}

fn timed(key: &str, subject: &str, y: i32, m: u32, d: u32, h: u32) -> (SourceKey, EventPayload) {
    let start = Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
    (
        SourceKey(key.to_owned()),
        EventPayload {
            subject: subject.to_owned(),
            start: EventTime::Instant(start),
            end: EventTime::Instant(start + chrono::Duration::minutes(90)),
            is_all_day: false,
            show_as: ShowAs::Busy,
            location: String::new(),
            body: Body::default(),
            categories: Vec::new(),
        },
    )
}

fn all_day(key: &str, subject: &str, day: NaiveDate) -> (SourceKey, EventPayload) {
    (
        SourceKey(key.to_owned()),
        EventPayload {
            subject: subject.to_owned(),
            start: EventTime::Date(day),
            end: EventTime::Date(day + chrono::Duration::days(1)),
            is_all_day: true,
            show_as: ShowAs::Free,
            location: String::new(),
            body: Body::default(),
            categories: Vec::new(),
        },
    )
}

fn input<'a>(settings: &'a Settings, events: &'a [(SourceKey, EventPayload)]) -> Input<'a> {
    let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    Input {
        settings,
        window: Window::around(today, settings.past_days, settings.cutoff_days),
        events,
        now: Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap(),
    }
}

#[test]
fn page_escapes_and_groups_by_month() {
    let s = settings(&[("CALSYNC_PUBLISH_TITLE", "Talks & <more>")]);
    let events = vec![
        timed("i:b", "<script>alert(1)</script>", 2026, 12, 9, 13),
        timed("i:a", "Open day", 2027, 1, 12, 9),
        all_day(
            "i:c",
            "Holiday",
            NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
        ),
    ];
    let page = html::render(&input(&s, &events)).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<html lang=\"en\">"));
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
    assert!(page.contains("<h1>Talks &amp; &lt;more&gt;</h1>"), "{page}");
    let dec = page.find("<h2>December 2026</h2>").unwrap();
    let jan = page.find("<h2>January 2027</h2>").unwrap();
    assert!(dec < jan);
    assert!(
        page.contains(
            "<time datetime=\"2026-12-09T13:00:00Z\">Wednesday 9 December 2026</time>, 13:00–14:30"
        ),
        "{page}"
    );
    assert!(
        page.contains("<time datetime=\"2026-12-24\">Thursday 24 December 2026</time>, all day"),
        "{page}"
    );
    assert!(page.contains("prefers-color-scheme: dark"));
    assert!(!page.contains("<script"));
    assert!(!page.contains("Subscribe"));
}

#[test]
fn page_shows_times_in_the_time_zone_and_subscribe_links() {
    let s = settings(&[
        ("CALSYNC_PUBLISH_TIME_ZONE", "America/New_York"),
        (
            "CALSYNC_PUBLISH_SUBSCRIBE_URL",
            "https://calendar.example.org/public.ics",
        ),
    ]);
    // 02:00 UTC on the 10th is 21:00 on the 9th in New York.
    let events = vec![timed("i:a", "Late talk", 2026, 12, 10, 2)];
    let page = html::render(&input(&s, &events)).unwrap();
    assert!(page.contains("<time datetime=\"2026-12-09T21:00:00-05:00\">Wednesday 9 December 2026</time>, 21:00–22:30"), "{page}");
    // MiniJinja's HTML escaping writes `/` as `&#x2f;`, which browsers read
    // as `/`.
    let page = page.replace("&#x2f;", "/");
    assert!(
        page.contains("href=\"https://calendar.example.org/public.ics\">Subscribe</a>"),
        "{page}"
    );
    assert!(
        page.contains("href=\"webcal://calendar.example.org/public.ics\""),
        "{page}"
    );
    assert!(page.contains("Times are in America/New_York"));
}

#[test]
fn page_lists_only_the_days_ahead_and_optional_fields_when_present() {
    let s = settings(&[("CALSYNC_PUBLISH_DAYS", "10"), ("CALSYNC_PAST_DAYS", "30")]);
    let mut with_location = timed("i:a", "Workshop", 2026, 12, 8, 10);
    with_location.1.location = "Room 1".to_owned();
    with_location.1.categories = vec!["Open".to_owned()];
    with_location.1.body = Body {
        content_type: BodyType::Html,
        content: "<p>Bring a laptop</p>".to_owned(),
    };
    let events = vec![
        with_location,
        timed("i:b", "Past talk", 2026, 12, 1, 10),
        timed("i:c", "Far talk", 2026, 12, 30, 10),
        timed("i:d", "Plain talk", 2026, 12, 9, 10),
    ];
    let page = html::render(&input(&s, &events)).unwrap();
    assert!(page.contains("Workshop") && page.contains("Plain talk"));
    assert!(
        !page.contains("Past talk") && !page.contains("Far talk"),
        "{page}"
    );
    assert!(page.contains("<span class=\"location\">Room 1</span>"));
    assert!(page.contains("<span class=\"categories\">Open</span>"));
    assert!(page.contains("Bring a laptop"));
    assert_eq!(page.matches("class=\"location\"").count(), 1);
}

#[test]
fn unchanged_events_render_the_same_content() {
    let s = settings(&[]);
    let events = vec![
        timed("i:a", "B", 2026, 12, 9, 13),
        timed("i:b", "A", 2026, 12, 9, 13),
    ];
    let mut reversed = events.clone();
    reversed.reverse();
    let first = html::render(&input(&s, &events)).unwrap();
    let mut later = input(&s, &reversed);
    later.now += chrono::Duration::hours(1);
    let second = html::render(&later).unwrap();
    assert_ne!(first, second, "the generation time differs");
    assert!(html::same_content(&first, &second));
    assert!(first.find(">A<").unwrap() < first.find(">B<").unwrap());
    let mut changed = events.clone();
    changed[0].1.subject = "C".to_owned();
    assert!(!html::same_content(
        &first,
        &html::render(&input(&s, &changed)).unwrap()
    ));
}

#[test]
fn feed_shape_and_copy_policy() {
    let s = settings(&[]);
    let mut ev = timed("i:secret-id", "Talk", 2026, 12, 9, 13);
    ev.1.location = "Room 1".to_owned();
    let events = vec![
        ev,
        all_day(
            "i:c",
            "Holiday",
            NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
        ),
    ];
    let text = feed::render(&input(&s, &events)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["title"], "Public Calendar", "target_calendar");
    assert_eq!(v["time_zone"], "UTC");
    assert_eq!(v["generated"], "2026-12-07T03:00:00Z");
    assert!(v["window"]["start"].is_string() && v["window"]["end"].is_string());
    let list = v["events"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let e = &list[0];
    assert_eq!(e["subject"], "Talk");
    assert_eq!(e["start"], "2026-12-09T13:00:00Z");
    assert_eq!(e["end"], "2026-12-09T14:30:00Z");
    assert_eq!(e["all_day"], false);
    assert_eq!(e["show_as"], "busy");
    assert_eq!(e["id"].as_str().unwrap().len(), 16);
    assert!(!text.contains("secret-id"));
    // copy.location is off by default: no location key, whatever the payload.
    assert!(e.get("location").is_none() && e.get("description").is_none());
    assert!(e.get("categories").is_none());
    assert_eq!(list[1]["start"], "2026-12-24");
    assert_eq!(list[1]["all_day"], true);
}

#[test]
fn feed_carries_what_the_copy_policy_copies_and_compares_without_generated() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "state_dir = \"s\"\n[copy]\nlocation = true\nbody = true\n[publish]\njson = \"f.json\"\n",
    )
    .unwrap();
    let s = crate::config::load(
        &crate::config::FlagOverrides {
            config: Some(cfg),
            ..Default::default()
        },
        &|k| (k == "HOME").then(|| "/nonexistent-home".to_owned()),
    )
    .unwrap();
    let mut ev = timed("i:a", "Talk", 2026, 12, 9, 13);
    ev.1.location = "Room 1".to_owned();
    ev.1.body.content = "Notes".to_owned();
    let events = vec![ev];
    let text = feed::render(&input(&s, &events)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["events"][0]["location"], "Room 1");
    assert_eq!(v["events"][0]["description"], "Notes");
    let mut later = input(&s, &events);
    later.now += chrono::Duration::days(1);
    let again = feed::render(&later).unwrap();
    assert_ne!(text, again);
    assert!(feed::same_content(&text, &again));
}
