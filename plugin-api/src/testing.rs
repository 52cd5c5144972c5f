//! Testing an engine without a cluster (cargo feature `testing`, for `[dev-dependencies]`):
//!
//! * [`HookContextBuilder`]: the [`HookContext`] the controller would hand a hook, conventions
//!   included, computed by the controller's own code;
//! * [`ScriptedHost`]: the host services, answering from objects you give it and recording
//!   every call, to run hooks that call back into the controller;
//! * [`Chart`]: your chart rendered by `helm template` with exactly the values the controller
//!   would install it with (its own values overlaid with your `transform`), and checked
//!   against what the controller relies on.
//!
//! ```ignore
//! use fluid_plugin_api::testing::{Chart, HookContextBuilder, ScriptedHost};
//! use fluid_plugin_api::{Engine, Hook, Outcome};
//!
//! let sample = HookContextBuilder::new("vendorfs", &runtime).dataset(&dataset);
//! let host = ScriptedHost::new();
//! let values = host.run(|h| MyEngine.transform(&sample.build(Hook::Transform), h));
//! let Ok(Outcome::Done(values)) = values else { panic!() };
//! let rendered = Chart::new(include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz")))
//!     .render(&sample, &values)?;
//! rendered.check()?;                       // the controller's conventions hold
//! let fuse = rendered.get("DaemonSet", &sample.conventions().fuse_name());
//! ```

