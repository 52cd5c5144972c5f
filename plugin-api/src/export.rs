//! What [`crate::export_engine!`] expands to: the root module of a plugin library, and the
//! dispatch from hook names to [`Engine`] methods.
//!
//! Every function here that runs behind an `extern "C"` entry catches panics: a panic that
//! crossed the boundary would abort the whole controller.

use crate::abi::{EngineBox, EngineFfi, EngineFfi_TO, HostFfiRef, PluginMod, PluginModRef};
use crate::engine::{Engine, HookContext, HookResult, Outcome};
use crate::host::Host;
use crate::protocol::{
    FailureKind, GroupKind, Hook, HookFailure, HookRequest, HookResponse, PluginInfo,
    ProtocolVersion, RuntimeKind,
};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RSlice, RStr, RString};
use serde::Serialize;
use serde_json::Value;
use std::any::Any;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Exports an [`Engine`] as a fluid-rs plugin. Use it once, in the `cdylib` crate's root.
///
/// The fields, in this order:
/// - `engine`: the engine type (its `impl Engine` block marked [`crate::hooks`]);
/// - `new`: an expression callable as `FnOnce() -> Result<Engine, impl Display>`, run once
///   when the controller loads the library;
/// - `name`: the engine's name (`&str`), e.g. `"juicefs"`;
/// - `version`: the plugin's version (`&str`), usually `env!("CARGO_PKG_VERSION")`;
/// - `crd`: an expression giving the runtime kind's CustomResourceDefinition as a
///   `serde_json::Value` (the controller reads group, kind, plural and the storage version
///   from it);
/// - `chart`: the engine's Helm chart as gzipped tarball bytes (`&'static [u8]`, usually
///   `include_bytes!`), or `&[]` when the engine installs nothing through helm;
/// - optionally `mount_type`: the file system type its fuse mounts (`&str`, e.g. `"JuiceFS"`),
///   written into the PV for Fluid's CSI plugin; the engine's name when absent;
/// - optionally `cluster_scoped_kinds`: the cluster-scoped kinds its charts create, as
///   `(group, kind)` pairs (`&[(&str, &str)]`, e.g. `&[("rbac.authorization.k8s.io",
///   "ClusterRole")]`); the controller refuses a chart with any other cluster-scoped object.
///   None when absent.
#[macro_export]
macro_rules! export_engine {
    (
        engine: $engine:ty,
        new: $new:expr,
        name: $name:expr,
        version: $version:expr,
        crd: $crd:expr,
        chart: $chart:expr
        $(, mount_type: $mount_type:expr)?
        $(, cluster_scoped_kinds: $cluster_scoped_kinds:expr)? $(,)?
    ) => {
        extern "C" fn __fluid_plugin_info() -> $crate::__abi_stable::std_types::RResult<
            $crate::__abi_stable::std_types::RString,
            $crate::__abi_stable::std_types::RString,
        > {
            let mount_type: ::core::option::Option<&str> = ::core::option::Option::None;
            $(let mount_type = ::core::option::Option::Some($mount_type);)?
            let cluster_scoped_kinds: &[(&str, &str)] = &[];
            $(let cluster_scoped_kinds: &[(&str, &str)] = $cluster_scoped_kinds;)?
            $crate::export::plugin_info::<$engine>(
                $name,
                $version,
                || $crd,
                mount_type,
                cluster_scoped_kinds,
            )
        }
        extern "C" fn __fluid_plugin_crd() -> $crate::__abi_stable::std_types::RResult<
            $crate::__abi_stable::std_types::RString,
            $crate::__abi_stable::std_types::RString,
        > {
            $crate::export::plugin_crd(|| $crd)
        }
        extern "C" fn __fluid_plugin_chart() -> $crate::__abi_stable::std_types::RSlice<'static, u8>
        {
            static CHART: &[u8] = $chart;
            $crate::__abi_stable::std_types::RSlice::from_slice(CHART)
        }
        extern "C" fn __fluid_plugin_new_engine() -> $crate::__abi_stable::std_types::RResult<
            $crate::abi::EngineBox,
            $crate::__abi_stable::std_types::RString,
        > {
            $crate::export::new_engine::<$engine, _, _>($new)
        }
        $crate::__root_module_static!(
            $crate,
            __fluid_plugin_info,
            __fluid_plugin_crd,
            __fluid_plugin_chart,
            __fluid_plugin_new_engine
        );
    };
}

/// The text of a caught panic.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

fn guarded(what: &str, f: impl FnOnce() -> Result<String, String>) -> RResult<RString, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(s)) => RResult::ROk(s.into()),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(p) => RResult::RErr(format!("{what} panicked: {}", panic_message(p.as_ref())).into()),
    }
}

