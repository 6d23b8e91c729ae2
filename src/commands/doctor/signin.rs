//! Sign-in and permissions: a token obtained the way `sync` obtains one,
//! and what its claims say it may do, against what this configuration needs.
//!
//! The token's claims are decoded only to be read (nothing is verified, and
//! Graph is the judge of what it allows); the token itself is never shown.
//! Claims follow the identity platform's access tokens
//! (`docs/identity-platform/access-token-claims-reference.md` in
//! MicrosoftDocs/entra-docs): `roles` holds the application permissions of
//! an app-only token, `scp` the space-separated delegated permissions of a
//! user's token, `tid` the tenant, `aud` the resource, `exp` the expiry.

use super::report::{Cause, Check, Item, split_message};
use crate::auth::delegated::{calendar_permission, jwt_claims};
use crate::auth::{AuthConfig, TokenSource, token_source};
use crate::config::{Kind, Settings};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::sync::Arc;

/// The audience of Graph tokens when it is named by the application id of
/// Microsoft Graph rather than by its URL.
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// What an access token's claims say (never the token).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    /// Application permissions (`roles`).
    pub roles: Vec<String>,
    /// Delegated permissions (`scp`), short names.
    pub scopes: Vec<String>,
    pub tenant: Option<String>,
    pub audience: Option<String>,
    pub expires: Option<DateTime<Utc>>,
    /// The signed-in account of a delegated token.
    pub account: Option<String>,
}

impl Claims {
    pub fn of(v: &Value) -> Claims {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Claims {
            roles: v
                .get("roles")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(short_name).collect())
                .unwrap_or_default(),
            scopes: text("scp")
                .map(|s| s.split_whitespace().map(short_name).collect())
                .unwrap_or_default(),
            tenant: text("tid"),
            audience: text("aud"),
            expires: v
                .get("exp")
                .and_then(Value::as_i64)
                .and_then(|t| DateTime::from_timestamp(t, 0)),
            account: text("upn")
                .or_else(|| text("preferred_username"))
                .or_else(|| text("unique_name")),
        }
    }
}

/// `https://graph.microsoft.com/Calendars.ReadWrite` → `Calendars.ReadWrite`.
fn short_name(p: &str) -> String {
    p.rsplit('/').next().unwrap_or(p).to_owned()
}

/// The outcome of signing in.
pub struct SignIn {
    pub checks: Vec<Check>,
    /// The token source for every later request, when a token was had.
    pub tokens: Option<Arc<dyn TokenSource>>,
    /// What the token says, when it could be read.
    pub claims: Option<Claims>,
}

