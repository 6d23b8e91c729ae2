//! The calendars: each Graph side resolved as `sync` resolves it, then read
//! back with its owner and edit right; a small read of the source; the
//! query `sync` finds its copies with; the target mailbox's time zone.

use super::report::{Cause, Check, Item, split_message};
use crate::config::{CalendarRef, Kind, Settings, SourceSpec, TargetSpec};
use crate::graph::client::{GraphClient, GraphError};
use crate::graph::provider::{CalendarRole, mailbox_path, managed_filter, marker_expand, segment};
use crate::run::sides::{resolve_role, role_calendar};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

/// What the calendar checks share.
pub struct Doctor<'a> {
    pub settings: &'a Settings,
    pub client: GraphClient,
    /// The signed-in account of a delegated sign-in, for messages.
    pub account: Option<String>,
}

/// A Graph calendar that doctor could open.
#[derive(Debug, Clone)]
pub struct Opened {
    pub mailbox: String,
    pub id: String,
    pub name: String,
}

impl Opened {
    /// `/users/{mailbox}/calendars/{id}`, the path `sync` uses.
    pub fn path(&self) -> String {
        format!(
            "{}/calendars/{}",
            mailbox_path(&self.mailbox),
            segment(&self.id)
        )
    }
}

impl Doctor<'_> {
    fn app_only(&self) -> bool {
        self.settings.uses_client_credentials()
    }

    /// Whether a mailbox is the signed-in user's own.
    fn own(&self, mailbox: &str) -> bool {
        mailbox.eq_ignore_ascii_case("me")
            || self
                .account
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(mailbox))
    }

    /// Who asks Graph, for messages: the app, or the signed-in account.
    pub fn who(&self) -> String {
        if self.app_only() {
            format!(
                "the app {}",
                self.settings.client_id.as_deref().unwrap_or_default()
            )
        } else {
            self.account
                .clone()
                .unwrap_or_else(|| "the signed-in account".to_owned())
        }
    }

    /// What to do when Graph denies access to a mailbox.
    pub fn access_fix(&self, mailbox: &str) -> String {
        if self.app_only() {
            return format!(
                "Grant the app the application permission Calendars.ReadWrite with admin \
                 consent; if an application access policy or RBAC for Applications limits the \
                 app, add {mailbox} to its scope."
            );
        }
        if mailbox.eq_ignore_ascii_case("me") {
            return "Check that the app registration has the delegated permission \
                    Calendars.ReadWrite, then run `calsync login` again."
                .to_owned();
        }
        format!(
            "Give {} access to the calendars of {mailbox} (a delegate, Full Access to the \
             mailbox, or the calendar shared with edit rights), check that the app \
             registration has the delegated permission Calendars.ReadWrite.Shared, then run \
             `calsync login` again.",
            self.who()
        )
    }

    /// A check failed by a Graph error, with its code and request-id.
    pub fn graph_failure(&self, item: Item, what: &str, e: &GraphError, mailbox: &str) -> Check {
        let (cause, fix) = if e.is_auth() {
            (Cause::Auth, self.access_fix(mailbox))
        } else {
            (Cause::Other, outage_fix())
        };
        Check::fail(item, cause, format!("{what}: {e}"), fix).with_details(error_details(e))
    }

    /// Resolves the source or target calendar as `sync` does (no cache) and
    /// reads it back.
    pub async fn calendar(&self, role: CalendarRole) -> (Check, Option<Opened>) {
        let item = item_of(role);
        if let Some(text) = not_graph(self.settings, role) {
            return (Check::info(item, text), None);
        }
        let (mailbox, calendar) = role_calendar(self.settings, role);
        let id = match resolve_role(self.settings, &self.client, role).await {
            Ok(id) => id,
            Err(e) => {
                return (
                    self.unresolved(item, role, mailbox, &calendar, &e).await,
                    None,
                );
            }
        };
        let path = match calendar {
            CalendarRef::Default => format!("{}/calendar", mailbox_path(mailbox)),
            _ => format!("{}/calendars/{}", mailbox_path(mailbox), segment(&id)),
        };
        let v = match self
            .client
            .get(
                &path,
                &[("$select", "id,name,owner,canEdit,isDefaultCalendar")],
            )
            .await
        {
            Ok(v) => v,
            Err(e) => {
                let what = format!("{calendar} of {} could not be read", shown(mailbox));
                return (self.graph_failure(item, &what, &e, mailbox), None);
            }
        };
        let found = Found::of(&v);
        let opened = Opened {
            mailbox: mailbox.to_owned(),
            id,
            name: found.name.clone(),
        };
        (judge(role, &opened, &found, &self.who()), Some(opened))
    }

    /// The check for a calendar `sync` could not resolve: an unknown name or
    /// id lists the calendars that exist (with their ids, where Graph lets
    /// them be listed); a refused listing says to name it another way.
    async fn unresolved(
        &self,
        item: Item,
        role: CalendarRole,
        mailbox: &str,
        calendar: &CalendarRef,
        err: &anyhow::Error,
    ) -> Check {
        let (key, env) = match role {
            CalendarRole::Source => ("source_calendar", "CALSYNC_SOURCE_CALENDAR"),
            CalendarRole::Target => ("target_calendar", "CALSYNC_TARGET_CALENDAR"),
        };
        let cause = Cause::of(err);
        let (finding, fix) = split_message(&format!("{err:#}"));
        match cause {
            Cause::Config => {
                let listed = self.list(mailbox).await;
                let fix = fix.unwrap_or_else(|| {
                    format!("Set {key} ({env}) to `default`, `id:` and an id, or a name.")
                });
                let check = Check::fail(item, cause, finding, fix);
                match listed {
                    Some((lines, details)) => check
                        .with_more(lines)
                        .with_details(json!({ "calendars": details })),
                    None => check,
                }
            }
            Cause::Auth => {
                let fix = match calendar {
                    CalendarRef::Name(_) => format!(
                        "Set {key} ({env}) to `default` for the mailbox's default calendar, or \
                         to `id:` followed by the calendar's id: a delegate can usually reach a \
                         calendar without being allowed to list the mailbox's calendars. \
                         Otherwise: {}",
                        self.access_fix(mailbox)
                    ),
                    _ => self.access_fix(mailbox),
                };
                Check::fail(item, cause, finding, fix)
            }
            Cause::Other => Check::fail(item, cause, format!("{err:#}"), outage_fix()),
        }
    }

    /// The mailbox's calendars, as text lines and as JSON, when Graph lists them.
    async fn list(&self, mailbox: &str) -> Option<(Vec<String>, Vec<Value>)> {
        let path = format!("{}/calendars", mailbox_path(mailbox));
        let calendars = self
            .client
            .get_all(
                &path,
                &[("$select", "id,name,isDefaultCalendar"), ("$top", "100")],
            )
            .await
            .ok()?;
        let mut lines = vec![format!("calendars of {}:", shown(mailbox))];
        let mut details = Vec::new();
        for c in &calendars {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            let id = c.get("id").and_then(Value::as_str).unwrap_or_default();
            let default = c.get("isDefaultCalendar").and_then(Value::as_bool) == Some(true);
            lines.push(format!(
                "  \"{name}\"{} id:{id}",
                if default { " (default)" } else { "" }
            ));
            details.push(json!({ "name": name, "id": id, "isDefaultCalendar": default }));
        }
        Some((lines, details))
    }

    /// A small calendarView of the source, as `sync` reads it.
    pub async fn source_readable(&self, source: &Opened) -> Check {
        let now = Utc::now();
        let (from, to) = (z(now), z(now + Duration::days(7)));
        let path = format!("{}/calendarView", source.path());
        match self
            .client
            .get(
                &path,
                &[
                    ("startDateTime", from.as_str()),
                    ("endDateTime", to.as_str()),
                    ("$top", "1"),
                    ("$select", "id"),
                ],
            )
            .await
        {
            Ok(_) => Check::ok(
                Item::SourceReadable,
                "a calendarView of the next 7 days of the source answered",
            ),
            Err(e) => self.graph_failure(
                Item::SourceReadable,
                "reading a calendarView of the source failed",
                &e,
                &source.mailbox,
            ),
        }
    }

    /// The query `sync` finds its copies in the target with.
    pub async fn marker_query(&self, target: &Opened) -> Check {
        let path = format!("{}/events", target.path());
        let (filter, expand) = (managed_filter(), marker_expand());
        match self
            .client
            .get(
                &path,
                &[
                    ("$filter", filter.as_str()),
                    ("$expand", expand.as_str()),
                    ("$select", "id"),
                    ("$top", "1"),
                ],
            )
            .await
        {
            Ok(_) => Check::ok(
                Item::MarkerQuery,
                "the target answers calsync's extended-property $filter and $expand, which \
                 sync finds its copies with",
            ),
            Err(e) if e.is_auth() => self.graph_failure(
                Item::MarkerQuery,
                "the query for calsync's copies in the target was refused",
                &e,
                &target.mailbox,
            ),
            Err(e) if e.status.is_some_and(|s| (400..500).contains(&s)) => Check::fail(
                Item::MarkerQuery,
                Cause::Other,
                format!(
                    "Graph refused the query sync finds its copies with ($filter on calsync's \
                     extended property): {e}"
                ),
                "sync cannot run against this calendar: check that target_calendar \
                 (CALSYNC_TARGET_CALENDAR) names a calendar of an Exchange Online mailbox (not \
                 a group calendar or a subscribed one), and quote the request-id to Microsoft \
                 support if it does.",
            )
            .with_details(error_details(&e)),
            Err(e) => self.graph_failure(
                Item::MarkerQuery,
                "the query for calsync's copies in the target failed",
                &e,
                &target.mailbox,
            ),
        }
    }

    /// The target mailbox's time zone, where the sign-in may read it.
    pub async fn mailbox_time_zone(&self) -> Check {
        let mailbox = self.settings.target_mailbox_or_source();
        let path = format!("{}/mailboxSettings/timeZone", mailbox_path(mailbox));
        match self.client.get(&path, &[]).await {
            Ok(v) => match v.get("value").and_then(Value::as_str) {
                Some(zone) => Check::info(
                    Item::MailboxTimeZone,
                    format!(
                        "{} is in the time zone \"{zone}\"; sync writes all-day copies midnight \
                         to midnight there",
                        shown(mailbox)
                    ),
                )
                .with_details(json!({ "mailbox": mailbox, "timeZone": zone })),
                None => Check::info(
                    Item::MailboxTimeZone,
                    format!("Graph named no time zone for {}", shown(mailbox)),
                ),
            },
            // A user's sign-in reads only their own mailbox settings: there
            // is no `.Shared` variant (api-reference/v1.0/api/user-get-mailboxsettings.md).
            Err(e) if e.status == Some(403) && !self.app_only() => Check::info(
                Item::MailboxTimeZone,
                format!(
                    "not permitted for {}: {}, so sync writes all-day copies in UTC, which \
                     Outlook shows across two days to people in other zones",
                    shown(mailbox),
                    if self.own(mailbox) {
                        "`calsync login` does not ask for MailboxSettings.Read"
                    } else {
                        "a user's sign-in may read only their own mailbox's settings"
                    }
                ),
            ),
            Err(e) if e.status == Some(403) => Check::warn(
                Item::MailboxTimeZone,
                format!(
                    "not permitted for {}, so sync writes all-day copies in UTC, which Outlook \
                     shows across two days to people in other zones",
                    shown(mailbox)
                ),
                "Grant the app the MailboxSettings.Read application permission (with admin \
                 consent), so that all-day copies are written in the mailbox's time zone.",
            ),
            Err(e) => Check::info(Item::MailboxTimeZone, format!("could not be read: {e}")),
        }
    }
}

