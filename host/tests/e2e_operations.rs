//! Data operations end to end on the local control plane (its real Job and CronJob
//! controllers; kwok nodes, whose pods never run their containers): a DataLoad on the JuiceFS
//! sample goes Pending → Executing → Complete, its Job's pod holds the rendered warmup and the
//! Secret by reference only; a second DataLoad waits for the first; a Cron DataLoad makes its
//! CronJob and reports the next run; a DataLoad on an engine without data operations (the
//! reference engine) ends Failed naming it; a completed DataLoad records its pod's node in
//! `status.nodeAffinity` and DataLoads after it with `affinityStrategy` Require / Prefer get
//! node affinity to it; deletion leaves no Job, CronJob or lock; a DataMigrate of
//! parallelism 2 runs as an Indexed Job of two pods whose script picks each pod's key range
//! from `JOB_COMPLETION_INDEX`, and completes when both have; a DataMigrate the engine refuses
//! to plan (parallelism 96, more pods than key ranges) ends Failed with its message. On the
//! Alluxio sample, a DataLoad's and a DataBackup's Jobs hold the rendered commands and
//! complete, the backup reporting its node; a DataMigrate fails as not supported.
//!
//! kwok's nodes run no container: kwok's stages end a Job's pod Succeeded, and the real Job
//! controller then completes the Job. To hold a load in Executing, the first one's pod is
//! given a node selector no node matches.

mod common;

use common::controller::Controller;
use common::objects::{apply, get, WAIT};
use fluid_test_support::{kubectl, wait_until, TestNamespace};
use serde_json::{json, Value};

const SECRET_VALUES: [&str; 2] = [
    "redis://redis.default.svc.cluster.local:6379/0",
    "minioadmin",
];

fn dataload(name: &str, dataset: &str, extra: &str) -> String {
    format!(
        "apiVersion: data.fluid.io/v1alpha1
kind: DataLoad
metadata:
  name: {name}
spec:
  dataset:
    name: {dataset}
  loadMetadata: true
  target:
    - path: /train
{extra}"
    )
}

async fn wait_phase(ns: &str, what: &str, phase: &str) -> Value {
    wait_until(&format!("{what} {phase}"), WAIT, || async {
        let o = get(ns, what).ok_or_else(|| format!("no {what}"))?;
        if o["status"]["phase"] == phase {
            Ok(o)
        } else {
            Err(format!("status {}", o["status"]))
        }
    })
    .await
    .unwrap()
}

