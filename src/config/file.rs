//! The config file: reading it, and checking every key in it against the key
//! table, with a hint for a misspelt or misplaced key.

use super::config_error;
use super::keys::{Table, key_in, keys_of, pair_key_in};
use super::value::one_line;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::{Spanned, Value};

/// The config file as read: its values by key name (dotted for a key in a
/// table), each with its place in the text for messages.
pub(super) struct LoadedFile {
    pub(super) path: PathBuf,
    pub(super) text: String,
    pub(super) values: BTreeMap<&'static str, Spanned<Value>>,
    /// The `[[pair]]` tables, in the order of the file (docs/pairs.md).
    pub(super) pairs: Vec<PairEntry>,
}

/// One `[[pair]]` table as read: its keys checked against the key table
/// (only keys a pair may set), `name` and `sources` apart.
pub(super) struct PairEntry {
    /// The byte offset of the table.
    pub(super) at: usize,
    /// `name` as written (checked when the pairs are built).
    pub(super) name: Option<Spanned<Value>>,
    /// The pair's own values, by key name as in [`LoadedFile::values`].
    pub(super) values: BTreeMap<&'static str, Spanned<Value>>,
    /// `sources`, with the byte offset of the key.
    pub(super) sources: Option<(usize, Vec<SourceEntry>)>,
}

/// One entry of a pair's `sources`.
pub(super) struct SourceEntry {
    pub(super) at: usize,
    /// By the names of [`SOURCE_KEYS`].
    pub(super) values: BTreeMap<&'static str, Spanned<Value>>,
}

/// The keys of one entry of `sources`.
pub(super) const SOURCE_KEYS: [&str; 6] = ["name", "kind", "mailbox", "calendar", "path", "url"];

/// Reads and parses the config file. `named` says how a named file was named;
/// `None` means the default location, where a missing file is fine.
pub(super) fn read_file(path: &Path, named: Option<&str>) -> anyhow::Result<Option<LoadedFile>> {
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match named {
                None => Ok(None),
                Some(how) => Err(config_error(format!(
                    "Config file {shown} ({how}) does not exist. Fix the path, create the file, \
                     or leave out --config and CALSYNC_CONFIG to use the default \
                     ($XDG_CONFIG_HOME/calsync/config.toml)."
                ))),
            };
        }
        Err(e) => {
            return Err(config_error(format!(
                "Cannot read config file {shown}: {e}. Check that it is a readable UTF-8 text \
                 file (its permissions, and that it is not a directory)."
            )));
        }
    };
    let (values, pairs) = match DeTable::parse(&text) {
        Ok(doc) => known_values(doc.get_ref()).and_then(|values| {
            let pairs = pair_entries(doc.get_ref())?;
            Ok((values, pairs))
        }),
        Err(e) => Err(Problem::Toml(e)),
    }
    .map_err(|problem| problem.into_error(path, &text))?;
    Ok(Some(LoadedFile {
        path: path.to_path_buf(),
        text,
        values,
        pairs,
    }))
}

/// What is wrong with a config file's text.
pub(super) enum Problem {
    /// Not TOML, or a value the TOML reader refused.
    Toml(toml::de::Error),
    /// A key the key table does not know, `at` the byte offset of its name;
    /// `pair` names the `[[pair]]` table it is in, if any.
    Unknown {
        table: Table,
        name: String,
        at: usize,
        pair: Option<String>,
    },
    /// A key an entry of a pair's `sources` does not know.
    UnknownInSource {
        pair: String,
        name: String,
        at: usize,
    },
    /// A `[[pair]]` or `sources` that is not shaped as one: what it should
    /// be, in a sentence that follows "where calsync expects".
    Shape {
        what: String,
        found: String,
        at: usize,
    },
    /// A table's name with a value that is no table.
    NotATable {
        table: Table,
        found: String,
        at: usize,
    },
}

