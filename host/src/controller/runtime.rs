//! The runtime controller: one per loaded plugin, driving runtimes of its kind through
//! Fluid's lifecycle (see [`crate::lifecycle`] for the decision, this module for the doing).

use super::conditions::{self, types, Flavor};
use super::hooks::{object_ref, HookCallError, HookCaller};
use super::volume::{self, MountInfo, VolumeInput};
use super::workloads;
use super::{dataset_resource, schema, ControllerConfig};
use crate::lifecycle::{next_step, DatasetView, Observed, RuntimeView, Step, VolumeView};
use crate::services::{api_err, Cluster, ClusterError, Helm, HelmError};
use fluid_plugin_api::protocol::Hook;
use fluid_plugin_api::types::size::human_bytes;
use fluid_plugin_api::{
    CacheReport, HealthReport, MetadataReport, RuntimeStatusReport, Validation,
};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::controller::Action;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Fluid's dataset category for cache runtimes.
const CATEGORY: &str = "Accelerate";

/// Why a reconcile failed; the runtime gets a condition and a Warning Event with the message.
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
    /// The object is unusable (no name, ...).
    #[error("{0}")]
    Invalid(String),
}

impl ReconcileError {
    /// The Event reason, after Fluid's.
    fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Helm(_) => "ErrorHelmInstall",
            _ => "ErrorProcessRuntime",
        }
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
    /// Timings.
    pub config: ControllerConfig,
    /// Consecutive failures per runtime, for the retry backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Zero values of the runtime kind's required status fields.
    pub runtime_status_defaults: Value,
    /// Zero values of the Dataset's required status fields.
    pub dataset_status_defaults: Value,
}

impl RuntimeContext {
    fn engine(&self) -> &str {
        &self.hooks.plugin.info().name
    }

    fn finalizer(&self) -> String {
        format!("{}-runtime-controller-finalizer", self.engine())
    }

    fn runtimes(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.cluster.client().clone(), namespace, &self.kind)
    }

    fn datasets(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.cluster.client().clone(),
            namespace,
            &dataset_resource(),
        )
    }

    /// The backoff after the `n`th consecutive failure: 5 s doubling to 5 min.
    pub fn backoff(n: u32) -> Duration {
        Duration::from_secs(5u64.saturating_mul(1 << n.min(6)).min(300))
    }
}

fn to_value(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or_default()
}

fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// One reconcile of one runtime.
pub async fn reconcile(
    obj: Arc<DynamicObject>,
    ctx: Arc<RuntimeContext>,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let result = match reconcile_inner(&obj, &ctx).await {
        // Someone wrote the object since we read it: not a failure, decide again on fresh data.
        Err(ReconcileError::Cluster(ClusterError::Api {
            source: kube::Error::Api(s),
            ..
        })) if s.code == 409 => Ok(Action::requeue(Duration::from_millis(200))),
        other => other,
    };
    ctx.hooks
        .metrics
        .observe_reconcile(&ctx.kind.kind, started.elapsed(), result.is_err());
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let name = obj.metadata.name.clone().unwrap_or_default();
    if result.is_ok() {
        if let Ok(mut f) = ctx.failures.lock() {
            f.remove(&key(&ns, &name));
        }
    }
    result
}

/// After a failure: a condition and a Warning Event on the runtime, and a retry with backoff.
pub fn error_policy(
    obj: Arc<DynamicObject>,
    err: &ReconcileError,
    ctx: Arc<RuntimeContext>,
) -> Action {
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let name = obj.metadata.name.clone().unwrap_or_default();
    let n = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key(&ns, &name)).or_insert(0);
            *n += 1;
            *n
        })
        .unwrap_or(1);
    let message = err.to_string();
    tracing::warn!(kind = %ctx.kind.kind, runtime = %key(&ns, &name), failures = n, "{message}");
    let runtime = to_value(&obj);
    let reason = err.reason();
    tokio::spawn(async move {
        ctx.cluster
            .event(&object_ref(&runtime), true, reason, &message)
            .await;
        let mut conds = runtime["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if conditions::set(
            &mut conds,
            Flavor::Runtime,
            types::RECONCILED,
            false,
            reason,
            &message,
            &conditions::now(),
        ) {
            let mut status = json!({"conditions": conds});
            schema::complete(
                &mut status,
                &runtime["status"],
                &ctx.runtime_status_defaults,
            );
            let patch = json!({ "status": status });
            let _ = ctx
                .runtimes(&ns)
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
        }
    });
    Action::requeue(RuntimeContext::backoff(n.saturating_sub(1)))
}

