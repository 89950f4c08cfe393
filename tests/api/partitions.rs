//! The GovCloud partition end to end: its audience, ARNs and console in the Response a pysaml2
//! service provider (standing for `signin.amazonaws-us-gov.com`, on loopback) accepts, its ARNs
//! on `AssumeRoleWithSAML` as `moto_server` received them, its own default endpoints, and the
//! Regions page saying that failover between its Regions cannot help the console.

use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, spawn_client_for, Backend};
use crate::on_both_backends;
use crate::peers::aws::Peer;
use crate::saml_flow::{autopost_form, post_like_a_browser, SignInEndpoint};
use crate::sts::cli_credentials;
use fedbroker::domain::aws::{Partition, Region};

const GOV_ROLE: &str = "arn:aws-us-gov:iam::123456789012:role/Admin";
const GOV_PROVIDER: &str = "arn:aws-us-gov:iam::123456789012:saml-provider/fedbroker";

async fn govcloud_signs_in_through_its_own_endpoints(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("idp-metadata.xml");
    let endpoint = SignInEndpoint::start_for(
        dir.path(),
        "us-gov-west-1",
        &metadata,
        "urn:amazon:webservices:govcloud",
    );
    let moto = Peer::moto_recording(dir.path()).await;
    let (acs, sts) = (endpoint.url.clone(), moto.url());
    let app = spawn_app_with(backend, |s| {
        s.saml.partition = Partition::AwsUsGov;
        s.regions.acs =
            crate::helpers::entries([format!("us-gov-west-1={acs}"), "us-gov-east-1".to_string()]);
        s.sts.endpoints = crate::helpers::entries([format!("us-gov-west-1={sts}")]);
    })
    .await;
    // Without an override, the partition's own endpoints.
    let endpoints = app.regions.endpoints();
    assert_eq!(
        endpoints[1].acs_url, "https://signin.amazonaws-us-gov.com/saml",
        "GovCloud has one sign-in endpoint"
    );
    let east = Region::parse("us-gov-east-1").expect("region");
    assert_eq!(
        Partition::AwsUsGov.sts_url(&east),
        "https://sts.us-gov-east-1.amazonaws.com"
    );
    assert_eq!(
        Partition::AwsUsGov.federation_url(&east),
        "https://signin.amazonaws-us-gov.com/federation"
    );
    std::fs::write(&metadata, app.get("/saml/metadata").await.body).expect("metadata");
    app.regions.probe_all(fedbroker::clock::now()).await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    let portal = app.get("/").await;
    assert!(portal.body.contains(GOV_ROLE), "{}", portal.body);

    let token = portal.csrf_token();
    let page = app
        .post_form(
            "/saml/aws/sso",
            &[("csrf_token", &token), ("role", GOV_ROLE), ("region", "")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (action, saml, relay) = autopost_form(&page.body);
    assert_eq!(action, endpoint.url);
    assert!(
        relay.starts_with("https://console.amazonaws-us-gov.com/console/home?region=us-gov-west-1"),
        "{relay}"
    );
    let res = post_like_a_browser(&action, &saml, &relay)
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::OK);
    let got = endpoint.received();
    assert_eq!(got[0]["ok"], true, "{}", got[0]);
    assert_eq!(
        got[0]["audience"],
        serde_json::json!(["urn:amazon:webservices:govcloud"])
    );
    assert_eq!(
        got[0]["attributes"]["https://aws.amazon.com/SAML/Attributes/Role"][0],
        format!("{GOV_ROLE},{GOV_PROVIDER}")
    );

    let creds = cli_credentials(&app, GOV_ROLE).await;
    assert_eq!(creds.status, StatusCode::OK, "{}", creds.body);
    let calls = moto.moto_assume_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["RoleArn"], GOV_ROLE);
    assert_eq!(calls[0]["PrincipalArn"], GOV_PROVIDER);

    let admin = spawn_client_for(&app);
    admin.login_as_admin().await;
    let regions = admin.get("/admin/regions").await;
    let notice = regions
        .body
        .split("id=\"single-endpoint\">")
        .nth(1)
        .expect("the single endpoint is said");
    assert!(
        notice.contains("https://signin.amazonaws-us-gov.com/saml")
            && notice.contains("no other Region"),
        "{notice}"
    );
}

/// The standard partition with two Regions says nothing of the kind; with one, it says to add
/// a second.
async fn the_regions_page_says_when_failover_cannot_help(backend: Backend) {
    for (acs, expected) in [
        (vec!["us-east-2", "us-west-2"], None),
        (vec!["us-east-2"], Some("List a second Region")),
    ] {
        let app = spawn_app_with(backend, |s| s.regions.acs = crate::helpers::entries(acs)).await;
        app.login_as_admin().await;
        let page = app.get("/admin/regions").await;
        match expected {
            None => assert!(
                !page.body.contains("id=\"single-endpoint\""),
                "{}",
                page.body
            ),
            Some(text) => assert!(page.body.contains(text), "{}", page.body),
        }
    }
}

on_both_backends!(
    govcloud_signs_in_through_its_own_endpoints,
    the_regions_page_says_when_failover_cannot_help,
);
