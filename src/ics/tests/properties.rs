//! Properties of the target file over generated copies.

use super::target::{calendar, copy_of};
use super::*;

fn text_strategy() -> impl Strategy<Value = String> {
    // Printable text with what TEXT must escape, non-ASCII and line breaks.
    proptest::string::string_regex("[ -~äöüß€–\u{1F600}\n\t,;\\\\:]{0,120}").unwrap()
}

fn time_pair() -> impl Strategy<Value = (EventTime, EventTime)> {
    prop_oneof![
        (0i64..4_000_000_000, 0i64..200_000).prop_map(|(s, d)| {
            let start = Utc.timestamp_opt(s, 0).unwrap();
            (
                EventTime::Instant(start),
                EventTime::Instant(start + chrono::Duration::seconds(d)),
            )
        }),
        (0i64..50_000, 1i64..30).prop_map(|(n, len)| {
            let start = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap() + chrono::Duration::days(n);
            (
                EventTime::Date(start),
                EventTime::Date(start + chrono::Duration::days(len)),
            )
        }),
    ]
}

fn payload_strategy() -> impl Strategy<Value = EventPayload> {
    (
        text_strategy(),
        time_pair(),
        any::<bool>(),
        proptest::sample::select(ShowAs::ALL.to_vec()),
        text_strategy(),
        prop_oneof![
            text_strategy().prop_map(|content| Body {
                content_type: BodyType::Text,
                content
            }),
            "[a-z<>/& ]{1,60}".prop_map(|content| Body {
                content_type: BodyType::Html,
                content
            }),
        ],
        proptest::collection::vec(text_strategy(), 0..4),
    )
        .prop_map(
            |(subject, (start, end), is_all_day, show_as, location, body, categories)| {
                EventPayload {
                    subject,
                    start,
                    end,
                    is_all_day,
                    show_as,
                    location,
                    body,
                    categories,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_public_events_render_and_read_back_equal(
        payloads in proptest::collection::vec(payload_strategy(), 0..6),
        keys in proptest::collection::hash_set("[a-zA-Z0-9@._:-]{1,40}", 6),
    ) {
        let copies: Vec<IcsCopy> = payloads
            .into_iter()
            .zip(keys)
            .map(|(p, k)| copy_of(&k, p))
            .collect();
        let cal = calendar(&copies);
        let text = cal.render("Random ; name, with \\ escapes");
        for line in text.split_inclusive('\n') {
            prop_assert!(line.ends_with("\r\n") && line.len() - 2 <= 75);
        }
        let back = TargetCalendar::parse(text.as_bytes(), "random.ics").unwrap();
        let mut want = copies.clone();
        want.sort_by(|a, b| (a.payload.start.as_utc(), a.payload.start, &a.uid)
            .cmp(&(b.payload.start.as_utc(), b.payload.start, &b.uid)));
        let got: Vec<IcsCopy> = back.copies().into_iter().cloned().collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(back.render("Random ; name, with \\ escapes"), text);
    }
}
