//! `user` and `group`: the local directory from the command line, audited as the admin UI is.

use std::io::{BufRead, IsTerminal};

use super::{cli_actor, GroupCommand, UserCommand};
use crate::auth::user_admin::{self, revoked_text, NewLocalUser};
use crate::clock::now;
use crate::config::Settings;
use crate::domain::account::NewPassword;
use crate::store::Store;

/// Reads a password from stdin (`--password-stdin`); `None` means: generate a one-time one.
fn chosen_password(from_stdin: bool) -> anyhow::Result<Option<NewPassword>> {
    if !from_stdin {
        return Ok(None);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']);
    Ok(Some(NewPassword::parse(line)?))
}

pub(super) async fn user_command(
    store: &Store,
    settings: &Settings,
    cmd: UserCommand,
) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        UserCommand::Add {
            username,
            display_name,
            email,
            groups,
            password_stdin,
        } => {
            let new = NewLocalUser {
                username,
                display_name,
                email,
                groups,
            };
            let (username, issued) = user_admin::create_user(
                store,
                &actor,
                &new,
                chosen_password(password_stdin)?,
                now(),
            )
            .await?;
            println!("created user `{username}`");
            if let Some(p) = issued.one_time {
                println!("one-time password (must be changed at first sign-in): {p}");
            }
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let user = user_admin::find_user(store, &username).await?;
            let (issued, revoked) = user_admin::reset_password(
                store,
                &actor,
                &user,
                chosen_password(password_stdin)?,
                now(),
            )
            .await?;
            println!("password of `{username}` set; {}", revoked_text(&revoked));
            if let Some(p) = issued.one_time {
                println!("one-time password (must be changed at next sign-in): {p}");
            }
        }
        UserCommand::Disable { username } => {
            let user = user_admin::find_user(store, &username).await?;
            let revoked = user_admin::set_disabled(store, &actor, &user, true, now()).await?;
            println!("user `{username}` disabled; {}", revoked_text(&revoked));
        }
        UserCommand::Enable { username } => {
            let user = user_admin::find_user(store, &username).await?;
            user_admin::set_disabled(store, &actor, &user, false, now()).await?;
            println!("user `{username}` enabled");
        }
        UserCommand::Signout { username } => {
            let user = user_admin::find_user(store, &username).await?;
            let revoked = user_admin::sign_out_everywhere(store, &actor, &user, now()).await?;
            println!("user `{username}` signed out; {}", revoked_text(&revoked));
        }
        UserCommand::List => {
            for u in store.list_users().await? {
                // Where an admin's right comes from, so that an unexpected admin stands out.
                let memberships = store.memberships_of_user(u.id).await?;
                let admin = crate::directory::admin::admin_origin(
                    &settings.admin.group,
                    &settings.sources,
                    &memberships,
                )
                .map(|o| format!("\t({o})"))
                .unwrap_or_default();
                println!(
                    "{}\t{}\t{}{}{admin}",
                    u.username,
                    u.display_name,
                    u.email,
                    if u.disabled { "\t(disabled)" } else { "" }
                );
            }
        }
    }
    Ok(())
}

pub(super) async fn group_command(
    store: &Store,
    settings: &Settings,
    cmd: GroupCommand,
) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        GroupCommand::Add { name } => {
            let name = user_admin::create_group(store, &actor, &name, now()).await?;
            println!("created group `{name}`");
        }
        GroupCommand::Member {
            group,
            username,
            remove,
        } => {
            let user = user_admin::find_user(store, &username).await?;
            let revoked = user_admin::set_membership(
                store,
                &actor,
                &settings.admin.group,
                &group,
                &user,
                !remove,
                now(),
            )
            .await?;
            if remove {
                println!(
                    "`{username}` removed from `{group}`; {}",
                    revoked_text(&revoked)
                );
            } else {
                println!("`{username}` added to `{group}`");
            }
        }
        GroupCommand::List => {
            for g in store.list_groups().await? {
                println!("{}\t{} member(s)", g.name, g.members);
            }
        }
    }
    Ok(())
}
