//! VendorFS: a cache engine written outside fluid-rs against `fluid-plugin-api`, and the
//! template to start yours from (docs/plugin-guide.md). Its workers cache data; its fuse
//! DaemonSet runs `rclone mount` of the Dataset's bucket where the controller says.
//!
//! To make it yours: rename `vendorfs` / `VendorFS` (crate, engine name, group, kinds, chart),
//! then change [`VendorFSRuntimeSpec`], [`fuse_command`] and the chart.
#![allow(clippy::duplicated_attributes)]

use fluid_plugin_api::conventions::Conventions;
use fluid_plugin_api::types::{crd_json_of, Dataset, RuntimeStatus};
use fluid_plugin_api::{
    export_engine, hooks, Engine, FieldError, HookContext, HookError, HookResult, Host, Outcome,
    Validation,
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[cfg(test)]
mod tests;

/// The runtime kind users create next to their Dataset (same name, same namespace).
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
    printcolumn(
        name = "Worker Phase",
        type_ = "string",
        json_path = ".status.workerPhase"
    ),
    printcolumn(name = "Fuse Phase", type_ = "string", json_path = ".status.fusePhase"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct VendorFSRuntimeSpec {
    /// Number of cache workers (0: no worker StatefulSet, the fuse reads the bucket directly).
    #[serde(default)]
    pub replicas: i32,
    /// Cache size per worker and per fuse, e.g. `10Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_size: Option<String>,
}

/// The scheme of the Dataset's mount point this engine serves: `vendorfs://<bucket>/<path>`.
pub const SCHEME: &str = "vendorfs://";

/// The rclone remote of a mount point: `vendorfs://bucket/data` is `vendorfs:bucket/data`.
pub fn remote(mount_point: &str) -> Option<String> {
    let path = mount_point.strip_prefix(SCHEME)?;
    (!path.is_empty()).then(|| format!("vendorfs:{path}"))
}

/// The fuse container's command: mounts the remote exactly where the controller said
/// (`fuse_mount_path`, the PV's `fluid_path`), never a path of our own making.
pub fn fuse_command(remote: &str, cache_size: &str, conventions: &Conventions) -> Vec<String> {
    [
        "rclone",
        "mount",
        remote,
        &conventions.fuse_mount_path,
        "--allow-other",
        "--vfs-cache-mode=full",
        &format!("--vfs-cache-max-size={cache_size}"),
    ]
    .map(str::to_owned)
    .to_vec()
}

fn first_mount_point(dataset: Option<&Dataset>) -> Option<&str> {
    dataset?
        .spec
        .mounts
        .as_deref()?
        .first()
        .map(|m| m.mount_point.as_str())
}

struct VendorFs;

#[hooks]
impl Engine for VendorFs {
    /// What the CRD schema cannot say: the Dataset's mount point must be ours.
    fn validate(&self, cx: &HookContext, _host: &Host) -> HookResult<Validation> {
        let dataset: Option<Dataset> = cx.dataset_as()?;
        let mut v = Validation::default();
        let mount_point = first_mount_point(dataset.as_ref()).unwrap_or_default();
        if dataset.is_some() && remote(mount_point).is_none() {
            v.errors.push(FieldError {
                field: "spec.mounts[0].mountPoint".into(),
                message: format!("{mount_point:?} is not {SCHEME}<bucket>/<path>"),
            });
        }
        Ok(Outcome::Done(v))
    }

    /// The values of the chart, laid over the controller's own (the conventions:
    /// `fullnameOverride`, `owner`, `fuseNodeSelectorKey`, `fuseMountPath`, ...). Everything
    /// else (install, readiness, volume, scaling, teardown) is the controller's default.
    fn transform(&self, cx: &HookContext, _host: &Host) -> HookResult<Value> {
        let rt: VendorFSRuntime = cx.runtime_as()?;
        let dataset: Option<Dataset> = cx.dataset_as()?;
        let remote = first_mount_point(dataset.as_ref())
            .and_then(remote)
            .ok_or_else(|| HookError::new("the Dataset has no vendorfs:// mount point"))?;
        let cache_size = rt.spec.cache_size.unwrap_or_else(|| "1Gi".into());
        Ok(Outcome::Done(json!({
            "worker": {"replicas": rt.spec.replicas, "cacheSize": cache_size},
            "fuse": {"command": fuse_command(&remote, &cache_size, cx.conventions()?)},
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
    // The file system type of the fuse mount in the node's mount table: the PV's
    // `mount_type`, which the CSI plugin checks before binding the mount into a pod.
    mount_type: "fuse.rclone",
}
