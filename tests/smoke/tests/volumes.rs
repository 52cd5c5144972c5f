//! The persistentvolume-binder controller binds a static PersistentVolume to a claim.

use std::time::Duration;

use fluid_test_support::{wait_until, TestNamespace};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test]
async fn static_pv_binds_to_pvc() -> anyhow::Result<()> {
    let ns = TestNamespace::create("smoke-pv").await?;
    let pv_name = format!("{}-pv", ns.name());
    let volumes: Api<PersistentVolume> = Api::all(ns.client());
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": { "name": pv_name, "labels": { "fluid-rs.io/test": ns.name() } },
        "spec": {
            "capacity": { "storage": "1Gi" },
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "csi": { "driver": "fuse.csi.fluid.io", "volumeHandle": pv_name },
        }
    }))?;
    volumes.create(&PostParams::default(), &pv).await?;

    let claims: Api<PersistentVolumeClaim> = ns.api();
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": { "name": "data" },
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "resources": { "requests": { "storage": "1Gi" } },
            "selector": { "matchLabels": { "fluid-rs.io/test": ns.name() } },
        }
    }))?;
    claims.create(&PostParams::default(), &pvc).await?;

    let bound_to = wait_until("the PVC to be Bound", TIMEOUT, || async {
        let pvc = claims.get("data").await.map_err(|e| e.to_string())?;
        let phase = pvc.status.and_then(|s| s.phase).unwrap_or_default();
        if phase == "Bound" {
            Ok(pvc.spec.and_then(|s| s.volume_name).unwrap_or_default())
        } else {
            Err(format!("phase {phase:?}"))
        }
    })
    .await?;
    assert_eq!(bound_to, pv_name);

    wait_until("the PV to be Bound", TIMEOUT, || async {
        let pv = volumes.get(&pv_name).await.map_err(|e| e.to_string())?;
        let phase = pv.status.and_then(|s| s.phase).unwrap_or_default();
        if phase == "Bound" {
            Ok(())
        } else {
            Err(format!("phase {phase:?}"))
        }
    })
    .await?;

    ns.cleanup().await?;
    volumes.delete(&pv_name, &DeleteParams::default()).await?;
    Ok(())
}
