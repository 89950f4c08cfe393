//! Headless Chromium (Debian's) drives the real pages. Driven by playwright-core from
//! `tests/peers` (no browser download: it uses /usr/bin/chromium). Screenshots are kept in
//! `target/test-artifacts/`.

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::{spawn_app_with, Backend};

/// Where screenshots go; created if missing.
pub(crate) fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

/// Runs `tests/browser/<script>` with node and returns its standard output; fails the test
/// when the script fails or the page threw.
pub(crate) async fn run_script(script: &str, args: Vec<String>) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser").join(script);
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args(args)
            .env("NODE_PATH", root.join("tests/peers/node_modules"))
            .output()
            .expect("node runs (install the test peers with `bash .ci/deps`)")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("browser error"), "{stdout}");
    stdout
}

/// A fresh screenshot path (any old file removed) and its string form for the script.
pub(crate) fn screenshot(name: &str) -> (PathBuf, String) {
    let shot = artifacts().join(name);
    let _ = std::fs::remove_file(&shot);
    let arg = shot.to_string_lossy().to_string();
    (shot, arg)
}

pub(crate) fn assert_saved(shot: &std::path::Path) {
    let size = std::fs::metadata(shot)
        .unwrap_or_else(|_| panic!("{} saved", shot.display()))
        .len();
    assert!(
        size > 5_000,
        "{} looks empty ({size} bytes)",
        shot.display()
    );
}

#[tokio::test]
async fn a_browser_signs_in_and_sees_the_portal() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.demo.enabled = true).await;
    let (shot, shot_arg) = screenshot("sign-in-portal.png");
    let stdout = run_script("sign_in.mjs", vec![app.address.clone(), shot_arg]).await;
    assert!(stdout.contains("portal-user=alice"), "{stdout}");
    assert!(stdout.contains("AWS-123456789012-Admin"), "{stdout}");
    assert_saved(&shot);
}

/// A role whose rule has a session policy: the same Console button lands on the federation
/// login URL (the loopback stand-in's `login`), after STS received the policy.
#[tokio::test]
async fn the_console_button_of_a_role_with_a_session_policy_lands_on_the_federation_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let standin = crate::peers::aws::Peer::standin(dir.path(), 43200).await;
    let federation = format!("{}/federation", standin.url());
    let (sts, fed) = (standin.url(), federation.clone());
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.demo.enabled = true;
        s.sts.endpoints = crate::helpers::entries([format!("us-east-2={sts}")]);
        s.sts.federation = crate::helpers::entries([format!("us-east-2={fed}")]);
    })
    .await;
    app.execute(
        "UPDATE mapping_rules SET session_controls = \
         '{\"policy_arns\":[\"arn:aws:iam::aws:policy/ReadOnlyAccess\"]}' WHERE effect = 'allow'",
    )
    .await;
    app.execute("UPDATE rule_set_state SET generation = generation + 1")
        .await;
    let (shot, shot_arg) = screenshot("console-federation.png");
    let stdout = run_script(
        "console.mjs",
        vec![
            app.address.clone(),
            format!("{federation}?Action=login"),
            shot_arg,
        ],
    )
    .await;
    assert!(
        stdout.contains("result=standin console: https://"),
        "{stdout}"
    );
    let got = standin.received();
    let sts: Vec<&serde_json::Value> = got.iter().filter(|r| r["kind"] == "sts").collect();
    assert_eq!(sts.len(), 1, "{got:?}");
    assert_eq!(
        sts[0]["policy_arns"],
        serde_json::json!(["arn:aws:iam::aws:policy/ReadOnlyAccess"])
    );
    assert!(got
        .iter()
        .any(|r| r["action"] == "login" && r["has_token"] == true));
    assert_saved(&shot);
}

#[tokio::test]
async fn a_browser_presses_console_and_the_auto_post_reaches_the_sign_in_endpoint() {
    use crate::saml_flow::SignInEndpoint;
    let dir = tempfile::tempdir().expect("tempdir");
    let metadata = dir.path().join("md.xml");
    let endpoint = SignInEndpoint::start(dir.path(), "us-east-2", &metadata);
    let acs = vec![format!("us-east-2={}", endpoint.url)];
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.demo.enabled = true;
        s.regions.acs = crate::helpers::entries(acs);
    })
    .await;
    std::fs::write(&metadata, app.get("/saml/metadata").await.body).expect("metadata");
    app.regions.probe_all(fedbroker::clock::now()).await;
    let (shot, shot_arg) = screenshot("console-autopost.png");
    let stdout = run_script(
        "console.mjs",
        vec![app.address.clone(), endpoint.url.clone(), shot_arg],
    )
    .await;
    assert!(stdout.contains("result=accepted"), "{stdout}");
    let got = endpoint.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["ok"], true, "{}", got[0]);
    assert!(got[0]["relay_state"]
        .as_str()
        .unwrap_or("")
        .starts_with("https://us-east-2.console.aws.amazon.com/"));
    assert_saved(&shot);
}

