//! `is_public`: each rule of the filter policy, and how they combine.

use super::*;

#[test]
fn filter_sensitivity() {
    let default = FilterPolicy::default();
    let personal_too =
        filter_with(|f| f.sensitivity = vec![Sensitivity::Normal, Sensitivity::Personal]);
    let none = filter_with(|f| f.sensitivity.clear());
    let cases = [
        (Sensitivity::Normal, &default, true),
        (Sensitivity::Personal, &default, false),
        (Sensitivity::Private, &default, false),
        (Sensitivity::Confidential, &default, false),
        (Sensitivity::Normal, &personal_too, true),
        (Sensitivity::Personal, &personal_too, true),
        (Sensitivity::Private, &personal_too, false),
        (Sensitivity::Confidential, &personal_too, false),
        (Sensitivity::Normal, &none, false),
    ];
    for (s, f, want) in cases {
        let e = SourceEvent {
            sensitivity: s,
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert_eq!(is_public(&e, f), want, "{s:?} with {:?}", f.sensitivity);
    }
}

#[test]
fn filter_cancelled() {
    let skip = FilterPolicy::default();
    let keep = filter_with(|f| f.skip_cancelled = false);
    for (cancelled, f, want) in [
        (false, &skip, true),
        (true, &skip, false),
        (false, &keep, true),
        (true, &keep, true),
    ] {
        let e = SourceEvent {
            is_cancelled: cancelled,
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert_eq!(is_public(&e, f), want, "cancelled={cancelled}");
    }
}

#[test]
fn filter_include_categories() {
    let all = FilterPolicy::default();
    let public = filter_with(|f| f.include_categories = cats(&["Public", "Outreach"]));
    let umlaut = filter_with(|f| f.include_categories = cats(&["öffentlich"]));
    let cases: [(&[&str], &FilterPolicy, bool); 10] = [
        (&[], &all, true),
        (&["Anything"], &all, true),
        (&["Public"], &public, true),
        (&["public"], &public, true),
        (&["PUBLIC"], &public, true),
        (&["Other", "outreach"], &public, true),
        (&["Other"], &public, false),
        (&[], &public, false),
        (&["ÖFFENTLICH"], &umlaut, true),
        (&["Public "], &public, false),
    ];
    for (c, f, want) in cases {
        let e = SourceEvent {
            categories: cats(c),
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert_eq!(is_public(&e, f), want, "categories {c:?}");
    }
}

#[test]
fn filter_exclude_categories() {
    let f = filter_with(|f| f.exclude_categories = cats(&["Internal", "HR"]));
    let both = filter_with(|f| {
        f.include_categories = cats(&["Public"]);
        f.exclude_categories = cats(&["Internal"]);
    });
    let cases: [(&[&str], &FilterPolicy, bool); 8] = [
        (&[], &f, true),
        (&["Public"], &f, true),
        (&["Internal"], &f, false),
        (&["INTERNAL"], &f, false),
        (&["Public", "hr"], &f, false),
        (&["Public"], &both, true),
        (&["Public", "internal"], &both, false),
        (&["Internal"], &both, false),
    ];
    for (c, f, want) in cases {
        let e = SourceEvent {
            categories: cats(c),
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert_eq!(is_public(&e, f), want, "categories {c:?}");
    }
}

#[test]
fn filter_show_as() {
    let any = FilterPolicy::default();
    let busy = filter_with(|f| f.show_as = Some(vec![ShowAs::Busy, ShowAs::Tentative]));
    let nothing = filter_with(|f| f.show_as = Some(vec![]));
    for s in ShowAs::ALL {
        let e = SourceEvent {
            show_as: s,
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert!(is_public(&e, &any), "{s:?} with no allow-list");
        assert_eq!(
            is_public(&e, &busy),
            matches!(s, ShowAs::Busy | ShowAs::Tentative),
            "{s:?}"
        );
        assert!(!is_public(&e, &nothing), "{s:?} with an empty allow-list");
    }
}

#[test]
fn filter_subject_exclude() {
    let f = filter_with(|f| {
        f.subject_exclude = Some(Regex::new(r"(?i)^canceled:|\[internal\]").unwrap())
    });
    for (subject, want) in [
        ("Town hall", true),
        ("Canceled: Town hall", false),
        ("canceled: canceled: Town hall", false),
        ("Town hall (canceled: no)", true),
        ("Budget [internal] review", false),
        ("Budget [INTERNAL]", false),
        ("", true),
    ] {
        let e = SourceEvent {
            subject: subject.into(),
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert_eq!(is_public(&e, &f), want, "{subject:?}");
        assert!(
            is_public(&e, &FilterPolicy::default()),
            "{subject:?} with no regex"
        );
    }
}

#[test]
fn filter_rules_combine_with_and() {
    let f = FilterPolicy {
        sensitivity: vec![Sensitivity::Normal],
        include_categories: cats(&["Public"]),
        exclude_categories: cats(&["Internal"]),
        skip_cancelled: true,
        show_as: Some(vec![ShowAs::Busy]),
        subject_exclude: Some(Regex::new("^Draft").unwrap()),
    };
    let good = ev("a", "2024-05-10T09:00:00Z");
    assert!(is_public(&good, &f));
    let breakers: Vec<SourceEvent> = vec![
        SourceEvent {
            sensitivity: Sensitivity::Private,
            ..good.clone()
        },
        SourceEvent {
            is_cancelled: true,
            ..good.clone()
        },
        SourceEvent {
            categories: cats(&["Other"]),
            ..good.clone()
        },
        SourceEvent {
            categories: cats(&["Public", "Internal"]),
            ..good.clone()
        },
        SourceEvent {
            show_as: ShowAs::Free,
            ..good.clone()
        },
        SourceEvent {
            subject: "Draft plan".into(),
            ..good.clone()
        },
    ];
    for (i, e) in breakers.iter().enumerate() {
        assert!(!is_public(e, &f), "breaker {i}");
    }
}
