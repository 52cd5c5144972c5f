//! Status writes that satisfy the CRD: Fluid's schemas mark many status fields required
//! (`RuntimeStatus.valueFile`, the phases and counts; `Dataset.status.conditions`), so the
//! first write of a status must carry all of them. The zero values come from the CRD itself,
//! so this works for any engine's kind.

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// What a kind's CRD says about its `.status`: the zero values of required fields and the
/// fields it may hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusSchema {
    /// The zero value of each required field.
    pub required: Value,
    /// The fields it may hold (`None`: any).
    pub fields: Option<BTreeSet<String>>,
}

impl StatusSchema {
    /// Read from a CRD (as JSON).
    pub fn of(crd: &Value) -> StatusSchema {
        StatusSchema {
            required: required_status_defaults(crd),
            fields: status_fields(crd),
        }
    }

    /// Whether a status may hold `field`.
    pub fn allows(&self, field: &str) -> bool {
        self.fields.as_ref().is_none_or(|f| f.contains(field))
    }
}

/// The zero value of every required field of `.status` in the CRD's storage version.
pub fn required_status_defaults(crd: &Value) -> Value {
    let versions = crd["spec"]["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let version = versions
        .iter()
        .find(|v| v["storage"] == true)
        .or_else(|| versions.first())
        .cloned()
        .unwrap_or_default();
    let status = &version["schema"]["openAPIV3Schema"]["properties"]["status"];
    let mut defaults = Map::new();
    for key in status["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let zero = match status["properties"][key]["type"].as_str() {
            Some("integer") | Some("number") => json!(0),
            Some("boolean") => json!(false),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => json!(""),
        };
        defaults.insert(key.to_owned(), zero);
    }
    Value::Object(defaults)
}

/// The fields `.status` may hold in the CRD's storage version; `None` when it keeps unknown
/// fields (anything may be written). A field the schema lacks would be pruned by the API
/// server, so writing it would change nothing, forever.
pub fn status_fields(crd: &Value) -> Option<BTreeSet<String>> {
    let versions = crd["spec"]["versions"].as_array()?;
    let version = versions
        .iter()
        .find(|v| v["storage"] == true)
        .or_else(|| versions.first())?;
    let root = &version["schema"]["openAPIV3Schema"];
    let status = &root["properties"]["status"];
    let keeps_unknown = |s: &Value| s["x-kubernetes-preserve-unknown-fields"] == true;
    if keeps_unknown(status) || (status.is_null() && keeps_unknown(root)) {
        return None;
    }
    Some(
        status["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default(),
    )
}

/// Adds to `patch` every required field that neither `current` (the object's status now) nor
/// the patch has.
pub fn complete(patch: &mut Value, current: &Value, defaults: &Value) {
    let (Some(patch), Some(defaults)) = (patch.as_object_mut(), defaults.as_object()) else {
        return;
    };
    for (key, zero) in defaults {
        let present = current.get(key).is_some_and(|v| !v.is_null());
        let patched = patch.get(key).is_some_and(|v| !v.is_null());
        if !present && !patched {
            patch.insert(key.clone(), zero.clone());
        } else if patch.get(key).is_some_and(Value::is_null) {
            // A required field cannot be removed: reset it instead.
            patch.insert(key.clone(), zero.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_from_the_schema() {
        let crd = json!({"spec": {"versions": [{"name": "v1alpha1", "storage": true, "schema": {"openAPIV3Schema": {
            "properties": {"status": {"properties": {"valueFile": {}, "selector": {}}}}}}}]}});
        let fields = status_fields(&crd).unwrap();
        assert!(fields.contains("selector") && fields.len() == 2);
        let open = json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
            "properties": {"status": {"x-kubernetes-preserve-unknown-fields": true}}}}}]}});
        assert_eq!(status_fields(&open), None);
        let all_open = json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
        assert_eq!(status_fields(&all_open), None);
    }

    #[test]
    fn required_fields_get_zero_values_once() {
        let crd = json!({"spec": {"versions": [{"name": "v1alpha1", "storage": true, "schema": {"openAPIV3Schema": {
            "properties": {"status": {"required": ["valueFile", "workerNumberReady", "conditions"],
                "properties": {"valueFile": {"type": "string"}, "workerNumberReady": {"type": "integer"},
                    "conditions": {"type": "array"}}}}}}}]}});
        let defaults = required_status_defaults(&crd);
        assert_eq!(
            defaults,
            json!({"valueFile": "", "workerNumberReady": 0, "conditions": []})
        );

        let mut patch = json!({"workerNumberReady": 2});
        complete(&mut patch, &Value::Null, &defaults);
        assert_eq!(
            patch,
            json!({"valueFile": "", "workerNumberReady": 2, "conditions": []})
        );

        let mut patch = json!({"conditions": null});
        complete(
            &mut patch,
            &json!({"valueFile": "v", "workerNumberReady": 1, "conditions": [1]}),
            &defaults,
        );
        assert_eq!(patch, json!({"conditions": []}));
    }
}
