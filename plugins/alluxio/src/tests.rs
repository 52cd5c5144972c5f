//! The engine tested as the controller calls it, without a cluster: the CRD, the chart
//! rendered by helm with the controller's values, the hooks through the SDK's scripted host
//! (exec answered with real Alluxio 2.9 output, `alluxio-family/src/fixtures`).

use super::*;
use fluid_alluxio_family::commands;
use fluid_alluxio_family::testing::{docs, done, execs, find, master_pod, ok, render};
use fluid_plugin_api::protocol::{ExecResponse, Hook};
use fluid_plugin_api::testing::{HookContextBuilder, ScriptedHost};
use fluid_plugin_api::types::Dataset;
use fluid_plugin_api::{Engine, Outcome};
use serde_json::json;

const CHART: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz"));
const LOCAL: &str = include_str!("../../../samples/alluxio/local.yaml");
const S3_HA: &str = include_str!("../../../samples/alluxio/s3-ha.yaml");
const MOUNT_ROOT: &str = include_str!("../../alluxio-family/src/fixtures/mount-root.txt");
const SUMMARY: &str = include_str!("../../alluxio-family/src/fixtures/summary.txt");
const METRICS: &str = include_str!("../../alluxio-family/src/fixtures/metrics.txt");
const COUNT: &str = include_str!("../../alluxio-family/src/fixtures/count.txt");

fn sample(text: &str) -> (Vec<Value>, AlluxioRuntime, Dataset, HookContextBuilder) {
    let d = docs(text, "0000-1111");
    let rt: AlluxioRuntime = serde_json::from_value(find(&d, "AlluxioRuntime")).unwrap();
    let ds: Dataset = serde_json::from_value(find(&d, "Dataset")).unwrap();
    let b = HookContextBuilder::new("alluxio", &rt)
        .mount_type("fuse.alluxio-fuse")
        .dataset(&ds);
    (d, rt, ds, b)
}

/// A Secret as the controller hands it over: keys kept, values blanked.
fn blanked(secret: &Value) -> Value {
    let mut s = secret.clone();
    if let Some(m) = s["stringData"].as_object_mut() {
        for v in m.values_mut() {
            *v = "".into();
        }
    }
    s
}

#[test]
fn the_crd_has_fluid_names_scale_subresource_and_columns() {
    let crd = serde_json::to_value(alluxio_runtime_crd()).unwrap();
    assert_eq!(crd["metadata"]["name"], "alluxioruntimes.data.fluid.io");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["alluxio"]));
    assert_eq!(crd["spec"]["names"]["listKind"], "AlluxioRuntimeList");
    let v = &crd["spec"]["versions"][0];
    assert_eq!(
        v["subresources"]["scale"]["specReplicasPath"],
        ".spec.replicas"
    );
    assert_eq!(
        v["subresources"]["scale"]["labelSelectorPath"],
        ".status.selector"
    );
    assert_eq!(v["additionalPrinterColumns"].as_array().unwrap().len(), 11);
    let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    // The family's fields sit beside alluxioVersion, as in Fluid's schema.
    for field in [
        "alluxioVersion",
        "master",
        "jobMaster",
        "worker",
        "fuse",
        "tieredstore",
        "properties",
        "management",
    ] {
        assert!(spec[field].is_object(), "spec.{field} missing");
    }
    assert_eq!(
        spec["master"]["properties"]["ports"]["additionalProperties"]["type"],
        "integer"
    );
}

#[test]
fn a_fluid_alluxio_runtime_reads_and_writes_back_unchanged() {
    let d = docs(S3_HA, "0000-1111");
    let mut given = find(&d, "AlluxioRuntime");
    let rt: AlluxioRuntime = serde_json::from_value(given.clone()).unwrap();
    // The one default the schema adds: a tier's volume type.
    given["spec"]["tieredstore"]["levels"][0]["volumeType"] = "hostPath".into();
    assert_eq!(rt.spec.family.master.as_ref().unwrap().replicas, Some(3));
    assert_eq!(serde_json::to_value(&rt).unwrap(), given);
}

