//! The pods of the family's data operations (the `operate` hook, protocol 1.3). Both run in
//! the runtime's image as clients of its masters, with the site properties the chart renders
//! (the ConfigMap `<name>-config`, which holds no secret):
//!
//! - DataLoad: for each target path (the whole Dataset, `/`, when none), as Fluid's loader:
//!   check that it exists, `fs setReplication --max <replicas> -R`, list it with the metadata
//!   sync forced when `loadMetadata` is set, then `fs distributedLoad --replication
//!   <replicas>` (the job service loads the blocks into the workers; `replicas` 1 unless the
//!   target says), or on Alluxio 2.9.4 and later, which dropped it, the master's load job
//!   (`fs load --submit`, followed until it ends).
//! - DataBackup: on a master's node, `fsadmin backup <dir> --local` (the master writes the
//!   journal's backup into the host directory it shares with the pod), then the file is moved
//!   to the backup's location (`pvc://` claim or `local://` directory of that node) under
//!   Fluid's name, with the UFS size and file count beside it.
//!
//! Not done here: DataMigrate (Fluid's Alluxio engine does not either).

use crate::commands::{self, sh_line, sh_quote};
use crate::flavor::Flavor;
use crate::spec::FamilySpec;
use crate::transform::backup;
use crate::transform::{self, master_replicas, Input};
use fluid_plugin_api::kit::strip_nulls;
use fluid_plugin_api::types::{DataBackup, DataLoad, OperationKind};
use fluid_plugin_api::{HookError, OperateInput, OperationPlan};
use serde_json::{json, Value};

/// Where the pods mount the runtime's ConfigMap (the chart's path).
pub const CONFIG_MOUNT: &str = "/etc/fluid-rs/config";

fn problem(field: &str, message: impl std::fmt::Display) -> HookError {
    HookError::new(format!("{field}: {message}"))
}

/// The plan of `input`; `Ok(None)` for what the family does not do (DataMigrate).
pub fn plan(input: &OperateInput, o: &Input<'_>) -> Result<Option<OperationPlan>, HookError> {
    match input.kind {
        OperationKind::DataLoad => load(&input.operation_as::<DataLoad>()?, o).map(Some),
        OperationKind::DataBackup => backup(&input.operation_as::<DataBackup>()?, o).map(Some),
        _ => Ok(None),
    }
}

/// One path to load, and how many cached copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The path in the engine's namespace (the Dataset's view), absolute.
    pub path: String,
    /// The copies (`replicas`, at least 1).
    pub replicas: u32,
}

/// The DataLoad's targets: `spec.target`, or the whole Dataset.
pub fn targets(load: &DataLoad) -> Result<Vec<Target>, HookError> {
    let given = load.spec.target.as_deref().unwrap_or_default();
    if given.is_empty() {
        return Ok(vec![Target {
            path: "/".into(),
            replicas: 1,
        }]);
    }
    given
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let field = format!("spec.target[{i}]");
            let p = t.path.trim();
            if p.split('/').any(|s| s == "..") {
                return Err(problem(
                    &format!("{field}.path"),
                    format!("{:?} leaves the Dataset", t.path),
                ));
            }
            let replicas = match t.replicas {
                None => 1,
                Some(n) if n >= 1 => n as u32,
                Some(n) => {
                    return Err(problem(
                        &format!("{field}.replicas"),
                        format!("{n}: at least 1"),
                    ))
                }
            };
            Ok(Target {
                path: format!("/{}", p.trim_start_matches('/')),
                replicas,
            })
        })
        .collect()
}

