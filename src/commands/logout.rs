//! `calsync logout`: removes the sign-in `calsync login` stored.

use super::{Context, print_stdout};
use crate::auth::AuthConfig;
use crate::auth::store::{self, Profile};
use crate::error::Failure;
use std::process::ExitCode;

pub fn run(ctx: &Context) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let auth = AuthConfig::from(&settings);
    if !settings.uses_graph() && Profile::of(&auth).is_none() {
        print_stdout(&format!("{}\n", super::login::no_sign_in_needed(&settings)))?;
        return Ok(ExitCode::SUCCESS);
    }
    let profile = Profile::of(&auth).ok_or_else(|| {
        Failure::Config(
            "`calsync logout` removes the sign-in of the configured app, but `tenant_id` and \
             `client_id` are not both set. Set them as for `calsync login`."
                .into(),
        )
    })?;
    let token_store = store::open(&auth)?;
    let mut text = match token_store.remove(&profile)? {
        Some(account) => format!(
            "Signed out {account}: removed its refresh token, access token and account record \
             for {profile} from {}.\n",
            token_store.describe()
        ),
        None => format!(
            "No sign-in for {profile} is stored in {}; nothing was removed.\n",
            token_store.describe()
        ),
    };
    if settings.client_secret.is_some() {
        text.push_str(
            "client_secret is set, so calsync still signs in as the application; the secret is \
             configuration, not a stored token: remove it from the configuration to stop \
             app-only access.\n",
        );
    }
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
