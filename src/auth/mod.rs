//! Access tokens for Microsoft Graph.
//!
//! Every Graph request asks a [`TokenSource`] for its bearer token. App-only
//! authentication ([`ClientCredentials`]) runs the OAuth 2.0 client-credentials
//! grant against `{authority_url}/{tenant}/oauth2/v2.0/token` and keeps the
//! token in memory until shortly before it expires. It is never written
//! anywhere: the app secret obtains a new one in one request, so a stored
//! copy would only be a bearer credential, valid for an hour, lying in a
//! file, a keyring or a CI cache. App-only runs therefore need no token store
//! at all. Delegated authentication
//! ([`delegated::DelegatedTokens`], used when no client_secret is set) redeems
//! the refresh token that `calsync login` stored ([`store`]). Token requests
//! travel over the same `reqwest::Client` as Graph requests (one HTTP stack,
//! one set of timeouts, redirects never followed).
//!
//! Secrets and tokens are [`SecretString`]s: they appear in no log line, error
//! message or `Debug` output.

pub mod delegated;
pub mod store;

use crate::config::TokenStore as TokenStoreKind;
use crate::error::Failure;
pub(crate) use crate::text::{error_chain_text, truncate_chars};
use anyhow::anyhow;
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use url::Url;

/// What signing in to Graph needs to know: the app registration, where
/// tokens are obtained and kept, and the mailboxes (the permission asked
/// depends on whose calendars they are). Built from the settings by the
/// caller (`From<&Settings>`, next to where runs open their sides), so that
/// sign-in does not depend on the whole configuration.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    /// Set for app-only access; absent for the delegated sign-in.
    pub client_secret: Option<SecretString>,
    pub authority_url: Url,
    pub graph_url: Url,
    pub token_store: TokenStoreKind,
    /// Where the token file lives (token_store = "file").
    pub state_dir: PathBuf,
    /// The source mailbox; `None`: the signed-in user's own.
    pub mailbox: Option<String>,
    /// The target mailbox; `None`: the source mailbox.
    pub target_mailbox: Option<String>,
}

impl AuthConfig {
    /// The source mailbox, `me` when it is the signed-in user's own.
    pub fn mailbox_or_me(&self) -> &str {
        self.mailbox.as_deref().unwrap_or("me")
    }

    /// The target mailbox: `target_mailbox`, else the source mailbox.
    pub fn target_mailbox_or_source(&self) -> &str {
        self.target_mailbox
            .as_deref()
            .unwrap_or_else(|| self.mailbox_or_me())
    }

    /// [`AuthConfig::graph_url`] with no trailing slash.
    pub fn graph_base(&self) -> &str {
        self.graph_url.as_str().trim_end_matches('/')
    }

    /// [`AuthConfig::authority_url`] with no trailing slash.
    pub fn authority_base(&self) -> &str {
        self.authority_url.as_str().trim_end_matches('/')
    }
}

/// The future a [`TokenSource`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<SecretString>> + Send + 'a>>;

/// Something that hands out bearer tokens for Graph.
///
/// `force_refresh` asks for a new token even when a cached one looks valid
/// (Graph answered 401 to the cached one). A failure whose cause is the
/// sign-in itself carries [`Failure::Auth`] in its chain (exit 3).
pub trait TokenSource: Send + Sync {
    fn token(&self, force_refresh: bool) -> TokenFuture<'_>;
}

/// A fixed token, e.g. one obtained elsewhere. Refreshing returns it again.
pub struct StaticToken(SecretString);

impl StaticToken {
    pub fn new(token: SecretString) -> Self {
        StaticToken(token)
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken([redacted])")
    }
}

