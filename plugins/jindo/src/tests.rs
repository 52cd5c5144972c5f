//! The engine tested as the controller calls it, without a cluster: the CRD, the chart
//! rendered by helm with the controller's values for each flavour, the hooks through the
//! SDK's scripted host. Exec is answered with the outputs Fluid's own tests capture from
//! Jindo (`src/fixtures/README.md` names each source): no Jindo binary ran here.

use super::*;
use crate::engine::cache_states;
use fluid_plugin_api::protocol::{ExecRequest, ExecResponse, Hook};
use fluid_plugin_api::testing::{Chart, HookContextBuilder, ScriptedHost};
use fluid_plugin_api::types::{Dataset, MediumType};
use fluid_plugin_api::{Engine, HookResult, Outcome};
use serde::Deserialize;
use serde_json::{json, Value};

const CHART: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz"));
const OSS: &str = include_str!("../../../samples/jindo/oss.yaml");
const RAFT: &str = include_str!("../../../samples/jindo/raft-multi.yaml");
const REPORT: &str = include_str!("fixtures/report-jindocache.txt");
const REPORT_LEGACY: &str = include_str!("fixtures/report-jindo.txt");
const MOUNT_TABLE: &str = include_str!("fixtures/mount-table.txt");
const COUNT: &str = include_str!("fixtures/count.txt");
const FLAVORS: [Flavor; 3] = [Flavor::JINDOCACHE, Flavor::JINDOFSX, Flavor::JINDO];

fn docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| {
            let mut v = Value::deserialize(d).unwrap();
            v["metadata"]["namespace"] = "ns".into();
            v["metadata"]["uid"] = "0000-1111".into();
            v
        })
        .collect()
}

fn find(docs: &[Value], kind: &str) -> Value {
    docs.iter().find(|d| d["kind"] == kind).unwrap().clone()
}

fn sample(text: &str) -> (Vec<Value>, JindoRuntime, Dataset, HookContextBuilder) {
    let d = docs(text);
    let rt: JindoRuntime = serde_json::from_value(find(&d, "JindoRuntime")).unwrap();
    let ds: Dataset = serde_json::from_value(find(&d, "Dataset")).unwrap();
    let b = HookContextBuilder::new("jindo", &rt)
        .mount_type(engine::MOUNT_TYPE)
        .dataset(&ds);
    (d, rt, ds, b)
}

