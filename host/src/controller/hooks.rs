//! Calling an engine's hooks: off the async runtime, with a timeout, with the runtime's
//! scoped host services, on a bounded set of threads per plugin.
//!
//! A hook that runs past its time limit cannot be stopped (a thread cannot be killed), so its
//! thread keeps the plugin's permit until the hook really returns: a plugin whose hooks hang
//! ends up holding its own permits, never the blocking pool the other plugins share. A runtime
//! has at most one call at a time: the next one is refused until the previous returned. A
//! hook's calls into the host are refused once it is past its deadline.

use super::ControllerConfig;
use crate::metrics::Metrics;
use crate::services::{
    Cluster, Expiry, Helm, HostPorts, OwnRuntime, ScopedServices, StatusPatches,
};
use fluid_plugin_api::conventions::Conventions;
use fluid_plugin_api::loader::{CallError, Plugin};
use fluid_plugin_api::protocol::{Hook, HookRequest, HookResponse};
use k8s_openapi::api::core::v1::ObjectReference;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    /// The runtime's previous hook call has not returned yet (it may be past its deadline).
    #[error(
        "hook {hook} of {runtime} is still running, started {seconds}s ago{past}; no other hook \
         is called for this runtime until it returns"
    )]
    StillRunning {
        /// The hook still running.
        hook: String,
        /// The runtime, `namespace/name`.
        runtime: String,
        /// How long it has been running.
        seconds: u64,
        /// ` (past its deadline)` when it is.
        past: &'static str,
    },
    /// Every hook thread of the plugin is held by a call past its deadline.
    #[error(
        "plugin {plugin}: all {threads} of its hook threads are held by hooks past their \
         deadline (the oldest: {oldest}); its runtimes are served again when they return \
         (restart the controller once the plugin is fixed)"
    )]
    Stuck {
        /// The plugin.
        plugin: String,
        /// Its hook thread limit.
        threads: usize,
        /// The longest-running stuck call: hook, runtime, how long.
        oldest: String,
    },
    /// No hook thread of the plugin became free within the time limit.
    #[error(
        "plugin {plugin}: none of its {threads} hook threads became free within {seconds}s; \
         hook {hook} was not called"
    )]
    Busy {
        /// The plugin.
        plugin: String,
        /// The hook not called.
        hook: String,
        /// Its hook thread limit.
        threads: usize,
        /// How long it waited.
        seconds: u64,
    },
}

/// Hook threads per plugin for `concurrency` runtimes reconciled at once: room for as many
/// hung calls as live ones before the plugin's runtimes wait.
pub fn hook_threads(concurrency: u16) -> usize {
    (2 * usize::from(concurrency)).max(4)
}

/// One runtime's call, from before it waits for a thread until its thread returns.
#[derive(Clone)]
struct Running {
    hook: Hook,
    started: Instant,
    expiry: Expiry,
}

/// The hook threads of one plugin: a fixed number of permits, and the call of each runtime.
pub struct HookThreads {
    plugin: String,
    limit: usize,
    permits: Arc<Semaphore>,
    running: Mutex<HashMap<String, Running>>,
    metrics: Arc<Metrics>,
}

impl HookThreads {
    /// `limit` threads for `plugin`'s hooks.
    pub fn new(plugin: &str, limit: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        metrics.hook_thread_limit(plugin, limit);
        Arc::new(Self {
            plugin: plugin.to_owned(),
            limit,
            permits: Arc::new(Semaphore::new(limit)),
            running: Mutex::default(),
            metrics,
        })
    }

    /// Takes `runtime`'s slot for a call of `hook`, or says why not.
    fn reserve(
        self: &Arc<Self>,
        runtime: &str,
        hook: Hook,
        expiry: &Expiry,
    ) -> Result<Slot, HookCallError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = running.get(runtime) {
            return Err(HookCallError::StillRunning {
                hook: r.hook.to_string(),
                runtime: runtime.to_owned(),
                seconds: r.started.elapsed().as_secs(),
                past: if r.expiry.is_expired() {
                    " (past its deadline)"
                } else {
                    ""
                },
            });
        }
        let stuck: Vec<(&String, &Running)> = running
            .iter()
            .filter(|(_, r)| r.expiry.is_expired())
            .collect();
        if stuck.len() >= self.limit {
            let oldest = stuck
                .iter()
                .max_by_key(|(_, r)| r.started.elapsed())
                .map(|(rt, r)| {
                    format!("{} of {rt}, for {}s", r.hook, r.started.elapsed().as_secs())
                })
                .unwrap_or_default();
            return Err(HookCallError::Stuck {
                plugin: self.plugin.clone(),
                threads: self.limit,
                oldest,
            });
        }
        running.insert(
            runtime.to_owned(),
            Running {
                hook,
                started: Instant::now(),
                expiry: expiry.clone(),
            },
        );
        Ok(Slot {
            threads: self.clone(),
            runtime: runtime.to_owned(),
            expiry: expiry.clone(),
            started: false,
        })
    }
}

/// A runtime's place among the running calls; released when dropped, which the blocking
/// thread does when the hook returns (or the caller, when no thread was started).
struct Slot {
    threads: Arc<HookThreads>,
    runtime: String,
    expiry: Expiry,
    /// Whether a thread was started (counted in flight).
    started: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self
            .threads
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        running.remove(&self.runtime);
        if self.started {
            let was_stuck = self.expiry.finish();
            self.threads
                .metrics
                .hook_returned(&self.threads.plugin, was_stuck);
        }
    }
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
    /// The plugin's hook threads, shared by every clone.
    pub threads: Arc<HookThreads>,
    /// The host-network ports, shared by every plugin.
    pub ports: Arc<HostPorts>,
}