#[test]
fn the_plugin_serves_the_alluxio_runtime_kind_with_its_mount_type() {
    let info = fluid_plugin_api::export::plugin_info::<AlluxioEngine>(
        "alluxio",
        "0",
        || fluid_plugin_api::types::crd_json(&alluxio_runtime_crd()),
        Some("fuse.alluxio-fuse"),
        &[],
    );
    let info: Value = serde_json::from_str(info.into_result().unwrap().as_str()).unwrap();
    let text = info.to_string();
    assert!(text.contains("AlluxioRuntime"), "{text}");
    assert!(text.contains("fuse.alluxio-fuse"), "{text}");
    for hook in [
        "prepare_ufs",
        "sync_metadata",
        "update_cache_of_dataset",
        "shutdown",
    ] {
        assert!(text.contains(hook), "{hook} not listed: {text}");
    }
}

#[test]
fn a_missing_secret_or_key_is_a_field_error_and_ignored_fields_are_listed() {
    let (d, mut rt, ds, _) = sample(S3_HA);
    rt.spec.family.api_gateway = Some(Default::default());
    let b = HookContextBuilder::new("alluxio", &rt)
        .mount_type("fuse.alluxio-fuse")
        .dataset(&ds);
    let mut secret = blanked(&find(&d, "Secret"));
    secret["stringData"]
        .as_object_mut()
        .unwrap()
        .remove("secret-key");
    let host = ScriptedHost::new().with_objects([secret]);
    let v = done(host.run(|h| AlluxioEngine::default().validate(&b.build(Hook::Validate), h)));
    assert_eq!(v.errors.len(), 1, "{:?}", v.errors);
    assert_eq!(v.errors[0].field, "spec.sharedEncryptOptions");
    assert!(v.errors[0].message.contains("no key secret-key"));
    assert_eq!(v.ignored_fields, ["spec.apiGateway"]);
    let (_, _, _, b) = sample(LOCAL);
    let v = done(
        ScriptedHost::new().run(|h| AlluxioEngine::default().validate(&b.build(Hook::Validate), h)),
    );
    assert!(v.errors.is_empty() && v.ignored_fields.is_empty(), "{v:?}");
}

