//! The providers on real files and URLs.

use super::rules::summary;
use super::target::{create, payload};
use super::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn fixture_source(dir: &std::path::Path, name: &str, bytes: &[u8]) -> IcsSource {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    IcsSource::new(IcsLocation::Path(path))
}

/// One sync run as the product does it: read both sides, plan with the
/// default policy, apply.
fn sync_once(source: &IcsSource, target: &IcsTarget) -> Plan {
    runtime().block_on(async {
        let w = window();
        let events = source.read(&w).await.unwrap();
        let managed = target.read_managed(&w).await.unwrap();
        let plan = planner::plan(&events, &managed, &Policy::default(), &w);
        let report = target.apply(&plan).await.unwrap();
        assert!(report.failures.is_empty());
        assert_eq!(
            report.created + report.updated + report.deleted,
            plan.writes()
        );
        plan
    })
}

#[test]
fn a_second_run_with_no_change_writes_nothing_and_leaves_the_file_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture_source(dir.path(), "google.ics", GOOGLE);
    let path = dir.path().join("public.ics");
    let target = IcsTarget::new(&path, "Community events");
    let first = sync_once(&source, &target);
    assert!(first.creates.len() > 10, "{}", first.creates.len());
    let bytes = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = sync_once(&source, &target);
    assert!(second.is_empty(), "{second:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    // The copies read back as exactly what was planned.
    let cal = TargetCalendar::parse(&bytes, "public.ics").unwrap();
    let mut planned: Vec<(SourceKey, EventPayload)> = first
        .creates
        .iter()
        .map(|c| (c.key.clone(), c.payload.clone()))
        .collect();
    let mut read_back: Vec<(SourceKey, EventPayload)> = cal
        .managed()
        .into_iter()
        .map(|m| (m.marker.source_key, m.current))
        .collect();
    planned.sort_by(|a, b| a.0.cmp(&b.0));
    read_back.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(planned, read_back);
}

#[test]
fn an_empty_plan_does_not_touch_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("public.ics");
    std::fs::write(&path, TARGET_WITH_HAND_MADE).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let report = runtime()
        .block_on(IcsTarget::new(&path, "Other name").apply(&Plan::default()))
        .unwrap();
    assert!(report.done.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), TARGET_WITH_HAND_MADE);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
}

/// The component of `kind` that holds `needle`, with its last line break.
fn block<'a>(text: &'a str, needle: &str, kind: &str) -> &'a str {
    let at = text.find(needle).unwrap();
    let start = text[..at].rfind(&format!("BEGIN:{kind}")).unwrap();
    let end_tag = format!("END:{kind}");
    let end = at + text[at..].find(&end_tag).unwrap() + end_tag.len();
    let rest = &text[end..];
    let term = if rest.starts_with("\r\n") {
        2
    } else {
        usize::from(rest.starts_with('\n'))
    };
    &text[start..end + term]
}

#[test]
fn hand_made_events_survive_an_apply_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("public.ics");
    std::fs::write(&path, TARGET_WITH_HAND_MADE).unwrap();
    let source = fixture_source(dir.path(), "apple.ics", APPLE);
    let plan = sync_once(&source, &IcsTarget::new(&path, "Choir"));
    // The old copy's source is gone: it is deleted; the hand-made ones stay.
    assert_eq!(plan.deletes.len(), 1);
    let after = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
    let before = String::from_utf8(TARGET_WITH_HAND_MADE.to_vec()).unwrap();
    for (needle, kind) in [
        ("TZID:Europe/Berlin", "VTIMEZONE"),
        ("UID:hand-made-1", "VEVENT"),
        ("UID:hand-made-2", "VEVENT"),
        ("UID:todo-1", "VTODO"),
    ] {
        let raw = block(&before, needle, kind);
        assert!(after.contains(raw), "{needle} was not kept verbatim");
    }
    assert!(after.contains("X-WR-TIMEZONE:Europe/Berlin\r\n"));
    assert!(after.contains("X-WR-CALNAME:Choir\r\n"));
    assert!(!after.contains("managed-1"));
    let cal = TargetCalendar::parse(after.as_bytes(), "t").unwrap();
    assert!(
        cal.managed()
            .iter()
            .all(|m| m.target_id.ends_with("@calsync"))
    );
}

