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
//! - `defaults`: what the host does for hooks an engine leaves to it.

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

use super::caches::Caches;
use super::hooks::{HookCallError, HookCaller};
use super::schema::StatusSchema;
use super::ControllerConfig;
use crate::services::{Cluster, ClusterError, Helm, HelmError};
use kube::api::DynamicObject;
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
    pub failures: Mutex<HashMap<String, u32>>,
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

    /// The backoff after the `n`th consecutive failure: 5 s doubling to 5 min.
    pub fn backoff(n: u32) -> Duration {
        Duration::from_secs(5u64.saturating_mul(1 << n.min(6)).min(300))
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
    obj: Arc<DynamicObject>,
    ctx: Arc<RuntimeContext>,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let id: periodic::Key = (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    );
    let key = format!("{}/{}", id.0, id.1);
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
    obj: Arc<DynamicObject>,
    _err: &ReconcileError,
    ctx: Arc<RuntimeContext>,
) -> Action {
    let key = format!(
        "{}/{}",
        obj.metadata.namespace.as_deref().unwrap_or_default(),
        obj.metadata.name.as_deref().unwrap_or_default()
    );
    let n = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key).or_insert(0);
            *n += 1;
            *n
        })
        .unwrap_or(1);
    Action::requeue(RuntimeContext::backoff(n.saturating_sub(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(RuntimeContext::backoff(0), Duration::from_secs(5));
        assert_eq!(RuntimeContext::backoff(1), Duration::from_secs(10));
        assert_eq!(RuntimeContext::backoff(10), Duration::from_secs(300));
    }
}
