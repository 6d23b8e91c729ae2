//! The "pairs" scenario: many `[[pair]]` tables in one config, run by one
//! process and by 4 shards at once, against the same fake and model as the
//! single-pair runs.
//!
//! The world: `pairs` pairs (500 by default) over `pairs / 10` target
//! mailboxes, 10 pairs per target mailbox, each pair writing its own
//! calendar there (`Team K (public)` in `public-NN@…`). Each pair reads its
//! own source calendar (`Team K`) in a source mailbox: by default one
//! internal mailbox per department (`internal-NN@…`, 10 calendars, the
//! sources of the 10 pairs of `public-NN@…`), as when each department
//! publishes its team calendars; `CALSYNC_BENCH_PAIR_SOURCES=S` spreads the
//! sources over `S` mailboxes instead (5 puts 100 source calendars in each,
//! and a source mailbox becomes the busiest). Every source holds 40 public
//! events and 8 private ones.
//!
//! The floor generalises the single pair's: Graph's limits are per mailbox
//! and mailboxes run side by side, so a run cannot end before its busiest
//! mailbox has carried its operations through 4 slots. Each mailbox's
//! operations are charged as a client must hold them: a request outside a
//! batch holds one slot for a round trip and a mean operation; its writes,
//! packed into batches of 20, hold min(4, size) slots each for a round trip
//! plus one mean operation per 4 requests. The floor is the token's round
//! trip plus the busiest mailbox's slot time / 4 (or its rate bound, if
//! longer).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use fakegraph::{FakeGraph, Faults, RecordedRequest};
use serde_json::{Value, json};

use super::{
    BATCH, CLIENT_ID, COMPRESSION, Cost, RATE_OPS, RATE_WINDOW, RTT, SECRET, SLOTS, TENANT,
    graph_time, mark, mean_op_time, measured_sync, ms, n32,
};

/// Pairs writing one target mailbox.
const PER_TARGET: usize = 10;
/// Public events in each source, and private ones beside them.
const PUBLIC: usize = 40;
const PRIVATE: usize = 8;
/// Shards of the sharded runs.
const SHARDS: u32 = 4;

/// One mailbox's name.
fn target_mailbox(t: usize) -> String {
    format!("public-{t:02}@contoso.example")
}

fn source_mailbox(s: usize) -> String {
    format!("internal-{s:02}@contoso.example")
}

struct Pair {
    name: String,
    source_mailbox: String,
    source_calendar: String,
    target_mailbox: String,
    target_calendar: String,
    source_id: String,
    target_id: String,
}

/// The fake seeded with every source, the empty target calendars, and the
/// config that pairs them.
struct PairsWorld {
    fake: FakeGraph,
    home: tempfile::TempDir,
    pairs: Vec<Pair>,
    sources: usize,
}

impl PairsWorld {
    fn new(n: usize, sources: usize) -> Result<PairsWorld, String> {
        let fake = FakeGraph::start();
        fake.add_app(TENANT, CLIENT_ID, SECRET);
        let targets = n.div_ceil(PER_TARGET);
        for t in 0..targets {
            fake.add_mailbox(&target_mailbox(t));
        }
        for s in 0..sources {
            fake.add_mailbox(&source_mailbox(s));
        }
        let midnight = Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .ok_or("no midnight")?
            .and_utc();
        let mut pairs = Vec::with_capacity(n);
        let mut config = String::new();
        for p in 0..n {
            let (t, k) = (p / PER_TARGET, p % PER_TARGET);
            // Contiguous blocks: with as many source mailboxes as targets,
            // the 10 sources of public-NN live in internal-NN.
            let s = p * sources / n;
            let pair = Pair {
                name: format!("p{p:04}"),
                source_mailbox: source_mailbox(s),
                source_calendar: format!("Team {p:04}"),
                target_mailbox: target_mailbox(t),
                target_calendar: format!("Team {k} (public)"),
                source_id: String::new(),
                target_id: String::new(),
            };
            let source_id = fake.add_calendar(&pair.source_mailbox, &pair.source_calendar);
            let target_id = fake.add_calendar(&pair.target_mailbox, &pair.target_calendar);
            for i in 0..PUBLIC + PRIVATE {
                let j = i64::try_from(i % PUBLIC).unwrap_or(0);
                let start = midnight + Days::days(1 + j / 10) + Days::hours(8 + j % 10);
                let sensitivity = if i < PUBLIC { "normal" } else { "private" };
                fake.insert_event(
                    &pair.source_mailbox,
                    &source_id,
                    json!({
                        "subject": format!("{} event {i:02}", pair.name),
                        "start": graph_time(start),
                        "end": graph_time(start + Days::minutes(30)),
                        "sensitivity": sensitivity,
                        "showAs": "busy",
                        "body": {"contentType": "text", "content": format!("Agenda {i}")},
                        "location": {"displayName": "Town hall"},
                    }),
                );
            }
            config.push_str(&format!(
                "[[pair]]\nname = \"{}\"\nmailbox = \"{}\"\nsource_calendar = \"{}\"\n\
                 target_mailbox = \"{}\"\ntarget_calendar = \"{}\"\n\n",
                pair.name,
                pair.source_mailbox,
                pair.source_calendar,
                pair.target_mailbox,
                pair.target_calendar
            ));
            pairs.push(Pair {
                source_id,
                target_id,
                ..pair
            });
        }
        let home = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::write(home.path().join("pairs.toml"), config).map_err(|e| e.to_string())?;
        Ok(PairsWorld {
            fake,
            home,
            pairs,
            sources,
        })
    }

