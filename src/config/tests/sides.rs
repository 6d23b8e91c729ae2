//! `[source]` and `[target]`: .ics files and URLs on either side.

use super::*;

#[test]
fn ics_sides_from_the_file_are_relative_to_it() {
    let cfg = file_with(
        r#"
state_dir = "state"
source_calendar = "Same"
target_calendar = "Same"

[source]
kind = "ICS"
path = "internal.ics"

[target]
kind = "ics"
path = "out/public.ics"
"#,
    );
    let s = load_with(&with_file(&cfg.path), &env_of(&[])).unwrap();
    let dir = cfg.path.parent().unwrap();
    assert_eq!(
        s.source,
        SourceSpec::Ics(IcsLocation::Path(dir.join("internal.ics")))
    );
    // The name defaults to target_calendar; the same calendar names on
    // both sides mean nothing when neither is Graph.
    assert_eq!(
        s.target,
        TargetSpec::Ics {
            path: dir.join("out/public.ics"),
            name: "Same".to_owned()
        }
    );
    assert_eq!(s.state_dir, dir.join("state"));
    assert!(!s.uses_graph());
    assert_eq!((s.source_kind(), s.target_kind()), (Kind::Ics, Kind::Ics));
    for key in ["source.kind", "source.path", "target.kind", "target.path"] {
        assert_eq!(s.origins[key], Origin::File, "{key}");
    }
    assert_eq!(s.origins["source.url"], Origin::Default);
    assert_eq!(s.origins["target.name"], Origin::Default);

    // Mixed sides need the Graph keys of their Graph side only.
    let cfg = file_with("[target]\nkind = \"ics\"\npath = \"p.ics\"\nname = \"Events\"\n");
    let s = load_with(&with_file(&cfg.path), &env_of(&[])).unwrap();
    assert!(s.uses_graph());
    assert_eq!(s.source, SourceSpec::Graph);
    assert!(matches!(&s.target, TargetSpec::Ics { name, .. } if name == "Events"));
}

#[test]
fn ics_sides_from_the_environment() {
    let env = env_of(&[
        ("CALSYNC_SOURCE_KIND", "ics"),
        ("CALSYNC_SOURCE_PATH", "cal/internal.ics"),
        ("CALSYNC_TARGET_KIND", "ics"),
        ("CALSYNC_TARGET_PATH", "public.ics"),
        ("CALSYNC_TARGET_NAME", "Public events"),
    ]);
    let s = load_with(&FlagOverrides::default(), &env).unwrap();
    // Relative to the working directory.
    assert_eq!(
        s.source,
        SourceSpec::Ics(IcsLocation::Path(PathBuf::from("cal/internal.ics")))
    );
    assert_eq!(
        s.target,
        TargetSpec::Ics {
            path: PathBuf::from("public.ics"),
            name: "Public events".to_owned()
        }
    );
    assert_eq!(s.origins["source.path"], Origin::Env("CALSYNC_SOURCE_PATH"));
    assert_eq!(s.origins["target.name"], Origin::Env("CALSYNC_TARGET_NAME"));

    // A URL in the environment replaces a path in the file; webcal is https.
    let cfg = file_with("[source]\nkind = \"ics\"\npath = \"internal.ics\"\n");
    let env = env_of(&[(
        "CALSYNC_SOURCE_URL",
        "webcal://calendar.example.org/feeds/secret-token/basic.ics?key=abc",
    )]);
    let s = load_with(&with_file(&cfg.path), &env).unwrap();
    let SourceSpec::Ics(IcsLocation::Url(url)) = &s.source else {
        panic!("{:?}", s.source)
    };
    assert_eq!(url.scheme(), "https");
    assert_eq!(s.origins["source.url"], Origin::Env("CALSYNC_SOURCE_URL"));
    assert_eq!(s.origins["source.path"], Origin::Default);
    let shown = IcsLocation::Url(url.clone()).to_string();
    assert!(
        !shown.contains("secret-token") && !shown.contains("abc"),
        "{shown}"
    );
    // Loopback http is fine, as for the endpoints.
    let env = env_of(&[
        ("CALSYNC_SOURCE_KIND", "ics"),
        ("CALSYNC_SOURCE_URL", "http://127.0.0.1:8080/cal.ics"),
    ]);
    load_with(&FlagOverrides::default(), &env).unwrap();
}

