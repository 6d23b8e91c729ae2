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
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::Utc;
use serde_json::{Value, json};

use crate::http::{Req, Resp};
use crate::ids;

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

    fn grant(
        &mut self,
        tenant: &str,
        req: &Req,
        form: &HashMap<String, String>,
    ) -> Result<Value, AadError> {
        let grant_type = form
            .get("grant_type")
            .ok_or_else(|| AadError::missing("grant_type"))?;
        match grant_type.as_str() {
            "client_credentials" => self.client_credentials(tenant, req, form),
            DEVICE_CODE_GRANT => self.device_code_grant(tenant, form),
            "refresh_token" => self.refresh_grant(tenant, form),
            other => Err(AadError::new(
                400,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            )),
        }
    }

    /// The registered app a public-client request names.
    fn public_app(&self, tenant: &str, client_id: &str) -> Result<App, AadError> {
        let in_tenant = |a: &&App| is_multi_tenant(tenant) || a.tenant.eq_ignore_ascii_case(tenant);
        if !self.apps.iter().any(|a| in_tenant(&a)) {
            return Err(AadError::unknown_tenant(tenant));
        }
        self.apps
            .iter()
            .find(|a| in_tenant(a) && a.client_id == client_id)
            .cloned()
            .ok_or_else(|| AadError::unknown_app(client_id, tenant))
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
            return Err(AadError::unknown_tenant(tenant));
        }
        let app = self
            .apps
            .iter()
            .find(|a| a.tenant.eq_ignore_ascii_case(tenant) && a.client_id == client_id)
            .cloned()
            .ok_or_else(|| AadError::unknown_app(&client_id, tenant))?;
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
            None => Err(AadError::not_public()),
            Some(s) if app.client_secret.is_empty() || s != app.client_secret => {
                Err(AadError::new(
                    401,
                    "invalid_client",
                    7000215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    ),
                ))
            }
            Some(_) => {
                let (token, lifetime) = self.issue_access_token(tenant, &app, None, &app.roles);
                Ok(json!({
                    "token_type": "Bearer",
                    "expires_in": lifetime,
                    "ext_expires_in": lifetime,
                    "access_token": token,
                }))
            }
        }
    }

    fn device_authorization(
        &mut self,
        tenant: &str,
        form: &HashMap<String, String>,
    ) -> Result<Value, AadError> {
        let client_id = form
            .get("client_id")
            .ok_or_else(|| AadError::missing("client_id"))?;
        let app = self.public_app(tenant, client_id)?;
        let scope = form
            .get("scope")
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| AadError::missing("scope"))?;
        let scopes: Vec<String> = scope.split_whitespace().map(str::to_string).collect();
        let (user, polls) = match self.scripts.pop_front() {
            Some((user, polls)) => (Some(user), polls.into_iter().collect()),
            None => match &self.standing_approval {
                Some(user) => (
                    Some(user.clone()),
                    VecDeque::from([DevicePoll::Pending, DevicePoll::Approve]),
                ),
                None => (None, VecDeque::new()),
            },
        };
        let device_code = self.random(160);
        let user_code: String = {
            const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
            (0..9)
                .map(|_| char::from(CHARS[self.rng.usize(..CHARS.len())]))
                .collect()
        };
        self.issued.push(device_code.clone());
        self.devices.insert(
            device_code.clone(),
            DeviceSession {
                tenant: tenant.to_string(),
                client_id: app.client_id.clone(),
                scopes,
                user,
                polls,
                expires_at: Instant::now() + Duration::from_secs(self.device_lifetime),
            },
        );
        Ok(json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": VERIFICATION_URI,
            "expires_in": self.device_lifetime,
            "interval": self.device_interval,
            "message": format!(
                "To sign in, use a web browser to open the page {VERIFICATION_URI} and enter the code {user_code} to authenticate."
            ),
        }))
    }

    fn device_code_grant(
        &mut self,
        tenant: &str,
        form: &HashMap<String, String>,
    ) -> Result<Value, AadError> {
        let client_id = form
            .get("client_id")
            .ok_or_else(|| AadError::missing("client_id"))?;
        let app = self.public_app(tenant, client_id)?;
        let device_code = form
            .get("device_code")
            .ok_or_else(|| AadError::missing("device_code"))?;
        let bad_code = || {
            AadError::new(
                400,
                "bad_verification_code",
                70000,
                "The provided value for the input parameter 'device_code' is not valid.",
            )
        };
        let session = self.devices.get_mut(device_code).ok_or_else(bad_code)?;
        if session.client_id != app.client_id || !session.tenant.eq_ignore_ascii_case(tenant) {
            return Err(bad_code());
        }
        if !app.public_client {
            return Err(AadError::not_public());
        }
        let poll = if Instant::now() >= session.expires_at {
            DevicePoll::Expire
        } else {
            session.polls.pop_front().unwrap_or(DevicePoll::Pending)
        };
        match poll {
            DevicePoll::Pending => Err(AadError::new(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )),
            DevicePoll::SlowDown => Err(AadError::new(
                400,
                "slow_down",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Poll less often.",
            )),
            DevicePoll::Decline => {
                self.devices.remove(device_code);
                Err(AadError::new(
                    400,
                    "authorization_declined",
                    70000,
                    "The end user declined the authorization request.",
                ))
            }
            DevicePoll::Expire => {
                self.devices.remove(device_code);
                Err(AadError::new(
                    400,
                    "expired_token",
                    70020,
                    "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
                ))
            }
            DevicePoll::BadCode => {
                self.devices.remove(device_code);
                Err(bad_code())
            }
            DevicePoll::Approve => {
                let Some(session) = self.devices.remove(device_code) else {
                    return Err(bad_code());
                };
                let Some(user) = session.user else {
                    return Err(bad_code());
                };
                Ok(self.issue_delegated(&session.tenant, &app, &user, &session.scopes))
            }
        }
    }

    fn refresh_grant(
        &mut self,
        tenant: &str,
        form: &HashMap<String, String>,
    ) -> Result<Value, AadError> {
        let client_id = form
            .get("client_id")
            .ok_or_else(|| AadError::missing("client_id"))?;
        let app = self.public_app(tenant, client_id)?;
        let token = form
            .get("refresh_token")
            .ok_or_else(|| AadError::missing("refresh_token"))?;
        self.refresh_presented.push(token.clone());
        match form.get("client_secret") {
            None if !app.public_client => return Err(AadError::not_public()),
            Some(s) if app.client_secret.is_empty() || *s != app.client_secret => {
                return Err(AadError::new(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided.",
                ));
            }
            _ => {}
        }
        let grant = self.refresh.get(token).cloned().ok_or_else(|| {
            AadError::new(
                400,
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid.",
            )
        })?;
        if grant.revoked || (self.strict_rotation && grant.superseded) {
            return Err(AadError::new(
                400,
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
            ));
        }
        if grant.client_id != app.client_id || !grant.tenant.eq_ignore_ascii_case(tenant) {
            return Err(AadError::new(
                400,
                "invalid_grant",
                70000,
                "The refresh token was issued to a different client or tenant.",
            ));
        }
        let scopes = match form.get("scope") {
            None => grant.scopes.clone(),
            Some(requested) => {
                let requested: Vec<String> =
                    requested.split_whitespace().map(str::to_string).collect();
                let granted: Vec<&str> = grant.scopes.iter().map(|s| short_scope(s)).collect();
                if let Some(extra) = requested.iter().find(|s| {
                    !OIDC_SCOPES.contains(&s.as_str()) && !granted.contains(&short_scope(s))
                }) {
                    return Err(AadError::new(
                        400,
                        "invalid_grant",
                        65001,
                        format!(
                            "The user or administrator has not consented to use the application with ID '{client_id}'. Send an interactive authorization request for this user and resource (scope '{extra}')."
                        ),
                    ));
                }
                requested
            }
        };
        if let Some(old) = self.refresh.get_mut(token) {
            old.superseded = true;
        }
        Ok(self.issue_delegated(&grant.tenant, &app, &grant.user, &scopes))
    }

    /// Access token, plus a refresh token with `offline_access` and an id
    /// token with `openid`.
    ///
    /// The permissions granted (`scp`) are, with dynamic consent, the
    /// resource scopes asked for (the person consents to them at sign-in).
    /// When a test fixed the app's delegated permissions, as an
    /// administrator's consent to its configured permissions does, a
    /// sign-in gets exactly those, whatever it asked for: what `/.default`
    /// asks for (`docs/identity-platform/scopes-oidc.md` in
    /// MicrosoftDocs/entra-docs), and a person who may not consent gets no
    /// more.
    fn issue_delegated(&mut self, tenant: &str, app: &App, user: &str, scopes: &[String]) -> Value {
        let resource: Vec<String> = match &app.delegated_scopes {
            Some(fixed) => fixed.clone(),
            None => scopes
                .iter()
                .filter(|s| !OIDC_SCOPES.contains(&s.as_str()))
                .cloned()
                .collect(),
        };
        let permissions: Vec<String> = resource
            .iter()
            .map(|s| short_scope(s).to_string())
            .collect();
        let (access_token, lifetime) =
            self.issue_access_token(tenant, app, Some(user), &permissions);
        let mut body = json!({
            "token_type": "Bearer",
            "scope": resource.join(" "),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        });
        if scopes.iter().any(|s| s == "offline_access") {
            let refresh_token = format!("0.fgrt.{}", self.random(220));
            self.issued.push(refresh_token.clone());
            self.refresh.insert(
                refresh_token.clone(),
                RefreshGrant {
                    tenant: tenant.to_string(),
                    client_id: app.client_id.clone(),
                    user: user.to_string(),
                    scopes: scopes.to_vec(),
                    revoked: false,
                    superseded: false,
                },
            );
            body["refresh_token"] = json!(refresh_token);
        }
        if scopes.iter().any(|s| s == "openid") {
            let now = Utc::now().timestamp();
            let payload = json!({
                "aud": app.client_id,
                "iss": format!("https://login.microsoftonline.com/{}/v2.0", app.tenant),
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": display_name(user),
                "oid": self.object_id(user),
                "preferred_username": user,
                "tid": app.tenant,
                "ver": "2.0",
            });
            let id_token = self.jwt(&payload);
            self.issued.push(id_token.clone());
            body["id_token"] = json!(id_token);
        }
        body
    }

    /// A stable object id for a user, as the directory has one.
    fn object_id(&mut self, user: &str) -> String {
        let key = user.to_ascii_lowercase();
        if let Some(oid) = self.object_ids.get(&key) {
            return oid.clone();
        }
        let oid = ids::new_guid(&mut self.rng);
        self.object_ids.insert(key, oid.clone());
        oid
    }

    /// Issues and records an access token; returns it and its lifetime.
    ///
    /// The claims are those of Entra's v1.0 access tokens for Graph
    /// (`docs/identity-platform/access-token-claims-reference.md` in
    /// MicrosoftDocs/entra-docs): `aud` is the Graph origin (this fake's, in
    /// place of `https://graph.microsoft.com`), `tid` the app's tenant,
    /// `appid`, `iat`/`nbf`/`exp`, and `roles` (app-only) or `scp`
    /// (delegated, space-separated) with `upn`/`preferred_username`.
    fn issue_access_token(
        &mut self,
        tenant: &str,
        app: &App,
        user: Option<&str>,
        permissions: &[String],
    ) -> (String, u64) {
        let lifetime = self.token_lifetime;
        let now = Utc::now().timestamp();
        // A multi-tenant authority still yields a token of the app's tenant.
        let tid = if is_multi_tenant(tenant) {
            app.tenant.clone()
        } else {
            tenant.to_string()
        };
        let mut payload = json!({
            "aud": self.graph_origin,
            "iss": format!("https://sts.windows.net/{tid}/"),
            "iat": now,
            "nbf": now,
            "exp": now + i64::try_from(lifetime).unwrap_or(i64::MAX / 2),
            "appid": app.client_id,
            "tid": tid,
            "uti": self.random(22),
            "ver": "1.0",
        });
        match user {
            Some(user) => {
                payload["scp"] = json!(permissions.join(" "));
                payload["upn"] = json!(user);
                payload["preferred_username"] = json!(user);
                payload["unique_name"] = json!(user);
                payload["name"] = json!(display_name(user));
                payload["oid"] = json!(self.object_id(user));
                payload["idtyp"] = json!("user");
            }
            None => {
                payload["roles"] = json!(permissions);
                payload["oid"] = json!(self.object_id(&format!("app:{}", app.client_id)));
                payload["idtyp"] = json!("app");
            }
        }
        let token = self.jwt(&payload);
        self.tokens.insert(
            token.clone(),
            Grant {
                client_id: app.client_id.clone(),
                expired: false,
                user: user.map(str::to_string),
                permissions: permissions.to_vec(),
                expires_at: Instant::now() + Duration::from_secs(lifetime),
            },
        );
        self.issued.push(token.clone());
        (token, lifetime)
    }

    /// An unsigned JWT-shaped token (header.payload.random signature).
    fn jwt(&mut self, payload: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": "fakegraph"});
        let signature: Vec<u8> = (0..64).map(|_| self.rng.u8(..)).collect();
        format!(
            "{}.{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(payload.to_string().as_bytes()),
            b64url(&signature)
        )
    }

    fn random(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len)
            .map(|_| char::from(CHARS[self.rng.usize(..CHARS.len())]))
            .collect()
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

