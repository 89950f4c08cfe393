//! `spawn_app` and a small HTTP client that keeps cookies and never follows redirects.
//!
//! PostgreSQL tests need `FEDBROKER_TEST_PG_URL` (a superuser URL of a throwaway server); the
//! README's test command (`bash .ci/test`) starts one and sets it. Each test gets its own database.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use fedbroker::config::{ConfigSource, Settings};
use fedbroker::directory::local::hash_password;
use fedbroker::domain::account::NewPassword;
use fedbroker::startup::{Application, BuildOptions};
use fedbroker::store::{NewUser, Pool, Store};
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::StatusCode;

/// Which database engine a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Password of the bootstrap admin in tests.
pub const ADMIN_PASSWORD: &str = "bootstrap-admin-password";

/// Declares `mod NAME { sqlite, postgres }` tests that run `NAME(Backend)` on each engine.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

/// The folder holding the shipped configuration.
pub fn config_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
}

/// Creates an empty database of the engine and returns its URL (and a temp dir for SQLite).
pub async fn fresh_database(backend: Backend) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}/fedbroker.db", dir.path().display());
            (url, dir)
        }
        Backend::Postgres => {
            let base = std::env::var("FEDBROKER_TEST_PG_URL").expect(
                "FEDBROKER_TEST_PG_URL is not set: run the suite with `bash .ci/test`, which starts a throwaway PostgreSQL",
            );
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&base)
                .await
                .expect("connect to test PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .expect("create test database");
            admin.close().await;
            let (prefix, _) = base.rsplit_once('/').expect("URL has a database part");
            (format!("{prefix}/{name}"), dir)
        }
    }
}

/// Settings for a test instance: shipped defaults, port 0, one worker, the given database.
pub fn test_settings(database_url: &str) -> Settings {
    let env = vec![
        ("FEDBROKER__SERVER__PORT".to_string(), "0".to_string()),
        ("FEDBROKER__SERVER__WORKERS".to_string(), "1".to_string()),
        (
            "FEDBROKER__SERVER__SHUTDOWN_TIMEOUT_SECS".to_string(),
            "1".to_string(),
        ),
        (
            "FEDBROKER__DATABASE__URL".to_string(),
            database_url.to_string(),
        ),
        (
            "FEDBROKER__DATABASE__MAX_CONNECTIONS".to_string(),
            "4".to_string(),
        ),
        (
            "FEDBROKER__DATABASE__ACQUIRE_TIMEOUT_SECS".to_string(),
            "2".to_string(),
        ),
        // 32 bytes of base64: instances sharing PostgreSQL must be given the same key.
        (
            "FEDBROKER__SAML__KEY_ENCRYPTION_KEY".to_string(),
            "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=".to_string(),
        ),
    ];
    let source = ConfigSource {
        dir: Some(config_dir()),
        profile: None,
    };
    Settings::load(&source, env).expect("test settings load")
}

/// A running broker and a browser-like client for it.
pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of the `/metrics` listener, when `metrics.listen` is set.
    pub metrics_address: Option<String>,
    pub regions: std::sync::Arc<fedbroker::aws::regions::RegionRouter>,
    pub store: Store,
    pub settings: Settings,
    pub client: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
    _dir: Option<tempfile::TempDir>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The redirect target.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of a hidden `csrf_token` field in the page.
    pub fn csrf_token(&self) -> String {
        hidden_field(&self.body, "csrf_token").expect("page has a csrf_token field")
    }
}

/// A JSON Lines record a test peer wrote (empty when it wrote nothing yet).
pub fn read_jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("record is JSON"))
        .collect()
}

/// The message of the login page's error, as the page shows it.
pub fn login_error(page: &Page) -> String {
    page.body
        .split("id=\"login-error\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_default()
        .to_string()
}

/// Extracts `<input ... name="NAME" value="...">` from HTML.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// Starts a broker on the engine with default test settings.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts a broker after letting the test adjust its settings.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let (url, dir) = fresh_database(backend).await;
    let mut settings = test_settings(&url);
    adjust(&mut settings);
    start_app(settings, Some(dir)).await
}

/// Another broker instance on the database of `app`, with the same settings: what a second
/// machine behind the same load balancer would run.
pub async fn spawn_second_instance(app: &TestApp) -> TestApp {
    start_app(app.settings.clone(), None).await
}