#[tokio::test]
async fn an_admin_creates_and_dry_runs_a_rule_and_alice_sees_the_role_under_its_alias() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    // The bootstrap password is replaced first (the browser then signs in with the new one).
    app.login_as_admin().await;
    app.create_user("alice", "alice-password-1", &["pay-ops", "staff"])
        .await;
    let suffixes = ["rules", "dry-run", "portal", "search"];
    let shots: Vec<PathBuf> = suffixes
        .iter()
        .map(|s| screenshot(&format!("mapping-{s}.png")).0)
        .collect();
    let prefix = artifacts().join("mapping").to_string_lossy().to_string();
    let stdout = run_script(
        "rules.mjs",
        vec![
            app.address.clone(),
            "a-new-admin-password".into(),
            "alice-password-1".into(),
            prefix,
        ],
    )
    .await;
    assert!(
        stdout.contains("rules=AD FS convention|Payments deployers"),
        "{stdout}"
    );
    assert!(stdout.contains("alias-row=yes"), "{stdout}");
    assert!(
        stdout.contains("dry-run=arn:aws:iam::123456789012:role/ops-Deployer ; arn:aws:iam::123456789012:saml-provider/fedbroker ; 7200 s ;  ; Payments deployers ; pay-ops"),
        "{stdout}"
    );
    assert!(
        stdout.contains("account-heading=Payments prod 123456789012"),
        "{stdout}"
    );
    assert!(stdout.contains("portal-roles=ops-Deployer"), "{stdout}");
    assert!(stdout.contains("no-match-visible=true"), "{stdout}");
    assert!(stdout.contains("match-visible=true"), "{stdout}");
    assert!(stdout.contains("no-match-after=false"), "{stdout}");
    for shot in &shots {
        assert_saved(shot);
    }
}

#[tokio::test]
async fn buttons_that_name_the_action_work_with_the_page_script_running() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    app.login_as_admin().await;
    let (keys_shot, _) = screenshot("buttons-keys.png");
    let (rules_shot, _) = screenshot("buttons-rules.png");
    let prefix = artifacts().join("buttons").to_string_lossy().to_string();
    let stdout = run_script(
        "buttons.mjs",
        vec![app.address.clone(), "a-new-admin-password".into(), prefix],
    )
    .await;
    assert!(stdout.contains("keys=1->2"), "{stdout}");
    assert!(stdout.contains("rule-disabled=true"), "{stdout}");
    assert!(!stdout.contains("browser error"), "{stdout}");
    assert_saved(&keys_shot);
    assert_saved(&rules_shot);
}

