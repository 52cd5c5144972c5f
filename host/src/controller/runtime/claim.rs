//! Claiming the Dataset (the runtime's finalizer is already in place, so a claim never
//! outlives the runtime): this runtime in the Dataset's `status.runtimes`, written against the
//! Dataset's resourceVersion so two runtimes racing for one Dataset cannot both win; then an
//! ownerReference to the Dataset and the `fluid.io/dataset-id` label on the runtime.

use super::pass::Pass;
use super::ReconcileError;
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
        runtimes.push(json!({
            "name": name, "namespace": ns, "category": CATEGORY, "type": pass.ctx.engine(),
            "masterReplicas": pass.runtime_json["spec"]["master"]["replicas"].as_i64().unwrap_or(1),
        }));
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
    let id = names::dataset_id(&ns, &name, &dataset_uid);
    let patch = json!({"metadata": {
        "ownerReferences": owners,
        "labels": {"fluid.io/dataset-id": id},
        "resourceVersion": meta.resource_version,
    }});
    let written = pass
        .runtimes_api()
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("label runtime {ns}/{name}")))?;
    pass.wrote_runtime(written);
    let message = format!("bound to dataset {ns}/{name}");
    pass.report(
        &Condition {
            kind: types::DATASET_BOUND,
            status: true,
            reason: "DatasetBound",
            message: &message,
        },
        None,
    );
    Ok(())
}
