//! AssumeRoleWithSAML on regional STS endpoints, with failover.
//!
//! Each endpoint has its own aws-sdk-sts client (unsigned calls: the broker holds no AWS
//! credentials) with a per-attempt timeout and the SDK's standard retries (jittered backoff) up
//! to `sts.max_attempts`. When an endpoint still fails with a connection error, a timeout,
//! throttling or a 5xx, the next endpoint is tried and the failed one is skipped for
//! `sts.down_for_secs` (every endpoint is tried again when all are marked down: the policy of
//! `failover`). A 4xx answer
//! (a validation error: the role, the trust policy, the duration) is the answer: failing over
//! would only repeat it in another Region.

use std::time::Duration;

use aws_sdk_sts::config::{BehaviorVersion, Region as SdkRegion};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls;
use secrecy::SecretString;

use crate::aws::failover::DownMarks;
use aws_sdk_sts::types::PolicyDescriptorType;

use crate::domain::aws::{AssumeRequest, Partition, Region, RegionEntry};
use crate::store::{EndpointHealth, Store, StoreError};

/// `[sts]`: CLI credentials and console federation URLs.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct StsSettings {
    pub endpoints: Vec<RegionEntry>,
    pub federation: Vec<RegionEntry>,
    pub attempt_timeout_secs: u64,
    pub connect_timeout_secs: u64,
    pub max_attempts: u32,
    pub down_for_secs: u64,
    pub api_token_max_days: i64,
}

/// One regional endpoint.
#[derive(Debug, Clone)]
pub struct StsEndpoint {
    pub region: Region,
    pub url: String,
}

/// Temporary credentials and what STS said about them. The secret parts are never logged,
/// stored or put in an audit event.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: SecretString,
    /// Unix seconds.
    pub expiration: i64,
    pub assumed_role_arn: String,
    pub source_identity: Option<String>,
    pub packed_policy_size: Option<i32>,
    /// The endpoint that answered.
    pub endpoint: StsEndpoint,
    /// Endpoints that failed before it, with why.
    pub failed: Vec<(String, String)>,
}

/// Why no credentials were issued.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StsError {
    /// STS refused the request (4xx); its code and message, as AWS gave them.
    #[error("AWS STS refused the request ({code}): {message}")]
    Refused {
        code: String,
        message: String,
        endpoint: String,
        failed: Vec<(String, String)>,
    },
    /// Every endpoint failed (down, timing out, throttling or erroring).
    #[error("no AWS STS endpoint answered: {}", .failed.iter().map(|(e, why)| format!("{e}: {why}")).collect::<Vec<_>>().join("; "))]
    Unavailable { failed: Vec<(String, String)> },
}

impl StsError {
    /// Whether STS said the duration is longer than the role allows.
    pub fn is_duration_too_long(&self) -> bool {
        matches!(self, StsError::Refused { message, .. } if message.contains("DurationSeconds exceeds"))
    }
}

/// The endpoints, their clients and what the broker remembers of their health.
pub struct StsClient {
    endpoints: Vec<StsEndpoint>,
    clients: Vec<aws_sdk_sts::Client>,
    /// This instance's marks, merged with the other instances' (shared through the store:
    /// an endpoint one instance found down is passed over by all, its timeout paid once).
    marks: DownMarks,
    store: Store,
    instance: String,
}

/// `endpoint_health.kind` of STS endpoints.
const STS: &str = "sts";

/// The status of one endpoint, for the admin pages.
#[derive(Debug, Clone)]
pub struct EndpointStatus {
    pub endpoint: StsEndpoint,
    pub down_until: i64,
    pub last_error: Option<String>,
    /// The instance that last saw it fail or recover, when any did.
    pub seen_by: Option<String>,
}

enum Failure {
    /// Try the next endpoint.
    Failover(String),
    /// This is the answer.
    Final { code: String, message: String },
}

