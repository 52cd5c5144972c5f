//! The Dataset controller: `NotBound` on creation (left for a while to the claim of a runtime
//! applied with the Dataset, which writes it with the claim), deletion held while a runtime is bound to
//! the Dataset or a pod still uses its PVC (Fluid's dataset controller), and a claim in
//! `status.runtimes` released when the runtime that made it no longer exists.

use super::caches::{Caches, StoredObject, DATASET_ID_LABEL};
use super::conditions::{Condition, Flavor};
use super::finalizer;
use super::hooks::object_ref;
use super::schema::{self, StatusSchema};
use super::status::StatusDraft;
use crate::services::{api_err, Cluster, ClusterError};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::controller::Action;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Fluid's Dataset finalizer.
pub const FINALIZER: &str = "fluid-dataset-controller-finalizer";

/// One entry of `status.runtimes`, and whether its runtime exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimView {
    /// The runtime's name.
    pub name: String,
    /// The engine (`type`).
    pub engine: String,
    /// Whether the runtime exists; `None` when no loaded plugin serves the engine (it may be
    /// served elsewhere: never released).
    pub exists: Option<bool>,
}

/// What the Dataset controller decides from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatasetObserved {
    /// Being deleted.
    pub deleting: bool,
    /// Carries Fluid's finalizer.
    pub has_finalizer: bool,
    /// Carries Fluid's `fluid.io/dataset-id` label with its own id.
    pub labelled: bool,
    /// `status.phase` is empty.
    pub no_phase: bool,
    /// How much longer the Dataset waits for the claim of the runtime of its name, which
    /// writes `NotBound` with the claim: one status write instead of two. `None`: the wait is
    /// over ([`CLAIM_GRACE`] with such a runtime, [`RUNTIME_GRACE`] without).
    pub claim_due_in: Option<Duration>,
    /// The claims in `status.runtimes`.
    pub claims: Vec<ClaimView>,
    /// Pods that use the Dataset's PVC.
    pub pods_using_claim: Vec<String>,
}

/// What the Dataset controller does next (pure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetStep {
    /// Nothing to do.
    Nothing,
    /// Remove the claims of these runtimes, which no longer exist.
    ReleaseClaims(Vec<String>),
    /// Add the finalizer and the dataset-id label, in one write (Fluid labels the Dataset as
    /// it labels the runtime, the PV and the PVC).
    AddFinalizer,
    /// Set the phase to NotBound.
    MarkNotBound,
    /// Leave the phase to the claim of the runtime of the Dataset's name; decide again after
    /// this long if it has not come.
    AwaitClaim(Duration),
    /// Deletion waits: the message says for what.
    HoldDeletion(String),
    /// Deletion may go on: remove the finalizer.
    Release,
}

/// Decides the next step for a Dataset.
pub fn next_step(o: &DatasetObserved) -> DatasetStep {
    let gone: Vec<String> = o
        .claims
        .iter()
        .filter(|c| c.exists == Some(false))
        .map(|c| c.name.clone())
        .collect();
    if !gone.is_empty() {
        return DatasetStep::ReleaseClaims(gone);
    }
    if o.deleting {
        if !o.has_finalizer {
            return DatasetStep::Nothing;
        }
        if let Some(c) = o.claims.first() {
            return DatasetStep::HoldDeletion(format!(
                "the dataset is still bound to {} runtime {}; delete the runtime first",
                c.engine, c.name
            ));
        }
        if let Some(pod) = o.pods_using_claim.first() {
            return DatasetStep::HoldDeletion(format!("pod {pod} still uses the dataset's volume"));
        }
        return DatasetStep::Release;
    }
    if !o.has_finalizer || !o.labelled {
        return DatasetStep::AddFinalizer;
    }
    if o.no_phase {
        return match o.claim_due_in {
            Some(left) => DatasetStep::AwaitClaim(left),
            None => DatasetStep::MarkNotBound,
        };
    }
    DatasetStep::Nothing
}

/// How long after its creation a Dataset without a phase waits for the claim of its runtime
/// (applied with it, the usual case) before it writes `NotBound` itself.
pub const CLAIM_GRACE: Duration = Duration::from_secs(10);

/// How long it waits when no runtime of its name exists yet: one applied in the same
/// `kubectl apply` comes a few milliseconds after the Dataset (and wakes it).
pub const RUNTIME_GRACE: Duration = Duration::from_secs(2);

