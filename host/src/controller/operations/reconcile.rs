//! The I/O around [`super::decide::next_step`]: read the operation, its Dataset, its Job and
//! the operation it runs after from the watch caches; do the step; write the status once.

use super::affinity;
use super::cron::Schedule;
use super::decide::{next_step, DatasetView, JobView, Observed, Step, Wait};
use super::job::{self, OperationMeta};
use super::view::{spec_view, SpecView};
use super::{resource, to_wire, OperationCaches, OperationEngine, FINALIZER};
use crate::controller::caches::Caches;
use crate::controller::finalizer;
use crate::controller::hooks::{object_ref, HookCallError};
use crate::services::{api_err, Cluster, ClusterError};
use fluid_plugin_api::loader::CallError;
use fluid_plugin_api::protocol::Hook;
use fluid_plugin_api::types::{
    DataProcess, DatasetPhase, OperationCondition, OperationKind, OperationPhase, OperationPolicy,
    OperationStatus,
};
use fluid_plugin_api::{OperateInput, OperationPlan};
use k8s_openapi::api::core::v1::{Node, NodeAffinity, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything a pass needs.
pub struct OperationContext {
    /// The kind this controller serves.
    pub kind: OperationKind,
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// The shared caches (Datasets, runtimes).
    pub caches: Caches,
    /// Operations, Jobs and CronJobs.
    pub ops: OperationCaches,
    /// The engines that may run operations.
    pub engines: Arc<Vec<OperationEngine>>,
    /// How many times in a row each operation's engine refused to plan it, by uid.
    pub refusals: Mutex<HashMap<String, u32>>,
}

/// How many refusals in a row fail an operation: the engine's answer to the same spec does
/// not change by itself (a field it cannot run), but a read inside the hook that failed in
/// passing gets two more tries, ten seconds apart.
pub const REFUSALS_TO_FAIL: u32 = 3;

/// Why a pass failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// A read or write of the cluster failed.
    #[error("{0}")]
    Cluster(#[from] ClusterError),
    /// The engine's `operate` hook failed.
    #[error("{0}")]
    Hook(#[from] HookCallError),
}

/// The Job's end, from its conditions.
fn job_view(job: &k8s_openapi::api::batch::v1::Job) -> JobView {
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let holds = |t: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == t && c.status == "True")
    };
    JobView {
        complete: holds("Complete").is_some(),
        failed: holds("Failed").map(|c| {
            format!(
                "{}: {}",
                c.reason.as_deref().unwrap_or("Failed"),
                c.message.as_deref().unwrap_or("the Job failed")
            )
        }),
    }
}

