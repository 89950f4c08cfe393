//! Console links through the AWS federation endpoint: CLI credentials for the role →
//! `getSigninToken` → a one-time `Action=login` URL. The URL holds a sign-in token: it is
//! never logged and only ever sent as a redirect.

use std::time::Duration;

use serde::Deserialize;

use crate::audit::{self, NewAuditEvent, Origin};
use crate::aws::credentials::{credentials, CredentialsError};
use crate::aws::AwsContext;
use crate::directory::Identity;
use crate::domain::aws::{Partition, Region};

/// The federation endpoints, read once at start-up: `sts.federation` overrides per Region,
/// else the partition's endpoint for the Region whose STS answered.
#[derive(Debug, Clone)]
pub struct Federation {
    overrides: Vec<(Region, String)>,
    partition: Partition,
    /// The `Issuer` AWS shows on its sign-out page: the portal people came from.
    issuer: String,
    client: reqwest::Client,
}

impl Federation {
    /// `timeout` bounds each `getSigninToken` call (the STS attempt timeout).
    pub fn new(
        overrides: Vec<(Region, String)>,
        partition: Partition,
        issuer: String,
        timeout: Duration,
    ) -> anyhow::Result<Federation> {
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Federation {
            overrides,
            partition,
            issuer,
            client,
        })
    }

    /// The origins (`scheme://host[:port]`) of the federation endpoints of `regions`, for the
    /// CSP `form-action` of the page whose Console button may be answered with a redirect to
    /// one of them: browsers hold a form post's redirects to `form-action` too.
    pub fn origins(&self, regions: impl IntoIterator<Item = Region>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for region in regions {
            if let Ok(url) = url::Url::parse(&self.endpoint(&region)) {
                let origin = url.origin().ascii_serialization();
                if !out.contains(&origin) {
                    out.push(origin);
                }
            }
        }
        out
    }

    /// The federation endpoint of a Region.
    pub fn endpoint(&self, region: &Region) -> String {
        self.overrides
            .iter()
            .find(|(r, _)| r == region)
            .map(|(_, url)| url.clone())
            .unwrap_or_else(|| self.partition.federation_url(region))
    }
}

/// `getSigninToken`'s answer.
#[derive(Deserialize)]
struct SigninToken {
    #[serde(rename = "SigninToken")]
    signin_token: String,
}

/// A console sign-in URL for one of the person's roles, audited as `federation`. `landing` (a
/// bookmarked link's console page, checked by the caller) is the `Destination`; else the
/// rule's landing page, else the Region's console.
pub async fn console_url(
    aws: AwsContext<'_>,
    identity: &Identity,
    role: &str,
    landing: Option<&str>,
    origin: &Origin,
) -> Result<String, CredentialsError> {
    let creds = credentials(aws, identity, role, origin).await?;
    let region = creds.issued.endpoint.region.clone();
    let federation = aws.federation.endpoint(&region);
    let session = serde_json::json!({
        "sessionId": creds.issued.access_key_id,
        "sessionKey": secrecy::ExposeSecret::expose_secret(&creds.issued.secret_access_key),
        "sessionToken": secrecy::ExposeSecret::expose_secret(&creds.issued.session_token),
    })
    .to_string();
    // SessionDuration is allowed for credentials from AssumeRole* (these), and refused by AWS
    // only for chained-role or GetFederationToken credentials, which the broker never uses.
    let query = [
        ("Action", "getSigninToken".to_string()),
        ("SessionDuration", creds.duration.to_string()),
        ("Session", session),
    ];
    let response = aws
        .federation
        .client
        .get(&federation)
        .query(&query)
        .send()
        .await
        .map_err(|e| {
            CredentialsError::Federation(if e.is_timeout() {
                "timed out".into()
            } else {
                "cannot connect".into()
            })
        })?;
    if !response.status().is_success() {
        return Err(CredentialsError::Federation(format!(
            "getSigninToken answered HTTP {}",
            response.status().as_u16()
        )));
    }
    let token: SigninToken = response.json().await.map_err(|_| {
        CredentialsError::Federation("getSigninToken answered without a SigninToken".into())
    })?;
    let destination = landing
        .map(str::to_string)
        .or_else(|| creds.deep_link.clone())
        .unwrap_or_else(|| aws.federation.partition.console_url(&region));
    let login = format!(
        "{federation}?{}",
        serde_urlencoded::to_string([
            ("Action", "login"),
            ("Issuer", aws.federation.issuer.as_str()),
            ("Destination", destination.as_str()),
            ("SigninToken", token.signin_token.as_str()),
        ])
        .unwrap_or_default()
    );
    audit::record(
        aws.store,
        NewAuditEvent {
            event_type: audit::kind::FEDERATION.into(),
            actor: identity.username.clone(),
            subject: identity.username.clone(),
            role_arn: creds.pair.role.to_string(),
            account_id: creds.pair.role.account().to_string(),
            outcome: audit::outcome(true),
            source_addr: origin.addr.clone(),
            user_agent: origin.user_agent.clone(),
            details: serde_json::json!({
                "region": region.as_str(),
                "federation_endpoint": federation,
                "destination": destination,
                "duration": creds.duration,
            }),
        },
    )
    .await;
    Ok(login)
}
