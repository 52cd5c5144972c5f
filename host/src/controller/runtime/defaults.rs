//! What the host does for the hooks an engine leaves to it, read from the watch caches: master
//! and workload readiness, the runtime status (Fluid's `RuntimeStatus` counts and phases, and
//! the scale subresource's `selector`), scaling the workers.

use super::pass::Pass;
use super::release;
use super::ReconcileError;
use crate::controller::workloads;
use crate::services::api_err;
use fluid_plugin_api::protocol::Hook;
use fluid_plugin_api::RuntimeStatusReport;
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

/// The workloads the release holds: as recorded from the rendered chart, else Fluid's names
/// (`<name>-worker`, the only one an engine must have by convention).
pub fn expected_workloads(pass: &Pass<'_>) -> Vec<String> {
    match release::recorded(pass) {
        Some((_, w)) if !w.is_empty() => w,
        _ => vec![format!("StatefulSet/{}-worker", pass.name)],
    }
}

/// Whether every expected workload exists and is ready (a StatefulSet or Deployment with a
/// ready replica or none wanted; a DaemonSet exists: the fuse is scheduled lazily). `Err`
/// says what is missing.
pub fn workloads_ready(pass: &Pass<'_>) -> Result<(), String> {
    let caches = &pass.ctx.caches;
    for w in expected_workloads(pass) {
        let (kind, name) = w.split_once('/').unwrap_or(("", &w));
        let problem = match kind {
            "StatefulSet" => match caches.statefulset(&pass.ns, name) {
                None => Some(format!("StatefulSet {name} does not exist")),
                Some(sts) => {
                    let r = workloads::statefulset(&sts.value());
                    (r.desired > 0 && r.ready == 0).then(|| {
                        format!(
                            "no replica of StatefulSet {name} is ready (0/{})",
                            r.desired
                        )
                    })
                }
            },
            "DaemonSet" => caches
                .daemonset(&pass.ns, name)
                .is_none()
                .then(|| format!("DaemonSet {name} does not exist")),
            // Deployments are not cached (no engine chart of ours has one): trust helm.
            _ => None,
        };
        if let Some(p) = problem {
            return Err(p);
        }
    }
    Ok(())
}

/// The default master check: a `<name>-master` StatefulSet, when the chart has one, has a
/// ready replica.
pub fn master_ready(pass: &Pass<'_>) -> bool {
    let name = format!("{}-master", pass.name);
    match pass.ctx.caches.statefulset(&pass.ns, &name) {
        None => !expected_workloads(pass).contains(&format!("StatefulSet/{name}")),
        Some(sts) => {
            let r = workloads::statefulset(&sts.value());
            r.desired == 0 || r.ready > 0
        }
    }
}

/// The runtime status from `<name>-master`, `<name>-worker` and `<name>-fuse`.
pub fn default_report(pass: &Pass<'_>) -> RuntimeStatusReport {
    let caches = &pass.ctx.caches;
    let sts = |n: &str| {
        caches
            .statefulset(&pass.ns, n)
            .map(|s| workloads::statefulset(&s.value()))
    };
    let master = sts(&format!("{}-master", pass.name));
    let workers = sts(&format!("{}-worker", pass.name));
    let fuse = caches
        .daemonset(&pass.ns, &format!("{}-fuse", pass.name))
        .map(|d| workloads::fuse_daemonset(&d.value()));
    let ready = workloads_ready(pass).is_ok() && master_ready(pass);
    RuntimeStatusReport {
        ready,
        master,
        workers,
        fuse,
    }
}

/// The scale subresource's label selector: the worker StatefulSet's.
pub fn worker_selector(pass: &Pass<'_>) -> Option<String> {
    let sts = pass
        .ctx
        .caches
        .statefulset(&pass.ns, &format!("{}-worker", pass.name))?;
    let sts = sts.value();
    let labels = sts["spec"]["selector"]["matchLabels"].as_object()?;
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The scale subresource needs `status.selector`: the worker StatefulSet's, unless the engine
/// wrote its own.
pub fn default_selector(pass: &mut Pass<'_>) {
    if pass.status.get("selector").is_null() {
        if let Some(selector) = worker_selector(pass) {
            pass.status.set("selector", selector);
        }
    }
}

/// `check_and_update_runtime_status`, hook or default, into the runtime's status draft;
/// returns whether the runtime is ready.
pub async fn runtime_status(pass: &mut Pass<'_>) -> Result<bool, ReconcileError> {
    let report = match pass
        .hook_as::<RuntimeStatusReport>(Hook::CheckAndUpdateRuntimeStatus)
        .await?
    {
        Some(r) => r,
        None => default_report(pass),
    };
    pass.status.set_all(&workloads::status_fields(&report));
    // Fluid's conditions and `fuseReason` (`pkg/ctrl`), and where the cache is for its webhook.
    for c in workloads::conditions(&report) {
        pass.status.condition(&c);
    }
    if report.fuse.is_some() {
        pass.status.set("fuseReason", workloads::FUSES_READY.reason);
    }
    if let Some(sts) = pass
        .ctx
        .caches
        .statefulset(&pass.ns, &format!("{}-worker", pass.name))
    {
        let sts = sts.value();
        let affinity = workloads::cache_affinity(&sts["spec"]["template"]["spec"]);
        pass.status.set("cacheAffinity", affinity);
    }
    default_selector(pass);
    if report.ready
        && pass.status.get("setupDuration").is_null()
        && pass.runtime.metadata.creation_timestamp.is_some()
    {
        let secs = crate::controller::age(&pass.runtime.metadata).as_secs();
        pass.status.set("setupDuration", format!("{secs}s"));
        pass.ctx
            .hooks
            .metrics
            .observe_bound(&pass.ctx.kind.kind, secs as f64);
    }
    Ok(report.ready)
}

/// The host's default worker setup and replica sync: the worker StatefulSet gets
/// `spec.replicas` through its scale subresource. Returns `(had, wants)` when it changed.
pub async fn scale_workers(pass: &mut Pass<'_>) -> Result<Option<(i64, i64)>, ReconcileError> {
    let Some(want) = pass.runtime_json["spec"]["replicas"].as_i64() else {
        return Ok(None);
    };
    let sts_name = format!("{}-worker", pass.name);
    let Some(sts) = pass.ctx.caches.statefulset(&pass.ns, &sts_name) else {
        return Ok(None);
    };
    let have = sts.value()["spec"]["replicas"].as_i64().unwrap_or(0);
    if have == want {
        return Ok(None);
    }
    let api: Api<StatefulSet> = Api::namespaced(pass.ctx.cluster.client().clone(), &pass.ns);
    let patch = json!({"spec": {"replicas": want}});
    api.patch_scale(&sts_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("scale {}/{sts_name}", pass.ns)))?;
    Ok(Some((have, want)))
}
