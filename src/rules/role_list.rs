//! The roles a person holds as the portal lists them: searched (every word of the query in the
//! role, account id, alias or environment), favourites pinned on top, then the roles used
//! last, then accounts ordered by environment, then alias, then id, and roles by name within
//! an account.

use std::collections::{HashMap, HashSet};

use crate::domain::aws::RoleArn;
use crate::mapping::Evaluation;
use crate::store::AccountRecord;

/// One role as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRole {
    pub arn: String,
    pub name: String,
    pub account: String,
    pub favourite: bool,
    /// Lower-case text the search matches against (role, account id, alias, environment).
    pub search: String,
    /// The role's bookmarkable link (`/go/<account>/<role path and name>`).
    pub link: String,
}

/// How many recently used roles the portal puts on top.
pub const RECENT_LIMIT: usize = 5;

/// The stable, bookmarkable address of a role: its account and its name with any IAM path, so
/// it reads like the role and survives rule changes that keep the role.
pub fn bookmark_path(role: &RoleArn) -> String {
    let name = role
        .as_str()
        .split_once(":role/")
        .map_or(role.name(), |(_, name)| name);
    format!("/go/{}/{name}", role.account())
}

/// The roles shown, favourites and by account.
#[derive(Debug, Default)]
pub struct RoleList {
    /// Every role the person holds, before the search.
    pub total: usize,
    /// The roles the search left.
    pub shown: usize,
    pub favourites: Vec<ListedRole>,
    /// Roles used lately that are not pinned, most recent first (at most [`RECENT_LIMIT`]).
    pub recent: Vec<ListedRole>,
    /// `(account id, its roles)`, in display order.
    pub accounts: Vec<(String, Vec<ListedRole>)>,
}

/// Whether every word of the query occurs in the text (both lower-case).
pub fn matches_query(search: &str, query: &str) -> bool {
    query.split_whitespace().all(|w| search.contains(w))
}

