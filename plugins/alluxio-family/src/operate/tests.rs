//! The rendered pods of the data operations.

use super::*;
use crate::transform::tests::dataset;
use fluid_plugin_api::types::Dataset;
use serde_json::json;

fn input(kind: OperationKind, spec: Value) -> OperateInput {
    OperateInput {
        kind,
        operation: json!({
            "apiVersion": "data.fluid.io/v1alpha1", "kind": kind.as_str(),
            "metadata": {"name": "op", "namespace": "ns"},
            "spec": spec,
        }),
        job_name: "op-load".into(),
    }
}

/// A Dataset whose mount reads a Secret: its name and key may appear nowhere in a pod.
fn secret_dataset() -> Dataset {
    dataset(
        json!({"mounts": [{"mountPoint": "s3://bucket/data", "name": "data",
        "encryptOptions": [{"name": "aws.secretKey",
            "valueFrom": {"secretKeyRef": {"name": "s3-secret", "key": "secret-key-value"}}}]}]}),
    )
}

fn plan_of(
    f: &Flavor,
    spec: &FamilySpec,
    ds: &Dataset,
    op: &OperateInput,
) -> Result<Option<Value>, HookError> {
    let o = Input {
        flavor: f,
        name: "demo",
        namespace: "ns",
        spec,
        version: None,
        dataset: ds,
    };
    plan(op, &o).map(|p| p.map(|p| serde_json::to_value(p.pod_template).unwrap()))
}

fn script(pod: &Value) -> String {
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["command"][0], "sh");
    assert_eq!(c["command"][1], "-c");
    c["command"][2].as_str().unwrap().to_owned()
}

#[test]
fn a_dataload_loads_each_target_with_its_replicas_after_checking_it() {
    let ds = secret_dataset();
    let op = input(
        OperationKind::DataLoad,
        json!({"dataset": {"name": "demo", "namespace": "ns"}, "loadMetadata": true,
               "target": [{"path": "/data/train", "replicas": 2}, {"path": "data/my dir"}],
               "nodeSelector": {"pool": "a"},
               "podMetadata": {"labels": {"team": "ml"}}}),
    );
    let pod = plan_of(&Flavor::ALLUXIO, &FamilySpec::default(), &ds, &op)
        .unwrap()
        .unwrap();
    let s = script(&pod);
    assert_eq!(
        s,
        r#"cp /etc/fluid-rs/config/site.properties /opt/alluxio/conf/alluxio-site.properties
set -e
if alluxio fs 2>&1 | grep -q distributedLoad; then distributed=1; else distributed=0; fi
echo 'loading /data/train'
alluxio fs ls /data/train > /dev/null || { echo '/data/train does not exist' >&2; exit 1; }
alluxio fs setReplication --max 2 -R /data/train
alluxio fs -Dalluxio.user.file.metadata.sync.interval=0 ls -R /data/train > /dev/null
if [ $distributed = 1 ]; then
  alluxio fs distributedLoad --replication 2 /data/train
else
  alluxio fs load /data/train --submit
  while :; do
    state=$(alluxio fs load /data/train --progress | sed -n 's/.*Job State: *//p')
    case "$state" in SUCCEEDED*) break ;; FAILED*|STOPPED*) echo 'loading /data/train:' "$state" >&2; exit 1 ;; esac
    sleep 5
  done
fi
echo 'loading /data/my dir'
alluxio fs ls '/data/my dir' > /dev/null || { echo '/data/my dir does not exist' >&2; exit 1; }
alluxio fs setReplication --max 1 -R '/data/my dir'
alluxio fs -Dalluxio.user.file.metadata.sync.interval=0 ls -R '/data/my dir' > /dev/null
if [ $distributed = 1 ]; then
  alluxio fs distributedLoad --replication 1 '/data/my dir'
