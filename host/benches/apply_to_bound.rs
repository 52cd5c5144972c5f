//! From `kubectl apply` of Dataset + runtime pairs (ReferenceRuntime, or JuiceFSRuntime with
//! its Secret) to every Dataset `Bound` and every PVC `Bound`, against the local control plane,
//! with the release-built `fluid-controller` and engine plugin: one pair at a time (repeated), then many pairs applied at once; plus the
//! controller's memory and CPU. Not a test: it prints figures and asserts nothing about time.
//!
//! `cargo bench -p fluid-host --bench apply_to_bound`. Uses `FLUID_RS_KUBECONFIG` if set, else
//! `fluid-test-support`'s cluster (started or reused like the tests). It starts its own
//! controller, which reconciles every namespace: do not run it on a cluster where another
//! fluid-controller runs (e.g. while the e2e tests run on the same cluster).
//! The controller (and the helm processes it runs) act as a ServiceAccount of their own, whose
//! requests the API server counts by class (tests/common/apiserver.rs): requests per pair from
//! apply to Bound, per idle runtime per sync, per pair deleted.
//! Knobs: `FLUID_RS_BENCH_ENGINE` (`reference`, the default, or `juicefs`: Secret + Dataset +
//! JuiceFSRuntime per pair, as Fluid's JuiceFS community sample; `FLUID_RS_BENCH_PLUGIN` gives
//! the plugin file instead of the release-built fixture),
//! `FLUID_RS_BENCH_SINGLE_RUNS` (default 5), `FLUID_RS_BENCH_PAIRS` (default 100),
//! `FLUID_RS_BENCH_SYNC_SECONDS` (the controller's sync period, default 30; the idle
//! measurement lasts two of them),
//! `FLUID_RS_BENCH_CYCLES` (apply + clean up the many pairs this many times, default 1: more
//! shows whether memory keeps growing), `FLUID_RS_BENCH_TIMEOUT_SECONDS` (per run and per
//! cleanup, default 900), `FLUID_RS_BENCH_PLACEMENT` (the JuiceFS Datasets' `placement`,
//! default `Shared`: with Fluid's `Exclusive` one namespace holds one worker per node, so the
//! pairs of one namespace would need as many nodes as pairs).
//! When the cluster's API server writes an audit log of the measured account
//! (`FLUID_RS_AUDIT_USER`, see tests/cluster/up), each single pair's requests are listed.
//! Without `--bench` (`cargo test --benches`) it does nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use common::apiserver::requests;
use common::procs::{mb, proc_stats, ChildPeak, ProcStats};
use fluid_test_support::{kubectl, tool_path, TestNamespace};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(200);

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("apply_to_bound: skipped (run it with `cargo bench`)");
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(bench());
}

// ---------------------------------------------------------------- the controller process

struct Controller {
    child: Child,
    port: u16,
}

