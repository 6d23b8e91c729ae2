//! The token endpoint: its grants (client credentials, device code,
//! refresh token) and the tokens it issues.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::Utc;
use serde_json::{Value, json};

use super::{
    AadError, App, DEVICE_CODE_GRANT, Grant, Identity, OIDC_SCOPES, RefreshGrant, b64url,
    is_multi_tenant, short_scope,
};
use crate::http::{Req, Resp};
use crate::ids;

impl Identity {
    pub(super) fn grant(
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
    pub(super) fn public_app(&self, tenant: &str, client_id: &str) -> Result<App, AadError> {
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
    pub(super) fn issue_delegated(
        &mut self,
        tenant: &str,
        app: &App,
        user: &str,
        scopes: &[String],
    ) -> Value {
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

    pub(super) fn random(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len)
            .map(|_| char::from(CHARS[self.rng.usize(..CHARS.len())]))
            .collect()
    }

    pub(super) fn error_response(&mut self, e: AadError) -> Resp {
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
