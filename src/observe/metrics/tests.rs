use super::*;
use crate::observe::{Detail, RunEnd};
use crate::run::report::{PlanView, SyncReport};
use crate::state::{Counts, RunMetrics};

fn report() -> SyncReport {
    let mut counts = Counts {
        created: 2,
        updated: 1,
        deleted: 1,
        unchanged: 7,
        skipped_non_public: 3,
        ..Counts::default()
    };
    counts.skipped.insert(crate::policy::SkipReason::Private, 2);
    SyncReport {
        run_id: "r".into(),
        dry_run: false,
        mode: "full",
        window: crate::model::Window::around(
            chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            7,
            30,
        ),
        plan: PlanView {
            create: Vec::new(),
            update: Vec::new(),
            delete: Vec::new(),
        },
        counts,
        failures: Vec::new(),
        guard_warning: None,
        deletions_withheld: 0,
        changes: Vec::new(),
        published: None,
        duration_ms: 1500,
        metrics: RunMetrics {
            requests: 12,
            operations: 14,
            retries: 1,
            throttled: 1,
            mean_latency_ms: 80.0,
            p95_latency_ms: 250.5,
        },
        target_file: None,
        uses_graph: true,
        history_error: None,
        history_exit_code: 0,
    }
}

fn parsed(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("the exposition text parses")
}

#[test]
fn a_sync_renders_parseable_gauges_with_pair_labels() {
    let r = report();
    let end = RunEnd {
        outcome: "success",
        exit_code: 0,
        finished: 1_700_000_000.0,
        duration_seconds: 1.5,
        detail: Detail::Sync(&r),
    };
    let group = Group {
        command: "sync".into(),
        pair: Some("team-a".into()),
    };
    let text = render(&samples(&end, &group, Some(1_700_000_000.0)));
    let scrape = parsed(&text);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("calsync_"), "{line}");
        assert!(line.contains("command=\"sync\",pair=\"team-a\""), "{line}");
    }
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(value("calsync_last_run_created", None), Some(2.0));
    assert_eq!(value("calsync_last_run_unchanged", None), Some(7.0));
    assert_eq!(
        value("calsync_last_run_skipped", Some(("reason", "private"))),
        Some(2.0)
    );
    assert_eq!(
        value("calsync_last_run_skipped", Some(("reason", "not_recorded"))),
        Some(1.0)
    );
    assert_eq!(
        value("calsync_last_run_outcome", Some(("outcome", "success"))),
        Some(1.0)
    );
    assert_eq!(
        value("calsync_last_run_outcome", Some(("outcome", "failed"))),
        Some(0.0)
    );
    assert_eq!(
        value("calsync_last_run_graph_latency_p95_seconds", None),
        Some(0.2505)
    );
    assert_eq!(value("calsync_source_public_events", None), Some(10.0));
    assert_eq!(
        value("calsync_last_success_timestamp_seconds", None),
        Some(1_700_000_000.0)
    );
    // Every family has its HELP and TYPE, and no counter claims a total.
    for family in FAMILIES {
        if text.contains(&format!("\n{}{{", family.name)) {
            assert!(text.contains(&format!("# TYPE {} gauge", family.name)));
            assert!(text.contains(&format!("# HELP {} ", family.name)));
        }
        assert!(!family.name.ends_with("_total"), "{}", family.name);
    }
}

#[test]
fn a_failed_run_has_no_counts_and_the_text_reads_back() {
    let end = RunEnd {
        outcome: "failed",
        exit_code: 3,
        finished: 1_700_000_100.5,
        duration_seconds: 0.25,
        detail: Detail::Failed,
    };
    let group = Group {
        command: "sync".into(),
        pair: None,
    };
    let all = samples(&end, &group, Some(1_699_000_000.0));
    let text = render(&all);
    parsed(&text);
    assert!(!text.contains("calsync_last_run_created"), "{text}");
    assert!(!text.contains("pair="), "{text}");
    assert!(text.contains("calsync_last_run_exit_code{command=\"sync\"} 3"));
    assert_eq!(parse(&text), all);
}

#[test]
fn label_values_are_escaped() {
    let group = Group {
        command: "sync".into(),
        pair: Some("a\"b\\c\nd".into()),
    };
    let end = RunEnd {
        outcome: "success",
        exit_code: 0,
        finished: 1.0,
        duration_seconds: 1.0,
        detail: Detail::Failed,
    };
    let all = samples(&end, &group, None);
    let text = render(&all);
    parsed(&text);
    assert_eq!(parse(&text), all);
}

/// A metrics file is read back before it is rewritten, and anyone may have
/// edited it: whatever it holds, reading it ends and panics nowhere, and a
/// file calsync wrote, cut or spliced anywhere, yields only samples of its
/// own families, a cut one only samples of its command.
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn written(pair: &str, exit_code: u8) -> String {
        let group = Group {
            command: "sync".into(),
            pair: Some(pair.into()),
        };
        let end = RunEnd {
            outcome: "failed",
            exit_code,
            finished: 1_700_000_000.0,
            duration_seconds: 2.5,
            detail: Detail::Failed,
        };
        render(&samples(&end, &group, Some(1_600_000_000.0)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn any_text_reads_without_panic(text in "\\PC{0,400}") {
            for s in parse(&text) {
                prop_assert!(s.name.starts_with("calsync_"));
            }
        }

        #[test]
        fn a_written_file_cut_or_spliced_reads_as_some_of_its_samples(
            pair in "[a-z\"\\\\{}=,\n]{0,12}",
            code in any::<u8>(),
            cut in any::<prop::sample::Index>(),
            junk in "[ -~\n{}\"=,\\\\]{0,40}",
        ) {
            let text = written(&pair, code);
            let whole = parse(&text);
            prop_assert!(!whole.is_empty());
            let at = cut.index(text.len() + 1);
            let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            let spliced = format!("{}{junk}{}", &text[..at], &text[at..]);
            // A file cut short loses lines, never what a line says of
            // its command.
            for s in parse(&text[..at]) {
                prop_assert!(s.name.starts_with("calsync_"), "{s:?}");
                prop_assert_eq!(s.group.command.as_str(), "sync");
            }
            // Text spliced into a label may change it; it still reads.
            for s in parse(&spliced) {
                prop_assert!(s.name.starts_with("calsync_"), "{s:?}");
            }
        }
    }
}
