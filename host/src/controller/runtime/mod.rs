//! The runtime controller: one per loaded plugin, driving runtimes of its kind through Fluid's
//! lifecycle. [`crate::lifecycle`] decides; the modules here do, one per phase, as Fluid's
//! `pkg/ddc/base` does (`setup.go`, `syncs.go`, ...):
//!
//! - `pass`: one reconcile: observe from the watch caches, decide, do, write each status once;
//! - `claim`: finalizer and the Dataset's claim;
//! - `validate`: the host's and the engine's checks of the spec;
//! - `setup`: master, UFS, workers, readiness, binding (Fluid's Setup);
//! - `release`: the engine's Helm release, ours only, with the values it was installed with;
//! - `volume`: the PV and PVC, ours only;
//! - `sync`: metadata, replicas, spec changes, health, cache states (Fluid's Sync);
//! - `periodic`: when each set-up runtime is synced again, paced so watches go first;
//! - `teardown`: deletion;
//! - `backoff`: the retry backoff of a failing runtime;
//! - `defaults`: what the host does for hooks an engine leaves to it.

mod backoff;
mod claim;
mod defaults;
mod pass;
pub mod periodic;
mod release;
mod setup;
mod sync;
mod teardown;
mod validate;
mod volume;

use super::caches::{Caches, StoredObject};
use super::hooks::{HookCallError, HookCaller};
use super::schema::StatusSchema;
use super::ControllerConfig;
use crate::services::{Cluster, ClusterError, Helm, HelmError};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::ApiResource;
use kube::runtime::controller::Action;
use pass::Pass;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a runtime in setup may wait for its engine's workloads before the pass writes its
/// status: the pods of a healthy engine are ready within this, and then the pass that binds
/// writes the whole setup at once (one status write instead of one per waiting pass); one that
/// waits longer shows why in `EngineReady`.
pub const STATUS_GRACE: Duration = Duration::from_secs(5);

