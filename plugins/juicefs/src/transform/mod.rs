//! The transform: a Dataset and its JuiceFSRuntime to the values of `charts/juicefs`. Pure
//! functions, no cluster: what Fluid's `pkg/ddc/juicefs/transform*.go` computes, shaped for
//! fluid-rs' own chart. Secrets appear as references (`secretKeyRef`) and `${ENV}` in the
//! commands, never as values.

pub mod edition;
pub mod mount;
pub mod options;
pub mod resources;
pub mod secrets;
pub mod tieredstore;

use crate::crd::JuiceFSRuntime;
use edition::Edition;
use fluid_plugin_api::conventions::Conventions;
use fluid_plugin_api::types::{Dataset, FuseCleanPolicy};
use options::{Component, FormatInput, MountInput};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What the transform needs besides the two objects.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Image pull secrets given to every pod (Fluid reads `IMAGE_PULL_SECRETS`).
    pub image_pull_secrets: Vec<String>,
    /// Whether fuse pods get `system-node-critical` (Fluid's `CRITICAL_FUSE_POD`).
    pub critical_fuse_pod: bool,
}

pub use fluid_plugin_api::kit::Problem;

/// The chart values for a runtime and its Dataset. The paths and the fuse node label are the
/// controller's `conventions`; the controller adds them as values too (`fullnameOverride`,
/// `ownerDatasetId`, `runtimeIdentity`, `owner`, ...).
pub fn values(
    runtime: &JuiceFSRuntime,
    dataset: &Dataset,
    settings: &Settings,
    conventions: &Conventions,
) -> Result<Value, Vec<Problem>> {
    let ns = runtime.metadata.namespace.as_deref().unwrap_or_default();
    let name = runtime.metadata.name.as_deref().unwrap_or_default();
    let spec = &runtime.spec;
    let mut problems = vec![];

    let Some(mount0) = dataset.spec.mounts.as_deref().and_then(|m| m.first()) else {
        return Err(vec![Problem::new(
            "spec.mounts",
            "the Dataset needs one mount (juicefs:///<subpath>)",
        )]);
    };
    let edition = edition::edition(dataset);
    let sub_path = options::sub_path(&mount0.mount_point)
        .map_err(|m| problems.push(Problem::new("spec.mounts[0].mountPoint", m)))
        .unwrap_or_else(|_| "/".into());
    let secrets = secrets::secret_envs(dataset).unwrap_or_else(|errors| {
        problems.extend(errors.into_iter().map(|e| Problem::new(e.field, e.message)));
        vec![]
    });
    let fs_name = mount0.name.clone().unwrap_or_else(|| name.to_owned());
    let source = match edition {
        Edition::Community => "${METAURL}".to_owned(),
        Edition::Enterprise => options::sh_quote(&fs_name),
    };
    let levels = spec
        .tiered_store
        .as_ref()
        .and_then(|t| t.levels.clone())
        .unwrap_or_default();
    let cache = tieredstore::cache(&levels)
        .map_err(|e| problems.push(Problem::new(e.field, e.message)))
        .ok();
    let ds_options = options::dataset_options(dataset);
    let quota_cmd =
        options::quota_command(edition, &source, &sub_path, ds_options.quota.as_deref())
            .map_err(|m| problems.push(Problem::new("spec.mounts[0].options[quota]", m)))
            .unwrap_or_default();

    let worker = spec.worker.clone().unwrap_or_default();
    let fuse = spec.fuse.clone().unwrap_or_default();
    let worker_metrics = options::metrics_port(worker.options.as_ref())
        .map_err(|m| problems.push(Problem::new("spec.worker.options[metrics]", m)))
        .unwrap_or_default();
    let fuse_metrics = options::metrics_port(fuse.options.as_ref())
        .map_err(|m| problems.push(Problem::new("spec.fuse.options[metrics]", m)))
        .unwrap_or_default();
    let volumes = spec.volumes.clone().unwrap_or_default();
    let worker_volumes = resources::volumes_for(
        &volumes,
        worker.volume_mounts.as_deref().unwrap_or_default(),
    )
    .map_err(|(i, v)| {
        problems.push(Problem::new(
            format!("spec.worker.volumeMounts[{i}]"),
            format!("volume {v:?} is not in spec.volumes"),
        ))
    })
    .unwrap_or_default();
    let fuse_volumes =
        resources::volumes_for(&volumes, fuse.volume_mounts.as_deref().unwrap_or_default())
            .map_err(|(i, v)| {
                problems.push(Problem::new(
                    format!("spec.fuse.volumeMounts[{i}]"),
                    format!("volume {v:?} is not in spec.volumes"),
                ))
            })
            .unwrap_or_default();
    let Some(cache) = cache.filter(|_| problems.is_empty()) else {
        return Err(problems);
    };

    let read_only = dataset
        .spec
        .access_modes
        .as_deref()
        .filter(|m| !m.is_empty())
        .is_none_or(|m| m.iter().any(|a| a == "ReadOnlyMany"));
    let mount_path = conventions.fuse_mount_path.clone();
    let worker_host = mount::is_host_network(worker.network_mode);
    let fuse_host = mount::is_host_network(fuse.network_mode);
    let (worker_port, fuse_port) = mount::metrics_ports(
        ns,
        name,
        worker_host,
        fuse_host,
        worker_metrics,
        fuse_metrics,
    );

    // Fluid's order. Worker: cache options, then worker options. Fuse: the Dataset's options,
    // then cache options, then fuse options.
    let mut mount_options = cache.options.clone();
    if sub_path != "/" {
        mount_options.insert("subdir".into(), sub_path.clone());
    }
    let mut worker_options = mount_options.clone();
    worker_options.extend(worker.options.clone().unwrap_or_default());
    let mut fuse_options: BTreeMap<String, String> = ds_options.options.clone();
    fuse_options.extend(mount_options);
    fuse_options.extend(fuse.options.clone().unwrap_or_default());
    let cache_group = format!("{ns}-{name}");
    let worker_cmd = options::mount_command(MountInput {
        edition,
        component: Component::Worker,
        source: &source,
        mount_path: &mount_path,
        options: worker_options,
        read_only,
        metrics_port: worker_port,
        cache_group: cache_group.clone(),
    });
    let fuse_cmd = options::mount_command(MountInput {
        edition,
        component: Component::Fuse,
        source: &source,
        mount_path: &mount_path,
        options: fuse_options,
        read_only,
        metrics_port: fuse_port,
        cache_group,
    });
    let format_cmd = options::format_command(&FormatInput {
        edition,
        configs: spec.configs.as_deref().unwrap_or_default(),
        dataset: &ds_options,
        secrets: &secrets,
        name: &fs_name,
    });

    let (default_image, default_tag) = edition.default_image();
    let version = spec.juicefs_version.clone().unwrap_or_default();
    let image = version
        .image
        .clone()
        .unwrap_or_else(|| default_image.into());
    let image_tag = version
        .image_tag
        .clone()
        .unwrap_or_else(|| default_tag.into());
    let pull = version
        .image_pull_policy
        .clone()
        .unwrap_or_else(|| "IfNotPresent".into());

    let memory_quota = cache.quota_bytes.filter(|_| cache.memory);
    let cache_volumes: Vec<Value> = cache.dirs.iter().map(|d| d.volume()).collect();
    let cache_mounts: Vec<Value> = cache.dirs.iter().map(|d| d.volume_mount()).collect();
    let with_cache = |mut v: Vec<Value>, extra: &[Value]| {
        v.extend(extra.iter().cloned());
        v
    };
    let pod_md = spec.pod_metadata.clone().unwrap_or_default();
    let worker_md = worker.pod_metadata.clone().unwrap_or_default();
    let fuse_md = fuse.pod_metadata.clone().unwrap_or_default();
    let json_of = |v: Option<&Vec<k8s_openapi::api::core::v1::VolumeMount>>| {
        v.map(|m| serde_json::to_value(m).unwrap_or_default())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    };
    let mut fuse_selector = fuse.node_selector.clone().unwrap_or_default();
    fuse_selector.insert(conventions.fuse_node_selector_key.clone(), "true".into());
    let tolerations: Vec<Value> = dataset
        .spec
        .tolerations
        .iter()
        .flatten()
        .map(|t| {
            let mut t = t.clone();
            t.toleration_seconds = None;
            serde_json::to_value(t).unwrap_or_default()
        })
        .collect();
    let clean_policy = match fuse.clean_policy.unwrap_or_default() {
        FuseCleanPolicy::None | FuseCleanPolicy::OnRuntimeDeleted => "OnRuntimeDeleted",
        FuseCleanPolicy::OnDemand => "OnDemand",
        FuseCleanPolicy::OnFuseChanged => "OnFuseChanged",
    };
    let placement = fluid_plugin_api::kit::placement_mode(dataset);
    let affinity = worker_affinity(
        &placement,
        &conventions.fuse_node_selector_key,
        dataset
            .spec
            .node_affinity
            .as_ref()
            .and_then(|a| a.required.as_ref()),
    );
    let host_pid = runtime
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(FUSE_HOST_PID_ANNOTATION))
        .is_some_and(|v| fluid_plugin_api::kit::parse_bool(v) == Some(true));

    Ok(json!({
        "chartLabel": CHART_LABEL,
        "edition": edition,
        "image": image,
        "imageTag": image_tag,
        "imagePullPolicy": pull,
        "imagePullSecrets": settings.image_pull_secrets.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
        "tolerations": tolerations,
        "placement": placement,
        "source": source,
        "configs": {
            "name": fs_name,
            "formatCmd": format_cmd,
            "quotaCmd": quota_cmd,
            "storage": ds_options.storage,
            "bucket": ds_options.bucket,
        },
        "secretEnvs": secrets::env_entries(&secrets),
        "cacheDirs": cache.dirs.iter().map(|d| json!({"name": d.name, "path": d.path,
            "type": d.volume_type})).collect::<Vec<_>>(),
        "worker": {
            "replicas": spec.replicas.unwrap_or(0).max(0),
            "image": image,
            "imageTag": image_tag,
            "imagePullPolicy": pull,
            "command": worker_cmd,
            "statCmd": format!("stat -c %i {}", options::sh_quote(&mount_path)),
            "mountPath": mount_path,
            "hostNetwork": worker_host,
            "metricsPort": worker_port,
            "privileged": true,
            "resources": resources::resources(worker.resources.as_ref(),
                memory_quota.filter(|_| edition == Edition::Enterprise)),
            "envs": worker.env.clone().unwrap_or_default(),
            "nodeSelector": worker.node_selector.clone().unwrap_or_default(),
            "labels": resources::merged(pod_md.labels.as_ref(), worker_md.labels.as_ref()),
            "annotations": resources::merged(pod_md.annotations.as_ref(), worker_md.annotations.as_ref()),
            "volumes": with_cache(worker_volumes, &cache_volumes),
            "volumeMounts": with_cache(json_of(worker.volume_mounts.as_ref()), &cache_mounts),
            "volumeClaimTemplates": spec.volume_claim_templates.clone().unwrap_or_default(),
            "affinity": affinity,
        },
        "fuse": {
            "image": fuse.image.clone().unwrap_or_else(|| image.clone()),
            "imageTag": fuse.image_tag.clone().unwrap_or_else(|| image_tag.clone()),
            "imagePullPolicy": fuse.image_pull_policy.clone().unwrap_or_else(|| pull.clone()),
            "command": fuse_cmd,
            "statCmd": format!("stat -c %i {}", options::sh_quote(&mount_path)),
            "mountPath": mount_path,
            "hostMountPath": conventions.fuse_host_mount_path,
            "subPath": if sub_path == "/" { String::new() } else { sub_path.clone() },
            "hostNetwork": fuse_host,
            "metricsPort": fuse_port,
            "privileged": true,
            "hostPID": host_pid,
            "criticalPod": settings.critical_fuse_pod,
            "cleanPolicy": clean_policy,
            "resources": resources::resources(fuse.resources.as_ref(), memory_quota),
            "envs": fuse.env.clone().unwrap_or_default(),
            "nodeSelector": fuse_selector,
            "labels": resources::merged(pod_md.labels.as_ref(), fuse_md.labels.as_ref()),
            "annotations": resources::merged(pod_md.annotations.as_ref(), fuse_md.annotations.as_ref()),
            "volumes": with_cache(fuse_volumes, &cache_volumes),
            "volumeMounts": with_cache(json_of(fuse.volume_mounts.as_ref()), &cache_mounts),
        },
    }))
}

