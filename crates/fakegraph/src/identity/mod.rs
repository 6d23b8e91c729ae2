//! The identity platform's v2.0 endpoints (form-encoded POSTs):
//!
//! - `/{tenant}/oauth2/v2.0/devicecode`: starts a device authorization.
//! - `/{tenant}/oauth2/v2.0/token`: the `client_credentials`, device-code
//!   (`urn:ietf:params:oauth:grant-type:device_code`) and `refresh_token` grants.
//!
//! Errors are the identity platform's: HTTP 400 (401 for client
//! authentication) with `{error, error_description: "AADSTSnnnn: …",
//! error_codes, timestamp, trace_id, correlation_id, error_uri}`.
//!
//! Nobody approves a device code here unless a test scripts it: each device
//! code takes the next script queued with [`Identity::script_device_flow`]
//! (a list of poll outcomes), else the standing approval of
//! [`Identity::approve_device_flows`], else it stays pending until it expires.
//!
//! Access tokens are JWT-shaped (unsigned: the signature is random bytes) so
//! that a client may read `roles`/`scp` claims for diagnostics; Graph accepts
//! only tokens issued here. A refresh grant always rotates the refresh token;
//! the old one keeps working (as on the real service) unless strict rotation
//! is switched on, and every refresh token can be revoked at once.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use base64::Engine;

use crate::http::{Req, Resp};

mod access;
mod device;
#[cfg(test)]
mod tests;
mod token;

pub(crate) use access::{Denied, Resource, authorize};

/// Default lifetime of an access token, as the identity platform issues them.
const TOKEN_LIFETIME_SECS: u64 = 3599;
/// Default device-code lifetime and polling interval (documented defaults).
const DEVICE_CODE_LIFETIME_SECS: u64 = 900;
const DEVICE_CODE_INTERVAL_SECS: u64 = 5;
/// What the real service shows people for the global cloud.
const VERIFICATION_URI: &str = "https://microsoft.com/devicelogin";
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Scopes that ask for tokens rather than for access to a resource.
const OIDC_SCOPES: [&str; 4] = ["offline_access", "openid", "profile", "email"];

/// One answer of the token endpoint to a device-code poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevicePoll {
    /// `authorization_pending`: the person has not finished yet.
    Pending,
    /// `slow_down`: keep polling, 5 seconds slower (RFC 8628).
    SlowDown,
    /// The person signed in and consented: tokens are issued.
    Approve,
    /// `authorization_declined`: the person refused.
    Decline,
    /// `expired_token`: the code expired before sign-in completed.
    Expire,
    /// `bad_verification_code`: the device code is not recognised.
    BadCode,
}