/// The load's script: per target, the existence check, the replication bound, the metadata
/// listing (`load_metadata`) and the load: `distributedLoad --replication <replicas>` where
/// the shell has it (Alluxio up to 2.9.3, Fluid's 2.9.0, GooseFS), else (Alluxio 2.9.4 on)
/// the master's load job, submitted then followed until it ends (one copy; `replicas` only
/// bounds the replication there). Runs where `<cli>` is on the `PATH` and configured.
pub fn load_script(f: &Flavor, targets: &[Target], load_metadata: bool) -> String {
    let mut lines = vec![
        "set -e".to_owned(),
        format!(
            "if {} 2>&1 | grep -q distributedLoad; then distributed=1; else distributed=0; fi",
            sh_line(&commands::fs_usage(f))
        ),
    ];
    for t in targets {
        let p = &t.path;
        lines.push(format!("echo {}", sh_quote(&format!("loading {p}"))));
        lines.push(format!(
            "{} > /dev/null || {{ echo {} >&2; exit 1; }}",
            sh_line(&commands::list(f, p)),
            sh_quote(&format!("{p} does not exist"))
        ));
        lines.push(sh_line(&commands::set_replication(f, p, t.replicas)));
        if load_metadata {
            lines.push(format!(
                "{} > /dev/null",
                sh_line(&commands::list_synced(f, p))
            ));
        }
        lines.push("if [ $distributed = 1 ]; then".into());
        lines.push(format!(
            "  {}",
            sh_line(&commands::distributed_load(f, p, t.replicas))
        ));
        lines.push("else".into());
        lines.push(format!("  {}", sh_line(&commands::load_submit(f, p))));
        lines.push("  while :; do".into());
        lines.push(format!(
            "    state=$({} | sed -n 's/.*Job State: *//p')",
            sh_line(&commands::load_progress(f, p))
        ));
        lines.push(format!(
            "    case \"$state\" in SUCCEEDED*) break ;; FAILED*|STOPPED*) echo {} \"$state\" >&2; exit 1 ;; esac",
            sh_quote(&format!("loading {p}:"))
        ));
        lines.push("    sleep 5".into());
        lines.push("  done".into());
        lines.push("fi".into());
    }
    lines.join("\n")
}

/// The backup's script: the master writes the backup into `written` (the directory it shares
/// with the pod), the pod moves it to `dest` (a directory ending in `/`) as
/// [`backup::metadata_file`] and writes [`backup::metainfo_file`] beside it (Fluid's
/// `dataset`, `namespace`, `ufstotal`, `filenum`).
pub fn backup_script(
    f: &Flavor,
    written: &str,
    dest: &str,
    dataset: &str,
    namespace: &str,
) -> String {
    let file = format!("{dest}{}", backup::metadata_file(dataset, namespace));
    let info = format!("{dest}{}", backup::metainfo_file(dataset, namespace));
    [
        "set -e".to_owned(),
        format!("mkdir -p {}", sh_quote(dest)),
        format!("out=$({})", sh_line(&commands::backup(f, written))),
        "echo \"$out\"".into(),
        // `Backup URI : file:///dir/alluxio-backup-<date>-<n>.gz` (or a bare path).
        "uri=$(echo \"$out\" | sed -n 's/^Backup URI *: *//p' | tail -n 1)".into(),
        "[ -n \"$uri\" ] || { echo 'no Backup URI in the output' >&2; exit 1; }".into(),
        "written=${uri#file://}".into(),
        "[ -f \"$written\" ] || { echo \"$written is not here: the backup was written on another node\" >&2; exit 1; }".into(),
        format!("mv \"$written\" {}", sh_quote(&file)),
        // Alluxio marks a finished backup with `<file>.complete`.
        "rm -f \"$written.complete\"".into(),
        format!(
            "set -- $({} | sed -n 2p)",
            sh_line(&commands::count(f))
        ),
        format!(
            "printf 'dataset: %s\\nnamespace: %s\\nufstotal: %s\\nfilenum: %s\\n' {} {} \"$3\" \"$1\" > {}",
            sh_quote(dataset),
            sh_quote(namespace),
            sh_quote(&info)
        ),
        format!("echo {}", sh_quote(&format!("backup written to {file}"))),
    ]
    .join("\n")
}

/// The first lines of every pod's script: the chart's site properties in place.
fn configure(f: &Flavor) -> String {
    format!(
        "cp {CONFIG_MOUNT}/site.properties {}/conf/{}-site.properties",
        f.home, f.engine
    )
}

