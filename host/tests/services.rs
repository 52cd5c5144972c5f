//! The host services against the local control plane: what reaches the API server and what
//! reaches an engine.

mod common;

use common::objects::assert_absent;
use fluid_host::services::{Cluster, Expiry, Install, ScopedServices};
use fluid_plugin_api::protocol::{GroupKind, Hook, ServiceErrorKind, ServiceFailure};
use fluid_plugin_api::ServiceHandler;
use fluid_test_support::{kubeconfig_path, kubectl, wait_until, TestNamespace};
use k8s_openapi::api::core::v1::ObjectReference;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The services a hook of runtime `demo` in `ns` gets, for engine `tester` whose chart is
/// `chart` and which declares `cluster_kinds`.
async fn scoped(
    ns: &TestNamespace,
    chart: &'static [u8],
    cluster_kinds: &[GroupKind],
) -> ScopedServices {
    // The chart engine runs as the controller runs it: a child process finding the cluster in
    // KUBECONFIG.
    static KUBECONFIG: std::sync::Once = std::sync::Once::new();
    KUBECONFIG.call_once(|| std::env::set_var("KUBECONFIG", kubeconfig_path().unwrap()));
    let cluster = Arc::new(Cluster::new(ns.client(), None));
    let helm =
        common::helm("fluid-rs-services-test").for_engine("tester", cluster_kinds, cluster.clone());
    ScopedServices {
        cluster,
        helm: Arc::new(helm),
        handle: tokio::runtime::Handle::current(),
        namespace: ns.name().to_owned(),
        runtime: ObjectReference {
            name: Some("demo".into()),
            namespace: Some(ns.name().into()),
            uid: Some(format!("uid-of-demo-in-{}", ns.name())),
            ..Default::default()
        },
        plugin: "tester".into(),
        chart,
        expiry: Expiry::new(Hook::SetupMaster, Duration::from_secs(120)),
        own: None,
    }
}

/// One service call, made as a hook makes it: from a blocking thread.
async fn call(
    services: &ScopedServices,
    service: &str,
    request: Value,
) -> Result<Value, ServiceFailure> {
    let services = services.clone();
    let service = service.to_owned();
    tokio::task::spawn_blocking(move || {
        services
            .call(&service, &request.to_string())
            .map(|answer| serde_json::from_str(&answer).unwrap())
    })
    .await
    .unwrap()
}

/// Engines get a Secret's keys, never its values, whichever service returns it. (Before:
/// `list` handed out the values, since list items carry no apiVersion/kind, and this test
/// failed on the first item.)
#[tokio::test(flavor = "multi_thread")]
async fn secret_values_never_reach_an_engine_through_any_service() {
    let ns = TestNamespace::create("redact").await.unwrap();
    // Client-side `kubectl apply` also keeps the whole object, values included, in an
    // annotation.
    common::objects::apply(
        ns.name(),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n\
         stringData: {metaurl: \"redis://user:t0ps3cret@db:6379/1\"}\n",
    );
    let services = scoped(&ns, &[], &[]).await;
    let blank = |o: &Value| {
        let data = o["data"].as_object().expect("the keys are kept");
        assert!(data.contains_key("metaurl"), "{o}");
        assert!(
            data.values().all(|v| v == ""),
            "a value reached the engine: {o}"
        );
    };

    let listed = call(
        &services,
        "list",
        json!({"apiVersion": "v1", "kind": "Secret"}),
    )
    .await
    .unwrap();
    let items = listed["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items.iter().filter(|i| i["data"].is_object()) {
        blank(item);
    }
    let got = call(
        &services,
        "get",
        json!({"apiVersion": "v1", "kind": "Secret", "name": "creds"}),
    )
    .await
    .unwrap();
    blank(&got["object"]);
    let applied = call(
        &services,
        "apply",
        json!({"object": {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "made", "namespace": ns.name()},
            "stringData": {"token": "an3ngin3s0wn"}}}),
    )
    .await
    .unwrap();
    let data = applied["object"]["data"].as_object().unwrap();
    assert!(data.values().all(|v| v == ""), "{applied}");

    // Only the answers are blanked: the Secret itself is intact, annotation included.
    let stored = common::objects::get(ns.name(), "secret/creds").unwrap();
    assert!(!stored["data"]["metaurl"].as_str().unwrap().is_empty());
    assert!(stored.to_string().contains("t0ps3cret"), "{stored}");
    ns.cleanup().await.unwrap();
}

