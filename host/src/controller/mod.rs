//! The controllers: one runtime controller per loaded plugin, the Dataset controller and the
//! data operation controllers,
//! reading from shared watch caches and writing each status once per pass.

pub mod caches;
pub mod conditions;
pub mod dataset;
pub mod finalizer;
pub mod hooks;
pub mod names;
pub mod operations;
pub mod runtime;
pub mod schema;
pub mod status;
pub mod triggers;
pub mod unserved;
pub mod volume;
pub mod workloads;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::ApiResource;
use std::time::Duration;

/// Timings of the controllers.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// How often a set-up runtime is synced (Fluid: `FLUID_RUNTIME_RECONCILE_DURATION`, 90 s).
    pub sync_period: Duration,
    /// The time limit of one hook call.
    pub hook_timeout: Duration,
    /// Runtimes (of one kind) reconciled at once, as Fluid's `--runtime-workers`.
    pub concurrency: u16,
    /// The CSI driver the PVs name (Fluid's `fuse.csi.fluid.io`, or fluid-csi's own name when it
    /// runs beside Fluid's plugin).
    pub csi_driver: String,
    /// The node ports handed to host-network runtimes (Fluid's `--runtime-node-port-range`).
    pub port_range: crate::ports::PortRange,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            sync_period: Duration::from_secs(90),
            hook_timeout: Duration::from_secs(120),
            concurrency: 8,
            csi_driver: volume::CSI_DRIVER.to_owned(),
            port_range: crate::ports::DEFAULT_RANGE,
        }
    }
}

/// How long ago an object was created (zero when it does not say, or says the future).
pub fn age(meta: &ObjectMeta) -> Duration {
    let Some(created) = meta.creation_timestamp.as_ref() else {
        return Duration::ZERO;
    };
    let secs = k8s_openapi::jiff::Timestamp::now().as_second() - created.0.as_second();
    Duration::from_secs(secs.max(0).unsigned_abs())
}

/// Fluid's Dataset resource.
pub fn dataset_resource() -> ApiResource {
    ApiResource {
        group: "data.fluid.io".into(),
        version: "v1alpha1".into(),
        api_version: "data.fluid.io/v1alpha1".into(),
        kind: "Dataset".into(),
        plural: "datasets".into(),
    }
}
