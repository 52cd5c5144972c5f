//! The transform: a Dataset and its `JindoRuntime` to the values of `charts/jindo`, for the
//! flavour the controller runs. Pure: what Fluid's `pkg/ddc/jindo*/transform*.go` computes,
//! shaped for our chart, which only places what this renders (the property files, the
//! containers' environment, volumes and placement). Secrets appear as Secret projections,
//! never as values.
//!
//! - [`tieredstore`]: the cache directories, capacities and watermarks;
//! - [`ufs`]: the mounts, their stores and credentials;
//! - [`properties`]: the property files of each flavour.

pub mod properties;
pub mod tieredstore;
pub mod ufs;

use crate::crd::{JindoCompTemplateSpec, JindoRuntimeSpec};
use crate::flavor::{Attach, Flavor};
use fluid_plugin_api::conventions::Conventions;
pub use fluid_plugin_api::kit::Problem;
use fluid_plugin_api::kit::{merged, volumes_for};
use fluid_plugin_api::types::{Dataset, NetworkMode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The host ports of a runtime's components: the one input through which ports reach the
/// transform. Today Fluid's defaults (its constants for the container network), overridden
/// by the runtime's `master.ports` / `worker.ports`; once the host's port allocator (protocol
/// minor 2) is wired in, the engine fills this from it and nothing else changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// The namespace service's RPC port (`namespace.rpc.port`).
    pub master_rpc: u16,
    /// The masters' raft port (three masters).
    pub master_raft: u16,
    /// The storage service's RPC port (`storage.rpc.port`).
    pub worker_rpc: u16,
    /// The fuse's metrics port.
    pub fuse_metrics: u16,
}

impl Ports {
    /// Fluid's defaults (`DEFAULT_MASTER_RPC_PORT` ... in `pkg/ddc/jindocache/const.go`).
    pub const FLUID_DEFAULTS: Ports = Ports {
        master_rpc: 8101,
        master_raft: 8103,
        worker_rpc: 6101,
        fuse_metrics: 10001,
    };

    /// `self` with the ports the runtime names (`master.ports.rpc`, `master.ports.raft`,
    /// `worker.ports.rpc`), or the field of one out of range.
    pub fn with_runtime(mut self, spec: &JindoRuntimeSpec) -> Result<Ports, Problem> {
        let port = |role: &str, c: &Option<JindoCompTemplateSpec>, name: &str, into: &mut u16| {
            if let Some(p) = c
                .as_ref()
                .and_then(|c| c.ports.as_ref())
                .and_then(|p| p.get(name))
            {
                *into = u16::try_from(*p).ok().filter(|p| *p > 0).ok_or_else(|| {
                    Problem::new(
                        format!("spec.{role}.ports.{name}"),
                        format!("{p} is not a port"),
                    )
                })?;
            }
            Ok::<_, Problem>(())
        };
        port("master", &spec.master, "rpc", &mut self.master_rpc)?;
        port("master", &spec.master, "raft", &mut self.master_raft)?;
        port("worker", &spec.worker, "rpc", &mut self.worker_rpc)?;
        Ok(self)
    }
}

/// What the transform needs besides the two objects.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The engine `JINDO_ENGINE_TYPE` selects.
    pub flavor: Flavor,
    /// The host ports.
    pub ports: Ports,
    /// Image pull secrets given to every pod (Fluid reads `IMAGE_PULL_SECRETS`).
    pub image_pull_secrets: Vec<String>,
    /// Whether fuse pods get `system-node-critical` (Fluid's `CRITICAL_FUSE_POD`).
    pub critical_fuse_pod: bool,
    /// The keys of the ConfigMap `spec.hadoopConfig` names, `None` when it does not exist.
    pub hadoop_config_keys: Option<Vec<String>>,
}

/// One runtime, as the transform reads it.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The runtime's name (also its Dataset's).
    pub name: &'a str,
    /// The runtime's namespace.
    pub namespace: &'a str,
    /// The runtime's spec.
    pub spec: &'a JindoRuntimeSpec,
    /// Its Dataset.
    pub dataset: &'a Dataset,
}

/// Whether the Dataset is read-only: no access mode (Fluid's default `ReadOnlyMany`) or
/// `ReadOnlyMany` among them.
pub fn read_only(dataset: &Dataset) -> bool {
    dataset
        .spec
        .access_modes
        .as_deref()
        .filter(|m| !m.is_empty())
        .is_none_or(|m| m.iter().any(|a| a == "ReadOnlyMany"))
}

