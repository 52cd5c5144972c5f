//! The transform of whole samples, both editions.

use super::*;
use serde::Deserialize;

pub(crate) const COMMUNITY: &str = include_str!("../../../../samples/juicefs/community.yaml");
pub(crate) const ENTERPRISE: &str = include_str!("../../../../samples/juicefs/enterprise.yaml");

/// The Secret, Dataset and runtime of a sample, placed in namespace `ns`.
pub(crate) fn sample(text: &str) -> (Value, Dataset, JuiceFSRuntime) {
    let mut docs: Vec<Value> = serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    for d in &mut docs {
        d["metadata"]["namespace"] = "ns".into();
        d["metadata"]["uid"] = "0000-1111".into();
    }
    let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap().clone();
    (
        find("Secret"),
        serde_json::from_value(find("Dataset")).unwrap(),
        serde_json::from_value(find("JuiceFSRuntime")).unwrap(),
    )
}

/// What the controller passes for the sample's runtime and Dataset.
pub(crate) fn conventions(rt: &JuiceFSRuntime, ds: &Dataset) -> Conventions {
    Conventions::of(
        "juicefs",
        "JuiceFS",
        &serde_json::to_value(rt).unwrap(),
        Some(&serde_json::to_value(ds).unwrap()),
    )
}

