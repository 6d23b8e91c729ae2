//! `calsync doctor`: checks a real tenant once, before the first sync, and
//! says for each thing `sync` needs whether it is there and what to change
//! when it is not.
//!
//! It signs in as `sync` does and runs a checklist ([`report::Item`], in
//! order): the configuration, the token and its permissions, the source and
//! target calendars resolved as `sync` resolves them, the clock, a small
//! read of the source, how calendarView delta sends recurring meetings
//! here, the query `sync` finds its copies with, the target mailbox's time
//! zone and, with `--write-probe`, one probe event created, created again
//! with the same `transactionId`, and deleted. Only the Graph sides are
//! checked; an `.ics` side is named and left alone.
//!
//! Doctor takes no lock and writes nothing to the state dir but the token
//! cache that signing in keeps. Without `--write-probe` it writes nothing to
//! Graph. It shows no event content but the probe's own subject, and never a
//! token or secret.
//!
//! The exit code: 0 when every check `sync` needs passed (warnings and
//! information do not count), else the code of the first failure: 2 for the
//! configuration (an unknown calendar name included), 3 for the sign-in, a
//! permission or an access right, 1 for anything else.

mod calendars;
mod clock;
mod delta;
mod probe;
pub mod report;
mod signin;

use super::{Context, print_stdout, runtime};
use crate::cli::DoctorArgs;
use crate::config::Settings;
use crate::graph::client::{GraphClient, http_client};
use crate::graph::provider::CalendarRole;
use calendars::{Doctor, is_graph, item_of, side_text};
use report::{Cause, Check, Item, Report, render_text, split_message};
use std::process::ExitCode;

pub use probe::PROBE_SUBJECT;

pub fn run(ctx: &Context, args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let selected = match ctx.selection(&args.select) {
        Ok(selection) if selection.from_tables => return run_pairs(args, &selection),
        Ok(selection) if selection.pairs.is_empty() => {
            return super::nothing_selected(&selection, args.json);
        }
        other => other.map(|_| ()),
    };
    let report = match selected.and_then(|()| ctx.settings()) {
        Ok(settings) => runtime()?.block_on(diagnose(&settings, args.write_probe))?,
        // A configuration that cannot be read is the first finding.
        Err(e) => config_failure(&e, args.write_probe),
    };
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        render_text(&report)
    };
    print_stdout(&text)?;
    if report.ok {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(first) = report
        .checks
        .iter()
        .find(|c| c.status == report::Status::Fail)
    {
        eprintln!(
            "calsync: doctor found {} failed {}; the first is \"{}\": fix it as the checklist \
             says, then run `calsync doctor` again.",
            report.counts.fail,
            if report.counts.fail == 1 {
                "check"
            } else {
                "checks"
            },
            first.item.title()
        );
    }
    Ok(ExitCode::from(report.exit_code))
}

/// The report of a configuration that cannot be read: that is its one
/// finding.
fn config_failure(e: &anyhow::Error, write_probe: bool) -> Report {
    let (finding, fix) = split_message(&format!("{e:#}"));
    let check = Check::fail(
        Item::Configuration,
        Cause::of(e),
        finding,
        fix.unwrap_or_else(|| {
            "Correct the configuration as said, then run `calsync doctor` again.".to_owned()
        }),
    );
    Report::new(vec![check], None, None, write_probe)
}

/// The checklist of every selected pair of a config with `[[pair]]`
/// tables, one pair after the other; a pair with several sources is
/// checked once per source, each with the pair's target. The exit code is
/// the most severe of the pairs'.
fn run_pairs(args: &DoctorArgs, selection: &crate::config::Selection) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let mut reports: Vec<(String, Report)> = Vec::new();
    for pair in &selection.pairs {
        let runs: Vec<(String, Settings)> = if pair.settings.merged.is_empty() {
            vec![(pair.name.clone(), pair.settings.clone())]
        } else {
            pair.sources
                .iter()
                .map(|source| {
                    let mut settings = pair.source_settings(source);
                    settings.merged.clear();
                    let label = format!(
                        "{}, source {}",
                        pair.name,
                        source.name.as_deref().unwrap_or_default()
                    );
                    (label, settings)
                })
                .collect()
        };
        for (label, settings) in runs {
            let report = runtime.block_on(diagnose(&settings, args.write_probe))?;
            reports.push((label, report));
        }
    }
    let code = crate::run::pairs::most_severe(reports.iter().map(|(_, r)| r.exit_code));
    let text = if args.json {
        let pairs: Vec<serde_json::Value> = reports
            .iter()
            .map(|(label, r)| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("pair".into(), label.clone().into());
                }
                v
            })
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({
            "ok": code == 0,
            "exit_code": code,
            "pairs": pairs,
        }))? + "\n"
    } else {
        let mut out = String::new();
        for (label, r) in &reports {
            out.push_str(&format!("pair {label}:\n"));
            for line in render_text(r).lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        out
    };
    print_stdout(&text)?;
    let failed: Vec<&str> = reports
        .iter()
        .filter(|(_, r)| !r.ok)
        .map(|(label, _)| label.as_str())
        .collect();
    if !failed.is_empty() && !args.json {
        eprintln!(
            "calsync: doctor found failed checks in {} of {} ({}): fix them as each checklist \
             says, then run `calsync doctor` again.",
            failed.len(),
            reports.len(),
            failed.join("; ")
        );
    }
    Ok(ExitCode::from(code))
}

