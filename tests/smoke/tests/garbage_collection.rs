//! The garbage collector of kube-controller-manager deletes dependents of a deleted owner.

use std::time::Duration;

use fluid_test_support::{wait_until, TestNamespace};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::Api;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test]
async fn deleting_owner_configmap_collects_dependent() -> anyhow::Result<()> {
    let ns = TestNamespace::create("smoke-gc-cm").await?;
    let maps: Api<ConfigMap> = ns.api();
    let owner: ConfigMap = serde_json::from_value(json!({
        "metadata": { "name": "owner" }, "data": { "role": "owner" }
    }))?;
    let owner = maps.create(&PostParams::default(), &owner).await?;
    let uid = owner
        .metadata
        .uid
        .clone()
        .expect("created object has a uid");
    let dependent: ConfigMap = serde_json::from_value(json!({
        "metadata": {
            "name": "dependent",
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid,
            }],
        },
        "data": { "role": "dependent" }
    }))?;
    maps.create(&PostParams::default(), &dependent).await?;

    maps.delete("owner", &DeleteParams::background()).await?;
    wait_until(
        "dependent ConfigMap to be garbage-collected",
        TIMEOUT,
        || async {
            match maps.get_opt("dependent").await {
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
async fn deleting_deployment_collects_replicasets_and_pods() -> anyhow::Result<()> {
    let ns = TestNamespace::create("smoke-gc-deploy").await?;
    let deployments: Api<Deployment> = ns.api();
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "app" },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "app" } },
            "template": {
                "metadata": { "labels": { "app": "app" } },
                "spec": { "containers": [{ "name": "main", "image": "registry.invalid/fake:1" }] }
            }
        }
    }))?;
    deployments
        .create(&PostParams::default(), &deployment)
        .await?;

    let sets: Api<ReplicaSet> = ns.api();
    let pods: Api<Pod> = ns.api();
    let by_app = ListParams::default().labels("app=app");
    wait_until(
        "a ReplicaSet and 2 pods of the Deployment",
        TIMEOUT,
        || async {
            let rs = sets
                .list(&by_app)
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            let running = pods
                .list(&by_app)
                .await
                .map_err(|e| e.to_string())?
                .items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .count();
            if rs == 1 && running == 2 {
                Ok(())
            } else {
                Err(format!("{rs} ReplicaSets, {running} Running pods"))
            }
        },
    )
    .await?;

    deployments
        .delete("app", &DeleteParams::background())
        .await?;
    wait_until(
        "ReplicaSets and pods to be garbage-collected",
        TIMEOUT,
        || async {
            let rs = sets
                .list(&by_app)
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            let pods = pods
                .list(&by_app)
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            if rs == 0 && pods == 0 {
                Ok(())
            } else {
                Err(format!("{rs} ReplicaSets, {pods} pods left"))
            }
        },
    )
    .await?;
    ns.cleanup().await?;
    Ok(())
}