/// The runtime annotation that runs the fuse in the host's PID namespace (Fluid's).
pub const FUSE_HOST_PID_ANNOTATION: &str = "runtime.fluid.io/fuse.hostpid";
/// The label Fluid's worker anti-affinity keys on: every cache worker carries it.
pub const DATASET_LABEL: &str = "fluid.io/dataset";
/// The label with the worker's placement mode.
pub const PLACEMENT_LABEL: &str = "fluid.io/dataset-placement";
const HOSTNAME: &str = "kubernetes.io/hostname";
/// The `chart` label of every object and selector: the value Fluid's JuiceFS chart writes
/// (`juicefs` 0.2.16 at Fluid a826600a), frozen because selectors are immutable.
pub const CHART_LABEL: &str = "juicefs-0.2.16";

/// The selector the chart renders for a component (`role`) of a release: Fluid's.
pub fn selector(release: &str, role: &str) -> Value {
    json!({"app": "juicefs", "chart": CHART_LABEL, "heritage": "Helm", "release": release,
        "role": role})
}

/// The worker pods' affinity, as Fluid's `BuildWorkersAffinity` sets it: `Exclusive` (or
/// unset) keeps a worker off any node with another dataset's cache worker (required); `Shared`
/// only prefers that (weight 50) and keeps off nodes of `Exclusive` workers (required). Both
/// prefer nodes that have the fuse (weight 100), and the Dataset's `nodeAffinity.required` is
/// required.
pub fn worker_affinity(
    placement: &str,
    fuse_label: &str,
    required: Option<&k8s_openapi::api::core::v1::NodeSelector>,
) -> Value {
    let any_worker = json!({
        "labelSelector": {"matchExpressions": [{"key": DATASET_LABEL, "operator": "Exists"}]},
        "topologyKey": HOSTNAME,
    });
    let anti = if placement == "Shared" {
        json!({
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 50, "podAffinityTerm": any_worker},
            ],
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchExpressions": [
                    {"key": PLACEMENT_LABEL, "operator": "In", "values": ["Exclusive"]},
                ]},
                "topologyKey": HOSTNAME,
            }],
        })
    } else {
        json!({"requiredDuringSchedulingIgnoredDuringExecution": [any_worker]})
    };
    let mut node = json!({
        "preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "preference": {"matchExpressions": [
                {"key": fuse_label, "operator": "In", "values": ["true"]},
            ]},
        }],
    });
    if let Some(r) = required {
        node["requiredDuringSchedulingIgnoredDuringExecution"] = json!(r);
    }
    json!({"podAntiAffinity": anti, "nodeAffinity": node})
}

