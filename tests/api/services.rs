//! The AWS use cases called directly, without HTTP: each takes an `AwsContext` built from its
//! parts (store, key ring, profile, rules, Regions, STS, federation), as the command line or a
//! future caller would. The signed Response is checked by xmlsec1, credentials come from the
//! real aws-sdk-sts against `moto_server`.

use std::time::Duration;

use base64::Engine;
use fedbroker::audit::{kind, Origin};
use fedbroker::auth::access::RoleRefused;
use fedbroker::aws::assertion::{console_post, SignInError};
use fedbroker::aws::credentials::credentials;
use fedbroker::aws::federation::Federation;
use fedbroker::aws::regions::RegionRouter;
use fedbroker::aws::sts::StsClient;
use fedbroker::aws::AwsContext;
use fedbroker::config::Settings;
use fedbroker::directory::Identity;
use fedbroker::rules::RoleMapper;
use fedbroker::saml::keys::{load_kek, KeyRing};
use fedbroker::saml::profile::AwsProfile;
use fedbroker::store::Store;

use crate::helpers::{fresh_database, test_settings, Backend};
use crate::on_both_backends;
use crate::saml::{pem, xml_attribute, xmlsec_verifies};
use crate::sts::{Peer, ADMIN_ROLE};

pub const URL: &str = "https://broker.example.com";

/// The parts an `AwsContext` borrows, owned by the test.
pub struct Parts {
    store: Store,
    keys: KeyRing,
    profile: AwsProfile,
    rules: RoleMapper,
    regions: RegionRouter,
    sts: StsClient,
    federation: Federation,
    _dir: tempfile::TempDir,
}

impl Parts {
    pub async fn new(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Parts {
        let (url, dir) = fresh_database(backend).await;
        let mut settings = test_settings(&url);
        adjust(&mut settings);
        let store = fedbroker::startup::open_store(&settings)
            .await
            .expect("store opens");
        let keys = KeyRing::new(
            store.clone(),
            load_kek(&settings.saml, &settings.database.url, &store)
                .await
                .expect("key"),
            "test",
        );
        keys.ensure_initial(fedbroker::clock::now())
            .await
            .expect("a signing key");
        let profile =
            AwsProfile::from_settings(&settings.saml, &settings.sources, URL).expect("profile");
        Parts {
            rules: RoleMapper::new(profile.clone()),
            regions: RegionRouter::new(&settings.regions, settings.saml.partition, store.clone())
                .expect("Regions"),
            sts: StsClient::new(&settings.sts, settings.saml.partition, store.clone())
                .expect("STS"),
            federation: Federation::new(
                Vec::new(),
                profile.partition,
                URL.into(),
                Duration::from_secs(2),
            )
            .expect("federation"),
            profile,
            keys,
            store,
            _dir: dir,
        }
    }

    pub fn aws(&self) -> AwsContext<'_> {
        AwsContext {
            store: &self.store,
            keys: &self.keys,
            profile: &self.profile,
            rules: &self.rules,
            regions: &self.regions,
            sts: &self.sts,
            federation: &self.federation,
        }
    }

    async fn events(&self, event_type: &str) -> usize {
        self.store
            .audit_events(&Default::default(), 100)
            .await
            .expect("audit log")
            .into_iter()
            .filter(|e| e.event_type == event_type)
            .count()
    }
}

pub fn admin_identity() -> Identity {
    Identity {
        user_id: 0,
        username: "alice".into(),
        display_name: "Alice".into(),
        email: "alice@example.com".into(),
        groups: vec!["AWS-123456789012-Admin".into()],
        must_change_password: false,
        attributes: Default::default(),
        source: "local".into(),
        memberships: Vec::new(),
    }
}

/// A SAML Response for a role whose rule has a session policy is refused whoever asks for one
/// (it would open the role without the policy), before any Region is chosen or key used; the
/// Console button's use case sends it to the federation link instead.
async fn a_saml_response_for_a_role_with_a_session_policy_is_refused(backend: Backend) {
    let parts = Parts::new(backend, |_| {}).await;
    let rule = parts.store.list_rules().await.expect("rules").remove(0);
    let mut spec = rule.spec();
    spec.session.policy_arns = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
    parts
        .store
        .update_rule(
            rule.id,
            rule.version,
            &spec,
            &fedbroker::store::Change {
                actor: "test",
                at: 1,
            },
        )
        .await
        .expect("saved");
    let origin = Origin::default();
    let refused = console_post(parts.aws(), &admin_identity(), ADMIN_ROLE, None, &origin).await;
    assert!(
        matches!(refused, Err(SignInError::NeedsFederation(ref r)) if r == ADMIN_ROLE),
        "{refused:?}"
    );
    assert_eq!(parts.events("assertion.issued").await, 0, "nothing signed");
}

