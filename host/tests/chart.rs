//! The controller's chart and images: lint, render, server-side dry run, a real install on the
//! local control plane, and the consistency between the chart and the Dockerfiles (no container
//! engine here: what can be checked without one is checked).

mod common;

use common::workspace_root;
use fluid_test_support::{helm, kubeconfig_path, kubectl, tool_path, TestNamespace};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

fn chart() -> String {
    workspace_root()
        .join("charts/fluid-rs")
        .display()
        .to_string()
}

fn render(extra: &[&str]) -> Vec<Value> {
    let chart = chart();
    let mut args = vec![
        "template",
        "fluid-rs",
        &chart,
        "--namespace",
        "fluid-system",
    ];
    args.extend_from_slice(extra);
    let out = helm(args).unwrap();
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
fn the_chart_lints() {
    let out = helm(["lint", &chart()]).unwrap();
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn the_deployment_is_locked_down_and_gets_every_plugin() {
    // A vendor adds an engine with one entry in values.
    let values = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(values.path(), "plugins:\n  - {name: juicefs, image: ghcr.io/fluid-rs/plugin-juicefs:0.1.0}\n  - {name: vendorfs, image: example.com/vendorfs:1}\n").unwrap();
    let docs = render(&["-f", values.path().to_str().unwrap()]);
    let deploy = find(&docs, "Deployment");
    let pod = &deploy["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--leader-elect"), "{args:?}");
    let inits: Vec<&str> = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(inits, ["copier", "plugin-juicefs", "plugin-vendorfs"]);
    // The copy runs inside a FROM-scratch image with the controller image's static busybox.
    assert_eq!(pod["initContainers"][1]["command"][0], "/tools/busybox");

    let docs = render(&["--set", "pluginDelivery=imageVolumes"]);
    let pod = &find(&docs, "Deployment")["spec"]["template"]["spec"];
    assert!(pod["initContainers"].is_null());
    let vol = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "plugin-juicefs")
        .unwrap();
    assert_eq!(
        vol["image"]["reference"],
        "ghcr.io/fluid-rs/plugin-juicefs:0.1.0"
    );
}

#[test]
fn rbac_lists_what_the_controller_calls_and_nothing_cluster_wide_beyond() {
    let docs = render(&[]);
    let role = find(&docs, "ClusterRole");
    let rules = role["rules"].as_array().unwrap();
    let resources: Vec<&str> = rules
        .iter()
        .flat_map(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
        })
        .collect();
    for needed in [
        "datasets",
        "datasets/status",
        "juicefsruntimes",
        "juicefsruntimes/status",
        "statefulsets/scale",
        "pods/exec",
        "persistentvolumes",
        "events",
        "dataloads/status",
        "jobs",
        "cronjobs",
    ] {
        assert!(
            resources.contains(&needed),
            "{needed} missing from {resources:?}"
        );
    }
    assert!(!resources.contains(&"*"), "no wildcard resources");
    assert!(
        rules
            .iter()
            .all(|r| r["verbs"].as_array().unwrap().iter().all(|v| v != "*")),
        "no wildcard verbs"
    );
    // Leases only in the release namespace.
    assert!(!resources.contains(&"leases"));
    let leader = docs.iter().find(|d| d["kind"] == "Role").unwrap();
    assert_eq!(leader["rules"][0]["resources"][0], "leases");
}