/// Fields Fluid accepts that the JuiceFS engine does not use (the host reports them in a
/// Warning Event).
pub fn ignored_fields(runtime: &JuiceFSRuntime) -> Vec<String> {
    let s = &runtime.spec;
    let mut out = vec![];
    let mut note = |set: bool, field: &str| {
        if set {
            out.push(field.to_owned());
        }
    };
    note(s.run_as.is_some(), "spec.runAs");
    note(s.disable_prometheus.is_some(), "spec.disablePrometheus");
    note(s.master.is_some(), "spec.master");
    note(s.job_worker.is_some(), "spec.jobWorker");
    note(s.init_users.is_some(), "spec.initUsers");
    note(
        s.runtime_management
            .as_ref()
            .is_some_and(|m| m.clean_cache_policy.is_some()),
        "spec.management.cleanCachePolicy",
    );
    let w = s.worker.clone().unwrap_or_default();
    note(w.replicas.is_some(), "spec.worker.replicas");
    note(w.ports.is_some(), "spec.worker.ports");
    note(w.enabled.is_some(), "spec.worker.enabled");
    let levels = s
        .tiered_store
        .as_ref()
        .and_then(|t| t.levels.clone())
        .unwrap_or_default();
    if let Some(l) = levels.first() {
        note(
            l.quota_list.is_some(),
            "spec.tieredstore.levels[0].quotaList",
        );
        note(l.high.is_some(), "spec.tieredstore.levels[0].high");
    }
    for i in 1..levels.len() {
        out.push(format!("spec.tieredstore.levels[{i}]"));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
