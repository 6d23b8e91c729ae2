//! `cargo bench --bench sync`: the sync against the in-tree fake Graph with a
//! latency model close to Graph's, for 1,000 and 10,000 public events (plus
//! 20% that are not public), and the planner on 100,000 events.
//!
//! The model (the fake's `LatencyModel::GRAPH`): every HTTP request costs a
//! 25 ms round trip; every Graph operation (a request outside a batch, or an
//! inner request of one) holds one of the mailbox's 4 slots for a time drawn
//! from a log-normal spread (median 10 ms, 95th percentile 25 ms, mean about
//! 11.7 ms), a batch running its inner requests 4 at a time, and one more in
//! flight is refused with 429; the mailbox's rate limit of 10,000 operations per 10
//! minutes is enforced with time compressed 20 times (10,000 per 30 s), and
//! calsync is told of the compressed window. Each size is measured for (a)
//! the first sync, (b) an unchanged second sync and (c) a sync after 1% of
//! the events changed. The rate window starts empty for each run, as it does
//! for runs scheduled minutes apart.
//!
//! Next to each wall time is the floor the model allows when no mailbox has
//! more than 4 operations outstanding, a batch holding min(4, its size) from
//! sending until its answer: the token's round trip; a round trip plus an
//! operation for each read that must follow another (the calendar lookups,
//! which could run side by side, then the longer of the two chains of read
//! pages, which do); and the writes in batches of 20 one after another, each
//! a round trip plus one mean operation time per 4 of its requests (a batch of 4
//! or more holds all 4 slots, so none can overlap another). The rate limit's
//! bound replaces that when it is longer.
//!
//! `calsync` runs as a child process; its CPU time and peak RSS come from
//! `getrusage(RUSAGE_CHILDREN)` in an intermediate process that has it as its
//! only child. Set `CALSYNC_BENCH_SIZES=1000` to run one size only, and
//! `CALSYNC_BENCH_ONLY=plan` to time the planner alone, without any sync run
//! (its report goes to `bench-plan.md` instead of `bench-sync.md`).
//!
//! `.ics` target: 10,000, 25,000 and 50,000 public events (plus 20% private)
//! read from an `.ics` file and written into an empty `.ics` target, then
//! synced again unchanged and after 1% changed; no network, so the wall time
//! is calsync's own. `CALSYNC_BENCH_ONLY=ics` runs this alone (report
//! `bench-ics.md`; `CALSYNC_BENCH_ICS_SIZES` sets the sizes).
//!
//! Many pairs (`benches/pairs/mod.rs`): 500 `[[pair]]` tables over 50
//! target mailboxes, 40 public events (and 8 private) per source, synced
//! first and unchanged by one process, then by 4 shards at once on a fresh
//! world. `CALSYNC_BENCH_PAIRS=N` sets the number of pairs (0 leaves the
//! scenario out), `CALSYNC_BENCH_PAIR_SOURCES=S` the number of source
//! mailboxes (default: one per target mailbox); `CALSYNC_BENCH_ONLY=pairs`
//! runs this alone (report `bench-pairs.md`).

mod pairs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use calsync::graph::client::MAX_BATCH;
use calsync::model::{
    Body, EventTime, ManagedEvent, Marker, Sensitivity, ShowAs, SourceEvent, SourceKey, Window,
};
use calsync::planner;
use calsync::policy::Policy;
use chrono::{Duration as Days, Utc};
use fakegraph::{FakeGraph, Faults, LatencyModel, RecordedRequest};
use serde_json::{Value, json};

const TENANT: &str = "bench-tenant";
const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "bench-secret";
const MAILBOX: &str = "events@contoso.example";
const TARGET: &str = "Public Calendar";

/// Time compression of the rate limit.
const COMPRESSION: u32 = 20;
/// The round trip of every HTTP request in the fake's model.
const RTT: Duration = LatencyModel::GRAPH.round_trip;
/// Operations a mailbox runs at once, and a batch of its inner requests.
const SLOTS: u64 = 4;
/// Requests in one `$batch`, as calsync sends them.
const BATCH: u64 = MAX_BATCH as u64;
const RATE_OPS: u64 = 10_000;
const RATE_WINDOW: Duration = Duration::from_secs(600 / COMPRESSION as u64);

