//! Account aliases: what the portal shows instead of a bare 12-digit id.

use serde::{Deserialize, Serialize};

use super::rule::FieldError;
use crate::domain::aws::AccountId;

/// Colours come from a fixed palette of CSS classes: the page's CSP allows no inline styles,
/// and a palette keeps the labels readable in both themes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Red,
    Orange,
    Yellow,
    Green,
    Teal,
    Blue,
    Purple,
    Grey,
}

impl Colour {
    pub const ALL: [Colour; 8] = [
        Colour::Red,
        Colour::Orange,
        Colour::Yellow,
        Colour::Green,
        Colour::Teal,
        Colour::Blue,
        Colour::Purple,
        Colour::Grey,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Orange => "orange",
            Colour::Yellow => "yellow",
            Colour::Green => "green",
            Colour::Teal => "teal",
            Colour::Blue => "blue",
            Colour::Purple => "purple",
            Colour::Grey => "grey",
        }
    }

    pub fn parse(raw: &str) -> Option<Colour> {
        Colour::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// An account's display name and environment label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountAlias {
    /// The 12-digit account id.
    pub id: String,
    pub name: String,
    /// Free label such as prod, staging or dev; the portal groups by it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour: Option<Colour>,
}

impl AccountAlias {
    /// Checks every field; each problem names its field.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Err(e) = AccountId::parse(&self.id) {
            errors.push(FieldError {
                field: "id",
                message: format!("`{}` {}", self.id, e.rule),
            });
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            errors.push(FieldError {
                field: "name",
                message: "give a name of 1 to 64 printable characters".into(),
            });
        }
        if self.environment.chars().count() > 32
            || !self
                .environment
                .chars()
                .all(|c| c.is_alphanumeric() || "-_ .".contains(c))
        {
            errors.push(FieldError {
                field: "environment",
                message: "use up to 32 letters, digits, spaces, `-`, `_` or `.` (e.g. prod)".into(),
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_fields() {
        let a = AccountAlias {
            id: "12".into(),
            name: "".into(),
            environment: "prod<script>".into(),
            colour: None,
        };
        let fields: Vec<&str> = a
            .validate()
            .expect_err("invalid")
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["id", "name", "environment"]);
        let ok = AccountAlias {
            id: "123456789012".into(),
            name: "Payments prod".into(),
            environment: "prod".into(),
            colour: Colour::parse("red"),
        };
        assert!(ok.validate().is_ok());
    }
}
