//! How a Graph calendar is named in `source_calendar` and `target_calendar`.

use std::fmt;

/// How `source_calendar` or `target_calendar` names a Graph calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarRef {
    /// `default`: the mailbox's default calendar, read through
    /// `/users/{mailbox}/calendar`. Its name depends on the mailbox's
    /// language, and a delegate who may not list a mailbox's calendars can
    /// still reach it.
    Default,
    /// `id:AAMkAD…`: the calendar with this Graph id.
    Id(String),
    /// Any other value: the calendar with this display name (trimmed,
    /// case-sensitive).
    Name(String),
}

impl CalendarRef {
    /// Reads a configured value: `default`, `id:…`, else a display name.
    pub fn parse(value: &str) -> CalendarRef {
        let value = value.trim();
        if value.eq_ignore_ascii_case("default") {
            CalendarRef::Default
        } else if let Some(id) = value.strip_prefix("id:") {
            CalendarRef::Id(id.trim().to_owned())
        } else {
            CalendarRef::Name(value.to_owned())
        }
    }

    /// One canonical text per calendar reference, for the id cache.
    pub fn cache_key(&self) -> String {
        match self {
            CalendarRef::Default => "default:".to_owned(),
            CalendarRef::Id(id) => format!("id:{id}"),
            CalendarRef::Name(name) => format!("name:{name}"),
        }
    }
}

impl fmt::Display for CalendarRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalendarRef::Default => f.write_str("the default calendar"),
            CalendarRef::Id(id) => write!(f, "the calendar with id {id}"),
            CalendarRef::Name(name) => write!(f, "the calendar \"{name}\""),
        }
    }
}