async fn scenario(ns: &str) {
    let sample =
        std::fs::read_to_string(common::workspace_root().join("samples/juicefs/community.yaml"))
            .unwrap();
    apply(ns, &sample);
    common::objects::wait_bound(ns, "jfsdemo").await.unwrap();

    // JuiceFS backs no metadata up: a DataBackup fails, naming the engine.
    apply(
        ns,
        "apiVersion: data.fluid.io/v1alpha1
kind: DataBackup
metadata:
  name: jfs-backup
spec:
  dataset: jfsdemo
  backupPath: pvc://backups/jfs
",
    );
    let backup = wait_phase(ns, "databackup/jfs-backup", "Failed").await;
    let failed = common::objects::condition(&backup, "Failed").unwrap();
    assert_eq!(failed["reason"], "NotSupported");
    assert_eq!(failed["message"], "DataBackup is not supported by juicefs");

    // First load (held unscheduled): Executing, its Job holds the rendered warmup and secret
    // references only.
    apply(
        ns,
        &dataload(
            "warm",
            "jfsdemo",
            "  nodeSelector:\n    no-such-node: \"true\"\n",
        ),
    );
    let warm = wait_phase(ns, "dataload/warm", "Executing").await;
    assert_eq!(warm["status"]["duration"], "Unfinished");
    let job = wait_until("Job warm-load", WAIT, || async {
        get(ns, "job/warm-load").ok_or_else(|| "no job yet".to_owned())
    })
    .await
    .unwrap();
    let text = job.to_string();
    for v in SECRET_VALUES {
        assert!(!text.contains(v), "a secret value is in the Job: {text}");
    }
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let script = container["command"][2].as_str().unwrap();
    assert!(script.contains("warmup \"$mnt\"/train"), "{script}");
    assert!(script.contains("\"${METAURL}\""), "{script}");
    let metaurl = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "METAURL")
        .unwrap();
    assert_eq!(
        metaurl["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "jfs-secret", "key": "metaurl"})
    );
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "DataLoad");
    let ds = get(ns, "dataset/jfsdemo").unwrap();
    assert_eq!(ds["status"]["operationRef"]["DataLoad"], "warm");

    // A second load waits for the first. It exposes the node label `type` (kwok's nodes have
    // it) beside the default ones for operations that follow it.
    apply(
        ns,
        &dataload("second", "jfsdemo", "").replace(
            "  name: second\n",
            "  name: second\n  annotations:\n    affinity.dataflow.fluid.io/labels: type\n",
        ),
    );
    let second = wait_phase(ns, "dataload/second", "Pending").await;
    let waiting = common::objects::condition(&second, "Waiting").unwrap();
    assert_eq!(waiting["reason"], "DatasetBusy");
    assert!(
        waiting["message"]
            .as_str()
            .unwrap()
            .contains("DataLoad warm"),
        "{waiting}"
    );
    assert!(get(ns, "job/second-load").is_none());

    // The first is deleted: its Job goes, the lock passes; the second runs and completes.
    kubectl(["delete", "-n", ns, "dataload", "warm", "--wait=true"]).unwrap();
    let second = wait_phase(ns, "dataload/second", "Complete").await;
    let complete = common::objects::condition(&second, "Complete").unwrap();
    assert_eq!(complete["status"], "True");
    let duration = second["status"]["duration"].as_str().unwrap();
    assert!(
        duration.ends_with('s') && duration != "Unfinished",
        "{duration}"
    );
    assert!(common::objects::condition(&second, "Waiting").is_none());
    assert_eq!(
        get(ns, "job/second-load").unwrap()["status"]["succeeded"],
        1
    );
    assert!(get(ns, "job/warm-load").is_none());
    let ds = get(ns, "dataset/jfsdemo").unwrap();
    assert!(
        ds["status"]["operationRef"]["DataLoad"].is_null(),
        "{}",
        ds["status"]
    );

    follows(ns, &second).await;

    // Cron: a CronJob, and the next run in status.
    apply(
        ns,
        &dataload(
            "nightly",
            "jfsdemo",
            "  policy: Cron\n  schedule: \"0 2 * * *\"\n",
        ),
    );
    let nightly = wait_until("the next schedule of nightly", WAIT, || async {
        let o = get(ns, "dataload/nightly").ok_or("no dataload")?;
        if o["status"]["nextScheduleTime"].is_string() {
            Ok(o)
        } else {
            Err(format!("status {}", o["status"]))
        }
    })
    .await
    .unwrap();
    assert_eq!(nightly["status"]["phase"], "Executing");
    let next = nightly["status"]["nextScheduleTime"].as_str().unwrap();
    assert!(next.ends_with("T02:00:00Z"), "{next}");
    let cron = get(ns, "cronjob/nightly-load").unwrap();
    assert_eq!(cron["spec"]["schedule"], "0 2 * * *");

    // Deletion leaves nothing: Jobs, CronJob, the Dataset's lock.
    kubectl([
        "delete",
        "-n",
        ns,
        "dataload",
        "second",
        "after-second",
        "prefers-second",
        "nightly",
        "--wait=true",
    ])
    .unwrap();
    wait_until("the operations' Jobs and CronJob gone", WAIT, || async {
        for what in [
            "job/warm-load",
            "job/second-load",
            "job/after-second-load",
            "job/prefers-second-load",
            "cronjob/nightly-load",
        ] {
            if get(ns, what).is_some() {
                return Err(format!("{what} still exists"));
            }
        }
        let ds = get(ns, "dataset/jfsdemo").ok_or("no dataset")?;
        match &ds["status"]["operationRef"]["DataLoad"] {
            Value::Null => Ok(()),
            other => Err(format!("lock still held by {other}")),
        }
    })
    .await
    .unwrap();

    // A parallel migration: an Indexed Job of two pods, each choosing its key range from
    // JOB_COMPLETION_INDEX; complete when kwok has ended both pods Succeeded.
    apply(ns, &datamigrate(ns, "wide", 2));
    let job = wait_until("Job wide-migrate", WAIT, || async {
        get(ns, "job/wide-migrate").ok_or_else(|| "no job yet".to_owned())
    })
    .await
    .unwrap();
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 2);
    assert_eq!(job["spec"]["parallelism"], 2);
    let text = job.to_string();
    for v in SECRET_VALUES {
        assert!(!text.contains(v), "a secret value is in the Job: {text}");
    }
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let script = container["command"][2].as_str().unwrap();
    for line in [
        "case \"${JOB_COMPLETION_INDEX-}\" in",
        "0) set -- --end N\"$top\" ;;",
        "1) set -- --start N\"$top\" ;;",
        "sync \"$@\" \"jfs://FLUID_METAURL/demo/\" \"s3://backup/train\"",
    ] {
        assert!(script.contains(line), "{line} not in {script}");
    }
    assert_eq!(
        container["env"][0]["valueFrom"]["secretKeyRef"]["name"],
        "jfs-secret"
    );
    let wide = wait_phase(ns, "datamigrate/wide", "Complete").await;
    assert!(common::objects::condition(&wide, "Complete").is_some());
    let job = get(ns, "job/wide-migrate").unwrap();
    assert_eq!(job["status"]["succeeded"], 2, "{}", job["status"]);
    // Kubernetes writes two consecutive indexes as a list, three or more as a range.
    assert_eq!(job["status"]["completedIndexes"], "0,1");
    kubectl(["delete", "-n", ns, "datamigrate", "wide", "--wait=true"]).unwrap();

    // A spec the engine cannot run (more pods than key ranges): refused at each try
    // (PlanFailed Events), Failed at the third with the engine's message naming the field.
    apply(ns, &datamigrate(ns, "too-wide", 96));
    let too_wide = wait_phase(ns, "datamigrate/too-wide", "Failed").await;
    let failed = common::objects::condition(&too_wide, "Failed").unwrap();
    assert_eq!(failed["reason"], "PlanFailed");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("spec.parallelism: 96") && message.contains("at most 95"),
        "{message}"
    );
    assert!(get(ns, "job/too-wide-migrate").is_none());
    kubectl(["delete", "-n", ns, "datamigrate", "too-wide", "--wait=true"]).unwrap();
}

