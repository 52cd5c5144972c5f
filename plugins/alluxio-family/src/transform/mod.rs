//! The transform: a Dataset and its runtime to the values of the engine's chart. Pure
//! functions, no cluster: what Fluid's `pkg/ddc/alluxio/transform*.go` computes, shaped for
//! fluid-rs' own chart. Secrets appear as Secret volumes and file paths, never as values.

pub mod backup;
pub mod components;
pub mod properties;
pub mod resources;
pub mod tieredstore;
pub mod ufs;

use crate::flavor::Flavor;
use crate::spec::{CompTemplateSpec, FamilySpec};
use components::{env_list, merged, volumes_for};
use fluid_plugin_api::conventions::Conventions;
use fluid_plugin_api::types::{Dataset, FuseCleanPolicy, NetworkMode, VersionSpec};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What the transform needs besides the two objects.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Image pull secrets given to every pod (Fluid reads `IMAGE_PULL_SECRETS`).
    pub image_pull_secrets: Vec<String>,
    /// Whether fuse pods get `system-node-critical` (Fluid's `CRITICAL_FUSE_POD`).
    pub critical_fuse_pod: bool,
    /// The keys of the ConfigMap `spec.hadoopConfig` names, `None` when it does not exist.
    pub hadoop_config_keys: Option<Vec<String>>,
    /// The node ports the host allocated for the runtime on the host network
    /// ([`properties::host_port_count`] of them); `None` uses Fluid's fixed ports.
    pub host_ports: Option<Vec<u16>>,
}

/// Where the masters and workers find the Hadoop configuration files (Fluid's path).
pub const HADOOP_CONF_DIR: &str = "/hdfs-config";

/// The `spec.hadoopConfig` ConfigMap as a volume, its mount and the property naming its files
/// (`hdfs-site.xml` and/or `core-site.xml`), when the runtime names one.
fn hadoop_config(
    input: &Input,
    settings: &Settings,
) -> Result<Option<(Value, Value, String)>, Problem> {
    let Some(name) = input
        .spec
        .hadoop_config
        .as_deref()
        .filter(|n| !n.is_empty())
    else {
        return Ok(None);
    };
    let files =
        fluid_plugin_api::kit::hadoop_config_files(name, settings.hadoop_config_keys.as_deref())?;
    let items: Vec<Value> = files.iter().map(|f| json!({"key": f, "path": f})).collect();
    Ok(Some((
        json!({"name": "hadoop-config", "configMap": {"name": name, "items": items}}),
        json!({"name": "hadoop-config", "mountPath": HADOOP_CONF_DIR, "readOnly": true}),
        files
            .iter()
            .map(|f| format!("{HADOOP_CONF_DIR}/{f}"))
            .collect::<Vec<_>>()
            .join(":"),
    )))
}

pub use fluid_plugin_api::kit::Problem;

/// One runtime of the family, as the transform reads it.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The engine's names.
    pub flavor: &'a Flavor,
    /// The runtime's name and namespace.
    pub name: &'a str,
    /// The runtime's namespace.
    pub namespace: &'a str,
    /// The runtime's spec.
    pub spec: &'a FamilySpec,
    /// The image (`alluxioVersion`).
    pub version: Option<&'a VersionSpec>,
    /// Its Dataset.
    pub dataset: &'a Dataset,
}

/// Whether the runtime's masters or workers run on the host network: then their ports come
/// from the host's allocator, so that two runtimes on one node never clash.
pub fn needs_host_ports(spec: &FamilySpec) -> bool {
    [&spec.master, &spec.worker]
        .iter()
        .any(|c| is_host_network(c.as_ref().and_then(|c| c.network_mode)))
}

