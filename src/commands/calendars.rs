//! `calsync calendars`: a mailbox's calendars, to choose `source_calendar`
//! and `target_calendar`.
//!
//! Without `--mailbox`, the mailboxes of the selected pairs' sides are
//! listed (each once), and each `.ics` side is described: how many events
//! it holds, its time zones and the dates its events span.

use super::{Context, print_stdout, report_problem, runtime};
use crate::cli::{CalendarsArgs, PairArgs};
use crate::config::{CalendarRef, Settings, SourceSpec, TargetSpec};
use crate::error::code_of;
use crate::graph::client::GraphClient;
use crate::graph::provider::{CalendarInfo, list_calendars};
use crate::ics::{IcsLocation, IcsSource, parse_events};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::ExitCode;

/// A mailbox to list, with the calendars the config names in it.
struct Wanted {
    mailbox: String,
    /// The settings that reach it (sign-in, Graph root).
    settings: Settings,
    /// (role, how the config names the calendar).
    named: Vec<(&'static str, CalendarRef)>,
}

/// A mailbox's calendars, each with its role in the config.
type Listed = (String, Vec<(CalendarInfo, Option<String>)>);

/// An `.ics` side to describe.
struct File {
    role: &'static str,
    location: IcsLocation,
    /// A target file that does not exist yet is an empty calendar.
    target: bool,
}

pub fn run(ctx: &Context, args: &CalendarsArgs) -> anyhow::Result<ExitCode> {
    let selection = ctx.selection(&PairArgs {
        pairs: args.pairs.clone(),
        ..Default::default()
    })?;
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut files: Vec<File> = Vec::new();
    match &args.mailbox {
        Some(m) => {
            let settings = match selection.pairs.first() {
                Some(p) => p.settings.clone(),
                None => ctx.settings()?,
            };
            let mut w = Wanted {
                mailbox: m.trim().to_owned(),
                settings: settings.clone(),
                named: Vec::new(),
            };
            for p in &selection.pairs {
                if p.settings.merged.is_empty() {
                    named_in(&p.settings, &mut w);
                } else {
                    for src in &p.settings.merged {
                        named_in(&p.source_settings(src), &mut w);
                    }
                }
            }
            wanted.push(w);
        }
        None => {
            for pair in &selection.pairs {
                let s = &pair.settings;
                let sources: Vec<Settings> = if s.merged.is_empty() {
                    vec![s.clone()]
                } else {
                    s.merged
                        .iter()
                        .map(|src| pair.source_settings(src))
                        .collect()
                };
                for src in &sources {
                    match &src.source {
                        SourceSpec::Graph => add(
                            &mut wanted,
                            src,
                            src.mailbox_or_me(),
                            ("source", src.source_calendar_ref()),
                        ),
                        SourceSpec::Ics(location) => add_file(
                            &mut files,
                            File {
                                role: "source",
                                location: location.clone(),
                                target: false,
                            },
                        ),
                    }
                }
                match &s.target {
                    TargetSpec::Graph => add(
                        &mut wanted,
                        s,
                        s.target_mailbox_or_source(),
                        ("target", s.target_calendar_ref()),
                    ),
                    TargetSpec::Ics { path, .. } => add_file(
                        &mut files,
                        File {
                            role: "target",
                            location: IcsLocation::Path(path.clone()),
                            target: true,
                        },
                    ),
                }
            }
        }
    }

    let rt = runtime()?;
    let mut clients: Vec<(String, GraphClient)> = Vec::new();
    let mut problems: Vec<anyhow::Error> = Vec::new();
    let mut listed: Vec<Listed> = Vec::new();
    for w in &wanted {
        let result = client_for(&mut clients, &w.settings)
            .and_then(|client| rt.block_on(list_calendars(&client, &w.mailbox)));
        match result {
            Ok(cals) => {
                let roles = mark(&cals, &w.named);
                listed.push((w.mailbox.clone(), cals.into_iter().zip(roles).collect()));
            }
            Err(e) => problems.push(e),
        }
    }
    let mut described = Vec::new();
    let window = selection
        .pairs
        .first()
        .map(|p| crate::run::window(&p.settings));
    for f in &files {
        match window.as_ref().map(|w| rt.block_on(describe(f, w))) {
            Some(Ok(d)) => described.push(d),
            Some(Err(e)) => problems.push(e),
            None => {}
        }
    }
    if listed.is_empty() && described.is_empty() {
        if let Some(e) = problems.into_iter().next() {
            return Err(e);
        }
        print_stdout(if args.json {
            "{\n  \"mailboxes\": [],\n  \"files\": []\n}\n"
        } else {
            "No calendar to list: the selected pairs name no mailbox and no file.\n"
        })?;
        return Ok(ExitCode::SUCCESS);
    }

    if args.json {
        let doc = json!({
            "mailboxes": listed.iter().map(|(mailbox, cals)| json!({
                "mailbox": mailbox,
                "calendars": cals.iter().map(|(c, role)| {
                    let mut v = json!({
                        "name": c.name,
                        "id": c.id,
                        "owner": c.owner,
                        "can_edit": c.can_edit,
                        "default": c.default,
                    });
                    if let (Some(role), Some(o)) = (role, v.as_object_mut()) {
                        o.insert("role".into(), Value::from(role.as_str()));
                    }
                    v
                }).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "files": described.iter().map(FileSummary::json).collect::<Vec<_>>(),
        });
        print_stdout(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
    } else {
        let mut out = String::new();
        for (i, (mailbox, cals)) in listed.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&table(mailbox, cals));
        }
        for (i, d) in described.iter().enumerate() {
            if i > 0 || !listed.is_empty() {
                out.push('\n');
            }
            out.push_str(&d.text());
        }
        print_stdout(&out)?;
    }

    let mut code = 0;
    for e in &problems {
        let c = code_of(e);
        if code == 0 {
            code = c;
        }
        report_problem(ctx, &format!("{e:#}"), c);
    }
    Ok(ExitCode::from(code))
}

/// The calendars the config names in `w`'s mailbox.
fn named_in(s: &Settings, w: &mut Wanted) {
    let source = ("source", s.source_calendar_ref());
    if s.source == SourceSpec::Graph
        && s.mailbox_or_me().eq_ignore_ascii_case(&w.mailbox)
        && !w.named.contains(&source)
    {
        w.named.push(source);
    }
    if s.target == TargetSpec::Graph
        && s.target_mailbox_or_source()
            .eq_ignore_ascii_case(&w.mailbox)
    {
        w.named.push(("target", s.target_calendar_ref()));
    }
}

/// Adds a mailbox once (ignoring case), with the calendar named in it.
fn add(
    wanted: &mut Vec<Wanted>,
    settings: &Settings,
    mailbox: &str,
    named: (&'static str, CalendarRef),
) {
    let at = match wanted
        .iter()
        .position(|w| w.mailbox.eq_ignore_ascii_case(mailbox))
    {
        Some(at) => at,
        None => {
            wanted.push(Wanted {
                mailbox: mailbox.to_owned(),
                settings: settings.clone(),
                named: Vec::new(),
            });
            wanted.len() - 1
        }
    };
    if let Some(w) = wanted.get_mut(at)
        && !w.named.contains(&named)
    {
        w.named.push(named);
    }
}

fn add_file(files: &mut Vec<File>, file: File) {
    if !files
        .iter()
        .any(|f| f.location == file.location && f.role == file.role)
    {
        files.push(file);
    }
}

/// One Graph client per sign-in (tenant, app, Graph root).
fn client_for(
    clients: &mut Vec<(String, GraphClient)>,
    settings: &Settings,
) -> anyhow::Result<GraphClient> {
    settings.require_graph()?;
    let key = format!(
        "{:?}|{:?}|{}|{}",
        settings.tenant_id,
        settings.client_id,
        settings.uses_client_credentials(),
        settings.graph_base()
    );
    if let Some((_, c)) = clients.iter().find(|(k, _)| *k == key) {
        return Ok(c.clone());
    }
    let client = crate::run::sides::graph_client(settings)?;
    clients.push((key, client.clone()));
    Ok(client)
}

/// The role of each calendar the config names (`source`, `target`, or
/// `source+target`); a name matches the first calendar Graph lists with it,
/// as `sync` resolves it.
fn mark(cals: &[CalendarInfo], named: &[(&'static str, CalendarRef)]) -> Vec<Option<String>> {
    let mut roles: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); cals.len()];
    for (role, calendar) in named {
        let at = match calendar {
            CalendarRef::Default => cals.iter().position(|c| c.default),
            CalendarRef::Id(id) => cals.iter().position(|c| c.id == *id),
            CalendarRef::Name(n) => cals.iter().position(|c| c.name.trim() == n.trim()),
        };
        if let Some(r) = at.and_then(|at| roles.get_mut(at)) {
            r.insert(role);
        }
    }
    roles
        .into_iter()
        .map(|r| {
            // "source" sorts before "target".
            (!r.is_empty()).then(|| r.into_iter().collect::<Vec<_>>().join("+"))
        })
        .collect()
}

/// The text table of one mailbox.
fn table(mailbox: &str, cals: &[(CalendarInfo, Option<String>)]) -> String {
    let mut out = format!("Calendars of {mailbox}:\n");
    if cals.is_empty() {
        out.push_str("  (none)\n");
        return out;
    }
    let rows: Vec<[String; 6]> = cals
        .iter()
        .map(|(c, role)| {
            [
                c.name.clone(),
                if c.default { "default" } else { "" }.to_owned(),
                match c.can_edit {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "?",
                }
                .to_owned(),
                c.owner.clone().unwrap_or_else(|| "-".to_owned()),
                role.clone().unwrap_or_default(),
                format!("id:{}", c.id),
            ]
        })
        .collect();
    let head = ["NAME", "DEFAULT", "CAN EDIT", "OWNER", "ROLE", "ID"];
    let mut widths = head.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::from(" ");
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            l.push(' ');
            l.push_str(cell);
            if i + 1 < cells.len() {
                l.push_str(&" ".repeat(w - cell.chars().count() + 1));
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    out.push_str(&line(&head.map(str::to_owned)));
    for r in &rows {
        out.push_str(&line(r));
    }
    out
}

/// What an `.ics` side holds.
struct FileSummary {
    role: &'static str,
    location: String,
    exists: bool,
    /// `VEVENT` components in the file.
    components: usize,
    /// Instances that start in the sync window, as `sync` reads them.
    events: usize,
    unreadable: usize,
    zones: Vec<String>,
    first: Option<String>,
    last: Option<String>,
    window: (String, String),
}

impl FileSummary {
    fn json(&self) -> Value {
        json!({
            "role": self.role,
            "location": self.location,
            "exists": self.exists,
            "vevents": self.components,
            "events": self.events,
            "unreadable": self.unreadable,
            "time_zones": self.zones,
            "first": self.first,
            "last": self.last,
            "window": {"start": self.window.0, "end": self.window.1},
        })
    }

    fn text(&self) -> String {
        let mut out = format!("The {} file {}:\n", self.role, self.location);
        if !self.exists {
            out.push_str("  does not exist yet; `calsync sync` creates it\n");
            return out;
        }
        let _ = writeln!(
            out,
            "  {} event{} (VEVENT components); {} instance{} in the sync window {} to {}",
            self.components,
            if self.components == 1 { "" } else { "s" },
            self.events,
            if self.events == 1 { "" } else { "s" },
            self.window.0,
            self.window.1,
        );
        if let (Some(first), Some(last)) = (&self.first, &self.last) {
            let _ = writeln!(out, "  dates: {first} to {last}");
        }
        if self.unreadable > 0 {
            let _ = writeln!(
                out,
                "  {} event{} cannot be read (`calsync validate` names them)",
                self.unreadable,
                if self.unreadable == 1 { "" } else { "s" }
            );
        }
        let _ = writeln!(
            out,
            "  time zones: {}",
            if self.zones.is_empty() {
                "none (UTC or floating times only)".to_owned()
            } else {
                self.zones.join(", ")
            }
        );
        out
    }
}

/// Reads an `.ics` side with calsync's own reader.
async fn describe(f: &File, window: &crate::model::Window) -> anyhow::Result<FileSummary> {
    let location = f.location.to_string();
    let window_dates = (
        window.start.date_naive().to_string(),
        window.end.date_naive().to_string(),
    );
    let mut summary = FileSummary {
        role: f.role,
        location: location.clone(),
        exists: true,
        components: 0,
        events: 0,
        unreadable: 0,
        zones: Vec::new(),
        first: None,
        last: None,
        window: window_dates,
    };
    if f.target
        && let IcsLocation::Path(p) = &f.location
        && !p.exists()
    {
        summary.exists = false;
        return Ok(summary);
    }
    let bytes = IcsSource::new(f.location.clone()).fetch().await?;
    let read = parse_events(&bytes, window, &location).map_err(anyhow::Error::new)?;
    let (components, zones) = scan(&bytes);
    summary.components = components;
    summary.zones = zones;
    summary.events = read.events.len();
    summary.unreadable = read.unreadable.len();
    let starts = read.events.iter().map(|e| e.start.as_utc());
    summary.first = starts.clone().min().map(|t| t.date_naive().to_string());
    summary.last = starts.max().map(|t| t.date_naive().to_string());
    Ok(summary)
}

/// The number of `VEVENT`s and the `TZID`s a file names (in `VTIMEZONE`s
/// and in `TZID=` parameters), in the order first seen.
fn scan(bytes: &[u8]) -> (usize, Vec<String>) {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(raw.to_owned()),
        }
    }
    let mut events = 0;
    let mut zones: Vec<String> = Vec::new();
    let mut note = |z: &str| {
        let z = z.trim().trim_matches('"');
        if !z.is_empty() && !zones.iter().any(|k| k == z) {
            zones.push(z.to_owned());
        }
    };
    for l in &lines {
        let Some((head, value)) = l.split_once(':') else {
            continue;
        };
        let mut parts = head.split(';');
        let name = parts.next().unwrap_or_default();
        if name.eq_ignore_ascii_case("BEGIN") && value.trim().eq_ignore_ascii_case("VEVENT") {
            events += 1;
        } else if name.eq_ignore_ascii_case("TZID") {
            note(value);
        }
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.eq_ignore_ascii_case("TZID")
            {
                note(v);
            }
        }
    }
    (events, zones)
}
