//! End to end with the Jindo engine plugin against the local control plane, once per engine
//! behind `JindoRuntime` (the controller's `JINDO_ENGINE_TYPE`: `jindocache`, `jindofsx`,
//! `jindo`): `samples/jindo/oss.yaml` goes Bound with its PVC Bound; the objects the chart
//! made are checked field by field (master, worker and fuse, the property files, the Service,
//! the PV), with no secret value in any of them; `kubectl scale` gives 2 ready workers; a
//! property added to the runtime reaches the property file and rolls the workers; deleting
//! the runtime removes everything.
//!
//! The kwok nodes run no containers: Jindo's images (closed source, not reachable here) never
//! start, so no data path runs. Bound does not depend on exec: the chart's master attaches
//! the mounts itself (see docs/jindo.md).

mod common;

use common::controller::Controller;
use common::objects::{get, wait_bound, WAIT};
use fluid_test_support::{kubectl, wait_until, TestNamespace};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NAME: &str = "hbase";

fn sample() -> String {
    std::fs::read_to_string(common::workspace_root().join("samples/jindo/oss.yaml")).unwrap()
}

fn secret_values(text: &str) -> Vec<String> {
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|d| Option::<Value>::deserialize(d).ok().flatten())
        .filter(|d| d["kind"] == "Secret")
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

fn container(workload: &Value) -> Value {
    workload["spec"]["template"]["spec"]["containers"][0].clone()
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

fn mount_paths(c: &Value) -> Vec<String> {
    c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap().to_owned())
        .collect()
}

/// Which files and sections each engine reads (Fluid's charts).
fn expected_files(engine: &str) -> (&'static str, Vec<&'static str>, Vec<&'static str>) {
    match engine {
        "jindocache" => (
            "jindocache.cfg",
            vec![
                "jindocache.cfg",
                "cacheset.xml",
                "jindosdk.cfg",
                "mounts",
                "start-master.sh",
            ],
            vec![
                "[jindocache-common]",
                "[jindocache-server]",
                "[jindocache-worker]",
                "[common]",
                "[jindocache-client]",
            ],
        ),
        "jindofsx" => (
            "jindofsx.cfg",
            vec![
                "jindofsx.cfg",
                "core-site.xml",
                "jindosdk.cfg",
                "mounts",
                "start-master.sh",
            ],
            vec![
                "[jindofsx-common]",
                "[jindofsx-storage]",
                "[jindofsx-namespace]",
            ],
        ),
        _ => (
            "bigboot.cfg",
            vec!["bigboot.cfg", "core-site.xml", "mounts", "start-master.sh"],
            vec![
                "[bigboot]",
                "[bigboot-namespace]",
                "[bigboot-storage]",
                "[bigboot-client]",
            ],
        ),
    }
}

