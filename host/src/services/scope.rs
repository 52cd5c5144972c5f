//! One runtime's view of the host services: what a hook's `Host` calls reach.

use super::cluster::{Cluster, ClusterError};
use super::helm::{Chart, Helm, HelmError, Install};
use super::host_ports::HostPorts;
use crate::lifecycle::Ownership;
use base64::Engine as _;
use fluid_plugin_api::protocol::*;
use fluid_plugin_api::ServiceHandler;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::ApiResource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest an exec may run when the engine does not say.
const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether the hook holding a [`ScopedServices`] is still within its time limit. The hook
/// caller expires it when it stops waiting for the hook; from then on the hook's calls into
/// the host are refused: its answer will be thrown away, and what it would still write races
/// the runtime's next pass.
#[derive(Clone, Debug)]
pub struct Expiry {
    state: Arc<AtomicU8>,
    hook: Hook,
    limit: Duration,
}

const RUNNING: u8 = 0;
const EXPIRED: u8 = 1;
const FINISHED: u8 = 2;

impl Expiry {
    /// A running call of `hook` with time limit `limit`.
    pub fn new(hook: Hook, limit: Duration) -> Self {
        Self {
            state: Arc::new(AtomicU8::new(RUNNING)),
            hook,
            limit,
        }
    }