/// The operations of `kind` holding a Dataset (`status.operationRef[kind]`).
pub fn holders(dataset: &Value, kind: OperationKind) -> Vec<String> {
    dataset["status"]["operationRef"][kind.as_str()]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An operation's status (empty when it has none or an unreadable one).
fn status_of(o: &DynamicObject) -> OperationStatus {
    o.data
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default()
}

fn seconds_between(from: &Time, to: Timestamp) -> i64 {
    (to.as_second() - from.0.as_second()).max(0)
}

/// Fluid's duration text: `1h2m3s`, `4m5s`, `6s`.
pub fn duration_text(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// Runs one pass for one operation.
pub async fn reconcile(
    obj: Arc<DynamicObject>,
    ctx: Arc<OperationContext>,
) -> Result<Action, OperationError> {
    let kind = ctx.kind;
    let ar = resource(kind);
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let name = obj.metadata.name.clone().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.cluster.client().clone(), &ns, &ar);
    let wire = to_wire(&obj);
    let spec = spec_view(kind, &wire);
    let status: OperationStatus =
        serde_json::from_value(wire["status"].clone()).unwrap_or_default();
    let dataset = ctx
        .caches
        .dataset(&spec.dataset_namespace, &spec.dataset_name)
        .map(|d| to_wire(&d));
    let job_name = job::job_name(kind, &name);
    // The status of the operation whose placement this one follows.
    let followed = spec.follow.as_ref().and_then(|f| {
        let d = &f.depend_on;
        ctx.ops
            .operation(d.kind, &d.namespace, &d.name)
            .map(|o| status_of(&o))
    });
    let now = Timestamp::now();
    let ended_at = status
        .conditions
        .iter()
        .filter_map(|c| c.last_transition_time.as_ref())
        .max_by_key(|t| t.0);
    let observed = Observed {
        kind,
        name: name.clone(),
        phase: status.phase,
        deleting: obj.metadata.deletion_timestamp.is_some(),
        has_finalizer: finalizer::has(&obj.metadata, FINALIZER),
        policy: spec.policy,
        invalid: spec.invalid.clone(),
        dataset: dataset.as_ref().map(|d| DatasetView {
            bound: matches!(
                d["status"]["phase"].as_str(),
                Some("Bound" | "DataMigrating")
            ),
            holders: holders(d, kind),
        }),
        dataset_name: format!("{}/{}", spec.dataset_namespace, spec.dataset_name),
        run_after: spec.run_after.as_ref().map(|r| {
            let phase = ctx
                .ops
                .operation(r.kind, &r.namespace, &r.name)
                .map(|o| status_of(&o).phase);
            (r.kind, r.name.clone(), phase)
        }),
        depend_on: spec.follow.as_ref().map(|f| {
            let d = &f.depend_on;
            (d.kind, d.name.clone(), followed.as_ref().map(|s| s.phase))
        }),
        job: (spec.policy != OperationPolicy::Cron)
            .then(|| ctx.ops.job(&ns, &job_name))
            .flatten()
            .map(|j| job_view(&j)),
        cron_job: spec.policy == OperationPolicy::Cron
            && ctx.ops.cron_job(&ns, &job_name).is_some(),
        ttl_expired: match (spec.ttl_seconds, ended_at) {
            (Some(ttl), Some(t)) => seconds_between(t, now) >= ttl,
            _ => false,
        },
    };
    let step = next_step(&observed);
    tracing::debug!(kind = %kind, namespace = %ns, name = %name, ?step, "operation pass");
    let pass = Pass {
        ctx: &ctx,
        api: &api,
        obj: &obj,
        wire: &wire,
        spec: &spec,
        dataset: dataset.as_ref(),
        job_name: &job_name,
        followed: followed.as_ref().and_then(|s| s.node_affinity.as_ref()),
        now,
    };
    let mut draft = status.clone();
    let requeue = match step {
        Step::Nothing => match (spec.ttl_seconds, ended_at) {
            // Wake when the time to live runs out.
            (Some(ttl), Some(t)) if status.phase.is_final() => Some(Duration::from_secs(
                (ttl - seconds_between(t, now)).max(1) as u64,
            )),
            _ => None,
        },
        Step::AddFinalizer => {
            finalizer::add(&api, &obj, FINALIZER).await?;
            None
        }
        Step::Cleanup => {
            pass.cleanup().await?;
            return Ok(Action::await_change());
        }
        Step::Wait(wait) => {
            pass.wait(&mut draft, &status, &wait).await;
            None
        }
        Step::LockAndLaunch | Step::Launch => {
            pass.launch(&mut draft, step == Step::LockAndLaunch).await?
        }
        Step::Watch => pass.watch(&mut draft),
        Step::Finish(failure) => {
            pass.finish(&mut draft, failure).await?;
            spec.ttl_seconds
                .map(|t| Duration::from_secs(t.max(1) as u64))
        }
        Step::ReleaseLock => {
            pass.release_lock().await?;
            None
        }
        Step::Expire => {
            tracing::info!(kind = %kind, namespace = %ns, name = %name, "time to live after the end passed: deleting");
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(api_err(format!("delete {kind} {ns}/{name}"))(e).into()),
            }
            return Ok(Action::await_change());
        }
    };
    if draft != status {
        write_status(&api, &name, &draft).await?;
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// Retries a failed pass.
pub fn error_policy(
    obj: Arc<DynamicObject>,
    error: &OperationError,
    _ctx: Arc<OperationContext>,
) -> Action {
    tracing::warn!(
        kind = obj.types.as_ref().map(|t| t.kind.as_str()).unwrap_or_default(),
        namespace = obj.metadata.namespace.as_deref().unwrap_or_default(),
        name = obj.metadata.name.as_deref().unwrap_or_default(),
        %error,
        "data operation pass failed; retrying"
    );
    Action::requeue(Duration::from_secs(10))
}

async fn write_status(
    api: &Api<DynamicObject>,
    name: &str,
    status: &OperationStatus,
) -> Result<(), ClusterError> {
    let patch = json!({ "status": status });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("write the status of {name}")))?;
    Ok(())
}

