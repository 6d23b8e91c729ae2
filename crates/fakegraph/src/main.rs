//! `fakegraph [--port N] [--seed FILE.json] [--quiet] [behaviour switches]`
//!
//! Serves the fake Microsoft Graph and token endpoint on 127.0.0.1 until
//! interrupted, so calsync can be run against it by hand. Prints the URLs and
//! the seeded app credentials; logs one line per request unless `--quiet`.
//! The seed format is described in the crate docs and `examples/seed.json`
//! (a mailbox's `defaultCalendarName` gives its default calendar a
//! localized name). By default the fake answers as Graph is reported to;
//! the switches choose the documented variants (see `fakegraph::Behaviour`).

use std::net::SocketAddr;
use std::process::ExitCode;

use fakegraph::{
    Behaviour, DeltaOccurrences, DuplicateTransactionId, FakeGraph, Faults, LatencyModel,
};

const USAGE: &str = "usage: fakegraph [--port N] [--seed FILE.json] [--quiet]
                 [--documented] [--full-occurrences] [--silent-occurrence-deletes]
                 [--duplicate-transaction 400|409|201] [--delegates-list-calendars]
                 [--latency graph|none] [--never-answer PATH-PART]

  --documented                 every documented variant below at once
  --full-occurrences           delta sends occurrences in full and no series
                               masters (default: bare occurrences plus masters)
  --silent-occurrence-deletes  delta sends nothing for a deleted occurrence
                               (default: @removed)
  --duplicate-transaction S    a repeated transactionId answers 400 (default),
                               409, or 201 with the existing event
  --delegates-list-calendars   a delegate may list another mailbox's calendars
                               (default: 403 ErrorAccessDenied)
  --latency graph              Graph-like round trips and operation times
                               (25 ms; 10 ms median, 25 ms p95 per operation)
  --never-answer PATH-PART     Graph requests whose path contains PATH-PART
                               (ignoring case; / for all of them) are accepted
                               and never answered, like a Graph that hangs";

fn main() -> ExitCode {
    let mut port = 0u16;
    let mut seed = None;
    let mut quiet = false;
    let mut documented = false;
    let mut full_occurrences = false;
    let mut silent_deletes = false;
    let mut duplicate = None;
    let mut delegates_list = false;
    let mut latency = None;
    let mut never_answer = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--documented" => documented = true,
            "--full-occurrences" => full_occurrences = true,
            "--silent-occurrence-deletes" => silent_deletes = true,
            "--delegates-list-calendars" => delegates_list = true,
            "--duplicate-transaction" => {
                duplicate = match args.next().as_deref() {
                    Some("400") => Some(DuplicateTransactionId::Error400),
                    Some("409") => Some(DuplicateTransactionId::Error409),
                    Some("201") => Some(DuplicateTransactionId::Created201),
                    _ => return fail("--duplicate-transaction needs 400, 409 or 201"),
                }
            }
            "--latency" => {
                latency = match args.next().as_deref() {
                    Some("graph") => Some(Some(LatencyModel::GRAPH)),
                    Some("none") => Some(None),
                    _ => return fail("--latency needs graph or none"),
                }
            }
            "--never-answer" => match args.next() {
                Some(part) => never_answer = Some(part),
                None => return fail("--never-answer needs a part of a path, or / for all"),
            },
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => return fail("--port needs a number"),
            },
            "--seed" => match args.next() {
                Some(path) => seed = Some(path),
                None => return fail("--seed needs a file"),
            },
            "--quiet" | "-q" => quiet = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return fail(&format!("unknown argument '{other}'")),
        }
    }

    let fake = match FakeGraph::start_on(SocketAddr::from(([127, 0, 0, 1], port))) {
        Ok(fake) => fake,
        Err(e) => return fail(&format!("cannot listen on port {port}: {e}")),
    };
    let mut behaviour = if documented {
        Behaviour::documented()
    } else {
        Behaviour::default()
    };
    if full_occurrences {
        behaviour.delta_occurrences = DeltaOccurrences::Full;
    }
    if silent_deletes {
        behaviour.delta_signals_deleted_occurrences = false;
    }
    if let Some(answer) = duplicate {
        behaviour.duplicate_transaction_id = answer;
    }
    if delegates_list {
        behaviour.delegate_can_list_calendars = true;
    }
    fake.set_behaviour(behaviour.clone());
    if latency.is_some() || never_answer.is_some() {
        fake.set_faults(Faults {
            model: latency.flatten(),
            never_answer: never_answer.clone(),
            ..Faults::default()
        });
    }
    if let Some(path) = seed {
        let loaded = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {path}: {e}"))
            .and_then(|text| {
                serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))
            })
            .and_then(|doc| fake.load_seed(&doc));
        match loaded {
            Ok(summary) => {
                for (tenant, client_id, secret) in &summary.apps {
                    println!(
                        "app:        tenant={tenant} client_id={client_id} client_secret={secret}"
                    );
                }
                for (mailbox, name, id) in &summary.calendars {
                    println!("calendar:   {mailbox} / {name} = {id}");
                }
                println!("events:     {}", summary.events);
            }
            Err(e) => return fail(&e),
        }
    }
    println!("behaviour:     {behaviour:?}");
    if latency.flatten().is_some() {
        println!("latency:       {:?}", LatencyModel::GRAPH);
    }
    if let Some(part) = &never_answer {
        println!("never answers: Graph requests whose path contains {part:?}");
    }
    println!("graph_url:     {}", fake.graph_url());
    println!("authority_url: {}", fake.authority_url());
    println!("Serving until interrupted (Ctrl-C).");
    fake.set_verbose(!quiet);
    loop {
        std::thread::park();
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("fakegraph: {message}\n{USAGE}");
    ExitCode::from(2)
}
