//! The calendar id cache ([`CALENDARS_FILE`]): names resolved to ids, and
//! the time zone of each target mailbox, kept between runs.

use super::{CALENDARS_FILE, write_atomically};
use serde::{Deserialize, Serialize};
use std::path::Path;

const CALENDARS_VERSION: u32 = 2;

/// Calendar ids resolved from names, kept between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CalendarCache {
    pub version: u32,
    pub calendars: Vec<CachedCalendar>,
    /// The time zone all-day copies are written in, per target mailbox.
    #[serde(default)]
    pub zones: Vec<CachedZone>,
}

/// The time zone of a mailbox, as far as calsync may read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedZone {
    pub graph: String,
    /// The mailbox, lowercased.
    pub mailbox: String,
    /// Its `mailboxSettings.timeZone`; `None` when Graph refused to say.
    pub zone: Option<String>,
}

/// One calendar name resolved to its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedCalendar {
    /// The Graph root it was resolved at.
    pub graph: String,
    /// The mailbox, lowercased.
    pub mailbox: String,
    /// How the settings name the calendar (`default:`, `id:…` or
    /// `name:…`).
    pub name: String,
    pub id: String,
}

impl CalendarCache {
    /// Reads the cache; an absent or unusable one is empty.
    pub fn load(dir: &Path) -> CalendarCache {
        crate::state::files::read(&dir.join(CALENDARS_FILE))
            .ok()
            .and_then(|t| serde_json::from_slice::<CalendarCache>(&t).ok())
            .filter(|c| c.version == CALENDARS_VERSION)
            .unwrap_or_default()
    }

    /// Replaces the cache file atomically.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let cache = CalendarCache {
            version: CALENDARS_VERSION,
            calendars: self.calendars.clone(),
            zones: self.zones.clone(),
        };
        write_atomically(
            &dir.join(CALENDARS_FILE),
            &serde_json::to_vec_pretty(&cache)?,
        )
    }

    /// Removes the file, so that every name is resolved again.
    pub fn forget(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(CALENDARS_FILE));
    }

    pub fn get(&self, graph: &str, mailbox: &str, name: &str) -> Option<&str> {
        let (mailbox, name) = (mailbox.to_lowercase(), name.trim());
        self.calendars
            .iter()
            .find(|c| c.graph == graph && c.mailbox == mailbox && c.name == name)
            .map(|c| c.id.as_str())
    }

    /// The time zone remembered for a mailbox: `Some(None)` when Graph
    /// refused to tell it.
    pub fn zone(&self, graph: &str, mailbox: &str) -> Option<Option<&str>> {
        let mailbox = mailbox.to_lowercase();
        self.zones
            .iter()
            .find(|z| z.graph == graph && z.mailbox == mailbox)
            .map(|z| z.zone.as_deref())
    }

    pub fn put_zone(&mut self, graph: &str, mailbox: &str, zone: Option<&str>) {
        let mailbox = mailbox.to_lowercase();
        self.zones
            .retain(|z| !(z.graph == graph && z.mailbox == mailbox));
        self.zones.push(CachedZone {
            graph: graph.to_owned(),
            mailbox,
            zone: zone.map(str::to_owned),
        });
    }

    pub fn put(&mut self, graph: &str, mailbox: &str, name: &str, id: &str) {
        let entry = CachedCalendar {
            graph: graph.to_string(),
            mailbox: mailbox.to_lowercase(),
            name: name.trim().to_string(),
            id: id.to_string(),
        };
        self.calendars.retain(|c| {
            !(c.graph == entry.graph && c.mailbox == entry.mailbox && c.name == entry.name)
        });
        self.calendars.push(entry);
    }
}
