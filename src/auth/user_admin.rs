//! Local users and groups as an admin manages them: the admin pages and the command line call
//! these same operations, so a name is checked, a password hashed, a change made in one
//! transaction and recorded as `admin.change` (with who made it) the same way from either.
//!
//! Passwords an admin hands out are one-time: generated here, shown once to the admin, stored
//! only as a hash, and marked so that the first sign-in must replace them. Only the command
//! line may set a chosen password (`--password-stdin`), for scripted set-ups.
//!
//! Accounts of LDAP, OIDC and SAML sources live in those sources: the broker can disable them
//! and end their sessions, but never gives them a password, because a local password beside
//! an upstream account would be a second way in that the source's owner cannot see.

use crate::directory::local::{generate_password, hash_password_async, LocalError};
use crate::domain::account::{AccountError, GroupName, NewPassword, Username};
use crate::store::{AccountChange, NewUser, Revoked, Store, StoreError, UserRecord};

/// Why an admin's change was refused; the text says what to do.
#[derive(Debug, thiserror::Error)]
pub enum UserAdminError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Local(LocalError),
}

impl From<StoreError> for UserAdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => UserAdminError::Invalid(format!("{what} does not exist")),
            other => UserAdminError::Store(other),
        }
    }
}

impl From<AccountError> for UserAdminError {
    fn from(e: AccountError) -> Self {
        UserAdminError::Invalid(e.to_string())
    }
}

impl From<LocalError> for UserAdminError {
    fn from(e: LocalError) -> Self {
        match e {
            LocalError::Store(s) => s.into(),
            other => UserAdminError::Local(other),
        }
    }
}

/// A local user to create.
#[derive(Debug, Clone, Default)]
pub struct NewLocalUser {
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// Local groups to put them in (created if missing).
    pub groups: Vec<String>,
}

/// A password set by an admin: the one generated (to show once), or none when the caller
/// chose it.
#[derive(Debug)]
pub struct IssuedPassword {
    pub one_time: Option<String>,
}

/// A chosen password, or a generated one-time password.
async fn password_hash(
    chosen: Option<NewPassword>,
) -> Result<(String, IssuedPassword), UserAdminError> {
    let (password, one_time) = match chosen {
        Some(p) => (p, None),
        None => {
            let generated = generate_password();
            (NewPassword::parse(&generated)?, Some(generated))
        }
    };
    Ok((
        hash_password_async(password).await?,
        IssuedPassword { one_time },
    ))
}

/// Splits a comma- or line-separated list of group names and checks each (a group name may
/// hold spaces: `Domain Admins`).
pub fn parse_groups(raw: &str) -> Result<Vec<String>, UserAdminError> {
    raw.split([',', '\n', '\r'])
        .filter(|g| !g.trim().is_empty())
        .map(|g| Ok(GroupName::parse(g)?.as_str().to_string()))
        .collect()
}

/// Creates a local user with a one-time password (or `chosen`), in `groups`; returns the
/// normalised username and the password to hand over.
pub async fn create_user(
    store: &Store,
    actor: &str,
    new: &NewLocalUser,
    chosen: Option<NewPassword>,
    now: i64,
) -> Result<(Username, IssuedPassword), UserAdminError> {
    let username = Username::parse(&new.username)?;
    let display_name = new.display_name.trim();
    let email = new.email.trim();
    if display_name.chars().count() > 128 || email.chars().count() > 254 {
        return Err(UserAdminError::Invalid(
            "the name is at most 128 characters and the email address at most 254".into(),
        ));
    }
    if !email.is_empty() && !email.contains('@') {
        return Err(UserAdminError::Invalid(format!(
            "`{email}` is not an email address: write name@example.com, or leave it empty"
        )));
    }
    let groups = new
        .groups
        .iter()
        .map(|g| Ok(GroupName::parse(g)?.as_str().to_string()))
        .collect::<Result<Vec<_>, UserAdminError>>()?;
    let (hash, issued) = password_hash(chosen).await?;
    let names: Vec<&str> = groups.iter().map(String::as_str).collect();
    store
        .create_user(
            &NewUser {
                username: username.as_str(),
                display_name,
                email,
                password_hash: Some(&hash),
                must_change_password: issued.one_time.is_some(),
            },
            &names,
            now,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict => UserAdminError::Invalid(format!(
                "a user `{username}` exists already: choose another username, or reset that \
                 user's password on their page"
            )),
            other => other.into(),
        })?;
    let details =
        serde_json::json!({ "groups": groups, "one_time_password": issued.one_time.is_some() });
    let name = username.as_str();
    record_user_change(store, actor, name, "add", details, now).await;
    Ok((username, issued))
}

/// The stored account an admin names: the exact stored username first (a source's names may
/// hold any printable character), then the name as a local username is normalised (`Erin` is
/// `erin`). The operations below take the record found, never the text typed, so the change and
/// the page that reports it are about the same person.
pub async fn find_user(store: &Store, name: &str) -> Result<UserRecord, UserAdminError> {
    // As given first: a source's normalisation can leave a stored name starting with a space.
    if let Some(user) = store.user_by_username(name).await? {
        return Ok(user);
    }
    let name = name.trim();
    if let Ok(local) = Username::parse(name) {
        if let Some(user) = store.user_by_username(local.as_str()).await? {
            return Ok(user);
        }
    }
    Err(UserAdminError::Invalid(format!(
        "user `{name}` does not exist"
    )))
}

