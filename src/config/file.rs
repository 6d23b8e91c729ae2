//! The config file: reading it, and checking every key in it against the key
//! table, with a hint for a misspelt or misplaced key.

use super::config_error;
use super::keys::{Table, key_in, keys_of};
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
}

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
    let values = match DeTable::parse(&text) {
        Ok(doc) => known_values(doc.get_ref()),
        Err(e) => Err(Problem::Toml(e)),
    }
    .map_err(|problem| problem.into_error(path, &text))?;
    Ok(Some(LoadedFile {
        path: path.to_path_buf(),
        text,
        values,
    }))
}

/// What is wrong with a config file's text.
pub(super) enum Problem {
    /// Not TOML, or a value the TOML reader refused.
    Toml(toml::de::Error),
    /// A key the key table does not know, `at` the byte offset of its name.
    Unknown {
        table: Table,
        name: String,
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
        let Some(table) = Table::named(name.get_ref()) else {
            return Err(Problem::Unknown {
                table: Table::Top,
                name: name.get_ref().to_string(),
                at: name.span().start,
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
                });
            };
            values.insert(key.name, owned(value)?);
        }
    }
    Ok(values)
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
            Problem::Unknown { table, name, at } => {
                unknown_key(&format!("{shown}{}", place(at)), table, &name)
            }
        }
    }
}

/// The error for an unknown key `name` in `table`: the valid keys of that
/// table, and a hint when the key is misspelt or belongs elsewhere.
fn unknown_key(file_at: &str, table: Table, name: &str) -> anyhow::Error {
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
