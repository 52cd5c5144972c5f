//! The pods of JuiceFS's data operations (the `operate` hook, protocol 1.3).
//!
//! - DataLoad: the pod runs on a worker's node, mounts the file system with the workers' cache
//!   directories (the same host paths), walks the metadata of the targets when `loadMetadata`
//!   is set, and runs `juicefs warmup` of the target paths with the load's `options` as flags
//!   (`timeout` bounds the warmup, 30m by default as Fluid). The blocks land in the cache the
//!   node's worker serves from. (Fluid execs the warmup in each worker pod instead.)
//! - DataMigrate: `juicefs sync` between the Dataset (`jfs://FLUID_METAURL/<subpath>/<path>`)
//!   and external storage or another JuiceFS Dataset, with the migration's `options` as flags;
//!   the Dataset being written is `DataMigrating` while it runs.
//!
//! Secrets reach the pod only as `env[].valueFrom.secretKeyRef`; the script names them as
//! `${VAR}`, which the shell expands inside the container. Community edition only: an
//! enterprise Dataset gets "not supported".

use crate::transform::edition::{self, Edition};
use crate::transform::options::{sh_quote, sub_path};
use crate::transform::secrets::{secret_envs, SecretEnv};
use crate::transform::tieredstore::{self, CacheDir};
use crate::JuiceFSRuntime;
use fluid_plugin_api::kit::strip_nulls;
use fluid_plugin_api::types::{
    DataLoad, DataMigrate, DataToMigrate, Dataset, DatasetPhase, EncryptOption, OperationKind,
    VolumeType,
};
use fluid_plugin_api::{HookError, OperateInput, OperationPlan};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Where the pod mounts the file system.
pub const MOUNT_PATH: &str = "/juicefs-data";
/// Fluid's default bound on a warmup.
pub const DEFAULT_TIMEOUT: &str = "30m";
/// The environment variable holding the Dataset's metadata URL in a migration (Fluid's).
pub const METAURL_ENV: &str = "FLUID_METAURL";
/// The environment variable holding the other Dataset's metadata URL in a migration between
/// two Datasets.
pub const OTHER_METAURL_ENV: &str = "FLUID_METAURL_OTHER";

/// What the engine needs besides the operation: the runtime, its Dataset, and the other
/// Dataset of a migration between two.
pub struct Objects<'a> {
    /// The runtime serving the Dataset.
    pub runtime: &'a JuiceFSRuntime,
    /// The Dataset.
    pub dataset: &'a Dataset,
    /// The other Dataset of a migration between two Datasets.
    pub other: Option<&'a Dataset>,
}

/// The plan of `input`; `Ok(None)` for what JuiceFS does not do (DataBackup, the enterprise
/// edition).
pub fn plan(input: &OperateInput, o: &Objects<'_>) -> Result<Option<OperationPlan>, HookError> {
    if edition::edition(o.dataset) != Edition::Community {
        return Ok(None);
    }
    match input.kind {
        OperationKind::DataLoad => load(&input.operation_as::<DataLoad>()?, o).map(Some),
        OperationKind::DataMigrate => migrate(&input.operation_as::<DataMigrate>()?, o).map(Some),
        _ => Ok(None),
    }
}

fn problem(field: &str, message: impl std::fmt::Display) -> HookError {
    HookError::new(format!("{field}: {message}"))
}

fn image(runtime: &JuiceFSRuntime) -> (String, String) {
    let (image, tag) = Edition::Community.default_image();
    let v = runtime.spec.juicefs_version.clone().unwrap_or_default();
    (
        format!(
            "{}:{}",
            v.image.unwrap_or_else(|| image.into()),
            v.image_tag.unwrap_or_else(|| tag.into())
        ),
        v.image_pull_policy.unwrap_or_else(|| "IfNotPresent".into()),
    )
}

fn env(envs: &[SecretEnv]) -> Vec<Value> {
    crate::transform::secrets::env_entries(envs)
}

