//! fluid-rs engine plugin for [JuiceFS](https://juicefs.com): serves Fluid's `JuiceFSRuntime`
//! kind with its own chart (`charts/juicefs`, embedded at build time).
//!
//! The engine computes the chart values ([`transform`]), validates what the schema cannot
//! (encrypt options and the Secrets they name, the mount point, the tier), reports cache
//! states from the mounts' `.stats`, computes the UFS size and file count in a worker in the
//! background, checks health, and cleans the workers' caches at shutdown. Installing the
//! chart, readiness, the volume, scaling and spec changes are the controller's defaults.
//! See `docs/juicefs.md`.

pub mod crd;
pub mod operate;
pub mod parse;
pub mod status;
pub mod transform;

pub use crd::{
    juicefs_runtime_crd, JuiceFSCompTemplateSpec, JuiceFSFuseSpec, JuiceFSRuntime,
    JuiceFSRuntimeSpec,
};

use fluid_plugin_api::protocol::{EventType, ExecRequest, LogLevel};
use fluid_plugin_api::types::Dataset;
use fluid_plugin_api::{
    export_engine, hooks, kit, CacheReport, Engine, FieldError, HealthReport, HookContext,
    HookError, HookResult, Host, MetadataReport, OperationPlan, Outcome, Validation,
};
use serde_json::Value;
use transform::edition::Edition;

/// The JuiceFS engine.
#[derive(Debug, Default)]
pub struct JuiceFs;

const API_VERSION: &str = "data.fluid.io/v1alpha1";
const KIND: &str = "JuiceFSRuntime";
/// How long one exec into a JuiceFS pod may take from a hook.
const EXEC_TIMEOUT: u64 = 20;
/// How long a hook goes on starting execs (the host cuts a hook at 120 s): pods not reached
/// by then are skipped for this round.
const EXEC_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

fn objects(cx: &HookContext) -> Result<(JuiceFSRuntime, Dataset), HookError> {
    let runtime: JuiceFSRuntime = cx.runtime_as()?;
    let dataset = cx
        .dataset_as::<Dataset>()?
        .ok_or_else(|| HookError::new("the runtime has no Dataset of the same name"))?;
    Ok((runtime, dataset))
}

fn settings() -> transform::Settings {
    transform::Settings {
        image_pull_secrets: kit::image_pull_secrets_from_env(),
        critical_fuse_pod: kit::critical_fuse_pod_from_env(),
    }
}

/// Checks every Secret an encrypt option names: it exists and has the key. The host hands
/// Secrets over with their values blanked, which is all this needs.
fn check_secrets(
    dataset: &Dataset,
    host: &Host,
    errors: &mut Vec<FieldError>,
) -> Result<(), HookError> {
    let Ok(envs) = transform::secrets::secret_envs(dataset) else {
        return Ok(()); // reported by the transform's problems
    };
    let refs: Vec<(&str, &str)> = envs
        .iter()
        .map(|e| (e.secret_name.as_str(), e.secret_key.as_str()))
        .collect();
    for (e, problem) in envs.iter().zip(kit::secret_key_problems(host, &refs)?) {
        if let Some(message) = problem {
            errors.push(FieldError {
                field: e.field.clone(),
                message,
            });
        }
    }
    Ok(())
}

/// Keeps an existing workload's selector (immutable: an upgrade that changed it would fail),
/// whoever rendered it: Fluid (`app, chart, heritage, release, role`, its chart version in
/// `chart`) or an older fluid-rs (`app, release, role`). The chart adds it to the pod labels.
/// Set only when it differs from the chart's own, so the values stay those of the install.
fn keep_selector(component: &mut Value, workload: &Value, release: &str, role: &str) {
    let current = &workload["spec"]["selector"]["matchLabels"];
    if current.as_object().is_some_and(|m| !m.is_empty())
        && *current != transform::selector(release, role)
    {
        component["selectorLabels"] = current.clone();
    }
}

/// Running pods of one role whose containers are all ready.
fn ready_pods(host: &Host, name: &str, role: &str) -> Result<Vec<String>, HookError> {
    Ok(kit::ready_pods(
        host,
        &format!("app=juicefs,release={name},role={role}"),
    )?)
}

/// Sets `status.selector` (the scale subresource's label selector).
fn ensure_selector(cx: &HookContext, host: &Host) -> Result<(), HookError> {
    let name = cx.name();
    let want = transform::mount::worker_selector(name);
    Ok(kit::ensure_scale_selector(
        host,
        API_VERSION,
        KIND,
        name,
        &want,
    )?)
}

