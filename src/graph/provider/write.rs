//! Writing a plan to the target calendar, and reading back the copies
//! calsync made there.
//!
//! What Graph does here: docs/graph.md, Markers, Creating and Updating and deleting.

use super::*;
use crate::graph::wire::CopyEvent;
use serde::Deserialize;

impl TargetProvider for GraphCalendar {
    async fn read_managed(&self, _window: &Window) -> anyhow::Result<Vec<ManagedEvent>> {
        self.read_marked(
            "id,subject,start,end,isAllDay,showAs,location,categories",
            managed_event,
        )
        .await
        .context("reading the target calendar failed; nothing was written")
    }

    async fn apply(&self, plan: &Plan) -> anyhow::Result<ApplyReport> {
        let events_path = format!("{}/events", self.calendar_path());
        let zone = self.zone_for(plan).await;
        let encoding = |e: serde_json::Error| anyhow!("could not encode an event for Graph: {e}");
        let request = |kind: Kind, index: usize| -> anyhow::Result<(BatchRequest, EventTime)> {
            Ok(match kind {
                Kind::Create => {
                    let c = &plan.creates[index];
                    let mut body = payload_json(&c.payload, &c.marker, &zone);
                    body["transactionId"] = json!(transaction_id(&self.attempt, &c.marker));
                    (
                        BatchRequest::with_body(Method::POST, events_path.clone(), &body)
                            .map_err(encoding)?,
                        c.payload.start,
                    )
                }
                Kind::Update => {
                    let u = &plan.updates[index];
                    (
                        BatchRequest::with_body(
                            Method::PATCH,
                            self.event_path(&u.target_id),
                            &payload_json(&u.payload, &u.marker, &zone),
                        )
                        .map_err(encoding)?,
                        u.payload.start,
                    )
                }
                Kind::Delete => {
                    let d = &plan.deletes[index];
                    (
                        BatchRequest::bare(Method::DELETE, self.event_path(&d.target_id)),
                        d.start,
                    )
                }
            })
        };
        let writes: Vec<(Kind, usize)> = (0..plan.creates.len())
            .map(|i| (Kind::Create, i))
            .chain((0..plan.updates.len()).map(|i| (Kind::Update, i)))
            .chain((0..plan.deletes.len()).map(|i| (Kind::Delete, i)))
            .collect();
        let mut report = ApplyReport::default();
        // The requests of a long plan are encoded a slice at a time, so that
        // a first sync of thousands of events does not hold every body at
        // once; a slice is long enough that the pause between two is rare.
        for slice in writes.chunks(APPLY_SLICE) {
            let mut requests = Vec::with_capacity(slice.len());
            let mut meta = Vec::with_capacity(slice.len());
            for &(kind, index) in slice {
                let (req, start) = request(kind, index)?;
                requests.push(req);
                meta.push((kind, start, index));
            }
            // Of an answer, only the id of a created event is used.
            let mut outcomes = self.client.batch_keeping(requests, Some(&["id"])).await;
            for ((kind, _, index), outcome) in meta.iter().zip(outcomes.iter_mut()) {
                if *kind == Kind::Create
                    && let Err(e) = outcome
                    && e.code == "ErrorDuplicateTransactionId"
                    && let Some(c) = plan.creates.get(*index)
                {
                    *outcome = self.created_earlier(e, &c.marker).await;
                }
            }
            record_outcomes(plan, meta, outcomes, &mut report);
        }
        Ok(report)
    }
}

impl GraphCalendar {
    /// A create Graph answered with `ErrorDuplicateTransactionId`: an
    /// earlier attempt of this POST (a retry after a lost answer) created the
    /// copy. Its id is the one Graph names, else the copy is looked up by its
    /// marker. Graph may answer a repeated `transactionId` with 201 or with
    /// this error (blog.rykoma.net 2020/10/05; alcionai/corso#2490), and both
    /// mean "created".
    pub(super) async fn created_earlier(
        &self,
        err: &GraphError,
        marker: &Marker,
    ) -> Result<crate::graph::client::BatchResponse, GraphError> {
        let found = match err.existing_event_id() {
            Some(id) => Some(id.to_owned()),
            None => self.find_copy(&marker.source_key).await?,
        };
        match found {
            Some(id) => {
                tracing::debug!(
                    key = %marker.source_key,
                    "Graph says an earlier attempt created this copy already"
                );
                Ok(crate::graph::client::BatchResponse {
                    status: 201,
                    body: json!({ "id": id }),
                })
            }
            None => Err(err.clone()),
        }
    }