/// The chart, rendered by helm with the transform's values (plus the controller's), is what
/// the cluster gets: the controller's conventions hold, the objects are Fluid's topology, and
/// no secret value is anywhere in it.
#[test]
fn helm_renders_masters_workers_fuse_and_properties() {
    for text in [LOCAL, S3_HA] {
        let (d, _, _, b) = sample(text);
        let secrets: Vec<Value> = d
            .iter()
            .filter(|o| o["kind"] == "Secret")
            .map(blanked)
            .collect();
        let host = ScriptedHost::new().with_objects(secrets);
        let values =
            done(host.run(|h| AlluxioEngine::default().transform(&b.build(Hook::Transform), h)));
        let Some(rendered) = render(CHART, &b, &values) else {
            return;
        };
        let c = b.conventions();
        let name = c.name.clone();
        let master = rendered
            .get("StatefulSet", &format!("{name}-master"))
            .unwrap();
        let pod = &master["spec"]["template"]["spec"];
        let containers: Vec<&str> = pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(containers, ["alluxio-master", "alluxio-job-master"]);
        assert_eq!(
            pod["containers"][0]["args"],
            json!(["master-only", "--no-format"])
        );
        let env = &pod["containers"][0]["env"];
        assert_eq!(env[1]["name"], "ALLUXIO_MASTER_HOSTNAME");
        assert_eq!(env[1]["value"], format!("$(POD_NAME).{name}-master.ns.svc"));
        let worker = rendered
            .get("StatefulSet", &format!("{name}-worker"))
            .unwrap();
        let wpod = &worker["spec"]["template"]["spec"];
        assert_eq!(wpod["containers"][1]["name"], "alluxio-job-worker");
        let fuse = rendered.get("DaemonSet", &format!("{name}-fuse")).unwrap();
        let fc = &fuse["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(fc["args"][0], "fuse");
        assert_eq!(fc["args"][2], c.fuse_mount_path);
        assert!(rendered.get("Service", &format!("{name}-master")).is_some());
        let config = rendered
            .get("ConfigMap", &format!("{name}-config"))
            .unwrap();
        let site = config["data"]["site.properties"].as_str().unwrap();
        assert!(
            site.contains("alluxio.master.journal.folder=/journal\n"),
            "{site}"
        );
        for s in d.iter().filter(|o| o["kind"] == "Secret") {
            for v in s["stringData"].as_object().unwrap().values() {
                assert!(
                    !rendered.manifest.contains(v.as_str().unwrap()),
                    "a secret value is in the manifest"
                );
            }
        }
        if text == LOCAL {
            assert_eq!(worker["spec"]["replicas"], 2);
            assert_eq!(master["spec"]["replicas"], 1);
            assert!(pod["hostNetwork"].as_bool().unwrap());
            assert!(site.contains("alluxio.master.mount.table.root.ufs=/underFSStorage\n"));
            assert!(site.contains("alluxio.worker.tieredstore.level0.dirs.path=/dev/shm/ns/demo\n"));
            assert!(site.contains("alluxio.worker.tieredstore.level0.watermark.high.ratio=0.95\n"));
            let mounts = &pod["containers"][0]["volumeMounts"];
            assert!(mounts
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["mountPath"] == "/underFSStorage/data"));
            let opts = pod["containers"][0]["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == "ALLUXIO_MASTER_JAVA_OPTS")
                .unwrap()["value"]
                .clone();
            assert_eq!(
                opts,
                "-Xmx2G -Dalluxio.master.hostname=$(ALLUXIO_MASTER_HOSTNAME)"
            );
        } else {
            assert_eq!(master["spec"]["replicas"], 3);
            assert!(pod["hostNetwork"].is_null(), "ContainerNetwork");
            assert!(site.contains("alluxio.master.journal.type=EMBEDDED\n"));
            assert!(site.contains("alluxio.user.file.writetype.default=CACHE_THROUGH\n"));
            assert!(fc["args"][1]
                .as_str()
                .unwrap()
                .contains("uid=1000,gid=1000"));
            let secret_mounts = &pod["containers"][0]["volumeMounts"];
            assert!(secret_mounts
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["mountPath"] == "/etc/fluid/secrets/s3-keys"));
            assert!(
                wpod["containers"][0]["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| !m["mountPath"]
                        .as_str()
                        .unwrap()
                        .starts_with("/etc/fluid/secrets")),
                "secrets only in the masters"
            );
        }
    }
}

#[test]
fn prepare_ufs_mounts_what_is_missing_with_secrets_read_in_the_master() {
    let (_, rt, _, b) = sample(S3_HA);
    let mut runtime = serde_json::to_value(&rt).unwrap();
    runtime["status"] = json!({"valueFile": "imagenet-alluxio-values"});
    let host = ScriptedHost::new()
        .with_objects([master_pod(&Alluxio::FLAVOR, "imagenet"), runtime])
        .on_exec(|r| {
            if r.command == commands::mount_table(&Alluxio::FLAVOR) {
                ok(MOUNT_ROOT)
            } else {
                ok("Mounted")
            }
        });
    let engine = AlluxioEngine::default();
    assert!(done(host.run(|h| {
        engine.should_check_ufs(&b.build(Hook::ShouldCheckUfs), h)
    })));
    done(host.run(|h| engine.prepare_ufs(&b.build(Hook::PrepareUfs), h)));
    let e = execs(&host);
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e
        .iter()
        .all(|r| r.pod == "imagenet-master-0" && r.container.as_deref() == Some("alluxio-master")));
    assert_eq!(e[0].command, ["alluxio", "fs", "mount"]);
    assert_eq!(e[1].command[..2], ["sh", "-c"]);
    assert_eq!(
        e[1].command[2],
        "exec alluxio fs mount --readonly --option alluxio.underfs.s3.disable.dns.buckets=true \
         --option alluxio.underfs.s3.endpoint=http://minio.default.svc:9000 \
         --option s3a.accessKeyId=\"$(cat /etc/fluid/secrets/s3-keys/access-key)\" \
         --option s3a.secretKey=\"$(cat /etc/fluid/secrets/s3-keys/secret-key)\" /train s3://datasets/imagenet/train"
    );
    assert!(e[2].command[2].ends_with("/val s3://datasets/imagenet/val"));
    let rt_now = host
        .objects()
        .into_iter()
        .find(|o| o["kind"] == "AlluxioRuntime")
        .unwrap();
    assert_eq!(rt_now["status"]["mounts"].as_array().unwrap().len(), 2);
    assert!(rt_now["status"]["mountTime"].is_string());
}

