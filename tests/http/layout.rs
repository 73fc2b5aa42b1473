//! The import rules of `src/` (docs/architecture.md): each top-level module imports only the
//! modules it is allowed to, so imports point down and no two modules import each other.
//! Read from the sources, so `cargo test layout` checks the house after every change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level modules each top-level module may import (lowest first). The binary
/// (`main.rs`, `cli.rs`, `snapshot.rs`) and `lib.rs` sit on top and may import anything.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("clock", &["model"]),
    ("render", &["model"]),
    ("auth", &["model"]),
    ("store", &["model"]),
    ("fixtures", &["model", "store"]),
    ("app", &["model", "clock", "render", "auth", "store"]),
    (
        "glance",
        &[
            "model", "clock", "render", "auth", "store", "fixtures", "app",
        ],
    ),
    (
        "compute",
        &[
            "model", "clock", "render", "auth", "store", "fixtures", "app", "glance",
        ],
    ),
    (
        "control",
        &[
            "model", "clock", "render", "auth", "store", "fixtures", "app",
        ],
    ),
    (
        "edge",
        &[
            "model", "clock", "render", "auth", "store", "fixtures", "app", "glance", "compute",
            "control",
        ],
    ),
    (
        "embed",
        &[
            "model", "clock", "render", "auth", "store", "fixtures", "app", "glance", "compute",
            "control", "edge",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::<name>` references in code (comments skipped), grouped `use crate::{a, b::c}`
/// included.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                refs.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            refs.insert(name);
        }
    }
    refs
}

/// The actual graph: top-level module -> top-level modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if ["lib", "main", "cli", "snapshot"].contains(&top.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let entry = g.entry(top.clone()).or_default();
        for r in crate_refs(&text) {
            if r != top && !r.is_empty() && r.chars().next().is_some_and(|c| c.is_lowercase()) {
                entry.insert(r);
            }
        }
    }
    g
}

// Rule: every top-level module of src/ is listed in the allowed graph, and imports only what
// that graph allows (so imports point down, glance never imports compute or control, nothing
// below edge imports edge).
#[test]
fn layout_imports_point_down_only() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, uses) in graph() {
        let Some(ok) = allowed.get(module.as_str()) else {
            wrong.push(format!(
                "{module}: not in ALLOWED (add it to the graph and the docs)"
            ));
            continue;
        };
        for u in uses {
            if allowed.contains_key(u.as_str()) && !ok.contains(&u.as_str()) {
                wrong.push(format!("{module} imports {u}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layout: {wrong:#?}");
}

// Rule: the allowed graph itself has no circle (each module may import only modules listed
// before it), so following the rules can never tie two modules together.
#[test]
fn layout_allowed_graph_is_acyclic() {
    for (i, (module, uses)) in ALLOWED.iter().enumerate() {
        let below: Vec<&str> = ALLOWED[..i].iter().map(|(m, _)| *m).collect();
        for u in *uses {
            assert!(
                below.contains(u),
                "{module} may import {u}, which is not below it"
            );
        }
    }
}

// Rule: the reader of the references sees real imports (a check that cannot fail is a
// defect): the known edges of the house are found.
#[test]
fn layout_reader_finds_known_imports() {
    let g = graph();
    assert!(g["edge"].contains("glance"), "{g:?}");
    assert!(g["compute"].contains("glance"), "{g:?}");
    assert!(g["app"].contains("store"), "{g:?}");
    let refs = crate_refs("use crate::{model::Image, store::Store};\n// crate::edge\n");
    assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["model", "store"]);
}

/// Folders whose files may still name each other both ways (none now: `edge/` was untangled
/// when the accept loop, not the service, started building the fast path).
const FOLDER_CIRCLES_ALLOWED: &[&str] = &[];

/// Sibling files a file of `folder` names (`super::x`, `super::{x, ..}`,
/// `crate::<folder>::x`), comments and `#[cfg(test)]` code skipped.
fn sibling_refs(text: &str, folder: &str, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.split("#[cfg(test)]").next().unwrap_or("");
    let mut found = BTreeSet::new();
    for prefix in ["super::".to_string(), format!("crate::{folder}::")] {
        let mut rest = code;
        while let Some(i) = rest.find(&prefix) {
            rest = &rest[i + prefix.len()..];
            let names: Vec<String> = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(group.len())]
                    .split(',')
                    .map(|s| s.trim().split("::").next().unwrap_or("").to_string())
                    .collect(),
                None => vec![rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()],
            };
            found.extend(names.into_iter().filter(|n| siblings.contains(n)));
        }
    }
    found
}

// Rule: inside each folder of src/ (exceptions in FOLDER_CIRCLES_ALLOWED: none) no two files
// import each other, directly or round a longer circle.
#[test]
fn layout_no_circles_inside_folders() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
                dirs.push(p);
            }
        }
    }
    let mut circles = Vec::new();
    for dir in dirs {
        let folder = dir
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('/', "::");
        if FOLDER_CIRCLES_ALLOWED.contains(&folder.as_str()) {
            continue;
        }
        let files: BTreeMap<String, PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
            .filter(|(n, _)| n != "mod")
            .collect();
        let names: BTreeSet<String> = files.keys().cloned().collect();
        let g: BTreeMap<&String, BTreeSet<String>> = files
            .iter()
            .map(|(n, p)| {
                let text = std::fs::read_to_string(p).unwrap();
                let mut refs = sibling_refs(&text, &folder, &names);
                refs.remove(n);
                (n, refs)
            })
            .collect();
        // A circle exists when a file reaches itself.
        for start in g.keys() {
            let mut seen = BTreeSet::new();
            let mut todo: Vec<&String> = g[start].iter().collect();
            while let Some(n) = todo.pop() {
                if n == *start {
                    circles.push(format!("{folder}: {start} reaches itself"));
                    break;
                }
                if seen.insert(n.clone()) {
                    if let Some(next) = g.get(n) {
                        todo.extend(next.iter());
                    }
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles inside folders: {circles:#?}"
    );
}

// Rule: the folder reader sees real sibling imports (it must be able to fail).
#[test]
fn layout_sibling_reader_finds_imports() {
    let names: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let text = "use super::a::X;\nuse super::{b, c::Y};\n// super::zzz\n";
    let refs = sibling_refs(text, "f", &names);
    assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    let refs = sibling_refs("fn f() { crate::f::c::go() }", "f", &names);
    assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["c"]);
}