impl TokenSource for StaticToken {
    fn token(&self, _force_refresh: bool) -> TokenFuture<'_> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}

/// Refresh a cached token this long before it expires (at most half its lifetime).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Lifetime assumed when the token response names none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3599);
/// Longest lifetime believed, whatever the server says.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Longest server-supplied description quoted in an error.
const MAX_DESCRIPTION: usize = 600;

struct CachedToken {
    token: SecretString,
    /// When to stop reusing it (expiry minus the refresh margin).
    refresh_at: Instant,
    expires_at: Instant,
}

/// App-only authentication: the OAuth 2.0 client-credentials grant.
pub struct ClientCredentials {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    scope: String,
    cache: tokio::sync::Mutex<Option<CachedToken>>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// `authority_url` is e.g. `https://login.microsoftonline.com`; the scope
    /// requested is the Graph origin of `graph_url` plus `/.default`.
    pub fn new(
        http: reqwest::Client,
        authority_url: &Url,
        tenant: &str,
        client_id: &str,
        client_secret: SecretString,
        graph_url: &Url,
    ) -> Self {
        ClientCredentials {
            http,
            token_url: token_endpoint(authority_url, tenant),
            client_id: client_id.to_owned(),
            client_secret,
            scope: default_scope(graph_url),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The token endpoint used.
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// The scope requested (`https://graph.microsoft.com/.default` for the global cloud).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// When the cached token expires, if one is cached.
    pub async fn expires_at(&self) -> Option<Instant> {
        self.cache.lock().await.as_ref().map(|c| c.expires_at)
    }

    async fn cached_or_fetch(&self, force_refresh: bool) -> anyhow::Result<SecretString> {
        let mut cache = self.cache.lock().await;
        if !force_refresh
            && let Some(cached) = cache.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        let fetched = self.fetch().await?;
        let token = fetched.token.clone();
        *cache = Some(fetched);
        Ok(token)
    }

    async fn fetch(&self) -> anyhow::Result<CachedToken> {
        let token_url = TokenUrl::from_url(self.token_url.clone());
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url);

        let oauth_http = OauthHttp::new(self.http.clone());
        let send = |request: oauth2::HttpRequest| oauth_http.send(request);

        let started = Instant::now();
        let result: Result<BasicTokenResponse, _> = client
            .exchange_client_credentials()
            .add_scope(Scope::new(self.scope.clone()))
            .request_async(&send)
            .await;
        let status = oauth_http.status();

        match result {
            Ok(response) => {
                let lifetime = response
                    .expires_in()
                    .unwrap_or(DEFAULT_LIFETIME)
                    .min(MAX_LIFETIME);
                let margin = REFRESH_MARGIN.min(lifetime / 2);
                let token = SecretString::from(response.access_token().secret().to_owned());
                tracing::debug!(
                    token_url = %self.token_url,
                    expires_in_s = lifetime.as_secs(),
                    "obtained an app-only access token"
                );
                Ok(CachedToken {
                    token,
                    refresh_at: started + lifetime.saturating_sub(margin),
                    expires_at: started + lifetime,
                })
            }
            Err(err) => Err(self.describe_error(err, status)),
        }
    }

    fn describe_error(
        &self,
        err: RequestTokenError<TokenHttpError, BasicErrorResponse>,
        status: Option<u16>,
    ) -> anyhow::Error {
        let url = self.token_url.as_str();
        let status_text = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
        match err {
            RequestTokenError::ServerResponse(resp) => {
                let code = resp.error().as_ref().to_owned();
                let description = resp
                    .error_description()
                    .map(|d| self.clean_description(d))
                    .unwrap_or_else(|| "no description given".to_owned());
                if code == "temporarily_unavailable" || status.is_some_and(|s| s >= 500) {
                    return anyhow!(
                        "The token endpoint {url} is unavailable{status_text} ({code}: {description}). \
                         Try again later; if it persists, check authority_url and the service status."
                    );
                }
                let fix = match resp.error() {
                    BasicErrorResponseType::InvalidClient => {
                        "Check client_id and client_secret: the secret may be wrong or expired \
                         (use the secret's value, not its ID), or the app registration may be missing \
                         from this tenant."
                    }
                    BasicErrorResponseType::UnauthorizedClient => {
                        "Check client_id and tenant_id: the app must be registered in (or consented to by) \
                         this tenant and allowed to use the client-credentials grant."
                    }
                    BasicErrorResponseType::InvalidRequest => {
                        "Check tenant_id (a tenant GUID or domain, not `common`) and client_id, and that \
                         authority_url matches the cloud of graph_url."
                    }
                    BasicErrorResponseType::InvalidScope => {
                        "Check graph_url (or cloud): the scope must name the Graph host of the app's \
                         cloud, and the app needs the application permission Calendars.ReadWrite with \
                         admin consent."
                    }
                    BasicErrorResponseType::InvalidGrant => {
                        "Check tenant_id, client_id and client_secret, and that an administrator has \
                         granted admin consent to the app."
                    }
                    BasicErrorResponseType::UnsupportedGrantType => {
                        "Check authority_url: it must point at a Microsoft identity platform (v2.0) \
                         endpoint."
                    }
                    BasicErrorResponseType::Extension(_) => {
                        "Check tenant_id, client_id and client_secret, and that an administrator has \
                         granted admin consent for the app's Calendars.ReadWrite application permission."
                    }
                };
                anyhow::Error::new(Failure::Auth(format!(
                    "The token endpoint {url} refused the app's client credentials{status_text} \
                     ({code}: {description}). {fix}"
                )))
            }
            RequestTokenError::Request(e) => {
                let what = if e.0.is_timeout() {
                    "timed out"
                } else if e.0.is_connect() {
                    "could not connect"
                } else {
                    "failed"
                };
                anyhow!(
                    "Could not get an access token: the request to the token endpoint {url} {what} ({}). \
                     Check authority_url and the network connection.",
                    error_chain_text(&e.0)
                )
            }
            // The raw body is never quoted: a successful answer holds the token.
            RequestTokenError::Parse(e, _body) => anyhow!(
                "The token endpoint {url} gave an answer that is not an OAuth token response{status_text} \
                 (at `{}`: {:?} error). Check authority_url: it must point at the Microsoft identity \
                 platform of graph_url's cloud.",
                e.path(),
                e.inner().classify()
            ),
            RequestTokenError::Other(reason) => anyhow!(
                "The token endpoint {url} gave an unexpected answer{status_text}: {reason}. Check \
                 authority_url: it must point at the Microsoft identity platform of graph_url's cloud."
            ),
        }
    }

    /// One line, bounded, and never holding the secret (Entra never echoes it; be sure).
    fn clean_description(&self, description: &str) -> String {
        let mut text = description.split_whitespace().collect::<Vec<_>>().join(" ");
        let secret = self.client_secret.expose_secret();
        if !secret.is_empty() {
            text = text.replace(secret, "[redacted]");
        }
        truncate_chars(&text, MAX_DESCRIPTION)
    }
}

impl TokenSource for ClientCredentials {
    fn token(&self, force_refresh: bool) -> TokenFuture<'_> {
        Box::pin(self.cached_or_fetch(force_refresh))
    }
}

/// `{authority_url}/{tenant}/oauth2/v2.0/token`, the tenant as one path segment.
pub fn token_endpoint(authority_url: &Url, tenant: &str) -> Url {
    let mut url = authority_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .extend([tenant, "oauth2", "v2.0", "token"]);
    }
    url
}