else
  alluxio fs load '/data/my dir' --submit
  while :; do
    state=$(alluxio fs load '/data/my dir' --progress | sed -n 's/.*Job State: *//p')
    case "$state" in SUCCEEDED*) break ;; FAILED*|STOPPED*) echo 'loading /data/my dir:' "$state" >&2; exit 1 ;; esac
    sleep 5
  done
fi"#
    );
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["image"], "alluxio/alluxio:2.9.4");
    assert_eq!(c["volumeMounts"][0]["mountPath"], CONFIG_MOUNT);
    assert_eq!(
        pod["spec"]["volumes"][0]["configMap"]["name"],
        "demo-config"
    );
    assert_eq!(pod["spec"]["nodeSelector"]["pool"], "a");
    assert_eq!(pod["metadata"]["labels"]["team"], "ml");
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    // Clients of the master: no Secret is read, none is named.
    let text = pod.to_string();
    assert!(
        !text.contains("s3-secret") && !text.contains("secret-key-value"),
        "{text}"
    );
    assert!(c.get("env").is_none());
}

#[test]
fn a_dataload_without_targets_loads_the_whole_dataset_once() {
    let ds = dataset(json!({"mounts": [{"mountPoint": "local:///srv"}]}));
    let op = input(
        OperationKind::DataLoad,
        json!({"dataset": {"name": "demo", "namespace": "ns"}}),
    );
    let s = script(
        &plan_of(&Flavor::ALLUXIO, &FamilySpec::default(), &ds, &op)
            .unwrap()
            .unwrap(),
    );
    assert!(s.contains(
        "alluxio fs setReplication --max 1 -R /\nif [ $distributed = 1 ]; then\n  alluxio fs distributedLoad --replication 1 /\n"
    ), "{s}");
    assert!(
        !s.contains("sync.interval"),
        "no metadata listing unless asked"
    );
}

#[test]
fn bad_targets_name_their_field() {
    let ds = dataset(json!({"mounts": [{"mountPoint": "local:///srv"}]}));
    for (target, field) in [
        (json!([{"path": "/a/../../etc"}]), "spec.target[0].path"),
        (
            json!([{"path": "/a"}, {"path": "/b", "replicas": 0}]),
            "spec.target[1].replicas",
        ),
    ] {
        let op = input(
            OperationKind::DataLoad,
            json!({"dataset": {"name": "demo", "namespace": "ns"}, "target": target}),
        );
        let e = plan_of(&Flavor::ALLUXIO, &FamilySpec::default(), &ds, &op).unwrap_err();
        assert!(e.to_string().starts_with(field), "{e}");
    }
}

#[test]
fn goosefs_loads_with_its_own_command_and_home() {
    let f = Flavor {
        engine: "goosefs",
        cli: "goosefs",
        property_prefix: "goosefs.",
        home: "/opt/goosefs",
        ..Flavor::ALLUXIO
    };
    let ds = dataset(json!({"mounts": [{"mountPoint": "local:///srv"}]}));
    let op = input(
        OperationKind::DataLoad,
        json!({"dataset": {"name": "demo", "namespace": "ns"}, "loadMetadata": true, "target": [{"path": "/a"}]}),
    );
    let s = script(
        &plan_of(&f, &FamilySpec::default(), &ds, &op)
            .unwrap()
            .unwrap(),
    );
    assert!(s.starts_with(
        "cp /etc/fluid-rs/config/site.properties /opt/goosefs/conf/goosefs-site.properties\n"
    ));
    assert!(s.contains("goosefs fs -Dgoosefs.user.file.metadata.sync.interval=0 ls -R /a"));
    assert!(s.contains("if goosefs fs 2>&1 | grep -q distributedLoad;"));
    assert!(s.contains("  goosefs fs distributedLoad --replication 1 /a\n"));
}

