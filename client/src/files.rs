//! Where the client keeps its sign-in and cached credentials, readable by this user only.
//!
//! - the sign-in (broker URL, refresh token, current access token): `$XDG_CONFIG_HOME/fedbroker/
//!   sign-in.json` (`~/.config/…`; on macOS `~/Library/Application Support/fedbroker/`);
//! - credentials per role: `$XDG_CACHE_HOME/fedbroker/credentials/<hash>.json` (`~/.cache/…`;
//!   on macOS `~/Library/Caches/fedbroker/`), and the lock that makes one process refresh while
//!   the others wait.
//!
//! Files are written to a temporary name in the same folder and renamed over the old one, so a
//! reader never sees half a file; folders are 0700 and files 0600.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn from_env_or(var: &str, linux: &str, macos: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("fedbroker");
    }
    let relative = if cfg!(target_os = "macos") {
        macos
    } else {
        linux
    };
    home().join(relative).join("fedbroker")
}

/// The folder of the sign-in.
pub fn config_dir() -> PathBuf {
    from_env_or("XDG_CONFIG_HOME", ".config", "Library/Application Support")
}

/// The folder of cached credentials and the lock.
pub fn cache_dir() -> PathBuf {
    from_env_or("XDG_CACHE_HOME", ".cache", "Library/Caches")
}

/// What `login` stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignIn {
    pub broker: String,
    pub refresh_token: String,
    /// Unix seconds at which the broker ends the sign-in.
    pub refresh_expires_at: i64,
    pub access_token: String,
    pub access_expires_at: i64,
}

pub fn sign_in_path() -> PathBuf {
    config_dir().join("sign-in.json")
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Reads a JSON file; `None` when it does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is damaged ({e}); delete it", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes JSON with mode 0600, replacing the file in one step.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    write_bytes(path, &bytes)
}

/// Writes text with mode 0600, replacing the file in one step.
pub fn write_text(path: &Path, text: &str) -> Result<(), String> {
    write_bytes(path, text.as_bytes())
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let _ = std::fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// An exclusive lock held until dropped: one process refreshes, the others wait and then read
/// what it wrote.
pub struct Lock(#[allow(dead_code)] File);

/// Locks `name` in `dir` (the sign-in's lock beside the sign-in, a role's beside its cache).
pub fn lock(dir: &Path, name: &str) -> Result<Lock, String> {
    private_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.lock()
        .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    Ok(Lock(file))
}