/// [`DatasetObserved::claim_due_in`]: the rest of the grace.
pub fn claim_due_in(runtime_waiting: bool, age: Duration) -> Option<Duration> {
    let grace = if runtime_waiting {
        CLAIM_GRACE
    } else {
        RUNTIME_GRACE
    };
    Some(grace.saturating_sub(age)).filter(|left| !left.is_zero())
}

/// The Dataset status after the claims of `runtimes` (by name and engine) are released: the
/// remaining entries, and when none remain Fluid's NotBound with runtime-derived fields cleared.
pub fn released_status(status: &Value, released: &[(String, String)]) -> Value {
    let remaining: Vec<Value> = status["runtimes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            !released
                .iter()
                .any(|(name, engine)| r["name"] == name.as_str() && r["type"] == engine.as_str())
        })
        .cloned()
        .collect();
    if !remaining.is_empty() {
        return json!({ "runtimes": remaining });
    }
    json!({"phase": "NotBound", "runtimes": null, "conditions": [], "cacheStates": null,
        "ufsTotal": null, "fileNum": null, "hcfs": null, "mounts": null})
}

/// Writes [`released_status`] against the Dataset's resourceVersion (a claim is a lock).
pub async fn release_claims(
    api: &Api<DynamicObject>,
    dataset: &DynamicObject,
    released: &[(String, String)],
    required: &Value,
) -> Result<DynamicObject, ClusterError> {
    let current = serde_json::to_value(dataset).unwrap_or_default()["status"].clone();
    let mut status = released_status(&current, released);
    schema::complete(&mut status, &current, required);
    let ns = dataset.metadata.namespace.clone().unwrap_or_default();
    let name = dataset.metadata.name.clone().unwrap_or_default();
    let patch = json!({
        "metadata": {"resourceVersion": dataset.metadata.resource_version},
        "status": status,
    });
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("release dataset {ns}/{name}")))
}

/// What the Dataset controller needs.
pub struct DatasetContext {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// The shared caches.
    pub caches: Caches,
    /// What the Dataset CRD says about its status.
    pub status: StatusSchema,
    /// The runtime kind each loaded engine serves, by engine name.
    pub engines: HashMap<String, ApiResource>,
}

/// A failed Dataset reconcile.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DatasetError(#[from] ClusterError);

impl DatasetContext {
    /// Whether a runtime of the Dataset's name, of a loaded engine, exists in the caches and
    /// is not being deleted: it claims the Dataset (and gives it its phase) once adopted.
    fn runtime_waiting(&self, ns: &str, name: &str) -> bool {
        self.engines.values().any(|ar| {
            self.caches
                .stored_runtime(ar, ns, name)
                .is_some_and(|r| r.metadata.deletion_timestamp.is_none())
        })
    }

    /// Whether the runtime a claim names exists: from its kind's cache, confirmed by a read
    /// when the cache says no (a claim is only released on the API server's word).
    async fn runtime_exists(
        &self,
        ns: &str,
        name: &str,
        engine: &str,
    ) -> Result<Option<bool>, ClusterError> {
        let Some(ar) = self.engines.get(engine) else {
            return Ok(None);
        };
        if self.caches.runtimes_of(ar).is_none() {
            return Ok(None);
        }
        if self.caches.stored_runtime(ar, ns, name).is_some() {
            return Ok(Some(true));
        }
        let api: Api<DynamicObject> = Api::namespaced_with(self.cluster.client().clone(), ns, ar);
        let found = api
            .get_opt(name)
            .await
            .map_err(api_err(format!("get {} {ns}/{name}", ar.kind)))?;
        Ok(Some(found.is_some()))
    }
}

