//! Sign-in through an upstream OpenID Provider (Entra ID, Okta, Google…): discovery, the
//! authorization code flow with PKCE (S256), state and nonce, ID token validation (issuer,
//! audience, expiry, nonce, signature from the JWKS, refetched once when the provider rotated
//! its keys), userinfo when the groups are not in the ID token, and gates on e-mail domain and
//! group.
//!
//! Claims are read from the payload of the very ID token whose signature was verified (the
//! compact JWS the library checked), so what is consumed is what was signed.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreClient, CoreGenderClaim, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};

use super::ldap::ExternalUser;
use super::settings::OidcSource;
use crate::domain::token::{secrets_equal, token_hash};
use crate::store::{OidcLogin, Store, StoreError};

/// Every claim of a userinfo answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct AllClaims(HashMap<String, serde_json::Value>);
impl AdditionalClaims for AllClaims {}

/// Why an OIDC sign-in failed; each says what happened without leaking who exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("{0} cannot be reached right now")]
    ProviderDown(String),
    #[error("{provider} sent a discovery document for another issuer ({found}); check the issuer URL in the settings")]
    WrongIssuer { provider: String, found: String },
    #[error("the sign-in answer does not belong to a sign-in this browser started (state mismatch); start again")]
    StateMismatch,
    #[error("{provider} refused the sign-in: {reason}")]
    Rejected { provider: String, reason: String },
    #[error("the ID token from {provider} is not valid: {reason}")]
    InvalidToken { provider: String, reason: String },
    #[error(
        "{provider} did not send your groups because you are in too many (Entra ID group overage, `_claim_names`). \
         Ask your administrator to emit only the groups assigned to this application (\"Groups assigned to the \
         application\" in the Entra app's token configuration), or to use app roles."
    )]
    GroupOverage { provider: String },
    #[error(
        "{provider} answered userinfo for another subject (`{userinfo}`) than the ID token's \
         (`{id_token}`), so its claims were not used"
    )]
    SubjectMismatch {
        provider: String,
        id_token: String,
        userinfo: String,
    },
    #[error("{0}")]
    NotAllowed(String),
}

/// What the callback needs from the start of the flow (kept server-side).
#[derive(Debug, Clone)]
pub struct Pending {
    pub pkce_verifier: String,
    pub nonce: String,
}

/// The start of a sign-in: where to send the browser, and what to keep.
pub struct Started {
    pub authorize_url: String,
    pub state: String,
    pub pending: Pending,
}

/// One configured provider, with its discovery document cached.
pub struct OidcProvider {
    pub settings: OidcSource,
    redirect_uri: String,
    metadata: RwLock<Option<CoreProviderMetadata>>,
    http: openidconnect::reqwest::Client,
}

impl OidcProvider {
    pub fn new(settings: OidcSource, public_url: &str) -> anyhow::Result<OidcProvider> {
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would let a provider point the broker anywhere (SSRF).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
            .build()?;
        Ok(OidcProvider {
            redirect_uri: format!("{public_url}/login/oidc/{}/callback", settings.id),
            settings,
            metadata: RwLock::new(None),
            http,
        })
    }

    fn down(&self) -> OidcError {
        OidcError::ProviderDown(self.settings.name.clone())
    }