/// Sets the condition of `type_` (dropping the other end condition), keeping its transition
/// time when only the text changes.
fn set_condition(status: &mut OperationStatus, type_: &str, reason: &str, message: &str) {
    let now = Time(Timestamp::now());
    status.conditions.retain(|c| {
        c.type_ == type_ || !matches!(c.type_.as_str(), "Complete" | "Failed" | "Waiting")
    });
    if let Some(c) = status.conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.reason.as_deref() == Some(reason) && c.message.as_deref() == Some(message) {
            return;
        }
        c.reason = Some(reason.into());
        c.message = Some(message.into());
        c.last_probe_time = Some(now);
        return;
    }
    status.conditions.push(OperationCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(now.clone()),
        last_transition_time: Some(now),
    });
}

/// Why an operation cannot be planned.
enum PlanError {
    /// The engine does not do this operation: the operation fails.
    Unsupported(String),
    /// The engine's `operate` hook answered with an error (a spec it cannot run, or a read of
    /// its own that failed): retried, and the operation fails after [`REFUSALS_TO_FAIL`].
    Refused(HookCallError),
    /// The host could not ask (a read, a timeout, no free hook thread): retried.
    Failed(OperationError),
}

/// Counts one more refusal of `uid` (or forgets it, when the engine planned); whether the
/// operation has now been refused [`REFUSALS_TO_FAIL`] times in a row.
fn count_refusal(refusals: &Mutex<HashMap<String, u32>>, uid: &str, refused: bool) -> bool {
    let Ok(mut counts) = refusals.lock() else {
        return false;
    };
    if !refused {
        counts.remove(uid);
        return false;
    }
    let n = counts.entry(uid.to_owned()).or_default();
    *n += 1;
    if *n >= REFUSALS_TO_FAIL {
        counts.remove(uid);
        return true;
    }
    false
}

struct Pass<'a> {
    ctx: &'a OperationContext,
    api: &'a Api<DynamicObject>,
    obj: &'a DynamicObject,
    wire: &'a Value,
    spec: &'a SpecView,
    dataset: Option<&'a Value>,
    job_name: &'a str,
    /// The placement recorded by the operation this one follows.
    followed: Option<&'a NodeAffinity>,
    now: Timestamp,
}

