//! What an operation runs: its Job (or CronJob) around the pod the engine planned, and the
//! pod of a DataProcess, which the host plans itself for every engine. Pure.

use fluid_plugin_api::types::{DataProcess, OperationKind};
use fluid_plugin_api::OperationPlan;
use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaimVolumeSource, Pod, PodSpec, PodTemplateSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The label naming the kind of the operation a Job or CronJob runs.
pub const KIND_LABEL: &str = "data.fluid.io/operation-kind";
/// The label naming the operation a Job or CronJob runs.
pub const NAME_LABEL: &str = "data.fluid.io/operation-name";
/// Fluid's label naming the Dataset an operation's pods work on.
pub const TARGET_DATASET_LABEL: &str = "targetDataset";
/// Retries of a failed pod before the Job fails (Fluid's data loader's `backoffLimit`).
pub const BACKOFF_LIMIT: i32 = 3;
/// The name of the Dataset's volume in a DataProcess pod.
pub const DATASET_VOLUME: &str = "fluid-dataset";

/// Kubernetes names a CronJob's Jobs `<cronjob>-<minutes>` within 63 characters, so it allows
/// CronJob names of at most 52.
const CRONJOB_NAME_MAX: usize = 52;

/// The operation an object belongs to, for names, labels and the owner reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationMeta {
    /// The kind.
    pub kind: OperationKind,
    /// The name.
    pub name: String,
    /// The namespace.
    pub namespace: String,
    /// The uid.
    pub uid: String,
    /// The target Dataset's name.
    pub dataset: String,
}

/// The Job's (or CronJob's) name: `<operation>-<load|migrate|process|backup>`, cut and made
/// unique by a hash when the operation's name is long.
pub fn job_name(kind: OperationKind, name: &str) -> String {
    let suffix = match kind {
        OperationKind::DataLoad => "load",
        OperationKind::DataMigrate => "migrate",
        OperationKind::DataProcess => "process",
        OperationKind::DataBackup => "backup",
    };
    let full = format!("{name}-{suffix}");
    if full.len() <= CRONJOB_NAME_MAX {
        return full;
    }
    let hash = format!("{:08x}", fnv1a(name) as u32);
    let keep = CRONJOB_NAME_MAX - suffix.len() - hash.len() - 2;
    let mut cut = name[..keep.min(name.len())].to_owned();
    while !name.is_char_boundary(cut.len()) {
        cut.pop();
    }
    format!("{}-{hash}-{suffix}", cut.trim_end_matches(['-', '.']))
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// A label value of at most 63 characters (an operation name may be longer).
fn label_value(name: &str) -> String {
    if name.len() <= 63 {
        name.to_owned()
    } else {
        format!("{}-{:08x}", &name[..54], fnv1a(name) as u32)
    }
}

/// The labels of an operation's Job, CronJob and pods.
pub fn labels(op: &OperationMeta) -> BTreeMap<String, String> {
    BTreeMap::from([
        (KIND_LABEL.to_owned(), op.kind.as_str().to_owned()),
        (NAME_LABEL.to_owned(), label_value(&op.name)),
        (TARGET_DATASET_LABEL.to_owned(), label_value(&op.dataset)),
    ])
}

fn owner_reference(op: &OperationMeta) -> Value {
    json!({
        "apiVersion": "data.fluid.io/v1alpha1",
        "kind": op.kind.as_str(),
        "name": op.name,
        "uid": op.uid,
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The Job running `plan` once, or the CronJob running it on `schedule`.
pub fn workload(op: &OperationMeta, plan: &OperationPlan, schedule: Option<&str>) -> Value {
    let labels = labels(op);
    let mut template = plan.pod_template.clone();
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .extend(labels.clone());
    let spec = template.spec.get_or_insert_with(PodSpec::default);
    if spec.restart_policy.is_none() {
        spec.restart_policy = Some("Never".into());
    }
    let mut job_spec = json!({
        "backoffLimit": BACKOFF_LIMIT,
        "template": template,
    });
    // N pods at once, each with its index in JOB_COMPLETION_INDEX; the Job's Complete
    // condition, which the controller reads, then needs every index to have succeeded.
    if let Some(n) = plan.parallelism.filter(|n| *n > 1) {
        job_spec["completionMode"] = json!("Indexed");
        job_spec["completions"] = json!(n);
        job_spec["parallelism"] = json!(n);
    }
    let metadata = json!({
        "name": job_name(op.kind, &op.name),
        "namespace": op.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(op)],
    });
    match schedule {
        None => json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata,
            "spec": job_spec,
        }),
        Some(schedule) => json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": metadata,
            "spec": {
                "schedule": schedule,
                // One run at a time: a run still going when the next is due is skipped.
                "concurrencyPolicy": "Forbid",
                "jobTemplate": {"metadata": {"labels": labels}, "spec": job_spec},
            },
        }),
    }
}

