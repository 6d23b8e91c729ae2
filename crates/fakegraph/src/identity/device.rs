//! Device authorization (RFC 8628): `…/devicecode` starts one, and the
//! token endpoint's device-code grant polls it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{AadError, DevicePoll, DeviceSession, Identity, VERIFICATION_URI};

impl Identity {
    pub(super) fn device_authorization(
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

    pub(super) fn device_code_grant(
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
}
