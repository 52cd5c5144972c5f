//! Spec pieces Fluid shares between runtime kinds (and the Dataset): tiered store, image
//! version, users, pod metadata, runtime management policies.

use k8s_openapi::api::core::v1::{ResourceRequirements, Volume};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The storage medium of one cache tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum MediumType {
    /// Memory (usually a tmpfs or an emptyDir with medium Memory).
    #[serde(rename = "MEM")]
    Mem,
    /// Solid-state disks.
    #[serde(rename = "SSD")]
    Ssd,
    /// Spinning disks.
    #[serde(rename = "HDD")]
    Hdd,
}

/// How the volume backing a cache tier is provided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum VolumeType {
    /// A directory of the node (the default).
    #[default]
    #[serde(rename = "hostPath")]
    HostPath,
    /// An emptyDir volume, shaped by the tier's `volumeSource`.
    #[serde(rename = "emptyDir")]
    EmptyDir,
}

/// A Kubernetes volume source (`emptyDir`, `hostPath`, ...): a core `Volume` without its
/// name, as Fluid embeds it in a cache tier. k8s-openapi flattens the sources into
/// [`Volume`], so the volume is kept there and its `name` is ignored (empty) and never written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VolumeSource(pub Volume);

impl Serialize for VolumeSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        if let Some(object) = value.as_object_mut() {
            object.remove("name");
        }
        value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for VolumeSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut object = serde_json::Map::deserialize(deserializer)?;
        object.insert("name".into(), serde_json::Value::String(String::new()));
        serde_json::from_value(serde_json::Value::Object(object))
            .map(VolumeSource)
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for VolumeSource {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "VolumeSource".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = Volume::json_schema(generator);
        if let Some(properties) = schema
            .get_mut("properties")
            .and_then(serde_json::Value::as_object_mut)
        {
            properties.remove("name");
        }
        schema.remove("required");
        schema.insert(
            "description".into(),
            "The source of a volume: exactly one of the volume types.".into(),
        );
        schema
    }
}

fn default_volume_type() -> Option<VolumeType> {
    Some(VolumeType::HostPath)
}

/// One tier of an engine's cache.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Level {
    /// The medium of this tier: `MEM`, `SSD` or `HDD`.
    #[serde(rename = "mediumtype")]
    pub medium_type: MediumType,

    /// How the tier's volume is provided: `hostPath` (default) or `emptyDir`.
    #[serde(
        default = "default_volume_type",
        skip_serializing_if = "Option::is_none"
    )]
    pub volume_type: Option<VolumeType>,

    /// The volume source of the tier, for `volumeType: emptyDir` (e.g. its medium and size
    /// limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_source: Option<VolumeSource>,

    /// The directories of the tier, comma-separated (`/mnt/cache1,/mnt/cache2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub path: Option<String>,

    /// The size of the whole tier, split evenly between its directories unless `quotaList`
    /// is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quantity>,

    /// One size per directory of `path`, comma-separated and in the same order
    /// (`100Gi,50Gi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^((\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+)))),)+((\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?)$"
    ))]
    pub quota_list: Option<String>,

    /// The usage ratio above which the engine starts evicting from this tier, e.g. `0.95`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<String>,

    /// The usage ratio eviction brings the tier back to, e.g. `0.7`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<String>,
}

/// The cache tiers of a runtime.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TieredStore {
    /// The tiers, fastest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<Level>>,
}

/// The image of an engine component.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionSpec {
    /// The image repository, e.g. `juicedata/juicefs-fuse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// When to pull the image: `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
}

/// The job that creates the runtime's users before the engine starts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitUsersSpec {
    /// The image of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// When to pull the image: `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Environment variables of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// Compute resources of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// A user and group to run as (all four fields are required by the schema).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct User {
    /// The numeric user id.
    pub uid: i64,
    /// The numeric group id.
    pub gid: i64,
    /// The user name.
    #[serde(rename = "user")]
    pub user_name: String,
    /// The group name.
    #[serde(rename = "group")]
    pub group_name: String,
}

/// Labels and annotations added to an engine's pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PodMetadata {
    /// Labels of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// How cached data is cleaned when a runtime shuts down.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanCachePolicy {
    /// Seconds the cache clean-up may take before it is cut short (default 60; 0 means
    /// immediately).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 60))]
    pub grace_period_seconds: Option<i32>,
    /// How many times a failed clean-up is retried (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 3))]
    pub max_retry_attempts: Option<i32>,
}

/// How a runtime's metadata (UFS size, file count) is synchronised at setup.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataSyncPolicy {
    /// Whether metadata is synchronised automatically at setup; unset means yes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_sync: Option<bool>,
}

impl MetadataSyncPolicy {
    /// Whether automatic metadata sync is on (unset counts as on).
    pub fn auto_sync_enabled(&self) -> bool {
        self.auto_sync.unwrap_or(true)
    }
}

/// Policies the controller follows while managing a runtime.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeManagement {
    /// How the cache is cleaned on shutdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_cache_policy: Option<CleanCachePolicy>,
    /// How metadata is synchronised at setup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_sync_policy: Option<MetadataSyncPolicy>,
}

/// The network a component's pods use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum NetworkMode {
    /// The node's network namespace.
    HostNetwork,
    /// Not set: the engine's default (host network).
    #[default]
    #[serde(rename = "")]
    Default,
    /// The pod's own network namespace.
    ContainerNetwork,
}

/// When the fuse pods of a runtime are removed from a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FuseCleanPolicy {
    /// Not set: treated as `OnRuntimeDeleted`.
    #[default]
    #[serde(rename = "")]
    None,
    /// As soon as no pod on the node uses the dataset any more.
    OnDemand,
    /// Only when the runtime is deleted.
    OnRuntimeDeleted,
    /// When no pod on the node uses the dataset and the runtime's fuse spec changed.
    OnFuseChanged,
}

string_schema!(FuseCleanPolicy, "FuseCleanPolicy");