/// `{scheme}://{host[:port]}/.default` of the Graph URL.
pub fn default_scope(graph_url: &Url) -> String {
    format!("{}/.default", graph_url.origin().ascii_serialization())
}

/// The HTTP function handed to oauth2: calsync's one reqwest client, noting
/// the status of the last answer (for error messages).
pub(crate) struct OauthHttp {
    http: reqwest::Client,
    last_status: Arc<StdMutex<Option<u16>>>,
}

impl OauthHttp {
    pub(crate) fn new(http: reqwest::Client) -> OauthHttp {
        OauthHttp {
            http,
            last_status: Arc::new(StdMutex::new(None)),
        }
    }

    /// The status of the last answer, if one came.
    pub(crate) fn status(&self) -> Option<u16> {
        self.last_status.lock().ok().and_then(|s| *s)
    }

    pub(crate) fn send(
        &self,
        request: oauth2::HttpRequest,
    ) -> impl Future<Output = Result<oauth2::HttpResponse, TokenHttpError>> + Send + 'static {
        let http = self.http.clone();
        let status_slot = Arc::clone(&self.last_status);
        async move {
            let request = reqwest::Request::try_from(request).map_err(TokenHttpError)?;
            let response = http.execute(request).await.map_err(TokenHttpError)?;
            let status = response.status();
            if let Ok(mut slot) = status_slot.lock() {
                *slot = Some(status.as_u16());
            }
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(TokenHttpError)?;
            let mut built = http::Response::new(body.to_vec());
            *built.status_mut() = status;
            *built.headers_mut() = headers;
            Ok(built)
        }
    }
}

