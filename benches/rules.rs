//! Evaluating one user with 1,000 groups against 1,000 mapping rules, and recompiling a
//! 1,000-rule set. Run: `cargo bench --bench rules`.
//!
//! The mix is what large installations have: per-account AD FS-style rules, literal group
//! names, Okta-style rules with their own prefixes and a few deny rules; most of the user's
//! groups match no rule at all (mailing lists, team groups).

use criterion::{criterion_group, criterion_main, Criterion};
use fedbroker::domain::aws::Partition;
use fedbroker::mapping::{Effect, RuleSet, RuleSpec};

fn account(i: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + (i as u64) * 7_919)
}

fn spec(name: String, effect: Effect, pattern: String, role: String) -> RuleSpec {
    RuleSpec::new(&name, effect, &pattern, &role)
}

fn rules() -> Vec<RuleSpec> {
    let mut out = Vec::new();
    for i in 0..700 {
        let a = account(i);
        out.push(spec(
            format!("account {a}"),
            Effect::Allow,
            format!("AWS-{a}-(?P<role>[A-Za-z0-9_+=,.@-]+)"),
            format!("arn:aws:iam::{a}:role/${{role}}"),
        ));
    }
    for i in 0..200 {
        out.push(spec(
            format!("team {i}"),
            Effect::Allow,
            format!("team-{i}-admins"),
            format!("arn:aws:iam::{}:role/TeamAdmin", account(i)),
        ));
    }
    for i in 0..90 {
        out.push(spec(
            format!("okta {i}"),
            Effect::Allow,
            format!(r"okta{i}#(?P<account>[0-9]{{12}})#(?P<role>\w+)"),
            "arn:aws:iam::${account}:role/${role}".into(),
        ));
    }
    for i in 0..10 {
        out.push(spec(
            format!("deny {i}"),
            Effect::Deny,
            format!("contractors-{i}"),
            format!("arn:aws:iam::{}:role/*", account(i)),
        ));
    }
    out
}

fn groups() -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..300 {
        out.push(format!("AWS-{}-Role{}", account(i * 2), i % 7));
    }
    for i in 0..50 {
        out.push(format!("team-{i}-admins"));
    }
    for i in 0..40 {
        out.push(format!("okta{i}#{}#Dev", account(i)));
    }
    out.push("contractors-3".into());
    while out.len() < 1_000 {
        let i = out.len();
        out.push(format!("dl-engineering-all-staff-{i}"));
    }
    out
}

/// What the broker does when the rules change and nothing is cached (a cold start).
fn compile(specs: &[RuleSpec]) -> RuleSet {
    let (set, broken) = RuleSet::build(1, Partition::Aws, "fedbroker", specs, None);
    assert!(broken.is_empty());
    set
}

fn bench(c: &mut Criterion) {
    let specs = rules();
    let groups = groups();
    let set = compile(&specs);
    let result = set.evaluate(&groups);
    assert_eq!(specs.len(), 1_000);
    assert_eq!(groups.len(), 1_000);
    assert!(
        result.granted.len() > 300,
        "{} granted",
        result.granted.len()
    );
    assert!(!result.denied.is_empty());

    let mut group = c.benchmark_group("rules");
    group.bench_function("evaluate_1000_groups_x_1000_rules", |b| {
        b.iter(|| set.evaluate(std::hint::black_box(&groups)))
    });
    group.sample_size(20);
    // The old set is dropped off the sign-in path (when its last reader lets go of the Arc),
    // so its drop is not part of the measured recompile.
    group.bench_function("compile_1000_rules", |b| {
        b.iter_with_large_drop(|| compile(std::hint::black_box(&specs)))
    });
    // What an admin's edit costs: one rule changed, the other 999 reused from the running set.
    let (running, _) = RuleSet::build(1, Partition::Aws, "fedbroker", &specs, None);
    let mut edited = specs.clone();
    edited[500].role = "arn:aws:iam::123456789012:role/Edited".into();
    group.bench_function("recompile_after_one_edit", |b| {
        b.iter_with_large_drop(|| {
            RuleSet::build(
                2,
                Partition::Aws,
                "fedbroker",
                std::hint::black_box(&edited),
                Some(&running),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
