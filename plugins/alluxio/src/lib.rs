//! fluid-rs engine plugin for [Alluxio](https://www.alluxio.io): serves Fluid's
//! `AlluxioRuntime` kind with its own chart (`charts/alluxio`, embedded at build time).
//!
//! The engine is the Alluxio family's ([`fluid_alluxio_family`]) with Alluxio's names: the
//! transform (properties, tiers, mounts, ports, JVM options), the UFS mounts made in the
//! master, metadata and cache states from the master's reports, health and the cache freed
//! at shutdown. Installing the chart, readiness, the volume, scaling and spec changes are the
//! controller's defaults. See `docs/alluxio.md`.

pub mod crd;

pub use crd::{alluxio_runtime_crd, AlluxioRuntime, AlluxioRuntimeSpec};

use fluid_alluxio_family::{Family, FamilyEngine, Flavor, RuntimeView};
use fluid_plugin_api::{export_engine, HookError};
use serde_json::Value;

/// Alluxio, as a member of the family.
#[derive(Debug, Default)]
pub struct Alluxio;

impl Family for Alluxio {
    const FLAVOR: Flavor = Flavor::ALLUXIO;
    const KIND: &'static str = "AlluxioRuntime";

    fn view(runtime: &Value) -> Result<RuntimeView, HookError> {
        let runtime: AlluxioRuntime = serde_json::from_value(runtime.clone())?;
        Ok(RuntimeView {
            spec: runtime.spec.family,
            version: runtime.spec.alluxio_version,
            status: runtime.status,
        })
    }
}

/// The Alluxio engine.
pub type AlluxioEngine = FamilyEngine<Alluxio>;

export_engine! {
    engine: AlluxioEngine,
    new: || Ok::<_, String>(AlluxioEngine::default()),
    name: "alluxio",
    version: env!("CARGO_PKG_VERSION"),
    crd: fluid_plugin_api::types::crd_json(&alluxio_runtime_crd()),
    chart: include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz")),
    mount_type: "fuse.alluxio-fuse",
}

#[cfg(test)]
mod tests;
