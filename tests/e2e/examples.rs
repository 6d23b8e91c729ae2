//! The files in `examples/` do what they say: the config example parses and
//! sets every key, the demo of the README's first command publishes the
//! public events of its `.ics` file and nothing else, the crontab line runs a
//! sync and logs it, the systemd units pass `systemd-analyze verify`, and the
//! CI workflow and the Kubernetes CronJob hold what an operator relies on. The
//! README points at each.

use crate::common::*;
use calsync::cli::{Cli, Command};
use calsync::config::{self, FlagOverrides, Origin, Settings};
use clap::Parser;
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Loads a config file with an environment that holds only `HOME` (the
/// file's folder).
fn load(path: &Path) -> anyhow::Result<Settings> {
    let home = path.parent().unwrap_or(path).display().to_string();
    config::load(
        &FlagOverrides {
            config: Some(path.to_path_buf()),
            ..FlagOverrides::default()
        },
        &|k| (k == "HOME").then(|| home.clone()),
    )
}

/// The example with every optional setting (`#key = value`) switched on.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest)
                if rest.starts_with(|c: char| c.is_ascii_lowercase())
                    && rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
            {
                rest.to_string()
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The example with every optional setting switched on, as the two configs
/// it can be: both sides `.ics`, the source once a `path` and once a `url`
/// (one source cannot be both).
fn every_key_variants(text: &str) -> [String; 2] {
    let all = uncommented(text).replace("kind = \"graph\"", "kind = \"ics\"");
    let without = |dropped: &str| {
        let mut table = "";
        all.lines()
            .filter(|line| {
                if line.starts_with('[') {
                    table = line.trim();
                }
                !(table == "[source]" && line.starts_with(dropped))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    [without("url = "), without("path = ")]
}

/// Every key the configuration knows (`filter.sensitivity`, …), as the
/// config module reports where each value came from.
fn known_keys(settings: &Settings) -> Vec<&'static str> {
    settings
        .origins
        .keys()
        .copied()
        .filter(|k| *k != "config")
        .collect()
}

#[test]
fn config_example_parses_and_covers_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = read("examples/config.toml");

    // As shipped: it loads, and what it sets comes from the file.
    let path = dir.path().join("config.toml");
    std::fs::write(&path, &text).unwrap();
    let shipped = load(&path).unwrap_or_else(|e| panic!("examples/config.toml: {e:#}"));
    assert_eq!(
        shipped.source_calendar_ref(),
        calsync::config::CalendarRef::Default
    );
    assert!(
        shipped.client_secret.is_none(),
        "the secret belongs in the environment"
    );
    assert!(!shipped.dry_run);

    // With every optional line switched on, every key is set by the file:
    // a key added to calsync but not to the example fails here.
    let mut set_by_file = std::collections::BTreeSet::new();
    let mut every = None;
    for (i, variant) in every_key_variants(&text).iter().enumerate() {
        let all = dir.path().join(format!("all-{i}.toml"));
        std::fs::write(&all, variant).unwrap();
        let s = load(&all).unwrap_or_else(|e| panic!("examples/config.toml uncommented: {e:#}"));
        set_by_file.extend(
            known_keys(&s)
                .into_iter()
                .filter(|k| s.origins[k] == Origin::File),
        );
        every = Some(s);
    }
    let every = every.unwrap();
    let keys = known_keys(&every);
    assert!(keys.len() >= 31, "{keys:?}");
    let not_covered: Vec<_> = keys.iter().filter(|k| !set_by_file.contains(*k)).collect();
    assert!(
        not_covered.is_empty(),
        "examples/config.toml does not show these keys: {not_covered:?}"
    );
    assert_eq!(
        every.target_mailbox.as_deref(),
        Some("public-events@contoso.com")
    );
    assert!(every.policy.filter.subject_exclude.is_some());
}

#[test]
fn readme_points_at_every_example_and_documents_every_key() {
    let readme = read("README.md");
    let mut examples = Vec::new();
    let mut stack = vec![root().join("examples")];
    // What running the demo leaves behind (its lock and history).
    let demo_state = root().join("examples/demo/state");
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p == demo_state {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                examples.push(p.strip_prefix(root()).unwrap().display().to_string());
            }
        }
    }
    assert!(examples.len() >= 6, "{examples:?}");
    for ex in &examples {
        assert!(
            readme.contains(ex.as_str()),
            "README.md does not mention {ex}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.toml");
    let [variant, _] = every_key_variants(&read("examples/config.toml"));
    std::fs::write(&all, variant).unwrap();
    for key in known_keys(&load(&all).unwrap()) {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        assert!(
            readme.contains(&format!("`{leaf}`")) || readme.contains(&format!("`{key}`")),
            "README.md does not document the key {key}"
        );
    }
}

/// Runs the demo's config from a copy of `examples/demo/` (so that the
/// repository stays as it is), from another working directory, with today
/// set to `today` (`None`: the real today). Returns the run and the copy.
fn run_demo(today: Option<&str>) -> (Run, tempfile::TempDir) {
    let copy = tempfile::tempdir().unwrap();
    for file in ["config.toml", "internal.ics"] {
        std::fs::copy(
            root().join("examples/demo").join(file),
            copy.path().join(file),
        )
        .unwrap();
    }
    let run = demo_again(&copy, today);
    (run, copy)
}

fn demo_again(copy: &tempfile::TempDir, today: Option<&str>) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_calsync"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", copy.path().join("home"))
        .current_dir(std::env::temp_dir())
        .arg("sync")
        .arg("--config")
        .arg(copy.path().join("config.toml"));
    if let Some(day) = today {
        cmd.env("CALSYNC_TODAY", day);
    }
    Run::from(cmd.output().unwrap())
}

