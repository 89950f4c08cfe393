//! `fedbroker rules export | import | test`: the mapping as code, and dry runs from a shell.

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;

use crate::clock::now;
use crate::config::Settings;
use crate::mapping::RulesDocument;
use crate::rules::{dry_run, identity_for_dry_run, DryRun, DryRunSubject, RoleMapper};
use crate::saml::profile::AwsProfile;
use crate::startup::open_store;
use crate::store::Change;

use super::cli_actor;

/// `fedbroker rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Print every rule (in order) and account alias as YAML, the format `import` reads.
    Export,
    /// Replace every rule and alias with those of a YAML file (`-` for stdin), all or nothing.
    Import {
        file: PathBuf,
        /// Validate and print what would change, without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show the roles a user (groups from the directory) or a list of groups would get, and why.
    Test {
        #[arg(long, required_unless_present = "groups")]
        user: Option<String>,
        /// Groups to evaluate instead of the user's (comma-separated, or repeat the flag).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Also print the assertion XML (before signing).
        #[arg(long)]
        xml: bool,
    },
}

pub async fn run(settings: &Settings, cmd: RulesCommand) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let profile = AwsProfile::from_settings(
        &settings.saml,
        &settings.sources,
        &settings.base_url(settings.server.port),
    )?;
    match cmd {
        RulesCommand::Export => {
            print!("{}", store.mapping_document().await?.to_yaml());
        }
        RulesCommand::Import { file, dry_run } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
            };
            let doc = RulesDocument::from_yaml(&text, profile.partition)?;
            let current = store.mapping_document().await?;
            let diff = current.diff(&doc);
            if diff.is_empty() {
                println!("no changes: the database already holds exactly this mapping");
                return Ok(());
            }
            for line in &diff {
                println!("{line}");
            }
            if dry_run {
                println!("dry run: nothing was changed ({} differences)", diff.len());
            } else {
                let actor = cli_actor();
                store
                    .replace_mapping(
                        &doc,
                        &Change {
                            actor: &actor,
                            at: now(),
                        },
                    )
                    .await?;
                println!(
                    "imported {} rules and {} account aliases",
                    doc.rules.len(),
                    doc.accounts.len()
                );
            }
        }
        RulesCommand::Test { user, groups, xml } => {
            let subject = if groups.is_empty() {
                DryRunSubject::User(user.unwrap_or_default())
            } else {
                DryRunSubject::Groups {
                    username: user.unwrap_or_default(),
                    groups,
                }
            };
            let identity = identity_for_dry_run(&store, subject)
                .await?
                .map_err(|message| anyhow::anyhow!(message))?;
            let regions = crate::aws::regions::RegionRouter::new(
                &settings.regions,
                settings.saml.partition,
                store.clone(),
            )?;
            let acs = regions.first_acs_url();
            let signer =
                match crate::saml::keys::load_kek(&settings.saml, &settings.database.url, &store)
                    .await
                {
                    Ok(kek) => crate::saml::keys::KeyRing::new(store.clone(), kek, "fedbroker")
                        .signer()
                        .await
                        .ok(),
                    Err(_) => None,
                };
            let mapper = RoleMapper::new(profile.clone());
            let run = dry_run(
                &store,
                &mapper,
                &profile,
                &acs,
                &identity,
                signer.as_deref(),
            )
            .await?;
            print!("{}", report(&run, xml));
        }
    }
    Ok(())
}

/// The dry run as text.
pub fn report(run: &DryRun, xml: bool) -> String {
    let mut out = format!(
        "roles for {} (groups: {}):\n",
        run.username,
        if run.groups.is_empty() {
            "none".to_string()
        } else {
            run.groups.join(", ")
        }
    );
    let e = &run.evaluation;
    if e.granted.is_empty() {
        out.push_str("  (none)\n");
    }
    for g in &e.granted {
        out.push_str(&format!(
            "  + {} via rule `{}` from group `{}`",
            g.pair.role, g.cause.rule, g.cause.group
        ));
        if let Some(d) = g.duration {
            out.push_str(&format!(", {} s", d.secs()));
        }
        if let Some(l) = &g.relay_state {
            out.push_str(&format!(", lands on {l}"));
        }
        out.push('\n');
    }
    for d in &e.denied {
        out.push_str(&format!(
            "  - {} denied by rule `{}` (group `{}`); was granted by `{}` (group `{}`)\n",
            d.role, d.denied_by.rule, d.denied_by.group, d.granted_by.rule, d.granted_by.group
        ));
    }
    for s in &e.skipped {
        out.push_str(&format!(
            "  ! skipped: rule `{}`, group `{}`: {}{}\n",
            s.cause.rule,
            s.cause.group,
            s.reason,
            if s.output.is_empty() {
                String::new()
            } else {
                format!(" (output `{}`)", s.output)
            }
        ));
    }
    for b in &run.broken {
        out.push_str(&format!("  ! rule `{}` is left out: {}\n", b.rule, b.error));
    }
    for p in &run.plans {
        out.push_str(&format!("session of {} (rule `{}`):\n", p.role, p.rule));
        out.push_str(&format!(
            "    console: {} ({})\n    duration: {} s ({})\n    RoleSessionName: {}\n",
            p.console_path, p.console_path_why, p.duration_secs, p.duration_why, p.session_name
        ));
        for (key, value, from) in &p.tags {
            out.push_str(&format!("    tag {key} = {value} (from {from})\n"));
        }
        if !p.transitive_tag_keys.is_empty() {
            out.push_str(&format!(
                "    transitive tag keys: {}\n",
                p.transitive_tag_keys.join(", ")
            ));
        }
        out.push_str("    AssumeRoleWithSAML:");
        for (k, v) in &p.sts_parameters {
            out.push_str(&format!(" {k}={v}"));
        }
        out.push('\n');
        for problem in &p.problems {
            out.push_str(&format!("    AWS would refuse: {problem}\n"));
        }
    }
    if run.warnings.is_empty() {
        out.push_str("pre-flight: every AWS rule holds");
        if let Some(n) = run.signed_size {
            out.push_str(&format!(" (signed Response: {n} base64 characters)"));
        }
        out.push('\n');
    } else {
        for w in &run.warnings {
            out.push_str(&format!("pre-flight: {w}\n"));
        }
    }
    for n in &run.notes {
        out.push_str(&format!("adjusted: {n}\n"));
    }
    if xml {
        if let Some(x) = &run.assertion_xml {
            out.push_str(&format!("assertion before signing:\n{x}\n"));
        }
    }
    out
}
