//! `calsync login`: the device-code sign-in (default), or a check of the app
//! secret with `--client-credentials`.
//!
//! The instructions for the person signing in (URL and code) go to stderr
//! with the logs, so that they show even when stdout is redirected; the
//! outcome goes to stdout. No token is ever printed.

use super::{Context, print_stdout, runtime};
use crate::auth::delegated::{self, jwt_claims};
use crate::auth::store::{self, Profile};
use crate::auth::{AuthConfig, ClientCredentials, TokenSource};
use crate::cli::LoginArgs;
use crate::config::Settings;
use crate::error::Failure;
use crate::graph::client::http_client;
use secrecy::ExposeSecret;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(ctx: &Context, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    if args.device_code && args.client_credentials {
        return Err(Failure::Config(
            "`--device-code` and `--client-credentials` exclude each other: give one.".into(),
        )
        .into());
    }
    let settings = ctx.settings()?;
    if !settings.uses_graph() {
        print_stdout(&format!("{}\n", no_sign_in_needed(&settings)))?;
        return Ok(ExitCode::SUCCESS);
    }
    settings.require_graph()?;
    if args.client_credentials {
        return check_client_credentials(&settings);
    }
    if settings.client_secret.is_some() {
        return Err(Failure::Config(
            "`client_secret` is set, so calsync signs in as the application and a user sign-in \
             would not be used. Run `calsync login --client-credentials` to check the app \
             secret, or remove client_secret (CALSYNC_CLIENT_SECRET) to sign in as a user with \
             the device code."
                .into(),
        )
        .into());
    }
    device_code(&settings)
}

/// What `login` and `logout` say when neither side is a Graph calendar.
pub fn no_sign_in_needed(settings: &Settings) -> String {
    format!(
        "No sign-in is needed: the source is an .ics {} and the target an .ics file, and \
         calsync signs in only to reach Microsoft Graph (a side with kind = \"graph\"). \
         Nothing was done.",
        match &settings.source {
            crate::config::SourceSpec::Ics(crate::ics::IcsLocation::Url(_)) => "URL",
            _ => "file",
        }
    )
}

fn device_code(settings: &Settings) -> anyhow::Result<ExitCode> {
    let auth = AuthConfig::from(settings);
    let profile = Profile::of(&auth)
        .ok_or_else(|| Failure::Config("tenant_id and client_id are required".into()))?;
    // The store must work before anyone signs in: a keyring that is not
    // there, or a token file others can read, fails here.
    let token_store = store::open(&auth)?;
    token_store.load(&profile)?;

    let http = http_client(settings.request_timeout)?;
    let outcome = runtime()?.block_on(async {
        let show = |text: &str| eprintln!("{text}");
        tokio::select! {
            outcome = delegated::device_login(&auth, &http, Arc::clone(&token_store), &show) => outcome,
            signal = tokio::signal::ctrl_c() => {
                signal?;
                Err(Failure::Auth(
                    "Sign-in cancelled (Ctrl-C): nothing was stored. Run `calsync login` again to \
                     sign in."
                        .into(),
                )
                .into())
            }
        }
    })?;

    let mut text = format!(
        "Signed in as {} (delegated permission {}). The tokens are stored in {}; each run \
         renews the access token with the refresh token as needed.\n",
        outcome.account, outcome.permission, outcome.store
    );
    text.push_str(&format!(
        "Access token valid until {}.\n",
        outcome
            .access_token_expires
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    if !outcome.refresh_token {
        text.push_str(
            "Warning: the identity platform issued no refresh token, so this sign-in lapses when \
             the access token expires. Check that the app may request offline_access.\n",
        );
    }
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn check_client_credentials(settings: &Settings) -> anyhow::Result<ExitCode> {
    let (Some(tenant), Some(client_id)) = (&settings.tenant_id, &settings.client_id) else {
        return Err(Failure::Config("tenant_id and client_id are required".into()).into());
    };
    let Some(secret) = &settings.client_secret else {
        return Err(Failure::Config(
            "`calsync login --client-credentials` checks the app secret, but `client_secret` is \
             not set. Set CALSYNC_CLIENT_SECRET (or client_secret in the config file) to a \
             secret value of the app registration, or run `calsync login` to sign in as a user."
                .into(),
        )
        .into());
    };
    let http = http_client(settings.request_timeout)?;
    let creds = ClientCredentials::new(
        http,
        &settings.authority_url,
        tenant,
        client_id,
        secret.clone(),
        &settings.graph_url,
    );
    let token = runtime()?.block_on(creds.token(false))?;
    let roles: Option<Vec<String>> = jwt_claims(token.expose_secret()).map(|claims| {
        claims
            .get("roles")
            .and_then(|r| r.as_array())
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    });
    let mut text = format!(
        "The app secret works: {} issued an app-only token for {} to client_id {client_id} in \
         tenant {tenant}. Nothing is stored; every run obtains its own token.\n",
        creds.token_url(),
        creds.scope()
    );
    match &roles {
        None => text.push_str(
            "The granted application permissions could not be read from the token; check that \
             Calendars.ReadWrite (application) has admin consent.\n",
        ),
        Some(roles) if roles.is_empty() => {}
        Some(roles) => text.push_str(&format!(
            "Application permissions granted: {}.\n",
            roles.join(", ")
        )),
    }
    print_stdout(&text)?;
    if let Some(roles) = roles
        && !roles.iter().any(|r| r == "Calendars.ReadWrite")
    {
        let granted = if roles.is_empty() {
            "none".to_owned()
        } else {
            roles.join(", ")
        };
        return Err(Failure::Auth(format!(
            "The app has no Calendars.ReadWrite application permission (granted: {granted}), so \
             sync cannot read or write calendars. In Microsoft Entra admin center, add Microsoft \
             Graph > Application permissions > Calendars.ReadWrite to the app registration and \
             grant admin consent, then run `calsync login --client-credentials` again."
        ))
        .into());
    }
    Ok(ExitCode::SUCCESS)
}
