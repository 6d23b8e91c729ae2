//! The fingerprint of the incremental state: unchanged for the states saved
//! before the key table existed.

use super::*;
use crate::model::{Sensitivity, ShowAs};
use crate::state::incremental::STATE_VERSION;
use sha2::{Digest, Sha256};

/// The fingerprint as it was first written, key by key: a state saved
/// before the key table existed must still match.
fn first_fingerprint(settings: &Settings, source_id: &str, target_id: &str) -> String {
    let f = &settings.policy.filter;
    let c = &settings.policy.copy;
    let mut sensitivity: Vec<&str> = f.sensitivity.iter().map(|s| s.as_str()).collect();
    sensitivity.sort_unstable();
    let doc = serde_json::json!({
        "graph": settings.graph_base(),
        "source": [settings.mailbox_or_me().to_lowercase(), source_id],
        "target": [settings.target_mailbox_or_source().to_lowercase(), target_id],
        "past_days": settings.past_days,
        "cutoff_days": settings.cutoff_days,
        "filter": {
            "sensitivity": sensitivity,
            "include_categories": f.include_categories,
            "exclude_categories": f.exclude_categories,
            "skip_cancelled": f.skip_cancelled,
            "show_as": f.show_as.as_ref().map(|v| v.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            "subject_exclude": f.subject_exclude.as_ref().map(|r| r.as_str()),
        },
        "copy": [c.location, c.body, c.categories],
    });
    let mut hex = hex::encode(Sha256::digest(doc.to_string().as_bytes()));
    hex.truncate(32);
    format!("{STATE_VERSION}:{hex}")
}

#[test]
fn the_fingerprint_of_existing_states_is_unchanged() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .chain(&[("HOME", "/nonexistent-home")])
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let cases: [&'static [(&'static str, &'static str)]; 3] = [
        &[],
        &[
            ("CALSYNC_MAILBOX", "Events@Contoso.example"),
            ("CALSYNC_TARGET_MAILBOX", "Public@Contoso.example"),
            ("CALSYNC_PAST_DAYS", "7"),
            ("CALSYNC_CUTOFF_DAYS", "30"),
            ("CALSYNC_CLOUD", "usgov"),
        ],
        &[("CALSYNC_GRAPH_URL", "http://127.0.0.1:9/v1.0")],
    ];
    let subject = regex::Regex::new("^x").unwrap();
    for pairs in cases {
        let mut s = crate::config::load(&Default::default(), &env(pairs)).unwrap();
        assert_eq!(
            fingerprint(&s, STATE_VERSION, "S", "T"),
            first_fingerprint(&s, "S", "T")
        );
        s.policy.filter.sensitivity = vec![Sensitivity::Private, Sensitivity::Normal];
        s.policy.filter.include_categories = vec!["Public".into()];
        s.policy.filter.show_as = Some(vec![ShowAs::Busy, ShowAs::Oof]);
        s.policy.filter.subject_exclude = Some(subject.clone());
        s.policy.filter.skip_cancelled = false;
        s.policy.copy.body = true;
        assert_eq!(
            fingerprint(&s, STATE_VERSION, "S", "T"),
            first_fingerprint(&s, "S", "T")
        );
        assert_ne!(
            fingerprint(&s, STATE_VERSION, "S", "T"),
            fingerprint(&s, STATE_VERSION, "S", "U")
        );
    }
}
