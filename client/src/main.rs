//! `fedbroker-cli`: sign in to fedbroker once in the browser, then AWS credentials for your
//! roles that refresh themselves.
//!
//! Exit codes: 0 done; 2 sign in again (`fedbroker-cli login`); 1 anything else (the broker
//! unreachable, a role not granted, STS refused), with the reason on stderr.

mod aws_config;
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
        #[command(flatten)]
        target: Target,
    },
    /// List your roles.
    Roles {
        /// As JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write a profile for each of your roles into ~/.aws/config (only profiles it wrote are
    /// ever changed).
    Configure {
        /// Put this in front of every profile name.
        #[arg(long, default_value = "")]
        prefix: String,
        /// The profiles' Region (default: $AWS_REGION, else us-east-1).
        #[arg(long)]
        region: Option<String>,
        /// Show what would change, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run a command with a role's credentials in its environment.
    Exec {
        #[command(flatten)]
        target: Target,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
    /// Open the AWS console as a role in the browser.
    Console {
        #[command(flatten)]
        target: Target,
        /// Print the sign-in address instead of opening a browser.
        #[arg(long)]
        print: bool,
    },
}

/// A role, by ARN or by the profile that names it.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct Target {
    /// The role's ARN.
    #[arg(long)]
    role: Option<String>,
    /// A profile of ~/.aws/config that runs `fedbroker-cli credential-process --role ARN`.
    #[arg(long)]
    profile: Option<String>,
}

impl Target {
    /// The role's ARN and the profile's Region, if any.
    fn resolve(&self) -> Result<(String, Option<String>), Failure> {
        if let Some(role) = &self.role {
            return Ok((role.clone(), None));
        }
        let name = self.profile.as_deref().unwrap_or_default();
        let path = aws_config::path();
        let text = read_config(&path)?;
        let section = aws_config::parse(&text)
            .into_iter()
            .find(|s| s.profile() == Some(name))
            .ok_or_else(|| {
                Failure::Other(format!(
                    "{} has no profile `{name}`; `fedbroker-cli configure` writes one per role",
                    path.display()
                ))
            })?;
        let role = section.role().ok_or_else(|| {
            Failure::Other(format!(
                "profile `{name}` does not run `fedbroker-cli credential-process --role ARN`"
            ))
        })?;
        Ok((role, section.region()))
    }
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
        Command::CredentialProcess { target } => target.resolve().and_then(|(role, _)| {
            credentials::credential_process(&role, now).map(|json| println!("{json}"))
        }),
        Command::Roles { json } => roles(json),
        Command::Configure {
            prefix,
            region,
            dry_run,
        } => configure(&prefix, region, dry_run),
        Command::Exec { target, command } => exec(&target, &command),
        Command::Console { target, print } => console(&target, print),
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

fn configure(prefix: &str, region: Option<String>, dry_run: bool) -> Result<(), Failure> {
    let sign_in = broker::signed_in(now())?;
    let answer = broker::api(&sign_in, reqwest::Method::GET, "/api/v1/roles", None)?;
    let roles = answer["roles"].as_array().cloned().unwrap_or_default();
    let region = region
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".into());
    let program = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "fedbroker-cli".into());
    let path = aws_config::path();
    let current = read_config(&path)?;
    let plan = aws_config::plan(&current, &roles, prefix, &region, &program);
    for (mark, names) in [
        ("+", &plan.added),
        ("~", &plan.changed),
        ("-", &plan.removed),
    ] {
        for name in names {
            println!("{mark} [profile {name}]");
        }
    }
    for name in &plan.skipped {
        eprintln!(
            "fedbroker-cli: left [profile {name}] alone: it was not written by fedbroker-cli \
             (use --prefix for other names)"
        );
    }
    if plan.text == current {
        println!("{} is up to date", path.display());
        return Ok(());
    }
    if dry_run {
        println!("(dry run: {} not written)", path.display());
        return Ok(());
    }
    // Through a symlink (a dotfile manager's), the file it points to is the one rewritten.
    let target = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    files::write_text(&target, &plan.text)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn exec(target: &Target, command: &[String]) -> Result<(), Failure> {
    use std::os::unix::process::CommandExt;
    let (role, region) = target.resolve()?;
    let creds = credentials::credential_process(&role, now)?;
    let field = |k: &str| creds[k].as_str().unwrap_or("").to_string();
    let mut cmd = std::process::Command::new(&command[0]);
    cmd.args(&command[1..])
        .env("AWS_ACCESS_KEY_ID", field("AccessKeyId"))
        .env("AWS_SECRET_ACCESS_KEY", field("SecretAccessKey"))
        .env("AWS_SESSION_TOKEN", field("SessionToken"))
        .env("AWS_CREDENTIAL_EXPIRATION", field("Expiration"))
        .env_remove("AWS_PROFILE");
    if let Some(region) = region {
        cmd.env("AWS_REGION", &region)
            .env("AWS_DEFAULT_REGION", region);
    }
    // Replaces this process: the command's exit code is the answer.
    let e = cmd.exec();
    Err(Failure::Other(format!("cannot run `{}`: {e}", command[0])))
}

fn console(target: &Target, print: bool) -> Result<(), Failure> {
    let (role, _) = target.resolve()?;
    let sign_in = broker::signed_in(now())?;
    let answer = broker::api(
        &sign_in,
        reqwest::Method::POST,
        "/api/v1/console-url",
        Some(serde_json::json!({ "role": role })),
    )?;
    let url = answer["url"]
        .as_str()
        .ok_or_else(|| Failure::Other("the broker sent no console address".into()))?;
    if print || !login::open_browser(url) {
        println!("{url}");
    }
    Ok(())
}

/// The AWS config file's text; empty when there is none. Any other failure (no permission, not
/// UTF-8) stops the command: rewriting from an empty text would lose the person's profiles.
fn read_config(path: &std::path::Path) -> Result<String, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Failure::Other(format!(
            "cannot read {} ({e}); nothing was changed",
            path.display()
        ))),
    }
}
