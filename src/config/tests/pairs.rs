//! `[[pair]]` tables: the format of docs/pairs.md, its precedence, and every
//! validation error, each one paragraph naming both places.

use super::{env_of, file_with, with_file};
use crate::config::shard::{Shard, shard_of};
use crate::config::*;
use crate::error::Failure;
use crate::ics::IcsLocation;
use crate::model::Sensitivity;
use std::collections::HashMap;

fn pairs_of(text: &str, env: &[(&str, &str)]) -> (super::TempConfig, anyhow::Result<Pairs>) {
    let f = file_with(text);
    let env: HashMap<String, String> = env_of(env);
    let r = load_pairs(&with_file(&f.path), &|k| env.get(k).cloned());
    (f, r)
}

fn ok(text: &str) -> (super::TempConfig, Pairs) {
    let (f, r) = pairs_of(text, &[]);
    match r {
        Ok(p) => (f, p),
        Err(e) => panic!("expected pairs, got {e:#}"),
    }
}

/// The message of a config failure, checked to be one paragraph.
fn failure(text: &str) -> String {
    let (_f, r) = pairs_of(text, &[]);
    let err = match r {
        Ok(p) => panic!("expected a config error, got {:?}", p.pairs),
        Err(e) => e,
    };
    match err.downcast_ref::<Failure>() {
        Some(Failure::Config(msg)) => {
            assert!(!msg.contains('\n'), "not one paragraph: {msg}");
            msg.clone()
        }
        other => panic!("expected Failure::Config, got {other:?} ({err:#})"),
    }
}

const TWO_SOURCES: &str = r#"
tenant_id = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
past_days = 7

[filter]
exclude_categories = ["Internal"]

[[pair]]
name = "board"
target_mailbox = "board-public@example.org"
target_calendar = "Board (public)"
max_delete_fraction = 0.1

[[pair.sources]]
name = "chair"
mailbox = "chair@example.org"

[[pair.sources]]
name = "holidays"
kind = "ics"
path = "holidays.ics"

[pair.copy]
location = true

[pair.filter]
include_categories = ["Public"]
"#;

const MANY: &str = r#"
mailbox = "events@example.org"

[[pair]]
name = "sales"
source_calendar = "Sales"
target_mailbox = "sales-public@example.org"

[[pair]]
name = "hr"
source_calendar = "HR"
target_mailbox = "hr-public@example.org"
cutoff_days = 90

[[pair]]
name = "web"
source_calendar = "Web"
[pair.target]
kind = "ics"
path = "web.ics"
"#;

#[test]
fn no_pair_tables_is_one_default_pair_equal_to_load() {
    let text = "mailbox = \"a@example.org\"\ntarget_calendar = \"Pub\"\npast_days = 3\n\
                [filter]\nsensitivity = [\"normal\", \"personal\"]\n";
    let (f, p) = ok(text);
    assert!(!p.from_tables);
    assert_eq!(p.pairs.len(), 1);
    let pair = &p.pairs[0];
    assert_eq!(pair.name, DEFAULT_PAIR);
    assert_eq!(pair.line, None);
    let env = env_of(&[]);
    let top = load(&with_file(&f.path), &|k| env.get(k).cloned()).unwrap();
    assert_eq!(format!("{:?}", pair.settings), format!("{top:?}"));
    assert_eq!(pair.state_dir(), top.state_dir);
    assert_eq!(pair.sources.len(), 1);
    assert_eq!(pair.sources[0].name, None);
    assert_eq!(pair.sources[0].mailbox.as_deref(), Some("a@example.org"));
    assert_eq!(pair.sources[0].calendar, None);
    assert_eq!(
        pair.source_settings(&pair.sources[0]).source_calendar,
        top.source_calendar
    );
}

#[test]
fn no_file_is_one_default_pair() {
    let env = env_of(&[]);
    let p = load_pairs(&FlagOverrides::default(), &|k| env.get(k).cloned()).unwrap();
    assert_eq!(p.pairs.len(), 1);
    assert_eq!(p.pairs[0].name, "default");
}