async fn observe(
    ctx: &RuntimeContext,
    runtime: &Value,
    ns: &str,
    name: &str,
) -> Result<(Observed, Option<Value>), ReconcileError> {
    let dataset = ctx
        .cluster
        .get(ns, "data.fluid.io/v1alpha1", "Dataset", name)
        .await?;
    let dataset_uid = dataset
        .as_ref()
        .and_then(|d| d["metadata"]["uid"].as_str())
        .unwrap_or_default();
    let finalizer = ctx.finalizer();
    let has = |list: &Value, pred: &dyn Fn(&Value) -> bool| {
        list.as_array().is_some_and(|a| a.iter().any(pred))
    };
    let rt = RuntimeView {
        deleting: runtime["metadata"]["deletionTimestamp"].is_string(),
        has_finalizer: has(&runtime["metadata"]["finalizers"], &|f| {
            f == finalizer.as_str()
        }),
        adopted: !dataset_uid.is_empty()
            && has(&runtime["metadata"]["ownerReferences"], &|o| {
                o["uid"] == dataset_uid
            })
            && runtime["metadata"]["labels"]["fluid.io/dataset-id"].is_string(),
    };
    let ds = dataset.as_ref().map(|d| DatasetView {
        deleting: d["metadata"]["deletionTimestamp"].is_string(),
        bound: d["status"]["runtimes"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        (
                            r["name"].as_str().unwrap_or_default().to_owned(),
                            r["type"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        setup_done: d["status"]["conditions"]
            .as_array()
            .is_some_and(|c| conditions::find(c, "Ready").is_some()),
    });
    let pv = ctx
        .cluster
        .get(ns, "v1", "PersistentVolume", &volume::pv_name(ns, name))
        .await?;
    let pvc = ctx
        .cluster
        .get(ns, "v1", "PersistentVolumeClaim", name)
        .await?;
    let observed = Observed {
        name: name.to_owned(),
        engine: ctx.engine().to_owned(),
        runtime: rt,
        dataset: ds,
        volume: VolumeView {
            pv: pv.is_some(),
            pvc: pvc.is_some(),
        },
    };
    Ok((observed, dataset))
}

async fn reconcile_inner(
    obj: &DynamicObject,
    ctx: &RuntimeContext,
) -> Result<Action, ReconcileError> {
    let ns = obj
        .metadata
        .namespace
        .clone()
        .ok_or_else(|| ReconcileError::Invalid("the runtime has no namespace".into()))?;
    let name = obj
        .metadata
        .name
        .clone()
        .ok_or_else(|| ReconcileError::Invalid("the runtime has no name".into()))?;
    let mut runtime = to_value(obj);
    if runtime["metadata"]["deletionTimestamp"].is_string() {
        // The cached copy may predate our own finalizer removal: teardown must not run twice.
        match ctx
            .runtimes(&ns)
            .get_opt(&name)
            .await
            .map_err(api_err(format!("get {ns}/{name}")))?
        {
            Some(fresh) => runtime = to_value(&fresh),
            None => return Ok(Action::await_change()),
        }
    }
    // Claiming steps change the objects and are decided again; a bound guards against a loop.
    for _ in 0..8 {
        let (observed, dataset) = observe(ctx, &runtime, &ns, &name).await?;
        let step = next_step(&observed);
        tracing::debug!(kind = %ctx.kind.kind, runtime = %key(&ns, &name), ?step, "next step");
        let action = match &step {
            Step::Nothing => return Ok(Action::await_change()),
            Step::DeleteVolume => {
                delete_volume(ctx, &runtime, dataset.as_ref(), &ns, &name).await?
            }
            Step::Teardown => teardown(ctx, &runtime, dataset.as_ref(), &ns, &name).await?,
            Step::WaitForDataset => {
                set_runtime_condition(
                    ctx,
                    &runtime,
                    &ns,
                    &name,
                    types::DATASET_BOUND,
                    false,
                    "DatasetNotFound",
                    "No dataset can be bound to the runtime, waiting.",
                )
                .await?;
                return Ok(Action::await_change());
            }
            Step::Refuse { bound_to } => {
                let message = format!("dataset {ns}/{name} is already bound to runtime {bound_to}; this runtime will not be set up");
                let blocked = Blocked {
                    condition: types::DATASET_BOUND,
                    reason: "DatasetBoundToAnotherRuntime",
                    event_reason: "ErrorProcessRuntime",
                    warning: true,
                };
                report_blocked(ctx, &runtime, &ns, &name, blocked, &message).await?;
                return Ok(Action::await_change());
            }
            Step::Adopt => {
                let dataset = dataset
                    .ok_or_else(|| ReconcileError::Invalid("the dataset vanished".into()))?;
                adopt(ctx, &runtime, &dataset, &ns, &name).await?;
                None
            }
            Step::AddFinalizer => {
                let mut finalizers = runtime["metadata"]["finalizers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                finalizers.push(json!(ctx.finalizer()));
                let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": runtime["metadata"]["resourceVersion"]}});
                ctx.runtimes(&ns)
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(api_err(format!("add finalizer to {ns}/{name}")))?;
                None
            }
            Step::Run {
                setup,
                create_volume,
            } => {
                let dataset = dataset
                    .ok_or_else(|| ReconcileError::Invalid("the dataset vanished".into()))?;
                Some(run(ctx, &runtime, &dataset, &ns, &name, *setup, *create_volume).await?)
            }
        };
        if let Some(action) = action {
            return Ok(action);
        }
        if !step.continues() {
            return Ok(Action::await_change());
        }
        runtime = match ctx
            .runtimes(&ns)
            .get_opt(&name)
            .await
            .map_err(api_err(format!("get {ns}/{name}")))?
        {
            Some(o) => to_value(&o),
            None => return Ok(Action::await_change()),
        };
    }
    Ok(Action::requeue(Duration::from_secs(1)))
}

/// Sets a condition on the runtime's status; returns whether it changed.
// A condition is five values; a struct for them would be written once per call anyway.
#[allow(clippy::too_many_arguments)]
async fn set_runtime_condition(
    ctx: &RuntimeContext,
    runtime: &Value,
    ns: &str,
    name: &str,
    kind: &str,
    status: bool,
    reason: &str,
    message: &str,
) -> Result<bool, ReconcileError> {
    let mut conds = runtime["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !conditions::set(
        &mut conds,
        Flavor::Runtime,
        kind,
        status,
        reason,
        message,
        &conditions::now(),
    ) {
        return Ok(false);
    }
    patch_runtime_status(ctx, runtime, ns, name, json!({"conditions": conds})).await?;
    Ok(true)
}

/// What keeps a runtime from progressing: a False condition, and an Event when the condition
/// newly says so (not on every retry).
struct Blocked<'a> {
    condition: &'a str,
    reason: &'a str,
    event_reason: &'a str,
    warning: bool,
}

async fn report_blocked(
    ctx: &RuntimeContext,
    runtime: &Value,
    ns: &str,
    name: &str,
    blocked: Blocked<'_>,
    message: &str,
) -> Result<(), ReconcileError> {
    let changed = set_runtime_condition(
        ctx,
        runtime,
        ns,
        name,
        blocked.condition,
        false,
        blocked.reason,
        message,
    )
    .await?;
    if changed {
        ctx.cluster
            .event(
                &object_ref(runtime),
                blocked.warning,
                blocked.event_reason,
                message,
            )
            .await;
    }
    Ok(())
}

async fn patch_runtime_status(
    ctx: &RuntimeContext,
    runtime: &Value,
    ns: &str,
    name: &str,
    mut status: Value,
) -> Result<Value, ReconcileError> {
    schema::complete(
        &mut status,
        &runtime["status"],
        &ctx.runtime_status_defaults,
    );
    Ok(ctx
        .cluster
        .patch_status(ns, &ctx.kind.api_version, &ctx.kind.kind, name, status)
        .await?)
}

async fn patch_dataset_status(
    ctx: &RuntimeContext,
    dataset: &Value,
    ns: &str,
    name: &str,
    mut status: Value,
) -> Result<Value, ReconcileError> {
    schema::complete(
        &mut status,
        &dataset["status"],
        &ctx.dataset_status_defaults,
    );
    Ok(ctx
        .cluster
        .patch_status(ns, "data.fluid.io/v1alpha1", "Dataset", name, status)
        .await?)
}

/// Claims the Dataset: an ownerReference and the dataset-id label on the runtime, and this
/// runtime in the Dataset's `status.runtimes`, written against its resourceVersion so two
/// runtimes racing for one Dataset cannot both win.
async fn adopt(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
) -> Result<(), ReconcileError> {
    let uid = dataset["metadata"]["uid"].as_str().unwrap_or_default();
    let claimed = dataset["status"]["runtimes"].as_array().is_some_and(|rs| {
        rs.iter()
            .any(|r| r["name"] == name && r["type"] == ctx.engine())
    });
    if !claimed {
        let mut runtimes = dataset["status"]["runtimes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        runtimes.push(json!({
            "name": name, "namespace": ns, "category": CATEGORY, "type": ctx.engine(),
            "masterReplicas": runtime["spec"]["master"]["replicas"].as_i64().unwrap_or(1),
        }));
        let mut status = json!({"runtimes": runtimes});
        schema::complete(
            &mut status,
            &dataset["status"],
            &ctx.dataset_status_defaults,
        );
        let patch = json!({"metadata": {"resourceVersion": dataset["metadata"]["resourceVersion"]}, "status": status});
        ctx.datasets(ns)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api_err(format!("claim dataset {ns}/{name}")))?;
    }
    let mut owners = runtime["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !owners.iter().any(|o| o["uid"] == uid) {
        owners.push(json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset", "name": name, "uid": uid}));
    }
    let id = volume::dataset_id(ns, name, uid);
    let patch =
        json!({"metadata": {"ownerReferences": owners, "labels": {"fluid.io/dataset-id": id}}});
    ctx.runtimes(ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("label runtime {ns}/{name}")))?;
    set_runtime_condition(
        ctx,
        runtime,
        ns,
        name,
        types::DATASET_BOUND,
        true,
        "DatasetBound",
        &format!("bound to dataset {ns}/{name}"),
    )
    .await?;
    Ok(())
}

