//! How much of an `.ics` file calsync reads, expands and keeps.
//!
//! A source file is shaped by anyone who can add an event to the internal
//! calendar or who controls a published calendar's URL, so every quantity
//! that input decides is capped here, generously for real calendars. A cap
//! reached by one event makes that event unreadable (skipped with a
//! warning, see `source`); a cap reached by the file as a whole
//! refuses the file, and nothing is written. Memory then stays proportional
//! to what is published: at most [`MAX_EVENTS_PER_FILE`] events, each with
//! at most [`MAX_INSTANCES_PER_EVENT`] instances.

/// Bytes read from a source file or URL (50 MiB). Real exports of a busy
/// shared calendar over several years stay well under 20 MiB; reading is
/// stopped at this many bytes, whatever the file's metadata says.
pub const MAX_SOURCE_BYTES: u64 = 50 * 1024 * 1024;

/// Bytes read from a target file (256 MiB): the copies of
/// [`MAX_EVENTS_PER_FILE`] events at about 600 bytes each, and room for
/// what people added by hand.
pub const MAX_TARGET_BYTES: u64 = 256 * 1024 * 1024;

/// Components directly inside the calendar (events, time zones, to-dos…).
/// A 50 MiB file of the smallest real events holds about 200,000.
pub const MAX_COMPONENTS: usize = 500_000;

/// How deep components may nest, the `VCALENDAR` counting as 1. Real files
/// nest 3 deep (`VCALENDAR` › `VEVENT` › `VALARM`, `VTIMEZONE` ›
/// `STANDARD`); a component nested deeper cannot be read (the parse is
/// iterative, this only bounds the tree kept).
pub const MAX_DEPTH: usize = 16;

/// Property lines of one component directly inside the calendar, its
/// sub-components' included. An Outlook meeting with every member of a
/// large organisation invited lists a few thousand `ATTENDEE`s; the full
/// history of a time zone a few thousand lines.
pub const MAX_PROPERTIES: usize = 20_000;

/// Parameters of one property (`DTSTART;TZID=…;VALUE=…`): real files use
/// fewer than ten.
pub const MAX_PARAMETERS: usize = 256;

/// Events (instances, and the unreadable events counted as skipped) one
/// source file may give in the sync window. Beyond this the file is
/// refused rather than published in part.
pub const MAX_EVENTS_PER_FILE: usize = 250_000;

/// Bytes of text (summaries, locations, descriptions, categories) one
/// event gives, counted once per instance: each instance holds its own
/// copy, so a long description on a dense series would otherwise fill the
/// memory. A daily series of five years with 50 KB of description each
/// day comes to 91 MiB.
pub const MAX_TEXT_PER_EVENT: usize = 128 * 1024 * 1024;

/// Bytes of text all events of one file give, counted as above. Beyond
/// this the file is refused.
pub const MAX_TEXT_PER_FILE: usize = 512 * 1024 * 1024;

/// Instances one event (its rules, `RDATE`s and overrides) may give in the
/// range expanded around the window: a daily series for 50 years, an
/// hourly one for two. A series denser than this is unreadable.
pub const MAX_INSTANCES_PER_EVENT: usize = 20_000;

/// Steps a rule expansion may take (periods of the rule's frequency walked,
/// from `DTSTART` when the rule has a `COUNT`, else from just before the
/// window). A rule too sparse or too dense to finish within this is
/// unreadable, never cut short in silence.
pub const MAX_RULE_STEPS: usize = 2_000_000;

/// `RRULE`s (and `EXRULE`s) of one event. RFC 5545 §3.8.5.3 says an event
/// SHOULD have at most one.
pub const MAX_RULES_PER_EVENT: usize = 8;

/// `RDATE` values of one event, and `EXDATE` values: a daily series of 20
/// years with every other day excluded needs 3,650.
pub const MAX_DATES_PER_EVENT: usize = 20_000;

/// Versions of one event (several components with one `UID` and no
/// `RECURRENCE-ID`, or with the same one) that are weighed against each
/// other.
pub const MAX_VERSIONS: usize = 64;

/// Different readings of whether one event is public that are weighed
/// together (its versions, its series for a moved instance, repeated
/// `CLASS`, `SUMMARY` or show-as lines); each instance of the event carries
/// all of them to the planner.
pub const MAX_READINGS: usize = 16;

/// Values in one `BY…` list of a rule (`BYYEARDAY` has 366 at most).
pub const MAX_RULE_LIST: usize = 400;

/// The largest `INTERVAL` of a rule; a larger one would never recur within
/// the years iCalendar can write anyway.
pub const MAX_INTERVAL: u32 = 100_000;

/// Observances (`STANDARD`/`DAYLIGHT`) of one `VTIMEZONE`. The full history
/// of a zone as tzurl.org publishes it has a few hundred.
pub const MAX_TZ_OBSERVANCES: usize = 1_000;

/// Offset changes a `VTIMEZONE` may define up to its horizon: two a year
/// for 230 years, many times over.
pub const MAX_TZ_ONSETS: usize = 10_000;

/// Warnings about unreadable events written to the log for one file; the
/// rest are counted in one more line (all are counted as skipped).
pub const MAX_WARNINGS: usize = 50;