#[test]
fn load_gives_the_top_level_of_a_file_with_pairs() {
    let f = file_with(MANY);
    let env = env_of(&[]);
    let top = load(&with_file(&f.path), &|k| env.get(k).cloned()).unwrap();
    let pairs = load_pairs(&with_file(&f.path), &|k| env.get(k).cloned()).unwrap();
    assert_eq!(top.pair, None);
    assert_eq!(top.state_dir, pairs.pairs[0].settings.state_dir);
    assert!(
        pairs
            .pairs
            .iter()
            .all(|p| p.settings.pair.as_deref() == Some(p.name.as_str()))
    );
}

#[test]
fn two_sources_into_one_target() {
    let (f, p) = ok(TWO_SOURCES);
    assert!(p.from_tables);
    let [pair] = &p.pairs[..] else {
        panic!("one pair expected")
    };
    assert_eq!(pair.name, "board");
    assert_eq!(pair.line, Some(9));
    let s = &pair.settings;
    assert_eq!(
        s.target_mailbox.as_deref(),
        Some("board-public@example.org")
    );
    assert_eq!(s.target_calendar, "Board (public)");
    assert_eq!(s.max_delete_fraction, 0.1);
    assert_eq!(s.past_days, 7, "inherited from the top level");
    // Tables merge key by key.
    assert_eq!(s.policy.filter.exclude_categories, ["Internal"]);
    assert_eq!(s.policy.filter.include_categories, ["Public"]);
    assert_eq!(s.policy.filter.sensitivity, [Sensitivity::Normal]);
    assert!(s.policy.copy.location && !s.policy.copy.body);
    let names: Vec<_> = pair.sources.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(names, [Some("chair"), Some("holidays")]);
    assert_eq!(
        pair.sources[0].mailbox.as_deref(),
        Some("chair@example.org")
    );
    assert_eq!(pair.sources[0].spec, SourceSpec::Graph);
    assert_eq!(pair.sources[0].line, Some(15));
    let dir = f.path.parent().unwrap();
    assert_eq!(
        pair.sources[1].spec,
        SourceSpec::Ics(IcsLocation::Path(dir.join("holidays.ics")))
    );
    // The pair's settings are those of its first source.
    assert_eq!(s.mailbox.as_deref(), Some("chair@example.org"));
    let second = pair.source_settings(&pair.sources[1]);
    assert_eq!(second.source, pair.sources[1].spec);
    assert_eq!(
        second.target_mailbox_or_source(),
        "board-public@example.org"
    );
    assert_eq!(pair.state_dir(), s.state_dir.join("pairs").join("board"));
    assert_eq!(pair.target_identity(), "mailbox:board-public@example.org");
}

#[test]
fn many_pairs_with_overrides() {
    let (f, p) = ok(MANY);
    let names: Vec<_> = p.pairs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["sales", "hr", "web"]);
    let lines: Vec<_> = p.pairs.iter().map(|p| p.line).collect();
    assert_eq!(lines, [Some(4), Some(9), Some(15)]);
    assert_eq!(p.pairs[0].settings.cutoff_days, 1825);
    assert_eq!(p.pairs[1].settings.cutoff_days, 90);
    assert_eq!(p.pairs[1].settings.source_calendar, "HR");
    assert_eq!(
        p.pairs[1].settings.mailbox.as_deref(),
        Some("events@example.org")
    );
    let web = &p.pairs[2].settings;
    assert_eq!(
        web.target,
        TargetSpec::Ics {
            path: f.path.parent().unwrap().join("web.ics"),
            name: "Public Calendar".to_owned()
        }
    );
    assert!(p.pairs[2].target_identity().starts_with("file:"));
    assert_eq!(p.pairs[0].sources[0].calendar.as_deref(), Some("Sales"));
}

