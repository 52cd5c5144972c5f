//! Conditions in Fluid's shape, on runtimes (`lastProbeTime`) and Datasets (`lastUpdateTime`),
//! merged by type.

use serde_json::{json, Value};

/// Condition types fluid-rs adds on runtimes, beside Fluid's own (`MasterInitialized`, ...):
/// why a runtime is not progressing, in words a user can act on.
pub mod types {
    /// Whether the runtime is bound to its Dataset (False: no Dataset, or bound elsewhere).
    pub const DATASET_BOUND: &str = "DatasetBound";
    /// Whether the spec passed the host's and the engine's validation (False names the fields).
    pub const VALIDATED: &str = "Validated";
    /// Whether the last pass ran without a hook or API failure.
    pub const RECONCILED: &str = "Reconciled";
    /// Whether the engine's objects (release, workloads, volume) are this runtime's own and
    /// ready (False names what is missing, or whose object stands in the way).
    pub const ENGINE_READY: &str = "EngineReady";
}

/// Which timestamp field the condition list uses besides `lastTransitionTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Runtime conditions: `lastProbeTime`.
    Runtime,
    /// Dataset conditions: `lastUpdateTime`.
    Dataset,
}

/// One condition to set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition<'a> {
    /// `type`.
    pub kind: &'a str,
    /// `True` or `False`.
    pub status: bool,
    /// `reason`.
    pub reason: &'a str,
    /// `message`.
    pub message: &'a str,
}

/// Sets a condition in `conditions` (a JSON array). Returns whether anything but timestamps
/// changed, so callers skip writes that would only move clocks.
pub fn set(conditions: &mut Vec<Value>, flavor: Flavor, c: &Condition<'_>, now: &str) -> bool {
    let status = if c.status { "True" } else { "False" };
    let probe = match flavor {
        Flavor::Runtime => "lastProbeTime",
        Flavor::Dataset => "lastUpdateTime",
    };
    if let Some(old) = conditions.iter_mut().find(|o| o["type"] == c.kind) {
        let same =
            old["status"] == status && old["reason"] == c.reason && old["message"] == c.message;
        if same {
            return false;
        }
        if old["status"] != status {
            old["lastTransitionTime"] = json!(now);
        }
        old["status"] = json!(status);
        old["reason"] = json!(c.reason);
        old["message"] = json!(c.message);
        old[probe] = json!(now);
        return true;
    }
    conditions.push(json!({
        "type": c.kind, "status": status, "reason": c.reason, "message": c.message,
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

    const INVALID: Condition<'static> = Condition {
        kind: "Validated",
        status: false,
        reason: "InvalidSpec",
        message: "spec.replicas: must not be negative",
    };

    #[test]
    fn setting_the_same_condition_twice_changes_nothing() {
        let mut c = vec![];
        assert!(set(&mut c, Flavor::Runtime, &INVALID, "t1"));
        assert!(!set(&mut c, Flavor::Runtime, &INVALID, "t2"));
        assert_eq!(c[0]["lastProbeTime"], "t1");
        let valid = Condition {
            status: true,
            reason: "Valid",
            message: "",
            ..INVALID
        };
        assert!(set(&mut c, Flavor::Runtime, &valid, "t3"));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["lastTransitionTime"], "t3");
        assert_eq!(c[0]["status"], "True");
    }

    #[test]
    fn dataset_conditions_use_last_update_time() {
        let mut c = vec![];
        let ready = Condition {
            kind: "Ready",
            status: true,
            reason: "DatasetReady",
            message: "The ddc runtime is ready.",
        };
        set(&mut c, Flavor::Dataset, &ready, "t");
        assert_eq!(c[0]["lastUpdateTime"], "t");
        assert!(c[0].get("lastProbeTime").is_none());
    }
}
