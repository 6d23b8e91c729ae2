//! Pairs: the `[[pair]]` tables of a config, each a target and its sources,
//! as [`PairSettings`] (docs/pairs.md).
//!
//! A config without `[[pair]]` is one pair named `default` whose settings are
//! exactly [`super::load`]'s. With `[[pair]]` tables, each pair's settings
//! are built by the same key table and the same rules as the top level, with
//! the pair's own keys winning over every other layer; then the pairs are
//! checked against each other (names, targets, a target read as a source).

use super::file::{LoadedFile, PairEntry, SourceEntry, line_col};
use super::load::{open, settings_for};
use super::shard::{file_identity, mailbox_identity};
use super::value::{Found, Raw};
use super::{CalendarRef, FlagOverrides, Origin, Settings, SourceSpec, TargetSpec, config_error};
use crate::error::Failure;
use crate::ics::IcsLocation;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of the one pair of a config without `[[pair]]`.
pub const DEFAULT_PAIR: &str = "default";

/// The longest name of a pair or a source.
pub const MAX_NAME_LEN: usize = 64;

/// Every pair of a config, in the order of the file.
#[derive(Debug, Clone)]
pub struct Pairs {
    pub pairs: Vec<PairSettings>,
    /// Whether they come from `[[pair]]` tables (else there is one pair,
    /// [`DEFAULT_PAIR`], from the top level).
    pub from_tables: bool,
}

/// One pair: a target and its sources, with the settings that apply to it.
#[derive(Debug, Clone)]
pub struct PairSettings {
    pub name: String,
    /// The line of its `[[pair]]` table; `None` for [`DEFAULT_PAIR`] of a
    /// config without pairs.
    pub line: Option<usize>,
    /// The settings of the pair: the top level with the pair's keys over
    /// it. With several sources, its source fields (`mailbox`,
    /// `source_calendar`, `source`) are those of the first source and
    /// `target_mailbox` is always set; [`PairSettings::source_settings`]
    /// gives each source's.
    pub settings: Settings,
    /// One source without a name (today's keys), or the entries of
    /// `sources`, in the order written: on a UID present in several, the
    /// first listed wins.
    pub sources: Vec<PairSource>,
}

/// One source of a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairSource {
    /// The name that namespaces its keys; `None` for a pair's single source,
    /// whose keys are not prefixed.
    pub name: Option<String>,
    /// The line of its entry in `sources`.
    pub line: Option<usize>,
    /// Graph: the mailbox (`None`: the signed-in user).
    pub mailbox: Option<String>,
    /// Graph: the calendar as written (`None`: the mailbox's default).
    pub calendar: Option<String>,
    pub spec: SourceSpec,
}

impl PairSettings {
    /// Where the pair keeps its lock, history and incremental state:
    /// `state_dir` itself for the pair of a config without `[[pair]]`, else
    /// `state_dir/pairs/<name>/`.
    pub fn state_dir(&self) -> PathBuf {
        match self.line {
            None => self.settings.state_dir.clone(),
            Some(_) => self.settings.state_dir.join("pairs").join(&self.name),
        }
    }

    /// The identity shards are assigned by: the target mailbox lower-cased,
    /// or the target file.
    pub fn target_identity(&self) -> String {
        match &self.settings.target {
            TargetSpec::Graph => mailbox_identity(self.settings.target_mailbox_or_source()),
            TargetSpec::Ics { path, .. } => file_identity(path),
        }
    }

    /// The settings of one run of one of the pair's sources into its
    /// target: the pair's, with that source's fields.
    pub fn source_settings(&self, source: &PairSource) -> Settings {
        let mut s = self.settings.clone();
        if source.name.is_none() {
            return s;
        }
        if source.spec == SourceSpec::Graph {
            s.mailbox.clone_from(&source.mailbox);
        } else if s.mailbox.is_none() {
            // A file reads no mailbox; the pair's mailbox is then its
            // target's, which app-only sign-in needs one of.
            s.mailbox.clone_from(&s.target_mailbox);
        }
        let (calendar, origin) = match &source.calendar {
            Some(c) => (c.clone(), Origin::File),
            None => ("Calendar".to_owned(), Origin::Default),
        };
        s.source_calendar = calendar;
        s.origins.insert("source_calendar", origin);
        s.source = source.spec.clone();
        s
    }
}

