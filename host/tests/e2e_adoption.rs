//! Migration in place from Fluid: a JuiceFS runtime set up and Bound by Fluid's controllers,
//! recorded as data (the release installed by the real helm from a chart of Fluid's shape in
//! `tests/data/fluid-juicefs`, then what Fluid's runtime, dataset and CSI controllers write:
//! finalizers, labels, owner references, the worker scale-out and affinity, the values
//! ConfigMap, the PV and PVC, the fuse node label, both statuses), is adopted by fluid-rs:
//! the Dataset never leaves `Bound`, no fuse or worker pod is re-created, the PV and PVC keep
//! their uid and spec, and the release becomes fluid-rs' own (so deletion cleans it up).
//!
//! Fluid's own controllers are not run here (they cannot be built in CI: the Go module proxy
//! refuses Fluid's module); `docs/fluid-compatibility.md` says where this data comes from.

mod common;

use common::controller::{install_crds, Controller};
use common::objects::{apply, get, WAIT};
use fluid_test_support::{helm, kubectl, wait_until, TestNamespace};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NAME: &str = "jfsdemo";

fn patch(ns: &str, what: &str, subresource: Option<&str>, patch: &Value) {
    let body = patch.to_string();
    let mut args = vec!["patch", what, "-n", ns, "--type=merge", "-p", &body];
    let sub;
    if let Some(s) = subresource {
        sub = format!("--subresource={s}");
        args.push(&sub);
    }
    kubectl(args).unwrap();
}

fn uid(object: &Value) -> String {
    object["metadata"]["uid"].as_str().unwrap().to_owned()
}