    /// The deadline passed: `true` when the hook was still running (it is now stuck), `false`
    /// when it had just returned.
    pub fn expire(&self) -> bool {
        self.state
            .compare_exchange(RUNNING, EXPIRED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The hook returned: `true` when it had been expired (it was stuck until now).
    pub fn finish(&self) -> bool {
        self.state.swap(FINISHED, Ordering::AcqRel) == EXPIRED
    }

    /// Whether the hook is running past its deadline.
    pub fn is_expired(&self) -> bool {
        self.state.load(Ordering::Acquire) == EXPIRED
    }
}

/// Serves the host services for hooks of one runtime: every call is confined to the runtime's
/// namespace; writes to cluster-scoped kinds are refused (the controller owns those: PVs);
/// Secret values are never handed to engines (keys are, values are blanked); nothing is served
/// once the hook ran past its deadline.
#[derive(Clone)]
pub struct ScopedServices {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// Helm.
    pub helm: Arc<Helm>,
    /// The async runtime the calls run on.
    pub handle: tokio::runtime::Handle,
    /// The runtime's namespace.
    pub namespace: String,
    /// The runtime, for Events and log lines.
    pub runtime: ObjectReference,
    /// The engine's name, for log lines and chart files.
    pub plugin: String,
    /// The engine's own chart.
    pub chart: &'static [u8],
    /// The hook call these services were given to.
    pub expiry: Expiry,
    /// The host-network ports of every runtime.
    pub ports: Arc<HostPorts>,
    /// The runtime as the reconciling pass sees it, when a pass called the hook: its own
    /// status patches then join the pass's status write.
    pub own: Option<OwnRuntime>,
}

/// The hook's own runtime during a pass: what `get` of it answers (the runtime as the pass
/// will write it) and the status fields the hook patched on it, which the pass writes with its
/// own status, in its one write per pass (a patch of its own would be a second write, and
/// would race the pass's).
#[derive(Clone, Debug)]
pub struct OwnRuntime {
    /// The runtime as the hook request carries it.
    pub view: Value,
    /// The status fields patched so far in this pass.
    pub patched: StatusPatches,
}

/// Status fields hooks patched on their own runtime during one pass.
#[derive(Clone, Debug, Default)]
pub struct StatusPatches(Arc<std::sync::Mutex<serde_json::Map<String, Value>>>);

impl StatusPatches {
    /// Adds a patch's fields (later patches win).
    fn merge(&self, fields: &serde_json::Map<String, Value>) {
        if let Ok(mut m) = self.0.lock() {
            m.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }

    /// The fields patched so far.
    pub fn fields(&self) -> serde_json::Map<String, Value> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl OwnRuntime {
    /// Whether `(api_version, kind, name)` is this runtime.
    fn is(&self, api_version: &str, kind: &str, name: &str) -> bool {
        self.view["apiVersion"] == api_version
            && self.view["kind"] == kind
            && self.view["metadata"]["name"] == name
    }

    /// The runtime with the status fields patched so far.
    fn current(&self) -> Value {
        let mut v = self.view.clone();
        if !v["status"].is_object() {
            v["status"] = Value::Object(Default::default());
        }
        if let Some(status) = v["status"].as_object_mut() {
            status.extend(self.patched.fields());
        }
        v
    }
}

fn failure(service: &str, kind: ServiceErrorKind, message: impl Into<String>) -> ServiceFailure {
    ServiceFailure {
        service: service.to_owned(),
        kind,
        message: message.into(),
    }
}

fn from_cluster(service: &str, e: ClusterError) -> ServiceFailure {
    let kind = match &e {
        ClusterError::BadRequest(_) => ServiceErrorKind::BadRequest,
        ClusterError::NotFound(_) => ServiceErrorKind::NotFound,
        ClusterError::Api { .. } | ClusterError::Failed(_) => ServiceErrorKind::Failed,
    };
    failure(service, kind, e.to_string())
}

fn from_helm(service: &str, e: HelmError) -> ServiceFailure {
    let kind = match &e {
        HelmError::OutOfScope { .. } => ServiceErrorKind::BadRequest,
        _ => ServiceErrorKind::Failed,
    };
    failure(service, kind, e.to_string())
}

/// Blanks the values of a Secret: engines reference secrets, they never read them. The keys
/// stay (engines check that a referenced key exists). `kubectl apply` keeps a copy of the whole
/// object, values included, in an annotation: blanked too.
fn redact_secret(mut object: Value) -> Value {
    for field in ["data", "stringData"] {
        if let Some(map) = object.get_mut(field).and_then(Value::as_object_mut) {
            for v in map.values_mut() {
                *v = Value::String(String::new());
            }
        }
    }
    if let Some(copy) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.get_mut(LAST_APPLIED))
    {
        *copy = Value::String(String::new());
    }
    object
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether a resource is the Secrets of the core group. Decided on the resource the request
/// named, as resolved by discovery: list items and some answers carry no apiVersion/kind.
fn is_secret(resource: &ApiResource) -> bool {
    resource.group.is_empty() && resource.plural == "secrets"
}

impl ScopedServices {
    fn parse<T: DeserializeOwned>(service: &str, request: &str) -> Result<T, ServiceFailure> {
        serde_json::from_str(request)
            .map_err(|e| failure(service, ServiceErrorKind::BadRequest, e.to_string()))
    }

    fn answer<T: Serialize>(service: &str, value: T) -> Result<String, ServiceFailure> {
        serde_json::to_string(&value)
            .map_err(|e| failure(service, ServiceErrorKind::Failed, e.to_string()))
    }

    /// What objects of a requested kind look like to an engine: Secrets without values.
    async fn redactor(
        &self,
        service: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<fn(Value) -> Value, ServiceFailure> {
        let (resource, _) = self
            .cluster
            .resource(api_version, kind)
            .await
            .map_err(|e| from_cluster(service, e))?;
        Ok(if is_secret(&resource) {
            redact_secret
        } else {
            std::convert::identity
        })
    }

    /// Refuses to change a release installed by someone else: a user's application, or
    /// another runtime's engine. A release is ours when its records carry this runtime's uid
    /// (`--labels` at install); one that does not exist yet may be installed.
    async fn release_not_foreign(
        &self,
        service: &str,
        release: &str,
    ) -> Result<(), ServiceFailure> {
        let uid = self.runtime.uid.as_deref().unwrap_or_default();
        let index = self
            .cluster
            .release(&self.namespace, release)
            .await
            .map_err(|e| from_cluster(service, e))?;
        match index.ownership(uid) {
            Ownership::Foreign(why) => Err(failure(
                service,
                ServiceErrorKind::BadRequest,
                format!("{why}: engines may only change the releases the host installed for their runtime"),
            )),
            Ownership::Ours | Ownership::Absent => Ok(()),
        }
    }

    async fn namespaced_only(
        &self,
        service: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<(), ServiceFailure> {
        let (_, namespaced) = self
            .cluster
            .resource(api_version, kind)
            .await
            .map_err(|e| from_cluster(service, e))?;
        if namespaced {
            Ok(())
        } else {
            Err(failure(service, ServiceErrorKind::BadRequest, format!("{kind} is cluster-scoped; engines may only change objects of their runtime's namespace")))
        }
    }

    /// The chart of a helm request: the one it carries, else the plugin's.
    fn chart_for(
        &self,
        service: &str,
        req: &HelmInstallRequest,
    ) -> Result<std::borrow::Cow<'static, [u8]>, ServiceFailure> {
        match &req.chart_base64 {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| {
                    failure(
                        service,
                        ServiceErrorKind::BadRequest,
                        format!("chartBase64: {e}"),
                    )
                }),
            None if self.chart.is_empty() => Err(failure(
                service,
                ServiceErrorKind::BadRequest,
                format!(
                    "plugin {} has no chart and the request carries none",
                    self.plugin
                ),
            )),
            None => Ok(std::borrow::Cow::Borrowed(self.chart)),
        }
    }

    async fn serve(&self, service: &str, request: &str) -> Result<String, ServiceFailure> {
        let ns = self.namespace.as_str();
        let Some(known) = Service::from_name(service) else {
            return Err(failure(
                service,
                ServiceErrorKind::Unsupported,
                format!(
                    "this controller (protocol {}) does not offer {service}",
                    ProtocolVersion::CURRENT
                ),
            ));
        };
        match known {
            Service::Get => {
                let r: GetRequest = Self::parse(service, request)?;
                if let Some(own) = self
                    .own
                    .as_ref()
                    .filter(|o| o.is(&r.api_version, &r.kind, &r.name))
                {
                    return Self::answer(
                        service,
                        ObjectResponse {
                            object: own.current(),
                        },
                    );
                }
                let redact = self.redactor(service, &r.api_version, &r.kind).await?;
                let o = self
                    .cluster
                    .get(ns, &r.api_version, &r.kind, &r.name)
                    .await
                    .map_err(|e| from_cluster(service, e))?;
                Self::answer(
                    service,
                    ObjectResponse {
                        object: o.map(redact).unwrap_or(Value::Null),
                    },
                )
            }
            Service::List => {
                let r: ListRequest = Self::parse(service, request)?;
                let redact = self.redactor(service, &r.api_version, &r.kind).await?;
                let items = self
                    .cluster
                    .list(ns, &r.api_version, &r.kind, r.label_selector.as_deref())
                    .await
                    .map_err(|e| from_cluster(service, e))?;
                Self::answer(
                    service,
                    ListResponse {
                        items: items.into_iter().map(redact).collect(),
                    },
                )
            }
            Service::Apply => {
                let r: ApplyRequest = Self::parse(service, request)?;
                let (av, kind, _) =
                    super::cluster::identity(&r.object).map_err(|e| from_cluster(service, e))?;
                self.namespaced_only(service, &av, &kind).await?;
                let redact = self.redactor(service, &av, &kind).await?;
                if let Some(other) = r.object["metadata"]["namespace"]
                    .as_str()
                    .filter(|n| *n != ns)
                {
                    return Err(failure(
                        service,
                        ServiceErrorKind::BadRequest,
                        format!("namespace {other} is not the runtime's namespace {ns}"),
                    ));
                }
                let o = self
                    .cluster
                    .apply(ns, r.object)
                    .await
                    .map_err(|e| from_cluster(service, e))?;
                Self::answer(service, ObjectResponse { object: redact(o) })
            }
            Service::Delete => {
                let r: DeleteRequest = Self::parse(service, request)?;
                self.namespaced_only(service, &r.api_version, &r.kind)
                    .await?;
                let deleted = self
                    .cluster
                    .delete(ns, &r.api_version, &r.kind, &r.name)
                    .await
                    .map_err(|e| from_cluster(service, e))?;
                Self::answer(service, DeleteResponse { deleted })
            }
            Service::PatchStatus => {
                let r: PatchStatusRequest = Self::parse(service, request)?;
                if let Some(own) = self
                    .own
                    .as_ref()
                    .filter(|o| o.is(&r.api_version, &r.kind, &r.name))
                {
                    if let Some(fields) = r.status.as_object() {
                        own.patched.merge(fields);
                        return Self::answer(
                            service,
                            ObjectResponse {
                                object: own.current(),
                            },
                        );
                    }
                }
                self.namespaced_only(service, &r.api_version, &r.kind)
                    .await?;
                let redact = self.redactor(service, &r.api_version, &r.kind).await?;
                let o = self
                    .cluster
                    .patch_status(ns, &r.api_version, &r.kind, &r.name, r.status)
                    .await
                    .map_err(|e| from_cluster(service, e))?;
                Self::answer(service, ObjectResponse { object: redact(o) })
            }
            Service::HelmInstall | Service::HelmUpgrade => {
                let r: HelmInstallRequest = Self::parse(service, request)?;
                self.release_not_foreign(service, &r.release).await?;
                let chart = self.chart_for(service, &r)?;
                let uid = self.runtime.uid.clone().unwrap_or_default();
                let s = self
                    .helm
                    .upgrade(
                        ns,
                        &r.release,
                        Chart {
                            name: &self.plugin,
                            tgz: &chart,
                        },
                        &r.values,
                        if known == Service::HelmInstall {
                            Install::Yes
                        } else {
                            Install::No
                        },
                        &[(crate::controller::caches::RUNTIME_UID_LABEL, &uid)],
                    )
                    .await
                    .map_err(|e| from_helm(service, e))?;
                Self::answer(
                    service,
                    HelmReleaseStatus {
                        exists: true,
                        status: s.status,
                        revision: s.revision,
                    },
                )
            }
            Service::HelmUninstall => {
                let r: HelmReleaseRequest = Self::parse(service, request)?;
                self.release_not_foreign(service, &r.release).await?;
                let uninstalled = self
                    .helm
                    .uninstall(ns, &r.release)
                    .await
                    .map_err(|e| from_helm(service, e))?;
                Self::answer(service, HelmUninstallResponse { uninstalled })
            }
            Service::HelmStatus => {
                let r: HelmReleaseRequest = Self::parse(service, request)?;
                let s = self
                    .helm
                    .status(ns, &r.release)
                    .await
                    .map_err(|e| from_helm(service, e))?;
                Self::answer(
                    service,
                    match s {
                        Some(s) => HelmReleaseStatus {
                            exists: true,
                            status: s.status,
                            revision: s.revision,
                        },
                        None => HelmReleaseStatus {
                            exists: false,
                            status: String::new(),
                            revision: 0,
                        },
                    },
                )
            }
            Service::Exec => {
                let r: ExecRequest = Self::parse(service, request)?;
                let limit = r
                    .timeout_seconds
                    .map(Duration::from_secs)
                    .unwrap_or(DEFAULT_EXEC_TIMEOUT);
                let run = self
                    .cluster
                    .exec(ns, &r.pod, r.container.as_deref(), &r.command);
                let (stdout, stderr, exit_code) = tokio::time::timeout(limit, run)
                    .await
                    .map_err(|_| {
                        failure(
                            service,
                            ServiceErrorKind::Failed,
                            format!("exec in pod {} timed out after {}s", r.pod, limit.as_secs()),
                        )
                    })?
                    .map_err(|e| from_cluster(service, e))?;
                Self::answer(
                    service,
                    ExecResponse {
                        stdout,
                        stderr,
                        exit_code,
                    },
                )
            }
            Service::Event => {
                let r: EventRequest = Self::parse(service, request)?;
                self.cluster
                    .event(
                        &self.runtime,
                        r.event_type == EventType::Warning,
                        &r.reason,
                        &r.message,
                    )
                    .await;
                Self::answer(service, json!({}))
            }
            Service::AllocatePorts => {
                let r: AllocatePortsRequest = Self::parse(service, request)?;
                let uid = self.runtime.uid.as_deref().unwrap_or_default();
                if uid.is_empty() {
                    return Err(failure(
                        service,
                        ServiceErrorKind::BadRequest,
                        "the runtime has no uid yet: ports are held by a runtime's uid",
                    ));
                }
                let ports = self
                    .ports
                    .allocate(uid, usize::from(r.count))
                    .map_err(|e| failure(service, ServiceErrorKind::Failed, e.to_string()))?;
                Self::answer(service, AllocatePortsResponse { ports })
            }
            Service::Log => {
                let r: LogRequest = Self::parse(service, request)?;
                let rt = format!(
                    "{}/{}",
                    ns,
                    self.runtime.name.as_deref().unwrap_or_default()
                );
                match r.level {
                    LogLevel::Error => {
                        tracing::error!(plugin = %self.plugin, runtime = %rt, "{}", r.message)
                    }
                    LogLevel::Warn => {
                        tracing::warn!(plugin = %self.plugin, runtime = %rt, "{}", r.message)
                    }
                    LogLevel::Info => {
                        tracing::info!(plugin = %self.plugin, runtime = %rt, "{}", r.message)
                    }
                    LogLevel::Debug => {
                        tracing::debug!(plugin = %self.plugin, runtime = %rt, "{}", r.message)
                    }
                }
                Self::answer(service, json!({}))
            }
        }
    }
}

impl ServiceHandler for ScopedServices {
    /// Called on the hook's blocking thread: blocks it on the controller's runtime.
    fn call(&self, service: &str, request: &str) -> Result<String, ServiceFailure> {
        if self.expiry.is_expired() {
            return Err(failure(
                service,
                ServiceErrorKind::Failed,
                format!(
                    "hook {} ran past its {}s deadline: the controller no longer serves its \
                     calls",
                    self.expiry.hook,
                    self.expiry.limit.as_secs()
                ),
            ));
        }
        self.handle.block_on(self.serve(service, request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Services of runtime `ns/-` reaching no API server (there is none at that address),
    /// on a runtime of their own.
    fn offline(hook: Hook, own: Option<OwnRuntime>) -> (tokio::runtime::Runtime, ScopedServices) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let client = rt
            .block_on(async {
                kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap()))
            })
            .unwrap();
        let services = ScopedServices {
            cluster: Arc::new(Cluster::new(client, None)),
            helm: Arc::new(Helm::new("helm".into(), std::env::temp_dir())),
            handle: rt.handle().clone(),
            namespace: "ns".into(),
            runtime: ObjectReference::default(),
            plugin: "engine".into(),
            chart: &[],
            expiry: Expiry::new(hook, Duration::from_secs(120)),
            own,
            ports: Arc::new(HostPorts::new(crate::ports::DEFAULT_RANGE)),
        };
        (rt, services)
    }

    #[test]
    fn calls_after_the_deadline_are_refused_naming_the_hook() {
        // `log` is served locally.
        let (_rt, services) = offline(Hook::Validate, None);
        let log = r#"{"level": "info", "message": "still here"}"#;
        assert_eq!(services.call("log", log), Ok("{}".to_owned()));
        assert!(services.expiry.expire());
        let err = services.call("log", log).unwrap_err();
        assert_eq!(
            err.message,
            "hook validate ran past its 120s deadline: the controller no longer serves its calls"
        );
        assert!(services.expiry.finish(), "it was stuck until it returned");
        assert!(!services.expiry.expire(), "a finished hook is never stuck");
    }

    #[test]
    fn a_pass_s_own_runtime_is_read_and_status_patched_within_the_pass() {
        let patched = StatusPatches::default();
        let view = json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "JuiceFSRuntime",
            "metadata": {"name": "demo", "namespace": "ns"}, "status": {"valueFile": "v"}});
        let own = OwnRuntime {
            view,
            patched: patched.clone(),
        };
        let (_rt, services) = offline(Hook::CheckRuntimeHealthy, Some(own));
        let get =
            r#"{"apiVersion": "data.fluid.io/v1alpha1", "kind": "JuiceFSRuntime", "name": "demo"}"#;
        let got: Value = serde_json::from_str(&services.call("get", get).unwrap()).unwrap();
        assert_eq!(got["object"]["status"]["valueFile"], "v");
        let patch = r#"{"apiVersion": "data.fluid.io/v1alpha1", "kind": "JuiceFSRuntime", "name": "demo",
            "status": {"selector": "app=juicefs"}}"#;
        let answer: Value =
            serde_json::from_str(&services.call("patch_status", patch).unwrap()).unwrap();
        assert_eq!(answer["object"]["status"]["selector"], "app=juicefs");
        assert_eq!(answer["object"]["status"]["valueFile"], "v");
        let got: Value = serde_json::from_str(&services.call("get", get).unwrap()).unwrap();
        assert_eq!(got["object"]["status"]["selector"], "app=juicefs");
        assert_eq!(patched.fields()["selector"], "app=juicefs");
        // Another runtime of the same kind is not the pass's: it goes to the API server.
        let other = r#"{"apiVersion": "data.fluid.io/v1alpha1", "kind": "JuiceFSRuntime", "name": "other"}"#;
        assert!(services.call("get", other).is_err());
    }

    #[test]
    fn secret_values_never_reach_engines() {
        let s = redact_secret(json!({"metadata": {"name": "s", "annotations": {
                LAST_APPLIED: "{\"data\":{\"metaurl\":\"cmVkaXM6Ly8=\"}}", "team": "a"}},
            "data": {"metaurl": "cmVkaXM6Ly8="}, "stringData": {"token": "t0ps3cret"}}));
        assert_eq!(s["data"]["metaurl"], "");
        assert_eq!(s["stringData"]["token"], "");
        assert_eq!(s["metadata"]["annotations"][LAST_APPLIED], "");
        assert_eq!(s["metadata"]["annotations"]["team"], "a");
        let resource = |group: &str, plural: &str| ApiResource {
            group: group.into(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: String::new(),
            plural: plural.into(),
        };
        assert!(is_secret(&resource("", "secrets")));
        assert!(!is_secret(&resource("", "configmaps")));
        assert!(!is_secret(&resource("example.com", "secrets")));
    }
}
