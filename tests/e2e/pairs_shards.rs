//! Shards end to end (docs/pairs.md): several processes, each running one
//! shard of a config's pairs over one state directory, leave the targets as
//! one process running every pair does.

use super::pairs::{pair_names, run, subjects};
use crate::common::*;
use calsync::config::shard::{mailbox_identity, shard_of};
use std::collections::BTreeSet;

const SHARDS: u32 = 4;

/// One target mailbox per shard of [`SHARDS`], found by the documented
/// assignment so that every shard holds pairs: `public-N@contoso.example`,
/// the first N landing in each shard, in the order of the shards.
fn target_mailboxes() -> Vec<String> {
    (0..SHARDS)
        .map(|k| {
            (0..)
                .map(|n| format!("public-{n}@contoso.example"))
                .find(|m| shard_of(&mailbox_identity(m), SHARDS) == k)
                .expect("some mailbox lands in every shard")
        })
        .collect()
}

/// Eight pairs, two per mailbox: pair `pI` copies "Source I" of mailbox
/// `I / 2` into its "Public A" (even I) or "Public B" (odd I), as each
/// department keeps its internal and its public calendar. Processes that
/// run different shards then never address one mailbox (pairs that read a
/// mailbox from several shards would share its limit between processes,
/// which Graph enforces with 429 answers). Returns, per pair, its target
/// (mailbox, calendar id).
fn eight_pairs(w: &World, mailboxes: &[String]) -> Vec<(String, String)> {
    let mut config = String::new();
    let mut targets = Vec::new();
    for (m, mailbox) in mailboxes.iter().enumerate() {
        w.fake.add_mailbox(mailbox);
        for (half, calendar) in ["Public A", "Public B"].into_iter().enumerate() {
            let i = 2 * m + half;
            let source = w.fake.add_calendar(mailbox, &format!("Source {i}"));
            for j in 0..2 {
                w.fake.insert_event(
                    mailbox,
                    &source,
                    public_event(&format!("p{i} event {j}"), 1 + j, 9 + i as i64),
                );
            }
            w.fake
                .insert_event(mailbox, &source, secret_event("private", 3, 9 + i as i64));
            targets.push((mailbox.clone(), w.fake.add_calendar(mailbox, calendar)));
            config.push_str(&format!(
                "[[pair]]\nname = \"p{i}\"\nmailbox = \"{mailbox}\"\n\
                 source_calendar = \"Source {i}\"\ntarget_mailbox = \"{mailbox}\"\n\
                 target_calendar = \"{calendar}\"\n\n"
            ));
        }
    }
    w.config_file(&config);
    targets
}

/// The pairs a text report of a sync names in its `pair NAME:` headers.
fn pairs_reported(run: &Run) -> BTreeSet<String> {
    run.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("pair ")?.strip_suffix(':'))
        .map(str::to_string)
        .collect()
}

/// The pairs of shard `k`: those writing its mailbox of [`target_mailboxes`].
fn shard_pairs(k: u32) -> BTreeSet<String> {
    [2 * k, 2 * k + 1].iter().map(|i| format!("p{i}")).collect()
}