async fn start_app(settings: Settings, dir: Option<tempfile::TempDir>) -> TestApp {
    let app = Application::build(
        settings.clone(),
        BuildOptions {
            bootstrap_admin_password: Some(ADMIN_PASSWORD.to_string()),
        },
    )
    .await
    .expect("application builds");
    let scheme = if settings.tls_enabled() {
        "https"
    } else {
        "http"
    };
    let address = format!("{scheme}://localhost:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let store = app.store().clone();
    let regions = app.regions();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Drop idle connections well before the server's 5 s keep-alive closes them, so that a
        // request after a slow peer (pysaml2, slapd) never lands on a closing connection.
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("client builds");
    TestApp {
        address,
        metrics_address,
        regions,
        store,
        settings,
        client,
        cookies: Mutex::new(BTreeMap::new()),
        _dir: dir,
    }
}

/// A second browser (its own cookie jar) on the same running broker.
pub fn spawn_client_for(app: &TestApp) -> TestApp {
    TestApp {
        address: app.address.clone(),
        metrics_address: app.metrics_address.clone(),
        regions: app.regions.clone(),
        store: app.store.clone(),
        settings: app.settings.clone(),
        client: app.client.clone(),
        cookies: Mutex::new(BTreeMap::new()),
        _dir: None,
    }
}

impl TestApp {
    fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().expect("cookie jar");
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A cookie the server set and that is still alive.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().expect("cookie jar").get(name).cloned()
    }

    /// Replaces (or with `None` removes) a cookie in the jar.
    pub fn set_cookie(&self, name: &str, value: Option<&str>) {
        let mut jar = self.cookies.lock().expect("cookie jar");
        match value {
            Some(v) => jar.insert(name.to_string(), v.to_string()),
            None => jar.remove(name),
        };
    }

    async fn finish(&self, res: reqwest::Response) -> Page {
        {
            let mut jar = self.cookies.lock().expect("cookie jar");
            for raw in res.headers().get_all(SET_COOKIE) {
                let raw = raw.to_str().expect("ascii cookie");
                let (pair, attrs) = raw.split_once(';').unwrap_or((raw, ""));
                let (name, value) = pair.split_once('=').expect("name=value");
                let removed = attrs.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
                if removed {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_string(), value.trim().to_string());
                }
            }
        }
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.text().await.expect("body is text");
        Page {
            status,
            headers,
            body,
        }
    }

    /// GET with the cookie jar.
    pub async fn get(&self, path: &str) -> Page {
        self.get_with(path, &[]).await
    }

    /// GET with the cookie jar and extra headers (what a browser says of a navigation).
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .client
            .get(format!("{}{path}", self.address))
            .header(COOKIE, self.cookie_header());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.expect("GET succeeds");
        self.finish(res).await
    }

    /// POST a form with the cookie jar.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).expect("form encodes");
        let res = self
            .client
            .post(format!("{}{path}", self.address))
            .header(COOKIE, self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST succeeds");
        self.finish(res).await
    }

    /// Opens the login page and submits the form.
    pub async fn login(&self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK, "login page: {}", form.body);
        let token = form.csrf_token();
        self.post_form(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf_token", &token),
                ("next", "/"),
            ],
        )
        .await
    }

    /// Creates a local user with a password and groups.
    pub async fn create_user(&self, username: &str, password: &str, groups: &[&str]) {
        let hash = hash_password(&NewPassword::parse(password).expect("test password is valid"))
            .expect("hashes");
        self.store
            .create_user(
                &NewUser {
                    username,
                    display_name: &format!("{username} tester"),
                    email: &format!("{username}@example.com"),
                    password_hash: Some(&hash),
                    must_change_password: false,
                },
                groups,
                fedbroker::clock::now(),
            )
            .await
            .expect("user created");
    }

    /// The bootstrap admin, signed in with the one-time password already replaced.
    pub async fn login_as_admin(&self) {
        let res = self.login("admin", ADMIN_PASSWORD).await;
        assert_eq!(res.location(), "/account/password");
        let form = self.get("/account/password").await;
        let token = form.csrf_token();
        let res = self
            .post_form(
                "/account/password",
                &[
                    ("csrf_token", &token),
                    ("current_password", ADMIN_PASSWORD),
                    ("new_password", "a-new-admin-password"),
                    ("confirm_password", "a-new-admin-password"),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    }

    /// Runs a `SELECT COUNT(*) ...` against the test database.
    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = match self.store.pool() {
            Pool::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await,
            Pool::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await,
        }
        .expect("count query runs");
        n
    }

    /// Runs one SQL statement against the test database (to age sessions, etc.).
    pub async fn execute(&self, sql: &str) {
        match self.store.pool() {
            Pool::Sqlite(pool) => {
                sqlx::query(sql).execute(pool).await.expect("SQL runs");
            }
            Pool::Postgres(pool) => {
                sqlx::query(sql).execute(pool).await.expect("SQL runs");
            }
        }
    }
}

/// `REGION` or `REGION=URL` list entries, as a settings file would give them.
pub fn entries<S: AsRef<str>>(
    list: impl IntoIterator<Item = S>,
) -> Vec<fedbroker::domain::aws::RegionEntry> {
    list.into_iter()
        .map(|e| e.as_ref().parse().expect("a valid Region entry"))
        .collect()
}