/// Records an admin's change to a person's account, naming them as the event's subject so that
/// their audit trail shows it.
#[allow(clippy::too_many_arguments)]
async fn record(
    store: &Store,
    actor: &str,
    subject: &str,
    entity: &str,
    key: &str,
    action: &str,
    details: serde_json::Value,
    now: i64,
) {
    store
        .record_admin_change_of(subject, actor, entity, key, action, details, now)
        .await;
}

/// [`record`] of a change to the account itself (`user`, keyed by its username).
async fn record_user_change(
    store: &Store,
    actor: &str,
    username: &str,
    action: &str,
    details: serde_json::Value,
    now: i64,
) {
    record(
        store, actor, username, "user", username, action, details, now,
    )
    .await;
}

/// Gives a local user a new one-time password (or `chosen`); their sessions, API tokens and
/// command-line sign-ins end in the same transaction. Accounts of a source are refused.
pub async fn reset_password(
    store: &Store,
    actor: &str,
    user: &UserRecord,
    chosen: Option<NewPassword>,
    now: i64,
) -> Result<(IssuedPassword, Revoked), UserAdminError> {
    if user.source != "local" {
        return Err(UserAdminError::Invalid(format!(
            "`{}` signs in through the source `{}`: their password lives there, not here",
            user.username, user.source
        )));
    }
    let (hash, issued) = password_hash(chosen).await?;
    let revoked = store
        .set_password(
            &user.username,
            &hash,
            issued.one_time.is_some(),
            &AccountChange::by(actor, now),
        )
        .await?;
    let details = serde_json::json!({ "one_time_password": issued.one_time.is_some() });
    record_user_change(store, actor, &user.username, "passwd", details, now).await;
    Ok((issued, revoked))
}

/// Disables (ending everything the user holds) or re-enables any user. Admins cannot disable
/// themselves: the last admin would lock everyone out of the admin pages.
pub async fn set_disabled(
    store: &Store,
    actor: &str,
    user: &UserRecord,
    disabled: bool,
    now: i64,
) -> Result<Revoked, UserAdminError> {
    if disabled && user.username == actor {
        return Err(UserAdminError::Invalid(
            "you cannot disable your own account; another admin can".into(),
        ));
    }
    let revoked = store
        .set_disabled(&user.username, disabled, &AccountChange::by(actor, now))
        .await?;
    let action = if disabled { "disable" } else { "enable" };
    let details = serde_json::json!({});
    record_user_change(store, actor, &user.username, action, details, now).await;
    Ok(revoked)
}

/// Ends every session, API token and command-line sign-in of a user (a lost laptop).
pub async fn sign_out_everywhere(
    store: &Store,
    actor: &str,
    user: &UserRecord,
    now: i64,
) -> Result<Revoked, UserAdminError> {
    let revoked = store
        .sign_out_everywhere(&user.username, &AccountChange::by(actor, now))
        .await?;
    let details = serde_json::json!({});
    record_user_change(store, actor, &user.username, "sign_out", details, now).await;
    Ok(revoked)
}

/// Adds a user to a local group or takes them out (which ends their sessions: those carry the
/// groups of the moment they began). Admins cannot take themselves out of `admin_group` (the
/// local admin group), for the reason they cannot disable themselves.
#[allow(clippy::too_many_arguments)]
pub async fn set_membership(
    store: &Store,
    actor: &str,
    admin_group: &str,
    group: &str,
    user: &UserRecord,
    member: bool,
    now: i64,
) -> Result<Revoked, UserAdminError> {
    let group = GroupName::parse(group)?;
    if !member && user.username == actor && group.as_str() == admin_group {
        return Err(UserAdminError::Invalid(format!(
            "you cannot take yourself out of the admin group `{admin_group}`; another admin can"
        )));
    }
    let revoked = store
        .set_membership(
            group.as_str(),
            &user.username,
            member,
            &AccountChange::by(actor, now),
        )
        .await?;
    let action = if member {
        "add_member"
    } else {
        "remove_member"
    };
    let key = format!("{group}:{}", user.username);
    let details = serde_json::json!({});
    record(
        store,
        actor,
        &user.username,
        "group",
        &key,
        action,
        details,
        now,
    )
    .await;
    Ok(revoked)
}

/// Creates an empty local group.
pub async fn create_group(
    store: &Store,
    actor: &str,
    name: &str,
    now: i64,
) -> Result<GroupName, UserAdminError> {
    let name = GroupName::parse(name)?;
    store
        .create_group(name.as_str(), now)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => {
                UserAdminError::Invalid(format!("a group `{name}` exists already"))
            }
            other => other.into(),
        })?;
    store
        .record_admin_change(
            actor,
            "group",
            name.as_str(),
            "add",
            serde_json::json!({}),
            now,
        )
        .await;
    Ok(name)
}

/// What a change ended, for the admin.
pub fn revoked_text(revoked: &Revoked) -> String {
    format!(
        "{} session(s) ended, {} API token(s) and {} command-line sign-in(s) revoked",
        revoked.sessions, revoked.tokens, revoked.cli_sign_ins
    )
}

#[cfg(test)]
mod tests {
    use super::parse_groups;

    #[test]
    fn group_lists_split_on_commas_and_lines_and_are_checked() {
        assert_eq!(
            parse_groups("aws-dev, Domain Admins\nteam-x,").expect("ok"),
            vec!["aws-dev", "Domain Admins", "team-x"]
        );
        assert!(parse_groups(" , ").expect("ok").is_empty());
        assert!(parse_groups("ok, bad\u{7}name").is_err());
    }
}
