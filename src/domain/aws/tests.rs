use super::session::is_session_char;
use super::*;
use proptest::prelude::*;

#[test]
fn role_arns_with_paths_parse() {
    let arn = RoleArn::parse("arn:aws:iam::123456789012:role/team/a/Admin").expect("valid");
    assert_eq!(arn.account(), "123456789012");
    assert_eq!(arn.name(), "Admin");
    assert_eq!(arn.partition(), Partition::Aws);
    let gov = RoleArn::parse("arn:aws-us-gov:iam::123456789012:role/Dev").expect("valid");
    assert_eq!(gov.partition(), Partition::AwsUsGov);
}

#[test]
fn malformed_role_arns_are_refused() {
    for bad in [
        "arn:aws:iam::12345678901:role/Admin",
        "arn:aws:iam::123456789012:user/Admin",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/Ad min",
        "arn:aws-foo:iam::123456789012:role/Admin",
        "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::1:saml-provider/x",
        &format!("arn:aws:iam::123456789012:role/{}", "a".repeat(65)),
        "arn:aws:iam::123456789012:role//Admin",
        "arn:aws:iam::123456789012:role/team//Admin",
        "arn:aws:iam::123456789012:role/team/",
        "arn:aws:iam::123456789012:role/Ädmin",
        "arn:aws:iam:us-east-1:123456789012:role/Admin",
        "arn:aws:iam::123456789012:role/a:b",
        "arn:aws:iam::12345678901a:role/Admin",
        " arn:aws:iam::123456789012:role/Admin",
    ] {
        assert!(RoleArn::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_role_and_a_provider_of_different_accounts_do_not_pair() {
    let role = RoleArn::parse("arn:aws:iam::123456789012:role/Admin").expect("valid");
    let other =
        SamlProviderArn::parse("arn:aws:iam::210987654321:saml-provider/fb").expect("valid");
    assert!(RolePair::new(role.clone(), other).is_err());
    let same = SamlProviderArn::parse("arn:aws:iam::123456789012:saml-provider/fb").expect("valid");
    let pair = RolePair::new(role, same).expect("pairs");
    assert_eq!(
        pair.attribute_value(),
        "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/fb"
    );
}

#[test]
fn partitions_have_their_own_audience_and_endpoints() {
    let r = Region::parse("us-gov-west-1").expect("region");
    assert_eq!(
        Partition::AwsUsGov.audience(),
        "urn:amazon:webservices:govcloud"
    );
    assert_eq!(
        Partition::AwsUsGov.acs_url(&r),
        "https://signin.amazonaws-us-gov.com/saml"
    );
    assert_eq!(
        Partition::AwsCn.acs_url(&r),
        "https://signin.amazonaws.cn/saml"
    );
    let e2 = Region::parse("us-east-2").expect("region");
    assert_eq!(
        Partition::Aws.acs_url(&e2),
        "https://us-east-2.signin.aws.amazon.com/saml"
    );
    assert!(Partition::Aws
        .console_url(&e2)
        .starts_with("https://us-east-2.console.aws.amazon.com/"));
}

#[test]
fn long_names_get_a_stable_hash_suffix() {
    let long = format!("{}@example.com", "a".repeat(80));
    let a = sanitize_session_text(&long);
    assert_eq!(a.len(), 64);
    assert!(looks_rewritten(&a), "{a}");
    assert_eq!(a, sanitize_session_text(&long), "stable");
    assert_ne!(
        a,
        sanitize_session_text(&format!("{}@example.org", "a".repeat(80)))
    );
    assert!(RoleSessionName::parse(&sanitize_session_text("x")).is_ok());
    assert!(SourceIdentity::parse(&sanitize_session_text("aws:root")).is_ok());
}

#[test]
fn any_rewrite_is_marked_not_only_a_shortening() {
    let jorg = sanitize_session_text("Jörg Müller");
    assert!(jorg.starts_with("J-rg-M-ller-"), "{jorg}");
    assert!(looks_rewritten(&jorg), "{jorg}");
    assert_eq!(sanitize_session_text("alice"), "alice", "clean names stay");
    assert_ne!(sanitize_session_text("bob smith"), "bob-smith");
    // A raw name shaped like a rewrite is itself rewritten, so it cannot pose as one.
    let forged = sanitize_session_text("bob smith");
    assert_ne!(sanitize_session_text(&forged), forged);
}

fn corp_and_entra() -> SessionNaming {
    SessionNaming::new([
        ("corp".to_string(), "@corp".to_string()),
        ("entra".to_string(), "@entra".to_string()),
    ])
}

#[test]
fn external_people_carry_their_sources_suffix() {
    let n = corp_and_entra();
    assert_eq!(n.name("local", "bob-smith"), "bob-smith");
    assert_eq!(n.name("corp", "bob-smith"), "bob-smith@corp");
    let oidc = n.name("entra", "bob smith");
    assert!(
        oidc.starts_with("bob-smith-") && oidc.ends_with("@entra"),
        "{oidc}"
    );
    // A local name ending in a source's suffix does not pass for that source's person.
    assert_ne!(n.name("local", "bob-smith@corp"), "bob-smith@corp");
    assert!(!n.name("local", "bob-smith@CORP").ends_with("@CORP"));
    // A source no longer configured still gets a suffix of its own.
    assert_eq!(n.name("gone", "bob"), "bob@gone");
}

#[test]
fn session_suffixes_are_checked() {
    assert!(check_session_suffix("@corp").is_ok());
    assert!(check_session_suffix("@corp.example-1").is_ok());
    for bad in [
        "",
        "@",
        "corp",
        "@co@rp",
        "@co rp",
        "@corp:x",
        "@x-0123456789abcdef",
    ] {
        assert!(check_session_suffix(bad).is_err(), "{bad}");
    }
    assert!(check_session_suffix(&format!("@{}", "a".repeat(MAX_SESSION_SUFFIX))).is_err());
}

/// A person (source, raw name) whose name shares `base` with others, plus a tail that
/// often makes distinct people sanitise alike under a weaker scheme.
fn person(base: String) -> impl Strategy<Value = (&'static str, String)> {
    (
        prop_oneof![Just("local"), Just("corp"), Just("entra")],
        prop_oneof![
            Just(""),
            Just("@corp"),
            Just("@CORP"),
            Just("@entra"),
            Just(" "),
            Just("-"),
            Just("-0123456789abcdef"),
        ],
    )
        .prop_map(move |(source, tail)| (source, format!("{base}{tail}")))
}

fn two_people() -> impl Strategy<Value = ((&'static str, String), (&'static str, String))> {
    prop_oneof!["[ab -@.é]{0,4}", "[ab]{60,70}"]
        .prop_flat_map(|base| (person(base.clone()), person(base)))
}

proptest! {
    #[test]
    fn sanitised_text_is_always_a_valid_session_name_and_source_identity(raw in "\\PC{0,100}") {
        let s = sanitize_session_text(&raw);
        prop_assert!(RoleSessionName::parse(&s).is_ok(), "{s}");
        prop_assert!(SourceIdentity::parse(&s).is_ok(), "{s}");
    }

    #[test]
    fn every_source_and_raw_name_gives_a_valid_name(
        source in prop_oneof![Just("local"), Just("corp"), Just("entra"), Just("gone")],
        raw in "\\PC{0,100}",
    ) {
        let s = corp_and_entra().name(source, &raw);
        prop_assert!(s.len() <= 64 && s.chars().all(is_session_char), "{s}");
        prop_assert!(RoleSessionName::parse(&s).is_ok(), "{s}");
        prop_assert!(SourceIdentity::parse(&s).is_ok(), "{s}");
    }

}

proptest! {
    // Many cases: colliding pairs are a few in a thousand draws.
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn distinct_people_never_share_a_name((a, b) in two_people()) {
        let n = corp_and_entra();
        prop_assume!(a != b);
        prop_assert_ne!(n.name(a.0, &a.1), n.name(b.0, &b.1), "{:?} and {:?}", a, b);
    }
}
