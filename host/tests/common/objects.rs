//! Objects the end-to-end tests and benchmarks create and wait for.

use fluid_test_support::{kubectl, wait_until};
use serde_json::Value;
use std::time::Duration;

/// How long an end-to-end step may take.
pub const WAIT: Duration = Duration::from_secs(180);

/// `kubectl apply` of YAML documents into a namespace.
pub fn apply(ns: &str, yaml: &str) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), yaml).expect("write manifests");
    kubectl([
        "apply",
        "-n",
        ns,
        "-f",
        file.path().to_str().expect("utf-8 path"),
    ])
    .expect("kubectl apply");
}

/// An object as JSON (`what` is `kind/name`), or `None` when absent.
pub fn get(ns: &str, what: &str) -> Option<Value> {
    kubectl(["get", "-n", ns, what, "-o", "json"])
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
}

/// Asserts that `kubectl ARGS` (a `get`) finds nothing.
pub fn assert_absent(args: &[&str]) {
    let out = kubectl(args);
    assert!(
        out.as_ref()
            .is_err_and(|e| e.to_string().contains("NotFound")),
        "{args:?} exists: {out:?}"
    );
}

/// A Dataset of a node directory (`local://`) and a runtime of kind `kind` (Fluid's group) of
/// the same name, whose spec is the YAML lines `spec` (indented by two spaces).
pub fn pair(name: &str, kind: &str, spec: &str) -> String {
    format!(
        "apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: {name}
spec:
  mounts:
    - mountPoint: local:///mnt/data
      name: data
---
apiVersion: data.fluid.io/v1alpha1
kind: {kind}
metadata:
  name: {name}
spec:
{spec}"
    )
}

/// A Dataset and a ReferenceRuntime of the same name.
pub fn reference_pair(name: &str, replicas: i32) -> String {
    pair(
        name,
        "ReferenceRuntime",
        &format!("  replicas: {replicas}\n"),
    )
}

/// Waits until the Dataset `name` and its PVC are both Bound.
pub async fn wait_bound(ns: &str, name: &str) -> fluid_test_support::Result<()> {
    wait_until(
        &format!("dataset {ns}/{name} Bound with its PVC Bound"),
        WAIT,
        || async {
            let ds = get(ns, &format!("dataset/{name}")).ok_or_else(|| "no dataset".to_owned())?;
            let pvc = get(ns, &format!("pvc/{name}")).ok_or_else(|| "no pvc yet".to_owned())?;
            match (
                ds["status"]["phase"].as_str(),
                pvc["status"]["phase"].as_str(),
            ) {
                (Some("Bound"), Some("Bound")) => Ok(()),
                (d, p) => Err(format!("dataset {d:?}, pvc {p:?}")),
            }
        },
    )
    .await
}

/// The condition of a type in an object's status, if present.
pub fn condition(object: &Value, kind: &str) -> Option<Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .cloned()
}

/// Waits until the object `what` (`kind/name` in `ns`) has condition `kind` with `status`
/// (`"True"`, `"False"`); returns the condition.
pub async fn wait_condition(
    ns: &str,
    what: &str,
    kind: &str,
    status: &str,
) -> fluid_test_support::Result<Value> {
    wait_until(&format!("{what}: {kind}={status}"), WAIT, || async {
        let object = get(ns, what).ok_or_else(|| format!("no {what}"))?;
        condition(&object, kind)
            .filter(|c| c["status"] == status)
            .ok_or(format!("status {}", object["status"]))
    })
    .await
}