async fn one_engine(engine: &str, ns: &str) -> Vec<(String, Duration)> {
    let mut times = vec![];
    let text = sample();
    let t = Instant::now();
    common::objects::apply(ns, &text);
    wait_bound(ns, NAME).await.unwrap();
    times.push((format!("{engine}: sample applied -> Bound"), t.elapsed()));

    // The runtime's status and the volume.
    wait_until("the scale selector", WAIT, || async {
        let rt = get(ns, &format!("jindoruntime/{NAME}")).ok_or("no runtime")?;
        match rt["status"]["selector"].as_str() {
            Some("app=jindo,release=hbase,role=jindofs-worker") => Ok(()),
            other => Err(format!("selector {other:?}")),
        }
    })
    .await
    .unwrap();
    let rt = get(ns, &format!("jindoruntime/{NAME}")).unwrap();
    assert_eq!(rt["status"]["valueFile"], "hbase-jindo-values");
    assert_eq!(
        rt["status"]["mounts"][0]["mountPoint"], "oss://fluid-samples/hbase/",
        "mounts recorded without exec"
    );
    let pv = get(ns, &format!("pv/{ns}-{NAME}")).unwrap();
    let attrs = &pv["spec"]["csi"]["volumeAttributes"];
    assert_eq!(attrs["mount_type"], "fuse.jindofs-fuse");
    let mount_path = format!("/runtime-mnt/jindo/{ns}/{NAME}/jindofs-fuse");
    assert_eq!(attrs["fluid_path"], mount_path);

    // The ports the host allocated (host network): namespace RPC, raft, storage RPC, fuse.
    let values = get(ns, &format!("configmap/{NAME}-jindo-values")).unwrap();
    let ports: Vec<u16> = values["metadata"]["annotations"]["fluid.io/host-ports"]
        .as_str()
        .expect("host-network ports recorded")
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(ports.len(), 4, "{ports:?}");
    assert!(
        ports.iter().all(|p| (20000..=26000).contains(p)),
        "{ports:?}"
    );
    let (rpc, worker_rpc) = (ports[0], ports[2]);

    // The master.
    let master = get(ns, &format!("statefulset/{NAME}-master")).unwrap();
    assert_eq!(master["spec"]["replicas"], 1);
    assert_eq!(
        master["metadata"]["ownerReferences"][0]["kind"],
        "JindoRuntime"
    );
    assert_eq!(
        master["metadata"]["labels"]["fluid.io/jindo-engine"],
        engine
    );
    let mpod = &master["spec"]["template"]["spec"];
    assert_eq!(mpod["hostNetwork"], true);
    assert_eq!(mpod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(mpod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    let mc = container(&master);
    assert_eq!(mc["name"], "jindofs-master");
    let tag = match engine {
        "jindocache" => "6.2.0",
        "jindofsx" => "4.6.8",
        _ => "3.8.0",
    };
    assert_eq!(
        mc["image"],
        format!("registry.cn-shanghai.aliyuncs.com/jindofs/smartdata:{tag}")
    );
    assert_eq!(
        mc["command"],
        json!(["sh", "/etc/fluid-rs/start-master.sh"])
    );
    assert_eq!(
        env(&mc, "CLIENT_NAMESPACE_RPC_ADDRESS"),
        format!("hbase-master-0.hbase-master.{ns}:{rpc}")
    );
    assert_eq!(
        mc["ports"],
        json!([{"containerPort": rpc, "name": "rpc", "protocol": "TCP"}])
    );
    let (cfg_name, files, sections) = expected_files(engine);
    let mpaths = mount_paths(&mc);
    for p in [
        format!("/{cfg_name}"),
        "/token".into(),
        format!(
            "/dev/shm/{ns}/{NAME}/{}",
            match engine {
                "jindo" => "bigboot",
                e => e,
            }
        ),
    ] {
        assert!(
            mpaths.contains(&p),
            "{engine}: master mounts {mpaths:?}, no {p}"
        );
    }
    let token = mpod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "jindo-token")
        .unwrap();
    assert_eq!(
        token["projected"]["sources"][0]["secret"]["name"],
        "oss-keys"
    );
    let service = get(ns, &format!("service/{NAME}-master")).unwrap();
    assert_eq!(service["spec"]["clusterIP"], "None");
    assert_eq!(service["spec"]["ports"][0]["port"], rpc);

    // The worker and the fuse.
    let worker = get(ns, &format!("statefulset/{NAME}-worker")).unwrap();
    assert_eq!(worker["spec"]["replicas"], 1);
    let wc = container(&worker);
    assert_eq!(
        (wc["name"].clone(), wc["args"].clone()),
        (json!("jindofs-worker"), json!(["worker"]))
    );
    assert_eq!(wc["ports"][0]["containerPort"], worker_rpc);
    assert!(mount_paths(&wc).contains(&"/dev/shm".to_owned()));
    assert_eq!(
        worker["spec"]["template"]["metadata"]["labels"]["fluid.io/dataset-placement"],
        "Exclusive"
    );
    let fuse = get(ns, &format!("daemonset/{NAME}-fuse")).unwrap();
    let fpod = &fuse["spec"]["template"]["spec"];
    assert_eq!(
        fpod["nodeSelector"][format!("fluid.io/f-{ns}-{NAME}")],
        "true"
    );
    assert_eq!(fuse["spec"]["updateStrategy"]["type"], "OnDelete");
    let fc = container(&fuse);
    assert_eq!(
        fc["image"],
        format!("registry.cn-shanghai.aliyuncs.com/jindofs/jindo-fuse:{tag}")
    );
    assert_eq!(env(&fc, "FLUID_FUSE_MOUNTPOINT"), mount_path);
    assert_eq!(fc["args"][1], "-oro");
    let host_mount = fc["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "fuse-mount")
        .unwrap();
    assert_eq!(host_mount["mountPropagation"], "Bidirectional");
    assert_eq!(
        host_mount["mountPath"],
        format!("/runtime-mnt/jindo/{ns}/{NAME}")
    );

    // The property files.
    let config = get(ns, &format!("configmap/{NAME}-config")).unwrap();
    let mut keys: Vec<&str> = config["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = files.clone();
    keys.sort();
    want.sort();
    assert_eq!(keys, want, "{engine}");
    let cfg = config["data"][cfg_name].as_str().unwrap();
    let found: Vec<&str> = cfg.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(found, sections, "{engine}");
    for line in [
        "storage.data-dirs.capacities = 2g",
        "storage.watermark.high.ratio = 0.99",
        "namespace.backend.type = rocksdb",
        "default.credential.provider = secrets:///token/",
    ] {
        assert!(cfg.contains(line), "{engine}: no {line:?} in {cfg}");
    }
    let mounts = config["data"]["mounts"].as_str().unwrap();
    if engine == "jindo" {
        assert!(mounts.trim().is_empty());
        assert!(cfg.contains("jfs.namespaces.jindo.oss.uri = oss://fluid-samples/hbase/"));
    } else {
        assert_eq!(mounts.trim(), "/hbase oss://fluid-samples/hbase/");
    }

    // No secret value in anything the controller or the chart wrote.
    let secret_values = secret_values(&text);
    for what in [
        format!("configmap/{NAME}-config"),
        format!("configmap/{NAME}-jindo-values"),
        format!("statefulset/{NAME}-master"),
        format!("statefulset/{NAME}-worker"),
        format!("daemonset/{NAME}-fuse"),
        format!("jindoruntime/{NAME}"),
        format!("dataset/{NAME}"),
    ] {
        let text = get(ns, &what).unwrap().to_string();
        for v in &secret_values {
            assert!(
                !text.contains(v.as_str()),
                "{engine}: a secret value is in {what}"
            );
        }
    }

    // kubectl scale through the scale subresource.
    let t = Instant::now();
    kubectl([
        "scale",
        &format!("jindoruntime/{NAME}"),
        "-n",
        ns,
        "--replicas=2",
    ])
    .unwrap();
    wait_until("2 ready workers", WAIT, || async {
        let rt = get(ns, &format!("jindoruntime/{NAME}")).ok_or("no runtime")?;
        match rt["status"]["workerNumberReady"].as_i64() {
            Some(2) => Ok(()),
            other => Err(format!("workerNumberReady {other:?}")),
        }
    })
    .await
    .unwrap();
    times.push((format!("{engine}: scale 1 -> 2 ready workers"), t.elapsed()));

    // A property of the workers: the file has it, the workers roll onto it.
    let t = Instant::now();
    let old = get(ns, &format!("statefulset/{NAME}-worker")).unwrap()["status"]["currentRevision"]
        .as_str()
        .unwrap()
        .to_owned();
    kubectl([
        "patch",
        &format!("jindoruntime/{NAME}"),
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"worker":{"properties":{"storage.compaction.threshold":"32"}}}}"#,
    ])
    .unwrap();
    wait_until("the workers rolled onto the new property", WAIT, || async {
        let config = get(ns, &format!("configmap/{NAME}-config")).ok_or("no config")?;
        if !config["data"][cfg_name]
            .as_str()
            .unwrap_or_default()
            .contains("storage.compaction.threshold = 32")
        {
            return Err("the property file has no new property yet".to_owned());
        }
        let sts = get(ns, &format!("statefulset/{NAME}-worker")).ok_or("no sts")?;
        let s = &sts["status"];
        let done = s["currentRevision"] == s["updateRevision"]
            && s["currentRevision"].as_str() != Some(old.as_str())
            && s["updatedReplicas"] == 2
            && s["readyReplicas"] == 2;
        if done {
            Ok(())
        } else {
            Err(format!("worker status {s}"))
        }
    })
    .await
    .unwrap();
    times.push((
        format!("{engine}: worker property -> workers rolled"),
        t.elapsed(),
    ));

    // Deletion removes everything the runtime made.
    let t = Instant::now();
    kubectl([
        "delete",
        &format!("jindoruntime/{NAME}"),
        "-n",
        ns,
        "--wait=false",
    ])
    .unwrap();
    wait_until("everything gone", WAIT, || async {
        for what in [
            format!("jindoruntime/{NAME}"),
            format!("pvc/{NAME}"),
            format!("statefulset/{NAME}-master"),
            format!("statefulset/{NAME}-worker"),
            format!("daemonset/{NAME}-fuse"),
            format!("service/{NAME}-master"),
            format!("configmap/{NAME}-config"),
            format!("configmap/{NAME}-jindo-values"),
        ] {
            if get(ns, &what).is_some() {
                return Err(format!("{what} still exists"));
            }
        }
        if get(ns, &format!("pv/{ns}-{NAME}")).is_some() {
            return Err("the PV still exists".into());
        }
        Ok(())
    })
    .await
    .unwrap();
    let releases = fluid_test_support::helm(["list", "-n", ns, "-q"]).unwrap();
    assert!(releases.trim().is_empty(), "helm releases left: {releases}");
    times.push((format!("{engine}: delete -> everything gone"), t.elapsed()));
    times
}

#[tokio::test(flavor = "multi_thread")]
async fn each_jindo_engine_binds_scales_rolls_and_goes() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(common::jindo_plugin(), plugins.path().join("jindo.so")).unwrap();
    common::controller::install_crds(plugins.path());
    let logs = tempfile::tempdir().unwrap();
    for engine in ["jindocache", "jindofsx", "jindo"] {
        let log = logs.path().join(format!("controller-{engine}.log"));
        let controller =
            Controller::start_with_env(plugins.path(), log, &[("JINDO_ENGINE_TYPE", engine)]);
        let ns = TestNamespace::create(&format!("e2e-{engine}"))
            .await
            .unwrap();
        let name = ns.name().to_owned();
        let e = engine.to_owned();
        match tokio::spawn(async move { one_engine(&e, &name).await }).await {
            Ok(times) => {
                for (what, d) in times {
                    eprintln!("e2e_jindo: {what}: {:.1} s", d.as_secs_f64());
                }
            }
            Err(e) => panic!(
                "{engine}: {e}\n--- controller log ---\n{}",
                controller.log_tail()
            ),
        }
        drop(controller);
        let _ = ns.cleanup().await;
    }
}
