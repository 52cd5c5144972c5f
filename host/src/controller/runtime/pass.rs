//! One pass over one runtime: what it observed (from the watch caches), the status drafts it
//! fills, the Events it will send, and the loop that asks the lifecycle for the next step.

use super::{
    claim, setup, sync, teardown, validate, volume, ReconcileError, RuntimeContext, STATUS_GRACE,
};
use crate::controller::conditions::{types, Condition, Flavor};
use crate::controller::hooks::object_ref;
use crate::controller::names;
use crate::controller::status::StatusDraft;
use crate::controller::{finalizer, volume as pv};
use crate::lifecycle::{next_step, Claim, DatasetView, Observed, RuntimeView, Step, VolumeView};
use crate::services::StatusPatches;
use fluid_plugin_api::conventions::Conventions;
use fluid_plugin_api::protocol::Hook;
use fluid_plugin_api::types::{Dataset, DatasetPhase};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::Action;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An Event to send once the pass's status writes are done.
struct PendingEvent {
    regarding: ObjectReference,
    warning: bool,
    reason: String,
    message: String,
}

/// One pass.
pub(super) struct Pass<'a> {
    pub ctx: &'a RuntimeContext,
    pub ns: String,
    pub name: String,
    /// The runtime as last read or written.
    pub runtime: Arc<DynamicObject>,
    /// The same, as on the wire (what hooks get).
    pub runtime_json: Value,
    /// The Dataset of the same name, as last read or written.
    pub dataset: Option<Arc<DynamicObject>>,
    /// The same, as on the wire.
    pub dataset_json: Option<Value>,
    /// The runtime's status being prepared.
    pub status: StatusDraft,
    /// The Dataset's status being prepared.
    pub dataset_status: StatusDraft,
    events: Vec<PendingEvent>,
    /// The runtime's status write is held back (setup waits for the engine's workloads).
    status_held: bool,
    /// The pass ran Fluid's Sync: the runtime is set up and its next sync is periodic.
    pub synced: bool,
    /// Status fields the hooks patched on this runtime: written with the pass's status.
    patched: StatusPatches,
}

fn wire(o: &DynamicObject, api_version: &str, kind: &str) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    v["apiVersion"] = Value::String(api_version.to_owned());
    v["kind"] = Value::String(kind.to_owned());
    v
}

impl<'a> Pass<'a> {
    pub fn new(
        ctx: &'a RuntimeContext,
        runtime: Arc<DynamicObject>,
    ) -> Result<Self, ReconcileError> {
        // The watch may not have delivered our previous pass's writes yet.
        let runtime = ctx
            .caches
            .recent
            .fresher(&ctx.kind.kind, Some(runtime.clone()))
            .unwrap_or(runtime);
        let ns = runtime
            .metadata
            .namespace
            .clone()
            .ok_or_else(|| ReconcileError::Invalid("the runtime has no namespace".into()))?;
        let name = runtime
            .metadata
            .name
            .clone()
            .ok_or_else(|| ReconcileError::Invalid("the runtime has no name".into()))?;
        let mut pass = Pass {
            ctx,
            ns,
            name,
            runtime_json: Value::Null,
            runtime: runtime.clone(),
            dataset: None,
            dataset_json: None,
            status: StatusDraft::new(Flavor::Runtime, &Value::Null),
            dataset_status: StatusDraft::new(Flavor::Dataset, &Value::Null),
            events: vec![],
            status_held: false,
            synced: false,
            patched: StatusPatches::default(),
        };
        pass.set_runtime(runtime);
        pass.refresh_dataset();
        Ok(pass)
    }

    /// Takes a newer copy of the runtime (read from the cache or returned by a write).
    pub fn set_runtime(&mut self, runtime: Arc<DynamicObject>) {
        self.runtime_json = wire(&runtime, &self.ctx.kind.api_version, &self.ctx.kind.kind);
        self.status.rebase(&self.runtime_json["status"]);
        self.runtime = runtime;
    }

    /// Takes the runtime as a write of ours returned it.
    pub fn wrote_runtime(&mut self, runtime: DynamicObject) {
        self.ctx
            .caches
            .recent
            .remember(&self.ctx.kind.kind, &runtime);
        self.set_runtime(Arc::new(runtime));
    }

