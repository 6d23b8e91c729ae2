//! The audit trail: what each sync run changed in the target calendar
//! (README, "Audit trail").
//!
//! `changes.jsonl` (mode 0600), beside `history.jsonl`, holds one JSON
//! object per write a run applied: a create, an update or a delete, with the
//! target id, the source key, the start and the subject of the copy, and for
//! an update the fields that changed (old → new, but for the body, which is
//! named only). Each line carries the id of its run's history line. A dry
//! run records nothing; a write that failed is not recorded.
//!
//! Only what the target shows, or is given, is recorded: the payload of a
//! public event, or what a copy showed before (a copy shows only what was
//! once published). Nothing is ever read from a source event here, so a
//! non-public event leaves no trace but the fact that its copy was deleted.
//!
//! The trail follows the history's rotation: when the history drops its
//! oldest runs, their changes go too ([`prune`]).

use super::files;
use crate::fs::{FileMode, replace_file};
use crate::model::{EventPayload, EventTime};
use crate::planner::Plan;
use crate::provider::Applied;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The name of the trail in the state directory.
pub const CHANGES_FILE: &str = "changes.jsonl";

/// The trail of a state directory.
pub fn changes_path(dir: &Path) -> PathBuf {
    dir.join(CHANGES_FILE)
}

/// One write a run applied to the target calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The id of the run (its history line).
    pub run: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    pub target_id: String,
    pub source_key: String,
    /// The copy's start: as written (create, update) or as it was (delete).
    pub start: String,
    /// The copy's subject, likewise.
    pub subject: String,
    /// For an update, the fields that differ between the copy as it was and
    /// as it was rewritten.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<FieldChange>,
    /// For a delete, why (`source_gone`, `not_public`, `duplicate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One field an update changed: its name and, but for the body, its value
/// before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

impl FieldChange {
    fn of(field: &str, old: String, new: String) -> Self {
        FieldChange {
            field: field.to_string(),
            old: Some(old),
            new: Some(new),
        }
    }
}

/// The names of an update's changed fields, comma-separated (`subject,
/// start`), or `-` when none differs (the marker alone was rewritten).
pub fn changed_names(changed: &[FieldChange]) -> String {
    if changed.is_empty() {
        return "-".to_string();
    }
    changed
        .iter()
        .map(|c| c.field.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn time_text(t: &EventTime) -> String {
    crate::check::start_text(t)
}

/// The fields that differ between the copy as it was (`old`) and the
/// payload written over it (`new`). `body_known`: whether `old` holds the
/// copy's body (a full read); when it does not (the incremental state
/// keeps no body), the body is named only when no other field differs, as
/// it must then be what changed.
pub fn changed_fields(
    old: &EventPayload,
    new: &EventPayload,
    body_known: bool,
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    if old.subject != new.subject {
        out.push(FieldChange::of(
            "subject",
            old.subject.clone(),
            new.subject.clone(),
        ));
    }
    if old.start != new.start {
        out.push(FieldChange::of(
            "start",
            time_text(&old.start),
            time_text(&new.start),
        ));
    }
    if old.end != new.end {
        out.push(FieldChange::of(
            "end",
            time_text(&old.end),
            time_text(&new.end),
        ));
    }
    if old.is_all_day != new.is_all_day {
        out.push(FieldChange::of(
            "isAllDay",
            old.is_all_day.to_string(),
            new.is_all_day.to_string(),
        ));
    }
    if old.show_as != new.show_as {
        out.push(FieldChange::of(
            "showAs",
            old.show_as.as_str().to_string(),
            new.show_as.as_str().to_string(),
        ));
    }
    if old.location != new.location {
        out.push(FieldChange::of(
            "location",
            old.location.clone(),
            new.location.clone(),
        ));
    }
    if old.categories != new.categories {
        out.push(FieldChange::of(
            "categories",
            old.categories.join(", "),
            new.categories.join(", "),
        ));
    }
    let body_differs = old.body != new.body;
    if (body_known && body_differs)
        || (!body_known && out.is_empty() && !new.body.content.is_empty())
    {
        out.push(FieldChange {
            field: "body".to_string(),
            old: None,
            new: None,
        });
    }
    out
}

/// The changes a run applied: the writes of `plan` that `done` reports as
/// succeeded, in the plan's order. `old` holds, by target id, what each
/// updated copy showed before (see [`changed_fields`] for `body_known`).
pub fn changes_of(
    run_id: &str,
    plan: &Plan,
    done: &[Applied],
    old: &HashMap<String, EventPayload>,
    body_known: bool,
) -> Vec<Change> {
    let mut created: HashMap<&str, &str> = HashMap::new();
    let mut updated: HashSet<&str> = HashSet::new();
    let mut deleted: HashSet<&str> = HashSet::new();
    for d in done {
        match d {
            Applied::Created { target_id, marker } => {
                created.insert(marker.source_key.as_str(), target_id.as_str());
            }
            Applied::Updated { target_id, .. } => {
                updated.insert(target_id.as_str());
            }
            Applied::Deleted { target_id, .. } => {
                deleted.insert(target_id.as_str());
            }
        }
    }
    let mut out = Vec::new();
    for c in &plan.creates {
        if let Some(target_id) = created.get(c.key.as_str()) {
            out.push(Change {
                run: run_id.to_string(),
                action: "create".to_string(),
                target_id: (*target_id).to_string(),
                source_key: c.key.as_str().to_string(),
                start: time_text(&c.payload.start),
                subject: c.payload.subject.clone(),
                changed: Vec::new(),
                reason: None,
            });
        }
    }
    for u in &plan.updates {
        if updated.contains(u.target_id.as_str()) {
            let changed = old
                .get(&u.target_id)
                .map(|o| changed_fields(o, &u.payload, body_known))
                .unwrap_or_default();
            out.push(Change {
                run: run_id.to_string(),
                action: "update".to_string(),
                target_id: u.target_id.clone(),
                source_key: u.key.as_str().to_string(),
                start: time_text(&u.payload.start),
                subject: u.payload.subject.clone(),
                changed,
                reason: None,
            });
        }
    }
    for d in &plan.deletes {
        if deleted.contains(d.target_id.as_str()) {
            out.push(Change {
                run: run_id.to_string(),
                action: "delete".to_string(),
                target_id: d.target_id.clone(),
                source_key: d.key.as_str().to_string(),
                start: time_text(&d.start),
                subject: d.subject.clone(),
                changed: Vec::new(),
                reason: Some(d.reason.to_string()),
            });
        }
    }
    out
}

/// What the updated copies of a plan show now, by target id, from the
/// copies read (or kept) before planning.
pub fn old_copies<'a>(
    plan: &Plan,
    copies: impl IntoIterator<Item = (&'a str, &'a EventPayload)>,
) -> HashMap<String, EventPayload> {
    let wanted: HashSet<&str> = plan.updates.iter().map(|u| u.target_id.as_str()).collect();
    if wanted.is_empty() {
        return HashMap::new();
    }
    copies
        .into_iter()
        .filter(|(id, _)| wanted.contains(id))
        .map(|(id, p)| (id.to_string(), p.clone()))
        .collect()
}

/// Appends a run's changes to the trail, one line each, in one write.
/// Nothing is written when there are none. Takes the history's append lock.
pub fn append_changes(dir: &Path, changes: &[Change]) -> anyhow::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let _guard = super::history_lock(dir);
    let mut text = Vec::new();
    for c in changes {
        serde_json::to_writer(&mut text, c)?;
        text.push(b'\n');
    }
    super::append_lines(&changes_path(dir), "the audit trail", text)?;
    Ok(())
}

