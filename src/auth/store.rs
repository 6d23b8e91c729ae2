//! Where a delegated sign-in is kept between runs: the OS keyring (the
//! default) or `tokens.json` in the state dir (`token_store = "file"`).
//!
//! A sign-in belongs to a [`Profile`] (authority, tenant, client id) and an
//! account; one account is signed in per profile, and signing in again
//! replaces it. What is kept: the account's user principal name, the scopes
//! granted, the refresh token and the current access token with its expiry.
//!
//! In the keyring (service `calsync`) a sign-in is three items, so that each
//! stays well under the size limit of Windows Credential Manager:
//! `sign-in <profile>` (account and scopes, no secret),
//! `refresh token <account> <profile>` and `access token <account> <profile>`
//! (the access token is a cache: failing to keep it costs one refresh).
//!
//! `tokens.json` is written atomically (a temporary file in the same
//! directory, flushed to disk, then renamed over the old one) with mode 0600,
//! and is refused when other users can read it.

use super::AuthConfig;
use crate::config::TokenStore as StoreKind;
use crate::error::Failure;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The app a sign-in was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The authority URL without a trailing slash.
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
}

impl Profile {
    /// The profile of the settings; `None` without tenant_id or client_id.
    pub fn of(settings: &AuthConfig) -> Option<Profile> {
        Some(Profile {
            authority: settings.authority_base().to_string(),
            tenant: settings.tenant_id.clone()?,
            client_id: settings.client_id.clone()?,
        })
    }

    fn key(&self) -> String {
        format!("{} {} {}", self.authority, self.tenant, self.client_id)
    }

    fn matches(&self, authority: &str, tenant: &str, client_id: &str) -> bool {
        self.authority == authority
            && self.tenant.eq_ignore_ascii_case(tenant)
            && self.client_id.eq_ignore_ascii_case(client_id)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client_id {} in tenant {} at {}",
            self.client_id, self.tenant, self.authority
        )
    }
}

/// A stored delegated sign-in.
#[derive(Clone)]
pub struct SignIn {
    /// The user principal name of the signed-in account.
    pub account: String,
    /// The scopes granted, space-separated.
    pub scopes: String,
    pub refresh_token: Option<SecretString>,
    pub access_token: Option<SecretString>,
    pub access_token_expires: Option<DateTime<Utc>>,
    /// When the access token was obtained (or the record last changed).
    pub updated: DateTime<Utc>,
}

impl fmt::Debug for SignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignIn")
            .field("account", &self.account)
            .field("scopes", &self.scopes)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "[redacted]"),
            )
            .field("access_token_expires", &self.access_token_expires)
            .field("updated", &self.updated)
            .finish()
    }
}

/// A place that keeps sign-ins. Calls block (keyring I/O): call them from a
/// blocking context in async code.
pub trait TokenStore: Send + Sync {
    /// The sign-in kept for the profile, if any.
    fn load(&self, profile: &Profile) -> anyhow::Result<Option<SignIn>>;
    /// Keeps the sign-in, replacing whatever the profile had (any account).
    fn save(&self, profile: &Profile, sign_in: &SignIn) -> anyhow::Result<()>;
    /// Removes the profile's sign-in; returns the account removed, if any.
    fn remove(&self, profile: &Profile) -> anyhow::Result<Option<String>>;
    /// Where the tokens live, for messages ("the OS keyring (…)", a path).
    fn describe(&self) -> String;
}

/// Opens the store the settings name. A keyring that cannot be reached is a
/// [`Failure::Auth`] naming `token_store = "file"`.
pub fn open(settings: &AuthConfig) -> anyhow::Result<Arc<dyn TokenStore>> {
    match settings.token_store {
        StoreKind::File => Ok(Arc::new(FileStore::new(&settings.state_dir))),
        StoreKind::Keyring => {
            let store = platform_keyring().map_err(|e| keyring_failure(&e, "open", settings))?;
            Ok(Arc::new(KeyringStore::new(store, settings)))
        }
    }
}

// ---------------------------------------------------------------- keyring

#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
fn platform_keyring() -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    Ok(zbus_secret_service_keyring_store::Store::new()?)
}

#[cfg(target_os = "macos")]
fn platform_keyring() -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    Ok(apple_native_keyring_store::keychain::Store::new()?)
}