/// [`load_pairs`] with the process environment.
pub fn load_pairs_from_process(flags: &FlagOverrides) -> anyhow::Result<Pairs> {
    load_pairs(flags, &|k| std::env::var(k).ok())
}

/// Every pair of the config: the `[[pair]]` tables, or the top level as
/// the one pair [`DEFAULT_PAIR`]. Reads the config file and nothing else.
pub fn load_pairs(
    flags: &FlagOverrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Pairs> {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let (file, origins) = open(flags, &env)?;
    let Some(f) = file.as_ref().filter(|f| !f.pairs.is_empty()) else {
        let settings = settings_for(flags, &env, file.as_ref(), origins, None)?;
        return Ok(Pairs {
            pairs: vec![PairSettings {
                name: DEFAULT_PAIR.to_owned(),
                line: None,
                sources: vec![single_source(&settings)],
                settings,
            }],
            from_tables: false,
        });
    };
    let mut pairs = Vec::new();
    for (i, entry) in f.pairs.iter().enumerate() {
        let (name, line) = pair_name(f, entry, i)?;
        let label = format!("pair \"{name}\"");
        let mut settings =
            match settings_for(flags, &env, Some(f), origins.clone(), Some((entry, &label))) {
                Ok(s) => s,
                Err(e) => {
                    // An error the top level has too (a key of the whole
                    // run, such as `ping_url`) is the run's, not the pair's.
                    let top = settings_for(flags, &env, Some(f), origins.clone(), None);
                    return Err(match top {
                        Err(t) if t.to_string() == e.to_string() => t,
                        _ => in_pair(e, &label, line),
                    });
                }
            };
        let sources = match &entry.sources {
            None => vec![single_source(&settings)],
            Some((at, list)) => {
                let sources = many_sources(f, entry, *at, list, &label, &settings)?;
                let target = settings.target_mailbox_or_source().to_owned();
                settings.target_mailbox.get_or_insert(target);
                sources
            }
        };
        let mut pair = PairSettings {
            name,
            line: Some(line),
            settings,
            sources,
        };
        if pair.sources[0].name.is_some() {
            pair.settings = pair.source_settings(&pair.sources[0]);
            pair.settings.merged = pair.sources.clone();
        }
        pair.settings.pair = Some(pair.name.clone());
        pairs.push(pair);
    }
    check_pairs(&pairs, f)?;
    Ok(Pairs {
        pairs,
        from_tables: true,
    })
}

/// A message of the pair's settings that does not name the pair, named.
fn in_pair(e: anyhow::Error, label: &str, line: usize) -> anyhow::Error {
    match e.downcast_ref::<Failure>() {
        Some(Failure::Config(msg)) if !msg.contains(label) => {
            config_error(format!("In {label} (line {line}): {msg}"))
        }
        _ => e,
    }
}

fn single_source(s: &Settings) -> PairSource {
    let unset = s.origins.get("source_calendar").copied() == Some(Origin::Default);
    PairSource {
        name: None,
        line: None,
        mailbox: s.mailbox.clone(),
        calendar: (!unset).then(|| s.source_calendar.clone()),
        spec: s.source.clone(),
    }
}

/// Whether `name` is spelt as a pair's or a source's name must be: it names
/// a directory and is typed on the command line.
pub fn valid_name(name: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name.chars().all(ok)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
}

const NAME_RULE: &str = "1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter or \
                         digit";

fn line_of(f: &LoadedFile, at: usize) -> usize {
    line_col(&f.text, at).0
}

/// The pair's name and the line of its table.
fn pair_name(f: &LoadedFile, entry: &PairEntry, i: usize) -> anyhow::Result<(String, usize)> {
    let shown = f.path.display();
    let line = line_of(f, entry.at);
    let Some(value) = &entry.name else {
        return Err(config_error(format!(
            "Invalid config file {shown}, line {line}: [[pair]] number {} has no `name`, but \
             every pair needs one (it names the pair's state directory and selects it on the \
             command line). Add `name = \"…\"` ({NAME_RULE}) to it.",
            i + 1
        )));
    };
    let (vline, col) = line_col(&f.text, value.span().start);
    match value.get_ref().as_str() {
        Some(n) if valid_name(n) => Ok((n.to_owned(), line)),
        _ => {
            let found = Found {
                key: "name",
                raw: Raw::Toml(value.get_ref()),
                origin: Origin::File,
                place: format!(
                    "(in {shown}, line {vline}, column {col}, [[pair]] number {})",
                    i + 1
                ),
                fix: "Rename the pair: its name names its state directory and is typed on the \
                      command line"
                    .to_owned(),
                base: None,
                pair: true,
            };
            Err(found.bad(&format!("a pair's name: {NAME_RULE}")))
        }
    }
}

/// The entries of a pair's `sources`.
fn many_sources(
    f: &LoadedFile,
    entry: &PairEntry,
    at: usize,
    list: &[SourceEntry],
    label: &str,
    settings: &Settings,
) -> anyhow::Result<Vec<PairSource>> {
    let shown = f.path.display();
    let line = line_of(f, at);
    if let Some(key) = [
        "source_calendar",
        "source.kind",
        "source.path",
        "source.url",
    ]
    .into_iter()
    .find(|k| entry.values.contains_key(k))
    {
        let other = line_of(f, entry.values[key].span().start);
        return Err(config_error(format!(
            "Invalid config file {shown}: {label} has both `sources` (line {line}) and \
             `{key}` (line {other}), but a pair reads either one source or the list `sources`. \
             Move that source into `sources` as an entry of its own, or remove `sources`."
        )));
    }
    if list.is_empty() {
        return Err(config_error(format!(
            "Invalid config file {shown}, line {line}: `sources` of {label} is empty, so the \
             pair would read nothing and delete every copy in its target. List at least one \
             source, or remove the pair."
        )));
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let source = one_source(f, item, i, label, settings)?;
        let (Some(name), Some(at_line)) = (&source.name, source.line) else {
            return Err(anyhow::anyhow!(
                "a source of {label} was read without its name"
            ));
        };
        if let Some(first) = seen.insert(name.clone(), at_line) {
            return Err(config_error(format!(
                "Invalid config file {shown}: the sources at lines {first} and {at_line} of \
                 {label} are both named \"{name}\", but a source's name keeps its copies apart \
                 from the other sources'. Rename one of them."
            )));
        }
        out.push(source);
    }
    Ok(out)
}

/// One entry of `sources`.
fn one_source(
    f: &LoadedFile,
    item: &SourceEntry,
    i: usize,
    label: &str,
    settings: &Settings,
) -> anyhow::Result<PairSource> {
    let shown = f.path.display();
    let line = line_of(f, item.at);
    let found = |short: &'static str, key: &'static str| {
        item.values.get(short).map(|v| {
            let (vline, col) = line_col(&f.text, v.span().start);
            Found {
                key,
                raw: Raw::Toml(v.get_ref()),
                origin: Origin::File,
                place: format!(
                    "(in {shown}, line {vline}, column {col}, source number {} of {label})",
                    i + 1
                ),
                fix: format!("Correct it in {shown}"),
                base: f.path.parent(),
                pair: true,
            }
        })
    };
    let name = match found("name", "name") {
        None => {
            return Err(config_error(format!(
                "Invalid config file {shown}, line {line}: source number {} of {label} has no \
                 `name`, but each of several sources needs one: it keeps the source's copies \
                 apart from the others'. Add `name = \"…\"` ({NAME_RULE}).",
                i + 1
            )));
        }
        Some(v) => {
            let n = v.string()?;
            if !valid_name(&n) {
                return Err(v.bad(&format!("a source's name: {NAME_RULE}")));
            }
            n
        }
    };
    let kind = match found("kind", "source.kind") {
        Some(v) => v.kind()?,
        None => super::Kind::Graph,
    };
    let path = found("path", "source.path");
    let url = found("url", "source.url");
    let mailbox = found("mailbox", "mailbox");
    let calendar = found("calendar", "source_calendar");
    let wrong = |key: &str, why: &str| {
        config_error(format!(
            "Invalid config file {shown}, line {line}: source \"{name}\" of {label} sets \
             `{key}`, but {why}"
        ))
    };
    let spec = match kind {
        super::Kind::Graph => {
            if let Some(key) = [("path", &path), ("url", &url)]
                .into_iter()
                .find_map(|(k, v)| v.is_some().then_some(k))
            {
                return Err(wrong(
                    key,
                    "its `kind` is \"graph\" (the default), which reads a calendar through \
                     Microsoft Graph and no file. Set `kind = \"ics\"` to read the file, or \
                     remove the key.",
                ));
            }
            SourceSpec::Graph
        }
        super::Kind::Ics => {
            if let Some(key) = [("mailbox", &mailbox), ("calendar", &calendar)]
                .into_iter()
                .find_map(|(k, v)| v.is_some().then_some(k))
            {
                return Err(wrong(
                    key,
                    "its `kind` is \"ics\", which reads a file or a URL and no mailbox. Remove \
                     the key, or remove `kind` to read a Graph calendar.",
                ));
            }
            match (&path, &url) {
                (Some(p), None) => SourceSpec::Ics(IcsLocation::Path(p.path()?)),
                (None, Some(u)) => SourceSpec::Ics(u.ics_url()?),
                (Some(_), Some(_)) => {
                    return Err(wrong(
                        "path",
                        "`url` too, and an .ics source is one file or one URL. Remove one of \
                         them.",
                    ));
                }
                (None, None) => {
                    return Err(config_error(format!(
                        "Configuration incomplete: source \"{name}\" of {label} (in {shown}, \
                         line {line}) is of kind \"ics\" but has neither `path` nor `url`. Add \
                         `path = \"internal.ics\"` (relative to the config file) or `url = \
                         \"https://…/calendar.ics\"`."
                    )));
                }
            }
        }
    };
    let calendar = match calendar {
        Some(v) => {
            let c = v.string()?;
            if CalendarRef::parse(&c) == CalendarRef::Id(String::new()) {
                return Err(v.bad(
                    "`default`, `id:` followed by the calendar's Graph id, or the calendar's name",
                ));
            }
            Some(c)
        }
        None => None,
    };
    let mailbox = match mailbox {
        Some(v) => Some(v.string()?),
        None if spec == SourceSpec::Graph => settings.mailbox.clone(),
        None => None,
    };
    Ok(PairSource {
        name: Some(name),
        line: Some(line),
        mailbox,
        calendar,
        spec,
    })
}

/// A calendar as far as the config can tell it apart from another: two
/// equal ones are the same calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Graph { mailbox: String, calendar: String },
    File(PathBuf),
}

