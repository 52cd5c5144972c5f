//! The pods of JuiceFS's data operations (the `operate` hook, protocol 1.3).
//!
//! - DataLoad: a pod on each ready worker's node mounts the file system with the workers' cache
//!   directories (the same host paths), walks the metadata of the targets when `loadMetadata`
//!   is set, and runs `juicefs warmup` of the target paths with the load's `options` as flags
//!   (`timeout` bounds the warmup, 30m by default as Fluid). The blocks land in the cache the
//!   node's worker serves from. (Fluid execs the warmup in each worker pod instead.)
//! - DataMigrate: `juicefs sync` between the Dataset (`jfs://FLUID_METAURL/<subpath>/<path>`)
//!   and external storage or another JuiceFS Dataset, with the migration's `options` as flags;
//!   the Dataset being written is `DataMigrating` while it runs. With `parallelism` N > 1 the
//!   plan asks the host for an Indexed Job of N pods, and each pod's shell picks its range of
//!   the keys (`--start` / `--end`, cut by first character) from `JOB_COMPLETION_INDEX`; a pod
//!   without it syncs everything. (Fluid starts sync workers over ssh instead.)
//!
//! Secrets reach the pod only as `env[].valueFrom.secretKeyRef`; the script names them as
//! `${VAR}`, which the shell expands inside the container. Community edition only: an
//! enterprise Dataset gets "not supported".

use crate::transform::edition::{self, Edition};
use crate::transform::options::{sh_quote, sub_path};
use crate::transform::secrets::{secret_envs, SecretEnv};
use crate::transform::tieredstore::{self, CacheDir};
use crate::JuiceFSRuntime;
use fluid_plugin_api::kit::{self, strip_nulls};
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
    /// The nodes of the runtime's ready workers (a DataLoad warms each one's cache).
    pub worker_nodes: &'a [String],
}

/// The nodes of the ready pods among `pods` ([`kit::pod_ready`]), sorted, each once.
pub fn ready_nodes(pods: &[Value]) -> Vec<String> {
    let mut nodes: Vec<String> = pods
        .iter()
        .filter(|p| kit::pod_ready(p))
        .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_owned))
        .collect();
    nodes.sort();
    nodes.dedup();
    nodes
}

/// Where a DataLoad's pods run, and how many: one on each node of `nodes` (the ready workers'),
/// never two on a node; without known nodes, one pod beside any worker of `release`.
fn load_placement(job_name: &str, release: &str, nodes: &[String]) -> (Value, Option<u32>) {
    if nodes.is_empty() {
        let beside_a_worker = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app": "juicefs", "release": release, "role": "juicefs-worker"}},
            "topologyKey": "kubernetes.io/hostname"}]}});
        return (beside_a_worker, None);
    }
    let on_each = json!({
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": nodes}]}]}},
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"batch.kubernetes.io/job-name": job_name}},
            "topologyKey": "kubernetes.io/hostname"}]},
    });
    let count = u32::try_from(nodes.len()).unwrap_or(u32::MAX);
    (on_each, (count > 1).then_some(count))
}

