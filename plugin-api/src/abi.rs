//! The binary contract: the only types that cross the boundary between the controller and a
//! plugin library.
//!
//! It is deliberately tiny and **never grows**. abi_stable refuses to load a library whose
//! `#[sabi_trait]` objects or prefix structs have fewer fields than the loader expects (its
//! issue #118), so adding a method here would stop every older plugin from loading. Everything
//! that evolves lives in the versioned JSON messages of [`crate::protocol`] instead.
//!
//! Plugin authors do not use this module: [`crate::export_engine!`] fills it in. It is public
//! so that the host (and tests that play the part of a hand-written plugin) can use it.

// sabi_trait expands to impls inside a const block; that is how abi_stable works.
#![allow(non_local_definitions)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, RResult, RSlice, RStr, RString},
    StableAbi,
};

/// A call from the host into the engine: `call(hook, request) -> response`.
///
/// `hook` is a [`crate::protocol::Hook`] name, `request` a JSON
/// [`crate::protocol::HookRequest`]. `ROk` carries a JSON [`crate::protocol::HookResponse`],
/// `RErr` a JSON [`crate::protocol::HookFailure`]. `host` serves the engine's calls back into the
/// controller for the duration of this call only.
#[sabi_trait]
pub trait EngineFfi: Send + Sync {
    /// Runs one hook.
    #[sabi(last_prefix_field)]
    fn call(
        &self,
        hook: RStr<'_>,
        request: RStr<'_>,
        host: HostFfiRef<'_>,
    ) -> RResult<RString, RString>;
}

/// An engine instance owned by the host.
pub type EngineBox = EngineFfi_TO<'static, RBox<()>>;

/// A call from the engine back into the host: `call(service, request) -> response`.
///
/// `service` is a [`crate::protocol::Service`] name; `request` and the `ROk` response are the
/// JSON messages of that service; `RErr` is a JSON [`crate::protocol::ServiceFailure`].
#[sabi_trait]
pub trait HostFfi: Sync {
    /// Runs one host service.
    #[sabi(last_prefix_field)]
    fn call(&self, service: RStr<'_>, request: RStr<'_>) -> RResult<RString, RString>;
}

/// A borrowed host-services object, valid for one hook call.
pub type HostFfiRef<'a> = HostFfi_TO<'a, abi_stable::sabi_types::RRef<'a, ()>>;

/// The root module every plugin library exports.
///
/// Each entry returns `RErr` with a message instead of unwinding: a panic that reached the
/// boundary would end the whole controller.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The JSON [`crate::protocol::PluginInfo`].
    pub info: extern "C" fn() -> RResult<RString, RString>,
    /// The runtime kind's CustomResourceDefinition, as JSON.
    pub crd: extern "C" fn() -> RResult<RString, RString>,
    /// The engine's Helm chart as a gzipped tarball (empty when the engine brings none). The
    /// bytes live as long as the process: libraries are never unloaded.
    pub chart: extern "C" fn() -> RSlice<'static, u8>,
    /// Creates the engine. Called once per loaded library.
    #[sabi(last_prefix_field)]
    pub new_engine: extern "C" fn() -> RResult<EngineBox, RString>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "fluid_plugin";
    const NAME: &'static str = "fluid_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