    /// One `calsync --config pairs.toml sync --json EXTRA…`, measured, with
    /// its own home under this world's (shards share the state dir).
    fn sync_in(&self, home: &Path, extra: &[&str]) -> Result<(Cost, Value), String> {
        std::fs::create_dir_all(home).map_err(|e| e.to_string())?;
        let config = self.home.path().join("pairs.toml");
        let global = ["--config".as_ref(), config.as_os_str()];
        let state = self.home.path().join("state");
        measured_sync(home, &global, extra, |c: &mut Command| {
            c.env("CALSYNC_TENANT_ID", TENANT)
                .env("CALSYNC_CLIENT_ID", CLIENT_ID)
                .env("CALSYNC_CLIENT_SECRET", SECRET)
                .env("CALSYNC_GRAPH_URL", self.fake.graph_url())
                .env("CALSYNC_AUTHORITY_URL", self.fake.authority_url())
                .env("CALSYNC_STATE_DIR", &state)
                .env("CALSYNC_TOKEN_STORE", "file")
                .env(
                    "CALSYNC_GRAPH_RATE_LIMIT",
                    format!("{RATE_OPS}/{}", RATE_WINDOW.as_secs()),
                );
        })
    }

    /// All pairs by `processes` processes at once (1: no `--shard`; else
    /// `--shard K/processes` each): the wall time from the first start to
    /// the last end, and each process's cost and report.
    fn sync(&self, processes: u32) -> Result<(Duration, Vec<(Cost, Value)>), String> {
        self.fake.clear_requests();
        // A fresh rate window, as for runs scheduled minutes apart.
        self.fake.set_faults(Faults::graph_like(COMPRESSION));
        let started = Instant::now();
        let runs: Vec<Result<(Cost, Value), String>> = if processes == 1 {
            vec![self.sync_in(&self.home.path().join("run"), &[])]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..processes)
                    .map(|k| {
                        scope.spawn(move || {
                            let shard = format!("{k}/{processes}");
                            let home = self.home.path().join(format!("shard-{k}"));
                            self.sync_in(&home, &["--shard", &shard])
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("a shard panicked".into())))
                    .collect()
            })
        };
        let wall = started.elapsed();
        let runs = runs.into_iter().collect::<Result<Vec<_>, _>>()?;
        for (_, report) in &runs {
            check_outcomes(report)?;
        }
        Ok((wall, runs))
    }

    /// Every target calendar holds its pair's public events, once.
    fn check_targets(&self) -> Result<(), String> {
        for p in &self.pairs {
            let copies = self.fake.events(&p.target_mailbox, &p.target_id).len();
            if copies != PUBLIC {
                return Err(format!(
                    "pair {} left {copies} events in its target, not {PUBLIC}",
                    p.name
                ));
            }
        }
        Ok(())
    }
}

