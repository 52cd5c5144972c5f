//! The pinned helm and kubectl work against the test cluster.

use std::time::Duration;

use fluid_test_support::{helm, kubectl, wait_until, TestNamespace};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

#[tokio::test]
async fn helm_upgrade_install_creates_the_chart_objects() -> anyhow::Result<()> {
    let ns = TestNamespace::create("smoke-helm").await?;
    let chart = tempfile::tempdir()?;
    std::fs::write(
        chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: smoke\nversion: 0.1.0\n",
    )?;
    std::fs::write(chart.path().join("values.yaml"), "greeting: hello\n")?;
    std::fs::create_dir(chart.path().join("templates"))?;
    std::fs::write(
        chart.path().join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n\
         data:\n  greeting: {{ .Values.greeting | quote }}\n",
    )?;
    let chart_dir = chart.path().to_string_lossy().into_owned();

    for greeting in ["hello", "again"] {
        helm([
            "upgrade",
            "--install",
            "smoke",
            &chart_dir,
            "--namespace",
            ns.name(),
            "--set",
            &format!("greeting={greeting}"),
            "--wait",
            "--timeout",
            "120s",
        ])?;
        let maps: Api<ConfigMap> = ns.api();
        let cm = maps.get("smoke-config").await?;
        assert_eq!(
            cm.data
                .unwrap_or_default()
                .get("greeting")
                .map(String::as_str),
            Some(greeting)
        );
    }
    let releases = helm(["list", "--namespace", ns.name(), "--short"])?;
    assert_eq!(releases.trim(), "smoke");
    helm(["uninstall", "smoke", "--namespace", ns.name(), "--wait"])?;
    let maps: Api<ConfigMap> = ns.api();
    wait_until(
        "the chart's ConfigMap to be gone",
        Duration::from_secs(60),
        || async {
            match maps.get_opt("smoke-config").await {
                Ok(None) => Ok(()),
                Ok(Some(_)) => Err("still there".into()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await?;
    ns.cleanup().await?;
    Ok(())
}

#[tokio::test]
async fn kubectl_get_works() -> anyhow::Result<()> {
    let ns = TestNamespace::create("smoke-kubectl").await?;
    let nodes = kubectl(["get", "nodes", "-o", "name"])?;
    assert!(
        nodes
            .lines()
            .filter(|l| l.starts_with("node/fluid-rs-node-"))
            .count()
            >= 1,
        "kubectl get nodes: {nodes}"
    );
    kubectl([
        "create",
        "configmap",
        "made-by-kubectl",
        "--from-literal=k=v",
        "-n",
        ns.name(),
    ])?;
    let value = kubectl([
        "get",
        "configmap",
        "made-by-kubectl",
        "-n",
        ns.name(),
        "-o",
        "jsonpath={.data.k}",
    ])?;
    assert_eq!(value, "v");
    let version = kubectl(["version", "-o", "json"])?;
    let version: serde_json::Value = serde_json::from_str(&version)?;
    assert_eq!(version["serverVersion"]["minor"], "35", "{version}");
    ns.cleanup().await?;
    Ok(())
}