/// One reconcile of one Dataset.
pub async fn reconcile(
    stored: Arc<StoredObject>,
    ctx: Arc<DatasetContext>,
) -> Result<Action, DatasetError> {
    let Some(obj) = stored.object() else {
        return Ok(Action::await_change());
    };
    let kind = ctx.caches.dataset_kind.kind.clone();
    // The runtime controllers' latest writes may not have reached the watch yet.
    let obj = ctx
        .caches
        .recent
        .fresher(&kind, Some(obj.clone()))
        .unwrap_or(obj);
    let dataset = serde_json::to_value(obj.as_ref()).unwrap_or_default();
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let name = obj.metadata.name.clone().unwrap_or_default();
    let dataset_id = fluid_plugin_api::conventions::dataset_id(
        &ns,
        &name,
        obj.metadata.uid.as_deref().unwrap_or_default(),
    );
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.cluster.client().clone(), &ns, &ctx.caches.dataset_kind);
    let mut claims = vec![];
    for r in dataset["status"]["runtimes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let rname = r["name"].as_str().unwrap_or_default().to_owned();
        let engine = r["type"].as_str().unwrap_or_default().to_owned();
        let rns = r["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(&ns);
        let exists = ctx.runtime_exists(rns, &rname, &engine).await?;
        claims.push(ClaimView {
            name: rname,
            engine,
            exists,
        });
    }
    let observed = DatasetObserved {
        deleting: obj.metadata.deletion_timestamp.is_some(),
        has_finalizer: finalizer::has(&obj.metadata, FINALIZER),
        labelled: obj
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(DATASET_ID_LABEL))
            == Some(&dataset_id),
        no_phase: dataset["status"]["phase"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        claim_due_in: claim_due_in(ctx.runtime_waiting(&ns, &name), super::age(&obj.metadata)),
        claims,
        pods_using_claim: ctx.caches.claims.users(&ns, &name),
    };
    match next_step(&observed) {
        DatasetStep::Nothing => Ok(Action::await_change()),
        DatasetStep::ReleaseClaims(gone) => {
            let released: Vec<(String, String)> = observed
                .claims
                .iter()
                .filter(|c| gone.contains(&c.name))
                .map(|c| (c.name.clone(), c.engine.clone()))
                .collect();
            let written = release_claims(&api, &obj, &released, &ctx.status.required).await?;
            ctx.caches.recent.remember(&kind, &written);
            let message = format!(
                "released the claim of runtime {} which no longer exists",
                gone.join(", ")
            );
            ctx.cluster
                .event(&object_ref(&dataset), true, "StaleRuntimeClaim", &message)
                .await;
            Ok(Action::await_change())
        }
        DatasetStep::AddFinalizer => {
            let written = finalizer::add_with_labels(
                &api,
                &obj,
                FINALIZER,
                &[(DATASET_ID_LABEL, dataset_id.as_str())],
            )
            .await?;
            ctx.caches.recent.remember(&kind, &written);
            Ok(Action::await_change())
        }
        DatasetStep::AwaitClaim(left) => Ok(Action::requeue(left)),
        DatasetStep::MarkNotBound => {
            let mut draft = StatusDraft::new(Flavor::Dataset, &dataset["status"]);
            draft.set("phase", "NotBound");
            if let Some(patch) = draft.patch(&ctx.status) {
                write_status(&api, &obj, patch, &ctx).await?;
            }
            Ok(Action::await_change())
        }
        DatasetStep::HoldDeletion(message) => {
            let mut draft = StatusDraft::new(Flavor::Dataset, &dataset["status"]);
            draft.condition(&Condition {
                kind: "Deleting",
                status: false,
                reason: "DeletionHeld",
                message: &message,
            });
            if let Some(patch) = draft.patch(&ctx.status) {
                write_status(&api, &obj, patch, &ctx).await?;
                ctx.cluster
                    .event(&object_ref(&dataset), false, "DeletionHeld", &message)
                    .await;
            }
            // Pods and runtimes are watched; the recheck is a safety net.
            Ok(Action::requeue(Duration::from_secs(60)))
        }
        DatasetStep::Release => {
            finalizer::remove(&api, &obj, FINALIZER).await?;
            Ok(Action::await_change())
        }
    }
}

/// A status write of the Dataset controller, against the resourceVersion it decided from: the
/// runtime controllers write the same status (claims, Bound), and a decision made on an older
/// copy must not undo theirs.
async fn write_status(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    status: Value,
    ctx: &DatasetContext,
) -> Result<(), ClusterError> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let patch =
        json!({"metadata": {"resourceVersion": obj.metadata.resource_version}, "status": status});
    let written = api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("update the status of dataset {name}")))?;
    ctx.caches
        .recent
        .remember(&ctx.caches.dataset_kind.kind, &written);
    Ok(())
}

