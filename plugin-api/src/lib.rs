//! # fluid-plugin-api: write a cache engine for fluid-rs
//!
//! fluid-rs is a Kubernetes controller compatible with Fluid's `data.fluid.io/v1alpha1` API in
//! which every cache engine (JuiceFS, Alluxio, your own) is a plugin: a `cdylib` the controller
//! loads at start-up from its plugin directory. This crate is the whole contract between the
//! controller and an engine, and the SDK to write one.
//!
//! ## Writing an engine
//! 1. A crate with `crate-type = ["cdylib"]` depending on `fluid-plugin-api = "1"`.
//! 2. A type implementing [`Engine`]; override only the hooks your engine needs, in an
//!    `impl` block marked [`hooks`] so the controller can list them. Every other hook gets the
//!    controller's default (install the chart with the values of [`Engine::transform`], create
//!    the volume, derive readiness from the workloads, uninstall on deletion).
//! 3. [`export_engine!`] with your engine's name, version, runtime CRD and chart.
//!
//! ```ignore
//! use fluid_plugin_api::{export_engine, hooks, Engine, HookContext, HookResult, Host, Outcome};
//!
//! #[derive(Default)]
//! struct MyEngine;
//!
//! #[hooks]
//! impl Engine for MyEngine {
//!     fn transform(&self, cx: &HookContext, _host: &Host) -> HookResult<serde_json::Value> {
//!         Ok(Outcome::Done(serde_json::json!({ "name": cx.name() })))
//!     }
//! }
//!
//! export_engine! {
//!     engine: MyEngine,
//!     new: || Ok::<_, String>(MyEngine),
//!     name: "myengine",
//!     version: env!("CARGO_PKG_VERSION"),
//!     crd: my_runtime_crd(),            // serde_json::Value of the CustomResourceDefinition
//!     chart: include_bytes!("../chart.tgz"),
//! }
//! ```
//!
//! ## Compatibility promise
//! A plugin built against any `fluid-plugin-api` 1.x loads into any host speaking protocol 1.y.
//! The binary interface ([`abi`]) is fixed forever within major 1: four functions in the root
//! module, one `call` entry on the engine and one on the host. Everything else is JSON
//! ([`protocol`]) that only ever gains hooks, services and optional fields. A host calling a
//! hook the plugin does not know applies its default; a plugin calling a service the host does
//! not know gets [`ServiceErrorKind::Unsupported`](protocol::ServiceErrorKind::Unsupported).

#![warn(missing_docs)]

pub mod abi;
pub mod conventions;
mod elf;
mod engine;
pub mod export;
mod host;
pub mod kit;
pub mod loader;
pub mod protocol;
#[cfg(feature = "testing")]
pub mod testing;
pub mod types;

pub use engine::{
    CacheReport, ComponentReport, DatasetStatusReport, Engine, FieldError, HealthReport,
    HookContext, HookError, HookResult, MetadataReport, OperateInput, OperationPlan, Outcome,
    RuntimePhase, RuntimeStatusReport, Validation,
};
#[doc(hidden)]
pub use fluid_plugin_api_macros::__root_module_static;
pub use fluid_plugin_api_macros::hooks;
pub use host::{with_host, with_host_ffi, Host, HostError, ServiceHandler};
pub use protocol::{Hook, Service};

/// The version of `fluid-plugin-api` a plugin was compiled against (reported in its info).
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

// The macros expand to paths under `$crate`; these keep working whatever the plugin's own
// dependencies are.
#[doc(hidden)]
pub use abi_stable as __abi_stable;
#[doc(hidden)]
pub use serde_json as __serde_json;
