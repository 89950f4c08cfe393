//! `user` and `group`: the local directory from the command line, audited as the admin UI is.

use std::io::{BufRead, IsTerminal};

use super::{cli_actor, cli_audit, explain, GroupCommand, UserCommand};
use crate::clock::now;
use crate::config::Settings;
use crate::directory::local::{generate_password, hash_password_async};
use crate::domain::account::{GroupName, NewPassword, Username};
use crate::store::{AccountChange, NewUser, Revoked, Store};

/// Reads a password from stdin (`--password-stdin`) or generates a one-time one.
/// Returns the password and whether it must be changed at first sign-in.
fn obtain_password(from_stdin: bool) -> anyhow::Result<(NewPassword, Option<String>)> {
    if from_stdin {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprint!("Password: ");
        }
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let line = line.trim_end_matches(['\r', '\n']);
        Ok((NewPassword::parse(line)?, None))
    } else {
        let generated = generate_password();
        Ok((NewPassword::parse(&generated)?, Some(generated)))
    }
}

pub(super) async fn user_command(
    store: &Store,
    settings: &Settings,
    cmd: UserCommand,
) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            username,
            display_name,
            email,
            groups,
            password_stdin,
        } => {
            let username = Username::parse(&username)?;
            let groups = groups
                .iter()
                .map(|g| GroupName::parse(g))
                .collect::<Result<Vec<_>, _>>()?;
            let (password, generated) = obtain_password(password_stdin)?;
            let hash = hash_password_async(password).await?;
            let names: Vec<&str> = groups.iter().map(GroupName::as_str).collect();
            store
                .create_user(
                    &NewUser {
                        username: username.as_str(),
                        display_name: &display_name,
                        email: &email,
                        password_hash: Some(&hash),
                        must_change_password: generated.is_some(),
                    },
                    &names,
                    now(),
                )
                .await
                .map_err(|e| explain(e, &format!("user `{username}`")))?;
            println!("created user `{username}`");
            cli_audit(store, "user", username.as_str(), "add").await;
            if let Some(p) = generated {
                println!("one-time password (must be changed at first sign-in): {p}");
            }
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let username = Username::parse(&username)?;
            let (password, generated) = obtain_password(password_stdin)?;
            let hash = hash_password_async(password).await?;
            let actor = cli_actor();
            let revoked = store
                .set_password(
                    username.as_str(),
                    &hash,
                    generated.is_some(),
                    &AccountChange::by(&actor, now()),
                )
                .await
                .map_err(|e| explain(e, "user"))?;
            println!("password of `{username}` set; {}", revoked_text(&revoked));
            cli_audit(store, "user", username.as_str(), "passwd").await;
            if let Some(p) = generated {
                println!("one-time password (must be changed at next sign-in): {p}");
            }
        }
        UserCommand::Disable { username } => {
            set_disabled(store, &username, true).await?;
            cli_audit(store, "user", &username, "disable").await;
        }
        UserCommand::Enable { username } => {
            set_disabled(store, &username, false).await?;
            cli_audit(store, "user", &username, "enable").await;
        }
        UserCommand::Signout { username } => {
            let username = Username::parse(&username)?;
            let revoked = store
                .sign_out_everywhere(username.as_str(), &AccountChange::by(&cli_actor(), now()))
                .await
                .map_err(|e| explain(e, "user"))?;
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

async fn set_disabled(store: &Store, username: &str, disabled: bool) -> anyhow::Result<()> {
    let username = Username::parse(username)?;
    let actor = cli_actor();
    let revoked = store
        .set_disabled(
            username.as_str(),
            disabled,
            &AccountChange::by(&actor, now()),
        )
        .await
        .map_err(|e| explain(e, "user"))?;
    if disabled {
        println!("user `{username}` disabled; {}", revoked_text(&revoked));
    } else {
        println!("user `{username}` enabled");
    }
    Ok(())
}

/// What a change ended, for the operator.
fn revoked_text(revoked: &Revoked) -> String {
    format!(
        "{} session(s) ended, {} API token(s) and {} command-line sign-in(s) revoked",
        revoked.sessions, revoked.tokens, revoked.cli_sign_ins
    )
}

pub(super) async fn group_command(store: &Store, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Add { name } => {
            let name = GroupName::parse(&name)?;
            store
                .create_group(name.as_str(), now())
                .await
                .map_err(|e| explain(e, &format!("group `{name}`")))?;
            println!("created group `{name}`");
            cli_audit(store, "group", name.as_str(), "add").await;
        }
        GroupCommand::Member {
            group,
            username,
            remove,
        } => {
            let group = GroupName::parse(&group)?;
            let username = Username::parse(&username)?;
            let actor = cli_actor();
            let revoked = store
                .set_membership(
                    group.as_str(),
                    username.as_str(),
                    !remove,
                    &AccountChange::by(&actor, now()),
                )
                .await
                .map_err(|e| explain(e, "membership"))?;
            if remove {
                println!(
                    "`{username}` removed from `{group}`; {}",
                    revoked_text(&revoked)
                );
            } else {
                println!("`{username}` added to `{group}`");
            }
            let action = if remove {
                "remove_member"
            } else {
                "add_member"
            };
            cli_audit(store, "group", &format!("{group}:{username}"), action).await;
        }
        GroupCommand::List => {
            for g in store.list_groups().await? {
                println!("{}\t{} member(s)", g.name, g.members);
            }
        }
    }
    Ok(())
}
