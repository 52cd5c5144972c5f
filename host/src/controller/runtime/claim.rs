//! Claiming the Dataset (the runtime's finalizer is already in place, so a claim never
//! outlives the runtime): this runtime in the Dataset's `status.runtimes`, written against the
//! Dataset's resourceVersion so two runtimes racing for one Dataset cannot both win; then an
//! ownerReference to the Dataset and the `fluid.io/dataset-id` label on the runtime and the
//! Dataset (Fluid's).

use super::pass::Pass;
use super::ReconcileError;
use crate::controller::caches::DATASET_ID_LABEL;
use crate::controller::conditions::{types, Condition};
use crate::controller::names;
use crate::services::api_err;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// Fluid's dataset category for cache runtimes.
const CATEGORY: &str = "Accelerate";

pub(super) async fn claim(pass: &mut Pass<'_>) -> Result<(), ReconcileError> {
    let (ns, name) = (pass.ns.clone(), pass.name.clone());
    let Some(dataset) = pass.dataset.clone() else {
        return Err(ReconcileError::Invalid(format!(
            "dataset {ns}/{name} vanished"
        )));
    };
    let dataset_uid = pass.dataset_uid().to_owned();
    if !pass.observe()?.claimed() {
        let mut runtimes = pass
            .dataset_status
            .get("runtimes")
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut entry = json!({
            "name": name, "namespace": ns, "category": CATEGORY, "type": pass.ctx.engine(),
        });
        // Only an engine with a master says how many (Fluid omits 0: `omitempty`).
        if let Some(n) = master_replicas(&pass.runtime_json) {
            entry["masterReplicas"] = json!(n);
        }
        runtimes.push(entry);
        let mut status = json!({ "runtimes": runtimes });
        crate::controller::schema::complete(
            &mut status,
            &pass.dataset_status.as_value(),
            &pass.ctx.dataset_status.required,
        );
        let patch = json!({
            "metadata": {"resourceVersion": dataset.metadata.resource_version},
            "status": status,
        });
        let written = pass
            .datasets_api()
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api_err(format!("claim dataset {ns}/{name}")))?;
        pass.wrote_dataset(written);
    }
    let id = names::dataset_id(&ns, &name, &dataset_uid);
    // Fluid labels the Dataset too (the same label as on its PV, PVC and values).
    let labelled = pass
        .dataset
        .as_ref()
        .and_then(|d| d.metadata.labels.as_ref())
        .and_then(|l| l.get(DATASET_ID_LABEL))
        == Some(&id);
    if !labelled {
        let patch = json!({"metadata": {"labels": {DATASET_ID_LABEL: id}}});
        let written = pass
            .datasets_api()
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api_err(format!("label dataset {ns}/{name}")))?;
        pass.wrote_dataset(written);
    }
    let meta = &pass.runtime.metadata;
    let mut owners = meta.owner_references.clone().unwrap_or_default();
    if !owners.iter().any(|o| o.uid == dataset_uid) {
        owners.push(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "data.fluid.io/v1alpha1".into(),
                kind: "Dataset".into(),
                name: name.clone(),
                uid: dataset_uid.clone(),
                ..Default::default()
            },
        );
    }
    let patch = json!({"metadata": {
        "ownerReferences": owners,
        "labels": {DATASET_ID_LABEL: id},
        "resourceVersion": meta.resource_version,
    }});
    let written = pass
        .runtimes_api()
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("label runtime {ns}/{name}")))?;
    pass.wrote_runtime(written);
    // Claimed is not Bound: the Dataset becomes Bound once the engine is set up (`bind`), and
    // an invalid spec keeps it NotBound.
    let message = format!(
        "claimed dataset {ns}/{name} (this runtime is in its status.runtimes); it becomes Bound \
         once the engine is set up"
    );
    pass.report(
        &Condition {
            kind: types::DATASET_BOUND,
            status: false,
            reason: "DatasetClaimed",
            message: &message,
        },
        None,
    );
    Ok(())
}

/// The runtime's `spec.master.replicas`, when it has a master and says how many.
fn master_replicas(runtime: &serde_json::Value) -> Option<i64> {
    runtime["spec"]["master"]["replicas"]
        .as_i64()
        .filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_replicas_only_for_an_engine_with_a_master() {
        let with = json!({"spec": {"master": {"replicas": 3}, "replicas": 2}});
        assert_eq!(master_replicas(&with), Some(3));
        // JuiceFS, the reference engine, vendorfs: no master, no count (not 1).
        assert_eq!(master_replicas(&json!({"spec": {"replicas": 2}})), None);
        assert_eq!(
            master_replicas(&json!({"spec": {"master": {"replicas": 0}}})),
            None
        );
    }
}
