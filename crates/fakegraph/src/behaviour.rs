//! Where Graph's documentation and what clients report of the real service
//! disagree, the fake answers as reported by default; a [`Behaviour`]
//! switches each point to the documented variant.

/// How the fake answers where the documentation and reports of the real
/// service differ. The default is what is reported; [`Behaviour::documented`]
/// is what the documentation says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Behaviour {
    /// How calendarView delta returns occurrences of a series.
    pub delta_occurrences: DeltaOccurrences,
    /// Whether a deleted/cancelled occurrence is signalled in delta with
    /// `@removed`. `false` sends no item at all for it (the series master
    /// still comes, since it changed), as reported in
    /// microsoftgraph/microsoft-graph-docs#4501 (found by experiment).
    pub delta_signals_deleted_occurrences: bool,
    /// How a POST repeating an earlier `transactionId` is answered.
    pub duplicate_transaction_id: DuplicateTransactionId,
    /// Whether a delegate (a delegated token on another person's mailbox)
    /// may list that mailbox's `/calendars` (or create one there). With
    /// `false` it gets `403 ErrorAccessDenied` there while `/calendar` and
    /// `/calendars/{id}/…` work: Exchange grants a delegate rights on the
    /// Calendar folder, not on the mailbox root
    /// (`concepts/outlook-get-shared-events-calendars.md` names only the
    /// calendar paths for shared calendars).
    pub delegate_can_list_calendars: bool,
}

/// How calendarView delta sends the occurrences of a series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeltaOccurrences {
    /// As reported (microsoftgraph/microsoft-graph-docs#7632,
    /// microsoftgraph/microsoft-graph-docs-contrib#34,
    /// microsoftgraph/microsoft-graph-docs#22197, ridafkih/keeper.sh#409):
    /// an unmodified occurrence carries only `@odata.type`, `@odata.etag`,
    /// `id`, `type`, `seriesMasterId`, `start` and `end`, and the series
    /// master is listed too, in full, whenever the series is new to the
    /// window or changed.
    #[default]
    Bare,
    /// As documented (`api-reference/v1.0/api/event-delta.md`): occurrences
    /// are full objects like calendarView's, and no series master is listed.
    Full,
}

/// How a POST repeating an earlier `transactionId` of the mailbox is
/// answered. Nothing is created in any case while the first event exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DuplicateTransactionId {
    /// `400 ErrorDuplicateTransactionId` with `@event.existingEventId`, as
    /// reported in alcionai/corso#2490.
    #[default]
    Error400,
    /// The same error with status 409, as some clients expect, and without
    /// `@event.existingEventId` (no report shows a 409 naming the event, so
    /// a client must find it otherwise).
    Error409,
    /// `201 Created` with the existing event (a new one if it was deleted),
    /// as a Microsoft support engineer describes it (blog.rykoma.net,
    /// 2020-10-05); `api-reference/v1.0/resources/event.md` only says the
    /// id lets the server avoid redundant POSTs.
    Created201,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            delta_occurrences: DeltaOccurrences::Bare,
            delta_signals_deleted_occurrences: true,
            duplicate_transaction_id: DuplicateTransactionId::Error400,
            delegate_can_list_calendars: false,
        }
    }
}

impl Behaviour {
    /// Every documented variant at once: full occurrences in delta and no
    /// masters, deletions signalled, a repeated `transactionId` answered 201,
    /// and delegates may list calendars.
    pub fn documented() -> Behaviour {
        Behaviour {
            delta_occurrences: DeltaOccurrences::Full,
            delta_signals_deleted_occurrences: true,
            duplicate_transaction_id: DuplicateTransactionId::Created201,
            delegate_can_list_calendars: true,
        }
    }
}