#[test]
fn a_databackup_runs_on_the_masters_node_and_writes_into_the_claim() {
    let ds = secret_dataset();
    let op = input(
        OperationKind::DataBackup,
        json!({"dataset": "demo", "backupPath": "pvc://backups/alluxio/", "runAs": {"uid": 1000, "gid": 1000, "user": "u", "group": "g"}}),
    );
    let pod = plan_of(&Flavor::ALLUXIO, &FamilySpec::default(), &ds, &op)
        .unwrap()
        .unwrap();
    let s = script(&pod);
    assert!(
        s.contains("out=$(alluxio fsadmin backup /alluxio_backups --local)"),
        "{s}"
    );
    assert!(s.contains("mkdir -p /pvc/alluxio/\n"), "{s}");
    assert!(
        s.contains("mv \"$written\" /pvc/alluxio/metadata-backup-demo-ns.gz"),
        "{s}"
    );
    assert!(s.contains("> /pvc/alluxio/demo-ns.yaml"), "{s}");
    let spec = &pod["spec"];
    let term =
        &spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(
        term["labelSelector"]["matchLabels"],
        json!({"app": "alluxio", "release": "demo", "role": "alluxio-master"})
    );
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    let volumes = spec["volumes"].as_array().unwrap();
    assert_eq!(
        volumes[1]["hostPath"]["path"],
        "/tmp/alluxio-backup/ns/demo"
    );
    assert_eq!(volumes[2]["persistentVolumeClaim"]["claimName"], "backups");
    let c = &spec["containers"][0];
    assert_eq!(
        c["securityContext"],
        json!({"runAsUser": 1000, "runAsGroup": 1000})
    );
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, [CONFIG_MOUNT, "/alluxio_backups", "/pvc"]);
    let text = pod.to_string();
    assert!(
        !text.contains("s3-secret") && !text.contains("secret-key-value"),
        "{text}"
    );
}

#[test]
fn a_local_backup_goes_to_the_nodes_directory() {
    let ds = dataset(json!({"mounts": [{"mountPoint": "local:///srv"}]}));
    let op = input(
        OperationKind::DataBackup,
        json!({"dataset": "demo", "backupPath": "local:///var/backups"}),
    );
    let pod = plan_of(&Flavor::ALLUXIO, &FamilySpec::default(), &ds, &op)
        .unwrap()
        .unwrap();
    assert!(script(&pod).contains("mv \"$written\" /host/metadata-backup-demo-ns.gz"));
    assert_eq!(
        pod["spec"]["volumes"][2]["hostPath"]["path"],
        "/var/backups/"
    );
    assert_eq!(
        pod["spec"]["containers"][0]["securityContext"],
        json!({"runAsUser": 0, "runAsGroup": 0}),
        "as the master, which owns the backup it wrote"
    );
}

#[test]
fn backups_that_cannot_be_made_say_why() {
    let ds = dataset(json!({"mounts": [{"mountPoint": "local:///srv"}]}));
    let bad = |spec: &FamilySpec, backup: Value| {
        let op = input(OperationKind::DataBackup, backup);
        plan_of(&Flavor::ALLUXIO, spec, &ds, &op)
            .unwrap_err()
            .to_string()
    };
    let one = FamilySpec::default();
    assert!(bad(&one, json!({"dataset": "demo"})).starts_with("spec.backupPath: required"));
    assert!(
        bad(&one, json!({"dataset": "demo", "backupPath": "s3://b"}))
            .starts_with("spec.backupPath:")
    );
    let ha: FamilySpec = serde_json::from_value(json!({"master": {"replicas": 3}})).unwrap();
    assert!(
        bad(&ha, json!({"dataset": "demo", "backupPath": "pvc://b"}))
            .starts_with("spec.master.replicas")
    );
}

#[test]
fn a_datamigrate_is_not_done_by_the_family() {
    let ds = dataset(json!({"mounts": [{"mountPoint": "local:///srv"}]}));
    let op = input(OperationKind::DataMigrate, json!({}));
    assert_eq!(
        plan_of(&Flavor::ALLUXIO, &FamilySpec::default(), &ds, &op).unwrap(),
        None
    );
}