impl Controller {
    fn start(
        plugin_dir: &Path,
        log: PathBuf,
        tmp: &Path,
        kubeconfig: &Path,
        sync: Duration,
    ) -> Controller {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = std::fs::File::create(&log).expect("controller log");
        let child = Command::new(env!("CARGO_BIN_EXE_fluid-controller"))
            .args(["run", "--plugin-dir"])
            .arg(plugin_dir)
            .args([
                "--http-addr",
                &format!("127.0.0.1:{port}"),
                "--sync-period-seconds",
                &sync.as_secs().to_string(),
            ])
            .env("KUBECONFIG", kubeconfig)
            .env("FLUID_HELM", tool_path("helm").expect("helm"))
            .env(
                "FLUID_HELM_ENGINE",
                tool_path("fluid-helm-engine").expect("fluid-helm-engine"),
            )
            .env("RUST_LOG", "info,fluid_host=debug")
            .env("FLUID_LOG_FORMAT", "text")
            // Its own chart directory: nothing shared with other controllers on this machine.
            .env("TMPDIR", tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start fluid-controller");
        Controller { child, port }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn http_get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((code, body))
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- the objects

/// The engine the pairs use.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Engine {
    Reference,
    JuiceFs,
}

impl Engine {
    fn from_env() -> Engine {
        match std::env::var("FLUID_RS_BENCH_ENGINE").as_deref() {
            Ok("juicefs") => Engine::JuiceFs,
            Ok("reference") | Err(_) => Engine::Reference,
            Ok(other) => panic!("FLUID_RS_BENCH_ENGINE={other}: reference or juicefs"),
        }
    }

    /// The plugin's name (the `.so` in the plugin directory, and the values ConfigMap's suffix).
    fn name(self) -> &'static str {
        match self {
            Engine::Reference => "reference",
            Engine::JuiceFs => "juicefs",
        }
    }

    fn plugin(self) -> PathBuf {
        if let Some(p) = std::env::var_os("FLUID_RS_BENCH_PLUGIN") {
            return PathBuf::from(p);
        }
        match self {
            Engine::Reference => common::reference_plugin(),
            Engine::JuiceFs => common::juicefs_plugin(),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Engine::Reference => "ReferenceRuntime",
            Engine::JuiceFs => "JuiceFSRuntime",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Engine::Reference => "referenceruntimes",
            Engine::JuiceFs => "juicefsruntimes",
        }
    }

    /// One pair's objects, as YAML.
    fn pair(self, name: &str) -> String {
        match self {
            Engine::Reference => common::objects::reference_pair(name, 1),
            Engine::JuiceFs => juicefs_pair(
                name,
                &std::env::var("FLUID_RS_BENCH_PLACEMENT").unwrap_or_else(|_| "Shared".into()),
            ),
        }
    }
}

/// Fluid's JuiceFS community sample (`samples/juicefs/community.yaml`) for one pair: its own
/// Secret (metadata URL, object storage keys), a Dataset referencing it, a JuiceFSRuntime with
/// one worker.
fn juicefs_pair(name: &str, placement: &str) -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: {name}-secret
  labels:
    fluid-rs-bench: pair
type: Opaque
stringData:
  metaurl: redis://redis.default.svc.cluster.local:6379/0
  access-key: minioadmin
  secret-key: minioadmin
---
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: {name}
spec:
  placement: {placement}
  mounts:
    - name: minio
      mountPoint: \"juicefs:///demo\"
      options:
        bucket: \"http://minio.default.svc.cluster.local:9000/minio/test\"
        storage: \"minio\"
      encryptOptions:
        - name: metaurl
          valueFrom:
            secretKeyRef:
              name: {name}-secret
              key: metaurl
        - name: access-key
          valueFrom:
            secretKeyRef:
              name: {name}-secret
              key: access-key
        - name: secret-key
          valueFrom:
            secretKeyRef:
              name: {name}-secret
              key: secret-key
---
apiVersion: data.fluid.io/v1alpha1
kind: JuiceFSRuntime
metadata:
  name: {name}
spec:
  replicas: 1
  tieredstore:
    levels:
      - mediumtype: SSD
        path: /cache
        quota: 40Gi
        low: \"0.1\"
"
    )
}

fn runtime_resource() -> ApiResource {
    let engine = Engine::from_env();
    ApiResource {
        group: "data.fluid.io".into(),
        version: "v1alpha1".into(),
        api_version: "data.fluid.io/v1alpha1".into(),
        kind: engine.kind().into(),
        plural: engine.plural().into(),
    }
}

fn dataset_resource() -> ApiResource {
    ApiResource {
        group: "data.fluid.io".into(),
        version: "v1alpha1".into(),
        api_version: "data.fluid.io/v1alpha1".into(),
        kind: "Dataset".into(),
        plural: "datasets".into(),
    }
}

async fn kubectl_async(args: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || kubectl(&args))
        .await
        .expect("kubectl task")
        .unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------- one run

struct RunResult {
    /// `kubectl apply` itself (to the 200 ms poll that saw it done).
    apply: Duration,
    /// The controller's child processes (helm) during the run.
    children: ChildPeak,
    /// Per pair, from the start of `kubectl apply` to Dataset and PVC both seen Bound.
    per_pair: Vec<Duration>,
    /// Per pair, from the start of `kubectl apply` to the Dataset seen Bound (the controller's
    /// part; the PVC is bound by kube-controller-manager's PV binder).
    dataset: Vec<Duration>,
    /// Until the last pair was seen Bound.
    total: Duration,
}

