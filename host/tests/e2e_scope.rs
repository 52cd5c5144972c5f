//! End to end: the host's default install of an engine's own chart is checked against the
//! engine's scope, through the controller as it runs (`fluid-controller run`).

mod common;

use common::controller::Controller;
use common::objects::{apply, assert_absent, get, WAIT};
use fluid_test_support::{helm, kubectl, wait_until, TestNamespace};
use serde_json::Value;

/// The `escape` engine's chart puts a ConfigMap into kube-system and creates a ClusterRole it
/// did not declare: setup fails with a condition naming both objects, and nothing of the chart
/// exists, the allowed ConfigMap included. (Before: the release was installed with all three.)
#[tokio::test(flavor = "multi_thread")]
async fn an_engines_chart_reaching_outside_its_namespace_is_refused_naming_the_objects() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(common::fixture("escape"), plugins.path().join("escape.so")).unwrap();
    common::controller::install_crds(plugins.path());
    let logs = tempfile::tempdir().unwrap();
    let controller = Controller::start(plugins.path(), logs.path().join("controller.log"));
    let ns = TestNamespace::create("e2e-scope").await.unwrap();
    let n = ns.name();
    apply(
        n,
        "apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: demo}
spec:
  mounts: [{mountPoint: 'local:///mnt/data', name: data}]
---
apiVersion: fixtures.fluid.io/v1alpha1
kind: EscapeRuntime
metadata: {name: demo}
spec: {}
",
    );
    let refused = wait_until("a condition refusing the chart", WAIT, || async {
        let rt = get(n, "escaperuntime/demo").ok_or_else(|| "no runtime".to_owned())?;
        rt["status"]["conditions"]
            .as_array()
            .and_then(|cs| {
                cs.iter()
                    .filter_map(|c| c["message"].as_str())
                    .find(|m| m.contains("refusing to install release demo"))
                    .map(str::to_owned)
            })
            .ok_or(format!("status {}", rt["status"]))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n--- controller log ---\n{}", controller.log_tail()));
    let name = format!("escape-{n}-demo");
    for object in [
        format!("ConfigMap kube-system/{name}: namespace kube-system is not the runtime's namespace {n}"),
        format!("ClusterRole {name}: cluster-scoped, and engine escape does not declare ClusterRole.rbac.authorization.k8s.io"),
    ] {
        assert!(refused.contains(&object), "{object} not in: {refused}");
    }
    assert_absent(&["get", "configmap", "demo-inside", "-n", n]);
    assert_absent(&["get", "configmap", &name, "-n", "kube-system"]);
    assert_absent(&["get", "clusterrole", &name]);
    let releases: Value =
        serde_json::from_str(&helm(["list", "-n", n, "-o", "json"]).unwrap()).unwrap();
    assert_eq!(releases, serde_json::json!([]), "no release was recorded");

    let _ = kubectl(["delete", "escaperuntime/demo", "-n", n, "--timeout=60s"]);
    drop(controller);
    ns.cleanup().await.unwrap();
}