/// The values of a parsed file by key name, or the first problem found. The
/// keys are visited in the order of their names, table by table, so that
/// of several problems the same one is reported every time.
pub(super) fn known_values(
    doc: &DeTable<'_>,
) -> Result<BTreeMap<&'static str, Spanned<Value>>, Problem> {
    let mut values = BTreeMap::new();
    for (name, value) in doc {
        if let Some(key) = key_in(Table::Top, name.get_ref()) {
            values.insert(key.name, owned(value)?);
            continue;
        }
        if name.get_ref() == "pair" {
            // Read by pair_entries.
            continue;
        }
        let Some(table) = Table::named(name.get_ref()) else {
            return Err(Problem::Unknown {
                table: Table::Top,
                name: name.get_ref().to_string(),
                at: name.span().start,
                pair: None,
            });
        };
        let Some(entries) = value.get_ref().as_table() else {
            let at = value.span().start;
            return Err(Problem::NotATable {
                table,
                found: unexpected(&owned(value)?.into_inner()),
                at,
            });
        };
        for (name, value) in entries {
            let Some(key) = key_in(table, name.get_ref()) else {
                return Err(Problem::Unknown {
                    table,
                    name: name.get_ref().to_string(),
                    at: name.span().start,
                    pair: None,
                });
            };
            values.insert(key.name, owned(value)?);
        }
    }
    Ok(values)
}

/// The `[[pair]]` tables of a parsed file, each checked like the top level
/// but against the keys a pair may set; the first problem found.
pub(super) fn pair_entries(doc: &DeTable<'_>) -> Result<Vec<PairEntry>, Problem> {
    let Some((_, value)) = doc.iter().find(|(k, _)| k.get_ref() == "pair") else {
        return Ok(Vec::new());
    };
    let shape = |at: usize, found: String| Problem::Shape {
        what: "`[[pair]]` tables (an array of tables, each written under a `[[pair]]` line)"
            .to_owned(),
        found,
        at,
    };
    let Some(items) = value.get_ref().as_array() else {
        return Err(shape(
            value.span().start,
            unexpected(&owned(value)?.into_inner()),
        ));
    };
    let mut pairs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(entries) = item.get_ref().as_table() else {
            return Err(shape(
                item.span().start,
                unexpected(&owned(item)?.into_inner()),
            ));
        };
        let label = pair_label(entries, i);
        let mut pair = PairEntry {
            at: item.span().start,
            name: None,
            values: BTreeMap::new(),
            sources: None,
        };
        for (name, value) in entries {
            let unknown = |table: Table, name: &Spanned<_>| Problem::Unknown {
                table,
                name: std::borrow::Borrow::<str>::borrow(name.get_ref()).to_owned(),
                at: name.span().start,
                pair: Some(label.clone()),
            };
            match name.get_ref().as_ref() {
                "name" => pair.name = Some(owned(value)?),
                "sources" => pair.sources = Some((name.span().start, sources(value, &label)?)),
                short => {
                    if let Some(key) = pair_key_in(Table::Top, short) {
                        pair.values.insert(key.name, owned(value)?);
                        continue;
                    }
                    let table = match Table::named(short) {
                        Some(t) if keys_of(t).any(|k| k.per_pair) => t,
                        _ => return Err(unknown(Table::Top, name)),
                    };
                    let Some(inner) = value.get_ref().as_table() else {
                        return Err(Problem::NotATable {
                            table,
                            found: unexpected(&owned(value)?.into_inner()),
                            at: value.span().start,
                        });
                    };
                    for (name, value) in inner {
                        let Some(key) = pair_key_in(table, name.get_ref()) else {
                            return Err(unknown(table, name));
                        };
                        pair.values.insert(key.name, owned(value)?);
                    }
                }
            }
        }
        pairs.push(pair);
    }
    Ok(pairs)
}

/// How messages name the `i`-th (0-based) pair: `pair "board"`, or `the
/// 2nd [[pair]]` while its name is not known.
fn pair_label(entries: &DeTable<'_>, i: usize) -> String {
    match entries
        .iter()
        .find(|(k, _)| k.get_ref() == "name")
        .and_then(|(_, v)| v.get_ref().as_str())
    {
        Some(name) => format!("pair \"{}\"", super::value::shorten(name)),
        None => format!("[[pair]] number {}", i + 1),
    }
}

