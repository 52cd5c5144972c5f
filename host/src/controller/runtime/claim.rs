//! Adopting the runtime and claiming the Dataset. Adoption is one write of the runtime's
//! metadata: the controller's finalizer (so a claim never outlives the runtime), an
//! ownerReference to the Dataset and the `fluid.io/dataset-id` label (Fluid's order: owner,
//! finalizer, label, each its own write there). The claim is this runtime in the Dataset's
//! `status.runtimes`, written against the Dataset's resourceVersion so two runtimes racing for
//! one Dataset cannot both win.

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
        // A Dataset applied with its runtime gets its first phase here, in the claim's write
        // (the Dataset controller leaves it to the claim for a while: `dataset::CLAIM_GRACE`).
        if pass
            .dataset_status
            .get("phase")
            .as_str()
            .is_none_or(str::is_empty)
        {
            status["phase"] = json!("NotBound");
        }
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
    Ok(())
}

/// Says the Dataset is claimed but not Bound yet; asked in every setup pass (the pass that
/// claimed may not have written its status).
pub(super) fn report_claimed(pass: &mut Pass<'_>) {
    let (ns, name) = (&pass.ns, &pass.name);
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
}

/// Adds the finalizer, the ownerReference to the Dataset and the dataset-id label in one merge
/// patch against the runtime's resourceVersion (a concurrent change of the finalizer list
/// fails with a conflict and the pass decides again on fresh data).
pub(super) async fn adopt(pass: &mut Pass<'_>) -> Result<(), ReconcileError> {
    let (ns, name) = (pass.ns.clone(), pass.name.clone());
    let dataset_uid = pass.dataset_uid().to_owned();
    if dataset_uid.is_empty() {
        return Err(ReconcileError::Invalid(format!(
            "dataset {ns}/{name} vanished"
        )));
    }
    let meta = &pass.runtime.metadata;
    let finalizer = pass.ctx.finalizer();
    let mut finalizers = meta.finalizers.clone().unwrap_or_default();
    if !finalizers.contains(&finalizer) {
        finalizers.push(finalizer);
    }
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
    let id = names::dataset_id(&ns, &name, &dataset_uid);
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "ownerReferences": owners,
        "labels": {DATASET_ID_LABEL: id},
        "resourceVersion": meta.resource_version,
    }});
    let written = pass
        .runtimes_api()
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("adopt runtime {ns}/{name}")))?;
    pass.wrote_runtime(written);
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
