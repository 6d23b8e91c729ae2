//! Pushing the metrics to a Prometheus Pushgateway: one `PUT` per command
//! and pair to `<url>/metrics/job/calsync/command/<command>[/pair/<name>]`.
//! `PUT` replaces the whole group, so a pair's series are always those of
//! its last run; the `command` in the grouping key keeps a `validate` from
//! replacing the series of the last `sync`.

use super::metrics::{self, Group, Sample};
use base64::Engine as _;

/// The group's URL: the grouping key in the path, each label value as it
/// is when it holds only unreserved characters, else in base64url
/// (`<label>@base64/<value>`), as the Pushgateway's API asks.
pub fn group_url(base: &url::Url, group: &Group) -> url::Url {
    let mut path = base.path().trim_end_matches('/').to_owned();
    path.push_str("/metrics/job/calsync");
    path.push_str(&segment("command", &group.command));
    if let Some(pair) = &group.pair {
        path.push_str(&segment("pair", pair));
    }
    let mut url = base.clone();
    url.set_path(&path);
    url
}

fn segment(label: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if plain {
        format!("/{label}/{value}")
    } else {
        let encoded = base64::engine::general_purpose::URL_SAFE.encode(value.as_bytes());
        // An empty value is written as one `=`, which the Pushgateway reads
        // as empty.
        let encoded = if encoded.is_empty() {
            "=".to_owned()
        } else {
            encoded
        };
        format!("/{label}@base64/{encoded}")
    }
}

/// Pushes each group's samples; a failure is one warning line per group.
pub async fn push_all(client: &reqwest::Client, base: &url::Url, samples: &[Sample]) {
    let mut groups: Vec<&Group> = samples.iter().map(|s| &s.group).collect();
    groups.sort();
    groups.dedup();
    for group in groups {
        let of: Vec<Sample> = samples
            .iter()
            .filter(|s| &s.group == group)
            .cloned()
            .collect();
        let body = metrics::render(&of);
        let url = group_url(base, group);
        let sent = client
            .put(url)
            .header("Content-Type", "text/plain; version=0.0.4")
            .body(body)
            .send()
            .await;
        let problem = match sent {
            Ok(answer) if answer.status().is_success() => None,
            Ok(answer) => Some(format!("it answered HTTP {}", answer.status().as_u16())),
            Err(e) => Some(super::ping::cause(&e)),
        };
        if let Some(problem) = problem {
            tracing::warn!(
                "calsync could not push its metrics to the Pushgateway at {} ({problem}), so it \
                 still shows the previous run. Check that `metrics_push_url` \
                 (CALSYNC_METRICS_PUSH_URL) names a reachable Pushgateway; the run's own outcome \
                 is unaffected.",
                crate::ics::redact_url(base)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grouping_key_is_in_the_path() {
        let base = url::Url::parse("http://127.0.0.1:9091/").unwrap();
        let g = Group {
            command: "sync".into(),
            pair: Some("team-a".into()),
        };
        assert_eq!(
            group_url(&base, &g).as_str(),
            "http://127.0.0.1:9091/metrics/job/calsync/command/sync/pair/team-a"
        );
        let odd = Group {
            command: "sync".into(),
            pair: Some("a/b".into()),
        };
        assert!(group_url(&base, &odd).path().ends_with("/pair@base64/YS9i"));
    }
}