/// A pair's `sources`: an array of tables with the keys of [`SOURCE_KEYS`].
fn sources(value: &Spanned<DeValue<'_>>, label: &str) -> Result<Vec<SourceEntry>, Problem> {
    let shape = |at: usize, found: String| Problem::Shape {
        what: format!(
            "`sources` of {label} to be an array of tables (`[[pair.sources]]` sections, or \
             `[{{ name = \"…\", … }}, …]`)"
        ),
        found,
        at,
    };
    let Some(items) = value.get_ref().as_array() else {
        return Err(shape(
            value.span().start,
            unexpected(&owned(value)?.into_inner()),
        ));
    };
    let mut out = Vec::new();
    for item in items.iter() {
        let Some(entries) = item.get_ref().as_table() else {
            return Err(shape(
                item.span().start,
                unexpected(&owned(item)?.into_inner()),
            ));
        };
        let mut values = BTreeMap::new();
        for (name, value) in entries {
            let Some(key) = SOURCE_KEYS.iter().find(|k| **k == name.get_ref().as_ref()) else {
                return Err(Problem::UnknownInSource {
                    pair: label.to_owned(),
                    name: name.get_ref().to_string(),
                    at: name.span().start,
                });
            };
            values.insert(*key, owned(value)?);
        }
        out.push(SourceEntry {
            at: item.span().start,
            values,
        });
    }
    Ok(out)
}

/// A parsed value as a [`Value`], keeping its place in the text.
fn owned(value: &Spanned<DeValue<'_>>) -> Result<Spanned<Value>, Problem> {
    let span = value.span();
    let value =
        Value::deserialize(ValueDeserializer::from(value.clone())).map_err(Problem::Toml)?;
    Ok(Spanned::new(span, value))
}

/// What a value that should be a table is, in words: "a date-time", "an
/// array of 1 value".
fn unexpected(value: &Value) -> String {
    match value {
        Value::String(_) => "a string".to_owned(),
        Value::Integer(_) => "an integer".to_owned(),
        Value::Float(_) => "a number".to_owned(),
        Value::Boolean(_) => "true or false".to_owned(),
        Value::Datetime(_) => "a date-time".to_owned(),
        Value::Array(items) if items.len() == 1 => "an array of 1 value".to_owned(),
        Value::Array(items) => format!("an array of {} values", items.len()),
        Value::Table(_) => "a table".to_owned(),
    }
}

impl Problem {
    /// One paragraph naming the file, the line and the column.
    pub(super) fn into_error(self, path: &Path, text: &str) -> anyhow::Error {
        let shown = path.display();
        let place = |offset: usize| {
            let (line, col) = line_col(text, offset);
            format!(", line {line}, column {col}")
        };
        match self {
            Problem::Toml(e) => {
                let at = e.span().map(|s| place(s.start)).unwrap_or_default();
                let msg = one_line(e.message().trim());
                config_error(format!(
                    "Invalid config file {shown}{at}: {msg}. Fix the file so that it is valid \
                     TOML with the keys described in calsync's documentation."
                ))
            }
            Problem::NotATable { table, found, at } => {
                let at = place(at);
                config_error(format!(
                    "Invalid config file {shown}{at}: `{}` is {found}, where calsync expects \
                     the {} table. Write its keys under a `{}` line instead (the \
                     README's Configuration section lists them).",
                    table.name(),
                    table.header(),
                    table.header()
                ))
            }
            Problem::Unknown {
                table,
                name,
                at,
                pair,
            } => unknown_key(
                &format!("{shown}{}", place(at)),
                table,
                &name,
                pair.as_deref(),
            ),
            Problem::UnknownInSource { pair, name, at } => {
                let hint = closest(&name, &SOURCE_KEYS)
                    .map(|c| format!(" Did you mean `{c}`?"))
                    .unwrap_or_default();
                config_error(format!(
                    "Invalid config file {shown}{}: unknown key `{name}` in a source of {pair}.\
                     {hint} Valid keys of an entry of `sources` are: {}. Remove or rename it \
                     (keys are case-sensitive).",
                    place(at),
                    SOURCE_KEYS.join(", ")
                ))
            }
            Problem::Shape { what, found, at } => config_error(format!(
                "Invalid config file {shown}{}: found {found}, where calsync expects {what}. \
                 Write it as docs/pairs.md shows.",
                place(at)
            )),
        }
    }
}

