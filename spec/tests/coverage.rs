//! The rule → test table (`spec/coverage.md`) and its completeness.
//!
//! Every rule id of the written spec (`**UT-3**`, `**INV-25 Reply.**`) must
//! be cited by at least one test, or be listed with its reason in
//! `spec/uncovered.md`. A test *cites* a rule when its id appears in test
//! code: a file under a `tests/` or `benches/` directory, a `tests.rs`
//! module file, or the part of a source file from its first `#[cfg(test)]`
//! on — or a test function named after it (`fn cnode_2_copy_…`). The table
//! names, for each rule, the test functions (`path::fn`) citing it.
//!
//! The table is generated: this test fails when `spec/coverage.md` is out
//! of date; run it with `UPDATE_COVERAGE=1` to rewrite the file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("spec/ lies in the repository")
        .to_path_buf()
}

/// `PREFIX-n` ids at the start of bold rule headings, in document order.
fn rules(root: &Path) -> Vec<String> {
    let mut files: Vec<_> = fs::read_dir(root.join("spec"))
        .expect("spec/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).expect("read spec");
        for line in text.lines() {
            let Some(rest) = line.trim_start().strip_prefix("**") else {
                continue;
            };
            let id: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if is_id(&id) && !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

fn is_id(s: &str) -> bool {
    let Some((prefix, n)) = s.split_once('-') else {
        return false;
    };
    !prefix.is_empty()
        && prefix.chars().all(|c| c.is_ascii_uppercase())
        && !n.is_empty()
        && n.chars().all(|c| c.is_ascii_digit())
}

/// Every id token in `text` (a token is bounded by non-id characters, so
/// `INV-1` does not match inside `INV-12`).
fn ids_in(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .map(|t| t.trim_matches('-'))
        .filter(|t| is_id(t))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.expect("entry").path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if !name.starts_with('.') && name != "target" {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// rule id → set of `path::fn` test locations citing it.
fn citations(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(root).expect("inside the repo");
        let rel_s = rel.to_string_lossy().replace('\\', "/");
        // This file names ids only as examples.
        if rel_s == "spec/tests/coverage.rs" {
            continue;
        }
        let in_test_dir = rel.components().any(|c| {
            matches!(
                c.as_os_str().to_str(),
                Some("tests" | "benches" | "tests.rs")
            )
        });
        let text = fs::read_to_string(&f).expect("read source");
        let mut in_tests = in_test_dir;
        let mut current_fn = String::from("(module)");
        for line in text.lines() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                in_tests = true;
            }
            if !in_tests {
                continue;
            }
            if let Some(name) = fn_name(line) {
                // A test named after a rule (`fn cnode_2_copy…`) cites it.
                if let Some(id) = id_of_name(&name) {
                    out.entry(id)
                        .or_default()
                        .insert(format!("{rel_s}::{name}"));
                }
                current_fn = name;
            }
            for id in ids_in(line) {
                out.entry(id.to_string())
                    .or_default()
                    .insert(format!("{rel_s}::{current_fn}"));
            }
        }
    }
    out
}

fn fn_name(line: &str) -> Option<String> {
    let t = line.trim_start();
    let t = t.strip_prefix("pub ").unwrap_or(t);
    let rest = t.strip_prefix("fn ")?;
    Some(
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect(),
    )
}

/// The rule id a snake-case name starts with: `cnode_2_copy` → `CNODE-2`.
fn id_of_name(name: &str) -> Option<String> {
    let mut parts = name.split('_');
    let (prefix, n) = (parts.next()?, parts.next()?);
    let id = format!("{}-{n}", prefix.to_ascii_uppercase());
    is_id(&id).then_some(id)
}

/// rule id → reason, from `spec/uncovered.md` lines `- **ID**: reason`.
fn reasons(root: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(root.join("spec/uncovered.md")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix("- **")?;
            let (id, reason) = rest.split_once("**")?;
            let reason = reason.trim_start_matches(':').trim();
            (is_id(id) && !reason.is_empty()).then(|| (id.to_string(), reason.to_string()))
        })
        .collect()
}

fn table(
    rules: &[String],
    cites: &BTreeMap<String, BTreeSet<String>>,
    why: &BTreeMap<String, String>,
) -> String {
    let covered = rules.iter().filter(|r| cites.contains_key(*r)).count();
    let mut s = String::new();
    s += "# Rule → test table\n\n";
    s += "Generated by `spec/tests/coverage.rs` (`UPDATE_COVERAGE=1 cargo test -p spec --test coverage`);\n";
    s += "do not edit. A rule is covered when test code cites its id; the reasons for\n";
    s += "the others are in [uncovered.md](uncovered.md).\n\n";
    s += &format!("{covered} of {} rules are cited by tests.\n\n", rules.len());
    s += "| rule | tests |\n|---|---|\n";
    for r in rules {
        let cell = match (cites.get(r), why.get(r)) {
            (Some(t), _) => t
                .iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", "),
            (None, Some(reason)) => format!("— *{reason}*"),
            (None, None) => "— **no test and no reason**".to_string(),
        };
        s += &format!("| {r} | {cell} |\n");
    }
    s
}

#[test]
fn every_rule_is_cited_by_a_test_or_has_a_stated_reason() {
    let root = repo();
    let rules = rules(&root);
    assert!(rules.len() > 200, "found only {} rules", rules.len());
    let cites = citations(&root);
    let why = reasons(&root);
    let missing: Vec<_> = rules
        .iter()
        .filter(|r| !cites.contains_key(*r) && !why.contains_key(*r))
        .collect();
    let stale: Vec<_> = why.keys().filter(|r| cites.contains_key(*r)).collect();
    let text = table(&rules, &cites, &why);
    let path = root.join("spec/coverage.md");
    if std::env::var_os("UPDATE_COVERAGE").is_some() {
        fs::write(&path, &text).expect("write spec/coverage.md");
    }
    assert!(
        missing.is_empty(),
        "rules with neither a test nor a reason in spec/uncovered.md: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rules listed in spec/uncovered.md that tests now cite (remove them): {stale:?}"
    );
    let on_disk = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "spec/coverage.md is out of date: run UPDATE_COVERAGE=1 cargo test -p spec --test coverage"
    );
}

#[test]
fn ids_are_whole_tokens() {
    let found: Vec<_> = ids_in("see INV-12, not INV-1x; (UT-3) spec: CNODE-2.").collect();
    assert_eq!(found, ["INV-12", "UT-3", "CNODE-2"]);
    assert!(!is_id("INV-") && !is_id("-3") && !is_id("inv-3"));
    assert_eq!(
        id_of_name("cnode_2_copy_checks").as_deref(),
        Some("CNODE-2")
    );
    assert_eq!(id_of_name("inv_37"), Some("INV-37".to_string()));
    assert_eq!(id_of_name("boot"), None);
    assert_eq!(id_of_name("check_all_x"), None);
}
