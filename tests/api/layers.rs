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
    ("config", 0),
    // http: handlers, extractors, error pages
    ("routes", 1),
    ("middleware", 1),
    ("error", 1),
    // services: use cases
    ("signin", 2),
    ("credentials", 2),
    ("regions", 2),
    ("sts", 2),
    ("roles", 2),
    ("sessions", 2),
    ("ratelimit", 2),
    ("audit", 2),
    ("access", 2),
    ("api_tokens", 2),
    ("metrics", 2),
    ("token_recheck", 2),
    // sources and protocols
    ("directory", 3),
    ("saml", 3),
    ("mapping", 3),
    // storage
    ("store", 4),
    // domain: pure types, and the clock
    ("domain", 5),
    ("clock", 5),
];

/// Upward edges `(importer, imported)` that exist today. Shrink this list; never grow it.
const KNOWN: &[(&str, &str)] = &[
    ("access", "startup"),
    ("credentials", "config"),
    ("credentials", "startup"),
    ("directory", "config"),
    ("middleware", "startup"),
    ("ratelimit", "config"),
    ("regions", "config"),
    ("routes", "config"),
    ("routes", "startup"),
    ("saml", "config"),
    ("signin", "startup"),
    ("store", "config"),
    ("store", "mapping"),
    ("sts", "config"),
    ("token_recheck", "config"),
];

/// Upward edges in one file's text: `(importer, imported)` for every `crate::NAME` of a higher
/// layer, unit tests left out. An unknown module name is reported as `("?", NAME)`.
fn upward_edges(importer: &str, text: &str) -> BTreeSet<(String, String)> {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut edges = BTreeSet::new();
    let Some(&own) = layers.get(importer) else {
        edges.insert(("?".to_string(), importer.to_string()));
        return edges;
    };
    for (i, _) in code.match_indices("crate::") {
        let name: String = code[i + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
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
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut found = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a name")
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("source is text");
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

#[test]
fn a_forbidden_import_is_caught() {
    let edges = upward_edges(
        "store",
        "use crate::routes::Nav;\nuse crate::domain::aws::RoleArn;\n",
    );
    assert_eq!(
        edges.into_iter().collect::<Vec<_>>(),
        vec![("store".to_string(), "routes".to_string())]
    );
    let in_tests = upward_edges(
        "domain",
        "#[cfg(test)]\nmod tests { use crate::store::Store; }\n",
    );
    assert!(in_tests.is_empty(), "unit tests may use anything");
    let unknown = upward_edges("store", "crate::brand_new::thing()");
    assert!(unknown.contains(&("?".to_string(), "brand_new".to_string())));
}
