//! The runtime spec of the Alluxio family, in Fluid's `AlluxioRuntime` shape, with the fields
//! of Fluid's `GooseFSRuntime` that differ (each component's `annotations`); a member adds its
//! version field (and GooseFS its top-level `cleanCachePolicy`) beside it.
//! An engine's CRD embeds [`FamilySpec`] with `#[serde(flatten)]` beside its version field.

use fluid_plugin_api::types::{
    FuseCleanPolicy, InitUsersSpec, NetworkMode, PodMetadata, RuntimeManagement, TieredStore, User,
};
use k8s_openapi::api::core::v1::{LocalObjectReference, ResourceRequirements, Volume, VolumeMount};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything of an Alluxio-family runtime's spec but the image version field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FamilySpec {
    /// Image pull secrets of every pod of the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,

    /// The masters (master and job master containers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<CompTemplateSpec>,

    /// The job master container of the master pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_master: Option<CompTemplateSpec>,

    /// The cache workers (worker and job worker containers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<CompTemplateSpec>,

    /// The job worker container of the worker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_worker: Option<CompTemplateSpec>,

    /// The REST API gateway (accepted; not deployed yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_gateway: Option<CompTemplateSpec>,

    /// The job creating the runtime's users (accepted; not run yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_users: Option<InitUsersSpec>,

    /// The fuse clients mounting the dataset on the nodes of the pods using it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse: Option<FuseSpec>,

    /// Properties of every component (`alluxio-site.properties`), over Fluid's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,

    /// JVM options of every component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jvm_options: Option<Vec<String>>,

    /// The cache tiers of the workers (MEM, SSD, HDD).
    #[serde(
        rename = "tieredstore",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tiered_store: Option<TieredStore>,

    /// Replication of the cached data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataSpec>,

    /// The number of cache workers (the scale subresource's replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,

    /// The user to run the engine as (accepted; the containers run as root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<User>,

    /// Turns the Prometheus metrics endpoints off (on by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_prometheus: Option<bool>,

    /// A ConfigMap holding `hdfs-site.xml` and/or `core-site.xml` for HDFS under file systems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hadoop_config: Option<String>,

    /// Volumes that components may mount through their `volumeMounts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,

    /// Labels and annotations of every pod of the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,

    /// Policies for managing the runtime.
    #[serde(
        rename = "management",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_management: Option<RuntimeManagement>,
}

/// A component: master, job master, worker, job worker or API gateway.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompTemplateSpec {
    /// Replicas (masters: 1, or 3 for HA with the embedded journal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1))]
    pub replicas: Option<i32>,

    /// JVM options of the component, replacing Fluid's defaults for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jvm_options: Option<Vec<String>>,

    /// Properties of this component only (`-D` flags of its JVM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,

    /// Ports by name (`rpc`, `web`, `embedded`, `data`, `rest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<BTreeMap<String, i32>>,

    /// Compute resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,

    /// Whether the component runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,

    /// Labels a node needs to run the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// The network of the component's pods: `HostNetwork` (the default), `ContainerNetwork`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,

    /// Labels and annotations of the component's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,

    /// Annotations of the component's pods (GooseFS's field; over `podMetadata`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,

    /// Mounts of volumes listed in `spec.volumes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,

    /// Image pull secrets of the component's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

/// The fuse clients.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FuseSpec {
    /// The client image (defaults to the runtime's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// The client image tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,

    /// When to pull the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,

    /// Image pull secrets of the client pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,

    /// JVM options of the clients, replacing Fluid's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jvm_options: Option<Vec<String>>,

    /// Properties of the clients only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,

    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,

    /// Compute resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// The arguments of the fuse process (`fuse --fuse-opts=...`), replacing Fluid's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,

    /// Labels a node needs to run a client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// When clients are removed from a node: `OnDemand`, `OnRuntimeDeleted` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_policy: Option<FuseCleanPolicy>,

    /// The network of the client pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,

    /// Labels and annotations of the client pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,

    /// Annotations of the client pods (GooseFS's field; over `podMetadata`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,

    /// Mounts of volumes listed in `spec.volumes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
}

/// Replication of the cached data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSpec {
    /// Cached copies of each block (`alluxio.user.file.replication.max`, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Whether cached data is pinned (never evicted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<bool>,
}
