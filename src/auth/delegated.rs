//! Delegated sign-in: the device authorization grant (`calsync login`) and
//! the refresh-token source every later run uses.
//!
//! A run takes the stored access token while it is valid, else redeems the
//! stored refresh token. The identity platform answers a refresh with a new
//! refresh token; it is saved to the token store before the access token is
//! handed to any Graph request, so a crash cannot lose it.
//!
//! What Graph does here: docs/graph.md, Device code and Refresh tokens.

use super::AuthConfig;
use super::store::{Profile, SignIn, TokenStore};
use super::{OauthHttp, TokenFuture, TokenHttpError, TokenSource};
use crate::error::Failure;
use crate::text::{error_chain_text, truncate_chars};
use anyhow::anyhow;
use chrono::{DateTime, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    ClientId, DeviceAuthorizationResponse, DeviceAuthorizationUrl, EndpointNotSet, EndpointSet,
    ErrorResponseType, ExtraDeviceAuthorizationFields, ExtraTokenFields, RefreshToken,
    RequestTokenError, Scope, StandardErrorResponse, StandardRevocableToken, StandardTokenResponse,
    TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The id token, which the token response carries when `openid` was asked.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type DelegatedTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// The device authorization response's `message` (Entra's instructions).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DeviceMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl ExtraDeviceAuthorizationFields for DeviceMessage {}

type PublicClient<HasDeviceAuthUrl> = oauth2::Client<
    BasicErrorResponse,
    DelegatedTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    HasDeviceAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Refresh a stored access token this long before it expires (at most half its lifetime).
const REFRESH_MARGIN: chrono::Duration = chrono::Duration::minutes(5);
const MAX_DESCRIPTION: usize = 600;

/// `{authority_url}/{tenant}/oauth2/v2.0/devicecode`.
pub fn device_code_endpoint(authority_url: &Url, tenant: &str) -> Url {
    let mut url = super::token_endpoint(authority_url, tenant);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop().push("devicecode");
    }
    url
}

/// The Graph permission the configured mailboxes need: `Calendars.ReadWrite`
/// for the signed-in user's own calendars, `Calendars.ReadWrite.Shared` when
/// the source or target names another mailbox.
pub fn calendar_permission(settings: &AuthConfig) -> &'static str {
    let own = |m: &str| m.eq_ignore_ascii_case("me");
    if own(settings.mailbox_or_me()) && own(settings.target_mailbox_or_source()) {
        "Calendars.ReadWrite"
    } else {
        "Calendars.ReadWrite.Shared"
    }
}

/// The scopes `calsync login` asks for: a refresh token (`offline_access`),
/// an id token naming the account (`openid profile`), and the calendar
/// permission on the Graph host of the configured cloud.
pub fn login_scopes(settings: &AuthConfig) -> Vec<String> {
    vec![
        "offline_access".to_string(),
        "openid".to_string(),
        "profile".to_string(),
        resource_scope(settings),
    ]
}

/// What a refresh asks for: the calendar permission the configuration needs now.
fn refresh_scopes(settings: &AuthConfig) -> Vec<String> {
    vec!["offline_access".to_string(), resource_scope(settings)]
}

fn resource_scope(settings: &AuthConfig) -> String {
    format!(
        "{}/{}",
        settings.graph_url.origin().ascii_serialization(),
        calendar_permission(settings)
    )
}

/// The claims of a JWT (payload only; nothing is verified). Used to read
/// the account name and granted roles for messages, never to trust them.
pub fn jwt_claims(token: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn error_code<T: ErrorResponseType>(e: &T) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown_error".to_owned())
}

fn clean(description: Option<&String>) -> String {
    description
        .map(|d| {
            // The first line holds the AADSTS code and its sentence; the rest
            // is trace and correlation ids.
            let first = d.lines().next().unwrap_or_default();
            truncate_chars(
                &first.split_whitespace().collect::<Vec<_>>().join(" "),
                MAX_DESCRIPTION,
            )
        })
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "no description given".to_owned())
}

