//! Conditions in Fluid's shape, on runtimes (`lastProbeTime`) and Datasets (`lastUpdateTime`).

use serde_json::{json, Value};

/// Condition types fluid-rs adds on runtimes, beside Fluid's own (`MasterInitialized`, ...):
/// why a runtime is not progressing, in words a user can act on.
pub mod types {
    /// Whether the runtime is bound to its Dataset (False: no Dataset, or bound elsewhere).
    pub const DATASET_BOUND: &str = "DatasetBound";
    /// Whether the spec passed the engine's validation (False names the fields).
    pub const VALIDATED: &str = "Validated";
    /// Whether the last reconcile ran without a hook or API failure.
    pub const RECONCILED: &str = "Reconciled";
}

/// Which timestamp field the condition list uses besides `lastTransitionTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Runtime conditions: `lastProbeTime`.
    Runtime,
    /// Dataset conditions: `lastUpdateTime`.
    Dataset,
}

/// Sets a condition in `conditions` (a JSON array). Returns whether anything but timestamps
/// changed, so callers skip writes that would only move clocks.
pub fn set(
    conditions: &mut Vec<Value>,
    flavor: Flavor,
    kind: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: &str,
) -> bool {
    let status = if status { "True" } else { "False" };
    let probe = match flavor {
        Flavor::Runtime => "lastProbeTime",
        Flavor::Dataset => "lastUpdateTime",
    };
    if let Some(c) = conditions.iter_mut().find(|c| c["type"] == kind) {
        let same = c["status"] == status && c["reason"] == reason && c["message"] == message;
        if same {
            return false;
        }
        if c["status"] != status {
            c["lastTransitionTime"] = json!(now);
        }
        c["status"] = json!(status);
        c["reason"] = json!(reason);
        c["message"] = json!(message);
        c[probe] = json!(now);
        return true;
    }
    conditions.push(json!({
        "type": kind, "status": status, "reason": reason, "message": message,
        probe: now, "lastTransitionTime": now,
    }));
    true
}

/// The condition of a type, if present.
pub fn find<'a>(conditions: &'a [Value], kind: &str) -> Option<&'a Value> {
    conditions.iter().find(|c| c["type"] == kind)
}

/// Now, as Kubernetes writes times.
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_the_same_condition_twice_changes_nothing() {
        let mut c = vec![];
        assert!(set(
            &mut c,
            Flavor::Runtime,
            "Validated",
            false,
            "InvalidSpec",
            "spec.replicas: must not be negative",
            "t1"
        ));
        assert!(!set(
            &mut c,
            Flavor::Runtime,
            "Validated",
            false,
            "InvalidSpec",
            "spec.replicas: must not be negative",
            "t2"
        ));
        assert_eq!(c[0]["lastProbeTime"], "t1");
        assert!(set(
            &mut c,
            Flavor::Runtime,
            "Validated",
            true,
            "Valid",
            "",
            "t3"
        ));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["lastTransitionTime"], "t3");
        assert_eq!(c[0]["status"], "True");
    }

    #[test]
    fn dataset_conditions_use_last_update_time() {
        let mut c = vec![];
        set(
            &mut c,
            Flavor::Dataset,
            "Ready",
            true,
            "DatasetReady",
            "The ddc runtime is ready.",
            "t",
        );
        assert_eq!(c[0]["lastUpdateTime"], "t");
        assert!(c[0].get("lastProbeTime").is_none());
    }
}
