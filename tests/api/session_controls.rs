//! A rule's session controls on every path: session policies on `AssumeRoleWithSAML` as
//! `moto_server` received them (its request recorder), the Console button of a role with a
//! session policy going through the federation link, merged tags and the rule's session name in
//! the SAML Response a pysaml2 service provider accepts, STS's policy refusals (from the
//! loopback STAND-IN, because moto accepts any policy) named by rule, pre-flight refusals, the
//! rule form, and the dry run showing the exact STS parameters that moto then receives.

use base64::Engine;
use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, spawn_client_for, Backend, TestApp};
use crate::on_both_backends;
use crate::peers::aws::Peer;
use crate::saml_flow::{autopost_form, post_like_a_browser, SignInEndpoint};
use crate::sts::{audit_of, cli_credentials, ADMIN_ROLE};

const POLICY_ARN: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const POLICY: &str = r#"{ "Version": "2012-10-17",
  "Statement": [ { "Effect": "Deny", "Action": "iam:*", "Resource": "*" } ] }"#;
const POLICY_SENT: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:*","Resource":"*"}]}"#;

/// Gives the allow rules the session controls `json` (a rule's `session` object).
async fn set_session_controls(app: &TestApp, json: &serde_json::Value) {
    let text = json.to_string().replace('\'', "''");
    app.execute(&format!(
        "UPDATE mapping_rules SET session_controls = '{text}' WHERE effect = 'allow'"
    ))
    .await;
    app.execute("UPDATE rule_set_state SET generation = generation + 1")
        .await;
}

/// The `Name → values` of the SAML attributes in a base64 Response (not verified: the
/// verifiers check the signature elsewhere; this reads what was asked for).
fn attributes(response_b64: &str) -> Vec<(String, String)> {
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(response_b64)
            .expect("base64"),
    )
    .expect("utf-8");
    let mut out = Vec::new();
    for part in xml.split("<saml:Attribute ").skip(1) {
        let name = part
            .split("Name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string();
        let body = part.split("</saml:Attribute>").next().unwrap_or_default();
        for value in body.split("<saml:AttributeValue").skip(1) {
            let v = value
                .split_once('>')
                .map(|(_, r)| r.split("</saml:AttributeValue>").next().unwrap_or_default())
                .unwrap_or_default();
            out.push((name.clone(), v.to_string()));
        }
    }
    out
}

fn attribute(attrs: &[(String, String)], suffix: &str) -> Vec<String> {
    attrs
        .iter()
        .filter(|(n, _)| n == &format!("https://aws.amazon.com/SAML/Attributes/{suffix}"))
        .map(|(_, v)| v.clone())
        .collect()
}