/// Every pair of a `--json` document succeeded.
fn check_outcomes(report: &Value) -> Result<(), String> {
    let pairs = report["pairs"]
        .as_array()
        .ok_or("sync --json printed no \"pairs\" list")?;
    for p in pairs {
        if p["outcome"] != "success" {
            return Err(format!("pair {} did not succeed: {p}", p["pair"]));
        }
    }
    Ok(())
}

// ------------------------------------------------------------ traffic

/// One mailbox's share of a run's traffic.
#[derive(Debug, Default, Clone, Copy)]
struct MailboxLoad {
    /// Operations sent outside a batch (the reads).
    single: u64,
    /// Operations sent inside batches (the writes).
    batched: u64,
}

impl MailboxLoad {
    fn operations(&self) -> u64 {
        self.single + self.batched
    }

    /// Slot time the mailbox must carry at best: each single request one
    /// slot for a round trip and an operation; the writes in batches of 20,
    /// each holding min(4, size) slots for a round trip and one operation
    /// per 4 requests.
    fn slot_time(&self) -> Duration {
        let op = mean_op_time();
        let batch = |size: u64| (RTT + op * n32(size.div_ceil(SLOTS))) * n32(size.min(SLOTS));
        let (full, rest) = (self.batched / BATCH, self.batched % BATCH);
        (RTT + op) * n32(self.single)
            + batch(BATCH) * n32(full)
            + if rest > 0 {
                batch(rest)
            } else {
                Duration::ZERO
            }
    }

    /// The rate limit's bound, as for one pair: as many windows as the
    /// operations fill, less one, and an operation.
    fn rate_bound(&self) -> Duration {
        let ops = self.operations();
        if ops <= RATE_OPS {
            return Duration::ZERO;
        }
        RATE_WINDOW * n32((ops - 1) / RATE_OPS) + mean_op_time()
    }

    fn floor(&self) -> Duration {
        (self.slot_time() / n32(SLOTS)).max(self.rate_bound())
    }
}

/// A run's traffic, from the fake's log.
#[derive(Debug, Default)]
struct PairsTraffic {
    /// HTTP requests by kind (`token`, `$batch`, `GET calendars`, …).
    http: BTreeMap<String, u64>,
    /// Operations that ran, by mailbox.
    mailboxes: BTreeMap<String, MailboxLoad>,
    throttled: u64,
    over_concurrency: usize,
    over_rate: usize,
    peak_outstanding: usize,
    token: bool,
    /// Per pair: its first and last request's arrival at the fake.
    pair_spans: Vec<Duration>,
    /// Per mailbox: its first and last request's arrival.
    mailbox_spans: BTreeMap<String, Duration>,
    /// From the first request's arrival to the last's.
    active: Duration,
}

/// The calendar id a Graph path names (`…/calendars/ID/…`).
fn calendar_of(path: &str) -> Option<&str> {
    let (_, rest) = path.split_once("/calendars/")?;
    rest.split('/').next()
}

/// The mailbox a Graph path addresses (`/users/UPN/…`), lower-cased.
fn mailbox_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/users/")?;
    Some(rest.split('/').next()?.to_ascii_lowercase())
}

