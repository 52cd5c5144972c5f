//! VendorFS: a cache engine written outside fluid-rs against `fluid-plugin-api`.
#![allow(clippy::duplicated_attributes)]

use fluid_plugin_api::types::{crd_json_of, RuntimeStatus};
use fluid_plugin_api::{export_engine, hooks, Engine, HookContext, HookResult, Host, Outcome};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The runtime kind users create next to their Dataset.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "vendor.example.com",
    version = "v1alpha1",
    kind = "VendorFSRuntime",
    namespaced,
    status = "RuntimeStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.currentWorkerNumberScheduled",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Worker Phase", type_ = "string", json_path = ".status.workerPhase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct VendorFSRuntimeSpec {
    /// Number of cache workers.
    #[serde(default)]
    pub replicas: i32,
    /// Cache size per worker, e.g. `10Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_size: Option<String>,
}

struct VendorFs;

#[hooks]
impl Engine for VendorFs {
    /// The only hook a simple engine needs: the values of its chart. Everything else (install,
    /// readiness, volume, scaling, teardown) is the controller's default.
    fn transform(&self, cx: &HookContext, _host: &Host) -> HookResult<Value> {
        let rt: VendorFSRuntime = cx.runtime_as()?;
        Ok(Outcome::Done(json!({
            "replicas": rt.spec.replicas,
            "cacheSize": rt.spec.cache_size.unwrap_or_else(|| "1Gi".into()),
        })))
    }
}

export_engine! {
    engine: VendorFs,
    new: || Ok::<_, String>(VendorFs),
    name: "vendorfs",
    version: env!("CARGO_PKG_VERSION"),
    crd: crd_json_of::<VendorFSRuntime>(),
    chart: include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz")),
}