/// CLI credentials for a role whose rule sets policies, tags and a session name: moto receives
/// `PolicyArns` and `Policy` (whitespace removed, order kept), the assertion carries the merged
/// tags and the rule's session name, the audit event lists the policies, and the admin dry run
/// showed exactly the parameters moto then received.
async fn a_rules_session_policy_and_tags_reach_moto_as_the_dry_run_shows(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let moto = Peer::moto_recording(dir.path()).await;
    let moto_url = moto.url();
    let app = spawn_app_with(backend, |s| {
        s.sts.endpoints = crate::helpers::entries([format!("us-east-2={moto_url}")]);
        s.saml.principal_tags = vec!["Team=platform".into(), "Email={email}".into()];
        s.saml.transitive_tag_keys = vec!["Team".into()];
    })
    .await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    set_session_controls(
        &app,
        &serde_json::json!({
            "policy_arns": [POLICY_ARN],
            "policy": POLICY,
            "tags": {"team": "payments", "Project": "ledger-{username}"},
            "transitive_tag_keys": ["Project"],
            "role_session_name": "{username}-ledger",
        }),
    )
    .await;

    let admin = spawn_client_for(&app);
    admin.login_as_admin().await;
    let dry = admin.get("/admin/test?username=alice").await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    let plan = dry
        .body
        .split("id=\"plan-1\"")
        .nth(1)
        .expect("a plan per role");
    assert!(plan.contains("federation link"), "{plan}");
    assert!(plan.contains("alice-ledger"), "{plan}");
    assert!(
        plan.contains("rule (replaces the settings&#39; value)")
            || plan.contains("rule (replaces the settings' value)"),
        "{plan}"
    );
    let shown: Vec<(String, String)> = plan
        .split("class=\"sts-parameters\"")
        .nth(1)
        .expect("STS parameters shown")
        .split("</table>")
        .next()
        .unwrap_or_default()
        .split("<tr>")
        .skip(1)
        .map(|row| {
            let cells: Vec<String> = row
                .split("<code")
                .skip(1)
                .map(|c| {
                    let inner = c.split_once('>').map(|(_, r)| r).unwrap_or_default();
                    inner
                        .split("</code>")
                        .next()
                        .unwrap_or_default()
                        .replace("&#34;", "\"")
                        .replace("&quot;", "\"")
                        .replace("&#60;", "<")
                        .replace("&#62;", ">")
                })
                .collect();
            (cells[0].clone(), cells[1].clone())
        })
        .collect();

    app.login("alice", "alice-password-1").await;
    let page = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    let calls = moto.moto_assume_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let sent = &calls[0];
    assert_eq!(sent["PolicyArns.member.1.arn"], POLICY_ARN);
    assert_eq!(sent["Policy"], POLICY_SENT);
    for (key, value) in &shown {
        if key == "SAMLAssertion" {
            continue;
        }
        assert_eq!(
            sent.get(key),
            Some(value),
            "the dry run showed {key}={value}; moto received {sent:?}"
        );
    }
    let sent_keys: Vec<&String> = sent
        .keys()
        .filter(|k| !["Action", "Version", "SAMLAssertion"].contains(&k.as_str()))
        .collect();
    assert_eq!(
        sent_keys.len(),
        shown.len() - 1,
        "nothing sent that the dry run did not show"
    );

    let attrs = attributes(&sent["SAMLAssertion"]);
    assert_eq!(attribute(&attrs, "RoleSessionName"), vec!["alice-ledger"]);
    assert_eq!(
        attribute(&attrs, "PrincipalTag:team"),
        vec!["payments"],
        "the rule's tag replaces the settings' Team"
    );
    assert!(
        attribute(&attrs, "PrincipalTag:Team").is_empty(),
        "{attrs:?}"
    );
    assert_eq!(
        attribute(&attrs, "PrincipalTag:Project"),
        vec!["ledger-alice"]
    );
    assert_eq!(attribute(&attrs, "PrincipalTag:Email").len(), 1);
    let transitive = attribute(&attrs, "TransitiveTagKeys");
    assert_eq!(transitive, vec!["Team", "Project"], "both lists: {attrs:?}");

    let events = audit_of(&app, "sts.assume_role").await;
    assert_eq!(events.len(), 1);
    assert!(
        events[0].details.contains(POLICY_ARN),
        "{}",
        events[0].details
    );
}

