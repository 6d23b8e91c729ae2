//! The per-mailbox governor: how many operations each mailbox has
//! outstanding and within its rate window, and the pauses a `Retry-After`
//! asks for.
//!
//! What Graph does here: docs/graph.md, Throttling.

use super::client::strip_query;
use super::pacing::RateLimit;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Graph runs at most this many inner requests of an unordered batch at a
/// time (`concepts/json-batching.md`).
pub(super) const BATCH_PARALLELISM: usize = 4;

/// Whose limits a request counts against. Outlook's limits are per app and
/// mailbox (`concepts/throttling-limits.md`), and a run may read one mailbox
/// while it writes another, so the [`Governor`] keeps one count per mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Mailbox {
    /// The id of `/users/{id}/…` (percent-decoded and lowercased: Graph
    /// compares user ids and principal names without case), or `me` for
    /// `/me/…`.
    Named(String),
    /// A request that addresses no mailbox (`/organization`, …): these
    /// share a count of their own, so that nothing is sent unbounded.
    Unnamed,
}

impl Mailbox {
    /// The mailbox a path relative to the Graph root addresses, such as
    /// `/users/a@b.example/events/ID` or an inner request's `url`.
    pub(super) fn of_path(path: &str) -> Mailbox {
        let mut segments = strip_query(path)
            .trim_start_matches('/')
            .split('/')
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy());
        let Some(first) = segments.next() else {
            return Mailbox::Unnamed;
        };
        if first.eq_ignore_ascii_case("me") {
            return Mailbox::Named("me".to_owned());
        }
        let id = if first.eq_ignore_ascii_case("users") {
            segments.next()
        } else {
            // The OData key form, `users('{id}')`.
            first
                .get(..6)
                .filter(|p| p.eq_ignore_ascii_case("users("))
                .and_then(|_| first.get(6..))
                .and_then(|rest| rest.strip_suffix(')'))
                .map(|key| std::borrow::Cow::Owned(key.trim_matches('\'').to_owned()))
        };
        match id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => Mailbox::Named(id.to_lowercase()),
            _ => Mailbox::Unnamed,
        }
    }
}

/// What one HTTP request asks of the mailboxes it addresses: for each, the
/// Graph operations it carries there (1 for a request outside a batch; a
/// batch's inner requests, counted per mailbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cost(pub(super) Vec<(Mailbox, u32)>);

impl Cost {
    pub(super) fn single(mailbox: Mailbox) -> Cost {
        Cost(vec![(mailbox, 1)])
    }

    /// A batch whose inner requests address `mailboxes`, one each.
    pub(super) fn batch(mailboxes: impl IntoIterator<Item = Mailbox>) -> Cost {
        let mut per: Vec<(Mailbox, u32)> = Vec::new();
        for m in mailboxes {
            match per.iter_mut().find(|(k, _)| *k == m) {
                Some((_, n)) => *n = n.saturating_add(1),
                None => per.push((m, 1)),
            }
        }
        Cost(per)
    }

    /// Graph operations in all.
    pub(super) fn ops(&self) -> u32 {
        self.0
            .iter()
            .fold(0u32, |sum, (_, n)| sum.saturating_add(*n))
    }
}

/// The slots `ops` operations sent in one request hold on their mailbox from
/// sending until the answer: Graph may run an unordered batch's inner
/// requests 4 at once and its running time varies, so nothing tells when a
/// batch's last one finished before its answer arrives; a batch holds
/// min(4, its size), a request alone 1.
fn slots(ops: u32) -> usize {
    usize::try_from(ops)
        .unwrap_or(usize::MAX)
        .clamp(1, BATCH_PARALLELISM)
}

/// One mailbox's share of the limits.
#[derive(Debug, Default)]
struct MailboxState {
    /// Slots held by requests sent and not yet answered.
    in_flight: usize,
    /// Operations sent, with when, within the rate window.
    sent: VecDeque<(Instant, u32)>,
    sent_ops: u64,
    /// Nothing is sent to the mailbox before this (a `Retry-After`).
    paused_until: Option<Instant>,
}

/// Keeps each mailbox within Outlook's limits: at most `capacity` slots held
/// (see [`slots`]) and at most `rate` operations per window, and nothing
/// sent while a `Retry-After` it drew runs.
#[derive(Debug)]
pub(super) struct Governor {
    capacity: usize,
    /// Operations and window, the window lengthened by a safety margin.
    rate: Option<(u64, Duration)>,
    mailboxes: Mutex<HashMap<Mailbox, MailboxState>>,
    notify: tokio::sync::Notify,
}