/// Fluid's `status.infos` of a completed DataBackup: `BackupLocationPath` (its
/// `backupPath`) and `BackupLocationNodeName`, the node its pod ran on for a `local://` path
/// (where the backup now is), `NA` otherwise.
pub fn backup_infos(backup_path: &str, pod_node: Option<&str>) -> BTreeMap<String, String> {
    let node = if backup_path.starts_with("local://") {
        pod_node.unwrap_or("NA")
    } else {
        "NA"
    };
    BTreeMap::from([
        ("BackupLocationPath".to_owned(), backup_path.to_owned()),
        ("BackupLocationNodeName".to_owned(), node.to_owned()),
    ])
}

/// The pod of a completed Job that did the work: the one that succeeded (Fluid's choice), or,
/// should the read predate its end, the newest one scheduled that has not failed.
pub fn worker_pod(pods: Vec<Pod>) -> Option<Pod> {
    let phase = |p: &Pod| p.status.as_ref().and_then(|s| s.phase.clone());
    let mut scheduled: Vec<Pod> = pods
        .into_iter()
        .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
        .filter(|p| phase(p).as_deref() != Some("Failed"))
        .collect();
    scheduled.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let succeeded = scheduled
        .iter()
        .rposition(|p| phase(p).as_deref() == Some("Succeeded"));
    match succeeded {
        Some(i) => Some(scheduled.swap_remove(i)),
        None => scheduled.pop(),
    }
}

