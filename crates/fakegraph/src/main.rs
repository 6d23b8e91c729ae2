//! `fakegraph [--port N] [--seed FILE.json] [--quiet]`
//!
//! Serves the fake Microsoft Graph and token endpoint on 127.0.0.1 until
//! interrupted, so calsync can be run against it by hand. Prints the URLs and
//! the seeded app credentials; logs one line per request unless `--quiet`.
//! The seed format is described in the crate docs and `examples/seed.json`.

use std::net::SocketAddr;
use std::process::ExitCode;

use fakegraph::FakeGraph;

const USAGE: &str = "usage: fakegraph [--port N] [--seed FILE.json] [--quiet]";

fn main() -> ExitCode {
    let mut port = 0u16;
    let mut seed = None;
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
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
