//! Shards: which pairs one process runs when the pairs of a config are
//! spread over several processes (docs/pairs.md, "Shards").
//!
//! A pair belongs to the shard chosen by rendezvous (highest-random-weight)
//! hashing of its *target identity*: the target mailbox, lower-cased, or the
//! target file's path. Every pair that writes one mailbox therefore lands in
//! the same shard, so that one process owns that mailbox's request budget.
//! For a fixed number of shards the assignment of one identity depends on
//! that identity alone, so adding or removing a pair moves no other pair;
//! going from N to N + 1 shards moves only the pairs the new shard takes.
//!
//! Everything here is pure: no environment, no files. The caller reads
//! `--shard`, `--shards`/`CALSYNC_SHARDS` and `JOB_COMPLETION_INDEX` and
//! hands their text to [`Shard::resolve`].

use super::config_error;
use sha2::{Digest, Sha256};
use std::fmt;

/// The most shards a run may be split into.
pub const MAX_SHARDS: u32 = 10_000;

/// One shard of `count`: `index` is 0-based, as Kubernetes numbers the
/// completions of an indexed Job (`JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The whole: one shard that holds every pair.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `K/N` (0 ≤ K < N ≤ [`MAX_SHARDS`]); `place` says where the
    /// text came from, for the message (e.g. "--shard").
    pub fn parse(text: &str, place: &str) -> anyhow::Result<Shard> {
        let bad = |why: &str| {
            config_error(format!(
                "Invalid shard: {place} is \"{}\", {why}. Write K/N, where N is the number of \
                 shards (1 to {MAX_SHARDS}) and K this process's shard, counted from 0 (0/4, \
                 1/4, 2/4 and 3/4 together run every pair once).",
                text.trim()
            ))
        };
        let Some((k, n)) = text.trim().split_once('/') else {
            return Err(bad("which has no `/`"));
        };
        let n = parse_count(n).ok_or_else(|| bad("whose N is not a whole number from 1"))?;
        let k: u32 = k
            .trim()
            .parse()
            .map_err(|_| bad("whose K is not a whole number from 0"))?;
        if k >= n {
            return Err(bad("but K must be less than N (shards are counted from 0)"));
        }
        Ok(Shard { index: k, count: n })
    }

    /// The shard a process runs: `--shard K/N` if given; otherwise, when a
    /// shard count is given (`--shards N` or `CALSYNC_SHARDS`), the index
    /// from `JOB_COMPLETION_INDEX`; otherwise [`Shard::ALL`]. Each argument
    /// is the text found and where it was found.
    pub fn resolve(
        flag: Option<(&str, &str)>,
        count: Option<(&str, &str)>,
        job_index: Option<(&str, &str)>,
    ) -> anyhow::Result<Shard> {
        if let Some((text, place)) = flag {
            return Shard::parse(text, place);
        }
        let Some((count_text, count_place)) = count else {
            return Ok(Shard::ALL);
        };
        let n = parse_count(count_text).ok_or_else(|| {
            config_error(format!(
                "Invalid shard count: {count_place} is \"{}\", but it must be a whole number \
                 from 1 to {MAX_SHARDS}. Set it to the number of processes the pairs are \
                 spread over (the Job's `completions`).",
                count_text.trim()
            ))
        })?;
        let Some((index_text, index_place)) = job_index else {
            return Err(config_error(format!(
                "Incomplete shard: {count_place} says {n} shards, but neither --shard nor \
                 JOB_COMPLETION_INDEX says which one this process runs. Give --shard K/{n}, or \
                 run it as an indexed Job, which sets JOB_COMPLETION_INDEX."
            )));
        };
        Shard::parse(&format!("{}/{n}", index_text.trim()), index_place)
    }

    /// Whether the pair with this target identity belongs to this shard.
    pub fn holds(&self, identity: &str) -> bool {
        shard_of(identity, self.count) == self.index
    }
}

/// The target identity of a Graph target: its mailbox, trimmed and
/// lower-cased (mailbox addresses ignore case), so that every spelling of
/// one mailbox shards alike.
pub fn mailbox_identity(mailbox: &str) -> String {
    format!("mailbox:{}", mailbox.trim().to_lowercase())
}

/// The target identity of an `.ics` target: its path as configured (made
/// absolute against the config file's directory when loaded).
pub fn file_identity(path: &std::path::Path) -> String {
    let clean: std::path::PathBuf = path.components().collect();
    format!("file:{}", clean.display())
}

fn parse_count(text: &str) -> Option<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_SHARDS).contains(n))
}

/// The shard (0-based, below `count`) of a target identity: the shard whose
/// weight for the identity is highest, where the weight is the first eight
/// bytes of SHA-256 over the shard's number and the identity. A tie, which
/// needs a 64-bit collision, goes to the lower shard. `count` 0 is taken
/// as 1.
pub fn shard_of(identity: &str, count: u32) -> u32 {
    let mut best = (0u32, 0u64);
    for shard in 0..count.max(1) {
        let w = weight(shard, identity);
        if shard == 0 || w > best.1 {
            best = (shard, w);
        }
    }
    best.0
}