impl Pass<'_> {
    fn kind(&self) -> OperationKind {
        self.ctx.kind
    }

    fn name(&self) -> &str {
        self.obj.metadata.name.as_deref().unwrap_or_default()
    }

    fn namespace(&self) -> &str {
        self.obj.metadata.namespace.as_deref().unwrap_or_default()
    }

    async fn event(&self, warning: bool, reason: &str, message: &str) {
        self.ctx
            .cluster
            .event(&object_ref(self.wire), warning, reason, message)
            .await;
    }

    async fn wait(&self, draft: &mut OperationStatus, before: &OperationStatus, wait: &Wait) {
        draft.phase = OperationPhase::Pending;
        if draft.duration.is_empty() {
            draft.duration = "Unfinished".into();
        }
        draft.waiting_for = Some(fluid_plugin_api::types::WaitingStatus {
            operation_complete: Some(matches!(
                wait.reason,
                "WaitingForRunAfter" | "WaitingForDependOn"
            )),
        });
        set_condition(draft, "Waiting", wait.reason, &wait.message);
        let said_before = before
            .conditions
            .iter()
            .any(|c| c.type_ == "Waiting" && c.message.as_deref() == Some(wait.message.as_str()));
        if !said_before {
            self.event(false, wait.reason, &wait.message).await;
        }
    }

    /// What the operation's pod runs: the host's own plan for DataProcess, else the engine's.
    async fn plan(&self) -> Result<OperationPlan, PlanError> {
        let kind = self.kind();
        if kind == OperationKind::DataProcess {
            let mut wire = self.wire.clone();
            job::lift_resource_claim_sources(&mut wire);
            let process: DataProcess = serde_json::from_value(wire).map_err(|e| {
                PlanError::Unsupported(format!("spec: not a valid DataProcess: {e}"))
            })?;
            return job::process_plan(&process).map_err(PlanError::Unsupported);
        }
        let Some(dataset) = self.dataset else {
            return Err(PlanError::Failed(
                ClusterError::NotFound(format!("Dataset {}", self.spec.dataset_name)).into(),
            ));
        };
        let bound = &dataset["status"]["runtimes"][0];
        let engine_name = bound["type"].as_str().unwrap_or_default();
        let Some(engine) = self.ctx.engines.iter().find(|e| e.name == engine_name) else {
            return Err(PlanError::Unsupported(format!(
                "{kind} is not supported by {}: no loaded plugin serves that engine",
                if engine_name.is_empty() {
                    "the Dataset's runtime"
                } else {
                    engine_name
                }
            )));
        };
        let runtime_name = bound["name"].as_str().unwrap_or(&self.spec.dataset_name);
        let runtime_ns = bound["namespace"]
            .as_str()
            .unwrap_or(&self.spec.dataset_namespace);
        let runtime = self
            .ctx
            .caches
            .stored_runtime(&engine.kind, runtime_ns, runtime_name)
            .and_then(|s| s.object())
            .ok_or_else(|| {
                PlanError::Failed(
                    ClusterError::NotFound(format!(
                        "{} {runtime_ns}/{runtime_name}",
                        engine.kind.kind
                    ))
                    .into(),
                )
            })?;
        let input = OperateInput {
            kind,
            operation: self.wire.clone(),
            job_name: self.job_name.to_owned(),
        };
        let input = serde_json::to_value(&input).unwrap_or_default();
        match engine
            .hooks
            .call_as::<OperationPlan>(
                Hook::Operate,
                &to_wire(&runtime),
                Some(dataset),
                input,
                None,
            )
            .await
        {
            Ok(Some(plan)) => Ok(plan),
            Ok(None) => Err(PlanError::Unsupported(format!(
                "{kind} is not supported by {}",
                engine.name
            ))),
            Err(e @ HookCallError::Engine(CallError::Hook(_))) => Err(PlanError::Refused(e)),
            Err(e) => Err(PlanError::Failed(e.into())),
        }
    }

    async fn launch(
        &self,
        draft: &mut OperationStatus,
        lock: bool,
    ) -> Result<Option<Duration>, OperationError> {
        let kind = self.kind();
        let uid = self.obj.metadata.uid.as_deref().unwrap_or_default();
        let planned = self.plan().await;
        let refused = matches!(planned, Err(PlanError::Refused(_)));
        let give_up = count_refusal(&self.ctx.refusals, uid, refused);
        let mut plan = match planned {
            Ok(plan) => plan,
            Err(PlanError::Unsupported(message)) => {
                self.finish(draft, Some(("NotSupported", message))).await?;
                return Ok(None);
            }
            Err(PlanError::Refused(e)) if give_up => {
                self.finish(draft, Some(("PlanFailed", e.to_string())))
                    .await?;
                return Ok(None);
            }
            Err(PlanError::Refused(e)) => {
                self.event(true, "PlanFailed", &e.to_string()).await;
                return Err(e.into());
            }
            Err(PlanError::Failed(e)) => {
                self.event(true, "PlanFailed", &e.to_string()).await;
                return Err(e);
            }
        };
        if lock {
            if let Some(other) = self.take_lock(plan.dataset_phase).await? {
                let wait = Wait {
                    reason: "DatasetBusy",
                    message: format!(
                        "{kind} {other} is running on the Dataset {}; one {kind} runs at a time",
                        self.spec.dataset_name
                    ),
                };
                let before = draft.clone();
                self.wait(draft, &before, &wait).await;
                return Ok(None);
            }
        }
        let meta = OperationMeta {
            kind,
            name: self.name().to_owned(),
            namespace: self.namespace().to_owned(),
            uid: self.obj.metadata.uid.clone().unwrap_or_default(),
            dataset: self.spec.dataset_name.clone(),
        };
        let schedule = (self.spec.policy == OperationPolicy::Cron)
            .then_some(self.spec.schedule.as_deref())
            .flatten();
        if let Some(follow) = &self.spec.follow {
            let pod = plan.pod_template.spec.get_or_insert_with(Default::default);
            pod.affinity = affinity::follow(&follow.policy, self.followed, pod.affinity.take());
        }
        let workload = job::workload(&meta, &plan, schedule);
        self.ctx.cluster.apply(self.namespace(), workload).await?;
        let what = if schedule.is_some() { "CronJob" } else { "Job" };
        self.event(
            false,
            &format!("{kind}JobStarted"),
            &format!("{what} {} started", self.job_name),
        )
        .await;
        Ok(self.watch(draft))
    }

    /// Refreshes Executing, and for a CronJob its schedule figures; wakes at the next run.
    fn watch(&self, draft: &mut OperationStatus) -> Option<Duration> {
        // Whole: the cached status may predate the launch's write.
        draft.phase = OperationPhase::Executing;
        draft.duration = "Unfinished".into();
        draft.waiting_for = None;
        draft.conditions.retain(|c| c.type_ != "Waiting");
        if self.spec.policy != OperationPolicy::Cron {
            return None;
        }
        if let Some(cron) = self.ctx.ops.cron_job(self.namespace(), self.job_name) {
            if let Some(s) = &cron.status {
                draft.last_schedule_time = s.last_schedule_time.clone();
                draft.last_successful_time = s.last_successful_time.clone();
            }
        }
        let next = self
            .spec
            .schedule
            .as_deref()
            .and_then(|s| Schedule::parse(s).ok())
            .and_then(|s| s.next_after(self.now));
        draft.next_schedule_time = next.map(Time);
        next.map(|t| Duration::from_secs((t.as_second() - self.now.as_second()).max(1) as u64 + 1))
    }

    async fn finish(
        &self,
        draft: &mut OperationStatus,
        failure: Option<(&'static str, String)>,
    ) -> Result<(), OperationError> {
        let kind = self.kind();
        let created = self.obj.metadata.creation_timestamp.as_ref();
        draft.duration = created
            .map(|c| duration_text(seconds_between(c, self.now)))
            .unwrap_or_default();
        draft.waiting_for = None;
        match &failure {
            None => {
                let backup = kind == OperationKind::DataBackup;
                let record = self.spec.records_placement && draft.node_affinity.is_none();
                // Read once, at the end: where the Job's pod ran.
                let pod = if backup || record {
                    self.job_pod().await?
                } else {
                    None
                };
                let node = pod
                    .as_ref()
                    .and_then(|p| p.spec.as_ref())
                    .and_then(|s| s.node_name.as_deref());
                if backup {
                    let path = self.wire["spec"]["backupPath"].as_str().unwrap_or_default();
                    draft.infos = Some(job::backup_infos(path, node));
                }
                if record {
                    draft.node_affinity = self.placement(pod.as_ref(), node).await?;
                }
                draft.phase = OperationPhase::Complete;
                draft.last_successful_time = Some(Time(self.now));
                set_condition(
                    draft,
                    "Complete",
                    &format!("{kind}JobComplete"),
                    &format!("{kind} {} completed", self.name()),
                );
            }
            Some((reason, message)) => {
                draft.phase = OperationPhase::Failed;
                set_condition(draft, "Failed", reason, message);
            }
        }
        self.release_lock().await?;
        match failure {
            None => {
                self.event(
                    false,
                    "Complete",
                    &format!("{kind} {} completed", self.name()),
                )
                .await
            }
            Some((reason, message)) => self.event(true, reason, &message).await,
        }
        Ok(())
    }

    /// The pod of the Job that did the work (see [`job::worker_pod`]).
    async fn job_pod(&self) -> Result<Option<Pod>, OperationError> {
        let pods: Api<Pod> = Api::namespaced(self.ctx.cluster.client().clone(), self.namespace());
        let params = ListParams::default().labels(&format!("job-name={}", self.job_name));
        let list = pods
            .list(&params)
            .await
            .map_err(api_err(format!("list the pods of Job {}", self.job_name)))?;
        Ok(job::worker_pod(list.items))
    }

    /// What the operation records of where its pod ran (`status.nodeAffinity`): the labels of
    /// the pod's node. Nothing, with a Warning, when the pod or its node is gone.
    async fn placement(
        &self,
        pod: Option<&Pod>,
        node: Option<&str>,
    ) -> Result<Option<NodeAffinity>, OperationError> {
        let Some(node) = node else {
            let message = format!(
                "status.nodeAffinity not recorded: no pod of Job {} ran on a node",
                self.job_name
            );
            self.event(true, "NodeAffinityNotRecorded", &message).await;
            return Ok(None);
        };
        // One read of one node's metadata per completed operation: the host watches no nodes
        // (a watch would stream every node's updates to serve this read).
        let nodes: Api<Node> = Api::all(self.ctx.cluster.client().clone());
        let Some(meta) = nodes
            .get_metadata_opt(node)
            .await
            .map_err(api_err(format!("read node {node}")))?
        else {
            let message = format!("status.nodeAffinity not recorded: node {node} is gone");
            self.event(true, "NodeAffinityNotRecorded", &message).await;
            return Ok(None);
        };
        // The operation's annotation, else its pods' (Fluid copies the former onto the latter).
        let exposed = [
            self.obj.metadata.annotations.as_ref(),
            pod.and_then(|p| p.metadata.annotations.as_ref()),
        ]
        .into_iter()
        .flatten()
        .find_map(|a| a.get(affinity::EXPOSED_LABELS_ANNOTATION));
        let labels = meta.metadata.labels.unwrap_or_default();
        Ok(affinity::record(&labels, exposed.map(String::as_str)))
    }

    fn dataset_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.ctx.cluster.client().clone(),
            &self.spec.dataset_namespace,
            &self.ctx.caches.dataset_kind,
        )
    }

    /// Adds this operation to the Dataset's lock for its kind, reading the Dataset fresh and
    /// writing against its resourceVersion (two operations never both take it). Returns the
    /// holder when another operation has it.
    async fn take_lock(
        &self,
        phase: Option<DatasetPhase>,
    ) -> Result<Option<String>, OperationError> {
        let api = self.dataset_api();
        let what = format!("lock Dataset {}", self.spec.dataset_name);
        let live = api
            .get(&self.spec.dataset_name)
            .await
            .map_err(api_err(what.clone()))?;
        let live = to_wire(&live);
        let mut names = holders(&live, self.kind());
        if let Some(other) = names.iter().find(|h| *h != self.name()) {
            return Ok(Some(other.clone()));
        }
        if names.is_empty() {
            names.push(self.name().to_owned());
        }
        let mut status = json!({"operationRef": {self.kind().as_str(): names.join(",")}});
        if let Some(phase) = phase {
            status["phase"] = serde_json::to_value(phase).unwrap_or_default();
        }
        self.write_dataset_status(&api, &live, status, what).await?;
        Ok(None)
    }

    /// Merges `status` into the Dataset's, against the resourceVersion `live` was read at.
    async fn write_dataset_status(
        &self,
        api: &Api<DynamicObject>,
        live: &Value,
        status: Value,
        what: String,
    ) -> Result<(), OperationError> {
        let patch = json!({
            "metadata": {"resourceVersion": live["metadata"]["resourceVersion"]},
            "status": status,
        });
        api.patch_status(
            &self.spec.dataset_name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(api_err(what))?;
        Ok(())
    }

    /// Removes this operation from the Dataset's lock, and puts a phase it set back to Bound.
    async fn release_lock(&self) -> Result<(), OperationError> {
        let api = self.dataset_api();
        let what = format!("release the lock on Dataset {}", self.spec.dataset_name);
        let live = match api.get(&self.spec.dataset_name).await {
            Ok(d) => to_wire(&d),
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => return Err(api_err(what)(e).into()),
        };
        let names = holders(&live, self.kind());
        if !names.iter().any(|h| h == self.name()) {
            return Ok(());
        }
        let rest: Vec<String> = names.into_iter().filter(|h| h != self.name()).collect();
        let value = if rest.is_empty() {
            Value::Null
        } else {
            json!(rest.join(","))
        };
        let mut status = json!({"operationRef": {self.kind().as_str(): value}});
        if live["status"]["phase"] == "DataMigrating" && self.kind() == OperationKind::DataMigrate {
            status["phase"] = json!("Bound");
        }
        self.write_dataset_status(&api, &live, status, what).await
    }

    /// Deletion: the Job or CronJob goes (with its pods), the lock is released, the finalizer
    /// removed.
    async fn cleanup(&self) -> Result<(), OperationError> {
        for kind in ["Job", "CronJob"] {
            self.ctx
                .cluster
                .delete(self.namespace(), "batch/v1", kind, self.job_name)
                .await?;
        }
        self.release_lock().await?;
        finalizer::remove(self.api, self.obj, FINALIZER).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_fails_at_the_third_refusal_in_a_row() {
        let refusals = Mutex::default();
        assert!(!count_refusal(&refusals, "a", true));
        assert!(!count_refusal(&refusals, "a", true));
        // Another operation's refusals count apart.
        assert!(!count_refusal(&refusals, "b", true));
        assert!(count_refusal(&refusals, "a", true));
        // Counted from zero again afterwards.
        assert!(!count_refusal(&refusals, "a", true));
        // A plan in between starts the count again.
        assert!(!count_refusal(&refusals, "b", false));
        assert!(!count_refusal(&refusals, "b", true));
        assert!(!count_refusal(&refusals, "b", true));
        assert!(count_refusal(&refusals, "b", true));
    }

    #[test]
    fn durations_read_as_fluids() {
        assert_eq!(duration_text(5), "5s");
        assert_eq!(duration_text(65), "1m5s");
        assert_eq!(duration_text(3725), "1h2m5s");
    }

    #[test]
    fn holders_are_the_comma_separated_names_of_the_kind() {
        let d = json!({"status": {"operationRef": {"DataLoad": "a, b", "DataMigrate": "c"}}});
        assert_eq!(holders(&d, OperationKind::DataLoad), ["a", "b"]);
        assert_eq!(holders(&d, OperationKind::DataMigrate), ["c"]);
        assert!(holders(&d, OperationKind::DataBackup).is_empty());
    }

    #[test]
    fn an_indexed_job_is_complete_only_by_its_condition() {
        // One index of two succeeded: the Job runs on, whatever `succeeded` says.
        let job: k8s_openapi::api::batch::v1::Job = serde_json::from_value(json!({
            "spec": {"completionMode": "Indexed", "completions": 2, "parallelism": 2,
                "template": {}},
            "status": {"succeeded": 1, "active": 1, "completedIndexes": "0"}
        }))
        .unwrap();
        let v = job_view(&job);
        assert!(!v.complete && v.failed.is_none());
        let done: k8s_openapi::api::batch::v1::Job = serde_json::from_value(json!({
            "status": {"succeeded": 2, "completedIndexes": "0,1", "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"}]}
        }))
        .unwrap();
        assert!(job_view(&done).complete);
    }

    #[test]
    fn the_job_conditions_give_its_end() {
        let job: k8s_openapi::api::batch::v1::Job = serde_json::from_value(json!({
            "status": {"conditions": [{"type": "Failed", "status": "True",
                "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}
        }))
        .unwrap();
        let v = job_view(&job);
        assert!(!v.complete);
        assert_eq!(
            v.failed.as_deref(),
            Some("BackoffLimitExceeded: Job has reached the specified backoff limit")
        );
    }
}