#[test]
fn a_pair_key_wins_over_the_environment() {
    let text = "past_days = 1\n[[pair]]\nname = \"a\"\ntarget_calendar = \"P1\"\npast_days = 30\n\
                [[pair]]\nname = \"b\"\ntarget_calendar = \"P2\"\n";
    let (_f, p) = pairs_of(text, &[("CALSYNC_PAST_DAYS", "5")]);
    let p = p.unwrap();
    assert_eq!(p.pairs[0].settings.past_days, 30);
    assert_eq!(p.pairs[0].settings.origins["past_days"], Origin::File);
    // Without the key in the pair, today's precedence: the environment.
    assert_eq!(p.pairs[1].settings.past_days, 5);
    assert_eq!(
        p.pairs[1].settings.origins["past_days"],
        Origin::Env("CALSYNC_PAST_DAYS")
    );
}

#[test]
fn a_pair_source_path_wins_over_the_environment() {
    let text = "[[pair]]\nname = \"a\"\n[pair.source]\nkind = \"ics\"\npath = \"in.ics\"\n\
                [pair.target]\nkind = \"ics\"\npath = \"out.ics\"\n";
    let (f, p) = pairs_of(text, &[("CALSYNC_SOURCE_URL", "https://example.org/x.ics")]);
    let p = p.unwrap();
    assert_eq!(
        p.pairs[0].settings.source,
        SourceSpec::Ics(IcsLocation::Path(f.path.parent().unwrap().join("in.ics")))
    );
}

#[test]
fn a_misspelt_key_in_a_pair_names_the_pair_and_line() {
    let msg = failure("[[pair]]\nname = \"board\"\npast_day = 3\n");
    assert!(msg.contains("line 3, column 1"), "{msg}");
    assert!(msg.contains("pair \"board\""), "{msg}");
    assert!(msg.contains("Did you mean `past_days`?"), "{msg}");

    let msg = failure("[[pair]]\nname = \"board\"\n[pair.filter]\nsensitivty = []\n");
    assert!(
        msg.contains("line 4") && msg.contains("`filter.sensitivty`"),
        "{msg}"
    );
    assert!(msg.contains("Did you mean `sensitivity`?"), "{msg}");

    let msg = failure("[[pair]]\npast_day = 3\n");
    assert!(msg.contains("[[pair]] number 1"), "{msg}");
}

#[test]
fn a_run_key_in_a_pair_says_it_is_the_runs() {
    let msg = failure("[[pair]]\nname = \"board\"\nclient_id = \"x\"\n");
    assert!(msg.contains("set for the whole run"), "{msg}");
    let msg = failure("[[pair]]\nname = \"board\"\nstate_dir = \"/x\"\n");
    assert!(msg.contains("set for the whole run"), "{msg}");
}

#[test]
fn sources_at_the_top_level_point_at_pairs() {
    let msg = failure("sources = []\n");
    assert!(msg.contains("belongs in a [[pair]] table"), "{msg}");
}

#[test]
fn a_misspelt_key_in_a_source() {
    let msg =
        failure("[[pair]]\nname = \"board\"\n[[pair.sources]]\nname = \"a\"\ncalender = \"X\"\n");
    assert!(
        msg.contains("line 5") && msg.contains("pair \"board\""),
        "{msg}"
    );
    assert!(msg.contains("Did you mean `calendar`?"), "{msg}");
}

#[test]
fn a_bad_value_in_a_pair_names_the_pair() {
    let msg = failure("[[pair]]\nname = \"board\"\npast_days = -1\n");
    assert!(
        msg.contains("`past_days`") && msg.contains("pair \"board\""),
        "{msg}"
    );
    assert!(msg.contains("line 3"), "{msg}");
}

#[test]
fn a_cross_key_error_in_a_pair_names_the_pair() {
    let msg = failure(
        "[[pair]]\nname = \"board\"\ntarget_calendar = \"Calendar\"\nsource_calendar = \"calendar\"\n",
    );
    assert!(msg.starts_with("In pair \"board\" (line 1)"), "{msg}");
    assert!(msg.contains("onto itself"), "{msg}");
}

#[test]
fn pair_names() {
    let msg = failure("[[pair]]\ntarget_calendar = \"X\"\n");
    assert!(
        msg.contains("line 1") && msg.contains("has no `name`"),
        "{msg}"
    );
    for bad in ["\"Board\"", "\"a b\"", "\"\"", "\"-a\"", "3", "\"../x\""] {
        let msg = failure(&format!("[[pair]]\nname = {bad}\n"));
        assert!(msg.contains("a pair's name"), "{bad}: {msg}");
        assert!(msg.contains("line 2"), "{bad}: {msg}");
    }
    assert!(valid_name("board-2_x") && !valid_name(&"a".repeat(65)));
}