    /// The discovery document (and JWKS): cached, or fetched when `refresh` or missing.
    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        if !refresh {
            if let Some(m) = self.metadata.read().ok().and_then(|m| m.clone()) {
                return Ok(m);
            }
        }
        let issuer =
            IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| OidcError::Rejected {
                provider: self.settings.name.clone(),
                reason: format!("issuer URL: {e}"),
            })?;
        let m = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| match e {
                openidconnect::DiscoveryError::Validation(why) if why.contains("issuer") => {
                    OidcError::WrongIssuer {
                        provider: self.settings.name.clone(),
                        found: why,
                    }
                }
                other => {
                    tracing::warn!(provider = %self.settings.id, error = %other, "OIDC discovery failed");
                    self.down()
                }
            })?;
        if let Ok(mut slot) = self.metadata.write() {
            *slot = Some(m.clone());
        }
        Ok(m)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> Result<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let redirect =
            RedirectUrl::new(self.redirect_uri.clone()).map_err(|e| OidcError::Rejected {
                provider: self.settings.name.clone(),
                reason: format!("redirect URL: {e}"),
            })?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose().to_string(),
            )),
        )
        .set_redirect_uri(redirect))
    }

    /// Builds the authorization request.
    pub async fn start(&self) -> Result<Started, OidcError> {
        let client = self.client(self.metadata(false).await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(Started {
            authorize_url: url.to_string(),
            state: state.secret().clone(),
            pending: Pending {
                pkce_verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
            },
        })
    }

    /// Finishes the flow: code for tokens, ID token checks, claims, gates.
    pub async fn finish(&self, code: &str, pending: &Pending) -> Result<ExternalUser, OidcError> {
        let rejected = |reason: String| OidcError::Rejected {
            provider: self.settings.name.clone(),
            reason,
        };
        let client = self.client(self.metadata(false).await?)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| rejected(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    rejected(format!("{}", r.error()))
                }
                openidconnect::RequestTokenError::Request(_) => self.down(),
                other => rejected(other.to_string()),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| rejected("no ID token in the answer".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let verified = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(_) => Ok(()),
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                // The provider may have rotated its keys: fetch the JWKS again, once.
                let fresh = self.client(self.metadata(true).await?)?;
                let verifier = fresh.id_token_verifier();
                let checked = id_token.claims(&verifier, &nonce).map(|_| ());
                checked
            }
            Err(e) => Err(e),
        };
        verified.map_err(|e| OidcError::InvalidToken {
            provider: self.settings.name.clone(),
            reason: token_refusal(&e),
        })?;
        let mut claims =
            payload_of(&id_token.to_string()).map_err(|reason| OidcError::InvalidToken {
                provider: self.settings.name.clone(),
                reason,
            })?;
        if claim(&claims, &self.settings.groups_claim).is_none() {
            if overage(&claims, &self.settings.groups_claim) {
                return Err(OidcError::GroupOverage {
                    provider: self.settings.name.clone(),
                });
            }
            // Not in the ID token: ask the userinfo endpoint, when there is one.
            if let Ok(request) = client.user_info(token.access_token().clone(), None) {
                let info: UserInfoClaims<AllClaims, CoreGenderClaim> = request
                    .request_async(&self.http)
                    .await
                    .map_err(|e| rejected(format!("userinfo: {e}")))?;
                // Userinfo must describe the person the ID token vouches for; claims about
                // anyone else (a mixed-up or substituted answer) must not be merged in.
                let id_sub = claims
                    .get("sub")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                if info.subject().as_str() != id_sub {
                    return Err(OidcError::SubjectMismatch {
                        provider: self.settings.name.clone(),
                        id_token: id_sub.to_string(),
                        userinfo: info.subject().as_str().to_string(),
                    });
                }
                for (k, v) in info.additional_claims().0.iter() {
                    claims.entry(k.clone()).or_insert(v.clone());
                }
            }
        }
        self.person(&claims)
    }

    /// The person from verified claims, after the gates.
    pub fn person(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ExternalUser, OidcError> {
        let s = &self.settings;
        let text = |path: &str| claim(claims, path).and_then(|v| v.as_str().map(str::to_string));
        let subject = text("sub").ok_or_else(|| OidcError::InvalidToken {
            provider: s.name.clone(),
            reason: "no `sub` claim".into(),
        })?;
        let email = text(&s.email_claim).unwrap_or_default();
        let username = text(&s.username_claim)
            .or_else(|| Some(email.clone()).filter(|e| !e.is_empty()))
            .unwrap_or_else(|| subject.clone());
        if overage(claims, &s.groups_claim) && claim(claims, &s.groups_claim).is_none() {
            return Err(OidcError::GroupOverage {
                provider: s.name.clone(),
            });
        }
        let groups: Vec<String> = match claim(claims, &s.groups_claim) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        if !s.allowed_domains.is_empty() {
            // An address the provider has not verified proves nothing about its domain: anyone
            // can type `ceo@example.com` into an account at many providers.
            let verified = match claim(claims, "email_verified") {
                Some(serde_json::Value::Bool(b)) => *b,
                // Some providers (Cognito) send the flag as a string.
                Some(serde_json::Value::String(t)) => t == "true",
                _ => false,
            };
            if !verified && !s.trust_unverified_email {
                return Err(OidcError::NotAllowed(format!(
                    "Sign-in through {} is limited to addresses at {}, and {} did not confirm \
                     that your address `{email}` is verified (email_verified). Verify it with {}, \
                     or ask your administrator.",
                    s.name,
                    s.allowed_domains.join(", "),
                    s.name,
                    s.name
                )));
            }
            let domain = email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
            if !domain.is_some_and(|d| s.allowed_domains.iter().any(|a| a.eq_ignore_ascii_case(&d)))
            {
                return Err(OidcError::NotAllowed(format!(
                    "Sign-in through {} is limited to addresses at {}.",
                    s.name,
                    s.allowed_domains.join(", ")
                )));
            }
        }
        if !s.required_group.is_empty() && !groups.contains(&s.required_group) {
            return Err(OidcError::NotAllowed(format!(
                "Sign-in through {} needs membership of the group `{}`; ask your administrator.",
                s.name, s.required_group
            )));
        }
        Ok(ExternalUser {
            subject,
            username,
            email,
            display_name: text(&s.name_claim).unwrap_or_default(),
            groups,
            attributes: s
                .extra_claims
                .iter()
                .filter_map(|path| {
                    let v = claim(claims, path)?;
                    let text = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    Some((path.clone(), text))
                })
                .collect(),
        })
    }
}

