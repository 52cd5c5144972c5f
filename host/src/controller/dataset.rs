//! The Dataset controller: `NotBound` on creation, and deletion held while a runtime is bound
//! to the Dataset or a pod still uses its PVC (Fluid's dataset controller).

use super::conditions;
use super::hooks::object_ref;
use super::volume;
use crate::services::{api_err, Cluster, ClusterError};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Fluid's Dataset finalizer.
pub const FINALIZER: &str = "fluid-dataset-controller-finalizer";

/// What the Dataset controller does next (pure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetStep {
    /// Nothing to do.
    Nothing,
    /// Add the finalizer.
    AddFinalizer,
    /// Set the phase to NotBound.
    MarkNotBound,
    /// Deletion waits: the message says for what.
    HoldDeletion(String),
    /// Deletion may go on: remove the finalizer.
    Release,
}

/// Decides the next step for a Dataset, given the pods that use its claim.
pub fn next_step(dataset: &Value, pods_using_claim: &[String]) -> DatasetStep {
    let has_finalizer = dataset["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER));
    if dataset["metadata"]["deletionTimestamp"].is_string() {
        if !has_finalizer {
            return DatasetStep::Nothing;
        }
        if let Some(rt) = dataset["status"]["runtimes"]
            .as_array()
            .and_then(|r| r.first())
        {
            return DatasetStep::HoldDeletion(format!(
                "the dataset is still bound to {} runtime {}; delete the runtime first",
                rt["type"].as_str().unwrap_or_default(),
                rt["name"].as_str().unwrap_or_default()
            ));
        }
        if let Some(pod) = pods_using_claim.first() {
            return DatasetStep::HoldDeletion(format!("pod {pod} still uses the dataset's volume"));
        }
        return DatasetStep::Release;
    }
    if !has_finalizer {
        return DatasetStep::AddFinalizer;
    }
    if dataset["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        return DatasetStep::MarkNotBound;
    }
    DatasetStep::Nothing
}

/// What the Dataset controller needs.
pub struct DatasetContext {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// Zero values of the Dataset's required status fields.
    pub status_defaults: Value,
}

/// A failed Dataset reconcile.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DatasetError(#[from] ClusterError);

/// One reconcile of one Dataset.
pub async fn reconcile(
    obj: Arc<DynamicObject>,
    ctx: Arc<DatasetContext>,
) -> Result<Action, DatasetError> {
    let dataset = serde_json::to_value(obj.as_ref()).unwrap_or_default();
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let name = obj.metadata.name.clone().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.cluster.client().clone(),
        &ns,
        &super::dataset_resource(),
    );
    let deleting = dataset["metadata"]["deletionTimestamp"].is_string();
    let pods: Vec<String> = if deleting {
        ctx.cluster
            .list(&ns, "v1", "Pod", None)
            .await?
            .iter()
            .filter(|p| volume::pod_uses_claim(p, &name))
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
            .collect()
    } else {
        vec![]
    };
    match next_step(&dataset, &pods) {
        DatasetStep::Nothing => Ok(Action::await_change()),
        DatasetStep::AddFinalizer => {
            let mut f = dataset["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            f.push(json!(FINALIZER));
            let patch = json!({"metadata": {"finalizers": f, "resourceVersion": dataset["metadata"]["resourceVersion"]}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(api_err(format!("add finalizer to dataset {ns}/{name}")))?;
            Ok(Action::await_change())
        }
        DatasetStep::MarkNotBound => {
            let mut status = json!({"phase": "NotBound"});
            super::schema::complete(&mut status, &dataset["status"], &ctx.status_defaults);
            let patch = json!({"status": status});
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(api_err(format!("set phase of dataset {ns}/{name}")))?;
            Ok(Action::await_change())
        }
        DatasetStep::HoldDeletion(message) => {
            let mut conds = dataset["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if conditions::set(
                &mut conds,
                conditions::Flavor::Dataset,
                "Deleting",
                false,
                "DeletionHeld",
                &message,
                &conditions::now(),
            ) {
                ctx.cluster
                    .event(&object_ref(&dataset), false, "DeletionHeld", &message)
                    .await;
                let patch = json!({"status": {"conditions": conds}});
                // `conditions` is the Dataset's only required status field: present here.
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(api_err(format!("update dataset {ns}/{name}")))?;
            }
            // Pods are not watched: poll as Fluid does (10 s); runtime changes arrive by watch.
            Ok(Action::requeue(Duration::from_secs(10)))
        }
        DatasetStep::Release => {
            let f: Vec<Value> = dataset["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|f| f != FINALIZER)
                .collect();
            let patch = json!({"metadata": {"finalizers": f, "resourceVersion": dataset["metadata"]["resourceVersion"]}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(api_err(format!(
                    "remove finalizer from dataset {ns}/{name}"
                )))?;
            Ok(Action::await_change())
        }
    }
}

/// Retries a failed Dataset reconcile.
pub fn error_policy(
    obj: Arc<DynamicObject>,
    err: &DatasetError,
    _ctx: Arc<DatasetContext>,
) -> Action {
    // Racing the runtime controller's claim: not a failure, decide again on fresh data.
    if matches!(&err.0, ClusterError::Api { source: kube::Error::Api(s), .. } if s.code == 409) {
        return Action::requeue(Duration::from_millis(200));
    }
    tracing::warn!(dataset = ?obj.metadata.name, "{err}");
    Action::requeue(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_dataset_gets_the_finalizer_then_not_bound() {
        let d = json!({"metadata": {"name": "demo"}});
        assert_eq!(next_step(&d, &[]), DatasetStep::AddFinalizer);
        let d = json!({"metadata": {"name": "demo", "finalizers": [FINALIZER]}});
        assert_eq!(next_step(&d, &[]), DatasetStep::MarkNotBound);
        let d = json!({"metadata": {"finalizers": [FINALIZER]}, "status": {"phase": "Bound"}});
        assert_eq!(next_step(&d, &[]), DatasetStep::Nothing);
    }

    #[test]
    fn deletion_waits_for_the_runtime_then_for_pods() {
        let mut d = json!({"metadata": {"finalizers": [FINALIZER], "deletionTimestamp": "2026-11-25T00:00:00Z"},
            "status": {"runtimes": [{"name": "demo", "type": "juicefs"}]}});
        assert!(
            matches!(next_step(&d, &[]), DatasetStep::HoldDeletion(m) if m.contains("juicefs runtime demo"))
        );
        d["status"]["runtimes"] = json!([]);
        assert!(
            matches!(next_step(&d, &["app".into()]), DatasetStep::HoldDeletion(m) if m.contains("pod app"))
        );
        assert_eq!(next_step(&d, &[]), DatasetStep::Release);
    }
}
