//! Transport-neutral requests and responses, so that a top-level HTTP request
//! and a request inside a `$batch` go through exactly the same handling.

use serde_json::Value;

use crate::error::GraphError;

#[derive(Clone, Debug)]
pub(crate) struct Req {
    /// Uppercase method.
    pub method: String,
    /// The path as sent (still percent-encoded), e.g. `/v1.0/users/a%40b/events`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub in_batch: bool,
    /// With a [`crate::LatencyModel`], when a batch's inner request starts in
    /// the model's time (the moment its slot came free), whatever the fake's
    /// own delays.
    pub model_start: Option<std::time::Instant>,
    /// With a latency model, how long a batch's inner request holds its
    /// slot (drawn when the batch scheduled it).
    pub model_hold: Option<std::time::Duration>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Body {
    Empty,
    Json(Value),
}

/// How a top-level response reaches the client (faults may spoil it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Delivery {
    Normal,
    /// Status 200 with the JSON body cut in half.
    Truncated,
    /// Headers and part of the body, then the connection is aborted.
    Abort,
}

#[derive(Clone, Debug)]
pub(crate) struct Resp {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub delivery: Delivery,
}

/// Graph's JSON content type.
pub(crate) const ODATA_JSON: &str = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8";

impl Resp {
    pub fn json(status: u16, body: Value) -> Resp {
        Resp {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: Body::Json(body),
            delivery: Delivery::Normal,
        }
    }

    /// A Graph (OData) JSON response.
    pub fn odata(status: u16, body: Value) -> Resp {
        Resp {
            status,
            headers: vec![("content-type".into(), ODATA_JSON.into())],
            body: Body::Json(body),
            delivery: Delivery::Normal,
        }
    }

    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Body::Empty,
            delivery: Delivery::Normal,
        }
    }

    pub fn graph_error(
        e: &GraphError,
        date: &str,
        request_id: &str,
        client_request_id: Option<&str>,
    ) -> Resp {
        let mut resp = Resp::json(e.status, e.body(date, request_id, client_request_id));
        if let Some(secs) = e.retry_after {
            resp.headers.push(("retry-after".into(), secs.to_string()));
        }
        if e.challenge {
            resp.headers.push((
                "www-authenticate".into(),
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"".into(),
            ));
        }
        resp
    }
}
