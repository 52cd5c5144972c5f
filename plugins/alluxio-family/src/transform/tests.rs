//! The transform of whole runtimes.

use super::*;
use serde_json::json;

pub(crate) fn dataset(v: Value) -> Dataset {
    serde_json::from_value(json!({
        "apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
        "metadata": {"name": "demo", "namespace": "ns", "uid": "0000-1111"},
        "spec": v
    }))
    .unwrap()
}

pub(crate) fn conventions(ds: &Dataset) -> Conventions {
    let rt = json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "AlluxioRuntime",
        "metadata": {"name": "demo", "namespace": "ns", "uid": "2222"}});
    Conventions::of(
        "alluxio",
        "fuse.alluxio-fuse",
        &rt,
        Some(&serde_json::to_value(ds).unwrap()),
    )
}

fn render(spec: Value, ds: Value) -> Result<Value, Vec<Problem>> {
    render_with(spec, ds, &Settings::default())
}

fn render_with(spec: Value, ds: Value, settings: &Settings) -> Result<Value, Vec<Problem>> {
    let spec: FamilySpec = serde_json::from_value(spec).unwrap();
    let ds = dataset(ds);
    let input = Input {
        flavor: &Flavor::ALLUXIO,
        name: "demo",
        namespace: "ns",
        spec: &spec,
        version: None,
        dataset: &ds,
    };
    values(&input, settings, &conventions(&ds))
}

fn site(v: &Value) -> BTreeMap<String, String> {
    v["siteProperties"]
        .as_str()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn a_local_mount_with_a_memory_tier_renders_fluids_defaults() {
    let v = render(
        json!({"replicas": 2, "tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi"}]}}),
        json!({"mounts": [{"mountPoint": "local:///mnt/data", "name": "data"}]}),
    )
    .unwrap();
    let p = site(&v);
    assert_eq!(p["alluxio.master.mount.table.root.ufs"], "/underFSStorage");
    assert_eq!(
        p["alluxio.master.hostname"],
        "demo-master-0.demo-master.ns.svc"
    );
    assert_eq!(p["alluxio.master.journal.type"], "UFS");
    assert_eq!(p["alluxio.master.journal.folder"], "/journal");
    assert_eq!(p["alluxio.master.rpc.port"], "19998");
    assert_eq!(
        p["alluxio.worker.tieredstore.level0.dirs.path"],
        "/dev/shm/ns/demo"
    );
    assert_eq!(p["alluxio.worker.tieredstore.level0.dirs.quota"], "1GB");
    assert_eq!(p["alluxio.user.file.replication.max"], "1");
    assert_eq!(p["alluxio.master.metastore"], "ROCKS");
    // Read-only (the default access mode), one tier of one directory.
    assert_eq!(p["alluxio.user.direct.memory.io.enabled"], "true");
    assert_eq!(p["alluxio.fuse.user.group.translation.enabled"], "true");
    assert_eq!(v["worker"]["replicas"], 2);
    assert_eq!(
        v["worker"]["resources"]["requests"]["memory"], "1073741824",
        "the MEM tier"
    );
    assert_eq!(v["master"]["replicas"], 1);
    assert_eq!(v["image"], "alluxio/alluxio");
    assert_eq!(v["imageTag"], "2.9.4");
    assert_eq!(
        v["master"]["volumeMounts"],
        json!([{"name": "ufs-1", "mountPath": "/underFSStorage/data"}, {"name": "backups", "mountPath": "/alluxio_backups"}])
    );
    assert_eq!(
        v["worker"]["volumeMounts"],
        json!([{"name": "ufs-1", "mountPath": "/underFSStorage/data"}, {"name": "tier-1", "mountPath": "/dev/shm/ns/demo"}])
    );
    assert_eq!(
        v["fuse"]["args"],
        json!([
            "fuse",
            "--fuse-opts=kernel_cache,ro,attr_timeout=7200,entry_timeout=7200,allow_other",
            "/runtime-mnt/alluxio/ns/demo/alluxio-fuse",
            "/"
        ])
    );
    assert_eq!(
        v["fuse"]["nodeSelector"],
        json!({"fluid.io/f-ns-demo": "true"})
    );
    assert_eq!(v["fuse"]["hostMountPath"], "/runtime-mnt/alluxio/ns/demo");
    assert!(v["master"]["javaOpts"].as_str().unwrap().starts_with("-Xmx16G -XX:+UnlockExperimentalVMOptions -Dalluxio.master.hostname=$(ALLUXIO_MASTER_HOSTNAME)"));
    assert_eq!(v["worker"]["hostNetwork"], true);
}

