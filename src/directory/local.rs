//! The local directory: argon2id password hashes, sign-in, the bootstrap admin and demo users.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::distributions::{Alphanumeric, DistString};
use subtle::ConstantTimeEq;

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
    verify_with_memory(&mut Vec::new(), hash, password)
}

/// The most argon2 memory a stored hash may ask for (64 MiB); a larger one never matches.
const MAX_ARGON2_BLOCKS: usize = 64 * 1024;

/// [`verify_password`] computing in `memory`, which is grown to the hash's size and kept, so a
/// worker thread reuses one buffer for every check instead of allocating 19 MiB each time.
fn verify_with_memory(memory: &mut Vec<Block>, hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version.unwrap_or_default(), params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok()
        && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// Verified against when the user does not exist, so that an unknown username costs the same
/// time as a wrong password and timing does not reveal which usernames exist.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_raw("fedbroker-dummy-password").unwrap_or_default());

/// The argon2 work of the whole process runs here: one thread per core, fed by a short queue.
///
/// Each hash holds 19 MiB for tens of milliseconds, so a burst of sign-ins (no account needed)
/// must not start one computation per request: memory would grow without bound, and the
/// allocator keeps what each thread used. With a fixed set of threads the memory is bounded by
/// their number; with a short queue, a request beyond it is told at once that the broker is
/// busy (503 with Retry-After) rather than waiting without end.
struct Argon2Pool {
    jobs: SyncSender<Job>,
}

/// A computation for a worker, given the worker's own argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

static ARGON2_POOL: LazyLock<Argon2Pool> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (jobs, queue) = sync_channel::<Job>(4 * threads);
    let queue = Arc::new(Mutex::new(queue));
    for i in 0..threads {
        let queue = queue.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                let mut memory = Vec::new();
                loop {
                    let next = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    let Ok(job) = next else { return };
                    // A job that panics must not take its worker with it.
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password-hashing thread");
        }
    }
    Argon2Pool { jobs }
});

/// Password checks run since start, for `/metrics` (a burst test reads it too).
static PASSWORD_CHECKS: AtomicU64 = AtomicU64::new(0);

/// How many passwords have been checked against a hash since the process started.
pub fn password_checks() -> u64 {
    PASSWORD_CHECKS.load(Ordering::Relaxed)
}

/// Runs an argon2 computation on [`ARGON2_POOL`]; `Busy` when its queue is full.
async fn run_argon2<T: Send + 'static>(
    work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> Result<T, LocalError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    ARGON2_POOL
        .jobs
        .try_send(Box::new(move |memory: &mut Vec<Block>| {
            let _ = reply.send(work(memory));
        }))
        .map_err(|_| LocalError::Busy)?;
    answer
        .await
        .map_err(|_| LocalError::Hash("the password-hashing thread stopped".into()))
}

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
    /// Every core is busy checking passwords; the caller should answer 503 with Retry-After.
    #[error("the broker is busy checking other passwords")]
    Busy,
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
    let matches = run_argon2(move |memory| {
        PASSWORD_CHECKS.fetch_add(1, Ordering::Relaxed);
        verify_with_memory(memory, &hash, &candidate)
    })
    .await?;
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
    let Some(found) = store.user_with_memberships(user_id).await? else {
        return Ok(None);
    };
    let (user, memberships) = (&found.0, &found.1);
    Ok(Some(Identity {
        user_id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        groups: memberships.iter().map(|m| m.group.clone()).collect(),
        must_change_password: user.must_change_password,
        attributes: serde_json::from_str(&user.attributes).unwrap_or_default(),
        source: user.source.clone(),
        memberships: memberships.clone(),
    }))
}

/// Hashes off the async executor (argon2 takes tens of milliseconds by design).
pub async fn hash_password_async(password: NewPassword) -> Result<String, LocalError> {
    run_argon2(move |_| hash_password(&password)).await?
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
