//! Fluid's data operations: [`DataLoad`] (warm the cache), [`DataMigrate`] (copy data into or
//! out of a dataset), [`DataProcess`] (run the user's job with the dataset mounted) and
//! [`DataBackup`] (back the engine's metadata up), with the status they share
//! ([`OperationStatus`]). The controller runs each as a Job (a CronJob for `policy: Cron`);
//! an engine contributes the pod that does the work through the `operate` hook.

use super::common::{PodMetadata, User};
use super::dataset::EncryptOption;
use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, NodeAffinity, PodSpec, ResourceRequirements, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The kinds of data operation.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum OperationKind {
    /// Warms the cache with the dataset's data.
    #[default]
    DataLoad,
    /// Backs the engine's metadata up.
    DataBackup,
    /// Copies data between a dataset and another dataset or external storage.
    DataMigrate,
    /// Runs the user's job with the dataset mounted.
    DataProcess,
}

impl OperationKind {
    /// Every kind.
    pub const ALL: [OperationKind; 4] = [
        OperationKind::DataLoad,
        OperationKind::DataBackup,
        OperationKind::DataMigrate,
        OperationKind::DataProcess,
    ];

    /// The kind's name, as in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::DataLoad => "DataLoad",
            OperationKind::DataBackup => "DataBackup",
            OperationKind::DataMigrate => "DataMigrate",
            OperationKind::DataProcess => "DataProcess",
        }
    }

    /// The plural resource name, e.g. `dataloads`.
    pub fn plural(self) -> &'static str {
        match self {
            OperationKind::DataLoad => "dataloads",
            OperationKind::DataBackup => "databackups",
            OperationKind::DataMigrate => "datamigrates",
            OperationKind::DataProcess => "dataprocesses",
        }
    }

    /// Parses a kind name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When an operation runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum OperationPolicy {
    /// Once, as soon as the dataset is ready (and `runAfter` is complete).
    #[default]
    Once,
    /// On the cron `schedule`, through a CronJob.
    Cron,
    /// When an event on the dataset asks for it (accepted; runs as `Once`).
    OnEvent,
}

/// The dataset an operation works on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetDataset {
    /// The dataset's name.
    pub name: String,
    /// The dataset's namespace; the operation's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// An operation this one runs after.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationRef {
    /// The operation's kind.
    pub kind: OperationKind,
    /// The operation's name.
    pub name: String,
    /// The operation's namespace; this one's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The operation's API version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Where this operation's pods run relative to the one it follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity_strategy: Option<AffinityStrategy>,
}

/// An operation's identity, as `affinityStrategy.dependOn` names it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// The operation's kind.
    pub kind: OperationKind,
    /// The operation's name.
    pub name: String,
    /// The operation's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The operation's API version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// How an operation's pods are placed relative to the operation it runs after.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AffinityStrategy {
    /// The operation whose placement is followed; the `runAfter` one when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depend_on: Option<ObjectRef>,
    /// `Require`, `Prefer` or empty (no placement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Node labels preferred, with weights (`Prefer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefers: Option<Vec<Prefer>>,
    /// Node labels required (`Require`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<Vec<Require>>,
}

/// A node label preferred by [`AffinityStrategy::prefers`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Prefer {
    /// The label's name.
    pub name: String,
    /// Its weight.
    pub weight: i32,
}

/// A node label required by [`AffinityStrategy::requires`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Require {
    /// The label's name.
    pub name: String,
}

/// A path of the dataset to load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetPath {
    /// The path inside the dataset, e.g. `/train`.
    pub path: String,
    /// How many cache replicas to load (engines with replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// Warms a dataset's cache.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "data.fluid.io",
    version = "v1alpha1",
    kind = "DataLoad",
    namespaced,
    status = "OperationStatus",
    shortname = "load",
    category = "fluid",
    derive = "PartialEq",
    derive = "Default",
    doc = "A DataLoad: warms a Dataset's cache (Fluid's data.fluid.io/v1alpha1 API).",
    printcolumn = r#"{"name":"Dataset","type":"string","jsonPath":".spec.dataset.name"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Duration","type":"string","jsonPath":".status.duration"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DataLoadSpec {
    /// The dataset to load.
    #[serde(default)]
    pub dataset: TargetDataset,
    /// Whether the metadata is loaded before the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_metadata: Option<bool>,
    /// The paths to load; the whole dataset when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Vec<TargetPath>>,
    /// Engine-specific options of the load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    /// When the load runs.
    #[serde(default)]
    pub policy: OperationPolicy,
    /// The cron schedule, for `policy: Cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// An operation to run after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_after: Option<OperationRef>,
    /// Seconds after the end of the load before it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// Affinity of the load's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Node selector of the load's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of the load's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// The scheduler of the load's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// Compute resources of the load's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Labels and annotations of the load's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,
}