/// Runs a command in a pod's container: `(stdout, exit code)`, or why it could not run.
fn exec(
    host: &Host,
    pod: &str,
    container: &str,
    command: Vec<String>,
) -> Result<(String, i32), String> {
    host.exec(&ExecRequest {
        pod: pod.to_owned(),
        container: Some(container.to_owned()),
        command,
        timeout_seconds: Some(EXEC_TIMEOUT),
    })
    .map(|r| {
        if r.exit_code != 0 && !r.stderr.is_empty() {
            let _ = host.log(
                LogLevel::Debug,
                &format!(
                    "exec in {pod}: exit {}: {}",
                    r.exit_code,
                    r.stderr.chars().take(300).collect::<String>()
                ),
            );
        }
        (r.stdout, r.exit_code)
    })
    .map_err(|e| e.to_string())
}

#[hooks]
impl Engine for JuiceFs {
    /// DataLoad (`juicefs warmup`) and DataMigrate (`juicefs sync`); see [`operate`].
    fn operate(&self, cx: &HookContext, host: &Host) -> HookResult<OperationPlan> {
        let (runtime, dataset) = objects(cx)?;
        let input = cx.operate_input()?;
        // A migration between two Datasets reads the other one (in the runtime's namespace).
        let mut other = None;
        if input.kind == fluid_plugin_api::types::OperationKind::DataMigrate {
            let m: fluid_plugin_api::types::DataMigrate = input.operation_as()?;
            for side in [&m.spec.from, &m.spec.to] {
                if let Some(d) = side
                    .dataset
                    .as_ref()
                    .filter(|d| Some(d.name.as_str()) != dataset.metadata.name.as_deref())
                {
                    let found = host
                        .get(API_VERSION, "Dataset", &d.name)?
                        .ok_or_else(|| HookError::new(format!("Dataset {} not found", d.name)))?;
                    other = Some(serde_json::from_value::<Dataset>(found)?);
                }
            }
        }
        // A DataLoad warms the cache of every node a ready worker runs on (from the cache of
        // pods: no request).
        let mut worker_nodes = vec![];
        if input.kind == fluid_plugin_api::types::OperationKind::DataLoad {
            let name = runtime.metadata.name.as_deref().unwrap_or_default();
            let selector = transform::mount::worker_selector(name);
            let pods = host.list("v1", "Pod", Some(&selector))?;
            worker_nodes = operate::ready_nodes(&pods);
        }
        let objects = operate::Objects {
            runtime: &runtime,
            dataset: &dataset,
            other: other.as_ref(),
            worker_nodes: &worker_nodes,
        };
        Ok(match operate::plan(&input, &objects)? {
            Some(plan) => Outcome::Done(plan),
            None => Outcome::Default,
        })
    }

    fn validate(&self, cx: &HookContext, host: &Host) -> HookResult<Validation> {
        let runtime: JuiceFSRuntime = cx.runtime_as()?;
        let mut v = Validation {
            ignored_fields: transform::ignored_fields(&runtime),
            ..Default::default()
        };
        let Some(dataset) = cx.dataset_as::<Dataset>()? else {
            return Ok(Outcome::Done(v));
        };
        if let Err(problems) = transform::values(&runtime, &dataset, &settings(), cx.conventions()?)
        {
            v.errors.extend(problems.into_iter().map(|p| FieldError {
                field: p.field,
                message: p.message,
            }));
        }
        check_secrets(&dataset, host, &mut v.errors)?;
        Ok(Outcome::Done(v))
    }