#[test]
fn a_vendor_runtime_kind_gets_a_rule_in_its_own_group() {
    let docs = render(&[
        "--set",
        "runtimeResources={juicefsruntimes,vendorfsruntimes.vendor.example.com}",
    ]);
    let rules = find(&docs, "ClusterRole")["rules"].as_array().unwrap();
    let fluid = rules
        .iter()
        .find(|r| r["apiGroups"][0] == "data.fluid.io")
        .unwrap();
    assert!(
        !fluid["resources"].to_string().contains("vendorfs"),
        "{fluid}"
    );
    let vendor: Vec<&Value> = rules
        .iter()
        .filter(|r| r["apiGroups"] == serde_json::json!(["vendor.example.com"]))
        .collect();
    assert_eq!(vendor.len(), 1, "{rules:#?}");
    assert_eq!(
        vendor[0]["resources"],
        serde_json::json!(["vendorfsruntimes", "vendorfsruntimes/status"])
    );
    assert_eq!(vendor[0]["verbs"], fluid["verbs"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chart_installs_and_every_object_is_accepted() {
    let ns = TestNamespace::create("chart").await.unwrap();
    let rendered = helm(["template", "fluid-rs", &chart(), "--namespace", ns.name()]).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &rendered).unwrap();
    let out = kubectl([
        "apply",
        "--dry-run=server",
        "-n",
        ns.name(),
        "-f",
        file.path().to_str().unwrap(),
    ])
    .unwrap();
    assert!(
        out.contains("deployment.apps/fluid-rs created (server dry run)"),
        "{out}"
    );

    // A release name per namespace keeps the cluster-scoped RBAC objects apart.
    let release = format!("fluid-rs-{}", ns.name().rsplit('-').next().unwrap());
    helm([
        "install",
        &release,
        &chart(),
        "--namespace",
        ns.name(),
        "--skip-crds",
    ])
    .unwrap();
    let status = helm(["status", &release, "-n", ns.name(), "-o", "json"]).unwrap();
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["info"]["status"], "deployed");
    let deploy = kubectl(["get", "deployment", "-n", ns.name(), "-o", "json"]).unwrap();
    let deploy: Value = serde_json::from_str(&deploy).unwrap();
    assert_eq!(deploy["items"].as_array().unwrap().len(), 1);
    helm(["uninstall", &release, "-n", ns.name()]).unwrap();
    ns.cleanup().await.unwrap();
}

#[test]
fn the_images_provide_what_the_chart_expects() {
    let root = workspace_root();
    let controller = std::fs::read_to_string(root.join("docker/Dockerfile.controller")).unwrap();
    let plugin = std::fs::read_to_string(root.join("docker/Dockerfile.plugin")).unwrap();
    let deployment =
        std::fs::read_to_string(root.join("charts/fluid-rs/templates/deployment.yaml")).unwrap();
    // Paths the chart uses inside the images.
    for path in [
        "/usr/local/bin/busybox",
        "/usr/local/bin/helm",
        "/usr/local/bin/fluid-controller",
    ] {
        assert!(
            controller.contains(path),
            "Dockerfile.controller does not provide {path}"
        );
        assert!(
            deployment.contains(path) || path.ends_with("fluid-controller"),
            "the chart does not use {path}"
        );
    }
    assert!(
        controller.contains("USER 65532"),
        "the controller image runs as non-root"
    );
    assert!(plugin.contains("FROM scratch"));
    // The image's build is docker/build-plugin (run by e2e_out_of_tree on a vendor's crate),
    // for an engine of this repository or an external crate, into /plugin.
    assert!(plugin.contains("\"$SDK/docker/build-plugin\" --crate \"$CRATE\" --out /plugin"));
    assert!(plugin.contains("\"$SDK/docker/build-plugin\" --engine \"$ENGINE\" --out /plugin"));
    assert!(plugin.contains("COPY --from=build /plugin/ /plugin/"));
    assert!(deployment.contains("cp /plugin/*.so /plugins/"));
    // Every engine under plugins/ is the crate `--engine` builds.
    for entry in std::fs::read_dir(root.join("plugins")).unwrap() {
        let dir = entry.unwrap().path();
        let engine = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("name = \"fluid-{engine}\"")),
            "plugins/{engine} must be crate fluid-{engine}"
        );
        assert!(
            manifest.contains("cdylib"),
            "plugins/{engine} must build a cdylib"
        );
    }
}