#[test]
fn duplicate_pair_names_name_both_lines() {
    let msg = failure(
        "[[pair]]\nname = \"a\"\ntarget_calendar = \"P1\"\n\n[[pair]]\nname = \"a\"\n\
         target_calendar = \"P2\"\n",
    );
    assert!(
        msg.contains("lines 1 and 5") && msg.contains("\"a\""),
        "{msg}"
    );
    assert!(msg.contains("Rename one"), "{msg}");
}

#[test]
fn two_pairs_writing_one_target() {
    let msg = failure(
        "mailbox = \"in@example.org\"\n[[pair]]\nname = \"a\"\nsource_calendar = \"A\"\n\
         target_mailbox = \"Pub@Example.org\"\n[[pair]]\nname = \"b\"\nsource_calendar = \"B\"\n\
         target_mailbox = \"pub@example.org\"\ntarget_calendar = \"public calendar\"\n",
    );
    assert!(
        msg.contains("pair \"a\" (line 2)") && msg.contains("pair \"b\" (line 6)"),
        "{msg}"
    );
    assert!(msg.contains("pub@example.org"), "{msg}");
    assert!(msg.contains("merge them into one pair"), "{msg}");

    let msg = failure(
        "[[pair]]\nname = \"a\"\nsource_calendar = \"A\"\n[pair.target]\nkind = \"ics\"\n\
         path = \"out.ics\"\n[[pair]]\nname = \"b\"\nsource_calendar = \"B\"\n[pair.target]\n\
         kind = \"ics\"\npath = \"./out.ics\"\n",
    );
    assert!(
        msg.contains("pair \"a\" (line 1)") && msg.contains("pair \"b\" (line 7)"),
        "{msg}"
    );
    assert!(msg.contains("out.ics"), "{msg}");
}

#[test]
fn a_target_that_is_another_pairs_source() {
    let msg = failure(
        "mailbox = \"in@example.org\"\n[[pair]]\nname = \"a\"\nsource_calendar = \"A\"\n\
         target_calendar = \"Mid\"\n[[pair]]\nname = \"b\"\nsource_calendar = \"mid\"\n\
         target_calendar = \"Out\"\n",
    );
    assert!(msg.contains("pair \"a\" (line 2) writes"), "{msg}");
    assert!(msg.contains("pair \"b\" (line 6)"), "{msg}");
}

#[test]
fn a_target_that_is_one_of_its_own_sources() {
    let msg = failure(
        "[[pair]]\nname = \"a\"\ntarget_mailbox = \"pub@example.org\"\n\
         [[pair.sources]]\nname = \"x\"\nmailbox = \"in@example.org\"\n\
         [[pair.sources]]\nname = \"y\"\nmailbox = \"PUB@example.org\"\ncalendar = \"Public Calendar\"\n",
    );
    assert!(msg.contains("its own source \"y\" (line 7)"), "{msg}");
}

#[test]
fn sources_and_a_single_source() {
    let msg = failure(
        "[[pair]]\nname = \"a\"\nsource_calendar = \"X\"\n[[pair.sources]]\nname = \"s\"\n",
    );
    assert!(
        msg.contains("both `sources`") && msg.contains("`source_calendar` (line 3)"),
        "{msg}"
    );
    let msg = failure("[[pair]]\nname = \"a\"\nsources = []\n");
    assert!(msg.contains("is empty") && msg.contains("line 3"), "{msg}");
}

