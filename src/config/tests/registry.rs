//! The key table against itself, the loader and the example config files.

use super::*;
use crate::config::file::known_values;
use std::collections::BTreeSet;

#[test]
fn every_key_is_named_once_and_in_its_table() {
    let mut names = BTreeSet::new();
    for key in &KEYS {
        assert!(names.insert(key.name), "{} twice", key.name);
        match key.table {
            Table::Top => assert!(!key.name.contains('.'), "{}", key.name),
            t => assert_eq!(key.name, format!("{}.{}", t.name(), key.short_name())),
        }
        if let Some(var) = key.env {
            assert!(var.starts_with("CALSYNC_"), "{var}");
        }
        assert!(
            key.env.is_some() || key.seed.is_none(),
            "{}: a seed name without a CALSYNC_ name",
            key.name
        );
        assert!(!key.doc.is_empty(), "{} has no doc line", key.name);
    }
    for table in Table::ALL {
        assert!(keys_of(table).next().is_some(), "{table:?} has no key");
    }
}

#[test]
fn the_documented_defaults_are_the_defaults() {
    let env = env_of(&[]);
    let defaults = load_with(&FlagOverrides::default(), &env).unwrap();
    for key in KEYS.iter().filter(|k| k.default.is_some()) {
        let value = key.default.unwrap_or_default();
        let text = match key.table {
            Table::Top => format!("{} = {value}\n", key.name),
            t => format!("[{}]\n{} = {value}\n", t.name(), key.short_name()),
        };
        let cfg = file_with(&text);
        let s = load_with(&with_file(&cfg.path), &env)
            .unwrap_or_else(|e| panic!("{}: {e:#}", key.name));
        assert_eq!(s.origins.get(key.name), Some(&Origin::File), "{}", key.name);
        assert_eq!(
            (key.show)(&s),
            (key.show)(&defaults),
            "{}: the default is not {value}",
            key.name
        );
    }
}

#[test]
fn every_key_has_an_origin_and_a_status_place() {
    let s = load_with(&FlagOverrides::default(), &env_of(&[])).unwrap();
    for key in &KEYS {
        assert!(s.origins.contains_key(key.name), "{}", key.name);
    }
    let order: Vec<&str> = status_order().iter().map(|k| k.name).collect();
    assert_eq!(order.len(), KEYS.len());
    assert_eq!(&order[..2], ["source.kind", "source.path"]);
}

/// The config files under `examples/`.
fn example_configs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &mut out,
    );
    out
}

/// The keys a config file's text names, by their dotted names.
fn named_keys(path: &Path, text: &str) -> BTreeSet<&'static str> {
    let doc = toml::de::DeTable::parse(text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match known_values(doc.get_ref()) {
        Ok(values) => values.into_keys().collect(),
        Err(problem) => panic!("{:#}", problem.into_error(path, text)),
    }
}

/// The text with every optional setting (`#key = value`) switched on.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                }) =>
            {
                rest
            }
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_configs_name_only_known_keys() {
    let files = example_configs();
    assert!(files.len() >= 2, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        named_keys(&path, &text);
        named_keys(&path, &uncommented(&text));
    }
}

#[test]
fn the_example_config_shows_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let named = named_keys(&path, &uncommented(&text));
    let missing: Vec<&str> = KEYS
        .iter()
        .map(|k| k.name)
        .filter(|n| !named.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "examples/config.toml does not show {missing:?}"
    );
    for key in &KEYS {
        if let Some(var) = key.env {
            assert!(
                text.contains(var),
                "examples/config.toml does not name {var}"
            );
        }
    }
}

#[test]
fn hidden_knobs_read_as_before_and_ignore_bad_values() {
    let load_env = |pairs: &[(&str, &str)]| {
        load_with(&FlagOverrides::default(), &env_of(pairs))
            .unwrap()
            .hidden
    };
    assert_eq!(load_env(&[]), HiddenKnobs::default());
    let k = load_env(&[
        ("CALSYNC_TODAY", " 2026-03-01 "),
        ("CALSYNC_GRAPH_RATE_LIMIT", "60/1"),
    ]);
    assert_eq!(k.today, chrono::NaiveDate::from_ymd_opt(2026, 3, 1));
    assert_eq!(
        k.graph_rate_limit,
        Some((60, std::time::Duration::from_secs(1)))
    );
    assert_eq!(
        load_env(&[("CALSYNC_GRAPH_RATE_LIMIT", " 600 / 1.5s ")]).graph_rate_limit,
        Some((600, std::time::Duration::from_millis(1500)))
    );
    assert_eq!(
        load_env(&[("CALSYNC_GRAPH_RATE_LIMIT", "5/999999")]).graph_rate_limit,
        Some((5, std::time::Duration::from_secs(86_400)))
    );
    for bad in ["", "60", "0/1", "60/0", "-1/1", "60/x", "60/inf", "a/1"] {
        assert_eq!(
            load_env(&[("CALSYNC_GRAPH_RATE_LIMIT", bad)]).graph_rate_limit,
            None,
            "{bad:?}"
        );
    }
    for bad in ["", "2026-13-01", "01.03.2026", "tomorrow"] {
        assert_eq!(load_env(&[("CALSYNC_TODAY", bad)]).today, None, "{bad:?}");
    }
}