/// The values the host adds to every engine chart: Fluid's common keys.
fn host_values(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
) -> Value {
    let uid = dataset["metadata"]["uid"].as_str().unwrap_or_default();
    json!({
        "fullnameOverride": name,
        "ownerDatasetId": volume::dataset_id(ns, name, uid),
        "runtimeIdentity": {"namespace": ns, "name": name},
        "owner": {
            "enabled": true,
            "name": name,
            "kind": ctx.kind.kind,
            "apiVersion": ctx.kind.api_version,
            "uid": runtime["metadata"]["uid"],
            "blockOwnerDeletion": false,
            "controller": true,
        },
    })
}

/// Deep-merges `overlay` into `base` (objects merge, everything else replaces).
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

async fn values(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
) -> Result<Value, ReconcileError> {
    let mut values = host_values(ctx, runtime, dataset, ns, name);
    if let Some(engine_values) = ctx
        .hooks
        .call(Hook::Transform, runtime, Some(dataset), Value::Null)
        .await?
    {
        merge(&mut values, engine_values);
    }
    Ok(values)
}

fn values_configmap(ctx: &RuntimeContext, name: &str) -> String {
    format!("{name}-{}-values", ctx.engine())
}

/// The host's default master setup: install (or upgrade) the engine's chart, keep its values
/// in the `<name>-<engine>-values` ConfigMap as Fluid does (values hold secret *references*
/// only), and record `valueFile`.
async fn install_chart(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
) -> Result<(), ReconcileError> {
    let values = values(ctx, runtime, dataset, ns, name).await?;
    let chart = ctx.hooks.plugin.chart();
    if chart.is_empty() {
        return Err(ReconcileError::Invalid(format!(
            "plugin {} has no chart and does not set the master up itself",
            ctx.engine()
        )));
    }
    let file = ctx.helm.chart_file(ctx.engine(), chart)?;
    ctx.helm.upgrade(ns, name, &file, &values, true).await?;
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": values_configmap(ctx, name), "labels": {"fluid.io/dataset-id": values["ownerDatasetId"]},
            "ownerReferences": [{"apiVersion": ctx.kind.api_version, "kind": ctx.kind.kind, "name": name, "uid": runtime["metadata"]["uid"]}]},
        "data": {"data": serde_yaml::to_string(&values).unwrap_or_default()},
    });
    ctx.cluster.apply(ns, cm).await?;
    patch_runtime_status(
        ctx,
        runtime,
        ns,
        name,
        json!({"valueFile": values_configmap(ctx, name)}),
    )
    .await?;
    Ok(())
}