/// Reads the runtime kind an engine serves from its CustomResourceDefinition.
pub fn runtime_kind_from_crd(crd: &Value) -> Result<RuntimeKind, String> {
    let field = |path: &str| -> Result<String, String> {
        crd.pointer(path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("the runtime CRD has no {}", path.replace('/', ".")))
    };
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .ok_or("the runtime CRD has no .spec.versions")?;
    let version = versions
        .iter()
        .find(|v| v["storage"] == Value::Bool(true))
        .or_else(|| versions.iter().find(|v| v["served"] == Value::Bool(true)))
        .and_then(|v| v["name"].as_str())
        .ok_or("the runtime CRD has no served version")?;
    Ok(RuntimeKind {
        group: field("/spec/group")?,
        version: version.to_owned(),
        kind: field("/spec/names/kind")?,
        plural: field("/spec/names/plural")?,
    })
}

/// The `info` entry: name, versions, runtime kind and implemented hooks, as JSON.
pub fn plugin_info<E: Engine>(
    name: &str,
    version: &str,
    crd: impl FnOnce() -> Value,
    mount_type: Option<&str>,
    cluster_scoped_kinds: &[(&str, &str)],
) -> RResult<RString, RString> {
    guarded("info", || {
        let info = PluginInfo {
            name: name.to_owned(),
            version: version.to_owned(),
            plugin_api_version: crate::API_VERSION.to_owned(),
            protocol: ProtocolVersion::CURRENT,
            runtime: runtime_kind_from_crd(&crd())?,
            hooks: E::IMPLEMENTED_HOOKS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            mount_type: mount_type.map(str::to_owned),
            cluster_scoped_kinds: cluster_scoped_kinds
                .iter()
                .map(|(group, kind)| GroupKind {
                    group: (*group).to_owned(),
                    kind: (*kind).to_owned(),
                })
                .collect(),
        };
        serde_json::to_string(&info).map_err(|e| e.to_string())
    })
}

/// The `crd` entry.
pub fn plugin_crd(crd: impl FnOnce() -> Value) -> RResult<RString, RString> {
    guarded("crd", || {
        serde_json::to_string(&crd()).map_err(|e| e.to_string())
    })
}

/// The `new_engine` entry.
pub fn new_engine<E: Engine, F, Er>(new: F) -> RResult<EngineBox, RString>
where
    F: FnOnce() -> Result<E, Er>,
    Er: Display,
{
    match catch_unwind(AssertUnwindSafe(new)) {
        Ok(Ok(engine)) => RResult::ROk(EngineFfi_TO::from_value(
            EngineAdapter { engine },
            TD_Opaque,
        )),
        Ok(Err(e)) => RResult::RErr(format!("creating the engine failed: {e}").into()),
        Err(p) => RResult::RErr(
            format!(
                "creating the engine panicked: {}",
                panic_message(p.as_ref())
            )
            .into(),
        ),
    }
}

/// Builds the root module from the four entries.
pub fn root_module(
    info: extern "C" fn() -> RResult<RString, RString>,
    crd: extern "C" fn() -> RResult<RString, RString>,
    chart: extern "C" fn() -> RSlice<'static, u8>,
    new_engine: extern "C" fn() -> RResult<EngineBox, RString>,
) -> PluginModRef {
    PluginMod {
        info,
        crd,
        chart,
        new_engine,
    }
    .leak_into_prefix()
}

/// Serves [`EngineFfi::call`] with a typed [`Engine`].
struct EngineAdapter<E> {
    engine: E,
}

impl<E: Engine> EngineFfi for EngineAdapter<E> {
    fn call(
        &self,
        hook: RStr<'_>,
        request: RStr<'_>,
        host: HostFfiRef<'_>,
    ) -> RResult<RString, RString> {
        let hook = hook.as_str();
        let result = catch_unwind(AssertUnwindSafe(|| {
            dispatch(&self.engine, hook, request.as_str(), host)
        }))
        .unwrap_or_else(|p| {
            Err(HookFailure {
                hook: hook.to_owned(),
                kind: FailureKind::Panicked,
                message: panic_message(p.as_ref()),
            })
        });
        let encoded = match &result {
            Ok(response) => serde_json::to_string(response),
            Err(failure) => serde_json::to_string(failure),
        };
        match (result, encoded) {
            (Ok(_), Ok(json)) => RResult::ROk(json.into()),
            (Err(_), Ok(json)) => RResult::RErr(json.into()),
            (_, Err(e)) => RResult::RErr(
                format!(
                    r#"{{"hook":"{hook}","kind":"failed","message":"encoding the answer: {e}"}}"#
                )
                .into(),
            ),
        }
    }
}