/// Runs the checklist.
pub async fn diagnose(settings: &Settings, write_probe: bool) -> anyhow::Result<Report> {
    let done = |checks: Vec<Check>, graph: bool| {
        Report::new(
            checks,
            settings.config_path.clone(),
            graph.then(|| settings.graph_base().to_owned()),
            write_probe,
        )
    };
    if !settings.uses_graph() {
        return Ok(done(
            vec![Check::info(
                Item::Configuration,
                format!(
                    "neither side is a Microsoft 365 calendar (source: {}; target: {}): doctor \
                     checks the Microsoft Graph side of a configuration, and there is none",
                    side_text(settings, CalendarRole::Source),
                    side_text(settings, CalendarRole::Target)
                ),
            )],
            false,
        ));
    }
    if let Err(e) = settings.require_graph() {
        let (finding, fix) = split_message(&format!("{e:#}"));
        return Ok(done(
            vec![Check::fail(
                Item::Configuration,
                Cause::of(&e),
                finding,
                fix.unwrap_or_else(|| "Set the key named above.".to_owned()),
            )],
            true,
        ));
    }
    let mut checks = vec![configuration(settings)];
    let http = http_client(settings.request_timeout)?;
    let signed = signin::sign_in(settings, &http).await;
    checks.extend(signed.checks);
    let doctor = signed.tokens.map(|tokens| Doctor {
        settings,
        client: GraphClient::new(
            http.clone(),
            tokens,
            crate::run::sides::client_options(settings),
        ),
        account: signed.claims.and_then(|c| c.account),
    });
    // Nothing of Graph can be asked without a token; the clock can.
    const NO_TOKEN: &str = "no access token";

    let calendar = async |role| match &doctor {
        Some(d) => d.calendar(role).await,
        None if is_graph(settings, role) => (Check::not_run(item_of(role), NO_TOKEN), None),
        None => (Check::info(item_of(role), side_text(settings, role)), None),
    };
    let (source_check, source) = calendar(CalendarRole::Source).await;
    let (mut target_check, mut target) = calendar(CalendarRole::Target).await;
    if let (Some(s), Some(t)) = (&source, &target)
        && s.id == t.id
    {
        target_check = Check::fail(
            Item::TargetCalendar,
            Cause::Config,
            format!(
                "source_calendar and target_calendar name the same calendar (\"{}\" in {}, \
                 id:{})",
                t.name,
                calendars::shown(&t.mailbox),
                t.id
            ),
            "Set target_calendar (CALSYNC_TARGET_CALENDAR) to the public calendar, which must \
             not be the source.",
        );
        target = None;
    }
    checks.push(source_check);
    checks.push(target_check);
    checks.push(clock::clock(settings, &http).await);

    if is_graph(settings, CalendarRole::Source) {
        match (&doctor, &source) {
            (Some(d), Some(s)) => {
                checks.push(d.source_readable(s).await);
                checks.push(d.delta_occurrences(s).await);
            }
            (d, _) => {
                let because = if d.is_some() {
                    "the source calendar could not be opened"
                } else {
                    NO_TOKEN
                };
                checks.push(Check::not_run(Item::SourceReadable, because));
                checks.push(Check::not_run(Item::DeltaOccurrences, because));
            }
        }
    }
    if is_graph(settings, CalendarRole::Target) {
        let because = if doctor.is_some() {
            "the target calendar could not be opened"
        } else {
            NO_TOKEN
        };
        match (&doctor, &target) {
            (Some(d), Some(t)) => checks.push(d.marker_query(t).await),
            _ => checks.push(Check::not_run(Item::MarkerQuery, because)),
        }
        match &doctor {
            Some(d) => checks.push(d.mailbox_time_zone().await),
            None => checks.push(Check::not_run(Item::MailboxTimeZone, NO_TOKEN)),
        }
        match (&doctor, &target, write_probe) {
            (Some(d), Some(t), true) => checks.extend(d.write_probe(t).await),
            (_, _, true) => checks.push(Check::not_run(Item::WriteProbe, because)),
            (_, _, false) => checks.push(Check::info(
                Item::WriteProbe,
                "skipped, nothing was written; `calsync doctor --write-probe` creates one probe \
                 event in the target calendar, sends the same create again and deletes the \
                 probe, to show how this tenant answers a repeated transactionId",
            )),
        }
    }
    Ok(done(checks, true))
}

/// What the configuration asks for: how calsync signs in, and both sides.
fn configuration(settings: &Settings) -> Check {
    let tenant = settings.tenant_id.as_deref().unwrap_or_default();
    let client_id = settings.client_id.as_deref().unwrap_or_default();
    let how = if settings.uses_client_credentials() {
        format!("app-only sign-in (client_secret) of client_id {client_id} in tenant {tenant}")
    } else {
        format!("delegated sign-in (`calsync login`) with client_id {client_id} in tenant {tenant}")
    };
    Check::ok(
        Item::Configuration,
        format!(
            "{how}; source: {}; target: {}",
            side_text(settings, CalendarRole::Source),
            side_text(settings, CalendarRole::Target)
        ),
    )
    .with_details(serde_json::json!({
        "sign_in": if settings.uses_client_credentials() { "client_credentials" } else { "delegated" },
        "tenant_id": tenant,
        "client_id": client_id,
        "source_kind": settings.source_kind().as_str(),
        "target_kind": settings.target_kind().as_str(),
    }))
}
