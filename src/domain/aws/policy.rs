//! Session policies: the managed policy ARNs (`PolicyArns`) and the inline JSON policy
//! (`Policy`) sent with `AssumeRoleWithSAML` to narrow one session below its role.
//!
//! What is checked here is what AWS documents: at most 10 managed policy ARNs, each an IAM
//! policy ARN of the configured partition, and an inline policy that is a JSON object with a
//! `Statement`, whose plaintext together with the ARNs stays within 2,048 characters. STS packs
//! policies and session tags into a binary form whose limit it does not document exactly; a
//! request over it is refused with `PackedPolicyTooLarge`, which the broker reports naming the
//! rule.

use super::*;

/// Most managed session policies one `AssumeRoleWithSAML` accepts.
pub const MAX_POLICY_ARNS: usize = 10;

/// Most plaintext characters of the inline policy and the managed policy ARNs together.
pub const MAX_POLICY_PLAINTEXT: usize = 2_048;

/// `arn:<partition>:iam::<account or aws>:policy/<path/><name>`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyArn(String);

impl PolicyArn {
    /// Parses a managed policy ARN of `partition`.
    pub fn parse(raw: &str, partition: Partition) -> Result<PolicyArn, String> {
        let prefix = format!("arn:{}:iam::", partition.as_str());
        let fix = format!(
            "write e.g. {prefix}aws:policy/ReadOnlyAccess or {prefix}123456789012:policy/team/Boundary"
        );
        let Some(rest) = raw.strip_prefix(&prefix) else {
            return Err(format!(
                "`{raw}` is not an IAM policy ARN of the {} partition; {fix}",
                partition.as_str()
            ));
        };
        let Some((owner, path)) = rest.split_once(":policy/") else {
            return Err(format!("`{raw}` is not an IAM policy ARN; {fix}"));
        };
        let owner_ok =
            owner == "aws" || (owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()));
        let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
        let name_ok = (1..=128).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        let dirs_ok = dirs.len() <= 512
            && dirs
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
        if owner_ok && name_ok && dirs_ok {
            Ok(PolicyArn(raw.to_string()))
        } else {
            Err(format!("`{raw}` is not an IAM policy ARN; {fix}"))
        }
    }

    /// The ARN.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An inline session policy, checked and with the whitespace between JSON tokens removed (what
/// is sent, and what the 2,048-character limit counts). Key order is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InlinePolicy(String);

impl InlinePolicy {
    /// Checks that `raw` is a JSON policy document: an object with a `Statement` (an object or
    /// a non-empty list of objects, each with an `Effect` of `Allow` or `Deny`).
    pub fn parse(raw: &str) -> Result<InlinePolicy, String> {
        let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
            format!(
                "is not well-formed JSON ({e}); paste a policy document such as \
                 {{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"s3:Get*\",\"Resource\":\"*\"}}]}}"
            )
        })?;
        let Some(doc) = value.as_object() else {
            return Err("must be a JSON object with a Statement".into());
        };
        let statements: Vec<&serde_json::Value> = match doc.get("Statement") {
            Some(serde_json::Value::Array(list)) if !list.is_empty() => list.iter().collect(),
            Some(one @ serde_json::Value::Object(_)) => vec![one],
            _ => return Err("needs a Statement: an object or a non-empty list of objects".into()),
        };
        if let Some(version) = doc.get("Version") {
            if version != "2012-10-17" && version != "2008-10-17" {
                return Err(format!(
                    "has Version {version}; IAM knows \"2012-10-17\" (use it) and \"2008-10-17\""
                ));
            }
        }
        for (i, statement) in statements.iter().enumerate() {
            let effect = statement.get("Effect").and_then(|e| e.as_str());
            if !matches!(effect, Some("Allow" | "Deny")) {
                return Err(format!(
                    "statement {} needs \"Effect\": \"Allow\" or \"Deny\"",
                    i + 1
                ));
            }
        }
        Ok(InlinePolicy(minify(raw)))
    }

    /// The document as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// JSON without the whitespace between tokens (whitespace inside strings stays).
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The characters the documented plaintext limit counts: the inline policy and every ARN.
pub fn policy_plaintext_len(arns: &[PolicyArn], inline: Option<&InlinePolicy>) -> usize {
    arns.iter()
        .map(|a| a.as_str().chars().count())
        .sum::<usize>()
        + inline.map_or(0, |p| p.as_str().chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_arns_of_the_partition_only() {
        let ok = |s: &str| PolicyArn::parse(s, Partition::Aws);
        assert!(ok("arn:aws:iam::aws:policy/ReadOnlyAccess").is_ok());
        assert!(ok("arn:aws:iam::123456789012:policy/team/a/Boundary").is_ok());
        assert!(ok("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess").is_ok());
        for bad in [
            "arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::12345:policy/X",
            "arn:aws:iam::123456789012:role/X",
            "arn:aws:iam::123456789012:policy/",
            "arn:aws:iam::123456789012:policy/a b",
            "arn:aws:s3:::bucket",
            "ReadOnlyAccess",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        assert!(PolicyArn::parse("arn:aws-us-gov:iam::aws:policy/X", Partition::AwsUsGov).is_ok());
    }

    #[test]
    fn inline_policies_are_checked_and_minified_in_order() {
        let p = InlinePolicy::parse(
            "{ \"Version\": \"2012-10-17\",\n  \"Statement\": [ { \"Effect\": \"Allow\", \"Action\": \"s3:Get*\", \"Resource\": \"arn:aws:s3:::a b/*\" } ] }",
        )
        .expect("valid");
        assert_eq!(
            p.as_str(),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::a b/*"}]}"#
        );
        let escaped = InlinePolicy::parse(
            r#"{"Statement":{"Effect":"Deny","Sid":"a\" b","Action":"*","Resource":"*"}}"#,
        )
        .expect("valid");
        assert!(
            escaped.as_str().contains(r#""a\" b""#),
            "{}",
            escaped.as_str()
        );
        for bad in [
            "{",
            "[]",
            "{\"Version\":\"2012-10-17\"}",
            "{\"Statement\":[]}",
            "{\"Statement\":[{\"Action\":\"*\"}]}",
            "{\"Version\":\"2020-01-01\",\"Statement\":{\"Effect\":\"Allow\"}}",
        ] {
            assert!(InlinePolicy::parse(bad).is_err(), "{bad}");
        }
    }
}