impl Place {
    fn graph(mailbox: Option<&str>, calendar: &CalendarRef) -> Place {
        let calendar = match calendar {
            CalendarRef::Name(n) => format!("name:{}", n.trim().to_lowercase()),
            other => other.cache_key(),
        };
        Place::Graph {
            mailbox: mailbox.unwrap_or("me").trim().to_lowercase(),
            calendar,
        }
    }

    fn file(path: &Path) -> Place {
        Place::File(path.components().collect())
    }

    fn describe(&self) -> String {
        match self {
            Place::Graph { mailbox, calendar } => {
                let c = match calendar.split_once(':') {
                    Some(("default", _)) => "the default calendar".to_owned(),
                    Some(("name", name)) => {
                        format!("the calendar named \"{name}\" (names compared without case)")
                    }
                    Some((_, id)) => format!("the calendar id:{id}"),
                    None => format!("the calendar {calendar}"),
                };
                format!("{c} of mailbox {mailbox}")
            }
            Place::File(p) => format!("the file {}", p.display()),
        }
    }
}

fn target_place(s: &Settings) -> Place {
    match &s.target {
        TargetSpec::Graph => {
            Place::graph(Some(s.target_mailbox_or_source()), &s.target_calendar_ref())
        }
        TargetSpec::Ics { path, .. } => Place::file(path),
    }
}