const MEASURE: &str = "--measure-child";

/// How long one Graph operation holds its slot in the fake's model, on
/// average: every floor below is written in terms of it.
fn mean_op_time() -> Duration {
    LatencyModel::GRAPH.operation.mean()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(MEASURE) {
        return measure_child(&args[2..]);
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

// ------------------------------------------------------------ measuring

/// What one run of `calsync` cost.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    code: i32,
    wall: Duration,
    cpu: Duration,
    max_rss_kb: i64,
}

/// Intermediate process: runs `OUT CMD ARGS…`, waits, and writes the child's
/// wall time, CPU time and peak RSS to OUT.
fn measure_child(args: &[String]) -> ExitCode {
    let [out, cmd, rest @ ..] = args else {
        eprintln!("usage: {MEASURE} OUT CMD [ARGS…]");
        return ExitCode::FAILURE;
    };
    let started = Instant::now();
    let status = match Command::new(cmd).args(rest).status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot run {cmd}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let wall = started.elapsed();
    let (cpu_us, rss) = match children_usage() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("getrusage: {e}");
            return ExitCode::FAILURE;
        }
    };
    let doc = json!({
        "code": status.code().unwrap_or(-1),
        "wall_us": wall.as_micros() as u64,
        "cpu_us": cpu_us,
        "max_rss_kb": rss,
    });
    match std::fs::write(out, doc.to_string()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write {out}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(unix)]
fn children_usage() -> Result<(u64, i64), String> {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| e.to_string())?;
    let us = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec()).unwrap_or(0)
    };
    Ok((us(u.user_time()) + us(u.system_time()), u.max_rss()))
}

#[cfg(not(unix))]
fn children_usage() -> Result<(u64, i64), String> {
    Err("CPU time and peak RSS are measured on Unix only".into())
}

// ------------------------------------------------------------ the world

struct World {
    fake: FakeGraph,
    home: tempfile::TempDir,
    source_id: String,
    target_id: String,
    /// Ids of the public source events.
    public_ids: Vec<String>,
}