type AssumeError = SdkError<
    aws_sdk_sts::operation::assume_role_with_saml::AssumeRoleWithSAMLError,
    aws_sdk_sts::config::http::HttpResponse,
>;

fn classify(err: &AssumeError) -> Failure {
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let message = e.message().unwrap_or("").to_string();
            let server_side = ctx.raw().status().as_u16() >= 500
                || code.contains("Throttl")
                || code == "RequestLimitExceeded";
            if server_side {
                Failover(format!("{code}: {message}"))
            } else {
                Failure::Final { code, message }
            }
        }
        SdkError::TimeoutError(_) => Failover("timed out".into()),
        SdkError::DispatchFailure(e) => Failover(if e.is_timeout() {
            "timed out".to_string()
        } else {
            "cannot connect".to_string()
        }),
        SdkError::ResponseError(_) => Failover("unreadable response".into()),
        other => Failover(format!("{other}")),
    }
}

use Failure::Failover;

impl StsClient {
    /// Builds one client per configured endpoint.
    pub fn new(s: &StsSettings, partition: Partition, store: Store) -> anyhow::Result<StsClient> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut endpoints = Vec::new();
        let mut clients = Vec::new();
        for RegionEntry { region, url } in s.endpoints.iter().cloned() {
            let url = url.unwrap_or_else(|| partition.sts_url(&region));
            let config = aws_sdk_sts::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(SdkRegion::new(region.as_str().to_string()))
                .endpoint_url(&url)
                .http_client(http.clone())
                .timeout_config(
                    aws_sdk_sts::config::timeout::TimeoutConfig::builder()
                        .operation_attempt_timeout(Duration::from_secs(s.attempt_timeout_secs))
                        .connect_timeout(Duration::from_secs(s.connect_timeout_secs))
                        .build(),
                )
                .retry_config(
                    aws_sdk_sts::config::retry::RetryConfig::standard()
                        .with_max_attempts(s.max_attempts)
                        .with_initial_backoff(Duration::from_millis(100)),
                )
                .build();
            clients.push(aws_sdk_sts::Client::from_conf(config));
            endpoints.push(StsEndpoint { region, url });
        }
        Ok(StsClient {
            marks: DownMarks::new(endpoints.len(), s.down_for_secs as i64),
            endpoints,
            clients,
            store,
            instance: super::instance_name(),
        })
    }

    /// The Regions of the configured endpoints, in order.
    pub fn regions(&self) -> impl Iterator<Item = Region> + '_ {
        self.endpoints.iter().map(|e| e.region.clone())
    }

    /// Takes over the marks other instances shared. A database that does not answer leaves
    /// this instance on its own marks (the call itself does not need the database).
    async fn adopt_shared_marks(&self, now: i64) {
        match self.store.endpoint_health(STS).await {
            Ok(shared) => {
                for (i, e) in self.endpoints.iter().enumerate() {
                    if let Some(h) = shared
                        .iter()
                        .find(|h| h.name == e.url && h.down_until > now)
                    {
                        self.marks.adopt(i, h.down_until, h.error.clone());
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the STS endpoint health other instances shared")
            }
        }
    }

    /// Records a call's outcome here and, when it changes the endpoint's state, for every
    /// instance: a failure always, a success only after a failure (no write per call).
    async fn record(&self, i: usize, now: i64, error: Option<String>) {
        let was_failing = self
            .marks
            .marks()
            .get(i)
            .is_some_and(|m| m.last_error.is_some());
        self.marks.record(i, now, error.clone());
        if error.is_none() && !was_failing {
            return;
        }
        let health = EndpointHealth {
            kind: STS.into(),
            name: self.endpoints[i].url.clone(),
            healthy: error.is_none(),
            latency_ms: None,
            down_until: if error.is_some() {
                now + self.marks.down_for_secs()
            } else {
                0
            },
            error,
            checked_at: now,
            checked_by: self.instance.clone(),
        };
        if let Err(e) = self.store.record_endpoint_health(&health).await {
            tracing::warn!(error = %e, "cannot share the STS endpoint health");
        }
    }

    /// Every endpoint with its health: this instance's marks and what the others shared,
    /// whichever reaches further.
    pub async fn status(&self) -> Result<Vec<EndpointStatus>, StoreError> {
        let shared = self.store.endpoint_health_now(Some(STS)).await?;
        Ok(self
            .endpoints
            .iter()
            .zip(self.marks.marks())
            .map(|(e, m)| {
                let theirs = shared.iter().find(|h| h.name == e.url);
                match theirs {
                    Some(h) if h.down_until > m.down_until || m.last_error.is_none() => {
                        EndpointStatus {
                            endpoint: e.clone(),
                            down_until: h.down_until,
                            last_error: h.error.clone(),
                            seen_by: Some(h.checked_by.clone()),
                        }
                    }
                    _ => EndpointStatus {
                        endpoint: e.clone(),
                        down_until: m.down_until,
                        last_error: m.last_error,
                        seen_by: m.down_until.gt(&0).then(|| self.instance.clone()),
                    },
                }
            })
            .collect())
    }

    /// Exchanges a signed assertion for credentials: the request's fields exactly (the dry
    /// run shows the same through `AssumeRequest::parameters`).
    pub async fn assume_role_with_saml(
        &self,
        request: &AssumeRequest,
        saml_response_b64: &str,
        now: i64,
    ) -> Result<Issued, StsError> {
        let policy_arns: Option<Vec<PolicyDescriptorType>> = (!request.policy_arns.is_empty())
            .then(|| {
                request
                    .policy_arns
                    .iter()
                    .map(|a| PolicyDescriptorType::builder().arn(a.as_str()).build())
                    .collect()
            });
        let duration = i32::try_from(request.duration_secs).ok();
        let mut failed = Vec::new();
        self.adopt_shared_marks(now).await;
        for i in self.marks.order(now) {
            let endpoint = &self.endpoints[i];
            let result = self.clients[i]
                .assume_role_with_saml()
                .role_arn(request.role.as_str())
                .principal_arn(request.provider.as_str())
                .saml_assertion(saml_response_b64)
                .set_duration_seconds(duration)
                .set_policy_arns(policy_arns.clone())
                .set_policy(request.policy.as_ref().map(|p| p.as_str().to_string()))
                .send()
                .await;
            match result {
                Ok(out) => {
                    self.record(i, now, None).await;
                    let Some(creds) = out.credentials() else {
                        failed.push((endpoint.url.clone(), "answer without credentials".into()));
                        continue;
                    };
                    return Ok(Issued {
                        access_key_id: creds.access_key_id().to_string(),
                        secret_access_key: SecretString::from(
                            creds.secret_access_key().to_string(),
                        ),
                        session_token: SecretString::from(creds.session_token().to_string()),
                        expiration: creds.expiration().secs(),
                        assumed_role_arn: out
                            .assumed_role_user()
                            .map(|u| u.arn().to_string())
                            .unwrap_or_default(),
                        source_identity: out.source_identity().map(str::to_string),
                        // Deprecated in the SDK in favour of SessionTokenUtilization, but STS
                        // still returns it and auditors ask for it.
                        #[allow(deprecated)]
                        packed_policy_size: out.packed_policy_size(),
                        endpoint: endpoint.clone(),
                        failed,
                    });
                }
                Err(err) => match classify(&err) {
                    Failover(why) => {
                        tracing::warn!(endpoint = %endpoint.url, error = %why, "STS endpoint failed; trying the next");
                        self.record(i, now, Some(why.clone())).await;
                        failed.push((endpoint.url.clone(), why));
                    }
                    Failure::Final { code, message } => {
                        return Err(StsError::Refused {
                            code,
                            message,
                            endpoint: endpoint.url.clone(),
                            failed,
                        })
                    }
                },
            }
        }
        Err(StsError::Unavailable { failed })
    }
}
