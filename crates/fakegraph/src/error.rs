//! Graph's error responses: `{"error":{"code","message","innerError":{…}}}`.

use serde_json::{Map, Value, json};

/// A Graph error, turned into a response by `Resp::graph_error`.
#[derive(Clone, Debug)]
pub(crate) struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
    /// Extra fields of `innerError` (the generic 429 body carries some).
    pub inner: Map<String, Value>,
    /// Adds Graph's `WWW-Authenticate` challenge (401s).
    pub challenge: bool,
    /// Fields of the `error` object besides `code`, `message` and
    /// `innerError` (e.g. `@event.existingEventId`).
    pub extra: Map<String, Value>,
}

impl GraphError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
            inner: Map::new(),
            challenge: false,
            extra: Map::new(),
        }
    }

    pub fn with_retry_after(mut self, secs: u64) -> GraphError {
        self.retry_after = Some(secs);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> GraphError {
        GraphError::new(400, "BadRequest", message)
    }

    pub fn not_found() -> GraphError {
        GraphError::new(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    pub fn malformed_id() -> GraphError {
        GraphError::new(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    }

    pub fn invalid_user(user: &str) -> GraphError {
        GraphError::new(
            404,
            "ErrorInvalidUser",
            format!("The requested user '{user}' is invalid."),
        )
    }

    pub fn unreadable_body() -> GraphError {
        GraphError::bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }

    pub fn unknown_property(name: &str) -> GraphError {
        GraphError::new(
            400,
            "RequestBodyRead",
            format!(
                "The property '{name}' does not exist on type 'microsoft.graph.event'. Make sure to only use property names that are defined by the type or mark the type as open type."
            ),
        )
    }

    pub fn unsupported_zone(zone: &str) -> GraphError {
        GraphError::new(
            400,
            "TimeZoneNotSupportedException",
            format!(
                "A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone}'."
            ),
        )
    }

    pub fn unauthenticated(message: &str) -> GraphError {
        GraphError {
            challenge: true,
            ..GraphError::new(401, "InvalidAuthenticationToken", message)
        }
    }

    /// The generic throttling answer of the Graph gateway.
    pub fn too_many_requests(retry_after: u64, date: &str, request_id: &str) -> GraphError {
        let mut e = GraphError::new(429, "TooManyRequests", "Please retry again later.")
            .with_retry_after(retry_after);
        e.inner.insert("code".into(), json!("429"));
        e.inner.insert("date".into(), json!(date));
        e.inner
            .insert("message".into(), json!("Please retry after"));
        e.inner.insert("request-id".into(), json!(request_id));
        e.inner.insert("status".into(), json!("429"));
        e
    }

    /// A plausible Graph error for an arbitrary status (used by injected faults).
    pub fn for_status(status: u16, retry_after: u64) -> GraphError {
        let (code, message) = match status {
            400 => ("ErrorInvalidRequest", "The request is invalid."),
            401 => (
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            ),
            403 => (
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ),
            404 => (
                "ErrorItemNotFound",
                "The specified object was not found in the store.",
            ),
            409 => (
                "ErrorFolderExists",
                "A folder with the specified name already exists.",
            ),
            410 => (
                "SyncStateNotFound",
                "The sync state generation is not found.",
            ),
            412 => (
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
            ),
            429 => ("TooManyRequests", "Please retry again later."),
            500 => (
                "ErrorInternalServerError",
                "An internal server error occurred.",
            ),
            502 => ("BadGateway", "Bad gateway."),
            503 => (
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry after a delay.",
            ),
            504 => ("UnknownError", ""),
            _ => ("generalException", "An unspecified error occurred."),
        };
        let e = GraphError::new(status, code, message);
        if matches!(status, 429 | 503) {
            e.with_retry_after(retry_after)
        } else {
            e
        }
    }

    /// The response body, with `innerError` filled in for this request.
    pub fn body(&self, date: &str, request_id: &str, client_request_id: Option<&str>) -> Value {
        let mut inner = Map::new();
        inner.insert("date".into(), json!(date));
        inner.insert("request-id".into(), json!(request_id));
        if let Some(id) = client_request_id {
            inner.insert("client-request-id".into(), json!(id));
        }
        for (k, v) in &self.inner {
            inner.insert(k.clone(), v.clone());
        }
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        for (k, v) in &self.extra {
            error.insert(k.clone(), v.clone());
        }
        error.insert("innerError".into(), Value::Object(inner));
        json!({ "error": error })
    }
}
