//! The local directory: argon2id password hashes, sign-in, the bootstrap admin and demo users.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distributions::{Alphanumeric, DistString};

use super::Identity;
use crate::domain::account::{NewPassword, Username};
use crate::store::{NewUser, Store, StoreError};

/// Hashes a password with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &NewPassword) -> Result<String, LocalError> {
    hash_raw(password.expose())
}

fn hash_raw(password: &str) -> Result<String, LocalError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| LocalError::Hash(e.to_string()))
}

/// Checks a password against a stored hash; a malformed hash never matches.
pub fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Verified against when the user does not exist, so that an unknown username costs the same
/// time as a wrong password and timing does not reveal which usernames exist.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_raw("fedbroker-dummy-password").unwrap_or_default());

/// Why a local sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Unknown user or wrong password: deliberately the same variant.
    #[error("wrong username or password")]
    InvalidCredentials,
    /// Correct password, but the account is disabled.
    #[error("this account is disabled")]
    Disabled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Checks a username and password against the local directory.
///
/// The disabled flag is only revealed to someone who knows the password.
pub async fn authenticate(
    store: &Store,
    username: &str,
    password: &str,
) -> Result<Identity, LocalError> {
    let user = match Username::parse(username) {
        Ok(name) => store.user_by_username(name.as_str()).await?,
        Err(_) => None,
    };
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    let candidate = password.to_string();
    let matches = tokio::task::spawn_blocking(move || verify_password(&hash, &candidate))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(u) if matches && u.password_hash.is_some() => u,
        _ => return Err(LocalError::InvalidCredentials),
    };
    if user.disabled {
        return Err(LocalError::Disabled);
    }
    identity_of(store, user.id)
        .await?
        .ok_or(LocalError::InvalidCredentials)
}

/// Loads the identity of a user id (for a session), `None` when the user is gone.
pub async fn identity_of(store: &Store, user_id: i64) -> Result<Option<Identity>, StoreError> {
    let Some(user) = store.user_by_id(user_id).await? else {
        return Ok(None);
    };
    let memberships = store.memberships_of_user(user.id).await?;
    let groups = memberships.iter().map(|m| m.group.clone()).collect();
    Ok(Some(Identity {
        user_id: user.id,
        username: user.username,
        display_name: user.display_name,
        email: user.email,
        groups,
        must_change_password: user.must_change_password,
        attributes: serde_json::from_str(&user.attributes).unwrap_or_default(),
        source: user.source,
        memberships,
    }))
}

/// Hashes off the async executor (argon2 takes tens of milliseconds by design).
pub async fn hash_password_async(password: NewPassword) -> Result<String, LocalError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| LocalError::Hash(e.to_string()))?
}

/// A random password for generated accounts: 20 alphanumerics (~119 bits).
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}

/// The result of [`bootstrap_admin`].
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// The database already had users; nothing was done.
    NotNeeded,
    /// The admin was created with this one-time password (to be shown once, then changed).
    Created { password: Option<String> },
}

/// On an empty directory, creates `admin` in the admin group with a one-time password that must
/// be changed at first sign-in. `preset` (from `FEDBROKER_BOOTSTRAP_ADMIN_PASSWORD`) replaces the
/// generated one, and is then not echoed back.
pub async fn bootstrap_admin(
    store: &Store,
    admin_group: &str,
    preset: Option<String>,
    now: i64,
) -> Result<Bootstrap, LocalError> {
    if store.count_users().await? > 0 {
        return Ok(Bootstrap::NotNeeded);
    }
    let (password, shown) = match preset {
        Some(p) => (p, None),
        None => {
            let p = generate_password();
            (p.clone(), Some(p))
        }
    };
    let password = NewPassword::parse(&password)
        .map_err(|e| LocalError::Hash(format!("FEDBROKER_BOOTSTRAP_ADMIN_PASSWORD: {e}")))?;
    let hash = hash_password_async(password).await?;
    let user = NewUser {
        username: "admin",
        display_name: "Administrator",
        email: "",
        password_hash: Some(&hash),
        must_change_password: true,
    };
    match store.create_user(&user, &[admin_group], now).await {
        Ok(_) => Ok(Bootstrap::Created { password: shown }),
        // Another instance sharing the database created it first.
        Err(StoreError::Conflict) => Ok(Bootstrap::NotNeeded),
        Err(e) => Err(e.into()),
    }
}

/// Demo users: (username, display name, password, groups). Passwords are documented in README.md.
pub const DEMO_USERS: &[(&str, &str, &str, &[&str])] = &[
    (
        "alice",
        "Alice Example",
        "alice-demo-password",
        &[
            "AWS-123456789012-Admin",
            "AWS-123456789012-ReadOnly",
            "AWS-210987654321-Dev",
        ],
    ),
    (
        "bob",
        "Bob Example",
        "bob-demo-password",
        &["AWS-210987654321-Dev", "AWS-210987654321-ReadOnly"],
    ),
];

/// Creates the demo users that do not exist yet.
pub async fn seed_demo(store: &Store, now: i64) -> Result<Vec<String>, LocalError> {
    let mut created = Vec::new();
    for (username, display, password, groups) in DEMO_USERS {
        if store.user_by_username(username).await?.is_some() {
            continue;
        }
        let password = NewPassword::parse(password).map_err(|e| LocalError::Hash(e.to_string()))?;
        let hash = hash_password_async(password).await?;
        let email = format!("{username}@example.com");
        let user = NewUser {
            username,
            display_name: display,
            email: &email,
            password_hash: Some(&hash),
            must_change_password: false,
        };
        match store.create_user(&user, groups, now).await {
            Ok(_) => created.push(username.to_string()),
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Aliases for the demo accounts, so the portal shows names and environments.
    for (id, name, environment, colour) in DEMO_ACCOUNTS {
        if store.account(id).await?.is_some() {
            continue;
        }
        let alias = crate::mapping::AccountAlias {
            id: id.to_string(),
            name: name.to_string(),
            environment: environment.to_string(),
            colour: crate::mapping::Colour::parse(colour),
        };
        let change = crate::store::Change {
            actor: "demo",
            at: now,
        };
        match store.save_account(&alias, None, &change).await {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(created)
}

/// Demo account aliases: (id, name, environment, colour).
pub const DEMO_ACCOUNTS: &[(&str, &str, &str, &str)] = &[
    ("123456789012", "Payments", "prod", "red"),
    ("210987654321", "Analytics", "dev", "green"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let pw = NewPassword::parse("correct horse battery").expect("valid");
        let hash = hash_password(&pw).expect("hashes");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse batterY"));
        assert!(!verify_password("not a hash", "anything"));
    }
}