/// An error of the identity platform as a one-paragraph message; `fix` maps
/// an OAuth error code to what the operator should do (`None`: not a sign-in
/// problem).
fn describe<T: ErrorResponseType + fmt::Display + 'static>(
    err: RequestTokenError<TokenHttpError, StandardErrorResponse<T>>,
    what: &str,
    url: &Url,
    status: Option<u16>,
    fix: impl Fn(&str, &str) -> String,
) -> anyhow::Error {
    let status_text = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    match err {
        RequestTokenError::ServerResponse(resp) => {
            let code = error_code(resp.error());
            let description = clean(resp.error_description());
            if code == "temporarily_unavailable" || status.is_some_and(|s| s >= 500) {
                return anyhow!(
                    "{what}: the identity platform at {url} is unavailable{status_text} ({code}: \
                     {description}). Try again later; if it persists, check authority_url and the \
                     service status."
                );
            }
            let fix = fix(&code, &description);
            let description = description.trim_end_matches('.');
            Failure::Auth(format!(
                "{what}: the identity platform at {url} answered {code}{status_text}: \
                 {description}. {fix}"
            ))
            .into()
        }
        RequestTokenError::Request(e) => {
            let how = if e.0.is_timeout() {
                "timed out"
            } else if e.0.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            anyhow!(
                "{what}: the request to {url} {how} ({}). Check authority_url (or cloud) and the \
                 network connection.",
                error_chain_text(&e.0)
            )
        }
        RequestTokenError::Parse(e, _body) => anyhow!(
            "{what}: {url} gave an answer that is not an OAuth response{status_text} (at `{}`: \
             {:?} error). Check authority_url: it must point at the Microsoft identity platform \
             of graph_url's cloud.",
            e.path(),
            e.inner().classify()
        ),
        RequestTokenError::Other(reason) => anyhow!(
            "{what}: {url} gave an unexpected answer{status_text}: {reason}. Check authority_url: \
             it must point at the Microsoft identity platform of graph_url's cloud."
        ),
    }
}

/// Advice shared by the device-code and refresh errors.
fn app_fix(code: &str, description: &str) -> Option<String> {
    if description.contains("AADSTS7000218") || description.contains("AADSTS700025") {
        return Some(
            "The app registration must allow public client flows: in Microsoft Entra admin \
             center, App registrations > the app > Authentication > Advanced settings, set \
             \"Allow public client flows\" to Yes. Do not set client_secret for delegated \
             sign-in."
                .to_owned(),
        );
    }
    let fix = match code {
        "invalid_client" | "unauthorized_client" => {
            "Check client_id and tenant_id: the app must be registered in this tenant (or \
             consented to by it) and allow public client flows."
        }
        "invalid_request" => {
            "Check tenant_id (a tenant GUID or domain) and client_id, and that authority_url \
             matches the cloud of graph_url."
        }
        "invalid_scope" => {
            "Check graph_url (or cloud): the scope must name the Graph host of the app's cloud, \
             and the app registration must list the delegated Microsoft Graph permission \
             Calendars.ReadWrite (or Calendars.ReadWrite.Shared for a shared mailbox)."
        }
        "consent_required" | "interaction_required" => {
            "The sign-in needs consent or another interactive step: run `calsync login`; if the \
             organisation requires it, an administrator must grant admin consent to the app's \
             delegated permissions."
        }
        _ => return None,
    };
    Some(fix.to_owned())
}

/// What `calsync login` did.
#[derive(Debug)]
pub struct LoginOutcome {
    pub account: String,
    pub store: String,
    pub permission: String,
    pub access_token_expires: DateTime<Utc>,
    pub refresh_token: bool,
}