fn weight(shard: u32, identity: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(b"calsync-shard\0");
    h.update(shard.to_be_bytes());
    h.update(identity.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Failure;
    use proptest::prelude::*;

    fn message(r: anyhow::Result<Shard>) -> String {
        match r {
            Ok(s) => panic!("expected an error, got {s}"),
            Err(e) => match e.downcast_ref::<Failure>() {
                Some(Failure::Config(m)) => {
                    assert!(!m.contains('\n'), "not one paragraph: {m}");
                    m.clone()
                }
                other => panic!("expected Failure::Config, got {other:?}"),
            },
        }
    }

    #[test]
    fn parses_k_of_n() {
        assert_eq!(
            Shard::parse("2/4", "--shard").unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert_eq!(Shard::parse(" 0 / 1 ", "--shard").unwrap(), Shard::ALL);
        for bad in [
            "", "3", "4/4", "5/4", "-1/4", "a/4", "1/0", "1/", "/4", "0/10001",
        ] {
            let m = message(Shard::parse(bad, "--shard"));
            assert!(m.contains("--shard"), "{m}");
            assert!(m.contains("Write K/N"), "{m}");
        }
    }

    #[test]
    fn resolves_flag_then_job_index() {
        let flag = Some(("1/3", "--shard"));
        let count = Some(("4", "CALSYNC_SHARDS"));
        let job = Some(("2", "JOB_COMPLETION_INDEX"));
        assert_eq!(
            Shard::resolve(flag, count, job).unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert_eq!(
            Shard::resolve(None, count, job).unwrap(),
            Shard { index: 2, count: 4 }
        );
        // Without a count, JOB_COMPLETION_INDEX alone does not shard.
        assert_eq!(Shard::resolve(None, None, job).unwrap(), Shard::ALL);
        let m = message(Shard::resolve(None, count, None));
        assert!(
            m.contains("JOB_COMPLETION_INDEX") && m.contains("--shard K/4"),
            "{m}"
        );
        let m = message(Shard::resolve(
            None,
            count,
            Some(("4", "JOB_COMPLETION_INDEX")),
        ));
        assert!(m.contains("JOB_COMPLETION_INDEX is \"4/4\""), "{m}");
        let m = message(Shard::resolve(None, Some(("0", "--shards")), job));
        assert!(m.contains("--shards is \"0\""), "{m}");
    }

    #[test]
    fn one_shard_holds_everything() {
        for id in ["a@example.org", "file:/srv/public.ics", ""] {
            assert!(Shard::ALL.holds(id));
            assert_eq!(shard_of(id, 0), 0);
        }
    }

    /// The assignment is fixed forever: a change would move every
    /// deployment's pairs between shards, so this pins a few values.
    #[test]
    fn assignment_is_stable_across_releases() {
        let got: Vec<u32> = [
            mailbox_identity("A@example.org"),
            mailbox_identity("b@example.org"),
            file_identity(std::path::Path::new("/srv/public.ics")),
        ]
        .iter()
        .map(|id| shard_of(id, 8))
        .collect();
        assert_eq!(got, PINNED);
    }
    const PINNED: [u32; 3] = [5, 3, 4];

    fn identities() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec("[a-z]{1,8}@[a-z]{1,5}\\.org|/srv/[a-z]{1,8}\\.ics", 1..60)
    }

    proptest! {
        #[test]
        fn every_pair_in_exactly_one_shard(ids in identities(), n in 1u32..40) {
            for id in &ids {
                let holders = (0..n).filter(|k| Shard { index: *k, count: n }.holds(id)).count();
                prop_assert_eq!(holders, 1);
            }
        }

        #[test]
        fn pairs_of_one_target_stay_together(
            local in "[a-zA-Z]{1,8}",
            domain in "[a-zA-Z]{1,5}",
            n in 1u32..40,
        ) {
            // Two pairs writing one mailbox, spelt in any case, have one
            // identity and so one shard.
            let lower = mailbox_identity(&format!("{}@{}.org", local.to_lowercase(), domain.to_lowercase()));
            let upper = mailbox_identity(&format!(" {}@{}.ORG", local.to_uppercase(), domain));
            prop_assert_eq!(&lower, &upper);
            prop_assert_eq!(shard_of(&lower, n), shard_of(&upper, n));
            let a = file_identity(std::path::Path::new("/srv/./pub.ics"));
            let b = file_identity(std::path::Path::new("/srv/pub.ics"));
            prop_assert_eq!(shard_of(&a, n), shard_of(&b, n));
        }

        #[test]
        fn adding_a_pair_moves_no_other(ids in identities(), extra in "[a-z]{1,8}@x\\.org", n in 1u32..40) {
            let before: Vec<u32> = ids.iter().map(|id| shard_of(id, n)).collect();
            let mut more = ids.clone();
            more.push(extra);
            let after: Vec<u32> = more.iter().map(|id| shard_of(id, n)).collect();
            prop_assert_eq!(&after[..ids.len()], &before[..]);
        }

        #[test]
        fn one_more_shard_moves_only_to_it(ids in identities(), n in 1u32..40) {
            for id in &ids {
                let (old, new) = (shard_of(id, n), shard_of(id, n + 1));
                prop_assert!(new == old || new == n, "{id}: {old} -> {new}");
            }
        }
    }

    #[test]
    fn roughly_balanced() {
        for n in [2u32, 3, 8, 16, 50] {
            let per = 400;
            let mut counts = vec![0u32; n as usize];
            for i in 0..(per * n) {
                counts[shard_of(&format!("mailbox{i}@example.org"), n) as usize] += 1;
            }
            let (lo, hi) = (per * 6 / 10, per * 14 / 10);
            for (k, c) in counts.iter().enumerate() {
                assert!(
                    (lo..=hi).contains(c),
                    "shard {k} of {n} holds {c}, expected ~{per}"
                );
            }
        }
    }
}