/// The number of masters: 1, or 3 for raft (Fluid runs 1 for any other number; we refuse it).
pub fn master_replicas(spec: &JindoRuntimeSpec) -> Result<usize, Problem> {
    match spec.master.as_ref().and_then(|m| m.replicas).unwrap_or(1) {
        1 => Ok(1),
        3 => Ok(3),
        n => Err(Problem::new(
            "spec.master.replicas",
            format!("{n} masters: 1, or 3 for high availability (raft)"),
        )),
    }
}

/// The masters' host names: `<name>-master-<i>.<name>-master.<ns>` (the StatefulSet's pods
/// under the headless Service, also before they are ready).
pub fn master_hosts(name: &str, namespace: &str, replicas: usize) -> Vec<String> {
    (0..replicas)
        .map(|i| format!("{name}-master-{i}.{name}-master.{namespace}"))
        .collect()
}

/// Fluid's fuse options, unless `spec.fuse.args` gives them.
pub fn fuse_args(spec: &JindoRuntimeSpec, dataset: &Dataset) -> Vec<String> {
    if let Some(a) = spec
        .fuse
        .as_ref()
        .and_then(|f| f.args.clone())
        .filter(|a| !a.is_empty())
    {
        return a;
    }
    let mut args: Vec<String> = if read_only(dataset) {
        [
            "-okernel_cache",
            "-oro",
            "-oattr_timeout=7200",
            "-oentry_timeout=7200",
            "-onegative_timeout=7200",
        ]
        .map(String::from)
        .to_vec()
    } else {
        [
            "-oauto_cache",
            "-oattr_timeout=0",
            "-oentry_timeout=0",
            "-onegative_timeout=0",
        ]
        .map(String::from)
        .to_vec()
    };
    if dataset.spec.mounts.as_ref().is_none_or(|m| m.len() <= 1) {
        args.push("-ono_symlink".into());
    }
    args
}

fn env_list(pairs: Vec<(&str, String)>, user: Option<&BTreeMap<String, String>>) -> Vec<Value> {
    pairs
        .into_iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .chain(
            user.into_iter()
                .flatten()
                .map(|(k, v)| json!({"name": k, "value": v})),
        )
        .collect()
}

fn to_values<T: serde::Serialize>(items: Option<&Vec<T>>) -> Vec<Value> {
    items
        .into_iter()
        .flatten()
        .filter_map(|i| serde_json::to_value(i).ok())
        .collect()
}

/// The `spec.hadoopConfig` ConfigMap as a volume and its files' mounts (`/hdfs-site.xml`,
/// `/core-site.xml` where the images read them), when the runtime names one.
fn hadoop_config(
    spec: &JindoRuntimeSpec,
    settings: &Settings,
) -> Result<Option<(Value, Vec<Value>)>, Problem> {
    let Some(name) = spec.hadoop_config.as_deref().filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let files =
        fluid_plugin_api::kit::hadoop_config_files(name, settings.hadoop_config_keys.as_deref())?;
    Ok(Some((
        json!({"name": "hadoop-config", "configMap": {"name": name}}),
        files
            .iter()
            .map(|f| json!({"name": "hadoop-config", "mountPath": format!("/{f}"), "subPath": f}))
            .collect(),
    )))
}

/// The `/token` volume: the STS token Secret (`spec.secret`, whole) and the encrypt options'
/// keys, projected.
fn token_volume(spec: &JindoRuntimeSpec, plan: &ufs::UfsPlan) -> Option<Value> {
    let mut sources: Vec<Value> = vec![];
    if let Some(s) = spec.secret.as_deref().filter(|s| !s.is_empty()) {
        sources.push(json!({"secret": {"name": s}}));
    }
    let mut by_secret: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for t in &plan.token_items {
        by_secret
            .entry(&t.secret)
            .or_default()
            .push(json!({"key": t.key, "path": t.path}));
    }
    for (secret, items) in by_secret {
        sources.push(json!({"secret": {"name": secret, "items": items}}));
    }
    (!sources.is_empty()).then(|| json!({"name": "jindo-token", "projected": {"sources": sources}}))
}