/// Runs the device authorization grant and stores the sign-in.
///
/// `show` receives the instructions for the person signing in (the server's
/// message, or the verification URL and user code). Polls as the server asks
/// (`interval`, plus 5 s on each `slow_down`) until success, a terminal
/// error or the code's expiry. The caller races this with Ctrl-C.
pub async fn device_login(
    settings: &AuthConfig,
    http: &reqwest::Client,
    store: Arc<dyn TokenStore>,
    show: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<LoginOutcome> {
    let (Some(tenant), Some(client_id)) = (&settings.tenant_id, &settings.client_id) else {
        return Err(Failure::Config("tenant_id and client_id are required".into()).into());
    };
    let profile = Profile::of(settings)
        .ok_or_else(|| Failure::Config("tenant_id and client_id are required".into()))?;
    let device_url = device_code_endpoint(&settings.authority_url, tenant);
    let token_url = super::token_endpoint(&settings.authority_url, tenant);
    let client: PublicClient<EndpointSet> = oauth2::Client::new(ClientId::new(client_id.clone()))
        .set_token_uri(TokenUrl::from_url(token_url.clone()))
        .set_device_authorization_url(DeviceAuthorizationUrl::from_url(device_url.clone()));
    let scopes = login_scopes(settings);
    let oauth_http = OauthHttp::new(http.clone());
    let send = |r: oauth2::HttpRequest| oauth_http.send(r);

    tracing::debug!(endpoint = %device_url, scopes = %scopes.join(" "), "starting device sign-in");
    let details: DeviceAuthorizationResponse<DeviceMessage> = client
        .exchange_device_code()
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .request_async(&send)
        .await
        .map_err(|e| {
            describe(
                e,
                "Could not start the device sign-in",
                &device_url,
                oauth_http.status(),
                |code, description| {
                    app_fix(code, description).unwrap_or_else(|| {
                        "Check tenant_id, client_id and the app registration (public client \
                         flows allowed, delegated Calendars permissions)."
                            .to_owned()
                    })
                },
            )
        })?;

    let expires_in = details.expires_in();
    let instructions = match &details.extra_fields().message {
        Some(message) if !message.trim().is_empty() => message.trim().to_owned(),
        _ => format!(
            "To sign in, use a web browser to open the page {} and enter the code {} to \
             authenticate.",
            details.verification_uri().as_str(),
            details.user_code().secret()
        ),
    };
    show(&format!(
        "{instructions}\nVerification URL: {}\nCode: {}\nWaiting for the sign-in to complete \
         (the code expires in {} minutes; Ctrl-C cancels)…",
        details.verification_uri().as_str(),
        details.user_code().secret(),
        expires_in.as_secs().div_ceil(60)
    ));

    let sleep = |interval: Duration| {
        tracing::debug!(
            wait_s = interval.as_secs(),
            "sign-in not completed yet; polling the token endpoint again"
        );
        tokio::time::sleep(interval)
    };
    let started = Utc::now();
    let minutes = expires_in.as_secs().div_ceil(60);
    let token = client
        .exchange_device_access_token(&details)
        .request_async(&send, sleep, None)
        .await
        .map_err(|e| {
            describe(
                e,
                "Sign-in did not complete",
                &token_url,
                oauth_http.status(),
                |code, description| match code {
                    "expired_token" => format!(
                        "The code expired before the sign-in was completed. Run `calsync login` \
                         again and finish signing in within {minutes} minutes."
                    ),
                    "authorization_declined" | "access_denied" => {
                        "The sign-in was declined at the sign-in page. Run `calsync login` again \
                         and accept; if the organisation requires it, an administrator must \
                         first grant admin consent to the app's delegated Calendars permission."
                            .to_owned()
                    }
                    "bad_verification_code" => {
                        "The identity platform did not recognise the device code. Run `calsync \
                         login` again."
                            .to_owned()
                    }
                    _ => app_fix(code, description).unwrap_or_else(|| {
                        "Run `calsync login` again; if it keeps failing, check the app \
                         registration and tenant_id."
                            .to_owned()
                    }),
                },
            )
        })?;

    let access = token.access_token().secret().to_owned();
    let account = match account_of(&token) {
        Some(account) => account,
        None => lookup_account(settings, http, &access)
            .await
            .unwrap_or_else(|| "(unknown account)".to_owned()),
    };
    let lifetime = token
        .expires_in()
        .unwrap_or(Duration::from_secs(3599))
        .min(Duration::from_secs(24 * 3600));
    let expires =
        started + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1));
    let sign_in = SignIn {
        account: account.clone(),
        scopes: granted_scopes(&token, &scopes),
        refresh_token: token
            .refresh_token()
            .map(|t| SecretString::from(t.secret().to_owned())),
        access_token: Some(SecretString::from(access)),
        access_token_expires: Some(expires),
        updated: started,
    };
    let refresh_token = sign_in.refresh_token.is_some();
    let saver = Arc::clone(&store);
    tokio::task::spawn_blocking(move || saver.save(&profile, &sign_in))
        .await
        .map_err(|e| anyhow!("could not store the sign-in: {e}"))??;
    tracing::debug!(account = %account, store = %store.describe(), "stored the delegated sign-in");
    Ok(LoginOutcome {
        account,
        store: store.describe(),
        permission: calendar_permission(settings).to_owned(),
        access_token_expires: expires,
        refresh_token,
    })
}