use crate::conventions::{merge_values, Conventions};
use crate::engine::HookContext;
use crate::host::{with_host, Host, ServiceHandler};
use crate::protocol::{
    ExecRequest, ExecResponse, Hook, HookRequest, ProtocolVersion, ServiceErrorKind, ServiceFailure,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The uid [`HookContextBuilder`] gives a runtime that has none (the API server always sets
/// one).
pub const SAMPLE_RUNTIME_UID: &str = "00000000-0000-4000-8000-00000000a001";
/// The uid [`HookContextBuilder`] gives a Dataset that has none.
pub const SAMPLE_DATASET_UID: &str = "00000000-0000-4000-8000-00000000d001";

/// Builds the [`HookContext`] the controller would pass for a runtime and its Dataset.
///
/// The runtime and the Dataset are taken as on the wire (your `CustomResource` type, or
/// `json!`); like the API server, it fills a missing `metadata.namespace` (`default`) and
/// `metadata.uid`. The conventions are computed with [`Conventions::of`], as the controller
/// does.
#[derive(Clone, Debug)]
pub struct HookContextBuilder {
    engine: String,
    mount_type: Option<String>,
    runtime: Value,
    dataset: Option<Value>,
    input: Value,
    host_protocol: ProtocolVersion,
}

fn to_wire(what: &str, object: &impl Serialize, uid: &str) -> Value {
    let mut v = serde_json::to_value(object)
        .unwrap_or_else(|e| panic!("the sample {what} does not serialize: {e}"));
    let meta = &mut v["metadata"];
    if !meta.is_object() {
        *meta = json!({});
    }
    if meta["namespace"].as_str().is_none_or(str::is_empty) {
        meta["namespace"] = json!("default");
    }
    if meta["uid"].as_str().is_none_or(str::is_empty) {
        meta["uid"] = json!(uid);
    }
    v
}

impl HookContextBuilder {
    /// A runtime served by the engine named `engine` (the `name` of your `export_engine!`).
    ///
    /// # Panics
    /// When `runtime` does not serialize to JSON.
    pub fn new(engine: &str, runtime: &impl Serialize) -> Self {
        HookContextBuilder {
            engine: engine.to_owned(),
            mount_type: None,
            runtime: to_wire("runtime", runtime, SAMPLE_RUNTIME_UID),
            dataset: None,
            input: Value::Null,
            host_protocol: ProtocolVersion::CURRENT,
        }
    }

    /// The `mount_type` of your `export_engine!` (the engine's name when not given).
    pub fn mount_type(mut self, mount_type: &str) -> Self {
        self.mount_type = Some(mount_type.to_owned());
        self
    }

    /// The Dataset of the same name.
    ///
    /// # Panics
    /// When `dataset` does not serialize to JSON.
    pub fn dataset(mut self, dataset: &impl Serialize) -> Self {
        self.dataset = Some(to_wire("dataset", dataset, SAMPLE_DATASET_UID));
        self
    }

    /// The hook-specific input.
    pub fn input(mut self, input: Value) -> Self {
        self.input = input;
        self
    }

    /// Plays a controller speaking `version`: one older than 1.1 passes no conventions.
    pub fn host_protocol(mut self, version: ProtocolVersion) -> Self {
        self.host_protocol = version;
        self
    }

    /// The conventions the controller computes for this runtime.
    pub fn conventions(&self) -> Conventions {
        Conventions::of(
            &self.engine,
            self.mount_type.as_deref().unwrap_or(&self.engine),
            &self.runtime,
            self.dataset.as_ref(),
        )
    }

    /// The request the controller would send.
    pub fn request(&self) -> HookRequest {
        let passes_conventions = self.host_protocol >= ProtocolVersion { major: 1, minor: 1 };
        HookRequest {
            host_protocol: self.host_protocol,
            dataset: self.dataset.clone(),
            input: self.input.clone(),
            conventions: passes_conventions.then(|| self.conventions()),
            ..HookRequest::new(self.runtime.clone())
        }
    }

    /// The context of one call of `hook`.
    pub fn build(&self, hook: Hook) -> HookContext {
        HookContext::new(hook, self.request())
    }

    /// The values the controller installs the chart with: its own
    /// ([`Conventions::chart_values`]) with `engine_values` (your `transform` output) merged
    /// over them.
    pub fn chart_values(&self, engine_values: &Value) -> Value {
        let mut values = self.conventions().chart_values();
        merge_values(&mut values, engine_values.clone());
        values
    }
}

/// A scripted answer to one service: the request in, the response (or failure) out.
type Answer = Box<dyn Fn(&Value) -> Result<Value, ServiceFailure> + Send + Sync>;

/// The controller's host services, scripted: `get`, `list`, `apply`, `delete` and
/// `patch_status` work on the objects it holds (Secrets come back with their values blanked, as
/// from the controller); `helm_*` keep a table of releases; `event` and `log` are recorded;
/// `allocate_ports` hands out the first ports of 20000-26000;
/// any service can be given its own answer with [`on`](Self::on) (`exec` needs one). Every call
/// is recorded in order.
#[derive(Default)]
pub struct ScriptedHost {
    objects: Mutex<Vec<Value>>,
    releases: Mutex<BTreeMap<String, Value>>,
    answers: BTreeMap<String, Answer>,
    unsupported: Vec<String>,
    calls: Mutex<Vec<(String, Value)>>,
}

impl std::fmt::Debug for ScriptedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedHost")
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

fn failure(service: &str, kind: ServiceErrorKind, message: impl Into<String>) -> ServiceFailure {
    ServiceFailure {
        service: service.to_owned(),
        kind,
        message: message.into(),
    }
}

/// What the controller hands out of a Secret: its keys, with blank values.
fn blanked(mut object: Value) -> Value {
    if object["kind"] == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(map) = object[field].as_object_mut() {
                map.values_mut().for_each(|v| *v = json!(""));
            }
        }
    }
    object
}

/// Whether `labels` satisfy a selector such as `app=x,role!=y,tier,!legacy`.
fn selects(selector: &str, labels: &Value) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                labels[k.trim()] != json!(v.trim())
            } else if let Some((k, v)) = term.split_once('=') {
                labels[k.trim().trim_end_matches('=')] == json!(v.trim_start_matches('=').trim())
            } else if let Some(k) = term.strip_prefix('!') {
                labels[k].is_null()
            } else {
                !labels[term].is_null()
            }
        })
}

impl ScriptedHost {
    /// A host with no objects.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds objects (as on the wire, with `apiVersion`, `kind` and `metadata.name`).
    pub fn with_objects(self, objects: impl IntoIterator<Item = Value>) -> Self {
        self.lock_objects().extend(objects);
        self
    }

