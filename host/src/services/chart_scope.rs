//! What an engine's chart may create: objects in the runtime's namespace, and cluster-scoped
//! objects of the kinds the engine declared (`PluginInfo::cluster_scoped_kinds`). Helm would
//! otherwise create whatever the chart renders, wherever it says, with the controller's
//! permissions. The rendered chart is checked before anything is applied; the scope of each
//! kind comes from the API server's discovery, passed in by the caller.

use fluid_plugin_api::protocol::GroupKind;
use serde_json::Value;
use std::collections::HashMap;

/// One object of a rendered chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedObject {
    /// `apps/v1`, `v1`, ...
    pub api_version: String,
    /// `StatefulSet`, ...
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when the chart sets one.
    pub namespace: Option<String>,
}

impl RenderedObject {
    /// The `(apiVersion, kind)` discovery resolves.
    pub fn type_key(&self) -> (String, String) {
        (self.api_version.clone(), self.kind.clone())
    }
}

/// The objects of a rendered manifest (YAML documents, as `helm template` prints them); the
/// items of a `*List` are objects of their own, as helm applies them.
pub fn parse_manifest(yaml: &str) -> Result<Vec<RenderedObject>, String> {
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value: Value = serde::Deserialize::deserialize(document)
            .map_err(|e| format!("the rendered chart is not valid YAML: {e}"))?;
        if !value.is_null() {
            collect(&value, &mut objects)?;
        }
    }
    Ok(objects)
}

fn collect(value: &Value, objects: &mut Vec<RenderedObject>) -> Result<(), String> {
    let text = |ptr: &str| {
        value
            .pointer(ptr)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (Some(api_version), Some(kind)) = (text("/apiVersion"), text("/kind")) else {
        return Err(format!(
            "the rendered chart has a document without apiVersion or kind: {}",
            excerpt(value)
        ));
    };
    if let Some(items) = value["items"].as_array().filter(|_| kind.ends_with("List")) {
        return items.iter().try_for_each(|item| collect(item, objects));
    }
    objects.push(RenderedObject {
        api_version,
        kind,
        name: text("/metadata/name").unwrap_or_default(),
        namespace: text("/metadata/namespace").filter(|n| !n.is_empty()),
    });
    Ok(())
}

fn excerpt(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// Whether each `(apiVersion, kind)` is namespaced, or why it could not be resolved.
pub type Scopes = HashMap<(String, String), Result<bool, String>>;

/// Why each object may not be created for a runtime of `namespace` by `engine`, which
/// declared `cluster_kinds`; empty when the chart stays in scope.
pub fn violations(
    objects: &[RenderedObject],
    namespace: &str,
    engine: &str,
    cluster_kinds: &[GroupKind],
    scopes: &Scopes,
) -> Vec<String> {
    objects
        .iter()
        .filter_map(|o| {
            let group_kind = GroupKind::of(&o.api_version, &o.kind);
            let unserved = format!(
                "{} {}: kind {} {} is not served by the API server",
                o.kind, o.name, o.api_version, o.kind
            );
            match scopes.get(&o.type_key()) {
                None => Some(unserved),
                Some(Err(e)) => Some(format!("{unserved} ({e})")),
                Some(Ok(true)) => match &o.namespace {
                    Some(other) if other != namespace => Some(format!(
                        "{} {other}/{}: namespace {other} is not the runtime's namespace \
                         {namespace}",
                        o.kind, o.name
                    )),
                    _ => None,
                },
                Some(Ok(false)) if cluster_kinds.contains(&group_kind) => None,
                Some(Ok(false)) => Some(format!(
                    "{} {}: cluster-scoped, and engine {engine} does not declare \
                     {group_kind} among its cluster-scoped kinds",
                    o.kind, o.name
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = "---
# Source: escape/templates/ok.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: inside
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: explicit
  namespace: team-a
---
# Source: escape/templates/empty.yaml
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: elsewhere
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: escape
rules: []
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: mine}
";

    fn scopes() -> Scopes {
        let mut s = Scopes::new();
        s.insert(("v1".into(), "ConfigMap".into()), Ok(true));
        s.insert(("v1".into(), "Namespace".into()), Ok(false));
        s.insert(
            ("rbac.authorization.k8s.io/v1".into(), "ClusterRole".into()),
            Ok(false),
        );
        s
    }

    #[test]
    fn documents_and_list_items_are_read_and_empty_documents_skipped() {
        let objects = parse_manifest(RENDERED).unwrap();
        let names: Vec<_> = objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["inside", "explicit", "elsewhere", "escape", "mine"]);
        assert_eq!(objects[1].namespace.as_deref(), Some("team-a"));
        assert_eq!(objects[0].namespace, None);
        let err = parse_manifest("metadata: {name: x}\n").unwrap_err();
        assert!(err.contains("without apiVersion or kind"), "{err}");
    }

    #[test]
    fn objects_outside_the_namespace_and_undeclared_cluster_kinds_are_named() {
        let objects = parse_manifest(RENDERED).unwrap();
        assert_eq!(
            violations(&objects, "team-a", "escape", &[], &scopes()),
            [
                "ConfigMap kube-system/elsewhere: namespace kube-system is not the runtime's \
                 namespace team-a",
                "ClusterRole escape: cluster-scoped, and engine escape does not declare \
                 ClusterRole.rbac.authorization.k8s.io among its cluster-scoped kinds",
                "Namespace mine: cluster-scoped, and engine escape does not declare Namespace \
                 among its cluster-scoped kinds",
            ]
        );
        let declared = [
            GroupKind::of("rbac.authorization.k8s.io/v1", "ClusterRole"),
            GroupKind::of("v1", "Namespace"),
        ];
        assert_eq!(
            violations(&objects, "team-a", "escape", &declared, &scopes()).len(),
            1,
            "declared kinds pass; the other namespace does not"
        );
    }

    #[test]
    fn a_kind_the_api_server_does_not_serve_is_refused() {
        let objects =
            parse_manifest("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
                .unwrap();
        let mut scopes = scopes();
        assert_eq!(
            violations(&objects, "ns", "e", &[], &scopes),
            ["Widget w: kind example.com/v1 Widget is not served by the API server"]
        );
        scopes.insert(
            ("example.com/v1".into(), "Widget".into()),
            Err("no such group".into()),
        );
        assert_eq!(
            violations(&objects, "ns", "e", &[], &scopes),
            ["Widget w: kind example.com/v1 Widget is not served by the API server (no such group)"]
        );
    }
}
