//! `--write-probe`: one probe event written into the target the way `sync`
//! writes a copy, the same create sent again, and the probe deleted.
//!
//! Sending a create again with its `transactionId` is what `sync` does when
//! the answer to a create was lost. Graph documents the id only as a way
//! "for the server to avoid redundant POST operations in case of client
//! retries" (`api-reference/v1.0/resources/event.md`); what comes back is
//! reported two ways: `201` with the event made the first time
//! (blog.rykoma.net, 2020-10-05) or `400 ErrorDuplicateTransactionId` naming
//! it in `@event.existingEventId` (alcionai/corso#2490). This tells which one
//! the tenant at hand does. The probe carries calsync's marker, so should
//! every delete fail, the next full `sync` removes it as a copy without a
//! source.

use super::calendars::{Doctor, Opened};
use super::report::{Cause, Check, Item};
use crate::graph::client::{BatchRequest, BatchResponse, GraphError};
use crate::graph::provider::{
    SOURCE_KEY_PROPERTY, mailbox_path, payload_json, segment, transaction_id,
};
use crate::model::{Body, EventPayload, EventTime, Marker, ShowAs, SourceKey};
use crate::planner::content_hash;
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

/// The probe's subject: the only event content doctor ever shows.
pub const PROBE_SUBJECT: &str = "calsync doctor probe (safe to delete)";

/// How one create was answered.
enum Answer {
    Done(BatchResponse),
    Refused(GraphError),
    /// Nothing usable came back (the request never left, or no answer).
    Broken(String),
}

/// The probe, ready to send.
struct Probe {
    key: String,
    body: Value,
}

