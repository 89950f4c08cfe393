//! The portal's Console button: a SAML sign-in posted to a healthy Region's sign-in endpoint,
//! or, for a role whose rule gives its sessions a session policy (which a SAML Response cannot
//! carry), a federation link (STS with the policy → `getSigninToken` → `login`). The person
//! sees one button either way.

use crate::audit::Origin;
use crate::aws::assertion::{console_post_for, ConsolePost, SignInError};
use crate::aws::credentials::CredentialsError;
use crate::aws::federation::console_url;
use crate::aws::AwsContext;
use crate::directory::Identity;
use crate::domain::aws::RoleArn;
use crate::mapping::rule::check_console_url;

/// Where the browser goes next.
#[derive(Debug, Clone)]
pub enum ConsoleSignIn {
    /// An auto-POST of a signed Response to an AWS sign-in endpoint.
    Post(ConsolePost),
    /// A redirect to the federation `login` URL (it holds a sign-in token: never logged).
    FederationLink(String),
}

/// Opens the console for `role` by the path its rule allows. The Region asked for applies to
/// the SAML path; the federation link uses the first STS endpoint that answers. `landing` (a
/// bookmarked link's console page) replaces the rule's landing page on either path, once it is
/// known to be a console address of the role's partition: it is checked before anything is
/// signed.
pub async fn console_sign_in(
    aws: AwsContext<'_>,
    identity: &Identity,
    role: &str,
    region: Option<&str>,
    landing: Option<&str>,
    origin: &Origin,
) -> Result<ConsoleSignIn, CredentialsError> {
    let landing = match landing {
        None => None,
        Some(url) => {
            let partition = RoleArn::parse(role)
                .map_err(|e| SignInError::Preflight(vec![e]))?
                .partition();
            Some(check_console_url(url, partition).map_err(SignInError::Landing)?)
        }
    };
    let evaluation = aws
        .rules
        .evaluate(aws.store, &identity.groups)
        .await
        .map_err(SignInError::from)?;
    match console_post_for(aws, identity, &evaluation, role, region, origin).await {
        Ok(mut post) => {
            if let Some(landing) = landing {
                post.relay_state = landing;
            }
            Ok(ConsoleSignIn::Post(post))
        }
        Err(SignInError::NeedsFederation(with_policy)) => {
            tracing::info!(user = %identity.username, role = %with_policy, "role has a session policy: console through the federation link");
            Ok(ConsoleSignIn::FederationLink(
                console_url(aws, identity, &with_policy, landing.as_deref(), origin).await?,
            ))
        }
        Err(e) => Err(e.into()),
    }
}