impl PairsTraffic {
    /// `calendars` maps a calendar id to its pair's index.
    fn of(log: &[RecordedRequest], calendars: &HashMap<&str, usize>, n: usize) -> PairsTraffic {
        let mut t = PairsTraffic::default();
        let mut pairs: Vec<Option<(Instant, Instant)>> = vec![None; n];
        let mut mailboxes: BTreeMap<String, (Instant, Instant)> = BTreeMap::new();
        let widen = |span: &mut Option<(Instant, Instant)>, at: Instant| {
            *span = Some(span.map_or((at, at), |(a, b)| (a.min(at), b.max(at))));
        };
        let mut all = None;
        for r in log {
            widen(&mut all, r.received);
            if let Some(p) = calendar_of(&r.path).and_then(|id| calendars.get(id)) {
                widen(&mut pairs[*p], r.received);
            }
            if let Some(m) = mailbox_of(&r.path) {
                let mut span = mailboxes.get(&m).copied();
                widen(&mut span, r.received);
                if let Some(span) = span {
                    mailboxes.insert(m, span);
                }
            }
            if r.status == 429 {
                t.throttled += 1;
            }
            if r.path.contains("/oauth2/") {
                t.token = true;
                *t.http.entry("token".into()).or_default() += 1;
                continue;
            }
            if r.path == "/$batch" {
                *t.http.entry("$batch".into()).or_default() += 1;
                continue;
            }
            if !r.in_batch {
                let what = r
                    .path
                    .rsplit('/')
                    .find(|s| !s.is_empty())
                    .filter(|s| {
                        matches!(
                            *s,
                            "calendars" | "calendar" | "delta" | "events" | "calendarView"
                        )
                    })
                    .unwrap_or("other");
                *t.http.entry(format!("{} {what}", r.method)).or_default() += 1;
            }
            if r.status == 429 {
                continue;
            }
            let load = t
                .mailboxes
                .entry(mailbox_of(&r.path).unwrap_or_else(|| "(other)".into()))
                .or_default();
            if r.in_batch {
                load.batched += 1;
            } else {
                load.single += 1;
            }
        }
        t.pair_spans = pairs.iter().flatten().map(|(a, b)| *b - *a).collect();
        t.pair_spans.sort();
        t.mailbox_spans = mailboxes
            .into_iter()
            .map(|(m, (a, b))| (m, b - a))
            .collect();
        t.active = all.map_or(Duration::ZERO, |(a, b)| b - a);
        t
    }

    /// The pairs' spans at quantile `q`.
    fn pair_span(&self, q: f64) -> Duration {
        let n = self.pair_spans.len();
        if n == 0 {
            return Duration::ZERO;
        }
        self.pair_spans[((n - 1) as f64 * q).round() as usize]
    }

    /// Pairs with requests under way, on average over the run's span.
    fn pairs_in_flight(&self) -> f64 {
        self.pair_spans.iter().sum::<Duration>().as_secs_f64() / self.active.as_secs_f64().max(1e-9)
    }

    fn requests(&self) -> u64 {
        self.http.values().sum()
    }

    fn graph_requests(&self) -> u64 {
        self.requests() - self.http.get("token").copied().unwrap_or(0)
    }

    fn operations(&self) -> u64 {
        self.mailboxes.values().map(MailboxLoad::operations).sum()
    }

    /// The busiest mailbox by its floor.
    fn busiest(&self) -> Option<(&str, MailboxLoad)> {
        self.mailboxes
            .iter()
            .max_by_key(|(_, l)| l.floor())
            .map(|(m, l)| (m.as_str(), *l))
    }

    fn floor(&self) -> Duration {
        RTT * u32::from(self.token) + self.busiest().map_or(Duration::ZERO, |(_, l)| l.floor())
    }
}

// ------------------------------------------------------------ the runs

struct PairsRow {
    run: &'static str,
    processes: u32,
    counts: [u64; 3],
    traffic: PairsTraffic,
    wall: Duration,
    /// Per process.
    costs: Vec<Cost>,
    /// Pairs per process.
    held: Vec<usize>,
    /// CPU time of this process (the fake) over the run.
    fake_cpu: Duration,
    /// The machine's load average (1 minute) when the run started.
    load: f64,
}

impl PairsRow {
    fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() / self.traffic.floor().as_secs_f64().max(1e-9)
    }

    fn cpu(&self) -> Duration {
        self.costs.iter().map(|c| c.cpu).sum()
    }

    fn peak_rss_kb(&self) -> i64 {
        self.costs.iter().map(|c| c.max_rss_kb).max().unwrap_or(0)
    }
}

fn counts(reports: &[(Cost, Value)]) -> [u64; 3] {
    let mut sum = [0; 3];
    for (_, r) in reports {
        for (i, key) in ["created", "updated", "deleted"].iter().enumerate() {
            sum[i] += r["counts"][key].as_u64().unwrap_or(0);
        }
    }
    sum
}

