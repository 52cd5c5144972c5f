//! The typed engine interface plugin authors implement.

use crate::conventions::Conventions;
use crate::host::Host;
use crate::protocol::{Hook, HookRequest, ProtocolVersion};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a hook did: its result, or "the host's default applies".
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<T> {
    /// The engine handled the hook.
    Done(T),
    /// The host's default behaviour applies (what every hook returns unless overridden).
    Default,
}

/// A hook's result. An `Err` becomes a condition and a Warning Event on the runtime, and the
/// host retries with backoff.
pub type HookResult<T> = Result<Outcome<T>, HookError>;

/// An error returned by a hook.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HookError {
    message: String,
}

impl HookError {
    /// An error with this message. Never put secret values in it: it reaches conditions,
    /// Events and logs.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<crate::host::HostError> for HookError {
    fn from(e: crate::host::HostError) -> Self {
        HookError::new(e.to_string())
    }
}

impl From<serde_json::Error> for HookError {
    fn from(e: serde_json::Error) -> Self {
        HookError::new(format!("JSON: {e}"))
    }
}

/// The input of one hook call: the runtime, its dataset, and hook-specific input.
#[derive(Clone, Debug)]
pub struct HookContext {
    hook: Hook,
    request: HookRequest,
}

impl HookContext {
    /// Builds a context (the SDK does this for you; useful in unit tests of an engine).
    pub fn new(hook: Hook, request: HookRequest) -> Self {
        Self { hook, request }
    }

    /// The hook being run.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// The protocol version of the host: check it before relying on a service newer than 1.0.
    pub fn host_protocol(&self) -> ProtocolVersion {
        self.request.host_protocol
    }

    /// The runtime object as on the wire.
    pub fn runtime(&self) -> &Value {
        &self.request.runtime
    }

    /// The runtime object as your own type (e.g. your `CustomResource` struct).
    pub fn runtime_as<T: DeserializeOwned>(&self) -> Result<T, HookError> {
        serde_json::from_value(self.request.runtime.clone())
            .map_err(|e| HookError::new(format!("reading the runtime object: {e}")))
    }

    /// The Dataset of the same name, if it exists.
    pub fn dataset(&self) -> Option<&Value> {
        self.request.dataset.as_ref()
    }

    /// The Dataset as a typed object.
    pub fn dataset_as<T: DeserializeOwned>(&self) -> Result<Option<T>, HookError> {
        self.request
            .dataset
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| HookError::new(format!("reading the dataset object: {e}")))
    }

    /// Hook-specific input (`null` for most hooks).
    pub fn input(&self) -> &Value {
        &self.request.input
    }

    /// The input of the `operate` hook: which operation, and the name of its Job.
    pub fn operate_input(&self) -> Result<OperateInput, HookError> {
        serde_json::from_value(self.request.input.clone())
            .map_err(|e| HookError::new(format!("reading the operate hook's input: {e}")))
    }

    /// The runtime's `metadata.name`.
    pub fn name(&self) -> &str {
        self.request.runtime["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
    }

    /// The runtime's `metadata.namespace`.
    pub fn namespace(&self) -> &str {
        self.request.runtime["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    }

    /// What the controller decided for this runtime: its workloads' names, the fuse node
    /// label, where the fuse mounts (the PV's `fluid_path`), the PV's `mount_type`, the owner
    /// of the engine's objects. Use these rather than computing your own, so the engine and
    /// the controller never disagree. An error only from a controller older than protocol 1.1,
    /// which does not pass them.
    pub fn conventions(&self) -> Result<&Conventions, HookError> {
        self.request.conventions.as_ref().ok_or_else(|| {
            HookError::new(format!(
                "the controller speaks plugin protocol {}, which does not pass the runtime's \
                 conventions; this engine needs a controller speaking 1.1 or later",
                self.request.host_protocol
            ))
        })
    }
}

/// A field error found by [`Engine::validate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// The path of the offending field, e.g. `spec.tieredstore.levels[0].quota`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The result of [`Engine::validate`]: empty when the spec is valid.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Every field error found.
    pub errors: Vec<FieldError>,
    /// Fields accepted but without effect for this engine (reported as Warning Events).
    #[serde(default)]
    pub ignored_fields: Vec<String>,
}

pub use crate::types::RuntimePhase;

/// The readiness of one component (master, workers or fuse).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentReport {
    /// The phase.
    pub phase: RuntimePhase,
    /// Replicas wanted.
    pub desired: i32,
    /// Replicas scheduled.
    pub current: i32,
    /// Replicas ready.
    pub ready: i32,
    /// Replicas available.
    #[serde(default)]
    pub available: i32,
    /// Replicas unavailable.
    #[serde(default)]
    pub unavailable: i32,
}