fn probe() -> Probe {
    let tomorrow = (Utc::now() + Duration::days(1))
        .date_naive()
        .and_hms_opt(3, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let payload = EventPayload {
        subject: PROBE_SUBJECT.to_owned(),
        start: EventTime::Instant(tomorrow),
        end: EventTime::Instant(tomorrow + Duration::minutes(15)),
        is_all_day: false,
        // Shown as free, so that a probe left behind blocks nobody's time.
        show_as: ShowAs::Free,
        location: String::new(),
        body: Body::default(),
        categories: Vec::new(),
    };
    let key = format!("probe:{:016x}", fastrand::u64(..));
    let marker = Marker {
        source_key: SourceKey(key.clone()),
        content_hash: content_hash(&payload),
    };
    // A timed probe: the all-day zone does not apply.
    let mut body = payload_json(&payload, &marker, "UTC");
    let attempt = format!("doctor/{:016x}", fastrand::u64(..));
    body["transactionId"] = json!(transaction_id(&attempt, &marker));
    Probe { key, body }
}

impl Doctor<'_> {
    /// Creates the probe, sends the same create again, deletes whatever
    /// was made, and says how each step went.
    pub async fn write_probe(&self, target: &Opened) -> Vec<Check> {
        let probe = probe();
        let events = format!("{}/events", target.path());
        let first = self.create(&events, &probe.body).await;
        let mut checks = Vec::new();
        let mut made = Vec::new();
        let first_id = match &first {
            Answer::Done(resp) => match resp.body.get("id").and_then(Value::as_str) {
                Some(id) => {
                    checks.push(
                        Check::ok(
                            Item::WriteProbe,
                            format!(
                                "created the probe event \"{PROBE_SUBJECT}\" in \"{}\" (HTTP {}), \
                                 as sync creates a copy",
                                target.name, resp.status
                            ),
                        )
                        .with_details(json!({ "status": resp.status, "event_id": id })),
                    );
                    made.push(id.to_owned());
                    Some(id.to_owned())
                }
                None => {
                    checks.push(Check::fail(
                        Item::WriteProbe,
                        Cause::Other,
                        format!(
                            "Graph answered the probe's create with HTTP {} but no event id",
                            resp.status
                        ),
                        super::calendars::outage_fix(),
                    ));
                    None
                }
            },
            Answer::Refused(e) => {
                checks.push(self.create_failed(target, e));
                None
            }
            Answer::Broken(why) => {
                checks.push(Check::fail(
                    Item::WriteProbe,
                    Cause::Other,
                    format!("the probe's create failed: {why}"),
                    super::calendars::outage_fix(),
                ));
                None
            }
        };
        if let Some(first_id) = &first_id {
            let again = self.create(&events, &probe.body).await;
            let (check, duplicate) = repeated(first_id, again);
            checks.push(check);
            made.extend(duplicate);
        } else {
            checks.push(Check::not_run(
                Item::RepeatedTransactionId,
                "the probe was not created",
            ));
        }
        // Whatever happened above, nothing of the probe may stay behind. A
        // create Graph refused outright made nothing; one without a clear
        // answer may have made the probe, so it is looked for.
        let refused = matches!(&first, Answer::Refused(e) if e.status.is_some_and(|s| s < 500));
        if refused && made.is_empty() {
            checks.push(Check::not_run(
                Item::ProbeDeleted,
                "Graph refused the probe, so there is nothing to delete",
            ));
        } else {
            checks.push(self.remove(target, &probe.key, &made).await);
        }
        checks
    }

    /// One create, sent as `sync` sends it: inside a `$batch`.
    async fn create(&self, events: &str, body: &Value) -> Answer {
        let request = match BatchRequest::with_body(Method::POST, events.to_owned(), body) {
            Ok(r) => r,
            Err(e) => return Answer::Broken(format!("the probe could not be encoded: {e}")),
        };
        match self.client.batch(vec![request]).await.into_iter().next() {
            Some(Ok(resp)) => Answer::Done(resp),
            Some(Err(e)) => Answer::Refused(e),
            None => Answer::Broken(format!("Graph's batch brought no answer to POST {events}")),
        }
    }

    fn create_failed(&self, target: &Opened, e: &GraphError) -> Check {
        let what = format!(
            "Graph refused to create the probe event in \"{}\"",
            target.name
        );
        if e.is_auth() || e.code.eq_ignore_ascii_case("ErrorAccessDenied") {
            return Check::fail(
                Item::WriteProbe,
                Cause::Auth,
                format!("{what}: {e}"),
                format!(
                    "Give {} edit rights on \"{}\" in {} (its canEdit must be true), or set \
                     target_calendar (CALSYNC_TARGET_CALENDAR) to a calendar it can edit; {}",
                    self.who(),
                    target.name,
                    target.mailbox,
                    lowercase_first(&self.access_fix(&target.mailbox))
                ),
            )
            .with_details(super::calendars::error_details(e));
        }
        self.graph_failure(Item::WriteProbe, &what, e, &target.mailbox)
    }

    /// Deletes what the probe made, then looks for any probe left by its
    /// marker (a create whose answer was lost) and deletes that too.
    async fn remove(&self, target: &Opened, key: &str, made: &[String]) -> Check {
        let mut deleted = Vec::new();
        let mut failed: Vec<(String, GraphError)> = Vec::new();
        self.delete_all(target, made, &mut deleted, &mut failed)
            .await;
        // A last look, by the probe's own marker.
        let filter = format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{SOURCE_KEY_PROPERTY}' and ep/value \
             eq '{key}')"
        );
        let left = self
            .client
            .get_all(
                &format!("{}/events", target.path()),
                &[("$filter", filter.as_str()), ("$select", "id")],
            )
            .await;
        let mut unconfirmed = None;
        match left {
            Ok(items) => {
                let more: Vec<String> = items
                    .iter()
                    .filter_map(|v| v.get("id").and_then(Value::as_str))
                    .filter(|id| !failed.iter().any(|(f, _)| f == id))
                    .map(str::to_owned)
                    .collect();
                self.delete_all(target, &more, &mut deleted, &mut failed)
                    .await;
            }
            Err(e) => unconfirmed = Some(e),
        }
        let details = json!({
            "deleted": deleted.iter().map(|(id, how)| json!({"event_id": id, "answer": how})).collect::<Vec<_>>(),
            "not_deleted": failed.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        });
        if let Some((id, e)) = failed.first() {
            let ids: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
            let cause = if e.is_auth() {
                Cause::Auth
            } else {
                Cause::Other
            };
            return Check::fail(
                Item::ProbeDeleted,
                cause,
                format!(
                    "could not delete the probe event id {id}: {e}; the probe is still in \"{}\"",
                    target.name
                ),
                format!(
                    "Delete the event \"{PROBE_SUBJECT}\" (id {}) from \"{}\" in {} by hand \
                     (once deletes work, `calsync sync --full` removes it too, as it carries \
                     calsync's marker); sync deletes copies as well, so {}",
                    ids.join(", "),
                    target.name,
                    target.mailbox,
                    lowercase_first(&self.access_fix(&target.mailbox))
                ),
            )
            .with_details(details);
        }
        let how: Vec<String> = deleted.iter().map(|(_, how)| how.clone()).collect();
        let what = match deleted.len() {
            0 => "nothing of the probe was made, so nothing was deleted".to_owned(),
            1 => format!("deleted the probe event ({})", how.join("")),
            n => format!("deleted {n} probe events ({})", how.join(", ")),
        };
        match unconfirmed {
            None => Check::ok(
                Item::ProbeDeleted,
                format!("{what}; no probe is left in \"{}\"", target.name),
            )
            .with_details(details),
            Some(e) => Check::warn(
                Item::ProbeDeleted,
                format!("{what}, but could not look for any probe left behind: {e}"),
                format!(
                    "Look in \"{}\" of {} for an event \"{PROBE_SUBJECT}\" and delete it; the \
                     next `calsync sync --full` removes it too.",
                    target.name, target.mailbox
                ),
            )
            .with_details(details),
        }
    }

    async fn delete_all(
        &self,
        target: &Opened,
        ids: &[String],
        deleted: &mut Vec<(String, String)>,
        failed: &mut Vec<(String, GraphError)>,
    ) {
        if ids.is_empty() {
            return;
        }
        let requests = ids
            .iter()
            .map(|id| {
                BatchRequest::bare(
                    Method::DELETE,
                    format!("{}/events/{}", mailbox_path(&target.mailbox), segment(id)),
                )
            })
            .collect();
        let answers = self.client.batch(requests).await;
        for (id, answer) in ids.iter().zip(answers) {
            match answer {
                Ok(resp) => deleted.push((id.clone(), format!("HTTP {}", resp.status))),
                // Already gone is as good as deleted.
                Err(e) if e.is_not_found() => deleted.push((
                    id.clone(),
                    format!("{} {}: already gone", e.status.unwrap_or(404), e.code),
                )),
                Err(e) => failed.push((id.clone(), e)),
            }
        }
    }
}

