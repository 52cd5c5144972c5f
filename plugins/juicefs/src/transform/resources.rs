//! Pod resources, environment, volumes and metadata of the worker and fuse components.

use super::tieredstore::quantity_bytes;
use k8s_openapi::api::core::v1::ResourceRequirements;
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

pub use fluid_plugin_api::kit::{merged, volumes_for};

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
}
