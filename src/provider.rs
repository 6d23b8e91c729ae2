//! The calendar abstractions the sync runs over.
//!
//! A source yields events (public and private alike: the planner filters); a
//! target yields only the events carrying calsync's ownership marker and
//! applies a plan. Microsoft Graph implements both ([`crate::graph::provider`]);
//! another kind of calendar (an `.ics` file) plugs in here without touching the
//! planner.

use crate::model::{ManagedEvent, SourceEvent, Window};
use crate::planner::Plan;
use crate::validate::InspectedCopy;
use serde::Serialize;
use std::future::Future;

/// Where public events come from.
pub trait SourceProvider {
    /// Reads every event whose span touches the window. Fails rather than
    /// returning a partial list: an incomplete read must never cause deletions.
    fn read(
        &self,
        window: &Window,
    ) -> impl Future<Output = anyhow::Result<Vec<SourceEvent>>> + Send;
}

/// Where public copies go.
pub trait TargetProvider {
    /// Reads the events that carry calsync's marker. Events made by hand are
    /// never returned, so no plan can touch them.
    fn read_managed(
        &self,
        window: &Window,
    ) -> impl Future<Output = anyhow::Result<Vec<ManagedEvent>>> + Send;

    /// Applies a plan. Individual failed writes are reported, not fatal.
    fn apply(&self, plan: &Plan) -> impl Future<Output = anyhow::Result<ApplyReport>> + Send;
}

/// A target `validate` can inspect: its managed events together with the
/// fields a copy must not hold (SPEC §5 `leak`). Only `validate` reads this
/// way; `sync` reads no more than it needs.
pub trait InspectableTarget {
    /// Reads every event that carries calsync's marker, wherever it lies in
    /// time, noting whether it holds a body, a location, attendees or online
    /// meeting data. Fails rather than returning a partial list.
    fn read_for_validation(
        &self,
    ) -> impl Future<Output = anyhow::Result<Vec<InspectedCopy>>> + Send;
}

/// What applying a plan achieved.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub failures: Vec<WriteFailure>,
}

/// One write that failed after its retries.
#[derive(Debug, Clone, Serialize)]
pub struct WriteFailure {
    /// `create`, `update` or `delete`.
    pub action: &'static str,
    /// The start of the event concerned, for the operator to find it.
    pub start: String,
    pub error: String,
}
