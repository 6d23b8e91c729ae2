//! Several pairs in one process (docs/pairs.md, "Running"): each pair is
//! one run of `sync` or `validate` with its own settings, state directory,
//! lock and history line, and all of them share one Graph client budget.
//!
//! - **One budget per mailbox.** Every pair's Graph client is a sibling of
//!   one shared client ([`GraphClient::sibling`]): they share its
//!   per-mailbox governor, so however many pairs read or write a mailbox at
//!   once, it never has more than 4 operations in flight nor more than the
//!   rate limit per window, and a `Retry-After` one pair receives pauses
//!   them all.
//! - **At most [`MAX_AT_ONCE`] pairs at once,** taken in an order that
//!   alternates between target mailboxes ([`interleaved`]), so that every
//!   mailbox is kept busy while the number of open files (a lock per pair)
//!   stays bounded.
//! - **One failure per pair.** A pair that fails (its configuration, its
//!   calendars, its lock, the deletion guard) fails alone; the others run
//!   on. A signal stops every pair where it is and starts no other.

use super::Interrupt;
use crate::config::{PairSettings, Selection, Settings};
use crate::error::{Failure, code_of};
use crate::graph::client::GraphClient;
use futures_util::FutureExt as _;
use futures_util::StreamExt as _;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use tracing::Instrument as _;

/// The most pairs run at once.
pub const MAX_AT_ONCE: usize = 128;

/// What one pair came to.
pub struct PairResult<R> {
    pub name: String,
    pub result: anyhow::Result<R>,
}

/// The settings of one pair's run: the pair's, keeping their state in the
/// pair's own directory.
pub fn run_settings(pair: &PairSettings) -> Settings {
    let mut settings = pair.settings.clone();
    settings.state_dir = pair.state_dir();
    settings
}

/// Runs `work` for every selected pair (see the module's documentation) and
/// returns each pair's result, in the order of the config. `work` gets the
/// pair's run settings, the signal that stops it, and the shared client.
pub async fn each<R, F, Fut>(
    selection: &Selection,
    interrupt: Option<Interrupt>,
    work: F,
) -> anyhow::Result<Vec<PairResult<R>>>
where
    F: Fn(Settings, Option<Interrupt>, Option<GraphClient>) -> Fut,
    Fut: Future<Output = anyhow::Result<R>>,
{
    let shared = shared_client(&selection.pairs)?;
    let stop = interrupt.map(|i| i.0.shared());
    let order = interleaved(&selection.pairs);
    let runs = futures_util::stream::iter(order.into_iter().map(|i| {
        let pair = &selection.pairs[i];
        let settings = run_settings(pair);
        let stop = stop.clone();
        let shared = shared.clone();
        let work = &work;
        let span = tracing::error_span!("pair", pair = %pair.name);
        async move {
            let result = match stop.as_ref().and_then(|s| s.peek().copied()) {
                // A signal came while the pair waited for its turn.
                Some(signal) => Err(Failure::Interrupted {
                    message: format!("not started: the run was stopped by {} first", signal.name),
                    exit_code: 128 + signal.number,
                }
                .into()),
                None => {
                    let interrupt = stop.map(|s| Interrupt(Box::pin(s)));
                    work(settings, interrupt, shared).await
                }
            };
            (i, result)
        }
        .instrument(span)
    }))
    .buffer_unordered(MAX_AT_ONCE);
    let mut results: Vec<(usize, anyhow::Result<R>)> = runs.collect().await;
    results.sort_by_key(|(i, _)| *i);
    Ok(results
        .into_iter()
        .map(|(i, result)| PairResult {
            name: selection.pairs[i].name.clone(),
            result,
        })
        .collect())
}

/// The client every pair's is a sibling of, built from the sign-in keys of
/// the first pair that reads or writes Graph and has them (they are the
/// run's, the same in every pair). `None` when no pair uses Graph, or none
/// has them: each pair then reports what it misses.
fn shared_client(pairs: &[PairSettings]) -> anyhow::Result<Option<GraphClient>> {
    let Some(pair) = pairs
        .iter()
        .find(|p| p.settings.uses_graph() && p.settings.require_graph().is_ok())
    else {
        return Ok(None);
    };
    super::sides::graph_client(&pair.settings).map(Some)
}

/// The indices of `pairs` in the order they start: one pair of each target
/// in turn, so that the first [`MAX_AT_ONCE`] pairs spread over as many
/// targets as they can.
pub fn interleaved(pairs: &[PairSettings]) -> Vec<usize> {
    let mut by_target: BTreeMap<String, VecDeque<usize>> = BTreeMap::new();
    let mut first_seen: Vec<String> = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        let identity = p.target_identity();
        let queue = by_target.entry(identity.clone()).or_default();
        if queue.is_empty() && !first_seen.contains(&identity) {
            first_seen.push(identity);
        }
        queue.push_back(i);
    }
    let mut out = Vec::with_capacity(pairs.len());
    while out.len() < pairs.len() {
        for identity in &first_seen {
            if let Some(i) = by_target.get_mut(identity).and_then(VecDeque::pop_front) {
                out.push(i);
            }
        }
    }
    out
}