    /// The chart values. Once the fuse DaemonSet exists its node selector is kept, as Fluid
    /// does: a changed selector would make the DaemonSet controller remove fuse pods that
    /// serve running mounts, and the CSI plugin labels nodes by the original key.
    fn transform(&self, cx: &HookContext, host: &Host) -> HookResult<Value> {
        let (runtime, dataset) = objects(cx)?;
        let mut values = transform::values(&runtime, &dataset, &settings(), cx.conventions()?)
            .map_err(|problems| {
                HookError::new(
                    problems
                        .iter()
                        .map(|p| format!("{}: {}", p.field, p.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        // Listed by the chart's labels: the host answers from its cache of chart workloads.
        let fuse = format!("{}-fuse", cx.name());
        let selector = format!("app=juicefs,release={},role=juicefs-fuse", cx.name());
        let daemonsets = host.list("apps/v1", "DaemonSet", Some(&selector))?;
        if let Some(ds) = daemonsets
            .iter()
            .find(|d| d["metadata"]["name"] == fuse.as_str())
        {
            let current = &ds["spec"]["template"]["spec"]["nodeSelector"];
            if current.is_object() && *current != values["fuse"]["nodeSelector"] {
                values["fuse"]["nodeSelector"] = current.clone();
            }
            keep_selector(&mut values["fuse"], ds, cx.name(), "juicefs-fuse");
        }
        // The same for the workers: a GET of a StatefulSet not made yet would reach the API
        // server on every first install.
        let worker = format!("{}-worker", cx.name());
        let selector = transform::mount::worker_selector(cx.name());
        let statefulsets = host.list("apps/v1", "StatefulSet", Some(&selector))?;
        if let Some(sts) = statefulsets
            .iter()
            .find(|s| s["metadata"]["name"] == worker.as_str())
        {
            keep_selector(&mut values["worker"], sts, cx.name(), "juicefs-worker");
        }
        Ok(Outcome::Done(values))
    }

    /// JuiceFS has no master: ready at once, as in Fluid. Records the scale selector.
    fn check_master_ready(&self, cx: &HookContext, host: &Host) -> HookResult<bool> {
        ensure_selector(cx, host)?;
        Ok(Outcome::Done(true))
    }

    fn sync_metadata(&self, cx: &HookContext, host: &Host) -> HookResult<MetadataReport> {
        let (runtime, dataset) = objects(cx)?;
        if !kit::metadata_sync_wanted(runtime.spec.runtime_management.as_ref(), &dataset) {
            return Ok(Outcome::Default);
        }
        let mount = cx.conventions()?.fuse_mount_path.clone();
        let job = status::metadata_job(&mount);
        // Fluid's choice: the first ready worker.
        if let Some(pod) = ready_pods(host, cx.name(), "juicefs-worker")?.first() {
            let command = vec!["sh".into(), "-c".into(), job];
            match exec(host, pod, status::WORKER_CONTAINER, command) {
                Ok((out, 0)) => {
                    if let Some((bytes, files)) = parse::metadata(&out) {
                        return Ok(Outcome::Done(MetadataReport {
                            ufs_total_bytes: Some(bytes),
                            file_count: Some(files),
                            calculating: false,
                        }));
                    }
                }
                Ok((_, 3)) => {} // started, or still running
                Ok((_, code)) => {
                    let _ = host.log(
                        LogLevel::Warn,
                        &format!(
                            "the metadata job in pod {pod} exited {code}; retried at the next sync"
                        ),
                    );
                }
                Err(e) => {
                    let _ = host.log(LogLevel::Warn, &format!("metadata job in pod {pod}: {e}"));
                }
            }
        }
        Ok(Outcome::Done(MetadataReport {
            calculating: true,
            ..Default::default()
        }))
    }

    fn update_cache_of_dataset(&self, cx: &HookContext, host: &Host) -> HookResult<CacheReport> {
        let (runtime, dataset) = objects(cx)?;
        let edition = transform::edition::edition(&dataset);
        let levels = runtime
            .spec
            .tiered_store
            .as_ref()
            .and_then(|t| t.levels.clone())
            .unwrap_or_default();
        let capacity = transform::tieredstore::cache(&levels)
            .ok()
            .and_then(|c| c.quota_bytes)
            .or_else(|| {
                runtime
                    .spec
                    .worker
                    .as_ref()
                    .and_then(|w| w.options.as_ref())
                    .and_then(|o| o.get("cache-size"))
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(|mib| mib << 20)
            });
        let (role, container) = match edition {
            Edition::Community => ("juicefs-fuse", status::FUSE_CONTAINER),
            Edition::Enterprise => ("juicefs-worker", status::WORKER_CONTAINER),
        };
        let stats_file = format!("{}/.stats", cx.conventions()?.fuse_mount_path);
        let mut clients = vec![];
        let started = std::time::Instant::now();
        for pod in ready_pods(host, cx.name(), role)? {
            if started.elapsed() > EXEC_BUDGET {
                break;
            }
            if let Ok((out, 0)) = exec(
                host,
                &pod,
                container,
                vec!["cat".into(), stats_file.clone()],
            ) {
                if let Some(c) = parse::BlockCache::from_figures(&parse::stats(&out)) {
                    clients.push(c);
                }
            }
        }
        let ready_workers = runtime
            .status
            .as_ref()
            .map(|s| s.worker_number_ready.max(0) as u64)
            .unwrap_or(0);
        let ufs_bytes = dataset
            .status
            .as_ref()
            .and_then(|s| s.ufs_total.as_deref())
            .and_then(status::parse_human_bytes);
        Ok(Outcome::Done(CacheReport {
            cache_states: status::cache_states(&status::CacheInput {
                clients,
                average: edition == Edition::Community,
                capacity_per_worker: capacity,
                ready_workers,
                ufs_bytes,
            }),
        }))
    }

    /// Healthy when the workers are (no replica wanted, or at least one ready: Fluid's rule);
    /// the fuse is always counted healthy, as it is scheduled lazily.
    fn check_runtime_healthy(&self, cx: &HookContext, host: &Host) -> HookResult<HealthReport> {
        ensure_selector(cx, host)?;
        let sts_name = format!("{}-worker", cx.name());
        let Some(sts) = host.get("apps/v1", "StatefulSet", &sts_name)? else {
            return Ok(Outcome::Done(HealthReport {
                healthy: false,
                message: format!("the worker StatefulSet {sts_name} does not exist"),
            }));
        };
        let want = sts["spec"]["replicas"].as_i64().unwrap_or(0);
        let ready = sts["status"]["readyReplicas"].as_i64().unwrap_or(0);
        Ok(Outcome::Done(if want == 0 || ready > 0 {
            HealthReport {
                healthy: true,
                message: String::new(),
            }
        } else {
            HealthReport {
                healthy: false,
                message: format!("no worker of {sts_name} is ready (0/{want})"),
            }
        }))
    }

    /// Fluid's shutdown: clean the workers' block caches on their host directories (only
    /// `<dir>/<volume>/raw/chunks`), then uninstall the release and drop the values. A cache
    /// that cannot be cleaned (pod gone, exec refused) is reported and left: it never blocks
    /// the deletion.
    fn shutdown(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        let name = cx.name();
        if let Ok((runtime, dataset)) = objects(cx) {
            clean_caches(&runtime, &dataset, host, name)?;
        }
        host.helm_uninstall(name)?;
        host.delete("v1", "ConfigMap", &format!("{name}-juicefs-values"))?;
        Ok(Outcome::Done(()))
    }
}

fn clean_caches(
    runtime: &JuiceFSRuntime,
    dataset: &Dataset,
    host: &Host,
    name: &str,
) -> Result<(), HookError> {
    let levels = runtime
        .spec
        .tiered_store
        .as_ref()
        .and_then(|t| t.levels.clone())
        .unwrap_or_default();
    let Ok(cache) = transform::tieredstore::cache(&levels) else {
        return Ok(());
    };
    let dirs: Vec<String> = cache
        .dirs
        .iter()
        .filter(|d| d.volume_type == fluid_plugin_api::types::VolumeType::HostPath)
        .map(|d| d.path.clone())
        .collect();
    if dirs.is_empty() {
        return Ok(());
    }
    let edition = transform::edition::edition(dataset);
    let mut failed = vec![];
    let started = std::time::Instant::now();
    for pod in ready_pods(host, name, "juicefs-worker")? {
        if started.elapsed() > EXEC_BUDGET {
            failed.push(pod);
            continue;
        }
        let volume = match edition {
            Edition::Enterprise => dataset
                .spec
                .mounts
                .as_deref()
                .and_then(|m| m.first())
                .and_then(|m| m.name.clone())
                .unwrap_or_else(|| name.to_owned()),
            Edition::Community => {
                let status = format!("exec {} status \"$METAURL\"", edition.cli());
                match exec(
                    host,
                    &pod,
                    status::WORKER_CONTAINER,
                    vec!["sh".into(), "-c".into(), status],
                ) {
                    Ok((out, 0)) => parse::status_uuid(&out).unwrap_or_default(),
                    _ => String::new(),
                }
            }
        };
        let chunks = status::cache_chunk_dirs(&dirs, &volume);
        if chunks.is_empty() {
            failed.push(pod);
            continue;
        }
        let mut command = vec!["rm".to_owned(), "-rf".to_owned(), "--".to_owned()];
        command.extend(chunks);
        if !matches!(
            exec(host, &pod, status::WORKER_CONTAINER, command),
            Ok((_, 0))
        ) {
            failed.push(pod);
        }
    }
    if !failed.is_empty() {
        let _ = host.event(
            EventType::Warning,
            "CacheCleanSkipped",
            &format!("the block cache of worker pods {} could not be cleaned; their host cache directories keep it", failed.join(", ")),
        );
    }
    Ok(())
}

export_engine! {
    engine: JuiceFs,
    new: || Ok::<_, String>(JuiceFs),
    name: "juicefs",
    version: env!("CARGO_PKG_VERSION"),
    crd: fluid_plugin_api::types::crd_json(&juicefs_runtime_crd()),
    chart: include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz")),
    mount_type: "JuiceFS",
}

#[cfg(test)]
mod fluid_shape_tests;
#[cfg(test)]
mod hook_tests;
#[cfg(test)]
mod tests;