#[test]
fn four_shard_processes_leave_what_one_process_leaves() {
    let mailboxes = target_mailboxes();
    let sharded = World::new();
    let whole = World::new();
    let sharded_targets = eight_pairs(&sharded, &mailboxes);
    let whole_targets = eight_pairs(&whole, &mailboxes);

    // Four processes at once over one state directory, one shard each.
    let config = sharded.home.path().join("calsync.toml");
    let children: Vec<_> = (0..SHARDS)
        .map(|k| {
            let shard = format!("{k}/{SHARDS}");
            sharded
                .command(&[
                    "--config",
                    config.to_str().unwrap(),
                    "sync",
                    "--shard",
                    &shard,
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("calsync starts")
        })
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|c| Run::from(c.wait_with_output().expect("calsync ends")))
        .collect();
    let mut seen = BTreeSet::new();
    for (k, r) in runs.iter().enumerate() {
        assert_eq!(r.code, 0, "shard {k}: {r}");
        let pairs = pairs_reported(r);
        // Every pair of one target mailbox in one shard, each in exactly one.
        assert_eq!(pairs, shard_pairs(k as u32), "shard {k}: {r}");
        assert!(seen.is_disjoint(&pairs), "shard {k}: {r}");
        seen.extend(pairs);
    }
    assert_eq!(seen.len(), 8);

    let one = run(&whole, &["sync"]);
    assert_eq!(one.code, 0, "{one}");
    assert_eq!(pairs_reported(&one).len(), 8, "{one}");
    for (i, ((sm, sc), (wm, wc))) in sharded_targets.iter().zip(&whole_targets).enumerate() {
        let expected = [format!("p{i} event 0"), format!("p{i} event 1")];
        assert_eq!(subjects(&sharded, sm, sc), expected, "sharded, pair p{i}");
        assert_eq!(subjects(&whole, wm, wc), expected, "one process, pair p{i}");
    }
    for i in 0..8 {
        let dir = sharded.state_dir().join("pairs").join(format!("p{i}"));
        assert!(dir.join("history.jsonl").is_file(), "{}", dir.display());
    }
    Exposed::new()
        .text(
            "the targets",
            format!(
                "{:?}",
                (0..8)
                    .map(|i| {
                        let (m, c) = &sharded_targets[i];
                        sharded.fake.events(m, c)
                    })
                    .collect::<Vec<_>>()
            ),
        )
        .state(&sharded.state_dir())
        .run("shard 0", &runs[0])
        .run("shard 1", &runs[1])
        .run("shard 2", &runs[2])
        .run("shard 3", &runs[3])
        .assert_free_of(&[CANARY]);
    // Each shard's summary counts its own pairs.
    for (k, r) in runs.iter().enumerate() {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&format!("2 pairs of shard {k}/4: created 4,"))),
            "shard {k}: {r}"
        );
    }
}

#[test]
fn a_shard_count_takes_the_index_from_the_job() {
    let w = World::new();
    eight_pairs(&w, &target_mailboxes());
    let by_flag = run(&w, &["sync", "--dry-run", "--json", "--shard", "2/4"]);
    assert_eq!(by_flag.code, 0, "{by_flag}");
    let config = w.home.path().join("calsync.toml");
    let config = config.to_str().unwrap();
    let by_job = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--config", config];
        all.extend_from_slice(args);
        let mut cmd = w.command(&all);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("calsync runs"))
    };
    let sync_json = ["sync", "--dry-run", "--json"];
    let indexed = by_job(
        &[&sync_json[..], &["--shards", "4"]].concat(),
        &[("JOB_COMPLETION_INDEX", "2")],
    );
    let from_env = by_job(
        &sync_json,
        &[("CALSYNC_SHARDS", "4"), ("JOB_COMPLETION_INDEX", "2")],
    );
    for r in [&by_flag, &indexed, &from_env] {
        assert_eq!(r.code, 0, "{r}");
        let doc = r.json();
        assert_eq!(doc["shard"], "2/4", "{r}");
        let names: BTreeSet<String> = pair_names(&doc).into_iter().collect();
        assert_eq!(names, shard_pairs(2), "{r}");
    }
    assert_eq!(w.fake.writes_applied(), 0, "a dry run wrote");

    // A shard count needs an index; an index alone does not shard.
    let no_index = by_job(&["sync", "--shards", "4"], &[]);
    assert_eq!(no_index.code, 2, "{no_index}");
    assert!(
        no_index.stderr.contains("JOB_COMPLETION_INDEX"),
        "{no_index}"
    );
    let env_no_index = by_job(&["sync"], &[("CALSYNC_SHARDS", "4")]);
    assert_eq!(env_no_index.code, 2, "{env_no_index}");
    let index_only = by_job(&sync_json, &[("JOB_COMPLETION_INDEX", "2")]);
    assert_eq!(index_only.code, 0, "{index_only}");
    assert_eq!(pair_names(&index_only.json()).len(), 8, "{index_only}");
    assert_eq!(w.fake.writes_applied(), 0);
}

#[test]
fn a_shard_holding_no_pair_has_nothing_to_do() {
    let w = World::new();
    let mailboxes = target_mailboxes();
    eight_pairs(&w, &mailboxes);
    let count = 64;
    let empty = (0..count)
        .find(|k| {
            mailboxes
                .iter()
                .all(|m| shard_of(&mailbox_identity(m), count) != *k)
        })
        .expect("four mailboxes leave most of 64 shards empty");
    let shard = format!("{empty}/{count}");
    let r = run(&w, &["sync", "--shard", &shard]);
    assert_eq!(r.code, 0, "{r}");
    assert!(
        r.stdout.contains(&format!(
            "Shard {shard} holds none of the 8 pairs; nothing to do."
        )),
        "{r}"
    );
    assert_eq!(w.fake.writes_applied(), 0);
}