#[cfg(target_os = "windows")]
fn platform_keyring() -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    Ok(windows_native_keyring_store::Store::new()?)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    target_os = "macos",
    target_os = "windows"
)))]
fn platform_keyring() -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    Err(keyring_core::Error::NoDefaultStore)
}

/// The platform's keyring, for messages.
fn keyring_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "the OS keyring (macOS Keychain)"
    } else if cfg!(target_os = "windows") {
        "the OS keyring (Windows Credential Manager)"
    } else {
        "the OS keyring (Secret Service)"
    }
}

const SERVICE: &str = "calsync";

/// The one-paragraph error for a keyring that failed; never quotes stored data.
fn keyring_failure(
    err: &keyring_core::Error,
    action: &str,
    settings: &AuthConfig,
) -> anyhow::Error {
    use keyring_core::Error as E;
    let cause = match err {
        E::PlatformFailure(e) | E::NoStorageAccess(e) => crate::auth::error_chain_text(e.as_ref()),
        E::NoDefaultStore => "this platform has no supported keyring".to_string(),
        E::Ambiguous(items) => format!("{} keyring items match one entry", items.len()),
        E::BadEncoding(_) | E::BadDataFormat(..) => {
            "a stored item is not in calsync's format".into()
        }
        other => other.to_string(),
    };
    let file = settings.state_dir.join("tokens.json");
    let name = keyring_name().replacen("the", "The", 1);
    let what = match err {
        E::PlatformFailure(_) | E::NoStorageAccess(_) | E::NoDefaultStore => {
            format!("{name} is unavailable")
        }
        _ => format!("{name} refused to {action} the sign-in"),
    };
    Failure::Auth(format!(
        "{what} ({cause}). On a server without a desktop session (cron, a systemd timer, CI) \
         there is usually no keyring: set `token_store = \"file\"` in the config file (or \
         CALSYNC_TOKEN_STORE=file) to keep tokens in {} (mode 0600), then run `calsync login` \
         again.",
        file.display()
    ))
    .into()
}

/// The metadata item (no secret in it).
#[derive(Serialize, Deserialize)]
struct KeyringMeta {
    account: String,
    scopes: String,
    updated: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct KeyringAccess {
    token: String,
    expires: DateTime<Utc>,
}

/// Sign-ins in an OS keyring (or any `keyring_core` store, such as the mock
/// one in tests).
pub struct KeyringStore {
    store: Arc<keyring_core::CredentialStore>,
    /// For error messages (the file store hint).
    settings: AuthConfig,
}

impl KeyringStore {
    pub fn new(store: Arc<keyring_core::CredentialStore>, settings: &AuthConfig) -> KeyringStore {
        KeyringStore {
            store,
            settings: settings.clone(),
        }
    }

    fn entry(&self, user: &str, action: &str) -> anyhow::Result<keyring_core::Entry> {
        keyring_core::Entry::new_in_store(&self.store, SERVICE, user)
            .map_err(|e| keyring_failure(&e, action, &self.settings))
    }

    fn meta_user(profile: &Profile) -> String {
        format!("sign-in {}", profile.key())
    }

    fn refresh_user(profile: &Profile, account: &str) -> String {
        format!("refresh token {account} {}", profile.key())
    }

    fn access_user(profile: &Profile, account: &str) -> String {
        format!("access token {account} {}", profile.key())
    }

    /// Where calsync 0.1 kept an app-only access token; removed by logout.
    fn app_user(profile: &Profile) -> String {
        format!("app token {}", profile.key())
    }

    fn read_meta(&self, profile: &Profile, action: &str) -> anyhow::Result<Option<KeyringMeta>> {
        let entry = self.entry(&Self::meta_user(profile), action)?;
        match entry.get_password() {
            Ok(text) => Ok(serde_json::from_str(&text).ok()),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_failure(&e, action, &self.settings)),
        }
    }

    fn delete(&self, user: &str) -> anyhow::Result<()> {
        match self.entry(user, "remove")?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_failure(&e, "remove", &self.settings)),
        }
    }

    fn delete_account(&self, profile: &Profile, account: &str) -> anyhow::Result<()> {
        self.delete(&Self::access_user(profile, account))?;
        self.delete(&Self::refresh_user(profile, account))
    }
}