/// Every page, opened in Chromium by the user it is for at 1280 and 390 px wide, and at 1280
/// in the dark theme: no axe-core violation of impact serious or critical (contrast, names of
/// controls, focusable scrolling regions…), nothing wider than the window, and a screenshot of
/// each in `target/test-artifacts/page-<name>-<width>[-dark].png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_and_fits_at_1280_and_390_px() {
    let moto = crate::peers::aws::Peer::moto().await;
    let sts = format!("us-east-2={}", moto.url());
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.demo.enabled = true;
        s.sts.endpoints = crate::helpers::entries([sts]);
    })
    .await;
    app.create_user(
        "root",
        "root-password-1",
        &["fedbroker-admins", "data-analysts"],
    )
    .await;
    let rule = app.store.list_rules().await.expect("rules").remove(0);
    let user_pages = [
        ("portal", "/".to_string()),
        ("password", "/account/password".into()),
        ("tokens", "/account/tokens".into()),
        ("sessions", "/account/sessions".into()),
        ("not-found", "/no-such-page".into()),
    ];
    let admin_pages = [
        ("admin", "/admin".to_string()),
        ("rules", "/admin/rules".into()),
        ("rule-new", "/admin/rules/new".into()),
        ("rule", format!("/admin/rules/{}", rule.id)),
        ("accounts", "/admin/accounts".into()),
        ("dry-run", "/admin/test?username=alice".into()),
        ("audit", "/admin/audit".into()),
        ("keys", "/admin/keys".into()),
        ("regions", "/admin/regions".into()),
        ("sources", "/admin/sources".into()),
        ("trust", "/admin/trust-policy".into()),
        ("encryption", "/admin/encryption".into()),
        ("admin-sessions", "/admin/sessions".into()),
        ("users", "/admin/users".into()),
        ("user", "/admin/users?name=alice".into()),
        ("groups", "/admin/groups".into()),
        ("group", "/admin/groups?name=data-analysts".into()),
        ("admin-tokens", "/admin/tokens".into()),
    ];
    let pages = |list: &[(&str, String)]| {
        list.iter()
            .map(|(name, path)| serde_json::json!({"name": name, "path": path}))
            .collect::<Vec<_>>()
    };
    let consent = "/oauth/authorize?response_type=code&client_id=fedbroker-cli\
                   &redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback\
                   &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
                   &code_challenge_method=S256&state=s&device=laptop";
    let mut alice_pages = pages(&user_pages);
    alice_pages.extend([
        serde_json::json!({
            "name": "bookmark", "path": "/go/123456789012/Admin", "via_link": true
        }),
        serde_json::json!({
            "name": "credentials", "path": "/",
            "submit": "#account-123456789012 li.role >> nth=0 >> button.credentials"
        }),
        serde_json::json!({"name": "cli-consent", "path": consent}),
        serde_json::json!({"name": "cli-code", "path": "/oauth/code?code=abcd-efgh-ijkl"}),
        serde_json::json!({"name": "forbidden", "path": "/admin"}),
    ]);
    let alice_pages_len = alice_pages.len();
    let spec = serde_json::json!([
        {"user": "alice", "password": "alice-demo-password", "pages": alice_pages},
        {"user": "root", "password": "root-password-1", "pages": pages(&admin_pages)},
        {"user": null, "pages": [{"name": "login", "path": "/login"}]},
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let spec_file = dir.path().join("pages.json");
    std::fs::write(&spec_file, spec.to_string()).expect("write");
    let out = run_script(
        "pages.mjs",
        vec![
            app.address.clone(),
            artifacts().to_string_lossy().to_string(),
            spec_file.to_string_lossy().to_string(),
        ],
    )
    .await;
    let results: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let expected = 3 * (alice_pages_len + admin_pages.len() + 1);
    assert_eq!(results.len(), expected, "{out}");
    let mut problems = Vec::new();
    for r in &results {
        let status = r["status"].as_u64().unwrap_or(0);
        let wanted = match r["page"].as_str() {
            Some("not-found") => 404,
            Some("forbidden") => 403,
            _ => 200,
        };
        if status != wanted {
            problems.push(format!("{} at {}: HTTP {status}", r["path"], r["width"]));
        }
        if r["violations"].as_array().is_some_and(|v| !v.is_empty()) {
            problems.push(format!(
                "{} at {}: {}",
                r["path"], r["width"], r["violations"]
            ));
        }
        if r["scrollWidth"].as_u64() > r["innerWidth"].as_u64() {
            problems.push(format!(
                "{} at {}: {} px wide ({})",
                r["path"], r["width"], r["scrollWidth"], r["wide"]
            ));
        }
        let shot = std::path::PathBuf::from(r["screenshot"].as_str().unwrap_or_default());
        assert_saved(&shot);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    refresh_readme_screenshots();
}

/// The screenshots the README shows, by page name: copied from this run's artifacts, so the
/// README always shows the pages as the last test run rendered them.
const README_SCREENSHOTS: [&str; 3] = ["portal", "rules", "dry-run"];

fn readme_screenshot(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/screenshots")
        .join(format!("{name}.png"))
}

fn refresh_readme_screenshots() {
    for name in README_SCREENSHOTS {
        let from = artifacts().join(format!("page-{name}-1280.png"));
        let to = readme_screenshot(name);
        std::fs::create_dir_all(to.parent().expect("a folder")).expect("docs/screenshots");
        std::fs::copy(&from, &to)
            .unwrap_or_else(|e| panic!("{} -> {}: {e}", from.display(), to.display()));
    }
}

/// The README shows the screenshots the page test refreshes, and each is in the repository.
#[test]
fn the_readme_shows_the_screenshots_the_tests_take() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README.md");
    for name in README_SCREENSHOTS {
        let link = format!("docs/screenshots/{name}.png");
        assert!(readme.contains(&link), "README links {link}");
        let png = std::fs::read(readme_screenshot(name)).expect("the screenshot is committed");
        assert!(png.starts_with(b"\x89PNG"), "{link} is a PNG");
    }
}

/// A bookmark link in Chromium: from the address bar it goes on to the console sign-in and the
/// AWS sign-in endpoint by itself; reached through the sign-in page, or linked from another
/// origin, it waits for the Continue click.
#[tokio::test]
async fn a_bookmark_link_opens_the_console_and_waits_when_another_site_links_it() {
    let acs = crate::peers::answering_endpoint();
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.demo.enabled = true;
        s.regions.acs = crate::helpers::entries([format!("us-east-2={acs}")]);
    })
    .await;
    let stdout = run_script(
        "bookmark.mjs",
        vec![app.address.clone(), "/go/123456789012/Admin".into()],
    )
    .await;
    let acs_origin = acs.trim_end_matches("/saml");
    assert!(stdout.contains("posted-after-sign-in=false"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "url-after-sign-in={}/go/123456789012/Admin",
            app.address
        )),
        "{stdout}"
    );
    assert!(stdout.contains("posted-typed=true"), "{stdout}");
    assert!(
        stdout.contains(&format!("final-typed={acs_origin}/saml")),
        "{stdout}"
    );
    assert!(stdout.contains("posted-linked=false"), "{stdout}");
    assert!(
        stdout.contains(&format!("url-linked={}/go/123456789012/Admin", app.address)),
        "{stdout}"
    );
    assert!(stdout.contains("posted-after-click=true"), "{stdout}");
    assert!(!stdout.contains("browser error"), "{stdout}");
}

