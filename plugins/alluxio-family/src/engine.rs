//! The hooks, once for the whole family: an engine names its kind and [`Flavor`] through
//! [`Family`] and exports `FamilyEngine<Itself>`. Decisions are pure functions of this crate
//! (`transform`, `commands`, `parse`); the hooks only fetch, exec and report.

use crate::commands;
use crate::flavor::Flavor;
use crate::operate;
use crate::parse;
use crate::spec::FamilySpec;
use crate::transform::{self, ufs, Input, Settings};
use fluid_plugin_api::protocol::{EventType, ExecRequest, LogLevel};
use fluid_plugin_api::types::size::{human_bytes, parse_human_bytes};
use fluid_plugin_api::types::{cache_state as cs, Dataset, RuntimeStatus, VersionSpec};
use fluid_plugin_api::{
    hooks, kit, CacheReport, Engine, FieldError, HealthReport, HookContext, HookError, HookResult,
    Host, MetadataReport, OperationPlan, Outcome, Validation,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A runtime of the family, whatever its kind.
#[derive(Clone, Debug, Default)]
pub struct RuntimeView {
    /// Its spec.
    pub spec: FamilySpec,
    /// Its image (`alluxioVersion`, `goosefsVersion`).
    pub version: Option<VersionSpec>,
    /// Its status.
    pub status: Option<RuntimeStatus>,
}

/// One engine of the family.
pub trait Family: Send + Sync + 'static {
    /// Its names.
    const FLAVOR: Flavor;
    /// Its runtime kind (`AlluxioRuntime`).
    const KIND: &'static str;
    /// The runtime object as the family reads it.
    fn view(runtime: &Value) -> Result<RuntimeView, HookError>;
}

/// The engine of family member `F`.
#[derive(Debug)]
pub struct FamilyEngine<F> {
    member: PhantomData<F>,
    /// The cluster's reads at each runtime's last cache report (by runtime uid): hit ratios
    /// are over the reads since then, as Fluid's (kept in memory, as Fluid keeps them).
    last_reads: Mutex<HashMap<String, parse::Reads>>,
}

impl<F> Default for FamilyEngine<F> {
    fn default() -> Self {
        Self {
            member: PhantomData,
            last_reads: Mutex::default(),
        }
    }
}

impl<F> FamilyEngine<F> {
    /// The reads of the runtime of uid `uid` at its last report, replaced by `now`.
    fn swap_reads(&self, uid: &str, now: Option<parse::Reads>) -> Option<parse::Reads> {
        let mut last = self.last_reads.lock().unwrap_or_else(|p| p.into_inner());
        match now {
            Some(now) => last.insert(uid.to_owned(), now),
            None => last.remove(uid),
        }
    }
}

const API_VERSION: &str = "data.fluid.io/v1alpha1";
/// How long one exec of the engine's command line tool may take (a JVM starts each time).
const EXEC_TIMEOUT: u64 = 50;
/// How long a hook goes on starting execs (the host cuts a hook at 120 s).
const EXEC_BUDGET: Duration = Duration::from_secs(90);

/// The node ports of a runtime on the host network, from the host's allocator (protocol 1.2);
/// `None` (Fluid's fixed ports) on the container network or from an older host, which is
/// said in the log: two such runtimes on one node then need distinct `ports`.
fn host_ports(spec: &FamilySpec, host: &Host) -> Result<Option<Vec<u16>>, HookError> {
    if !transform::needs_host_ports(spec) {
        return Ok(None);
    }
    let count = transform::properties::host_port_count(transform::master_replicas(spec) > 1);
    Ok(kit::allocate_host_ports(host, count)?)
}

/// The transform's settings: the controller's environment, and the keys of the Hadoop
/// configuration ConfigMap the runtime names.
fn settings(spec: &FamilySpec, host: &Host) -> Result<Settings, HookError> {
    let hadoop_config_keys = match spec.hadoop_config.as_deref().filter(|n| !n.is_empty()) {
        None => None,
        Some(name) => kit::configmap_keys(host, name)?,
    };
    Ok(Settings {
        image_pull_secrets: kit::image_pull_secrets_from_env(),
        critical_fuse_pod: kit::critical_fuse_pod_from_env(),
        hadoop_config_keys,
        host_ports: None,
    })
}