/// What Graph says of a calendar it was asked for.
#[derive(Debug, Clone, Default)]
struct Found {
    name: String,
    owner: Option<String>,
    can_edit: Option<bool>,
    is_default: bool,
}

impl Found {
    fn of(v: &Value) -> Found {
        Found {
            name: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            owner: v
                .get("owner")
                .and_then(|o| o.get("address"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            can_edit: v.get("canEdit").and_then(Value::as_bool),
            is_default: v.get("isDefaultCalendar").and_then(Value::as_bool) == Some(true),
        }
    }
}

/// The check of a calendar read back: what it is, and for the target
/// whether `who` may write there (`canEdit`).
fn judge(role: CalendarRole, opened: &Opened, found: &Found, who: &str) -> Check {
    let (name, id, mailbox) = (&found.name, &opened.id, &opened.mailbox);
    let summary = format!(
        "\"{name}\"{} in {}, owner {}, {}; id:{id}",
        if found.is_default {
            " (the default calendar)"
        } else {
            ""
        },
        shown(mailbox),
        found.owner.as_deref().unwrap_or("not given"),
        match found.can_edit {
            Some(true) => "can edit",
            Some(false) => "cannot edit",
            None => "edit right not given",
        },
    );
    let details = json!({
        "mailbox": mailbox,
        "name": name,
        "id": id,
        "owner": found.owner,
        "canEdit": found.can_edit,
        "isDefaultCalendar": found.is_default,
    });
    let check = match (role, found.can_edit) {
        (CalendarRole::Source, _) => Check::ok(Item::SourceCalendar, summary),
        (CalendarRole::Target, Some(true)) => Check::ok(Item::TargetCalendar, summary),
        (CalendarRole::Target, Some(false)) => Check::fail(
            Item::TargetCalendar,
            Cause::Auth,
            format!("{summary}: Graph says {who} may not edit it"),
            format!(
                "Give {who} edit rights on \"{name}\" in {} (Outlook: the calendar's Sharing and \
                 permissions, Can edit), or set target_calendar (CALSYNC_TARGET_CALENDAR) to a \
                 calendar that can be edited.",
                shown(mailbox)
            ),
        ),
        (CalendarRole::Target, None) => Check::warn(
            Item::TargetCalendar,
            format!("{summary}; Graph did not say whether it can be edited"),
            "Run `calsync doctor --write-probe` to try one write.",
        ),
    };
    check.with_details(details)
}

/// A Graph error for scripts: status, code and request-id.
pub fn error_details(e: &GraphError) -> Value {
    json!({ "status": e.status, "code": e.code, "request_id": e.request_id })
}

/// What to do about an answer that says Graph is not working.
pub fn outage_fix() -> String {
    "Run `calsync doctor` again later; if it persists, check graph_url (or cloud), the network \
     and the Microsoft 365 service health, and quote the request-id in a support case."
        .to_owned()
}

/// The line for a side that is an `.ics` file, or `None` for a Graph side.
fn not_graph(settings: &Settings, role: CalendarRole) -> Option<String> {
    match role {
        CalendarRole::Source => match &settings.source {
            SourceSpec::Ics(location) => Some(format!(
                "the .ics {location} is not a Graph calendar, nothing to check"
            )),
            SourceSpec::Graph => None,
        },
        CalendarRole::Target => match &settings.target {
            TargetSpec::Ics { path, .. } => Some(format!(
                "the .ics file {} is not a Graph calendar, nothing to check",
                path.display()
            )),
            TargetSpec::Graph => None,
        },
    }
}

/// How a side is configured, for the configuration check.
pub fn side_text(settings: &Settings, role: CalendarRole) -> String {
    if let Some(text) = not_graph(settings, role) {
        return text;
    }
    let (mailbox, calendar) = role_calendar(settings, role);
    format!("{calendar} of {}", shown(mailbox))
}

/// The check of a side's calendar.
pub fn item_of(role: CalendarRole) -> Item {
    match role {
        CalendarRole::Source => Item::SourceCalendar,
        CalendarRole::Target => Item::TargetCalendar,
    }
}

/// Whether a side is a Graph calendar.
pub fn is_graph(settings: &Settings, role: CalendarRole) -> bool {
    match role {
        CalendarRole::Source => settings.source_kind() == Kind::Graph,
        CalendarRole::Target => settings.target_kind() == Kind::Graph,
    }
}

/// A mailbox as shown: `me` is the signed-in user's.
pub fn shown(mailbox: &str) -> String {
    if mailbox.eq_ignore_ascii_case("me") {
        "the signed-in user's mailbox".to_owned()
    } else {
        mailbox.to_owned()
    }
}

pub fn z(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::doctor::report::Status;

    fn opened() -> Opened {
        Opened {
            mailbox: "events@contoso.example".into(),
            id: "AAMk1".into(),
            name: "Public".into(),
        }
    }

    #[test]
    fn a_target_must_be_editable() {
        let v = json!({"id": "AAMk1", "name": "Public", "canEdit": false,
                       "owner": {"name": "Events", "address": "events@contoso.example"}});
        let found = Found::of(&v);
        let c = judge(
            CalendarRole::Target,
            &opened(),
            &found,
            "ada@contoso.example",
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.cause, Some(Cause::Auth));
        assert!(c.summary.contains("cannot edit; id:AAMk1"), "{c:?}");
        let fix = c.fix.unwrap_or_default();
        assert!(
            fix.contains("ada@contoso.example") && fix.contains("target_calendar"),
            "{fix}"
        );
        // A source need not be.
        let c = judge(
            CalendarRole::Source,
            &opened(),
            &found,
            "ada@contoso.example",
        );
        assert_eq!(c.status, Status::Ok);
        // Not said: a warning that points at the write probe.
        let found = Found::of(&json!({"id": "AAMk1", "name": "Public"}));
        let c = judge(CalendarRole::Target, &opened(), &found, "the app x");
        assert_eq!(c.status, Status::Warn);
        assert!(c.summary.contains("owner not given"), "{c:?}");
        assert!(c.fix.unwrap_or_default().contains("--write-probe"));
    }
}
