//! Readiness from the workloads an engine's chart creates, by Fluid's conventions:
//! StatefulSet `<name>-master`, StatefulSet `<name>-worker`, DaemonSet `<name>-fuse`.

use super::conditions::Condition;
use fluid_plugin_api::{ComponentReport, RuntimePhase, RuntimeStatusReport};
use k8s_openapi::api::core::v1::{
    NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
};
use serde_json::{json, Map, Value};

/// Fluid's phase of a replicated component: nothing wanted or all ready is Ready, some ready is
/// PartialReady, none is NotReady.
pub fn phase(desired: i32, ready: i32) -> RuntimePhase {
    if desired == 0 || ready >= desired {
        RuntimePhase::Ready
    } else if ready > 0 {
        RuntimePhase::PartialReady
    } else {
        RuntimePhase::NotReady
    }
}

fn int(v: &Value) -> i32 {
    v.as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(0)
}

/// A StatefulSet's report.
pub fn statefulset(sts: &Value) -> ComponentReport {
    let desired = int(&sts["spec"]["replicas"]);
    let ready = int(&sts["status"]["readyReplicas"]);
    let available = int(&sts["status"]["availableReplicas"]);
    ComponentReport {
        phase: phase(desired, ready),
        desired,
        current: int(&sts["status"]["replicas"]),
        ready,
        available,
        unavailable: (desired - available).max(0),
    }
}

/// A DaemonSet's report. The fuse is lazily scheduled by the CSI plugin, so, as in Fluid, its
/// phase is always Ready.
pub fn fuse_daemonset(ds: &Value) -> ComponentReport {
    ComponentReport {
        phase: RuntimePhase::Ready,
        desired: int(&ds["status"]["desiredNumberScheduled"]),
        current: int(&ds["status"]["currentNumberScheduled"]),
        ready: int(&ds["status"]["numberReady"]),
        available: int(&ds["status"]["numberAvailable"]),
        unavailable: int(&ds["status"]["numberUnavailable"]),
    }
}

fn phase_str(p: RuntimePhase) -> &'static str {
    match p {
        RuntimePhase::None => "",
        RuntimePhase::NotReady => "NotReady",
        RuntimePhase::PartialReady => "PartialReady",
        RuntimePhase::Ready => "Ready",
    }
}

/// The runtime status fields (Fluid's `RuntimeStatus`) for a report.
pub fn status_fields(report: &RuntimeStatusReport) -> Value {
    let mut s = Map::new();
    if let Some(m) = &report.master {
        s.insert("masterPhase".into(), json!(phase_str(m.phase)));
        s.insert("desiredMasterNumberScheduled".into(), json!(m.desired));
        s.insert("currentMasterNumberScheduled".into(), json!(m.current));
        s.insert("masterNumberReady".into(), json!(m.ready));
    }
    if let Some(w) = &report.workers {
        s.insert("workerPhase".into(), json!(phase_str(w.phase)));
        s.insert("desiredWorkerNumberScheduled".into(), json!(w.desired));
        s.insert("currentWorkerNumberScheduled".into(), json!(w.current));
        s.insert("workerNumberReady".into(), json!(w.ready));
        s.insert("workerNumberAvailable".into(), json!(w.available));
        s.insert("workerNumberUnavailable".into(), json!(w.unavailable));
    }
    if let Some(f) = &report.fuse {
        s.insert("fusePhase".into(), json!(phase_str(f.phase)));
        s.insert("desiredFuseNumberScheduled".into(), json!(f.desired));
        s.insert("currentFuseNumberScheduled".into(), json!(f.current));
        s.insert("fuseNumberReady".into(), json!(f.ready));
        s.insert("fuseNumberAvailable".into(), json!(f.available));
        s.insert("fuseNumberUnavailable".into(), json!(f.unavailable));
    }
    Value::Object(s)
}

/// Fluid's `WorkersInitialized` condition (`pkg/ctrl/worker.go SetupWorkers`).
pub const WORKERS_INITIALIZED: Condition<'static> = Condition {
    kind: "WorkersInitialized",
    status: true,
    reason: "Workers are initialized",
    message: "The workers are initialized.",
};

/// The runtime conditions Fluid's helpers (`pkg/ctrl`) keep from a report: `WorkersReady` from
/// the worker phase, `FusesReady` always True (the fuse is scheduled lazily).
pub fn conditions(report: &RuntimeStatusReport) -> Vec<Condition<'static>> {
    let mut out = vec![];
    if let Some(w) = &report.workers {
        let (status, message) = match w.phase {
            RuntimePhase::Ready => (true, "The workers are ready."),
            RuntimePhase::PartialReady => (true, "The workers are partially ready."),
            RuntimePhase::NotReady => (false, "The workers are not ready."),
            RuntimePhase::None => (false, ""),
        };
        if !message.is_empty() {
            out.push(Condition {
                kind: "WorkersReady",
                status,
                reason: "Workers are ready",
                message,
            });
        }
    }
    if report.fuse.is_some() {
        out.push(FUSES_READY);
    }
    out
}