/// `--k=v` (`--k` for an empty value) for each option, in name order.
fn flags(options: &BTreeMap<String, String>) -> String {
    options
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                format!("--{k}")
            } else {
                format!("--{k}={}", sh_quote(v))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The script of a DataLoad, and the cache directories it needs.
pub fn load_script(
    load: &DataLoad,
    dataset: &Dataset,
    runtime: &JuiceFSRuntime,
) -> Result<(String, Vec<CacheDir>), HookError> {
    let mount0 = dataset
        .spec
        .mounts
        .as_deref()
        .and_then(|m| m.first())
        .ok_or_else(|| problem("spec.mounts", "the Dataset has no mount"))?;
    let sub = sub_path(&mount0.mount_point).map_err(|m| problem("spec.mounts[0].mountPoint", m))?;
    let levels = runtime
        .spec
        .tiered_store
        .as_ref()
        .and_then(|t| t.levels.clone())
        .unwrap_or_default();
    let cache = tieredstore::cache(&levels).map_err(|e| problem(&e.field, e.message))?;
    if cache
        .dirs
        .iter()
        .any(|d| d.volume_type != VolumeType::HostPath)
    {
        return Err(problem(
            "spec.tieredstore.levels[0].volumeType",
            "a DataLoad warms the workers' cache through its host path; an emptyDir cache \
             belongs to each worker pod and cannot be warmed from another pod",
        ));
    }
    let mut options = load.spec.options.clone().unwrap_or_default();
    let timeout = options
        .remove("timeout")
        .unwrap_or_else(|| DEFAULT_TIMEOUT.into());
    let mut mount_flags = cache.options.clone();
    if sub != "/" {
        mount_flags.insert("subdir".into(), sub);
    }
    mount_flags.insert("no-usage-report".into(), String::new());
    let targets: Vec<String> = match load.spec.target.as_deref() {
        None | Some([]) => vec!["\"$mnt\"".into()],
        Some(t) => t
            .iter()
            .map(|t| {
                let p = t.path.trim().trim_start_matches('/');
                if p.contains("..") {
                    Err(problem(
                        "spec.target.path",
                        format!("{:?} leaves the Dataset", t.path),
                    ))
                } else if p.is_empty() {
                    Ok("\"$mnt\"".to_owned())
                } else {
                    Ok(format!("\"$mnt\"/{}", sh_quote(p)))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let targets = targets.join(" ");
    let mut script = vec![
        "set -e".to_owned(),
        format!("jfs={}", Edition::Community.cli()),
        format!("mnt={MOUNT_PATH}"),
        "mkdir -p \"$mnt\"".into(),
        format!(
            "\"$jfs\" mount -d {} \"${{METAURL}}\" \"$mnt\"",
            flags(&mount_flags)
        ),
        "trap '\"$jfs\" umount \"$mnt\" || true' EXIT".into(),
    ];
    if load.spec.load_metadata == Some(true) {
        script.push(format!("find {targets} > /dev/null"));
    }
    let warmup_flags = flags(&options);
    script.push(format!(
        "timeout {} \"$jfs\" warmup {}{targets}",
        sh_quote(&timeout),
        if warmup_flags.is_empty() {
            String::new()
        } else {
            format!("{warmup_flags} ")
        }
    ));
    Ok((script.join("\n"), cache.dirs))
}

fn load(load: &DataLoad, o: &Objects<'_>) -> Result<OperationPlan, HookError> {
    let (script, dirs) = load_script(load, o.dataset, o.runtime)?;
    let envs = secret_envs(o.dataset).map_err(|errors| {
        problem(
            &errors[0].field,
            format!(
                "{} (the DataLoad needs the Dataset's secrets)",
                errors[0].message
            ),
        )
    })?;
    let (image, pull) = image(o.runtime);
    let name = o.runtime.metadata.name.as_deref().unwrap_or_default();
    let volumes: Vec<Value> = dirs
        .iter()
        .map(|d| json!({"name": d.name, "hostPath": {"path": d.path, "type": "DirectoryOrCreate"}}))
        .collect();
    let mounts: Vec<Value> = dirs
        .iter()
        .map(|d| json!({"name": d.name, "mountPath": d.path}))
        .collect();
    // On a worker's node, so the warmed blocks are in the cache that worker serves.
    let on_worker = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"app": "juicefs", "release": name, "role": "juicefs-worker"}},
        "topologyKey": "kubernetes.io/hostname"}]}});
    let spec = &load.spec;
    let meta = spec.pod_metadata.clone().unwrap_or_default();
    let pod = json!({
        "metadata": {"labels": meta.labels, "annotations": meta.annotations},
        "spec": {
            "restartPolicy": "Never",
            "affinity": spec.affinity.as_ref().map(|a| json!(a)).unwrap_or(on_worker),
            "nodeSelector": spec.node_selector,
            "tolerations": spec.tolerations,
            "schedulerName": spec.scheduler_name,
            "containers": [{
                "name": "dataload",
                "image": image,
                "imagePullPolicy": pull,
                "command": ["sh", "-c", script],
                "env": env(&envs),
                "resources": spec.resources,
                "securityContext": {"privileged": true},
                "volumeMounts": mounts,
            }],
            "volumes": volumes,
        },
    });
    Ok(OperationPlan {
        pod_template: serde_json::from_value(strip_nulls(pod))?,
        dataset_phase: None,
    })
}