fn graph_time(t: chrono::DateTime<Utc>) -> Value {
    json!({"dateTime": t.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"})
}

impl World {
    fn new(public: usize) -> Result<World, String> {
        let fake = FakeGraph::start();
        fake.add_app(TENANT, CLIENT_ID, SECRET);
        fake.add_mailbox(MAILBOX);
        let source_id = fake
            .calendar_id(MAILBOX, "Calendar")
            .ok_or("the fake has no default calendar")?;
        let target_id = fake.add_calendar(MAILBOX, TARGET);
        let midnight = Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .ok_or("no midnight")?
            .and_utc();
        let event = |i: usize, sensitivity: &str, hour: i64| {
            let i = i64::try_from(i).unwrap_or(0);
            let start = midnight + Days::days(1 + i / 10) + Days::hours(hour + i % 10);
            json!({
                "subject": format!("Event {i:05}"),
                "start": graph_time(start),
                "end": graph_time(start + Days::minutes(30)),
                "sensitivity": sensitivity,
                "showAs": "busy",
                "body": {"contentType": "text", "content": format!("Agenda {i}")},
                "location": {"displayName": "Town hall"},
            })
        };
        let mut public_ids = Vec::with_capacity(public);
        for i in 0..public {
            public_ids.push(fake.insert_event(MAILBOX, &source_id, event(i, "normal", 8)));
        }
        for i in 0..public / 5 {
            fake.insert_event(MAILBOX, &source_id, event(i, "private", 8));
        }
        Ok(World {
            fake,
            home: tempfile::tempdir().map_err(|e| e.to_string())?,
            source_id,
            target_id,
            public_ids,
        })
    }

    /// One `calsync sync --json`, measured; the fake's log holds its requests.
    fn sync(&self) -> Result<(Cost, Value), String> {
        self.fake.clear_requests();
        // A fresh rate window, as for runs scheduled minutes apart.
        self.fake.set_faults(Faults::graph_like(COMPRESSION));
        let home = self.home.path();
        measured_sync(home, &[], &[], |c| {
            c.env("CALSYNC_TENANT_ID", TENANT)
                .env("CALSYNC_CLIENT_ID", CLIENT_ID)
                .env("CALSYNC_CLIENT_SECRET", SECRET)
                .env("CALSYNC_MAILBOX", MAILBOX)
                .env("CALSYNC_TARGET_CALENDAR", TARGET)
                .env("CALSYNC_GRAPH_URL", self.fake.graph_url())
                .env("CALSYNC_AUTHORITY_URL", self.fake.authority_url())
                .env("CALSYNC_STATE_DIR", home.join("state"))
                .env("CALSYNC_TOKEN_STORE", "file")
                .env(
                    "CALSYNC_GRAPH_RATE_LIMIT",
                    format!("{RATE_OPS}/{}", RATE_WINDOW.as_secs()),
                );
        })
    }
}

/// One `calsync GLOBAL… sync --json SYNC…` run in `home` under the
/// measuring child, with a clean environment that `env` adds to: its cost,
/// and the report it printed.
fn measured_sync(
    home: &std::path::Path,
    global: &[&std::ffi::OsStr],
    sync: &[&str],
    env: impl FnOnce(&mut Command),
) -> Result<(Cost, Value), String> {
    let out_file = home.join("measure.json");
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(me);
    command
        .arg(MEASURE)
        .arg(&out_file)
        .arg(env!("CARGO_BIN_EXE_calsync"))
        .args(global)
        .args(["sync", "--json"])
        .args(sync)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("xdg-state"))
        .stdin(Stdio::null());
    env(&mut command);
    let output = command
        .output()
        .map_err(|e| format!("cannot run the measuring process: {e}"))?;
    let measured: Value = std::fs::read_to_string(&out_file)
        .map_err(|e| {
            format!(
                "no measurement ({e}): {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))?;
    let cost = Cost {
        code: measured["code"].as_i64().unwrap_or(-1) as i32,
        wall: Duration::from_micros(measured["wall_us"].as_u64().unwrap_or(0)),
        cpu: Duration::from_micros(measured["cpu_us"].as_u64().unwrap_or(0)),
        max_rss_kb: measured["max_rss_kb"].as_i64().unwrap_or(0),
    };
    if cost.code != 0 {
        return Err(format!(
            "calsync sync exited {}:\n{}\n{}",
            cost.code,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let report: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("sync --json printed no JSON document ({e})"))?;
    Ok((cost, report))
}

// ------------------------------------------------------------ traffic

/// The traffic of one run, from the fake's log.
#[derive(Debug, Default)]
struct Traffic {
    /// HTTP requests by kind (`token`, `GET calendars`, `GET source`, …).
    http: BTreeMap<String, u64>,
    /// Graph operations that ran, by kind (`GET …`, `create`, `update`, `delete`).
    ops: BTreeMap<String, u64>,
    /// Answers of 429, top-level or inner.
    throttled: u64,
    /// Of those, refused for the mailbox's concurrency and for its rate.
    over_concurrency: usize,
    over_rate: usize,
    /// The most operations calsync held outstanding on the mailbox at once
    /// (a batch counting min(4, its size) from sending to its answer).
    peak_outstanding: usize,
    /// Whether a token was fetched (a round trip, no Graph operation).
    token: bool,
    /// Reads that must follow one another: the calendar lookups (which
    /// could run side by side) and the longer chain of read pages.
    serial_reads: u64,
    /// Operations that ran inside batches (the writes).
    batched: u64,
}

impl Traffic {
    fn of(log: &[RecordedRequest], source_id: &str, target_id: &str) -> Traffic {
        let mut t = Traffic::default();
        let (mut token, mut lookups, mut source, mut target) = (0, 0, 0, 0);
        for r in log {
            if r.status == 429 {
                t.throttled += 1;
            }
            let kind = if r.path.contains("/oauth2/") {
                token += 1;
                "token".to_string()
            } else if r.path == "/$batch" {
                "$batch".to_string()
            } else if r.in_batch {
                match r.method.as_str() {
                    "POST" => "create",
                    "PATCH" => "update",
                    "DELETE" => "delete",
                    _ => "read in batch",
                }
                .to_string()
            } else if r.path.contains(source_id) {
                source += 1;
                format!("{} source {}", r.method, last_segment(&r.path))
            } else if r.path.contains(target_id) {
                target += 1;
                format!("{} target {}", r.method, last_segment(&r.path))
            } else {
                lookups += 1;
                format!("{} {}", r.method, last_segment(&r.path))
            };
            if !r.in_batch {
                *t.http.entry(kind.clone()).or_default() += 1;
            }
            let operation = kind != "token" && kind != "$batch";
            if operation && r.status != 429 {
                let op_kind = if r.in_batch {
                    kind
                } else {
                    kind.split(' ').take(2).collect::<Vec<_>>().join(" ")
                };
                *t.ops.entry(op_kind).or_default() += 1;
                t.batched += u64::from(r.in_batch);
            }
        }
        t.token = token > 0;
        t.serial_reads = u64::from(lookups > 0) + source.max(target);
        t
    }

    fn requests(&self) -> u64 {
        self.http.values().sum()
    }

    /// Requests to Graph: all but the token request, which an app-only
    /// run makes every time (its access token is never kept).
    fn graph_requests(&self) -> u64 {
        self.requests() - self.http.get("token").copied().unwrap_or(0)
    }

    fn operations(&self) -> u64 {
        self.ops.values().sum()
    }

    /// The writes as the model sends them at best: `full` batches of 20 and
    /// one of `rest`, if any.
    fn batches(&self) -> (u64, u64) {
        (self.batched / BATCH, self.batched % BATCH)
    }

    /// The chain of requests that must follow one another, at best.
    fn chain(&self) -> Duration {
        let op = mean_op_time();
        let (full, rest) = self.batches();
        let reads = RTT * u32::from(self.token) + (RTT + op) * n32(self.serial_reads);
        let writes = (RTT + op * n32(BATCH.div_ceil(SLOTS))) * n32(full)
            + if rest > 0 {
                RTT + op * n32(rest.div_ceil(SLOTS))
            } else {
                Duration::ZERO
            };
        reads + writes
    }

    /// The rate limit's bound: the last operation cannot start before as
    /// many windows have passed as the operations fill, less one; the round
    /// trips of the chain come on top.
    fn rate_bound(&self) -> Duration {
        let ops = self.operations();
        if ops <= RATE_OPS {
            return Duration::ZERO;
        }
        let round_trips = u64::from(self.token) + self.serial_reads + u64::from(self.batched > 0);
        RATE_WINDOW * n32((ops - 1) / RATE_OPS) + mean_op_time() + RTT * n32(round_trips)
    }

    /// The wall time the model allows at best.
    fn floor(&self) -> Duration {
        self.chain().max(self.rate_bound())
    }
}

fn n32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn kinds(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ------------------------------------------------------------ the runs

struct Row {
    events: usize,
    run: &'static str,
    counts: String,
    traffic: Traffic,
    cost: Cost,
    changes: usize,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.cost.wall.as_secs_f64() / self.traffic.floor().as_secs_f64().max(1e-9)
    }
}

fn counts_of(report: &Value) -> String {
    let c = &report["counts"];
    format!(
        "+{} ~{} -{}",
        c["created"].as_u64().unwrap_or(0),
        c["updated"].as_u64().unwrap_or(0),
        c["deleted"].as_u64().unwrap_or(0)
    )
}

fn bench_size(public: usize, rows: &mut Vec<Row>) -> Result<(), String> {
    eprintln!("seeding {public} public + {} private events…", public / 5);
    let w = World::new(public)?;
    let mut measure = |run: &'static str, changes: usize| -> Result<(), String> {
        eprintln!("{public} events: {run}…");
        let (cost, report) = w.sync()?;
        let mut traffic = Traffic::of(&w.fake.requests(), &w.source_id, &w.target_id);
        let refused = w.fake.throttling();
        traffic.over_concurrency = refused.over_concurrency;
        traffic.over_rate = refused.over_rate;
        traffic.peak_outstanding = refused.peak_outstanding;
        rows.push(Row {
            events: public,
            run,
            counts: counts_of(&report),
            traffic,
            cost,
            changes,
        });
        Ok(())
    };
    measure("(a) first sync", 0)?;
    measure("(b) unchanged", 0)?;
    let changes = public / 100;
    for (k, id) in w.public_ids.iter().step_by(100).take(changes).enumerate() {
        w.fake
            .update_event(MAILBOX, id, json!({"subject": format!("Changed {k}")}));
    }
    measure("(c) 1% changed", changes)?;
    let managed = w.fake.events(MAILBOX, &w.target_id).len();
    if managed != public {
        return Err(format!("the target holds {managed} events, not {public}"));
    }
    Ok(())
}

// ------------------------------------------------------------ planning

fn plan_inputs(n: usize) -> (Vec<SourceEvent>, Vec<ManagedEvent>, Policy, Window) {
    let today = Utc::now().date_naive();
    let window = Window::around(today, 0, 1825);
    let policy = Policy::default();
    let midnight = today.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let source: Vec<SourceEvent> = (0..n + n / 5)
        .map(|i| {
            let j = i64::try_from(i % n.max(1)).unwrap_or(0);
            let start = midnight + Days::days(1 + j / 60) + Days::minutes(8 * 60 + (j % 60) * 10);
            SourceEvent {
                key: SourceKey::single(&format!("AAMkAGI2-{i:08}")),
                ical_uid: None,
                subject: format!("Event {i}"),
                start: EventTime::Instant(start),
                end: EventTime::Instant(start + Days::minutes(30)),
                is_all_day: false,
                show_as: ShowAs::Busy,
                sensitivity: if i < n {
                    Sensitivity::Normal
                } else {
                    Sensitivity::Private
                },
                is_cancelled: false,
                categories: Vec::new(),
                location: "Town hall".into(),
                body: Body::default(),
            }
        })
        .collect();
    // The target as a previous run left it, with 1% of the sources changed since.
    let managed: Vec<ManagedEvent> = source[..n]
        .iter()
        .enumerate()
        .map(|(i, ev)| {
            let mut was = ev.clone();
            if i % 100 == 0 {
                was.subject.push_str(" (before)");
            }
            let current = planner::payload(&was, &policy.copy);
            ManagedEvent {
                target_id: format!("T-{i:08}"),
                marker: Marker {
                    source_key: ev.key.clone(),
                    content_hash: planner::content_hash(&current),
                },
                current,
            }
        })
        .collect();
    (source, managed, policy, window)
}

/// Median time of `calsync::planner::plan` over 100,000 public events (and
/// 20,000 private ones): against an empty target, and against a target that
/// holds every copy with 1% of the sources changed.
fn bench_plan(n: usize) -> Vec<(String, Duration, String)> {
    let (source, managed, policy, window) = plan_inputs(n);
    let mut out = Vec::new();
    for (name, managed) in [
        ("empty target", &managed[..0]),
        ("all copied, 1% changed", &managed[..]),
    ] {
        let mut times = Vec::new();
        let mut summary = String::new();
        for _ in 0..7 {
            let started = Instant::now();
            let plan = planner::plan(&source, managed, &policy, &window);
            times.push(started.elapsed());
            summary = format!(
                "+{} ~{} -{}",
                plan.creates.len(),
                plan.updates.len(),
                plan.deletes.len()
            );
            std::hint::black_box(plan);
        }
        times.sort();
        out.push((name.to_string(), times[times.len() / 2], summary));
    }
    out
}

// ------------------------------------------------------------ report

fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, v)| v.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem_kb: u64 = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map_or(std::env::consts::OS.to_string(), |v| {
            v.trim_matches('"').to_string()
        });
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} logical CPUs, {:.1} GiB RAM; {os} (Linux {kernel}); {rustc}; release profile",
        mem_kb as f64 / 1024.0 / 1024.0
    )
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

fn report(rows: &[Row], plans: &[(String, Duration, String)], plan_n: usize) -> String {
    let mut md = String::new();
    md.push_str(&format!("Machine: {}\n\n", machine()));
    // A planning-only run has no sync rows.
    if !rows.is_empty() {
        md.push_str(
            "| events | run | writes | HTTP requests | Graph operations | 429 (concurrency, rate) | peak outstanding | wall | floor | wall / floor | CPU | peak RSS |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in rows {
            md.push_str(&format!(
                "| {} | {} | {} | {} ({}) | {} ({}) | {} ({}, {}) | {} | {} | {} | {:.2} | {} | {:.1} MB |\n",
                r.events,
                r.run,
                r.counts,
                r.traffic.requests(),
                kinds(&r.traffic.http),
                r.traffic.operations(),
                kinds(&r.traffic.ops),
                r.traffic.throttled,
                r.traffic.over_concurrency,
                r.traffic.over_rate,
                r.traffic.peak_outstanding,
                ms(r.cost.wall),
                ms(r.traffic.floor()),
                r.ratio(),
                ms(r.cost.cpu),
                r.cost.max_rss_kb as f64 / 1024.0,
            ));
        }
        let (rtt, op) = (ms(RTT), ms(mean_op_time()));
        md.push_str(&format!(
            "\nFloors: max(token {rtt} + serial reads × ({rtt} + {op}) + batches × ({rtt} + \
             ceil(size / 4) × {op}), rate bound)\n\n"
        ));
        for r in rows {
            let t = &r.traffic;
            let (full, rest) = t.batches();
            let mut writes = Vec::new();
            if full > 0 {
                writes.push(format!(
                    "{full} × ({rtt} + {} × {op})",
                    BATCH.div_ceil(SLOTS)
                ));
            }
            if rest > 0 {
                writes.push(format!("({rtt} + {} × {op})", rest.div_ceil(SLOTS)));
            }
            let mut chain = Vec::new();
            if t.token {
                chain.push(format!("token {rtt}"));
            }
            if t.serial_reads > 0 {
                chain.push(format!("{} × ({rtt} + {op})", t.serial_reads));
            }
            chain.extend(writes);
            let rate = if t.rate_bound().is_zero() {
                "0".to_string()
            } else {
                format!(
                    "{} × 30 s + {op} + round trips = {}",
                    (t.operations() - 1) / RATE_OPS,
                    ms(t.rate_bound())
                )
            };
            md.push_str(&format!(
                "- {} {}: max({} = {}, rate {rate}) = {}\n",
                r.events,
                r.run,
                chain.join(" + "),
                ms(t.chain()),
                ms(t.floor())
            ));
        }
    }
    md.push_str(&format!(
        "\nPlanning {plan_n} public events (+{} private), median of 7:\n\n",
        plan_n / 5
    ));
    for (name, d, summary) in plans {
        md.push_str(&format!("- {name}: {} ({summary})\n", ms(*d)));
    }
    md.push_str("\nTargets:\n\n");
    for r in rows {
        let t = &r.traffic;
        let line = match r.run {
            "(a) first sync" => format!(
                "(a) within 1.3× of the floor: {:.2}× {}; no 429: {} {}; at most 4 outstanding: {} {}",
                r.ratio(),
                mark(r.ratio() <= 1.3),
                t.throttled,
                mark(t.throttled == 0),
                t.peak_outstanding,
                mark(t.peak_outstanding <= 4)
            ),
            "(b) unchanged" => format!(
                "(b) at most 2 Graph requests (and the token's): {} {}; under 50 ms CPU: {} {}",
                t.graph_requests(),
                mark(t.graph_requests() <= 2),
                ms(r.cost.cpu),
                mark(r.cost.cpu < Duration::from_millis(50))
            ),
            _ => {
                let allowed = 3 + r.changes.div_ceil(20) as u64;
                format!(
                    "(c) at most 3 + ceil({} / 20) = {allowed} Graph requests (and the token's): {} {}",
                    r.changes,
                    t.graph_requests(),
                    mark(t.graph_requests() <= allowed)
                )
            }
        };
        md.push_str(&format!("- {} events {line}\n", r.events));
    }
    if let Some(peak) = rows
        .iter()
        .filter(|r| r.events >= 10_000)
        .map(|r| r.cost.max_rss_kb)
        .max()
    {
        md.push_str(&format!(
            "- peak RSS at 10,000 events under 40 MB: {:.1} MB {}\n",
            peak as f64 / 1024.0,
            mark(peak < 40 * 1024)
        ));
    }
    if let Some(worst) = plans.iter().map(|(_, d, _)| *d).max() {
        md.push_str(&format!(
            "- planning {plan_n} events under 200 ms: {} {}\n",
            ms(worst),
            mark(worst < Duration::from_millis(200))
        ));
    }
    md
}

fn mark(ok: bool) -> &'static str {
    if ok { "(met)" } else { "(NOT met)" }
}

// ------------------------------------------------------------ .ics target

/// An internal calendar of `public` public events and a fifth as many
/// private ones, 30 a day from tomorrow, so that 50,000 fit in the default
/// window of 1825 days; `changed` public events get another summary.
fn ics_source(public: usize, changed: usize) -> String {
    let midnight = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let mut s = String::with_capacity((public + public / 5) * 220);
    s.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync//bench//EN\r\n");
    for i in 0..public + public / 5 {
        let j = i64::try_from(i % public.max(1)).unwrap_or(0);
        let start = midnight + Days::days(1 + j / 30) + Days::minutes(6 * 60 + (j % 30) * 20);
        let end = start + Days::minutes(30);
        let private = i >= public;
        let summary = if !private && i < changed * 100 && i % 100 == 0 {
            format!("Changed {i:05}")
        } else {
            format!("Event {i:05}")
        };
        s.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:bench-{i:06}@example.org\r\nDTSTAMP:20260101T000000Z\r\n\
             DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:{summary}\r\nLOCATION:Town hall\r\n{}END:VEVENT\r\n",
            start.format("%Y%m%dT%H%M%SZ"),
            end.format("%Y%m%dT%H%M%SZ"),
            if private { "CLASS:PRIVATE\r\n" } else { "" }
        ));
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

/// The `.ics` target at each size: a dry run, the first sync (every copy
/// written), an unchanged sync and one after 1% changed.
fn bench_ics(sizes: &[usize]) -> Result<String, String> {
    let mut md = String::from(
        "| events | run | writes | wall | CPU | peak RSS | target file |\n|---|---|---|---|---|---|---|\n",
    );
    for &n in sizes {
        eprintln!(".ics target, {n} events…");
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path();
        std::fs::create_dir(path.join("out")).map_err(|e| e.to_string())?;
        std::fs::write(path.join("internal.ics"), ics_source(n, 0)).map_err(|e| e.to_string())?;
        std::fs::write(
            path.join("config.toml"),
            "state_dir = \"state\"\n[source]\nkind = \"ics\"\npath = \"internal.ics\"\n\
             [target]\nkind = \"ics\"\npath = \"out/public.ics\"\n",
        )
        .map_err(|e| e.to_string())?;
        let target = path.join("out/public.ics");
        for (run, extra, changed) in [
            ("dry run", &["--dry-run"][..], 0),
            ("(a) first sync", &[][..], 0),
            ("(b) unchanged", &[][..], 0),
            ("(c) 1% changed", &[][..], n / 100),
        ] {
            if changed > 0 {
                std::fs::write(path.join("internal.ics"), ics_source(n, changed))
                    .map_err(|e| e.to_string())?;
            }
            let config = path.join("config.toml");
            let global = ["--config".as_ref(), config.as_os_str()];
            let (cost, report) = measured_sync(path, &global, extra, |_| {})?;
            let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
            md.push_str(&format!(
                "| {n} | {run} | {} | {} | {} | {:.1} MB | {:.1} MB |\n",
                counts_of(&report),
                ms(cost.wall),
                ms(cost.cpu),
                cost.max_rss_kb as f64 / 1024.0,
                size as f64 / 1_000_000.0
            ));
        }
        let copies = std::fs::read_to_string(&target)
            .map_err(|e| e.to_string())?
            .matches("BEGIN:VEVENT")
            .count();
        if copies != n {
            return Err(format!("the target holds {copies} copies, not {n}"));
        }
    }
    Ok(md)
}

fn run() -> Result<(), String> {
    let sizes: Vec<usize> = std::env::var("CALSYNC_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    let ics_sizes: Vec<usize> = std::env::var("CALSYNC_BENCH_ICS_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![10_000, 25_000, 50_000]);
    let pairs_n: usize = match std::env::var("CALSYNC_BENCH_PAIRS") {
        Err(_) => 500,
        Ok(n) => n
            .trim()
            .parse()
            .map_err(|_| format!("CALSYNC_BENCH_PAIRS={n:?} is not a number of pairs"))?,
    };
    let pair_sources: Option<usize> = match std::env::var("CALSYNC_BENCH_PAIR_SOURCES") {
        Err(_) => None,
        Ok(n) => Some(n.trim().parse().ok().filter(|&s| s > 0).ok_or_else(|| {
            format!("CALSYNC_BENCH_PAIR_SOURCES={n:?} is not a number of mailboxes")
        })?),
    };
    let plan_only = match std::env::var("CALSYNC_BENCH_ONLY").as_deref() {
        Err(_) | Ok("") => false,
        Ok("plan") => true,
        Ok("pairs") => {
            let md = format!(
                "Machine: {}\n\n{}",
                machine(),
                pairs::bench_pairs(pairs_n.max(1), pair_sources)?
            );
            println!("{md}");
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-pairs.md");
            if std::fs::write(&out, &md).is_ok() {
                eprintln!("written to {}", out.display());
            }
            return Ok(());
        }
        Ok("ics") => {
            let md = format!("Machine: {}\n\n{}", machine(), bench_ics(&ics_sizes)?);
            println!("{md}");
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-ics.md");
            if std::fs::write(&out, &md).is_ok() {
                eprintln!("written to {}", out.display());
            }
            return Ok(());
        }
        Ok(other) => {
            return Err(format!(
                "CALSYNC_BENCH_ONLY={other:?}: the values understood are \"plan\", \"ics\" and \"pairs\""
            ));
        }
    };
    let mut rows = Vec::new();
    if !plan_only {
        for n in sizes {
            bench_size(n, &mut rows)?;
        }
    }
    let plan_n = 100_000;
    eprintln!("planning {plan_n} events…");
    let plans = bench_plan(plan_n);
    let mut md = report(&rows, &plans, plan_n);
    if !plan_only {
        md.push_str(&format!(
            "\nAn `.ics` target, no network:\n\n{}",
            bench_ics(&ics_sizes)?
        ));
        if pairs_n > 0 {
            md.push_str(&format!(
                "\nMany pairs:\n\n{}",
                pairs::bench_pairs(pairs_n, pair_sources)?
            ));
        }
    }
    println!("{md}");
    // A planning-only run does not overwrite the last full report.
    let name = if plan_only {
        "bench-plan.md"
    } else {
        "bench-sync.md"
    };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    if std::fs::write(&out, &md).is_ok() {
        eprintln!("written to {}", out.display());
    }
    Ok(())
}
