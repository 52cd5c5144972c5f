//! End to end with the Alluxio engine plugin against the local control plane:
//! `samples/alluxio/local.yaml` (one master, two workers, a `local://` mount, host networking)
//! goes Bound with its PVC; the objects the chart made are checked (master and job master,
//! workers and job workers, the fuse, the properties with the ports the host allocated, the
//! PV); `kubectl scale` gives 3 ready workers; a property added to the runtime reaches the
//! properties file and rolls the workers; deleting the runtime removes everything.
//!
//! The kwok nodes run no containers, so no Alluxio process starts here: the data path with
//! real Alluxio is `plugins/alluxio/tests/real_alluxio.rs`. Bound does not depend on exec.

mod common;

use common::controller::Controller;
use common::objects::{get, wait_bound, WAIT};
use fluid_test_support::{kubectl, wait_until, TestNamespace};
use serde_json::Value;
use std::time::{Duration, Instant};

const SAMPLE: &str = include_str!("../../samples/alluxio/local.yaml");

fn container<'a>(pod_spec: &'a Value, name: &str) -> &'a Value {
    pod_spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {pod_spec:#}"))
}

fn site_properties(ns: &str) -> String {
    get(ns, "configmap/demo-config")
        .and_then(|c| c["data"]["site.properties"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn check_objects(ns: &str) {
    let rt = get(ns, "alluxioruntime/demo").unwrap();
    assert_eq!(rt["status"]["valueFile"], "demo-alluxio-values");
    assert_eq!(
        rt["status"]["selector"],
        "app=alluxio,release=demo,role=alluxio-worker"
    );
    let ds = get(ns, "dataset/demo").unwrap();
    assert_eq!(ds["status"]["runtimes"][0]["type"], "alluxio");

    let master = get(ns, "statefulset/demo-master").unwrap();
    assert_eq!(master["spec"]["replicas"], 1);
    assert_eq!(
        master["metadata"]["ownerReferences"][0]["kind"],
        "AlluxioRuntime"
    );
    let pod = &master["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true, "Fluid's default for Alluxio");
    assert_eq!(
        container(pod, "alluxio-master")["image"],
        "alluxio/alluxio:2.9.4"
    );
    container(pod, "alluxio-job-master");

    let worker = get(ns, "statefulset/demo-worker").unwrap();
    assert_eq!(worker["spec"]["replicas"], 2);
    let wpod = &worker["spec"]["template"]["spec"];
    container(wpod, "alluxio-worker");
    container(wpod, "alluxio-job-worker");

    let fuse = get(ns, "daemonset/demo-fuse").unwrap();
    let f = container(&fuse["spec"]["template"]["spec"], "alluxio-fuse");
    assert_eq!(
        f["args"][2],
        format!("/runtime-mnt/alluxio/{ns}/demo/alluxio-fuse")
    );

    // The ports the host allocated (host network) are the ones the properties name.
    let values = get(ns, "configmap/demo-alluxio-values").unwrap();
    let ports = values["metadata"]["annotations"]["fluid.io/host-ports"]
        .as_str()
        .expect("host-network ports recorded");
    let rpc: u16 = ports.split(',').next().unwrap().parse().unwrap();
    assert!((20000..=26000).contains(&rpc), "{ports}");
    let site = site_properties(ns);
    for line in [
        format!("alluxio.master.rpc.port={rpc}"),
        format!("alluxio.worker.tieredstore.level0.dirs.path=/dev/shm/{ns}/demo"),
    ] {
        assert!(
            site.contains(&format!("{line}\n")),
            "{line} not in:\n{site}"
        );
    }

    let pv = get(ns, &format!("pv/{ns}-demo")).unwrap();
    let attrs = &pv["spec"]["csi"]["volumeAttributes"];
    assert_eq!(attrs["mount_type"], "fuse.alluxio-fuse");
    assert_eq!(
        attrs["fluid_path"],
        format!("/runtime-mnt/alluxio/{ns}/demo/alluxio-fuse")
    );
}

async fn bind_scale_roll_delete(ns: &str) -> Vec<(&'static str, Duration)> {
    let mut times = vec![];
    let t = Instant::now();
    common::objects::apply(ns, SAMPLE);
    wait_bound(ns, "demo").await.unwrap();
    times.push(("sample applied -> Bound", t.elapsed()));
    wait_until("the scale selector", WAIT, || async {
        let rt = get(ns, "alluxioruntime/demo").ok_or("no runtime")?;
        rt["status"]["selector"]
            .as_str()
            .map(|_| ())
            .ok_or_else(|| "no selector yet".to_owned())
    })
    .await
    .unwrap();
    check_objects(ns);

    let t = Instant::now();
    kubectl(["scale", "alluxioruntime/demo", "-n", ns, "--replicas=3"]).unwrap();
    wait_until("3 ready workers", WAIT, || async {
        let rt = get(ns, "alluxioruntime/demo").ok_or("no runtime")?;
        match rt["status"]["workerNumberReady"].as_i64() {
            Some(3) => Ok(()),
            other => Err(format!("workerNumberReady {other:?}")),
        }
    })
    .await
    .unwrap();
    times.push(("scale 2 -> 3 ready workers", t.elapsed()));

    let t = Instant::now();
    let old = get(ns, "statefulset/demo-worker").unwrap()["status"]["currentRevision"]
        .as_str()
        .unwrap()
        .to_owned();
    kubectl([
        "patch",
        "alluxioruntime/demo",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"properties":{"alluxio.user.block.size.bytes.default":"32MB"}}}"#,
    ])
    .unwrap();
    wait_until("the workers rolled onto the new property", WAIT, || async {
        if !site_properties(ns).contains("alluxio.user.block.size.bytes.default=32MB\n") {
            return Err("the properties have no new property yet".to_owned());
        }
        let sts = get(ns, "statefulset/demo-worker").ok_or("no sts")?;
        let s = &sts["status"];
        let done = s["currentRevision"] == s["updateRevision"]
            && s["currentRevision"].as_str() != Some(old.as_str())
            && s["updatedReplicas"] == 3
            && s["readyReplicas"] == 3;
        if done {
            Ok(())
        } else {
            Err(format!("worker status {s}"))
        }
    })
    .await
    .unwrap();
    times.push(("property -> workers rolled", t.elapsed()));

    let t = Instant::now();
    kubectl(["delete", "alluxioruntime/demo", "-n", ns, "--wait=false"]).unwrap();
    wait_until("everything gone", WAIT, || async {
        for what in [
            "alluxioruntime/demo",
            "pvc/demo",
            "statefulset/demo-master",
            "statefulset/demo-worker",
            "daemonset/demo-fuse",
            "configmap/demo-config",
            "configmap/demo-alluxio-values",
        ] {
            if get(ns, what).is_some() {
                return Err(format!("{what} still exists"));
            }
        }
        if get(ns, &format!("pv/{ns}-demo")).is_some() {
            return Err("the PV still exists".into());
        }
        Ok(())
    })
    .await
    .unwrap();
    let releases = fluid_test_support::helm(["list", "-n", ns, "-q"]).unwrap();
    assert!(releases.trim().is_empty(), "helm releases left: {releases}");
    times.push(("delete -> everything gone", t.elapsed()));
    times
}

#[tokio::test(flavor = "multi_thread")]
async fn the_alluxio_sample_binds_scales_rolls_and_goes() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(common::alluxio_plugin(), plugins.path().join("alluxio.so")).unwrap();
    common::controller::install_crds(plugins.path());
    let logs = tempfile::tempdir().unwrap();
    let controller = Controller::start(plugins.path(), logs.path().join("controller.log"));
    let ns = TestNamespace::create("e2e-alluxio").await.unwrap();
    let name = ns.name().to_owned();
    match tokio::spawn(async move { bind_scale_roll_delete(&name).await }).await {
        Ok(times) => {
            for (what, d) in times {
                eprintln!("e2e_alluxio: {what}: {:.1} s", d.as_secs_f64());
            }
        }
        Err(e) => panic!("{e}\n--- controller log ---\n{}", controller.log_tail()),
    }
    drop(controller);
    let _ = ns.cleanup().await;
}
