//! The module layers: an import goes down, never up. This reads `src/` and fails when a module
//! of a lower layer names one of a higher layer (`crate::NAME`), outside its unit tests.
//!
//! `KNOWN` lists the upward edges the code still has; each is to be removed, never added to.
//! A new module must be given a layer in `LAYERS`, or the test fails and says so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules by layer, top (0) to bottom.
const LAYERS: &[(&str, u8)] = &[
    // entry: wiring, configuration, command line
    ("main", 0),
    ("cli", 0),
    ("startup", 0),
    ("telemetry", 0),
    ("tls", 0),
    ("config", 0),
    // http: handlers, extractors, middleware, error pages, the shared state
    ("http", 1),
    // services: use cases
    ("aws", 2),
    ("auth", 2),
    ("rules", 2),
    ("audit", 2),
    ("metrics", 2),
    // identity sources and the SAML protocol
    ("directory", 3),
    ("saml", 3),
    // storage
    ("store", 4),
    // pure: domain types, the mapping-rule language, the clock
    ("domain", 5),
    ("mapping", 5),
    ("clock", 5),
];

/// Upward edges `(importer, imported)` that exist today. Shrink this list; never grow it.
///
/// `http → config` stays on purpose: the HTTP state carries the one `Settings` the entry layer
/// loaded (trusted proxies, the admin group, the contact shown on pages), and the HTTP layer
/// sits directly below it; no service, source, store or domain module sees `Settings`.
const KNOWN: &[(&str, &str)] = &[("http", "config")];

/// Upward edges in one file's text: `(importer, imported)` for every `crate::NAME` of a higher
/// layer, unit tests left out. An unknown module name is reported as `("?", NAME)`.
fn upward_edges(importer: &str, text: &str) -> BTreeSet<(String, String)> {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut edges = BTreeSet::new();
    let Some(&own) = layers.get(importer) else {
        edges.insert(("?".to_string(), importer.to_string()));
        return edges;
    };
    for name in imports(text) {
        match layers.get(name.as_str()) {
            Some(&layer) if layer < own => {
                edges.insert((importer.to_string(), name));
            }
            Some(_) => {}
            None => {
                edges.insert(("?".to_string(), name));
            }
        }
    }
    edges
}

/// `(top-level module, source text)` of every file under `src/` but `lib.rs`.
fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .iter()
        .map(|file| {
            let top = file
                .strip_prefix(&src)
                .expect("under src")
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .expect("a name")
                .trim_end_matches(".rs")
                .to_string();
            (top, std::fs::read_to_string(file).expect("source is text"))
        })
        .filter(|(top, _)| top != "lib")
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_higher_layer_beyond_the_known_edges() {
    let mut found = BTreeSet::new();
    for (top, text) in sources() {
        found.extend(upward_edges(&top, &text));
    }
    let known: BTreeSet<(String, String)> = KNOWN
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    assert!(
        new.is_empty(),
        "imports from a higher layer (or modules without a layer, shown as `?`): {new:?}. \
         Move the code to the layer it belongs to, or give a new module its layer in LAYERS."
    );
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(
        gone.is_empty(),
        "these known edges are gone, remove them from KNOWN so they cannot come back: {gone:?}"
    );
}

/// Every `crate::NAME` a file names outside its unit tests.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    code.match_indices("crate::")
        .map(|(i, _)| {
            code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The top-level modules that can reach themselves again through imports.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = graph
            .get(from)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        while let Some(next) = todo.pop() {
            if seen.insert(next.to_string()) {
                todo.extend(graph.get(next).into_iter().flatten().map(String::as_str));
            }
        }
        seen
    };
    graph
        .keys()
        .filter(|m| reaches(m).contains(m.as_str()))
        .cloned()
        .collect()
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (top, text) in sources() {
        if top == "main" {
            continue;
        }
        let edges = graph.entry(top.clone()).or_default();
        // The known upward edges are reported by the layer test; leave them out here so this
        // test speaks of cycles among the modules' downward and sideways imports.
        edges.extend(
            imports(&text)
                .into_iter()
                .filter(|name| *name != top && !KNOWN.contains(&(top.as_str(), name.as_str()))),
        );
    }
    let in_cycle = cycles(&graph);
    assert!(
        in_cycle.is_empty(),
        "these modules import each other in a circle: {in_cycle:?}; the graph: {graph:?}"
    );
}

#[test]
fn a_cycle_is_caught() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("aws", vec!["auth", "store"]),
        ("auth", vec!["aws"]),
        ("store", vec![]),
    ]
    .into_iter()
    .map(|(m, to)| (m.to_string(), to.into_iter().map(str::to_string).collect()))
    .collect();
    assert_eq!(cycles(&graph), vec!["auth".to_string(), "aws".to_string()]);
}

#[test]
fn a_forbidden_import_is_caught() {
    let edges = upward_edges(
        "store",
        "use crate::http::routes::Nav;\nuse crate::domain::aws::RoleArn;\n",
    );
    assert_eq!(
        edges.into_iter().collect::<Vec<_>>(),
        vec![("store".to_string(), "http".to_string())]
    );
    let in_tests = upward_edges(
        "domain",
        "#[cfg(test)]\nmod tests { use crate::store::Store; }\n",
    );
    assert!(in_tests.is_empty(), "unit tests may use anything");
    let unknown = upward_edges("store", "crate::brand_new::thing()");
    assert!(unknown.contains(&("?".to_string(), "brand_new".to_string())));
}

/// The README's "How the code is laid out" names every top-level module of `src/`, and every
/// path it names exists, so the map people read is the tree they open.
#[test]
fn the_readme_layout_matches_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let section = readme
        .split("## How the code is laid out")
        .nth(1)
        .expect("a layout section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let named: BTreeSet<String> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| layer"))
        .filter_map(|l| l.split('|').nth(2).map(str::to_string))
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(|p| p.trim_end_matches('/').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for path in &named {
        assert!(
            root.join("src").join(path).exists(),
            "the README names `src/{path}`, which does not exist"
        );
    }
    for entry in std::fs::read_dir(root.join("src")).expect("src") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("UTF-8");
        if name == "lib.rs" {
            continue;
        }
        assert!(
            named
                .iter()
                .any(|n| n == &name || n.starts_with(&format!("{name}/"))),
            "src/{name} is missing from the README's \"How the code is laid out\""
        );
    }
}

/// `unsafe` is denied crate-wide; the one exception is the allocator tuning in `main.rs`, and
/// it must stay the only one.
#[test]
fn unsafe_code_is_allowed_in_main_only() {
    let mut found = Vec::new();
    for (top, text) in sources() {
        let allows = text.matches("allow(unsafe_code)").count();
        let blocks = text.matches("unsafe {").count();
        if top == "main" {
            assert_eq!(
                (allows, blocks),
                (1, 1),
                "main.rs: one allowed unsafe block"
            );
        } else if allows + blocks > 0 {
            found.push(top);
        }
    }
    assert!(found.is_empty(), "unsafe outside main.rs: {found:?}");
}