/// STS's refusals of a session policy, as AWS words them (from the stand-in: moto accepts any
/// policy), come back naming the rule and the fix; nothing else is tried.
async fn sts_policy_refusals_name_the_rule(backend: Backend) {
    for (code, fix) in [
        (
            "MalformedPolicyDocument",
            "inline session policy (the admin dry run shows it as sent)",
        ),
        (
            "PackedPolicyTooLarge",
            "move statements into a managed policy",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let standin = Peer::standin_with(dir.path(), 43200, code).await;
        let url = standin.url();
        let app = spawn_app_with(backend, |s| {
            s.sts.endpoints = crate::helpers::entries([format!("us-east-2={url}")]);
        })
        .await;
        app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
            .await;
        set_session_controls(&app, &serde_json::json!({"policy": POLICY})).await;
        app.login("alice", "alice-password-1").await;
        let page = cli_credentials(&app, ADMIN_ROLE).await;
        assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
        assert!(
            page.body.contains("rule `AD FS convention`"),
            "{}",
            page.body
        );
        assert!(page.body.contains(code), "{}", page.body);
        assert!(page.body.contains(fix), "{}", page.body);
        let sts: Vec<serde_json::Value> = standin
            .received()
            .into_iter()
            .filter(|r| r["kind"] == "sts")
            .collect();
        assert_eq!(sts.len(), 1, "a refusal is the answer: {sts:?}");
        assert_eq!(sts[0]["policy"], POLICY_SENT);
    }
}

/// The Console button of a role whose rule has a session policy goes through STS (with the
/// policy) and the federation link, never a SAML Response; a role without one still posts to
/// the sign-in endpoint, and the multi-role chooser leaves the policy role out of its Response.
async fn the_console_of_a_role_with_a_session_policy_goes_through_the_federation_link(
    backend: Backend,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let standin = Peer::standin(dir.path(), 43200).await;
    let metadata = dir.path().join("idp-metadata.xml");
    let endpoint = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let (url, acs) = (standin.url(), endpoint.url.clone());
    let federation = format!("{url}/federation");
    let app = spawn_app_with(backend, |s| {
        s.sts.endpoints = crate::helpers::entries([format!("us-east-2={url}")]);
        s.sts.federation = crate::helpers::entries([format!("us-east-2={federation}")]);
        s.regions.acs = crate::helpers::entries([format!("us-east-2={acs}")]);
        s.saml.multi_role_chooser = true;
    })
    .await;
    std::fs::write(&metadata, app.get("/saml/metadata").await.body).expect("metadata");
    app.regions.probe_all(fedbroker::clock::now()).await;
    // Admin (payments) gets a session policy; Dev (another rule) stays plain.
    let plain_role = "arn:aws:iam::210987654321:role/Dev";
    app.execute(
        "INSERT INTO mapping_rules (name, description, priority, enabled, effect, pattern, \
         case_sensitive, role_template, version, updated_at, updated_by) VALUES ('Developers', '', \
         5, TRUE, 'allow', 'developers', FALSE, 'arn:aws:iam::210987654321:role/Dev', 1, 0, 'test')",
    )
    .await;
    app.execute(&format!(
        "UPDATE mapping_rules SET session_controls = '{}' WHERE name = 'AD FS convention'",
        serde_json::json!({"policy_arns": [POLICY_ARN]})
    ))
    .await;
    app.execute("UPDATE rule_set_state SET generation = generation + 1")
        .await;
    app.create_user(
        "alice",
        "alice-password-1",
        &["AWS-123456789012-Admin", "developers"],
    )
    .await;
    app.login("alice", "alice-password-1").await;

    let console = |role: &'static str| {
        let app = &app;
        async move {
            let token = app.get("/").await.csrf_token();
            app.post_form(
                "/saml/aws/sso",
                &[("csrf_token", &token), ("role", role), ("region", "")],
            )
            .await
        }
    };
    let res = console(ADMIN_ROLE).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    assert!(
        res.location().starts_with(&federation),
        "{}",
        res.location()
    );
    let q: std::collections::HashMap<String, String> = reqwest::Url::parse(res.location())
        .expect("absolute")
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["Action"], "login");
    assert_eq!(
        res.headers
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("no-referrer")
    );
    let sts: Vec<serde_json::Value> = standin
        .received()
        .into_iter()
        .filter(|r| r["kind"] == "sts")
        .collect();
    assert_eq!(sts.len(), 1);
    assert_eq!(sts[0]["policy_arns"], serde_json::json!([POLICY_ARN]));
    assert_eq!(audit_of(&app, "federation.url_issued").await.len(), 1);

    // No role named: the multi-role Response carries only the role without controls.
    let bundle = console("").await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.body);
    let (_, saml, _) = autopost_form(&bundle.body);
    let roles = attribute(&attributes(&saml), "Role");
    assert_eq!(roles.len(), 1, "{roles:?}");
    assert!(roles[0].starts_with(plain_role), "{roles:?}");
}