/// An Event note over 1024 bytes is refused by the API server (the whole Event is lost): the
/// host cuts it, keeping valid UTF-8 and saying it did. (Before: no Event was recorded, and
/// this test timed out waiting for it.)
#[tokio::test(flavor = "multi_thread")]
async fn a_long_event_note_is_cut_to_the_api_limit_and_recorded() {
    let ns = TestNamespace::create("events").await.unwrap();
    kubectl(["create", "configmap", "target", "-n", ns.name()]).unwrap();
    let cluster = Cluster::new(ns.client(), None);
    let regarding = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some("target".into()),
        namespace: Some(ns.name().into()),
        ..Default::default()
    };
    let note = format!("engine said: {}", "värde ".repeat(400));
    assert!(note.len() > 2000);
    cluster.event(&regarding, true, "LongNote", &note).await;

    let recorded = wait_until("the LongNote Event", Duration::from_secs(20), || async {
        let out = kubectl([
            "get",
            "events.v1.events.k8s.io",
            "-n",
            ns.name(),
            "-o",
            "json",
        ])
        .map_err(|e| e.to_string())?;
        let list: Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
        list["items"]
            .as_array()
            .and_then(|items| items.iter().find(|e| e["reason"] == "LongNote").cloned())
            .ok_or_else(|| "not recorded".to_owned())
    })
    .await
    .unwrap();
    let text = recorded["note"].as_str().unwrap();
    assert!(text.len() <= 1024, "{} bytes", text.len());
    assert!(text.starts_with("engine said: värde värde"), "{text}");
    assert!(text.ends_with(" …[truncated]"), "{text}");
    ns.cleanup().await.unwrap();
}

/// A chart packed by `helm package`: `templates` as (file name, text).
fn chart(name: &str, templates: &[(&str, String)]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(name);
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(
        root.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
    )
    .unwrap();
    for (file, text) in templates {
        std::fs::write(root.join("templates").join(file), text).unwrap();
    }
    fluid_test_support::helm([
        "package",
        root.to_str().unwrap(),
        "-d",
        dir.path().to_str().unwrap(),
    ])
    .unwrap();
    std::fs::read(dir.path().join(format!("{name}-0.1.0.tgz"))).unwrap()
}

fn configmap(name: &str, namespace: Option<&str>) -> String {
    let ns = namespace
        .map(|n| format!("\n  namespace: {n}"))
        .unwrap_or_default();
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{ns}\n")
}

fn cluster_role(name: &str) -> String {
    format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\nrules: []\n")
}

