//! An engine built out of tree, as a vendor builds one: the template crate `templates/engine`
//! copied to a temporary directory outside the workspace, its only paths into this checkout
//! the two SDK crates, its own tests run (the SDK's test kit, real helm), built by
//! `docker/build-plugin` (what the plugin image runs), loaded into fluid-controller and taken
//! to Bound on the local control plane, its fuse placed where the PV says.

mod common;

use common::controller::Controller;
use common::workspace_root;
use fluid_test_support::{kubectl, tool_path, wait_until, TestNamespace};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The template's SDK paths (a fluid-rs checkout next to the crate), pointed at this one.
fn point_at_this_checkout(manifest: &str, root: &Path) -> String {
    assert!(
        manifest.contains("path = \"../fluid-rs/plugin-api\""),
        "the template names the SDK by ../fluid-rs/plugin-api"
    );
    manifest.replace(
        "path = \"../fluid-rs/",
        &format!("path = \"{}/", root.display()),
    )
}

/// Copies the template out of the workspace; checks it names nothing else of ours.
fn vendor_crate(work: &Path) -> PathBuf {
    let root = workspace_root();
    let krate = work.join("vendorfs");
    common::copy_dir(&root.join("templates/engine"), &krate);
    let _ = std::fs::remove_dir_all(krate.join("target"));
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    let manifest = point_at_this_checkout(&manifest, &root);
    let ours: Vec<&str> = manifest
        .lines()
        .filter(|l| l.contains(&*root.display().to_string()))
        .collect();
    assert_eq!(
        ours.len(),
        3,
        "only the SDK comes from this checkout: {ours:#?}"
    );
    assert!(ours.iter().all(|l| l.contains("/plugin-api\"")
        || l.contains("/plugin-api\", features")
        || l.contains("/plugin-api/chart\"")));
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    // Same dependency versions as the workspace, so the build is quick and reproducible.
    std::fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    krate
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.env(
        "CARGO_TARGET_DIR",
        workspace_root().join("target/out-of-tree"),
    );
    cmd
}

fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn the_template_engine_built_out_of_tree_reaches_bound() {
    // Outside the repository: no workspace above it.
    let work = tempfile::Builder::new()
        .prefix("vendor-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    assert!(!work.path().starts_with(workspace_root()));
    let krate = vendor_crate(work.path());

    // The vendor's own tests: hooks through the scripted host, the chart through helm. (Not
    // --locked: cargo adds the vendor's own package to the copied lock file, keeping every
    // version in it; docker/build-plugin then builds --locked from that file.)
    let mut test = cargo();
    test.current_dir(&krate)
        .args(["test", "--quiet"])
        .env("FLUID_HELM", tool_path("helm").unwrap());
    let tests = run(test, "cargo test of the template");
    assert!(tests.contains("test result: ok. 5 passed"), "{tests}");

    // Built as the plugin image builds it.
    let plugins = tempfile::tempdir().unwrap();
    let mut build = Command::new(workspace_root().join("docker/build-plugin"));
    build
        .args(["--crate"])
        .arg(&krate)
        .args(["--profile", "dev", "--out"])
        .arg(plugins.path())
        .env(
            "CARGO_TARGET_DIR",
            workspace_root().join("target/out-of-tree"),
        );
    let library = PathBuf::from(run(build, "docker/build-plugin").trim());
    assert_eq!(library, plugins.path().join("libfluid_vendorfs.so"));

    let inspect = Command::new(env!("CARGO_BIN_EXE_fluid-controller"))
        .args(["plugins", "inspect"])
        .arg(&library)
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let info: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(info["runtime"]["kind"], "VendorFSRuntime");
    assert_eq!(info["hooks"], json!(["validate", "transform"]));
    assert_eq!(info["protocol"], "1.3");
    assert_eq!(info["mountType"], "fuse.rclone");

    // Its CRD is not in the controller's chart: applied from the plugin, as the guide says.
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
    let get = |what: &str| -> Result<Value, String> {
        serde_json::from_str(
            &kubectl(["get", what, "-n", &name, "-o", "json"]).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())
    };
    let bound = wait_until(
        "the vendor engine's Dataset to be Bound",
        Duration::from_secs(180),
        || async {
            let ds = get("dataset/vendordata")?;
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
    // No master: no master count (Fluid omits it).
    assert!(
        ds["status"]["runtimes"][0].get("masterReplicas").is_none(),
        "{ds:#}"
    );

    let sts = get("statefulset/vendordata-worker").unwrap();
    assert_eq!(sts["spec"]["replicas"], 2);
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["args"][3],
        "--vfs-cache-max-size=5Gi"
    );

    // The fuse mounts where the PV says, and runs where the CSI plugin will label: the
    // conventions the controller passed in, not ones the engine computed.
    let pv: Value = serde_json::from_str(
        &kubectl(["get", "pv", &format!("{name}-vendordata"), "-o", "json"]).unwrap(),
    )
    .unwrap();
    let attributes = &pv["spec"]["csi"]["volumeAttributes"];
    let fuse = get("daemonset/vendordata-fuse").unwrap();
    let pod = &fuse["spec"]["template"]["spec"];
    let fluid_path = attributes["fluid_path"].as_str().unwrap();
    assert_eq!(pod["containers"][0]["command"][3], fluid_path, "{pv:#}");
    assert!(
        fluid_path.starts_with(pod["volumes"][0]["hostPath"]["path"].as_str().unwrap()),
        "{fuse:#}"
    );
    let selector_key = attributes["mount_pod_node_selector_key"].as_str().unwrap();
    assert_eq!(pod["nodeSelector"][selector_key], "true", "{fuse:#}");
    assert_eq!(attributes["mount_type"], "fuse.rclone");
    assert_eq!(
        fuse["metadata"]["ownerReferences"][0]["kind"],
        "VendorFSRuntime"
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