    /// Answers `service` with `answer` instead of the default behaviour.
    pub fn on(
        mut self,
        service: &str,
        answer: impl Fn(&Value) -> Result<Value, ServiceFailure> + Send + Sync + 'static,
    ) -> Self {
        self.answers.insert(service.to_owned(), Box::new(answer));
        self
    }

    /// Answers `exec` with `answer`.
    pub fn on_exec(
        self,
        answer: impl Fn(&ExecRequest) -> ExecResponse + Send + Sync + 'static,
    ) -> Self {
        self.on("exec", move |request| {
            let request: ExecRequest = serde_json::from_value(request.clone())
                .map_err(|e| failure("exec", ServiceErrorKind::BadRequest, e.to_string()))?;
            serde_json::to_value(answer(&request))
                .map_err(|e| failure("exec", ServiceErrorKind::Failed, e.to_string()))
        })
    }

    /// Answers `service` with "unsupported", as a controller of an older protocol does.
    pub fn unsupported(mut self, service: &str) -> Self {
        self.unsupported.push(service.to_owned());
        self
    }

    /// Runs `f` with a [`Host`] served by this one (what a hook receives).
    pub fn run<R>(&self, f: impl FnOnce(&Host<'_>) -> R) -> R {
        with_host(self, f)
    }

    /// Every call so far: the service and its request.
    pub fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The services called so far, in order.
    pub fn services_called(&self) -> Vec<String> {
        self.calls().into_iter().map(|(s, _)| s).collect()
    }

    /// The objects it holds now (after the hooks' applies and deletes).
    pub fn objects(&self) -> Vec<Value> {
        self.lock_objects().clone()
    }

    /// The values of the Helm release `release` as last installed or upgraded.
    pub fn release_values(&self, release: &str) -> Option<Value> {
        self.releases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(release)
            .cloned()
    }

    fn lock_objects(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn position(objects: &[Value], request: &Value) -> Option<usize> {
        objects.iter().position(|o| {
            o["apiVersion"] == request["apiVersion"]
                && o["kind"] == request["kind"]
                && o["metadata"]["name"] == request["name"]
        })
    }

    fn serve(&self, service: &str, request: &Value) -> Result<Value, ServiceFailure> {
        let bad = |m: &str| failure(service, ServiceErrorKind::BadRequest, m);
        let mut objects = self.lock_objects();
        let mut releases = self.releases.lock().unwrap_or_else(|p| p.into_inner());
        Ok(match service {
            "get" => {
                let found = Self::position(&objects, request).map(|i| blanked(objects[i].clone()));
                json!({ "object": found })
            }
            "list" => {
                let selector = request["labelSelector"].as_str().unwrap_or_default();
                let items: Vec<Value> = objects
                    .iter()
                    .filter(|o| {
                        o["apiVersion"] == request["apiVersion"]
                            && o["kind"] == request["kind"]
                            && selects(selector, &o["metadata"]["labels"])
                    })
                    .cloned()
                    .map(blanked)
                    .collect();
                json!({ "items": items })
            }
            "apply" => {
                let object = request["object"].clone();
                let key = json!({"apiVersion": object["apiVersion"], "kind": object["kind"],
                    "name": object["metadata"]["name"]});
                if !key["name"].is_string() {
                    return Err(bad("the object has no metadata.name"));
                }
                match Self::position(&objects, &key) {
                    Some(i) => merge_values(&mut objects[i], object.clone()),
                    None => objects.push(object.clone()),
                }
                let i = Self::position(&objects, &key).unwrap_or_default();
                json!({ "object": objects[i] })
            }
            "delete" => {
                let found = Self::position(&objects, request);
                if let Some(i) = found {
                    objects.remove(i);
                }
                json!({ "deleted": found.is_some() })
            }
            "patch_status" => {
                let Some(i) = Self::position(&objects, request) else {
                    return Err(failure(
                        service,
                        ServiceErrorKind::NotFound,
                        format!("{} {} not found", request["kind"], request["name"]),
                    ));
                };
                merge_values(&mut objects[i]["status"], request["status"].clone());
                json!({ "object": objects[i] })
            }
            "helm_install" | "helm_upgrade" => {
                let release = request["release"].as_str().unwrap_or_default().to_owned();
                if service == "helm_upgrade" && !releases.contains_key(&release) {
                    return Err(failure(
                        service,
                        ServiceErrorKind::NotFound,
                        format!("release {release} not found"),
                    ));
                }
                releases.insert(release, request["values"].clone());
                json!({"exists": true, "status": "deployed", "revision": 1})
            }
            "helm_status" => {
                let exists = releases.contains_key(request["release"].as_str().unwrap_or(""));
                json!({"exists": exists, "status": if exists { "deployed" } else { "" },
                    "revision": u64::from(exists)})
            }
            "helm_uninstall" => {
                let release = request["release"].as_str().unwrap_or_default();
                json!({ "uninstalled": releases.remove(release).is_some() })
            }
            "event" | "log" => json!({}),
            // One runtime per scripted host: the first ports of Fluid's default range.
            "allocate_ports" => {
                let count = request["count"].as_u64().unwrap_or_default();
                json!({ "ports": (0..count).map(|i| 20000 + i).collect::<Vec<_>>() })
            }
            other => {
                return Err(failure(
                    other,
                    ServiceErrorKind::Unsupported,
                    format!("the scripted host has no answer for service {other}: give one with ScriptedHost::on"),
                ))
            }
        })
    }
}

impl ServiceHandler for ScriptedHost {
    fn call(&self, service: &str, request: &str) -> Result<String, ServiceFailure> {
        let request: Value = serde_json::from_str(request)
            .map_err(|e| failure(service, ServiceErrorKind::BadRequest, e.to_string()))?;
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((service.to_owned(), request.clone()));
        if self.unsupported.iter().any(|s| s == service) {
            return Err(failure(
                service,
                ServiceErrorKind::Unsupported,
                format!("this host does not offer {service}"),
            ));
        }
        let answer = match self.answers.get(service) {
            Some(answer) => answer(&request)?,
            None => self.serve(service, &request)?,
        };
        Ok(answer.to_string())
    }
}

/// Why a chart could not be rendered, or what it breaks.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// helm could not be started.
    #[error(
        "cannot run helm ({helm}): {source}; install helm and put it on PATH, or set FLUID_HELM \
         to its path"
    )]
    Helm {
        /// The helm binary tried.
        helm: PathBuf,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// Writing the chart to a temporary file failed.
    #[error("writing the chart to {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `helm template` failed.
    #[error("helm template failed: {stderr}")]
    Render {
        /// helm's message.
        stderr: String,
    },
    /// helm printed something that is not YAML.
    #[error("the rendered chart is not YAML: {0}")]
    Yaml(String),
    /// The rendered objects break what the controller relies on.
    #[error("the rendered chart breaks the controller's conventions:\n- {}", .0.join("\n- "))]
    Conventions(Vec<String>),
}