/// Why the ID token was refused, in words an administrator can act on: the library's top-level
/// message for a signature failure does not say whether the key was missing or the signature
/// did not match.
fn token_refusal(e: &openidconnect::ClaimsVerificationError) -> String {
    use openidconnect::{ClaimsVerificationError as C, SignatureVerificationError as S};
    match e {
        C::SignatureVerification(S::NoMatchingKey) => {
            "it is signed with a key the provider does not publish (not in its JWKS, even \
             after fetching the JWKS again)"
                .into()
        }
        C::SignatureVerification(inner) => format!("its signature does not verify: {inner}"),
        other => other.to_string(),
    }
}

/// The JSON payload of a compact JWS.
fn payload_of(jws: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let part = jws.split('.').nth(1).ok_or("not a compact JWS")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| format!("payload is not base64url: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("payload is not JSON: {e}"))
}

/// A claim by dotted path (`groups`, `realm_access.roles`).
pub fn claim<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> Option<&'a serde_json::Value> {
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

/// Entra ID's group overage: the groups claim replaced by a `_claim_names` reference.
pub fn overage(claims: &serde_json::Map<String, serde_json::Value>, groups_claim: &str) -> bool {
    claims
        .get("_claim_names")
        .and_then(|n| n.get(groups_claim))
        .is_some()
}

/// How long a sign-in at the provider may take.
pub const PENDING_SECS: i64 = 600;

/// Takes (once) the sign-in under way that a callback answers, found by the hash of its
/// `state`, and accepts it only if it was started at this provider (`source`), by this browser
/// (`browser`: the value of the cookie set at the start) and no longer than [`PENDING_SECS`]
/// ago. Anything else is [`OidcError::StateMismatch`]: a callback URL replayed, or planted in
/// another browser, goes nowhere.
pub async fn take_pending(
    store: &Store,
    source: &str,
    state: &str,
    browser: Option<&str>,
    now: i64,
) -> Result<Result<OidcLogin, OidcError>, StoreError> {
    let pending = store.take_oidc_login(&token_hash(state)).await?;
    let browser = browser.map(token_hash);
    Ok(match (pending, browser) {
        (Some(p), Some(b))
            if p.provider == source
                && secrets_equal(&p.browser_hash, &b)
                && now - p.created_at <= PENDING_SECS =>
        {
            Ok(p)
        }
        _ => Err(OidcError::StateMismatch),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> OidcProvider {
        let settings: OidcSource = toml::from_str(
            "id = \"entra\"\nname = \"Entra ID\"\nissuer = \"https://login.example.com/t/v2.0\"\n\
             client_id = \"c\"\nclient_secret = \"s\"\nallowed_domains = [\"example.com\"]\n",
        )
        .expect("settings");
        OidcProvider::new(settings, "https://broker.example.com").expect("provider")
    }

    fn claims(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        json.as_object().cloned().expect("object")
    }

    #[test]
    fn entra_group_overage_is_explained() {
        let c = claims(serde_json::json!({
            "sub": "1", "email": "a@example.com",
            "_claim_names": {"groups": "src1"},
            "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/1/getMemberObjects"}}
        }));
        assert!(matches!(
            provider().person(&c),
            Err(OidcError::GroupOverage { .. })
        ));
    }

    #[test]
    fn nested_claim_paths_and_domain_gate() {
        let mut p = provider();
        p.settings.groups_claim = "realm_access.roles".into();
        let ok = claims(serde_json::json!({
            "sub": "1", "email": "a@Example.com", "email_verified": true, "preferred_username": "ann",
            "realm_access": {"roles": ["AWS-123456789012-Admin"]}
        }));
        let person = p.person(&ok).expect("allowed");
        assert_eq!(person.groups, vec!["AWS-123456789012-Admin"]);
        assert_eq!(person.username, "ann");
        let other = claims(
            serde_json::json!({"sub": "2", "email": "b@evil.example", "email_verified": true}),
        );
        assert!(matches!(p.person(&other), Err(OidcError::NotAllowed(_))));
    }

    #[test]
    fn the_domain_gate_needs_a_verified_address() {
        let mut p = provider();
        for unverified in [
            serde_json::json!({"sub": "3", "email": "c@example.com", "email_verified": false}),
            serde_json::json!({"sub": "3", "email": "c@example.com", "email_verified": "false"}),
            serde_json::json!({"sub": "3", "email": "c@example.com"}),
        ] {
            match p.person(&claims(unverified.clone())) {
                Err(OidcError::NotAllowed(m)) => assert!(m.contains("email_verified"), "{m}"),
                other => panic!("{unverified}: {other:?}"),
            }
        }
        let cognito = claims(
            serde_json::json!({"sub": "3", "email": "c@example.com", "email_verified": "true"}),
        );
        assert!(p.person(&cognito).is_ok());
        p.settings.trust_unverified_email = true;
        let silent = claims(serde_json::json!({"sub": "3", "email": "c@example.com"}));
        assert!(p.person(&silent).is_ok());
    }
}