/// The events of the published file as (DTSTART line, SUMMARY) pairs.
fn published(copy: &tempfile::TempDir) -> (String, Vec<(String, String)>) {
    let text = std::fs::read_to_string(copy.path().join("public.ics")).unwrap();
    let unfolded = text.replace("\r\n ", "");
    let mut events = Vec::new();
    for block in unfolded.split("BEGIN:VEVENT\r\n").skip(1) {
        let line = |name: &str| {
            block
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_default()
                .to_string()
        };
        events.push((line("DTSTART"), line("SUMMARY:")));
    }
    (text, events)
}

#[test]
fn readme_starts_with_the_demo() {
    let readme = read("README.md");
    let first = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    assert_eq!(
        first.trim(),
        "cargo build --release --locked && ./target/release/calsync sync --config \
         examples/demo/config.toml"
    );
    assert!(readme.contains("./target/release/calsync --help"));
    assert!(readme.contains("examples/demo/public.ics"));
}

#[test]
fn the_demo_publishes_the_public_events_and_nothing_else() {
    // Today, as a stranger runs it.
    let (run, copy) = run_demo(None);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stderr, "", "{run}");
    let line = run.stdout.trim_end();
    assert_eq!(run.stdout.lines().count(), 1, "{run}");
    assert!(line.starts_with("Created "), "{line}");
    for reason in [" private", " confidential", " cancelled"] {
        assert!(line.contains(reason), "{reason:?} not in: {line}");
    }
    let path = copy.path().join("public.ics");
    assert!(
        line.ends_with(&format!("Public calendar: {}", path.display())),
        "{line}"
    );
    let (text, events) = published(&copy);
    let subjects: std::collections::BTreeSet<&str> =
        events.iter().map(|(_, s)| s.as_str()).collect();
    for s in [
        "SUMMARY:Summer concert in the park",
        "SUMMARY:Open house at the New York office",
        "SUMMARY:Founders' Day (offices closed)",
    ] {
        assert!(subjects.contains(s), "{s} missing: {subjects:?}");
    }
    for secret in [
        "1:1 with the director",
        "Performance review",
        "Doctor",
        "Main Street",
        "Board meeting",
        "salary",
        "Winter gala",
        "Staff picnic",
        "Team offsite",
        "Stage crew",
        "badge list",
        "Bandstand",
    ] {
        assert!(!text.contains(secret), "{secret:?} was published:\n{text}");
    }
    // The demo's state stays beside its config, not in the user's.
    assert!(copy.path().join("state/history.jsonl").exists());
    assert!(!copy.path().join("home").exists());

    // Again: nothing to do, and the file is byte for byte the same.
    let again = demo_again(&copy, None);
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again
            .stdout
            .starts_with("Created 0, updated 0, deleted 0, "),
        "{again}"
    );
    assert_eq!(published(&copy).0, text);
}

