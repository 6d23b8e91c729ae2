//! The monitoring keys: the metrics file, the Pushgateway push and the
//! dead-man's-switch pings, against loopback servers the tests start.

use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A loopback HTTP server that answers 200 to everything and keeps each
/// request's first line and body.
fn recorder() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap_or(0);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            keep.lock().unwrap().push(format!(
                "{} {}",
                first.trim(),
                String::from_utf8_lossy(&body)
            ));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

/// A loopback URL nothing listens on.
fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[test]
fn a_sync_writes_its_metrics_and_a_failed_one_keeps_the_last_success() {
    let w = World::new();
    w.add_source(public_event("Board meeting", 1, 10));
    let file = w.state_dir().with_file_name("calsync.prom");
    let file_arg = file.display().to_string();
    let run = w.run(&["--metrics-file", &file_arg, "sync"]);
    assert_eq!(run.code, 0, "{run}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("calsync_last_run_created{command=\"sync\"} 1"),
        "{text}"
    );
    assert!(text.contains("calsync_last_run_outcome{command=\"sync\",outcome=\"success\"} 1"));
    assert!(
        !text.contains("Board meeting") && !text.contains("pair="),
        "{text}"
    );
    let success = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("calsync_last_success_timestamp_seconds"))
            .map(str::to_owned)
    };
    let before = success(&text).expect("a last success");

    // A sync that cannot reach Graph fails; its last success stays.
    let failed = w
        .command(&["--metrics-file", &file_arg, "sync"])
        .env("CALSYNC_GRAPH_URL", format!("{}/v1.0", closed_url()))
        .output()
        .unwrap();
    assert_ne!(failed.status.code(), Some(0));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(success(&text), Some(before), "{text}");
    assert!(text.contains("outcome=\"success\"} 0"), "{text}");
    assert!(
        !text.contains("calsync_last_run_exit_code{command=\"sync\"} 0"),
        "{text}"
    );
}

#[test]
fn pings_start_and_end_and_a_failed_push_is_a_warning() {
    let w = World::new();
    w.add_source(public_event("Board meeting", 1, 10));
    let (ping, seen) = recorder();
    let push = closed_url();
    let run = w.run(&[
        "--ping-url",
        &format!("{ping}/check-uuid"),
        "--metrics-push-url",
        &push,
        "sync",
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.contains("could not push its metrics"), "{run}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("POST /check-uuid/start "), "{seen:?}");
    assert!(seen[1].starts_with("POST /check-uuid HTTP"), "{seen:?}");
    assert!(seen[1].contains("1 created"), "{seen:?}");
    assert!(
        !seen.iter().any(|s| s.contains("Board meeting")),
        "{seen:?}"
    );

    // A ping service that is down does not fail the run.
    let run = w.run(&["--ping-url", &closed_url(), "sync"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("could not send the start ping"),
        "{run}"
    );
}

#[test]
fn a_push_puts_each_group() {
    let w = World::new();
    let (push, seen) = recorder();
    let run = w.run(&["--metrics-push-url", &push, "sync"]);
    assert_eq!(run.code, 0, "{run}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("PUT /metrics/job/calsync/command/sync HTTP"),
        "{seen:?}"
    );
    assert!(
        seen[0].contains("# TYPE calsync_last_run_exit_code gauge"),
        "{seen:?}"
    );
}