impl TokenStore for KeyringStore {
    fn load(&self, profile: &Profile) -> anyhow::Result<Option<SignIn>> {
        let Some(meta) = self.read_meta(profile, "read")? else {
            return Ok(None);
        };
        let refresh_token = match self
            .entry(&Self::refresh_user(profile, &meta.account), "read")?
            .get_secret()
        {
            Ok(bytes) => String::from_utf8(bytes).ok().map(SecretString::from),
            Err(keyring_core::Error::NoEntry) => None,
            Err(e) => return Err(keyring_failure(&e, "read", &self.settings)),
        };
        // The access token is a cache: any trouble with it means "refresh".
        let access = self
            .entry(&Self::access_user(profile, &meta.account), "read")
            .ok()
            .and_then(|e| e.get_password().ok())
            .and_then(|text| serde_json::from_str::<KeyringAccess>(&text).ok());
        Ok(Some(SignIn {
            account: meta.account,
            scopes: meta.scopes,
            refresh_token,
            access_token_expires: access.as_ref().map(|a| a.expires),
            access_token: access.map(|a| SecretString::from(a.token)),
            updated: meta.updated,
        }))
    }

    fn save(&self, profile: &Profile, sign_in: &SignIn) -> anyhow::Result<()> {
        if let Some(old) = self.read_meta(profile, "save")?
            && old.account != sign_in.account
        {
            self.delete_account(profile, &old.account)?;
        }
        // The refresh token first: it is what a crash must not lose.
        let refresh = self.entry(&Self::refresh_user(profile, &sign_in.account), "save")?;
        match &sign_in.refresh_token {
            Some(token) => refresh
                .set_secret(token.expose_secret().as_bytes())
                .map_err(|e| keyring_failure(&e, "save", &self.settings))?,
            None => self.delete(&Self::refresh_user(profile, &sign_in.account))?,
        }
        let access_user = Self::access_user(profile, &sign_in.account);
        let access = match (&sign_in.access_token, sign_in.access_token_expires) {
            (Some(token), Some(expires)) => serde_json::to_string(&KeyringAccess {
                token: token.expose_secret().to_owned(),
                expires,
            })
            .ok(),
            _ => None,
        };
        let kept = access.is_some_and(|text| {
            self.entry(&access_user, "save")
                .ok()
                .is_some_and(|e| e.set_password(&text).is_ok())
        });
        if !kept {
            tracing::debug!(
                "the access token is not cached in the keyring; the next run refreshes it"
            );
            let _ = self.delete(&access_user);
        }
        let meta = serde_json::to_string(&KeyringMeta {
            account: sign_in.account.clone(),
            scopes: sign_in.scopes.clone(),
            updated: sign_in.updated,
        })?;
        self.entry(&Self::meta_user(profile), "save")?
            .set_password(&meta)
            .map_err(|e| keyring_failure(&e, "save", &self.settings))
    }

    fn remove(&self, profile: &Profile) -> anyhow::Result<Option<String>> {
        let Some(meta) = self.read_meta(profile, "remove")? else {
            return Ok(None);
        };
        self.delete_account(profile, &meta.account)?;
        self.delete(&Self::meta_user(profile))?;
        let _ = self.delete(&Self::app_user(profile));
        Ok(Some(meta.account))
    }

    fn describe(&self) -> String {
        keyring_name().to_string()
    }
}

// ---------------------------------------------------------------- file

/// The name of the token file in the state dir.
pub const TOKEN_FILE: &str = "tokens.json";