/// The error for an unknown key `name` in `table`: the valid keys of that
/// table, and a hint when the key is misspelt or belongs elsewhere.
fn unknown_key(file_at: &str, table: Table, name: &str, pair: Option<&str>) -> anyhow::Error {
    if let Some(pair) = pair {
        return unknown_pair_key(file_at, table, name, pair);
    }
    let valid: Vec<&str> = match table {
        Table::Top => keys_of(Table::Top)
            .map(|k| k.name)
            .chain(Table::ALL.into_iter().map(Table::header))
            .filter(|v| !v.is_empty())
            .collect(),
        _ => keys_of(table).map(|k| k.short_name()).collect(),
    };
    let dotted = match table {
        Table::Top => name.to_owned(),
        _ => format!("{}.{name}", table.name()),
    };
    let mut hint = String::new();
    if let Some(close) = closest(name, &valid) {
        hint = format!(" Did you mean `{close}`?");
    }
    if table != Table::Top && key_in(Table::Top, name).is_some() {
        hint = format!(
            " `{name}` is a top-level key: move it above the first [table] header, because \
             every key after [filter] or [copy] belongs to that table."
        );
    } else if table == Table::Top
        && let Some(home) = Table::ALL
            .into_iter()
            .find(|t| *t != Table::Top && key_in(*t, name).is_some())
    {
        hint = match home {
            Table::Source => format!(
                " `{name}` belongs in the [source] table (where events are read from) or the \
                 [target] table (where the copies go)."
            ),
            _ => format!(" `{name}` belongs in the {} table.", home.header()),
        };
    } else if table == Table::Top && (name == "sources" || name == "name") {
        hint = format!(" `{name}` belongs in a [[pair]] table (docs/pairs.md).");
    } else if table == Table::Target && name == "url" {
        hint = " A target is a file calsync writes: give its `path`; publish the file with \
                a web server for subscribers."
            .to_owned();
    }
    config_error(format!(
        "Invalid config file {file_at}: unknown key `{dotted}`.{hint} Valid keys {}are: {}. \
         Remove or rename it (keys are case-sensitive).",
        match table {
            Table::Top => "at the top level ".to_owned(),
            _ => format!("in {} ", table.header()),
        },
        valid.join(", "),
    ))
}

/// The error for an unknown key `name` in `table` of a `[[pair]]` table:
/// the keys a pair may set there, and a hint when the key is misspelt or
/// is the run's rather than the pair's.
fn unknown_pair_key(file_at: &str, table: Table, name: &str, pair: &str) -> anyhow::Error {
    let valid: Vec<String> = match table {
        Table::Top => ["name", "sources"]
            .into_iter()
            .map(str::to_owned)
            .chain(
                keys_of(Table::Top)
                    .filter(|k| k.per_pair)
                    .map(|k| k.name.to_owned()),
            )
            .chain(
                Table::ALL
                    .into_iter()
                    .filter(|t| *t != Table::Top && keys_of(*t).any(|k| k.per_pair))
                    .map(|t| format!("[pair.{}]", t.name())),
            )
            .collect(),
        _ => keys_of(table)
            .filter(|k| k.per_pair)
            .map(|k| k.short_name().to_owned())
            .collect(),
    };
    let (dotted, header) = match table {
        Table::Top => (name.to_owned(), "[[pair]]".to_owned()),
        _ => (
            format!("{}.{name}", table.name()),
            format!("[pair.{}]", table.name()),
        ),
    };
    let refs: Vec<&str> = valid.iter().map(String::as_str).collect();
    let mut hint = closest(name, &refs)
        .map(|c| format!(" Did you mean `{c}`?"))
        .unwrap_or_default();
    if key_in(table, name).is_some() || (table == Table::Top && Table::named(name).is_some()) {
        hint = format!(
            " `{dotted}` is set for the whole run, not per pair: move it above the first \
             [[pair]] table."
        );
    } else if table != Table::Top && pair_key_in(Table::Top, name).is_some() {
        hint = format!(
            " `{name}` is a key of the pair itself: move it above the pair's first \
             [pair.…] table."
        );
    }
    config_error(format!(
        "Invalid config file {file_at}: unknown key `{dotted}` in {pair}.{hint} Valid keys in \
         {header} are: {}. Remove or rename it (keys are case-sensitive).",
        valid.join(", "),
    ))
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The valid name closest to a misspelt one, if it is close: at most two
/// edits away, or a quarter of the name's length for a long name.
fn closest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (strsim::levenshtein(name, v.trim_matches(['[', ']'])), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}