/// The result of [`Engine::check_and_update_runtime_status`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStatusReport {
    /// Whether the runtime is ready to serve its dataset.
    pub ready: bool,
    /// The master, when the engine has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<ComponentReport>,
    /// The workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<ComponentReport>,
    /// The fuse clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse: Option<ComponentReport>,
}

/// The result of [`Engine::sync_metadata`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataReport {
    /// Total size of the under file systems in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ufs_total_bytes: Option<u64>,
    /// Number of files, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_count: Option<u64>,
    /// True while the engine is still computing (the host shows `[Calculating]`).
    #[serde(default)]
    pub calculating: bool,
}

/// The result of [`Engine::update_cache_of_dataset`]: Fluid's cache state names
/// (`cached`, `cacheCapacity`, `cachedPercentage`, `cacheHitRatio`, ...) to display values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheReport {
    /// Cache state name to value.
    pub cache_states: BTreeMap<String, String>,
}

/// The result of [`Engine::check_runtime_healthy`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Whether every component is healthy.
    pub healthy: bool,
    /// Why not, when unhealthy.
    #[serde(default)]
    pub message: String,
}

/// The result of [`Engine::update_dataset_status`]: fields merged into the Dataset's status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetStatusReport {
    /// A JSON object merged into `status` of the Dataset.
    pub status: Value,
}

pub use crate::types::OperationKind;

/// The input of [`Engine::operate`] (protocol 1.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperateInput {
    /// The operation's kind.
    pub kind: OperationKind,
    /// The operation object as on the wire (a `DataLoad`, `DataMigrate`, ...); read it with
    /// [`OperateInput::operation_as`].
    pub operation: Value,
    /// The name of the Job (or CronJob) the controller makes; also the prefix of its pods.
    pub job_name: String,
}

impl OperateInput {
    /// The operation as a typed object, e.g. [`crate::types::DataLoad`].
    pub fn operation_as<T: DeserializeOwned>(&self) -> Result<T, HookError> {
        serde_json::from_value(self.operation.clone())
            .map_err(|e| HookError::new(format!("reading the {} object: {e}", self.kind)))
    }
}

/// The result of [`Engine::operate`]: what the operation's Job runs. The controller names the
/// Job, labels it, owns it, sets its retries and cleanup, and wraps it in a CronJob for
/// `policy: Cron`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationPlan {
    /// The pod that does the work (`restartPolicy` is set to `Never` when empty).
    pub pod_template: k8s_openapi::api::core::v1::PodTemplateSpec,
    /// The Dataset's phase while the operation runs, e.g. `DataMigrating` for a migration
    /// into it; its phase before is restored when the operation ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_phase: Option<crate::types::DatasetPhase>,
    /// Run this many pods of the template at once, as an Indexed Job (`completions` =
    /// `parallelism` = N): each pod finds its index, 0 to N-1, in the environment variable
    /// `JOB_COMPLETION_INDEX`, which Kubernetes sets, and does its share of the work; the
    /// operation completes when every index has succeeded. `None` (or 1) runs one pod.
    ///
    /// Added without a protocol minor: a host that does not know the field ignores it and
    /// runs one pod, in which `JOB_COMPLETION_INDEX` is unset, so the template must do the
    /// whole work when it is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
}