#[derive(Serialize, Deserialize, Default)]
struct TokenFile {
    version: u32,
    /// Keyed by `"<authority> <tenant> <client id> <account>"`.
    #[serde(default)]
    sign_ins: BTreeMap<String, FileRecord>,
    /// App-only access tokens an earlier version kept here, keyed by
    /// `"<authority> <tenant> <client id>"`. Read so that they can be
    /// dropped; never written.
    #[serde(default, skip_serializing)]
    app_tokens: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct FileRecord {
    authority: String,
    tenant: String,
    client_id: String,
    account: String,
    scopes: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token_expires: Option<DateTime<Utc>>,
    updated: DateTime<Utc>,
}

/// Sign-ins in `tokens.json` (mode 0600) in the state dir.
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(state_dir: &Path) -> FileStore {
        FileStore {
            path: state_dir.join(TOKEN_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> anyhow::Result<TokenFile> {
        let opened =
            crate::state::files::no_follow(std::fs::OpenOptions::new().read(true)).open(&self.path);
        let file = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TokenFile::default()),
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(crate::state::files::failure(
                    &self.path,
                    "the file token store",
                    &e,
                ));
            }
            Err(e) => {
                return Err(Failure::Auth(format!(
                    "Cannot read the token file {} ({e}). Check its owner and permissions, or \
                     delete it and run `calsync login` again.",
                    self.path.display()
                ))
                .into());
            }
        };
        self.check_private(&file)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut &file, &mut text).map_err(|e| {
            Failure::Auth(format!(
                "Cannot read the token file {} ({e}).",
                self.path.display()
            ))
        })?;
        // serde_json's message names a position, never the content.
        serde_json::from_str(&text).map_err(|e| {
            Failure::Auth(format!(
                "The token file {} is not calsync's token format ({e}). Delete it and run \
                 `calsync login` again.",
                self.path.display()
            ))
            .into()
        })
    }

    #[cfg(unix)]
    fn check_private(&self, file: &std::fs::File) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Failure::Auth(format!(
                "The token file {} can be read or written by other users (mode {mode:03o}), so \
                 calsync refuses to use it: its tokens may have been seen. If only you could \
                 reach it, run `chmod 600 {}`; otherwise delete it and run `calsync login` \
                 again.",
                self.path.display(),
                self.path.display()
            ))
            .into());
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn check_private(&self, _file: &std::fs::File) -> anyhow::Result<()> {
        Ok(())
    }

    /// Replaces the file atomically: temp file (0600) in the same directory,
    /// fsync, rename, fsync of the directory.
    fn write(&self, contents: &TokenFile) -> anyhow::Result<()> {
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        crate::state::ensure_dir(&dir)?;
        let json = serde_json::to_vec_pretty(contents)?;
        let fail = |e: std::io::Error| {
            anyhow::Error::new(Failure::Auth(format!(
                "Cannot write the token file {} ({e}). Check that the state directory is \
                 writable.",
                self.path.display()
            )))
        };
        let result = crate::fs::replace_file(&self.path, crate::fs::FileMode::Private, |w| {
            w.write_all(&json)?;
            w.write_all(b"\n")
        });
        result.map_err(fail)
    }

    /// Removes every app-only access token an earlier version kept in the
    /// file (calsync no longer keeps them), deleting the file if nothing
    /// else is in it. Best effort: a file that cannot be read or written is
    /// left to the command that needs it, which says what is wrong.
    pub fn drop_app_tokens(&self) {
        let Ok(file) = self.read() else {
            return;
        };
        if file.app_tokens.is_empty() {
            return;
        }
        let result = if file.sign_ins.is_empty() {
            std::fs::remove_file(&self.path).map_err(anyhow::Error::from)
        } else {
            // Written without them: they are never serialised.
            self.write(&file)
        };
        match result {
            Ok(()) => tracing::info!(
                file = %self.path.display(),
                "removed the app-only access token an earlier calsync kept in the token file"
            ),
            Err(e) => {
                tracing::debug!(file = %self.path.display(), "could not drop a stored app-only token: {e:#}")
            }
        }
    }

    fn remove_profile(file: &mut TokenFile, profile: &Profile) -> Vec<String> {
        let keys: Vec<String> = file
            .sign_ins
            .iter()
            .filter(|(_, r)| profile.matches(&r.authority, &r.tenant, &r.client_id))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter()
            .filter_map(|k| file.sign_ins.remove(k))
            .map(|r| r.account)
            .collect()
    }
}

impl TokenStore for FileStore {
    fn load(&self, profile: &Profile) -> anyhow::Result<Option<SignIn>> {
        let file = self.read()?;
        Ok(file
            .sign_ins
            .into_values()
            .filter(|r| profile.matches(&r.authority, &r.tenant, &r.client_id))
            .max_by_key(|r| r.updated)
            .map(|r| SignIn {
                account: r.account,
                scopes: r.scopes,
                refresh_token: r.refresh_token.map(SecretString::from),
                access_token: r.access_token.map(SecretString::from),
                access_token_expires: r.access_token_expires,
                updated: r.updated,
            }))
    }