impl HookCaller {
    /// A caller of `plugin`'s hooks with the time limit of `config` and
    /// [`hook_threads`]`(config.concurrency)` threads.
    pub fn new(
        plugin: Arc<Plugin>,
        cluster: Arc<Cluster>,
        helm: Arc<Helm>,
        config: &ControllerConfig,
        metrics: Arc<Metrics>,
        ports: Arc<HostPorts>,
    ) -> Self {
        let threads = HookThreads::new(
            &plugin.info().name,
            hook_threads(config.concurrency),
            metrics.clone(),
        );
        Self {
            plugin,
            cluster,
            helm,
            timeout: config.hook_timeout,
            metrics,
            threads,
            ports,
        }
    }

    /// Runs `hook`; `Ok(None)` when the engine leaves it to the host's default.
    pub async fn call(
        &self,
        hook: Hook,
        runtime: &Value,
        dataset: Option<&Value>,
        input: Value,
    ) -> Result<Option<Value>, HookCallError> {
        self.call_in_pass(hook, runtime, dataset, input, None).await
    }

    /// [`Self::call`] for a pass: the hook's status patches of its own runtime go to
    /// `patched`, for the pass to write with its status.
    pub async fn call_in_pass(
        &self,
        hook: Hook,
        runtime: &Value,
        dataset: Option<&Value>,
        input: Value,
        patched: Option<&StatusPatches>,
    ) -> Result<Option<Value>, HookCallError> {
        if !declared(&self.plugin.info().hooks, hook) {
            return Ok(None);
        }
        let namespace = runtime["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let key = format!(
            "{namespace}/{}",
            runtime["metadata"]["name"].as_str().unwrap_or_default()
        );
        let expiry = Expiry::new(hook, self.timeout);
        let mut slot = self.threads.reserve(&key, hook, &expiry)?;
        let permit: OwnedSemaphorePermit =
            match tokio::time::timeout(self.timeout, self.threads.permits.clone().acquire_owned())
                .await
            {
                Ok(Ok(permit)) => permit,
                // The semaphore is never closed: only the wait can fail.
                _ => {
                    return Err(HookCallError::Busy {
                        plugin: self.plugin.info().name.clone(),
                        hook: hook.to_string(),
                        threads: self.threads.limit,
                        seconds: self.timeout.as_secs(),
                    })
                }
            };
        let services = ScopedServices {
            cluster: self.cluster.clone(),
            helm: self.helm.clone(),
            handle: tokio::runtime::Handle::current(),
            namespace: namespace.clone(),
            runtime: object_ref(runtime),
            plugin: self.plugin.info().name.clone(),
            chart: self.plugin.chart(),
            expiry: expiry.clone(),
            own: patched.map(|p| OwnRuntime {
                view: runtime.clone(),
                patched: p.clone(),
            }),
            ports: self.ports.clone(),
        };
        let request = HookRequest {
            dataset: dataset.cloned(),
            input,
            conventions: Some(self.conventions(runtime, dataset)),
            ..HookRequest::new(runtime.clone())
        };
        let plugin = self.plugin.clone();
        let started = Instant::now();
        self.metrics.hook_started(&self.plugin.info().name);
        slot.started = true;
        let task = tokio::task::spawn_blocking(move || {
            let answer = plugin.call(hook.as_str(), &request, &services);
            // The thread is free only now, however long ago the caller stopped waiting.
            drop((slot, permit));
            answer
        });
        let result = tokio::time::timeout(self.timeout, task).await;
        self.metrics.observe_hook(
            &self.plugin.info().runtime.kind,
            hook.as_str(),
            started.elapsed(),
        );
        let response = match result {
            Err(_) => {
                if expiry.expire() {
                    self.metrics.hook_stuck(&self.plugin.info().name);
                }
                return Err(HookCallError::Timeout {
                    hook: hook.to_string(),
                    seconds: self.timeout.as_secs(),
                });
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
        patched: Option<&StatusPatches>,
    ) -> Result<Option<T>, HookCallError> {
        self.call_in_pass(hook, runtime, dataset, input, patched)
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

/// Whether a call of `hook` can answer anything but the host's default: the plugin lists the
/// hooks it implements (`PluginInfo::hooks`, the SDK's `#[hooks]`), and a hook not listed
/// costs no request serialised, no thread and no parse in the plugin (a Bound runtime's sync
/// asks seven hooks; JuiceFS implements three of them). An empty list is no promise (an SDK
/// engine without `#[hooks]` lists nothing): every hook is called.
fn declared(hooks: &[String], hook: Hook) -> bool {
    hooks.is_empty() || hooks.iter().any(|h| h == hook.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_hooks_are_called_when_the_plugin_lists_any() {
        let listed = vec!["sync_metadata".to_owned(), "transform".to_owned()];
        assert!(declared(&listed, Hook::SyncMetadata));
        assert!(declared(&listed, Hook::Transform));
        assert!(!declared(&listed, Hook::SyncReplicas));
        assert!(!declared(&listed, Hook::UpdateDatasetStatus));
        // Nothing listed: no promise, every hook is called.
        assert!(declared(&[], Hook::SyncReplicas));
    }
}
