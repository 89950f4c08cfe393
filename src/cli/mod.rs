//! Command line: `serve` (default), `migrate`, `user`, `group`, `keys`, `rules`,
//! `trust-policy`, `check-config`.

mod rules;
mod serve;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::clock::now;
use crate::config::{ConfigSource, Settings};
use crate::startup::open_store;
use crate::store::StoreError;

/// fedbroker: sign people in, map their groups to AWS roles, and hand out AWS sessions.
#[derive(Debug, Parser)]
#[command(name = "fedbroker", version)]
pub struct Cli {
    /// Folder with default.toml and profile files.
    #[arg(long, global = true, env = "FEDBROKER_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Profile: config/<NAME>.toml is applied over the defaults.
    #[arg(long, global = true, env = "FEDBROKER_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker (the default).
    Serve {
        /// Use the demo profile: seeds alice and bob with AWS-style groups.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig,
    /// Manage local users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage local groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage SAML signing keys (rotation: add, update IAM, activate, retire the old one).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Mapping rules as code (export, import) and dry runs.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Print the IAM trust policy a federated role needs.
    TrustPolicy {
        /// The role ARN (its account's SAML provider is the principal).
        #[arg(long, conflicts_with = "all")]
        role: Option<String>,
        /// Every role the groups in the database map to, one policy per account: a JSON array
        /// of `{account, roles, policy}` on stdout.
        #[arg(long)]
        all: bool,
        /// With --all: write each account's policy to `<DIR>/<account>.json` instead (ready for
        /// `aws iam create-role --assume-role-policy-document file://…`).
        #[arg(long, requires = "all", value_name = "DIR")]
        out_dir: Option<std::path::PathBuf>,
        /// A downstream role, assumed from fedbroker sessions by role chaining: its trust
        /// policy requires the SourceIdentity to be kept and the session name to equal it.
        #[arg(long, value_name = "ROLE_ARN", conflicts_with_all = ["role", "all"])]
        chained: Option<String>,
        /// With --chained: a role whose sessions may assume it (repeatable); default: any
        /// principal of the downstream role's account that its IAM policies allow.
        #[arg(long = "from", value_name = "ROLE_ARN", requires = "chained")]
        from: Vec<String>,
    },
}

/// `fedbroker keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List keys and their states.
    List,
    /// Generate a key and publish it in the metadata (it does not sign yet).
    Add,
    /// Make a published key the signing key.
    Activate { kid: String },
    /// Remove a key from the metadata (not the active one).
    Retire { kid: String },
    /// Seal every key again with the current key-encryption key (after a rotation, while
    /// saml.previous_key_encryption_key still opens the old ones).
    Reseal,
}

/// `fedbroker user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin a one-time password is generated and printed,
    /// and must be changed at first sign-in.
    Add {
        username: String,
        #[arg(long, default_value = "")]
        display_name: String,
        #[arg(long, default_value = "")]
        email: String,
        /// Groups to put the user in (created if missing); repeat the flag.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (from stdin with --password-stdin, else a generated one-time one).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user and end their sessions.
    Disable { username: String },
    /// Enable a disabled user.
    Enable { username: String },
    /// End a user's sessions, API tokens and command-line sign-ins (a lost laptop), without
    /// disabling the account.
    Signout { username: String },
    /// List users.
    List,
}

/// `fedbroker group ...`
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Add { name: String },
    /// Add a user to a group (or remove with --remove).
    Member {
        group: String,
        username: String,
        #[arg(long)]
        remove: bool,
    },
    /// List groups with member counts.
    List,
}

/// Who the command line records as the author of a change: `cli:<login name>`.
pub fn cli_actor() -> String {
    match std::env::var("USER") {
        Ok(user) if !user.is_empty() => format!("cli:{user}"),
        _ => "cli".to_string(),
    }
}

