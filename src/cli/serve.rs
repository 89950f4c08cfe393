//! `fedbroker serve`: start the broker and tell the operator what a first start created.
//!
//! Human notices go to stderr, so stdout carries only log lines (plain or JSON) for whatever
//! collects them. The bootstrap admin's one-time password is shown only where a person reads it:
//! on stderr when that is a terminal, otherwise in a file only this user can read, whose path the
//! notice and the log event name. It never enters the log stream.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::directory::local::Bootstrap;
use crate::startup::{Application, BuildOptions};

/// Runs the server until SIGTERM or Ctrl-C.
pub(super) async fn serve(settings: Settings) -> anyhow::Result<()> {
    let options = BuildOptions {
        bootstrap_admin_password: std::env::var("FEDBROKER_BOOTSTRAP_ADMIN_PASSWORD").ok(),
    };
    let app = Application::build(settings.clone(), options).await?;
    announce_first_start(
        &app,
        &settings.database.url,
        std::io::stderr().is_terminal(),
    );
    if !app.demo_users().is_empty() {
        eprintln!(
            "  Demo users created: {} (passwords in README.md).\n",
            app.demo_users().join(", ")
        );
    }
    eprintln!("  fedbroker is listening on {}", app.url());
    tracing::info!(url = %app.url(), database = app.store().engine(), "fedbroker started");
    app.run_until_stopped().await?;
    tracing::info!("fedbroker stopped");
    Ok(())
}

/// Where the one-time password goes when no terminal shows it: beside the SQLite database (a
/// folder only the broker's user can enter), or with PostgreSQL in the working directory (the
/// state directory under the systemd unit in `docs/`).
pub fn one_time_password_path(database_url: &str) -> PathBuf {
    let name = "admin-one-time-password";
    match crate::store::sqlite_folder(database_url) {
        Some(folder) => folder.join(name),
        None => PathBuf::from(name),
    }
}

fn announce_first_start(app: &Application, database_url: &str, on_terminal: bool) {
    let Bootstrap::Created { password } = app.bootstrap() else {
        return;
    };
    let login = format!("{}/login", app.url());
    let created = "\n  First start: created user `admin` in the admin group.\n ";
    let (shown, file, notice) = match password {
        None => (
            "FEDBROKER_BOOTSTRAP_ADMIN_PASSWORD",
            String::new(),
            format!(
                "{created} Its password is the one in FEDBROKER_BOOTSTRAP_ADMIN_PASSWORD; sign in \
                 at {login} and choose a new one.\n"
            ),
        ),
        Some(password) if on_terminal => (
            "terminal",
            String::new(),
            format!(
                "{created} One-time password: {password}\n  Sign in at {login} and choose a new \
                 password. This password is not shown again (`fedbroker user passwd admin` makes \
                 a new one).\n"
            ),
        ),
        Some(password) => {
            let path = one_time_password_path(database_url);
            if let Err(e) = write_owner_only(&path, &format!("{password}\n")) {
                eprintln!(
                    "{created} Its one-time password could not be written to {} ({e}).\n  Run \
                     `fedbroker user passwd admin` for a new one.\n",
                    path.display()
                );
                tracing::error!(
                    event = "first_start",
                    user = "admin",
                    password_file = %path.display(),
                    error = %e,
                    "first start: the one-time password could not be written; run `fedbroker user passwd admin`"
                );
                return;
            }
            (
                "file",
                path.display().to_string(),
                format!(
                    "{created} Its one-time password is in {} (readable by this user only).\n  \
                     Sign in at {login}, choose a new password, then delete the file.\n",
                    path.display()
                ),
            )
        }
    };
    eprintln!("{notice}");
    tracing::warn!(
        event = "first_start",
        user = "admin",
        password_shown = shown,
        password_file = %file,
        login_url = %login,
        "first start: created the admin user"
    );
}

/// Writes a fresh file with mode 0600. An old file is removed first rather than opened, so a
/// symlink planted in its place is never followed.
fn write_owner_only(path: &Path, content: &str) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    crate::store::write_private_file(path, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_file_sits_beside_the_sqlite_database_or_in_the_working_directory() {
        assert_eq!(
            one_time_password_path("sqlite:///var/lib/fedbroker/fedbroker.db?mode=rwc"),
            PathBuf::from("/var/lib/fedbroker/admin-one-time-password")
        );
        assert_eq!(
            one_time_password_path("sqlite:fedbroker.db"),
            PathBuf::from("./admin-one-time-password")
        );
        assert_eq!(
            one_time_password_path("postgres://fed@db/fed"),
            PathBuf::from("admin-one-time-password")
        );
    }

    #[test]
    fn an_old_file_or_a_planted_symlink_is_replaced_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").expect("write");
        let path = dir.path().join("admin-one-time-password");
        std::os::unix::fs::symlink(&target, &path).expect("symlink");
        write_owner_only(&path, "secret\n").expect("written");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "secret\n");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
