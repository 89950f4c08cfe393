//! Usernames, group names and new passwords of the local directory.

use std::fmt;

/// A local username: 1–64 characters of `a-z 0-9 . _ @ + -`, starting with a letter or digit.
///
/// Stored lowercased so that `Alice` and `alice` are one account; the character set is a subset of
/// what AWS allows in a RoleSessionName, so a username can always become one unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Parses and normalises a username.
    pub fn parse(raw: &str) -> Result<Username, AccountError> {
        let value = raw.trim().to_ascii_lowercase();
        if value.is_empty() || value.len() > 64 {
            return Err(AccountError::Username(
                "a username is 1 to 64 characters long".into(),
            ));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c))
        {
            return Err(AccountError::Username(format!(
                "`{}` may only contain letters, digits and . _ @ + -",
                raw.trim()
            )));
        }
        if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(AccountError::Username(
                "a username starts with a letter or digit".into(),
            ));
        }
        Ok(Username(value))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A group name as directories spell it (`AWS-123456789012-Admin`, `Domain Admins`): 1–256
/// characters, no control characters, kept as given because mapping rules match on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupName(String);

impl GroupName {
    /// Parses a group name.
    pub fn parse(raw: &str) -> Result<GroupName, AccountError> {
        let value = raw.trim();
        if value.is_empty() || value.chars().count() > 256 {
            return Err(AccountError::GroupName(
                "a group name is 1 to 256 characters long".into(),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(AccountError::GroupName(
                "a group name may not contain control characters".into(),
            ));
        }
        Ok(GroupName(value.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password someone wants to set: 12 to 1024 characters (length is what makes a password
/// strong; the upper bound keeps hashing cost bounded).
pub struct NewPassword(String);

impl NewPassword {
    /// Minimum length in characters.
    pub const MIN_CHARS: usize = 12;

    /// Checks the policy.
    pub fn parse(raw: &str) -> Result<NewPassword, AccountError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(AccountError::Password(format!(
                "a password needs at least {} characters",
                Self::MIN_CHARS
            )));
        }
        if n > 1024 {
            return Err(AccountError::Password(
                "a password may have at most 1024 characters".into(),
            ));
        }
        Ok(NewPassword(raw.to_string()))
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// Why a username, group name or password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("invalid username: {0}")]
    Username(String),
    #[error("invalid group name: {0}")]
    GroupName(String),
    #[error("password refused: {0}")]
    Password(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames_are_lowercased_and_trimmed() {
        assert_eq!(
            Username::parse(" Alice@Example.com ").map(|u| u.0),
            Ok("alice@example.com".to_string())
        );
    }

    #[test]
    fn usernames_reject_ldap_and_shell_metacharacters() {
        for bad in ["", "*", "a)(uid=*", "a b", "-x", ".x", &"a".repeat(65), "ü"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn passwords_below_the_minimum_are_refused() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("twelve chars").is_ok());
        assert!(
            !format!("{:?}", NewPassword::parse("secret-password-1").map(|_| ()))
                .contains("secret")
        );
    }

    #[test]
    fn group_names_keep_their_spelling() {
        assert_eq!(
            GroupName::parse("AWS-123456789012-Admin").map(|g| g.0),
            Ok("AWS-123456789012-Admin".to_string())
        );
        assert!(GroupName::parse("bad\nname").is_err());
    }

    proptest! {
        #[test]
        fn any_accepted_username_is_a_valid_role_session_name_charset(raw in ".{0,80}") {
            if let Ok(u) = Username::parse(&raw) {
                prop_assert!(u.as_str().len() <= 64);
                prop_assert!(u.as_str().chars().all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c)));
                prop_assert_eq!(Username::parse(u.as_str()).map(|v| v.0), Ok(u.0.clone()));
            }
        }
    }
}