#[test]
fn mounting_again_changes_nothing_and_a_failed_mount_is_an_error_without_secrets() {
    let (_, rt, _, b) = sample(S3_HA);
    let table = "s3://datasets/imagenet/train  on  /train  (s3, capacity=-1B, used=-1B, read-only, not shared, properties={})\n\
                 s3://datasets/imagenet/val  on  /val  (s3, capacity=-1B, used=-1B, not read-only, not shared, properties={})\n"
        .to_owned()
        + MOUNT_ROOT;
    let runtime = serde_json::to_value(&rt).unwrap();
    let host = ScriptedHost::new()
        .with_objects([master_pod(&Alluxio::FLAVOR, "imagenet"), runtime.clone()])
        .on_exec(move |_| ok(&table));
    done(host.run(|h| AlluxioEngine::default().prepare_ufs(&b.build(Hook::PrepareUfs), h)));
    assert_eq!(execs(&host).len(), 1, "only the listing");

    let host = ScriptedHost::new()
        .with_objects([master_pod(&Alluxio::FLAVOR, "imagenet"), runtime])
        .on_exec(|r| {
            if r.command == commands::mount_table(&Alluxio::FLAVOR) {
                ok(MOUNT_ROOT)
            } else {
                ExecResponse {
                    stdout: String::new(),
                    stderr: "denied for minio-secret-do-not-log".into(),
                    exit_code: 1,
                }
            }
        });
    let err = host
        .run(|h| AlluxioEngine::default().prepare_ufs(&b.build(Hook::PrepareUfs), h))
        .unwrap_err();
    assert!(
        err.message()
            .contains("mounting s3://datasets/imagenet/train at /train"),
        "{}",
        err.message()
    );
    assert!(!err.message().contains("do-not-log"), "{}", err.message());
}

#[test]
fn a_changed_dataset_or_a_restarted_master_remounts() {
    let (_, mut rt, ds, _) = sample(S3_HA);
    let status = fluid_plugin_api::types::RuntimeStatus {
        mounts: ds.spec.mounts.clone(),
        mount_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-11-26T10:00:00Z".parse().unwrap(),
        )),
        ..Default::default()
    };
    rt.status = Some(status);
    let b = HookContextBuilder::new("alluxio", &rt).dataset(&ds);
    let host = ScriptedHost::new().with_objects([master_pod(&Alluxio::FLAVOR, "imagenet")]);
    assert!(
        !done(host.run(|h| {
            AlluxioEngine::default().should_update_ufs(&b.build(Hook::ShouldUpdateUfs), h)
        })),
        "the master started (09:00) before the mounts were made (10:00)"
    );
    let mut later = master_pod(&Alluxio::FLAVOR, "imagenet");
    later["status"]["containerStatuses"][0]["state"]["running"]["startedAt"] =
        "2026-11-26T11:00:00Z".into();
    let host = ScriptedHost::new().with_objects([later]);
    assert!(done(host.run(|h| {
        AlluxioEngine::default().should_update_ufs(&b.build(Hook::ShouldUpdateUfs), h)
    })));
    // Never mounted (an S3 mount added to a Dataset that had none made by exec): mount.
    let mut fresh = rt.clone();
    fresh.status = Some(Default::default());
    let b = HookContextBuilder::new("alluxio", &fresh).dataset(&ds);
    let host = ScriptedHost::new().with_objects([master_pod(&Alluxio::FLAVOR, "imagenet")]);
    assert!(done(host.run(|h| {
        AlluxioEngine::default().should_update_ufs(&b.build(Hook::ShouldUpdateUfs), h)
    })));
    let mut changed = ds.clone();
    changed.spec.mounts.as_mut().unwrap().pop();
    let b = HookContextBuilder::new("alluxio", &rt).dataset(&changed);
    let host = ScriptedHost::new().with_objects([master_pod(&Alluxio::FLAVOR, "imagenet")]);
    assert!(done(host.run(|h| {
        AlluxioEngine::default().should_update_ufs(&b.build(Hook::ShouldUpdateUfs), h)
    })));
}

