//! The identity platform's v2.0 token endpoint:
//! `POST /{tenant}/oauth2/v2.0/token` (form-encoded).
//!
//! Only the client-credentials grant is implemented. Grants are dispatched by
//! `grant_type` in [`Identity::token`], so the device-code grant (with its
//! `/devicecode` endpoint) and refresh-token rotation can be added beside it.

use std::collections::HashMap;

use base64::Engine;
use chrono::Utc;
use serde_json::{Value, json};

use crate::http::{Req, Resp};
use crate::ids;

/// Lifetime of an access token, as the identity platform issues them.
const TOKEN_LIFETIME_SECS: u64 = 3599;

#[derive(Clone, Debug)]
pub(crate) struct App {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Who an access token was issued to.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub client_id: String,
    pub expired: bool,
}

pub(crate) struct Identity {
    pub apps: Vec<App>,
    pub tokens: HashMap<String, Grant>,
    /// Tokens in the order they were issued (for `issued_tokens`).
    pub issued: Vec<String>,
    rng: fastrand::Rng,
}

/// An error of the token endpoint (`{error, error_description, error_codes, …}`).
struct AadError {
    status: u16,
    error: &'static str,
    code: u32,
    description: String,
}

impl AadError {
    fn new(
        status: u16,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> AadError {
        AadError {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    fn missing(parameter: &str) -> AadError {
        AadError::new(
            400,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }
}

/// Whether a path is the token endpoint; returns the tenant segment.
pub(crate) fn token_tenant(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (tenant, tail) = rest.split_once('/')?;
    (tail.eq_ignore_ascii_case("oauth2/v2.0/token") && !tenant.is_empty()).then_some(tenant)
}

impl Identity {
    pub fn new(seed: u64) -> Identity {
        Identity {
            apps: Vec::new(),
            tokens: HashMap::new(),
            issued: Vec::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn add_app(&mut self, tenant: &str, client_id: &str, client_secret: &str) {
        self.apps
            .retain(|a| !(a.tenant.eq_ignore_ascii_case(tenant) && a.client_id == client_id));
        self.apps.push(App {
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
        });
    }

    pub fn expire_all(&mut self) {
        for grant in self.tokens.values_mut() {
            grant.expired = true;
        }
    }

    /// Checks a Graph request's `Authorization` header.
    pub fn check_bearer(&self, header: Option<&str>) -> Result<Grant, &'static str> {
        let token = header
            .and_then(|h| {
                let (scheme, token) = h.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or("Access token is empty.")?;
        match self.tokens.get(token) {
            Some(grant) if !grant.expired => Ok(grant.clone()),
            Some(_) => Err("Access token has expired or is not yet valid."),
            None => Err(
                "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format.",
            ),
        }
    }

    /// Handles `POST /{tenant}/oauth2/v2.0/token`.
    pub fn token(&mut self, tenant: &str, req: &Req) -> Resp {
        match self.grant(tenant, req) {
            Ok(body) => {
                let mut resp = Resp::json(200, body);
                resp.headers
                    .push(("cache-control".into(), "no-store, no-cache".into()));
                resp.headers.push(("pragma".into(), "no-cache".into()));
                resp
            }
            Err(e) => self.error_response(e),
        }
    }

    fn grant(&mut self, tenant: &str, req: &Req) -> Result<Value, AadError> {
        if req.method != "POST" {
            return Err(AadError::new(
                400,
                "invalid_request",
                900561,
                "The endpoint only accepts POST requests.",
            ));
        }
        let form: HashMap<String, String> =
            form_urlencoded::parse(&req.body).into_owned().collect();
        let grant_type = form
            .get("grant_type")
            .ok_or_else(|| AadError::missing("grant_type"))?;
        match grant_type.as_str() {
            "client_credentials" => self.client_credentials(tenant, req, &form),
            other => Err(AadError::new(
                400,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            )),
        }
    }

    fn client_credentials(
        &mut self,
        tenant: &str,
        req: &Req,
        form: &HashMap<String, String>,
    ) -> Result<Value, AadError> {
        let basic = req.header("authorization").and_then(parse_basic);
        let client_id = form
            .get("client_id")
            .cloned()
            .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
            .ok_or_else(|| AadError::missing("client_id"))?;
        let secret = form
            .get("client_secret")
            .cloned()
            .or_else(|| basic.as_ref().map(|(_, secret)| secret.clone()));
        if !self
            .apps
            .iter()
            .any(|a| a.tenant.eq_ignore_ascii_case(tenant))
        {
            return Err(AadError::new(
                400,
                "invalid_request",
                90002,
                format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                ),
            ));
        }
        let app = self
            .apps
            .iter()
            .find(|a| a.tenant.eq_ignore_ascii_case(tenant) && a.client_id == client_id)
            .cloned()
            .ok_or_else(|| {
                AadError::new(
                    400,
                    "unauthorized_client",
                    700016,
                    format!(
                        "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
                    ),
                )
            })?;
        let scope = form
            .get("scope")
            .ok_or_else(|| AadError::missing("scope"))?;
        let scopes: Vec<&str> = scope.split_whitespace().collect();
        if scopes.len() != 1 || !scopes[0].ends_with("/.default") {
            return Err(AadError::new(
                400,
                "invalid_scope",
                1002012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ));
        }
        match secret {
            None => Err(AadError::new(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )),
            Some(s) if s != app.client_secret => Err(AadError::new(
                401,
                "invalid_client",
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            )),
            Some(_) => {
                let token = self.new_token();
                self.tokens.insert(
                    token.clone(),
                    Grant {
                        client_id,
                        expired: false,
                    },
                );
                self.issued.push(token.clone());
                Ok(json!({
                    "token_type": "Bearer",
                    "expires_in": TOKEN_LIFETIME_SECS,
                    "ext_expires_in": TOKEN_LIFETIME_SECS,
                    "access_token": token,
                }))
            }
        }
    }

    /// A random opaque token (real ones are JWTs; clients must not look inside).
    fn new_token(&mut self) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let rng = &mut self.rng;
        let body: String = (0..96)
            .map(|_| char::from(CHARS[rng.usize(..CHARS.len())]))
            .collect();
        format!("fgat.{body}")
    }

    fn error_response(&mut self, e: AadError) -> Resp {
        let trace_id = ids::new_guid(&mut self.rng);
        let correlation_id = ids::new_guid(&mut self.rng);
        let timestamp = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        Resp::json(
            e.status,
            json!({
                "error": e.error,
                "error_description": format!(
                    "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                    e.code, e.description
                ),
                "error_codes": [e.code],
                "timestamp": timestamp,
                "trace_id": trace_id,
                "correlation_id": correlation_id,
                "error_uri": "https://login.microsoftonline.com/error?code=".to_string() + &e.code.to_string(),
            }),
        )
    }

    /// An injected failure of the token endpoint, in its own error format.
    pub fn fault_response(&mut self, status: u16) -> Resp {
        let e = if status >= 500 {
            AadError::new(
                status,
                "temporarily_unavailable",
                50196,
                "The server is temporarily unavailable.",
            )
        } else {
            AadError::new(status, "invalid_request", 90014, "The request was refused.")
        };
        self.error_response(e)
    }
}

fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}
