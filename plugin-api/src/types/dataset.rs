//! The `Dataset` custom resource: the data a user wants cached, and the runtime serving it.

use super::common::User;
use super::CacheStateList;
use k8s_openapi::api::core::v1::{NodeSelector, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a user wants cached: where the data lives (`mounts`), how it may be accessed, and on
/// which nodes it may be cached. A runtime of the same name and namespace (e.g. a
/// JuiceFSRuntime) binds to it and serves it as a PersistentVolumeClaim of that name.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "data.fluid.io",
    version = "v1alpha1",
    kind = "Dataset",
    namespaced,
    status = "DatasetStatus",
    shortname = "dataset",
    category = "fluid",
    derive = "PartialEq",
    derive = "Default",
    doc = "A Dataset: the data to cache and how to serve it (Fluid's data.fluid.io/v1alpha1 API).",
    printcolumn = r#"{"name":"Ufs Total Size","type":"string","jsonPath":".status.ufsTotal"}"#,
    printcolumn = r#"{"name":"Cached","type":"string","jsonPath":".status.cacheStates.cached"}"#,
    printcolumn = r#"{"name":"Cache Capacity","type":"string","jsonPath":".status.cacheStates.cacheCapacity"}"#,
    printcolumn = r#"{"name":"Cached Percentage","type":"string","jsonPath":".status.cacheStates.cachedPercentage"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"HCFS URL","type":"string","jsonPath":".status.hcfs.endpoint","priority":10}"#,
    printcolumn = r#"{"name":"TOTAL FILES","type":"string","jsonPath":".status.fileNum","priority":11}"#,
    printcolumn = r#"{"name":"CACHE HIT RATIO","type":"string","jsonPath":".status.cacheStates.cacheHitRatio","priority":10}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DatasetSpec {
    /// The under file systems to cache. May be empty for engines that need none (Vineyard);
    /// when given, at least one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub mounts: Option<Vec<Mount>>,

    /// The user and group owning the cached files (used by the Alluxio engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<User>,

    /// The nodes the data may be cached on; also constrains the pods using it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<CacheableNodeAffinity>,

    /// Tolerations given to the cache pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,

    /// The access modes of the volume serving the data (`ReadOnlyMany` when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_modes: Option<Vec<String>>,

    /// The runtimes serving this dataset (the binding itself is recorded in status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtimes: Option<Vec<Runtime>>,

    /// Whether the dataset's cache workers may share a node with other datasets' workers.
    #[serde(rename = "placement", default, skip_serializing_if = "Option::is_none")]
    pub placement_mode: Option<PlacementMode>,

    /// Where to restore a backed-up dataset's metadata from (Alluxio only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_restore_location: Option<DataRestoreLocation>,

    /// Options merged into every mount's `options`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_options: Option<BTreeMap<String, String>>,

    /// Secret-backed options merged into every mount's `encryptOptions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_encrypt_options: Option<Vec<EncryptOption>>,
}

/// One under file system of a dataset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// The source, e.g. `s3://bucket/dir`, `juicefs:///subdir`, `pvc://claim/subdir` or
    /// `dataset://namespace/name` (a reference to another dataset).
    #[schemars(length(min = 5))]
    pub mount_point: String,

    /// Engine-specific options of this mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,

    /// The name of the mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 0))]
    pub name: Option<String>,

    /// Where the mount appears inside the dataset; `/{name}` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,

    /// Whether the mount is read-only (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,

    /// Whether the mount is shared (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,

    /// Options whose values are read from Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt_options: Option<Vec<EncryptOption>>,
}

/// A mount option whose value comes from a Secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptOption {
    /// The option's name.
    pub name: String,
    /// Where its value is read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EncryptOptionSource>,
}

/// The source of an [`EncryptOption`]'s value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptOptionSource {
    /// A key of a Secret in the dataset's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeySelector>,
}

/// A key of a Secret in the dataset's namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeySelector {
    /// The Secret's name.
    pub name: String,
    /// The key inside the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The nodes a dataset may be cached on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CacheableNodeAffinity {
    /// Node constraints that must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = atomic_node_selector)]
    pub required: Option<NodeSelector>,
}

/// Marks a node selector and each of its terms as atomic for server-side apply, as core
/// Kubernetes (and so Fluid's schema) does: a new selector replaces the old one whole.
fn atomic_node_selector(schema: &mut schemars::Schema) {
    schema.insert("x-kubernetes-map-type".into(), "atomic".into());
    if let Some(terms) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("nodeSelectorTerms"))
        .and_then(|t| t.get_mut("items"))
        .and_then(serde_json::Value::as_object_mut)
    {
        terms.insert("x-kubernetes-map-type".into(), "atomic".into());
    }
}

/// Whether a dataset's cache workers have nodes to themselves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PlacementMode {
    /// At most one dataset's workers per node.
    Exclusive,
    /// Not set: same as `Exclusive`.
    #[default]
    #[serde(rename = "")]
    Default,
    /// Workers of several datasets may share a node.
    Shared,
}

