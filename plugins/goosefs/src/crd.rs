//! The `GooseFSRuntime` custom resource, as Fluid defined it (`data.fluid.io/v1alpha1`, until
//! GooseFS left Fluid in #5703): how to run GooseFS for the Dataset of the same name. Its spec
//! is the family's ([`FamilySpec`]), the image and a top-level clean policy; its status is the
//! common [`RuntimeStatus`].

use fluid_alluxio_family::FamilySpec;
use fluid_plugin_api::types::{CleanCachePolicy, RuntimeStatus, VersionSpec};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How to run GooseFS for the Dataset of the same name and namespace: masters, cache workers
/// and the fuse clients mounting it on the nodes of the pods that use it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "data.fluid.io",
    version = "v1alpha1",
    kind = "GooseFSRuntime",
    namespaced,
    status = "RuntimeStatus",
    shortname = "goose",
    category = "fluid",
    derive = "PartialEq",
    derive = "Default",
    doc = "A GooseFS runtime: the GooseFS masters, workers and fuse clients serving the Dataset of the same name (Fluid's data.fluid.io/v1alpha1 API).",
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
    printcolumn = r#"{"name":"API Gateway","type":"string","jsonPath":".status.apiGateway.endpoint","priority":10}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GooseFSRuntimeSpec {
    /// The GooseFS image of the masters and workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goosefs_version: Option<VersionSpec>,

    /// How the cache is freed when the runtime is deleted (Fluid's GooseFS field; the family's
    /// `management.cleanCachePolicy` wins when both are set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_cache_policy: Option<CleanCachePolicy>,

    /// Everything else: the family's spec.
    #[serde(flatten)]
    pub family: FamilySpec,
}

/// The GooseFSRuntime CustomResourceDefinition, as the controller installs it.
pub fn goosefs_runtime_crd(
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    fluid_plugin_api::types::fluid_crd::<GooseFSRuntime>()
}