/// An engine's chart (the gzipped tarball `export_engine!` embeds), rendered as the controller
/// would install it.
#[derive(Clone, Debug)]
pub struct Chart<'a> {
    bytes: &'a [u8],
    helm: PathBuf,
}

impl<'a> Chart<'a> {
    /// The chart; rendered with the helm of `FLUID_HELM` (as the controller), else `helm` on
    /// `PATH`.
    pub fn new(bytes: &'a [u8]) -> Self {
        let helm = std::env::var_os("FLUID_HELM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("helm"));
        Chart { bytes, helm }
    }

    /// Renders with this helm binary.
    pub fn helm(mut self, helm: impl Into<PathBuf>) -> Self {
        self.helm = helm.into();
        self
    }

    /// `helm template` of the chart as the release of `sample`'s runtime, in its namespace,
    /// with [`HookContextBuilder::chart_values`] (the values go through stdin, never to disk).
    pub fn render(
        &self,
        sample: &HookContextBuilder,
        engine_values: &Value,
    ) -> Result<Rendered, ChartError> {
        let conventions = sample.conventions();
        let values = sample.chart_values(engine_values);
        let path = std::env::temp_dir().join(format!(
            "fluid-chart-{}-{}.tgz",
            std::process::id(),
            next_file_number()
        ));
        let io = |source| ChartError::Io {
            path: path.clone(),
            source,
        };
        std::fs::write(&path, self.bytes).map_err(io)?;
        let output = Command::new(&self.helm)
            .args(["template", &conventions.name])
            .arg(&path)
            .args(["--namespace", &conventions.namespace, "--values", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(values.to_string().as_bytes())?;
                }
                child.wait_with_output()
            });
        let _ = std::fs::remove_file(&path);
        let output = output.map_err(|source| ChartError::Helm {
            helm: self.helm.clone(),
            source,
        })?;
        if !output.status.success() {
            return Err(ChartError::Render {
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        let manifest = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut objects = vec![];
        for doc in serde_yaml::Deserializer::from_str(&manifest) {
            match Option::<Value>::deserialize(doc) {
                Ok(Some(v)) if v.is_object() => objects.push(v),
                Ok(_) => {}
                Err(e) => return Err(ChartError::Yaml(e.to_string())),
            }
        }
        Ok(Rendered {
            manifest,
            objects,
            conventions,
        })
    }
}

/// A number unique in this process, for temporary file names (tests run in threads).
fn next_file_number() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A rendered chart.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// What helm printed.
    pub manifest: String,
    /// The objects, as JSON.
    pub objects: Vec<Value>,
    /// The conventions it was rendered with.
    pub conventions: Conventions,
}

const WORKLOAD_KINDS: [&str; 3] = ["StatefulSet", "DaemonSet", "Deployment"];

impl Rendered {
    /// The object of this kind and name.
    pub fn get(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
    }

    /// What breaks the controller's conventions (empty when nothing does):
    /// - every object is in the runtime's namespace (or names none);
    /// - every workload is owned by the runtime (`owner` values in `ownerReferences`), so its
    ///   changes wake the runtime's controller and it goes away with the runtime;
    /// - StatefulSets are `<name>-master` or `<name>-worker`, DaemonSets `<name>-fuse`: the
    ///   only ones the controller's readiness, scaling and the CSI plugin look at;
    /// - the fuse DaemonSet runs only where the node label `fuseNodeSelectorKey: "true"` is
    ///   (set by the CSI plugin where a pod uses the volume), and mounts `fuseHostMountPath`
    ///   (or a directory above `fuseMountPath`) from the node, with `Bidirectional`
    ///   propagation, so its mount is seen at the PV's `fluid_path`.
    pub fn problems(&self) -> Vec<String> {
        let c = &self.conventions;
        let mut problems = vec![];
        for o in &self.objects {
            let kind = o["kind"].as_str().unwrap_or_default();
            let name = o["metadata"]["name"].as_str().unwrap_or_default();
            if let Some(ns) = o["metadata"]["namespace"].as_str() {
                if ns != c.namespace {
                    problems.push(format!(
                        "{kind} {name} is in namespace {ns}, not the runtime's ({})",
                        c.namespace
                    ));
                }
            }
            if !WORKLOAD_KINDS.contains(&kind) {
                continue;
            }
            let owned = o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == c.owner.uid.as_str()));
            if !owned {
                problems.push(format!(
                    "{kind} {name} has no ownerReference to the runtime (template it from \
                     .Values.owner when .Values.owner.enabled)"
                ));
            }
            let expected: &[String] = match kind {
                "StatefulSet" => &[c.master_name(), c.worker_name()],
                "DaemonSet" => &[c.fuse_name()],
                _ => &[],
            };
            if !expected.is_empty() && !expected.iter().any(|e| e == name) {
                problems.push(format!(
                    "{kind} {name}: the controller only looks at {} (named from \
                     .Values.fullnameOverride)",
                    expected.join(" and ")
                ));
            }
        }
        if let Some(fuse) = self.get("DaemonSet", &c.fuse_name()) {
            problems.extend(fuse_problems(fuse, c));
        }
        problems
    }

