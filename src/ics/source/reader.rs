//! Building the instances of one `UID` from its versions, its overrides
//! and its series, each with the readings it must pass.

use super::group::{Ev, Group, winner};
use super::profile::{Profile, distinct, profiles};
use super::series::Series;
use super::timing::{PAST_9999, Timing, resolve_written};
use super::{Skip, SourceRead, shown_uid};
use crate::ics::IcsError;
use crate::ics::doc::Comp;
use crate::ics::limits::{MAX_INSTANCES_PER_EVENT, MAX_TEXT_PER_EVENT, MAX_VERSIONS};
use crate::ics::text::clean_text;
use crate::ics::time::{Written, add_days, instant_in_range, midnight, parse_written};
use crate::ics::tz::Zones;
use crate::model::{Body, BodyType, EventTime, SourceEvent, SourceKey, Window};
use chrono::{Duration, NaiveDateTime};
use std::collections::{HashMap, HashSet};

/// An override that applies to its instance and the following ones.
struct Future<'e> {
    /// The original start of its instance.
    original: EventTime,
    /// `None` when it cannot be read: the instances it covers are then
    /// not published.
    read: Option<FutureRead<'e>>,
}

struct FutureRead<'e> {
    ev: &'e Ev,
    timing: Timing,
    /// How far it moved its instance.
    shift: Shift,
    profiles: Vec<Profile>,
}

#[derive(Clone, Copy)]
enum Shift {
    Days(i64),
    Exact(Duration),
}

/// The content of one instance and the readings it must pass.
struct Instance<'e> {
    comp: &'e Comp,
    key: SourceKey,
    start: EventTime,
    end: EventTime,
    all_day: bool,
    profiles: Vec<Profile>,
}

/// Reads the groups of one file into a [`SourceRead`].
pub(super) struct Reader<'r, 'd> {
    pub(super) origin: &'r str,
    pub(super) window: &'r Window,
    pub(super) zones: &'r mut Zones<'d>,
    pub(super) read: &'r mut SourceRead,
    /// Events and witnesses the current group gave so far.
    pub(super) emitted: usize,
    /// Bytes of text the current group gave so far.
    pub(super) text: usize,
    /// Bytes of text the groups read so far gave.
    pub(super) file_text: usize,
}

/// The `UID` an instance's key was made of: a file's keys are
/// [`SourceKey::single`] and [`SourceKey::occurrence`] of the group's `UID`,
/// so an occurrence carries its series' `UID`.
fn uid_of(key: &SourceKey) -> Option<String> {
    key.series_id()
        .or_else(|| key.as_str().strip_prefix("i:"))
        .map(str::to_owned)
}

impl Reader<'_, '_> {
    pub(super) fn skip(&mut self, uid: &str, skip: Skip) {
        self.read.unreadable.push(IcsError::event(
            self.origin,
            &shown_uid(uid),
            skip.line,
            skip.why,
        ));
    }

    fn emit(&mut self, i: Instance<'_>) {
        if !self.window.contains(&i.start) {
            return;
        }
        let Some(primary) = i.profiles.first() else {
            return;
        };
        // Past the cap, the group is unreadable: stop copying its text.
        if self.text > MAX_TEXT_PER_EVENT {
            return;
        }
        let c = i.comp;
        let location = c.value("LOCATION").map(clean_text).unwrap_or_default();
        let description = c.value("DESCRIPTION").map(clean_text).unwrap_or_default();
        let text_of =
            |p: &Profile| p.subject.len() + p.categories.iter().map(String::len).sum::<usize>();
        self.text = self
            .text
            .saturating_add(location.len() + description.len())
            .saturating_add(i.profiles.iter().map(text_of).sum::<usize>());
        let end = match (i.start, i.end) {
            (EventTime::Instant(s), EventTime::Instant(e)) if e < s => i.start,
            (EventTime::Date(s), EventTime::Date(e)) if e <= s => {
                add_days(s, 1).map_or(i.start, EventTime::Date)
            }
            _ => i.end,
        };
        let ical_uid = uid_of(&i.key);
        self.read.events.push(SourceEvent {
            key: i.key.clone(),
            ical_uid: ical_uid.clone(),
            subject: primary.subject.clone(),
            start: i.start,
            end,
            is_all_day: i.all_day,
            show_as: primary.show_as,
            sensitivity: primary.sensitivity,
            is_cancelled: primary.is_cancelled,
            categories: primary.categories.clone(),
            location,
            body: Body {
                content_type: BodyType::Text,
                content: description,
            },
        });
        self.emitted += 1 + i.profiles.len().saturating_sub(1);
        for p in i.profiles.iter().skip(1) {
            self.read.witnesses.push(SourceEvent {
                key: i.key.clone(),
                ical_uid: ical_uid.clone(),
                subject: p.subject.clone(),
                start: i.start,
                end,
                is_all_day: i.all_day,
                show_as: p.show_as,
                sensitivity: p.sensitivity,
                is_cancelled: p.is_cancelled,
                categories: p.categories.clone(),
                location: String::new(),
                body: Body::default(),
            });
        }
    }