/// A merged tag set AWS would refuse (51 tags once the rule's are added to the settings') is
/// refused before anything is signed, on the console and the CLI path, saying so; a pysaml2
/// service provider reads the rule's tags and session name from a console Response.
async fn merged_tags_are_checked_before_signing_on_every_path(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let standin = Peer::standin(dir.path(), 43200).await;
    let metadata = dir.path().join("idp-metadata.xml");
    let endpoint = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let (url, acs) = (standin.url(), endpoint.url.clone());
    let app = spawn_app_with(backend, |s| {
        s.sts.endpoints = crate::helpers::entries([format!("us-east-2={url}")]);
        s.regions.acs = crate::helpers::entries([format!("us-east-2={acs}")]);
        s.saml.principal_tags = (0..45).map(|i| format!("Global{i}=g")).collect();
    })
    .await;
    std::fs::write(&metadata, app.get("/saml/metadata").await.body).expect("metadata");
    app.regions.probe_all(fedbroker::clock::now()).await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    let tags: serde_json::Map<String, serde_json::Value> = (0..6)
        .map(|i| (format!("Rule{i}"), serde_json::json!("r")))
        .collect();
    set_session_controls(&app, &serde_json::json!({"tags": tags})).await;

    let token = app.get("/").await.csrf_token();
    let console = app
        .post_form(
            "/saml/aws/sso",
            &[("csrf_token", &token), ("role", ADMIN_ROLE), ("region", "")],
        )
        .await;
    assert_eq!(console.status, StatusCode::BAD_REQUEST, "{}", console.body);
    assert!(console.body.contains("51 tags"), "{}", console.body);
    assert!(console.body.contains("more than the 50 session tags"));
    let cli = cli_credentials(&app, ADMIN_ROLE).await;
    assert_eq!(cli.status, StatusCode::BAD_REQUEST, "{}", cli.body);
    assert!(cli.body.contains("51 tags"), "{}", cli.body);
    assert!(
        standin.received().is_empty(),
        "nothing reached STS: {:?}",
        standin.received()
    );
    assert!(audit_of(&app, "assertion.issued").await.is_empty());

    // Within the limit, a service provider reads the merged set and the rule's session name.
    set_session_controls(
        &app,
        &serde_json::json!({"tags": {"Global0": "from-rule", "Cost": "c-{username}"}, "role_session_name": "ops-{username}"}),
    )
    .await;
    let token = app.get("/").await.csrf_token();
    let page = app
        .post_form(
            "/saml/aws/sso",
            &[("csrf_token", &token), ("role", ADMIN_ROLE), ("region", "")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (action, saml, relay) = autopost_form(&page.body);
    let res = post_like_a_browser(&action, &saml, &relay)
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::OK);
    let got = endpoint.received();
    assert_eq!(got[0]["ok"], true, "{}", got[0]);
    let a = &got[0]["attributes"];
    assert_eq!(
        a["https://aws.amazon.com/SAML/Attributes/RoleSessionName"][0],
        "ops-alice"
    );
    assert_eq!(
        a["https://aws.amazon.com/SAML/Attributes/PrincipalTag:Global0"][0],
        "from-rule"
    );
    assert_eq!(
        a["https://aws.amazon.com/SAML/Attributes/PrincipalTag:Cost"][0],
        "c-alice"
    );
    assert_eq!(
        a["https://aws.amazon.com/SAML/Attributes/PrincipalTag:Global1"][0],
        "g"
    );
}

/// The rule form edits the session controls: each bad field is named beside its input and
/// nothing is saved; a good rule is saved and shown again as written.
async fn the_rule_form_checks_and_keeps_session_controls(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.saml.principal_tags = Vec::new()).await;
    app.login_as_admin().await;
    let trust = app.get("/admin/trust-policy").await;
    assert!(!trust.body.contains("sts:TagSession"), "no tags sent yet");
    let token = app.get("/admin/rules/new").await.csrf_token();
    let rules_before = app.count("SELECT COUNT(*) FROM mapping_rules").await;
    let post = |policy_arns: &'static str, policy: &'static str, tags: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            app.post_form(
                "/admin/rules/new",
                &[
                    ("csrf_token", token.as_str()),
                    ("name", "Payments read-only"),
                    ("enabled", "on"),
                    ("effect", "allow"),
                    ("pattern", "payments"),
                    ("role", "arn:aws:iam::123456789012:role/Payments"),
                    ("policy_arns", policy_arns),
                    ("policy", policy),
                    ("tags", tags),
                    ("transitive_tag_keys", "Team"),
                    ("role_session_name", "{username}-pay"),
                ],
            )
            .await
        }
    };
    let bad = post(
        "arn:aws:iam::aws:role/NotAPolicy",
        "{\"Statement\": [",
        "aws:reserved=x\nno equals sign",
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    for id in ["error-policy_arns", "error-policy", "error-tags"] {
        assert!(
            bad.body.contains(&format!("id=\"{id}\"")),
            "{id}: {}",
            bad.body
        );
    }
    assert!(
        bad.body.contains("is not an IAM policy ARN"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("well-formed JSON"), "{}", bad.body);
    assert!(
        bad.body.contains("must look like Key=value"),
        "{}",
        bad.body
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM mapping_rules").await,
        rules_before,
        "nothing saved"
    );

    let twice = post(POLICY_ARN, POLICY, "Team=a\nteam=b").await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert!(twice.body.contains("is given twice"), "{}", twice.body);
    // A transitive key no tag of the rule or the settings carries would refuse every sign-in.
    let orphan = post(POLICY_ARN, POLICY, "Project=x").await;
    assert_eq!(orphan.status, StatusCode::BAD_REQUEST);
    assert!(
        orphan
            .body
            .contains("`Team` is not a tag the rule or the settings send"),
        "{}",
        orphan.body
    );
    let good = post(POLICY_ARN, POLICY, "Team=payments\nMail={email}").await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.body);
    let stored = app
        .store
        .list_rules()
        .await
        .expect("rules")
        .into_iter()
        .find(|r| r.name == "Payments read-only")
        .expect("saved");
    let spec = stored.spec();
    assert_eq!(spec.session.policy_arns, vec![POLICY_ARN.to_string()]);
    assert_eq!(spec.session.tags["Mail"], "{email}");
    assert_eq!(spec.session.transitive_tag_keys, vec!["Team".to_string()]);
    assert_eq!(
        spec.session.role_session_name.as_deref(),
        Some("{username}-pay")
    );
    let form = app.get(&format!("/admin/rules/{}", stored.id)).await;
    assert!(form.body.contains("Team=payments"), "{}", form.body);
    assert!(form.body.contains(POLICY_ARN));
    // Exported and imported as YAML alike.
    let yaml = app
        .store
        .mapping_document()
        .await
        .expect("document")
        .to_yaml();
    assert!(
        yaml.contains("role_session_name: '{username}-pay'"),
        "{yaml}"
    );
}

