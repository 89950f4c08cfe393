//! `[saml]`: how the broker speaks SAML to AWS, as the configuration describes it.

use serde::{Deserialize, Serialize};

use crate::domain::aws::Partition;
use crate::domain::secret::Secret;

/// `[saml]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSettings {
    pub entity_id: String,
    pub partition: Partition,
    pub provider_name: String,
    pub assertion_validity_secs: i64,
    pub clock_skew_secs: i64,
    pub sign_response: bool,
    pub role_session_name: String,
    pub source_identity: String,
    pub session_duration_secs: i64,
    pub principal_tags: Vec<String>,
    pub transitive_tag_keys: Vec<String>,
    pub multi_role_chooser: bool,
    pub key_encryption_key: Secret,
    pub key_encryption_key_file: String,
    /// The key-encryption key being rotated away from: keys it sealed stay readable until
    /// `fedbroker keys reseal` seals them again with the current one.
    pub previous_key_encryption_key: Secret,
    pub previous_key_encryption_key_file: String,
}
