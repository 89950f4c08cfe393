//! Who is a broker admin, and why.
//!
//! Admin rights are the keys to every mapping rule, so they must not follow from a group name
//! alone: an LDAP directory or an OpenID Provider that sends a group called like the local
//! admin group (`fedbroker-admins`) does not make an admin. A membership counts only when it
//! was granted locally, or when the source that reported it names that group in its own
//! `admin_group` setting — an explicit decision of whoever configured the broker.

use std::fmt;

use super::settings::SourcesSettings;
use crate::store::Membership;

/// Where a person's admin right comes from, shown beside them on the admin page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOrigin {
    /// A local membership of `admin.group`.
    LocalGroup { group: String },
    /// A group an external source reported, which that source's `admin_group` names.
    SourceGroup {
        kind: &'static str,
        source_id: String,
        source_name: String,
        group: String,
    },
}

impl fmt::Display for AdminOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminOrigin::LocalGroup { group } => write!(f, "admin via local group `{group}`"),
            AdminOrigin::SourceGroup {
                kind,
                source_id,
                source_name,
                group,
            } => write!(
                f,
                "admin via {kind} source `{source_name}` ({source_id}), group `{group}`"
            ),
        }
    }
}

/// A source's kind, name and `admin_group` (empty when it names none), by id; `None` for the
/// local directory and ids no source has (any more).
fn source_by_id<'a>(
    sources: &'a SourcesSettings,
    source: &str,
) -> Option<(&'static str, &'a str, &'a str)> {
    let ldap = sources
        .ldap
        .iter()
        .find(|l| l.id == source)
        .map(|l| ("LDAP", l.name.as_str(), l.admin_group.as_str()));
    let oidc = sources
        .oidc
        .iter()
        .find(|o| o.id == source)
        .map(|o| ("OIDC", o.name.as_str(), o.admin_group.as_str()));
    let saml = sources
        .saml
        .iter()
        .find(|s| s.id == source)
        .map(|s| ("SAML", s.name.as_str(), s.admin_group.as_str()));
    ldap.or(oidc).or(saml)
}

/// The admin group a source's members may hold admin rights through, with the source's kind
/// and name; `None` for the local directory and sources without `admin_group`.
fn source_admin_group<'a>(
    sources: &'a SourcesSettings,
    source: &str,
) -> Option<(&'static str, &'a str, &'a str)> {
    source_by_id(sources, source).filter(|(_, _, group)| !group.is_empty())
}

/// How the admin pages name where an account or a membership comes from: `local`, or the
/// source's kind and name with its id (`OIDC "Entra ID" (entra)`); an id that no configured
/// source has any more says so.
pub fn describe_source(sources: &SourcesSettings, source: &str) -> String {
    if source == "local" {
        return "local".to_string();
    }
    match source_by_id(sources, source) {
        Some((kind, name, _)) => format!("{kind} “{name}” ({source})"),
        None => format!("{source} (no longer configured)"),
    }
}

/// Whether one membership grants admin rights, and how.
pub fn origin_of(
    admin_group: &str,
    sources: &SourcesSettings,
    membership: &Membership,
) -> Option<AdminOrigin> {
    if membership.source == "local" {
        return (membership.group == admin_group).then(|| AdminOrigin::LocalGroup {
            group: membership.group.clone(),
        });
    }
    let (kind, name, group) = source_admin_group(sources, &membership.source)?;
    (membership.group == group).then(|| AdminOrigin::SourceGroup {
        kind,
        source_id: membership.source.clone(),
        source_name: name.to_string(),
        group: group.to_string(),
    })
}

/// Where a person's admin right comes from (a local grant first), `None` for non-admins.
///
/// `admin_group` is the local admin group (`admin.group`); `sources` name their own.
pub fn admin_origin(
    admin_group: &str,
    sources: &SourcesSettings,
    memberships: &[Membership],
) -> Option<AdminOrigin> {
    let mut origins: Vec<AdminOrigin> = memberships
        .iter()
        .filter_map(|m| origin_of(admin_group, sources, m))
        .collect();
    origins.sort_by_key(|o| !matches!(o, AdminOrigin::LocalGroup { .. }));
    origins.into_iter().next()
}

/// Every group name that can make an admin: the local admin group and each source's
/// `admin_group` (for listing admins without reading every membership).
pub fn admin_group_names(admin_group: &str, sources: &SourcesSettings) -> Vec<String> {
    let mut names = vec![admin_group.to_string()];
    names.extend(sources.ldap.iter().map(|l| l.admin_group.clone()));
    names.extend(sources.oidc.iter().map(|o| o.admin_group.clone()));
    names.extend(sources.saml.iter().map(|s| s.admin_group.clone()));
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    names
}
