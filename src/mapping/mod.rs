//! Group → role mapping: ordered rules kept in the database, compiled once per rule-set version
//! and evaluated at every sign-in; account aliases for the portal; the YAML form of both.

pub mod alias;
pub mod document;
pub mod engine;
pub mod reach;
pub mod rule;
pub mod session;
pub mod template;

pub use alias::{AccountAlias, Colour};
pub use document::RulesDocument;
pub use engine::{Cause, Denial, Evaluation, Grant, RuleSet, Skipped};
pub use rule::{CompiledRule, Effect, FieldError, RuleSpec};
pub use session::{SessionShape, SessionSpec};

/// Starting points offered by the admin UI's "new rule" form.
pub struct Preset {
    pub key: &'static str,
    pub label: &'static str,
    pub pattern: &'static str,
    pub role: &'static str,
}

/// AD FS-style `AWS-<account>-<role>` and Okta-style `aws#<account>#<role>` group names.
pub const PRESETS: [Preset; 2] = [
    Preset {
        key: "adfs",
        label: "AD FS style: AWS-<account>-<role>",
        pattern: r"AWS-(?P<account>[0-9]{12})-(?P<role>[A-Za-z0-9_+=,.@-]+)",
        role: "arn:${partition}:iam::${account}:role/${role}",
    },
    Preset {
        key: "okta",
        label: "Okta style: aws#<account>#<role>",
        pattern: r"aws#(?P<account>[0-9]{12})#(?P<role>[A-Za-z0-9_+=,.@-]+)",
        role: "arn:${partition}:iam::${account}:role/${role}",
    },
];