/// How much an exit code asks of the operator, to choose the one exit code
/// of several pairs: a signal, then configuration (2), sign-in (3), an
/// unexpected failure (1), the deletion guard (6), failed writes (5),
/// problems found (4), a lock held by another run (75, try later), success.
pub fn severity(code: u8) -> u8 {
    match code {
        0 => 0,
        75 => 1,
        4 => 2,
        5 => 3,
        6 => 4,
        1 => 5,
        3 => 6,
        2 => 7,
        _ => 8,
    }
}

/// The most severe of several exit codes ([`severity`]); 0 for none.
pub fn most_severe(codes: impl IntoIterator<Item = u8>) -> u8 {
    codes.into_iter().max_by_key(|c| severity(*c)).unwrap_or(0)
}

/// The exit code and the history-style outcome of a pair that failed.
pub fn failure_of(e: &anyhow::Error) -> (u8, &'static str) {
    let code = code_of(e);
    let outcome = match code {
        75 => "locked",
        _ => super::failed_outcome(e),
    };
    (code, outcome)
}

/// The error of a failed pair as one JSON object: its pair, exit code,
/// outcome, message and causes, plus what the error adds under `--json`.
pub fn error_json(name: &str, e: &anyhow::Error) -> serde_json::Value {
    let (code, outcome) = failure_of(e);
    let mut doc = serde_json::Map::new();
    doc.insert("pair".into(), name.into());
    doc.insert("exit_code".into(), code.into());
    doc.insert("outcome".into(), outcome.into());
    doc.insert("error".into(), e.to_string().into());
    let causes: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
    doc.insert("causes".into(), causes.into());
    if let Some(details) = crate::error::details_of(e) {
        for (k, v) in details {
            doc.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    serde_json::Value::Object(doc)
}

/// An error's message in one line, for the summary's line of a pair.
pub fn one_line(e: &anyhow::Error) -> String {
    cut(&format!("{e:#}"), 1000)
}

/// `text` on one line, cut to `max` characters.
pub fn cut(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > max {
        line.chars()
            .take(max.saturating_sub(1))
            .chain(['…'])
            .collect()
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FlagOverrides, load_pairs};

    /// The pairs of a config whose pairs write the target mailboxes given.
    fn pairs_writing(mailboxes: &[&str]) -> Vec<PairSettings> {
        let mut text =
            String::from("tenant_id = \"t\"\nclient_id = \"c\"\nmailbox = \"src@example.org\"\n");
        for (i, m) in mailboxes.iter().enumerate() {
            text.push_str(&format!(
                "[[pair]]\nname = \"p{i}\"\nsource_calendar = \"S{i}\"\ntarget_calendar = \"T{i}\"\ntarget_mailbox = \"{m}\"\n"
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let flags = FlagOverrides {
            config: Some(path),
            ..FlagOverrides::default()
        };
        let state = dir.path().join("state").display().to_string();
        load_pairs(&flags, &|k| {
            (k == "CALSYNC_STATE_DIR").then(|| state.clone())
        })
        .unwrap()
        .pairs
    }

    #[test]
    fn pairs_start_in_turn_from_each_target_mailbox() {
        let pairs = pairs_writing(&["a@x", "a@x", "a@x", "b@x", "b@x", "c@x"]);
        assert_eq!(interleaved(&pairs), [0, 3, 5, 1, 4, 2]);
    }

    #[test]
    fn every_pair_starts_once() {
        let mailboxes: Vec<String> = (0..40).map(|i| format!("m{}@x", i % 7)).collect();
        let refs: Vec<&str> = mailboxes.iter().map(String::as_str).collect();
        let mut order = interleaved(&pairs_writing(&refs));
        order.sort_unstable();
        assert_eq!(order, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn the_most_severe_code_wins() {
        assert_eq!(most_severe([]), 0);
        assert_eq!(most_severe([0, 75, 0]), 75);
        assert_eq!(most_severe([75, 4]), 4);
        assert_eq!(most_severe([4, 5, 0]), 5);
        assert_eq!(most_severe([5, 6]), 6);
        assert_eq!(most_severe([6, 1]), 1);
        assert_eq!(most_severe([1, 3]), 3);
        assert_eq!(most_severe([3, 2, 6]), 2);
        assert_eq!(most_severe([2, 130]), 130);
    }
}