    /// Reads one `UID`'s components. `Err` makes the whole `UID` unreadable.
    pub(super) fn group(&mut self, g: &Group) -> Result<(), Skip> {
        if g.masters.len() > MAX_VERSIONS {
            return Err(Skip::at(
                g.line,
                format!("it comes in more than {MAX_VERSIONS} versions (VEVENTs with its UID)"),
            ));
        }
        if g.overrides.len() > MAX_INSTANCES_PER_EVENT {
            return Err(Skip::at(
                g.line,
                format!(
                    "it has more than {MAX_INSTANCES_PER_EVENT} moved or changed instances \
                     (RECURRENCE-ID)"
                ),
            ));
        }
        if let Some(p) = g.masters.iter().find_map(|m| m.problem.clone()) {
            return Err(p);
        }
        let masters: Vec<&Ev> = g.masters.iter().collect();
        let master = masters.get(winner(&masters)).copied();
        let mut series = match master {
            Some(m) => Some(Series::read(&m.comp, self.zones)?),
            None => None,
        };
        // The readings every instance of the series must pass.
        let mut all: Vec<Profile> = Vec::new();
        if let Some(m) = master {
            all.extend(profiles(&m.comp, None));
            for other in masters.iter().filter(|o| !std::ptr::eq(**o, m)) {
                all.extend(profiles(&other.comp, None));
            }
        }
        let series_profiles = distinct(all, g.line)?;

        // The overrides, by the instance they replace.
        let mut by_key: Vec<(SourceKey, EventTime, Vec<&Ev>)> = Vec::new();
        let mut key_index: HashMap<SourceKey, usize> = HashMap::new();
        for o in &g.overrides {
            let original = self.original_of(o, series.as_ref())?;
            let key = SourceKey::occurrence(&g.uid, original.as_utc());
            let found = key_index.get(&key).copied();
            match found.and_then(|i| by_key.get_mut(i)) {
                Some(entry) => {
                    if entry.2.len() >= MAX_VERSIONS {
                        return Err(Skip::at(
                            o.comp.line,
                            format!("an instance of it comes in more than {MAX_VERSIONS} versions"),
                        ));
                    }
                    entry.2.push(o);
                }
                None => {
                    key_index.insert(key.clone(), by_key.len());
                    by_key.push((key, original, vec![o]));
                }
            }
        }
        let master_comp = master.map(|m| &m.comp);
        let mut overridden: HashSet<SourceKey> = HashSet::new();
        let mut futures: Vec<Future<'_>> = Vec::new();
        let single_start = series
            .as_ref()
            .filter(|s| !s.recurring)
            .and_then(|s| s.timing.start_time());
        for (key, original, versions) in &by_key {
            let w = versions.get(winner(versions)).copied();
            let Some(w) = w else { continue };
            let future = w
                .comp
                .prop("RECURRENCE-ID")
                .and_then(|p| p.param("RANGE"))
                .is_some();
            // A plain override of a single event replaces it.
            let key = if single_start == Some(*original) && !future {
                SourceKey::single(&g.uid)
            } else {
                key.clone()
            };
            overridden.insert(key.clone());
            if let Some(s) = &series
                && s.exclusions.excludes(original, wall_of(s, original))
            {
                continue;
            }
            let problem = versions.iter().find_map(|v| v.problem.clone());
            let read = match problem {
                Some(p) => Err(p),
                None => Timing::read(&w.comp, self.zones).map_err(|e| Skip::of(e, w.comp.line)),
            };
            let mut timing = match read {
                Ok(t) => t,
                Err(skip) => {
                    // Its instance (and, for THISANDFUTURE, the following
                    // ones) is not published: the override may be what
                    // made it private.
                    self.skip(&g.uid, skip);
                    if future {
                        futures.push(Future {
                            original: *original,
                            read: None,
                        });
                    }
                    continue;
                }
            };
            if !timing.explicit_length
                && let Some(s) = &series
            {
                timing.length = s.timing.length;
            }
            let mut all = profiles(&w.comp, master_comp);
            for v in versions.iter().filter(|v| !std::ptr::eq(**v, w)) {
                all.extend(profiles(&v.comp, master_comp));
            }
            all.extend(series_profiles.iter().cloned());
            let readings = distinct(all, w.comp.line)?;
            let (Some(start), Some(end)) = (timing.start_time(), timing.end_time(timing.wall))
            else {
                self.skip(&g.uid, Skip::at(w.comp.line, PAST_9999));
                continue;
            };
            if future {
                let shift = match (start, original) {
                    (EventTime::Date(s), EventTime::Date(o)) => Shift::Days((s - *o).num_days()),
                    (s, o) => Shift::Exact(s.as_utc() - o.as_utc()),
                };
                futures.push(Future {
                    original: *original,
                    read: Some(FutureRead {
                        ev: w,
                        timing: timing.clone(),
                        shift,
                        profiles: readings.clone(),
                    }),
                });
            }
            self.emit(Instance {
                comp: &w.comp,
                key,
                start,
                end,
                all_day: timing.all_day,
                profiles: readings,
            });
        }

        let Some(series) = series.as_mut() else {
            return Ok(());
        };
        let Some(master) = master else {
            return Ok(());
        };
        if !series.recurring {
            let key = SourceKey::single(&g.uid);
            if overridden.contains(&key) {
                return Ok(());
            }
            let t = &series.timing;
            let (Some(start), Some(end)) = (t.start_time(), t.end_time(t.wall)) else {
                return Err(Skip::at(master.comp.line, PAST_9999));
            };
            let all_day = t.all_day;
            self.emit(Instance {
                comp: &master.comp,
                key,
                start,
                end,
                all_day,
                profiles: series_profiles,
            });
            return Ok(());
        }
        futures.sort_by_key(|f| f.original.as_utc());
        let range = self.range(series, &futures);
        let instances = series.instances(&range)?;
        for (wall, period_end) in instances {
            let Some(original) = series.timing.time_at(wall) else {
                continue;
            };
            let key = SourceKey::occurrence(&g.uid, original.as_utc());
            if overridden.contains(&key) || series.exclusions.excludes(&original, wall) {
                continue;
            }
            // The last override of the future that precedes this instance.
            let before = futures.partition_point(|f| f.original.as_utc() < original.as_utc());
            let covering = before.checked_sub(1).and_then(|i| futures.get(i));
            let instance = match covering {
                Some(Future { read: None, .. }) => continue,
                Some(Future { read: Some(f), .. }) => {
                    let Some((start, end)) = shifted(f, &original) else {
                        return Err(Skip::at(f.ev.comp.line, PAST_9999));
                    };
                    Instance {
                        comp: &f.ev.comp,
                        key,
                        start,
                        end,
                        all_day: f.timing.all_day,
                        profiles: f.profiles.clone(),
                    }
                }
                None => {
                    let end = match period_end {
                        Some(e) => e,
                        None => match series.timing.end_time(wall) {
                            Some(e) => e,
                            None => return Err(Skip::at(master.comp.line, PAST_9999)),
                        },
                    };
                    Instance {
                        comp: &master.comp,
                        key,
                        start: original,
                        end,
                        all_day: series.timing.all_day,
                        profiles: series_profiles.clone(),
                    }
                }
            };
            self.emit(instance);
        }
        Ok(())
    }