/// How the create sent again was answered, and the id of any duplicate it
/// made (to be deleted too).
fn repeated(first_id: &str, again: Answer) -> (Check, Option<String>) {
    let item = Item::RepeatedTransactionId;
    match again {
        Answer::Done(resp) => {
            let id = resp
                .body
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let details = json!({ "status": resp.status, "same_event": id == first_id });
            if id == first_id {
                (
                    Check::ok(
                        item,
                        format!(
                            "the same create sent again was answered HTTP {} with the event made \
                             the first time: Graph returned the event made the first time, and \
                             made no second one",
                            resp.status
                        ),
                    )
                    .with_details(details),
                    None,
                )
            } else {
                (
                    Check::warn(
                        item,
                        format!(
                            "the same create sent again was answered HTTP {} with another event: \
                             this tenant made a duplicate despite the transactionId (deleted \
                             below)",
                            resp.status
                        ),
                        "No setting changes this: a create whose answer was lost can leave a \
                         duplicate copy, which the next `calsync sync --full` deletes (calsync \
                         validate reports it as `duplicate` until then).",
                    )
                    .with_details(details),
                    (!id.is_empty()).then(|| id.to_owned()),
                )
            }
        }
        Answer::Refused(e) if e.code.eq_ignore_ascii_case("ErrorDuplicateTransactionId") => {
            let status = e
                .status
                .map_or_else(|| "an error".to_owned(), |s| format!("HTTP {s}"));
            let existing = e.existing_event_id().map(str::to_owned);
            let details = json!({
                "status": e.status,
                "code": e.code,
                "existing_event_id_given": existing.is_some(),
                "same_event": existing.as_deref() == Some(first_id),
                "request_id": e.request_id,
            });
            let summary = match existing.as_deref() {
                Some(id) if id == first_id => format!(
                    "the same create sent again was refused with {status} {} naming the event \
                     made the first time in @event.existingEventId; sync takes that as created",
                    e.code
                ),
                Some(_) => format!(
                    "the same create sent again was refused with {status} {}, naming in \
                     @event.existingEventId another event than the one made the first time",
                    e.code
                ),
                None => format!(
                    "the same create sent again was refused with {status} {} without \
                     @event.existingEventId; sync then finds the copy by its marker",
                    e.code
                ),
            };
            let check = match existing.as_deref() {
                Some(id) if id != first_id => Check::warn(
                    item,
                    summary,
                    "No setting changes this: sync finds a copy by its marker, and the next \
                     `calsync sync --full` repairs what is left.",
                ),
                _ => Check::ok(item, summary),
            };
            (check.with_details(details), None)
        }
        Answer::Broken(why) => (
            Check::warn(
                item,
                format!("the same create sent again failed: {why}"),
                "No setting changes this: when the answer to a create is lost, sync counts that \
                 create as failed and the next run finds the copy by its marker.",
            ),
            None,
        ),
        Answer::Refused(e) => (
            Check::warn(
                item,
                format!("the same create sent again failed: {e}"),
                "No setting changes this: when the answer to a create is lost, sync counts that \
                 create as failed and the next run finds the copy by its marker.",
            )
            .with_details(
                json!({ "status": e.status, "code": e.code, "request_id": e.request_id }),
            ),
            None,
        ),
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::doctor::report::Status;

    fn done(status: u16, id: &str) -> Answer {
        Answer::Done(BatchResponse {
            status,
            body: json!({ "id": id }),
        })
    }

    #[test]
    fn a_repeat_answered_with_another_event_is_a_duplicate_to_delete() {
        let (c, dup) = repeated("A", done(201, "A"));
        assert_eq!(c.status, Status::Ok);
        assert!(
            c.summary
                .contains("Graph returned the event made the first time")
        );
        assert_eq!(dup, None);
        let (c, dup) = repeated("A", done(201, "B"));
        assert_eq!(c.status, Status::Warn);
        assert!(c.summary.contains("made a duplicate"), "{c:?}");
        assert_eq!(dup.as_deref(), Some("B"));
        let (c, dup) = repeated("A", Answer::Broken("no answer".into()));
        assert_eq!(c.status, Status::Warn);
        assert_eq!(dup, None);
    }

    #[test]
    fn the_probe_is_written_as_a_public_copy_without_attendees() {
        let p = probe();
        assert!(p.key.starts_with("probe:"));
        assert_eq!(p.body["subject"], PROBE_SUBJECT);
        assert_eq!(p.body["sensitivity"], "normal");
        assert_eq!(p.body["showAs"], "free");
        assert!(p.body.get("attendees").is_none());
        assert!(
            p.body["transactionId"]
                .as_str()
                .is_some_and(|t| t.len() == 32)
        );
        let text = p.body.to_string();
        assert!(
            text.contains(SOURCE_KEY_PROPERTY) && text.contains(&p.key),
            "{text}"
        );
        // Another run, another probe and another transactionId.
        assert_ne!(probe().body["transactionId"], p.body["transactionId"]);
    }
}