/// A cache engine. Every hook has a default that returns [`Outcome::Default`], meaning the
/// host's default behaviour applies; implement only what your engine needs. The smallest useful
/// engine implements [`Engine::transform`] (the values of its chart) and lets the host install
/// the chart, create the volume, and derive readiness from the workloads the chart creates.
///
/// Hooks are synchronous and run on a thread of the host's blocking pool with a timeout;
/// block freely (the host calls are synchronous too). A panic is caught and reported as a
/// failure of that hook. Put `#[fluid_plugin_api::hooks]` on your `impl Engine for ...` block
/// so the host can list which hooks you implement.
#[allow(unused_variables)]
pub trait Engine: Send + Sync + 'static {
    /// Checks the runtime spec beyond what the CRD schema checks.
    fn validate(&self, cx: &HookContext, host: &Host) -> HookResult<Validation> {
        Ok(Outcome::Default)
    }
    /// Builds the Helm values of the engine's chart. The host's default setup installs the chart
    /// with these values.
    fn transform(&self, cx: &HookContext, host: &Host) -> HookResult<Value> {
        Ok(Outcome::Default)
    }
    /// Whether the master still needs to be set up.
    fn should_setup_master(&self, cx: &HookContext, host: &Host) -> HookResult<bool> {
        Ok(Outcome::Default)
    }
    /// Sets the master up.
    fn setup_master(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Ok(Outcome::Default)
    }
    /// Whether the master is ready.
    fn check_master_ready(&self, cx: &HookContext, host: &Host) -> HookResult<bool> {
        Ok(Outcome::Default)
    }
    /// Whether the under file systems must be checked and prepared.
    fn should_check_ufs(&self, cx: &HookContext, host: &Host) -> HookResult<bool> {
        Ok(Outcome::Default)
    }
    /// Prepares the under file systems.
    fn prepare_ufs(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Ok(Outcome::Default)
    }
    /// Whether the dataset's mounts changed since they were prepared.
    fn should_update_ufs(&self, cx: &HookContext, host: &Host) -> HookResult<bool> {
        Ok(Outcome::Default)
    }
    /// Applies changed dataset mounts.
    fn update_on_ufs_change(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Ok(Outcome::Default)
    }
    /// Whether the workers still need to be set up.
    fn should_setup_workers(&self, cx: &HookContext, host: &Host) -> HookResult<bool> {
        Ok(Outcome::Default)
    }
    /// Sets the workers up.
    fn setup_workers(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Ok(Outcome::Default)
    }
    /// Whether the workers are ready.
    fn check_workers_ready(&self, cx: &HookContext, host: &Host) -> HookResult<bool> {
        Ok(Outcome::Default)
    }
    /// Reports the runtime status from the engine's workloads.
    fn check_and_update_runtime_status(
        &self,
        cx: &HookContext,
        host: &Host,
    ) -> HookResult<RuntimeStatusReport> {
        Ok(Outcome::Default)
    }
    /// Creates the dataset's volume.
    fn create_volume(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Ok(Outcome::Default)
    }
    /// Deletes the dataset's volume.
    fn delete_volume(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Ok(Outcome::Default)
    }
    /// Reacts to changes of the runtime spec.
    fn sync_runtime(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Ok(Outcome::Default)
    }
    /// Computes the dataset's UFS size and file count. Never block long: compute in the
    /// background and report `calculating` until done.
    fn sync_metadata(&self, cx: &HookContext, host: &Host) -> HookResult<MetadataReport> {
        Ok(Outcome::Default)
    }
    /// Reports the dataset's cache states.
    fn update_cache_of_dataset(&self, cx: &HookContext, host: &Host) -> HookResult<CacheReport> {
        Ok(Outcome::Default)
    }
    /// Checks the engine's health.
    fn check_runtime_healthy(&self, cx: &HookContext, host: &Host) -> HookResult<HealthReport> {
        Ok(Outcome::Default)
    }
    /// Reacts to a change of `spec.replicas`.
    fn sync_replicas(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Ok(Outcome::Default)
    }
    /// Reports engine-specific dataset status fields.
    fn update_dataset_status(
        &self,
        cx: &HookContext,
        host: &Host,
    ) -> HookResult<DatasetStatusReport> {
        Ok(Outcome::Default)
    }
    /// Tears the engine down.
    fn shutdown(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Ok(Outcome::Default)
    }
    /// Says how to run a data operation (protocol 1.3): [`HookContext::operate_input`] holds
    /// the operation; answer the pod template of the Job the controller runs (a CronJob's for
    /// `policy: Cron`). [`Outcome::Default`] means "not supported by this engine": the
    /// operation ends `Failed` with a condition naming the engine. Put Secret values only in
    /// `env[].valueFrom.secretKeyRef`, never in the command.
    fn operate(&self, cx: &HookContext, host: &Host) -> HookResult<OperationPlan> {
        Ok(Outcome::Default)
    }

    /// The hooks this engine overrides. Filled in by `#[fluid_plugin_api::hooks]`; do not
    /// write it by hand.
    #[doc(hidden)]
    const IMPLEMENTED_HOOKS: &'static [&'static str] = &[];
}