    /// The wall-clock range a series is expanded over: the window with a
    /// day's margin, widened by the largest move of a THISANDFUTURE
    /// override.
    fn range(
        &self,
        series: &Series,
        futures: &[Future<'_>],
    ) -> std::ops::RangeInclusive<NaiveDateTime> {
        let zone = &series.timing.zone;
        let moved = futures
            .iter()
            .filter_map(|f| f.read.as_ref())
            .map(|f| match f.shift {
                Shift::Days(d) => Duration::try_days(d.abs()).unwrap_or_default(),
                Shift::Exact(d) => d.abs(),
            })
            .max()
            .unwrap_or_default();
        let margin = Duration::days(1)
            .checked_add(&moved)
            .unwrap_or(Duration::days(1));
        let from = zone.local(self.window.start);
        let to = zone.local(self.window.end);
        let from = from
            .checked_sub_signed(margin)
            .unwrap_or(NaiveDateTime::MIN);
        let to = to.checked_add_signed(margin).unwrap_or(NaiveDateTime::MAX);
        from..=to
    }

    /// The original start of the instance an override replaces. `Err`
    /// makes the whole `UID` unreadable: which instances it changes cannot
    /// be told.
    fn original_of(&mut self, o: &Ev, series: Option<&Series>) -> Result<EventTime, Skip> {
        let c = &o.comp;
        let Some(rid) = c.prop("RECURRENCE-ID") else {
            return Err(Skip::at(c.line, "its RECURRENCE-ID is missing"));
        };
        match rid.param("RANGE").map(str::trim) {
            None => {}
            Some(r) if r.eq_ignore_ascii_case("THISANDFUTURE") => {}
            Some(_) => {
                return Err(Skip::at(
                    rid.line,
                    "its RECURRENCE-ID has a RANGE other than THISANDFUTURE, which RFC 5545 \
                     §3.2.13 no longer allows",
                ));
            }
        }
        let written = parse_written(&rid.value, rid.value_type_is("DATE"))
            .ok_or_else(|| Skip::at(rid.line, "its RECURRENCE-ID cannot be read"))?;
        // A RECURRENCE-ID without zone is read in the override's own
        // DTSTART zone, else its series' (not as a floating time).
        let floating = matches!(written, Written::Local(_))
            && rid.param("TZID").is_none_or(|t| t.trim().is_empty());
        let own_start_zone = c.prop("DTSTART").and_then(|p| {
            p.param("TZID")
                .filter(|t| !t.trim().is_empty())
                .map(|t| (t.to_string(), p.line))
        });
        let default_zone = match (floating, &own_start_zone, series) {
            (false, _, _) => None,
            (true, Some((id, line)), _) => Some(
                self.zones
                    .resolve(id, *line)
                    .map_err(|e| Skip::of(e, *line))?,
            ),
            (true, None, Some(s)) if s.timing.has_tzid => Some(s.timing.zone.clone()),
            _ => None,
        };
        let original = resolve_written(written, rid, self.zones, default_zone.as_ref())
            .map_err(|e| Skip::of(e, rid.line))?
            .ok_or_else(|| Skip::at(rid.line, "its RECURRENCE-ID cannot be read"))?;
        // An all-day series names its instances by date, however the
        // override writes its RECURRENCE-ID.
        let time = match (series, original.time) {
            (Some(s), EventTime::Instant(_)) if s.timing.all_day => {
                EventTime::Date(original.written_date)
            }
            (_, t) => t,
        };
        Ok(time)
    }
}

/// The wall-clock time of an original start in a series' zone.
fn wall_of(s: &Series, original: &EventTime) -> NaiveDateTime {
    match original {
        EventTime::Date(d) => midnight(*d),
        EventTime::Instant(t) => s.timing.zone.local(*t),
    }
}

/// Where a THISANDFUTURE override puts an instance originally at
/// `original`: moved as much as the override moved its own, as long as the
/// override lasts.
fn shifted(f: &FutureRead<'_>, original: &EventTime) -> Option<(EventTime, EventTime)> {
    let t = &f.timing;
    if t.all_day {
        let date = match (original, f.shift) {
            (EventTime::Date(d), Shift::Days(n)) => add_days(*d, n)?,
            (o, Shift::Exact(d)) => o.as_utc().checked_add_signed(d)?.date_naive(),
            (EventTime::Instant(o), Shift::Days(n)) => add_days(o.date_naive(), n)?,
        };
        let wall = midnight(date);
        return Some((t.time_at(wall)?, t.end_time(wall)?));
    }
    let start = match f.shift {
        Shift::Exact(d) => original.as_utc().checked_add_signed(d)?,
        Shift::Days(n) => original
            .as_utc()
            .checked_add_signed(Duration::try_days(n)?)?,
    };
    if !instant_in_range(&start) {
        return None;
    }
    let wall = t.zone.local(start);
    Some((EventTime::Instant(start), t.end_time(wall)?))
}