/// The pods of a role.
fn role_pods(ns: &str, role: &str) -> Vec<Value> {
    let selector = format!("release={NAME},role={role}");
    let out = kubectl(["get", "pods", "-n", ns, "-l", &selector, "-o", "json"]).unwrap();
    let list: Value = serde_json::from_str(&out).unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The pods of a role, as `(name, uid)`.
fn pods(ns: &str, role: &str) -> Vec<(String, String)> {
    let mut pods: Vec<(String, String)> = role_pods(ns, role)
        .iter()
        .map(|p| (p["metadata"]["name"].as_str().unwrap().to_owned(), uid(p)))
        .collect();
    pods.sort();
    pods
}

/// Whether the role has pods and all are ready.
fn ready(ns: &str, role: &str) -> bool {
    let pods = role_pods(ns, role);
    !pods.is_empty()
        && pods.iter().all(|p| {
            p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
}

/// Sets up, without fluid-rs, what Fluid's controllers leave for a Bound JuiceFS runtime.
async fn fluid_made(ns: &str) {
    let sample =
        std::fs::read_to_string(common::workspace_root().join("samples/juicefs/community.yaml"))
            .unwrap();
    apply(ns, &sample);
    let dataset = get(ns, &format!("dataset/{NAME}")).unwrap();
    let runtime = get(ns, &format!("juicefsruntime/{NAME}")).unwrap();
    let id = format!("{ns}-{NAME}");
    // The dataset controller's finalizer; the runtime controller's label on both, its owner
    // reference and finalizer on the runtime.
    patch(
        ns,
        &format!("dataset/{NAME}"),
        None,
        &json!({"metadata": {"finalizers": ["fluid-dataset-controller-finalizer"],
            "labels": {"fluid.io/dataset-id": id}}}),
    );
    patch(
        ns,
        &format!("juicefsruntime/{NAME}"),
        None,
        &json!({"metadata": {"finalizers": ["juicefs-runtime-controller-finalizer"],
            "labels": {"fluid.io/dataset-id": id},
            "ownerReferences": [{"apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
                "name": NAME, "uid": uid(&dataset)}]}}),
    );
    // SetupMaster: the values ConfigMap, then `helm install` (ConfigMap storage).
    let values = format!("fullnameOverride: {NAME}\nownerDatasetId: {id}\nedition: community\n");
    kubectl([
        "create",
        "configmap",
        &format!("{NAME}-juicefs-values"),
        "-n",
        ns,
        &format!("--from-literal=data={values}"),
    ])
    .unwrap();
    patch(
        ns,
        &format!("configmap/{NAME}-juicefs-values"),
        None,
        &json!({"metadata": {"labels": {"fluid.io/dataset-id": id}}}),
    );
    let chart = common::workspace_root().join("host/tests/data/fluid-juicefs");
    helm([
        "install",
        NAME,
        chart.to_str().unwrap(),
        "-n",
        ns,
        "--set",
        &format!("ownerDatasetId={id}"),
        "--set",
        &format!("runtimeUid={}", uid(&runtime)),
    ])
    .unwrap();
    // SetupWorkers: spec.replicas and BuildWorkersAffinity (an Update of the StatefulSet).
    patch(
        ns,
        &format!("statefulset/{NAME}-worker"),
        None,
        &json!({"spec": {"replicas": 1, "template": {"spec": {"affinity": {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchExpressions": [
                    {"key": "fluid.io/dataset", "operator": "Exists"}]},
                "topologyKey": "kubernetes.io/hostname"}]},
            "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100, "preference": {"matchExpressions": [
                    {"key": format!("fluid.io/f-{ns}-{NAME}"), "operator": "In",
                     "values": ["true"]}]}}]}}}}}}),
    );
    // The CSI plugin's NodeStageVolume for a pod using the volume: the fuse node label.
    let nodes: Value =
        serde_json::from_str(&kubectl(["get", "nodes", "-o", "json"]).unwrap()).unwrap();
    let node = nodes["items"][0]["metadata"]["name"].as_str().unwrap();
    kubectl([
        "label",
        "node",
        node,
        &format!("fluid.io/f-{ns}-{NAME}=true"),
        "--overwrite",
    ])
    .unwrap();
    wait_until("Fluid's worker and fuse pods ready", WAIT, || async {
        if ready(ns, "juicefs-worker") && ready(ns, "juicefs-fuse") {
            Ok(())
        } else {
            Err("not ready".to_owned())
        }
    })
    .await
    .unwrap();
    // CreateVolume: the PV and PVC.
    let fuse = get(ns, &format!("daemonset/{NAME}-fuse")).unwrap();
    let generation = fuse["metadata"]["generation"].to_string();
    let labels = json!({format!("fluid.io/s-{ns}-{NAME}"): "true", "fluid.io/dataset-id": id});
    let mut pvc_labels = labels.clone();
    pvc_labels["fuse.runtime.fluid.io/generation"] = json!(generation);
    let volume = format!(
        "{}\n---\n{}",
        json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": id, "labels": labels, "annotations": {"CreatedBy": "fluid"}},
            "spec": {"claimRef": {"namespace": ns, "name": NAME},
                "accessModes": ["ReadOnlyMany"], "capacity": {"storage": "100Pi"},
                "storageClassName": "fluid",
                "csi": {"driver": "fuse.csi.fluid.io", "volumeHandle": id, "volumeAttributes": {
                    "fluid_path": format!("/runtime-mnt/juicefs/{ns}/{NAME}/juicefs-fuse"),
                    "mount_type": "JuiceFS", "runtime_namespace": ns, "runtime_name": NAME,
                    "mount_pod_node_selector_key": format!("fluid.io/f-{ns}-{NAME}")}}}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": NAME, "labels": pvc_labels, "annotations": {"CreatedBy": "fluid"}},
            "spec": {"volumeName": id, "storageClassName": "fluid",
                "accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "100Pi"}}}}),
    );
    apply(ns, &volume);
    // The statuses as Fluid's runtime controller writes them once Bound.
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let condition = |kind: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": now, "lastTransitionTime": now})
    };
    let states = json!({"cacheCapacity": "40.00GiB", "cached": "0.00B", "cachedPercentage": "0.0%",
        "cacheHitRatio": "0.0%", "cacheThroughputRatio": "0.0%"});
    patch(
        ns,
        &format!("juicefsruntime/{NAME}"),
        Some("status"),
        &json!({"status": {
        "valueFile": format!("{NAME}-juicefs-values"),
            // JuiceFS has no master; Fluid writes the Go zero values (the CRD requires them).
            "masterPhase": "", "desiredMasterNumberScheduled": 0,
            "currentMasterNumberScheduled": 0, "masterNumberReady": 0,
        "selector": format!("app=juicefs,release={NAME},role=juicefs-worker"),
        "workerPhase": "Ready", "desiredWorkerNumberScheduled": 1,
        "currentWorkerNumberScheduled": 1, "workerNumberReady": 1,
        "workerNumberAvailable": 1, "fusePhase": "Ready", "fuseReason": "Fuses are ready",
        "desiredFuseNumberScheduled": 1, "currentFuseNumberScheduled": 1,
        "fuseNumberReady": 1, "fuseNumberAvailable": 1, "setupDuration": "21s",
        "cacheStates": states,
        "conditions": [
            condition("WorkersInitialized", "Workers are initialized", "The workers are initialized."),
            condition("WorkersReady", "Workers are ready", "The workers are ready."),
            condition("FusesReady", "Fuses are ready", "The fuses are ready."),
        ]}}),
    );
    patch(
        ns,
        &format!("dataset/{NAME}"),
        Some("status"),
        &json!({"status": {
            "phase": "Bound", "mounts": dataset["spec"]["mounts"], "cacheStates": states,
            "ufsTotal": "0.00B", "fileNum": "0",
            "runtimes": [{"name": NAME, "namespace": ns, "category": "Accelerate",
                "type": "juicefs", "masterReplicas": 1}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "DatasetReady",
                "message": "The ddc runtime is ready.", "lastUpdateTime": now,
                "lastTransitionTime": now}]}}),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_fluid_made_is_adopted_in_place() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(common::juicefs_plugin(), plugins.path().join("juicefs.so")).unwrap();
    install_crds(plugins.path());
    let test_ns = TestNamespace::create("e2e-adopt").await.unwrap();
    let ns = test_ns.name().to_owned();
    fluid_made(&ns).await;

    let fuse_pods = pods(&ns, "juicefs-fuse");
    let worker_pods = pods(&ns, "juicefs-worker");
    // The PV controller completes the claimRef (uid, resourceVersion) when it binds: compare
    // the volume as it is once bound, as it is under Fluid.
    wait_until("the PVC bound", WAIT, || async {
        match get(&ns, &format!("pvc/{NAME}")) {
            Some(pvc) if pvc["status"]["phase"] == "Bound" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .unwrap();
    let pv = get(&ns, &format!("pv/{ns}-{NAME}")).unwrap();
    let pvc = get(&ns, &format!("pvc/{NAME}")).unwrap();

    let log = std::env::temp_dir().join(format!("{ns}.log"));
    let controller = Controller::start(plugins.path(), log);
    let started = Instant::now();
    let mut phases = vec![];
    // Adopted: the release is fluid-rs' (marked with the runtime's uid), the values are
    // recorded for it, the runtime passed a sync; then three more sync periods.
    let mut adopted_at = None;
    while adopted_at.is_none_or(|t: Instant| t.elapsed() < Duration::from_secs(15)) {
        assert!(
            started.elapsed() < WAIT,
            "not adopted within {WAIT:?}: {}",
            controller.log_tail()
        );
        let dataset = get(&ns, &format!("dataset/{NAME}")).unwrap();
        let phase = dataset["status"]["phase"].as_str().unwrap_or("").to_owned();
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
        assert_eq!(
            phases,
            ["Bound"],
            "the Dataset left Bound: {}",
            controller.log_tail()
        );
        if adopted_at.is_none() {
            let records = kubectl([
                "get",
                "configmap",
                "-n",
                &ns,
                "-l",
                &format!("owner=helm,name={NAME},status=deployed"),
                "-o",
                "json",
            ])
            .unwrap();
            let records: Value = serde_json::from_str(&records).unwrap();
            let marked = records["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["metadata"]["labels"]["fluid.io/runtime-uid"].is_string());
            let runtime = get(&ns, &format!("juicefsruntime/{NAME}")).unwrap();
            let synced = common::objects::condition(&runtime, "Reconciled")
                .is_some_and(|c| c["status"] == "True");
            if marked && synced {
                adopted_at = Some(Instant::now());
                println!(
                    "e2e_adoption: controller started -> adopted: {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        pods(&ns, "juicefs-fuse"),
        fuse_pods,
        "a fuse pod was re-created"
    );
    assert_eq!(
        pods(&ns, "juicefs-worker"),
        worker_pods,
        "a worker pod was re-created"
    );
    let pv_now = get(&ns, &format!("pv/{ns}-{NAME}")).unwrap();
    let pvc_now = get(&ns, &format!("pvc/{NAME}")).unwrap();
    assert_eq!(uid(&pv_now), uid(&pv));
    assert_eq!(pv_now["spec"], pv["spec"], "the PV changed");
    assert_eq!(uid(&pvc_now), uid(&pvc));
    assert_eq!(pvc_now["spec"], pvc["spec"], "the PVC changed");
    // The release is ours now: the workloads carry fluid-rs' chart, their selectors Fluid's.
    let sts = get(&ns, &format!("statefulset/{NAME}-worker")).unwrap();
    assert_eq!(
        sts["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "fluid-rs"
    );
    assert_eq!(
        sts["spec"]["selector"]["matchLabels"]["chart"],
        "juicefs-0.2.16"
    );
    let values = get(&ns, &format!("configmap/{NAME}-juicefs-values")).unwrap();
    assert_eq!(
        values["metadata"]["ownerReferences"][0]["kind"],
        "JuiceFSRuntime"
    );

    let events = kubectl([
        "get",
        "events",
        "-n",
        &ns,
        "--field-selector",
        "reason=ReleaseAdopted",
        "-o",
        "name",
    ])
    .unwrap();
    assert!(!events.trim().is_empty(), "no ReleaseAdopted event");

    // Deleting the runtime cleans up what Fluid made too: the adopted release is fluid-rs'.
    kubectl([
        "delete",
        &format!("juicefsruntime/{NAME}"),
        "-n",
        &ns,
        "--timeout=120s",
    ])
    .unwrap();
    for what in [
        format!("statefulset/{NAME}-worker"),
        format!("daemonset/{NAME}-fuse"),
        format!("pvc/{NAME}"),
    ] {
        assert!(get(&ns, &what).is_none(), "{what} left behind");
    }
    kubectl([
        "delete",
        &format!("dataset/{NAME}"),
        "-n",
        &ns,
        "--timeout=120s",
    ])
    .unwrap();
}
