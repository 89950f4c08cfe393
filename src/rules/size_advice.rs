//! What to change when a multi-role Response is larger than AWS accepts: how many roles it
//! carries, which rules contribute most of them, and the two ways out (one role per sign-in,
//! or splitting the rule that grants most). The signer only knows the size; the rules are
//! known here.

use crate::domain::aws::{AwsRuleError, RolePair};
use crate::mapping::Evaluation;

/// Base64 characters one `Role` attribute value adds to a Response: the value, its element,
/// and base64's 4/3.
fn role_chars(pair: &RolePair) -> usize {
    let xml = pair.attribute_value().len() + "<saml:AttributeValue></saml:AttributeValue>".len();
    xml * 4 / 3
}

/// Rules by the roles they put into a Response, most first: (rule, roles, base64 characters).
pub fn contributions(evaluation: &Evaluation, roles: &[RolePair]) -> Vec<(String, usize, usize)> {
    let mut by_rule: Vec<(String, usize, usize)> = Vec::new();
    for pair in roles {
        let rule = evaluation
            .grant(pair.role.as_str())
            .map_or_else(|| "(no rule)".to_string(), |g| g.cause.rule.clone());
        match by_rule.iter_mut().find(|(r, ..)| *r == rule) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += role_chars(pair);
            }
            None => by_rule.push((rule, 1, role_chars(pair))),
        }
    }
    by_rule.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    by_rule
}

/// Rewrites the size refusal among `errors` (attribute `SAMLResponse`) to name the rules
/// behind the roles and what to change; other errors pass unchanged.
pub fn explain_oversize(
    evaluation: &Evaluation,
    roles: &[RolePair],
    errors: Vec<AwsRuleError>,
) -> Vec<AwsRuleError> {
    errors
        .into_iter()
        .map(|mut e| {
            if e.attribute != "SAMLResponse" || roles.len() < 2 {
                return e;
            }
            let by_rule = contributions(evaluation, roles);
            let named: Vec<String> = by_rule
                .iter()
                .take(3)
                .map(|(rule, n, chars)| {
                    format!("rule `{rule}` {n} role{} (~{chars} characters)", if *n == 1 { "" } else { "s" })
                })
                .collect();
            let biggest = by_rule.first().map(|(r, ..)| r.as_str()).unwrap_or_default();
            e.fix = format!(
                "the {} roles come from {}{}; offer one role per sign-in (turn off saml.multi_role_chooser, \
                 so the portal signs in to the role chosen), or split rule `{biggest}` so that fewer groups \
                 match it, or send fewer tags",
                roles.len(),
                named.join(", "),
                if by_rule.len() > 3 {
                    format!(" and {} more rules", by_rule.len() - 3)
                } else {
                    String::new()
                }
            );
            e
        })
        .collect()
}