/// The scopes the server granted (its `scope`, else those requested),
/// keeping `offline_access` for the record.
fn granted_scopes(token: &DelegatedTokenResponse, requested: &[String]) -> String {
    match token.scopes() {
        Some(granted) if !granted.is_empty() => {
            let mut all: Vec<String> = granted.iter().map(|s| s.to_string()).collect();
            if token.refresh_token().is_some() && !all.iter().any(|s| s == "offline_access") {
                all.push("offline_access".to_owned());
            }
            all.join(" ")
        }
        _ => requested.join(" "),
    }
}

/// The account name from the id token (`preferred_username`, else `upn`/`email`).
fn account_of(token: &DelegatedTokenResponse) -> Option<String> {
    let claims = jwt_claims(token.extra_fields().id_token.as_deref()?)?;
    ["preferred_username", "upn", "email"]
        .iter()
        .find_map(|k| claims.get(*k).and_then(|v| v.as_str()))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The account the access token names (`upn`, `preferred_username`, `unique_name`), else
/// `GET {graph}/me?$select=userPrincipalName` when the token grants `User.Read`
/// (calendar permissions alone get 403 there: `api-reference/v1.0/api/user-get.md`),
/// when the token response had no id token.
async fn lookup_account(
    settings: &AuthConfig,
    http: &reqwest::Client,
    token: &str,
) -> Option<String> {
    let claims = jwt_claims(token);
    if let Some(name) = claims.as_ref().and_then(|c| {
        ["upn", "preferred_username", "unique_name"]
            .iter()
            .find_map(|k| c.get(*k).and_then(|v| v.as_str()))
            .filter(|s| !s.is_empty())
    }) {
        return Some(name.to_owned());
    }
    let may_read_user = claims
        .as_ref()
        .and_then(|c| c.get("scp").and_then(|v| v.as_str()).map(str::to_owned))
        .is_some_and(|scp| {
            scp.split_whitespace().any(|s| {
                [
                    "User.Read",
                    "User.ReadBasic.All",
                    "User.Read.All",
                    "User.ReadWrite",
                ]
                .iter()
                .any(|p| s.eq_ignore_ascii_case(p))
            })
        });
    if !may_read_user {
        return None;
    }
    let url = format!("{}/me?$select=userPrincipalName", settings.graph_base());
    let response = http.get(url).bearer_auth(token).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body: serde_json::Value = response.json().await.ok()?;
    body.get("userPrincipalName")?.as_str().map(str::to_owned)
}

/// The delegated [`TokenSource`]: the stored access token while valid, else
/// a refresh whose rotated refresh token is stored before use.
pub struct DelegatedTokens {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    scopes: Vec<String>,
    profile: Profile,
    store: Arc<dyn TokenStore>,
    state: tokio::sync::Mutex<SignIn>,
}

impl fmt::Debug for DelegatedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelegatedTokens")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// When to stop reusing an access token: its expiry less the refresh margin
/// (at most half its lifetime).
fn refresh_at(sign_in: &SignIn) -> Option<DateTime<Utc>> {
    let expires = sign_in.access_token_expires?;
    let lifetime = (expires - sign_in.updated).max(chrono::Duration::zero());
    Some(expires - REFRESH_MARGIN.min(lifetime / 2))
}

impl DelegatedTokens {
    /// Loads the stored sign-in; none is a [`Failure::Auth`] that says to run
    /// `calsync login`.
    pub fn load(
        settings: &AuthConfig,
        http: &reqwest::Client,
        store: Arc<dyn TokenStore>,
    ) -> anyhow::Result<DelegatedTokens> {
        let (Some(tenant), Some(client_id), Some(profile)) = (
            &settings.tenant_id,
            &settings.client_id,
            Profile::of(settings),
        ) else {
            return Err(Failure::Config("tenant_id and client_id are required".into()).into());
        };
        let Some(sign_in) = store.load(&profile)? else {
            return Err(Failure::Auth(format!(
                "Not signed in, and no app secret is set. As a user (calsync signs in as one \
                 because `client_secret` is not set): {} holds no sign-in for {profile}; run \
                 `calsync login` once, as the user the scheduled runs run as, with the account \
                 that can reach the calendars. As the application: set CALSYNC_CLIENT_SECRET \
                 (or `client_secret` in the config file) to the app's client secret; no \
                 `calsync login` is needed then.",
                store.describe()
            ))
            .into());
        };
        Ok(DelegatedTokens {
            http: http.clone(),
            token_url: super::token_endpoint(&settings.authority_url, tenant),
            client_id: client_id.clone(),
            scopes: refresh_scopes(settings),
            profile,
            store,
            state: tokio::sync::Mutex::new(sign_in),
        })
    }

    /// The signed-in account.
    pub async fn account(&self) -> String {
        self.state.lock().await.account.clone()
    }

    async fn cached_or_refresh(&self, force_refresh: bool) -> anyhow::Result<SecretString> {
        let mut state = self.state.lock().await;
        if !force_refresh
            && let (Some(token), Some(at)) = (&state.access_token, refresh_at(&state))
            && Utc::now() < at
        {
            return Ok(token.clone());
        }
        let Some(refresh_token) = state.refresh_token.clone() else {
            return Err(Failure::Auth(format!(
                "The stored sign-in of {} has no refresh token, and its access token has \
                 expired. Run `calsync login` again.",
                state.account
            ))
            .into());
        };
        let refreshed = self.refresh(&state, &refresh_token).await?;
        // Stored before anyone uses the new access token.
        let store = Arc::clone(&self.store);
        let profile = self.profile.clone();
        let to_save = refreshed.clone();
        tokio::task::spawn_blocking(move || store.save(&profile, &to_save))
            .await
            .map_err(|e| anyhow!("could not store the refreshed sign-in: {e}"))?
            .map_err(|e| {
                e.context(
                    "The access token was refreshed, but the new refresh token could not be \
                     stored",
                )
            })?;
        tracing::debug!(
            account = %refreshed.account,
            store = %self.store.describe(),
            rotated = refreshed.refresh_token.as_ref().map(|t| t.expose_secret()) != Some(refresh_token.expose_secret()),
            "refreshed the delegated access token and stored the sign-in"
        );
        let token = refreshed
            .access_token
            .clone()
            .ok_or_else(|| anyhow!("the token endpoint returned no access token"))?;
        *state = refreshed;
        Ok(token)
    }

    async fn refresh(
        &self,
        current: &SignIn,
        refresh_token: &SecretString,
    ) -> anyhow::Result<SignIn> {
        let client: PublicClient<EndpointNotSet> =
            oauth2::Client::new(ClientId::new(self.client_id.clone()))
                .set_token_uri(TokenUrl::from_url(self.token_url.clone()));
        let oauth_http = OauthHttp::new(self.http.clone());
        let send = |r: oauth2::HttpRequest| oauth_http.send(r);
        let rt = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let started = Utc::now();
        let account = current.account.clone();
        let result = client
            .exchange_refresh_token(&rt)
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .request_async(&send)
            .await;
        let token = result.map_err(|e| {
            describe(
                e,
                &format!("Could not renew the sign-in of {account}"),
                &self.token_url,
                oauth_http.status(),
                |code, description| match code {
                    "invalid_grant" => format!(
                        "The stored sign-in is no longer valid (revoked, expired after 90 days \
                         unused, a password change, or it does not cover the calendar \
                         permission the configuration now needs). Run `calsync login` to sign \
                         in again as {account}."
                    ),
                    _ => app_fix(code, description)
                        .unwrap_or_else(|| "Run `calsync login` to sign in again.".to_owned()),
                },
            )
        })?;
        let lifetime = token
            .expires_in()
            .unwrap_or(Duration::from_secs(3599))
            .min(Duration::from_secs(24 * 3600));
        Ok(SignIn {
            account: current.account.clone(),
            scopes: match token.scopes() {
                Some(s) if !s.is_empty() => granted_scopes(&token, &self.scopes),
                _ => current.scopes.clone(),
            },
            // A response without a new refresh token leaves the old one in force.
            refresh_token: Some(
                token
                    .refresh_token()
                    .map(|t| SecretString::from(t.secret().to_owned()))
                    .unwrap_or_else(|| refresh_token.clone()),
            ),
            access_token: Some(SecretString::from(token.access_token().secret().to_owned())),
            access_token_expires: Some(
                started
                    + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1)),
            ),
            updated: started,
        })
    }
}