/// Why a pass failed; the runtime gets a `Reconciled=False` condition and a Warning Event.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A hook failed, panicked or timed out.
    #[error(transparent)]
    Hook(#[from] HookCallError),
    /// The API server refused.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// helm failed.
    #[error(transparent)]
    Helm(#[from] HelmError),
    /// The object is unusable (no name, a status that does not read, ...).
    #[error("{0}")]
    Invalid(String),
}

impl ReconcileError {
    /// The Event and condition reason, after Fluid's.
    fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Helm(_) => "ErrorHelmInstall",
            _ => "ErrorProcessRuntime",
        }
    }

    /// Someone wrote the object since we read it: not a failure, decide again on fresh data.
    fn is_conflict(&self) -> bool {
        matches!(self, ReconcileError::Cluster(ClusterError::Api {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 409)
    }
}

/// What one runtime controller needs.
pub struct RuntimeContext {
    /// The plugin's hooks.
    pub hooks: HookCaller,
    /// The runtime kind.
    pub kind: ApiResource,
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// Helm.
    pub helm: Arc<Helm>,
    /// The shared watch caches.
    pub caches: Caches,
    /// Timings.
    pub config: ControllerConfig,
    /// Consecutive failures per runtime, for the retry backoff.
    pub failures: Mutex<HashMap<String, backoff::Failures>>,
    /// Specs that passed validation, per runtime uid: `(runtime generation, dataset generation)`.
    pub validated: Mutex<HashMap<String, (i64, i64)>>,
    /// Since when each runtime (by uid) in setup waits for its engine's workloads, while its
    /// status write is held back (see [`STATUS_GRACE`]).
    pub starting: Mutex<HashMap<String, Instant>>,
    /// When each runtime (by uid) last had its exec-based reports asked (metadata, cache
    /// states): at most once per sync period.
    pub reported: Mutex<HashMap<String, Instant>>,
    /// The periodic syncs of the runtimes that are set up.
    pub periodic: Arc<periodic::Periodic>,
    /// What the runtime kind's CRD says about its status.
    pub runtime_status: StatusSchema,
    /// What the Dataset CRD says about its status.
    pub dataset_status: StatusSchema,
}

impl RuntimeContext {
    /// The engine's name (the `type` in a Dataset's `status.runtimes`).
    pub fn engine(&self) -> &str {
        &self.hooks.plugin.info().name
    }

    /// The finalizer this controller puts on runtimes (Fluid's name for it).
    pub fn finalizer(&self) -> String {
        format!("{}-runtime-controller-finalizer", self.engine())
    }

    /// What a user would change to fix `runtime` (see [`backoff`]).
    fn inputs(&self, runtime: &ObjectMeta) -> backoff::Inputs {
        let ns = runtime.namespace.as_deref().unwrap_or_default();
        let name = runtime.name.as_deref().unwrap_or_default();
        let dataset = self.caches.stored_dataset(ns, name);
        backoff::Inputs::of(runtime, dataset.as_ref().map(|d| &d.metadata))
    }

    /// How long a pass of `runtime` waits for its failure backoff (`None`: it runs now).
    fn held(&self, key: &str, runtime: &ObjectMeta) -> Option<Duration> {
        let failures = self.failures.lock().ok()?;
        let failed = failures.get(key)?;
        backoff::held(Some(failed), &self.inputs(runtime), Instant::now())
    }

    fn forget(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }
}

/// One reconcile of one runtime: a pass, then its status writes (also after a failure, with
/// `Reconciled=False`), awaited here so that nothing is written behind the next pass's back.
pub async fn reconcile(
    stored: Arc<StoredObject>,
    ctx: Arc<RuntimeContext>,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let id: periodic::Key = (
        stored.metadata.namespace.clone().unwrap_or_default(),
        stored.metadata.name.clone().unwrap_or_default(),
    );
    let key = format!("{}/{}", id.0, id.1);
    // Woken by its own failed pass's writes: wait for the backoff (the pass would fail alike).
    if let Some(wait) = ctx.held(&key, &stored.metadata) {
        tracing::debug!(kind = %ctx.kind.kind, runtime = %key, ?wait, "held by the failure backoff");
        return Ok(Action::requeue(wait));
    }
    let Some(obj) = stored.object() else {
        return Err(ReconcileError::Invalid(
            "the cached runtime does not decode".into(),
        ));
    };
    let mut synced = false;
    let result = match Pass::new(&ctx, obj) {
        Ok(mut pass) => {
            let outcome = pass.run().await;
            synced = pass.synced;
            let outcome = match outcome {
                Err(e) if e.is_conflict() => Ok(Action::requeue(Duration::from_millis(200))),
                other => other,
            };
            let failure = outcome.as_ref().err().map(|e| (e.reason(), e.to_string()));
            let written = pass.finish(failure).await;
            match (outcome, written) {
                (Err(e), _) => Err(e),
                (Ok(_), Err(e)) if e.is_conflict() => {
                    Ok(Action::requeue(Duration::from_millis(200)))
                }
                (Ok(_), Err(e)) => Err(e),
                (Ok(a), Ok(())) => Ok(a),
            }
        }
        Err(e) => Err(e),
    };
    ctx.hooks
        .metrics
        .observe_reconcile(&ctx.kind.kind, started.elapsed(), result.is_err());
    // A pass that synced the runtime (whatever brought it) schedules the next sync.
    ctx.periodic
        .finished(id, synced && result.is_ok(), Instant::now());
    match &result {
        Ok(_) => ctx.forget(&key),
        Err(e) => tracing::warn!(kind = %ctx.kind.kind, runtime = %key, "{e}"),
    }
    result
}

/// After a failure: a retry with backoff (the condition and Event were written by the pass).
pub fn error_policy(
    obj: Arc<StoredObject>,
    _err: &ReconcileError,
    ctx: Arc<RuntimeContext>,
) -> Action {
    let key = format!(
        "{}/{}",
        obj.metadata.namespace.as_deref().unwrap_or_default(),
        obj.metadata.name.as_deref().unwrap_or_default()
    );
    let inputs = ctx.inputs(&obj.metadata);
    let Ok(mut failures) = ctx.failures.lock() else {
        return Action::requeue(backoff::after(0));
    };
    let now = Instant::now();
    let next = backoff::Failures::next(failures.get(&key), inputs, now);
    let wait = next.retry_at - now;
    failures.insert(key, next);
    Action::requeue(wait)
}