/// Applies `names` as pairs in one `kubectl apply` and lists Datasets and PVCs every 200 ms
/// until every pair is Bound; samples the `controller` pid's children meanwhile. `t0` (if given) receives the instant the apply starts.
async fn apply_and_wait(
    controller: u32,
    client: &Client,
    ns: &str,
    names: &[String],
    t0: Option<&Mutex<Option<(Instant, Timestamp)>>>,
) -> RunResult {
    let file = tempfile::NamedTempFile::new().unwrap();
    let engine = Engine::from_env();
    let yaml: Vec<String> = names.iter().map(|n| engine.pair(n)).collect();
    std::fs::write(file.path(), yaml.join("---\n")).unwrap();
    let datasets = Api::<DynamicObject>::namespaced_with(client.clone(), ns, &dataset_resource());
    let pvcs = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
    let timeout = Duration::from_secs(env_num("FLUID_RS_BENCH_TIMEOUT_SECONDS", 900));

    let start = Instant::now();
    if let Some(t0) = t0 {
        *t0.lock().unwrap() = Some((start, Timestamp::now()));
    }
    // The apply runs while we poll: with many pairs the controller binds the first ones before
    // kubectl is done.
    let args: Vec<String> = vec![
        "apply".into(),
        "-n".into(),
        ns.into(),
        "-f".into(),
        file.path().display().to_string(),
    ];
    let mut applying = Some(tokio::task::spawn_blocking(move || kubectl(&args)));
    let mut apply = None;
    let mut children = ChildPeak::default();

    let mut bound: HashMap<String, Duration> = HashMap::new();
    let mut dataset_bound: HashMap<String, Duration> = HashMap::new();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = String::new();
    while bound.len() < names.len() || applying.is_some() {
        tick.tick().await;
        let now = start.elapsed();
        children.sample(controller);
        if applying.as_ref().is_some_and(|t| t.is_finished()) {
            let done = applying.take().unwrap().await.expect("kubectl task");
            done.unwrap_or_else(|e| panic!("{e}"));
            apply = Some(now);
        }
        if now > timeout {
            panic!(
                "timed out after {timeout:?}: {} of {} pairs Bound; last: {last}",
                bound.len(),
                names.len()
            );
        }
        let (ds, pv) = match (
            datasets.list(&ListParams::default()).await,
            pvcs.list(&ListParams::default()).await,
        ) {
            (Ok(d), Ok(p)) => (d, p),
            (d, p) => {
                last = format!("list failed: {:?} {:?}", d.err(), p.err());
                continue;
            }
        };
        let ds_bound: Vec<String> = ds
            .items
            .iter()
            .filter(|d| d.data["status"]["phase"] == "Bound")
            .filter_map(|d| d.metadata.name.clone())
            .collect();
        let pvc_bound: Vec<String> = pv
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound"))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        for name in names {
            if ds_bound.contains(name) {
                dataset_bound.entry(name.clone()).or_insert(now);
                if pvc_bound.contains(name) {
                    bound.entry(name.clone()).or_insert(now);
                }
            }
        }
        last = format!(
            "{} datasets Bound, {} PVCs Bound",
            ds_bound.len(),
            pvc_bound.len()
        );
    }
    let mut per_pair: Vec<Duration> = bound.into_values().collect();
    per_pair.sort();
    let mut dataset: Vec<Duration> = dataset_bound.into_values().collect();
    dataset.sort();
    RunResult {
        apply: apply.unwrap(),
        children,
        dataset,
        total: *per_pair.last().unwrap(),
        per_pair,
    }
}