/// A dataset as the source or destination of a migration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetToMigrate {
    /// The dataset's name.
    pub name: String,
    /// The dataset's namespace.
    pub namespace: String,
    /// The path inside the dataset (`/` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Storage outside any dataset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalStorage {
    /// The storage's URI, e.g. `s3://bucket/dir`.
    pub uri: String,
    /// Options whose values are read from Secrets (e.g. the access keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt_options: Option<Vec<EncryptOption>>,
}

/// One end of a migration: a dataset or external storage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataToMigrate {
    /// A dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetToMigrate>,
    /// External storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_storage: Option<ExternalStorage>,
}

fn one() -> i32 {
    1
}

/// Copies data between a dataset and another dataset or external storage.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "data.fluid.io",
    version = "v1alpha1",
    kind = "DataMigrate",
    namespaced,
    status = "OperationStatus",
    shortname = "migrate",
    category = "fluid",
    derive = "PartialEq",
    derive = "Default",
    doc = "A DataMigrate: copies data into or out of a Dataset (Fluid's data.fluid.io/v1alpha1 API).",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Duration","type":"string","jsonPath":".status.duration"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DataMigrateSpec {
    /// Where the data comes from.
    pub from: DataToMigrate,
    /// Where the data goes.
    pub to: DataToMigrate,
    /// Whether the destination dataset is unusable while the migration runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<bool>,
    /// The image of the migration's pod (the engine's when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// When to pull the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Engine-specific options of the migration (e.g. `juicefs sync` flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    /// Options of a parallel migration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_options: Option<BTreeMap<String, String>>,
    /// How many workers copy at once.
    #[serde(default = "one")]
    pub parallelism: i32,
    /// Labels and annotations of the migration's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,
    /// When the migration runs.
    #[serde(default)]
    pub policy: OperationPolicy,
    /// The cron schedule, for `policy: Cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// An operation to run after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_after: Option<OperationRef>,
    /// The engine doing the migration, e.g. `juicefs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_type: Option<String>,
    /// Seconds after the end of the migration before it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// Affinity of the migration's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Node selector of the migration's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of the migration's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// The scheduler of the migration's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// Compute resources of the migration's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// The dataset a DataProcess mounts, and where.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetDatasetWithMountPath {
    /// The dataset's name.
    pub name: String,
    /// The dataset's namespace; the operation's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Where the dataset is mounted in the processor's containers.
    pub mount_path: String,
    /// The dataset's sub-path to mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}

/// The user's pod, run as it is with the dataset mounted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobProcessor {
    /// The pod's spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = resource_claim_source)]
    pub pod_spec: Option<PodSpec>,
}

/// Keeps the `resourceClaims[].source` of Kubernetes before 1.28 in the schema, as Fluid's
/// CRD has it, so a manifest written for it is not pruned; the controller moves its fields up
/// to where current Kubernetes reads them.
fn resource_claim_source(schema: &mut schemars::Schema) {
    if let Some(item) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("resourceClaims"))
        .and_then(|r| r.get_mut("items"))
        .and_then(|i| i.get_mut("properties"))
        .and_then(serde_json::Value::as_object_mut)
    {
        item.insert(
            "source".into(),
            serde_json::json!({
                "description": "Where the claim comes from (Kubernetes before 1.28; moved up to resourceClaimName and resourceClaimTemplateName).",
                "type": "object",
                "properties": {
                    "resourceClaimName": {"type": "string"},
                    "resourceClaimTemplateName": {"type": "string"}
                }
            }),
        );
    }
}

/// How a script processor's pod restarts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ScriptRestartPolicy {
    /// Never restarted; a failure fails the operation.
    #[default]
    Never,
    /// Restarted on failure.
    OnFailure,
}

/// A script run in one container with the dataset mounted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScriptProcessor {
    /// The script's text.
    pub source: String,
    /// The interpreter, e.g. `["bash"]` (`["sh"]` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// The container's image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// When to pull the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Environment of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Compute resources of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// How the pod restarts.
    #[serde(default)]
    pub restart_policy: ScriptRestartPolicy,
    /// Further volume mounts of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
    /// Further volumes of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
}