    /// Takes the Dataset as a write of ours returned it.
    pub fn wrote_dataset(&mut self, dataset: DynamicObject) {
        let kind = self.ctx.caches.dataset_kind.kind.clone();
        self.ctx.caches.recent.remember(&kind, &dataset);
        self.set_dataset(Some(Arc::new(dataset)));
    }

    /// Reads the Dataset of the same name from the cache.
    pub fn refresh_dataset(&mut self) {
        let found = self.ctx.caches.dataset(&self.ns, &self.name);
        self.set_dataset(found);
    }

    /// Takes a newer copy of the Dataset.
    pub fn set_dataset(&mut self, dataset: Option<Arc<DynamicObject>>) {
        let ar = &self.ctx.caches.dataset_kind;
        self.dataset_json = dataset.as_ref().map(|d| wire(d, &ar.api_version, &ar.kind));
        self.dataset_status.rebase(
            self.dataset_json
                .as_ref()
                .map(|d| &d["status"])
                .unwrap_or(&Value::Null),
        );
        self.dataset = dataset;
    }

    /// The Dataset as its type; `None` when there is none.
    pub fn dataset_typed(&self) -> Result<Option<Dataset>, ReconcileError> {
        self.dataset_json
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| {
                ReconcileError::Invalid(format!(
                    "dataset {}/{} does not read as a Fluid Dataset: {e}",
                    self.ns, self.name
                ))
            })
    }

    /// The runtime's uid.
    pub fn uid(&self) -> &str {
        self.runtime.metadata.uid.as_deref().unwrap_or_default()
    }

    /// The Dataset's uid (empty without a Dataset).
    pub fn dataset_uid(&self) -> &str {
        self.dataset
            .as_ref()
            .and_then(|d| d.metadata.uid.as_deref())
            .unwrap_or_default()
    }

    /// An API handle for runtimes of this kind in the runtime's namespace.
    pub fn runtimes_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.ctx.cluster.client().clone(), &self.ns, &self.ctx.kind)
    }

    /// An API handle for Datasets in the runtime's namespace.
    pub fn datasets_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.ctx.cluster.client().clone(),
            &self.ns,
            &self.ctx.caches.dataset_kind,
        )
    }

    /// What the host decided for this runtime: names, fuse paths, owner (chart values and
    /// every hook get them).
    pub fn conventions(&self) -> Conventions {
        self.ctx
            .hooks
            .conventions(&self.runtime_json, self.dataset_json.as_ref())
    }

    /// Runs `hook` with the pass's runtime and Dataset; `None` when the engine leaves it to
    /// the host's default.
    pub async fn hook(&self, hook: Hook) -> Result<Option<Value>, ReconcileError> {
        let ds = self.dataset_json.as_ref();
        Ok(self
            .ctx
            .hooks
            .call_in_pass(
                hook,
                &self.runtime_json,
                ds,
                Value::Null,
                Some(&self.patched),
            )
            .await?)
    }

    /// Runs `hook` and reads its output as `T`.
    pub async fn hook_as<T: DeserializeOwned>(
        &self,
        hook: Hook,
    ) -> Result<Option<T>, ReconcileError> {
        let ds = self.dataset_json.as_ref();
        Ok(self
            .ctx
            .hooks
            .call_as(
                hook,
                &self.runtime_json,
                ds,
                Value::Null,
                Some(&self.patched),
            )
            .await?)
    }

    /// Everything the lifecycle decides from.
    pub fn observe(&self) -> Result<Observed, ReconcileError> {
        let dataset_uid = self.dataset_uid();
        let meta = &self.runtime.metadata;
        let runtime = RuntimeView {
            deleting: meta.deletion_timestamp.is_some(),
            has_finalizer: finalizer::has(&self.runtime.metadata, &self.ctx.finalizer()),
            adopted: !dataset_uid.is_empty()
                && meta
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.uid == dataset_uid)
                && meta
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(crate::controller::caches::DATASET_ID_LABEL)),
        };
        let dataset = self.dataset_typed()?.map(|d| {
            let status = d.status.unwrap_or_default();
            DatasetView {
                deleting: d.metadata.deletion_timestamp.is_some(),
                claims: status
                    .runtimes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| Claim {
                        name: r.name.unwrap_or_default(),
                        namespace: r.namespace.unwrap_or_default(),
                        engine: r.type_.unwrap_or_default(),
                    })
                    .collect(),
                setup_done: status.conditions.iter().any(|c| c.type_ == "Ready"),
                initialized: status.phase.is_some_and(|p| p != DatasetPhase::None)
                    || finalizer::has(&d.metadata, crate::controller::dataset::FINALIZER),
            }
        });
        let caches = &self.ctx.caches;
        let pv_name = names::pv_name(&self.ns, &self.name);
        Ok(Observed {
            name: self.name.clone(),
            namespace: self.ns.clone(),
            engine: self.ctx.engine().to_owned(),
            runtime,
            dataset,
            volume: VolumeView {
                pv: pv::pv_ownership(caches.pv(&pv_name).as_deref(), &self.ns, &self.name),
                pvc: pv::pvc_ownership(
                    caches.pvc(&self.ns, &self.name).as_deref(),
                    &self.ns,
                    &self.name,
                ),
            },
            release: super::release::view(self, 0).ownership,
        })
    }

    /// Queues an Event on the runtime.
    pub fn event(&mut self, warning: bool, reason: &str, message: &str) {
        self.events.push(PendingEvent {
            regarding: object_ref(&self.runtime_json),
            warning,
            reason: reason.to_owned(),
            message: message.to_owned(),
        });
    }

    /// Sets a runtime condition, with an Event when it newly says so (not on every retry).
    pub fn report(&mut self, c: &Condition<'_>, event: Option<(bool, &str)>) {
        self.status.condition(c);
        if let Some((warning, reason)) = event {
            if self.status.condition_changed(c.kind) {
                self.event(warning, reason, c.message);
            }
        }
    }

    /// The loop: observe, decide, do, until a step ends the pass.
    pub async fn run(&mut self) -> Result<Action, ReconcileError> {
        // Claiming steps change the objects and are decided again; a bound guards against a loop.
        for _ in 0..4 {
            let observed = self.observe()?;
            let step = next_step(&observed);
            tracing::debug!(kind = %self.ctx.kind.kind, runtime = %format!("{}/{}", self.ns, self.name), ?step, "next step");
            match step {
                Step::Nothing => return Ok(Action::await_change()),
                Step::DeleteVolume => return teardown::delete_volume(self).await,
                Step::Teardown { uninstall } => return teardown::teardown(self, uninstall).await,
                Step::WaitForDataset => {
                    let c = Condition {
                        kind: types::DATASET_BOUND,
                        status: false,
                        reason: "DatasetNotFound",
                        message: "No dataset can be bound to the runtime, waiting.",
                    };
                    self.report(&c, None);
                    return Ok(Action::await_change());
                }
                Step::Refuse { bound_to } => {
                    let message = format!(
                        "dataset {}/{} is already bound to runtime {bound_to}; this runtime will not be set up",
                        self.ns, self.name
                    );
                    let c = Condition {
                        kind: types::DATASET_BOUND,
                        status: false,
                        reason: "DatasetBoundToAnotherRuntime",
                        message: &message,
                    };
                    self.report(&c, Some((true, "ErrorProcessRuntime")));
                    return Ok(Action::await_change());
                }
                Step::Adopt => claim::adopt(self).await?,
                Step::WaitForDatasetInit => return Ok(Action::await_change()),
                Step::Claim => claim::claim(self).await?,
                Step::Run { setup } => return self.run_engine(setup).await,
            }
        }
        Ok(Action::requeue(Duration::from_secs(1)))
    }

    /// Validate → setup → volume → bind → sync.
    async fn run_engine(&mut self, setup_needed: bool) -> Result<Action, ReconcileError> {
        if setup_needed {
            claim::report_claimed(self);
        }
        if !validate::validate(self).await? {
            // A fix may come from an object this controller does not watch (a Secret the spec
            // names): check again after a while, as Fluid does (20 s).
            return Ok(Action::requeue(Duration::from_secs(20)));
        }
        let progress = if setup_needed {
            setup::setup(self).await?
        } else {
            setup::Progress::Ready
        };
        match progress {
            setup::Progress::RecheckIn(d) => return Ok(Action::requeue(d)),
            // Progress comes from the watched objects (workloads, release, volume).
            setup::Progress::Waiting => return Ok(Action::await_change()),
            setup::Progress::Starting => return Ok(self.hold_status()),
            setup::Progress::Ready => {
                if let Ok(mut m) = self.ctx.starting.lock() {
                    m.remove(self.uid());
                }
            }
        }
        // The volume only once the engine is set up (as Fluid): a failed or unfinished install
        // leaves no PV/PVC a pod could wait on, and the PV is created with the fuse
        // DaemonSet's generation.
        if !volume::ensure(self).await? {
            return Ok(Action::await_change());
        }
        if setup_needed {
            setup::bind(self)?;
        }
        sync::sync(self).await?;
        // The next sync comes from the pacer (`periodic`), not from the queue's own requeue.
        self.synced = true;
        Ok(Action::await_change())
    }

    /// Setup waits for the engine's workloads: within [`STATUS_GRACE`] of the first such pass
    /// the runtime's status is not written (the pass that binds writes it all), and a pass
    /// comes after the grace anyway to write it if the workloads are still not ready.
    fn hold_status(&mut self) -> Action {
        let since = self
            .ctx
            .starting
            .lock()
            .map(|mut m| *m.entry(self.uid().to_owned()).or_insert_with(Instant::now))
            .unwrap_or_else(|_| Instant::now());
        let left = STATUS_GRACE.saturating_sub(since.elapsed());
        if left.is_zero() {
            return Action::await_change();
        }
        self.status_held = true;
        Action::requeue(left)
    }

    /// Writes the runtime's and the Dataset's status (each at most once, only what changed),
    /// then sends the queued Events. After a failure the runtime says so in `Reconciled`.
    pub async fn finish(&mut self, failure: Option<(&str, String)>) -> Result<(), ReconcileError> {
        if let Some((reason, message)) = &failure {
            self.status.condition(&Condition {
                kind: types::RECONCILED,
                status: false,
                reason,
                message,
            });
            // Every failed pass is an occurrence (the recorder groups them into one series).
            self.event(true, reason, message);
        }
        let mut result = Ok(());
        let patched = self.patched.fields();
        // What hooks patched is not held back: they may not patch it again.
        let held = self.status_held && failure.is_none() && patched.is_empty();
        self.status.set_all(&Value::Object(patched));
        if let Some(patch) = self
            .status
            .patch(&self.ctx.runtime_status)
            .filter(|_| !held)
        {
            let api_version = &self.ctx.kind.api_version;
            match self
                .ctx
                .cluster
                .patch_status(
                    &self.ns,
                    api_version,
                    &self.ctx.kind.kind,
                    &self.name,
                    patch,
                )
                .await
            {
                Ok(written) => {
                    if let Ok(o) = serde_json::from_value::<DynamicObject>(written) {
                        self.ctx.caches.recent.remember(&self.ctx.kind.kind, &o);
                    }
                }
                // Gone: its deletion completed in this pass.
                Err(crate::services::ClusterError::NotFound(_)) => {}
                Err(e) => result = Err(e.into()),
            }
        }
        if self.dataset.is_some() {
            if let Some(patch) = self.dataset_status.patch(&self.ctx.dataset_status) {
                match self
                    .ctx
                    .cluster
                    .patch_status(
                        &self.ns,
                        "data.fluid.io/v1alpha1",
                        "Dataset",
                        &self.name,
                        patch,
                    )
                    .await
                {
                    Ok(written) => {
                        if let Ok(o) = serde_json::from_value::<DynamicObject>(written) {
                            self.ctx.caches.recent.remember("Dataset", &o);
                        }
                    }
                    Err(crate::services::ClusterError::NotFound(_)) => {}
                    Err(e) => {
                        if result.is_ok() {
                            result = Err(e.into());
                        }
                    }
                }
            }
        }
        for e in self.events.drain(..) {
            self.ctx
                .cluster
                .event(&e.regarding, e.warning, &e.reason, &e.message)
                .await;
        }
        result
    }
}