/// Exit code for configuration errors, distinct from runtime failures.
const EXIT_CONFIG: u8 = 2;

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    let mut profile = cli.profile.clone();
    if let Some(Command::Serve { demo: true }) = &cli.command {
        profile = Some("demo".into());
    }
    let source = ConfigSource {
        dir: cli.config_dir.clone(),
        profile,
    };
    let settings = match Settings::load(&source, std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fedbroker: configuration error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve { demo: false });
    match command {
        Command::CheckConfig => {}
        Command::Serve { .. } => {
            crate::telemetry::init(&settings.log, crate::telemetry::LogTo::Stdout)
        }
        _ => crate::telemetry::init(&settings.log, crate::telemetry::LogTo::Stderr),
    }
    let result = match command {
        Command::Serve { .. } => serve::serve(settings).await,
        Command::CheckConfig => {
            println!("# configuration is valid\n{}", settings.redacted_toml());
            Ok(())
        }
        Command::Migrate => open_store(&settings).await.map(|_| {
            println!("migrations applied");
        }),
        Command::User(cmd) => match open_store(&settings).await {
            Ok(store) => users::user_command(&store, &settings, cmd).await,
            Err(e) => Err(e),
        },
        Command::Group(cmd) => match open_store(&settings).await {
            Ok(store) => users::group_command(&store, &settings, cmd).await,
            Err(e) => Err(e),
        },
        Command::Keys(cmd) => keys_command(&settings, cmd).await,
        Command::Rules(cmd) => rules::run(&settings, cmd).await,
        Command::TrustPolicy {
            chained: Some(downstream),
            from,
            ..
        } => chained_trust_policy_command(&settings, &downstream, &from).await,
        Command::TrustPolicy {
            role, all, out_dir, ..
        } => trust_policy_command(&settings, role, all, out_dir).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fedbroker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(super) fn explain(e: StoreError, what: &str) -> anyhow::Error {
    match e {
        StoreError::Conflict => anyhow::anyhow!("{what} exists already"),
        StoreError::NotFound(thing) => anyhow::anyhow!("{thing} does not exist"),
        other => other.into(),
    }
}

async fn keys_command(settings: &Settings, cmd: KeysCommand) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let kek = crate::saml::keys::load_kek(&settings.saml, &settings.database.url, &store).await?;
    let name = if settings.server.public_url.is_empty() {
        "fedbroker SAML signing".to_string()
    } else {
        format!("fedbroker SAML signing {}", settings.server.public_url)
    };
    let ring = crate::saml::keys::KeyRing::new(store, kek, &name);
    match cmd {
        KeysCommand::List => {
            for k in ring.list().await? {
                println!(
                    "{}\t{}\tcreated {}",
                    k.kid,
                    k.state,
                    crate::clock::readable(k.created_at)
                );
            }
        }
        KeysCommand::Add => {
            let kid = ring.add(&cli_actor(), now()).await?;
            println!("added key {kid} (published in metadata, not signing yet)");
            println!("next: update the IAM SAML provider in every account with the new metadata, then `fedbroker keys activate {kid}`");
        }
        KeysCommand::Activate { kid } => {
            ring.activate(&kid, &cli_actor(), now())
                .await
                .map_err(|e| match e.downcast::<StoreError>() {
                    Ok(store) => explain(store, "key"),
                    Err(other) => other,
                })?;
            println!("key {kid} now signs; the previous key stays in the metadata until retired");
        }
        KeysCommand::Reseal => {
            let n = ring.reseal(&cli_actor(), now()).await.map_err(|e| {
                match e.downcast::<StoreError>() {
                    Ok(store) => explain(store, "key"),
                    Err(other) => other,
                }
            })?;
            println!(
                "{n} key(s) resealed with the current key-encryption key; every key now opens \
                 without saml.previous_key_encryption_key"
            );
        }
        KeysCommand::Retire { kid } => {
            ring.retire(&kid, &cli_actor(), now())
                .await
                .map_err(|e| explain(e, "key"))?;
            println!("key {kid} retired; it no longer appears in the metadata");
        }
    }
    Ok(())
}

