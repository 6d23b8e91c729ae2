//! The dead-man's switch: a `sync` pings `ping_url` when it starts and when
//! it ends, so that a service alerts when the pings stop or report a
//! failure. The URL says which service's convention to follow:
//!
//! - `cronitor.link` (Cronitor's telemetry API): `?state=run` at the start,
//!   `?state=complete` or `?state=fail` at the end, with `status_code` (the
//!   exit code) and `message` (the summary line).
//! - a path with `/api/push/` (an Uptime Kuma push monitor): no start
//!   ping; `?status=up` or `?status=down` at the end, with `msg`.
//! - anything else follows healthchecks.io: `<url>/start`, then `<url>` on
//!   success or `<url>/fail` on failure, as a `POST` whose body is the
//!   summary line (healthchecks.io shows it in the check's log).
//!
//! The summary holds the command, outcome, exit code and counts; never an
//! event's content, an error message or a token.

use url::Url;

/// What a ping reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Start,
    Success,
    /// The run failed with this exit code.
    Fail(u8),
}

/// The service convention a ping URL follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Healthchecks,
    Cronitor,
    UptimeKuma,
}

impl Style {
    pub fn of(url: &Url) -> Style {
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        if host == "cronitor.link" || host.ends_with(".cronitor.link") {
            Style::Cronitor
        } else if url.path().contains("/api/push/") {
            Style::UptimeKuma
        } else {
            Style::Healthchecks
        }
    }
}

/// A request to send: method, URL and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub post: bool,
    pub url: Url,
    pub body: String,
}

/// The request that reports `state` to `base` with the summary line
/// `message`; `None` when the service has no such ping (Uptime Kuma's
/// start).
pub fn request(base: &Url, state: State, message: &str) -> Option<Request> {
    match Style::of(base) {
        Style::Healthchecks => {
            let mut url = base.clone();
            let suffix = match state {
                State::Start => "/start",
                State::Success => "",
                State::Fail(_) => "/fail",
            };
            let path = format!("{}{suffix}", base.path().trim_end_matches('/'));
            url.set_path(&path);
            Some(Request {
                post: true,
                url,
                body: message.to_owned(),
            })
        }
        Style::Cronitor => {
            let mut url = base.clone();
            {
                let mut q = url.query_pairs_mut();
                match state {
                    State::Start => {
                        q.append_pair("state", "run");
                    }
                    State::Success => {
                        q.append_pair("state", "complete");
                        q.append_pair("status_code", "0");
                    }
                    State::Fail(code) => {
                        q.append_pair("state", "fail");
                        q.append_pair("status_code", &code.to_string());
                    }
                }
                if !message.is_empty() {
                    q.append_pair("message", message);
                }
            }
            Some(Request {
                post: false,
                url,
                body: String::new(),
            })
        }
        Style::UptimeKuma => {
            let status = match state {
                State::Start => return None,
                State::Success => "up",
                State::Fail(_) => "down",
            };
            let mut url = base.clone();
            let kept: Vec<(String, String)> = base
                .query_pairs()
                .filter(|(k, _)| k != "status" && k != "msg")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.set_query(None);
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in &kept {
                    q.append_pair(k, v);
                }
                q.append_pair("status", status);
                q.append_pair("msg", message);
            }
            Some(Request {
                post: false,
                url,
                body: String::new(),
            })
        }
    }
}

/// Sends the pings of one `ping_url`.
pub struct Pinger {
    url: Url,
}

impl Pinger {
    pub fn new(url: Url) -> Pinger {
        Pinger { url }
    }

    /// Sends a ping without a summary (the start).
    pub async fn send(&self, client: &reqwest::Client, state: State) {
        self.send_with(client, state, "").await;
    }

    /// Sends a ping; a failure is one warning line.
    pub async fn send_with(&self, client: &reqwest::Client, state: State, message: &str) {
        let Some(req) = request(&self.url, state, message) else {
            return;
        };
        let builder = if req.post {
            client
                .post(req.url)
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(req.body)
        } else {
            client.get(req.url)
        };
        let problem = match builder.send().await {
            Ok(answer) if answer.status().is_success() => None,
            Ok(answer) => Some(format!("it answered HTTP {}", answer.status().as_u16())),
            Err(e) => Some(cause(&e)),
        };
        if let Some(problem) = problem {
            let which = match state {
                State::Start => "start",
                State::Success => "success",
                State::Fail(_) => "failure",
            };
            tracing::warn!(
                "calsync could not send the {which} ping to {}/… ({problem}), so the monitoring \
                 service may report this run as missing. Check that `ping_url` \
                 (CALSYNC_PING_URL) is the check's ping URL and that the service is reachable; \
                 the run's own outcome is unaffected.",
                origin(&self.url)
            );
        }
    }
}

/// `https://host[:port]`: the URL without its path and query, which may
/// hold the check's token.
fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}", url.scheme())
}

/// Why a request failed, without its URL (which may hold a token).
pub fn cause(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "it did not answer in time"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    // The error's own text names the URL; its cause does not.
    match std::error::Error::source(e) {
        Some(s) => format!("{kind}: {s}"),
        None => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn each_service_gets_its_own_convention() {
        let hc = url("https://hc-ping.com/abc");
        let start = request(&hc, State::Start, "").unwrap();
        assert_eq!(start.url.as_str(), "https://hc-ping.com/abc/start");
        let fail = request(&hc, State::Fail(5), "calsync sync: partial, exit 5").unwrap();
        assert_eq!(fail.url.as_str(), "https://hc-ping.com/abc/fail");
        assert!(fail.post && fail.body.contains("exit 5"));
        let cr = url("https://cronitor.link/p/KEY/calsync");
        let done = request(&cr, State::Success, "ok").unwrap();
        assert_eq!(
            done.url.as_str(),
            "https://cronitor.link/p/KEY/calsync?state=complete&status_code=0&message=ok"
        );
        let kuma = url("https://kuma.example/api/push/TOKEN?status=up&msg=OK&ping=");
        assert!(request(&kuma, State::Start, "").is_none());
        let down = request(&kuma, State::Fail(1), "x").unwrap();
        assert_eq!(
            down.url.as_str(),
            "https://kuma.example/api/push/TOKEN?ping=&status=down&msg=x"
        );
    }
}