fn secret_values(secret: &Value) -> Vec<String> {
    secret["stringData"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_community_sample_formats_and_mounts_with_secrets_by_reference() {
    let (secret, ds, rt) = sample(COMMUNITY);
    let v = values(&rt, &ds, &Settings::default(), &conventions(&rt, &ds)).unwrap();
    assert_eq!(v["edition"], "community");
    assert_eq!(v["source"], "${METAURL}");
    assert_eq!(v["image"], "juicedata/mount");
    assert_eq!(v["imageTag"], "ce-v1.3.0");
    assert_eq!(
        v["configs"]["formatCmd"],
        "/usr/local/bin/juicefs format --access-key=${ACCESS_KEY} --secret-key=${SECRET_KEY} \
         --storage=minio --bucket=http://minio.default.svc.cluster.local:9000/minio/test \
         ${METAURL} minio"
    );
    // The default access mode is ReadOnlyMany: read-only mounts, attribute caches for the fuse.
    let fuse_cmd = v["fuse"]["command"].as_str().unwrap();
    let port = v["fuse"]["metricsPort"].as_u64().unwrap();
    assert_eq!(
        fuse_cmd,
        format!(
            "/bin/mount.juicefs ${{METAURL}} /runtime-mnt/juicefs/ns/jfsdemo/juicefs-fuse -o \
             attr-cache=7200,cache-dir=/cache,cache-size=40960,entry-cache=7200,\
             free-space-ratio=0.1,metrics=0.0.0.0:{port},ro,subdir=/demo"
        )
    );
    assert!(v["worker"]["command"]
        .as_str()
        .unwrap()
        .starts_with("/bin/mount.juicefs ${METAURL} /runtime-mnt/juicefs/ns/jfsdemo/juicefs-fuse -o cache-dir=/cache,cache-size=40960,free-space-ratio=0.1,metrics=0.0.0.0:"));
    assert_eq!(v["fuse"]["subPath"], "/demo");
    assert_eq!(
        v["secretEnvs"],
        json!([
            {"name": "METAURL", "valueFrom": {"secretKeyRef": {"name": "jfs-secret", "key": "metaurl"}}},
            {"name": "ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "jfs-secret", "key": "access-key"}}},
            {"name": "SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "jfs-secret", "key": "secret-key"}}},
        ])
    );
    assert_eq!(
        v["fuse"]["nodeSelector"],
        json!({"fluid.io/f-ns-jfsdemo": "true"})
    );
    assert_eq!(
        v["fuse"]["hostMountPath"],
        "/runtime-mnt/juicefs/ns/jfsdemo"
    );
    assert_eq!(v["fuse"]["cleanPolicy"], "OnRuntimeDeleted");
    assert_eq!(v["worker"]["replicas"], 1);
    assert_eq!(
        v["worker"]["volumes"],
        json!([{"name": "cache-dir-0", "hostPath": {"path": "/cache", "type": "DirectoryOrCreate"}}])
    );
    assert_eq!(
        v["fuse"]["volumeMounts"],
        json!([{"name": "cache-dir-0", "mountPath": "/cache"}])
    );
    let text = v.to_string();
    for secret_value in secret_values(&secret) {
        assert!(
            !text.contains(&secret_value),
            "{secret_value} leaked into {text}"
        );
    }
}

#[test]
fn the_enterprise_sample_authenticates_with_a_token_and_shares_a_cache_group() {
    let (secret, ds, rt) = sample(ENTERPRISE);
    let v = values(&rt, &ds, &Settings::default(), &conventions(&rt, &ds)).unwrap();
    assert_eq!(v["edition"], "enterprise");
    assert_eq!(v["source"], "myjfs");
    assert_eq!(v["imageTag"], "ee-5.2.10-eb0a8b3");
    assert_eq!(
        v["configs"]["formatCmd"],
        "/usr/bin/juicefs auth --token=${TOKEN} --accesskey=${ACCESS_KEY} --secretkey=${SECRET_KEY} \
         --bucket=http://myjfs.oss-cn-hangzhou.aliyuncs.com myjfs"
    );
    assert_eq!(
        v["fuse"]["command"],
        "/sbin/mount.juicefs myjfs /runtime-mnt/juicefs/ns/jfsdemo/juicefs-fuse -o \
         attrcacheto=7200,cache-dir=/cache,cache-group=ns-jfsdemo,cache-size=40960,entrycacheto=7200,\
         foreground,free-space-ratio=0.1,no-sharing,no-update,ro"
    );
    assert_eq!(
        v["worker"]["command"],
        "/sbin/mount.juicefs myjfs /runtime-mnt/juicefs/ns/jfsdemo/juicefs-fuse -o \
         cache-dir=/cache,cache-group=ns-jfsdemo,cache-size=40960,foreground,free-space-ratio=0.1,\
         no-update"
    );
    assert_eq!(v["fuse"]["subPath"], "");
    let text = v.to_string();
    for secret_value in secret_values(&secret) {
        assert!(!text.contains(&secret_value), "{secret_value} leaked");
    }
}

#[test]
fn component_settings_reach_the_values() {
    let (_, mut ds, mut rt) = sample(COMMUNITY);
    ds.spec.access_modes = Some(vec!["ReadWriteMany".into()]);
    ds.spec.tolerations = Some(
        serde_json::from_value(json!([
        {"key": "gpu", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]))
        .unwrap(),
    );
    rt.spec = serde_json::from_value(json!({
        "replicas": 3,
        "juicefsVersion": {"image": "my/juicefs", "imageTag": "ce-v1.2.0", "imagePullPolicy": "Always"},
        "configs": ["trash-days=0"],
        "worker": {"options": {"buffer-size": "600", "metrics": "0.0.0.0:9000"}, "networkMode": "ContainerNetwork",
            "env": [{"name": "A", "value": "1"}], "nodeSelector": {"disk": "ssd"},
            "resources": {"requests": {"cpu": "2"}},
            "podMetadata": {"labels": {"team": "w"}}, "volumeMounts": [{"name": "extra", "mountPath": "/extra"}]},
        "fuse": {"image": "my/fuse", "imageTag": "t", "options": {"writeback": ""}, "networkMode": "HostNetwork",
            "cleanPolicy": "OnDemand", "nodeSelector": {"zone": "a"}},
        "podMetadata": {"labels": {"team": "all", "app.example/x": "y"}, "annotations": {"a": "b"}},
        "volumes": [{"name": "extra", "emptyDir": {}}],
        "tieredstore": {"levels": [{"mediumtype": "MEM", "volumeType": "emptyDir", "path": "/dev/shm/a:/dev/shm/b", "quota": "2Gi"}]}
    }))
    .unwrap();
    let settings = Settings {
        image_pull_secrets: vec!["regcred".into()],
        critical_fuse_pod: true,
    };
    let v = values(&rt, &ds, &settings, &conventions(&rt, &ds)).unwrap();
    let w = &v["worker"];
    let f = &v["fuse"];
    assert_eq!(w["replicas"], 3);
    assert_eq!(
        (&w["image"], &w["imageTag"], &w["imagePullPolicy"]),
        (&json!("my/juicefs"), &json!("ce-v1.2.0"), &json!("Always"))
    );
    assert_eq!(
        (&f["image"], &f["imageTag"]),
        (&json!("my/fuse"), &json!("t"))
    );
    assert_eq!(w["hostNetwork"], false);
    assert_eq!(f["hostNetwork"], true);
    assert_eq!(w["metricsPort"], 9000);
    assert_eq!(
        w["command"],
        "/bin/mount.juicefs ${METAURL} /runtime-mnt/juicefs/ns/jfsdemo/juicefs-fuse -o \
         buffer-size=600,cache-dir=/dev/shm/a:/dev/shm/b,cache-size=2048,metrics=0.0.0.0:9000,subdir=/demo"
    );
    assert!(
        f["command"]
            .as_str()
            .unwrap()
            .contains(",subdir=/demo,writeback"),
        "{}",
        f["command"]
    );
    assert!(
        !f["command"].as_str().unwrap().contains(",ro"),
        "{}",
        f["command"]
    );
    assert!(v["configs"]["formatCmd"]
        .as_str()
        .unwrap()
        .contains("format --trash-days=0 "));
    assert_eq!(w["envs"], json!([{"name": "A", "value": "1"}]));
    assert_eq!(w["nodeSelector"], json!({"disk": "ssd"}));
    assert_eq!(
        f["nodeSelector"],
        json!({"zone": "a", "fluid.io/f-ns-jfsdemo": "true"})
    );
    assert_eq!(w["labels"], json!({"team": "w", "app.example/x": "y"}));
    assert_eq!(f["labels"], json!({"team": "all", "app.example/x": "y"}));
    assert_eq!(f["annotations"], json!({"a": "b"}));
    assert_eq!(w["resources"], json!({"requests": {"cpu": "2"}}));
    // A memory tier: the fuse's memory request covers the cache (community: fuse only).
    assert_eq!(
        f["resources"],
        json!({"requests": {"memory": "2147483648"}})
    );
    assert_eq!(
        w["volumes"],
        json!([{"name": "extra", "emptyDir": {}}, {"name": "cache-dir-0", "emptyDir": {}}, {"name": "cache-dir-1", "emptyDir": {}}])
    );
    assert_eq!(
        f["volumes"],
        json!([{"name": "cache-dir-0", "emptyDir": {}}, {"name": "cache-dir-1", "emptyDir": {}}])
    );
    assert_eq!(f["cleanPolicy"], "OnDemand");
    assert_eq!(f["criticalPod"], true);
    assert_eq!(v["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(
        v["tolerations"],
        json!([{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}])
    );
}

#[test]
fn the_same_input_gives_the_same_values() {
    let (_, ds, rt) = sample(COMMUNITY);
    let a = values(&rt, &ds, &Settings::default(), &conventions(&rt, &ds)).unwrap();
    let b = values(&rt, &ds, &Settings::default(), &conventions(&rt, &ds)).unwrap();
    assert_eq!(
        serde_yaml::to_string(&a).unwrap(),
        serde_yaml::to_string(&b).unwrap()
    );
}

#[test]
fn problems_name_their_fields() {
    let (_, mut ds, mut rt) = sample(COMMUNITY);
    ds.spec.mounts.as_mut().unwrap()[0].mount_point = "s3://bucket/x".into();
    rt.spec.worker = Some(
        serde_json::from_value(json!({"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}))
            .unwrap(),
    );
    let problems = values(&rt, &ds, &Settings::default(), &conventions(&rt, &ds)).unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["spec.mounts[0].mountPoint", "spec.worker.volumeMounts[0]"]
    );
    ds.spec.mounts = Some(vec![]);
    assert_eq!(
        values(&rt, &ds, &Settings::default(), &conventions(&rt, &ds)).unwrap_err()[0].field,
        "spec.mounts"
    );
}

#[test]
fn fields_without_effect_are_listed() {
    let (_, _, mut rt) = sample(COMMUNITY);
    assert!(ignored_fields(&rt).is_empty());
    rt.spec = serde_json::from_value(json!({"runAs": {"uid": 1, "gid": 1, "user": "a", "group": "a"},
        "disablePrometheus": true, "master": {}, "jobWorker": {}, "initUsers": {},
        "management": {"cleanCachePolicy": {}},
        "tieredstore": {"levels": [{"mediumtype": "SSD", "path": "/a", "high": "0.9"}, {"mediumtype": "HDD", "path": "/b"}]}}))
    .unwrap();
    assert_eq!(
        ignored_fields(&rt),
        [
            "spec.runAs",
            "spec.disablePrometheus",
            "spec.master",
            "spec.jobWorker",
            "spec.initUsers",
            "spec.management.cleanCachePolicy",
            "spec.tieredstore.levels[0].high",
            "spec.tieredstore.levels[1]"
        ]
    );
}

#[test]
fn placement_and_fluids_defaults_reach_the_values_without_helm() {
    let (_, ds, rt) = sample(COMMUNITY);
    let settings = Settings {
        critical_fuse_pod: true,
        ..Default::default()
    };
    let v = values(&rt, &ds, &settings, &conventions(&rt, &ds)).unwrap();
    assert_eq!(v["chartLabel"], "juicefs-0.2.16");
    assert_eq!(v["placement"], "Exclusive");
    let anti = &v["worker"]["affinity"]["podAntiAffinity"];
    assert_eq!(
        anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"],
        json!({"matchExpressions": [{"key": "fluid.io/dataset", "operator": "Exists"}]})
    );
    assert!(anti["preferredDuringSchedulingIgnoredDuringExecution"].is_null());
    assert_eq!(
        v["worker"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            [0]["preference"]["matchExpressions"][0]["key"],
        "fluid.io/f-ns-jfsdemo"
    );
    assert_eq!(v["fuse"]["criticalPod"], true);
    assert_eq!(v["fuse"]["hostPID"], false);

    let mut shared = ds.clone();
    shared.spec.placement_mode = serde_json::from_value(json!("Shared")).unwrap();
    let v = values(&rt, &shared, &settings, &conventions(&rt, &shared)).unwrap();
    assert_eq!(v["placement"], "Shared");
    let anti = &v["worker"]["affinity"]["podAntiAffinity"];
    assert_eq!(
        anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
        50
    );
    assert_eq!(
        anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]
            ["matchExpressions"][0],
        json!({"key": "fluid.io/dataset-placement", "operator": "In", "values": ["Exclusive"]})
    );
}
