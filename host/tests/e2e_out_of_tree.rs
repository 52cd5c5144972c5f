//! An engine built out of tree, as a vendor builds one: `tests/out-of-tree/vendorfs` copied
//! to a temporary directory outside the workspace, depending on `fluid-plugin-api` by path,
//! built with plain `cargo build`, loaded into fluid-controller, and taken to Bound.

mod common;

use common::controller::Controller;
use common::workspace_root;
use fluid_test_support::{kubectl, wait_until, TestNamespace};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Builds the vendor crate; returns its library.
fn build_vendor_engine(work: &Path) -> PathBuf {
    let root = workspace_root();
    let krate = work.join("vendorfs");
    common::copy_dir(&root.join("tests/out-of-tree/vendorfs"), &krate);
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml"))
        .unwrap()
        .replace(
            "@PLUGIN_API@",
            &root.join("plugin-api").display().to_string(),
        )
        .replace(
            "@PLUGIN_CHART@",
            &root.join("plugin-api/chart").display().to_string(),
        );
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    // Same dependency versions as the workspace, so the build is quick and reproducible.
    std::fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let target = root.join("target/out-of-tree");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&krate)
        .args(["build", "--quiet", "--target-dir"])
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success(), "building the out-of-tree engine failed");
    target.join("debug/libfluid_vendorfs.so")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_built_out_of_tree_reaches_bound() {
    // Outside the repository: no workspace above it.
    let work = tempfile::Builder::new()
        .prefix("vendor-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    assert!(!work.path().starts_with(workspace_root()));
    let library = build_vendor_engine(work.path());

    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(&library, plugins.path().join("libfluid_vendorfs.so")).unwrap();
    let inspect = Command::new(env!("CARGO_BIN_EXE_fluid-controller"))
        .args(["plugins", "inspect"])
        .arg(plugins.path().join("libfluid_vendorfs.so"))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let info: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(info["runtime"]["kind"], "VendorFSRuntime");
    assert_eq!(info["hooks"], serde_json::json!(["transform"]));

    common::controller::install_crds(plugins.path());

    let logs = tempfile::tempdir().unwrap();
    let controller = Controller::start(plugins.path(), logs.path().join("controller.log"));
    let ns = TestNamespace::create("vendor").await.unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata: {name: vendordata}
spec:
  mounts: [{mountPoint: 'vendorfs://bucket/data', name: data}]
---
apiVersion: vendor.example.com/v1alpha1
kind: VendorFSRuntime
metadata: {name: vendordata}
spec: {replicas: 2, cacheSize: 5Gi}
",
    )
    .unwrap();
    kubectl([
        "apply",
        "-n",
        ns.name(),
        "-f",
        file.path().to_str().unwrap(),
    ])
    .unwrap();
    let name = ns.name().to_owned();
    let bound = wait_until(
        "the vendor engine's Dataset to be Bound",
        Duration::from_secs(180),
        || async {
            let ds: Value = serde_json::from_str(
                &kubectl(["get", "dataset/vendordata", "-n", &name, "-o", "json"])
                    .map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            match ds["status"]["phase"].as_str() {
                Some("Bound") => Ok(ds),
                other => Err(format!("phase {other:?}")),
            }
        },
    )
    .await;
    let ds =
        bound.unwrap_or_else(|e| panic!("{e}\n--- controller log ---\n{}", controller.log_tail()));
    assert_eq!(ds["status"]["runtimes"][0]["type"], "vendorfs");
    let sts: Value = serde_json::from_str(
        &kubectl([
            "get",
            "statefulset/vendordata-worker",
            "-n",
            ns.name(),
            "-o",
            "json",
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(sts["spec"]["replicas"], 2);
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "--cache-size=5Gi"
    );
    kubectl([
        "delete",
        "vendorfsruntime/vendordata",
        "dataset/vendordata",
        "-n",
        ns.name(),
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
    drop(controller);
    ns.cleanup().await.unwrap();
}