/// Retries a failed Dataset reconcile.
pub fn error_policy(
    obj: Arc<StoredObject>,
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

    fn claim(exists: Option<bool>) -> ClaimView {
        ClaimView {
            name: "demo".into(),
            engine: "juicefs".into(),
            exists,
        }
    }

    #[test]
    fn a_new_dataset_gets_the_finalizer_then_not_bound() {
        let mut o = DatasetObserved {
            no_phase: true,
            ..Default::default()
        };
        assert_eq!(next_step(&o), DatasetStep::AddFinalizer);
        o.has_finalizer = true;
        // A Dataset finalized before it was labelled (an older fluid-rs) gets the label once.
        assert_eq!(next_step(&o), DatasetStep::AddFinalizer);
        o.labelled = true;
        assert_eq!(next_step(&o), DatasetStep::MarkNotBound);
        o.no_phase = false;
        assert_eq!(next_step(&o), DatasetStep::Nothing);
    }

    #[test]
    fn a_dataset_applied_with_its_runtime_leaves_the_phase_to_the_claim() {
        let mut o = DatasetObserved {
            has_finalizer: true,
            labelled: true,
            no_phase: true,
            claim_due_in: claim_due_in(true, Duration::from_secs(3)),
            ..Default::default()
        };
        assert_eq!(
            next_step(&o),
            DatasetStep::AwaitClaim(Duration::from_secs(7))
        );
        // The claim wrote the phase.
        o.no_phase = false;
        assert_eq!(next_step(&o), DatasetStep::Nothing);
        // No runtime (or one being deleted: `runtime_waiting` false): a short wait, for one
        // applied just after the Dataset.
        o.no_phase = true;
        o.claim_due_in = claim_due_in(false, Duration::from_secs(1));
        assert_eq!(
            next_step(&o),
            DatasetStep::AwaitClaim(Duration::from_secs(1))
        );
        // The wait is over: the Dataset says NotBound itself.
        for due in [
            claim_due_in(true, CLAIM_GRACE),
            claim_due_in(true, Duration::from_secs(60)),
            claim_due_in(false, RUNTIME_GRACE),
        ] {
            o.no_phase = true;
            o.claim_due_in = due;
            assert_eq!(next_step(&o), DatasetStep::MarkNotBound);
        }
        // Deletion and the finalizer come first.
        o.claim_due_in = claim_due_in(true, Duration::ZERO);
        o.has_finalizer = false;
        assert_eq!(next_step(&o), DatasetStep::AddFinalizer);
    }

    #[test]
    fn deletion_waits_for_the_runtime_then_for_pods() {
        let mut o = DatasetObserved {
            deleting: true,
            has_finalizer: true,
            labelled: true,
            claims: vec![claim(Some(true))],
            ..Default::default()
        };
        assert!(
            matches!(next_step(&o), DatasetStep::HoldDeletion(m) if m.contains("juicefs runtime demo"))
        );
        o.claims.clear();
        o.pods_using_claim = vec!["app".into()];
        assert!(matches!(next_step(&o), DatasetStep::HoldDeletion(m) if m.contains("pod app")));
        o.pods_using_claim.clear();
        assert_eq!(next_step(&o), DatasetStep::Release);
    }

    #[test]
    fn a_claim_whose_runtime_is_gone_is_released_even_during_deletion() {
        let mut o = DatasetObserved {
            has_finalizer: true,
            labelled: true,
            claims: vec![claim(Some(false))],
            ..Default::default()
        };
        assert_eq!(
            next_step(&o),
            DatasetStep::ReleaseClaims(vec!["demo".into()])
        );
        o.deleting = true;
        assert_eq!(
            next_step(&o),
            DatasetStep::ReleaseClaims(vec!["demo".into()])
        );
        // An engine no plugin here serves: its runtime may live elsewhere; never released.
        o.claims = vec![claim(None)];
        assert!(matches!(next_step(&o), DatasetStep::HoldDeletion(_)));
    }

    #[test]
    fn releasing_the_last_claim_returns_the_dataset_to_not_bound() {
        let status = json!({"phase": "Bound", "runtimes": [{"name": "demo", "type": "juicefs"}]});
        let s = released_status(&status, &[("demo".into(), "juicefs".into())]);
        assert_eq!(s["phase"], "NotBound");
        assert!(s["runtimes"].is_null());
        let two = json!({"runtimes": [{"name": "demo", "type": "juicefs"}, {"name": "x", "type": "alluxio"}]});
        let s = released_status(&two, &[("demo".into(), "juicefs".into())]);
        assert_eq!(s, json!({"runtimes": [{"name": "x", "type": "alluxio"}]}));
    }
}