/// Reads the trail, oldest first, skipping lines that do not parse.
pub fn read_changes(dir: &Path) -> anyhow::Result<Vec<Change>> {
    let path = changes_path(dir);
    let text = match files::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(files::failure(&path, "the audit trail", &e)),
    };
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Drops from the trail the changes of every run not in `kept` (the runs
/// the history still holds) and lines that do not parse. The caller holds
/// the history's append lock.
pub(super) fn prune(dir: &Path, kept: &HashSet<&str>) -> anyhow::Result<()> {
    let path = changes_path(dir);
    let text = match files::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(files::failure(&path, "the audit trail", &e)),
    };
    let mut out = String::with_capacity(text.len());
    let mut dropped = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Change>(line) {
            Ok(c) if kept.contains(c.run.as_str()) => {
                out.push_str(line);
                out.push('\n');
            }
            _ => dropped = true,
        }
    }
    if !dropped {
        return Ok(());
    }
    replace_file(&path, FileMode::Private, |w| w.write_all(out.as_bytes()))
        .map_err(|e| files::failure(&path, "the audit trail", &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Body, Marker, ShowAs, SourceKey};
    use crate::planner::{Create, Delete, DeleteReason, Update};
    use chrono::{TimeZone, Utc};

    fn payload(subject: &str, hour: u32) -> EventPayload {
        EventPayload {
            subject: subject.into(),
            start: EventTime::Instant(Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap()),
            end: EventTime::Instant(Utc.with_ymd_and_hms(2026, 3, 2, hour + 1, 0, 0).unwrap()),
            is_all_day: false,
            show_as: ShowAs::Busy,
            location: String::new(),
            body: Body::default(),
            categories: Vec::new(),
        }
    }

    fn marker(key: &str) -> Marker {
        Marker {
            source_key: SourceKey::single(key),
            content_hash: "h".into(),
        }
    }

    #[test]
    fn an_update_names_the_fields_that_differ_with_old_and_new() {
        let old = payload("Town hall", 9);
        let mut new = payload("Town hall (moved)", 10);
        new.location = "Room 1".into();
        new.body.content = "agenda".into();
        let changed = changed_fields(&old, &new, true);
        let names: Vec<&str> = changed.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(names, ["subject", "start", "end", "location", "body"]);
        assert_eq!(changed[0].old.as_deref(), Some("Town hall"));
        assert_eq!(changed[0].new.as_deref(), Some("Town hall (moved)"));
        assert_eq!(changed[1].old.as_deref(), Some("2026-03-02T09:00:00Z"));
        // The body is named, never copied into the trail.
        assert_eq!(changed[4].old, None);
        assert_eq!(changed[4].new, None);
        assert_eq!(
            changed_names(&changed),
            "subject, start, end, location, body"
        );

        let mut shown = payload("x", 9);
        shown.show_as = ShowAs::Free;
        shown.is_all_day = true;
        shown.categories = vec!["Public".into()];
        let names: Vec<String> = changed_fields(&payload("x", 9), &shown, true)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(names, ["isAllDay", "showAs", "categories"]);
    }

    #[test]
    fn without_the_old_body_the_body_is_named_only_when_nothing_else_differs() {
        let mut new = payload("a", 9);
        new.body.content = "text".into();
        let names = |c: Vec<FieldChange>| c.into_iter().map(|c| c.field).collect::<Vec<_>>();
        assert_eq!(
            names(changed_fields(&payload("a", 9), &new, false)),
            ["body"]
        );
        new.subject = "b".into();
        assert_eq!(
            names(changed_fields(&payload("a", 9), &new, false)),
            ["subject"]
        );
        assert!(changed_fields(&payload("a", 9), &payload("a", 9), false).is_empty());
    }

    #[test]
    fn only_the_writes_that_succeeded_are_recorded() {
        let plan = Plan {
            creates: vec![
                Create {
                    key: SourceKey::single("s1"),
                    payload: payload("New", 9),
                    marker: marker("s1"),
                },
                Create {
                    key: SourceKey::single("s2"),
                    payload: payload("Failed", 11),
                    marker: marker("s2"),
                },
            ],
            updates: vec![Update {
                target_id: "t3".into(),
                key: SourceKey::single("s3"),
                payload: payload("Renamed", 12),
                marker: marker("s3"),
            }],
            deletes: vec![Delete {
                target_id: "t4".into(),
                key: SourceKey::single("s4"),
                start: payload("", 14).start,
                subject: "Was public".into(),
                reason: DeleteReason::NotPublic,
            }],
            ..Plan::default()
        };
        let done = vec![
            Applied::Created {
                target_id: "t1".into(),
                marker: marker("s1"),
            },
            Applied::Updated {
                target_id: "t3".into(),
                marker: marker("s3"),
            },
            Applied::Deleted {
                target_id: "t4".into(),
                key: SourceKey::single("s4"),
            },
        ];
        let old = old_copies(&plan, [("t3", &payload("Old name", 12))]);
        let changes = changes_of("r1", &plan, &done, &old, true);
        let summary: Vec<(&str, &str, &str)> = changes
            .iter()
            .map(|c| (c.action.as_str(), c.target_id.as_str(), c.subject.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("create", "t1", "New"),
                ("update", "t3", "Renamed"),
                ("delete", "t4", "Was public")
            ]
        );
        assert!(changes.iter().all(|c| c.run == "r1"));
        assert_eq!(changes[0].source_key, SourceKey::single("s1").as_str());
        assert_eq!(changed_names(&changes[1].changed), "subject");
        assert_eq!(changes[2].reason.as_deref(), Some("not_public"));
    }

    fn change(run: &str) -> Change {
        Change {
            run: run.into(),
            action: "create".into(),
            target_id: format!("t-{run}"),
            source_key: "k".into(),
            start: "2026-03-02".into(),
            subject: "s".into(),
            changed: Vec::new(),
            reason: None,
        }
    }

    #[test]
    fn the_trail_is_private_and_follows_the_history_rotation() {
        let dir = tempfile::tempdir().unwrap();
        append_changes(dir.path(), &[change("a"), change("a")]).unwrap();
        append_changes(dir.path(), &[]).unwrap();
        append_changes(dir.path(), &[change("b")]).unwrap();
        assert_eq!(read_changes(dir.path()).unwrap().len(), 3);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(changes_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        prune(dir.path(), &HashSet::from(["b"])).unwrap();
        let left = read_changes(dir.path()).unwrap();
        assert_eq!(left, [change("b")]);
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            /// The trail is a file in the state dir, which a crash may
            /// tear and anyone may edit: reading it and pruning it never
            /// panic, keep only lines that parse, and prune keeps only the
            /// runs asked for.
            #[test]
            fn a_torn_or_edited_trail_reads_and_prunes(
                cut in any::<prop::sample::Index>(),
                junk in "[ -~\n{}\"\\:,]{0,80}",
            ) {
                let dir = tempfile::tempdir().unwrap();
                append_changes(dir.path(), &[change("a"), change("b")]).unwrap();
                let text = std::fs::read_to_string(changes_path(dir.path())).unwrap();
                let at = cut.index(text.len() + 1);
                let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
                let edited = format!("{}{junk}\n{}", &text[..at], &text[at..]);
                std::fs::write(changes_path(dir.path()), edited).unwrap();
                let read = read_changes(dir.path()).unwrap();
                prop_assert!(read.len() <= 3, "{read:?}");
                prune(dir.path(), &HashSet::from(["b"])).unwrap();
                for c in read_changes(dir.path()).unwrap() {
                    prop_assert_eq!(c.run.as_str(), "b");
                }
            }
        }
    }
}