impl DevicePoll {
    /// Parses a seed spelling: `pending`, `slow_down`, `approve`, `decline`,
    /// `expire`, `bad_code`.
    pub fn parse(s: &str) -> Option<DevicePoll> {
        Some(match s {
            "pending" => DevicePoll::Pending,
            "slow_down" => DevicePoll::SlowDown,
            "approve" => DevicePoll::Approve,
            "decline" => DevicePoll::Decline,
            "expire" => DevicePoll::Expire,
            "bad_code" => DevicePoll::BadCode,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct App {
    pub tenant: String,
    pub client_id: String,
    /// Empty for an app registered without a secret.
    pub client_secret: String,
    /// "Allow public client flows" (device code, refresh without a secret).
    pub public_client: bool,
    /// Application permissions with admin consent (the `roles` claim).
    pub roles: Vec<String>,
    /// Delegated permissions consented for the app, when a test fixed them;
    /// `None` is dynamic consent: a sign-in is granted what it asks for.
    pub delegated_scopes: Option<Vec<String>>,
}

/// Who an access token was issued to.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub client_id: String,
    pub expired: bool,
    /// The signed-in user (delegated tokens); `None` for app-only tokens.
    pub user: Option<String>,
    /// Delegated permissions (`scp`, short names) or application roles.
    pub permissions: Vec<String>,
    pub expires_at: Instant,
}

/// A refresh token's grant.
#[derive(Clone, Debug)]
struct RefreshGrant {
    tenant: String,
    client_id: String,
    user: String,
    scopes: Vec<String>,
    revoked: bool,
    /// A newer refresh token replaced it.
    superseded: bool,
}

/// A device authorization in progress.
#[derive(Clone, Debug)]
struct DeviceSession {
    tenant: String,
    client_id: String,
    scopes: Vec<String>,
    user: Option<String>,
    polls: VecDeque<DevicePoll>,
    expires_at: Instant,
}

pub(crate) struct Identity {
    pub apps: Vec<App>,
    pub tokens: HashMap<String, Grant>,
    /// Secrets issued, in order (access, refresh and id tokens, device codes),
    /// for `issued_tokens`.
    pub issued: Vec<String>,
    refresh: HashMap<String, RefreshGrant>,
    /// Refresh tokens presented to the token endpoint, in order.
    pub refresh_presented: Vec<String>,
    devices: HashMap<String, DeviceSession>,
    scripts: VecDeque<(String, Vec<DevicePoll>)>,
    standing_approval: Option<String>,
    pub device_interval: u64,
    pub device_lifetime: u64,
    pub token_lifetime: u64,
    pub strict_rotation: bool,
    /// The `aud` of access tokens: the Graph origin.
    pub graph_origin: String,
    object_ids: HashMap<String, String>,
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

    fn unknown_tenant(tenant: &str) -> AadError {
        AadError::new(
            400,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    fn unknown_app(client_id: &str, tenant: &str) -> AadError {
        AadError::new(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    fn not_public() -> AadError {
        AadError::new(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }
}

/// Which identity endpoint a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Token,
    DeviceCode,
}

/// Whether a path is an identity endpoint; returns the tenant segment.
pub(crate) fn endpoint(path: &str) -> Option<(&str, Endpoint)> {
    let rest = path.strip_prefix('/')?;
    let (tenant, tail) = rest.split_once('/')?;
    if tenant.is_empty() {
        return None;
    }
    if tail.eq_ignore_ascii_case("oauth2/v2.0/token") {
        Some((tenant, Endpoint::Token))
    } else if tail.eq_ignore_ascii_case("oauth2/v2.0/devicecode") {
        Some((tenant, Endpoint::DeviceCode))
    } else {
        None
    }
}

/// `https://host/Calendars.ReadWrite` → `Calendars.ReadWrite`.
fn short_scope(scope: &str) -> &str {
    scope.rsplit('/').next().unwrap_or(scope)
}

fn is_multi_tenant(tenant: &str) -> bool {
    ["common", "organizations"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tenant))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Identity {
    pub fn new(seed: u64) -> Identity {
        Identity {
            apps: Vec::new(),
            tokens: HashMap::new(),
            issued: Vec::new(),
            refresh: HashMap::new(),
            refresh_presented: Vec::new(),
            devices: HashMap::new(),
            scripts: VecDeque::new(),
            standing_approval: None,
            device_interval: DEVICE_CODE_INTERVAL_SECS,
            device_lifetime: DEVICE_CODE_LIFETIME_SECS,
            token_lifetime: TOKEN_LIFETIME_SECS,
            strict_rotation: false,
            graph_origin: "https://graph.microsoft.com".to_string(),
            object_ids: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn add_app(&mut self, tenant: &str, client_id: &str, client_secret: &str) {
        let previous = self.take_app(tenant, client_id);
        self.apps.push(App {
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            public_client: previous.as_ref().is_some_and(|a| a.public_client),
            delegated_scopes: previous.as_ref().and_then(|a| a.delegated_scopes.clone()),
            roles: previous
                .map(|a| a.roles)
                .unwrap_or_else(|| vec!["Calendars.ReadWrite".to_string()]),
        });
    }

    fn take_app(&mut self, tenant: &str, client_id: &str) -> Option<App> {
        let i = self
            .apps
            .iter()
            .position(|a| a.tenant.eq_ignore_ascii_case(tenant) && a.client_id == client_id)?;
        Some(self.apps.remove(i))
    }

    fn app_mut(&mut self, tenant: &str, client_id: &str) -> &mut App {
        if let Some(i) = self
            .apps
            .iter()
            .position(|a| a.tenant.eq_ignore_ascii_case(tenant) && a.client_id == client_id)
        {
            return &mut self.apps[i];
        }
        self.add_app(tenant, client_id, "");
        let last = self.apps.len() - 1;
        &mut self.apps[last]
    }

    pub fn set_public_client(&mut self, tenant: &str, client_id: &str, allowed: bool) {
        self.app_mut(tenant, client_id).public_client = allowed;
    }

    pub fn set_roles(&mut self, tenant: &str, client_id: &str, roles: &[&str]) {
        self.app_mut(tenant, client_id).roles = roles.iter().map(|r| r.to_string()).collect();
    }

    pub fn set_delegated_scopes(&mut self, tenant: &str, client_id: &str, scopes: &[&str]) {
        self.app_mut(tenant, client_id).delegated_scopes =
            Some(scopes.iter().map(|s| short_scope(s).to_string()).collect());
    }

    pub fn script_device_flow(&mut self, user: &str, polls: &[DevicePoll]) {
        self.scripts.push_back((user.to_string(), polls.to_vec()));
    }

    pub fn approve_device_flows(&mut self, user: Option<&str>) {
        self.standing_approval = user.map(str::to_string);
    }

    pub fn expire_all(&mut self) {
        for grant in self.tokens.values_mut() {
            grant.expired = true;
        }
    }

    pub fn revoke_refresh_tokens(&mut self) {
        for grant in self.refresh.values_mut() {
            grant.revoked = true;
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
            Some(grant) if !grant.expired && Instant::now() < grant.expires_at => Ok(grant.clone()),
            Some(_) => Err("Access token has expired or is not yet valid."),
            None if token.contains('.') => {
                Err("Access token validation failure. Invalid audience.")
            }
            None => Err(
                "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format.",
            ),
        }
    }

    /// Handles `POST /{tenant}/oauth2/v2.0/token` and `…/devicecode`.
    pub fn handle(&mut self, tenant: &str, endpoint: Endpoint, req: &Req) -> Resp {
        let result = if req.method != "POST" {
            Err(AadError::new(
                400,
                "invalid_request",
                900561,
                "The endpoint only accepts POST requests.",
            ))
        } else {
            let form: HashMap<String, String> =
                form_urlencoded::parse(&req.body).into_owned().collect();
            match endpoint {
                Endpoint::Token => self.grant(tenant, req, &form),
                Endpoint::DeviceCode => self.device_authorization(tenant, &form),
            }
        };
        match result {
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
}
