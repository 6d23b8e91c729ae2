//! Which permissions a token needs to reach a Graph resource.

use super::Grant;

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