    /// [`problems`](Self::problems) as an error when there is any.
    pub fn check(&self) -> Result<(), ChartError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ChartError::Conventions(problems))
        }
    }
}

fn fuse_problems(fuse: &Value, c: &Conventions) -> Vec<String> {
    let mut problems = vec![];
    let pod = &fuse["spec"]["template"]["spec"];
    if pod["nodeSelector"][&c.fuse_node_selector_key] != "true" {
        problems.push(format!(
            "DaemonSet {}: its pods must select nodes labelled {}: \"true\" (.Values.fuseNodeSelectorKey)",
            c.fuse_name(),
            c.fuse_node_selector_key
        ));
    }
    let under_mount = |path: &str| {
        let path = path.trim_end_matches('/');
        !path.is_empty()
            && (c.fuse_mount_path == path || c.fuse_mount_path.starts_with(&format!("{path}/")))
    };
    let host_volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["hostPath"]["path"].as_str().is_some_and(under_mount))
        .filter_map(|v| v["name"].as_str())
        .collect();
    let propagated = pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|ct| {
            ct["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| {
                    m["name"]
                        .as_str()
                        .is_some_and(|n| host_volumes.contains(&n))
                        && m["mountPropagation"] == "Bidirectional"
                })
        });
    if !propagated {
        problems.push(format!(
            "DaemonSet {}: no container mounts the node's {} (.Values.fuseHostMountPath) with \
             mountPropagation: Bidirectional, so the fuse mount would not reach the PV's \
             fluid_path {}",
            c.fuse_name(),
            c.fuse_host_mount_path,
            c.fuse_mount_path
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> Value {
        json!({"apiVersion": "vendor.example.com/v1alpha1", "kind": "VendorFSRuntime",
            "metadata": {"name": "demo"}, "spec": {"replicas": 2}})
    }

    #[test]
    fn the_builder_fills_what_the_api_server_would_and_computes_the_conventions() {
        let sample = HookContextBuilder::new("vendorfs", &runtime())
            .mount_type("VendorFS")
            .dataset(&json!({"metadata": {"name": "demo"}}));
        let cx = sample.build(Hook::Transform);
        assert_eq!(cx.namespace(), "default");
        assert_eq!(cx.runtime()["metadata"]["uid"], SAMPLE_RUNTIME_UID);
        let c = cx.conventions().unwrap();
        assert_eq!(c.fuse_node_selector_key, "fluid.io/f-default-demo");
        assert_eq!(
            c.fuse_mount_path,
            "/runtime-mnt/vendorfs/default/demo/vendorfs-fuse"
        );
        assert_eq!(c.mount_type, "VendorFS");
        assert_eq!(c.owner.kind, "VendorFSRuntime");
        let values = sample.chart_values(&json!({"replicas": 2, "owner": {"controller": false}}));
        assert_eq!(values["replicas"], 2);
        assert_eq!(values["owner"]["uid"], SAMPLE_RUNTIME_UID);
        assert_eq!(values["owner"]["controller"], false);

        // An older controller passes none, and the hook is told why.
        let old = sample
            .host_protocol(ProtocolVersion { major: 1, minor: 0 })
            .build(Hook::Transform);
        let err = old.conventions().unwrap_err();
        assert!(err.message().contains("protocol 1.0"), "{err}");
    }

    #[test]
    fn the_scripted_host_serves_objects_blanks_secrets_and_records_calls() {
        let host = ScriptedHost::new()
            .with_objects([
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                    "data": {"token": "c2VjcmV0"}}),
                json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p1", "labels": {"app": "x", "role": "worker"}}}),
                json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p2", "labels": {"app": "x", "role": "fuse"}}}),
            ])
            .on_exec(|r| ExecResponse {
                stdout: r.command.join(" "),
                stderr: String::new(),
                exit_code: 0,
            })
            .unsupported("helm_status");
        host.run(|h| {
            let secret = h.get("v1", "Secret", "s").unwrap().unwrap();
            assert_eq!(secret["data"]["token"], "");
            let pods = h.list("v1", "Pod", Some("app=x,role!=fuse")).unwrap();
            assert_eq!(pods.len(), 1);
            assert_eq!(pods[0]["metadata"]["name"], "p1");
            assert_eq!(h.list("v1", "Pod", Some("role")).unwrap().len(), 2);
            h.apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {"a": "1"}}),
            )
            .unwrap();
            assert!(h.get("v1", "ConfigMap", "c").unwrap().is_some());
            assert!(h.delete("v1", "ConfigMap", "c").unwrap());
            assert!(!h.delete("v1", "ConfigMap", "c").unwrap());
            let out = h
                .exec(&ExecRequest {
                    pod: "p1".into(),
                    container: None,
                    command: vec!["echo".into(), "hi".into()],
                    timeout_seconds: None,
                })
                .unwrap();
            assert_eq!(out.stdout, "echo hi");
            assert!(h.helm_status("demo").unwrap_err().is_unsupported());
            let err = h.patch_status("v1", "Pod", "nope", json!({})).unwrap_err();
            assert_eq!(err.kind, ServiceErrorKind::NotFound);
        });
        assert_eq!(
            host.services_called(),
            [
                "get",
                "list",
                "list",
                "apply",
                "get",
                "delete",
                "delete",
                "exec",
                "helm_status",
                "patch_status"
            ]
        );
    }

    #[test]
    fn label_selectors_read_like_kubernetes() {
        let labels = json!({"app": "x", "role": "worker"});
        assert!(selects("", &labels));
        assert!(selects("app=x,role==worker", &labels));
        assert!(selects("app,!legacy", &labels));
        assert!(!selects("app=y", &labels));
        assert!(!selects("role!=worker", &labels));
        assert!(!selects("missing", &labels));
    }

    fn rendered(objects: Vec<Value>) -> Rendered {
        let sample = HookContextBuilder::new("vendorfs", &runtime());
        Rendered {
            manifest: String::new(),
            objects,
            conventions: sample.conventions(),
        }
    }

    fn owner() -> Value {
        json!([{"apiVersion": "vendor.example.com/v1alpha1", "kind": "VendorFSRuntime",
            "name": "demo", "uid": SAMPLE_RUNTIME_UID}])
    }

    #[test]
    fn a_chart_that_follows_the_conventions_has_no_problems() {
        let fuse = json!({"kind": "DaemonSet", "metadata": {"name": "demo-fuse", "ownerReferences": owner()},
            "spec": {"template": {"spec": {
                "nodeSelector": {"fluid.io/f-default-demo": "true"},
                "volumes": [{"name": "mnt", "hostPath": {"path": "/runtime-mnt/vendorfs/default/demo"}}],
                "containers": [{"name": "fuse", "volumeMounts": [{"name": "mnt",
                    "mountPath": "/runtime-mnt/vendorfs/default/demo", "mountPropagation": "Bidirectional"}]}]}}}});
        let worker = json!({"kind": "StatefulSet", "metadata": {"name": "demo-worker",
            "namespace": "default", "ownerReferences": owner()}});
        let r = rendered(vec![fuse, worker]);
        assert_eq!(r.problems(), Vec::<String>::new());
        assert!(r.check().is_ok());
    }

    #[test]
    fn a_chart_that_drifts_is_told_what_and_where() {
        let fuse = json!({"kind": "DaemonSet", "metadata": {"name": "demo-fuse"},
            "spec": {"template": {"spec": {
                "nodeSelector": {"fluid.io/f-ns-demo": "true"},
                "volumes": [{"name": "mnt", "hostPath": {"path": "/mnt/vendorfs"}}],
                "containers": [{"name": "fuse", "volumeMounts": [{"name": "mnt", "mountPath": "/mnt"}]}]}}}});
        let other = json!({"kind": "StatefulSet", "metadata": {"name": "cache",
            "namespace": "kube-system", "ownerReferences": owner()}});
        let problems = rendered(vec![fuse, other]).problems();
        let text = problems.join("\n");
        for expected in [
            "DaemonSet demo-fuse has no ownerReference",
            "fluid.io/f-default-demo: \"true\"",
            "mountPropagation: Bidirectional",
            "StatefulSet cache is in namespace kube-system",
            "StatefulSet cache: the controller only looks at demo-master and demo-worker",
        ] {
            assert!(text.contains(expected), "{expected:?} not in\n{text}");
        }
        assert_eq!(problems.len(), 5, "{text}");
    }
}