on_both_backends!(
    a_rules_session_policy_and_tags_reach_moto_as_the_dry_run_shows,
    sts_policy_refusals_name_the_rule,
    the_console_of_a_role_with_a_session_policy_goes_through_the_federation_link,
    merged_tags_are_checked_before_signing_on_every_path,
    the_rule_form_checks_and_keeps_session_controls,
    the_trust_page_prints_a_chained_roles_policy,
);

/// Runs `fedbroker trust-policy ARGS` on a fresh SQLite database: (success, stdout, stderr).
fn trust_policy_cli(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fedbroker"));
    cmd.current_dir(dir)
        .env("FEDBROKER_CONFIG_DIR", crate::helpers::config_dir())
        .env(
            "FEDBROKER__DATABASE__URL",
            format!("sqlite://{}/fb.db", dir.display()),
        )
        .arg("trust-policy")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `trust-policy --chained` prints a downstream role's trust policy built on the documented
/// condition keys (`aws:SourceIdentity` present, `sts:SourceIdentity` kept,
/// `sts:RoleSessionName` equal to it). moto's IAM accepts it as a trust policy document (its
/// UpdateAssumeRolePolicy grammar check) and its STS lets the role be assumed with the session
/// name the policy requires; moto does not evaluate the conditions, which the JSON assertions
/// cover. Refusals say why: a malformed ARN, another partition, no SourceIdentity sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chained_roles_trust_policy_keeps_the_person_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let downstream = "arn:aws:iam::123456789012:role/Deploy";
    let upstream = "arn:aws:iam::123456789012:role/Admin";
    let (ok, out, err) = trust_policy_cli(
        dir.path(),
        &["--chained", downstream, "--from", upstream],
        &[],
    );
    assert!(ok, "{err}");
    let policy: serde_json::Value = serde_json::from_str(&out).expect("pure JSON");
    let stmt = &policy["Statement"][0];
    assert_eq!(stmt["Principal"]["AWS"], serde_json::json!([upstream]));
    assert_eq!(
        stmt["Action"],
        serde_json::json!(["sts:AssumeRole", "sts:SetSourceIdentity"])
    );
    assert_eq!(stmt["Condition"]["Null"]["aws:SourceIdentity"], "false");
    assert_eq!(
        stmt["Condition"]["StringEquals"]["sts:RoleSessionName"],
        "${aws:SourceIdentity}"
    );
    assert_eq!(
        stmt["Condition"]["StringEquals"]["sts:SourceIdentity"],
        "${aws:SourceIdentity}"
    );
    // Without --from: the downstream account's root.
    let (ok, out, _) = trust_policy_cli(dir.path(), &["--chained", downstream], &[]);
    assert!(ok);
    assert!(out.contains("arn:aws:iam::123456789012:root"), "{out}");

    let moto = Peer::moto().await;
    let file = dir.path().join("chained.json");
    std::fs::write(&file, policy.to_string()).expect("write");
    let script = crate::peers::peers_dir().join("chained_role.py");
    let run = std::process::Command::new(crate::peers::peers_dir().join(".venv/bin/python"))
        .arg(script)
        .args([
            "--endpoint",
            &moto.url(),
            "--role-arn",
            downstream,
            "--policy",
        ])
        .arg(&file)
        .args(["--session-name", "alice"])
        .output()
        .expect("python runs");
    let line = String::from_utf8_lossy(&run.stdout).to_string();
    let result: serde_json::Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|_| panic!("{line}{}", String::from_utf8_lossy(&run.stderr)));
    assert_eq!(result["accepted"], true, "{result}");
    assert_eq!(
        result["stored_conditions"]["StringEquals"]["sts:RoleSessionName"],
        "${aws:SourceIdentity}"
    );
    assert!(
        result["assumed_arn"]
            .as_str()
            .unwrap_or_default()
            .ends_with(":assumed-role/Deploy/alice"),
        "{result}"
    );
    // moto's check can fail: a document with an action a trust policy may not hold is refused.
    let bad = policy
        .to_string()
        .replace("sts:SetSourceIdentity", "s3:GetObject");
    std::fs::write(&file, bad).expect("write");
    let run = std::process::Command::new(crate::peers::peers_dir().join(".venv/bin/python"))
        .arg(crate::peers::peers_dir().join("chained_role.py"))
        .args([
            "--endpoint",
            &moto.url(),
            "--role-arn",
            "arn:aws:iam::123456789012:role/Other",
            "--policy",
        ])
        .arg(&file)
        .args(["--session-name", "alice"])
        .output()
        .expect("python runs");
    let refused: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&run.stdout).trim()).expect("JSON");
    assert_eq!(refused["accepted"], false, "{refused}");

    for (args, env, why) in [
        (
            vec!["--chained", "Deploy"],
            vec![],
            "is not an IAM role ARN",
        ),
        (
            vec!["--chained", "arn:aws-us-gov:iam::123456789012:role/Deploy"],
            vec![],
            "is in the aws-us-gov partition",
        ),
        (
            vec!["--chained", downstream],
            vec![("FEDBROKER__SAML__SOURCE_IDENTITY", "")],
            "sends no SourceIdentity",
        ),
    ] {
        let (ok, out, err) = trust_policy_cli(dir.path(), &args, &env);
        assert!(!ok, "{args:?} must fail: {out}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(out.is_empty(), "nothing on stdout: {out}");
    }
}

/// The admin trust page shows the same policy for a downstream role, and a refusal in place.
async fn the_trust_page_prints_a_chained_roles_policy(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.login_as_admin().await;
    let page = app
        .get("/admin/trust-policy?chained=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FDeploy&from=")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let policy = page
        .body
        .split("id=\"chained-policy\">")
        .nth(1)
        .expect("policy shown");
    assert!(policy.contains("sts:RoleSessionName"), "{policy}");
    assert!(
        policy.contains("arn:aws:iam::123456789012:root"),
        "{policy}"
    );
    let bad = app.get("/admin/trust-policy?chained=Deploy").await;
    assert!(bad.body.contains("id=\"chained-error\""), "{}", bad.body);
    assert!(!bad.body.contains("id=\"chained-policy\""));
}
