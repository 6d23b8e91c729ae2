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

// ------------------------------------------------------ pairs and validate

/// The samples of a metrics file, as the Prometheus text parser reads it.
fn scrape(path: &std::path::Path) -> Vec<prometheus_parse::Sample> {
    let text = std::fs::read_to_string(path).expect("the metrics file");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines)
        .unwrap_or_else(|e| panic!("the metrics file does not parse ({e}):\n{text}"))
        .samples
}

/// The value of the one sample of `metric` with all of `labels` (and no
/// `pair` label when `labels` names none).
fn value(
    samples: &[prometheus_parse::Sample],
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let found: Vec<f64> = samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .filter(|s| labels.iter().any(|(k, _)| *k == "pair") || s.labels.get("pair").is_none())
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{metric} is not a gauge: {other:?}"),
        })
        .collect();
    assert!(
        found.len() <= 1,
        "{metric} {labels:?} has {} samples",
        found.len()
    );
    found.first().copied()
}

/// A sync series of one pair.
fn of_sync(pair: &str) -> [(&'static str, &str); 2] {
    [("command", "sync"), ("pair", pair)]
}

/// Two pairs: `alpha` from the events calendar (two events) to the world's
/// target, `beta` from the chair's calendar (one event) to the chair's
/// public calendar; `beta_extra` and `more` go into `beta`'s table and
/// after it. Returns the config's path.
fn alpha_and_beta(w: &World, beta_extra: &str, more: &str) -> std::path::PathBuf {
    use crate::pairs::CHAIR;
    if w.fake.calendar_id(CHAIR, SOURCE).is_none() {
        let chair = crate::pairs::add_mailbox(w, CHAIR);
        w.fake.add_calendar(CHAIR, TARGET);
        w.add_source(public_event("Alpha one", 1, 10));
        w.add_source(public_event("Alpha two", 2, 10));
        w.fake
            .insert_event(CHAIR, &chair, public_event("Beta one", 3, 10));
    }
    w.config_file(&format!(
        r#"
[[pair]]
name = "alpha"
mailbox = "{MAILBOX}"
target_mailbox = "{MAILBOX}"
target_calendar = "{TARGET}"

[[pair]]
name = "beta"
mailbox = "{CHAIR}"
target_mailbox = "{CHAIR}"
target_calendar = "{TARGET}"
{beta_extra}
{more}"#
    ))
}

const NO_SUCH_CALENDAR: &str = "source_calendar = \"No Such Calendar\"";

#[test]
fn each_pair_has_its_series_and_a_failing_pair_keeps_its_last_success() {
    let w = World::new();
    let config = alpha_and_beta(&w, "", "");
    let config = config.display().to_string();
    let file = w.home.path().join("calsync.prom");
    let file_arg = file.display().to_string();
    let sync = |w: &World| w.run(&["--config", &config, "--metrics-file", &file_arg, "sync"]);

    let first = sync(&w);
    assert_eq!(first.code, 0, "{first}");
    let s = scrape(&file);
    assert!(
        s.iter().all(|x| x.labels.get("command") == Some("sync")),
        "{s:?}"
    );
    for (pair, created) in [("alpha", 2.0), ("beta", 1.0)] {
        let l = of_sync(pair);
        assert_eq!(
            value(&s, "calsync_last_run_created", &l),
            Some(created),
            "{pair}"
        );
        assert_eq!(
            value(&s, "calsync_last_run_exit_code", &l),
            Some(0.0),
            "{pair}"
        );
        let success = [l[0], l[1], ("outcome", "success")];
        assert_eq!(
            value(&s, "calsync_last_run_outcome", &success),
            Some(1.0),
            "{pair}"
        );
    }
    // Every series names its pair: none is of the config as a whole.
    assert!(s.iter().all(|x| x.labels.get("pair").is_some()), "{s:?}");
    let beta_success = value(
        &s,
        "calsync_last_success_timestamp_seconds",
        &of_sync("beta"),
    )
    .expect("beta's last success");
    let alpha_success = value(
        &s,
        "calsync_last_success_timestamp_seconds",
        &of_sync("alpha"),
    )
    .expect("alpha's last success");

    // beta's source calendar is gone, and gamma has never worked.
    std::thread::sleep(std::time::Duration::from_millis(20));
    w.add_source(public_event("Alpha three", 4, 10));
    let gamma = format!(
        "\n[[pair]]\nname = \"gamma\"\ntarget_mailbox = \"{MAILBOX}\"\n\
         target_calendar = \"Gamma (public)\"\n{NO_SUCH_CALENDAR}\n"
    );
    w.fake.add_calendar(MAILBOX, "Gamma (public)");
    alpha_and_beta(&w, NO_SUCH_CALENDAR, &gamma);
    let second = sync(&w);
    assert_eq!(second.code, 2, "{second}");
    assert!(
        second.all_output().contains("2 of 3 pairs did not succeed"),
        "{second}"
    );
    let s = scrape(&file);
    let alpha = of_sync("alpha");
    assert_eq!(
        value(&s, "calsync_last_run_created", &alpha),
        Some(1.0),
        "{second}"
    );
    assert_eq!(
        value(
            &s,
            "calsync_last_run_outcome",
            &[alpha[0], alpha[1], ("outcome", "success")]
        ),
        Some(1.0)
    );
    assert!(
        value(&s, "calsync_last_success_timestamp_seconds", &alpha).unwrap() > alpha_success,
        "alpha's last success did not move on"
    );
    for pair in ["beta", "gamma"] {
        let l = of_sync(pair);
        assert_eq!(
            value(
                &s,
                "calsync_last_run_outcome",
                &[l[0], l[1], ("outcome", "failed")]
            ),
            Some(1.0),
            "{pair}"
        );
        assert_eq!(
            value(
                &s,
                "calsync_last_run_outcome",
                &[l[0], l[1], ("outcome", "success")]
            ),
            Some(0.0),
            "{pair}"
        );
        assert_eq!(
            value(&s, "calsync_last_run_exit_code", &l),
            Some(2.0),
            "{pair}"
        );
        // A failed run has no counts.
        assert_eq!(value(&s, "calsync_last_run_created", &l), None, "{pair}");
    }
    assert_eq!(
        value(
            &s,
            "calsync_last_success_timestamp_seconds",
            &of_sync("beta")
        ),
        Some(beta_success),
        "beta's last success was not kept"
    );
    assert_eq!(
        value(
            &s,
            "calsync_last_success_timestamp_seconds",
            &of_sync("gamma")
        ),
        None,
        "gamma never succeeded"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains("No Such Calendar") && !text.contains("Alpha") && !text.contains("Beta"),
        "{text}"
    );

    // Without the file, beta's last success comes from its history.
    std::fs::remove_file(&file).unwrap();
    let third = sync(&w);
    assert_eq!(third.code, 2, "{third}");
    assert!(
        third.all_output().contains("2 of 3 pairs did not succeed"),
        "{third}"
    );
    let s = scrape(&file);
    let beta = of_sync("beta");
    let recorded = value(&s, "calsync_last_success_timestamp_seconds", &beta)
        .expect("beta's last success from its history");
    let ran = value(&s, "calsync_last_run_timestamp_seconds", &beta).unwrap();
    assert!(
        (recorded - beta_success).abs() < 5.0 && recorded < ran,
        "beta's last success {recorded}, first run {beta_success}, this run {ran}"
    );
    assert_eq!(
        value(
            &s,
            "calsync_last_success_timestamp_seconds",
            &of_sync("gamma")
        ),
        None
    );
}

#[test]
fn validate_writes_its_series_beside_those_of_sync() {
    let w = World::new();
    let config = alpha_and_beta(&w, "", "").display().to_string();
    let file = w.home.path().join("calsync.prom");
    let file_arg = file.display().to_string();
    let run = |cmd: &str| w.run(&["--config", &config, "--metrics-file", &file_arg, cmd]);

    let sync = run("sync");
    assert_eq!(sync.code, 0, "{sync}");
    let synced = scrape(&file);

    let validate = run("validate");
    assert_eq!(validate.code, 0, "{validate}");
    let s = scrape(&file);
    // The sync series are all still there, with their values.
    let of = |samples: &[prometheus_parse::Sample], command: &str| {
        let mut v: Vec<String> = samples
            .iter()
            .filter(|x| x.labels.get("command") == Some(command))
            .map(|x| format!("{} {} {:?}", x.metric, x.labels, x.value))
            .collect();
        v.sort();
        v
    };
    assert_eq!(of(&s, "sync"), of(&synced, "sync"));
    assert!(!of(&s, "sync").is_empty());
    for (pair, copies) in [("alpha", 2.0), ("beta", 1.0)] {
        let l = [("command", "validate"), ("pair", pair)];
        assert_eq!(
            value(
                &s,
                "calsync_last_run_outcome",
                &[l[0], l[1], ("outcome", "clean")]
            ),
            Some(1.0),
            "{pair}"
        );
        assert_eq!(
            value(&s, "calsync_last_run_exit_code", &l),
            Some(0.0),
            "{pair}"
        );
        assert_eq!(
            value(&s, "calsync_target_copies", &l),
            Some(copies),
            "{pair}"
        );
        assert_eq!(
            value(
                &s,
                "calsync_last_run_problems",
                &[l[0], l[1], ("kind", "missing")]
            ),
            Some(0.0),
            "{pair}"
        );
        assert!(value(&s, "calsync_last_success_timestamp_seconds", &l).is_some());
        // validate has no sync counts.
        assert_eq!(value(&s, "calsync_last_run_created", &l), None, "{pair}");
    }

    // A sync after it keeps the validate series in turn.
    let validated = of(&s, "validate");
    let again = run("sync");
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(of(&scrape(&file), "validate"), validated);
}

// ----------------------------------------------------------- failure pings

#[test]
fn a_failed_sync_pings_start_then_fail_with_no_event_text_or_token() {
    let w = World::new();
    w.add_source(public_event("Board meeting", 1, 10));
    w.add_source(secret_event("private", 2, 10));
    // A first sync signs in, so that a token exists to look for.
    w.sync();
    let config = w.config_file(&format!("{NO_SUCH_CALENDAR}\n"));
    let (ping, seen) = recorder();
    let run = w.run(&[
        "--config",
        &config.display().to_string(),
        "--ping-url",
        &format!("{ping}/check-uuid"),
        "sync",
    ]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.all_output().contains("No Such Calendar"), "{run}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].starts_with("POST /check-uuid/start HTTP"),
        "{seen:?}"
    );
    assert!(
        seen[1].starts_with("POST /check-uuid/fail HTTP"),
        "{seen:?}"
    );
    assert!(
        seen[1].ends_with("calsync sync: failed, exit 2"),
        "{seen:?}"
    );
    let tokens = w.fake.issued_tokens();
    assert!(!tokens.is_empty());
    let mut needles: Vec<String> = vec![
        "Board meeting".into(),
        "Agenda".into(),
        CANARY.into(),
        SECRET.into(),
        "No Such Calendar".into(),
    ];
    needles.extend(tokens);
    let mut exposed = Exposed::new();
    for (i, request) in seen.iter().enumerate() {
        exposed = exposed.text(format!("ping request {i}"), request.as_str());
    }
    exposed.assert_free_of(&needles);
}

#[test]
fn a_pairs_config_pings_once_at_start_and_once_at_the_end() {
    let w = World::new();
    let config = alpha_and_beta(&w, "", "").display().to_string();
    let (ping, seen) = recorder();
    let url = format!("{ping}/check-uuid");
    let sync = || w.run(&["--config", &config, "--ping-url", &url, "sync"]);

    let ok = sync();
    assert_eq!(ok.code, 0, "{ok}");
    let got = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("POST /check-uuid/start HTTP"), "{got:?}");
    assert!(got[1].starts_with("POST /check-uuid HTTP"), "{got:?}");
    assert!(
        got[1].ends_with("calsync sync: 2 pairs, 0 not successful, exit 0"),
        "{got:?}"
    );

    // One pair failing: still one ping each, the end one a failure with
    // the overall exit code.
    alpha_and_beta(&w, NO_SUCH_CALENDAR, "");
    let failed = sync();
    assert_eq!(failed.code, 2, "{failed}");
    assert!(
        failed.all_output().contains("1 of 2 pairs did not succeed"),
        "{failed}"
    );
    let got = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("POST /check-uuid/start HTTP"), "{got:?}");
    assert!(got[1].starts_with("POST /check-uuid/fail HTTP"), "{got:?}");
    assert!(
        got[1].ends_with("calsync sync: 2 pairs, 1 not successful, exit 2"),
        "{got:?}"
    );
    Exposed::new()
        .text("the pings", got.join("\n"))
        .assert_free_of(&["Alpha", "Beta", "No Such Calendar", SECRET]);
}
