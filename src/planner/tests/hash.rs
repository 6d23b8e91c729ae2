//! `content_hash`: stable, and changed by every field a copy holds.

use super::*;

#[test]
fn content_hash_is_stable_and_hex() {
    let h = content_hash(&sample_payload());
    assert_eq!(h.len(), 32);
    assert!(
        h.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(h, content_hash(&sample_payload().clone()));
    // Pinned: changing the canonical form would rewrite every managed event.
    assert_eq!(h, GOLDEN_CONTENT_HASH);
}

const GOLDEN_CONTENT_HASH: &str = "9be7e77d6fd0ccbe44e822609be239dd";

#[test]
fn content_hash_changes_with_every_field() {
    let base = sample_payload();
    let h = content_hash(&base);
    let edits: Vec<Edit> = vec![
        ("subject", Box::new(|p| p.subject.push('!'))),
        (
            "start",
            Box::new(|p| p.start = at(ts("2024-05-10T09:00:01Z"))),
        ),
        ("end", Box::new(|p| p.end = at(ts("2024-05-10T17:30:00Z")))),
        ("all-day", Box::new(|p| p.is_all_day = true)),
        ("show_as", Box::new(|p| p.show_as = ShowAs::Free)),
        ("location", Box::new(|p| p.location.clear())),
        (
            "body type",
            Box::new(|p| p.body.content_type = BodyType::Text),
        ),
        (
            "body",
            Box::new(|p| p.body.content = "<p>Welcome!</p>".into()),
        ),
        (
            "categories",
            Box::new(|p| {
                p.categories.pop();
            }),
        ),
        ("category order", Box::new(|p| p.categories.reverse())),
        (
            "category text",
            Box::new(|p| p.categories[0] = "public".into()),
        ),
        // Field boundaries are unambiguous.
        (
            "boundary",
            Box::new(|p| {
                p.subject = "Open dayMain hall".into();
                p.location.clear();
            }),
        ),
        (
            "category split",
            Box::new(|p| p.categories = cats(&["PublicOutreach"])),
        ),
        (
            "date vs midnight instant",
            Box::new(|p| {
                p.start = EventTime::Date(day("2024-05-10"));
            }),
        ),
    ];
    let mut seen = HashSet::from([h.clone()]);
    for (what, edit) in edits {
        let mut p = base.clone();
        edit(&mut p);
        let h2 = content_hash(&p);
        assert_ne!(h2, h, "{what} must change the hash");
        assert!(seen.insert(h2), "{what} collides with another edit");
    }
}

#[test]
fn content_hash_date_and_midnight_instant_differ() {
    let mut a = sample_payload();
    a.start = EventTime::Date(day("2024-05-10"));
    let mut b = sample_payload();
    b.start = at(ts("2024-05-10T00:00:00Z"));
    assert_ne!(content_hash(&a), content_hash(&b));
}

/// The field `Canonical::time` writes for `t`.
pub(super) fn canonical_time(t: &EventTime) -> String {
    let mut c = Canonical::new();
    c.time(t);
    String::from_utf8(c.0).unwrap()
}

/// The same field from chrono's own formatting, the canonical form's definition.
pub(super) fn chrono_time(t: &EventTime) -> String {
    let text = match t {
        EventTime::Date(d) => format!("date {}", d.format("%Y-%m-%d")),
        EventTime::Instant(i) => format!(
            "instant {}",
            i.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ),
    };
    format!("{}:{text};", text.len())
}

#[test]
fn canonical_times_are_chrono_text() {
    let instants = [
        "2024-05-10T09:00:00Z",
        "2024-05-10T09:00:00.5Z",
        "2024-05-10T09:00:00.123456Z",
        "2024-05-10T09:00:00.000000001Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
        "+10000-01-01T00:00:00Z",
        "-0001-12-31T23:59:59Z",
    ];
    for s in instants {
        let t = at(DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| s.parse().unwrap()));
        assert_eq!(canonical_time(&t), chrono_time(&t), "{s}");
    }
    // A leap second reads as second 60.
    let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_250_000_000))
        .unwrap()
        .and_utc();
    assert_eq!(
        canonical_time(&at(leap)),
        "32:instant 2016-12-31T23:59:60.250Z;"
    );
    assert_eq!(canonical_time(&at(leap)), chrono_time(&at(leap)));
    for d in [day("2024-05-10"), day("0001-01-01")]
        .into_iter()
        .chain(NaiveDate::from_ymd_opt(-44, 3, 15))
        .chain(NaiveDate::from_ymd_opt(12_345, 6, 7))
    {
        let t = EventTime::Date(d);
        assert_eq!(canonical_time(&t), chrono_time(&t), "{d}");
    }
}
