//! What AWS receives, as reviewed snapshots (`tests/api/snapshots/*.snap`, `insta`): the signed
//! console Response and the IdP metadata IAM trusts. IDs, instants, digests, signatures,
//! certificates and the test server's address are replaced by placeholders, so a snapshot
//! changes only when what is sent changes, and such a change is reviewed on purpose
//! (`INSTA_UPDATE=always` rewrites them; CI refuses an unreviewed one).

use base64::Engine;
use regex::Regex;

use crate::helpers::{spawn_app, Backend};
use crate::services::{admin_identity, Parts};
use crate::sts::ADMIN_ROLE;

/// One element or text run per line, so a diff points at the part that changed.
fn lines(xml: &str) -> String {
    xml.replace("><", ">\n<")
}

/// Replaces what differs from run to run (or from machine to machine) with placeholders.
fn normalise(text: &str, broker: &str) -> String {
    let mut out = text.replace(broker, "[BROKER]");
    for (pattern, placeholder) in [
        (
            r#"(ID|InResponseTo|SessionIndex)="_[0-9a-zA-Z_-]+""#,
            r#"$1="[ID]""#,
        ),
        (r##"URI="#_[0-9a-zA-Z_-]+""##, r##"URI="#[ID]""##),
        (
            r#"(IssueInstant|NotBefore|NotOnOrAfter|AuthnInstant|SessionNotOnOrAfter|validUntil)="[^"]+""#,
            r#"$1="[TIME]""#,
        ),
        (
            r"<(ds:)?(DigestValue|SignatureValue|X509Certificate)>[^<]+</",
            "<$1$2>[$2]</",
        ),
        (r"<saml:NameID([^>]*)>[^<]+</", "<saml:NameID$1>[NAMEID]</"),
    ] {
        out = Regex::new(pattern)
            .expect("pattern")
            .replace_all(&out, placeholder)
            .into_owned();
    }
    out
}

#[tokio::test]
async fn the_console_response_aws_receives_is_reviewed() {
    let parts = Parts::new(Backend::Sqlite, |_| {}).await;
    let post = fedbroker::aws::assertion::console_post(
        parts.aws(),
        &admin_identity(),
        ADMIN_ROLE,
        None,
        &Default::default(),
    )
    .await
    .expect("a console post");
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&post.saml_response)
            .expect("base64"),
    )
    .expect("UTF-8");
    insta::assert_snapshot!(
        "console_response",
        normalise(&lines(&xml), crate::services::URL)
    );
}

#[tokio::test]
async fn the_metadata_iam_trusts_is_reviewed() {
    let app = spawn_app(Backend::Sqlite).await;
    let metadata = app.get("/saml/metadata").await.body;
    insta::assert_snapshot!("idp_metadata", normalise(&lines(&metadata), &app.address));
}