async fn workload(
    ctx: &RuntimeContext,
    ns: &str,
    kind: &str,
    name: &str,
) -> Result<Option<Value>, ReconcileError> {
    let api_version = "apps/v1";
    Ok(ctx.cluster.get(ns, api_version, kind, name).await?)
}

/// The host's default runtime status: from `<name>-master`, `<name>-worker` and `<name>-fuse`.
async fn default_status(
    ctx: &RuntimeContext,
    ns: &str,
    name: &str,
) -> Result<RuntimeStatusReport, ReconcileError> {
    let master = workload(ctx, ns, "StatefulSet", &format!("{name}-master"))
        .await?
        .map(|s| workloads::statefulset(&s));
    let workers = workload(ctx, ns, "StatefulSet", &format!("{name}-worker"))
        .await?
        .map(|s| workloads::statefulset(&s));
    let fuse = workload(ctx, ns, "DaemonSet", &format!("{name}-fuse"))
        .await?
        .map(|d| workloads::fuse_daemonset(&d));
    let ready = workloads::workers_ready(workers.as_ref())
        && master
            .as_ref()
            .is_none_or(|m| m.ready > 0 || m.desired == 0);
    Ok(RuntimeStatusReport {
        ready,
        master,
        workers,
        fuse,
    })
}