/// A chart (the engine's own, or one a hook hands over) with an object in another namespace
/// and a ClusterRole the engine did not declare is refused before helm applies anything, naming
/// both objects. (Before: helm installed all three objects, and this test failed on the
/// `unwrap_err` of the first install.)
#[tokio::test(flavor = "multi_thread")]
async fn a_chart_reaching_outside_the_namespace_is_refused_before_anything_is_applied() {
    let ns = TestNamespace::create("scope").await.unwrap();
    let other = TestNamespace::create("scope-other").await.unwrap();
    let role = format!("escape-{}", ns.name());
    let escaping = chart(
        "escape",
        &[
            ("inside.yaml", configmap("inside", None)),
            ("elsewhere.yaml", configmap("elsewhere", Some(other.name()))),
            ("role.yaml", cluster_role(&role)),
        ],
    );
    let own: &'static [u8] = Box::leak(escaping.clone().into_boxed_slice());
    let services = scoped(&ns, own, &[]).await;
    let expected = [
        format!(
            "ConfigMap {o}/elsewhere: namespace {o} is not the runtime's namespace {n}",
            o = other.name(),
            n = ns.name()
        ),
        format!(
            "ClusterRole {role}: cluster-scoped, and engine tester does not declare \
             ClusterRole.rbac.authorization.k8s.io among its cluster-scoped kinds"
        ),
    ];
    let handed_over = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &escaping);
    for request in [
        json!({"release": "demo", "values": {}}),
        json!({"release": "demo", "values": {}, "chartBase64": handed_over}),
    ] {
        let err = call(&services, "helm_install", request).await.unwrap_err();
        assert_eq!(err.kind, ServiceErrorKind::BadRequest, "{err}");
        assert_eq!(
            err.message,
            format!(
                "refusing to install release demo: its chart would create objects outside \
                 namespace {}: {}; nothing was applied",
                ns.name(),
                expected.join("; ")
            )
        );
    }
    let status = call(&services, "helm_status", json!({"release": "demo"}))
        .await
        .unwrap();
    assert_eq!(status["exists"], false, "{status}");
    assert_absent(&["get", "configmap", "inside", "-n", ns.name()]);
    assert_absent(&["get", "configmap", "elsewhere", "-n", other.name()]);
    assert_absent(&["get", "clusterrole", &role]);

    // A cluster-scoped kind the engine declares is installed.
    let declared = chart(
        "declared",
        &[
            ("inside.yaml", configmap("inside", Some(ns.name()))),
            ("role.yaml", cluster_role(&role)),
        ],
    );
    let services = scoped(
        &ns,
        Box::leak(declared.into_boxed_slice()),
        &[GroupKind::of("rbac.authorization.k8s.io/v1", "ClusterRole")],
    )
    .await;
    let installed = call(
        &services,
        "helm_install",
        json!({"release": "demo", "values": {}}),
    )
    .await
    .unwrap();
    assert_eq!(installed["status"], "deployed", "{installed}");
    kubectl(["get", "clusterrole", &role]).unwrap();
    kubectl(["get", "configmap", "inside", "-n", ns.name()]).unwrap();
    call(&services, "helm_uninstall", json!({"release": "demo"}))
        .await
        .unwrap();
    assert_absent(&["get", "clusterrole", &role]);
    ns.cleanup().await.unwrap();
    other.cleanup().await.unwrap();
}

/// An engine's helm calls only reach the releases the host installed for its runtime: a
/// user's release of the same name, or another runtime's, is refused with its name and left
/// as it was. (Before: `helm_upgrade` replaced the user's release with the engine's chart,
/// `helm_uninstall` removed it, and this test failed on the first `unwrap_err`.)
#[tokio::test(flavor = "multi_thread")]
async fn an_engine_cannot_change_a_release_the_host_did_not_install_for_its_runtime() {
    let ns = TestNamespace::create("foreign-release").await.unwrap();
    let app = chart("user-app", &[("app.yaml", configmap("user-app", None))]);
    let dir = tempfile::tempdir().unwrap();
    let packed = dir.path().join("user-app.tgz");
    std::fs::write(&packed, &app).unwrap();
    fluid_test_support::helm([
        "install",
        "user-app",
        packed.to_str().unwrap(),
        "-n",
        ns.name(),
        "--wait",
    ])
    .unwrap();
    let engine = chart("engine", &[("engine.yaml", configmap("engine", None))]);
    let services = scoped(&ns, Box::leak(engine.into_boxed_slice()), &[]).await;
    for (service, request) in [
        ("helm_install", json!({"release": "user-app", "values": {}})),
        ("helm_upgrade", json!({"release": "user-app", "values": {}})),
        ("helm_uninstall", json!({"release": "user-app"})),
    ] {
        let err = call(&services, service, request).await.unwrap_err();
        assert_eq!(err.kind, ServiceErrorKind::BadRequest, "{service}: {err}");
        assert_eq!(
            err.message,
            format!(
                "Helm release {}/user-app exists and was not installed by fluid-rs for this \
                 runtime: engines may only change the releases the host installed for their \
                 runtime",
                ns.name()
            ),
            "{service}"
        );
    }
    kubectl(["get", "configmap", "user-app", "-n", ns.name()]).unwrap();
    assert_absent(&["get", "configmap", "engine", "-n", ns.name()]);

    // The runtime's own release is served; another runtime's services may not touch it.
    call(
        &services,
        "helm_install",
        json!({"release": "demo", "values": {}}),
    )
    .await
    .unwrap();
    let mut other = services.clone();
    other.runtime.uid = Some("uid-of-another-runtime".into());
    let err = call(&other, "helm_uninstall", json!({"release": "demo"}))
        .await
        .unwrap_err();
    assert!(
        err.message.contains("was installed for another runtime"),
        "{err}"
    );
    let ours = call(&services, "helm_uninstall", json!({"release": "demo"}))
        .await
        .unwrap();
    assert_eq!(ours["uninstalled"], true, "{ours}");
    ns.cleanup().await.unwrap();
}

