//! Reading the source calendar: a window of it, or its changes through
//! calendarView delta, and the instances of the series that changed.
//!
//! What Graph does here: docs/graph.md, calendarView, Delta, Series instances and Long ranges.

use super::*;
use crate::graph::wire::{BodyField, EventBody, Field, GraphEvent, Skipped};
use serde::Deserialize;
use serde::de::DeserializeOwned;

impl SourceProvider for GraphCalendar {
    async fn read(&self, window: &Window) -> anyhow::Result<Vec<SourceEvent>> {
        let path = format!("{}/calendarView", self.calendar_path());
        let select = self.source_select();
        let mut seen = HashSet::new();
        let mut events = Vec::new();
        let mut ranges = Ranges::of(window);
        while let Some(range) = ranges.next() {
            let (from, to) = (z(range.start), z(range.end));
            let read = self
                .client
                .for_each_page_of::<GraphEvent, _>(
                    &path,
                    &[
                        ("startDateTime", from.as_str()),
                        ("endDateTime", to.as_str()),
                        ("$top", PAGE_SIZE),
                        ("$orderby", "start/dateTime"),
                        ("$select", select.as_str()),
                    ],
                    ranges.options(&range),
                    |items| {
                        for item in &items {
                            if let Some(ev) = self.source_event(item)?
                                && seen.insert(ev.key.clone())
                            {
                                events.push(ev);
                            }
                        }
                        Ok(())
                    },
                )
                .await;
            if let Err(e) = read
                && !ranges.split(range, &e)
            {
                return Err(self.page_error(e))
                    .context("reading the source calendar failed; nothing was written");
            }
        }
        Ok(events)
    }
}

/// A range shorter than this is never split: Graph failing it is an outage.
pub(super) const MIN_SPLIT_DAYS: i64 = 7;

/// The ranges a read of the window goes through: the pieces Graph accepts
/// (at most 1,825 days), and the halves of any piece Graph keeps answering
/// 503 or 504. Long windows with many series make Graph fail mid-paging
/// (microsoft-graph-docs#3657, #6499), and asking again for the same range
/// fails again; a shorter one is lighter. The halves are read depth first,
/// so that when Graph is down altogether the read fails after a few
/// requests, not after one per day of the window.
pub(super) struct Ranges {
    /// Last to be read first.
    todo: Vec<PieceRange>,
}

impl Ranges {
    pub(super) fn of(window: &Window) -> Ranges {
        // The window's end is included; the range's is not.
        let read_end = window.end + Duration::seconds(1);
        let mut todo: Vec<PieceRange> = view_pieces(window.start, read_end)
            .into_iter()
            .map(|(start, end)| PieceRange { start, end })
            .collect();
        todo.reverse();
        Ranges { todo }
    }

    pub(super) fn next(&mut self) -> Option<PieceRange> {
        self.todo.pop()
    }

    pub(super) fn splittable(range: &PieceRange) -> bool {
        range.end - range.start > Duration::days(MIN_SPLIT_DAYS)
    }

    /// How to read a range: one that can be split gets its 503 or 504 back
    /// after one retry.
    pub(super) fn options(&self, range: &PieceRange) -> PageOptions<'static> {
        PageOptions {
            unavailable_retries: Self::splittable(range).then_some(1),
            ..PageOptions::default()
        }
    }

    /// After a failed read of `range`: whether it is read again as two
    /// halves (Graph answered 503 or 504, and the range is long enough).
    pub(super) fn split(&mut self, range: PieceRange, e: &PageError) -> bool {
        let unavailable = matches!(e, PageError::Graph(g) if matches!(g.status, Some(503 | 504)));
        if !unavailable || !Self::splittable(&range) {
            return false;
        }
        let middle = range.start + (range.end - range.start) / 2;
        tracing::info!(
            from = %range.start,
            to = %range.end,
            "Graph keeps failing to read this range of the source; reading it in two halves"
        );
        self.todo.push(PieceRange {
            start: middle,
            end: range.end,
        });
        self.todo.push(PieceRange {
            start: range.start,
            end: middle,
        });
        true
    }
}