/// The pod of a DataProcess: the user's pod spec, or a container running the script, with the
/// Dataset's claim mounted at `mountPath` in every container.
pub fn process_plan(process: &DataProcess) -> Result<OperationPlan, String> {
    let spec = &process.spec;
    let target = &spec.dataset;
    let mount = VolumeMount {
        name: DATASET_VOLUME.into(),
        mount_path: target.mount_path.clone(),
        sub_path: target.sub_path.clone(),
        ..Default::default()
    };
    let claim = Volume {
        name: DATASET_VOLUME.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: target.name.clone(),
            read_only: None,
        }),
        ..Default::default()
    };
    let processor = &spec.processor;
    let mut pod = match (&processor.job, &processor.script) {
        (Some(job), None) => job.pod_spec.clone().ok_or(
            "spec.processor.job.podSpec: a job processor needs the pod spec to run".to_owned(),
        )?,
        (None, Some(script)) => {
            let image = script
                .image
                .clone()
                .ok_or("spec.processor.script.image: a script processor needs an image")?;
            let image = match &script.image_tag {
                Some(tag) if !tag.is_empty() => format!("{image}:{tag}"),
                _ => image,
            };
            let mut command = script.command.clone().unwrap_or_else(|| vec!["sh".into()]);
            command.extend(["-c".to_owned(), script.source.clone()]);
            PodSpec {
                containers: vec![Container {
                    name: "script".into(),
                    image: Some(image),
                    image_pull_policy: script.image_pull_policy.clone(),
                    command: Some(command),
                    env: script.env.clone(),
                    resources: script.resources.clone(),
                    volume_mounts: script.volume_mounts.clone(),
                    ..Default::default()
                }],
                volumes: script.volumes.clone(),
                restart_policy: Some(
                    match script.restart_policy {
                        fluid_plugin_api::types::ScriptRestartPolicy::Never => "Never",
                        fluid_plugin_api::types::ScriptRestartPolicy::OnFailure => "OnFailure",
                    }
                    .into(),
                ),
                ..Default::default()
            }
        }
        (Some(_), Some(_)) => {
            return Err("spec.processor: give either job or script, not both".to_owned())
        }
        (None, None) => {
            return Err("spec.processor: give a job (podSpec) or a script to run".to_owned())
        }
    };
    if pod
        .volumes
        .iter()
        .flatten()
        .any(|v| v.name == DATASET_VOLUME)
    {
        return Err(format!(
            "spec.processor: the volume name {DATASET_VOLUME} is the Dataset's; rename yours"
        ));
    }
    pod.volumes.get_or_insert_with(Vec::new).push(claim);
    for c in &mut pod.containers {
        c.volume_mounts
            .get_or_insert_with(Vec::new)
            .push(mount.clone());
    }
    if pod.restart_policy.as_deref().is_none_or(|p| p == "Always") {
        pod.restart_policy = Some("Never".into());
    }
    if processor.service_account_name.is_some() {
        pod.service_account_name = processor.service_account_name.clone();
    }
    let meta = processor.pod_metadata.clone().unwrap_or_default();
    Ok(OperationPlan {
        pod_template: PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: meta.labels,
                annotations: meta.annotations,
                ..Default::default()
            }),
            spec: Some(pod),
        },
        dataset_phase: None,
        parallelism: None,
    })
}