/// Fluid's rule: unset means host network.
pub fn is_host_network(mode: Option<NetworkMode>) -> bool {
    matches!(
        mode,
        None | Some(NetworkMode::HostNetwork | NetworkMode::Default)
    )
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

/// The runtime's image, tag and pull policy (`alluxioVersion`, ...), the engine's defaults
/// where unset.
pub fn image(f: &Flavor, version: Option<&VersionSpec>) -> (String, String, String) {
    let version = version.cloned().unwrap_or_default();
    (
        version.image.unwrap_or_else(|| f.image.into()),
        version.image_tag.unwrap_or_else(|| f.image_tag.into()),
        version
            .image_pull_policy
            .unwrap_or_else(|| "IfNotPresent".into()),
    )
}

/// Keys Alluxio refuses in its site file: they are JVM flags of every component instead.
const JVM_ONLY: &[&str] = &[
    "conf.dir",
    "site.conf.dir",
    "logs.dir",
    "user.logs.dir",
    "logger.type",
];

/// The number of masters: 1 unless set (3 for HA).
pub fn master_replicas(spec: &FamilySpec) -> i32 {
    spec.master
        .as_ref()
        .and_then(|m| m.replicas)
        .unwrap_or(1)
        .max(1)
}

/// The site properties of the runtime (every component reads them).
pub fn site_properties(
    input: &Input,
    tiers: &tieredstore::Tiers,
    plan: &ufs::UfsPlan,
    ports: &properties::Ports,
) -> BTreeMap<String, String> {
    let f = input.flavor;
    let spec = input.spec;
    let user = spec.properties.clone().unwrap_or_default();
    let roles = [
        &spec.master,
        &spec.job_master,
        &spec.worker,
        &spec.job_worker,
    ];
    let set_by_user = |k: &str| {
        user.contains_key(k)
            || roles.iter().any(|r| {
                r.as_ref()
                    .and_then(|r| r.properties.as_ref())
                    .is_some_and(|p| p.contains_key(k))
            })
            || spec
                .fuse
                .as_ref()
                .and_then(|f| f.properties.as_ref())
                .is_some_and(|p| p.contains_key(k))
    };
    let mut derived = properties::defaults(f, plan.all_http);
    if read_only(input.dataset) && tiers.single_directory {
        derived.insert(f.key("user.direct.memory.io.enabled"), "true".into());
    }
    if input.dataset.spec.owner.is_none() {
        derived.insert(f.key("fuse.user.group.translation.enabled"), "true".into());
    }
    derived.extend(ports.properties(f));
    derived.extend(properties::masters(
        f,
        input.name,
        input.namespace,
        master_replicas(spec),
        ports,
    ));
    derived.extend(tiers.properties.clone());
    let mut p: BTreeMap<String, String> = derived
        .into_iter()
        .filter(|(k, _)| !set_by_user(k))
        .collect();
    p.extend(user);
    // What Fluid always sets, whatever the user wrote.
    p.insert(f.key("master.mount.table.root.ufs"), plan.root_ufs.clone());
    for (k, v) in &plan.root_options {
        p.insert(
            f.key(&format!("master.mount.table.root.option.{k}")),
            v.clone(),
        );
    }
    let replicas = spec
        .data
        .as_ref()
        .and_then(|d| d.replicas)
        .unwrap_or(1)
        .max(1);
    p.insert(f.key("user.file.replication.max"), replicas.to_string());
    if tiers.any_empty_dir {
        p.insert(f.key("user.short.circuit.enabled"), "false".into());
    }
    p
}

/// The fuse's arguments (after the image's `fuse` command): Fluid's fuse options unless
/// `spec.fuse.args` is given, the owner's uid/gid, `allow_other`, then the mount path and `/`.
pub fn fuse_args(input: &Input, mount_path: &str) -> Vec<String> {
    let fuse = input.spec.fuse.clone().unwrap_or_default();
    let mut args = match fuse.args.filter(|a| !a.is_empty()) {
        Some(a) => a,
        None => {
            let libfuse2 = input
                .spec
                .properties
                .as_ref()
                .and_then(|p| p.get(&input.flavor.key("fuse.jnifuse.libfuse.version")))
                .is_some_and(|v| v == "2");
            let opts = match (read_only(input.dataset), libfuse2) {
                (true, false) => "--fuse-opts=kernel_cache,ro,attr_timeout=7200,entry_timeout=7200",
                (false, false) => "--fuse-opts=kernel_cache,rw",
                (true, true) => {
                    "--fuse-opts=kernel_cache,ro,max_read=131072,attr_timeout=7200,entry_timeout=7200,nonempty"
                }
                (false, true) => "--fuse-opts=kernel_cache,rw,max_read=131072",
            };
            let mut a = vec!["fuse".to_owned(), opts.to_owned()];
            if ufs::plan(input.dataset).is_ok_and(|p| p.all_http) {
                a[1].push_str(",max_readahead=0");
            }
            a
        }
    };
    if args.len() > 1 {
        if let Some(owner) = &input.dataset.spec.owner {
            args[1].push_str(&format!(",uid={},gid={}", owner.uid, owner.gid));
        }
        if !args[1].contains("allow_") {
            args[1].push_str(",allow_other");
        }
    }
    args.push(mount_path.to_owned());
    args.push("/".to_owned());
    args
}

fn role_volumes(
    spec: &FamilySpec,
    role: &str,
    mounts: Option<&Vec<k8s_openapi::api::core::v1::VolumeMount>>,
    problems: &mut Vec<Problem>,
) -> (Vec<Value>, Vec<Value>) {
    let mounts = mounts.cloned().unwrap_or_default();
    let volumes = volumes_for(spec.volumes.as_deref().unwrap_or_default(), &mounts)
        .map_err(|(i, v)| {
            problems.push(Problem::new(
                format!("spec.{role}.volumeMounts[{i}]"),
                format!("volume {v:?} is not in spec.volumes"),
            ))
        })
        .unwrap_or_default();
    let mounts = mounts
        .iter()
        .filter_map(|m| serde_json::to_value(m).ok())
        .collect();
    (volumes, mounts)
}

fn pull_secrets(
    given: Option<&Vec<k8s_openapi::api::core::v1::LocalObjectReference>>,
    fallback: &[Value],
) -> Vec<Value> {
    match given.filter(|g| !g.is_empty()) {
        Some(g) => g
            .iter()
            .filter_map(|s| serde_json::to_value(s).ok())
            .collect(),
        None => fallback.to_vec(),
    }
}

/// The chart values for a runtime and its Dataset. The paths and the fuse node label are the
/// controller's `conventions`; the controller adds them as values too (`fullnameOverride`,
/// `ownerDatasetId`, `runtimeIdentity`, `owner`, ...).
pub fn values(
    input: &Input,
    settings: &Settings,
    conventions: &Conventions,
) -> Result<Value, Vec<Problem>> {
    let f = input.flavor;
    let spec = input.spec;
    let mut problems = vec![];
    let levels = spec
        .tiered_store
        .as_ref()
        .and_then(|t| t.levels.clone())
        .unwrap_or_default();
    let tiers = tieredstore::tiers(f, &levels, input.namespace, input.name)
        .map_err(|p| problems.extend(p))
        .unwrap_or_default();
    let plan = ufs::plan(input.dataset)
        .map_err(|p| problems.extend(p))
        .unwrap_or_default();
    let masters = master_replicas(spec);
    if masters != 1 && masters != 3 {
        problems.push(Problem::new(
            "spec.master.replicas",
            format!("{masters} masters: 1, or 3 for high availability (embedded journal)"),
        ));
    }
    let ha = masters > 1;
    let user = spec.properties.clone().unwrap_or_default();
    let ports = properties::ports(f, spec, &user, ha, settings.host_ports.as_deref())
        .map_err(|p| problems.extend(p))
        .ok();
    let master = spec.master.clone().unwrap_or_default();
    let job_master = spec.job_master.clone().unwrap_or_default();
    let worker = spec.worker.clone().unwrap_or_default();
    let job_worker = spec.job_worker.clone().unwrap_or_default();
    let fuse = spec.fuse.clone().unwrap_or_default();
    let (master_volumes, master_mounts) =
        role_volumes(spec, "master", master.volume_mounts.as_ref(), &mut problems);
    let (worker_volumes, worker_mounts) =
        role_volumes(spec, "worker", worker.volume_mounts.as_ref(), &mut problems);
    let (fuse_volumes, fuse_mounts) =
        role_volumes(spec, "fuse", fuse.volume_mounts.as_ref(), &mut problems);
    let hadoop = hadoop_config(input, settings)
        .map_err(|p| problems.push(p))
        .ok()
        .flatten();
    let worker_resources = resources::worker(worker.resources.as_ref(), tiers.memory_bytes)
        .map_err(|p| problems.push(p))
        .unwrap_or_default();
    let restore = backup::restore(f, input.dataset, input.name, input.namespace)
        .map_err(|p| problems.push(p))
        .ok()
        .flatten();
    let Some(ports) = ports.filter(|_| problems.is_empty()) else {
        return Err(problems);
    };

    let mut site = site_properties(input, &tiers, &plan, &ports);
    let (hadoop_volumes, hadoop_mounts): (Vec<Value>, Vec<Value>) = match hadoop {
        Some((volume, mount, files)) => {
            site.insert(f.key("underfs.hdfs.configuration"), files);
            (vec![volume], vec![mount])
        }
        None => (vec![], vec![]),
    };
    // Every master mounts the host directory a DataBackup collects its backups from; one
    // restoring mounts the backup and starts its journal from it.
    let (backups_volume, backups_mount) = backup::backup_volume(f, input.namespace, input.name);
    let mut backup_volumes = vec![backups_volume];
    let mut backup_mounts = vec![backups_mount];
    let mut master_selector = master.node_selector.clone().unwrap_or_default();
    if let Some(r) = restore {
        site.insert(r.property.0, r.property.1);
        backup_volumes.push(r.volume);
        backup_mounts.push(r.mount);
        if let Some(node) = r.node {
            master_selector.insert("kubernetes.io/hostname".into(), node);
        }
    }
    let jvm_only: BTreeMap<String, String> = JVM_ONLY
        .iter()
        .filter_map(|k| site.remove_entry(&f.key(k)))
        .collect();
    let mut java_opts = spec.jvm_options.clone().unwrap_or_default();
    java_opts.extend(properties::dflags(&jvm_only));

    let (image, image_tag, pull) = image(f, input.version);
    let global_secrets: Vec<Value> =
        match spec.image_pull_secrets.as_ref().filter(|s| !s.is_empty()) {
            Some(s) => s
                .iter()
                .filter_map(|s| serde_json::to_value(s).ok())
                .collect(),
            None => settings
                .image_pull_secrets
                .iter()
                .map(|s| json!({"name": s}))
                .collect(),
        };
    let pod_md = spec.pod_metadata.clone().unwrap_or_default();
    let labels = |c: &CompTemplateSpec| {
        merged(
            pod_md.labels.as_ref(),
            c.pod_metadata.as_ref().and_then(|m| m.labels.as_ref()),
        )
    };
    let annotations = |c: &CompTemplateSpec| {
        let mut a = merged(
            pod_md.annotations.as_ref(),
            c.pod_metadata.as_ref().and_then(|m| m.annotations.as_ref()),
        );
        a.extend(c.annotations.clone().unwrap_or_default());
        a
    };
    let tolerations: Vec<Value> = input
        .dataset
        .spec
        .tolerations
        .iter()
        .flatten()
        .map(|t| serde_json::to_value(t).unwrap_or_default())
        .collect();
    let placement = fluid_plugin_api::kit::placement_mode(input.dataset);
    // Fluid pins the masters next to node-local data (local://) with the Dataset's affinity.
    let master_affinity = input
        .dataset
        .spec
        .node_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
        .filter(|_| plan.volumes.iter().any(|v| v.get("hostPath").is_some()))
        .map(|r| json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": r}}));
    let key = |s: &str| f.key(s);
    let master_host_network = is_host_network(master.network_mode);
    let worker_host_network = is_host_network(worker.network_mode);
    let mut worker_fixed = vec![format!(
        "-D{}=$({})",
        key("worker.hostname"),
        f.env("WORKER_HOSTNAME")
    )];
    if !worker_host_network {
        worker_fixed.push(format!(
            "-D{}=$({})",
            key("worker.container.hostname"),
            f.env("WORKER_CONTAINER_HOSTNAME")
        ));
    }
    let extend = |mut a: Vec<Value>, b: &[Value]| {
        a.extend(b.iter().cloned());
        a
    };
    let secret_options: String = plan
        .root_secret_options
        .iter()
        .map(|s| {
            format!(
                "{}={}\n",
                key(&format!("master.mount.table.root.option.{}", s.name)),
                s.path
            )
        })
        .collect();
    let mount_path = conventions.fuse_mount_path.clone();
    let clean_policy = match fuse.clean_policy.unwrap_or_default() {
        FuseCleanPolicy::None | FuseCleanPolicy::OnRuntimeDeleted => "OnRuntimeDeleted",
        FuseCleanPolicy::OnDemand => "OnDemand",
        FuseCleanPolicy::OnFuseChanged => "OnFuseChanged",
    };
    let mut fuse_selector = fuse.node_selector.clone().unwrap_or_default();
    fuse_selector.insert(conventions.fuse_node_selector_key.clone(), "true".into());
    let fuse_md = fuse.pod_metadata.clone().unwrap_or_default();
    let mut fuse_annotations = merged(pod_md.annotations.as_ref(), fuse_md.annotations.as_ref());
    fuse_annotations.extend(fuse.annotations.clone().unwrap_or_default());
    // An engine shipping its fuse apart (GooseFS) has its own default image for it.
    let (fuse_image, fuse_image_tag) = match f.fuse_image {
        Some((i, t)) => (i.to_owned(), t.to_owned()),
        None => (image.clone(), image_tag.clone()),
    };

    Ok(json!({
        "engine": {"name": f.engine, "cli": f.cli, "envPrefix": f.env_prefix, "home": f.home},
        "image": image,
        "imageTag": image_tag,
        "imagePullPolicy": pull,
        "imagePullSecrets": global_secrets,
        "tolerations": tolerations,
        "placement": placement,
        "siteProperties": components::properties_file(&site),
        "rootSecretOptions": secret_options,
        "javaOpts": java_opts.join(" "),
        "master": {
            "replicas": masters,
            "hostNetwork": master_host_network,
            "javaOpts": properties::role_java_opts(master.jvm_options.as_ref(), properties::MASTER_JVM,
                &[format!("-D{}=$({})", key("master.hostname"), f.env("MASTER_HOSTNAME"))], master.properties.as_ref()),
            "jobJavaOpts": properties::role_java_opts(job_master.jvm_options.as_ref(), &[],
                &[format!("-D{}=$({})", key("master.hostname"), f.env("MASTER_HOSTNAME"))], job_master.properties.as_ref()),
            "ports": {"rpc": ports.master_rpc, "web": ports.master_web, "embedded": ports.master_embedded},
            "jobPorts": {"rpc": ports.job_master_rpc, "web": ports.job_master_web, "embedded": ports.job_master_embedded},
            "env": env_list(master.env.as_ref()),
            "jobEnv": env_list(job_master.env.as_ref()),
            "resources": master.resources.clone().unwrap_or_default(),
            "jobResources": job_master.resources.clone().unwrap_or_default(),
            "nodeSelector": master_selector,
            "labels": labels(&master),
            "annotations": annotations(&master),
            "imagePullSecrets": pull_secrets(master.image_pull_secrets.as_ref(), &[]),
            "affinity": master_affinity,
            "volumes": extend(extend(extend(extend(master_volumes, &plan.volumes), &plan.secret_volumes), &hadoop_volumes), &backup_volumes),
            "volumeMounts": extend(extend(extend(extend(master_mounts, &plan.volume_mounts), &plan.secret_volume_mounts), &hadoop_mounts), &backup_mounts),
        },
        "worker": {
            "replicas": spec.replicas.unwrap_or(1).max(0),
            "hostNetwork": worker_host_network,
            "javaOpts": properties::role_java_opts(worker.jvm_options.as_ref(), properties::WORKER_JVM,
                &worker_fixed, worker.properties.as_ref()),
            "jobJavaOpts": properties::role_java_opts(job_worker.jvm_options.as_ref(), &[],
                &worker_fixed[..1], job_worker.properties.as_ref()),
            "ports": {"rpc": ports.worker_rpc, "web": ports.worker_web},
            "jobPorts": {"rpc": ports.job_worker_rpc, "web": ports.job_worker_web, "data": ports.job_worker_data},
            "env": env_list(worker.env.as_ref()),
            "jobEnv": env_list(job_worker.env.as_ref()),
            "resources": worker_resources,
            "jobResources": job_worker.resources.clone().unwrap_or_default(),
            "nodeSelector": worker.node_selector.clone().unwrap_or_default(),
            "labels": labels(&worker),
            "annotations": annotations(&worker),
            "imagePullSecrets": pull_secrets(worker.image_pull_secrets.as_ref(), &[]),
            "volumes": extend(extend(extend(worker_volumes, &plan.volumes), &tiers.volumes), &hadoop_volumes),
            "volumeMounts": extend(extend(extend(worker_mounts, &plan.volume_mounts), &tiers.volume_mounts), &hadoop_mounts),
        },
        "fuse": {
            "image": fuse.image.clone().unwrap_or_else(|| fuse_image.clone()),
            "imageTag": fuse.image_tag.clone().unwrap_or_else(|| fuse_image_tag.clone()),
            "imagePullPolicy": fuse.image_pull_policy.clone().unwrap_or_else(|| pull.clone()),
            "imagePullSecrets": pull_secrets(fuse.image_pull_secrets.as_ref(), &[]),
            "args": fuse_args(input, &mount_path),
            "javaOpts": properties::role_java_opts(fuse.jvm_options.as_ref(), properties::FUSE_JVM,
                &[format!("-D{}=$({})", key("user.hostname"), f.env("CLIENT_HOSTNAME"))], fuse.properties.as_ref()),
            "env": env_list(fuse.env.as_ref()),
            "resources": resources::fuse(fuse.resources.as_ref(), tiers.memory_bytes),
            "hostNetwork": is_host_network(fuse.network_mode),
            "mountPath": mount_path,
            "hostMountPath": conventions.fuse_host_mount_path,
            "cleanPolicy": clean_policy,
            "criticalPod": settings.critical_fuse_pod,
            "nodeSelector": fuse_selector,
            "labels": merged(pod_md.labels.as_ref(), fuse_md.labels.as_ref()),
            "annotations": fuse_annotations,
            // Short-circuit reads open the workers' block files: the fuse mounts the tiers too.
            "volumes": extend(fuse_volumes, &tiers.volumes),
            "volumeMounts": extend(fuse_mounts, &tiers.volume_mounts),
        },
    }))
}

/// Fields Fluid accepts that this engine does not use yet (the host reports them in a
/// Warning Event).
pub fn ignored_fields(spec: &FamilySpec) -> Vec<String> {
    let mut out = vec![];
    let mut note = |set: bool, field: &str| {
        if set {
            out.push(field.to_owned());
        }
    };
    note(spec.api_gateway.is_some(), "spec.apiGateway");
    note(spec.init_users.is_some(), "spec.initUsers");
    note(spec.run_as.is_some(), "spec.runAs");
    note(
        spec.data.as_ref().is_some_and(|d| d.pin.is_some()),
        "spec.data.pin",
    );
    note(spec.disable_prometheus.is_some(), "spec.disablePrometheus");
    for (role, c) in [
        ("master", &spec.master),
        ("jobMaster", &spec.job_master),
        ("worker", &spec.worker),
        ("jobWorker", &spec.job_worker),
    ] {
        note(
            c.as_ref().is_some_and(|c| c.enabled.is_some()),
            &format!("spec.{role}.enabled"),
        );
    }
    for (role, c) in [
        ("jobMaster", &spec.job_master),
        ("jobWorker", &spec.job_worker),
    ] {
        let c = c.clone().unwrap_or_default();
        note(c.replicas.is_some(), &format!("spec.{role}.replicas"));
        note(
            c.network_mode.is_some(),
            &format!("spec.{role}.networkMode"),
        );
        note(
            c.node_selector.is_some(),
            &format!("spec.{role}.nodeSelector"),
        );
        note(
            c.volume_mounts.is_some(),
            &format!("spec.{role}.volumeMounts"),
        );
        note(
            c.pod_metadata.is_some(),
            &format!("spec.{role}.podMetadata"),
        );
        note(
            c.image_pull_secrets.is_some(),
            &format!("spec.{role}.imagePullSecrets"),
        );
    }
    note(
        spec.worker.as_ref().is_some_and(|w| w.replicas.is_some()),
        "spec.worker.replicas",
    );
    out
}

#[cfg(test)]
pub(crate) mod tests;