fn measure(w: &PairsWorld, run: &'static str, processes: u32) -> Result<PairsRow, String> {
    eprintln!("{} pairs: {run}, {processes} process(es)…", w.pairs.len());
    let load = load_average();
    let cpu_before = own_cpu();
    let (wall, runs) = w.sync(processes)?;
    let fake_cpu = own_cpu().saturating_sub(cpu_before);
    let calendars: HashMap<&str, usize> = w
        .pairs
        .iter()
        .enumerate()
        .flat_map(|(i, p)| [(p.source_id.as_str(), i), (p.target_id.as_str(), i)])
        .collect();
    let mut traffic = PairsTraffic::of(&w.fake.requests(), &calendars, w.pairs.len());
    let refused = w.fake.throttling();
    traffic.over_concurrency = refused.over_concurrency;
    traffic.over_rate = refused.over_rate;
    traffic.peak_outstanding = refused.peak_outstanding;
    Ok(PairsRow {
        run,
        processes,
        counts: counts(&runs),
        traffic,
        wall,
        held: runs
            .iter()
            .map(|(_, r)| r["pairs"].as_array().map_or(0, Vec::len))
            .collect(),
        costs: runs.into_iter().map(|(c, _)| c).collect(),
        fake_cpu,
        load,
    })
}

/// The machine's 1-minute load average.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// CPU time of this process so far (the fake's threads and the
/// benchmark's own, which only waits during a run).
#[cfg(unix)]
fn own_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let Ok(u) = getrusage(UsageWho::RUSAGE_SELF) else {
        return Duration::ZERO;
    };
    let t = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    t(u.user_time()) + t(u.system_time())
}

#[cfg(not(unix))]
fn own_cpu() -> Duration {
    Duration::ZERO
}

/// The scenario's rows: one process, then 4 shards on a fresh world.
/// `sources` is the number of source mailboxes (default: one per target
/// mailbox).
pub(super) fn bench_pairs(n: usize, sources: Option<usize>) -> Result<String, String> {
    let sources = sources.unwrap_or(n.div_ceil(PER_TARGET)).clamp(1, n.max(1));
    eprintln!(
        "seeding {n} pairs over {} target and {sources} source mailboxes…",
        n.div_ceil(PER_TARGET)
    );
    let mut rows = Vec::new();
    let one = PairsWorld::new(n, sources)?;
    rows.push(measure(&one, "(a) first sync", 1)?);
    one.check_targets()?;
    rows.push(measure(&one, "(b) unchanged", 1)?);
    drop(one);
    let sharded = PairsWorld::new(n, sources)?;
    rows.push(measure(&sharded, "(a) first sync", SHARDS)?);
    sharded.check_targets()?;
    rows.push(measure(&sharded, "(b) unchanged", SHARDS)?);
    Ok(pairs_report(n, sharded.sources, &rows))
}

