//! Readiness from the workloads an engine's chart creates, by Fluid's conventions:
//! StatefulSet `<name>-master`, StatefulSet `<name>-worker`, DaemonSet `<name>-fuse`.

use fluid_plugin_api::{ComponentReport, RuntimePhase, RuntimeStatusReport};
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
}