/// `ada.lovelace@x` → `Ada Lovelace`.
fn display_name(upn: &str) -> String {
    upn.split('@')
        .next()
        .unwrap_or(upn)
        .split(['.', '-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a Graph route needs a permission for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    /// Calendars and events.
    Calendars,
    /// The user object (`GET /users/{id}`, `GET /me`).
    User,
    /// `mailboxSettings`.
    MailboxSettings,
}

/// A 403: Graph's error code and message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Denied {
    pub code: &'static str,
    pub message: &'static str,
}

const ACCESS_DENIED: Denied = Denied {
    code: "ErrorAccessDenied",
    message: "Access is denied. Check credentials and try again.",
};

/// Whether a token may act on a resource of a mailbox.
///
/// - Calendars: app-only tokens need a `Calendars.*` application
///   permission; delegated tokens reach the signed-in user's own mailbox
///   with `Calendars.*` and any other mailbox only with `Calendars.*.Shared`
///   (`concepts/outlook-get-shared-events-calendars.md`; the owner's sharing
///   is assumed).
/// - The user object (`api-reference/v1.0/api/user-get.md`): delegated
///   `User.Read` for oneself, `User.ReadBasic.All`/`User.Read.All` (or
///   wider) for anyone; application `User.Read.All` or wider. Calendar
///   permissions alone get the directory's `403 Authorization_RequestDenied`.
/// - Mailbox settings (`api-reference/v1.0/api/user-get-mailboxsettings.md`):
///   `MailboxSettings.Read` or `.ReadWrite`, delegated for one's own
///   mailbox (there is no `.Shared` variant), or as an application.
pub(crate) fn authorize(
    grant: &Grant,
    own_mailbox: bool,
    resource: Resource,
) -> Result<(), Denied> {
    let has = |names: &[&str]| {
        grant
            .permissions
            .iter()
            .any(|p| names.iter().any(|n| p.eq_ignore_ascii_case(n)))
    };
    let delegated = grant.user.is_some();
    let (allowed, denied) = match resource {
        Resource::Calendars => {
            let calendars = |p: &&String| p.starts_with("Calendars.");
            let allowed = if !delegated || own_mailbox {
                grant.permissions.iter().any(|p| calendars(&p))
            } else {
                grant
                    .permissions
                    .iter()
                    .any(|p| calendars(&p) && p.ends_with(".Shared"))
            };
            (allowed, ACCESS_DENIED)
        }
        Resource::User => {
            const ANYONE: &[&str] = &[
                "User.ReadBasic.All",
                "User.Read.All",
                "User.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ];
            let allowed = has(ANYONE)
                || (delegated
                    && ((own_mailbox && has(&["User.Read", "User.ReadWrite"]))
                        || has(&["Directory.AccessAsUser.All"])));
            (
                allowed,
                Denied {
                    code: "Authorization_RequestDenied",
                    message: "Insufficient privileges to complete the operation.",
                },
            )
        }
        Resource::MailboxSettings => (
            (!delegated || own_mailbox)
                && has(&["MailboxSettings.Read", "MailboxSettings.ReadWrite"]),
            ACCESS_DENIED,
        ),
    };
    if allowed { Ok(()) } else { Err(denied) }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn post(body: &str) -> Req {
        Req {
            method: "POST".into(),
            path: String::new(),
            query: String::new(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: body.as_bytes().to_vec(),
            in_batch: false,
            model_start: None,
            model_hold: None,
        }
    }

    fn json_of(resp: &Resp) -> Value {
        match &resp.body {
            crate::http::Body::Json(v) => v.clone(),
            crate::http::Body::Empty => Value::Null,
        }
    }

    fn identity() -> Identity {
        let mut id = Identity::new(7);
        id.add_app("t", "app", "");
        id.set_public_client("t", "app", true);
        id
    }

    fn start(id: &mut Identity) -> String {
        let resp = id.handle(
            "t",
            Endpoint::DeviceCode,
            &post("client_id=app&scope=offline_access%20openid%20https%3A%2F%2Fgraph.microsoft.com%2FCalendars.ReadWrite"),
        );
        assert_eq!(resp.status, 200);
        let body = json_of(&resp);
        assert_eq!(body["interval"], 5);
        assert_eq!(body["expires_in"], 900);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(body["user_code"].as_str().unwrap())
        );
        body["device_code"].as_str().unwrap().to_string()
    }

    fn poll(id: &mut Identity, device_code: &str) -> (u16, Value) {
        let resp = id.handle(
            "t",
            Endpoint::Token,
            &post(&format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=app&device_code={device_code}"
            )),
        );
        (resp.status, json_of(&resp))
    }

    #[test]
    fn scripted_device_flow_then_rotation_and_revocation() {
        let mut id = identity();
        id.script_device_flow(
            "ada@x.example",
            &[
                DevicePoll::Pending,
                DevicePoll::SlowDown,
                DevicePoll::Approve,
            ],
        );
        let code = start(&mut id);
        assert_eq!(poll(&mut id, &code).1["error"], "authorization_pending");
        let (status, body) = poll(&mut id, &code);
        assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")));
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS")
        );
        let (status, tokens) = poll(&mut id, &code);
        assert_eq!(status, 200, "{tokens}");
        let rt = tokens["refresh_token"].as_str().unwrap().to_string();
        assert!(tokens["id_token"].as_str().unwrap().split('.').count() == 3);
        let grant = id
            .check_bearer(Some(&format!(
                "Bearer {}",
                tokens["access_token"].as_str().unwrap()
            )))
            .unwrap();
        assert_eq!(grant.user.as_deref(), Some("ada@x.example"));
        assert_eq!(grant.permissions, ["Calendars.ReadWrite"]);
        // A redeemed device code is gone.
        assert_eq!(poll(&mut id, &code).1["error"], "bad_verification_code");

        let refresh = |id: &mut Identity, rt: &str| {
            let resp = id.handle(
                "t",
                Endpoint::Token,
                &post(&format!(
                    "grant_type=refresh_token&client_id=app&refresh_token={rt}"
                )),
            );
            (resp.status, json_of(&resp))
        };
        let (status, next) = refresh(&mut id, &rt);
        assert_eq!(status, 200);
        let rt2 = next["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(rt, rt2);
        // Old refresh tokens keep working unless rotation is strict.
        assert_eq!(refresh(&mut id, &rt).0, 200);
        id.strict_rotation = true;
        assert_eq!(refresh(&mut id, &rt).1["error"], "invalid_grant");
        id.revoke_refresh_tokens();
        let (status, body) = refresh(&mut id, &rt2);
        assert_eq!(status, 400);
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(body["error_codes"][0], 50173);
    }

    #[test]
    fn unscripted_codes_stay_pending_and_terminal_outcomes_end_the_session() {
        let mut id = identity();
        let code = start(&mut id);
        for _ in 0..3 {
            assert_eq!(poll(&mut id, &code).1["error"], "authorization_pending");
        }
        for (outcome, error) in [
            (DevicePoll::Decline, "authorization_declined"),
            (DevicePoll::Expire, "expired_token"),
            (DevicePoll::BadCode, "bad_verification_code"),
        ] {
            id.script_device_flow("ada@x.example", &[outcome]);
            let code = start(&mut id);
            assert_eq!(poll(&mut id, &code).1["error"], error);
            assert_eq!(poll(&mut id, &code).1["error"], "bad_verification_code");
        }
    }

    #[test]
    fn device_flow_needs_public_client_flows() {
        let mut id = identity();
        id.set_public_client("t", "app", false);
        id.script_device_flow("ada@x.example", &[DevicePoll::Approve]);
        let code = start(&mut id);
        let (status, body) = poll(&mut id, &code);
        assert_eq!(status, 401);
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_codes"][0], 7000218);
    }

    #[test]
    fn shared_mailboxes_need_the_shared_permission() {
        let grant = |perms: &[&str]| Grant {
            client_id: "app".into(),
            expired: false,
            user: Some("ada@x.example".into()),
            permissions: perms.iter().map(|p| p.to_string()).collect(),
            expires_at: Instant::now(),
        };
        let cal = Resource::Calendars;
        assert!(authorize(&grant(&["Calendars.ReadWrite"]), true, cal).is_ok());
        assert!(authorize(&grant(&["Calendars.ReadWrite"]), false, cal).is_err());
        assert!(authorize(&grant(&["Calendars.ReadWrite.Shared"]), false, cal).is_ok());
        assert!(authorize(&grant(&["User.Read"]), true, cal).is_err());
        let user = Resource::User;
        assert_eq!(
            authorize(&grant(&["Calendars.ReadWrite"]), true, user).map_err(|d| d.code),
            Err("Authorization_RequestDenied")
        );
        assert!(authorize(&grant(&["User.Read"]), true, user).is_ok());
        assert!(authorize(&grant(&["User.Read"]), false, user).is_err());
        assert!(authorize(&grant(&["User.ReadBasic.All"]), false, user).is_ok());
        let settings = Resource::MailboxSettings;
        assert!(authorize(&grant(&["MailboxSettings.Read"]), true, settings).is_ok());
        assert!(authorize(&grant(&["MailboxSettings.Read"]), false, settings).is_err());
        assert!(authorize(&grant(&["Calendars.ReadWrite"]), true, settings).is_err());
    }
}