/// calendarView delta: the window goes on the first call of a piece only;
/// afterwards the stored `@odata.deltaLink` is followed exactly as given.
/// Delta takes no `$select`, so whole events come over the wire; only what
/// [`source_event`] keeps of them leaves this module.
///
/// Delta is a change signal for a series, not its content: Graph sends an
/// unmodified occurrence bare (id, type, seriesMasterId, start and end only)
/// and lists the series master as well (microsoft-graph-docs#7632,
/// microsoft-graph-docs#22197, microsoft-graph-docs-contrib#34), and it may
/// send nothing at all for a deleted occurrence (microsoft-graph-docs#4501).
/// So a listed master or an occurrence without its fields becomes
/// [`SourceChange::SeriesChanged`], and the series' instances are read again
/// ([`IncrementalSource::read_series`]); an occurrence or exception that came
/// whole is taken as it is.
impl IncrementalSource for GraphCalendar {
    async fn read_all(&self, window: &Window) -> anyhow::Result<Vec<PieceChanges>> {
        let path = format!("{}/calendarView/delta", self.calendar_path());
        let mut pieces = Vec::new();
        let mut ranges = Ranges::of(window);
        while let Some(range) = ranges.next() {
            let (from, to) = (z(range.start), z(range.end));
            let read = self
                .delta_round(
                    range,
                    &path,
                    &[
                        ("startDateTime", from.as_str()),
                        ("endDateTime", to.as_str()),
                    ],
                    ranges.options(&range).unavailable_retries,
                )
                .await;
            match read {
                Ok(piece) => pieces.push(piece),
                Err(e) if ranges.split(range, &e) => {}
                Err(e) => {
                    return Err(self.page_error(e))
                        .context("reading the source calendar failed; nothing was written");
                }
            }
        }
        Ok(pieces)
    }

    async fn read_changes(
        &self,
        cursors: &[(PieceRange, String)],
    ) -> anyhow::Result<Vec<PieceChanges>> {
        let mut pieces = Vec::with_capacity(cursors.len());
        for (range, link) in cursors {
            let piece = match self.delta_round(*range, link, &[], None).await {
                Ok(piece) => piece,
                Err(PageError::Graph(e)) if delta_link_refused(&e) => {
                    return Err(anyhow::Error::new(CursorExpired(e.to_string())));
                }
                Err(e) => {
                    return Err(self.page_error(e)).context(
                        "reading the source calendar's changes failed; nothing was written",
                    );
                }
            };
            pieces.push(piece);
        }
        Ok(pieces)
    }

    async fn read_series(
        &self,
        wanted: &[(PieceRange, String)],
    ) -> anyhow::Result<Vec<Option<SeriesInstances>>> {
        let context = "reading a recurring series of the source calendar failed; nothing was \
                       written";
        let select = self.source_select();
        let requests = wanted
            .iter()
            .map(|(range, series)| {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("startDateTime", &z(range.start))
                    .append_pair("endDateTime", &z(range.end))
                    .append_pair("$select", &select)
                    .append_pair("$top", PAGE_SIZE)
                    .finish();
                // Under the calendar: a delegate with rights on that
                // calendar only reaches its events there
                // (`api-reference/v1.0/api/event-list-instances.md`).
                BatchRequest::bare(
                    Method::GET,
                    format!(
                        "{}/events/{}/instances?{query}",
                        self.calendar_path(),
                        segment(series)
                    ),
                )
            })
            .collect();
        let answers = self.client.batch_keeping(requests, None).await;
        let mut out = Vec::with_capacity(wanted.len());
        for answer in answers {
            let body = match answer {
                Ok(resp) => resp.body,
                // The series is gone (ErrorItemNotFound).
                Err(e) if e.is_not_found() => {
                    out.push(None);
                    continue;
                }
                Err(e) => return Err(classify(e, &self.mailbox)).context(context),
            };
            let mut instances = Vec::new();
            let mut take = |item: &GraphEvent| -> anyhow::Result<()> {
                let id = item
                    .id
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| malformed("id"))?;
                if let Some(ev) = self.source_event(item)? {
                    instances.push((id.to_owned(), ev));
                }
                Ok(())
            };
            let items = body
                .get("value")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    anyhow!(
                        "Graph answered a request for a series' instances without a `value` \
                         array; the response is malformed or truncated."
                    )
                })
                .context(context)?;
            for item in items {
                // An item that is not an object has no `id` either.
                let item = GraphEvent::deserialize(item).map_err(|_| malformed("id"));
                item.and_then(|item| take(&item)).context(context)?;
            }
            // A long series comes in pages.
            if let Some(next) = str_field(&body, "@odata.nextLink") {
                self.client
                    .for_each_page_of::<GraphEvent, _>(next, &[], PageOptions::default(), |items| {
                        items.iter().try_for_each(&mut take)
                    })
                    .await
                    .map_err(|e| self.page_error(e))
                    .context(context)?;
            }
            out.push(Some(instances));
        }
        Ok(out)
    }
}