/// The slots of one request, held from before it is sent until its answer
/// arrived or it failed; given back when dropped.
pub(super) struct Lease {
    governor: Arc<Governor>,
    pub(super) cost: Cost,
}

impl Governor {
    pub(super) fn new(capacity: usize, rate_limit: Option<RateLimit>) -> Governor {
        Governor {
            capacity: capacity.max(1),
            // Graph counts an operation when it runs it, up to a batch's
            // running time after we send it: a window longer by 2% (at least
            // a second) keeps clear of its count.
            rate: rate_limit
                .filter(|(n, w)| *n > 0 && !w.is_zero())
                .map(|(n, w)| (u64::from(n), w + (w / 50).max(Duration::from_secs(1)))),
            mailboxes: Mutex::new(HashMap::new()),
            notify: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Mailbox, MailboxState>> {
        self.mailboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The slots `ops` operations hold here.
    fn slots(&self, ops: u32) -> usize {
        slots(ops).min(self.capacity)
    }

    /// Waits until `cost` fits the limits of every mailbox it addresses, and
    /// takes its slots.
    pub(super) async fn acquire(self: &Arc<Self>, cost: &Cost) -> Lease {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake = {
                let mut st = self.lock();
                match self.try_take(&mut st, cost, Instant::now()) {
                    Ok(()) => {
                        return Lease {
                            governor: Arc::clone(self),
                            cost: cost.clone(),
                        };
                    }
                    Err(wake) => wake,
                }
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Takes the slots and rate for `cost` on all its mailboxes now, or none
    /// and says when to look again (`None`: when a lease is given back).
    fn try_take(
        &self,
        st: &mut HashMap<Mailbox, MailboxState>,
        cost: &Cost,
        now: Instant,
    ) -> Result<(), Option<Instant>> {
        for (mailbox, ops) in &cost.0 {
            let Some(mb) = st.get_mut(mailbox) else {
                continue;
            };
            if let Some(until) = mb.paused_until {
                if until > now {
                    return Err(Some(until));
                }
                mb.paused_until = None;
            }
            if mb.in_flight + self.slots(*ops) > self.capacity {
                return Err(None);
            }
            if let Some(at) = self.rate_wait(mb, *ops, now) {
                return Err(Some(at));
            }
        }
        for (mailbox, ops) in &cost.0 {
            let mb = st.entry(mailbox.clone()).or_default();
            mb.in_flight += self.slots(*ops);
            if self.rate.is_some() {
                mb.sent.push_back((now, *ops));
                mb.sent_ops += u64::from(*ops);
            }
        }
        Ok(())
    }

    /// When `ops` more operations fit the mailbox's rate window, if not now.
    fn rate_wait(&self, mb: &mut MailboxState, ops: u32, now: Instant) -> Option<Instant> {
        let (limit, window) = self.rate?;
        while let Some(&(t, n)) = mb.sent.front() {
            if now.duration_since(t) < window {
                break;
            }
            mb.sent.pop_front();
            mb.sent_ops -= u64::from(n);
        }
        let ops = u64::from(ops);
        if mb.sent_ops == 0 || mb.sent_ops + ops <= limit {
            return None;
        }
        // Wait until enough of the oldest have left the window.
        let mut freed = 0u64;
        let mut at = now;
        for &(t, n) in &mb.sent {
            freed += u64::from(n);
            at = t + window;
            if mb.sent_ops - freed + ops <= limit {
                break;
            }
        }
        Some(at)
    }

    /// Nothing is sent to `mailboxes` for `wait`.
    pub(super) fn back_off<'m>(
        &self,
        mailboxes: impl IntoIterator<Item = &'m Mailbox>,
        wait: Duration,
    ) {
        if wait.is_zero() {
            return;
        }
        let until = Instant::now() + wait;
        let mut st = self.lock();
        for mailbox in mailboxes {
            let mb = st.entry(mailbox.clone()).or_default();
            mb.paused_until = Some(mb.paused_until.map_or(until, |u| u.max(until)));
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        {
            let mut st = self.governor.lock();
            for (mailbox, ops) in &self.cost.0 {
                if let Some(mb) = st.get_mut(mailbox) {
                    mb.in_flight = mb.in_flight.saturating_sub(self.governor.slots(*ops));
                }
            }
        }
        self.governor.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
