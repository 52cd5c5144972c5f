//! The `JindoRuntime` custom resource, as Fluid defines it (`data.fluid.io/v1alpha1`): how to
//! run Jindo (JindoCache, JindoFSx or the legacy JindoFS, the controller's choice) for the
//! Dataset of the same name. Its status is the common [`RuntimeStatus`].

use fluid_plugin_api::types::{
    CleanCachePolicy, NetworkMode, PodMetadata, RuntimeStatus, TieredStore, User, VersionSpec,
};
use k8s_openapi::api::core::v1::{
    LocalObjectReference, ResourceRequirements, Toleration, Volume, VolumeMount,
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

type Map = BTreeMap<String, String>;

/// How to run Jindo for the Dataset of the same name and namespace: the namespace service
/// (masters), the storage service (cache workers) and the fuse clients.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "data.fluid.io",
    version = "v1alpha1",
    kind = "JindoRuntime",
    namespaced,
    status = "RuntimeStatus",
    shortname = "jindo",
    category = "fluid",
    derive = "PartialEq",
    derive = "Default",
    doc = "A Jindo runtime: the Jindo masters, workers and fuse clients serving the Dataset of the same name (Fluid's data.fluid.io/v1alpha1 API).",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.currentWorkerNumberScheduled",
        label_selector_path = ".status.selector"
    ),
    printcolumn = r#"{"name":"Ready Masters","type":"integer","jsonPath":".status.masterNumberReady","priority":10}"#,
    printcolumn = r#"{"name":"Desired Masters","type":"integer","jsonPath":".status.desiredMasterNumberScheduled","priority":10}"#,
    printcolumn = r#"{"name":"Master Phase","type":"string","jsonPath":".status.masterPhase"}"#,
    printcolumn = r#"{"name":"Ready Workers","type":"integer","jsonPath":".status.workerNumberReady","priority":10}"#,
    printcolumn = r#"{"name":"Desired Workers","type":"integer","jsonPath":".status.desiredWorkerNumberScheduled","priority":10}"#,
    printcolumn = r#"{"name":"Worker Phase","type":"string","jsonPath":".status.workerPhase"}"#,
    printcolumn = r#"{"name":"Ready Fuses","type":"integer","jsonPath":".status.fuseNumberReady","priority":10}"#,
    printcolumn = r#"{"name":"Desired Fuses","type":"integer","jsonPath":".status.desiredFuseNumberScheduled","priority":10}"#,
    printcolumn = r#"{"name":"Fuse Phase","type":"string","jsonPath":".status.fusePhase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct JindoRuntimeSpec {
    /// The Jindo image of the masters and workers (`smartdata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jindo_version: Option<VersionSpec>,

    /// The namespace service (masters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<JindoCompTemplateSpec>,

    /// The storage service (cache workers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<JindoCompTemplateSpec>,

    /// The fuse clients mounting the dataset on the nodes of the pods using it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse: Option<JindoFuseSpec>,

    /// Properties of every component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Map>,

    /// The cache tier of the workers (Jindo uses the first level).
    #[serde(
        rename = "tieredstore",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tiered_store: Option<TieredStore>,

    /// The number of cache workers (the scale subresource's replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,

    /// The user to run the engine as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<User>,

    /// The user the fuse runs as (`RUN_AS_USER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,

    /// A ConfigMap holding `hdfs-site.xml` and/or `core-site.xml` for HDFS under file systems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hadoop_config: Option<String>,

    /// A Secret holding an STS token for every component (mounted at `/token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,

    /// Labels of every pod of the runtime (deprecated: `podMetadata.labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Map>,

    /// Log settings of the masters and workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_config: Option<Map>,

    /// The network of the pods: `HostNetwork` (the default), `ContainerNetwork`.
    #[serde(
        rename = "networkmode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_mode: Option<NetworkMode>,

    /// How the cache is cleaned when the runtime is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_cache_policy: Option<CleanCachePolicy>,

    /// Labels and annotations of every pod of the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,

    /// Volumes that components may mount through their `volumeMounts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,

    /// Image pull secrets of every pod of the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

/// A master or worker component.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JindoCompTemplateSpec {
    /// Replicas (masters: 1, or 3 for raft).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1))]
    pub replicas: Option<i32>,

    /// Compute resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Properties of this component (`namespace.*` for masters, `storage.*` for workers),
    /// over Fluid's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Map>,

    /// Ports by name (`rpc`, `raft`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<BTreeMap<String, i32>>,

    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Map>,

    /// Labels a node needs to run the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<Map>,

    /// Tolerations of the component's pods, besides the Dataset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,

    /// Whether the component is left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,

    /// Labels of the component's pods (deprecated: `podMetadata.labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Map>,

    /// Labels and annotations of the component's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,

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
pub struct JindoFuseSpec {
    /// The client image (`jindo-fuse`).
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

    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Map>,

    /// Compute resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Properties of the clients, over Fluid's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Map>,

    /// Labels a node needs to run a client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<Map>,

    /// Tolerations of the client pods, besides the Dataset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,

    /// The fuse's options (`-okernel_cache`, ...), replacing Fluid's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,

    /// When clients are removed from a node: `OnDemand`, `OnRuntimeDeleted` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_policy: Option<String>,

    /// Whether the clients are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,

    /// Labels of the client pods (deprecated: `podMetadata.labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Map>,

    /// Labels and annotations of the client pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,

    /// Log settings of the clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_config: Option<Map>,

    /// The clients' metrics endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<ClientMetrics>,
}

/// The fuse clients' metrics endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientMetrics {
    /// Whether the clients serve metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Which pods Prometheus scrapes (`MountPod`, `Sidecar`, `All`, `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_target: Option<String>,
}

/// The JindoRuntime CustomResourceDefinition, as the controller installs it.
pub fn jindo_runtime_crd(
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    fluid_plugin_api::types::fluid_crd::<JindoRuntime>()
}
