//! fluid-rs engine plugin for GooseFS (Tencent's fork of Alluxio): serves Fluid's
//! `GooseFSRuntime` kind with its own chart (`charts/goosefs`, embedded at build time).
//!
//! The engine is the Alluxio family's ([`fluid_alluxio_family`]) with GooseFS's names
//! ([`flavor::GOOSEFS`]: the `goosefs` command, `goosefs.` properties, its images and
//! `fuse.goosefs-fuse` mounts): what this crate adds is the kind and how it reads as the
//! family's spec. See `docs/alluxio.md`, "GooseFS".

pub mod crd;
pub mod flavor;

pub use crd::{goosefs_runtime_crd, GooseFSRuntime, GooseFSRuntimeSpec};

use fluid_alluxio_family::{Family, FamilyEngine, Flavor, RuntimeView};
use fluid_plugin_api::{export_engine, HookError};
use serde_json::Value;

/// GooseFS, as a member of the family.
#[derive(Debug, Default)]
pub struct GooseFS;

impl Family for GooseFS {
    const FLAVOR: Flavor = flavor::GOOSEFS;
    const KIND: &'static str = "GooseFSRuntime";

    /// The family's spec, with GooseFS's top-level `cleanCachePolicy` where the family keeps
    /// it (`management.cleanCachePolicy`, which wins when both are set).
    fn view(runtime: &Value) -> Result<RuntimeView, HookError> {
        let runtime: GooseFSRuntime = serde_json::from_value(runtime.clone())?;
        let mut spec = runtime.spec.family;
        if let Some(policy) = runtime.spec.clean_cache_policy {
            spec.runtime_management
                .get_or_insert_with(Default::default)
                .clean_cache_policy
                .get_or_insert(policy);
        }
        Ok(RuntimeView {
            spec,
            version: runtime.spec.goosefs_version,
            status: runtime.status,
        })
    }
}

/// The GooseFS engine.
pub type GooseFSEngine = FamilyEngine<GooseFS>;

export_engine! {
    engine: GooseFSEngine,
    new: || Ok::<_, String>(GooseFSEngine::default()),
    name: "goosefs",
    version: env!("CARGO_PKG_VERSION"),
    crd: fluid_plugin_api::types::crd_json(&goosefs_runtime_crd()),
    chart: include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz")),
    mount_type: "fuse.goosefs-fuse",
}

#[cfg(test)]
mod tests;