fn respond<T: Serialize>(hook: Hook, result: HookResult<T>) -> Result<HookResponse, HookFailure> {
    match result {
        Ok(Outcome::Done(output)) => serde_json::to_value(output)
            .map(|output| HookResponse::Done { output })
            .map_err(|e| HookFailure {
                hook: hook.as_str().to_owned(),
                kind: FailureKind::Failed,
                message: format!("encoding the output: {e}"),
            }),
        Ok(Outcome::Default) => Ok(HookResponse::Default),
        Err(e) => Err(HookFailure {
            hook: hook.as_str().to_owned(),
            kind: FailureKind::Failed,
            message: e.message().to_owned(),
        }),
    }
}

fn dispatch<E: Engine>(
    engine: &E,
    hook: &str,
    request: &str,
    host: HostFfiRef<'_>,
) -> Result<HookResponse, HookFailure> {
    // A hook from a newer protocol: the host applies its default.
    let Some(h) = Hook::from_name(hook) else {
        return Ok(HookResponse::UnknownHook);
    };
    let request: HookRequest = serde_json::from_str(request).map_err(|e| HookFailure {
        hook: hook.to_owned(),
        kind: FailureKind::BadRequest,
        message: e.to_string(),
    })?;
    let cx = HookContext::new(h, request);
    let host = Host::from_ffi(host);
    let (cx, host) = (&cx, &host);
    match h {
        Hook::Validate => respond(h, engine.validate(cx, host)),
        Hook::Transform => respond(h, engine.transform(cx, host)),
        Hook::ShouldSetupMaster => respond(h, engine.should_setup_master(cx, host)),
        Hook::SetupMaster => respond(h, engine.setup_master(cx, host)),
        Hook::CheckMasterReady => respond(h, engine.check_master_ready(cx, host)),
        Hook::ShouldCheckUfs => respond(h, engine.should_check_ufs(cx, host)),
        Hook::PrepareUfs => respond(h, engine.prepare_ufs(cx, host)),
        Hook::ShouldUpdateUfs => respond(h, engine.should_update_ufs(cx, host)),
        Hook::UpdateOnUfsChange => respond(h, engine.update_on_ufs_change(cx, host)),
        Hook::ShouldSetupWorkers => respond(h, engine.should_setup_workers(cx, host)),
        Hook::SetupWorkers => respond(h, engine.setup_workers(cx, host)),
        Hook::CheckWorkersReady => respond(h, engine.check_workers_ready(cx, host)),
        Hook::CheckAndUpdateRuntimeStatus => {
            respond(h, engine.check_and_update_runtime_status(cx, host))
        }
        Hook::CreateVolume => respond(h, engine.create_volume(cx, host)),
        Hook::DeleteVolume => respond(h, engine.delete_volume(cx, host)),
        Hook::SyncRuntime => respond(h, engine.sync_runtime(cx, host)),
        Hook::SyncMetadata => respond(h, engine.sync_metadata(cx, host)),
        Hook::UpdateCacheOfDataset => respond(h, engine.update_cache_of_dataset(cx, host)),
        Hook::CheckRuntimeHealthy => respond(h, engine.check_runtime_healthy(cx, host)),
        Hook::SyncReplicas => respond(h, engine.sync_replicas(cx, host)),
        Hook::UpdateDatasetStatus => respond(h, engine.update_dataset_status(cx, host)),
        Hook::Shutdown => respond(h, engine.shutdown(cx, host)),
        Hook::Operate => respond(h, engine.operate(cx, host)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn runtime_kind_comes_from_the_storage_version() {
        let crd = json!({"spec": {"group": "data.fluid.io",
            "names": {"kind": "JuiceFSRuntime", "plural": "juicefsruntimes"},
            "versions": [{"name": "v1beta1", "served": true},
                         {"name": "v1alpha1", "served": true, "storage": true}]}});
        let kind = runtime_kind_from_crd(&crd).unwrap();
        assert_eq!(kind.version, "v1alpha1");
        assert_eq!(kind.plural, "juicefsruntimes");
    }

    #[test]
    fn a_crd_without_names_is_refused_with_the_field() {
        let crd = json!({"spec": {"group": "x", "versions": [{"name": "v1", "served": true}]}});
        let err = runtime_kind_from_crd(&crd).unwrap_err();
        assert!(err.contains(".spec.names.kind"), "{err}");
    }
}
