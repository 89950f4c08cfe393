//! Where people and their groups come from. Every source yields an [`Identity`].

pub mod admin;
pub mod ldap;
pub mod local;
pub mod names;
pub mod oidc;
pub mod settings;

/// A signed-in person as the rest of the broker sees them, whatever the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub groups: Vec<String>,
    pub must_change_password: bool,
    /// Extra attributes from an external source, for `{attr:NAME}` in templates.
    pub attributes: std::collections::BTreeMap<String, String>,
    /// `local`, or the id of the LDAP/OIDC source that vouches for this person.
    pub source: String,
    /// The same groups with who granted each, which decides whether they make an admin.
    pub memberships: Vec<crate::store::Membership>,
}

use crate::store::{ExternalProfile, ProvisionRefused, Store, StoreError};

/// The identity sources beside the local directory.
pub struct Sources {
    pub ldap: Vec<ldap::LdapDirectory>,
    pub oidc: Vec<oidc::OidcProvider>,
    /// The SAML sources' settings (their protocol side lives in `saml::upstream`).
    pub saml: Vec<settings::SamlSource>,
}

impl Sources {
    /// Builds every configured source (reading CA bundles once).
    pub fn new(settings: &settings::SourcesSettings, public_url: &str) -> anyhow::Result<Sources> {
        Ok(Sources {
            oidc: settings
                .oidc
                .iter()
                .cloned()
                .map(|o| oidc::OidcProvider::new(o, public_url))
                .collect::<anyhow::Result<_>>()?,
            ldap: settings
                .ldap
                .iter()
                .cloned()
                .map(ldap::LdapDirectory::new)
                .collect::<anyhow::Result<_>>()?,
            saml: settings.saml.clone(),
        })
    }

    /// `(id, name)` of every password source, local first, for the login form.
    pub fn password_sources(&self) -> Vec<(String, String)> {
        let mut out = vec![("local".to_string(), "This broker".to_string())];
        out.extend(
            self.ldap
                .iter()
                .map(|l| (l.settings.id.clone(), l.settings.name.clone())),
        );
        out
    }
}

/// Why a password sign-in failed, in terms the login page can show.
#[derive(Debug, thiserror::Error)]
pub enum SignInFailure {
    /// Unknown user or wrong password: never told apart.
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("a password is required")]
    EmptyPassword,
    #[error("account disabled")]
    Disabled,
    #[error("{0}")]
    SourceDown(String),
    #[error("username `{username}` belongs to another account ({owner})")]
    UsernameTaken { username: String, owner: String },
    #[error("unknown sign-in source `{0}`")]
    UnknownSource(String),
    /// Every core is checking other passwords: try again in a moment.
    #[error("busy")]
    Busy,
    /// The source reported a username that cannot be stored as it is.
    #[error("{0}")]
    UnusableUsername(#[from] names::NameRefused),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Local(local::LocalError),
}

/// Checks a username and password against the chosen source; an external person is
/// provisioned (or updated) in the local database, with the groups the source gave.
pub async fn password_sign_in(
    store: &Store,
    sources: &Sources,
    source: &str,
    username: &str,
    password: &str,
    now: i64,
) -> Result<Identity, SignInFailure> {
    if source.is_empty() || source == "local" {
        return match local::authenticate(store, username, password).await {
            Ok(identity) => Ok(identity),
            Err(local::LocalError::InvalidCredentials) => Err(SignInFailure::WrongCredentials),
            Err(local::LocalError::Disabled) => Err(SignInFailure::Disabled),
            Err(local::LocalError::Busy) => Err(SignInFailure::Busy),
            Err(local::LocalError::Store(e)) => Err(e.into()),
            Err(e) => Err(SignInFailure::Local(e)),
        };
    }
    let directory = sources
        .ldap
        .iter()
        .find(|l| l.settings.id == source)
        .ok_or_else(|| SignInFailure::UnknownSource(source.to_string()))?;
    let person = match directory.authenticate(username, password).await {
        Ok(p) => p,
        Err(ldap::LdapError::WrongCredentials) => return Err(SignInFailure::WrongCredentials),
        Err(ldap::LdapError::EmptyPassword) => return Err(SignInFailure::EmptyPassword),
        Err(e) => {
            tracing::warn!(source = %source, error = %e, "LDAP sign-in failed");
            return Err(SignInFailure::SourceDown(directory.settings.name.clone()));
        }
    };
    provision(store, source, &person, now).await
}

/// Creates or updates the local record of a person an external source vouched for, and
/// returns their identity; refuses a username another source owns and a locally disabled user.
pub async fn provision(
    store: &Store,
    source: &str,
    person: &ldap::ExternalUser,
    now: i64,
) -> Result<Identity, SignInFailure> {
    let username = names::normalise_username(&person.username)?;
    let profile = ExternalProfile {
        source,
        subject: &person.subject,
        username: &username,
        email: &person.email,
        display_name: &person.display_name,
        groups: &person.groups,
        attributes: &person.attributes,
    };
    let user_id = match store.provision_external(&profile, now).await? {
        Ok(id) => id,
        Err(ProvisionRefused::UsernameTaken { owner_source }) => {
            return Err(SignInFailure::UsernameTaken {
                username,
                owner: owner_source,
            })
        }
    };
    // Disabled locally stays locked out, whatever the source says.
    match store.user_by_id(user_id).await? {
        Some(u) if !u.disabled => {}
        _ => return Err(SignInFailure::Disabled),
    }
    local::identity_of(store, user_id)
        .await?
        .ok_or(SignInFailure::WrongCredentials)
}
