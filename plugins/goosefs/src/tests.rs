//! The GooseFS engine as the controller calls it, without a cluster: its CRD, its chart
//! rendered by helm with the controller's values, and the family's hooks under GooseFS's names,
//! their parsers fed the real Alluxio 2.9 output GooseFS shares (`alluxio-family/src/fixtures`,
//! captured by the real_alluxio test: GooseFS prints the same reports).

use super::*;
use fluid_alluxio_family::commands;
use fluid_alluxio_family::testing::{docs, done, execs, find, master_pod, ok, render};
use fluid_plugin_api::protocol::Hook;
use fluid_plugin_api::testing::{HookContextBuilder, ScriptedHost};
use fluid_plugin_api::types::Dataset;
use fluid_plugin_api::Engine;
use serde_json::json;

const CHART: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz"));
const LOCAL: &str = include_str!("../../../samples/goosefs/local.yaml");
const MOUNT_ROOT: &str = include_str!("../../alluxio-family/src/fixtures/mount-root.txt");
const SUMMARY: &str = include_str!("../../alluxio-family/src/fixtures/summary.txt");
const METRICS: &str = include_str!("../../alluxio-family/src/fixtures/metrics.txt");
const COUNT: &str = include_str!("../../alluxio-family/src/fixtures/count.txt");

fn sample() -> (GooseFSRuntime, Dataset, HookContextBuilder) {
    let d = docs(LOCAL, "0000-2222");
    let rt: GooseFSRuntime = serde_json::from_value(find(&d, "GooseFSRuntime")).unwrap();
    let ds: Dataset = serde_json::from_value(find(&d, "Dataset")).unwrap();
    let b = HookContextBuilder::new("goosefs", &rt)
        .mount_type("fuse.goosefs-fuse")
        .dataset(&ds);
    (rt, ds, b)
}

#[test]
fn the_crd_has_fluids_names_fields_scale_subresource_and_columns() {
    let crd = serde_json::to_value(goosefs_runtime_crd()).unwrap();
    assert_eq!(crd["metadata"]["name"], "goosefsruntimes.data.fluid.io");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["goose"]));
    assert_eq!(crd["spec"]["names"]["categories"], json!(["fluid"]));
    let v = &crd["spec"]["versions"][0];
    assert_eq!(
        v["subresources"]["scale"]["statusReplicasPath"],
        ".status.currentWorkerNumberScheduled"
    );
    assert_eq!(v["additionalPrinterColumns"].as_array().unwrap().len(), 11);
    let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    for field in [
        "goosefsVersion",
        "cleanCachePolicy",
        "master",
        "tieredstore",
    ] {
        assert!(spec[field].is_object(), "spec.{field} missing");
    }
    assert!(spec["alluxioVersion"].is_null());
    for role in [
        "master",
        "jobMaster",
        "worker",
        "jobWorker",
        "apiGateway",
        "fuse",
    ] {
        assert_eq!(
            spec[role]["properties"]["annotations"]["type"], "object",
            "spec.{role}.annotations"
        );
    }
}

#[test]
fn the_sample_reads_as_the_familys_spec_with_its_clean_policy_where_the_family_keeps_it() {
    let (rt, _, _) = sample();
    let view = GooseFS::view(&serde_json::to_value(&rt).unwrap()).unwrap();
    let policy = view
        .spec
        .runtime_management
        .and_then(|m| m.clean_cache_policy)
        .unwrap();
    assert_eq!(
        (policy.grace_period_seconds, policy.max_retry_attempts),
        (Some(30), Some(2))
    );
    assert_eq!(
        view.version.unwrap().image_tag.as_deref(),
        Some("v1.2.0"),
        "goosefsVersion"
    );
    // The family's own field wins over the top-level one.
    let mut runtime = serde_json::to_value(&rt).unwrap();
    runtime["spec"]["management"] = json!({"cleanCachePolicy": {"gracePeriodSeconds": 5}});
    let view = GooseFS::view(&runtime).unwrap();
    let policy = view.spec.runtime_management.unwrap().clean_cache_policy;
    assert_eq!(policy.unwrap().grace_period_seconds, Some(5));
}

