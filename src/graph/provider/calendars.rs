//! Finding the calendars: the one a setting names in a mailbox, and the
//! mailbox's time zone.
//!
//! What Graph does here: docs/graph.md, Finding calendars and Time zones.

use super::*;

/// Finds the id of the calendar a setting names in a mailbox: its default
/// calendar (through `/calendar`, which a delegate can reach even where
/// listing the mailbox's calendars is refused), a calendar id (checked to
/// exist), or a display name. An unknown name is a configuration error
/// listing the names that exist.
pub async fn resolve_calendar(
    client: &GraphClient,
    mailbox: &str,
    calendar: &CalendarRef,
    role: CalendarRole,
) -> anyhow::Result<String> {
    let found = |v: Value| {
        str_field(&v, "id")
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| malformed("id"))
    };
    match calendar {
        CalendarRef::Default => {
            let path = format!("{}/calendar", mailbox_path(mailbox));
            let v = client
                .get(&path, &[("$select", "id,name")])
                .await
                .map_err(|e| classify(e, mailbox))?;
            found(v)
        }
        CalendarRef::Id(id) => {
            let path = format!("{}/calendars/{}", mailbox_path(mailbox), segment(id));
            match client.get(&path, &[("$select", "id,name")]).await {
                Ok(v) => found(v),
                Err(e)
                    if e.is_not_found()
                        || e.code.eq_ignore_ascii_case("ErrorInvalidIdMalformed") =>
                {
                    Err(anyhow::Error::new(Failure::Config(format!(
                        "The mailbox \"{mailbox}\" has no calendar with the id \"{id}\" (set by \
                         `{key}`; Graph answered {code}). Set `{key}` in the config file or {env} \
                         to `id:` and an id that `calsync doctor` lists, to `default` for the \
                         mailbox's default calendar, or to the calendar's name.",
                        key = role.key(),
                        env = role.env(),
                        code = e.code,
                    ))))
                }
                Err(e) => Err(classify(e, mailbox)),
            }
        }
        CalendarRef::Name(name) => resolve_name(client, mailbox, name, role).await,
    }
}

pub(super) async fn resolve_name(
    client: &GraphClient,
    mailbox: &str,
    name: &str,
    role: CalendarRole,
) -> anyhow::Result<String> {
    let path = format!("{}/calendars", mailbox_path(mailbox));
    let calendars = match client
        .get_all_once(
            &path,
            &[("$select", "id,name,isDefaultCalendar"), ("$top", "100")],
        )
        .await
    {
        Ok(c) => c,
        // A delegate with rights on the calendar folder only may reach a
        // calendar but not list the mailbox's calendars
        // (concepts/outlook-get-shared-events-calendars.md).
        Err(e) if e.status == Some(403) => {
            return Err(anyhow::Error::new(Failure::Auth(format!(
                "Graph refused to list the calendars of the mailbox \"{mailbox}\" ({e}), so the \
                 name \"{name}\" (`{key}`) cannot be looked up. A delegate can often reach a \
                 calendar without being allowed to list them: set `{key}` (or {env}) to \
                 `default` for the mailbox's default calendar, or to `id:` and the calendar's \
                 id (`calsync doctor`, run by an account that may list the mailbox's \
                 calendars, shows each id). Otherwise the signed-in account or the app needs \
                 access to that mailbox.",
                key = role.key(),
                env = role.env(),
            ))));
        }
        Err(e) => return Err(classify(e, mailbox)),
    };
    let wanted = name.trim();
    let mut matches = Vec::new();
    let mut names = Vec::new();
    for cal in calendars.iter() {
        let cal_name = cal.get("name").and_then(Value::as_str).unwrap_or_default();
        let id = cal.get("id").and_then(Value::as_str).unwrap_or_default();
        if cal_name.trim() == wanted && !id.is_empty() {
            matches.push(id.to_string());
        }
        let default = cal.get("isDefaultCalendar").and_then(Value::as_bool) == Some(true);
        names.push(if default {
            format!("\"{cal_name}\" (the default calendar)")
        } else {
            format!("\"{cal_name}\"")
        });
    }
    if matches.len() > 1 {
        tracing::warn!(
            calendar = wanted,
            mailbox,
            "several calendars share this name; using the first Graph lists"
        );
    }
    match matches.into_iter().next() {
        Some(id) => Ok(id),
        None => Err(anyhow::Error::new(Failure::Config(format!(
            "The mailbox \"{mailbox}\" has no calendar named \"{wanted}\" (set by `{key}`). \
             Calendars that exist: {list}. Set `{key}` in the config file or {env} to one of \
             these names (names are case-sensitive){default}.",
            key = role.key(),
            env = role.env(),
            default = match role {
                CalendarRole::Source => {
                    ", or to `default` for the mailbox's default calendar whatever its name"
                }
                CalendarRole::Target => "",
            },
            list = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
        )))),
    }
}