fn problems_error(problems: &[transform::Problem]) -> HookError {
    HookError::new(
        problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// The master container's name.
pub fn master_container(f: &Flavor) -> String {
    format!("{}-master", f.app())
}

/// An exec's outcome: stdout and exit code, or why it could not run.
struct Ran {
    stdout: String,
    stderr: String,
    code: i32,
}

fn exec(
    host: &Host,
    pod: &str,
    container: &str,
    command: Vec<String>,
    timeout: u64,
) -> Result<Ran, String> {
    host.exec(&ExecRequest {
        pod: pod.to_owned(),
        container: Some(container.to_owned()),
        command,
        timeout_seconds: Some(timeout),
    })
    .map(|r| Ran {
        stdout: r.stdout,
        stderr: r.stderr,
        code: r.exit_code,
    })
    .map_err(|e| e.to_string())
}

impl<F: Family> FamilyEngine<F> {
    fn objects(cx: &HookContext) -> Result<(RuntimeView, Dataset), HookError> {
        let view = F::view(cx.runtime())?;
        let dataset = cx
            .dataset_as::<Dataset>()?
            .ok_or_else(|| HookError::new("the runtime has no Dataset of the same name"))?;
        Ok((view, dataset))
    }

    fn input<'a>(cx: &'a HookContext, view: &'a RuntimeView, dataset: &'a Dataset) -> Input<'a> {
        Input {
            flavor: &F::FLAVOR,
            name: cx.name(),
            namespace: cx.namespace(),
            spec: &view.spec,
            version: view.version.as_ref(),
            dataset,
        }
    }

    /// A running master pod whose containers are all ready (the first by name).
    fn ready_master(host: &Host, name: &str) -> Result<Option<String>, HookError> {
        let app = F::FLAVOR.app();
        let selector = format!("app={app},release={name},role={app}-master");
        Ok(kit::ready_pods(host, &selector)?.into_iter().min())
    }

    /// Runs a command in the master, logging (at debug, without the output) a failure.
    fn in_master(host: &Host, pod: &str, command: Vec<String>) -> Result<Ran, String> {
        let ran = exec(
            host,
            pod,
            &master_container(&F::FLAVOR),
            command,
            EXEC_TIMEOUT,
        )?;
        if ran.code != 0 {
            let _ = host.log(
                LogLevel::Debug,
                &format!("exec in {pod}: exit {}", ran.code),
            );
        }
        Ok(ran)
    }

    /// Sets `status.selector` (the scale subresource's label selector).
    fn ensure_selector(cx: &HookContext, host: &Host) -> Result<(), HookError> {
        let selector = F::FLAVOR.worker_selector(cx.name());
        Ok(kit::ensure_scale_selector(
            host,
            API_VERSION,
            F::KIND,
            cx.name(),
            &selector,
        )?)
    }

    /// Brings the master's mount table to the Dataset's mounts, then records them with the
    /// time (a master started later has lost them: see `should_update_ufs`).
    fn sync_mounts(cx: &HookContext, host: &Host) -> Result<(), HookError> {
        let (_, dataset) = Self::objects(cx)?;
        let plan = ufs::plan(&dataset).map_err(|p| problems_error(&p))?;
        let f = &F::FLAVOR;
        let pod = Self::ready_master(host, cx.name())?.ok_or_else(|| {
            HookError::new("no master pod is ready to mount the under file systems")
        })?;
        let table =
            Self::in_master(host, &pod, commands::mount_table(f)).map_err(HookError::new)?;
        if table.code != 0 {
            return Err(HookError::new(format!(
                "`{} fs mount` in {pod} exited {}: the master does not serve yet",
                f.cli, table.code
            )));
        }
        let entries = parse::mounts(&table.stdout);
        let (unmount, mount) = commands::mount_actions(&plan.mounts, &entries);
        for path in unmount {
            let ran =
                Self::in_master(host, &pod, commands::unmount(f, &path)).map_err(HookError::new)?;
            if ran.code != 0 {
                return Err(HookError::new(format!(
                    "unmounting {path} in {pod} exited {}",
                    ran.code
                )));
            }
        }
        for m in mount {
            let ran = Self::in_master(host, &pod, commands::mount(f, m)).map_err(HookError::new)?;
            if ran.code != 0 {
                // The error text may quote option values: only a line of it, and none when a
                // secret was passed.
                let why = if m.secret_options.is_empty() {
                    ran.stderr
                        .lines()
                        .chain(ran.stdout.lines())
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("")
                        .to_owned()
                } else {
                    String::new()
                };
                return Err(HookError::new(format!(
                    "mounting {} at {} in {pod} exited {}{}",
                    m.ufs,
                    m.path,
                    ran.code,
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(": {why}")
                    }
                )));
            }
        }
        let now = k8s_openapi::jiff::Timestamp::now();
        host.patch_status(
            API_VERSION,
            F::KIND,
            cx.name(),
            json!({"mounts": dataset.spec.mounts, "mountTime": now.to_string()}),
        )?;
        Ok(())
    }
}

