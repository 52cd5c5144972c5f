//! End to end against the local control plane, the defects adversarial testing found in the
//! runtime and Dataset controllers (issue "Host hardening"), each a scenario that failed
//! before its fix. One controller serves all scenarios, in parallel namespaces.

mod common;

use common::controller::Controller;
use common::objects::{apply, condition, get, reference_pair, wait_bound, WAIT};
use fluid_test_support::{kubectl, tool_path, unique_name, wait_until, TestNamespace};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Waits until the runtime `kind/name` has condition `ctype` False with `reason`.
async fn wait_condition(ns: &str, what: &str, ctype: &str, reason: &str) -> Value {
    wait_until(&format!("{what}: {ctype}={reason}"), WAIT, || async {
        let rt = get(ns, what).ok_or_else(|| "no runtime".to_owned())?;
        condition(&rt, ctype)
            .filter(|c| c["status"] == "False" && c["reason"] == reason)
            .ok_or(format!("status {}", rt["status"]))
    })
    .await
    .unwrap()
}

async fn wait_gone(ns: &str, what: &str) {
    wait_until(&format!("{what} to be gone"), WAIT, || async {
        match get(ns, what) {
            None => Ok(()),
            Some(o) => Err(format!("still there: {}", o["metadata"])),
        }
    })
    .await
    .unwrap();
}

fn events(ns: &str) -> String {
    kubectl(["get", "events", "-n", ns, "-o", "json"]).unwrap_or_default()
}

/// A chart of a user's own application: one ConfigMap.
fn user_chart(dir: &Path) -> String {
    let chart = dir.join("user-app");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: user-app\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/data.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-user-data\ndata:\n  precious: \"yes\"\n",
    )
    .unwrap();
    chart.display().to_string()
}

fn user_helm(driver: &str, args: &[&str]) -> std::process::Output {
    Command::new(tool_path("helm").unwrap())
        .args(args)
        .env("KUBECONFIG", fluid_test_support::kubeconfig_path().unwrap())
        .env("HELM_DRIVER", driver)
        .output()
        .unwrap()
}

/// Defect 1: a user's release with the runtime's name is never adopted, never uninstalled.
async fn foreign_release_is_never_touched(ns: &str, chart: &str, driver: &str) {
    let out = user_helm(driver, &["install", "demo", chart, "-n", ns]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    apply(ns, &reference_pair("demo", 1));
    let c = wait_condition(
        ns,
        "referenceruntime/demo",
        "EngineReady",
        "ReleaseNotOwned",
    )
    .await;
    let message = c["message"].as_str().unwrap();
    assert!(message.contains(&format!("{ns}/demo")), "{message}");
    let ds = get(ns, "dataset/demo").unwrap();
    assert_ne!(ds["status"]["phase"], "Bound", "{ds:#}");
    assert!(
        get(ns, "statefulset/demo-worker").is_none(),
        "nothing of ours is installed"
    );
    kubectl(["delete", "referenceruntime/demo", "-n", ns, "--wait=false"]).unwrap();
    wait_gone(ns, "referenceruntime/demo").await;
    let status = user_helm(driver, &["status", "demo", "-n", ns]);
    assert!(
        status.status.success(),
        "the user's release was uninstalled"
    );
    assert!(
        get(ns, "configmap/demo-user-data").is_some(),
        "the user's data is gone"
    );
}

/// Defect 2: a failed install is retried once the spec is fixed, and never Bound before.
async fn failed_install_is_retried(ns: &str) {
    apply(
        ns,
        &format!(
            "{}  fuse:\n    nodeSelector:\n      zone: \"not a valid label value!\"\n",
            reference_pair("broken", 1)
        ),
    );
    let c = wait_condition(
        ns,
        "referenceruntime/broken",
        "Reconciled",
        "ErrorHelmInstall",
    )
    .await;
    assert!(c["message"].as_str().unwrap().contains("helm"), "{c}");
    let records = kubectl([
        "get",
        "configmap",
        "-n",
        ns,
        "-l",
        "owner=helm,name=broken",
        "-o",
        "json",
    ])
    .unwrap();
    assert!(records.contains("\"status\": \"failed\""), "{records}");
    // Retried, still failing: not Bound, no volume.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let ds = get(ns, "dataset/broken").unwrap();
    assert_ne!(ds["status"]["phase"], "Bound", "{ds:#}");
    assert!(get(ns, "pvc/broken").is_none());
    // With backoff (5 s, then 10 s): the failed install and one or two retries, each a release
    // revision; not one attempt per record its previous attempt wrote (~10 a second).
    let revisions = kubectl([
        "get",
        "configmap",
        "-n",
        ns,
        "-l",
        "owner=helm,name=broken",
        "-o",
        "name",
    ])
    .unwrap();
    assert!(
        revisions.lines().count() <= 3,
        "retried without backoff: {revisions}"
    );
    kubectl([
        "patch",
        "referenceruntime/broken",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"fuse":{"nodeSelector":{"zone":"a"}}}}"#,
    ])
    .unwrap();
    wait_bound(ns, "broken").await.unwrap();
    assert!(get(ns, "daemonset/broken-fuse").is_some());
    kubectl([
        "delete",
        "referenceruntime/broken",
        "-n",
        ns,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
}

/// The resident chart engine among the children of process `parent`.
fn engine_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(')')?;
        let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent && comm.starts_with("fluid-helm-eng")).then_some(pid)
    })
}