#[test]
fn the_demo_shows_each_kind_of_event_as_it_should() {
    // On a fixed day before every dated event of the demo.
    let (run, copy) = run_demo(Some("2027-01-01"));
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains(
            "skipped (21 private, 5 confidential, 7 cancelled, 1 in an excluded category)"
        ),
        "{run}"
    );
    let (_, events) = published(&copy);
    let has = |start: &str, summary: &str| {
        events
            .iter()
            .any(|(d, s)| d == start && s == &format!("SUMMARY:{summary}"))
    };
    // Three time zones, to the minute, in UTC.
    assert!(has(
        "DTSTART:20270603T170000Z",
        "Summer concert in the park"
    ));
    assert!(has(
        "DTSTART:20270508T140000Z",
        "Open house at the New York office"
    ));
    assert!(has("DTSTART:20281005T093000Z", "Partner meetup in Tokyo"));
    assert!(has("DTSTART:20290314T150000Z", "Product webinar"));
    // All-day, one day and several.
    assert!(has(
        "DTSTART;VALUE=DATE:20270917",
        "Founders' Day (offices closed)"
    ));
    assert!(has("DTSTART;VALUE=DATE:20280421", "Spring festival"));
    // The weekly series: a moved instance, an excluded one, a cancelled one.
    assert!(has(
        "DTSTART:20280715T160000Z",
        "Summer concert in the park (rain date: Saturday)"
    ));
    let starts: Vec<&str> = events.iter().map(|(d, _)| d.as_str()).collect();
    for gone in [
        "DTSTART:20280713T170000Z",
        "DTSTART:20290816T170000Z",
        "DTSTART:20300704T170000Z",
    ] {
        assert!(!starts.contains(&gone), "{gone} was published");
    }
}

#[test]
fn the_demo_keeps_working_for_years() {
    for today in ["2031-06-01", "2036-02-29", "2045-12-31"] {
        let (run, copy) = run_demo(Some(today));
        assert_eq!(run.code, 0, "{today}: {run}");
        for reason in [" private", " confidential", " cancelled"] {
            assert!(run.stdout.contains(reason), "{today}: {reason:?}: {run}");
        }
        let (_, events) = published(&copy);
        let concerts = events
            .iter()
            .filter(|(_, s)| s == "SUMMARY:Summer concert in the park")
            .count();
        assert!(concerts >= 50, "{today}: {concerts} concerts");
        assert!(events.len() >= 60, "{today}: {}", events.len());
    }
}

/// Parses a calsync command line as it appears in an example.
fn parse_calsync(args: &[&str], context: &str) -> Cli {
    Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{context}: `{}`: {e}", args.join(" ")))
}

#[test]
fn crontab_line_syncs_and_logs_to_a_file() {
    let text = read("examples/cron/crontab");
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit() || c == '*'))
        .collect();
    assert_eq!(entries.len(), 1, "one schedule line: {entries:?}");
    let fields: Vec<&str> = entries[0].splitn(6, ' ').collect();
    assert_eq!(fields[..5], ["*/23", "*", "*", "*", "*"]);
    // cron ends the command at an unescaped % and hands the rest to
    // /bin/sh with each \% turned into %.
    assert!(
        !fields[5].replace("\\%", "").contains('%'),
        "an unescaped % cuts a cron command short: {}",
        fields[5]
    );
    let command = fields[5].replace("\\%", "%");
    assert!(command.contains("calsync -q sync"), "{command}");
    assert!(!command.contains("flock"), "calsync takes its own lock");

    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_calsync")).parent().unwrap();
    let run = |cmd: &mut std::process::Command| Run::from(cmd.output().unwrap());
    // The test world's environment (its HOME, the fake's endpoints and
    // credentials), with the freshly built calsync first on PATH.
    let mut sh_cmd = std::process::Command::new("/bin/sh");
    sh_cmd.env_clear();
    for (k, v) in w.command(&[]).get_envs() {
        if let Some(v) = v {
            sh_cmd.env(k, v);
        }
    }
    sh_cmd
        .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
        .arg("-c")
        .arg(&command);
    let first = run(&mut sh_cmd);
    assert_eq!(first.code, 0, "{first}");
    assert_eq!(
        first.all_output().trim(),
        "",
        "cron would mail this: {first}"
    );
    let log_path = w.home.path().join(".local/state/calsync/cron.log");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].contains("Created 1, updated 0, deleted 0"),
        "{log}"
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(lines[0].split(' ').next().unwrap()).is_ok(),
        "{log}"
    );
    assert_eq!(lines[1], "exit 0");
    assert_eq!(w.target_subjects(), ["Open day"]);
    // The sample summary in the file's comments has the shape a run prints.
    let summary = regex::Regex::new(
        r"^Created \d+, updated \d+, deleted \d+, \d+ unchanged, \d+ skipped( \([a-z0-9 ,-]+\))?; \d+\.\d s, \d+ requests to Graph\.$",
    )
    .unwrap();
    let printed = lines[0].split_once(' ').map_or("", |(_, rest)| rest);
    assert!(summary.is_match(printed), "{printed:?}");
    let sample = text
        .lines()
        .find_map(|l| l.strip_prefix("#   Created "))
        .map(|rest| format!("Created {rest}"))
        .expect("a sample summary line");
    assert!(summary.is_match(&sample), "stale sample: {sample:?}");

    // A second run appends.
    let second = run(&mut sh_cmd);
    assert_eq!(second.code, 0, "{second}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(log.lines().count(), 4, "{log}");
    assert!(
        log.contains("Created 0, updated 0, deleted 0, 1 unchanged"),
        "{log}"
    );
}