#[test]
fn user_properties_win_over_defaults_but_not_over_what_fluid_forces() {
    let v = render(
        json!({"properties": {"alluxio.master.metastore": "HEAP", "alluxio.master.mount.table.root.ufs": "/x",
                              "alluxio.user.block.size.bytes.default": "64MB", "alluxio.master.rpc.port": "21000",
                              "alluxio.logs.dir": "/var/log/alluxio"},
               "worker": {"properties": {"alluxio.worker.network.reader.buffer.size": "8MB"}, "jvmOptions": ["-Xmx2G"]},
               "jvmOptions": ["-XX:+UseG1GC"],
               "data": {"replicas": 2},
               "tieredstore": {"levels": [{"mediumtype": "SSD", "path": "/a,/b", "quota": "2Gi", "volumeType": "emptyDir"}]}}),
        json!({"mounts": [{"mountPoint": "local:///mnt/data", "name": "data"}], "accessModes": ["ReadWriteMany"],
               "owner": {"uid": 1000, "gid": 1000, "user": "u", "group": "g"}}),
    )
    .unwrap();
    let p = site(&v);
    assert_eq!(p["alluxio.master.metastore"], "HEAP");
    assert_eq!(p["alluxio.user.block.size.bytes.default"], "64MB");
    assert_eq!(p["alluxio.master.rpc.port"], "21000");
    assert_eq!(
        p["alluxio.master.mount.table.root.ufs"], "/underFSStorage",
        "Fluid's, always"
    );
    assert_eq!(p["alluxio.user.file.replication.max"], "2");
    assert_eq!(
        p["alluxio.user.short.circuit.enabled"], "false",
        "an emptyDir tier"
    );
    // A role's property suppresses the default and goes to the role's JVM only.
    assert!(!p.contains_key("alluxio.worker.network.reader.buffer.size"));
    assert!(!p.contains_key("alluxio.user.direct.memory.io.enabled"));
    assert!(!p.contains_key("alluxio.fuse.user.group.translation.enabled"));
    assert!(
        !p.contains_key("alluxio.logs.dir"),
        "refused by Alluxio in the site file"
    );
    assert_eq!(
        v["javaOpts"],
        "-XX:+UseG1GC -Dalluxio.logs.dir=/var/log/alluxio"
    );
    assert_eq!(
        v["worker"]["javaOpts"],
        "-Xmx2G -Dalluxio.worker.hostname=$(ALLUXIO_WORKER_HOSTNAME) -Dalluxio.worker.network.reader.buffer.size=8MB"
    );
    assert_eq!(
        v["fuse"]["args"][1],
        "--fuse-opts=kernel_cache,rw,uid=1000,gid=1000,allow_other"
    );
    assert_eq!(v["master"]["ports"]["rpc"], 21000);
}

#[test]
fn three_masters_are_highly_available_on_the_embedded_journal() {
    let v = render(
        json!({"master": {"replicas": 3}}),
        json!({"mounts": [{"mountPoint": "s3://bucket/data", "name": "data", "path": "/"}]}),
    )
    .unwrap();
    let p = site(&v);
    assert_eq!(p["alluxio.master.journal.type"], "EMBEDDED");
    assert_eq!(p["alluxio.master.embedded.journal.port"], "19200");
    assert!(p["alluxio.master.embedded.journal.addresses"]
        .starts_with("demo-master-0.demo-master.ns.svc:19200,"));
    assert_eq!(p["alluxio.master.mount.table.root.ufs"], "s3://bucket/data");
    assert_eq!(v["master"]["replicas"], 3);
    assert_eq!(v["master"]["ports"]["embedded"], 19200);
    assert_eq!(v["master"]["jobPorts"]["embedded"], 20003);
    let e = render(
        json!({"master": {"replicas": 2}}),
        json!({"mounts": [{"mountPoint": "s3://b", "name": "d"}]}),
    )
    .unwrap_err();
    assert_eq!(e[0].field, "spec.master.replicas");
}