/// Lists the evaluated roles for the portal.
pub fn list_roles(
    evaluation: &Evaluation,
    aliases: &HashMap<String, AccountRecord>,
    favourites: &HashSet<String>,
    recent: &[String],
    query: &str,
) -> RoleList {
    let query = query.trim().to_lowercase();
    let mut rows: Vec<ListedRole> = evaluation
        .granted
        .iter()
        .map(|g| {
            let account = g.pair.role.account().to_string();
            let alias = aliases.get(&account);
            let search = format!(
                "{} {} {} {}",
                g.pair.role.as_str(),
                account,
                alias.map_or("", |a| a.name.as_str()),
                alias.map_or("", |a| a.environment.as_str())
            )
            .to_lowercase();
            ListedRole {
                favourite: favourites.contains(g.pair.role.as_str()),
                arn: g.pair.role.to_string(),
                name: g.pair.role.name().to_string(),
                link: bookmark_path(&g.pair.role),
                account,
                search,
            }
        })
        .filter(|r| matches_query(&r.search, &query))
        .collect();
    let sort_key = |account: &str| {
        let a = aliases.get(account);
        (
            // Accounts without an alias go last.
            a.map_or(String::from("\u{10FFFF}"), |a| a.environment.to_lowercase()),
            a.map_or(String::new(), |a| a.name.to_lowercase()),
            account.to_string(),
        )
    };
    rows.sort_by(|x, y| {
        sort_key(&x.account)
            .cmp(&sort_key(&y.account))
            .then(x.name.cmp(&y.name))
    });
    let mut list = RoleList {
        total: evaluation.granted.len(),
        shown: rows.len(),
        favourites: rows.iter().filter(|r| r.favourite).cloned().collect(),
        recent: recent
            .iter()
            .filter_map(|arn| rows.iter().find(|r| &r.arn == arn && !r.favourite))
            .take(RECENT_LIMIT)
            .cloned()
            .collect(),
        accounts: Vec::new(),
    };
    for row in rows {
        match list.accounts.last_mut() {
            Some((account, roles)) if *account == row.account => roles.push(row),
            _ => list.accounts.push((row.account.clone(), vec![row])),
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::aws::Partition;
    use crate::mapping::{Effect, RuleSet, RuleSpec};

    fn evaluation(groups: &[&str]) -> Evaluation {
        let spec = RuleSpec::new(
            "accounts",
            Effect::Allow,
            "AWS-(?P<account>\\d{12})-(?P<role>\\w+)",
            "arn:aws:iam::${account}:role/${role}",
        );
        let (set, broken) = RuleSet::build(1, Partition::Aws, "fedbroker", &[spec], None);
        assert!(broken.is_empty(), "{broken:?}");
        set.evaluate(&groups.iter().map(|g| g.to_string()).collect::<Vec<_>>())
    }

    fn alias(id: &str, name: &str, environment: &str) -> (String, AccountRecord) {
        (
            id.to_string(),
            AccountRecord {
                account_id: id.into(),
                name: name.into(),
                environment: environment.into(),
                colour: None,
                version: 1,
                updated_at: 0,
                updated_by: String::new(),
            },
        )
    }

    #[test]
    fn roles_are_searched_pinned_and_grouped_by_account_in_order() {
        let eval = evaluation(&[
            "AWS-111111111111-Zeta",
            "AWS-111111111111-Alpha",
            "AWS-222222222222-Admin",
            "AWS-333333333333-Admin",
        ]);
        let aliases: HashMap<_, _> = [
            alias("111111111111", "shop", "prod"),
            alias("222222222222", "lab", "dev"),
        ]
        .into_iter()
        .collect();
        let favourites: HashSet<String> =
            ["arn:aws:iam::111111111111:role/Zeta".to_string()].into();
        let list = list_roles(&eval, &aliases, &favourites, &[], "");
        assert_eq!((list.total, list.shown), (4, 4));
        let order: Vec<(&str, Vec<&str>)> = list
            .accounts
            .iter()
            .map(|(a, roles)| (a.as_str(), roles.iter().map(|r| r.name.as_str()).collect()))
            .collect();
        assert_eq!(
            order,
            vec![
                ("222222222222", vec!["Admin"]),
                ("111111111111", vec!["Alpha", "Zeta"]),
                ("333333333333", vec!["Admin"]),
            ],
            "environment, then alias, then id; accounts without an alias last"
        );
        assert_eq!(list.favourites.len(), 1);
        assert_eq!(list.favourites[0].name, "Zeta");

        let searched = list_roles(&eval, &aliases, &favourites, &[], " SHOP  alp ");
        assert_eq!((searched.total, searched.shown), (4, 1));
        assert_eq!(searched.accounts[0].1[0].name, "Alpha");
    }

    #[test]
    fn recently_used_roles_come_after_favourites_in_recency_order() {
        let eval = evaluation(&[
            "AWS-111111111111-Zeta",
            "AWS-111111111111-Alpha",
            "AWS-222222222222-Admin",
        ]);
        let favourites: HashSet<String> =
            ["arn:aws:iam::111111111111:role/Zeta".to_string()].into();
        let recent = [
            "arn:aws:iam::111111111111:role/Zeta".to_string(),
            "arn:aws:iam::999999999999:role/Gone".to_string(),
            "arn:aws:iam::222222222222:role/Admin".to_string(),
            "arn:aws:iam::111111111111:role/Alpha".to_string(),
        ];
        let list = list_roles(&eval, &HashMap::new(), &favourites, &recent, "");
        let names: Vec<&str> = list.recent.iter().map(|r| r.arn.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "arn:aws:iam::222222222222:role/Admin",
                "arn:aws:iam::111111111111:role/Alpha"
            ],
            "pinned and no longer held roles are left out"
        );
        let searched = list_roles(&eval, &HashMap::new(), &favourites, &recent, "alpha");
        assert_eq!(searched.recent.len(), 1, "the search applies");
    }

    #[test]
    fn bookmark_paths_keep_the_account_and_the_iam_path() {
        let role = |arn: &str| RoleArn::parse(arn).expect("an ARN");
        assert_eq!(
            bookmark_path(&role("arn:aws:iam::111122223333:role/Admin")),
            "/go/111122223333/Admin"
        );
        assert_eq!(
            bookmark_path(&role("arn:aws-us-gov:iam::111122223333:role/ops/Deployer")),
            "/go/111122223333/ops/Deployer"
        );
    }
}
