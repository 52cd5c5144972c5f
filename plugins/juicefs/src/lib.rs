//! fluid-rs engine plugin for [JuiceFS](https://juicefs.com): serves Fluid's `JuiceFSRuntime`
//! kind. The hooks and the chart come next; until then every hook gets the controller's
//! default.

pub mod crd;

pub use crd::{
    juicefs_runtime_crd, JuiceFSCompTemplateSpec, JuiceFSFuseSpec, JuiceFSRuntime,
    JuiceFSRuntimeSpec,
};

use fluid_plugin_api::{export_engine, hooks, Engine};

/// The JuiceFS engine.
#[derive(Debug, Default)]
pub struct JuiceFs;

#[hooks]
impl Engine for JuiceFs {}

export_engine! {
    engine: JuiceFs,
    new: || Ok::<_, String>(JuiceFs),
    name: "juicefs",
    version: env!("CARGO_PKG_VERSION"),
    crd: fluid_plugin_api::types::crd_json(&juicefs_runtime_crd()),
    chart: &[],
}

#[cfg(test)]
mod tests;
