//! The `JuiceFSRuntime` custom resource, as Fluid defines it (`data.fluid.io/v1alpha1`): how to
//! run JuiceFS workers and fuse clients for the Dataset of the same name. Its status is the
//! common [`RuntimeStatus`].

use fluid_plugin_api::types::{
    FuseCleanPolicy, InitUsersSpec, NetworkMode, PodMetadata, RuntimeManagement, RuntimeStatus,
    TieredStore, User, VersionSpec,
};
use k8s_openapi::api::core::v1::{
    ContainerPort, EnvVar, PersistentVolumeClaim, ResourceRequirements, Volume, VolumeMount,
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How to run JuiceFS for the Dataset of the same name and namespace: the workers caching
/// its data and the fuse clients mounting it on the nodes of the pods that use it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "data.fluid.io",
    version = "v1alpha1",
    kind = "JuiceFSRuntime",
    namespaced,
    status = "RuntimeStatus",
    shortname = "juicefs",
    category = "fluid",
    derive = "PartialEq",
    derive = "Default",
    doc = "A JuiceFS runtime: the JuiceFS workers and fuse clients serving the Dataset of the same name (Fluid's data.fluid.io/v1alpha1 API).",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.currentWorkerNumberScheduled",
        label_selector_path = ".status.selector"
    ),
    printcolumn = r#"{"name":"Ready Workers","type":"integer","jsonPath":".status.workerNumberReady","priority":10}"#,
    printcolumn = r#"{"name":"Desired Workers","type":"integer","jsonPath":".status.desiredWorkerNumberScheduled","priority":10}"#,
    printcolumn = r#"{"name":"Worker Phase","type":"string","jsonPath":".status.workerPhase"}"#,
    printcolumn = r#"{"name":"Ready Fuses","type":"integer","jsonPath":".status.fuseNumberReady","priority":10}"#,
    printcolumn = r#"{"name":"Desired Fuses","type":"integer","jsonPath":".status.desiredFuseNumberScheduled","priority":10}"#,
    printcolumn = r#"{"name":"Fuse Phase","type":"string","jsonPath":".status.fusePhase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct JuiceFSRuntimeSpec {
    /// The JuiceFS image to run (workers and, unless `fuse` says otherwise, clients).
    #[serde(
        rename = "juicefsVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub juicefs_version: Option<VersionSpec>,

    /// The job creating the runtime's users (accepted, unused by the JuiceFS engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_users: Option<InitUsersSpec>,

    /// The master (accepted, unused: JuiceFS keeps its metadata in an external engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<JuiceFSCompTemplateSpec>,

    /// The cache workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<JuiceFSCompTemplateSpec>,

    /// The workers of data operation jobs (accepted, unused by the JuiceFS engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_worker: Option<JuiceFSCompTemplateSpec>,

    /// The fuse clients mounting the file system on the nodes of the pods using it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse: Option<JuiceFSFuseSpec>,

    /// The cache tiers of workers and clients.
    #[serde(
        rename = "tieredstore",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tiered_store: Option<TieredStore>,

    /// Extra flags for `juicefs format` / `juicefs auth`, e.g. `--trash-days=0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configs: Option<Vec<String>>,

    /// The number of cache workers (the scale subresource's replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,

    /// The user to run JuiceFS as (accepted, unused by the JuiceFS engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<User>,

    /// Turns the Prometheus metrics endpoint off (on by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_prometheus: Option<bool>,

    /// Volumes that workers and fuse clients may mount through their `volumeMounts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,

    /// Claim templates of the worker StatefulSet (cannot change once it exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub volume_claim_templates: Option<Vec<PersistentVolumeClaim>>,

    /// Labels and annotations for every JuiceFS pod of the runtime.
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

/// A JuiceFS component: master, worker or job worker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JuiceFSCompTemplateSpec {
    /// Replicas of the component (at least 1; 1 when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1))]
    pub replicas: Option<i32>,

    /// Container ports of the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ContainerPort>>,

    /// Compute resources of the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// JuiceFS options of the component (`juicefs mount` flags without `--`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,

    /// Environment variables of the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,

    /// Whether the component runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,

    /// Labels a node needs to run the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// Mounts of volumes listed in `spec.volumes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,

    /// Labels and annotations of the component's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,

    /// The network of the component's pods: `HostNetwork`, `ContainerNetwork` or unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
}

/// The JuiceFS fuse clients.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JuiceFSFuseSpec {
    /// The client image (defaults to the runtime's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// The client image tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,

    /// When to pull the image: `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,

    /// Environment variables of the clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,

    /// Compute resources of the clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Mount options of the clients (`juicefs mount` flags without `--`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,

    /// Labels a node needs to run a client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// Mounts of volumes listed in `spec.volumes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,

    /// When clients are removed from a node: `OnDemand`, `OnRuntimeDeleted` (the default) or
    /// `OnFuseChanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_policy: Option<FuseCleanPolicy>,

    /// Labels and annotations of the client pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,

    /// The network of the client pods: `HostNetwork`, `ContainerNetwork` or unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
}

/// The JuiceFSRuntime CustomResourceDefinition, as the controller installs it.
pub fn juicefs_runtime_crd(
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    fluid_plugin_api::types::fluid_crd::<JuiceFSRuntime>()
}