#[test]
fn cache_states_come_from_the_masters_summary_and_metrics() {
    let (_, _, mut ds, _) = sample(LOCAL);
    ds.status =
        Some(serde_json::from_value(json!({"conditions": [], "ufsTotal": "5.72MiB"})).unwrap());
    let (_, rt, _, _) = sample(LOCAL);
    let b = HookContextBuilder::new("alluxio", &rt).dataset(&ds);
    let host = ScriptedHost::new()
        .with_objects([master_pod(&Alluxio::FLAVOR, "demo")])
        .on_exec(|r| {
            if r.command == commands::report_summary(&Alluxio::FLAVOR) {
                ok(SUMMARY)
            } else {
                ok(METRICS)
            }
        });
    let engine = AlluxioEngine::default();
    let report =
        done(host.run(|h| engine.update_cache_of_dataset(&b.build(Hook::UpdateCacheOfDataset), h)));
    let s = &report.cache_states;
    assert_eq!(s["cacheCapacity"], "64.00MiB");
    assert_eq!(s["cached"], "2.86MiB");
    assert_eq!(s["cachedPercentage"], "50.0%");
    assert!(
        !s.contains_key("cacheHitRatio"),
        "the first report has no previous sync to count from (Fluid's): {s:?}"
    );
    // By the next sync the file was read again, from a local worker's cache only.
    let again = METRICS.replace(
        "Cluster.BytesReadLocal  (Type: COUNTER, Value: 0B)",
        "Cluster.BytesReadLocal  (Type: COUNTER, Value: 2929.71KB)",
    );
    let host = ScriptedHost::new()
        .with_objects([master_pod(&Alluxio::FLAVOR, "demo")])
        .on_exec(move |r| {
            if r.command == commands::report_summary(&Alluxio::FLAVOR) {
                ok(SUMMARY)
            } else {
                ok(&again)
            }
        });
    let report =
        done(host.run(|h| engine.update_cache_of_dataset(&b.build(Hook::UpdateCacheOfDataset), h)));
    let s = &report.cache_states;
    assert_eq!(s["cacheHitRatio"], "100.0%", "since the last sync: {s:?}");
    assert_eq!(s["localHitRatio"], "100.0%");
    let host = ScriptedHost::new();
    let none = host.run(|h| {
        AlluxioEngine::default().update_cache_of_dataset(&b.build(Hook::UpdateCacheOfDataset), h)
    });
    assert!(
        matches!(none, Ok(Outcome::Default)),
        "no master: the controller's default"
    );
}