/// A DataMigrate of `parallelism` pods from the JuiceFS sample to external storage.
fn datamigrate(ns: &str, name: &str, parallelism: u32) -> String {
    format!(
        "apiVersion: data.fluid.io/v1alpha1
kind: DataMigrate
metadata:
  name: {name}
spec:
  from:
    dataset:
      name: jfsdemo
      namespace: {ns}
  to:
    externalStorage:
      uri: s3://backup/train
  parallelism: {parallelism}
"
    )
}

/// The node the pod of Job `job` ran on.
fn job_node(ns: &str, job: &str) -> String {
    let pods: Value = serde_json::from_str(
        &kubectl([
            "get",
            "-n",
            ns,
            "pods",
            "-l",
            &format!("job-name={job}"),
            "-o",
            "json",
        ])
        .unwrap(),
    )
    .unwrap();
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{pods}");
    items[0]["spec"]["nodeName"].as_str().unwrap().to_owned()
}

/// Dataflow affinity (`runAfter.affinityStrategy`): the completed load `second` recorded the
/// labels of its pod's node (the hostname, and `type`, which it exposes); a load after it with
/// policy `Require` gets that hostname added to the engine's required placement (the ready
/// worker's node, one pod per node), and runs on that node; a load after that one following `second`
/// (`dependOn`) with `Prefer` on `type` gets a weighted preference.
async fn follows(ns: &str, second: &Value) {
    let node = job_node(ns, "second-load");
    let host = json!({"key": "kubernetes.io/hostname", "operator": "In", "values": [node]});
    let kwok = json!({"key": "type", "operator": "In", "values": ["kwok"]});
    assert_eq!(
        second["status"]["nodeAffinity"],
        json!({"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [host, kwok]}]}}),
        "{}",
        second["status"]
    );
    let after = |name: &str, run_after: &str, strategy: &str| {
        dataload(name, "jfsdemo", "").replace(
            "  loadMetadata: true\n",
            &format!(
                "  loadMetadata: true\n  runAfter:\n    kind: DataLoad\n    name: {run_after}\n    \
                 affinityStrategy:\n{strategy}"
            ),
        )
    };
    apply(
        ns,
        &after("after-second", "second", "      policy: Require\n"),
    );
    let job = wait_until("Job after-second-load", WAIT, || async {
        get(ns, "job/after-second-load").ok_or_else(|| "no job yet".to_owned())
    })
    .await
    .unwrap();
    // The engine's placement (on the ready worker's node, one pod per node) with the required
    // hostname of `second`'s node added to its term.
    let affinity = &job["spec"]["template"]["spec"]["affinity"];
    assert_eq!(
        affinity["nodeAffinity"],
        json!({"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{
                "matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}],
                "matchExpressions": [host]}]}}),
        "{affinity}"
    );
    assert_eq!(
        affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
            ["labelSelector"]["matchLabels"]["batch.kubernetes.io/job-name"],
        "after-second-load",
        "{affinity}"
    );
    let done = wait_phase(ns, "dataload/after-second", "Complete").await;
    assert_eq!(job_node(ns, "after-second-load"), node);
    assert_eq!(
        done["status"]["nodeAffinity"],
        json!({"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [host]}]}}),
    );

    apply(
        ns,
        &after(
            "prefers-second",
            "after-second",
            "      policy: Prefer\n      dependOn:\n        kind: DataLoad\n        name: second\n      \
             prefers:\n        - name: type\n          weight: 10\n",
        ),
    );
    let job = wait_until("Job prefers-second-load", WAIT, || async {
        get(ns, "job/prefers-second-load").ok_or_else(|| "no job yet".to_owned())
    })
    .await
    .unwrap();
    assert_eq!(
        job["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
            ["preferredDuringSchedulingIgnoredDuringExecution"],
        json!([{"weight": 10, "preference": {"matchExpressions": [kwok]}}]),
    );
    wait_phase(ns, "dataload/prefers-second", "Complete").await;
}

/// The Alluxio sample: a DataLoad's Job runs the rendered distributedLoad in the runtime's
/// image against the runtime's ConfigMap and completes (kwok ends its pod); a DataBackup to a
/// node directory runs on the master's node and reports where the backup is; a DataMigrate
/// fails as not supported by alluxio.
async fn alluxio(ns: &str) {
    let root = common::workspace_root();
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    apply(ns, &read("samples/alluxio/local.yaml"));
    common::objects::wait_bound(ns, "demo").await.unwrap();

    apply(ns, &read("samples/alluxio/dataload.yaml"));
    let job = wait_until("Job demo-warmup-load", WAIT, || async {
        get(ns, "job/demo-warmup-load").ok_or_else(|| "no job yet".to_owned())
    })
    .await
    .unwrap();
    let pod = &job["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "alluxio/alluxio:2.9.4");
    let script = container["command"][2].as_str().unwrap();
    for line in [
        "cp /etc/fluid-rs/config/site.properties /opt/alluxio/conf/alluxio-site.properties",
        "alluxio fs setReplication --max 2 -R /data/train",
        "alluxio fs -Dalluxio.user.file.metadata.sync.interval=0 ls -R /data/train > /dev/null",
        "alluxio fs distributedLoad --replication 2 /data/train",
        "alluxio fs distributedLoad --replication 1 /data/validation",
        "alluxio fs load /data/train --submit",
    ] {
        assert!(
            script.lines().any(|l| l.trim() == line),
            "{line:?} not in {script}"
        );
    }
    assert_eq!(pod["volumes"][0]["configMap"]["name"], "demo-config");
    assert!(get(ns, "configmap/demo-config").is_some());
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "DataLoad");
    let load = wait_phase(ns, "dataload/demo-warmup", "Complete").await;
    eprintln!(
        "alluxio DataLoad: Complete in {}",
        load["status"]["duration"]
    );

    apply(
        ns,
        "apiVersion: data.fluid.io/v1alpha1
kind: DataBackup
metadata:
  name: demo-backup
spec:
  dataset: demo
  backupPath: local:///var/lib/fluid-backups
",
    );
    let job = wait_until("Job demo-backup-backup", WAIT, || async {
        get(ns, "job/demo-backup-backup").ok_or_else(|| "no job yet".to_owned())
    })
    .await
    .unwrap();
    let pod = &job["spec"]["template"]["spec"];
    let script = pod["containers"][0]["command"][2].as_str().unwrap();
    assert!(
        script.contains("out=$(alluxio fsadmin backup /alluxio_backups --local)"),
        "{script}"
    );
    assert!(
        script.contains("mv \"$written\" /host/metadata-backup-demo-"),
        "{script}"
    );
    let backup = wait_phase(ns, "databackup/demo-backup", "Complete").await;
    let infos = &backup["status"]["infos"];
    assert_eq!(
        infos["BackupLocationPath"],
        "local:///var/lib/fluid-backups"
    );
    // On the master's node (required pod affinity): the backup is there.
    let master_pod = get(ns, "pod/demo-master-0").unwrap();
    assert_eq!(
        infos["BackupLocationNodeName"],
        master_pod["spec"]["nodeName"]
    );

    apply(
        ns,
        "apiVersion: data.fluid.io/v1alpha1
kind: DataMigrate
metadata:
  name: demo-out
spec:
  from:
    dataset:
      name: demo
      namespace: NS
  to:
    externalStorage:
      uri: s3://bucket/out
"
        .replace("NS", ns)
        .as_str(),
    );
    let migrate = wait_phase(ns, "datamigrate/demo-out", "Failed").await;
    let failed = common::objects::condition(&migrate, "Failed").unwrap();
    assert_eq!(failed["message"], "DataMigrate is not supported by alluxio");
    kubectl([
        "delete",
        "-n",
        ns,
        "dataload/demo-warmup",
        "databackup/demo-backup",
        "datamigrate/demo-out",
        "--wait=true",
    ])
    .unwrap();
    assert!(get(ns, "job/demo-warmup-load").is_none());
}

/// A DataLoad on an engine that does not implement `operate`: Failed, naming the engine.
async fn unsupported(ns: &str) {
    apply(ns, &common::objects::reference_pair("refdata", 1));
    common::objects::wait_bound(ns, "refdata").await.unwrap();
    apply(ns, &dataload("warm", "refdata", ""));
    let warm = wait_phase(ns, "dataload/warm", "Failed").await;
    let failed = common::objects::condition(&warm, "Failed").unwrap();
    assert_eq!(failed["reason"], "NotSupported");
    assert_eq!(failed["message"], "DataLoad is not supported by reference");
    assert!(get(ns, "job/warm-load").is_none());
    kubectl(["delete", "-n", ns, "dataload", "warm", "--wait=true"]).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dataloads_run_wait_schedule_fail_and_go() {
    let plugins = common::plugin_dir(&[]);
    std::fs::copy(common::juicefs_plugin(), plugins.path().join("juicefs.so")).unwrap();
    std::fs::copy(
        common::reference_plugin(),
        plugins.path().join("reference.so"),
    )
    .unwrap();
    std::fs::copy(common::alluxio_plugin(), plugins.path().join("alluxio.so")).unwrap();
    common::controller::install_crds(plugins.path());
    let logs = tempfile::tempdir().unwrap();
    let controller = Controller::start(plugins.path(), logs.path().join("controller.log"));
    let (a, b, c) = (
        TestNamespace::create("e2e-ops").await.unwrap(),
        TestNamespace::create("e2e-ops-ref").await.unwrap(),
        TestNamespace::create("e2e-ops-alluxio").await.unwrap(),
    );
    let (na, nb, nc) = (
        a.name().to_owned(),
        b.name().to_owned(),
        c.name().to_owned(),
    );
    let outcome = tokio::spawn(async move {
        tokio::join!(scenario(&na), unsupported(&nb), alluxio(&nc));
    })
    .await;
    if let Err(e) = outcome {
        panic!("{e}\n--- controller log ---\n{}", controller.log_tail());
    }
    drop(controller);
    a.cleanup().await.unwrap();
    b.cleanup().await.unwrap();
    c.cleanup().await.unwrap();
}