/// One end of a migration as a `juicefs sync` address, and the secrets it reads.
fn sync_address(
    side: &DataToMigrate,
    field: &str,
    datasets: &[(&Dataset, &str)],
) -> Result<(String, Vec<SecretEnv>), HookError> {
    if let Some(d) = &side.dataset {
        let (dataset, var) = datasets
            .iter()
            .find(|(ds, _)| ds.metadata.name.as_deref() == Some(d.name.as_str()))
            .ok_or_else(|| problem(&format!("{field}.dataset"), "the Dataset was not found"))?;
        let mount0 = dataset
            .spec
            .mounts
            .as_deref()
            .and_then(|m| m.first())
            .ok_or_else(|| problem(&format!("{field}.dataset"), "the Dataset has no mount"))?;
        let sub =
            sub_path(&mount0.mount_point).map_err(|m| problem(&format!("{field}.dataset"), m))?;
        let mut path = format!(
            "{}/{}",
            sub.trim_end_matches('/'),
            d.path.as_deref().unwrap_or("").trim_start_matches('/')
        );
        if !path.ends_with('/') {
            path.push('/');
        }
        let metaurl = secret_envs(dataset)
            .map_err(|e| problem(&e[0].field, &e[0].message))?
            .into_iter()
            .find(|e| e.option == edition::METAURL)
            .ok_or_else(|| {
                problem(
                    &format!("{field}.dataset"),
                    "the Dataset names no metaurl secret",
                )
            })?;
        let env = SecretEnv {
            env: (*var).to_owned(),
            ..metaurl
        };
        return Ok((format!("jfs://{var}{path}"), vec![env]));
    }
    let external = side
        .external_storage
        .as_ref()
        .ok_or_else(|| problem(field, "give a dataset or an externalStorage"))?;
    let mut envs = vec![];
    let mut credentials = BTreeMap::new();
    for o in external.encrypt_options.as_deref().unwrap_or_default() {
        let var = match o.name.as_str() {
            "access-key" => "EXTERNAL_ACCESS_KEY",
            "secret-key" => "EXTERNAL_SECRET_KEY",
            "token" => "EXTERNAL_TOKEN",
            _ => continue,
        };
        envs.push(external_env(o, var, field)?);
        credentials.insert(o.name.as_str(), format!("${{{var}}}"));
    }
    let uri = &external.uri;
    let address = match (credentials.get("access-key"), credentials.get("secret-key")) {
        (Some(ak), Some(sk)) => {
            let (scheme, rest) = uri.split_once("://").ok_or_else(|| {
                problem(
                    &format!("{field}.externalStorage.uri"),
                    "expected scheme://...",
                )
            })?;
            let sk = match credentials.get("token") {
                Some(t) => format!("{sk}:{t}"),
                None => sk.clone(),
            };
            format!("{scheme}://{ak}:{sk}@{rest}")
        }
        _ => uri.clone(),
    };
    Ok((address, envs))
}