/// `check_and_update_runtime_status`, hook or default, written to the runtime's status.
async fn runtime_status(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
) -> Result<bool, ReconcileError> {
    let report = match ctx
        .hooks
        .call_as::<RuntimeStatusReport>(
            Hook::CheckAndUpdateRuntimeStatus,
            runtime,
            Some(dataset),
            Value::Null,
        )
        .await?
    {
        Some(r) => r,
        None => default_status(ctx, ns, name).await?,
    };
    let mut status = workloads::status_fields(&report);
    if report.ready && runtime["status"]["setupDuration"].is_null() {
        if let Some(created) = runtime["metadata"]["creationTimestamp"]
            .as_str()
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        {
            let secs =
                (k8s_openapi::jiff::Timestamp::now().as_second() - created.as_second()).max(0);
            status["setupDuration"] = json!(format!("{secs}s"));
            ctx.hooks.metrics.observe_bound(&ctx.kind.kind, secs as f64);
        }
    }
    if status.as_object().is_some_and(|s| !s.is_empty()) {
        patch_runtime_status(ctx, runtime, ns, name, status).await?;
    }
    Ok(report.ready)
}

/// Fluid's BindToDataset: the Dataset becomes Bound.
async fn bind(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
) -> Result<(), ReconcileError> {
    let mut conds = dataset["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    conditions::set(
        &mut conds,
        Flavor::Dataset,
        "Ready",
        true,
        "DatasetReady",
        "The ddc runtime is ready.",
        &conditions::now(),
    );
    let mut status = json!({"conditions": conds, "phase": "Bound"});
    if dataset["status"]["phase"] == "DataMigrating" {
        status["phase"] = dataset["status"]["phase"].clone();
    }
    if dataset["status"]["mounts"]
        .as_array()
        .is_none_or(|m| m.is_empty())
    {
        status["mounts"] = dataset["spec"]["mounts"].clone();
    }
    if runtime["status"]["cacheStates"].is_object() {
        status["cacheStates"] = runtime["status"]["cacheStates"].clone();
    }
    patch_dataset_status(ctx, dataset, ns, name, status).await?;
    ctx.cluster
        .event(
            &object_ref(dataset),
            false,
            "DatasetBound",
            &format!("bound to {} runtime {name}", ctx.engine()),
        )
        .await;
    Ok(())
}