    /// The id of a copy carrying this source key, if there is one.
    pub(super) async fn find_copy(&self, key: &SourceKey) -> Result<Option<String>, GraphError> {
        let path = format!("{}/events", self.calendar_path());
        let filter = format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{SOURCE_KEY_PROPERTY}' and ep/value eq '{}')",
            key.as_str().replace('\'', "''")
        );
        let expand = marker_expand();
        let found = self
            .client
            .get_all(
                &path,
                &[
                    ("$filter", filter.as_str()),
                    ("$expand", expand.as_str()),
                    ("$select", "id"),
                ],
            )
            .await?;
        // The value comparison of the filter ignores case; keys do not.
        // An item that is not an event carries no marker either.
        Ok(found
            .iter()
            .filter_map(|v| {
                let copy = CopyEvent::deserialize(v).ok()?;
                marker_of(&copy)
                    .filter(|(k, _)| k == key)
                    .and(copy.id.as_str().map(str::to_owned))
            })
            .next())
    }
}

/// The `transactionId` of a create: a hash of the attempt it belongs to and
/// of the copy's marker. A retry within the attempt sends the same id, so
/// Graph creates no duplicate; another run sends another, so a copy deleted
/// by hand is created again whatever Graph still remembers (how long it does
/// is undocumented). Across runs, the marker is what finds a copy again.
pub fn transaction_id(attempt: &str, marker: &Marker) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        "calsync-transaction/2",
        attempt,
        marker.source_key.as_str(),
        &marker.content_hash,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let mut hex = hex::encode(h.finalize());
    hex.truncate(32);
    hex
}

/// What a write of [`GraphCalendar::apply`] is.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Create,
    Update,
    Delete,
}

/// Writes encoded and sent as one call of the batching client.
pub(super) const APPLY_SLICE: usize = 2000;

/// Adds the outcomes of a slice of writes to the report.
pub(super) fn record_outcomes(
    plan: &Plan,
    meta: Vec<(Kind, EventTime, usize)>,
    outcomes: Vec<Result<crate::graph::client::BatchResponse, GraphError>>,
    report: &mut ApplyReport,
) {
    for ((kind, start, index), outcome) in meta.into_iter().zip(outcomes) {
        let action = match kind {
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::Delete => "delete",
        };
        let mut created_id = None;
        let error = match outcome {
            Ok(resp) if (200..300).contains(&resp.status) => {
                created_id = str_field(&resp.body, "id")
                    .filter(|id| !id.is_empty())
                    .map(str::to_string);
                None
            }
            // Already gone counts as deleted (`api-reference/v1.0/api/event-delete.md`:
            // 404 ErrorItemNotFound).
            Ok(resp) if kind == Kind::Delete && resp.status == 404 => None,
            Ok(resp) => Some(format!("Graph answered {}", resp.status)),
            Err(e) if kind == Kind::Delete && e.is_not_found() => None,
            Err(e) => Some(e.to_string()),
        };
        match error {
            None => match kind {
                Kind::Create => {
                    report.created += 1;
                    // A create answered without an id is counted but
                    // not reported as done: the caller must read the
                    // target to learn it.
                    if let (Some(target_id), Some(c)) = (created_id, plan.creates.get(index)) {
                        report.done.push(Applied::Created {
                            target_id,
                            marker: c.marker.clone(),
                        });
                    }
                }
                Kind::Update => {
                    report.updated += 1;
                    if let Some(u) = plan.updates.get(index) {
                        report.done.push(Applied::Updated {
                            target_id: u.target_id.clone(),
                            marker: u.marker.clone(),
                        });
                    }
                }
                Kind::Delete => {
                    report.deleted += 1;
                    if let Some(d) = plan.deletes.get(index) {
                        report.done.push(Applied::Deleted {
                            target_id: d.target_id.clone(),
                            key: d.key.clone(),
                        });
                    }
                }
            },
            Some(error) => report.failures.push(WriteFailure {
                action,
                start: start.to_string(),
                error,
            }),
        }
    }
}

impl InspectableTarget for GraphCalendar {
    async fn read_for_validation(&self) -> anyhow::Result<Vec<InspectedCopy>> {
        self.read_marked(VALIDATION_SELECT, inspected_copy)
            .await
            .context("reading the target calendar failed")
    }
}

/// What `validate` reads of a target event: what `sync` reads, and the fields
/// a copy must not hold. The body is read only to tell whether it has text;
/// it is never kept, printed or logged.
pub(super) const VALIDATION_SELECT: &str = "id,subject,start,end,isAllDay,showAs,location,categories,\
body,bodyPreview,attendees,isOnlineMeeting,onlineMeeting,onlineMeetingUrl";

/// The `$filter` that selects the events carrying calsync's source-key marker.
pub fn managed_filter() -> String {
    format!(
        "singleValueExtendedProperties/Any(ep: ep/id eq '{SOURCE_KEY_PROPERTY}' and ep/value ne '')"
    )
}

/// The `$expand` that returns calsync's two marker properties.
pub fn marker_expand() -> String {
    format!(
        "singleValueExtendedProperties($filter=id eq '{SOURCE_KEY_PROPERTY}' or id eq '{CONTENT_HASH_PROPERTY}')"
    )
}