/// Whether the mounts must be made (again): never made while the Dataset has mounts made by
/// exec, the Dataset's mounts differ from the ones last made, or the master started after they
/// were made. Pure.
pub fn remount_needed(
    status: Option<&RuntimeStatus>,
    dataset: &Dataset,
    exec_mounts: bool,
    master_started: Option<&str>,
) -> bool {
    let Some(done) = status.and_then(|s| s.mount_time.as_ref()) else {
        return exec_mounts;
    };
    if status.and_then(|s| s.mounts.as_ref()) != dataset.spec.mounts.as_ref() {
        return true;
    }
    master_started
        .and_then(|s| s.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .is_some_and(|started| started > done.0)
}

/// Fluid's cache states from the master's summary and the hit ratios
/// ([`parse::hit_ratios`]).
pub fn cache_states(
    summary: Option<&parse::Summary>,
    hit_ratios: Option<&std::collections::BTreeMap<&'static str, String>>,
    ufs_total: Option<u64>,
) -> std::collections::BTreeMap<String, String> {
    let mut states = std::collections::BTreeMap::new();
    if let Some(s) = summary {
        states.insert(cs::CACHED.to_owned(), human_bytes(s.used_capacity));
        states.insert(cs::CACHE_CAPACITY.to_owned(), human_bytes(s.total_capacity));
        if let Some(total) = ufs_total.filter(|t| *t > 0) {
            states.insert(
                cs::CACHED_PERCENTAGE.to_owned(),
                format!("{:.1}%", s.used_capacity as f64 * 100.0 / total as f64),
            );
        }
    }
    if let Some(h) = hit_ratios {
        states.extend(h.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    }
    states
}

#[hooks]
impl<F: Family> Engine for FamilyEngine<F> {
    fn validate(&self, cx: &HookContext, host: &Host) -> HookResult<Validation> {
        let view = F::view(cx.runtime())?;
        let mut v = Validation {
            ignored_fields: transform::ignored_fields(&view.spec),
            ..Default::default()
        };
        let Some(dataset) = cx.dataset_as::<Dataset>()? else {
            return Ok(Outcome::Done(v));
        };
        let input = Self::input(cx, &view, &dataset);
        if let Err(problems) =
            transform::values(&input, &settings(&view.spec, host)?, cx.conventions()?)
        {
            v.errors.extend(problems.into_iter().map(|p| FieldError {
                field: p.field,
                message: p.message,
            }));
        }
        check_secrets(&dataset, host, &mut v.errors)?;
        Ok(Outcome::Done(v))
    }

    /// The pod of a DataLoad or DataBackup (`crate::operate`); DataMigrate is not done.
    fn operate(&self, cx: &HookContext, _host: &Host) -> HookResult<OperationPlan> {
        let (view, dataset) = Self::objects(cx)?;
        let input = cx.operate_input()?;
        Ok(
            match operate::plan(&input, &Self::input(cx, &view, &dataset))? {
                Some(plan) => Outcome::Done(plan),
                None => Outcome::Default,
            },
        )
    }

    /// The chart values. Once the fuse DaemonSet exists its node selector is kept, as Fluid
    /// does: the CSI plugin labels nodes by the original key.
    fn transform(&self, cx: &HookContext, host: &Host) -> HookResult<Value> {
        let (view, dataset) = Self::objects(cx)?;
        let input = Self::input(cx, &view, &dataset);
        let settings = Settings {
            host_ports: host_ports(&view.spec, host)?,
            ..settings(&view.spec, host)?
        };
        let mut values = transform::values(&input, &settings, cx.conventions()?)
            .map_err(|p| problems_error(&p))?;
        if let Some(ds) = host.get("apps/v1", "DaemonSet", &format!("{}-fuse", cx.name()))? {
            let current = &ds["spec"]["template"]["spec"]["nodeSelector"];
            if current.is_object() && *current != values["fuse"]["nodeSelector"] {
                values["fuse"]["nodeSelector"] = current.clone();
            }
        }
        Ok(Outcome::Done(values))
    }

    /// The master is ready when its StatefulSet is (the controller's default: its pods'
    /// readiness probe is the RPC port). Records the scale selector on the way.
    fn check_master_ready(&self, cx: &HookContext, host: &Host) -> HookResult<bool> {
        Self::ensure_selector(cx, host)?;
        Ok(Outcome::Default)
    }

    /// Only mounts made by exec need preparing; native (`local://`, `pvc://`) and root mounts
    /// are the chart's.
    fn should_check_ufs(&self, cx: &HookContext, _host: &Host) -> HookResult<bool> {
        let (_, dataset) = Self::objects(cx)?;
        Ok(Outcome::Done(
            ufs::plan(&dataset).is_ok_and(|p| !p.mounts.is_empty()),
        ))
    }

    fn prepare_ufs(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Self::sync_mounts(cx, host)?;
        Ok(Outcome::Done(()))
    }

    fn should_update_ufs(&self, cx: &HookContext, host: &Host) -> HookResult<bool> {
        let (view, dataset) = Self::objects(cx)?;
        let exec_mounts = ufs::plan(&dataset).is_ok_and(|p| !p.mounts.is_empty());
        let status = view.status.as_ref();
        if !exec_mounts && status.and_then(|s| s.mount_time.as_ref()).is_none() {
            return Ok(Outcome::Done(false)); // nothing mounted by exec, nothing to mount
        }
        let container = master_container(&F::FLAVOR);
        let started = match Self::ready_master(host, cx.name())? {
            Some(pod) => host.get("v1", "Pod", &pod)?.and_then(|p| {
                p["status"]["containerStatuses"].as_array().and_then(|cs| {
                    cs.iter()
                        .find(|c| c["name"] == container.as_str())
                        .and_then(|c| {
                            c["state"]["running"]["startedAt"]
                                .as_str()
                                .map(str::to_owned)
                        })
                })
            }),
            None => None,
        };
        Ok(Outcome::Done(remount_needed(
            status,
            &dataset,
            exec_mounts,
            started.as_deref(),
        )))
    }

    fn update_on_ufs_change(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        Self::sync_mounts(cx, host)?;
        Ok(Outcome::Done(()))
    }

    /// The UFS size and file count, computed in the master in the background (Fluid's
    /// `loadMetadata -R /` then `count /`): `calculating` until the job has its result.
    fn sync_metadata(&self, cx: &HookContext, host: &Host) -> HookResult<MetadataReport> {
        let (view, dataset) = Self::objects(cx)?;
        if !kit::metadata_sync_wanted(view.spec.runtime_management.as_ref(), &dataset) {
            return Ok(Outcome::Default);
        }
        if let Some(pod) = Self::ready_master(host, cx.name())? {
            match Self::in_master(
                host,
                &pod,
                commands::metadata_job(&F::FLAVOR, commands::METADATA_STATE),
            ) {
                Ok(r) if r.code == 0 => {
                    if let Some((files, _, bytes)) = parse::count(&r.stdout) {
                        return Ok(Outcome::Done(MetadataReport {
                            ufs_total_bytes: Some(bytes),
                            file_count: Some(files),
                            calculating: false,
                        }));
                    }
                }
                Ok(r) if r.code == 3 => {} // started, or still running
                Ok(r) => {
                    let _ = host.log(
                        LogLevel::Warn,
                        &format!(
                            "the metadata job in pod {pod} exited {}; retried at the next sync",
                            r.code
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

    /// Cached bytes and capacity from the master's summary, hit ratios from its metrics.
    fn update_cache_of_dataset(&self, cx: &HookContext, host: &Host) -> HookResult<CacheReport> {
        let (_, dataset) = Self::objects(cx)?;
        let Some(pod) = Self::ready_master(host, cx.name())? else {
            return Ok(Outcome::Default);
        };
        let started = Instant::now();
        let summary = Self::in_master(host, &pod, commands::report_summary(&F::FLAVOR))
            .ok()
            .filter(|r| r.code == 0)
            .and_then(|r| parse::summary(&r.stdout));
        let metrics = (started.elapsed() < EXEC_BUDGET / 2)
            .then(|| Self::in_master(host, &pod, commands::report_metrics(&F::FLAVOR)).ok())
            .flatten()
            .filter(|r| r.code == 0)
            .map(|r| parse::metrics(&r.stdout));
        let ufs_total = dataset
            .status
            .as_ref()
            .and_then(|s| s.ufs_total.as_deref())
            .and_then(parse_human_bytes);
        if summary.is_none() && metrics.is_none() {
            return Ok(Outcome::Default);
        }
        let uid = cx.runtime()["metadata"]["uid"].as_str().unwrap_or_default();
        let hits = metrics.as_ref().and_then(|m| {
            let now = parse::reads(m);
            parse::hit_ratios(&now, self.swap_reads(uid, Some(now)).as_ref())
        });
        Ok(Outcome::Done(CacheReport {
            cache_states: cache_states(summary.as_ref(), hits.as_ref(), ufs_total),
        }))
    }

    /// Healthy when the masters and the workers are (no replica wanted, or one ready).
    fn check_runtime_healthy(&self, cx: &HookContext, host: &Host) -> HookResult<HealthReport> {
        Self::ensure_selector(cx, host)?;
        Ok(Outcome::Done(kit::statefulsets_health(
            host,
            cx.name(),
            &["master", "worker"],
        )?))
    }

    /// Fluid's shutdown: free the cache (`fs free -f /` in the master, within the clean
    /// policy's grace period and retries), then uninstall. A cache that cannot be freed is
    /// reported and never blocks the deletion.
    fn shutdown(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        let name = cx.name();
        self.swap_reads(
            cx.runtime()["metadata"]["uid"].as_str().unwrap_or_default(),
            None,
        );
        let policy = F::view(cx.runtime())
            .ok()
            .and_then(|v| v.spec.runtime_management)
            .and_then(|m| m.clean_cache_policy)
            .unwrap_or_default();
        let grace = policy
            .grace_period_seconds
            .unwrap_or(60)
            .clamp(0, EXEC_TIMEOUT as i32) as u64;
        let attempts = policy.max_retry_attempts.unwrap_or(3).clamp(1, 10);
        let mut freed = false;
        if grace > 0 {
            if let Some(pod) = Self::ready_master(host, name)? {
                let started = Instant::now();
                for _ in 0..attempts {
                    if started.elapsed() > EXEC_BUDGET {
                        break;
                    }
                    let command = commands::free(&F::FLAVOR);
                    if exec(host, &pod, &master_container(&F::FLAVOR), command, grace)
                        .is_ok_and(|r| r.code == 0)
                    {
                        freed = true;
                        break;
                    }
                }
            }
        }
        if !freed {
            let _ = host.event(
                EventType::Warning,
                "CacheCleanSkipped",
                &format!("the cache of {name} could not be freed before uninstalling; the workers' tier directories keep it"),
            );
        }
        host.helm_uninstall(name)?;
        host.delete(
            "v1",
            "ConfigMap",
            &format!("{name}-{}-values", F::FLAVOR.engine),
        )?;
        Ok(Outcome::Done(()))
    }
}

/// Checks every Secret an encrypt option names: it exists and has the key.
fn check_secrets(
    dataset: &Dataset,
    host: &Host,
    errors: &mut Vec<FieldError>,
) -> Result<(), HookError> {
    errors.extend(kit::encrypt_option_errors(host, dataset)?);
    Ok(())
}