impl TokenSource for DelegatedTokens {
    fn token(&self, force_refresh: bool) -> TokenFuture<'_> {
        Box::pin(self.cached_or_refresh(force_refresh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::store::KeyringStore;
    use fakegraph::{DevicePoll, FakeGraph};

    const TENANT: &str = "contoso";
    const CLIENT: &str = "public-app";

    fn settings(fake: &FakeGraph, dir: &std::path::Path, extra: &[(&str, &str)]) -> AuthConfig {
        let mut vars: Vec<(String, String)> = vec![
            ("CALSYNC_TENANT_ID".into(), TENANT.into()),
            ("CALSYNC_CLIENT_ID".into(), CLIENT.into()),
            ("CALSYNC_GRAPH_URL".into(), fake.graph_url()),
            ("CALSYNC_AUTHORITY_URL".into(), fake.authority_url()),
            ("CALSYNC_STATE_DIR".into(), dir.display().to_string()),
            (
                "CALSYNC_CONFIG".into(),
                dir.join("c.toml").display().to_string(),
            ),
        ];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("c.toml"), "").unwrap();
        let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        AuthConfig::from(&crate::config::load(&Default::default(), &env).unwrap())
    }

    fn fake() -> FakeGraph {
        let fake = FakeGraph::start();
        fake.allow_public_client_flows(TENANT, CLIENT);
        fake.add_user("ada@contoso.example");
        fake.set_device_code_interval(0);
        fake
    }

    fn http() -> reqwest::Client {
        crate::graph::client::http_client(Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn scopes_follow_the_mailboxes_and_the_cloud() {
        let fake = fake();
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&fake, dir.path(), &[]);
        assert_eq!(calendar_permission(&s), "Calendars.ReadWrite");
        let s = settings(
            &fake,
            dir.path(),
            &[("CALSYNC_MAILBOX", "events@contoso.example")],
        );
        assert_eq!(calendar_permission(&s), "Calendars.ReadWrite.Shared");
        let s = settings(
            &fake,
            dir.path(),
            &[("CALSYNC_TARGET_MAILBOX", "public@contoso.example")],
        );
        assert_eq!(calendar_permission(&s), "Calendars.ReadWrite.Shared");
        let s = AuthConfig {
            graph_url: Url::parse("https://graph.microsoft.us/v1.0").unwrap(),
            ..s
        };
        assert_eq!(
            login_scopes(&s),
            [
                "offline_access",
                "openid",
                "profile",
                "https://graph.microsoft.us/Calendars.ReadWrite.Shared"
            ]
        );
        assert_eq!(
            device_code_endpoint(
                &Url::parse("https://login.microsoftonline.us").unwrap(),
                "t"
            )
            .as_str(),
            "https://login.microsoftonline.us/t/oauth2/v2.0/devicecode"
        );
    }

    /// The whole delegated path through the keyring crate's mock store: login
    /// stores the sign-in, a later source reuses the access token, refreshes
    /// with rotation (stored at once), and a revoked sign-in is exit 3.
    #[tokio::test]
    async fn login_refresh_and_revocation_through_the_mock_keyring() {
        let fake = fake();
        fake.set_strict_refresh_rotation(true);
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&fake, dir.path(), &[("CALSYNC_TOKEN_STORE", "keyring")]);
        let mock: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
        let store: Arc<dyn TokenStore> = Arc::new(KeyringStore::new(mock, &s));
        fake.script_device_flow(
            "ada@contoso.example",
            &[
                DevicePoll::Pending,
                DevicePoll::Pending,
                DevicePoll::Approve,
            ],
        );
        let shown = std::sync::Mutex::new(String::new());
        let outcome = device_login(&s, &http(), Arc::clone(&store), &|t: &str| {
            shown.lock().unwrap().push_str(t)
        })
        .await
        .unwrap();
        assert_eq!(outcome.account, "ada@contoso.example");
        assert!(outcome.refresh_token);
        let shown = shown.into_inner().unwrap();
        assert!(
            shown.contains("https://microsoft.com/devicelogin"),
            "{shown}"
        );
        assert!(shown.contains("enter the code"), "{shown}");
        assert!(!dir.path().join("tokens.json").exists());

        let profile = Profile::of(&s).unwrap();
        let stored = store.load(&profile).unwrap().unwrap();
        let first_rt = stored.refresh_token.clone().unwrap();

        // A run right after login uses the stored access token: no token request.
        fake.clear_requests();
        let source = DelegatedTokens::load(&s, &http(), Arc::clone(&store)).unwrap();
        let t = source.token(false).await.unwrap();
        assert_eq!(
            t.expose_secret(),
            stored.access_token.unwrap().expose_secret()
        );
        assert!(fake.requests().is_empty());

        // Forced refresh (Graph said 401): the rotated refresh token is stored.
        source.token(true).await.unwrap();
        let after = store.load(&profile).unwrap().unwrap();
        let second_rt = after.refresh_token.unwrap();
        assert_ne!(second_rt.expose_secret(), first_rt.expose_secret());
        assert_eq!(
            fake.refresh_tokens_presented(),
            [first_rt.expose_secret().to_string()]
        );
        // A new run picks up the rotated token (the old one no longer works).
        let source = DelegatedTokens::load(&s, &http(), Arc::clone(&store)).unwrap();
        source.token(true).await.unwrap();
        assert_eq!(
            fake.refresh_tokens_presented().last().map(String::as_str),
            Some(second_rt.expose_secret())
        );

        fake.revoke_refresh_tokens();
        let err = source.token(true).await.unwrap_err();
        let failure = err.downcast_ref::<Failure>().expect("an auth failure");
        assert_eq!(failure.exit_code(), 3);
        let msg = failure.to_string();
        assert!(msg.contains("invalid_grant"), "{msg}");
        assert!(msg.contains("calsync login"), "{msg}");
        assert!(msg.contains("AADSTS50173"), "{msg}");
        for secret in fake.issued_tokens() {
            assert!(!msg.contains(&secret), "{msg}");
        }
    }

    #[tokio::test]
    async fn no_stored_sign_in_says_to_log_in() {
        let fake = fake();
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&fake, dir.path(), &[("CALSYNC_TOKEN_STORE", "file")]);
        let store = super::super::store::open(&s).unwrap();
        let err = DelegatedTokens::load(&s, &http(), store).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.downcast_ref::<Failure>().unwrap().exit_code(), 3);
        assert!(
            msg.contains("Not signed in") && msg.contains("calsync login"),
            "{msg}"
        );
    }

    #[test]
    fn refresh_margin_is_at_most_half_the_lifetime() {
        let now = Utc::now();
        let s = |lifetime: i64| SignIn {
            account: "a".into(),
            scopes: String::new(),
            refresh_token: None,
            access_token: None,
            access_token_expires: Some(now + chrono::Duration::seconds(lifetime)),
            updated: now,
        };
        assert_eq!(
            refresh_at(&s(3600)).unwrap(),
            now + chrono::Duration::seconds(3300)
        );
        assert_eq!(
            refresh_at(&s(4)).unwrap(),
            now + chrono::Duration::seconds(2)
        );
    }

    #[test]
    fn jwt_claims_reads_the_payload() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"none"}"#),
            enc(r#"{"roles":["Calendars.ReadWrite"],"preferred_username":"a@b"}"#)
        );
        let claims = jwt_claims(&token).unwrap();
        assert_eq!(claims["roles"][0], "Calendars.ReadWrite");
        assert!(jwt_claims("opaque-token").is_none());
    }
}