/// Moves the `resourceClaims[].source` fields of a Fluid manifest written for Kubernetes
/// before 1.28 up to where current Kubernetes reads them (in place, on the wire form).
pub fn lift_resource_claim_sources(operation: &mut Value) {
    let Some(claims) = operation
        .pointer_mut("/spec/processor/job/podSpec/resourceClaims")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for claim in claims.iter_mut().filter_map(Value::as_object_mut) {
        if let Some(Value::Object(source)) = claim.remove("source") {
            for (k, v) in source {
                claim.entry(k).or_insert(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluid_plugin_api::types::{
        DataProcessSpec, JobProcessor, Processor, ScriptProcessor, TargetDatasetWithMountPath,
    };

    fn op() -> OperationMeta {
        OperationMeta {
            kind: OperationKind::DataLoad,
            name: "warm".into(),
            namespace: "ns".into(),
            uid: "u-1".into(),
            dataset: "demo".into(),
        }
    }

    fn plan() -> OperationPlan {
        serde_json::from_value(json!({
            "podTemplate": {"spec": {"containers": [{"name": "load", "image": "juicedata/mount:ce",
                "command": ["sh", "-c", "juicefs warmup /mnt/a"]}]}},
        }))
        .unwrap()
    }

    #[test]
    fn job_names_fit_a_cronjob_and_stay_unique() {
        assert_eq!(job_name(OperationKind::DataLoad, "warm"), "warm-load");
        assert_eq!(job_name(OperationKind::DataMigrate, "x"), "x-migrate");
        let long_a = format!("{}a", "n".repeat(70));
        let long_b = format!("{}b", "n".repeat(70));
        let (a, b) = (
            job_name(OperationKind::DataProcess, &long_a),
            job_name(OperationKind::DataProcess, &long_b),
        );
        assert!(a.len() <= 52 && b.len() <= 52 && a != b, "{a} {b}");
        assert!(a.ends_with("-process"), "{a}");
    }

    #[test]
    fn a_once_operation_runs_a_job_owned_by_it() {
        let job = workload(&op(), &plan(), None);
        assert_eq!(job["kind"], "Job");
        assert_eq!(job["metadata"]["name"], "warm-load");
        assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "DataLoad");
        assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(job["spec"]["backoffLimit"], BACKOFF_LIMIT);
        let pod = &job["spec"]["template"];
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(pod["metadata"]["labels"][KIND_LABEL], "DataLoad");
        assert_eq!(pod["metadata"]["labels"][NAME_LABEL], "warm");
        assert_eq!(pod["metadata"]["labels"]["targetDataset"], "demo");
        assert_eq!(
            pod["spec"]["containers"][0]["command"][2],
            "juicefs warmup /mnt/a"
        );
    }

    #[test]
    fn a_plan_of_one_pod_runs_a_plain_job() {
        for parallelism in [None, Some(1)] {
            let job = workload(
                &op(),
                &OperationPlan {
                    parallelism,
                    ..plan()
                },
                None,
            );
            for field in ["completionMode", "completions", "parallelism"] {
                assert!(job["spec"].get(field).is_none(), "{field}: {job}");
            }
        }
    }

    #[test]
    fn a_parallel_plan_runs_an_indexed_job_of_n_completions() {
        let parallel = OperationPlan {
            parallelism: Some(3),
            ..plan()
        };
        let job = workload(&op(), &parallel, None);
        assert_eq!(job["spec"]["completionMode"], "Indexed");
        assert_eq!(job["spec"]["completions"], 3);
        assert_eq!(job["spec"]["parallelism"], 3);
        assert_eq!(job["spec"]["backoffLimit"], BACKOFF_LIMIT);
        let cron = workload(&op(), &parallel, Some("0 * * * *"));
        let spec = &cron["spec"]["jobTemplate"]["spec"];
        assert_eq!(spec["completionMode"], "Indexed");
        assert_eq!(spec["completions"], 3);
        // What Kubernetes reads: the typed Job takes the fields.
        let typed: k8s_openapi::api::batch::v1::Job = serde_json::from_value(job).unwrap();
        let spec = typed.spec.unwrap();
        assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!((spec.completions, spec.parallelism), (Some(3), Some(3)));
    }

    #[test]
    fn a_cron_operation_runs_a_cronjob_one_run_at_a_time() {
        let cron = workload(&op(), &plan(), Some("*/5 * * * *"));
        assert_eq!(cron["kind"], "CronJob");
        assert_eq!(cron["spec"]["schedule"], "*/5 * * * *");
        assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
        assert_eq!(
            cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"][KIND_LABEL],
            "DataLoad"
        );
    }

    fn process(processor: Processor) -> DataProcess {
        DataProcess::new(
            "p",
            DataProcessSpec {
                dataset: TargetDatasetWithMountPath {
                    name: "demo".into(),
                    namespace: None,
                    mount_path: "/data".into(),
                    sub_path: Some("train".into()),
                },
                processor,
                ..Default::default()
            },
        )
    }

    #[test]
    fn a_script_process_mounts_the_dataset_claim() {
        let plan = process_plan(&process(Processor {
            script: Some(ScriptProcessor {
                source: "ls /data".into(),
                image: Some("busybox".into()),
                image_tag: Some("1.36".into()),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .unwrap();
        let pod = serde_json::to_value(&plan.pod_template.spec).unwrap();
        assert_eq!(pod["containers"][0]["image"], "busybox:1.36");
        assert_eq!(
            pod["containers"][0]["command"],
            json!(["sh", "-c", "ls /data"])
        );
        assert_eq!(
            pod["containers"][0]["volumeMounts"][0],
            json!({"name": DATASET_VOLUME, "mountPath": "/data", "subPath": "train"})
        );
        assert_eq!(
            pod["volumes"][0],
            json!({"name": DATASET_VOLUME, "persistentVolumeClaim": {"claimName": "demo"}})
        );
        assert_eq!(pod["restartPolicy"], "Never");
    }

    #[test]
    fn a_job_process_keeps_the_users_pod_and_adds_the_claim_to_every_container() {
        let user: PodSpec = serde_json::from_value(json!({
            "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}],
            "restartPolicy": "OnFailure"
        }))
        .unwrap();
        let plan = process_plan(&process(Processor {
            job: Some(JobProcessor {
                pod_spec: Some(user),
            }),
            service_account_name: Some("sa".into()),
            ..Default::default()
        }))
        .unwrap();
        let pod = plan.pod_template.spec.unwrap();
        assert!(pod.containers.iter().all(|c| c
            .volume_mounts
            .as_ref()
            .is_some_and(|m| m[0].mount_path == "/data")));
        assert_eq!(pod.restart_policy.as_deref(), Some("OnFailure"));
        assert_eq!(pod.service_account_name.as_deref(), Some("sa"));
    }

    #[test]
    fn a_process_without_or_with_two_processors_is_refused_with_the_field() {
        let e = process_plan(&process(Processor::default())).unwrap_err();
        assert!(e.starts_with("spec.processor"), "{e}");
        let e = process_plan(&process(Processor {
            job: Some(JobProcessor::default()),
            script: Some(ScriptProcessor::default()),
            ..Default::default()
        }))
        .unwrap_err();
        assert!(e.contains("not both"), "{e}");
        let e = process_plan(&process(Processor {
            script: Some(ScriptProcessor::default()),
            ..Default::default()
        }))
        .unwrap_err();
        assert!(e.starts_with("spec.processor.script.image"), "{e}");
    }

    #[test]
    fn old_resource_claim_sources_move_up() {
        let mut op = json!({"spec": {"processor": {"job": {"podSpec": {"resourceClaims": [
            {"name": "gpu", "source": {"resourceClaimTemplateName": "t"}}]}}}}});
        lift_resource_claim_sources(&mut op);
        assert_eq!(
            op["spec"]["processor"]["job"]["podSpec"]["resourceClaims"][0],
            json!({"name": "gpu", "resourceClaimTemplateName": "t"})
        );
    }

    #[test]
    fn the_worker_pod_is_the_one_that_succeeded() {
        let pod = |name: &str, created: &str, node: Option<&str>, phase: &str| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": name, "creationTimestamp": created},
                "spec": {"containers": [], "nodeName": node},
                "status": {"phase": phase}}))
            .unwrap()
        };
        let name = |p: Option<Pod>| p.and_then(|p| p.metadata.name);
        let failed = pod("a", "2026-01-01T00:00:00Z", Some("n1"), "Failed");
        let done = pod("b", "2026-01-01T00:01:00Z", Some("n2"), "Succeeded");
        let running = pod("c", "2026-01-01T00:02:00Z", Some("n3"), "Running");
        let unscheduled = pod("d", "2026-01-01T00:03:00Z", None, "Pending");
        assert_eq!(
            name(worker_pod(vec![running.clone(), done, failed.clone()])),
            Some("b".into())
        );
        // The read predates the pod's end: the newest scheduled one still going.
        assert_eq!(
            name(worker_pod(vec![
                unscheduled.clone(),
                running,
                failed.clone()
            ])),
            Some("c".into())
        );
        assert_eq!(name(worker_pod(vec![failed, unscheduled])), None);
        assert_eq!(name(worker_pod(vec![])), None);
    }

    #[test]
    fn a_completed_backup_says_where_it_is() {
        let i = backup_infos("local:///var/backups", Some("node-1"));
        assert_eq!(i["BackupLocationPath"], "local:///var/backups");
        assert_eq!(i["BackupLocationNodeName"], "node-1");
        assert_eq!(
            backup_infos("pvc://claim/x", Some("node-1"))["BackupLocationNodeName"],
            "NA"
        );
    }
}