fn source_place(source: &PairSource) -> Option<Place> {
    match &source.spec {
        SourceSpec::Graph => {
            let calendar = source
                .calendar
                .as_deref()
                .map_or(CalendarRef::Default, CalendarRef::parse);
            Some(Place::graph(source.mailbox.as_deref(), &calendar))
        }
        SourceSpec::Ics(IcsLocation::Path(p)) => Some(Place::file(p)),
        SourceSpec::Ics(IcsLocation::Url(_)) => None,
    }
}

/// The rules between pairs: one name each, one target each, and no target
/// that is read as a source.
fn check_pairs(pairs: &[PairSettings], f: &LoadedFile) -> anyhow::Result<()> {
    let shown = f.path.display();
    let line = |p: &PairSettings| p.line.unwrap_or(0);
    for (i, b) in pairs.iter().enumerate() {
        if let Some(a) = pairs[..i].iter().find(|a| a.name == b.name) {
            return Err(config_error(format!(
                "Invalid config file {shown}: the pairs at lines {} and {} are both named \
                 \"{}\", but each pair needs its own name (it names the pair's state directory \
                 and selects it on the command line). Rename one of them.",
                line(a),
                line(b),
                b.name
            )));
        }
    }
    let targets: Vec<Place> = pairs.iter().map(|p| target_place(&p.settings)).collect();
    for (i, b) in pairs.iter().enumerate() {
        if let Some(j) = targets[..i].iter().position(|t| *t == targets[i]) {
            let a = &pairs[j];
            return Err(config_error(format!(
                "Invalid config file {shown}: pair \"{}\" (line {}) and pair \"{}\" (line {}) \
                 both write {}, so each would delete the other's copies. Give one of them \
                 another target (`target_calendar`, `target_mailbox` or `[pair.target]`), or \
                 merge them into one pair with `sources`.",
                a.name,
                line(a),
                b.name,
                line(b),
                targets[i].describe()
            )));
        }
    }
    // A page or feed is one pair's: two pairs writing it would each replace
    // the other's.
    for key in ["publish.html", "publish.json"] {
        let file = |p: &PairSettings| match key {
            "publish.html" => p.settings.publish.html.clone(),
            _ => p.settings.publish.json.clone(),
        };
        for (i, b) in pairs.iter().enumerate() {
            let Some(path) = file(b) else { continue };
            if let Some(a) = pairs[..i].iter().find(|a| file(a) == Some(path.clone())) {
                return Err(config_error(format!(
                    "Invalid config file {shown}: pair \"{}\" (line {}) and pair \"{}\" (line \
                     {}) both publish `{key}` to {}, so each run would replace the other's. \
                     Give each pair its own `{key}` in its `[pair.publish]` table.",
                    a.name,
                    line(a),
                    b.name,
                    line(b),
                    path.display()
                )));
            }
        }
    }
    for reader in pairs {
        for source in &reader.sources {
            let Some(place) = source_place(source) else {
                continue;
            };
            let Some(j) = targets.iter().position(|t| *t == place) else {
                continue;
            };
            let writer = &pairs[j];
            let which = match &source.name {
                Some(n) => format!("source \"{n}\" (line {})", source.line.unwrap_or(0)),
                None => "source".to_owned(),
            };
            let reader_is = if writer.name == reader.name {
                "its own".to_owned()
            } else {
                format!(
                    "the {which} of pair \"{}\" (line {})",
                    reader.name,
                    line(reader)
                )
            };
            return Err(config_error(format!(
                "Invalid config file {shown}: pair \"{}\" (line {}) writes {}, which is also \
                 {reader_is}{}, so calsync would copy its own copies again. Point the source \
                 at the internal calendar, or the pair's target at another calendar.",
                writer.name,
                line(writer),
                place.describe(),
                if writer.name == reader.name {
                    format!(" {which}")
                } else {
                    String::new()
                },
            )));
        }
    }
    Ok(())
}