/// A multi-role Response over AWS's 100,000 characters is refused before it leaves, saying how
/// many roles it held, which rules granted most of them (largest first), and what to change.
async fn an_oversized_multi_role_response_names_the_rules_behind_it(backend: Backend) {
    let parts = Parts::new(backend, |s| s.saml.multi_role_chooser = true).await;
    let mut team = fedbroker::mapping::RuleSpec::new(
        "Team accounts",
        fedbroker::mapping::Effect::Allow,
        r"team-(\d+)",
        "arn:aws:iam::210987654321:role/Team-$1",
    );
    team.description = "one role per team".into();
    parts
        .store
        .create_rule(
            &team,
            &fedbroker::store::Change {
                actor: "test",
                at: 1,
            },
        )
        .await
        .expect("saved");
    let mut alice = admin_identity();
    alice.groups = (0..650)
        .map(|i| format!("AWS-123456789012-Role{i:04}"))
        .chain((0..40).map(|i| format!("team-{i}")))
        .collect();
    let origin = Origin::default();
    let refused = console_post(parts.aws(), &alice, "", None, &origin).await;
    let Err(SignInError::Preflight(errors)) = refused else {
        panic!("refused before sending: {refused:?}");
    };
    let text = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("with 690 roles"), "{text}");
    let adfs = text.find("rule `AD FS convention` 650 roles").expect(&text);
    let teams = text.find("rule `Team accounts` 40 roles").expect(&text);
    assert!(adfs < teams, "largest first: {text}");
    assert!(text.contains("turn off saml.multi_role_chooser"), "{text}");
    assert!(text.contains("split rule `AD FS convention`"), "{text}");
    assert_eq!(
        parts.events("assertion.issued").await,
        0,
        "nothing signed left"
    );
    // One role per sign-in fits.
    let one = console_post(
        parts.aws(),
        &alice,
        "arn:aws:iam::123456789012:role/Role0001",
        None,
        &origin,
    )
    .await
    .expect("a single role fits");
    assert_eq!(one.roles.len(), 1);
}

on_both_backends!(
    an_oversized_multi_role_response_names_the_rules_behind_it,
    a_saml_response_for_a_role_with_a_session_policy_is_refused,
    a_console_sign_in_is_prepared_and_signed_without_a_server,
    a_role_not_granted_is_refused_and_recorded_without_a_server,
    credentials_come_from_sts_without_a_server,
);

async fn a_console_sign_in_is_prepared_and_signed_without_a_server(backend: Backend) {
    let parts = Parts::new(backend, |_| {}).await;
    let origin = Origin {
        addr: "192.0.2.7".into(),
        user_agent: "test".into(),
    };
    let post = console_post(parts.aws(), &admin_identity(), ADMIN_ROLE, None, &origin)
        .await
        .expect("a console post");
    assert_eq!(post.roles, vec![ADMIN_ROLE.to_string()]);
    assert_eq!(post.acs_url, parts.regions.endpoints()[0].acs_url);
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&post.saml_response)
            .expect("base64"),
    )
    .expect("UTF-8");
    assert!(xml.contains(ADMIN_ROLE), "the role is in the assertion");
    let id = xml_attribute(&xml, "<saml:Assertion ", "ID").expect("an Assertion ID");
    let cert = parts
        .keys
        .signer()
        .await
        .expect("signer")
        .cert_b64()
        .to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(
        xmlsec_verifies(dir.path(), &xml, &pem(&cert), id),
        "xmlsec1 verifies the assertion with the active key"
    );
    assert_eq!(
        parts.events(kind::ASSERTION).await,
        1,
        "the sign-in is audited"
    );
}

async fn a_role_not_granted_is_refused_and_recorded_without_a_server(backend: Backend) {
    let parts = Parts::new(backend, |_| {}).await;
    let other = "arn:aws:iam::210987654321:role/Admin";
    let err = console_post(
        parts.aws(),
        &admin_identity(),
        other,
        None,
        &Origin::default(),
    )
    .await
    .expect_err("not granted");
    assert!(
        matches!(&err, SignInError::Refused(RoleRefused::NotGranted(r)) if r == other),
        "{err:?}"
    );
    assert_eq!(parts.events(kind::DENIED).await, 1);
    assert_eq!(parts.events(kind::ASSERTION).await, 0, "nothing was signed");
}

async fn credentials_come_from_sts_without_a_server(backend: Backend) {
    let moto = Peer::moto().await;
    let endpoint = format!("us-east-1={}", moto.url());
    let parts = Parts::new(backend, move |s| {
        s.sts.endpoints = crate::helpers::entries([endpoint]);
        s.sts.attempt_timeout_secs = 5;
    })
    .await;
    let creds = credentials(
        parts.aws(),
        &admin_identity(),
        ADMIN_ROLE,
        &Origin::default(),
    )
    .await
    .expect("credentials");
    assert!(!creds.issued.access_key_id.is_empty());
    assert_eq!(creds.pair.role.as_str(), ADMIN_ROLE);
    assert_eq!(creds.issued.endpoint.url, moto.url());
    assert_eq!(parts.events(kind::STS).await, 1, "the exchange is audited");
}