impl PlacementMode {
    /// Whether workers of this dataset keep their nodes to themselves (unset counts as yes).
    pub fn is_exclusive(self) -> bool {
        self != PlacementMode::Shared
    }
}

/// Where a backed-up dataset is restored from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataRestoreLocation {
    /// `local://subpath` or `pvc://claim/subpath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The node holding the backup, for `local://` paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
}

/// A runtime serving a dataset (an entry of `spec.runtimes` and `status.runtimes`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Runtime {
    /// The runtime object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The runtime object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The runtime's category (`Accelerate` for cache engines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The runtime's engine type, e.g. `juicefs`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The number of master replicas of the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_replicas: Option<i32>,
}

/// The category every cache runtime registers under in [`Runtime::category`].
pub const ACCELERATE_CATEGORY: &str = "Accelerate";

/// The observed state of a Dataset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetStatus {
    /// The mounts as they were when the dataset was bound or last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,

    /// The total size of the under file systems, human-readable (`[Calculating]` while
    /// being computed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ufs_total: Option<String>,

    /// Where the dataset is in its life: NotBound, Bound, Failed, Updating, DataMigrating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<DatasetPhase>,

    /// The runtime bound to this dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtimes: Option<Vec<Runtime>>,

    /// The latest observations of the dataset's state (required, possibly empty).
    pub conditions: Vec<DatasetCondition>,

    /// Cache figures by name (`cached`, `cacheCapacity`, `cachedPercentage`, `cacheHitRatio`,
    /// ...), as display strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_states: Option<CacheStateList>,

    /// The HCFS endpoint, for engines that offer one.
    #[serde(rename = "hcfs", default, skip_serializing_if = "Option::is_none")]
    pub hcfs_status: Option<HCFSStatus>,

    /// The number of files in the under file systems (`[Calculating]` while being counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_num: Option<String>,

    /// The DataLoad holding the dataset (deprecated: see `operationRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_load_ref: Option<String>,

    /// The DataBackup holding the dataset (deprecated: see `operationRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_backup_ref: Option<String>,

    /// The data operations running on the dataset, by operation kind (names comma-separated);
    /// a lock against concurrent operations of one kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_ref: Option<BTreeMap<String, String>>,

    /// The datasets (`namespace/name`) that mount this one by reference; they block its
    /// deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_ref: Option<Vec<String>>,
}

/// The phase of a Dataset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetPhase {
    /// No phase yet: to be worked out.
    #[default]
    #[serde(rename = "")]
    None,
    /// Reserved by Fluid; never set.
    Pending,
    /// Not bound to a runtime: may be deleted.
    NotBound,
    /// Bound to a runtime.
    Bound,
    /// The runtime reported an error.
    Failed,
    /// The mounts are being updated.
    Updating,
    /// A DataMigrate is writing into the dataset: it must not be mounted.
    DataMigrating,
}

string_schema!(DatasetPhase, "DatasetPhase");

/// The type of a [`DatasetCondition`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetConditionType {
    /// The runtime was accepted; its master and workers are not ready yet.
    RuntimeScheduled,
    /// The dataset's cache is ready.
    Ready,
    /// The dataset could not be bound (reason `DatasetFailedToSetup`).
    NotReady,
    /// The dataset's update was applied.
    UpdateReady,
    /// The dataset is being updated.
    Updating,
    /// The dataset's cache is initialised.
    Initialized,
}

string_schema!(DatasetConditionType, "DatasetConditionType");

/// Reasons Fluid writes on dataset conditions.
pub mod dataset_reason {
    /// The cache is ready.
    pub const READY: &str = "DatasetReady";
    /// The dataset is being updated.
    pub const UPDATING: &str = "DatasetUpdating";
    /// The dataset failed.
    pub const FAILED: &str = "DatasetFailed";
    /// Setting the runtime up failed.
    pub const FAILED_TO_SETUP: &str = "DatasetFailedToSetup";
}

/// One observation of a dataset's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetCondition {
    /// What the condition is about: a [`DatasetConditionType`] name, or a type another
    /// writer adds (fluid-rs writes `Deleting` while a deletion is held). A string, so
    /// conditions from newer writers still read.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Why the condition last changed, in one word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the condition last changed, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the condition was last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// When the condition's status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// The HCFS (Hadoop-compatible file system) access point of a dataset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HCFSStatus {
    /// The endpoint to access the dataset through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The HCFS version the endpoint is compatible with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlayer_file_system_version: Option<String>,
}

impl Dataset {
    /// Whether a runtime of this name, namespace and category may bind to the dataset: no
    /// runtime is bound yet, or this one is.
    pub fn can_be_bound(&self, name: &str, namespace: &str, category: &str) -> bool {
        let runtimes = self.status.as_ref().and_then(|s| s.runtimes.as_deref());
        match runtimes {
            None | Some([]) => true,
            Some(rs) => rs.iter().any(|r| {
                r.name.as_deref() == Some(name)
                    && r.namespace.as_deref() == Some(namespace)
                    && r.category.as_deref() == Some(category)
            }),
        }
    }
}