#[test]
fn bad_ics_sides_name_the_key_and_the_fix() {
    // (file text, words expected in the message)
    let cases: &[(&str, &[&str])] = &[
        (
            "[source]\nkind = \"caldav\"",
            &["`source.kind`", "line 2", "\"graph\"", "\"ics\""],
        ),
        (
            "[source]\nkind = \"ics\"",
            &[
                "`source.path`",
                "`source.url`",
                "[source] table",
                "config.toml",
            ],
        ),
        (
            "[source]\nkind = \"ics\"\npath = \"a.ics\"\nurl = \"https://h.example/a.ics\"",
            &[
                "`source.path`",
                "`source.url`",
                "line 3",
                "line 4",
                "Remove one",
            ],
        ),
        (
            "[source]\npath = \"a.ics\"",
            &[
                "`source.path`",
                "`source.kind`",
                "kind = \"ics\"",
                "(or CALSYNC_SOURCE_KIND=ics)",
            ],
        ),
        (
            "[source]\nkind = \"ics\"\nurl = \"http://calendar.example.org/private-SECRET/basic.ics\"",
            &["`source.url`", "loopback", "https://"],
        ),
        (
            "[source]\nkind = \"ics\"\nurl = \"internal.ics\"",
            &["`source.url`", "`source.path`"],
        ),
        (
            "[source]\nkind = \"ics\"\nurl = \"ftp://h.example/a.ics\"",
            &["`source.url`", "https://"],
        ),
        (
            "[source]\nkind = \"ics\"\nurl = \"https://me:pw@h.example/a.ics\"",
            &["`source.url`", "password"],
        ),
        (
            "[source]\nkind = \"ics\"\npath = \"\"",
            &["`source.path`", "empty"],
        ),
        (
            "[target]\nkind = \"ics\"",
            &["`target.path`", "[target] table", "public.ics"],
        ),
        (
            "[target]\nname = \"Public\"",
            &["`target.name`", "`target.kind`", "\"graph\""],
        ),
        (
            "[target]\npath = \"p.ics\"",
            &["`target.path`", "`target.kind`"],
        ),
        (
            "[source]\nkind = \"ics\"\npath = \"same.ics\"\n[target]\nkind = \"ics\"\npath = \"./same.ics\"",
            &["`source.path`", "`target.path`", "the file it reads"],
        ),
        (
            "[source]\nkind = \"ics\"\nfile = \"a.ics\"",
            &["`source.file`", "kind, path, url"],
        ),
        (
            "[target]\nkind = \"ics\"\nurl = \"https://h.example/a.ics\"",
            &["`target.url`", "kind, path, name", "`path`"],
        ),
        (
            "path = \"a.ics\"",
            &["`path`", "[source] table", "[target] table"],
        ),
        (
            "[target]\nstate_dir = \"s\"",
            &["`target.state_dir`", "top-level key"],
        ),
        ("source = \"ics\"", &["[source] table"]),
    ];
    for (text, words) in cases {
        let cfg = file_with(text);
        let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
        for w in *words {
            assert!(msg.contains(w), "{text:?}: {w:?} missing from: {msg}");
        }
        assert!(!msg.contains("SECRET") && !msg.contains("pw@"), "{msg}");
    }

    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let env_cases: &[(Pairs, &[&str])] = &[
        (
            &[("CALSYNC_TARGET_KIND", "file")],
            &["`target.kind`", "CALSYNC_TARGET_KIND"],
        ),
        (
            &[
                ("CALSYNC_SOURCE_KIND", "ics"),
                ("CALSYNC_SOURCE_PATH", "a.ics"),
                ("CALSYNC_SOURCE_URL", "https://h.example/a.ics"),
            ],
            &["CALSYNC_SOURCE_PATH", "CALSYNC_SOURCE_URL"],
        ),
        (
            &[("CALSYNC_SOURCE_KIND", "ics")],
            &["CALSYNC_SOURCE_PATH", "CALSYNC_SOURCE_URL"],
        ),
        (
            &[("CALSYNC_SOURCE_PATH", "a.ics")],
            &["`source.path`", "CALSYNC_SOURCE_KIND=ics"],
        ),
    ];
    for (pairs, words) in env_cases {
        let msg = config_failure(load_with(&FlagOverrides::default(), &env_of(pairs)));
        for w in *words {
            assert!(msg.contains(w), "{pairs:?}: {w:?} missing from: {msg}");
        }
    }
}
