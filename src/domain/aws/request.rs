//! One `AssumeRoleWithSAML` request as fedbroker sends it. The STS client sends exactly these
//! fields and the admin dry run prints them through [`AssumeRequest::parameters`], so what the
//! dry run shows is what STS receives.

use super::*;

/// The parameters of one `AssumeRoleWithSAML` call, apart from the signed assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRequest {
    pub role: RoleArn,
    pub provider: SamlProviderArn,
    pub duration_secs: u32,
    pub policy_arns: Vec<PolicyArn>,
    pub policy: Option<InlinePolicy>,
}

impl AssumeRequest {
    /// The Query API parameters (`Action` and `Version` apart), in the SDK's wire names; the
    /// assertion is shown as `<signed SAML Response>`.
    pub fn parameters(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("RoleArn".to_string(), self.role.to_string()),
            (
                "PrincipalArn".to_string(),
                self.provider.as_str().to_string(),
            ),
            (
                "SAMLAssertion".to_string(),
                "<signed SAML Response, base64>".to_string(),
            ),
            (
                "DurationSeconds".to_string(),
                self.duration_secs.to_string(),
            ),
        ];
        for (i, arn) in self.policy_arns.iter().enumerate() {
            out.push((
                format!("PolicyArns.member.{}.arn", i + 1),
                arn.as_str().to_string(),
            ));
        }
        if let Some(policy) = &self.policy {
            out.push(("Policy".to_string(), policy.as_str().to_string()));
        }
        out
    }
}