/// The flow in Chromium: an admin creates a local user on the Users page and reads the one-time
/// password off it; the user signs in with it, must choose their own password first, and then
/// sees the role their group maps to.
#[tokio::test]
async fn a_user_an_admin_created_signs_in_with_the_one_time_password_and_must_change_it() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    app.login_as_admin().await;
    let prefix = artifacts().join("new-user").to_string_lossy().to_string();
    let stdout = run_script(
        "new_user.mjs",
        vec![
            app.address.clone(),
            "a-new-admin-password".into(),
            prefix.clone(),
        ],
    )
    .await;
    assert!(stdout.contains("one-time-length=20"), "{stdout}");
    assert!(stdout.contains("forced=true"), "{stdout}");
    assert!(stdout.contains("portal=true"), "{stdout}");
    assert!(stdout.contains("role-shown=true"), "{stdout}");
    assert_saved(&std::path::PathBuf::from(format!("{prefix}-created.png")));
    assert_saved(&std::path::PathBuf::from(format!("{prefix}-forced.png")));
}

/// The portal works from the keyboard alone: sign in with Tab and Enter, Tab to a role's
/// Console button with a visible focus indicator at every stop, and open it with Enter.
#[tokio::test]
async fn the_portal_works_from_the_keyboard_alone() {
    let acs = crate::peers::answering_endpoint();
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.demo.enabled = true;
        s.regions.acs = crate::helpers::entries([format!("us-east-2={acs}")]);
    })
    .await;
    let stdout = run_script("keyboard.mjs", vec![app.address.clone()]).await;
    assert!(stdout.contains("signed-in=true"), "{stdout}");
    let steps: i64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("console-reached-after="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1);
    assert!((1..=30).contains(&steps), "{stdout}");
    assert!(stdout.contains("invisible-focus=[]"), "{stdout}");
    assert!(stdout.contains("posted=true"), "{stdout}");
}

/// The Region chosen last is preselected on every role after a reload (kept in the browser).
#[tokio::test]
async fn the_portal_remembers_the_region_chosen_last() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.demo.enabled = true;
        s.regions.acs = crate::helpers::entries(["us-east-2", "us-west-2"]);
    })
    .await;
    let stdout = run_script(
        "region_memory.mjs",
        vec![app.address.clone(), "us-west-2".into()],
    )
    .await;
    let values = |key: &str| -> Vec<String> {
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} printed: {stdout}"));
        serde_json::from_str(line).expect("a JSON list")
    };
    let before = values("before");
    assert!(before.len() > 1, "several roles: {stdout}");
    assert!(
        before.iter().all(|v| v.is_empty()),
        "Automatic at first: {stdout}"
    );
    let after = values("after");
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|v| v == "us-west-2"), "{stdout}");
}
