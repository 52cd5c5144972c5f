//! The CSI part of charts/fluid-rs: what the DaemonSet, the CSIDriver and the RBAC render to,
//! with the default and another driver name, and that the API server accepts them. (That the
//! RBAC is enough is proven by tests/juicefs.rs, whose plugin runs with it.)

use fluid_test_support::{helm, kubectl, repo_root, TestNamespace};
use serde_json::{json, Value};

fn render(ns: &str, extra: &[&str]) -> Vec<Value> {
    let chart = repo_root().join("charts/fluid-rs").display().to_string();
    let mut args: Vec<String> = ["template", "fluid-rs", &chart, "--namespace", ns]
        .map(str::to_owned)
        .to_vec();
    for t in ["csi-daemonset.yaml", "csi-driver.yaml", "rbac_csi.yaml"] {
        args.extend(["--show-only".to_owned(), format!("templates/{t}")]);
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let out = helm(&args).unwrap();
    serde_yaml::Deserializer::from_str(&out)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter(|v: &Value| v.is_object())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered"))
}

#[test]
fn the_daemonset_driver_and_rbac_are_what_the_kubelet_and_the_plugin_need() {
    let docs = render("fluid-system", &[]);
    let ds = find(&docs, "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(
        pod["containers"].as_array().unwrap().len(),
        1,
        "no registrar sidecar"
    );
    assert_eq!(c["securityContext"]["privileged"], true);
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        "--endpoint=unix:///var/lib/kubelet/plugins/fuse.csi.fluid.io/csi.sock",
        "--node-id=$(NODE_NAME)",
        "--driver-name=fuse.csi.fluid.io",
        "--registration-dir=/var/lib/kubelet/plugins_registry",
    ] {
        assert!(args.contains(&want), "{want} missing from {args:?}");
    }
    let mounts = c["volumeMounts"].as_array().unwrap();
    let mount = |path: &str| mounts.iter().find(|m| m["mountPath"] == path).unwrap();
    assert_eq!(
        mount("/var/lib/kubelet")["mountPropagation"],
        "Bidirectional"
    );
    assert_eq!(mount("/runtime-mnt")["mountPropagation"], "HostToContainer");
    assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]));

    let driver = find(&docs, "CSIDriver");
    assert_eq!(driver["metadata"]["name"], "fuse.csi.fluid.io");
    assert_eq!(driver["spec"]["attachRequired"], false);
    assert_eq!(driver["spec"]["podInfoOnMount"], true);

    // Exactly what the plugin calls: no runtime kind, no list or watch, nothing else.
    let role = find(&docs, "ClusterRole");
    let mut rules: Vec<String> =
        role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                let verbs: Vec<String> = r["verbs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect();
                let group = r["apiGroups"][0].as_str().unwrap().to_owned();
                r["resources"].as_array().unwrap().iter().map(move |res| {
                    format!("{group}/{}: {}", res.as_str().unwrap(), verbs.join(","))
                })
            })
            .collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            "/nodes: patch",
            "/persistentvolumeclaims: get",
            "/persistentvolumes: get",
            "data.fluid.io/datasets: get",
            "events.k8s.io/events: create,patch",
        ]
    );
    let binding = find(&docs, "ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["name"], pod["serviceAccountName"]);
    assert_eq!(binding["subjects"][0]["namespace"], "fluid-system");
}

#[test]
fn another_driver_name_moves_every_socket() {
    let docs = render(
        "fluid-system",
        &[
            "--set",
            "csi.driverName=fuse.csi.fluid-rs.io",
            "--set",
            "csi.kubeletRootDir=/data/kubelet/",
        ],
    );
    let c = &find(&docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"--endpoint=unix:///data/kubelet/plugins/fuse.csi.fluid-rs.io/csi.sock"),
        "{args:?}"
    );
    assert!(
        args.contains(&"--registration-dir=/data/kubelet/plugins_registry"),
        "{args:?}"
    );
    assert!(
        args.contains(&"--driver-name=fuse.csi.fluid-rs.io"),
        "{args:?}"
    );
    assert_eq!(
        find(&docs, "CSIDriver")["metadata"]["name"],
        "fuse.csi.fluid-rs.io"
    );
    let chart = repo_root().join("charts/fluid-rs").display().to_string();
    let off = helm(["template", "fluid-rs", &chart, "--set", "csi.enabled=false"]).unwrap();
    assert!(
        !off.contains("kind: CSIDriver") && !off.contains("csi-nodeplugin"),
        "{off}"
    );
}

#[tokio::test]
async fn the_api_server_accepts_the_csi_objects() {
    let ns = TestNamespace::create("csi-chart").await.unwrap();
    let docs = render(ns.name(), &[]);
    let text: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    let out = kubectl([
        "apply",
        "--dry-run=server",
        "-n",
        ns.name(),
        "-f",
        file.path().to_str().unwrap(),
    ])
    .unwrap();
    for what in [
        "daemonset.apps/fluid-rs-csi-nodeplugin",
        "csidriver.storage.k8s.io/fuse.csi.fluid.io",
        "clusterrole.rbac.authorization.k8s.io/fluid-rs-csi",
    ] {
        assert!(
            out.contains(&format!("{what} created (server dry run)")),
            "{out}"
        );
    }
    ns.cleanup().await.unwrap();
}
