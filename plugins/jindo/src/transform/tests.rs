//! The transform's pure rules.

use super::*;
use fluid_plugin_api::types::Dataset;

fn dataset(v: serde_json::Value) -> Dataset {
    serde_json::from_value(serde_json::json!({"metadata": {"name": "demo"}, "spec": v})).unwrap()
}

#[test]
fn ports_are_fluids_unless_the_runtime_names_them() {
    let spec: JindoRuntimeSpec =
        serde_json::from_value(serde_json::json!({"master": {"ports": {"rpc": 9000}}})).unwrap();
    let p = Ports::FLUID_DEFAULTS.with_runtime(&spec).unwrap();
    assert_eq!(
        (p.master_rpc, p.master_raft, p.worker_rpc),
        (9000, 8103, 6101)
    );
    let bad: JindoRuntimeSpec =
        serde_json::from_value(serde_json::json!({"worker": {"ports": {"rpc": 70000}}})).unwrap();
    assert_eq!(
        Ports::FLUID_DEFAULTS.with_runtime(&bad).unwrap_err().field,
        "spec.worker.ports.rpc"
    );
}

#[test]
fn fuse_options_follow_the_access_mode_and_mount_count() {
    let spec = JindoRuntimeSpec::default();
    let rw = dataset(
        serde_json::json!({"accessModes": ["ReadWriteMany"], "mounts": [{"mountPoint": "oss://a/", "name": "a"}, {"mountPoint": "oss://b/", "name": "b"}]}),
    );
    assert_eq!(
        fuse_args(&spec, &rw),
        [
            "-oauto_cache",
            "-oattr_timeout=0",
            "-oentry_timeout=0",
            "-onegative_timeout=0"
        ]
    );
    let ro = dataset(serde_json::json!({"mounts": [{"mountPoint": "oss://a/", "name": "a"}]}));
    assert_eq!(fuse_args(&spec, &ro).last().unwrap(), "-ono_symlink");
    assert!(read_only(&ro) && !read_only(&rw));
}

#[test]
fn cache_sets_follow_fluids_policy_rules() {
    let ds = dataset(
        serde_json::json!({"mounts": [{"mountPoint": "oss://a/x", "name": "a",
        "options": {"fs.oss.endpoint": "e", "metaPolicy": "ALWAYS", "cacheStrategy": "DHT"}}]}),
    );
    let p = ufs::plan(&crate::Flavor::JINDOCACHE, &ds).unwrap_err();
    assert_eq!(p[0].field, "spec.mounts[0].options.cacheStrategy");
    let ds = dataset(
        serde_json::json!({"mounts": [{"mountPoint": "oss://a/x", "name": "a",
        "options": {"fs.oss.endpoint": "e", "writePolicy": "WRITE_THROUGH", "readCacheReplica": "2"}}]}),
    );
    let plan = ufs::plan(&crate::Flavor::JINDOCACHE, &ds).unwrap();
    assert_eq!(plan.cache_sets[0].write_policy, "WRITE_THROUGH");
    assert_eq!(plan.cache_sets[0].read_cache_replica, 2);
    assert_eq!(plan.mounts, [("/a".to_owned(), "oss://a/x/".to_owned())]);
    let no_endpoint =
        dataset(serde_json::json!({"mounts": [{"mountPoint": "oss://a/x", "name": "a"}]}));
    assert_eq!(
        ufs::plan(&crate::Flavor::JINDOFSX, &no_endpoint).unwrap_err()[0].field,
        "spec.mounts[0].options.fs.oss.endpoint"
    );
    let http = dataset(serde_json::json!({"mounts": [{"mountPoint": "https://a/x", "name": "a"}]}));
    assert_eq!(
        ufs::plan(&crate::Flavor::JINDOFSX, &http).unwrap_err()[0].field,
        "spec.mounts[0].mountPoint"
    );
}