/// `--version` names the commit and the target a binary was built from;
/// `-V` stays short.
#[test]
fn version_names_the_commit_and_the_target() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_calsync"))
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let version = regex::Regex::new(
        r"^calsync \d+\.\d+\.\d+ \(commit ([0-9a-f]{7,40}|unknown), [a-z0-9_]+-[a-z0-9_-]+\)\n$",
    )
    .unwrap();
    assert!(out.status.success() && version.is_match(&text), "{text:?}");
    let short = std::process::Command::new(env!("CARGO_BIN_EXE_calsync"))
        .arg("-V")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&short.stdout),
        concat!("calsync ", env!("CARGO_PKG_VERSION"), "\n")
    );
}

#[test]
fn systemd_units_verify_and_are_hardened() {
    let service = read("examples/systemd/calsync.service");
    let timer = read("examples/systemd/calsync.timer");
    for needle in [
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "StateDirectory=calsync",
        "Environment=CALSYNC_STATE_DIR=%S/calsync",
        "Environment=CALSYNC_TOKEN_STORE=file",
        "EnvironmentFile=",
        "SuccessExitStatus=75",
    ] {
        assert!(
            service.lines().any(|l| l.starts_with(needle)),
            "calsync.service lacks {needle}"
        );
    }
    // The secret comes from the EnvironmentFile; no unit line sets it.
    assert!(
        !service
            .lines()
            .any(|l| !l.starts_with('#') && l.contains("CLIENT_SECRET")),
        "the secret must not be in the unit"
    );
    for needle in [
        "OnBootSec=",
        "OnUnitActiveSec=23min",
        "WantedBy=timers.target",
    ] {
        assert!(
            timer.lines().any(|l| l.starts_with(needle)),
            "calsync.timer lacks {needle}"
        );
    }
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let args: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(args[0], "/usr/local/bin/calsync");
    let cli = parse_calsync(&args, "calsync.service ExecStart");
    assert!(matches!(cli.command, Command::Sync(_)));
    assert!(cli.global.quiet);

    let Ok(version) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("note: systemd-analyze is not installed; the unit files were not verified");
        return;
    };
    assert!(version.status.success());
    // verify insists that ExecStart's program exists: point it at this build.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("calsync.service");
    std::fs::write(
        &unit,
        service.replace("/usr/local/bin/calsync", env!("CARGO_BIN_EXE_calsync")),
    )
    .unwrap();
    let timer_path = dir.path().join("calsync.timer");
    std::fs::write(&timer_path, &timer).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .arg(&timer_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify exits 0 on unknown keys and bad values too; it only says so.
    let about_ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("calsync.service") || l.contains("calsync.timer"))
        .collect();
    assert!(
        out.status.success() && about_ours.is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}

