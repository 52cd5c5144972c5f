//! Pieces of the components' pods: environment, volumes, labels and annotations.

use k8s_openapi::api::core::v1::{Volume, VolumeMount};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// An environment map as a container's `env` list (sorted by name).
pub fn env_list(env: Option<&BTreeMap<String, String>>) -> Vec<Value> {
    env.into_iter()
        .flatten()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect()
}

/// The runtime's `spec.volumes` a component mounts (by its `volumeMounts`), or the index and
/// name of the first mount whose volume is missing.
pub fn volumes_for(
    volumes: &[Volume],
    mounts: &[VolumeMount],
) -> Result<Vec<Value>, (usize, String)> {
    let mut out: Vec<Value> = vec![];
    for (i, m) in mounts.iter().enumerate() {
        let v = volumes
            .iter()
            .find(|v| v.name == m.name)
            .ok_or_else(|| (i, m.name.clone()))?;
        if !out.iter().any(|o| o["name"] == m.name.as_str()) {
            out.push(serde_json::to_value(v).unwrap_or_default());
        }
    }
    Ok(out)
}

/// Labels or annotations: the runtime's, overridden by the component's.
pub fn merged(
    common: Option<&BTreeMap<String, String>>,
    component: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut m = common.cloned().unwrap_or_default();
    m.extend(component.cloned().unwrap_or_default());
    m
}

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

    #[test]
    fn only_mounted_volumes_are_given_and_missing_ones_are_named() {
        let volumes: Vec<Volume> = serde_json::from_value(
            json!([{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}]),
        )
        .unwrap();
        let mounts: Vec<VolumeMount> = serde_json::from_value(
            json!([{"name": "b", "mountPath": "/b"}, {"name": "c", "mountPath": "/c"}]),
        )
        .unwrap();
        assert_eq!(
            volumes_for(&volumes, &mounts[..1]).unwrap(),
            [json!({"name": "b", "emptyDir": {}})]
        );
        assert_eq!(volumes_for(&volumes, &mounts).unwrap_err(), (1, "c".into()));
    }
}
