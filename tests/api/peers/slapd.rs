//! A throwaway `slapd` (Debian's) on loopback with a test CA for StartTLS, users and
//! `groupOfNames` groups (memberOf overlay), and nested groups.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{free_port, wait_for_port};

/// A throwaway slapd on loopback; killed on drop.
pub struct Slapd {
    child: Option<Child>,
    pub port: u16,
    pub ca_file: String,
    dir: tempfile::TempDir,
}

pub const SUFFIX: &str = "dc=example,dc=com";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
pub const ROOT_PW: &str = "slapd-admin-pw";

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
    pub async fn start() -> Slapd {
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
        slapd.run().await;
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
    pub async fn run(&mut self) {
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &format!("ldap://127.0.0.1:{}/", self.port), "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd starts");
        self.child = Some(child);
        wait_for_port(self.port, "slapd").await;
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