/// The fields of an occurrence calsync reads besides its times: an
/// occurrence delta sends without them is only a signal that its series
/// changed.
pub(super) const OCCURRENCE_FIELDS: [&str; 7] = [
    "originalStart",
    "subject",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "showAs",
    "categories",
];

impl GraphCalendar {
    /// One delta round of a piece, from its first call or a stored link,
    /// converted page by page.
    pub(super) async fn delta_round(
        &self,
        range: PieceRange,
        path: &str,
        query: &[(&str, &str)],
        unavailable_retries: Option<u32>,
    ) -> Result<PieceChanges, PageError> {
        // Delta takes no `$select`: what is not needed is skipped as the page
        // is parsed, the body too when it is not copied.
        if self.copy.body {
            self.delta_round_as::<Field<EventBody>>(range, path, query, unavailable_retries)
                .await
        } else {
            self.delta_round_as::<Skipped>(range, path, query, unavailable_retries)
                .await
        }
    }

    /// [`delta_round`](Self::delta_round), each body read as a `B`.
    async fn delta_round_as<B>(
        &self,
        range: PieceRange,
        path: &str,
        query: &[(&str, &str)],
        unavailable_retries: Option<u32>,
    ) -> Result<PieceChanges, PageError>
    where
        B: BodyField + DeserializeOwned + Send,
    {
        let options = PageOptions {
            max_page_size: Some(DELTA_PAGE_SIZE),
            keep: None,
            unavailable_retries,
        };
        let mut changes = Vec::new();
        let delta_link = self
            .client
            .for_each_page_of::<GraphEvent<B>, _>(path, query, options, |items| {
                changes.reserve(items.len());
                for item in &items {
                    changes.push(self.delta_change(item)?);
                }
                Ok(())
            })
            .await?;
        let cursor = delta_link.ok_or_else(|| {
            PageError::Consumer(anyhow!(
                "Graph ended a calendarView delta round without an @odata.deltaLink; the \
                 response is malformed or truncated. Nothing was written. Run again; if it \
                 persists, run with -vv and report the request-id."
            ))
        })?;
        Ok(PieceChanges {
            range,
            changes,
            cursor,
        })
    }

    /// What one delta item says.
    pub(super) fn delta_change<B: BodyField>(
        &self,
        item: &GraphEvent<B>,
    ) -> anyhow::Result<SourceChange> {
        let item_id = item
            .id
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed("id"))?
            .to_string();
        if item.removed {
            return Ok(SourceChange::Remove { item_id });
        }
        match item.kind.as_str() {
            Some("seriesMaster") => Ok(SourceChange::SeriesChanged { series_id: item_id }),
            Some("occurrence" | "exception") if OCCURRENCE_FIELDS.iter().any(|f| !item.has(f)) => {
                let series_id = item
                    .series_master_id
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| malformed("seriesMasterId"))?
                    .to_string();
                Ok(SourceChange::SeriesChanged { series_id })
            }
            _ => Ok(SourceChange::Upsert {
                item_id,
                event: self.source_event(item)?,
            }),
        }
    }
}

/// Whether Graph refused a stored delta link for good: `410`,
/// `SyncStateNotFound` and kin, or any other 4xx that is not about the
/// sign-in or throttling (`concepts/delta-query-overview.md`: drop the
/// state and read again).
pub(super) fn delta_link_refused(e: &GraphError) -> bool {
    let code = e.code.to_ascii_lowercase();
    if matches!(
        code.as_str(),
        "syncstatenotfound" | "resyncrequired" | "syncstateinvalid"
    ) {
        return true;
    }
    matches!(e.status, Some(s) if (400..500).contains(&s) && !matches!(s, 401 | 403 | 429))
        || code == "foreign_next_link"
        || code == "invalid_url"
}