/// Obtains a token as `sync` does (app secret, or the stored sign-in of
/// `calsync login`), and checks what it carries.
///
/// The token is a fresh one, not one cached by an earlier run: a permission
/// an administrator granted a minute ago shows only in a new token, and a
/// revoked secret or sign-in shows only when it is used. The new token is
/// kept where `sync` keeps its tokens, so the next sync uses it.
pub async fn sign_in(settings: &Settings, http: &reqwest::Client) -> SignIn {
    let app_only = settings.uses_client_credentials();
    let obtained = match token_source(&AuthConfig::from(settings), http) {
        Ok(tokens) => match tokens.token(true).await {
            Ok(token) => Ok((tokens, token)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (tokens, token) = match obtained {
        Ok(t) => t,
        Err(e) => {
            let cause = Cause::of(&e);
            let (finding, fix) = split_message(&format!("{e:#}"));
            let fix = fix.unwrap_or_else(|| {
                if app_only {
                    "Check client_id, client_secret and tenant_id against the app registration \
                     in Microsoft Entra admin center."
                        .to_owned()
                } else {
                    "Run `calsync login` to sign in again.".to_owned()
                }
            });
            return SignIn {
                checks: vec![Check::fail(Item::SignIn, cause, finding, fix)],
                tokens: None,
                claims: None,
            };
        }
    };
    let claims = jwt_claims(token.expose_secret()).map(|v| Claims::of(&v));
    drop(token);
    let mut checks = vec![token_check(settings, claims.as_ref())];
    match &claims {
        Some(c) => {
            checks.push(permissions(settings, c));
            checks.push(optional_permissions(app_only, c));
        }
        None => checks.push(Check::warn(
            Item::Permissions,
            "the access token's claims cannot be read, so its permissions were not checked",
            "Nothing to change if the calendar checks below pass; otherwise check that graph_url \
             (or cloud) names Microsoft Graph of the app's cloud.",
        )),
    }
    SignIn {
        checks,
        tokens: Some(tokens),
        claims,
    }
}

/// The token: whose, for which tenant and resource, until when.
fn token_check(settings: &Settings, claims: Option<&Claims>) -> Check {
    let app_only = settings.uses_client_credentials();
    let method = if app_only {
        "client_credentials"
    } else {
        "delegated"
    };
    let Some(c) = claims else {
        return Check::ok(
            Item::SignIn,
            if app_only {
                "obtained an app-only access token with client_secret"
            } else {
                "obtained an access token with the stored sign-in of `calsync login`"
            },
        )
        .with_details(json!({ "method": method }));
    };
    let who = if app_only {
        format!(
            "app-only token of client_id {}",
            settings.client_id.as_deref().unwrap_or("?")
        )
    } else {
        format!(
            "delegated token of {}",
            c.account.as_deref().unwrap_or("the signed-in account")
        )
    };
    let mut summary = who;
    if let Some(t) = &c.tenant {
        summary.push_str(&format!(" in tenant {t}"));
    }
    if let Some(a) = &c.audience {
        summary.push_str(&format!(", for {a}"));
    }
    if let Some(e) = c.expires {
        summary.push_str(&format!(", valid until {}", e.format("%Y-%m-%d %H:%M UTC")));
    }
    let details = json!({
        "method": method,
        "account": c.account,
        "tenant": c.tenant,
        "audience": c.audience,
        "expires": c.expires,
    });
    if let Some(aud) = &c.audience
        && !audience_matches(aud, settings)
    {
        return Check::warn(
            Item::SignIn,
            format!(
                "{summary}; but the token is meant for {aud}, not for {}",
                origin(settings)
            ),
            "Set cloud (CALSYNC_CLOUD), or graph_url and authority_url, to the cloud the app is \
             registered in: a token for one resource is refused by another.",
        )
        .with_details(details);
    }
    if let (Some(tid), Some(configured)) = (&c.tenant, &settings.tenant_id)
        && is_guid(configured)
        && !tid.eq_ignore_ascii_case(configured)
    {
        return Check::warn(
            Item::SignIn,
            format!("{summary}; but tenant_id is {configured}"),
            "Set tenant_id (CALSYNC_TENANT_ID) to the tenant that holds the mailboxes, the \
             Directory (tenant) ID on the app registration's Overview page.",
        )
        .with_details(details);
    }
    Check::ok(Item::SignIn, summary).with_details(details)
}

fn origin(settings: &Settings) -> String {
    settings.graph_url.origin().ascii_serialization()
}

/// Whether a token's `aud` names the configured Graph: its origin (with or
/// without a trailing slash) or Microsoft Graph's application id.
fn audience_matches(aud: &str, settings: &Settings) -> bool {
    let aud = aud.trim_end_matches('/');
    aud.eq_ignore_ascii_case(&origin(settings)) || aud.eq_ignore_ascii_case(GRAPH_APP_ID)
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What one Graph side needs of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// `source` or `target`.
    pub side: &'static str,
    pub mailbox: String,
    /// The signed-in user's own mailbox (delegated sign-in).
    pub own: bool,
    /// Events are written there (the target).
    pub write: bool,
}

/// What the configuration's Graph sides need; `account` is the signed-in
/// user of a delegated token, whose mailbox named by address is their own.
pub fn needs(settings: &Settings, account: Option<&str>) -> Vec<Need> {
    let own = |m: &str| {
        m.eq_ignore_ascii_case("me") || account.is_some_and(|a| a.eq_ignore_ascii_case(m))
    };
    let mut out = Vec::new();
    if settings.source_kind() == Kind::Graph {
        let m = settings.mailbox_or_me();
        out.push(Need {
            side: "source",
            mailbox: m.to_owned(),
            own: own(m),
            write: false,
        });
    }
    if settings.target_kind() == Kind::Graph {
        let m = settings.target_mailbox_or_source();
        out.push(Need {
            side: "target",
            mailbox: m.to_owned(),
            own: own(m),
            write: true,
        });
    }
    out
}

/// The permissions that each give a side what it needs.
///
/// Application permissions reach every mailbox (there is no `.Shared`
/// application permission). A delegated `.Shared` permission covers the
/// user's own calendars and those shared with them; a plain one only their
/// own (`concepts/outlook-get-shared-events-calendars.md`,
/// `concepts/permissions-reference.md` in microsoftgraph/microsoft-graph-docs-contrib).
/// `Calendars.ReadBasic` is not enough to read a source: it leaves out
/// fields calsync may copy.
pub fn accepted(app_only: bool, need: &Need) -> &'static [&'static str] {
    match (app_only, need.write, need.own) {
        (true, true, _) => &["Calendars.ReadWrite"],
        (true, false, _) => &["Calendars.Read", "Calendars.ReadWrite"],
        (false, true, true) => &["Calendars.ReadWrite", "Calendars.ReadWrite.Shared"],
        (false, true, false) => &["Calendars.ReadWrite.Shared"],
        (false, false, true) => &[
            "Calendars.Read",
            "Calendars.ReadWrite",
            "Calendars.Read.Shared",
            "Calendars.ReadWrite.Shared",
        ],
        (false, false, false) => &["Calendars.Read.Shared", "Calendars.ReadWrite.Shared"],
    }
}

fn has(granted: &[String], name: &str) -> bool {
    granted.iter().any(|g| g.eq_ignore_ascii_case(name))
}

/// Whether the token carries a permission each Graph side needs.
pub fn permissions(settings: &Settings, claims: &Claims) -> Check {
    let app_only = settings.uses_client_credentials();
    let granted = if app_only {
        &claims.roles
    } else {
        &claims.scopes
    };
    let kind = if app_only { "application" } else { "delegated" };
    let account = if app_only {
        None
    } else {
        claims.account.as_deref()
    };
    let needs = needs(settings, account);
    let shown = if granted.is_empty() {
        "none".to_owned()
    } else {
        granted.join(", ")
    };
    let details = json!({
        "kind": kind,
        "granted": granted,
        "needed": needs.iter().map(|n| json!({
            "side": n.side,
            "mailbox": n.mailbox,
            "any_of": accepted(app_only, n),
        })).collect::<Vec<_>>(),
    });
    let missing: Vec<&Need> = needs
        .iter()
        .filter(|n| !accepted(app_only, n).iter().any(|p| has(granted, p)))
        .collect();
    if missing.is_empty() {
        let used: Vec<&str> = needs
            .iter()
            .filter_map(|n| {
                accepted(app_only, n)
                    .iter()
                    .copied()
                    .find(|p| has(granted, p))
            })
            .fold(Vec::new(), |mut v, p| {
                if !v.contains(&p) {
                    v.push(p);
                }
                v
            });
        return Check::ok(
            Item::Permissions,
            format!(
                "{kind} permission {} granted, which lets sync {}",
                used.join(" and "),
                sides_text(&needs)
            ),
        )
        .with_details(details);
    }
    // What to ask for: for a user's sign-in, what `calsync login` asks for,
    // so that signing in again brings it.
    let wanted = if app_only {
        if needs.iter().any(|n| n.write) {
            "Calendars.ReadWrite"
        } else {
            "Calendars.Read"
        }
    } else {
        calendar_permission(&AuthConfig::from(settings))
    };
    let client_id = settings.client_id.as_deref().unwrap_or("");
    let short: Vec<String> = missing
        .iter()
        .map(|n| {
            format!(
                "{} ({} {})",
                n.side,
                if n.write { "writes" } else { "reads" },
                mailbox_text(&n.mailbox)
            )
        })
        .collect();
    let fix = if app_only {
        format!(
            "In Microsoft Entra admin center, add Microsoft Graph > Application permissions > \
             {wanted} to the app registration {client_id} and click Grant admin consent, then run \
             `calsync doctor` again (it asks for a new token)."
        )
    } else {
        format!(
            "Add the delegated Microsoft Graph permission {wanted} to the app registration \
             {client_id} (API permissions; an administrator grants consent where the tenant \
             requires it), then run `calsync login` again so that the sign-in carries it."
        )
    };
    Check::fail(
        Item::Permissions,
        Cause::Auth,
        format!(
            "the token lacks the {kind} permission {wanted} that the {} needs (granted: {shown})",
            short.join(" and the ")
        ),
        fix,
    )
    .with_details(details)
}

fn mailbox_text(m: &str) -> String {
    if m.eq_ignore_ascii_case("me") {
        "the signed-in user's mailbox".to_owned()
    } else {
        m.to_owned()
    }
}

fn sides_text(needs: &[Need]) -> String {
    let parts: Vec<String> = needs
        .iter()
        .map(|n| {
            format!(
                "{} the {} in {}",
                if n.write { "write" } else { "read" },
                n.side,
                mailbox_text(&n.mailbox)
            )
        })
        .collect();
    parts.join(" and ")
}

/// Permissions calsync can do without, and what each adds.
pub fn optional_permissions(app_only: bool, claims: &Claims) -> Check {
    let granted = if app_only {
        &claims.roles
    } else {
        &claims.scopes
    };
    let mailbox_settings = ["MailboxSettings.Read", "MailboxSettings.ReadWrite"]
        .iter()
        .any(|p| has(granted, p));
    let mut parts = vec![if mailbox_settings {
        "MailboxSettings.Read granted (sync writes all-day copies midnight to midnight in the \
         target mailbox's time zone)"
            .to_owned()
    } else {
        "MailboxSettings.Read not granted (sync uses it to write all-day copies in the target \
         mailbox's time zone; without it they are written in UTC)"
            .to_owned()
    }];
    let mut details = json!({ "MailboxSettings.Read": mailbox_settings });
    if !app_only {
        let user_read = [
            "User.Read",
            "User.ReadWrite",
            "User.ReadBasic.All",
            "User.Read.All",
        ]
        .iter()
        .any(|p| has(granted, p));
        parts.push(if user_read {
            "User.Read granted".to_owned()
        } else {
            "User.Read not granted (`calsync login` uses it only to look up the account's name \
             when the sign-in does not carry it)"
                .to_owned()
        });
        details["User.Read"] = json!(user_read);
    }
    Check::info(Item::OptionalPermissions, parts.join("; ")).with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FlagOverrides, load};

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let env = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        load(&FlagOverrides::default(), &env).unwrap()
    }

    const BASE: [(&str, &str); 3] = [
        ("CALSYNC_TENANT_ID", "contoso.example"),
        ("CALSYNC_CLIENT_ID", "app"),
        ("CALSYNC_STATE_DIR", "/nonexistent/calsync-test"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Settings {
        let mut v: Vec<(&str, &str)> = BASE.to_vec();
        v.extend_from_slice(extra);
        settings(&v)
    }

    fn claims(roles: &[&str], scopes: &[&str]) -> Claims {
        Claims {
            roles: roles.iter().map(|s| s.to_string()).collect(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Claims::default()
        }
    }

    #[test]
    fn claims_are_read_with_short_names() {
        let c = Claims::of(&json!({
            "scp": "https://graph.microsoft.com/Calendars.ReadWrite.Shared User.Read",
            "tid": "t", "aud": "https://graph.microsoft.com", "exp": 2_000_000_000,
            "upn": "ada@contoso.example",
        }));
        assert_eq!(c.scopes, ["Calendars.ReadWrite.Shared", "User.Read"]);
        assert_eq!(c.account.as_deref(), Some("ada@contoso.example"));
        assert_eq!(c.expires.map(|e| e.timestamp()), Some(2_000_000_000));
        let c = Claims::of(&json!({"roles": ["Calendars.ReadWrite"]}));
        assert_eq!(c.roles, ["Calendars.ReadWrite"]);
        assert!(c.scopes.is_empty());
    }

    #[test]
    fn app_only_needs_read_write_for_a_graph_target() {
        let s = with(&[
            ("CALSYNC_CLIENT_SECRET", "x"),
            ("CALSYNC_MAILBOX", "events@contoso.example"),
        ]);
        let ok = permissions(&s, &claims(&["Calendars.ReadWrite"], &[]));
        assert_eq!(ok.status, super::super::report::Status::Ok, "{ok:?}");
        let bad = permissions(&s, &claims(&["Calendars.Read", "User.Read.All"], &[]));
        assert_eq!(bad.cause, Some(Cause::Auth));
        assert!(bad.summary.contains("Calendars.ReadWrite"), "{bad:?}");
        assert!(
            bad.summary.contains("Calendars.Read, User.Read.All"),
            "{bad:?}"
        );
        let fix = bad.fix.unwrap_or_default();
        assert!(
            fix.contains("Application permissions > Calendars.ReadWrite"),
            "{fix}"
        );
        assert!(fix.contains("admin consent"), "{fix}");
        // Delegated scopes do not count for an app-only token.
        let bad = permissions(&s, &claims(&[], &["Calendars.ReadWrite"]));
        assert_eq!(bad.cause, Some(Cause::Auth));
    }

    #[test]
    fn delegated_needs_shared_for_another_mailbox() {
        let own = with(&[]);
        let c = claims(&[], &["Calendars.ReadWrite", "User.Read"]);
        assert!(permissions(&own, &c).cause.is_none());
        let shared = with(&[("CALSYNC_MAILBOX", "events@contoso.example")]);
        let bad = permissions(&shared, &c);
        assert_eq!(bad.cause, Some(Cause::Auth));
        assert!(
            bad.summary.contains("Calendars.ReadWrite.Shared"),
            "{bad:?}"
        );
        assert!(bad.fix.unwrap_or_default().contains("calsync login"));
        let c = claims(&[], &["Calendars.ReadWrite.Shared"]);
        assert!(permissions(&shared, &c).cause.is_none());
        // .Shared covers one's own mailbox too.
        assert!(permissions(&own, &c).cause.is_none());
        // Only the target is written: reading a shared source with
        // Read.Shared and writing one's own calendar works.
        let mixed = with(&[
            ("CALSYNC_MAILBOX", "events@contoso.example"),
            ("CALSYNC_TARGET_MAILBOX", "me"),
        ]);
        let c = claims(&[], &["Calendars.Read.Shared", "Calendars.ReadWrite"]);
        assert!(permissions(&mixed, &c).cause.is_none());
        // One's own mailbox named by its address is still one's own.
        let mut c = claims(&[], &["Calendars.ReadWrite"]);
        c.account = Some("Events@contoso.example".into());
        assert!(permissions(&shared, &c).cause.is_none());
    }

    #[test]
    fn optional_permissions_are_information() {
        let c = claims(&[], &["Calendars.ReadWrite", "MailboxSettings.Read"]);
        let i = optional_permissions(false, &c);
        assert_eq!(i.status, super::super::report::Status::Info);
        assert!(i.summary.contains("MailboxSettings.Read granted"), "{i:?}");
        assert!(i.summary.contains("User.Read not granted"), "{i:?}");
        let i = optional_permissions(true, &claims(&["Calendars.ReadWrite"], &[]));
        assert!(
            i.summary.contains("MailboxSettings.Read not granted"),
            "{i:?}"
        );
        assert!(!i.summary.contains("User.Read"), "{i:?}");
    }

    #[test]
    fn guids_and_audiences() {
        assert!(is_guid("11111111-2222-3333-4444-555555555555"));
        assert!(!is_guid("contoso.onmicrosoft.com"));
        let s = with(&[]);
        assert!(audience_matches("https://graph.microsoft.com", &s));
        assert!(audience_matches("https://graph.microsoft.com/", &s));
        assert!(audience_matches(GRAPH_APP_ID, &s));
        assert!(!audience_matches("https://graph.microsoft.us", &s));
    }
}
