//! The hooks. Decisions are pure functions of this crate (`transform`, `commands`, `parse`);
//! the hooks only fetch, exec and report. Setup never needs an exec: the chart's master
//! attaches the Dataset's mounts itself once its namespace service answers (JindoCache,
//! JindoFSx), or the namespace properties name them (legacy JindoFS). Exec serves what comes
//! later: mounts added to the Dataset, the report (cache states), the UFS size, the shutdown's
//! clean-up.

use crate::commands;
use crate::crd::JindoRuntime;
use crate::flavor::{Attach, Flavor};
use crate::parse;
use crate::transform::{self, ufs, Input, Ports, Settings};
use fluid_plugin_api::protocol::{EventType, ExecRequest, LogLevel};
use fluid_plugin_api::types::size::{human_bytes, parse_human_bytes};
use fluid_plugin_api::types::{cache_state as cs, Dataset, MediumType};
use fluid_plugin_api::{
    hooks, kit, CacheReport, Engine, FieldError, HealthReport, HookContext, HookError, HookResult,
    Host, MetadataReport, Outcome, Validation,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const API_VERSION: &str = "data.fluid.io/v1alpha1";
const KIND: &str = "JindoRuntime";
/// The plugin's name: in paths (`/runtime-mnt/jindo/...`), labels and records.
pub const ENGINE: &str = "jindo";
/// The fuse's file system type (Fluid's).
pub const MOUNT_TYPE: &str = "fuse.jindofs-fuse";
/// The master container (Fluid's name).
pub const MASTER_CONTAINER: &str = "jindofs-master";
/// How long one exec may take.
const EXEC_TIMEOUT: u64 = 50;

/// The scale subresource's selector of the worker pods.
pub fn worker_selector(name: &str) -> String {
    format!("app={ENGINE},release={name},role=jindofs-worker")
}

/// The Jindo engine, of the flavour the controller's `JINDO_ENGINE_TYPE` named at load.
#[derive(Clone, Debug)]
pub struct JindoEngine {
    flavor: Flavor,
}

impl JindoEngine {
    /// The engine of `flavor`.
    pub fn new(flavor: Flavor) -> Self {
        Self { flavor }
    }

    /// The engine `JINDO_ENGINE_TYPE` selects, or why it cannot be loaded.
    pub fn from_env() -> Result<Self, String> {
        Flavor::from_env().map(Self::new)
    }

    /// Its flavour.
    pub fn flavor(&self) -> &Flavor {
        &self.flavor
    }
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

fn objects(cx: &HookContext) -> Result<(JindoRuntime, Dataset), HookError> {
    let runtime: JindoRuntime = serde_json::from_value(cx.runtime().clone())?;
    let dataset = cx
        .dataset_as::<Dataset>()?
        .ok_or_else(|| HookError::new("the runtime has no Dataset of the same name"))?;
    Ok((runtime, dataset))
}

/// A command's output and exit code.
struct Ran {
    stdout: String,
    code: i32,
}

/// The runtime's ports: on the host network from the host's allocator (protocol 1.2: never the
/// same port to two runtimes, as Fluid's port allocator), else, and from an older host (said in
/// the log), Fluid's fixed ports. Ports the runtime names win over either (`Ports::with_runtime`).
fn host_ports(runtime: &JindoRuntime, host: &Host) -> Result<Ports, HookError> {
    if matches!(
        runtime.spec.network_mode,
        Some(fluid_plugin_api::types::NetworkMode::ContainerNetwork)
    ) {
        return Ok(Ports::FLUID_DEFAULTS);
    }
    match kit::allocate_host_ports(host, 4)? {
        Some(p) if p.len() == 4 => Ok(Ports {
            master_rpc: p[0],
            master_raft: p[1],
            worker_rpc: p[2],
            fuse_metrics: p[3],
        }),
        Some(p) => Err(HookError::new(format!(
            "the host allocated {} ports where 4 were asked",
            p.len()
        ))),
        None => Ok(Ports::FLUID_DEFAULTS),
    }
}

impl JindoEngine {
    fn settings(&self, runtime: &JindoRuntime, host: &Host) -> Result<Settings, HookError> {
        let hadoop_config_keys = match runtime
            .spec
            .hadoop_config
            .as_deref()
            .filter(|n| !n.is_empty())
        {
            None => None,
            Some(name) => kit::configmap_keys(host, name)?,
        };
        Ok(Settings {
            flavor: self.flavor,
            ports: host_ports(runtime, host)?,
            image_pull_secrets: kit::image_pull_secrets_from_env(),
            critical_fuse_pod: kit::critical_fuse_pod_from_env(),
            hadoop_config_keys,
        })
    }

    fn values(
        &self,
        cx: &HookContext,
        host: &Host,
    ) -> Result<Result<Value, Vec<transform::Problem>>, HookError> {
        let (runtime, dataset) = objects(cx)?;
        let input = Input {
            name: cx.name(),
            namespace: cx.namespace(),
            spec: &runtime.spec,
            dataset: &dataset,
        };
        Ok(transform::values(
            &input,
            &self.settings(&runtime, host)?,
            cx.conventions()?,
        ))
    }

    /// A ready master pod (the first by name).
    fn ready_master(host: &Host, name: &str) -> Result<Option<String>, HookError> {
        let selector = format!("app={ENGINE},release={name},role=jindofs-master");
        Ok(kit::ready_pods(host, &selector)?.into_iter().min())
    }

    fn in_master(
        host: &Host,
        pod: &str,
        command: Vec<String>,
        timeout: u64,
    ) -> Result<Ran, String> {
        host.exec(&ExecRequest {
            pod: pod.to_owned(),
            container: Some(MASTER_CONTAINER.to_owned()),
            command,
            timeout_seconds: Some(timeout),
        })
        .map(|r| Ran {
            stdout: r.stdout,
            code: r.exit_code,
        })
        .map_err(|e| e.to_string())
    }

    /// Attaches the Dataset's mounts the master lacks (the same command lines the chart's
    /// master runs at start), refreshes JindoCache's cache sets, and records the mounts.
    fn sync_mounts(&self, cx: &HookContext, host: &Host) -> Result<(), HookError> {
        let f = &self.flavor;
        let (_, dataset) = objects(cx)?;
        let plan = ufs::plan(f, &dataset).map_err(|p| problems_error(&p))?;
        if f.attach == Attach::MountCommand {
            let pod = Self::ready_master(host, cx.name())?
                .ok_or_else(|| HookError::new("no master pod is ready to attach the mounts"))?;
            let table = Self::in_master(host, &pod, commands::mount_table(f), EXEC_TIMEOUT)
                .map_err(HookError::new)?;
            if table.code != 0 {
                return Err(HookError::new(format!(
                    "`{}` in {pod} exited {}",
                    commands::mount_table(f).join(" "),
                    table.code
                )));
            }
            let attached = parse::mount_table(&table.stdout);
            for (path, uri) in commands::missing(&plan.mounts, &attached) {
                let ran = Self::in_master(host, &pod, commands::mount(f, path, uri), EXEC_TIMEOUT)
                    .map_err(HookError::new)?;
                if ran.code != 0 && !commands::already_mounted(&ran.stdout) {
                    return Err(HookError::new(format!(
                        "attaching {uri} at {path} in {pod} exited {}",
                        ran.code
                    )));
                }
            }
            if f.engine_type == "jindocache" {
                let ran =
                    Self::in_master(host, &pod, commands::refresh_cache_sets(f), EXEC_TIMEOUT)
                        .map_err(HookError::new)?;
                if ran.code != 0 {
                    return Err(HookError::new(format!(
                        "refreshing the cache sets in {pod} exited {}",
                        ran.code
                    )));
                }
            }
        }
        record_mounts(cx, host, &dataset)
    }
}

/// Sets `status.selector` (the scale subresource's label selector).
fn ensure_selector(cx: &HookContext, host: &Host) -> Result<(), HookError> {
    let selector = worker_selector(cx.name());
    Ok(kit::ensure_scale_selector(
        host,
        API_VERSION,
        KIND,
        cx.name(),
        &selector,
    )?)
}

/// Records the Dataset's mounts as the runtime's once the controller has written the status
/// (`valueFile`) and they are not recorded yet: the chart's master attaches them (no exec).
fn record_mounts_once(cx: &HookContext, host: &Host) -> Result<(), HookError> {
    let (runtime, dataset) = objects(cx)?;
    let written = runtime
        .status
        .as_ref()
        .is_some_and(|s| !s.value_file.is_empty() && s.mounts.is_none());
    if written {
        record_mounts(cx, host, &dataset)?;
    }
    Ok(())
}

/// Records the Dataset's mounts as the runtime's (`status.mounts`, `status.mountTime`).
fn record_mounts(cx: &HookContext, host: &Host, dataset: &Dataset) -> Result<(), HookError> {
    let now = k8s_openapi::jiff::Timestamp::now();
    host.patch_status(
        API_VERSION,
        KIND,
        cx.name(),
        json!({"mounts": dataset.spec.mounts, "mountTime": now.to_string()}),
    )?;
    Ok(())
}

/// Fluid's cache states from the report: cached, capacity, and the cached percentage of the
/// UFS total (at most 100%: Jindo counts whole blocks).
pub fn cache_states(capacity: parse::Capacity, ufs_total: Option<u64>) -> BTreeMap<String, String> {
    let mut states = BTreeMap::new();
    states.insert(cs::CACHED.to_owned(), human_bytes(capacity.used));
    states.insert(cs::CACHE_CAPACITY.to_owned(), human_bytes(capacity.total));
    if let Some(total) = ufs_total.filter(|t| *t > 0) {
        let ratio = (capacity.used as f64 / total as f64).min(1.0);
        states.insert(
            cs::CACHED_PERCENTAGE.to_owned(),
            format!("{:.1}%", ratio * 100.0),
        );
    }
    states
}

/// Whether the Dataset's mounts changed since they were recorded. Pure.
pub fn mounts_changed(runtime: &JindoRuntime, dataset: &Dataset) -> bool {
    runtime
        .status
        .as_ref()
        .and_then(|s| s.mounts.as_ref())
        .is_some_and(|recorded| Some(recorded) != dataset.spec.mounts.as_ref())
}

#[hooks]
impl Engine for JindoEngine {
    fn validate(&self, cx: &HookContext, host: &Host) -> HookResult<Validation> {
        let runtime: JindoRuntime = serde_json::from_value(cx.runtime().clone())?;
        let mut v = Validation {
            ignored_fields: transform::ignored_fields(&runtime.spec),
            ..Default::default()
        };
        let Some(dataset) = cx.dataset_as::<Dataset>()? else {
            return Ok(Outcome::Done(v));
        };
        if let Err(problems) = self.values(cx, host)? {
            v.errors.extend(problems.into_iter().map(|p| FieldError {
                field: p.field,
                message: p.message,
            }));
        }
        check_secrets(&runtime, &dataset, host, &mut v.errors)?;
        Ok(Outcome::Done(v))
    }

    /// The chart values. Once the fuse DaemonSet exists its node selector is kept, as Fluid
    /// does: the CSI plugin labels nodes by the original key.
    fn transform(&self, cx: &HookContext, host: &Host) -> HookResult<Value> {
        let mut values = self.values(cx, host)?.map_err(|p| problems_error(&p))?;
        if let Some(ds) = host.get("apps/v1", "DaemonSet", &format!("{}-fuse", cx.name()))? {
            let current = &ds["spec"]["template"]["spec"]["nodeSelector"];
            if current.is_object() && *current != values["fuse"]["nodeSelector"] {
                values["fuse"]["nodeSelector"] = current.clone();
            }
        }
        Ok(Outcome::Done(values))
    }

    /// The master is ready when its StatefulSet is (the controller's default). Records the
    /// scale selector, and the mounts the chart's master attaches, on the way.
    fn check_master_ready(&self, cx: &HookContext, host: &Host) -> HookResult<bool> {
        ensure_selector(cx, host)?;
        record_mounts_once(cx, host)?;
        Ok(Outcome::Default)
    }

    /// Never at setup: the chart attaches the mounts (see the module's comment).
    fn should_check_ufs(&self, _cx: &HookContext, _host: &Host) -> HookResult<bool> {
        Ok(Outcome::Done(false))
    }

    fn prepare_ufs(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        self.sync_mounts(cx, host)?;
        Ok(Outcome::Done(()))
    }

    /// When the Dataset's mounts differ from the recorded ones. The legacy engine's mounts
    /// are properties: a change reaches it through the chart (the masters roll).
    fn should_update_ufs(&self, cx: &HookContext, _host: &Host) -> HookResult<bool> {
        let (runtime, dataset) = objects(cx)?;
        Ok(Outcome::Done(mounts_changed(&runtime, &dataset)))
    }

    fn update_on_ufs_change(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        self.sync_mounts(cx, host)?;
        Ok(Outcome::Done(()))
    }

    /// The UFS size, counted in the master, when the controller asks for it as Fluid does
    /// (`QUERY_UFS_TOTAL=true`; Jindo keeps no file count).
    fn sync_metadata(&self, cx: &HookContext, host: &Host) -> HookResult<MetadataReport> {
        let (_, dataset) = objects(cx)?;
        if std::env::var("QUERY_UFS_TOTAL").ok().as_deref() != Some("true")
            || !kit::metadata_sync_wanted(None, &dataset)
        {
            return Ok(Outcome::Default);
        }
        let plan = ufs::plan(&self.flavor, &dataset).map_err(|p| problems_error(&p))?;
        let Some(pod) = Self::ready_master(host, cx.name())? else {
            return Ok(Outcome::Done(MetadataReport {
                calculating: true,
                ..Default::default()
            }));
        };
        let mut total = 0;
        for (path, _) in &plan.mounts {
            let path = if self.flavor.attach == Attach::NamespaceProperties {
                "/"
            } else {
                path.as_str()
            };
            match Self::in_master(
                host,
                &pod,
                commands::count(&self.flavor, path),
                EXEC_TIMEOUT,
            ) {
                Ok(r) if r.code == 0 => match parse::count(&r.stdout) {
                    Some((_, bytes)) => total += bytes,
                    None => {
                        let _ = host.log(
                            LogLevel::Warn,
                            &format!("counting {path} in {pod}: unreadable output"),
                        );
                        return Ok(Outcome::Done(MetadataReport {
                            calculating: true,
                            ..Default::default()
                        }));
                    }
                },
                Ok(r) => {
                    let _ = host.log(
                        LogLevel::Warn,
                        &format!("counting {path} in {pod} exited {}", r.code),
                    );
                    return Ok(Outcome::Done(MetadataReport {
                        calculating: true,
                        ..Default::default()
                    }));
                }
                Err(e) => {
                    let _ = host.log(LogLevel::Warn, &format!("counting {path} in {pod}: {e}"));
                    return Ok(Outcome::Done(MetadataReport {
                        calculating: true,
                        ..Default::default()
                    }));
                }
            }
        }
        Ok(Outcome::Done(MetadataReport {
            ufs_total_bytes: Some(total),
            file_count: None,
            calculating: false,
        }))
    }

    /// Cached bytes and capacity from the master's report.
    fn update_cache_of_dataset(&self, cx: &HookContext, host: &Host) -> HookResult<CacheReport> {
        let (runtime, dataset) = objects(cx)?;
        let Some(pod) = Self::ready_master(host, cx.name())? else {
            return Ok(Outcome::Default);
        };
        let medium = runtime
            .spec
            .tiered_store
            .as_ref()
            .and_then(|t| t.levels.as_ref())
            .and_then(|l| l.first())
            .map(|l| l.medium_type)
            .unwrap_or(MediumType::Mem);
        let capacity = Self::in_master(host, &pod, commands::report(&self.flavor), EXEC_TIMEOUT)
            .ok()
            .filter(|r| r.code == 0)
            .and_then(|r| parse::report(&self.flavor, medium, &r.stdout));
        let Some(capacity) = capacity else {
            return Ok(Outcome::Default);
        };
        let ufs_total = dataset
            .status
            .as_ref()
            .and_then(|s| s.ufs_total.as_deref())
            .and_then(parse_human_bytes);
        Ok(Outcome::Done(CacheReport {
            cache_states: cache_states(capacity, ufs_total),
        }))
    }

    /// Healthy when the masters and the workers are (none wanted, or one ready). Records the
    /// scale selector and the mounts, as the master's readiness does (a runtime bound in the
    /// pass that installed it never asks that again).
    fn check_runtime_healthy(&self, cx: &HookContext, host: &Host) -> HookResult<HealthReport> {
        ensure_selector(cx, host)?;
        record_mounts_once(cx, host)?;
        Ok(Outcome::Done(kit::statefulsets_health(
            host,
            cx.name(),
            &["master", "worker"],
        )?))
    }

    /// Fluid's shutdown: drop the cache in a ready master (within `cleanCachePolicy`'s grace
    /// period and retries), then uninstall. A cache that cannot be dropped is reported and
    /// never blocks the deletion.
    fn shutdown(&self, cx: &HookContext, host: &Host) -> HookResult<()> {
        let name = cx.name();
        let policy = serde_json::from_value::<JindoRuntime>(cx.runtime().clone())
            .ok()
            .and_then(|r| r.spec.clean_cache_policy)
            .unwrap_or_default();
        let grace = policy
            .grace_period_seconds
            .unwrap_or(60)
            .clamp(0, EXEC_TIMEOUT as i32) as u64;
        let attempts = policy.max_retry_attempts.unwrap_or(3).clamp(1, 10);
        let mut freed = false;
        if grace > 0 {
            if let Some(pod) = Self::ready_master(host, name)? {
                for _ in 0..attempts {
                    if Self::in_master(host, &pod, commands::format_cache(&self.flavor), grace)
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
                &format!("the cache of {name} could not be dropped before uninstalling; the workers' data dirs keep it"),
            );
        }
        host.helm_uninstall(name)?;
        host.delete("v1", "ConfigMap", &format!("{name}-{ENGINE}-values"))?;
        Ok(Outcome::Done(()))
    }
}

/// Checks every Secret the runtime or an encrypt option names: it exists (and has the key).
fn check_secrets(
    runtime: &JindoRuntime,
    dataset: &Dataset,
    host: &Host,
    errors: &mut Vec<FieldError>,
) -> Result<(), HookError> {
    if let Some(s) = runtime.spec.secret.as_deref().filter(|s| !s.is_empty()) {
        if host.get("v1", "Secret", s)?.is_none() {
            errors.push(FieldError {
                field: "spec.secret".into(),
                message: format!("secret {s} not found in the runtime's namespace"),
            });
        }
    }
    errors.extend(kit::encrypt_option_errors(host, dataset)?);
    Ok(())
}