fn pairs_report(n: usize, sources: usize, rows: &[PairsRow]) -> String {
    let targets = n.div_ceil(PER_TARGET);
    let mut md = format!(
        "{n} pairs: {targets} target mailboxes of {PER_TARGET} calendars, sources in \
         {sources} mailboxes, {PUBLIC} public + {PRIVATE} private events per source.\n\n\
         | run | processes | writes | HTTP requests | Graph requests per source | Graph operations | \
         429 (concurrency, rate) | peak outstanding | wall | floor | wall / floor | CPU | peak RSS |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let t = &r.traffic;
        md.push_str(&format!(
            "| {} | {} | +{} ~{} -{} | {} ({}) | {:.2} | {} | {} ({}, {}) | {} | {} | {} | {:.2} | {} | {:.1} MB |\n",
            r.run,
            if r.processes == 1 {
                "1".to_string()
            } else {
                format!(
                    "{} ({} pairs)",
                    r.processes,
                    r.held
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(" + ")
                )
            },
            r.counts[0],
            r.counts[1],
            r.counts[2],
            t.requests(),
            t.http
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            t.graph_requests() as f64 / n as f64,
            t.operations(),
            t.throttled,
            t.over_concurrency,
            t.over_rate,
            t.peak_outstanding,
            ms(r.wall),
            ms(t.floor()),
            r.ratio(),
            ms(r.cpu()),
            r.peak_rss_kb() as f64 / 1024.0,
        ));
    }
    let (rtt, op) = (ms(RTT), ms(mean_op_time()));
    md.push_str(&format!(
        "\nFloors: token {rtt} + max over mailboxes of (requests outside batches × ({rtt} + {op}) \
         + batches × min(4, size) × ({rtt} + ceil(size / 4) × {op})) / 4\n\n"
    ));
    for r in rows {
        let t = &r.traffic;
        let Some((mailbox, load)) = t.busiest() else {
            continue;
        };
        let (full, rest) = (load.batched / BATCH, load.batched % BATCH);
        let mut parts = vec![format!("{} × ({rtt} + {op})", load.single)];
        if full > 0 {
            parts.push(format!(
                "{full} × 4 × ({rtt} + {} × {op})",
                BATCH.div_ceil(SLOTS)
            ));
        }
        if rest > 0 {
            parts.push(format!(
                "{} × ({rtt} + {} × {op})",
                rest.min(SLOTS),
                rest.div_ceil(SLOTS)
            ));
        }
        md.push_str(&format!(
            "- {} ({} process{}): busiest mailbox {mailbox}, {} operations: {rtt} + ({}) / 4 = {}\n",
            r.run,
            r.processes,
            if r.processes == 1 { "" } else { "es" },
            load.operations(),
            parts.join(" + "),
            ms(t.floor())
        ));
    }
    md.push_str(
        "\nTimeline (from the fake's log: a pair's span runs from its first request's arrival \
         to its last's; in flight = the spans' sum / the run's span):\n\n",
    );
    for r in rows {
        let t = &r.traffic;
        let busiest = t
            .busiest()
            .and_then(|(m, _)| t.mailbox_spans.get(m))
            .copied()
            .unwrap_or_default();
        let mut spans: Vec<Duration> = t.mailbox_spans.values().copied().collect();
        spans.sort();
        md.push_str(&format!(
            "- {} ({} process{}): pair spans median {}, 90th percentile {}, longest {}; \
             {:.1} pairs in flight on average; busiest mailbox active {}, mailboxes active \
             {} at the median; calsync CPU {}, fake CPU {}; load average {:.2} at the start\n",
            r.run,
            r.processes,
            if r.processes == 1 { "" } else { "es" },
            ms(t.pair_span(0.5)),
            ms(t.pair_span(0.9)),
            ms(t.pair_span(1.0)),
            t.pairs_in_flight(),
            ms(busiest),
            ms(spans.get(spans.len() / 2).copied().unwrap_or_default()),
            ms(r.cpu()),
            ms(r.fake_cpu),
            r.load,
        ));
    }
    md.push_str("\nTargets:\n\n");
    let find = |run: &str, processes: u32| {
        rows.iter()
            .find(|r| r.run == run && (r.processes == 1) == (processes == 1))
    };
    if let Some(a) = find("(a) first sync", 1) {
        md.push_str(&format!(
            "- (a) first sync of {n} pairs within 1.3× of the floor: {} / {} = {:.2}× {}\n",
            ms(a.wall),
            ms(a.traffic.floor()),
            a.ratio(),
            mark(a.ratio() <= 1.3)
        ));
    }
    if let Some(b) = find("(b) unchanged", 1) {
        let per_source = b.traffic.graph_requests() as f64 / n as f64;
        md.push_str(&format!(
            "- (b) unchanged: at most 2 Graph requests per source (and the token's): {per_source:.2} {}; \
             under 5 s: {} {}\n",
            mark(per_source <= 2.0),
            ms(b.wall),
            mark(b.wall < Duration::from_secs(5))
        ));
    }
    if let Some(peak) = rows.iter().map(PairsRow::peak_rss_kb).max() {
        md.push_str(&format!(
            "- (c) peak RSS of a calsync process under 100 MB: {:.1} MB {}\n",
            peak as f64 / 1024.0,
            mark(peak < 100 * 1024)
        ));
    }
    for run in ["(a) first sync", "(b) unchanged"] {
        if let (Some(one), Some(sharded)) = (find(run, 1), find(run, SHARDS)) {
            let ratio = sharded.wall.as_secs_f64() / one.wall.as_secs_f64().max(1e-9);
            md.push_str(&format!(
                "- (d) {run}, {SHARDS} shards at once / one process: {} / {} = {ratio:.2} (about 1/{SHARDS} asked: {})\n",
                ms(sharded.wall),
                ms(one.wall),
                mark(ratio <= 1.0 / f64::from(SHARDS) * 1.2)
            ));
        }
    }
    md
}