/// Deletes the runtimes, waits until they are gone, then the Datasets; waits until the PVCs and
/// PVs are gone too. Returns how long it took.
async fn clean(client: &Client, ns: &str) -> Duration {
    let start = Instant::now();
    let runtimes = Api::<DynamicObject>::namespaced_with(client.clone(), ns, &runtime_resource());
    let datasets = Api::<DynamicObject>::namespaced_with(client.clone(), ns, &dataset_resource());
    let pvcs = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
    let pvs = Api::<k8s_openapi::api::core::v1::PersistentVolume>::all(client.clone());
    let args = |kind: &str| -> Vec<String> {
        ["delete", kind, "--all", "-n", ns, "--wait=false"]
            .map(String::from)
            .to_vec()
    };
    kubectl_async(args(Engine::from_env().plural())).await;
    let (runtimes, datasets, pvcs, pvs) = (&runtimes, &datasets, &pvcs, &pvs);
    let deadline = Duration::from_secs(env_num("FLUID_RS_BENCH_TIMEOUT_SECONDS", 900));
    let wait = |what: &'static str| async move {
        loop {
            let left = match what {
                "runtimes" => runtimes
                    .list(&ListParams::default())
                    .await
                    .map(|l| l.items.len()),
                "datasets" => datasets
                    .list(&ListParams::default())
                    .await
                    .map(|l| l.items.len()),
                "pvcs" => pvcs
                    .list(&ListParams::default())
                    .await
                    .map(|l| l.items.len()),
                _ => pvs.list(&ListParams::default()).await.map(|l| {
                    l.items
                        .iter()
                        .filter(|p| {
                            p.metadata
                                .name
                                .as_deref()
                                .is_some_and(|n| n.starts_with(&format!("{ns}-")))
                        })
                        .count()
                }),
            };
            if left.as_ref().is_ok_and(|n| *n == 0) {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "cleanup: {what} still there after {deadline:?}: {left:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    };
    wait("runtimes").await;
    kubectl_async(args("datasets")).await;
    wait("datasets").await;
    wait("pvcs").await;
    wait("pvs").await;
    let took = start.elapsed();
    // The pairs' Secrets (JuiceFS), not part of what is timed.
    let secrets = [
        "delete",
        "secrets",
        "-l",
        "fluid-rs-bench=pair",
        "-n",
        ns,
        "--wait=false",
    ];
    kubectl_async(secrets.map(String::from).to_vec()).await;
    took
}

// ---------------------------------------------------------------- timeline of one pair

type Timeline = Arc<Mutex<Vec<(String, Duration)>>>;
type Start = Arc<Mutex<Option<(Instant, Timestamp)>>>;
type Milestones = Box<dyn Fn(&Value) -> Vec<String> + Send>;

/// Watches `ar` in `ns` and records, relative to the apply, the first time each milestone that
/// `milestones` finds in an object is seen.
fn watch_milestones(
    client: &Client,
    ns: Option<&str>,
    ar: ApiResource,
    start: Start,
    timeline: Timeline,
    milestones: impl Fn(&Value) -> Vec<String> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let api = match ns {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar),
        None => Api::<DynamicObject>::all_with(client.clone(), &ar),
    };
    tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(Ok(obj)) = stream.next().await {
            let seen = Instant::now();
            let Some((t0, _)) = *start.lock().unwrap() else {
                continue;
            };
            let value = serde_json::to_value(&obj).unwrap_or_default();
            let mut tl = timeline.lock().unwrap();
            for m in milestones(&value) {
                if !tl.iter().any(|(k, _)| *k == m) {
                    tl.push((m, seen.saturating_duration_since(t0)));
                }
            }
        }
    })
}