/// The time zone of a mailbox (`mailboxSettings.timeZone`), `None` when
/// Graph refuses to tell it (it needs `MailboxSettings.Read`:
/// `api-reference/v1.0/api/user-get-mailboxsettings.md`).
pub async fn mailbox_zone(client: &GraphClient, mailbox: &str) -> anyhow::Result<Option<String>> {
    let path = format!("{}/mailboxSettings/timeZone", mailbox_path(mailbox));
    match client.get(&path, &[]).await {
        Ok(v) => Ok(str_field(&v, "value")
            .map(str::trim)
            .filter(|z| !z.is_empty())
            .map(str::to_owned)),
        Err(e) if e.status == Some(403) || e.is_not_found() => Ok(None),
        Err(e) => Err(classify(e, mailbox)),
    }
}

/// One calendar of a mailbox, as `calsync calendars` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarInfo {
    pub id: String,
    /// As the mailbox names it: a default calendar's name is in the
    /// mailbox's language ("Calendar", "Kalender").
    pub name: String,
    /// `owner.address`, when Graph tells it.
    pub owner: Option<String>,
    /// Graph's `canEdit`: whether the signed-in account or the app may
    /// write to it (`None` when Graph does not say).
    pub can_edit: Option<bool>,
    /// Graph's `isDefaultCalendar`.
    pub default: bool,
}

/// Every calendar of a mailbox, in the order Graph lists them (all pages).
/// A refused listing is an authentication failure saying that a delegate
/// may still reach a calendar by `default` or `id:`; an unknown mailbox is
/// a configuration error naming it.
pub async fn list_calendars(
    client: &GraphClient,
    mailbox: &str,
) -> anyhow::Result<Vec<CalendarInfo>> {
    let path = format!("{}/calendars", mailbox_path(mailbox));
    let calendars = match client
        .get_all(
            &path,
            &[
                ("$select", "id,name,isDefaultCalendar,canEdit,owner"),
                ("$top", "100"),
            ],
        )
        .await
    {
        Ok(c) => c,
        Err(e) if e.status == Some(403) => {
            return Err(anyhow::Error::new(Failure::Auth(format!(
                "Graph refused to list the calendars of the mailbox \"{mailbox}\" ({e}). A \
                 delegate can often reach a calendar without being allowed to list them: \
                 `default` still names the mailbox's default calendar, and `id:` and an id \
                 names any calendar the account may open. To list them, the signed-in account \
                 or the app needs access to that mailbox (delegate or Full Access, or for an \
                 app the Calendars.ReadWrite application permission with admin consent); \
                 `calsync doctor` shows what the sign-in grants."
            ))));
        }
        Err(e) => return Err(classify(e, mailbox)),
    };
    Ok(calendars
        .iter()
        .filter_map(|c| {
            let id = str_field(c, "id").filter(|id| !id.is_empty())?;
            Some(CalendarInfo {
                id: id.to_owned(),
                name: str_field(c, "name").unwrap_or_default().to_owned(),
                owner: c
                    .get("owner")
                    .and_then(|o| o.get("address"))
                    .and_then(Value::as_str)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned),
                can_edit: c.get("canEdit").and_then(Value::as_bool),
                default: c.get("isDefaultCalendar").and_then(Value::as_bool) == Some(true),
            })
        })
        .collect())
}