/// Fluid's Setup (`pkg/ddc/base/setup.go`), every hook with the host's default. Returns
/// whether the runtime is set up.
async fn setup(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
) -> Result<bool, ReconcileError> {
    let h = &ctx.hooks;
    let ds = Some(dataset);
    let should_master = match h
        .call_as::<bool>(Hook::ShouldSetupMaster, runtime, ds, Value::Null)
        .await?
    {
        Some(b) => b,
        // Once the values are recorded the chart is installed: no helm call on every pass.
        None => {
            runtime["status"]["valueFile"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
                && ctx.helm.status(ns, name).await?.is_none()
        }
    };
    if should_master
        && h.call(Hook::SetupMaster, runtime, ds, Value::Null)
            .await?
            .is_none()
    {
        install_chart(ctx, runtime, dataset, ns, name).await?;
    }
    if !h
        .call_as::<bool>(Hook::CheckMasterReady, runtime, ds, Value::Null)
        .await?
        .unwrap_or(true)
    {
        return Ok(false);
    }
    if h.call_as::<bool>(Hook::ShouldCheckUfs, runtime, ds, Value::Null)
        .await?
        .unwrap_or(false)
    {
        h.call(Hook::PrepareUfs, runtime, ds, Value::Null).await?;
    }
    let should_workers = match h
        .call_as::<bool>(Hook::ShouldSetupWorkers, runtime, ds, Value::Null)
        .await?
    {
        Some(b) => b,
        None => runtime["status"]["workerPhase"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
    };
    if should_workers
        && h.call(Hook::SetupWorkers, runtime, ds, Value::Null)
            .await?
            .is_none()
    {
        scale_workers(ctx, runtime, ns, name).await?;
    }
    let workers_ready = match h
        .call_as::<bool>(Hook::CheckWorkersReady, runtime, ds, Value::Null)
        .await?
    {
        Some(b) => b,
        None => {
            let w = workload(ctx, ns, "StatefulSet", &format!("{name}-worker"))
                .await?
                .map(|s| workloads::statefulset(&s));
            workloads::workers_ready(w.as_ref())
        }
    };
    if !workers_ready {
        return Ok(false);
    }
    if !runtime_status(ctx, runtime, dataset, ns, name).await? {
        return Ok(false);
    }
    bind(ctx, runtime, dataset, ns, name).await?;
    Ok(true)
}

/// The host's default worker setup: the worker StatefulSet gets `spec.replicas`.
async fn scale_workers(
    ctx: &RuntimeContext,
    runtime: &Value,
    ns: &str,
    name: &str,
) -> Result<Option<(i64, i64)>, ReconcileError> {
    let Some(want) = runtime["spec"]["replicas"].as_i64() else {
        return Ok(None);
    };
    let sts_name = format!("{name}-worker");
    let Some(sts) = workload(ctx, ns, "StatefulSet", &sts_name).await? else {
        return Ok(None);
    };
    let have = sts["spec"]["replicas"].as_i64().unwrap_or(0);
    if have == want {
        return Ok(None);
    }
    let api: Api<k8s_openapi::api::apps::v1::StatefulSet> =
        Api::namespaced(ctx.cluster.client().clone(), ns);
    let patch = json!({"spec": {"replicas": want}});
    api.patch_scale(&sts_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("scale {ns}/{sts_name}")))?;
    Ok(Some((have, want)))
}

/// The host's default volume: Fluid's PV and PVC.
async fn create_volume(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
) -> Result<(), ReconcileError> {
    if ctx
        .hooks
        .call(Hook::CreateVolume, runtime, Some(dataset), Value::Null)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let engine = ctx.engine();
    let info = ctx.hooks.plugin.info();
    let mount_type = info.mount_type.clone().unwrap_or_else(|| info.name.clone());
    let mount = MountInfo::conventional(engine, &mount_type, ns, name);
    let (pv, pvc) = volume::build(&VolumeInput {
        namespace: ns,
        name,
        dataset,
        mount: &mount,
    });
    ctx.cluster.apply(ns, pv).await?;
    ctx.cluster.apply(ns, pvc).await?;
    Ok(())
}

/// Validates, sets up, creates the volume and syncs.
async fn run(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
    setup_needed: bool,
    volume_needed: bool,
) -> Result<Action, ReconcileError> {
    let validation = ctx
        .hooks
        .call_as::<Validation>(Hook::Validate, runtime, Some(dataset), Value::Null)
        .await?
        .unwrap_or_default();
    if !validation.errors.is_empty() {
        let message = validation
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let blocked = Blocked {
            condition: types::VALIDATED,
            reason: "InvalidSpec",
            event_reason: "ErrorValidateSpecFields",
            warning: true,
        };
        report_blocked(ctx, runtime, ns, name, blocked, &message).await?;
        // A fix may come from an object this controller does not watch (a Secret the spec
        // names): check again after a while, as Fluid does (20 s).
        return Ok(Action::requeue(Duration::from_secs(20)));
    }
    let newly_valid =
        set_runtime_condition(ctx, runtime, ns, name, types::VALIDATED, true, "Valid", "").await?;
    if newly_valid && !validation.ignored_fields.is_empty() {
        let message = format!(
            "{} ignores these fields: {}",
            ctx.engine(),
            validation.ignored_fields.join(", ")
        );
        ctx.cluster
            .event(&object_ref(runtime), true, "RuntimeFieldsIgnored", &message)
            .await;
    }
    if setup_needed && !setup(ctx, runtime, dataset, ns, name).await? {
        // Progress comes from the owned workloads' watch events.
        return Ok(Action::await_change());
    }
    let dataset = ctx
        .cluster
        .get(ns, "data.fluid.io/v1alpha1", "Dataset", name)
        .await?
        .unwrap_or_else(|| dataset.clone());
    if volume_needed {
        create_volume(ctx, runtime, &dataset, ns, name).await?;
    }
    sync(ctx, runtime, &dataset, ns, name).await?;
    set_runtime_condition(
        ctx,
        runtime,
        ns,
        name,
        types::RECONCILED,
        true,
        "Synced",
        "",
    )
    .await?;
    Ok(Action::requeue(ctx.config.sync_period))
}

/// Fluid's Sync (`pkg/ddc/base/syncs.go`), hooks with the host's defaults.
async fn sync(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
) -> Result<(), ReconcileError> {
    let h = &ctx.hooks;
    let ds = Some(dataset);
    if let Some(m) = h
        .call_as::<MetadataReport>(Hook::SyncMetadata, runtime, ds, Value::Null)
        .await?
    {
        let mut status = json!({});
        if m.calculating {
            status = json!({"ufsTotal": "[Calculating]", "fileNum": "[Calculating]"});
        } else {
            if let Some(b) = m.ufs_total_bytes {
                status["ufsTotal"] = json!(human_bytes(b));
            }
            if let Some(n) = m.file_count {
                status["fileNum"] = json!(n.to_string());
            }
        }
        if status.as_object().is_some_and(|s| !s.is_empty()) {
            patch_dataset_status(ctx, dataset, ns, name, status).await?;
        }
    }
    if h.call(Hook::SyncReplicas, runtime, ds, Value::Null)
        .await?
        .is_none()
    {
        if let Some((have, want)) = scale_workers(ctx, runtime, ns, name).await? {
            let (kind, verb) = if want > have {
                ("WorkersScaledOut", "out")
            } else {
                ("WorkersScaledIn", "in")
            };
            set_runtime_condition(
                ctx,
                runtime,
                ns,
                name,
                kind,
                true,
                kind,
                &format!("workers scaled {verb} from {have} to {want}"),
            )
            .await?;
            ctx.cluster
                .event(
                    &object_ref(runtime),
                    false,
                    "Succeed",
                    &format!("Runtime scaled {verb}"),
                )
                .await;
        }
    }
    if h.call(Hook::SyncRuntime, runtime, ds, Value::Null)
        .await?
        .is_none()
    {
        sync_values(ctx, runtime, dataset, ns, name).await?;
    }
    let health = h
        .call_as::<HealthReport>(Hook::CheckRuntimeHealthy, runtime, ds, Value::Null)
        .await?;
    let ready = runtime_status(ctx, runtime, dataset, ns, name).await?;
    let healthy = health.map(|r| r.healthy).unwrap_or(ready);
    let phase = if healthy { "Bound" } else { "Failed" };
    if dataset["status"]["phase"] != phase && dataset["status"]["phase"] != "DataMigrating" {
        patch_dataset_status(ctx, dataset, ns, name, json!({"phase": phase})).await?;
    }
    let cache = match h
        .call_as::<CacheReport>(Hook::UpdateCacheOfDataset, runtime, ds, Value::Null)
        .await?
    {
        Some(c) => Some(json!(c.cache_states)),
        None => runtime["status"]["cacheStates"]
            .as_object()
            .map(|c| Value::Object(c.clone())),
    };
    if let Some(states) = cache.filter(|c| *c != dataset["status"]["cacheStates"]) {
        patch_dataset_status(ctx, dataset, ns, name, json!({"cacheStates": states})).await?;
    }
    if let Some(report) = h
        .call(Hook::UpdateDatasetStatus, runtime, ds, Value::Null)
        .await?
    {
        if let Some(status) = report.get("status").filter(|s| s.is_object()) {
            patch_dataset_status(ctx, dataset, ns, name, status.clone()).await?;
        }
    }
    if h.call_as::<bool>(Hook::ShouldUpdateUfs, runtime, ds, Value::Null)
        .await?
        .unwrap_or(false)
    {
        h.call(Hook::UpdateOnUfsChange, runtime, ds, Value::Null)
            .await?;
    }
    Ok(())
}

/// The host's default for runtime spec changes: when the chart values changed, upgrade the
/// release (the workloads roll as the chart's templates changed).
async fn sync_values(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: &Value,
    ns: &str,
    name: &str,
) -> Result<(), ReconcileError> {
    if ctx.hooks.plugin.chart().is_empty() {
        return Ok(());
    }
    let Some(cm) = ctx
        .cluster
        .get(ns, "v1", "ConfigMap", &values_configmap(ctx, name))
        .await?
    else {
        return Ok(());
    };
    let values = values(ctx, runtime, dataset, ns, name).await?;
    let rendered = serde_yaml::to_string(&values).unwrap_or_default();
    if cm["data"]["data"].as_str() == Some(rendered.as_str()) {
        return Ok(());
    }
    install_chart(ctx, runtime, dataset, ns, name).await?;
    ctx.cluster
        .event(
            &object_ref(runtime),
            false,
            "RuntimeUpdated",
            "the runtime spec changed; the engine's release was upgraded",
        )
        .await;
    Ok(())
}

/// Deletion, first step: the volume, once no pod uses the claim.
async fn delete_volume(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: Option<&Value>,
    ns: &str,
    name: &str,
) -> Result<Option<Action>, ReconcileError> {
    if ctx
        .hooks
        .call(Hook::DeleteVolume, runtime, dataset, Value::Null)
        .await?
        .is_some()
    {
        return Ok(Some(Action::requeue(Duration::from_secs(1))));
    }
    let pods = ctx.cluster.list(ns, "v1", "Pod", None).await?;
    if let Some(pod) = pods.iter().find(|p| volume::pod_uses_claim(p, name)) {
        let pod = pod["metadata"]["name"].as_str().unwrap_or_default();
        let message =
            format!("waiting for pod {pod} to stop using the volume {name} before deleting it");
        let blocked = Blocked {
            condition: types::RECONCILED,
            reason: "VolumeInUse",
            event_reason: "VolumeInUse",
            warning: false,
        };
        report_blocked(ctx, runtime, ns, name, blocked, &message).await?;
        // Pods are not watched by this controller: poll, as Fluid does.
        return Ok(Some(Action::requeue(Duration::from_secs(10))));
    }
    ctx.cluster
        .delete(ns, "v1", "PersistentVolumeClaim", name)
        .await?;
    ctx.cluster
        .delete(ns, "v1", "PersistentVolume", &volume::pv_name(ns, name))
        .await?;
    // The API server finishes deleting them (claim protection) on its own time; PVs and PVCs
    // are not watched, so look again shortly instead of deleting again in a loop.
    Ok(Some(Action::requeue(Duration::from_secs(1))))
}

/// Deletion, last step: shut the engine down, return the Dataset to NotBound, let go.
async fn teardown(
    ctx: &RuntimeContext,
    runtime: &Value,
    dataset: Option<&Value>,
    ns: &str,
    name: &str,
) -> Result<Option<Action>, ReconcileError> {
    if ctx
        .hooks
        .call(Hook::Shutdown, runtime, dataset, Value::Null)
        .await?
        .is_none()
    {
        ctx.helm.uninstall(ns, name).await?;
        ctx.cluster
            .delete(ns, "v1", "ConfigMap", &values_configmap(ctx, name))
            .await?;
    }
    if let Some(d) = dataset {
        let ours = d["status"]["runtimes"].as_array().is_some_and(|rs| {
            rs.iter()
                .any(|r| r["name"] == name && r["type"] == ctx.engine())
        });
        if ours {
            let mut status = json!({"phase": "NotBound", "runtimes": null, "conditions": [], "cacheStates": null,
                "ufsTotal": null, "fileNum": null, "hcfs": null, "mounts": null});
            schema::complete(&mut status, &d["status"], &ctx.dataset_status_defaults);
            let patch = json!({"status": status});
            ctx.datasets(ns)
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(api_err(format!("release dataset {ns}/{name}")))?;
        }
    }
    let finalizer = ctx.finalizer();
    let finalizers: Vec<Value> = runtime["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f != finalizer.as_str())
        .collect();
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": runtime["metadata"]["resourceVersion"]}});
    match ctx
        .runtimes(ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {}
        // Already gone: the finalizer went with it.
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => {
            return Err(ClusterError::Api {
                what: format!("remove finalizer from {ns}/{name}"),
                source: e,
            }
            .into())
        }
    }
    if let Ok(mut f) = ctx.failures.lock() {
        f.remove(&key(ns, name));
    }
    Ok(Some(Action::await_change()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_overlays_engine_values_on_host_values() {
        let mut base = json!({"owner": {"enabled": true, "name": "a"}, "fullnameOverride": "a"});
        merge(
            &mut base,
            json!({"owner": {"name": "b"}, "worker": {"replicas": 0}}),
        );
        assert_eq!(
            base,
            json!({"owner": {"enabled": true, "name": "b"}, "fullnameOverride": "a", "worker": {"replicas": 0}})
        );
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(RuntimeContext::backoff(0), Duration::from_secs(5));
        assert_eq!(RuntimeContext::backoff(1), Duration::from_secs(10));
        assert_eq!(RuntimeContext::backoff(10), Duration::from_secs(300));
    }
}