fn done<T>(o: HookResult<T>) -> T {
    match o {
        Ok(Outcome::Done(v)) => v,
        Ok(Outcome::Default) => panic!("the hook left it to the controller"),
        Err(e) => panic!("hook failed: {}", e.message()),
    }
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

fn secrets(d: &[Value]) -> Vec<Value> {
    d.iter()
        .filter(|o| o["kind"] == "Secret")
        .map(blanked)
        .collect()
}

fn secret_values(d: &[Value]) -> Vec<String> {
    d.iter()
        .filter(|o| o["kind"] == "Secret")
        .flat_map(|s| {
            s["stringData"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn master_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{name}-master-0"), "namespace": "ns",
            "labels": {"app": "jindo", "release": name, "role": "jindofs-master"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn ok(stdout: &str) -> ExecResponse {
    ExecResponse {
        stdout: stdout.into(),
        stderr: String::new(),
        exit_code: 0,
    }
}

fn execs(host: &ScriptedHost) -> Vec<Vec<String>> {
    host.calls()
        .into_iter()
        .filter(|(s, _)| s == "exec")
        .map(|(_, r)| serde_json::from_value::<ExecRequest>(r).unwrap().command)
        .collect()
}

#[test]
fn the_crd_has_fluid_names_scale_subresource_and_columns() {
    let crd = serde_json::to_value(jindo_runtime_crd()).unwrap();
    assert_eq!(crd["metadata"]["name"], "jindoruntimes.data.fluid.io");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["jindo"]));
    let v = &crd["spec"]["versions"][0];
    assert_eq!(
        v["subresources"]["scale"]["specReplicasPath"],
        ".spec.replicas"
    );
    assert_eq!(
        v["subresources"]["scale"]["statusReplicasPath"],
        ".status.currentWorkerNumberScheduled"
    );
    assert_eq!(v["additionalPrinterColumns"].as_array().unwrap().len(), 10);
    let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    for field in [
        "jindoVersion",
        "master",
        "worker",
        "fuse",
        "tieredstore",
        "networkmode",
        "secret",
        "cleanCachePolicy",
    ] {
        assert!(spec[field].is_object(), "spec.{field} missing");
    }
    assert_eq!(
        spec["master"]["properties"]["ports"]["additionalProperties"]["type"],
        "integer"
    );
}

#[test]
fn a_fluid_jindo_runtime_reads_and_writes_back_unchanged() {
    let d = docs(OSS);
    let mut given = find(&d, "JindoRuntime");
    let rt: JindoRuntime = serde_json::from_value(given.clone()).unwrap();
    given["spec"]["tieredstore"]["levels"][0]["volumeType"] = "hostPath".into();
    assert_eq!(serde_json::to_value(&rt).unwrap(), given);
}

#[test]
fn the_reports_fluid_captures_give_the_cache_states() {
    let gib = |x: f64| (x * 1024f64.powi(3)).round() as u64;
    for f in [Flavor::JINDOCACHE, Flavor::JINDOFSX] {
        for medium in [MediumType::Mem, MediumType::Ssd] {
            let c = parse::report(&f, medium, REPORT).unwrap();
            assert_eq!((c.total, c.used), (gib(250.38), gib(11.72)));
        }
    }
    let c = parse::report(&Flavor::JINDO, MediumType::Mem, REPORT_LEGACY).unwrap();
    assert_eq!((c.total, c.used), (gib(250.38), gib(11.72)));
    assert_eq!(
        parse::report(&Flavor::JINDOCACHE, MediumType::Mem, REPORT_LEGACY),
        None
    );
    // Fluid's expectation for that report: 250.38GiB of capacity, 11.72GiB cached.
    let states = cache_states(c, Some(gib(23.44)));
    assert_eq!(states["cacheCapacity"], "250.38GiB");
    assert_eq!(states["cached"], "11.72GiB");
    assert_eq!(states["cachedPercentage"], "50.0%");
    assert_eq!(
        cache_states(c, Some(1))["cachedPercentage"],
        "100.0%",
        "capped as Fluid does"
    );
    assert_eq!(
        parse::mount_table(MOUNT_TABLE),
        ["/test/mount", "/other/mount"]
    );
    assert_eq!(parse::count(COUNT), Some((1, 108)));
    assert_eq!(parse::count("field1 field2"), None);
    assert_eq!(parse::jindo_size("0B"), Some(0));
    assert_eq!(parse::jindo_size("1.5KB"), Some(1536));
}

/// The ports the scripted host allocates (the first of 20000-26000, in `Ports` order): the
/// samples run on the host network, Fluid's default for Jindo.
const MASTER_RPC: u16 = 20000;
const MASTER_RAFT: u16 = 20001;
const WORKER_RPC: u16 = 20002;

fn render(
    flavor: Flavor,
    text: &str,
) -> (
    Vec<Value>,
    fluid_plugin_api::testing::Rendered,
    HookContextBuilder,
) {
    render_on(flavor, text, |h| h)
}

/// [`render`] on a scripted host `adjust` changes (an older host, say).
fn render_on(
    flavor: Flavor,
    text: &str,
    adjust: impl FnOnce(ScriptedHost) -> ScriptedHost,
) -> (
    Vec<Value>,
    fluid_plugin_api::testing::Rendered,
    HookContextBuilder,
) {
    let (d, _, _, b) = sample(text);
    let host = adjust(ScriptedHost::new().with_objects(secrets(&d)));
    let values =
        done(host.run(|h| JindoEngine::new(flavor).transform(&b.build(Hook::Transform), h)));
    let rendered = Chart::new(CHART)
        .render(&b, &values)
        .unwrap_or_else(|e| panic!("{e}"));
    rendered.check().unwrap();
    (d, rendered, b)
}

fn helm_missing() -> bool {
    let helm = std::env::var("FLUID_HELM").unwrap_or_else(|_| "helm".into());
    let missing = std::process::Command::new(helm)
        .arg("version")
        .output()
        .is_err();
    if missing {
        eprintln!("SKIPPED: helm is not installed (run scripts/install-tools, or set FLUID_HELM)");
    }
    missing
}

fn container(pod: &Value) -> &Value {
    &pod["spec"]["template"]["spec"]["containers"][0]
}

fn env(c: &Value, name: &str) -> Value {
    c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].clone())
        .unwrap_or(Value::Null)
}

fn mounted_at(c: &Value, path: &str) -> Option<Value> {
    c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == path)
        .cloned()
}

/// Each flavour's chart, rendered by helm with the controller's values: Fluid's topology and
/// files, the conventions, and no secret value anywhere.
#[test]
fn helm_renders_each_flavour_of_the_oss_sample() {
    if helm_missing() {
        return;
    }
    for flavor in FLAVORS {
        let (d, r, b) = render(flavor, OSS);
        let c = b.conventions();
        let master = r.get("StatefulSet", "hbase-master").unwrap();
        let worker = r.get("StatefulSet", "hbase-worker").unwrap();
        let fuse = r.get("DaemonSet", "hbase-fuse").unwrap();
        assert!(r.get("Service", "hbase-master").is_some());
        assert_eq!(master["spec"]["replicas"], 1);
        assert_eq!(worker["spec"]["replicas"], 1);
        let mpod = &master["spec"]["template"]["spec"];
        assert_eq!(mpod["hostNetwork"], true);
        assert_eq!(mpod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
        let mc = container(master);
        assert_eq!(mc["name"], "jindofs-master");
        assert_eq!(
            mc["image"],
            format!(
                "registry.cn-shanghai.aliyuncs.com/jindofs/smartdata:{}",
                flavor.image_tag
            )
        );
        assert_eq!(
            env(mc, "CLIENT_NAMESPACE_RPC_ADDRESS"),
            format!("hbase-master-0.hbase-master.ns:{MASTER_RPC}")
        );
        assert_eq!(mc["ports"][0]["containerPort"], MASTER_RPC);
        let wc = container(worker);
        assert_eq!(wc["args"], json!(["worker"]));
        assert_eq!(wc["ports"][0]["containerPort"], WORKER_RPC);
        assert!(mounted_at(wc, "/dev/shm").is_some());
        assert_eq!(
            worker["spec"]["template"]["metadata"]["labels"]["fluid.io/dataset-placement"],
            "Exclusive"
        );
        let fc = container(fuse);
        assert_eq!(
            fuse["spec"]["template"]["spec"]["nodeSelector"][&c.fuse_node_selector_key],
            "true"
        );
        assert_eq!(
            c.fuse_mount_path,
            "/runtime-mnt/jindo/ns/hbase/jindofs-fuse"
        );
        assert_eq!(env(fc, "FLUID_FUSE_MOUNTPOINT"), c.fuse_mount_path);
        assert_eq!(
            fc["image"],
            format!(
                "registry.cn-shanghai.aliyuncs.com/jindofs/jindo-fuse:{}",
                flavor.fuse_image_tag
            )
        );
        assert_eq!(
            fc["args"],
            json!([
                "-okernel_cache",
                "-oro",
                "-oattr_timeout=7200",
                "-oentry_timeout=7200",
                "-onegative_timeout=7200",
                "-ono_symlink"
            ])
        );
        // The credentials: a projection of the Secret's keys at /token, in every pod.
        let volumes = mpod["volumes"].as_array().unwrap();
        let token = volumes.iter().find(|v| v["name"] == "jindo-token").unwrap();
        let items = &token["projected"]["sources"][0]["secret"];
        assert_eq!(items["name"], "oss-keys");
        for pod in [master, worker, fuse] {
            assert!(mounted_at(container(pod), "/token").is_some());
        }
        let config = r.get("ConfigMap", "hbase-config").unwrap();
        let cfg = config["data"][flavor.config_file].as_str().unwrap();
        assert!(mounted_at(mc, &format!("/{}", flavor.config_file)).is_some());
        for line in [
            "storage.data-dirs = /dev/shm/ns/hbase/".to_owned() + flavor.cache_leaf,
            "storage.data-dirs.capacities = 2g".into(),
            "storage.ram.cache.size = 2g".into(),
            "storage.watermark.high.ratio = 0.99".into(),
            "storage.watermark.low.ratio = 0.95".into(),
            format!("storage.rpc.port = {WORKER_RPC}"),
            format!("namespace.rpc.port = {MASTER_RPC}"),
            "namespace.backend.type = rocksdb".into(),
            "default.credential.provider = secrets:///token/".into(),
        ] {
            assert!(
                cfg.contains(&line),
                "{}: no {line:?} in\n{cfg}",
                flavor.engine_type
            );
        }
        let sections: Vec<&str> = cfg.lines().filter(|l| l.starts_with('[')).collect();
        match flavor.engine_type {
            "jindocache" => {
                assert_eq!(
                    sections,
                    [
                        "[jindocache-common]",
                        "[jindocache-server]",
                        "[jindocache-worker]",
                        "[common]",
                        "[jindocache-client]"
                    ]
                );
                assert_eq!(
                    items["items"],
                    json!([{"key": "fs.oss.accessKeyId", "path": "fluid-samples/AccessKeyId"}, {"key": "fs.oss.accessKeySecret", "path": "fluid-samples/AccessKeySecret"}])
                );
                assert!(cfg.contains("jindocache.oss.bucket.fluid-samples.endpoint = oss-cn-hangzhou-internal.aliyuncs.com"), "{cfg}");
                assert!(cfg.contains("jindocache.oss.bucket.fluid-samples.provider.endpoint = secrets:///token/fluid-samples/"), "{cfg}");
                assert!(cfg.contains("fs.jindocache.ram.cache.enable = true"));
                assert!(
                    cfg.contains("fs.oss.download.thread.concurrency = 64"),
                    "the fuse's own property"
                );
                let sets = config["data"]["cacheset.xml"].as_str().unwrap();
                assert!(
                    sets.contains("<path>oss://fluid-samples/hbase/</path>")
                        && sets.contains("<type>ONCE</type>"),
                    "{sets}"
                );
                assert_eq!(
                    config["data"]["mounts"],
                    "/hbase oss://fluid-samples/hbase/\n"
                );
                let script = config["data"]["start-master.sh"].as_str().unwrap();
                assert!(
                    script.contains("jindocache -mount \"$path\" \"$uri\""),
                    "{script}"
                );
                assert!(
                    script.contains("jindocache -refreshCacheSet -path /cacheset.xml"),
                    "{script}"
                );
                assert!(mounted_at(fc, "/jindosdk.cfg").is_some());
            }
            "jindofsx" => {
                assert_eq!(
                    sections,
                    [
                        "[jindofsx-common]",
                        "[jindofsx-storage]",
                        "[jindofsx-namespace]"
                    ]
                );
                let core = config["data"]["core-site.xml"].as_str().unwrap();
                assert!(
                    core.contains(&format!(
                        "<value>hbase-master-0.hbase-master.ns:{MASTER_RPC}</value>"
                    )),
                    "{core}"
                );
                assert!(
                    core.contains("<name>fs.jindofsx.read.only.enable</name>"),
                    "{core}"
                );
                assert!(mounted_at(fc, "/hdfs-3.2.1/etc/hadoop/core-site.xml").is_some());
                let script = config["data"]["start-master.sh"].as_str().unwrap();
                assert!(
                    script.contains("jindo admin -mount \"$path\" \"$uri\""),
                    "{script}"
                );
                assert!(!script.contains("refreshCacheSet"));
            }
            _ => {
                assert_eq!(
                    sections,
                    [
                        "[bigboot]",
                        "[bigboot-namespace]",
                        "[bigboot-storage]",
                        "[bigboot-client]"
                    ]
                );
                assert!(
                    cfg.contains("jfs.namespaces.jindo.oss.uri = oss://fluid-samples/hbase/"),
                    "{cfg}"
                );
                assert!(cfg.contains("jfs.namespaces.jindo.oss.access.endpoint = oss-cn-hangzhou-internal.aliyuncs.com"));
                assert!(!cfg.contains("access.key"), "no key in the properties");
                assert_eq!(
                    items["items"],
                    json!([{"key": "fs.oss.accessKeyId", "path": "AccessKeyId"}, {"key": "fs.oss.accessKeySecret", "path": "AccessKeySecret"}])
                );
                assert_eq!(config["data"]["mounts"], "");
            }
        }
        for v in secret_values(&d) {
            assert!(
                !r.manifest.contains(&v),
                "{}: a secret value is in the manifest",
                flavor.engine_type
            );
        }
    }
}

#[test]
fn three_masters_run_raft_and_s3_keys_are_projected() {
    if helm_missing() {
        return;
    }
    for flavor in [Flavor::JINDOCACHE, Flavor::JINDOFSX] {
        let (d, r, _) = render(flavor, RAFT);
        let master = r.get("StatefulSet", "training-master").unwrap();
        assert_eq!(master["spec"]["replicas"], 3);
        let mc = container(master);
        let hosts: Vec<String> = (0..3)
            .map(|i| format!("training-master-{i}.training-master.ns"))
            .collect();
        assert_eq!(
            env(mc, "NAMESPACE_BACKEND_RAFT_INITIAL_CONF"),
            hosts
                .iter()
                .map(|h| format!("{h}:{MASTER_RAFT}:0"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            mc["ports"][1],
            json!({"name": "raft", "containerPort": MASTER_RAFT})
        );
        let cfg = r.get("ConfigMap", "training-config").unwrap()["data"][flavor.config_file]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(cfg.contains("namespace.backend.type = raft"), "{cfg}");
        assert!(
            cfg.contains(&format!(
                "{}s3.endpoint = s3.us-east-1.amazonaws.com",
                flavor.store_prefix
            )),
            "{cfg}"
        );
        assert!(
            cfg.contains("storage.data-dirs.capacities = 100g,50g"),
            "{cfg}"
        );
        let worker = r.get("StatefulSet", "training-worker").unwrap();
        assert_eq!(
            worker["spec"]["template"]["metadata"]["labels"]["team"],
            "vision"
        );
        let wc = container(worker);
        assert_eq!(
            mounted_at(wc, "/underFSStorage/labels").unwrap()["subPath"],
            "labels"
        );
        let token = master["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "jindo-token")
            .unwrap()
            .clone();
        assert_eq!(
            token["projected"]["sources"][0]["secret"]["items"],
            json!([{"key": "access-key", "path": "AccessKeyId"}, {"key": "secret-key", "path": "AccessKeySecret"}])
        );
        let fc = container(r.get("DaemonSet", "training-fuse").unwrap());
        assert_eq!(fc["args"][0], "-oauto_cache", "read-write Dataset");
        for v in secret_values(&d) {
            assert!(!r.manifest.contains(&v));
        }
    }
}

#[test]
fn bad_specs_are_field_errors() {
    let (d, rt, ds, _) = sample(OSS);
    let validate = |rt: &JindoRuntime, ds: &Dataset, secrets: Vec<Value>, flavor: Flavor| {
        let b = HookContextBuilder::new("jindo", rt)
            .mount_type(engine::MOUNT_TYPE)
            .dataset(ds);
        done(
            ScriptedHost::new()
                .with_objects(secrets)
                .run(|h| JindoEngine::new(flavor).validate(&b.build(Hook::Validate), h)),
        )
    };
    let v = validate(&rt, &ds, secrets(&d), Flavor::JINDOCACHE);
    assert!(v.errors.is_empty() && v.ignored_fields.is_empty(), "{v:?}");
    // A missing key, a plain credential, a missing endpoint, a bad quota list.
    let mut secret = blanked(&find(&d, "Secret"));
    secret["stringData"]
        .as_object_mut()
        .unwrap()
        .remove("fs.oss.accessKeySecret");
    let mut ds2 = ds.clone();
    let m = &mut ds2.spec.mounts.as_mut().unwrap()[0];
    m.options
        .as_mut()
        .unwrap()
        .insert("fs.oss.accessKeyId".into(), "plain".into());
    let mut rt2 = rt.clone();
    rt2.spec
        .tiered_store
        .as_mut()
        .unwrap()
        .levels
        .as_mut()
        .unwrap()[0]
        .quota_list = Some("1Gi,2Gi".into());
    rt2.spec.master.as_mut().unwrap().replicas = Some(2);
    rt2.spec.run_as = Some(Default::default());
    let v = validate(&rt2, &ds2, vec![secret], Flavor::JINDOCACHE);
    let fields: Vec<&str> = v.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.tieredstore.levels[0].quotaList",
            "spec.mounts[0].options.fs.oss.accessKeyId",
            "spec.master.replicas",
            "spec.mounts[0].encryptOptions",
        ],
        "{v:?}"
    );
    assert!(v.errors[3]
        .message
        .contains("no key fs.oss.accessKeySecret"));
    assert_eq!(v.ignored_fields, ["spec.runAs"]);
    let (_, rt, ds, _) = sample(RAFT);
    let v = validate(&rt, &ds, vec![], Flavor::JINDO);
    assert!(
        v.errors
            .iter()
            .any(|e| e.field == "spec.mounts" && e.message.contains("one mount")),
        "{v:?}"
    );
}

#[test]
fn setup_needs_no_exec_and_later_mounts_are_attached_once() {
    let (_, rt, mut ds, _) = sample(OSS);
    let mut runtime = serde_json::to_value(&rt).unwrap();
    runtime["status"] = json!({"valueFile": "hbase-jindo-values",
        "masterPhase": "Ready", "workerPhase": "Ready", "fusePhase": "Ready",
        "desiredMasterNumberScheduled": 1, "currentMasterNumberScheduled": 1, "masterNumberReady": 1,
        "desiredWorkerNumberScheduled": 1, "currentWorkerNumberScheduled": 1, "workerNumberReady": 1,
        "desiredFuseNumberScheduled": 0, "currentFuseNumberScheduled": 0, "fuseNumberReady": 0});
    let b = HookContextBuilder::new("jindo", &runtime)
        .mount_type(engine::MOUNT_TYPE)
        .dataset(&ds);
    let engine = JindoEngine::new(Flavor::JINDOCACHE);
    let host = ScriptedHost::new()
        .with_objects([master_pod("hbase"), runtime.clone()])
        .on_exec(|r| {
            if r.command == ["jindocache", "-mount"] {
                ok("ns1 oss /hbase oss://fluid-samples/hbase/")
            } else {
                ok("")
            }
        });
    assert!(!done(host.run(|h| {
        engine.should_check_ufs(&b.build(Hook::ShouldCheckUfs), h)
    })));
    // The master's readiness records the mounts the chart attached (no exec).
    match host.run(|h| engine.check_master_ready(&b.build(Hook::CheckMasterReady), h)) {
        Ok(Outcome::Default) => {}
        Ok(_) => panic!("the controller decides readiness"),
        Err(e) => panic!("{}", e.message()),
    }
    assert!(execs(&host).is_empty());
    let recorded = host
        .objects()
        .into_iter()
        .find(|o| o["kind"] == "JindoRuntime")
        .unwrap();
    assert_eq!(
        recorded["status"]["mounts"][0]["mountPoint"],
        "oss://fluid-samples/hbase/"
    );
    // A mount added to the Dataset: attached by exec, the existing one left alone.
    let rt2: JindoRuntime = serde_json::from_value(recorded).unwrap();
    ds.spec.mounts.as_mut().unwrap().push(serde_json::from_value(json!({"mountPoint": "oss://fluid-samples/extra", "name": "extra", "options": {"fs.oss.endpoint": "e"}})).unwrap());
    let b = HookContextBuilder::new("jindo", &rt2)
        .mount_type(engine::MOUNT_TYPE)
        .dataset(&ds);
    assert!(done(host.run(|h| {
        engine.should_update_ufs(&b.build(Hook::ShouldUpdateUfs), h)
    })));
    done(host.run(|h| engine.update_on_ufs_change(&b.build(Hook::UpdateOnUfsChange), h)));
    assert_eq!(
        execs(&host),
        [
            vec!["jindocache", "-mount"],
            vec![
                "jindocache",
                "-mount",
                "/extra",
                "oss://fluid-samples/extra/"
            ],
            vec!["jindocache", "-refreshCacheSet", "-path", "/cacheset.xml"],
        ]
    );
}

#[test]
fn cache_states_come_from_the_report_and_shutdown_drops_the_cache() {
    for (flavor, report) in [
        (Flavor::JINDOCACHE, REPORT),
        (Flavor::JINDOFSX, REPORT),
        (Flavor::JINDO, REPORT_LEGACY),
    ] {
        let (_, rt, _, b) = sample(OSS);
        let engine = JindoEngine::new(flavor);
        let host = ScriptedHost::new()
            .with_objects([master_pod("hbase"), serde_json::to_value(&rt).unwrap()])
            .on_exec(move |_| ok(report));
        let states = done(
            host.run(|h| engine.update_cache_of_dataset(&b.build(Hook::UpdateCacheOfDataset), h)),
        );
        assert_eq!(states.cache_states["cached"], "11.72GiB");
        assert_eq!(execs(&host), [commands::report(&flavor)]);
        done(host.run(|h| engine.shutdown(&b.build(Hook::Shutdown), h)));
        assert_eq!(execs(&host)[1], commands::format_cache(&flavor));
        assert!(host
            .services_called()
            .contains(&"helm_uninstall".to_owned()));
    }
}

#[test]
fn a_host_older_than_1_2_gets_fluid_s_fixed_ports() {
    if helm_missing() {
        return;
    }
    let (_, r, _) = render_on(Flavor::JINDOCACHE, OSS, |h| h.unsupported("allocate_ports"));
    let master = r.get("StatefulSet", "hbase-master").unwrap();
    let mc = container(master);
    assert_eq!(
        env(mc, "CLIENT_NAMESPACE_RPC_ADDRESS"),
        "hbase-master-0.hbase-master.ns:8101"
    );
    assert_eq!(mc["ports"][0]["containerPort"], 8101);
    let worker = r.get("StatefulSet", "hbase-worker").unwrap();
    assert_eq!(container(worker)["ports"][0]["containerPort"], 6101);
}