fn external_env(o: &EncryptOption, var: &str, field: &str) -> Result<SecretEnv, HookError> {
    let r = o
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .ok_or_else(|| {
            problem(
                &format!("{field}.externalStorage.encryptOptions[{}]", o.name),
                "valueFrom.secretKeyRef is required",
            )
        })?;
    Ok(SecretEnv {
        option: o.name.clone(),
        env: var.to_owned(),
        secret_name: r.name.clone(),
        secret_key: r.key.clone().unwrap_or_else(|| o.name.clone()),
        field: field.to_owned(),
    })
}

/// The `juicefs sync` line of a migration, and the secrets it reads.
pub fn sync_command(
    migrate: &DataMigrate,
    dataset: &Dataset,
    other: Option<&Dataset>,
) -> Result<(String, Vec<SecretEnv>), HookError> {
    let spec = &migrate.spec;
    if spec.parallelism > 1 {
        return Err(problem(
            "spec.parallelism",
            format!(
                "{}: a parallel juicefs sync needs workers reached over ssh, which fluid-rs does \
                 not set up; use parallelism 1 (and options threads for more threads)",
                spec.parallelism
            ),
        ));
    }
    let mut datasets = vec![(dataset, METAURL_ENV)];
    if let Some(other) = other {
        datasets.push((other, OTHER_METAURL_ENV));
    }
    let (from, mut envs) = sync_address(&spec.from, "spec.from", &datasets)?;
    let (to, to_envs) = sync_address(&spec.to, "spec.to", &datasets)?;
    for e in to_envs {
        if !envs.iter().any(|x| x.env == e.env) {
            envs.push(e);
        }
    }
    let options = flags(&spec.options.clone().unwrap_or_default());
    let line = format!(
        "{} sync {}\"{from}\" \"{to}\"",
        Edition::Community.cli(),
        if options.is_empty() {
            String::new()
        } else {
            format!("{options} ")
        }
    );
    Ok((line, envs))
}

fn migrate(migrate: &DataMigrate, o: &Objects<'_>) -> Result<OperationPlan, HookError> {
    let (line, envs) = sync_command(migrate, o.dataset, o.other)?;
    let (default_image, pull) = image(o.runtime);
    let spec = &migrate.spec;
    let image = match (&spec.image, &spec.image_tag) {
        (Some(i), Some(t)) => format!("{i}:{t}"),
        (Some(i), None) => i.clone(),
        _ => default_image,
    };
    let meta = spec.pod_metadata.clone().unwrap_or_default();
    let pod = json!({
        "metadata": {"labels": meta.labels, "annotations": meta.annotations},
        "spec": {
            "restartPolicy": "Never",
            "affinity": spec.affinity,
            "nodeSelector": spec.node_selector,
            "tolerations": spec.tolerations,
            "schedulerName": spec.scheduler_name,
            "containers": [{
                "name": "datamigrate",
                "image": image,
                "imagePullPolicy": spec.image_pull_policy.clone().unwrap_or(pull),
                "command": ["sh", "-c", format!("set -e\n{line}")],
                "env": env(&envs),
                "resources": spec.resources,
            }],
        },
    });
    // Writing into the Dataset: it must not be used meanwhile (Fluid's DataMigrating).
    let into_dataset = spec
        .to
        .dataset
        .as_ref()
        .is_some_and(|d| Some(d.name.as_str()) == o.dataset.metadata.name.as_deref());
    Ok(OperationPlan {
        pod_template: serde_json::from_value(strip_nulls(pod))?,
        dataset_phase: into_dataset.then_some(DatasetPhase::DataMigrating),
    })
}