fn yaml(rel: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The `calsync …` commands of a shell script, as argument lists.
fn calsync_commands(script: &str) -> Vec<Vec<String>> {
    script
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("calsync "))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn ci_workflow_is_scheduled_serialised_and_uses_the_secret_store() {
    let docs = yaml("examples/ci/github-sync.yml");
    let wf = &docs[0];
    assert_eq!(
        wf["on"]["schedule"][0]["cron"].as_str(),
        Some("*/23 * * * *")
    );
    assert!(wf["concurrency"]["group"].as_str().is_some());
    assert_eq!(
        wf["concurrency"]["cancel-in-progress"].as_bool(),
        Some(false)
    );
    let job = &wf["jobs"]["sync"];
    let env = job["env"].as_hash().expect("job env");
    for var in [
        "CALSYNC_TENANT_ID",
        "CALSYNC_CLIENT_ID",
        "CALSYNC_CLIENT_SECRET",
        "CALSYNC_MAILBOX",
    ] {
        let v = env
            .get(&Yaml::String(var.into()))
            .and_then(Yaml::as_str)
            .unwrap_or_else(|| panic!("{var} not set"));
        assert_eq!(v, format!("${{{{ secrets.{var} }}}}"), "{var}");
    }
    let mut syncs = 0;
    for step in job["steps"].as_vec().expect("steps") {
        if let Some(script) = step["run"].as_str() {
            for cmd in calsync_commands(script) {
                let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
                let cli = parse_calsync(&args, "github-sync.yml");
                assert!(matches!(cli.command, Command::Sync(_)), "{cmd:?}");
                syncs += 1;
            }
        }
    }
    assert_eq!(syncs, 3, "a sync, a dry run and a full sync");

    // The state carried in the cache, which the repository's other
    // workflows can read, is the history and the incremental state, never
    // the whole state dir (nor a token file).
    let state_paths: Vec<String> = job["steps"]
        .as_vec()
        .expect("steps")
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/cache/"))
        })
        .flat_map(|s| {
            s["with"]["path"]
                .as_str()
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        !state_paths.is_empty(),
        "the state is not carried between runs"
    );
    for path in &state_paths {
        let name = path
            .strip_prefix(".calsync-state/")
            .unwrap_or_else(|| panic!("the cache holds {path}, not a state file"));
        assert!(
            [
                "history.jsonl",
                "sync-state.json",
                "sync-snapshot.json",
                "calendars.json",
                "full-sync-request.json"
            ]
            .contains(&name),
            "the cache holds {path}"
        );
    }
}

#[test]
fn kubernetes_cronjob_forbids_overlap_and_keeps_state() {
    let docs = yaml("examples/kubernetes/cronjob.yaml");
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"].as_str() == Some(kind))
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let cron = find("CronJob");
    assert_eq!(cron["spec"]["concurrencyPolicy"].as_str(), Some("Forbid"));
    assert_eq!(cron["spec"]["schedule"].as_str(), Some("*/23 * * * *"));
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let secret = container["env"]
        .as_vec()
        .expect("env")
        .iter()
        .find(|e| e["name"].as_str() == Some("CALSYNC_CLIENT_SECRET"))
        .expect("the secret is passed");
    assert!(secret["value"].is_badvalue(), "no secret in the manifest");
    assert!(
        secret["valueFrom"]["secretKeyRef"]["name"]
            .as_str()
            .is_some()
    );
    let mut args = vec!["calsync"];
    args.extend(
        container["args"]
            .as_vec()
            .expect("args")
            .iter()
            .filter_map(Yaml::as_str),
    );
    assert!(matches!(
        parse_calsync(&args, "cronjob.yaml").command,
        Command::Sync(_)
    ));

    // The config in the ConfigMap loads, and its state_dir is on the claim.
    let toml = find("ConfigMap")["data"]["config.toml"]
        .as_str()
        .expect("config.toml");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    let settings = load(&path).unwrap_or_else(|e| panic!("ConfigMap config.toml: {e:#}"));
    let state_mount = container["volumeMounts"]
        .as_vec()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["name"].as_str() == Some("state"))
        .expect("a state mount");
    assert_eq!(
        PathBuf::from(state_mount["mountPath"].as_str().unwrap()),
        settings.state_dir
    );
    let claim = pod["volumes"]
        .as_vec()
        .expect("volumes")
        .iter()
        .find(|v| v["name"].as_str() == Some("state"))
        .expect("a state volume");
    let claim_name = claim["persistentVolumeClaim"]["claimName"]
        .as_str()
        .expect("state on a claim");
    assert_eq!(
        find("PersistentVolumeClaim")["metadata"]["name"].as_str(),
        Some(claim_name)
    );
    // App-only access with the secret from the environment: nothing needs a
    // token store, so the example names none.
    assert!(!toml.contains("token_store"), "{toml}");
}