/// The plan of `input`; `Ok(None)` for what JuiceFS does not do (DataBackup, the enterprise
/// edition).
pub fn plan(input: &OperateInput, o: &Objects<'_>) -> Result<Option<OperationPlan>, HookError> {
    if edition::edition(o.dataset) != Edition::Community {
        return Ok(None);
    }
    match input.kind {
        OperationKind::DataLoad => {
            load(&input.operation_as::<DataLoad>()?, &input.job_name, o).map(Some)
        }
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

fn load(load: &DataLoad, job_name: &str, o: &Objects<'_>) -> Result<OperationPlan, HookError> {
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
    // On the workers' nodes, so the warmed blocks are in the caches they serve; the user's own
    // affinity places one pod.
    let spec = &load.spec;
    let (placement, parallelism) = match &spec.affinity {
        Some(a) => (json!(a), None),
        None => load_placement(job_name, name, o.worker_nodes),
    };
    let meta = spec.pod_metadata.clone().unwrap_or_default();
    let pod = json!({
        "metadata": {"labels": meta.labels, "annotations": meta.annotations},
        "spec": {
            "restartPolicy": "Never",
            "affinity": placement,
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
        parallelism,
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

/// The first characters a parallel migration splits the keys on: printable ASCII, space to
/// `~`.
const SPLIT_FIRST: u8 = b' ';
const SPLIT_LAST: u8 = b'~';
/// The most pods a migration runs at once: one per character split on.
pub const MAX_PARALLELISM: u32 = (SPLIT_LAST - SPLIT_FIRST + 1) as u32;
/// The greatest character (U+10FFFF). `c` followed by it sorts after every key starting
/// with `c` (but the one key that is exactly that, a name no one uses) and before every key
/// starting with the next character; `juicefs sync` treats `--start` and `--end` as
/// exclusive or inclusive depending on the storage, so a bound must itself be no key.
const TOP: char = '\u{10FFFF}';

/// One pod's share of a parallel migration: the keys whose first character comes after
/// `after` (every key when `None`) and is at most `through` (every key when `None`). The
/// first range has no `after`, so it takes the keys starting below space too; the last has
/// no `through`, so it takes every key starting with a non-ASCII character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRange {
    /// The last first-character of the range before.
    pub after: Option<char>,
    /// The last first-character of this range.
    pub through: Option<char>,
}

impl KeyRange {
    /// `juicefs sync --start`: the lower bound, exclusive, which no key equals.
    pub fn start(&self) -> Option<String> {
        self.after.map(|c| format!("{c}{TOP}"))
    }

    /// `juicefs sync --end`: the upper bound, exclusive, which no key equals.
    pub fn end(&self) -> Option<String> {
        self.through.map(|c| format!("{c}{TOP}"))
    }

    /// Whether `key` is in the range, as `juicefs sync` compares keys (bytes).
    pub fn contains(&self, key: &str) -> bool {
        let key = key.as_bytes();
        self.start().is_none_or(|s| key > s.as_bytes())
            && self.end().is_none_or(|e| key < e.as_bytes())
    }
}

/// The key ranges of `n` pods: contiguous, in key order, together every key. The printable
/// characters are dealt out evenly by their order, not by how many keys start with each.
pub fn key_ranges(n: u32) -> Result<Vec<KeyRange>, String> {
    if n == 0 || n > MAX_PARALLELISM {
        return Err(format!(
            "{n}: a migration splits the keys by their first character into at most \
             {MAX_PARALLELISM} ranges (one per printable ASCII character), one pod each"
        ));
    }
    // Range i starts at the character `cut(i)`.
    let cut = |i: u32| char::from(SPLIT_FIRST + (i * MAX_PARALLELISM / n) as u8);
    let before = |c: char| char::from(c as u8 - 1);
    Ok((0..n)
        .map(|i| KeyRange {
            after: (i > 0).then(|| before(cut(i))),
            through: (i + 1 < n).then(|| before(cut(i + 1))),
        })
        .collect())
}

/// The shell that sets the positional parameters to this pod's `--start` / `--end` from
/// `JOB_COMPLETION_INDEX`: nothing when it is unset (a host running one pod: the pod syncs
/// everything). The bounds are written with `printf` escapes, so the script stays ASCII.
fn range_choice(ranges: &[KeyRange]) -> String {
    let bound = |flag: &str, c: Option<char>| {
        c.map(|c| format!(" {flag} {}\"$top\"", sh_quote(&c.to_string())))
            .unwrap_or_default()
    };
    let top: String = TOP
        .to_string()
        .bytes()
        .map(|b| format!("\\{b:03o}"))
        .collect();
    let mut lines = vec![
        format!("top=$(printf '{top}')"),
        "case \"${JOB_COMPLETION_INDEX-}\" in".to_owned(),
        "'') set -- ;;".to_owned(),
    ];
    for (i, r) in ranges.iter().enumerate() {
        lines.push(format!(
            "{i}) set --{}{} ;;",
            bound("--start", r.after),
            bound("--end", r.through)
        ));
    }
    lines.push(format!(
        "*) echo \"JOB_COMPLETION_INDEX=$JOB_COMPLETION_INDEX: this migration has {} key ranges\" >&2; exit 1 ;;",
        ranges.len()
    ));
    lines.push("esac".to_owned());
    lines.join("\n")
}

/// The key ranges of a migration's pods, one per pod: `spec.parallelism` of them, refused
/// above [`MAX_PARALLELISM`].
pub fn migration_ranges(migrate: &DataMigrate) -> Result<Vec<KeyRange>, HookError> {
    let n = u32::try_from(migrate.spec.parallelism.max(1)).unwrap_or(1);
    key_ranges(n).map_err(|m| problem("spec.parallelism", m))
}

/// The script of a migration's pod, and the secrets it reads: the `juicefs sync` line, and
/// for `spec.parallelism` N > 1 before it the choice of the pod's key range by its index
/// (see [`key_ranges`]).
pub fn sync_command(
    migrate: &DataMigrate,
    dataset: &Dataset,
    other: Option<&Dataset>,
) -> Result<(String, Vec<SecretEnv>), HookError> {
    let spec = &migrate.spec;
    let ranges = migration_ranges(migrate)?;
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
    let mut options = flags(&spec.options.clone().unwrap_or_default());
    let mut choice = String::new();
    if ranges.len() > 1 {
        choice = format!("{}\n", range_choice(&ranges));
        options = if options.is_empty() {
            "\"$@\"".to_owned()
        } else {
            format!("{options} \"$@\"")
        };
    }
    let line = format!(
        "{choice}{} sync {}\"{from}\" \"{to}\"",
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
        parallelism: u32::try_from(migration_ranges(migrate)?.len())
            .ok()
            .filter(|n| *n > 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(parallelism: i32) -> DataMigrate {
        serde_json::from_value(json!({
            "apiVersion": "data.fluid.io/v1alpha1", "kind": "DataMigrate",
            "metadata": {"name": "m", "namespace": "ns"},
            "spec": {"from": {"dataset": {"name": "demo", "namespace": "ns"}},
                "to": {"externalStorage": {"uri": "s3://bucket/backup/"}},
                "options": {"threads": "4"}, "parallelism": parallelism}}))
        .unwrap()
    }

    fn dataset() -> Dataset {
        serde_json::from_value(json!({
            "apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
            "metadata": {"name": "demo", "namespace": "ns"},
            "spec": {"mounts": [{"name": "demo", "mountPoint": "juicefs:///",
                "encryptOptions": [{"name": "metaurl",
                    "valueFrom": {"secretKeyRef": {"name": "jfs-secret", "key": "metaurl"}}}]}]}
        }))
        .unwrap()
    }

    /// Keys of every first byte a name can have, at the edges of each range.
    fn keys() -> Vec<String> {
        let mut keys = vec![];
        for c in (1u8..=0x7f)
            .map(char::from)
            .chain(['é', '中', '😀', '\u{10FFFE}'])
        {
            for rest in ["", "/x", "a", "~~", "\u{10FFFE}", "\u{10FFFF}a"] {
                keys.push(format!("{c}{rest}"));
            }
        }
        keys
    }

    #[test]
    fn the_ranges_of_every_parallelism_cover_every_key_once_in_order() {
        let keys = keys();
        for n in 1..=MAX_PARALLELISM {
            let ranges = key_ranges(n).unwrap();
            assert_eq!(ranges.len(), n as usize);
            assert_eq!(ranges[0].after, None, "{n}");
            assert_eq!(ranges[n as usize - 1].through, None, "{n}");
            for pair in ranges.windows(2) {
                // Contiguous: each range starts where the one before ends.
                assert_eq!(pair[0].through, pair[1].after, "{n}: {pair:?}");
            }
            for r in &ranges {
                if let (Some(a), Some(t)) = (r.after, r.through) {
                    assert!(a < t, "{n}: an empty range {r:?}");
                }
            }
            for key in &keys {
                let holders = ranges.iter().filter(|r| r.contains(key)).count();
                assert_eq!(holders, 1, "{n} ranges: {key:?} is in {holders}");
            }
        }
    }

    #[test]
    fn one_pod_syncs_everything_and_too_many_are_refused_naming_the_field() {
        assert_eq!(
            key_ranges(1).unwrap(),
            [KeyRange {
                after: None,
                through: None
            }]
        );
        let two = key_ranges(2).unwrap();
        assert_eq!(two[0].through, Some('N'));
        assert!(two[0].contains("B.txt") && two[1].contains("alpha") && two[1].contains("é"));
        assert!(key_ranges(0).is_err());
        let e = migration_ranges(&migration(MAX_PARALLELISM as i32 + 1)).unwrap_err();
        assert!(
            e.to_string().starts_with("spec.parallelism: 96: ")
                && e.to_string().contains("at most 95"),
            "{e}"
        );
    }

    #[test]
    fn a_migration_of_one_pod_keeps_its_single_sync_line() {
        let (line, envs) = sync_command(&migration(1), &dataset(), None).unwrap();
        assert_eq!(
            line,
            "/usr/local/bin/juicefs sync --threads=4 \"jfs://FLUID_METAURL/\" \"s3://bucket/backup/\""
        );
        assert_eq!(envs.len(), 1);
    }

    /// The arguments the range choice of `n` pods gives the pod of `index` (unset: `None`),
    /// as the shell passes them.
    fn chosen(n: i32, index: Option<&str>) -> std::process::Output {
        let (script, _) = sync_command(&migration(n), &dataset(), None).unwrap();
        let choice = script.rsplit_once('\n').unwrap().0;
        let mut sh = std::process::Command::new("sh");
        sh.arg("-c")
            .arg(format!(
                "{choice}\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done"
            ))
            .env_remove("JOB_COMPLETION_INDEX");
        if let Some(i) = index {
            sh.env("JOB_COMPLETION_INDEX", i);
        }
        sh.output().unwrap()
    }

    fn args(out: std::process::Output) -> Vec<String> {
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn each_index_gets_its_bounds_from_the_shell_and_no_index_gets_none() {
        let (script, _) = sync_command(&migration(3), &dataset(), None).unwrap();
        assert!(script.is_ascii(), "{script}");
        assert!(
            script.ends_with(
                "juicefs sync --threads=4 \"$@\" \"jfs://FLUID_METAURL/\" \"s3://bucket/backup/\""
            ),
            "{script}"
        );
        let ranges = key_ranges(3).unwrap();
        for (i, r) in ranges.iter().enumerate() {
            let mut want = vec![];
            if let Some(s) = r.start() {
                want.extend(["--start".to_owned(), s]);
            }
            if let Some(e) = r.end() {
                want.extend(["--end".to_owned(), e]);
            }
            assert_eq!(args(chosen(3, Some(&i.to_string()))), want, "index {i}");
        }
        assert!(args(chosen(3, None)).is_empty());
        let out = chosen(3, Some("3"));
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("has 3 key ranges"));
    }

    #[test]
    fn quotes_and_percent_signs_survive_as_bounds() {
        // Every printable character ends a range for 95 pods, the shell's and printf's
        // special ones included.
        for (i, r) in key_ranges(MAX_PARALLELISM).unwrap().iter().enumerate() {
            let got = args(chosen(MAX_PARALLELISM as i32, Some(&i.to_string())));
            let want: Vec<String> = [("--start", r.start()), ("--end", r.end())]
                .into_iter()
                .filter_map(|(f, b)| b.map(|b| [f.to_owned(), b]))
                .flatten()
                .collect();
            assert_eq!(got, want, "index {i}");
        }
    }

    #[test]
    fn a_load_runs_one_pod_on_each_ready_workers_node() {
        let pod = |node: &str, ready: &str| {
            json!({"spec": {"nodeName": node},
                   "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}})
        };
        let pods = [
            pod("node-b", "True"),
            pod("node-a", "True"),
            pod("node-a", "True"),
            pod("node-c", "False"),
            json!({"spec": {}, "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}]}}),
        ];
        assert_eq!(ready_nodes(&pods), ["node-a", "node-b"]);

        // Two nodes: two pods of the Job, pinned to them, never two on one node.
        let (affinity, n) = load_placement("warm-load", "demo", &["a".into(), "b".into()]);
        assert_eq!(n, Some(2));
        assert_eq!(
            affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchFields"][0],
            json!({"key": "metadata.name", "operator": "In", "values": ["a", "b"]})
        );
        assert_eq!(
            affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
                ["labelSelector"]["matchLabels"]["batch.kubernetes.io/job-name"],
            "warm-load"
        );
        // One node: one pod there. None known: one pod beside any worker.
        assert_eq!(load_placement("warm-load", "demo", &["a".into()]).1, None);
        let (affinity, n) = load_placement("warm-load", "demo", &[]);
        assert_eq!(n, None);
        assert_eq!(
            affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
                ["labelSelector"]["matchLabels"]["role"],
            "juicefs-worker"
        );
    }

    #[test]
    fn a_parallel_migration_plans_an_indexed_job_of_its_pods() {
        let rt: JuiceFSRuntime = serde_json::from_value(json!({
            "apiVersion": "data.fluid.io/v1alpha1", "kind": "JuiceFSRuntime",
            "metadata": {"name": "demo", "namespace": "ns"}, "spec": {}}))
        .unwrap();
        let ds = dataset();
        let o = Objects {
            runtime: &rt,
            dataset: &ds,
            other: None,
            worker_nodes: &[],
        };
        let plan = |n: i32| migrate(&migration(n), &o).unwrap();
        assert_eq!(plan(1).parallelism, None);
        assert_eq!(plan(2).parallelism, Some(2));
        let pod = serde_json::to_value(&plan(2).pod_template).unwrap();
        let c = &pod["spec"]["containers"][0];
        assert!(c["command"][2]
            .as_str()
            .unwrap()
            .contains("JOB_COMPLETION_INDEX"));
        assert_eq!(
            c["env"][0]["valueFrom"]["secretKeyRef"],
            json!({"name": "jfs-secret", "key": "metaurl"})
        );
    }
}