#[test]
fn build_plugin_refuses_unclear_arguments_before_building() {
    let script = workspace_root().join("docker/build-plugin");
    for (args, expected) in [
        (vec![], "give --engine NAME or --crate DIR"),
        (vec!["--engine", "juicefs", "--crate", "."], "not both"),
        (
            vec!["--crate", "/nonexistent"],
            "/nonexistent/Cargo.toml not found",
        ),
        (vec!["--jobs", "2"], "unknown argument --jobs"),
    ] {
        let out = std::process::Command::new(&script)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    }
}

/// The init container's own command, run here on the layout it meets in a pod (an emptyDir is
/// world-writable, mode 0777), leaves the plugin where the loader accepts it.
#[test]
fn the_init_container_delivery_satisfies_the_loaders_directory_rule() {
    let values = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        values.path(),
        "plugins:\n  - {name: alpha, image: example.com/alpha:1}\n",
    )
    .unwrap();
    let docs = render(&["-f", values.path().to_str().unwrap()]);
    let pod = &find(&docs, "Deployment")["spec"]["template"]["spec"];
    let init = &pod["initContainers"][1];
    assert_eq!(init["name"], "plugin-alpha");
    let args: Vec<&str> = init["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args[..3], ["/tools/busybox", "sh", "-c"]);

    let root = tempfile::tempdir().unwrap();
    let image = root.path().join("plugin");
    let empty_dir = root.path().join("plugins");
    std::fs::create_dir(&image).unwrap();
    std::fs::copy(common::fixture("alpha"), image.join("libfluid_alpha.so")).unwrap();
    std::fs::create_dir(&empty_dir).unwrap();
    std::fs::set_permissions(&empty_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = args[3]
        .replace("/plugins", empty_dir.to_str().unwrap())
        .replace("/plugin/", &format!("{}/", image.display()));
    // Twice: init containers run again when the pod's sandbox is recreated, and the emptyDir
    // keeps what the first run copied.
    for _ in 0..2 {
        let status = std::process::Command::new("sh")
            .args(["-c", &script])
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    }
    let registry = fluid_host::plugins::Registry::load_dir(&empty_dir).unwrap();
    assert!(registry.refused().is_empty(), "{:?}", registry.refused());
    assert_eq!(registry.plugins().len(), 1);
    assert_eq!(registry.plugins()[0].info().name, "alpha");
}

/// `kubectl auth can-i` as the controller's ServiceAccount of a real install: what the
/// controller and the bundled engines call is allowed, the rest (Secret writes and watches,
/// RBAC objects, other workloads, core Events) is not; an exec into a pod passes authorization
/// (it then fails to reach the fake node's kubelet). (Before the cut: Secret writes, Roles,
/// RoleBindings, ServiceAccounts, Services and core Events were allowed and this test failed
/// on them.)
#[tokio::test(flavor = "multi_thread")]
async fn the_controller_account_may_do_what_the_controller_and_engines_need_and_no_more() {
    // The CRDs the chart ships, so that can-i knows the runtime kinds.
    let crds = workspace_root().join("charts/fluid-rs/crds/fluid-rs.yaml");
    kubectl([
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        crds.to_str().unwrap(),
    ])
    .unwrap();
    let ns = TestNamespace::create("rbac").await.unwrap();
    let n = ns.name();
    let release = format!("fluid-rs-{}", n.rsplit('-').next().unwrap());
    helm([
        "install",
        &release,
        &chart(),
        "--namespace",
        n,
        "--skip-crds",
        "--set",
        "replicas=0",
        // The CSIDriver is cluster-wide and one of a name: other tests install the chart too.
        "--set",
        "csi.enabled=false",
    ])
    .unwrap();
    let account = format!("system:serviceaccount:{n}:{release}");
    let can = |verb: &str, resource: &str| -> bool {
        let (resource, sub) = match resource.split_once('/') {
            Some((r, s)) => (r, format!("--subresource={s}")),
            None => (resource, "--subresource=".to_owned()),
        };
        // `can-i` prints yes or no, and exits 1 for no.
        let out = std::process::Command::new(tool_path("kubectl").unwrap())
            .args([
                "auth", "can-i", verb, resource, &sub, "-n", n, "--as", &account,
            ])
            .env("KUBECONFIG", kubeconfig_path().unwrap())
            .output()
            .unwrap();
        match String::from_utf8_lossy(&out.stdout).trim() {
            "yes" => true,
            "no" => false,
            other => panic!(
                "can-i {verb} {resource}: {other} {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    };
    let allowed = [
        ("watch", "datasets.data.fluid.io"),
        ("update", "datasets.data.fluid.io"),
        ("patch", "datasets.data.fluid.io/status"),
        ("patch", "juicefsruntimes.data.fluid.io"),
        ("patch", "juicefsruntimes.data.fluid.io/status"),
        ("create", "statefulsets.apps"),
        ("delete", "daemonsets.apps"),
        ("watch", "statefulsets.apps"),
        ("patch", "statefulsets.apps/scale"),
        ("create", "persistentvolumes"),
        ("delete", "persistentvolumeclaims"),
        ("watch", "pods"),
        ("create", "pods/exec"),
        ("get", "pods/exec"),
        ("create", "configmaps"),
        ("delete", "configmaps"),
        ("get", "secrets"),
        ("list", "secrets"),
        // Helm release records kept in Secrets, watched by their metadata (label owner=helm);
        // list already reads what a watch reads.
        ("watch", "secrets"),
        ("watch", "configmaps"),
        ("get", "nodes"),
        ("list", "nodes"),
        ("patch", "nodes"),
        ("create", "events.events.k8s.io"),
        ("patch", "events.events.k8s.io"),
        ("update", "leases.coordination.k8s.io"),
        // Data operations and the Jobs and CronJobs that run them.
        ("patch", "dataloads.data.fluid.io/status"),
        ("delete", "datamigrates.data.fluid.io"),
        ("create", "jobs.batch"),
        ("delete", "cronjobs.batch"),
    ];
    let denied = [
        ("create", "secrets"),
        ("update", "secrets"),
        ("delete", "secrets"),
        ("create", "roles.rbac.authorization.k8s.io"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("create", "serviceaccounts"),
        ("create", "serviceaccounts/token"),
        ("create", "services"),
        ("create", "pods"),
        ("delete", "pods"),
        ("create", "deployments.apps"),
        ("create", "events"),
        ("delete", "namespaces"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("delete", "nodes"),
        ("delete", "datasets.data.fluid.io"),
        ("create", "juicefsruntimes.data.fluid.io"),
        ("impersonate", "users"),
    ];
    let wrong: Vec<String> = allowed
        .iter()
        .filter(|(v, r)| !can(v, r))
        .map(|(v, r)| format!("{v} {r} should be allowed"))
        .chain(
            denied
                .iter()
                .filter(|(v, r)| can(v, r))
                .map(|(v, r)| format!("{v} {r} should be denied")),
        )
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");

    // Exec as the account: authorized, then the fake node's kubelet is unreachable. (kubectl
    // falls back from WebSocket to a POST: the controller's own exec is proved by
    // e2e_rbac.rs.)
    kubectl([
        "run",
        "target",
        "-n",
        n,
        "--image=busybox",
        "--restart=Never",
        "--",
        "sleep",
        "1000",
    ])
    .unwrap();
    kubectl([
        "wait",
        "pod/target",
        "-n",
        n,
        "--for=condition=Ready",
        "--timeout=60s",
    ])
    .unwrap();
    let exec = kubectl(["exec", "target", "-n", n, "--as", &account, "--", "true"]);
    let message = exec
        .expect_err("no kubelet serves the kwok node")
        .to_string();
    assert!(!message.contains("forbidden"), "{message}");
    assert!(
        message.contains("dialing backend") || message.contains("10250"),
        "{message}"
    );

    helm(["uninstall", &release, "-n", n]).unwrap();
    ns.cleanup().await.unwrap();
}