#[test]
fn root_encrypt_options_are_secret_files_never_values() {
    let v = render(
        json!({}),
        json!({"mounts": [{"mountPoint": "s3://bucket", "name": "b", "path": "/",
                "options": {"alluxio.underfs.s3.endpoint": "http://minio:9000"},
                "encryptOptions": [{"name": "s3a.secretKey", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "sk"}}}]}]}),
    )
    .unwrap();
    let p = site(&v);
    assert_eq!(
        p["alluxio.master.mount.table.root.option.alluxio.underfs.s3.endpoint"],
        "http://minio:9000"
    );
    assert!(!p.keys().any(|k| k.contains("secretKey")));
    assert_eq!(
        v["rootSecretOptions"],
        "alluxio.master.mount.table.root.option.s3a.secretKey=/etc/fluid/secrets/keys/sk\n"
    );
    assert_eq!(
        v["master"]["volumes"],
        json!([{"name": "ufs-secret-1", "secret": {"secretName": "keys"}}, {"name": "backups", "hostPath": {"path": "/tmp/alluxio-backup/ns/demo", "type": "DirectoryOrCreate"}}])
    );
    assert_eq!(
        v["master"]["volumeMounts"],
        json!([{"name": "ufs-secret-1", "mountPath": "/etc/fluid/secrets/keys", "readOnly": true}, {"name": "backups", "mountPath": "/alluxio_backups"}])
    );
}

#[test]
fn problems_name_the_runtime_and_dataset_fields() {
    let e = render(
        json!({"worker": {"volumeMounts": [{"name": "missing", "mountPath": "/m"}]},
               "tieredstore": {"levels": [{"mediumtype": "SSD", "path": "/a"}]}}),
        json!({"mounts": [{"mountPoint": "nowhere", "name": "d"}]}),
    )
    .unwrap_err();
    let fields: Vec<&str> = e.iter().map(|p| p.field.as_str()).collect();
    assert!(
        fields.contains(&"spec.tieredstore.levels[0].quota"),
        "{fields:?}"
    );
    assert!(fields.contains(&"spec.mounts[0].mountPoint"), "{fields:?}");
    assert!(
        fields.contains(&"spec.worker.volumeMounts[0]"),
        "{fields:?}"
    );
}

#[test]
fn http_mounts_get_bigger_blocks_and_no_readahead() {
    let v = render(
        json!({}),
        json!({"mounts": [{"mountPoint": "https://mirror/x", "name": "x"}]}),
    )
    .unwrap();
    assert_eq!(site(&v)["alluxio.user.block.size.bytes.default"], "256MB");
    assert!(v["fuse"]["args"][1]
        .as_str()
        .unwrap()
        .contains("max_readahead=0"));
}

#[test]
fn a_hadoop_config_map_is_mounted_and_named_in_the_properties() {
    let ds = json!({"mounts": [{"mountPoint": "hdfs://nn:8020/data", "name": "d"}]});
    let settings = Settings {
        hadoop_config_keys: Some(vec![
            "core-site.xml".into(),
            "hdfs-site.xml".into(),
            "other".into(),
        ]),
        ..Default::default()
    };
    let v = render_with(json!({"hadoopConfig": "hdfs-conf"}), ds.clone(), &settings).unwrap();
    assert_eq!(
        site(&v)["alluxio.underfs.hdfs.configuration"],
        "/hdfs-config/hdfs-site.xml:/hdfs-config/core-site.xml"
    );
    for role in ["master", "worker"] {
        assert!(v[role]["volumes"].as_array().unwrap().contains(&json!({"name": "hadoop-config",
            "configMap": {"name": "hdfs-conf", "items": [{"key": "hdfs-site.xml", "path": "hdfs-site.xml"},
                {"key": "core-site.xml", "path": "core-site.xml"}]}})), "{role}");
        assert!(
            v[role]["volumeMounts"].as_array().unwrap().contains(
                &json!({"name": "hadoop-config", "mountPath": "/hdfs-config", "readOnly": true})
            ),
            "{role}"
        );
    }
    let missing = render_with(
        json!({"hadoopConfig": "hdfs-conf"}),
        ds.clone(),
        &Settings::default(),
    )
    .unwrap_err();
    assert_eq!(missing[0].field, "spec.hadoopConfig");
    let empty = Settings {
        hadoop_config_keys: Some(vec!["x".into()]),
        ..Default::default()
    };
    let e = render_with(json!({"hadoopConfig": "hdfs-conf"}), ds, &empty).unwrap_err();
    assert!(
        e[0].message
            .contains("neither hdfs-site.xml nor core-site.xml"),
        "{e:?}"
    );
}

