//! Where a run is, for the message of a run stopped early and for its
//! progress bars.

use crate::graph::client;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where a run is (reading, writing and how far), for the message of a run
/// stopped early, and its progress bars when it has a terminal, fed by the
/// Graph client as pages arrive and batched writes finish.
pub struct RunProgress {
    bars: Option<MultiProgress>,
    reading: Mutex<Option<ProgressBar>>,
    writing: Mutex<Option<ProgressBar>>,
    items: AtomicUsize,
    pages: AtomicUsize,
    phase: AtomicU8,
    writes_planned: AtomicUsize,
    writes_done: AtomicUsize,
}

const STARTING: u8 = 0;

const READING: u8 = 1;

const WRITING: u8 = 2;

impl RunProgress {
    /// A tracker, drawing in `bars` when given.
    pub fn new(bars: Option<MultiProgress>) -> Arc<RunProgress> {
        Arc::new(RunProgress {
            bars,
            reading: Mutex::new(None),
            writing: Mutex::new(None),
            items: AtomicUsize::new(0),
            pages: AtomicUsize::new(0),
            phase: AtomicU8::new(STARTING),
            writes_planned: AtomicUsize::new(0),
            writes_done: AtomicUsize::new(0),
        })
    }

    /// What the run was doing, and what stopping there leaves.
    pub(super) fn where_stopped(&self) -> (String, String) {
        let done = self.writes_done.load(Ordering::Relaxed);
        let planned = self.writes_planned.load(Ordering::Relaxed);
        match self.phase.load(Ordering::Relaxed) {
            WRITING => (
                format!("applying its plan, after {done} of {planned} writes"),
                "the writes made stay, and the next run finds them and makes the rest, with no \
                 duplicate"
                    .to_string(),
            ),
            READING => (
                "reading the calendars".to_string(),
                "nothing was written; the next run starts again".to_string(),
            ),
            _ => (
                "starting".to_string(),
                "nothing was read or written".to_string(),
            ),
        }
    }

    /// The run has begun talking to the calendars (before the spinner of
    /// [`start_reading`](Self::start_reading), while calendars are looked up).
    pub(super) fn begin(&self) {
        let _ =
            self.phase
                .compare_exchange(STARTING, READING, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// A spinner while both calendars are read.
    pub fn start_reading(&self) {
        self.phase.store(READING, Ordering::Relaxed);
        let Some(bars) = &self.bars else {
            return;
        };
        let bar = bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message("reading the calendars: 0 events");
        bar.enable_steady_tick(Duration::from_millis(120));
        Self::replace(&self.reading, Some(bar));
    }

    /// A bar over the plan's writes while they are applied.
    pub(super) fn start_writing(&self, total: usize) {
        self.writes_planned.store(total, Ordering::Relaxed);
        self.phase.store(WRITING, Ordering::Relaxed);
        Self::replace(&self.reading, None);
        let Some(bars) = &self.bars else {
            return;
        };
        let bar = bars.add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} applying the plan [{bar:30}] {pos}/{len} writes",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Self::replace(&self.writing, Some(bar));
    }

    /// Removes every bar from the terminal.
    pub(super) fn clear(&self) {
        Self::replace(&self.reading, None);
        Self::replace(&self.writing, None);
    }

    fn replace(slot: &Mutex<Option<ProgressBar>>, bar: Option<ProgressBar>) {
        if let Ok(mut slot) = slot.lock()
            && let Some(old) = std::mem::replace(&mut *slot, bar)
        {
            old.finish_and_clear();
        }
    }
}

impl client::Progress for RunProgress {
    fn page_read(&self, items: usize) {
        let total = self.items.fetch_add(items, Ordering::Relaxed) + items;
        let pages = self.pages.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(slot) = self.reading.lock()
            && let Some(bar) = slot.as_ref()
        {
            let unit = if pages == 1 { "page" } else { "pages" };
            bar.set_message(format!(
                "reading the calendars: {total} events in {pages} {unit}"
            ));
        }
    }

    fn writes_done(&self, count: usize) {
        self.writes_done.fetch_add(count, Ordering::Relaxed);
        if let Ok(slot) = self.writing.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.inc(count as u64);
        }
    }
}
