//! `[database]`: where the store lives, and how an SQLite file is prepared before it opens.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[database]`
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Shown with its password replaced (`check-config`, logs).
    #[serde(serialize_with = "serialize_redacted_url")]
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

impl fmt::Debug for DatabaseSettings {
    // The URL may carry a password; Debug output ends up in logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .finish()
    }
}

fn serialize_redacted_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

/// Replaces the password of a `scheme://user:password@host` URL with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Resolves `database.url` for SQLite relative to the working directory and makes sure its
/// folder exists, so the first start needs no preparation.
///
/// The database holds password hashes, sessions and the audit log, so nobody but the broker's
/// own user may read it: a folder created here is `0700`, and the database file is created
/// `0600` before SQLite opens it (SQLite gives its `-wal` and `-shm` files the database file's
/// mode). Files left readable by an older start are narrowed to `0600` too.
pub fn prepare_sqlite_path(url: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let path = sqlite_file(url).unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = Path::new(path).parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        match std::fs::metadata(&file) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The database file of an SQLite URL (`sqlite://PATH?options`); `None` for other engines.
pub fn sqlite_file(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(path.split('?').next().unwrap_or(path))
}

/// Holds an exclusive lock on `<database file>.migrate.lock` while migrations run: sqlx locks
/// PostgreSQL for its migrations but not SQLite, and two instances starting together on one
/// new SQLite file would both apply the first migration (one then fails). `None` for other
/// engines and for in-memory databases; the lock ends when the file is dropped. Waits without
/// blocking the thread (another instance may be a task of this very process, as in tests).
pub async fn lock_for_migrations(url: &str) -> std::io::Result<Option<std::fs::File>> {
    let Some(file) = sqlite_file(url).filter(|f| !f.is_empty() && !f.contains(":memory:")) else {
        return Ok(None);
    };
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("{file}.migrate.lock"))?;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(Some(lock)),
            Err(std::fs::TryLockError::WouldBlock) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// The folder of an SQLite database (`.` for a bare file name), where the files that belong
/// with it live (its key-encryption key, a first start's one-time password); `None` for other
/// engines.
pub fn sqlite_folder(url: &str) -> Option<PathBuf> {
    let file = sqlite_file(url)?;
    Some(
        Path::new(file)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
    )
}

/// Writes a new file readable by this user only (0600), creating its folder; fails if the file
/// exists, so a file (or a symlink) put there by someone else is never written through.
pub fn write_private_file(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content.as_bytes())
}
