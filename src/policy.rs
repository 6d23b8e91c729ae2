//! The filter policy (which source events are public) and the copy policy
//! (which fields of a public event are copied), SPEC §2 `[filter]` and `[copy]`.

use crate::model::{Sensitivity, ShowAs};
use regex::Regex;

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