/// The chart values for a runtime and its Dataset under `settings.flavor`. The paths and the
/// fuse node label are the controller's `conventions`.
pub fn values(
    input: &Input,
    settings: &Settings,
    conventions: &Conventions,
) -> Result<Value, Vec<Problem>> {
    let f = &settings.flavor;
    let spec = input.spec;
    let dataset = input.dataset;
    let mut problems = vec![];
    let levels = spec
        .tiered_store
        .as_ref()
        .and_then(|t| t.levels.clone())
        .unwrap_or_default();
    let cache = tieredstore::cache(f, &levels, input.namespace, input.name)
        .map_err(|p| problems.extend(p))
        .ok();
    let plan = ufs::plan(f, dataset).map_err(|p| problems.extend(p)).ok();
    let masters = master_replicas(spec)
        .map_err(|p| problems.push(p))
        .unwrap_or(1);
    let ports = settings
        .ports
        .with_runtime(spec)
        .map_err(|p| problems.push(p))
        .ok();
    let hadoop = hadoop_config(spec, settings)
        .map_err(|p| problems.push(p))
        .ok()
        .flatten();
    let master = spec.master.clone().unwrap_or_default();
    let worker = spec.worker.clone().unwrap_or_default();
    let fuse = spec.fuse.clone().unwrap_or_default();
    let deprecated_labels = spec.labels.is_some()
        || master.labels.is_some()
        || worker.labels.is_some()
        || fuse.labels.is_some();
    let pod_md = spec.pod_metadata.clone().unwrap_or_default();
    let md = |c: Option<&fluid_plugin_api::types::PodMetadata>| c.cloned().unwrap_or_default();
    let (master_md, worker_md, fuse_md) = (
        md(master.pod_metadata.as_ref()),
        md(worker.pod_metadata.as_ref()),
        md(fuse.pod_metadata.as_ref()),
    );
    if deprecated_labels
        && [&pod_md, &master_md, &worker_md, &fuse_md]
            .iter()
            .any(|m| m.labels.as_ref().is_some_and(|l| !l.is_empty()))
    {
        problems.push(Problem::new(
            "spec.labels",
            "labels are set both with spec.labels (deprecated) and spec.podMetadata.labels: use spec.podMetadata.labels only",
        ));
    }
    let mut role_volumes =
        |role: &str, mounts: Option<&Vec<k8s_openapi::api::core::v1::VolumeMount>>| {
            let mounts = mounts.cloned().unwrap_or_default();
            let volumes = volumes_for(spec.volumes.as_deref().unwrap_or_default(), &mounts)
                .map_err(|(i, v)| {
                    problems.push(Problem::new(
                        format!("spec.{role}.volumeMounts[{i}]"),
                        format!("volume {v:?} is not in spec.volumes"),
                    ))
                })
                .unwrap_or_default();
            (volumes, to_values(Some(&mounts)))
        };
    let (master_volumes, master_mounts) = role_volumes("master", master.volume_mounts.as_ref());
    let (worker_volumes, worker_mounts) = role_volumes("worker", worker.volume_mounts.as_ref());
    let (Some(cache), Some(plan), Some(ports), true) = (cache, plan, ports, problems.is_empty())
    else {
        return Err(problems);
    };

    let version = spec.jindo_version.clone().unwrap_or_default();
    let image = version
        .image
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| f.image.into());
    let image_tag = version
        .image_tag
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| f.image_tag.into());
    let pull = version
        .image_pull_policy
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "Always".into());
    let fuse_image = fuse
        .image
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| f.fuse_image.into());
    let fuse_tag = fuse
        .image_tag
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| f.fuse_image_tag.into());
    let fuse_pull = fuse
        .image_pull_policy
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "Always".into());

    let hosts = master_hosts(input.name, input.namespace, masters);
    let empty = BTreeMap::new();
    let parts = properties::Parts {
        masters: hosts.clone(),
        ports,
        cache: &cache,
        plan: &plan,
        read_only: read_only(dataset),
        sts_token: spec.secret.as_deref().is_some_and(|s| !s.is_empty()),
        fuse_image_tag: &fuse_tag,
        common: spec.properties.as_ref().unwrap_or(&empty),
        master: master.properties.as_ref().unwrap_or(&empty),
        worker: worker.properties.as_ref().unwrap_or(&empty),
        fuse: fuse.properties.as_ref().unwrap_or(&empty),
        log_config: spec.log_config.as_ref(),
        fuse_log_config: fuse.log_config.as_ref(),
    };
    let files = properties::files(f, &parts);
    let rpc_address = parts.rpc_address();

    let global_secrets: Vec<Value> =
        match spec.image_pull_secrets.as_ref().filter(|s| !s.is_empty()) {
            Some(s) => to_values(Some(s)),
            None => settings
                .image_pull_secrets
                .iter()
                .map(|s| json!({"name": s}))
                .collect(),
        };
    let own_secrets =
        |s: Option<&Vec<k8s_openapi::api::core::v1::LocalObjectReference>>| to_values(s);
    let tolerations = to_values(dataset.spec.tolerations.as_ref());
    let with_own = |own: Option<&Vec<k8s_openapi::api::core::v1::Toleration>>| {
        let mut t = tolerations.clone();
        t.extend(to_values(own));
        t
    };
    let labels = |deprecated: Option<&BTreeMap<String, String>>,
                  own: &fluid_plugin_api::types::PodMetadata| {
        if deprecated_labels {
            merged(spec.labels.as_ref(), deprecated)
        } else {
            merged(pod_md.labels.as_ref(), own.labels.as_ref())
        }
    };
    let annotations = |own: &fluid_plugin_api::types::PodMetadata| {
        merged(pod_md.annotations.as_ref(), own.annotations.as_ref())
    };
    let placement = fluid_plugin_api::kit::placement_mode(dataset);
    let host_network = !matches!(spec.network_mode, Some(NetworkMode::ContainerNetwork));
    let token = token_volume(spec, &plan);
    let token_mount = token
        .as_ref()
        .map(|_| json!({"name": "jindo-token", "mountPath": ufs::TOKEN_DIR, "readOnly": true}));
    let (hadoop_volume, hadoop_mounts) = match hadoop {
        Some((v, m)) => (Some(v), m),
        None => (None, vec![]),
    };
    let join = |parts: &[&[Value]]| -> Vec<Value> {
        parts.iter().flat_map(|p| p.iter().cloned()).collect()
    };
    let shared_volumes: Vec<Value> = plan
        .volumes
        .iter()
        .cloned()
        .chain(token.clone())
        .chain(hadoop_volume)
        .collect();
    let shared_mounts: Vec<Value> = plan
        .volume_mounts
        .iter()
        .cloned()
        .chain(token_mount)
        .chain(hadoop_mounts)
        .collect();
    let run_as = spec.user.clone().filter(|u| !u.is_empty());
    let run_as_env = |mut e: Vec<(&'static str, String)>| {
        if let Some(u) = &run_as {
            e.push(("RUN_AS_USER", u.clone()));
        }
        e
    };
    let raft_hostnames = hosts.join(",");
    let mut master_env = vec![
        ("CLIENT_NAMESPACE_RPC_ADDRESS", rpc_address.clone()),
        ("NAMESPACE_BACKEND_RAFT_HOSTNAME", raft_hostnames),
    ];
    if masters > 1 {
        master_env.push((
            "NAMESPACE_BACKEND_RAFT_INITIAL_CONF",
            hosts
                .iter()
                .map(|h| format!("{h}:{}:0", ports.master_raft))
                .collect::<Vec<_>>()
                .join(","),
        ));
    }
    let mount_lines: String = match f.attach {
        Attach::MountCommand => plan
            .mounts
            .iter()
            .map(|(p, u)| format!("{p} {u}\n"))
            .collect(),
        Attach::NamespaceProperties => String::new(),
    };
    let words = |w: Vec<String>| w.join(" ");
    let clean_policy = match fuse.clean_policy.as_deref() {
        Some("OnDemand") => "OnDemand",
        _ => "OnRuntimeDeleted",
    };
    let mut fuse_selector = fuse.node_selector.clone().unwrap_or_default();
    fuse_selector.insert(conventions.fuse_node_selector_key.clone(), "true".into());

    Ok(json!({
        "engineType": f.engine_type,
        "image": image,
        "imageTag": image_tag,
        "imagePullPolicy": pull,
        "imagePullSecrets": global_secrets,
        "hostNetwork": host_network,
        "placement": placement,
        "configFiles": files,
        "mounts": mount_lines,
        "commands": {
            "report": words(f.report.iter().map(|s| (*s).to_owned()).collect()),
            "mount": words(f.command(&["-mount"])),
            "refresh": if f.engine_type == "jindocache" { words(f.command(&["-refreshCacheSet", "-path", "/cacheset.xml"])) } else { String::new() },
        },
        "master": {
            "replicas": masters,
            "ports": {"rpc": ports.master_rpc, "raft": if masters > 1 { Some(ports.master_raft) } else { None }},
            "env": env_list(run_as_env(master_env), master.env.as_ref()),
            "resources": master.resources.clone().unwrap_or_default(),
            "nodeSelector": master.node_selector.clone().unwrap_or_default(),
            "tolerations": with_own(master.tolerations.as_ref()),
            "labels": labels(master.labels.as_ref(), &master_md),
            "annotations": annotations(&master_md),
            "imagePullSecrets": own_secrets(master.image_pull_secrets.as_ref()),
            "volumes": join(&[&cache.master_volumes.0, &shared_volumes, &master_volumes]),
            "volumeMounts": join(&[&cache.master_volumes.1, &shared_mounts, &master_mounts]),
        },
        "worker": {
            "replicas": spec.replicas.unwrap_or(1).max(0),
            "ports": {"rpc": ports.worker_rpc},
            "env": env_list(vec![("STORAGE_NAMESPACE_RPC_ADDRESS", rpc_address.clone())], worker.env.as_ref()),
            "resources": worker.resources.clone().unwrap_or_default(),
            "nodeSelector": worker.node_selector.clone().unwrap_or_default(),
            "tolerations": with_own(worker.tolerations.as_ref()),
            "labels": labels(worker.labels.as_ref(), &worker_md),
            "annotations": annotations(&worker_md),
            "imagePullSecrets": own_secrets(worker.image_pull_secrets.as_ref()),
            "volumes": join(&[&cache.worker_volumes.0, &shared_volumes, &worker_volumes]),
            "volumeMounts": join(&[&cache.worker_volumes.1, &shared_mounts, &worker_mounts]),
        },
        "fuse": {
            "image": fuse_image,
            "imageTag": fuse_tag,
            "imagePullPolicy": fuse_pull,
            "imagePullSecrets": own_secrets(fuse.image_pull_secrets.as_ref()),
            "args": fuse_args(spec, dataset),
            "env": env_list(run_as_env(vec![
                ("CLIENT_NAMESPACE_RPC_ADDRESS", rpc_address),
                ("FLUID_FUSE_MOUNTPOINT", conventions.fuse_mount_path.clone()),
                ("FLUID_RUNTIME_TYPE", "jindofs".into()),
                ("FLUID_RUNTIME_NS", input.namespace.into()),
                ("FLUID_RUNTIME_NAME", input.name.into()),
            ]), fuse.env.as_ref()),
            "resources": fuse.resources.clone().unwrap_or_default(),
            "nodeSelector": fuse_selector,
            "tolerations": with_own(fuse.tolerations.as_ref()),
            "labels": labels(fuse.labels.as_ref(), &fuse_md),
            "annotations": annotations(&fuse_md),
            "mountPath": conventions.fuse_mount_path,
            "hostMountPath": conventions.fuse_host_mount_path,
            "cleanPolicy": clean_policy,
            "criticalPod": settings.critical_fuse_pod,
            "volumes": join(&[&cache.worker_volumes.0, &shared_volumes]),
            "volumeMounts": join(&[&cache.worker_volumes.1, &shared_mounts]),
        },
    }))
}

/// Fields Fluid accepts that this engine does not use yet (the host reports them in a
/// Warning Event).
pub fn ignored_fields(spec: &JindoRuntimeSpec) -> Vec<String> {
    let mut out = vec![];
    let mut note = |set: bool, field: &str| {
        if set {
            out.push(field.to_owned());
        }
    };
    note(spec.run_as.is_some(), "spec.runAs");
    note(
        spec.master.as_ref().is_some_and(|m| m.disabled.is_some()),
        "spec.master.disabled",
    );
    note(
        spec.worker.as_ref().is_some_and(|m| m.disabled.is_some()),
        "spec.worker.disabled",
    );
    note(
        spec.worker.as_ref().is_some_and(|m| m.replicas.is_some()),
        "spec.worker.replicas",
    );
    note(
        spec.fuse.as_ref().is_some_and(|m| m.disabled.is_some()),
        "spec.fuse.disabled",
    );
    note(
        spec.fuse.as_ref().is_some_and(|m| m.metrics.is_some()),
        "spec.fuse.metrics",
    );
    out
}

#[cfg(test)]
mod tests;