/// The error type of the HTTP closure handed to oauth2.
#[derive(Debug)]
pub(crate) struct TokenHttpError(pub(crate) reqwest::Error);

impl fmt::Display for TokenHttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for TokenHttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// What `status` shows about sign-in; never a token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuthState {
    /// `client_credentials`, `delegated` or `none`.
    pub method: String,
    /// The signed-in account (user principal name), when known.
    pub account: Option<String>,
    /// The token store a sign-in as a user keeps its tokens in, `keyring`
    /// or `file`; none for app-only access, which keeps no token.
    pub token_store: Option<String>,
    /// Where the tokens are: the keyring's name or the token file's path
    /// (delegated sign-in only).
    pub token_location: Option<String>,
    /// When the stored access token expires, when one is stored.
    pub access_token_expires: Option<chrono::DateTime<chrono::Utc>>,
    pub refresh_token_present: bool,
    /// The delegated permissions granted at sign-in (space-separated scopes).
    pub scopes: Option<String>,
    /// A sentence for the operator, e.g. what to run to sign in.
    pub note: Option<String>,
}

/// Describes the sign-in state without any network request (the keyring is
/// asked, the token file read).
pub fn auth_state(settings: &AuthConfig) -> AuthState {
    let token_store = Some(settings.token_store.as_str().to_string());
    if settings.client_secret.is_some() {
        return AuthState {
            method: "client_credentials".into(),
            account: None,
            token_store: None,
            token_location: None,
            access_token_expires: None,
            refresh_token_present: false,
            scopes: None,
            note: Some(
                "app-only access with client_secret: each run obtains a new access token and \
                 keeps it in memory only, so no token store is used"
                    .into(),
            ),
        };
    }
    let mut state = AuthState {
        method: "none".into(),
        account: None,
        token_store,
        token_location: None,
        access_token_expires: None,
        refresh_token_present: false,
        scopes: None,
        note: None,
    };
    let Some(profile) = store::Profile::of(settings) else {
        state.note = Some("tenant_id and client_id are not set".into());
        return state;
    };
    let loaded = store::open(settings).and_then(|s| {
        state.token_location = Some(s.describe());
        s.load(&profile)
    });
    match loaded {
        Ok(Some(sign_in)) => {
            let now = chrono::Utc::now();
            state.method = "delegated".into();
            state.refresh_token_present = sign_in.refresh_token.is_some();
            state.access_token_expires = sign_in.access_token_expires;
            state.scopes = Some(sign_in.scopes.clone());
            state.note = match (state.refresh_token_present, sign_in.access_token_expires) {
                (true, Some(t)) if t <= now => {
                    Some("access token expired; the next run renews it with the refresh token".into())
                }
                (false, Some(t)) if t > now => Some(
                    "no refresh token: sign-in lapses when the access token expires; run `calsync login`"
                        .into(),
                ),
                (false, _) => Some("no refresh token: run `calsync login`".into()),
                _ => None,
            };
            state.account = Some(sign_in.account);
        }
        Ok(None) => {
            state.note = Some(
                "not signed in: run `calsync login` (or set CALSYNC_CLIENT_SECRET for app-only \
                 access)"
                    .into(),
            );
        }
        Err(e) => state.note = Some(format!("{e:#}")),
    }
    state
}