/// The chart (the family's templates under GooseFS's values), rendered by helm with the
/// transform's values and the controller's: GooseFS's names everywhere.
#[test]
fn helm_renders_goosefs_masters_workers_fuse_and_properties() {
    let (_, _, b) = sample();
    let host = ScriptedHost::new();
    let values =
        done(host.run(|h| GooseFSEngine::default().transform(&b.build(Hook::Transform), h)));
    let Some(rendered) = render(CHART, &b, &values) else {
        return;
    };
    let c = b.conventions();
    assert_eq!(
        c.fuse_mount_path,
        "/runtime-mnt/goosefs/ns/demo/goosefs-fuse"
    );
    let master = rendered.get("StatefulSet", "demo-master").unwrap();
    let pod = &master["spec"]["template"]["spec"];
    let names: Vec<&str> = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["goosefs-master", "goosefs-job-master"]);
    assert_eq!(
        pod["containers"][0]["image"],
        "ccr.ccs.tencentyun.com/qcloud/goosefs:v1.2.0"
    );
    assert_eq!(
        master["spec"]["template"]["metadata"]["annotations"]["example.com/team"],
        "data"
    );
    assert_eq!(master["metadata"]["labels"]["app"], "goosefs");
    let env = pod["containers"][0]["env"].as_array().unwrap();
    let opts = env
        .iter()
        .find(|e| e["name"] == "GOOSEFS_MASTER_JAVA_OPTS")
        .unwrap();
    assert_eq!(
        opts["value"],
        "-Xmx2G -Dgoosefs.master.hostname=$(GOOSEFS_MASTER_HOSTNAME)"
    );
    let worker = rendered.get("StatefulSet", "demo-worker").unwrap();
    assert_eq!(worker["spec"]["replicas"], 2);
    assert_eq!(
        worker["spec"]["template"]["spec"]["containers"][1]["name"],
        "goosefs-job-worker"
    );
    let fuse = rendered.get("DaemonSet", "demo-fuse").unwrap();
    let fpod = &fuse["spec"]["template"];
    assert_eq!(fpod["metadata"]["annotations"]["example.com/fuse"], "true");
    let fc = &fpod["spec"]["containers"][0];
    assert_eq!(fc["name"], "goosefs-fuse");
    assert_eq!(
        fc["image"],
        "ccr.ccs.tencentyun.com/qcloud/goosefs-fuse:v1.2.0"
    );
    assert_eq!(fc["args"][2], c.fuse_mount_path);
    let config = rendered.get("ConfigMap", "demo-config").unwrap();
    let site = config["data"]["site.properties"].as_str().unwrap();
    for line in [
        "goosefs.user.file.writetype.default=CACHE_THROUGH",
        "goosefs.web.ui.enabled=false",
        "goosefs.user.ufs.block.read.location.policy=com.qcloud.cos.goosefs.client.block.policy.LocalFirstAvoidEvictionPolicy",
        "goosefs.master.mount.table.root.ufs=/underFSStorage",
        "goosefs.master.rpc.port=20000",
        "goosefs.worker.tieredstore.level0.dirs.path=/dev/shm/ns/demo",
    ] {
        assert!(site.contains(&format!("{line}\n")), "{line} not in:\n{site}");
    }
    assert!(!site.contains("alluxio"), "{site}");
    assert!(!site.contains("libfuse.version"), "not a GooseFS default");
}

#[test]
fn the_hooks_run_goosefs_commands_and_read_their_output() {
    let (rt, mut ds, b) = sample();
    let engine = GooseFSEngine::default();
    // Metadata: `goosefs fs count /` in the master, read by the family's parser.
    let host = ScriptedHost::new()
        .with_objects([master_pod(&GooseFS::FLAVOR, "demo")])
        .on_exec(|_| ok(COUNT));
    let m = done(host.run(|h| engine.sync_metadata(&b.build(Hook::SyncMetadata), h)));
    assert_eq!(
        (m.ufs_total_bytes, m.file_count, m.calculating),
        (Some(3_000_021), Some(3), false)
    );
    let e = execs(&host);
    assert_eq!(e[0].container.as_deref(), Some("goosefs-master"));
    assert_eq!(
        e[0].command,
        commands::metadata_job(&GooseFS::FLAVOR, commands::METADATA_STATE)
    );
    assert!(e[0].command.join(" ").contains("goosefs fs count /"));

    // Cache states: `goosefs fsadmin report summary` and `... metrics`.
    ds.status =
        Some(serde_json::from_value(json!({"conditions": [], "ufsTotal": "5.72MiB"})).unwrap());
    let b2 = HookContextBuilder::new("goosefs", &rt).dataset(&ds);
    let host = ScriptedHost::new()
        .with_objects([master_pod(&GooseFS::FLAVOR, "demo")])
        .on_exec(|r| {
            if r.command == commands::report_summary(&GooseFS::FLAVOR) {
                ok(SUMMARY)
            } else {
                ok(METRICS)
            }
        });
    let report = done(
        host.run(|h| engine.update_cache_of_dataset(&b2.build(Hook::UpdateCacheOfDataset), h)),
    );
    assert_eq!(report.cache_states["cacheCapacity"], "64.00MiB");
    assert_eq!(report.cache_states["cached"], "2.86MiB");
    assert_eq!(
        execs(&host)[0].command,
        ["goosefs", "fsadmin", "report", "summary"]
    );

    // Shutdown: `goosefs fs free -f /` within the top-level clean policy's grace period.
    let host = ScriptedHost::new()
        .with_objects([master_pod(&GooseFS::FLAVOR, "demo")])
        .on_exec(|r| {
            if r.command == commands::mount_table(&GooseFS::FLAVOR) {
                ok(MOUNT_ROOT)
            } else {
                ok("/ was successfully freed from GooseFS space.")
            }
        });
    done(host.run(|h| engine.shutdown(&b.build(Hook::Shutdown), h)));
    let e = execs(&host);
    assert_eq!(e[0].command, ["goosefs", "fs", "free", "-f", "/"]);
    assert_eq!(e[0].timeout_seconds, Some(30));
    assert!(host
        .calls()
        .iter()
        .any(|(s, r)| s == "delete" && r["name"] == "demo-goosefs-values"));
}

/// Writes the generated CRD where `crd-compat` can read it:
/// `/work/shared/tools/crd-compat target/crds/data.fluid.io_goosefsruntimes.yaml <Fluid's>`.
#[test]
fn writes_the_crd_under_target() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/crds");
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = serde_yaml::to_string(&goosefs_runtime_crd()).unwrap();
    std::fs::write(dir.join("data.fluid.io_goosefsruntimes.yaml"), yaml).unwrap();
}
