//! Bookmarkable role links: `/go/<account>/<role>` reaches the console sign-in for a person
//! who holds the role, is refused for one who does not, and never signs anyone in without
//! their click when another site started the navigation.

use reqwest::StatusCode;

use crate::helpers::{hidden_field, spawn_app, spawn_app_with, spawn_client_for, Backend, TestApp};
use crate::on_both_backends;
use crate::sts::audit_of;

const LINK: &str = "/go/123456789012/Admin";
const ROLE: &str = "arn:aws:iam::123456789012:role/Admin";

/// Posts the bookmark page's form as a browser would.
async fn continue_from(app: &TestApp, page: &str) -> crate::helpers::Page {
    let field = |name: &str| hidden_field(page, name).unwrap_or_default();
    let (token, role, region, landing) = (
        field("csrf_token"),
        field("role"),
        field("region"),
        field("landing"),
    );
    app.post_form(
        "/saml/aws/sso",
        &[
            ("csrf_token", token.as_str()),
            ("role", role.as_str()),
            ("region", region.as_str()),
            ("landing", landing.as_str()),
        ],
    )
    .await
}

// The holder's bookmark (typed or from a bookmark: `Sec-Fetch-Site: none`) goes on to the
// console without a click: its form is the portal's checked Console POST, which answers with
// the auto-POST of a signed Response. A landing page given in the link waits for the click and
// is then the RelayState.
async fn a_holders_bookmark_reaches_the_console_sign_in(backend: Backend) {
    let acs = crate::peers::answering_endpoint();
    let app = spawn_app_with(backend, |s| {
        s.regions.acs = crate::helpers::entries([format!("us-east-2={acs}")]);
    })
    .await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    let portal = app.get("/").await;
    assert!(
        portal.body.contains(&format!("href=\"{LINK}\"")),
        "the portal offers the link"
    );

    let typed = app.get_with(LINK, &[("sec-fetch-site", "none")]).await;
    assert_eq!(typed.status, StatusCode::OK, "{}", typed.body);
    assert!(typed.body.contains("data-autosubmit"), "goes on by itself");
    assert_eq!(hidden_field(&typed.body, "role").as_deref(), Some(ROLE));

    // A landing page chosen by whoever wrote the link waits for the person's click, even typed.
    let landing = "https://console.aws.amazon.com/s3/home";
    let path = format!("{LINK}?landing={}", urlencoding(landing));
    let page = app.get_with(&path, &[("sec-fetch-site", "none")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains("data-autosubmit"), "waits for a click");
    assert!(page.body.contains("id=\"bookmark-confirm\""));
    let signed = continue_from(&app, &page.body).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    assert!(
        signed.body.contains("name=\"SAMLResponse\""),
        "{}",
        signed.body
    );
    assert_eq!(
        hidden_field(&signed.body, "RelayState").as_deref(),
        Some(landing)
    );
    assert_eq!(audit_of(&app, "assertion.issued").await.len(), 1);

    // Used a moment ago: the portal lists it under "Recently used".
    let portal = app.get("/").await;
    let recent = portal
        .body
        .split("id=\"recent\"")
        .nth(1)
        .and_then(|rest| rest.split("class=\"account").next())
        .expect("a Recently used block");
    assert!(recent.contains(ROLE), "{recent}");
}

// Attack: another site links (or redirects) a signed-in person to a bookmark, perhaps with a
// landing page of its choosing. Expected: the page waits for the person's click (no
// auto-submit), a landing page off the AWS console is refused before anything is signed, and
// a forged POST without the session's CSRF token is refused.
async fn a_link_from_another_site_waits_for_a_click(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", "alice-password-1", &["AWS-123456789012-Admin"])
        .await;
    app.login("alice", "alice-password-1").await;
    // Same-origin too: the return from the sign-in page is same-origin whoever sent the person
    // to `/login?next=/go/...`.
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("sec-fetch-site", "same-origin")],
        vec![],
    ] {
        let page = app.get_with(LINK, &headers).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("data-autosubmit"), "{headers:?}");
        assert!(page.body.contains("id=\"bookmark-confirm\""));
    }
    let evil = format!("{LINK}?landing={}", urlencoding("https://evil.example/"));
    let refused = app.get_with(&evil, &[("sec-fetch-site", "none")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("not an AWS console address"),
        "{}",
        refused.body
    );
    let forged = app
        .post_form(
            "/saml/aws/sso",
            &[("role", ROLE), ("landing", "https://evil.example/")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Even with the token, the console POST checks the landing page itself.
    let token = app.get("/").await.csrf_token();
    let posted = app
        .post_form(
            "/saml/aws/sso",
            &[
                ("csrf_token", &token),
                ("role", ROLE),
                ("landing", "https://console.aws.amazon.com.evil.example/"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::BAD_REQUEST, "{}", posted.body);
    assert!(
        audit_of(&app, "assertion.issued").await.is_empty(),
        "nothing signed"
    );
}

// A person who does not hold the role gets a clear 403 (audited); a signed-out one signs in
// and comes back to the link.
async fn a_bookmark_is_refused_to_whoever_does_not_hold_the_role(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("bob", "bobs-password-12", &["AWS-210987654321-Dev"])
        .await;
    let signed_out = app.get(LINK).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        signed_out.location(),
        "/login?next=%2Fgo%2F123456789012%2FAdmin"
    );
    let bob = spawn_client_for(&app);
    bob.login("bob", "bobs-password-12").await;
    let refused = bob.get_with(LINK, &[("sec-fetch-site", "none")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("none of your groups grants"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("/saml/aws/sso"), "no sign-in form");
    let denied = audit_of(&app, "access.denied").await;
    assert!(
        denied
            .iter()
            .any(|e| e.subject == "bob" && e.details.contains("bookmark")),
        "{denied:?}"
    );
    let before = audit_of(&app, "access.denied").await.len();
    for junk in [
        "/go/123/Admin",
        "/go/123456789012/",
        "/go/12345678901x/Admin",
        "/go/123456789012/%3Cscript%3E",
    ] {
        assert_eq!(bob.get(junk).await.status, StatusCode::NOT_FOUND, "{junk}");
    }
    assert_eq!(
        audit_of(&app, "access.denied").await.len(),
        before,
        "no event with text another site chose"
    );
}

fn urlencoding(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .expect("encodes")
        .trim_start_matches("v=")
        .to_string()
}

on_both_backends!(
    a_holders_bookmark_reaches_the_console_sign_in,
    a_link_from_another_site_waits_for_a_click,
    a_bookmark_is_refused_to_whoever_does_not_hold_the_role,
);