/// Builds the token source the settings call for: app-only with
/// client_secret, else the delegated sign-in `calsync login` stored (its
/// absence is a [`Failure::Auth`], before any Graph request).
pub fn token_source(
    settings: &AuthConfig,
    http: &reqwest::Client,
) -> anyhow::Result<Arc<dyn TokenSource>> {
    let (Some(tenant), Some(client_id)) = (&settings.tenant_id, &settings.client_id) else {
        // require_graph() has already checked these; keep the message anyway.
        return Err(Failure::Config("tenant_id and client_id are required".into()).into());
    };
    match &settings.client_secret {
        Some(secret) => {
            // Nothing is read from or written to the token store: app-only
            // access tokens are never persisted. A token file an earlier
            // version left with one in it loses it.
            if settings.token_store == TokenStoreKind::File {
                store::FileStore::new(&settings.state_dir).drop_app_tokens();
            }
            Ok(Arc::new(ClientCredentials::new(
                http.clone(),
                &settings.authority_url,
                tenant,
                client_id,
                secret.clone(),
                &settings.graph_url,
            )))
        }
        None => {
            let store = store::open(settings).map_err(no_store_and_no_secret)?;
            Ok(Arc::new(delegated::DelegatedTokens::load(
                settings, http, store,
            )?))
        }
    }
}

