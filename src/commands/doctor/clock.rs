//! This machine's clock against Graph's, read from the `Date` header of an
//! answer of Graph's root (RFC 9110 §6.6.1; any status will do, and no
//! token is sent).
//!
//! A clock minutes off gets tokens refused as not yet or no longer valid,
//! and can build the sync window on the wrong day.

use super::report::{Cause, Check, Item};
use crate::config::Settings;
use chrono::{DateTime, Utc};
use serde_json::json;

/// A skew above this many seconds is worth a warning.
pub const WARN_SECS: i64 = 60;
/// A skew above this many seconds fails the check.
pub const FAIL_SECS: i64 = 300;

const FIX: &str = "Synchronise this machine's clock with NTP (on Linux `timedatectl \
                   set-ntp true`, or chrony/ntpd; on Windows `w32tm /resync`), then run \
                   `calsync doctor` again.";

/// Reads Graph's clock and compares it with this machine's.
pub async fn clock(settings: &Settings, http: &reqwest::Client) -> Check {
    let url = settings.graph_url.clone();
    let before = Utc::now();
    let answer = http.get(url.clone()).send().await;
    let after = Utc::now();
    let response = match answer {
        Ok(r) => r,
        Err(e) => {
            return Check::warn(
                Item::Clock,
                format!(
                    "Graph at {} could not be reached to read its clock ({})",
                    settings.graph_base(),
                    crate::auth::error_chain_text(&e)
                ),
                "Check graph_url (or cloud) and the network connection.",
            );
        }
    };
    let date = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
        .map(|d| d.with_timezone(&Utc));
    let Some(date) = date else {
        return Check::warn(
            Item::Clock,
            "Graph's answer carried no readable Date header, so the clock was not compared",
            "Nothing to change in calsync; compare this machine's clock with an accurate one \
             by hand (e.g. `timedatectl status`).",
        );
    };
    // The header has whole seconds: Graph's clock was somewhere in the
    // second it names, at some moment between sending and receiving.
    let ours = before + (after - before) / 2;
    let theirs = date + chrono::Duration::milliseconds(500);
    let skew_ms = (theirs - ours).num_milliseconds();
    judge(skew_ms.saturating_add(500 * skew_ms.signum()) / 1000)
}

/// The check for a skew in seconds (positive: Graph is ahead).
pub fn judge(skew_secs: i64) -> Check {
    let abs = skew_secs.unsigned_abs();
    let details = json!({ "skew_seconds": skew_secs });
    let direction = if skew_secs > 0 { "behind" } else { "ahead of" };
    let off = format!("this machine's clock is {} {direction} Graph's", human(abs));
    if abs > FAIL_SECS.unsigned_abs() {
        Check::fail(
            Item::Clock,
            Cause::Other,
            format!(
                "{off}: tokens may be refused and the day the sync window starts on may be \
                 wrong"
            ),
            FIX,
        )
        .with_details(details)
    } else if abs > WARN_SECS.unsigned_abs() {
        Check::warn(Item::Clock, off, FIX).with_details(details)
    } else if abs <= 1 {
        Check::ok(Item::Clock, "this machine's clock and Graph's agree").with_details(details)
    } else {
        Check::ok(Item::Clock, format!("{off}, which is fine")).with_details(details)
    }
}

fn human(secs: u64) -> String {
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::doctor::report::Status;

    #[test]
    fn skew_thresholds() {
        assert_eq!(judge(0).status, Status::Ok);
        assert_eq!(judge(-45).status, Status::Ok);
        assert_eq!(judge(60).status, Status::Ok);
        let w = judge(120);
        assert_eq!(w.status, Status::Warn);
        assert_eq!(w.summary, "this machine's clock is 2 min behind Graph's");
        assert_eq!(judge(-300).status, Status::Warn);
        let f = judge(-601);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.summary
                .starts_with("this machine's clock is 10 min 1 s ahead of Graph's")
        );
        assert!(f.fix.unwrap_or_default().contains("NTP"));
    }
}