#[test]
fn privacy_canary_never_reaches_the_target_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("public.ics");
    for (name, bytes) in [
        ("outlook.ics", OUTLOOK),
        ("google.ics", GOOGLE),
        ("apple.ics", APPLE),
    ] {
        // Every canary event is in the window and read.
        let events = parse_events(bytes, &window(), name).unwrap().events;
        assert!(
            events.iter().any(|e| e.subject.contains("CANARY")),
            "{name}"
        );
        let source = fixture_source(dir.path(), name, bytes);
        let target = IcsTarget::new(&path, "Public");
        let plan = sync_once(&source, &target);
        assert!(plan.skipped_non_public >= 1, "{name}");
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(!written.contains("CANARY"), "{name} leaked into the target");
    }
}

#[test]
fn a_missing_target_file_is_empty_and_created_by_the_first_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.ics");
    let target = IcsTarget::new(&path, "New");
    let managed = runtime().block_on(target.read_managed(&window())).unwrap();
    assert!(managed.is_empty());
    assert!(!path.exists());
    let inspected = runtime().block_on(target.read_for_validation()).unwrap();
    assert!(inspected.is_empty());
    sync_once(&fixture_source(dir.path(), "apple.ics", APPLE), &target);
    assert!(path.exists());
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn a_target_in_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let target = IcsTarget::new(dir.path().join("no/such/dir/public.ics"), "x");
    let e = runtime()
        .block_on(target.read_managed(&window()))
        .unwrap_err();
    assert!(format!("{e:#}").contains("does not exist"), "{e:#}");
}

#[test]
fn a_target_that_is_not_icalendar_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.ics");
    std::fs::write(&path, "my notes\n").unwrap();
    let target = IcsTarget::new(&path, "x");
    let plan = Plan {
        creates: vec![create(
            "i:a",
            payload("A", at(2026, 11, 1, 9, 0), at(2026, 11, 1, 10, 0)),
        )],
        ..Plan::default()
    };
    let e = runtime().block_on(target.apply(&plan)).unwrap_err();
    assert!(format!("{e:#}").contains("does not overwrite"), "{e:#}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "my notes\n");
}

#[cfg(unix)]
#[test]
fn a_rewrite_keeps_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("public.ics");
    std::fs::write(&path, TARGET_WITH_HAND_MADE).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    sync_once(
        &fixture_source(dir.path(), "apple.ics", APPLE),
        &IcsTarget::new(&path, "x"),
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

#[test]
fn a_missing_source_file_names_the_path() {
    let e = runtime()
        .block_on(IcsSource::new(IcsLocation::Path("/no/such/calendar.ics".into())).read(&window()))
        .unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains("/no/such/calendar.ics"), "{text}");
    assert!(text.contains("does not exist"), "{text}");
}

/// Serves one HTTP response on a loopback port; returns the URL.
fn serve_once(status: &str, body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let status = status.to_string();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut request = Vec::new();
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&body);
    });
    (
        format!("http://127.0.0.1:{port}/calendar/private-0123456789/basic.ics"),
        handle,
    )
}

#[test]
fn a_url_source_is_downloaded() {
    let (url, server) = serve_once("200 OK", GOOGLE.to_vec());
    let source = IcsSource::new(IcsLocation::parse(&url).unwrap());
    let events = runtime().block_on(source.read_events(&window())).unwrap();
    server.join().unwrap();
    assert_eq!(summary(&events.events), summary(&read(GOOGLE)));
}

#[test]
fn a_failed_download_names_the_url_without_its_secret() {
    let (url, server) = serve_once("404 Not Found", b"gone".to_vec());
    let source = IcsSource::new(IcsLocation::parse(&url).unwrap());
    let e = runtime().block_on(source.read(&window())).unwrap_err();
    server.join().unwrap();
    let text = format!("{e:#}");
    assert!(text.contains("404"), "{text}");
    assert!(text.contains("http://127.0.0.1:"), "{text}");
    assert!(!text.contains("private-0123456789"), "{text}");
}

#[test]
fn a_download_larger_than_the_cap_is_refused() {
    let (url, server) = serve_once("200 OK", GOOGLE.to_vec());
    let source = IcsSource::new(IcsLocation::parse(&url).unwrap()).with_max_bytes(1000);
    let e = runtime().block_on(source.read(&window())).unwrap_err();
    server.join().unwrap();
    assert!(format!("{e:#}").contains("larger than"), "{e:#}");
}