/// What to do when the token store of a user sign-in cannot even be opened
/// (no keyring on this machine) and no app secret is set either: both ways
/// of signing in, and what each lacks. Other failures pass unchanged.
fn no_store_and_no_secret(err: anyhow::Error) -> anyhow::Error {
    let Some(Failure::Auth(why)) = err.downcast_ref::<Failure>() else {
        return err;
    };
    let mut chars = why.chars();
    let why: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    Failure::Auth(format!(
        "No sign-in is available. As a user (calsync signs in as one because `client_secret` \
         is not set): {why} As the application: set CALSYNC_CLIENT_SECRET (or `client_secret` \
         in the config file) to the app's client secret; no `calsync login` is needed then."
    ))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use std::sync::atomic::{AtomicUsize, Ordering};

    type Reply = (StatusCode, &'static str);

    #[derive(Clone)]
    struct Fake {
        hits: Arc<AtomicUsize>,
        bodies: Arc<StdMutex<Vec<String>>>,
        reply: Reply,
    }

    async fn token(State(s): State<Fake>, body: String) -> impl IntoResponse {
        s.hits.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut b) = s.bodies.lock() {
            b.push(body);
        }
        (
            s.reply.0,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )],
            s.reply.1,
        )
    }

    async fn serve(reply: Reply) -> (Url, Fake) {
        let fake = Fake {
            hits: Arc::new(AtomicUsize::new(0)),
            bodies: Arc::new(StdMutex::new(Vec::new())),
            reply,
        };
        let app = axum::Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Url::parse(&format!("http://{addr}")).unwrap(), fake)
    }

    fn creds(authority: &Url) -> ClientCredentials {
        ClientCredentials::new(
            crate::graph::client::http_client(Duration::from_secs(5)).unwrap(),
            authority,
            "contoso.example",
            "app-id",
            SecretString::from("s3cret-value".to_owned()),
            &Url::parse("https://graph.microsoft.com/v1.0").unwrap(),
        )
    }

    const OK: &str = r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"tok-123"}"#;

    #[test]
    fn endpoint_and_scope() {
        let a = Url::parse("https://login.microsoftonline.com/").unwrap();
        assert_eq!(
            token_endpoint(&a, "contoso.onmicrosoft.com").as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        let a = Url::parse("http://127.0.0.1:9/auth").unwrap();
        assert_eq!(
            token_endpoint(&a, "t/x").as_str(),
            "http://127.0.0.1:9/auth/t%2Fx/oauth2/v2.0/token"
        );
        let g = Url::parse("https://graph.microsoft.us/v1.0").unwrap();
        assert_eq!(default_scope(&g), "https://graph.microsoft.us/.default");
        let g = Url::parse("http://127.0.0.1:8080/v1.0").unwrap();
        assert_eq!(default_scope(&g), "http://127.0.0.1:8080/.default");
    }

    #[tokio::test]
    async fn token_is_cached_and_force_refresh_bypasses_cache() {
        let (url, fake) = serve((StatusCode::OK, OK)).await;
        let c = creds(&url);
        let t1 = c.token(false).await.unwrap();
        let t2 = c.token(false).await.unwrap();
        assert_eq!(t1.expose_secret(), "tok-123");
        assert_eq!(t2.expose_secret(), "tok-123");
        assert_eq!(fake.hits.load(Ordering::SeqCst), 1);
        c.token(true).await.unwrap();
        assert_eq!(fake.hits.load(Ordering::SeqCst), 2);
        let body = fake.bodies.lock().unwrap()[0].clone();
        assert!(body.contains("grant_type=client_credentials"), "{body}");
        assert!(body.contains("client_id=app-id"), "{body}");
        assert!(body.contains("client_secret=s3cret-value"), "{body}");
        assert!(
            body.contains("scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"),
            "{body}"
        );
        assert!(c.expires_at().await.is_some());
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn short_lived_token_is_still_reused() {
        let (url, fake) = serve((
            StatusCode::OK,
            r#"{"token_type":"Bearer","expires_in":60,"access_token":"t"}"#,
        ))
        .await;
        let c = creds(&url);
        c.token(false).await.unwrap();
        c.token(false).await.unwrap();
        assert_eq!(fake.hits.load(Ordering::SeqCst), 1);
    }

    fn auth_message(err: &anyhow::Error) -> Option<String> {
        err.chain()
            .find_map(|e| e.downcast_ref::<Failure>())
            .map(|f| match f {
                Failure::Auth(m) => m.clone(),
                other => panic!("unexpected failure kind {other:?}"),
            })
    }

    #[tokio::test]
    async fn token_endpoint_errors_are_auth_failures() {
        let cases = [
            (
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: abc","error_codes":[7000215]}"#,
                "AADSTS7000215",
                "client_secret",
            ),
            (
                r#"{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier 'app-id' was not found in the directory."}"#,
                "AADSTS700016",
                "client_id",
            ),
            (
                r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'contoso.example' not found."}"#,
                "AADSTS90002",
                "tenant_id",
            ),
            (
                r#"{"error":"invalid_scope","error_description":"AADSTS1002012: The provided value for scope is not valid."}"#,
                "AADSTS1002012",
                "admin consent",
            ),
        ];
        for (body, code, fix) in cases {
            let (url, _fake) = serve((StatusCode::BAD_REQUEST, body)).await;
            let err = creds(&url).token(false).await.unwrap_err();
            let msg = auth_message(&err).unwrap_or_else(|| panic!("not an auth failure: {err:#}"));
            assert!(msg.contains(code), "{msg}");
            assert!(msg.contains(fix), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
            assert!(!format!("{err:#}").contains("s3cret"), "{err:#}");
        }
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_not_an_auth_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let url = Url::parse(&format!("http://{addr}")).unwrap();
        let err = creds(&url).token(false).await.unwrap_err();
        assert!(auth_message(&err).is_none(), "{err:#}");
        let msg = format!("{err:#}");
        assert!(msg.contains(&addr.to_string()), "{msg}");
        assert!(msg.contains("authority_url"), "{msg}");
    }

    #[tokio::test]
    async fn garbage_answer_is_not_quoted() {
        let (url, _fake) = serve((
            StatusCode::OK,
            r#"{"token_type":"Bearer","expires_in":"soon","access_token":"tok-secret"}"#,
        ))
        .await;
        let err = creds(&url).token(false).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(auth_message(&err).is_none(), "{msg}");
        assert!(!msg.contains("tok-secret"), "{msg}");
        assert!(msg.contains("not an OAuth token response"), "{msg}");
    }

    #[tokio::test]
    async fn server_error_is_not_an_auth_failure() {
        let (url, _fake) = serve((
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"temporarily_unavailable","error_description":"AADSTS90033: busy"}"#,
        ))
        .await;
        let err = creds(&url).token(false).await.unwrap_err();
        assert!(auth_message(&err).is_none(), "{err:#}");
        assert!(format!("{err:#}").contains("AADSTS90033"));
    }
}