/// `helm` (the CLI, ConfigMap storage as the controller's releases) run on the test cluster.
fn helm_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(fluid_test_support::tool_path("helm").unwrap())
        .args(args)
        .env("HELM_DRIVER", fluid_host::services::HELM_DRIVER)
        .env("KUBECONFIG", kubeconfig_path().unwrap())
        .output()
        .unwrap()
}

/// Releases made by the chart engine (resident or not) are ordinary helm releases: `helm
/// status`, `history` and `rollback` of the CLI see and change them, their records carry the
/// runtime's label, and the engine reads what the CLI did.
#[tokio::test(flavor = "multi_thread")]
async fn releases_of_the_chart_engine_are_real_helm_releases() {
    let ns = TestNamespace::create("engine").await.unwrap();
    let n = ns.name();
    // KUBECONFIG for the engine, as `scoped` sets it.
    scoped(&ns, &[], &[]).await;
    let cluster = Arc::new(Cluster::new(ns.client(), None));
    let helm = common::helm("fluid-rs-services-test").for_engine("tester", &[], cluster);
    let tgz = chart(
        "real",
        &[(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: real}\ndata: {v: \"{{ .Values.v }}\"}\n"
                .to_owned(),
        )],
    );
    let chart = fluid_host::services::Chart {
        name: "tester",
        tgz: &tgz,
    };
    let labels = [("fluid.io/runtime-uid", "uid-1")];
    let installed = helm
        .upgrade(
            n,
            "demo",
            chart,
            &json!({"v": "one"}),
            Install::Yes,
            &labels,
        )
        .await
        .unwrap();
    assert_eq!(
        (installed.status.as_str(), installed.revision),
        ("deployed", 1)
    );
    assert!(
        installed.manifest.contains("name: real"),
        "{}",
        installed.manifest
    );
    let upgraded = helm
        .upgrade(
            n,
            "demo",
            chart,
            &json!({"v": "two"}),
            Install::Yes,
            &labels,
        )
        .await
        .unwrap();
    assert_eq!(upgraded.revision, 2);
    let value = |n: &str| {
        kubectl([
            "get",
            "configmap",
            "real",
            "-n",
            n,
            "-o",
            "jsonpath={.data.v}",
        ])
        .unwrap()
    };
    assert_eq!(value(n), "two");

    let status = helm_cli(&["status", "demo", "-n", n, "-o", "json"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (
            status["info"]["status"].as_str(),
            status["version"].as_u64()
        ),
        (Some("deployed"), Some(2))
    );
    let records = kubectl([
        "get",
        "configmap",
        "-n",
        n,
        "-l",
        "owner=helm,name=demo,fluid.io/runtime-uid=uid-1",
        "-o",
        "name",
    ])
    .unwrap();
    assert_eq!(records.lines().count(), 2, "{records}");

    // The CLI rolls back; the engine sees revision 3; the engine rolls back; the CLI sees 4.
    let rb = helm_cli(&["rollback", "demo", "1", "-n", n]);
    assert!(
        rb.status.success(),
        "{}",
        String::from_utf8_lossy(&rb.stderr)
    );
    assert_eq!(value(n), "one");
    let seen = helm.status(n, "demo").await.unwrap().unwrap();
    assert_eq!((seen.status.as_str(), seen.revision), ("deployed", 3));
    helm.rollback(n, "demo").await.unwrap();
    assert_eq!(value(n), "two");
    let history = helm_cli(&["history", "demo", "-n", n, "-o", "json"]);
    let history: Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(history.as_array().map(Vec::len), Some(4), "{history}");

    assert!(helm.uninstall(n, "demo").await.unwrap());
    assert!(
        !helm.uninstall(n, "demo").await.unwrap(),
        "no release the second time"
    );
    assert_eq!(helm.status(n, "demo").await.unwrap(), None);
    let gone = helm_cli(&["status", "demo", "-n", n]);
    assert!(!gone.status.success());
    assert_absent(&["get", "configmap", "real", "-n", n]);

    // A failing op is an error naming the release, with helm's reason.
    let err = helm.rollback(n, "nothing").await.unwrap_err().to_string();
    assert!(err.starts_with("helm rollback nothing failed: "), "{err}");
    ns.cleanup().await.unwrap();
}
