//! Which AWS roles a person gets now: the stored rules (the language lives in `mapping`),
//! compiled and cached per instance, evaluated over the person's groups; and the dry run.

pub mod cache;
pub mod dry_run;
pub mod role_list;
pub mod size_advice;
pub mod trust;

pub use cache::{compile, grantable_roles, session_duration, Compiled, RoleMapper};
pub use dry_run::{dry_run, identity_for_dry_run, DryRun, DryRunSubject};
pub use trust::{chained_policy, sessions_carry_tags, trust_targets};