#[test]
fn allocated_host_ports_fill_every_port_the_user_did_not_set() {
    let allocated: Vec<u16> = (20100..20111).collect();
    let settings = Settings {
        host_ports: Some(allocated),
        ..Default::default()
    };
    let v = render_with(
        json!({"master": {"replicas": 3, "ports": {"web": 31000}},
               "properties": {"alluxio.worker.rpc.port": "32000"}}),
        json!({"mounts": [{"mountPoint": "s3://bucket/data", "name": "data", "path": "/"}]}),
        &settings,
    )
    .unwrap();
    let p = site(&v);
    // Each port has its slot of the allocation: setting one leaves the others where they were.
    for (key, port) in [
        ("alluxio.master.rpc.port", "20100"),
        ("alluxio.master.web.port", "31000"),
        ("alluxio.job.master.rpc.port", "20102"),
        ("alluxio.job.master.web.port", "20103"),
        ("alluxio.worker.rpc.port", "32000"),
        ("alluxio.worker.web.port", "20105"),
        ("alluxio.job.worker.rpc.port", "20106"),
        ("alluxio.job.worker.web.port", "20107"),
        ("alluxio.job.worker.data.port", "20108"),
        ("alluxio.master.embedded.journal.port", "20109"),
        ("alluxio.job.master.embedded.journal.port", "20110"),
    ] {
        assert_eq!(p[key], port, "{key}");
    }
    assert!(p["alluxio.master.embedded.journal.addresses"]
        .starts_with("demo-master-0.demo-master.ns.svc:20109,"));
    assert_eq!(v["master"]["ports"]["rpc"], 20100);
    assert_eq!(v["worker"]["jobPorts"]["data"], 20108);
    assert_eq!(super::properties::host_port_count(true), 11);
    assert_eq!(super::properties::host_port_count(false), 9);
    assert!(super::needs_host_ports(&Default::default()));
    let container: crate::FamilySpec = serde_json::from_value(json!({
        "master": {"networkMode": "ContainerNetwork"},
        "worker": {"networkMode": "ContainerNetwork"}}))
    .unwrap();
    assert!(!super::needs_host_ports(&container));
}

#[test]
fn a_dataset_restored_from_a_backup_starts_its_master_from_it() {
    let v = render(
        json!({}),
        json!({"mounts": [{"mountPoint": "local:///srv", "name": "data"}],
               "dataRestoreLocation": {"path": "local:///var/backup/", "nodeName": "node-1"}}),
    )
    .unwrap();
    assert_eq!(
        site(&v)["alluxio.master.journal.init.from.backup"],
        "/host/metadata-backup-demo-ns.gz"
    );
    assert_eq!(
        v["master"]["nodeSelector"]["kubernetes.io/hostname"],
        "node-1"
    );
    let volumes = v["master"]["volumes"].as_array().unwrap();
    assert_eq!(
        volumes.last().unwrap(),
        &json!({"name": "restore", "hostPath": {"path": "/var/backup/", "type": "DirectoryOrCreate"}})
    );
    let e = render(
        json!({}),
        json!({"mounts": [{"mountPoint": "local:///srv"}], "dataRestoreLocation": {"path": "ftp://x"}}),
    )
    .unwrap_err();
    assert_eq!(e[0].field, "spec.dataRestoreLocation.path");
}