#[test]
fn source_entries() {
    let msg = failure(
        "[[pair]]\nname = \"a\"\n[[pair.sources]]\nname = \"s\"\n[[pair.sources]]\nname = \"s\"\n\
         mailbox = \"x@example.org\"\n",
    );
    assert!(
        msg.contains("lines 3 and 5") && msg.contains("\"s\""),
        "{msg}"
    );
    let msg = failure("[[pair]]\nname = \"a\"\n[[pair.sources]]\nmailbox = \"x@example.org\"\n");
    assert!(
        msg.contains("has no `name`") && msg.contains("line 3"),
        "{msg}"
    );
    let msg = failure(
        "[[pair]]\nname = \"a\"\n[[pair.sources]]\nname = \"s\"\nkind = \"ics\"\nmailbox = \"x\"\n",
    );
    assert!(
        msg.contains("sets `mailbox`") && msg.contains("\"ics\""),
        "{msg}"
    );
    let msg = failure("[[pair]]\nname = \"a\"\n[[pair.sources]]\nname = \"s\"\npath = \"x.ics\"\n");
    assert!(
        msg.contains("sets `path`") && msg.contains("Set `kind = \"ics\"`"),
        "{msg}"
    );
    let msg = failure("[[pair]]\nname = \"a\"\n[[pair.sources]]\nname = \"s\"\nkind = \"ics\"\n");
    assert!(msg.contains("neither `path` nor `url`"), "{msg}");
    let msg = failure("[[pair]]\nname = \"a\"\nsources = [1]\n");
    assert!(
        msg.contains("an integer") && msg.contains("array of tables"),
        "{msg}"
    );
    let msg = failure("pair = 3\n");
    assert!(
        msg.contains("[[pair]]") && msg.contains("an integer"),
        "{msg}"
    );
}

#[test]
fn a_url_source_is_never_a_target() {
    let (_f, p) = ok(
        "[[pair]]\nname = \"a\"\ntarget_mailbox = \"pub@example.org\"\n[[pair.sources]]\n\
         name = \"feed\"\nkind = \"ics\"\nurl = \"https://example.org/x.ics\"\n",
    );
    assert!(matches!(
        p.pairs[0].sources[0].spec,
        SourceSpec::Ics(IcsLocation::Url(_))
    ));
}

#[test]
fn pairs_of_one_mailbox_share_a_shard() {
    let (_f, p) = ok(
        "mailbox = \"in@example.org\"\n[[pair]]\nname = \"a\"\nsource_calendar = \"A\"\n\
         target_mailbox = \"Pub@example.org\"\ntarget_calendar = \"One\"\n[[pair]]\nname = \"b\"\n\
         source_calendar = \"B\"\ntarget_mailbox = \"pub@EXAMPLE.org\"\ntarget_calendar = \"Two\"\n",
    );
    let ids: Vec<String> = p.pairs.iter().map(PairSettings::target_identity).collect();
    assert_eq!(ids[0], ids[1]);
    for n in 1..20 {
        assert_eq!(shard_of(&ids[0], n), shard_of(&ids[1], n));
    }
}

#[test]
fn the_keys_a_pair_may_set() {
    let per_pair: Vec<&str> = KEYS.iter().filter(|k| k.per_pair).map(|k| k.name).collect();
    for name in [
        "mailbox",
        "source_calendar",
        "target_calendar",
        "target_mailbox",
        "past_days",
        "cutoff_days",
        "max_delete_fraction",
    ] {
        assert!(per_pair.contains(&name), "{name}");
    }
    for key in &KEYS {
        // The resolver lets a flag win over every file value: a pair's key
        // wins over the command line only because no pair key has a flag.
        assert!(
            !key.per_pair || key.flag.is_none(),
            "{} has a flag",
            key.name
        );
        if key.table != Table::Top {
            assert!(
                key.per_pair,
                "every key of {} is per pair",
                key.table.header()
            );
        }
    }
    for name in [
        "client_secret",
        "state_dir",
        "dry_run",
        "run_timeout",
        "graph_url",
    ] {
        assert!(!per_pair.contains(&name), "{name} is the run's");
    }
}

#[test]
fn selection_takes_the_named_pairs_in_the_order_of_the_file() {
    let (_f, p) = ok(MANY);
    let s = p
        .select(&["web".into(), "sales".into()], Shard::ALL)
        .unwrap();
    let names: Vec<&str> = s.pairs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["sales", "web"]);
    assert_eq!((s.total, s.named), (3, 2));
    assert!(s.from_tables);
}

