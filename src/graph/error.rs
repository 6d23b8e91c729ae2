//! How a Graph request fails, and how Graph's error answers are read.

use crate::text::truncate_chars;
use serde_json::Value;
use std::sync::Arc;

/// Longest excerpt of a non-JSON error body quoted in an error.
pub(super) const MAX_EXCERPT: usize = 200;

/// A failed Graph request.
///
/// `code` is Graph's error code (`ErrorItemNotFound`, `TooManyRequests`, …) or
/// a local kind: `transport`, `timeout`, `malformed`, `http_<status>` (error
/// body not JSON), `token` (no access token), `foreign_next_link`,
/// `unavailable` (circuit breaker open), `invalid_url`.
#[derive(Debug, Clone)]
pub struct GraphError {
    /// HTTP status, when Graph answered.
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
    /// Graph's `request-id`, for support cases.
    pub request_id: Option<String>,
    /// Method and path, e.g. `GET /users/a@b/calendars`.
    pub request: String,
    /// How many times the request was sent (1 unless it was retried).
    pub attempts: u32,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl GraphError {
    pub(super) fn local(code: &str, request: &str, message: impl Into<String>) -> Self {
        GraphError {
            status: None,
            code: code.to_owned(),
            message: message.into(),
            request_id: None,
            request: request.to_owned(),
            attempts: 1,
            source: None,
        }
    }

    pub(super) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// 404, or Graph's "not found" codes.
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
            || matches!(self.code.as_str(), "ErrorItemNotFound" | "itemNotFound")
    }

    /// The event Graph names in an `ErrorDuplicateTransactionId` error
    /// (`@event.existingEventId`): the one an earlier POST with the same
    /// `transactionId` created.
    pub fn existing_event_id(&self) -> Option<&str> {
        let source: &(dyn std::error::Error + 'static) = self.source.as_deref()?;
        source.downcast_ref::<ExistingEvent>().map(|e| e.0.as_str())
    }

    /// 401 or 403 (token refused, or no permission), or no token could be had.
    pub fn is_auth(&self) -> bool {
        matches!(self.status, Some(401 | 403)) || self.code == "token"
    }

    /// 429.
    pub fn is_throttled(&self) -> bool {
        self.status == Some(429)
    }

    /// The circuit breaker is open: Graph kept failing and nothing was sent.
    pub fn is_unavailable(&self) -> bool {
        self.code == "unavailable"
    }

    /// A failure that says Graph is not working (5xx, timeout, connection
    /// failure, malformed answer) rather than that the request was wrong.
    pub fn is_outage(&self) -> bool {
        match self.status {
            Some(s) => s >= 500 || self.code == "malformed",
            None => matches!(
                self.code.as_str(),
                "transport" | "connect" | "timeout" | "malformed" | "unavailable"
            ),
        }
    }
}

/// The `@event.existingEventId` of an `ErrorDuplicateTransactionId` error,
/// kept as the error's source.
#[derive(Debug, thiserror::Error)]
#[error("Graph names the event created with this transactionId earlier")]
struct ExistingEvent(String);

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let req = &self.request;
        match (self.status, self.code.as_str()) {
            (_, "malformed") => write!(
                f,
                "Graph gave a malformed answer to {req}: {}",
                self.message
            )?,
            (Some(status), code) => {
                write!(f, "Graph answered {status} {code} to {req}")?;
                if !self.message.is_empty() {
                    write!(f, ": {}", self.message)?;
                }
            }
            (None, "transport" | "connect" | "timeout") if self.attempts > 1 => write!(
                f,
                "Graph could not be reached for {req} ({} attempts): {}",
                self.attempts, self.message
            )?,
            (None, "transport" | "connect" | "timeout") => {
                write!(f, "Graph could not be reached for {req}: {}", self.message)?
            }
            (None, "token") => write!(f, "Could not obtain an access token for {req}")?,
            (None, _) => write!(f, "{req} failed: {}", self.message)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

// Written out rather than derived: the source is shared (`Arc`, so that the
// error can be cloned to every request of a failed batch), and is handed out
// as the error it holds, which is what finds a `Failure` in the chain for the
// exit code.
impl std::error::Error for GraphError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Why [`GraphClient::for_each_page`](super::client::GraphClient::for_each_page) stopped.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// Graph (or the way to it) failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The page consumer refused a page.
    #[error("{0:#}")]
    Consumer(anyhow::Error),
}

/// A Graph error from a raw body: the JSON error object, else an excerpt.
pub(super) fn error_from_bytes(
    status: u16,
    bytes: &[u8],
    request_id: Option<String>,
    label: &str,
) -> GraphError {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if v.get("error").is_some() => error_from_value(status, &v, request_id, label),
        _ => {
            let text = String::from_utf8_lossy(bytes);
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let message = if text.is_empty() {
                "no error body".to_owned()
            } else {
                truncate_chars(&text, MAX_EXCERPT)
            };
            GraphError {
                status: Some(status),
                code: format!("http_{status}"),
                message,
                request_id,
                request: label.to_owned(),
                attempts: 1,
                source: None,
            }
        }
    }
}

/// `{"error":{"code","message","innerError":{"request-id"}}}` to a GraphError.
pub(super) fn error_from_value(
    status: u16,
    body: &Value,
    request_id: Option<String>,
    label: &str,
) -> GraphError {
    let error = body.get("error");
    let field = |name: &str| error.and_then(|e| e.get(name)).and_then(Value::as_str);
    let inner = error.and_then(|e| e.get("innerError").or_else(|| e.get("innererror")));
    let inner_request_id = inner
        .and_then(|i| i.get("request-id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let code = field("code")
        .filter(|c| !c.is_empty())
        .map_or_else(|| format!("http_{status}"), str::to_owned);
    let message = field("message")
        .map(|m| truncate_chars(&m.split_whitespace().collect::<Vec<_>>().join(" "), 500))
        .unwrap_or_default();
    // Where reports place it: in the error object, or beside it.
    let existing_event_id = field("@event.existingEventId")
        .or_else(|| body.get("@event.existingEventId").and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    GraphError {
        status: Some(status),
        code,
        message,
        request_id: request_id.or(inner_request_id),
        request: label.to_owned(),
        attempts: 1,
        source: existing_event_id
            .map(|id| Arc::new(ExistingEvent(id)) as Arc<dyn std::error::Error + Send + Sync>),
    }
}
