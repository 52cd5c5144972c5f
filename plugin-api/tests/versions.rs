//! The version table vendors pin their dependencies by (docs/plugin-guide.md, "Versions")
//! says what this SDK is built with: the row of this crate's version names the versions in
//! fluid-rs's Cargo.lock, and the template pins the same majors.

use std::collections::BTreeMap;
use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every version of each package in a Cargo.lock.
fn locked(lock: &str) -> BTreeMap<String, Vec<String>> {
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for block in lock.split("[[package]]") {
        let field = |key: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        if let (Some(name), Some(version)) = (field("name"), field("version")) {
            versions.entry(name).or_default().push(version);
        }
    }
    versions
}

/// The cells of the table row that starts with `| <first> |`.
fn row(doc: &str, first: &str) -> Vec<String> {
    let line = doc
        .lines()
        .find(|l| l.starts_with(&format!("| {first} |")))
        .unwrap_or_else(|| panic!("docs/plugin-guide.md has no version row for {first}"));
    line.trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_owned())
        .collect()
}

#[test]
fn the_version_table_matches_what_the_sdk_is_built_with() {
    let doc = read("docs/plugin-guide.md");
    let lock = locked(&read("Cargo.lock"));
    let cells = row(&doc, env!("CARGO_PKG_VERSION"));
    let protocol = format!(
        "{}.{}",
        fluid_plugin_api::protocol::PROTOCOL_MAJOR,
        fluid_plugin_api::protocol::PROTOCOL_MINOR
    );
    assert_eq!(cells[1], protocol, "protocol column");
    for (column, package) in [
        (2, "kube"),
        (3, "k8s-openapi"),
        (4, "schemars"),
        (5, "abi_stable"),
    ] {
        let documented = cells[column].split_whitespace().next().unwrap_or_default();
        assert_eq!(
            lock.get(package).map(Vec::as_slice),
            Some(&[documented.to_owned()][..]),
            "{package}: the guide says {documented}, Cargo.lock has {:?}",
            lock.get(package)
        );
    }
}

#[test]
fn the_template_pins_the_majors_of_the_table() {
    let manifest = read("templates/engine/Cargo.toml");
    let lock = locked(&read("Cargo.lock"));
    for (package, wanted) in [("kube", "5"), ("k8s-openapi", "0.29"), ("schemars", "1")] {
        let line = manifest
            .lines()
            .find(|l| l.starts_with(&format!("{package} =")))
            .unwrap_or_else(|| panic!("the template does not depend on {package}"));
        assert!(
            line.contains(&format!("\"{wanted}\"")),
            "the template pins {package} as {line}, not {wanted}"
        );
        assert!(
            lock[package]
                .iter()
                .all(|v| v.starts_with(&format!("{wanted}."))),
            "Cargo.lock has {package} {:?}, the template {wanted}",
            lock[package]
        );
    }
}
