//! Pod resources, environment, volumes and metadata of the worker and fuse components.

use super::tieredstore::quantity_bytes;
use k8s_openapi::api::core::v1::{ResourceRequirements, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The component's resources; a memory cache tier of `quota` bytes raises the memory request
/// (and a smaller limit) to the quota, as Fluid does for the fuse (and, in the enterprise
/// edition, the worker), since the cache lives in the pod's memory.
pub fn resources(given: Option<&ResourceRequirements>, memory_cache: Option<u64>) -> Value {
    let mut r = given.cloned().unwrap_or_default();
    if let Some(quota) = memory_cache {
        let q = Quantity(quota.to_string());
        let below = |m: Option<&BTreeMap<String, Quantity>>| {
            m.and_then(|m| m.get("memory"))
                .and_then(|v| quantity_bytes(&v.0))
                .is_none_or(|v| v < quota)
        };
        if below(r.requests.as_ref()) {
            r.requests
                .get_or_insert_with(BTreeMap::new)
                .insert("memory".into(), q.clone());
        }
        if r.limits.as_ref().is_some_and(|l| l.contains_key("memory")) && below(r.limits.as_ref()) {
            r.limits
                .get_or_insert_with(BTreeMap::new)
                .insert("memory".into(), q);
        }
    }
    serde_json::to_value(r).unwrap_or_else(|_| json!({}))
}

/// The runtime's `spec.volumes` a component mounts (by its `volumeMounts`), or the name of
/// the first mount whose volume is missing.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_tier_raises_the_memory_request_and_a_smaller_limit() {
        let given: ResourceRequirements = serde_json::from_value(json!({
            "requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}))
        .unwrap();
        let r = resources(Some(&given), Some(4 << 30));
        assert_eq!(r["requests"]["memory"], "4294967296");
        assert_eq!(r["requests"]["cpu"], "1");
        assert_eq!(r["limits"]["memory"], "4294967296");
        let untouched = resources(Some(&given), None);
        assert_eq!(untouched["requests"]["memory"], "1Gi");
        let bigger = resources(Some(&given), Some(1 << 20));
        assert_eq!(bigger["requests"]["memory"], "1Gi");
    }

    #[test]
    fn only_mounted_volumes_are_given_and_missing_ones_are_named() {
        let volumes: Vec<Volume> = serde_json::from_value(json!([
            {"name": "a", "emptyDir": {}}, {"name": "b", "hostPath": {"path": "/b"}}]))
        .unwrap();
        let mounts: Vec<VolumeMount> =
            serde_json::from_value(json!([{"name": "b", "mountPath": "/b"}])).unwrap();
        let v = volumes_for(&volumes, &mounts).unwrap();
        assert_eq!(v, [json!({"name": "b", "hostPath": {"path": "/b"}})]);
        let missing: Vec<VolumeMount> = serde_json::from_value(
            json!([{"name": "b", "mountPath": "/b"}, {"name": "c", "mountPath": "/c"}]),
        )
        .unwrap();
        assert_eq!(
            volumes_for(&volumes, &missing).unwrap_err(),
            (1, "c".into())
        );
    }

    #[test]
    fn component_metadata_overrides_the_runtimes() {
        let common = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "1".to_owned()),
        ]);
        let own = BTreeMap::from([("b".to_owned(), "2".to_owned())]);
        let m = merged(Some(&common), Some(&own));
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "2");
    }
}
