//! Sign-in through LDAP against a real `slapd` (Debian's) started in a temp dir: users and
//! `groupOfNames` groups, memberOf, StartTLS with a test CA, nested groups, injection attempts,
//! and the directory stopping mid-run.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{login_error, spawn_app_with, Backend, TestApp};
use crate::on_both_backends;
use crate::sts::free_port;

/// A throwaway slapd on loopback; killed on drop.
pub struct Slapd {
    child: Option<Child>,
    pub port: u16,
    pub ca_file: String,
    dir: tempfile::TempDir,
}

const SUFFIX: &str = "dc=example,dc=com";
const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
const ROOT_PW: &str = "slapd-admin-pw";

fn write_certs(dir: &Path) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fedbroker test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca.pem()).expect("ca");
    std::fs::write(&paths.1, cert.pem()).expect("cert");
    std::fs::write(&paths.2, key.serialize_pem()).expect("key");
    let s = |p: &Path| p.to_string_lossy().to_string();
    (s(&paths.0), s(&paths.1), s(&paths.2))
}

const DATA: &str = "dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: cn=fedbroker,dc=example,dc=com
objectClass: person
cn: fedbroker
sn: service
userPassword: service-pw

dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: alice
cn: Alice Ldap
sn: Ldap
mail: alice@ldap.example.com
employeeNumber: 1001
userPassword: alice-ldap-pw

dn: uid=bob,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: bob
cn: Bob Ldap
sn: Ldap
mail: bob@ldap.example.com
userPassword: bob-ldap-pw

dn: cn=AWS-123456789012-Admin,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: AWS-123456789012-Admin
member: uid=alice,ou=people,dc=example,dc=com

dn: cn=engineering,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: engineering
member: uid=alice,ou=people,dc=example,dc=com
member: uid=bob,ou=people,dc=example,dc=com

dn: cn=AWS-210987654321-Dev,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: AWS-210987654321-Dev
member: cn=engineering,ou=groups,dc=example,dc=com
";

