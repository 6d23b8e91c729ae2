//! The fingerprint of the settings an incremental state belongs to.

use super::{KEYS, Settings, Table};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Identifies the settings a state belongs to. Anything that changes which
/// events are read, which are public or what their copies hold changes it:
/// every key the key table marks `affects_plan`, so a new key that shapes the
/// copies is in it without further thought.
///
/// The calendars are there as resolved: each side as its mailbox and the id
/// the caller resolved its calendar to (`source_id`, `target_id`), which
/// stands for the calendar keys and the `[source]`/`[target]` keys; `cloud`
/// is there through the Graph root it decides. The document's shape is that
/// of the first fingerprint, so the fingerprint of an existing state stays
/// the same; a key added later goes in under its own name, and changes every
/// fingerprint once (the next sync is then a full one). `version` is the
/// state format's, written in front so that a new format starts afresh.
pub fn fingerprint(settings: &Settings, version: u32, source_id: &str, target_id: &str) -> String {
    let mut doc = Map::new();
    let mut filter = Map::new();
    let mut copy = Vec::new();
    for key in KEYS.iter().filter(|k| k.affects_plan) {
        match (key.table, key.name) {
            (_, "graph_url" | "cloud") => {
                doc.insert("graph".into(), json!(settings.graph_base()));
            }
            (Table::Source, _) | (_, "mailbox" | "source_calendar") => {
                let mailbox = settings.mailbox_or_me().to_lowercase();
                doc.insert("source".into(), json!([mailbox, source_id]));
            }
            (Table::Target, _) | (_, "target_mailbox" | "target_calendar") => {
                let mailbox = settings.target_mailbox_or_source().to_lowercase();
                doc.insert("target".into(), json!([mailbox, target_id]));
            }
            // The order of the sensitivities listed makes no difference.
            (_, "filter.sensitivity") => {
                let mut sensitivity: Vec<&str> = settings
                    .policy
                    .filter
                    .sensitivity
                    .iter()
                    .map(|s| s.as_str())
                    .collect();
                sensitivity.sort_unstable();
                filter.insert(key.short_name().into(), json!(sensitivity));
            }
            (Table::Filter, _) => {
                filter.insert(key.short_name().into(), (key.show)(settings));
            }
            (Table::Copy, _) => copy.push((key.show)(settings)),
            _ => {
                doc.insert(key.name.into(), (key.show)(settings));
            }
        }
    }
    doc.insert("filter".into(), Value::Object(filter));
    doc.insert("copy".into(), Value::Array(copy));
    let mut hex = hex::encode(Sha256::digest(Value::Object(doc).to_string().as_bytes()));
    hex.truncate(32);
    format!("{version}:{hex}")
}
