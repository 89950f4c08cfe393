//! `fedbroker-cli`: sign in to fedbroker once in the browser, then AWS credentials for your
//! roles that refresh themselves.
//!
//! Exit codes: 0 done; 2 sign in again (`fedbroker-cli login`); 1 anything else (the broker
//! unreachable, a role not granted, STS refused), with the reason on stderr.

mod broker;
mod credentials;
mod files;
mod login;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use broker::Failure;

#[derive(Debug, Parser)]
#[command(name = "fedbroker-cli", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in in the browser (authorization code with PKCE on a loopback address).
    Login {
        /// The broker's address, e.g. https://broker.example.com.
        #[arg(long, env = "FEDBROKER_URL")]
        broker: String,
        /// Print the address instead of opening a browser; the code may also be pasted.
        #[arg(long)]
        no_browser: bool,
        /// For a host the browser cannot reach: the broker shows a code to paste here.
        #[arg(long)]
        remote: bool,
        /// How long the sign-in should last, in seconds (the broker may allow less).
        #[arg(long)]
        lifetime: Option<i64>,
    },
    /// Print credentials for a role as `credential_process` JSON (cached, refreshed before
    /// they expire).
    CredentialProcess {
        /// The role's ARN.
        #[arg(long)]
        role: String,
    },
    /// List your roles.
    Roles {
        /// As JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Login {
            broker,
            no_browser,
            remote,
            lifetime,
        } => login::login(
            &login::Options {
                broker,
                no_browser,
                remote,
                lifetime_secs: lifetime,
            },
            now,
        ),
        Command::CredentialProcess { role } => {
            credentials::credential_process(&role, now).map(|json| println!("{json}"))
        }
        Command::Roles { json } => roles(json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fedbroker-cli: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn roles(json: bool) -> Result<(), Failure> {
    let sign_in = broker::signed_in(now())?;
    let answer = broker::api(&sign_in, reqwest::Method::GET, "/api/v1/roles", None)?;
    if json {
        println!("{answer}");
        return Ok(());
    }
    let roles = answer["roles"].as_array().cloned().unwrap_or_default();
    if roles.is_empty() {
        println!("You have no roles.");
        return Ok(());
    }
    println!("{:<24} {:<14} {:<8} ROLE", "ACCOUNT", "ID", "MAX");
    for r in roles {
        let account = r["account_name"].as_str().unwrap_or("");
        let hours = r["session_duration"].as_i64().unwrap_or(0) as f64 / 3600.0;
        println!(
            "{:<24} {:<14} {:<8} {}",
            account,
            r["account_id"].as_str().unwrap_or(""),
            format!("{hours}h"),
            r["role_arn"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