/// `trust-policy --chained`: pure JSON on stdout, like the other forms.
async fn chained_trust_policy_command(
    settings: &Settings,
    downstream: &str,
    from: &[String],
) -> anyhow::Result<()> {
    let profile = crate::saml::profile::AwsProfile::from_settings(
        &settings.saml,
        &settings.sources,
        &settings.base_url(settings.server.port),
    )?;
    let store = open_store(settings).await?;
    let mapper = crate::rules::RoleMapper::new(profile.clone());
    let tags = crate::rules::sessions_carry_tags(&store, &mapper, &profile).await?;
    let policy = crate::rules::chained_policy(&profile, downstream, from, tags)
        .map_err(|e| anyhow::anyhow!(e))?;
    println!("{}", serde_json::to_string_pretty(&policy)?);
    Ok(())
}

/// Prints pure JSON (a policy for `--role`, an array for `--all`) so that it pipes into `jq`
/// and `aws iam`; anything else goes to stderr.
async fn trust_policy_command(
    settings: &Settings,
    role: Option<String>,
    all: bool,
    out_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use crate::domain::aws::{RoleArn, SamlProviderArn};
    use crate::saml::trust_policy::policies_by_provider;
    use anyhow::Context;
    let store = open_store(settings).await?;
    let regions = crate::aws::regions::RegionRouter::new(
        &settings.regions,
        settings.saml.partition,
        store.clone(),
    )?;
    let acs = regions.acs_urls();
    let profile = crate::saml::profile::AwsProfile::from_settings(
        &settings.saml,
        &settings.sources,
        &settings.base_url(settings.server.port),
    )?;
    let (targets, unplaced) = match (role, all) {
        (Some(arn), _) => {
            let arn = RoleArn::parse(&arn)?;
            let provider = SamlProviderArn::of_role(&arn, &profile.provider_name)?;
            let target = crate::mapping::reach::AccountReach {
                account: arn.account().to_string(),
                provider: provider.as_str().to_string(),
                roles: [arn.to_string()].into(),
                rules: Default::default(),
            };
            (vec![target], Vec::new())
        }
        (None, true) => {
            let mapper = crate::rules::RoleMapper::new(profile.clone());
            crate::rules::trust_targets(&store, &mapper).await?
        }
        (None, false) => anyhow::bail!("name a role with --role ARN, or use --all"),
    };
    let mapper = crate::rules::RoleMapper::new(profile.clone());
    let tags = crate::rules::sessions_carry_tags(&store, &mapper, &profile).await?;
    for u in &unplaced {
        eprintln!("fedbroker: rule `{}` is not covered: {}", u.rule, u.reason);
    }
    let encrypting = store.encrypting_providers().await?;
    let policies = policies_by_provider(
        &targets,
        &acs,
        profile.sends_source_identity(),
        tags,
        &encrypting,
    );
    if policies.is_empty() {
        anyhow::bail!(
            "no rule reaches an account: add rules (`fedbroker rules import`), and name the \
             accounts under `accounts:` when a rule takes the account from the group name; or \
             name a role with --role ARN"
        );
    }
    if !all {
        let only = policies.first().map(|p| &p.policy);
        println!("{}", serde_json::to_string_pretty(&only)?);
        return Ok(());
    }
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for p in &policies {
            let file = dir.join(format!("{}.json", p.account));
            std::fs::write(&file, serde_json::to_string_pretty(&p.policy)? + "\n")
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!("wrote {} (roles: {})", file.display(), p.roles.join(", "));
        }
        return Ok(());
    }
    let documents: Vec<serde_json::Value> = policies
        .iter()
        .map(|p| {
            serde_json::json!({"account": p.account, "roles": p.roles, "rules": p.rules, "policy": p.policy})
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&documents)?);
    Ok(())
}
