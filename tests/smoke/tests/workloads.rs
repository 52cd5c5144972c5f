//! StatefulSet and DaemonSet pods are created by kube-controller-manager, scheduled by
//! kube-scheduler onto the kwok fake nodes and become Running and Ready.

use std::time::Duration;

use fluid_test_support::{wait_until, TestNamespace};
use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, PostParams};
use kube::Api;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(180);

fn running_and_ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

fn pod_template(app: &str) -> serde_json::Value {
    json!({
        "metadata": { "labels": { "app": app } },
        "spec": { "containers": [{ "name": "main", "image": "registry.invalid/fake:1" }] }
    })
}

async fn ready_pods_on_fake_nodes(pods: &Api<Pod>, app: &str) -> Result<Vec<Pod>, String> {
    let list = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .map_err(|e| e.to_string())?;
    let ready: Vec<Pod> = list
        .items
        .into_iter()
        .filter(running_and_ready)
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| n.starts_with("fluid-rs-node-"))
        })
        .collect();
    Ok(ready)
}

#[tokio::test]
async fn statefulset_pods_run_on_fake_nodes() -> anyhow::Result<()> {
    let ns = TestNamespace::create("smoke-sts").await?;
    let sets: Api<StatefulSet> = ns.api();
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": {
            "replicas": 2,
            "serviceName": "web",
            "selector": { "matchLabels": { "app": "web" } },
            "template": pod_template("web"),
        }
    }))?;
    sets.create(&PostParams::default(), &sts).await?;

    let pods: Api<Pod> = ns.api();
    let ready = wait_until("2 Running+Ready StatefulSet pods", TIMEOUT, || async {
        let ready = ready_pods_on_fake_nodes(&pods, "web").await?;
        if ready.len() == 2 {
            Ok(ready)
        } else {
            Err(format!("{} ready", ready.len()))
        }
    })
    .await?;
    let mut names: Vec<_> = ready
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["web-0", "web-1"]);

    wait_until("StatefulSet status.readyReplicas = 2", TIMEOUT, || async {
        let sts = sets.get("web").await.map_err(|e| e.to_string())?;
        let ready = sts.status.and_then(|s| s.ready_replicas).unwrap_or(0);
        if ready == 2 {
            Ok(())
        } else {
            Err(format!("readyReplicas {ready}"))
        }
    })
    .await?;
    ns.cleanup().await?;
    Ok(())
}

#[tokio::test]
async fn daemonset_runs_one_pod_per_fake_node() -> anyhow::Result<()> {
    let ns = TestNamespace::create("smoke-ds").await?;
    let nodes: Api<Node> = Api::all(ns.client());
    let fake_nodes = nodes
        .list(&ListParams::default().labels("type=kwok"))
        .await?
        .items
        .len();
    assert!(fake_nodes >= 1, "no kwok nodes in the cluster");

    let sets: Api<DaemonSet> = ns.api();
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": { "name": "agent" },
        "spec": {
            "selector": { "matchLabels": { "app": "agent" } },
            "template": pod_template("agent"),
        }
    }))?;
    sets.create(&PostParams::default(), &ds).await?;

    let pods: Api<Pod> = ns.api();
    let ready = wait_until(
        &format!("{fake_nodes} Running+Ready DaemonSet pods"),
        TIMEOUT,
        || async {
            let ready = ready_pods_on_fake_nodes(&pods, "agent").await?;
            if ready.len() == fake_nodes {
                Ok(ready)
            } else {
                Err(format!("{} ready", ready.len()))
            }
        },
    )
    .await?;
    let mut on: Vec<_> = ready
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    on.sort();
    on.dedup();
    assert_eq!(on.len(), fake_nodes, "one pod per node: {on:?}");
    ns.cleanup().await?;
    Ok(())
}
