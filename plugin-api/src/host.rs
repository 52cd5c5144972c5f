//! The host services an engine calls back into: Kubernetes objects, helm, exec, events, logs.

use crate::abi::{HostFfi, HostFfiRef, HostFfi_TO};
use crate::protocol::*;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A failed host service call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("host service {service} failed ({kind:?}): {message}")]
pub struct HostError {
    /// The service called.
    pub service: String,
    /// Why it failed. [`ServiceErrorKind::Unsupported`] means the host speaks an older protocol
    /// that does not offer this service: fall back to something it offers.
    pub kind: ServiceErrorKind,
    /// What went wrong.
    pub message: String,
}

impl HostError {
    fn new(service: &str, kind: ServiceErrorKind, message: impl Into<String>) -> Self {
        Self {
            service: service.to_owned(),
            kind,
            message: message.into(),
        }
    }

    /// Whether the host does not offer the service.
    pub fn is_unsupported(&self) -> bool {
        self.kind == ServiceErrorKind::Unsupported
    }
}

/// The typed client for the host services, handed to every hook. Every call is synchronous
/// and scoped by the host to the namespace of the runtime being reconciled.
pub struct Host<'a> {
    ffi: HostFfiRef<'a>,
}

impl<'a> Host<'a> {
    /// Wraps the host object received through the ABI.
    pub fn from_ffi(ffi: HostFfiRef<'a>) -> Self {
        Self { ffi }
    }

    /// Calls a service by wire name with a raw JSON request. Use it for services newer than
    /// this crate's typed methods.
    pub fn call_raw(&self, service: &str, request: &Value) -> Result<Value, HostError> {
        let body = serde_json::to_string(request)
            .map_err(|e| HostError::new(service, ServiceErrorKind::BadRequest, e.to_string()))?;
        match self
            .ffi
            .call(RStr::from_str(service), RStr::from_str(&body))
        {
            RResult::ROk(out) => serde_json::from_str(out.as_str()).map_err(|e| {
                HostError::new(
                    service,
                    ServiceErrorKind::Failed,
                    format!("unreadable answer from the host: {e}"),
                )
            }),
            RResult::RErr(err) => Err(match serde_json::from_str::<ServiceFailure>(err.as_str()) {
                Ok(f) => HostError::new(&f.service, f.kind, f.message),
                Err(_) => HostError::new(service, ServiceErrorKind::Failed, err.to_string()),
            }),
        }
    }

    fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        service: Service,
        request: &Req,
    ) -> Result<Resp, HostError> {
        let name = service.as_str();
        let request = serde_json::to_value(request)
            .map_err(|e| HostError::new(name, ServiceErrorKind::BadRequest, e.to_string()))?;
        let answer = self.call_raw(name, &request)?;
        serde_json::from_value(answer).map_err(|e| {
            HostError::new(
                name,
                ServiceErrorKind::Failed,
                format!("unexpected answer shape: {e}"),
            )
        })
    }

    /// Reads one object; `None` when it does not exist. The hook's own runtime is answered as
    /// the controller's pass will write it (with what the hook patched with
    /// [`Host::patch_status`]).
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<Value>, HostError> {
        let resp: ObjectResponse = self.call(
            Service::Get,
            &GetRequest {
                api_version: api_version.into(),
                kind: kind.into(),
                name: name.into(),
            },
        )?;
        Ok(match resp.object {
            Value::Null => None,
            object => Some(object),
        })
    }

    /// Reads one object as a typed value (for example a `k8s_openapi` type).
    pub fn get_as<T: DeserializeOwned>(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<T>, HostError> {
        self.get(api_version, kind, name)?
            .map(|v| {
                serde_json::from_value(v).map_err(|e| {
                    HostError::new(
                        "get",
                        ServiceErrorKind::Failed,
                        format!("{kind} {name}: {e}"),
                    )
                })
            })
            .transpose()
    }

    /// Lists objects of a kind, optionally filtered by a label selector such as `app=x,role=y`.
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>, HostError> {
        let resp: ListResponse = self.call(
            Service::List,
            &ListRequest {
                api_version: api_version.into(),
                kind: kind.into(),
                label_selector: label_selector.map(Into::into),
            },
        )?;
        Ok(resp.items)
    }

    /// Server-side applies an object with the host's field manager; returns the result.
    pub fn apply(&self, object: Value) -> Result<Value, HostError> {
        let resp: ObjectResponse = self.call(Service::Apply, &ApplyRequest { object })?;
        Ok(resp.object)
    }

    /// Deletes an object; `false` when it was already gone.
    pub fn delete(&self, api_version: &str, kind: &str, name: &str) -> Result<bool, HostError> {
        let resp: DeleteResponse = self.call(
            Service::Delete,
            &DeleteRequest {
                api_version: api_version.into(),
                kind: kind.into(),
                name: name.into(),
            },
        )?;
        Ok(resp.deleted)
    }

    /// Merges `status` into the status subresource of an object. For the hook's own runtime
    /// the fields join the status the controller writes at the end of its pass (one write per
    /// pass; an older host writes them at once: the status ends the same).
    pub fn patch_status(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        status: Value,
    ) -> Result<Value, HostError> {
        let resp: ObjectResponse = self.call(
            Service::PatchStatus,
            &PatchStatusRequest {
                api_version: api_version.into(),
                kind: kind.into(),
                name: name.into(),
                status,
            },
        )?;
        Ok(resp.object)
    }

    /// Installs or upgrades a Helm release of the plugin's chart (or the chart in the request).
    pub fn helm_install(
        &self,
        request: &HelmInstallRequest,
    ) -> Result<HelmReleaseStatus, HostError> {
        self.call(Service::HelmInstall, request)
    }

    /// Upgrades an existing Helm release.
    pub fn helm_upgrade(
        &self,
        request: &HelmInstallRequest,
    ) -> Result<HelmReleaseStatus, HostError> {
        self.call(Service::HelmUpgrade, request)
    }

    /// Uninstalls a Helm release; `false` when there was none.
    pub fn helm_uninstall(&self, release: &str) -> Result<bool, HostError> {
        let resp: HelmUninstallResponse = self.call(
            Service::HelmUninstall,
            &HelmReleaseRequest {
                release: release.into(),
            },
        )?;
        Ok(resp.uninstalled)
    }

    /// Reads a Helm release's status.
    pub fn helm_status(&self, release: &str) -> Result<HelmReleaseStatus, HostError> {
        self.call(
            Service::HelmStatus,
            &HelmReleaseRequest {
                release: release.into(),
            },
        )
    }

    /// Runs a command in a pod's container.
    pub fn exec(&self, request: &ExecRequest) -> Result<ExecResponse, HostError> {
        self.call(Service::Exec, request)
    }

    /// Records a Kubernetes Event on the runtime.
    pub fn event(
        &self,
        event_type: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), HostError> {
        let _: Value = self.call(
            Service::Event,
            &EventRequest {
                event_type,
                reason: reason.into(),
                message: message.into(),
            },
        )?;
        Ok(())
    }

    /// Writes a line to the controller's log, tagged with the plugin and the runtime.
    pub fn log(&self, level: LogLevel, message: &str) -> Result<(), HostError> {
        let _: Value = self.call(
            Service::Log,
            &LogRequest {
                level,
                message: message.into(),
            },
        )?;
        Ok(())
    }
}

/// The host side of the services: what answers an engine's [`Host`] calls.
///
/// The controller implements it against the cluster; an engine's unit tests can implement it
/// with canned answers and run hooks through [`with_host`].
pub trait ServiceHandler: Sync {
    /// Serves one call. `service` may be a name this host does not know: answer
    /// [`ServiceErrorKind::Unsupported`].
    fn call(&self, service: &str, request: &str) -> Result<String, ServiceFailure>;
}

/// Adapts a [`ServiceHandler`] to the binary interface, catching its panics.
struct HandlerFfi<'a> {
    handler: &'a dyn ServiceHandler,
}

impl HostFfi for HandlerFfi<'_> {
    fn call(&self, service: RStr<'_>, request: RStr<'_>) -> RResult<RString, RString> {
        let service = service.as_str();
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.handler.call(service, request.as_str())
        }))
        .unwrap_or_else(|payload| {
            Err(ServiceFailure {
                service: service.to_owned(),
                kind: ServiceErrorKind::Panicked,
                message: crate::export::panic_message(payload.as_ref()),
            })
        });
        match result {
            Ok(body) => RResult::ROk(body.into()),
            Err(failure) => RResult::RErr(
                serde_json::to_string(&failure)
                    .unwrap_or_else(|_| failure.to_string())
                    .into(),
            ),
        }
    }
}

/// Runs `f` with a [`HostFfiRef`] serving calls through `handler`: how the host hands its
/// services to a plugin's `call`, and how a test builds a [`Host`].
pub fn with_host_ffi<R>(handler: &dyn ServiceHandler, f: impl FnOnce(HostFfiRef<'_>) -> R) -> R {
    let adapter = HandlerFfi { handler };
    f(HostFfi_TO::from_const(&adapter, TD_Opaque))
}

/// Runs `f` with a [`Host`] served by `handler`, for unit tests of an engine's hooks.
pub fn with_host<R>(handler: &dyn ServiceHandler, f: impl FnOnce(&Host<'_>) -> R) -> R {
    with_host_ffi(handler, |ffi| f(&Host::from_ffi(ffi)))
}