    fn save(&self, profile: &Profile, sign_in: &SignIn) -> anyhow::Result<()> {
        let mut file = self.read()?;
        file.version = 1;
        Self::remove_profile(&mut file, profile);
        file.sign_ins.insert(
            format!("{} {}", profile.key(), sign_in.account),
            FileRecord {
                authority: profile.authority.clone(),
                tenant: profile.tenant.clone(),
                client_id: profile.client_id.clone(),
                account: sign_in.account.clone(),
                scopes: sign_in.scopes.clone(),
                refresh_token: sign_in
                    .refresh_token
                    .as_ref()
                    .map(|t| t.expose_secret().to_owned()),
                access_token: sign_in
                    .access_token
                    .as_ref()
                    .map(|t| t.expose_secret().to_owned()),
                access_token_expires: sign_in.access_token_expires,
                updated: sign_in.updated,
            },
        );
        self.write(&file)
    }

    fn remove(&self, profile: &Profile) -> anyhow::Result<Option<String>> {
        let mut file = match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            _ => self.read()?,
        };
        let removed = Self::remove_profile(&mut file, profile);
        let app_token = file.app_tokens.remove(&profile.key()).is_some();
        if removed.is_empty() && !app_token {
            return Ok(None);
        }
        if file.sign_ins.is_empty() && file.app_tokens.is_empty() {
            std::fs::remove_file(&self.path).map_err(|e| {
                Failure::Auth(format!(
                    "Cannot delete the token file {} ({e}).",
                    self.path.display()
                ))
            })?;
        } else {
            self.write(&file)?;
        }
        Ok(removed.into_iter().next())
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path, store: StoreKind) -> AuthConfig {
        let env = |k: &str| match k {
            "CALSYNC_TENANT_ID" => Some("contoso".to_string()),
            "CALSYNC_CLIENT_ID" => Some("app-1".to_string()),
            "CALSYNC_STATE_DIR" => Some(dir.display().to_string()),
            "CALSYNC_CONFIG" => Some(dir.join("absent-ok.toml").display().to_string()),
            _ => None,
        };
        // No config file: write an empty one so that a named file exists.
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("absent-ok.toml"), "").unwrap();
        let mut s = crate::config::load(&Default::default(), &env).unwrap();
        s.token_store = store;
        AuthConfig::from(&s)
    }

    fn sign_in(account: &str, refresh: &str) -> SignIn {
        SignIn {
            account: account.to_string(),
            scopes: "offline_access https://graph.microsoft.com/Calendars.ReadWrite".into(),
            refresh_token: Some(SecretString::from(refresh.to_string())),
            access_token: Some(SecretString::from(format!("at-for-{refresh}"))),
            access_token_expires: Some(Utc::now() + chrono::Duration::minutes(50)),
            updated: Utc::now(),
        }
    }

    fn exercise(store: &dyn TokenStore, profile: &Profile) {
        assert!(store.load(profile).unwrap().is_none());
        assert_eq!(store.remove(profile).unwrap(), None);
        store
            .save(profile, &sign_in("ada@x.example", "rt-1"))
            .unwrap();
        let got = store.load(profile).unwrap().unwrap();
        assert_eq!(got.account, "ada@x.example");
        assert_eq!(got.refresh_token.unwrap().expose_secret(), "rt-1");
        assert_eq!(got.access_token.unwrap().expose_secret(), "at-for-rt-1");
        assert!(got.access_token_expires.is_some());
        // Rotation replaces the refresh token.
        store
            .save(profile, &sign_in("ada@x.example", "rt-2"))
            .unwrap();
        let got = store.load(profile).unwrap().unwrap();
        assert_eq!(got.refresh_token.unwrap().expose_secret(), "rt-2");
        // Another profile is independent.
        let other = Profile {
            client_id: "app-2".into(),
            ..profile.clone()
        };
        assert!(store.load(&other).unwrap().is_none());
        store
            .save(&other, &sign_in("bob@x.example", "rt-b"))
            .unwrap();
        // Signing in as someone else replaces the profile's account.
        store
            .save(profile, &sign_in("cy@x.example", "rt-c"))
            .unwrap();
        let got = store.load(profile).unwrap().unwrap();
        assert_eq!(got.account, "cy@x.example");
        assert_eq!(got.refresh_token.unwrap().expose_secret(), "rt-c");
        assert_eq!(
            store.remove(profile).unwrap().as_deref(),
            Some("cy@x.example")
        );
        assert!(store.load(profile).unwrap().is_none());
        assert_eq!(
            store.load(&other).unwrap().unwrap().account,
            "bob@x.example"
        );
        assert!(!format!("{:?}", sign_in("a", "rt-secret")).contains("rt-secret"));
    }

    fn profile() -> Profile {
        Profile {
            authority: "https://login.microsoftonline.com".into(),
            tenant: "contoso".into(),
            client_id: "app-1".into(),
        }
    }

    #[test]
    fn keyring_store_through_the_mock_keyring() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path(), StoreKind::Keyring);
        let mock: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
        let store = KeyringStore::new(Arc::clone(&mock), &s);
        exercise(&store, &profile());
        // Nothing went to the file store.
        assert!(!dir.path().join(TOKEN_FILE).exists());
        // The keyring items are the ones described, with no secret in the metadata.
        let entry = keyring_core::Entry::new_in_store(
            &mock,
            SERVICE,
            &format!(
                "sign-in {}",
                Profile {
                    client_id: "app-2".into(),
                    ..profile()
                }
                .key()
            ),
        )
        .unwrap();
        let meta = entry.get_password().unwrap();
        assert!(
            meta.contains("bob@x.example") && !meta.contains("rt-b"),
            "{meta}"
        );
    }

    #[test]
    fn keyring_unavailable_names_the_file_store() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path(), StoreKind::Keyring);
        let mock: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
        let store = KeyringStore::new(Arc::clone(&mock), &s);
        let p = profile();
        let entry = keyring_core::Entry::new_in_store(&mock, SERVICE, &KeyringStore::meta_user(&p))
            .unwrap();
        let cred: &keyring_core::mock::Cred = entry.as_any().downcast_ref().unwrap();
        cred.set_error(keyring_core::Error::PlatformFailure(
            "org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided by any .service files".into(),
        ));
        let err = store.load(&p).unwrap_err();
        let failure = err.downcast_ref::<Failure>().unwrap();
        assert_eq!(failure.exit_code(), 3);
        let msg = failure.to_string();
        assert!(
            msg.contains("Secret Service") || msg.contains("OS keyring"),
            "{msg}"
        );
        assert!(msg.contains("ServiceUnknown"), "{msg}");
        assert!(msg.contains("token_store = \"file\""), "{msg}");
        assert!(msg.contains("CALSYNC_TOKEN_STORE=file"), "{msg}");
        // Locked keyring: the same advice.
        cred.set_error(keyring_core::Error::NoStorageAccess("Locked".into()));
        let err = store
            .save(&p, &sign_in("ada@x.example", "rt-1"))
            .unwrap_err();
        assert!(format!("{err}").contains("token_store = \"file\""), "{err}");
    }

    #[test]
    fn file_store_round_trip_atomic_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let store = FileStore::new(&state);
        exercise(&store, &profile());
        let path = state.join(TOKEN_FILE);
        assert!(path.exists(), "the other profile is still stored");
        // No temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&state)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = store.load(&profile()).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(msg.contains("644"), "{msg}");
            assert!(!msg.contains("rt-b"), "{msg}");
            assert_eq!(err.downcast_ref::<Failure>().unwrap().exit_code(), 3);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        // Removing the last sign-in removes the file.
        let other = Profile {
            client_id: "app-2".into(),
            ..profile()
        };
        assert_eq!(
            store.remove(&other).unwrap().as_deref(),
            Some("bob@x.example")
        );
        assert!(!path.exists());
    }

    #[test]
    fn corrupt_token_file_is_an_auth_failure_without_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(store.path()).unwrap();
        f.write_all(b"{\"version\":1,\"sign_ins\":{\"k\":{\"refresh_token\":\"rt-leak\"")
            .unwrap();
        let err = store.load(&profile()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("calsync login"), "{msg}");
        assert!(!msg.contains("rt-leak"), "{msg}");
    }
}
