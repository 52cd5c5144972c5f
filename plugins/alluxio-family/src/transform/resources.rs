//! The workers' and fuse's resources with a memory tier (Fluid's `transform_resources.go`): the
//! tier lives in the pods' memory, so the workers request at least its size, and a fuse with a
//! memory limit gets the tier's size on top (short-circuit reads map the workers' blocks).

use super::Problem;
use fluid_plugin_api::types::size::quantity_bytes;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{json, Value};

fn memory(r: Option<&std::collections::BTreeMap<String, Quantity>>) -> Option<u64> {
    r.and_then(|m| m.get("memory"))
        .and_then(|q| quantity_bytes(&q.0))
}

/// The workers' resources: a memory request below the memory tiers' size is raised to it; a
/// memory limit below it is an error (the pod could never hold its cache).
pub fn worker(given: Option<&ResourceRequirements>, memory_tier: u64) -> Result<Value, Problem> {
    let mut r = given.cloned().unwrap_or_default();
    if memory_tier > 0 {
        if let Some(limit) = memory(r.limits.as_ref()).filter(|l| *l > 0 && *l < memory_tier) {
            return Err(Problem::new(
                "spec.worker.resources.limits.memory",
                format!("{limit} bytes is less than the memory tier's {memory_tier} bytes"),
            ));
        }
        if memory(r.requests.as_ref()).is_none_or(|m| m < memory_tier) {
            r.requests
                .get_or_insert_with(Default::default)
                .insert("memory".into(), Quantity(memory_tier.to_string()));
        }
    }
    Ok(serde_json::to_value(r).unwrap_or_else(|_| json!({})))
}

/// The fuse's resources: a memory limit, when given, grows by the memory tiers' size.
pub fn fuse(given: Option<&ResourceRequirements>, memory_tier: u64) -> Value {
    let mut r = given.cloned().unwrap_or_default();
    if let Some(limit) = memory(r.limits.as_ref()).filter(|l| *l > 0 && memory_tier > 0) {
        r.limits
            .get_or_insert_with(Default::default)
            .insert("memory".into(), Quantity((limit + memory_tier).to_string()));
    }
    serde_json::to_value(r).unwrap_or_else(|_| json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(v: Value) -> ResourceRequirements {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn workers_request_at_least_the_memory_tier_and_refuse_a_smaller_limit() {
        let r = worker(
            Some(&given(json!({"requests": {"cpu": "1", "memory": "1Gi"}}))),
            2 << 30,
        )
        .unwrap();
        assert_eq!(r["requests"]["memory"], "2147483648");
        assert_eq!(r["requests"]["cpu"], "1");
        let r = worker(
            Some(&given(json!({"requests": {"memory": "4Gi"}}))),
            2 << 30,
        )
        .unwrap();
        assert_eq!(r["requests"]["memory"], "4Gi");
        assert_eq!(worker(None, 0).unwrap(), json!({}));
        let e = worker(Some(&given(json!({"limits": {"memory": "1Gi"}}))), 2 << 30).unwrap_err();
        assert_eq!(e.field, "spec.worker.resources.limits.memory");
    }

    #[test]
    fn a_fuse_memory_limit_grows_by_the_memory_tier() {
        let r = fuse(Some(&given(json!({"limits": {"memory": "1Gi"}}))), 1 << 30);
        assert_eq!(r["limits"]["memory"], "2147483648");
        let r = fuse(
            Some(&given(json!({"requests": {"memory": "1Gi"}}))),
            1 << 30,
        );
        assert_eq!(r, json!({"requests": {"memory": "1Gi"}}));
    }
}