fn condition_true(o: &Value, kind: &str) -> bool {
    o["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

fn start_timeline(
    client: &Client,
    ns: &str,
    name: &str,
    start: Start,
    timeline: Timeline,
) -> Vec<tokio::task::JoinHandle<()>> {
    let n = name.to_owned();
    let mut tasks = vec![];
    let mut w = |ar: ApiResource, f: Milestones| {
        let scope = ar.kind != "PersistentVolume";
        tasks.push(watch_milestones(
            client,
            scope.then_some(ns),
            ar,
            start.clone(),
            timeline.clone(),
            f,
        ));
    };
    let name = n.clone();
    w(
        dataset_resource(),
        Box::new(move |o| {
            let mut m = vec![];
            if o["metadata"]["name"] != name.as_str() {
                return m;
            }
            m.push("Dataset created".into());
            if o["status"]["runtimes"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                m.push("Dataset claimed (status.runtimes)".into());
            }
            if o["status"]["phase"] == "Bound" {
                m.push("Dataset Bound".into());
            }
            m
        }),
    );
    let name = n.clone();
    w(
        runtime_resource(),
        Box::new(move |o| {
            let mut m = vec![];
            if o["metadata"]["name"] != name.as_str() {
                return m;
            }
            m.push("runtime created".into());
            if o["metadata"]["labels"]["fluid.io/dataset-id"].is_string() {
                m.push("runtime adopted (ownerRef + dataset-id label)".into());
            }
            if o["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
            {
                m.push("runtime finalizer added".into());
            }
            if condition_true(o, "Validated") {
                m.push("runtime Validated".into());
            }
            if o["status"]["valueFile"]
                .as_str()
                .is_some_and(|v| !v.is_empty())
            {
                m.push("runtime status.valueFile (chart installed)".into());
            }
            if o["status"]["workerPhase"]
                .as_str()
                .is_some_and(|v| !v.is_empty())
            {
                m.push(format!(
                    "runtime workerPhase {}",
                    o["status"]["workerPhase"].as_str().unwrap_or_default()
                ));
            }
            if condition_true(o, "Reconciled") {
                m.push("runtime Reconciled (first sync done)".into());
            }
            m
        }),
    );
    let name = n.clone();
    w(
        ApiResource::erase::<Secret>(&()),
        Box::new(move |o| {
            let mut m = vec![];
            let release = format!("sh.helm.release.v1.{name}.v1");
            if o["metadata"]["name"] != release.as_str() {
                return m;
            }
            m.push("helm release secret created".into());
            if o["metadata"]["labels"]["status"] == "deployed" {
                m.push("helm release deployed".into());
            }
            m
        }),
    );
    let name = n.clone();
    w(
        ApiResource::erase::<StatefulSet>(&()),
        Box::new(move |o| {
            let mut m = vec![];
            if o["metadata"]["name"] != format!("{name}-worker").as_str() {
                return m;
            }
            m.push("worker StatefulSet created".into());
            if o["status"]["readyReplicas"].as_i64().unwrap_or(0) >= 1 {
                m.push("worker StatefulSet readyReplicas 1".into());
            }
            m
        }),
    );
    let name = n.clone();
    w(
        ApiResource::erase::<Pod>(&()),
        Box::new(move |o| {
            let mut m = vec![];
            if o["metadata"]["name"] != format!("{name}-worker-0").as_str() {
                return m;
            }
            m.push("worker pod created".into());
            if o["spec"]["nodeName"].is_string() {
                m.push("worker pod scheduled".into());
            }
            if condition_true(o, "Ready") {
                m.push("worker pod Ready".into());
            }
            m
        }),
    );
    let name = n.clone();
    w(
        ApiResource::erase::<ConfigMap>(&()),
        Box::new(move |o| {
            let values = format!("{name}-{}-values", Engine::from_env().name());
            if o["metadata"]["name"] == values.as_str() {
                vec!["values ConfigMap created".into()]
            } else {
                vec![]
            }
        }),
    );
    let name = n.clone();
    w(
        ApiResource::erase::<PersistentVolumeClaim>(&()),
        Box::new(move |o| {
            let mut m = vec![];
            if o["metadata"]["name"] != name.as_str() {
                return m;
            }
            m.push("PVC created".into());
            if o["status"]["phase"] == "Bound" {
                m.push("PVC Bound".into());
            }
            m
        }),
    );
    let pv = format!("{ns}-{n}");
    w(
        ApiResource::erase::<k8s_openapi::api::core::v1::PersistentVolume>(&()),
        Box::new(move |o| {
            let mut m = vec![];
            if o["metadata"]["name"] != pv.as_str() {
                return m;
            }
            m.push("PV created".into());
            if let Some(phase) = o["status"]["phase"].as_str() {
                m.push(format!("PV {phase}"));
            }
            m
        }),
    );
    tasks
}

/// The controller's log lines about `ns/name` from `since` on, as `+ms message`.
fn log_excerpt(log: &Path, ns: &str, name: &str, since: Timestamp) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let needle = format!("{ns}/{name}");
    text.lines()
        .filter(|l| l.contains(&needle))
        .filter_map(|l| {
            let (ts, rest) = l.split_once(' ')?;
            let ts: Timestamp = ts.parse().ok()?;
            let ms = ts.as_millisecond() - since.as_millisecond();
            let rest = rest.replace(&needle, "<rt>");
            Some(format!("  {ms:>+8} ms {}", rest.trim()))
        })
        .collect()
}

// ---------------------------------------------------------------- figures

/// The measured account's requests between `from` and `to` as the API server's audit log has
/// them (when it writes one: `FLUID_RS_AUDIT_USER` in tests/cluster/up), one line each.
fn print_audit(from: Timestamp, to: Timestamp) {
    let Ok(kubeconfig) = fluid_test_support::kubeconfig_path() else {
        return;
    };
    let Some(path) = kubeconfig.parent().map(|d| d.join("logs/audit.log")) else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let account = format!(
        "system:serviceaccount:kube-system:{}",
        common::apiserver::ACCOUNT
    );
    let mut lines = vec![];
    for e in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let at = e["stageTimestamp"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok());
        if e["user"]["username"] != account.as_str()
            || e["stage"] != "ResponseComplete"
            || e["verb"] == "watch"
            || !at.is_some_and(|t| t >= from && t <= to)
        {
            continue;
        }
        let o = &e["objectRef"];
        let resource = match o["subresource"].as_str() {
            Some(sub) => format!("{}/{sub}", o["resource"].as_str().unwrap_or("?")),
            None => o["resource"].as_str().unwrap_or("?").to_owned(),
        };
        let agent = e["userAgent"].as_str().unwrap_or("");
        let by = if agent.contains("helm") || agent.contains("engine") {
            "engine"
        } else {
            "controller"
        };
        lines.push(format!(
            "    {by:<10} {} {resource} {} -> {}",
            e["verb"].as_str().unwrap_or("?"),
            o["name"].as_str().unwrap_or(""),
            e["responseStatus"]["code"]
        ));
    }
    println!(
        "  requests in the audit log ({}): {}",
        path.display(),
        lines.len()
    );
    for l in lines {
        println!("{l}");
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// RSS and peak RSS (`VmHWM`) of the live children of `parent` (the resident chart engine).
fn live_children_memory(parent: u32) -> (u64, u64) {
    let mut found = (0, 0);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let kb = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if kb("PPid:") == u64::from(parent) {
            found.0 += kb("VmRSS:");
            found.1 += kb("VmHWM:");
        }
    }
    found
}

fn print_stats(label: &str, pid: u32, before: &ProcStats) -> ProcStats {
    let now = proc_stats(pid);
    let (engine_rss, engine_hwm) = live_children_memory(pid);
    println!(
        "  controller {label}: RSS {}, peak (VmHWM) {}, CPU +{} (total {}); chart engine (helm children or resident engine) CPU +{} (total {}), resident engine RSS {}, peak {}",
        mb(now.rss_kb),
        mb(now.hwm_kb),
        secs(now.cpu.saturating_sub(before.cpu)),
        secs(now.cpu),
        secs(now.children_cpu.saturating_sub(before.children_cpu)),
        secs(now.children_cpu),
        mb(engine_rss),
        mb(engine_hwm),
    );
    now
}

fn print_metrics(c: &Controller) {
    let Some((_, body)) = c.http_get("/metrics") else {
        return;
    };
    for line in body.lines() {
        if [
            "fluid_reconciles_total",
            "fluid_reconcile_errors_total",
            "fluid_reconcile_duration_seconds_sum",
            "fluid_reconcile_duration_seconds_count",
        ]
        .iter()
        .any(|p| line.starts_with(p))
        {
            println!("  /metrics {line}");
        }
    }
}

async fn bench() {
    let single_runs = env_num("FLUID_RS_BENCH_SINGLE_RUNS", 5) as usize;
    let pairs = env_num("FLUID_RS_BENCH_PAIRS", 100) as usize;
    let cycles = env_num("FLUID_RS_BENCH_CYCLES", 1).max(1);

    // The release-built engine plugin and the CRDs from the release-built controller.
    let engine = Engine::from_env();
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(
        engine.plugin(),
        plugins.path().join(format!("{}.so", engine.name())),
    )
    .unwrap();
    common::controller::install_crds(plugins.path());

    let ns = TestNamespace::create("bench-bound").await.unwrap();
    let client = ns.client();
    let nsn = ns.name().to_owned();
    let work = tempfile::tempdir().unwrap();
    let log = std::env::var_os("FLUID_RS_BENCH_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| work.path().join("controller.log"));
    let sync = Duration::from_secs(env_num("FLUID_RS_BENCH_SYNC_SECONDS", 30));
    let kubeconfig = common::apiserver::measured_kubeconfig();
    let ctrl = Controller::start(plugins.path(), log.clone(), work.path(), &kubeconfig, sync);
    let pid = ctrl.pid();
    let ready = Instant::now();
    while ctrl.http_get("/readyz").map(|r| r.0) != Some(200) {
        assert!(
            ready.elapsed() < Duration::from_secs(60),
            "the controller did not become ready; log {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the watches list what there is before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "apply_to_bound: namespace {nsn}, controller pid {pid}, chart engine {}, log {}, {} cores",
        std::env::var("FLUID_CHART_ENGINE").unwrap_or_else(|_| "resident (default)".into()),
        log.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("  load average at start: {}", load().trim());
    let mut stats = print_stats("idle after start", pid, &ProcStats::default());

    // ------------------------------------------------ one pair at a time
    println!(
        "\n1 pair (Dataset + {}, 1 worker), {single_runs} runs:",
        engine.kind()
    );
    let mut singles = vec![];
    let mut singles_ds = vec![];
    let mut single_children = ChildPeak::default();
    let mut single_requests = vec![];
    for run in 0..single_runs {
        let name = format!("single-{run}");
        let counted = requests();
        let counted_at = Timestamp::now();
        let start: Start = Arc::default();
        let timeline: Timeline = Arc::default();
        let watchers = if run == 0 {
            start_timeline(&client, &nsn, &name, start.clone(), timeline.clone())
        } else {
            vec![]
        };
        if run == 0 {
            // Let the watches start before the apply.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let r = apply_and_wait(
            pid,
            &client,
            &nsn,
            std::slice::from_ref(&name),
            Some(&*start),
        )
        .await;
        // Late writes of the pass that bound it (first sync) belong to it.
        tokio::time::sleep(Duration::from_secs(2)).await;
        single_requests.push(requests() - counted);
        print_audit(counted_at, Timestamp::now());
        singles.push(r.total);
        singles_ds.push(r.dataset[0]);
        single_children.count = single_children.count.max(r.children.count);
        single_children.rss_kb = single_children.rss_kb.max(r.children.rss_kb);
        single_children.anon_kb = single_children.anon_kb.max(r.children.anon_kb);
        println!(
            "  run {run}: apply -> Dataset and PVC Bound {} (Dataset Bound {}; kubectl apply itself {})",
            secs(r.total),
            secs(r.dataset[0]),
            secs(r.apply)
        );
        if run == 0 {
            // Late milestones (first sync) may come just after Bound.
            tokio::time::sleep(Duration::from_secs(2)).await;
            for w in watchers {
                w.abort();
            }
            let mut tl = timeline.lock().unwrap().clone();
            tl.sort_by_key(|(_, d)| *d);
            println!(
                "  timeline of run 0 (first seen by a watch, from the start of kubectl apply):"
            );
            for (what, d) in &tl {
                println!("    {:>+8.0} ms  {what}", d.as_secs_f64() * 1000.0);
            }
            let wall = start.lock().unwrap().map(|(_, w)| w).unwrap();
            println!("  controller log for run 0 (ms from the start of kubectl apply):");
            for line in log_excerpt(&log, &nsn, &name, wall) {
                println!("  {line}");
            }
        }
        let took = clean(&client, &nsn).await;
        println!(
            "  run {run}: cleanup (runtime, then dataset, until PVC/PV gone) {}",
            secs(took)
        );
    }
    let mut sorted = singles.clone();
    sorted.sort();
    singles_ds.sort();
    println!(
        "  1 pair, apply -> Dataset and PVC Bound: median {} (min {}, max {})",
        secs(sorted[sorted.len() / 2]),
        secs(sorted[0]),
        secs(*sorted.last().unwrap())
    );
    println!(
        "  1 pair, apply -> Dataset Bound: median {} (min {}, max {})",
        secs(singles_ds[singles_ds.len() / 2]),
        secs(singles_ds[0]),
        secs(*singles_ds.last().unwrap())
    );
    println!(
        "  helm children of the controller at once: up to {}, {} RSS ({} anonymous) in all",
        single_children.count,
        mb(single_children.rss_kb),
        mb(single_children.anon_kb)
    );
    for (run, r) in single_requests.iter().enumerate() {
        println!("  run {run}: API requests, apply -> Bound (+2 s): {r}");
    }
    stats = print_stats("after the 1-pair runs", pid, &stats);

    // ------------------------------------------------ many pairs at once
    let mut first = None;
    for cycle in 0..cycles {
        println!("\n{pairs} pairs in one kubectl apply (cycle {cycle}):");
        let names: Vec<String> = (0..pairs).map(|i| format!("many-{cycle}-{i:04}")).collect();
        let counted = requests();
        let r = apply_and_wait(pid, &client, &nsn, &names, None).await;
        let to_bound = requests() - counted;
        println!(
            "  API requests, apply -> all Bound: {to_bound} = {:.1} per pair",
            to_bound.total() as f64 / pairs as f64
        );
        println!(
            "  total (apply -> last pair Bound) {}, kubectl apply itself {}",
            secs(r.total),
            secs(r.apply)
        );
        println!(
            "  helm children of the controller at once: up to {}, {} RSS ({} anonymous) in all",
            r.children.count,
            mb(r.children.rss_kb),
            mb(r.children.anon_kb)
        );
        for (what, d) in [
            ("Dataset and PVC Bound", &r.per_pair),
            ("Dataset Bound", &r.dataset),
        ] {
            println!(
                "  per pair apply -> {what}: p50 {}, p90 {}, max {}, min {}",
                secs(percentile(d, 50.0)),
                secs(percentile(d, 90.0)),
                secs(*d.last().unwrap()),
                secs(d[0]),
            );
            // How Bound pairs accumulate over time.
            let mut curve = BTreeMap::new();
            for d in d {
                *curve.entry(d.as_secs() / 5 * 5).or_insert(0) += 1;
            }
            let mut acc = 0;
            let curve: Vec<String> = curve
                .into_iter()
                .map(|(s, n)| {
                    acc += n;
                    format!("<{}s:{acc}", s + 5)
                })
                .collect();
            println!("    cumulative: {}", curve.join(" "));
        }
        let bound = print_stats(&format!("after {pairs} pairs Bound"), pid, &stats);
        let per_pair = |d: Duration| d.as_secs_f64() / pairs as f64;
        let (ctl, eng) = (
            per_pair(bound.cpu.saturating_sub(stats.cpu)),
            per_pair(bound.children_cpu.saturating_sub(stats.children_cpu)),
        );
        println!(
            "  CPU per pair, apply -> all Bound: controller {ctl:.3} s + chart engine {eng:.3} s = {:.3} s",
            ctl + eng
        );
        stats = bound;
        print_metrics(&ctrl);
        // Idle: every runtime Bound; one sync period to settle, then two measured.
        tokio::time::sleep(sync).await;
        let counted = requests();
        let idle_start = proc_stats(pid);
        tokio::time::sleep(sync * 2).await;
        let idle = requests() - counted;
        let idle_cpu = proc_stats(pid).cpu.saturating_sub(idle_start.cpu);
        println!(
            "  idle, {pairs} Bound runtimes, 2 syncs of {}: {idle} = {:.2} reads and {:.2} writes per runtime per sync; controller CPU {}",
            secs(sync),
            idle.reads as f64 / (2.0 * pairs as f64),
            idle.writes as f64 / (2.0 * pairs as f64),
            secs(idle_cpu)
        );
        let counted = requests();
        let took = clean(&client, &nsn).await;
        let deleted = requests() - counted;
        println!(
            "  cleanup of {pairs} pairs {}; API requests {deleted} = {:.1} per pair",
            secs(took),
            deleted.total() as f64 / pairs as f64
        );
        stats = print_stats(&format!("after cleanup (cycle {cycle})"), pid, &stats);
        first.get_or_insert(r);
    }
    let r = first.unwrap();
    let end = proc_stats(pid);
    println!(
        "\nsummary: 1 pair median {} (Dataset Bound {}); {pairs} pairs (cycle 0) total {}, p50 {}, p90 {}, max {} (Dataset Bound p50 {}, max {}); controller peak RSS {}, RSS at end {}, CPU {} (+ chart engine {})",
        secs(sorted[sorted.len() / 2]),
        secs(singles_ds[singles_ds.len() / 2]),
        secs(r.total),
        secs(percentile(&r.per_pair, 50.0)),
        secs(percentile(&r.per_pair, 90.0)),
        secs(*r.per_pair.last().unwrap()),
        secs(percentile(&r.dataset, 50.0)),
        secs(*r.dataset.last().unwrap()),
        mb(end.hwm_kb),
        mb(end.rss_kb),
        secs(end.cpu),
        secs(end.children_cpu),
    );
    println!("load average at the end: {}", load().trim());
    drop(ctrl);
    let _ = ns.cleanup().await;
}
