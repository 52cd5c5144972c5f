//! fluid-rs engine plugin for [Jindo](https://github.com/aliyun/alibabacloud-jindodata):
//! serves Fluid's `JindoRuntime` kind with its own chart (`charts/jindo`, embedded at build
//! time). As in Fluid, one kind is served by three engines, chosen by the controller's
//! `JINDO_ENGINE_TYPE` when the plugin loads: JindoCache (the default), JindoFSx and the
//! legacy JindoFS ([`Flavor`]). See `docs/jindo.md`.

pub mod commands;
pub mod crd;
pub mod engine;
pub mod flavor;
pub mod parse;
pub mod transform;

pub use crd::{jindo_runtime_crd, JindoRuntime, JindoRuntimeSpec};
pub use engine::JindoEngine;
pub use flavor::Flavor;

fluid_plugin_api::export_engine! {
    engine: JindoEngine,
    new: JindoEngine::from_env,
    name: engine::ENGINE,
    version: env!("CARGO_PKG_VERSION"),
    crd: fluid_plugin_api::types::crd_json(&jindo_runtime_crd()),
    chart: include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz")),
    mount_type: engine::MOUNT_TYPE,
}

#[cfg(test)]
mod tests;
