//! Calling an engine's hooks: off the async runtime, with a timeout, with the runtime's
//! scoped host services.

use crate::metrics::Metrics;
use crate::services::{Cluster, Helm, ScopedServices};
use fluid_plugin_api::loader::{CallError, Plugin};
use fluid_plugin_api::conventions::Conventions;
use fluid_plugin_api::protocol::{Hook, HookRequest, HookResponse};
use k8s_openapi::api::core::v1::ObjectReference;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A hook that did not answer.
#[derive(Debug, thiserror::Error)]
pub enum HookCallError {
    /// The engine failed or panicked (the message names the hook).
    #[error("{0}")]
    Engine(#[from] CallError),
    /// The hook ran past its time limit (its thread is left to finish on its own).
    #[error("hook {hook} timed out after {seconds}s")]
    Timeout {
        /// The hook.
        hook: String,
        /// The limit.
        seconds: u64,
    },
    /// The hook's answer has the wrong shape for the hook.
    #[error("hook {hook} answered an unexpected shape: {reason}")]
    Output {
        /// The hook.
        hook: String,
        /// Why.
        reason: String,
    },
    /// The blocking task could not run.
    #[error("hook {hook} could not run: {reason}")]
    Join {
        /// The hook.
        hook: String,
        /// Why.
        reason: String,
    },
}

/// Calls one plugin's hooks for runtimes of its kind.
#[derive(Clone)]
pub struct HookCaller {
    /// The plugin.
    pub plugin: Arc<Plugin>,
    /// The cluster, for host services.
    pub cluster: Arc<Cluster>,
    /// Helm, for host services.
    pub helm: Arc<Helm>,
    /// Per-hook time limit.
    pub timeout: Duration,
    /// Hook latency metrics.
    pub metrics: Arc<Metrics>,
}

impl HookCaller {
    /// Runs `hook`; `Ok(None)` when the engine leaves it to the host's default.
    pub async fn call(
        &self,
        hook: Hook,
        runtime: &Value,
        dataset: Option<&Value>,
        input: Value,
    ) -> Result<Option<Value>, HookCallError> {
        let namespace = runtime["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let services = ScopedServices {
            cluster: self.cluster.clone(),
            helm: self.helm.clone(),
            handle: tokio::runtime::Handle::current(),
            namespace: namespace.clone(),
            runtime: object_ref(runtime),
            plugin: self.plugin.info().name.clone(),
            chart: self.plugin.chart(),
        };
        let request = HookRequest {
            dataset: dataset.cloned(),
            input,
            conventions: Some(self.conventions(runtime, dataset)),
            ..HookRequest::new(runtime.clone())
        };
        let plugin = self.plugin.clone();
        let started = Instant::now();
        let task =
            tokio::task::spawn_blocking(move || plugin.call(hook.as_str(), &request, &services));
        let result = tokio::time::timeout(self.timeout, task).await;
        self.metrics.observe_hook(
            &self.plugin.info().runtime.kind,
            hook.as_str(),
            started.elapsed(),
        );
        let response = match result {
            Err(_) => {
                return Err(HookCallError::Timeout {
                    hook: hook.to_string(),
                    seconds: self.timeout.as_secs(),
                })
            }
            Ok(Err(join)) => {
                return Err(HookCallError::Join {
                    hook: hook.to_string(),
                    reason: join.to_string(),
                })
            }
            Ok(Ok(r)) => r?,
        };
        Ok(match response {
            HookResponse::Done { output } => Some(output),
            HookResponse::Default | HookResponse::UnknownHook => None,
        })
    }

    /// The conventions of a runtime of this plugin's kind (what its chart values and hook
    /// requests carry).
    pub fn conventions(&self, runtime: &Value, dataset: Option<&Value>) -> Conventions {
        let info = self.plugin.info();
        Conventions::of(&info.name, info.fuse_mount_type(), runtime, dataset)
    }

    /// Runs `hook` and reads its output as `T`.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        hook: Hook,
        runtime: &Value,
        dataset: Option<&Value>,
        input: Value,
    ) -> Result<Option<T>, HookCallError> {
        self.call(hook, runtime, dataset, input)
            .await?
            .map(|v| {
                serde_json::from_value(v).map_err(|e| HookCallError::Output {
                    hook: hook.to_string(),
                    reason: e.to_string(),
                })
            })
            .transpose()
    }
}

/// A reference to an object for Events.
pub fn object_ref(object: &Value) -> ObjectReference {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str).map(str::to_owned);
    ObjectReference {
        api_version: s("/apiVersion"),
        kind: s("/kind"),
        name: s("/metadata/name"),
        namespace: s("/metadata/namespace"),
        uid: s("/metadata/uid"),
        // No resourceVersion: repeated Events about one object must group into one series.
        resource_version: None,
        field_path: None,
    }
}
