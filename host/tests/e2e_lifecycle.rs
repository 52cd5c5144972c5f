//! End to end against the local control plane: fluid-controller with the reference engine
//! carries a Dataset and its runtime to Bound, refuses what it must, survives a restart in
//! the middle of setup, and tears everything down.

mod common;

use common::controller::Controller;
use common::objects::{apply, condition, get, reference_pair, wait_bound, wait_condition, WAIT};

use fluid_test_support::{kubectl, wait_until, TestNamespace};
use serde_json::Value;
use std::time::Duration;

/// Dataset + runtime go to Bound; the columns are filled in; spec changes and scaling are
/// followed; deletion removes everything and returns the Dataset to NotBound.
async fn bound_then_deleted(ns: &str) {
    apply(ns, &reference_pair("demo", 1));
    wait_bound(ns, "demo").await.unwrap();

    let datasets = kubectl(["get", "dataset", "-n", ns]).unwrap();
    assert!(
        datasets.lines().next().unwrap().contains("PHASE"),
        "{datasets}"
    );
    assert!(datasets.contains("Bound"), "{datasets}");
    let rt = kubectl(["get", "referenceruntime", "demo", "-n", ns, "-o", "wide"]).unwrap();
    assert!(rt.contains("READY WORKERS") && rt.contains("Ready"), "{rt}");
    let ds = get(ns, "dataset/demo").unwrap();
    assert_eq!(ds["status"]["runtimes"][0]["type"], "reference");
    assert_eq!(ds["status"]["runtimes"][0]["category"], "Accelerate");
    let pv = get(ns, &format!("pv/{ns}-demo")).unwrap();
    assert_eq!(pv["spec"]["csi"]["driver"], "fuse.csi.fluid.io");
    assert_eq!(
        pv["spec"]["csi"]["volumeAttributes"]["runtime_name"],
        "demo"
    );
    let runtime = get(ns, "referenceruntime/demo").unwrap();
    assert_eq!(runtime["status"]["valueFile"], "demo-reference-values");
    assert!(
        runtime["status"]["setupDuration"].is_string(),
        "{runtime:#}"
    );

    // kubectl scale drives spec.replicas through the scale subresource.
    kubectl(["scale", "referenceruntime/demo", "-n", ns, "--replicas=3"]).unwrap();
    wait_until("3 ready workers", WAIT, || async {
        let rt = get(ns, "referenceruntime/demo").ok_or_else(|| "no runtime".to_owned())?;
        match rt["status"]["workerNumberReady"].as_i64() {
            Some(3) => Ok(()),
            other => Err(format!("workerNumberReady {other:?}")),
        }
    })
    .await
    .unwrap();
    let rt = get(ns, "referenceruntime/demo").unwrap();
    assert_eq!(
        condition(&rt, "WorkersScaledOut").unwrap()["status"],
        "True"
    );

    // A spec change reaches the workloads through the chart.
    kubectl([
        "patch",
        "referenceruntime/demo",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"worker":{"options":{"cache-size":"2048"}}}}"#,
    ])
    .unwrap();
    wait_until(
        "the worker template to carry the new option",
        WAIT,
        || async {
            let sts = get(ns, "statefulset/demo-worker").ok_or_else(|| "no sts".to_owned())?;
            let env = &sts["spec"]["template"]["spec"]["containers"][0]["env"];
            if env.as_array().is_some_and(|e| {
                e.iter()
                    .any(|v| v["name"] == "OPTION_CACHE_SIZE" && v["value"] == "2048")
            }) {
                Ok(())
            } else {
                Err(format!("env {env}"))
            }
        },
    )
    .await
    .unwrap();

    kubectl(["delete", "referenceruntime/demo", "-n", ns, "--wait=false"]).unwrap();
    wait_until(
        "the runtime and everything it made to be gone",
        WAIT,
        || async {
            for what in [
                "referenceruntime/demo",
                "pvc/demo",
                "statefulset/demo-worker",
                "daemonset/demo-fuse",
                "configmap/demo-reference-values",
            ] {
                if get(ns, what).is_some() {
                    return Err(format!("{what} still exists"));
                }
            }
            if get(ns, &format!("pv/{ns}-demo")).is_some() {
                return Err("the PV still exists".into());
            }
            let ds = get(ns, "dataset/demo").ok_or_else(|| "the dataset went too".to_owned())?;
            match ds["status"]["phase"].as_str() {
                Some("NotBound") if ds["status"]["runtimes"].is_null() => Ok(()),
                other => Err(format!(
                    "dataset phase {other:?}, runtimes {}",
                    ds["status"]["runtimes"]
                )),
            }
        },
    )
    .await
    .unwrap();
    let releases = fluid_test_support::helm(["list", "-n", ns, "-q"]).unwrap();
    assert!(releases.trim().is_empty(), "helm releases left: {releases}");
}