fn config_volume(name: &str) -> (Value, Value) {
    (
        json!({"name": "config", "configMap": {"name": format!("{name}-config")}}),
        json!({"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": true}),
    )
}

fn pull_secrets(spec: &FamilySpec) -> Option<Value> {
    spec.image_pull_secrets
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(|s| json!(s))
}

fn load(load: &DataLoad, o: &Input<'_>) -> Result<OperationPlan, HookError> {
    let f = o.flavor;
    let script = load_script(f, &targets(load)?, load.spec.load_metadata == Some(true));
    let (image, tag, pull) = transform::image(f, o.version);
    let (volume, mount) = config_volume(o.name);
    let spec = &load.spec;
    let meta = spec.pod_metadata.clone().unwrap_or_default();
    let pod = json!({
        "metadata": {"labels": meta.labels, "annotations": meta.annotations},
        "spec": {
            "restartPolicy": "Never",
            "affinity": spec.affinity,
            "nodeSelector": spec.node_selector,
            "tolerations": spec.tolerations,
            "schedulerName": spec.scheduler_name,
            "imagePullSecrets": pull_secrets(o.spec),
            "containers": [{
                "name": "dataload",
                "image": format!("{image}:{tag}"),
                "imagePullPolicy": pull,
                "command": ["sh", "-c", format!("{}\n{script}", configure(f))],
                "resources": spec.resources,
                "volumeMounts": [mount],
            }],
            "volumes": [volume],
        },
    });
    Ok(OperationPlan {
        pod_template: serde_json::from_value(strip_nulls(pod))?,
        dataset_phase: None,
        parallelism: None,
    })
}

fn backup(b: &DataBackup, o: &Input<'_>) -> Result<OperationPlan, HookError> {
    let f = o.flavor;
    if master_replicas(o.spec) > 1 {
        return Err(problem(
            "spec.master.replicas",
            "a DataBackup of a runtime with several masters is not supported yet: the leading \
             master writes the backup on its node, which the backup pod cannot pick",
        ));
    }
    let path = b
        .spec
        .backup_path
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            problem(
                "spec.backupPath",
                "required (pvc://<claim>/<path> or local://<path>)",
            )
        })?;
    let location = backup::location(path).map_err(|m| problem("spec.backupPath", m))?;
    let (dest_volume, dest_mount, dest) = backup::location_volume("backup", &location);
    let (shared_volume, shared_mount) = backup::backup_volume(f, o.namespace, o.name);
    let (config_volume, config_mount) = config_volume(o.name);
    let script = backup_script(f, &backup::backup_mount(f), &dest, o.name, o.namespace);
    let (image, tag, pull) = transform::image(f, o.version);
    let app = f.app();
    // On the master's node: the backup lands in the host directory that master mounts.
    let on_master = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"app": app, "release": o.name, "role": format!("{app}-master")}},
        "topologyKey": "kubernetes.io/hostname"}]}});
    // As the master (root), which owns the backup it wrote, unless `runAs` says.
    let (uid, gid) = b.spec.run_as.as_ref().map_or((0, 0), |u| (u.uid, u.gid));
    let run_as = json!({"runAsUser": uid, "runAsGroup": gid});
    let tolerations: Vec<Value> = o
        .dataset
        .spec
        .tolerations
        .iter()
        .flatten()
        .map(|t| json!(t))
        .collect();
    let pod = json!({
        "spec": {
            "restartPolicy": "Never",
            "affinity": on_master,
            "tolerations": tolerations,
            "imagePullSecrets": pull_secrets(o.spec),
            "containers": [{
                "name": "databackup",
                "image": format!("{image}:{tag}"),
                "imagePullPolicy": pull,
                "command": ["sh", "-c", format!("{}\n{script}", configure(f))],
                "securityContext": run_as,
                "volumeMounts": [config_mount, shared_mount, dest_mount],
            }],
            "volumes": [config_volume, shared_volume, dest_volume],
        },
    });
    Ok(OperationPlan {
        pod_template: serde_json::from_value(strip_nulls(pod))?,
        dataset_phase: None,
        parallelism: None,
    })
}

#[cfg(test)]
mod tests;
