//! The filter policy (which source events are public) and the copy policy
//! (which fields of a public event are copied): the `[filter]` and `[copy]`
//! tables of the configuration.

use crate::model::{Sensitivity, ShowAs, SourceEvent};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Which source events count as public.
#[derive(Debug, Clone)]
pub struct FilterPolicy {
    /// Sensitivities that count as public; default `[Normal]`.
    pub sensitivity: Vec<Sensitivity>,
    /// When non-empty, an event must carry at least one of these categories.
    pub include_categories: Vec<String>,
    /// An event carrying any of these categories is not public.
    pub exclude_categories: Vec<String>,
    /// Cancelled events are not public (default true).
    pub skip_cancelled: bool,
    /// When set, only events whose show-as is listed are public.
    pub show_as: Option<Vec<ShowAs>>,
    /// Events whose subject matches are not public.
    pub subject_exclude: Option<Regex>,
}

impl Default for FilterPolicy {
    fn default() -> Self {
        FilterPolicy {
            sensitivity: vec![Sensitivity::Normal],
            include_categories: Vec::new(),
            exclude_categories: Vec::new(),
            skip_cancelled: true,
            show_as: None,
            subject_exclude: None,
        }
    }
}

/// Which optional fields of a public event are copied. Subject, start, end,
/// all-day flag and show-as are always copied; attendees, organizer, online
/// meeting data and attachments never are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyPolicy {
    pub location: bool,
    pub body: bool,
    pub categories: bool,
}

/// Filter and copy policy together.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub filter: FilterPolicy,
    pub copy: CopyPolicy,
}

/// Why a source event is not public: the first filter rule it fails.
/// Reports count skipped events by it, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The source could not read the event (a broken `.ics` event); never
    /// public.
    Unreadable,
    /// Sensitivity `private`, not listed in `filter.sensitivity`.
    Private,
    /// Sensitivity `confidential`, not listed.
    Confidential,
    /// Sensitivity `personal`, not listed.
    Personal,
    /// Sensitivity `normal`, not listed (a filter for other sensitivities).
    Normal,
    /// Cancelled, with `filter.skip_cancelled`.
    Cancelled,
    /// None of its categories is in `filter.include_categories`.
    CategoryNotIncluded,
    /// One of its categories is in `filter.exclude_categories`.
    CategoryExcluded,
    /// Its show-as is not in `filter.show_as`.
    ShowAs,
    /// Its subject matches `filter.subject_exclude`.
    SubjectExcluded,
}

impl SkipReason {
    /// The reason of an event whose sensitivity is not listed.
    pub fn sensitivity(s: Sensitivity) -> SkipReason {
        match s {
            Sensitivity::Private => SkipReason::Private,
            Sensitivity::Confidential => SkipReason::Confidential,
            Sensitivity::Personal => SkipReason::Personal,
            Sensitivity::Normal => SkipReason::Normal,
        }
    }

    /// The words a summary uses after a count, e.g. "2 private".
    pub fn label(&self) -> &'static str {
        match self {
            SkipReason::Unreadable => "unreadable",
            SkipReason::Private => "private",
            SkipReason::Confidential => "confidential",
            SkipReason::Personal => "personal",
            SkipReason::Normal => "sensitivity normal",
            SkipReason::Cancelled => "cancelled",
            SkipReason::CategoryNotIncluded => "without an included category",
            SkipReason::CategoryExcluded => "in an excluded category",
            SkipReason::ShowAs => "show-as not allowed",
            SkipReason::SubjectExcluded => "subject excluded",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// "4 skipped (2 private, 1 confidential, 1 cancelled)" for `total` skipped
/// events counted by reason; "0 skipped" when none. Events whose reason was
/// not recorded (an incremental state from an earlier version) are counted
/// as "not recorded".
pub fn skipped_summary(total: usize, by_reason: &BTreeMap<SkipReason, usize>) -> String {
    let mut parts: Vec<String> = by_reason
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    let known: usize = by_reason.values().sum();
    if total > known {
        parts.push(format!("{} not recorded", total - known));
    }
    if total == 0 || parts.is_empty() {
        format!("{total} skipped")
    } else {
        format!("{total} skipped ({})", parts.join(", "))
    }
}

/// Whether a source event passes the filter policy (see [`skip_reason`]).
pub fn is_public(ev: &SourceEvent, filter: &FilterPolicy) -> bool {
    skip_reason(ev, filter).is_none()
}

/// The first rule of the filter policy a source event fails, in this order,
/// or `None` when it is public:
///
/// - it was read (its key is not [`crate::model::SourceKey::unreadable`]);
/// - its sensitivity is listed in `filter.sensitivity`;
/// - it is not cancelled, when `filter.skip_cancelled`;
/// - when `filter.include_categories` is not empty, at least one of its
///   categories is listed there (case-insensitive);
/// - none of its categories is listed in `filter.exclude_categories`
///   (case-insensitive);
/// - its show-as is listed in `filter.show_as`, when that is set;
/// - `filter.subject_exclude`, when set, does not match its subject.
pub fn skip_reason(ev: &SourceEvent, filter: &FilterPolicy) -> Option<SkipReason> {
    if ev.key.is_unreadable() {
        return Some(SkipReason::Unreadable);
    }
    if !filter.sensitivity.contains(&ev.sensitivity) {
        return Some(SkipReason::sensitivity(ev.sensitivity));
    }
    if filter.skip_cancelled && ev.is_cancelled {
        return Some(SkipReason::Cancelled);
    }
    if !filter.include_categories.is_empty()
        && !ev
            .categories
            .iter()
            .any(|c| listed(&filter.include_categories, c))
    {
        return Some(SkipReason::CategoryNotIncluded);
    }
    if ev
        .categories
        .iter()
        .any(|c| listed(&filter.exclude_categories, c))
    {
        return Some(SkipReason::CategoryExcluded);
    }
    if let Some(allowed) = &filter.show_as
        && !allowed.contains(&ev.show_as)
    {
        return Some(SkipReason::ShowAs);
    }
    if let Some(re) = &filter.subject_exclude
        && re.is_match(&ev.subject)
    {
        return Some(SkipReason::SubjectExcluded);
    }
    None
}

/// Whether `category` is in `list`, ignoring case.
fn listed(list: &[String], category: &str) -> bool {
    if list.is_empty() {
        return false;
    }
    if list.iter().any(|c| c == category) {
        return true;
    }
    let wanted = category.to_lowercase();
    list.iter()
        .any(|c| c == category || c.to_lowercase() == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_summary_names_the_reasons() {
        let mut m = BTreeMap::new();
        assert_eq!(skipped_summary(0, &m), "0 skipped");
        m.insert(SkipReason::Cancelled, 1);
        m.insert(SkipReason::Private, 2);
        m.insert(SkipReason::Confidential, 1);
        assert_eq!(
            skipped_summary(4, &m),
            "4 skipped (2 private, 1 confidential, 1 cancelled)"
        );
        let mut with_unreadable = m.clone();
        with_unreadable.insert(SkipReason::Unreadable, 2);
        assert_eq!(
            skipped_summary(6, &with_unreadable),
            "6 skipped (2 unreadable, 2 private, 1 confidential, 1 cancelled)"
        );
        assert_eq!(
            serde_json::to_value(&with_unreadable).unwrap()["unreadable"],
            2
        );
        assert_eq!(
            skipped_summary(6, &m),
            "6 skipped (2 private, 1 confidential, 1 cancelled, 2 not recorded)"
        );
        assert_eq!(
            skipped_summary(3, &BTreeMap::new()),
            "3 skipped (3 not recorded)"
        );
    }
}