#[test]
fn selection_refuses_an_unknown_name_listing_the_pairs() {
    let (_f, p) = ok(MANY);
    let err = p.select(&["sale".into()], Shard::ALL).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("\"sale\"") && msg.contains("\"sales\", \"hr\", \"web\""),
        "{msg}"
    );
    assert!(matches!(
        err.downcast_ref::<Failure>(),
        Some(Failure::Config(_))
    ));
}

#[test]
fn the_shards_of_a_selection_hold_each_pair_once() {
    let (_f, p) = ok(MANY);
    let mut seen: Vec<String> = Vec::new();
    for k in 0..3 {
        let s = p.clone().select(&[], Shard { index: k, count: 3 }).unwrap();
        assert_eq!(s.named, 3);
        seen.extend(s.pairs.into_iter().map(|p| p.name));
    }
    seen.sort();
    assert_eq!(seen, ["hr", "sales", "web"]);
}

#[test]
fn a_config_without_pairs_selects_its_pair_by_the_name_default() {
    let (_f, p) = ok("mailbox = \"a@example.org\"\n");
    let s = p.clone().select(&["default".into()], Shard::ALL).unwrap();
    assert_eq!(s.pairs.len(), 1);
    assert!(!s.from_tables);
    let msg = p
        .select(&["sales".into()], Shard::ALL)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("named \"default\""), "{msg}");
}

#[test]
fn each_pair_may_publish_its_own_page_but_not_the_same_one() {
    let text = r#"
state_dir = "/tmp/calsync-test-state"
mailbox = "events@example.org"

[publish]
json = "all.json"

[[pair]]
name = "board"
source_calendar = "Board"
target_calendar = "Board (public)"
[pair.publish]
html = "board.html"
json = "board.json"

[[pair]]
name = "sales"
source_calendar = "Sales"
target_calendar = "Sales (public)"
[pair.publish]
html = "sales.html"
title = "Sales events"
"#;
    let (f, pairs) = ok(text);
    let dir = f.path.parent().unwrap();
    let board = &pairs.pairs[0].settings;
    let sales = &pairs.pairs[1].settings;
    assert_eq!(board.publish.html, Some(dir.join("board.html")));
    assert_eq!(board.publish.json, Some(dir.join("board.json")));
    assert_eq!(sales.publish.html, Some(dir.join("sales.html")));
    assert_eq!(sales.publish.json, Some(dir.join("all.json")));
    assert_eq!(sales.publish_title(), "Sales events");
    assert_eq!(board.publish_title(), "Board (public)");

    let msg = failure(&text.replace("sales.html", "board.html"));
    assert!(msg.contains("publish.html"), "{msg}");
    assert!(
        msg.contains("\"board\"") && msg.contains("\"sales\""),
        "{msg}"
    );
}

/// A config file is written by hand, and `[[pair]]` tables by the dozen:
/// whatever a file holds, reading its pairs ends without a panic, and a
/// file it refuses is a configuration error (exit 2).
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn refused_as_config(r: &anyhow::Result<Pairs>) -> bool {
        match r {
            Ok(_) => true,
            Err(e) => crate::error::code_of(e) == 2,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn any_text_reads_or_is_a_config_error(text in "\\PC{0,300}") {
            let (_f, r) = pairs_of(&text, &[]);
            prop_assert!(refused_as_config(&r), "{:#}", r.err().map(|e| format!("{e:#}")).unwrap_or_default());
        }

        #[test]
        fn a_pairs_file_edited_anywhere_reads_or_is_a_config_error(
            which in 0usize..2,
            cut in any::<prop::sample::Index>(),
            junk in "[ -~\n\\[\\]=\"{},.]{0,30}",
        ) {
            let text = [MANY, TWO_SOURCES][which];
            let at = cut.index(text.len() + 1);
            let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            let edited = format!("{}{junk}{}", &text[..at], &text[at..]);
            let (_f, r) = pairs_of(&edited, &[]);
            prop_assert!(refused_as_config(&r), "{:#}", r.err().map(|e| format!("{e:#}")).unwrap_or_default());
        }
    }
}