#[test]
fn metadata_is_calculating_until_the_masters_job_has_counted() {
    let (_, _, _, b) = sample(LOCAL);
    let engine = AlluxioEngine::default();
    let started = ScriptedHost::new()
        .with_objects([master_pod(&Alluxio::FLAVOR, "demo")])
        .on_exec(|_| ExecResponse {
            stdout: String::new(),
            stderr: String::new(),
            exit_code: 3,
        });
    let m = done(started.run(|h| engine.sync_metadata(&b.build(Hook::SyncMetadata), h)));
    assert!(m.calculating && m.ufs_total_bytes.is_none());
    assert_eq!(
        execs(&started)[0].command,
        commands::metadata_job(&Alluxio::FLAVOR, commands::METADATA_STATE)
    );
    let finished = ScriptedHost::new()
        .with_objects([master_pod(&Alluxio::FLAVOR, "demo")])
        .on_exec(|_| ok(COUNT));
    let m = done(finished.run(|h| engine.sync_metadata(&b.build(Hook::SyncMetadata), h)));
    assert_eq!(
        (m.ufs_total_bytes, m.file_count, m.calculating),
        (Some(3_000_021), Some(3), false)
    );
}

#[test]
fn shutdown_frees_the_cache_then_uninstalls_and_reports_what_it_could_not_free() {
    let (_, _, _, b) = sample(S3_HA);
    let host = ScriptedHost::new()
        .with_objects([master_pod(&Alluxio::FLAVOR, "imagenet")])
        .on_exec(|_| ok("/ was successfully freed from Alluxio space."));
    done(host.run(|h| AlluxioEngine::default().shutdown(&b.build(Hook::Shutdown), h)));
    let e = execs(&host);
    assert_eq!(e[0].command, ["alluxio", "fs", "free", "-f", "/"]);
    assert_eq!(
        e[0].timeout_seconds,
        Some(30),
        "the clean policy's grace period"
    );
    let services = host.services_called();
    assert!(services.contains(&"helm_uninstall".to_owned()));
    assert!(!services.contains(&"event".to_owned()));
    let failing = ScriptedHost::new()
        .with_objects([master_pod(&Alluxio::FLAVOR, "imagenet")])
        .on_exec(|_| ExecResponse {
            stdout: String::new(),
            stderr: "timeout".into(),
            exit_code: 124,
        });
    done(failing.run(|h| AlluxioEngine::default().shutdown(&b.build(Hook::Shutdown), h)));
    assert_eq!(execs(&failing).len(), 2, "maxRetryAttempts");
    let services = failing.services_called();
    assert!(
        services.contains(&"event".to_owned()) && services.contains(&"helm_uninstall".to_owned())
    );
}

/// Writes the generated CRD where `crd-compat` can read it:
/// `/work/shared/tools/crd-compat target/crds/data.fluid.io_alluxioruntimes.yaml <Fluid's>`.
#[test]
fn writes_the_crd_under_target() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/crds");
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = serde_yaml::to_string(&alluxio_runtime_crd()).unwrap();
    std::fs::write(dir.join("data.fluid.io_alluxioruntimes.yaml"), yaml).unwrap();
}

/// On the host network (Fluid's default) the ports come from the controller's allocator; a
/// controller older than protocol 1.2 answers "unsupported" and Fluid's fixed ports are used.
#[test]
fn host_network_ports_come_from_the_host_and_fixed_ports_from_an_older_host() {
    let (_, _, _, b) = sample(LOCAL);
    let cx = b.build(Hook::Transform);
    let host = ScriptedHost::new();
    let values = done(host.run(|h| AlluxioEngine::default().transform(&cx, h)));
    assert_eq!(values["master"]["hostNetwork"], true);
    assert_eq!(values["master"]["ports"]["rpc"], 20000);
    assert_eq!(values["worker"]["jobPorts"]["data"], 20008);
    assert!(values["siteProperties"]
        .as_str()
        .unwrap()
        .contains("alluxio.master.rpc.port=20000"));
    let asked: Vec<Value> = host
        .calls()
        .into_iter()
        .filter(|(s, _)| s == "allocate_ports")
        .map(|(_, r)| r)
        .collect();
    assert_eq!(asked, [json!({"count": 9})]);

    let older = ScriptedHost::new().unsupported("allocate_ports");
    let values = done(older.run(|h| AlluxioEngine::default().transform(&cx, h)));
    assert_eq!(values["master"]["ports"]["rpc"], 19998);
    assert_eq!(values["worker"]["jobPorts"]["data"], 30002);
}
