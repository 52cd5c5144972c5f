//! End to end as the chart's ServiceAccount: the controller, with only the ClusterRole the
//! chart grants, carries a reference runtime and a JuiceFS runtime to Bound, scales one, and
//! deletes both, with helm keeping its release records in ConfigMaps (HELM_DRIVER=configmap,
//! set by the controller).

mod common;

use common::controller::Controller;
use common::objects::{apply, get, reference_pair, wait_bound, WAIT};
use fluid_test_support::{helm, kubeconfig_path, kubectl, wait_until, TestNamespace};
use serde_json::Value;

/// A kubeconfig for the cluster of the test kubeconfig, authenticating as `account` of `ns`
/// with a fresh token.
fn kubeconfig_for(ns: &str, account: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let token = kubectl(["create", "token", account, "-n", ns, "--duration=2h"]).unwrap();
    let admin: Value = serde_json::from_str(
        &kubectl(["config", "view", "--raw", "--minify", "-o", "json"]).unwrap(),
    )
    .unwrap();
    let config = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": account, "user": {"token": token.trim()}}],
        "contexts": [{"name": account, "context": {"cluster": admin["clusters"][0]["name"], "user": account}}],
        "current-context": account,
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

/// Uninstalls the chart's release when dropped, also when the test fails: its ClusterRole
/// and binding are cluster-wide and outlive the namespace.
struct Uninstall {
    release: String,
    namespace: String,
}

impl Drop for Uninstall {
    fn drop(&mut self) {
        let _ = helm(["uninstall", &self.release, "-n", &self.namespace]);
    }
}

async fn reference_lifecycle(ns: &str) {
    apply(ns, &reference_pair("demo", 1));
    wait_bound(ns, "demo").await.unwrap();
    kubectl(["scale", "referenceruntime/demo", "-n", ns, "--replicas=2"]).unwrap();
    wait_until("2 ready workers", WAIT, || async {
        let rt = get(ns, "referenceruntime/demo").ok_or_else(|| "no runtime".to_owned())?;
        match rt["status"]["workerNumberReady"].as_i64() {
            Some(2) => Ok(()),
            other => Err(format!("workerNumberReady {other:?}")),
        }
    })
    .await
    .unwrap();
    // Helm's release record is a ConfigMap: no Secret was written.
    let records = kubectl([
        "get",
        "configmaps",
        "-n",
        ns,
        "-l",
        "owner=helm",
        "-o",
        "name",
    ])
    .unwrap();
    assert!(records.contains("sh.helm.release.v1.demo.v1"), "{records}");
    kubectl([
        "delete",
        "referenceruntime/demo",
        "-n",
        ns,
        "--timeout=120s",
    ])
    .unwrap();
    kubectl(["delete", "dataset/demo", "-n", ns, "--timeout=120s"]).unwrap();
}

async fn juicefs_lifecycle(ns: &str) {
    let sample = common::workspace_root().join("samples/juicefs/community.yaml");
    kubectl(["apply", "-n", ns, "-f", sample.to_str().unwrap()]).unwrap();
    wait_bound(ns, "jfsdemo").await.unwrap();
    kubectl([
        "delete",
        "juicefsruntime/jfsdemo",
        "-n",
        ns,
        "--timeout=120s",
    ])
    .unwrap();
    kubectl(["delete", "dataset/jfsdemo", "-n", ns, "--timeout=120s"]).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_controller_works_with_only_the_charts_rbac() {
    let plugins = tempfile::tempdir().unwrap();
    for (plugin, file) in [
        (common::reference_plugin(), "reference.so"),
        (common::juicefs_plugin(), "juicefs.so"),
    ] {
        std::fs::copy(plugin, plugins.path().join(file)).unwrap();
    }
    common::controller::install_crds(plugins.path());

    let home = TestNamespace::create("e2e-rbac").await.unwrap();
    let release = format!("fluid-rs-{}", home.name().rsplit('-').next().unwrap());
    let chart = common::workspace_root().join("charts/fluid-rs");
    helm([
        "install",
        &release,
        chart.to_str().unwrap(),
        "--namespace",
        home.name(),
        "--skip-crds",
        "--set",
        "replicas=0",
        // The CSIDriver is cluster-wide and one of a name: other tests install the chart too.
        "--set",
        "csi.enabled=false",
        "--set",
        "runtimeResources={juicefsruntimes,referenceruntimes}",
    ])
    .unwrap();
    let _installed = Uninstall {
        release: release.clone(),
        namespace: home.name().to_owned(),
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_for(home.name(), &release, dir.path());
    assert_ne!(kubeconfig, kubeconfig_path().unwrap());
    let controller = Controller::start_as(
        plugins.path(),
        dir.path().join("controller.log"),
        &kubeconfig,
        &[],
    );

    let (a, b) = (
        TestNamespace::create("e2e-rbac-ref").await.unwrap(),
        TestNamespace::create("e2e-rbac-jfs").await.unwrap(),
    );
    let names = (a.name().to_owned(), b.name().to_owned());
    let outcome = tokio::spawn(async move {
        tokio::join!(reference_lifecycle(&names.0), juicefs_lifecycle(&names.1));
    })
    .await;
    let log = std::fs::read_to_string(dir.path().join("controller.log")).unwrap();
    if let Err(e) = outcome {
        panic!("{e}\n--- controller log ---\n{}", controller.log_tail());
    }
    // RBAC denials read "... is forbidden: User \"system:serviceaccount:...\" cannot VERB
    // resource ..." (other 403s, such as writes into a terminating namespace, are not ours).
    let denied: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("forbidden: User"))
        .collect();
    assert!(
        denied.is_empty(),
        "the controller was refused something:\n{}",
        denied.join("\n")
    );
    // Events were recorded under the account's rules (events.k8s.io only).
    let events = kubectl([
        "get",
        "events.v1.events.k8s.io",
        "-n",
        a.name(),
        "-o",
        "json",
    ])
    .unwrap();
    assert!(events.contains("fluid-controller"), "no Event recorded");
    drop(controller);
    for ns in [a, b] {
        ns.cleanup().await.unwrap();
    }
}