impl Slapd {
    pub fn start() -> Slapd {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("db")).expect("db dir");
        let (ca, cert, key) = write_certs(d);
        let conf = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {dir}/slapd.pid
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
database mdb
maxsize 10485760
suffix \"{SUFFIX}\"
rootdn \"{ROOT_DN}\"
rootpw {ROOT_PW}
directory {dir}/db
overlay memberof
access to attrs=userPassword by self read by anonymous auth by * none
access to * by * read
database monitor
access to * by * read
",
            dir = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).expect("conf");
        let mut slapd = Slapd {
            child: None,
            port: free_port(),
            ca_file: ca,
            dir,
        };
        slapd.run();
        let out = Command::new("ldapadd")
            .args(["-x", "-H", &slapd.url(), "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(DATA.as_bytes())?;
                c.wait_with_output()
            })
            .expect("ldapadd runs (install slapd and ldap-utils with `bash .ci/deps`)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        slapd
    }

    /// (Re)starts slapd on its port.
    pub fn run(&mut self) {
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &format!("ldap://127.0.0.1:{}/", self.port), "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "slapd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("ldap://localhost:{}", self.port)
    }

    /// Changes the directory as its administrator: `ldapadd`, `ldapmodify` or `ldapdelete`
    /// with `input` on stdin.
    pub fn change(&self, tool: &str, input: &str) {
        let out = Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(input.as_bytes())?;
                c.wait_with_output()
            })
            .expect("ldap-utils run");
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// How many bind operations slapd has completed (from `cn=Monitor`, read without binding).
    pub async fn binds(&self) -> u64 {
        let (conn, mut ldap) = ldap3::LdapConnAsync::new(&self.url())
            .await
            .expect("connect to slapd");
        ldap3::drive!(conn);
        let (entries, _) = ldap
            .search(
                "cn=Bind,cn=Operations,cn=Monitor",
                ldap3::Scope::Base,
                "(objectClass=*)",
                vec!["monitorOpCompleted"],
            )
            .await
            .expect("monitor search")
            .success()
            .expect("monitor answers");
        let entry = ldap3::SearchEntry::construct(entries.into_iter().next().expect("bind entry"));
        let _ = ldap.unbind().await;
        entry.attrs["monitorOpCompleted"][0]
            .parse()
            .expect("a number")
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The source as `[[sources.ldap]]` would give it.
pub fn source(
    slapd: &Slapd,
    starttls: bool,
    nested: &str,
    memberof: bool,
) -> fedbroker::config::LdapSource {
    let toml = format!(
        "id = \"corp\"\nname = \"Corporate directory\"\nurl = \"{}\"\nstarttls = {starttls}\nca_file = \"{}\"\n\
         bind_dn = \"cn=fedbroker,{SUFFIX}\"\nbind_password = \"service-pw\"\nuser_base = \"ou=people,{SUFFIX}\"\n\
         group_base = \"{}\"\nnested_groups = \"{nested}\"\ntimeout_secs = 2\n",
        slapd.url(),
        if starttls { slapd.ca_file.as_str() } else { "" },
        if memberof { String::new() } else { format!("ou=groups,{SUFFIX}") },
    );
    toml::from_str(&toml).expect("source parses")
}

pub async fn ldap_app(backend: Backend, src: fedbroker::config::LdapSource) -> TestApp {
    spawn_app_with(backend, move |s| s.sources.ldap = vec![src]).await
}

/// Submits the login form for the LDAP source.
pub async fn ldap_login(app: &TestApp, username: &str, password: &str) -> crate::helpers::Page {
    let form = app.get("/login").await;
    assert!(
        form.body.contains("Corporate directory"),
        "the source is listed"
    );
    let token = form.csrf_token();
    app.post_form(
        "/login",
        &[
            ("source", "corp"),
            ("username", username),
            ("password", password),
            ("csrf_token", &token),
            ("next", "/"),
        ],
    )
    .await
}

async fn ldap_users_sign_in_with_their_groups_and_see_their_roles(backend: Backend) {
    let slapd = Slapd::start();
    let app = ldap_app(backend, source(&slapd, true, "recursive", false)).await;
    let res = ldap_login(&app, "alice", "alice-ldap-pw").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let portal = app.get("/").await;
    assert!(portal.body.contains("Alice Ldap"), "{}", portal.body);
    for group in [
        "AWS-123456789012-Admin",
        "engineering",
        "AWS-210987654321-Dev",
    ] {
        assert!(
            portal.body.contains(group),
            "{group} (nested through engineering)"
        );
    }
    assert!(portal.body.contains("arn:aws:iam::123456789012:role/Admin"));
    assert!(portal.body.contains("arn:aws:iam::210987654321:role/Dev"));

    // Provisioned with the source and its subject; the next sign-in updates, not duplicates.
    let user = app
        .store
        .user_by_username("alice")
        .await
        .expect("read")
        .expect("provisioned");
    assert!(
        user.password_hash.is_none(),
        "no local password for LDAP users"
    );
    let again = crate::helpers::spawn_client_for(&app);
    assert_eq!(
        ldap_login(&again, "alice", "alice-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.store.count_users().await.expect("count"),
        2,
        "admin and alice"
    );

    // The admin dry run reads the snapshot of alice's groups.
    let admin = crate::helpers::spawn_client_for(&app);
    admin.login_as_admin().await;
    let dry = admin.get("/admin/test?username=alice").await;
    assert!(
        dry.body.contains("arn:aws:iam::210987654321:role/Dev"),
        "{}",
        dry.body
    );

    // Sign-in events say which source.
    let events = app
        .store
        .audit_events(
            &fedbroker::store::AuditFilter {
                event_type: Some("signin".into()),
                user: Some("alice".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .expect("events");
    assert!(events
        .iter()
        .all(|e| e.details.contains("\"source\":\"corp\"")));
}

async fn memberof_gives_direct_groups_only(backend: Backend) {
    let slapd = Slapd::start();
    let app = ldap_app(backend, source(&slapd, false, "none", true)).await;
    assert_eq!(
        ldap_login(&app, "bob", "bob-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    let portal = app.get("/").await;
    assert!(portal.body.contains("engineering"));
    assert!(
        !portal.body.contains("AWS-210987654321-Dev"),
        "no nesting asked for"
    );
}

async fn wrong_unknown_empty_and_injected_credentials_are_refused_alike(backend: Backend) {
    let slapd = Slapd::start();
    let app = ldap_app(backend, source(&slapd, false, "none", false)).await;
    let wrong = ldap_login(&app, "alice", "not-her-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let unknown = ldap_login(&app, "mallory", "whatever-password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        login_error(&wrong),
        login_error(&unknown),
        "never tells whether a user exists"
    );
    let empty = ldap_login(&app, "alice", "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(login_error(&empty).contains("Enter your password"));
    for injected in ["*", "alice)(uid=*", "*)(|(uid=*", "al*"] {
        let res = ldap_login(&app, injected, "alice-ldap-pw").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{injected}");
    }
    assert_eq!(
        app.store.count_users().await.expect("count"),
        1,
        "nobody was provisioned"
    );
}

async fn a_stopped_directory_gives_a_clear_error_and_local_sign_in_still_works(backend: Backend) {
    let mut slapd = Slapd::start();
    let app = ldap_app(backend, source(&slapd, false, "none", false)).await;
    let ready = app.get("/readyz").await;
    let health: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
    assert_eq!(health["sources"]["corp"]["status"], "up", "{health}");

    slapd.stop();
    let res = ldap_login(&app, "alice", "alice-ldap-pw").await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        login_error(&res).contains("cannot be reached"),
        "{}",
        res.body
    );
    let ready = app.get("/readyz").await;
    assert_eq!(
        ready.status,
        StatusCode::OK,
        "the broker still serves other sources"
    );
    let health: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["sources"]["corp"]["status"], "degraded");

    app.create_user("carol", "carol-password-1", &["AWS-123456789012-Admin"])
        .await;
    let local = crate::helpers::spawn_client_for(&app);
    assert_eq!(
        local.login("carol", "carol-password-1").await.status,
        StatusCode::SEE_OTHER,
        "the local directory keeps working"
    );

    slapd.run();
    assert_eq!(
        ldap_login(&app, "alice", "alice-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
}

async fn a_locally_disabled_ldap_user_stays_locked_out(backend: Backend) {
    let slapd = Slapd::start();
    let app = ldap_app(backend, source(&slapd, false, "none", false)).await;
    assert_eq!(
        ldap_login(&app, "alice", "alice-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    app.execute("UPDATE users SET disabled = TRUE WHERE username = 'alice'")
        .await;
    let again = crate::helpers::spawn_client_for(&app);
    let res = ldap_login(&again, "alice", "alice-ldap-pw").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(login_error(&res).contains("disabled"));
    // A local user of the same name is never merged with the directory's.
    app.create_user("bob", "bob-local-password", &[]).await;
    let bob = ldap_login(&again, "bob", "bob-ldap-pw").await;
    assert_eq!(bob.status, StatusCode::FORBIDDEN);
    assert!(login_error(&bob).contains("already belongs to another account"));
}

async fn directory_attributes_reach_the_assertion_templates(backend: Backend) {
    let slapd = Slapd::start();
    let mut src = source(&slapd, false, "none", false);
    src.extra_attributes = vec!["employeeNumber".into()];
    let app = spawn_app_with(backend, move |s| {
        s.sources.ldap = vec![src];
        s.saml.principal_tags = vec!["Employee={attr:employeeNumber}".into()];
    })
    .await;
    assert_eq!(
        ldap_login(&app, "alice", "alice-ldap-pw").await.status,
        StatusCode::SEE_OTHER
    );
    let admin = crate::helpers::spawn_client_for(&app);
    admin.login_as_admin().await;
    let dry = admin.get("/admin/test?username=alice").await;
    let xml = dry
        .body
        .split("id=\"assertion-xml\">")
        .nth(1)
        .expect("assertion shown")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"");
    assert!(
        xml.contains("PrincipalTag:Employee\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\"><saml:AttributeValue>1001<"),
        "{xml}"
    );
}

async fn starttls_checks_the_directory_certificate(backend: Backend) {
    let slapd = Slapd::start();
    let mut untrusted = source(&slapd, true, "none", false);
    untrusted.ca_file = String::new();
    let app = ldap_app(backend, untrusted).await;
    let res = ldap_login(&app, "alice", "alice-ldap-pw").await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a certificate from an unknown CA is refused"
    );
    assert_eq!(app.store.count_users().await.expect("count"), 1);
}

on_both_backends!(
    directory_attributes_reach_the_assertion_templates,
    starttls_checks_the_directory_certificate,
    ldap_users_sign_in_with_their_groups_and_see_their_roles,
    memberof_gives_direct_groups_only,
    wrong_unknown_empty_and_injected_credentials_are_refused_alike,
    a_stopped_directory_gives_a_clear_error_and_local_sign_in_still_works,
    a_locally_disabled_ldap_user_stays_locked_out,
);