/// A second runtime (another engine) for a bound Dataset is refused with a clear condition.
async fn second_runtime_refused(ns: &str) {
    apply(ns, &reference_pair("shared", 1));
    wait_bound(ns, "shared").await.unwrap();
    apply(ns, "apiVersion: fixtures.fluid.io/v1alpha1\nkind: AlphaRuntime\nmetadata:\n  name: shared\nspec: {}\n");
    let c = wait_condition(ns, "alpharuntime/shared", "DatasetBound", "False")
        .await
        .unwrap();
    assert_eq!(c["reason"], "DatasetBoundToAnotherRuntime");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("already bound to runtime reference/shared"),
        "{c}"
    );
    let ds = get(ns, "dataset/shared").unwrap();
    assert_eq!(ds["status"]["runtimes"].as_array().unwrap().len(), 1);
    assert_eq!(ds["status"]["phase"], "Bound");
    kubectl([
        "delete",
        "alpharuntime/shared",
        "referenceruntime/shared",
        "-n",
        ns,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
}

/// An invalid spec gets a condition and an Event naming the field.
async fn invalid_spec(ns: &str) {
    apply(
        ns,
        &format!(
            "{}  worker:\n    options:\n      \"bad key!\": x\n",
            reference_pair("bad", 1)
        ),
    );
    let c = wait_condition(ns, "referenceruntime/bad", "Validated", "False")
        .await
        .unwrap();
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("spec.worker.options[bad key!]"),
        "{c}"
    );
    let events = wait_until("the Warning event", WAIT, || async {
        let events =
            kubectl(["get", "events", "-n", ns, "-o", "json"]).map_err(|e| e.to_string())?;
        if events.contains("ErrorValidateSpecFields")
            && events.contains("spec.worker.options[bad key!]")
        {
            Ok(events)
        } else {
            Err("no event yet".to_owned())
        }
    })
    .await
    .unwrap();
    assert!(events.contains("Warning"));
    // Claimed is not Bound: the runtime does not say DatasetBound=True while its Dataset is
    // not Bound.
    let rt = get(ns, "referenceruntime/bad").unwrap();
    let ds = get(ns, "dataset/bad").unwrap();
    assert_ne!(ds["status"]["phase"], "Bound", "{ds:#}");
    let bound = condition(&rt, "DatasetBound").unwrap();
    assert_eq!(bound["status"], "False", "{rt:#}");
    assert_eq!(bound["reason"], "DatasetClaimed");
    // Fixing the spec lets it proceed.
    kubectl([
        "patch",
        "referenceruntime/bad",
        "-n",
        ns,
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/worker"}]"#,
    ])
    .unwrap();
    wait_bound(ns, "bad").await.unwrap();
    wait_condition(ns, "referenceruntime/bad", "DatasetBound", "True")
        .await
        .unwrap();
    kubectl([
        "delete",
        "referenceruntime/bad",
        "-n",
        ns,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
}

/// A panicking hook becomes a condition and a Warning Event on its runtime, and is retried;
/// the controller and the other runtimes (the other scenarios, running meanwhile) carry on.
async fn panicking_hook(ns: &str) {
    apply(
        ns,
        "apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: boom}
spec:
  mounts: [{mountPoint: 'local:///mnt/boom', name: boom}]
---
apiVersion: fixtures.fluid.io/v1alpha1
kind: AlphaRuntime
metadata: {name: boom}
spec: {panicIn: validate}
",
    );
    let c = wait_until("the Reconciled condition", WAIT, || async {
        let rt = get(ns, "alpharuntime/boom").ok_or_else(|| "no runtime".to_owned())?;
        condition(&rt, "Reconciled")
            .filter(|c| c["status"] == "False")
            .ok_or(format!("status {}", rt["status"]))
    })
    .await
    .unwrap();
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("hook validate panicked: alpha was told to panic in validate"),
        "{c}"
    );
    wait_until("the Warning event and a retry", WAIT, || async {
        let events: Value = serde_json::from_str(
            &kubectl(["get", "events.events.k8s.io", "-n", ns, "-o", "json"])
                .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        // Occurrences of the Warning: one per event, or its series count.
        let seen: i64 = events["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["reason"] == "ErrorProcessRuntime"
                    && e["type"] == "Warning"
                    && e["note"].as_str().is_some_and(|m| m.contains("panicked"))
            })
            .map(|e| e["series"]["count"].as_i64().unwrap_or(1).max(1))
            .sum();
        if seen >= 2 {
            Ok(())
        } else {
            Err(format!("{seen} occurrence(s) so far"))
        }
    })
    .await
    .unwrap();
    kubectl([
        "delete",
        "alpharuntime/boom",
        "dataset/boom",
        "-n",
        ns,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
}

/// Deleting a Dataset whose PVC a pod mounts waits for the pod.
async fn dataset_deletion_waits_for_pods(ns: &str) {
    apply(ns, &reference_pair("used", 1));
    wait_bound(ns, "used").await.unwrap();
    apply(
        ns,
        "apiVersion: v1
kind: Pod
metadata:
  name: reader
spec:
  containers:
    - name: reader
      image: busybox:1.36
      command: [sh, -c, sleep infinity]
      volumeMounts: [{name: data, mountPath: /data}]
  volumes:
    - name: data
      persistentVolumeClaim: {claimName: used}
",
    );
    kubectl([
        "delete",
        "referenceruntime/used",
        "dataset/used",
        "-n",
        ns,
        "--wait=false",
    ])
    .unwrap();
    // Held: give the controller time to (not) finish.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(
        get(ns, "dataset/used").is_some(),
        "the dataset went while a pod used its volume"
    );
    assert!(
        get(ns, "pvc/used").is_some(),
        "the volume went while a pod used it"
    );
    kubectl([
        "delete",
        "pod/reader",
        "-n",
        ns,
        "--grace-period=0",
        "--force",
    ])
    .unwrap();
    wait_until(
        "the dataset and runtime to go after the pod",
        WAIT,
        || async {
            match (get(ns, "dataset/used"), get(ns, "referenceruntime/used")) {
                (None, None) => Ok(()),
                (d, r) => Err(format!(
                    "dataset present {}, runtime present {}",
                    d.is_some(),
                    r.is_some()
                )),
            }
        },
    )
    .await
    .unwrap();
}

/// Everything the controller created for `name`, as kind/name lines.
fn owned_objects(ns: &str, name: &str) -> Vec<String> {
    let mut found = vec![];
    for kind in [
        "statefulsets",
        "daemonsets",
        "configmaps",
        "persistentvolumeclaims",
    ] {
        let list: Value =
            serde_json::from_str(&kubectl(["get", kind, "-n", ns, "-o", "json"]).unwrap()).unwrap();
        for item in list["items"].as_array().unwrap() {
            let n = item["metadata"]["name"].as_str().unwrap();
            if n.starts_with(name) {
                found.push(format!("{kind}/{n}"));
            }
        }
    }
    let pvs: Value = serde_json::from_str(&kubectl(["get", "pv", "-o", "json"]).unwrap()).unwrap();
    for pv in pvs["items"].as_array().unwrap() {
        let n = pv["metadata"]["name"].as_str().unwrap();
        if n == format!("{ns}-{name}") {
            found.push(format!("pv/{n}"));
        }
    }
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn the_controller_carries_runtimes_through_fluids_lifecycle() {
    // CRDs as a user installs them: from the controller, into the cluster.
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::reference_plugin(),
        plugins.path().join("reference.so"),
    )
    .unwrap();
    std::fs::copy(common::fixture("alpha"), plugins.path().join("alpha.so")).unwrap();
    common::controller::install_crds(plugins.path());

    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("controller.log");
    let mut controller = Controller::start(plugins.path(), log.clone());

    let (a, b, c, d) = (
        TestNamespace::create("e2e-bound").await.unwrap(),
        TestNamespace::create("e2e-refuse").await.unwrap(),
        TestNamespace::create("e2e-invalid").await.unwrap(),
        TestNamespace::create("e2e-inuse").await.unwrap(),
    );
    let f = TestNamespace::create("e2e-panic").await.unwrap();
    let names: Vec<String> = [&a, &b, &c, &d, &f]
        .iter()
        .map(|n| n.name().to_owned())
        .collect();
    let scenarios = async move {
        tokio::join!(
            bound_then_deleted(&names[0]),
            second_runtime_refused(&names[1]),
            invalid_spec(&names[2]),
            dataset_deletion_waits_for_pods(&names[3]),
            panicking_hook(&names[4]),
        )
    };
    // Panics inside carry their own messages; print the controller's log with them.
    let outcome = tokio::spawn(scenarios).await;
    if let Err(e) = outcome {
        panic!("{e}\n--- controller log ---\n{}", controller.log_tail());
    }

    // Killed in the middle of setup and started again: the same objects, none duplicated.
    let e = TestNamespace::create("e2e-restart").await.unwrap();
    let ns = e.name().to_owned();
    apply(&ns, &reference_pair("again", 2));
    wait_until("setup to have started", WAIT, || async {
        get(&ns, "statefulset/again-worker")
            .map(|_| ())
            .ok_or_else(|| "no worker sts yet".to_owned())
    })
    .await
    .unwrap();
    controller.kill();
    let before = owned_objects(&ns, "again");
    let mut controller = Controller::start(plugins.path(), log.clone());
    wait_bound(&ns, "again")
        .await
        .unwrap_or_else(|err| panic!("{err}\n--- controller log ---\n{}", controller.log_tail()));
    let after = owned_objects(&ns, "again");
    assert_eq!(
        after,
        [
            "configmaps/again-reference-values".to_string(),
            "daemonsets/again-fuse".into(),
            "persistentvolumeclaims/again".into(),
            format!("pv/{ns}-again"),
            "statefulsets/again-worker".into(),
        ],
        "before the restart: {before:?}"
    );
    let releases = fluid_test_support::helm(["list", "-n", &ns, "-o", "json"]).unwrap();
    let releases: Value = serde_json::from_str(&releases).unwrap();
    assert_eq!(releases.as_array().unwrap().len(), 1, "{releases}");
    kubectl([
        "delete",
        "referenceruntime/again",
        "dataset/again",
        "-n",
        &ns,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
    controller.kill();
    for ns in [a, b, c, d, e, f] {
        let _ = ns.cleanup().await;
    }
}