/// Fluid's `FusesReady` condition; its reason is also `status.fuseReason`.
pub const FUSES_READY: Condition<'static> = Condition {
    kind: "FusesReady",
    status: true,
    reason: "Fuses are ready",
    message: "The fuses are ready.",
};

/// `status.cacheAffinity`: where the cache is, as Fluid's webhook reads it: the worker pods'
/// node affinity with their nodeSelector added to every required term as `In` expressions
/// (`kubeclient.MergeNodeSelectorAndNodeAffinity`); `required` is always present.
pub fn cache_affinity(worker_pod_spec: &Value) -> Value {
    let mut affinity: NodeAffinity =
        serde_json::from_value(worker_pod_spec["affinity"]["nodeAffinity"].clone())
            .unwrap_or_default();
    let expressions: Vec<NodeSelectorRequirement> = worker_pod_spec["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| NodeSelectorRequirement {
            key: k.clone(),
            operator: "In".into(),
            values: Some(vec![v.as_str().unwrap_or_default().to_owned()]),
        })
        .collect();
    require_in_every_term(&mut affinity, &expressions);
    affinity
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(NodeSelector::default);
    serde_json::to_value(affinity).unwrap_or_default()
}

/// Adds `expressions` to every required term of `affinity`, or as a term of their own when it
/// has none: terms are ORed, so each must carry them. Nothing when `expressions` is empty.
pub fn require_in_every_term(affinity: &mut NodeAffinity, expressions: &[NodeSelectorRequirement]) {
    if expressions.is_empty() {
        return;
    }
    let selector = affinity
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(NodeSelector::default);
    if selector.node_selector_terms.is_empty() {
        selector
            .node_selector_terms
            .push(NodeSelectorTerm::default());
    }
    for term in &mut selector.node_selector_terms {
        term.match_expressions
            .get_or_insert_with(Vec::new)
            .extend(expressions.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_fluid() {
        assert_eq!(phase(0, 0), RuntimePhase::Ready);
        assert_eq!(phase(3, 3), RuntimePhase::Ready);
        assert_eq!(phase(3, 1), RuntimePhase::PartialReady);
        assert_eq!(phase(3, 0), RuntimePhase::NotReady);
    }

    #[test]
    fn a_statefulset_reports_its_counts() {
        let sts = json!({"spec": {"replicas": 3}, "status": {"replicas": 3, "readyReplicas": 2, "availableReplicas": 2}});
        let r = statefulset(&sts);
        assert_eq!((r.desired, r.current, r.ready, r.unavailable), (3, 3, 2, 1));
        assert_eq!(r.phase, RuntimePhase::PartialReady);
        let fields = status_fields(&RuntimeStatusReport {
            ready: true,
            workers: Some(r),
            ..Default::default()
        });
        assert_eq!(fields["workerPhase"], "PartialReady");
        assert_eq!(fields["workerNumberReady"], 2);
    }

    #[test]
    fn the_fuse_is_always_ready() {
        let ds = json!({"status": {"desiredNumberScheduled": 0}});
        assert_eq!(fuse_daemonset(&ds).phase, RuntimePhase::Ready);
    }

    #[test]
    fn conditions_follow_fluids_helpers() {
        let report = |phase| RuntimeStatusReport {
            ready: true,
            workers: Some(ComponentReport {
                phase,
                ..Default::default()
            }),
            fuse: Some(ComponentReport::default()),
            ..Default::default()
        };
        let c = conditions(&report(RuntimePhase::PartialReady));
        assert_eq!(
            (c[0].kind, c[0].status, c[0].reason, c[0].message),
            (
                "WorkersReady",
                true,
                "Workers are ready",
                "The workers are partially ready."
            )
        );
        assert_eq!(c[1], FUSES_READY);
        let c = conditions(&report(RuntimePhase::NotReady));
        assert_eq!(
            (c[0].status, c[0].message),
            (false, "The workers are not ready.")
        );
        assert!(conditions(&RuntimeStatusReport::default()).is_empty());
    }

    #[test]
    fn the_cache_affinity_merges_the_node_selector_into_every_required_term() {
        let none = cache_affinity(&json!({}));
        assert_eq!(
            none,
            json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}})
        );
        let prefer = json!([{"weight": 100, "preference": {"matchExpressions": [
            {"key": "fluid.io/f-ns-d", "operator": "In", "values": ["true"]}]}}]);
        let spec = json!({"nodeSelector": {"cache": "true"}, "affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": prefer}}});
        let a = cache_affinity(&spec);
        assert_eq!(a["preferredDuringSchedulingIgnoredDuringExecution"], prefer);
        assert_eq!(
            a["requiredDuringSchedulingIgnoredDuringExecution"],
            json!({"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "cache", "operator": "In", "values": ["true"]}]}]})
        );
        let spec = json!({"nodeSelector": {"cache": "true"}, "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
                {"matchExpressions": [{"key": "b", "operator": "Exists"}]}]}}}});
        let terms = cache_affinity(&spec)["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"]
            .clone();
        for t in terms.as_array().unwrap() {
            assert_eq!(t["matchExpressions"][1]["key"], "cache");
        }
    }
}
