//! The privacy decision's inputs: every reading of the fields the filter
//! policy looks at.

use super::Skip;
use crate::ics::doc::{Comp, Prop};
use crate::ics::limits::MAX_READINGS;
use crate::ics::text::{clean_text, split_text_list};
use crate::model::{Sensitivity, ShowAs};
use std::collections::HashSet;

/// The fields the filter policy looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Profile {
    pub(super) sensitivity: Sensitivity,
    pub(super) is_cancelled: bool,
    pub(super) categories: Vec<String>,
    pub(super) show_as: ShowAs,
    pub(super) subject: String,
}

/// `CLASS` as a sensitivity: anything but `PUBLIC` (or no `CLASS`) is
/// private or confidential, never public.
fn class_sensitivity(value: &str) -> Sensitivity {
    match value.trim().to_ascii_uppercase().as_str() {
        "PUBLIC" => Sensitivity::Normal,
        "CONFIDENTIAL" => Sensitivity::Confidential,
        _ => Sensitivity::Private,
    }
}

/// Every reading of a component's filtered fields: the first is the one
/// its content goes with, the others differ from it in one field each. An
/// override without `CLASS` reads `class_fallback`'s (its series').
pub(super) fn profiles(c: &Comp, class_fallback: Option<&Comp>) -> Vec<Profile> {
    let class_of = if c.prop("CLASS").is_some() {
        c
    } else {
        class_fallback.unwrap_or(c)
    };
    let mut sensitivities: Vec<Sensitivity> = Vec::new();
    for p in class_of.all("CLASS") {
        let s = class_sensitivity(&p.value);
        if !sensitivities.contains(&s) {
            sensitivities.push(s);
        }
    }
    // The first value that is not public leads: doubt means not public.
    sensitivities.sort_by_key(|s| *s == Sensitivity::Normal);
    if sensitivities.is_empty() {
        sensitivities.push(Sensitivity::Normal);
    }
    let mut subjects: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for p in c.all("SUMMARY") {
        let s = clean_text(&p.value);
        if seen.insert(s.clone()) {
            subjects.push(s);
        }
    }
    if subjects.is_empty() {
        subjects.push(String::new());
    }
    let show_as = show_as_readings(c);
    let primary = Profile {
        sensitivity: sensitivities
            .first()
            .copied()
            .unwrap_or(Sensitivity::Private),
        is_cancelled: c.all("STATUS").any(|p| {
            let s = p.value.trim();
            s.eq_ignore_ascii_case("CANCELLED") || s.eq_ignore_ascii_case("CANCELED")
        }),
        categories: categories(c),
        show_as: show_as.first().copied().unwrap_or(ShowAs::Busy),
        subject: subjects.first().cloned().unwrap_or_default(),
    };
    let mut out = vec![primary.clone()];
    for s in sensitivities.iter().skip(1) {
        out.push(Profile {
            sensitivity: *s,
            ..primary.clone()
        });
    }
    for s in subjects.iter().skip(1) {
        out.push(Profile {
            subject: s.clone(),
            ..primary.clone()
        });
    }
    for s in show_as.iter().skip(1) {
        out.push(Profile {
            show_as: *s,
            ..primary.clone()
        });
    }
    out
}

/// The distinct readings of `all`, the first first; more than
/// [`MAX_READINGS`] make the event unreadable.
pub(super) fn distinct(all: Vec<Profile>, line: usize) -> Result<Vec<Profile>, Skip> {
    let mut seen: HashSet<Profile> = HashSet::new();
    let mut out = Vec::new();
    for p in all {
        if seen.insert(p.clone()) {
            out.push(p);
            if out.len() > MAX_READINGS {
                return Err(Skip::at(
                    line,
                    format!(
                        "its versions, its series and its repeated properties give more than \
                         {MAX_READINGS} different readings of whether it is public"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Outlook's `X-MICROSOFT-CDO-BUSYSTATUS` (or `-INTENDEDSTATUS`), else
/// `TRANSP`: each distinct reading, the first first.
fn show_as_readings(c: &Comp) -> Vec<ShowAs> {
    let mut out: Vec<ShowAs> = Vec::new();
    let mut push = |s: ShowAs| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    let cdo: Vec<&Prop> = c
        .all("X-MICROSOFT-CDO-BUSYSTATUS")
        .chain(c.all("X-MICROSOFT-CDO-INTENDEDSTATUS"))
        .collect();
    let mut any_cdo = false;
    for p in &cdo {
        let s = match p.value.trim().to_ascii_uppercase().as_str() {
            "FREE" => ShowAs::Free,
            "TENTATIVE" => ShowAs::Tentative,
            "BUSY" => ShowAs::Busy,
            "OOF" => ShowAs::Oof,
            "WORKINGELSEWHERE" => ShowAs::WorkingElsewhere,
            _ => continue,
        };
        any_cdo = true;
        push(s);
    }
    if !any_cdo {
        for p in c.all("TRANSP") {
            push(if p.value.trim().eq_ignore_ascii_case("TRANSPARENT") {
                ShowAs::Free
            } else {
                ShowAs::Busy
            });
        }
    }
    if out.is_empty() {
        out.push(ShowAs::Busy);
    }
    out
}

/// Outlook's `X-MICROSOFT-CDO-BUSYSTATUS`, else `TRANSP` (the first reading).
pub(crate) fn show_as(c: &Comp) -> ShowAs {
    show_as_readings(c).first().copied().unwrap_or(ShowAs::Busy)
}

/// Every `CATEGORIES` item, in order, cleaned and trimmed, blanks dropped.
fn categories(c: &Comp) -> Vec<String> {
    c.all("CATEGORIES")
        .flat_map(|p| split_text_list(&p.value))
        .map(|s| clean_text(s.trim()).trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}
