//! End to end against the local control plane: `samples/goosefs/local.yaml` served by the
//! GooseFS plugin goes Bound, and the objects it made are GooseFS's, checked field by field;
//! deleting it removes them.

mod common;

use common::controller::Controller;
use common::objects::{get, wait_bound, WAIT};
use fluid_test_support::{kubectl, wait_until, TestNamespace};
use serde_json::Value;

const SAMPLE: &str = include_str!("../../samples/goosefs/local.yaml");

fn container<'a>(pod_spec: &'a Value, name: &str) -> &'a Value {
    pod_spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {pod_spec:#}"))
}

fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    &container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name} in {container:#}"))["value"]
}

/// What the sample made, field by field.
fn check_objects(ns: &str) {
    let rt = get(ns, "goosefsruntime/demo").unwrap();
    assert_eq!(rt["status"]["valueFile"], "demo-goosefs-values");
    assert_eq!(
        rt["status"]["selector"],
        "app=goosefs,release=demo,role=goosefs-worker"
    );
    let ds = get(ns, "dataset/demo").unwrap();
    assert_eq!(ds["status"]["runtimes"][0]["type"], "goosefs");
    assert_eq!(ds["status"]["runtimes"][0]["name"], "demo");

    let master = get(ns, "statefulset/demo-master").unwrap();
    assert_eq!(master["spec"]["replicas"], 1);
    assert_eq!(master["metadata"]["labels"]["app"], "goosefs");
    assert_eq!(
        master["metadata"]["ownerReferences"][0]["kind"],
        "GooseFSRuntime"
    );
    let tpl = &master["spec"]["template"];
    assert_eq!(tpl["metadata"]["annotations"]["example.com/team"], "data");
    let pod = &tpl["spec"];
    assert_eq!(pod["hostNetwork"], true);
    let m = container(pod, "goosefs-master");
    assert_eq!(m["image"], "ccr.ccs.tencentyun.com/qcloud/goosefs:v1.2.0");
    assert_eq!(
        env(m, "GOOSEFS_MASTER_JAVA_OPTS"),
        "-Xmx2G -Dgoosefs.master.hostname=$(GOOSEFS_MASTER_HOSTNAME)"
    );
    assert_eq!(env(m, "FLUID_RUNTIME_TYPE"), "goosefs");
    container(pod, "goosefs-job-master");

    let worker = get(ns, "statefulset/demo-worker").unwrap();
    assert_eq!(worker["spec"]["replicas"], 2);
    let wpod = &worker["spec"]["template"]["spec"];
    container(wpod, "goosefs-worker");
    container(wpod, "goosefs-job-worker");

    let fuse = get(ns, "daemonset/demo-fuse").unwrap();
    let ftpl = &fuse["spec"]["template"];
    assert_eq!(ftpl["metadata"]["annotations"]["example.com/fuse"], "true");
    let f = container(&ftpl["spec"], "goosefs-fuse");
    assert_eq!(
        f["image"],
        "ccr.ccs.tencentyun.com/qcloud/goosefs-fuse:v1.2.0"
    );
    assert_eq!(f["args"][0], "fuse");
    assert_eq!(
        f["args"][2],
        format!("/runtime-mnt/goosefs/{ns}/demo/goosefs-fuse")
    );

    let config = get(ns, "configmap/demo-config").unwrap();
    let site = config["data"]["site.properties"].as_str().unwrap();
    for line in [
        "goosefs.user.file.writetype.default=CACHE_THROUGH",
        "goosefs.web.ui.enabled=false",
        "goosefs.master.mount.table.root.ufs=/underFSStorage",
        &format!("goosefs.worker.tieredstore.level0.dirs.path=/dev/shm/{ns}/demo"),
    ] {
        assert!(
            site.contains(&format!("{line}\n")),
            "{line} not in:\n{site}"
        );
    }
    let values = get(ns, "configmap/demo-goosefs-values").unwrap();
    let ports = values["metadata"]["annotations"]["fluid.io/host-ports"]
        .as_str()
        .unwrap();
    let rpc = ports.split(',').next().unwrap();
    assert!(
        site.contains(&format!("goosefs.master.rpc.port={rpc}\n")),
        "the allocated ports reach the properties: {ports}\n{site}"
    );

    let pv = get(ns, &format!("pv/{ns}-demo")).unwrap();
    let attrs = &pv["spec"]["csi"]["volumeAttributes"];
    assert_eq!(attrs["mount_type"], "fuse.goosefs-fuse");
    assert_eq!(
        attrs["fluid_path"],
        format!("/runtime-mnt/goosefs/{ns}/demo/goosefs-fuse")
    );
    let columns = kubectl(["get", "goosefsruntime", "demo", "-n", ns]).unwrap();
    let header = columns.lines().next().unwrap();
    for column in ["MASTER PHASE", "WORKER PHASE", "FUSE PHASE", "AGE"] {
        assert!(header.contains(column), "{columns}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_goosefs_sample_goes_bound_with_goosefs_objects_and_goes_away() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(common::goosefs_plugin(), plugins.path().join("goosefs.so")).unwrap();
    common::controller::install_crds(plugins.path());
    let logs = tempfile::tempdir().unwrap();
    let controller = Controller::start(plugins.path(), logs.path().join("controller.log"));
    let ns = TestNamespace::create("e2e-goosefs").await.unwrap();
    let n = ns.name().to_owned();
    common::objects::apply(&n, SAMPLE);
    if let Err(e) = wait_bound(&n, "demo").await {
        panic!("{e}\n--- controller log ---\n{}", controller.log_tail());
    }
    check_objects(&n);

    kubectl(["delete", "goosefsruntime/demo", "-n", &n, "--wait=false"]).unwrap();
    let gone = wait_until("the runtime and what it made to be gone", WAIT, || async {
        for what in [
            "goosefsruntime/demo",
            "statefulset/demo-master",
            "statefulset/demo-worker",
            "daemonset/demo-fuse",
            "configmap/demo-goosefs-values",
            "pvc/demo",
        ] {
            if get(&n, what).is_some() {
                return Err(format!("{what} still exists"));
            }
        }
        Ok(())
    })
    .await;
    if let Err(e) = gone {
        panic!("{e}\n--- controller log ---\n{}", controller.log_tail());
    }
    drop(controller);
    let _ = ns.cleanup().await;
}