/// What a DataProcess runs: a pod spec or a script.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Processor {
    /// The user's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobProcessor>,
    /// A script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptProcessor>,
    /// Labels and annotations of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,
    /// The service account the pod runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

/// Runs the user's job with a dataset mounted.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "data.fluid.io",
    version = "v1alpha1",
    kind = "DataProcess",
    namespaced,
    status = "OperationStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "A DataProcess: runs a job with a Dataset mounted (Fluid's data.fluid.io/v1alpha1 API).",
    printcolumn = r#"{"name":"Dataset","type":"string","jsonPath":".spec.dataset.name"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Duration","type":"string","jsonPath":".status.duration"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DataProcessSpec {
    /// The dataset to mount.
    pub dataset: TargetDatasetWithMountPath,
    /// What to run.
    pub processor: Processor,
    /// When the job runs.
    #[serde(default)]
    pub policy: OperationPolicy,
    /// The cron schedule, for `policy: Cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// An operation to run after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_after: Option<OperationRef>,
    /// Seconds after the end of the job before it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
}

/// Backs an engine's metadata up.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "data.fluid.io",
    version = "v1alpha1",
    kind = "DataBackup",
    namespaced,
    status = "OperationStatus",
    shortname = "backup",
    category = "fluid",
    derive = "PartialEq",
    derive = "Default",
    doc = "A DataBackup: backs a Dataset's metadata up (Fluid's data.fluid.io/v1alpha1 API).",
    printcolumn = r#"{"name":"Dataset","type":"string","jsonPath":".spec.dataset"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Path","type":"string","jsonPath":".status.infos.BackupLocationPath"}"#,
    printcolumn = r#"{"name":"NodeName","type":"string","jsonPath":".status.infos.BackupLocationNodeName"}"#,
    printcolumn = r#"{"name":"Duration","type":"string","jsonPath":".status.duration"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DataBackupSpec {
    /// The dataset's name (in the backup's namespace).
    #[serde(default)]
    pub dataset: String,
    /// Where the backup goes: `pvc://claim/subpath` or `local://path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_path: Option<String>,
    /// The user the backup runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<User>,
    /// An operation to run after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_after: Option<OperationRef>,
    /// Seconds after the end of the backup before it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
}

/// The phase of a data operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationPhase {
    /// Not looked at yet.
    #[default]
    #[serde(rename = "")]
    None,
    /// Waiting: for the dataset, for another operation of its kind, or for `runAfter`.
    Pending,
    /// Its Job (or CronJob) runs.
    Executing,
    /// Done.
    Complete,
    /// Failed: the conditions say why.
    Failed,
}

string_schema!(OperationPhase, "OperationPhase");

impl OperationPhase {
    /// Whether the operation has ended (Complete or Failed).
    pub fn is_final(self) -> bool {
        matches!(self, OperationPhase::Complete | OperationPhase::Failed)
    }
}

/// One observation of an operation's state (Fluid's `Condition`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationCondition {
    /// `Complete` or `Failed`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Why, in one word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the condition was last probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When the condition's status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// What an operation waits for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingStatus {
    /// Whether it waits for the `runAfter` operation to complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_complete: Option<bool>,
}

/// The observed state of a data operation (every kind shares it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    /// Pending, Executing, Complete or Failed.
    #[serde(default)]
    pub phase: OperationPhase,
    /// The latest observations (required, possibly empty).
    #[serde(default)]
    pub conditions: Vec<OperationCondition>,
    /// How long the operation ran, e.g. `1m20s` (`Unfinished` while it runs).
    #[serde(default)]
    pub duration: String,
    /// Operation-specific figures by name (e.g. `BackupLocationPath`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infos: Option<BTreeMap<String, String>>,
    /// When the CronJob last started a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When a run last succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// When the CronJob runs next (fluid-rs; not in Fluid's status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// Where the operation's pods ran, for operations that follow it with an affinity
    /// strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
    /// What the operation waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<WaitingStatus>,
}

/// The CustomResourceDefinitions of the four data operation kinds.
pub fn operation_crds(
) -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    vec![
        super::fluid_crd::<DataLoad>(),
        super::fluid_crd::<DataMigrate>(),
        super::fluid_crd::<DataProcess>(),
        super::fluid_crd::<DataBackup>(),
    ]
}