/// Defect 2: a release left `pending-install` by a helm killed mid-install is repaired:
/// uninstalled and installed again; the Dataset is Bound only once the engine exists. With
/// the resident chart engine, the engine process of the controller is killed (-9) there, and
/// the controller starts another.
async fn interrupted_install_is_repaired(ns: &str, state: &Path, controller: u32) {
    // Creating the StatefulSet hangs (a webhook that never answers), so helm is caught with the
    // release pending; the helm wrapper (or this test, for the resident engine) kills it there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = std::thread::spawn(move || {
        let mut held = vec![];
        for s in listener.incoming().take(16).flatten() {
            held.push(s);
        }
    });
    let webhook = format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {{name: {ns}-stall}}
webhooks:
  - name: stall.fluid-rs.test
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    timeoutSeconds: 20
    clientConfig: {{url: 'https://127.0.0.1:{port}/'}}
    namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ns}}}}}
    rules:
      - operations: [CREATE]
        apiGroups: [apps]
        apiVersions: [v1]
        resources: [statefulsets]
"
    );
    apply(ns, &webhook);
    let _webhook = Removed(format!("validatingwebhookconfiguration/{ns}-stall"));
    apply(ns, &reference_pair("interrupted", 1));
    let killed = state.join("killed-interrupted");
    if common::chart_engine() == fluid_host::services::ChartEngineKind::Resident {
        wait_until("the release to be pending-install", WAIT, || async {
            let records = kubectl([
                "get",
                "configmap",
                "-n",
                ns,
                "-l",
                "owner=helm,name=interrupted,status=pending-install",
                "-o",
                "name",
            ])
            .map_err(|e| e.to_string())?;
            if records.trim().is_empty() {
                return Err("not yet".to_owned());
            }
            let engine = engine_of(controller).ok_or("no chart engine under the controller")?;
            std::process::Command::new("kill")
                .args(["-9", &engine.to_string()])
                .status()
                .map_err(|e| e.to_string())?;
            std::fs::write(&killed, "").map_err(|e| e.to_string())
        })
        .await
        .unwrap();
    }
    wait_until("helm to be killed mid-install", WAIT, || async {
        if killed.exists() {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await
    .unwrap();
    let records = kubectl([
        "get",
        "configmap",
        "-n",
        ns,
        "-l",
        "owner=helm,name=interrupted",
        "-o",
        "json",
    ])
    .unwrap();
    // Killed mid-install: the record is pending-install, or already gone when the controller
    // saw its engine die and cleared the interrupted release first (it reinstalls it once the
    // webhook lets installs through). Never deployed.
    let listed: Value = serde_json::from_str(&records).unwrap();
    let statuses: Vec<&str> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["metadata"]["labels"]["status"].as_str())
        .collect();
    assert!(
        statuses
            .iter()
            .all(|s| *s == "pending-install" || *s == "uninstalling"),
        "{records}"
    );
    let ds = get(ns, "dataset/interrupted").unwrap();
    assert_ne!(
        ds["status"]["phase"], "Bound",
        "bound with nothing installed: {ds:#}"
    );
    kubectl([
        "delete",
        "validatingwebhookconfiguration",
        &format!("{ns}-stall"),
    ])
    .unwrap();
    wait_bound(ns, "interrupted").await.unwrap();
    assert!(get(ns, "statefulset/interrupted-worker").is_some());
    let records = kubectl([
        "get",
        "configmap",
        "-n",
        ns,
        "-l",
        "owner=helm,name=interrupted,status=deployed",
        "-o",
        "name",
    ])
    .unwrap();
    assert!(!records.trim().is_empty(), "no deployed revision");
    kubectl([
        "delete",
        "referenceruntime/interrupted",
        "-n",
        ns,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
}

/// Deletes a cluster-scoped object when dropped (also when the scenario fails).
struct Removed(String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = kubectl(["delete", &self.0, "--ignore-not-found"]);
    }
}

/// Defect 5: PV names collide (`a-b/c` and `a/b-c`): the second is refused, and deleting it
/// leaves the first one's PV alone.
async fn pv_collision_is_refused(first: &str, second: &str) {
    // first = P, second = P-y: Datasets P/y-z and P-y/z both map to PV P-y-z.
    apply(first, &reference_pair("y-z", 1));
    wait_bound(first, "y-z").await.unwrap();
    apply(second, &reference_pair("z", 1));
    let c = wait_condition(
        second,
        "referenceruntime/z",
        "EngineReady",
        "VolumeConflict",
    )
    .await;
    let pv = format!("{first}-y-z");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{pv} belongs to claim {first}/y-z")),
        "{c}"
    );
    assert_ne!(
        get(second, "dataset/z").unwrap()["status"]["phase"],
        "Bound"
    );
    kubectl(["delete", "referenceruntime/z", "-n", second, "--wait=false"]).unwrap();
    wait_gone(second, "referenceruntime/z").await;
    let pv = get(first, &format!("pv/{pv}")).unwrap();
    assert!(pv["metadata"]["deletionTimestamp"].is_null(), "{pv:#}");
    assert_eq!(
        get(first, "dataset/y-z").unwrap()["status"]["phase"],
        "Bound"
    );
    kubectl([
        "delete",
        "referenceruntime/y-z",
        "-n",
        first,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
}

/// Defect 6: names helm cannot take are refused at validation and still delete; long names
/// that fit get Fluid's uid-based fuse label, the same in the PV and the fuse DaemonSet.
async fn long_names(ns: &str) {
    let too_long = "n".repeat(55);
    apply(ns, &reference_pair(&too_long, 1));
    let what = format!("referenceruntime/{too_long}");
    let c = wait_condition(ns, &what, "Validated", "InvalidSpec").await;
    assert!(
        c["message"].as_str().unwrap().starts_with("metadata.name:"),
        "{c}"
    );
    kubectl(["delete", &what, "-n", ns, "--wait=false"]).unwrap();
    wait_gone(ns, &what).await;

    let long = "l".repeat(63 - "fluid.io/f-".len() - ns.len() - 1);
    apply(ns, &reference_pair(&long, 1));
    wait_bound(ns, &long).await.unwrap();
    let uid = get(ns, &format!("dataset/{long}")).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = format!("fluid.io/f-{uid}");
    let pv = get(ns, &format!("pv/{ns}-{long}")).unwrap();
    assert_eq!(
        pv["spec"]["csi"]["volumeAttributes"]["mount_pod_node_selector_key"],
        key.as_str()
    );
    let fuse = get(ns, &format!("daemonset/{long}-fuse")).unwrap();
    assert_eq!(
        fuse["spec"]["template"]["spec"]["nodeSelector"][&key], "true",
        "{fuse:#}"
    );
    kubectl([
        "delete",
        &format!("referenceruntime/{long}"),
        "-n",
        ns,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
}

/// Defect 8: a claim whose runtime no longer exists is released by the Dataset controller.
async fn stale_claim_is_released(ns: &str) {
    apply(
        ns,
        "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: ghost}\nspec:\n  mounts: [{mountPoint: 'local:///mnt/g', name: g}]\n",
    );
    wait_until("ghost NotBound", WAIT, || async {
        let ds = get(ns, "dataset/ghost").ok_or_else(|| "no dataset".to_owned())?;
        (ds["status"]["phase"] == "NotBound")
            .then_some(())
            .ok_or(format!("{}", ds["status"]))
    })
    .await
    .unwrap();
    let patch = format!(
        r#"{{"status":{{"phase":"Bound","runtimes":[{{"name":"ghost","namespace":"{ns}","category":"Accelerate","type":"reference"}}]}}}}"#
    );
    kubectl([
        "patch",
        "dataset/ghost",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ])
    .unwrap();
    wait_until("the stale claim to be released", WAIT, || async {
        let ds = get(ns, "dataset/ghost").ok_or_else(|| "no dataset".to_owned())?;
        (ds["status"]["runtimes"].is_null() && ds["status"]["phase"] == "NotBound")
            .then_some(())
            .ok_or(format!("{}", ds["status"]))
    })
    .await
    .unwrap();
    assert!(events(ns).contains("StaleRuntimeClaim"));
}

/// Defect 10: a runtime of a kind no plugin serves gets a Warning Event saying so.
async fn unserved_kind_is_reported(ns: &str) {
    apply(ns, "apiVersion: data.fluid.io/v1alpha1\nkind: GhostRuntime\nmetadata: {name: nobody}\nspec: {}\n");
    wait_until("the NoEnginePlugin event", WAIT, || async {
        let e = events(ns);
        (e.contains("NoEnginePlugin") && e.contains("GhostRuntime"))
            .then_some(())
            .ok_or("no event yet".to_owned())
    })
    .await
    .unwrap();
}

const GHOST_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ghostruntimes.data.fluid.io}
spec:
  group: data.fluid.io
  scope: Namespaced
  names: {kind: GhostRuntime, plural: ghostruntimes, singular: ghostruntime, listKind: GhostRuntimeList}
  versions:
    - name: v1alpha1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";

/// helm, except that the first install of release `interrupted` is killed (-9) five seconds in:
/// its StatefulSet's creation is held by a webhook for 20 s, so helm has written the release as
/// `pending-install` and is waiting.
fn helm_wrapper(dir: &Path) -> std::path::PathBuf {
    let real = tool_path("helm").unwrap();
    let script = format!(
        r#"#!/bin/sh
case " $* " in *" interrupted "*) target=1;; *) target=0;; esac
if [ "$1" = upgrade ] && [ $target = 1 ] && [ ! -e "{state}/killed-interrupted" ]; then
  # The values come on stdin, and an asynchronous command's stdin is /dev/null: keep them.
  values=$(mktemp); cat > "$values"
  "{real}" "$@" < "$values" & pid=$!
  sleep 5
  kill -9 $pid; touch "{state}/killed-interrupted"; exit 137
fi
exec "{real}" "$@"
"#,
        state = dir.display(),
        real = real.display(),
    );
    let path = dir.join("helm");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn hardening() {
    let plugins = common::reference_plugins();
    let crd = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(crd.path(), GHOST_CRD).unwrap();
    kubectl(["apply", "-f", crd.path().to_str().unwrap()]).unwrap();
    kubectl([
        "wait",
        "--for=condition=Established",
        "crd/ghostruntimes.data.fluid.io",
        "--timeout=60s",
    ])
    .unwrap();

    let state = tempfile::tempdir().unwrap();
    let helm = helm_wrapper(state.path());
    let log = std::env::temp_dir().join(format!("{}.log", unique_name("e2e-hardening")));
    let kubeconfig = fluid_test_support::kubeconfig_path().unwrap();
    let mut controller = Controller::start_as(
        plugins.path(),
        log.clone(),
        &kubeconfig,
        &["--helm", helm.to_str().unwrap()],
    );

    let chart_dir = tempfile::tempdir().unwrap();
    let chart = user_chart(chart_dir.path());
    let ns_release = TestNamespace::create("foreign").await.unwrap();
    let ns_release_cm = TestNamespace::create("foreign-cm").await.unwrap();
    let ns_failed = TestNamespace::create("failed").await.unwrap();
    let ns_interrupted = TestNamespace::create("interrupted").await.unwrap();
    let first = unique_name("pv");
    let ns_first = TestNamespace::create_named(&first).await.unwrap();
    let ns_second = TestNamespace::create_named(&format!("{first}-y"))
        .await
        .unwrap();
    let ns_long = TestNamespace::create("lng").await.unwrap();
    let ns_stale = TestNamespace::create("stale").await.unwrap();
    let ns_unserved = TestNamespace::create("unserved").await.unwrap();

    // Each scenario is its own task, so one failing does not hide the others: all are run,
    // and every failure is reported (with the scenario's name) at the end.
    let (a, b, c, d) = (
        ns_release.name().to_owned(),
        ns_release_cm.name().to_owned(),
        ns_failed.name().to_owned(),
        ns_interrupted.name().to_owned(),
    );
    let (e, f, g, h, i) = (
        ns_first.name().to_owned(),
        ns_second.name().to_owned(),
        ns_long.name().to_owned(),
        ns_stale.name().to_owned(),
        ns_unserved.name().to_owned(),
    );
    let (chart2, state2) = (chart.clone(), state.path().to_path_buf());
    let pid = controller.pid();
    let chart3 = chart.clone();
    let tasks = vec![
        (
            "1 foreign release (Secrets)",
            tokio::spawn(
                async move { foreign_release_is_never_touched(&a, &chart2, "secret").await },
            ),
        ),
        (
            "1 foreign release (ConfigMaps)",
            tokio::spawn(async move {
                foreign_release_is_never_touched(&b, &chart3, "configmap").await
            }),
        ),
        (
            "2 failed install",
            tokio::spawn(async move { failed_install_is_retried(&c).await }),
        ),
        (
            "2 interrupted install",
            tokio::spawn(async move { interrupted_install_is_repaired(&d, &state2, pid).await }),
        ),
        (
            "5 PV collision",
            tokio::spawn(async move { pv_collision_is_refused(&e, &f).await }),
        ),
        (
            "6 long names",
            tokio::spawn(async move { long_names(&g).await }),
        ),
        (
            "8 stale claim",
            tokio::spawn(async move { stale_claim_is_released(&h).await }),
        ),
        (
            "10 unserved kind",
            tokio::spawn(async move { unserved_kind_is_reported(&i).await }),
        ),
    ];
    let mut failed = vec![];
    for (name, task) in tasks {
        match tokio::time::timeout(Duration::from_secs(600), task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed.push(format!("defect {name}: {e}")),
            Err(_) => failed.push(format!("defect {name}: timed out")),
        }
    }
    let tail = controller.log_tail();
    controller.kill();
    // Other suites share the cluster: a runtime kind outside their controllers' roles stays
    // only as long as this test needs it.
    kubectl(["delete", "-f", crd.path().to_str().unwrap(), "--wait=false"]).unwrap();
    assert!(
        failed.is_empty(),
        "{} scenario(s) failed:\n{}\ncontroller log:\n{tail}",
        failed.len(),
        failed.join("\n")
    );
    for ns in [
        ns_release,
        ns_release_cm,
        ns_failed,
        ns_interrupted,
        ns_first,
        ns_second,
        ns_long,
        ns_stale,
        ns_unserved,
    ] {
        ns.cleanup().await.unwrap();
    }
}
