//! Pieces of the components' pods: environment, volumes, labels and annotations (the last two
//! are the SDK's, `fluid_plugin_api::kit`), and the properties file.

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// An environment map as a container's `env` list (sorted by name).
pub fn env_list(env: Option<&BTreeMap<String, String>>) -> Vec<Value> {
    env.into_iter()
        .flatten()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect()
}

pub use fluid_plugin_api::kit::{merged, volumes_for};

/// Properties as a `.properties` file: sorted, one `key=value` a line, with the characters
/// Java's reader treats specially escaped.
pub fn properties_file(properties: &BTreeMap<String, String>) -> String {
    let escape = |s: &str, key: bool| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '=' | ':' | ' ' | '#' | '!' if key => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        out
    };
    properties
        .iter()
        .map(|(k, v)| format!("{}={}\n", escape(k, true), escape(v, false)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_files_escape_what_java_reads_specially() {
        let p = BTreeMap::from([
            ("a.b".to_owned(), "c:d=e".to_owned()),
            ("k ey".to_owned(), "back\\slash\nline".to_owned()),
        ]);
        assert_eq!(
            properties_file(&p),
            "a.b=c:d=e\nk\\ ey=back\\\\slash\\nline\n"
        );
    }
}