/// The pairs one command runs: those named on the command line (every pair
/// when none is), of them those of this process's shard.
#[derive(Debug, Clone)]
pub struct Selection {
    /// In the order of the file.
    pub pairs: Vec<PairSettings>,
    /// Whether the config has `[[pair]]` tables.
    pub from_tables: bool,
    /// How many pairs the config has.
    pub total: usize,
    /// How many pairs were named (or all), before the shard took its part.
    pub named: usize,
    pub shard: super::shard::Shard,
}

impl Pairs {
    /// The pairs named in `names` (all when it is empty) that `shard`
    /// holds. A name that is no pair's is a configuration error listing the
    /// pairs.
    pub fn select(self, names: &[String], shard: super::shard::Shard) -> anyhow::Result<Selection> {
        let total = self.pairs.len();
        let known: Vec<&str> = self.pairs.iter().map(|p| p.name.as_str()).collect();
        if let Some(unknown) = names.iter().find(|n| !known.contains(&n.as_str())) {
            let listed = known
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = if self.from_tables {
                "the names of its [[pair]] tables"
            } else {
                "a config without [[pair]] tables has one pair, named \"default\""
            };
            return Err(config_error(format!(
                "Unknown pair \"{unknown}\": the config has no pair of that name. Its pairs are \
                 {listed} ({hint}); name one of them, or none to run them all."
            )));
        }
        let named: Vec<PairSettings> = self
            .pairs
            .into_iter()
            .filter(|p| names.is_empty() || names.contains(&p.name))
            .collect();
        let named_count = named.len();
        Ok(Selection {
            pairs: named
                .into_iter()
                .filter(|p| shard.holds(&p.target_identity()))
                .collect(),
            from_tables: self.from_tables,
            total,
            named: named_count,
            shard,
        })
    }
}
