//! End to end with the JuiceFS engine plugin against the local control plane:
//!
//! * the community sample (`samples/juicefs/community.yaml`: Secret + Dataset +
//!   JuiceFSRuntime) goes to Bound with its PVC Bound; no secret value reaches any object the
//!   controller or the chart wrote; `kubectl scale` gives 2 ready workers, shown by
//!   `kubectl get juicefsruntime -o wide`; a worker option change reaches the template, and a
//!   worker only when its pod is deleted (`OnDelete`, as in Fluid); deletion removes every
//!   object;
//! * the data path: a runtime over local storage (SQLite metadata, a directory as object
//!   storage) is set up in the cluster; the test reads the worker and fuse commands and
//!   environment the chart rendered FROM THE CLUSTER (StatefulSet, DaemonSet, script
//!   ConfigMaps), resolves the `secretKeyRef`s from the Secret in the cluster, points the
//!   paths at a temporary directory and runs the format + mount commands with the real
//!   juicefs client; it writes through the worker's mount, reads back through the fuse's,
//!   and checks what juicefs reports (`juicefs info`, the mount's `.stats`, its metrics).
//!
//! The kwok nodes run no containers: the cluster part proves the objects, the local part
//! proves the commands in them work. The data path needs the juicefs client and FUSE
//! (`scripts/install-test-deps`); without FUSE it is skipped with a message.

mod common;

use common::controller::Controller;
use common::objects::{get, WAIT};
use fluid_test_support::{fuse_unavailable, juicefs_binary, kubectl, wait_until, TestNamespace};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn apply(ns: &str, docs: &[Value]) {
    let file = tempfile::NamedTempFile::new().unwrap();
    let text: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect();
    std::fs::write(file.path(), text).unwrap();
    kubectl(["apply", "-n", ns, "-f", file.path().to_str().unwrap()]).unwrap();
}

fn sample() -> Vec<Value> {
    let text =
        std::fs::read_to_string(common::workspace_root().join("samples/juicefs/community.yaml"))
            .unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| Option::<Value>::deserialize(d).ok().flatten())
        .collect()
}

async fn wait_bound(ns: &str, name: &str) {
    common::objects::wait_bound(ns, name).await.unwrap();
}

async fn wait_gone(ns: &str, name: &str) {
    wait_until(
        "the runtime and everything it made to be gone",
        WAIT,
        || async {
            for what in [
                format!("juicefsruntime/{name}"),
                format!("pvc/{name}"),
                format!("statefulset/{name}-worker"),
                format!("daemonset/{name}-fuse"),
                format!("configmap/{name}-juicefs-values"),
                format!("configmap/{name}-worker-script"),
                format!("configmap/{name}-fuse-script"),
            ] {
                if get(ns, &what).is_some() {
                    return Err(format!("{what} still exists"));
                }
            }
            if get(ns, &format!("pv/{ns}-{name}")).is_some() {
                return Err("the PV still exists".into());
            }
            let ds = get(ns, &format!("dataset/{name}")).ok_or("the dataset went too")?;
            match ds["status"]["phase"].as_str() {
                Some("NotBound") => Ok(()),
                other => Err(format!("dataset phase {other:?}")),
            }
        },
    )
    .await
    .unwrap();
    let releases = fluid_test_support::helm(["list", "-n", ns, "-q"]).unwrap();
    assert!(releases.trim().is_empty(), "helm releases left: {releases}");
}

/// The community sample: Bound, secrets by reference only, scale, roll on option change,
/// deletion.
async fn community_sample(ns: &str) -> Vec<(String, Duration)> {
    let mut times = vec![];
    let started = Instant::now();
    let docs = sample();
    let secret_values: Vec<String> = docs.iter().find(|d| d["kind"] == "Secret").unwrap()
        ["stringData"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    apply(ns, &docs);
    wait_bound(ns, "jfsdemo").await;
    times.push(("sample applied -> Bound".to_owned(), started.elapsed()));

    let rt = get(ns, "juicefsruntime/jfsdemo").unwrap();
    assert_eq!(rt["status"]["valueFile"], "jfsdemo-juicefs-values");
    // The status as Fluid's helpers write it (pkg/ctrl), and the Dataset as Fluid labels it.
    let status = &rt["status"];
    for (kind, reason) in [
        ("WorkersInitialized", "Workers are initialized"),
        ("WorkersReady", "Workers are ready"),
        ("FusesReady", "Fuses are ready"),
    ] {
        let c = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {status}"));
        assert_eq!(
            (&c["status"], &c["reason"]),
            (&json!("True"), &json!(reason))
        );
    }
    assert_eq!(status["fuseReason"], "Fuses are ready");
    let prefer = &status["cacheAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
    assert_eq!(
        prefer[0]["preference"]["matchExpressions"][0]["key"],
        format!("fluid.io/f-{ns}-jfsdemo"),
        "{status}"
    );
    let dataset = get(ns, "dataset/jfsdemo").unwrap();
    assert_eq!(
        dataset["metadata"]["labels"]["fluid.io/dataset-id"],
        format!("{ns}-jfsdemo")
    );
    for k in [
        "cached",
        "cachedPercentage",
        "cacheHitRatio",
        "cacheThroughputRatio",
    ] {
        assert!(
            dataset["status"]["cacheStates"][k].is_string(),
            "{k} in {}",
            dataset["status"]
        );
    }
    wait_until("the scale selector", WAIT, || async {
        let rt = get(ns, "juicefsruntime/jfsdemo").ok_or("no runtime")?;
        match rt["status"]["selector"].as_str() {
            Some("app=juicefs,release=jfsdemo,role=juicefs-worker") => Ok(()),
            other => Err(format!("selector {other:?}")),
        }
    })
    .await
    .unwrap();
    let pv = get(ns, &format!("pv/{ns}-jfsdemo")).unwrap();
    let attrs = &pv["spec"]["csi"]["volumeAttributes"];
    assert_eq!(attrs["mount_type"], "JuiceFS");
    assert_eq!(
        attrs["fluid_path"],
        format!("/runtime-mnt/juicefs/{ns}/jfsdemo/juicefs-fuse")
    );

    // Secrets by reference: no value in anything the controller or the chart wrote.
    let sts = get(ns, "statefulset/jfsdemo-worker").unwrap();
    let fuse = get(ns, "daemonset/jfsdemo-fuse").unwrap();
    for what in [
        "configmap/jfsdemo-juicefs-values",
        "configmap/jfsdemo-worker-script",
        "configmap/jfsdemo-fuse-script",
        "statefulset/jfsdemo-worker",
        "daemonset/jfsdemo-fuse",
        "juicefsruntime/jfsdemo",
        "dataset/jfsdemo",
    ] {
        let text = get(ns, what).unwrap().to_string();
        for v in &secret_values {
            assert!(!text.contains(v.as_str()), "a secret value is in {what}");
        }
    }
    let env = &sts["spec"]["template"]["spec"]["containers"][0]["env"];
    let metaurl = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "METAURL")
        .unwrap();
    assert_eq!(
        metaurl["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "jfs-secret", "key": "metaurl"})
    );
    let fuse_spec = &fuse["spec"]["template"]["spec"];
    assert_eq!(
        fuse_spec["nodeSelector"][format!("fluid.io/f-{ns}-jfsdemo")],
        "true"
    );
    assert_eq!(
        fuse_spec["containers"][0]["volumeMounts"][0]["mountPropagation"],
        "Bidirectional"
    );
    assert_eq!(
        sts["metadata"]["ownerReferences"][0]["kind"],
        "JuiceFSRuntime"
    );

    // kubectl scale, through the scale subresource. Exclusive placement (the default, as in
    // Fluid) is one cache worker per node: of the cluster's 3 nodes, the data-path runtime's
    // worker may hold one.
    let t = Instant::now();
    kubectl(["scale", "juicefsruntime/jfsdemo", "-n", ns, "--replicas=2"]).unwrap();
    wait_until("2 ready workers", WAIT, || async {
        let rt = get(ns, "juicefsruntime/jfsdemo").ok_or("no runtime")?;
        match rt["status"]["workerNumberReady"].as_i64() {
            Some(2) => Ok(()),
            other => Err(format!("workerNumberReady {other:?}")),
        }
    })
    .await
    .unwrap();
    times.push(("scale 1 -> 2 ready workers".to_owned(), t.elapsed()));
    let wide = kubectl(["get", "juicefsruntime", "jfsdemo", "-n", ns, "-o", "wide"]).unwrap();
    let mut lines = wide.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let col = header.iter().position(|h| *h == "READY WORKERS").unwrap();
    assert_eq!(row[col], "2", "{wide}");
    let desired = header.iter().position(|h| *h == "DESIRED WORKERS").unwrap();
    assert_eq!(row[desired], "2", "{wide}");

    // A worker option change reaches the template; the running workers keep serving (Fluid's
    // OnDelete), and a worker whose pod is deleted comes back with the new template.
    let t = Instant::now();
    let before = get(ns, "statefulset/jfsdemo-worker").unwrap();
    let old_revision = before["status"]["currentRevision"]
        .as_str()
        .unwrap()
        .to_owned();
    let selector = "app=juicefs,release=jfsdemo,role=juicefs-worker";
    let worker_pods = || {
        let pods = kubectl(["get", "pods", "-n", ns, "-l", selector, "-o", "json"]).unwrap();
        let pods: Value = serde_json::from_str(&pods).unwrap();
        pods["items"].as_array().cloned().unwrap_or_default()
    };
    let uids = |pods: &[Value]| -> Vec<String> {
        let mut u: Vec<String> = pods
            .iter()
            .map(|p| p["metadata"]["uid"].as_str().unwrap().to_owned())
            .collect();
        u.sort();
        u
    };
    let running = uids(&worker_pods());
    kubectl([
        "patch",
        "juicefsruntime/jfsdemo",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"worker":{"options":{"buffer-size":"600"}}}}"#,
    ])
    .unwrap();
    let new_revision = wait_until("the new worker template", WAIT, || async {
        let script = get(ns, "configmap/jfsdemo-worker-script").ok_or("no script")?;
        if !script["data"]["script.sh"]
            .as_str()
            .unwrap_or_default()
            .contains("buffer-size=600")
        {
            return Err("the worker script has no buffer-size yet".to_owned());
        }
        let sts = get(ns, "statefulset/jfsdemo-worker").ok_or("no sts")?;
        let s = &sts["status"];
        match s["updateRevision"].as_str() {
            Some(r) if r != old_revision && sts["spec"]["updateStrategy"]["type"] == "OnDelete" => {
                Ok(r.to_owned())
            }
            _ => Err(format!("sts status {s}")),
        }
    })
    .await
    .unwrap();
    assert_eq!(uids(&worker_pods()), running, "no worker was restarted");
    let victim = worker_pods()[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    kubectl(["delete", "pod", victim.as_str(), "-n", ns, "--wait=false"]).unwrap();
    wait_until(
        "the deleted worker back with the new template",
        WAIT,
        || async {
            let pods = worker_pods();
            let back = pods
                .iter()
                .find(|p| p["metadata"]["name"] == victim.as_str())
                .ok_or("not back yet")?;
            let ready = back["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            if back["metadata"]["labels"]["controller-revision-hash"] == new_revision.as_str()
                && ready
            {
                Ok(())
            } else {
                Err(format!("pod {}", back["metadata"]))
            }
        },
    )
    .await
    .unwrap();
    times.push((
        "worker option -> template; deleted worker renewed".to_owned(),
        t.elapsed(),
    ));

    let t = Instant::now();
    kubectl(["delete", "juicefsruntime/jfsdemo", "-n", ns, "--wait=false"]).unwrap();
    wait_gone(ns, "jfsdemo").await;
    times.push(("delete -> everything gone".to_owned(), t.elapsed()));
    times
}

/// A mount started from a rendered script, unmounted and stopped on drop.
struct LocalMount {
    child: Child,
    path: PathBuf,
}

impl Drop for LocalMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_mountpoint(p: &Path) -> bool {
    Command::new("mountpoint")
        .arg("-q")
        .arg(p)
        .status()
        .is_ok_and(|s| s.success())
}

/// The container's environment as the kubelet would give it: plain values, and
/// `secretKeyRef`s read from the Secret in the cluster.
fn resolve_env(ns: &str, container: &Value) -> Vec<(String, String)> {
    use base64::Engine as _;
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_owned();
            if let Some(r) = e["valueFrom"]["secretKeyRef"].as_object() {
                let secret = get(ns, &format!("secret/{}", r["name"].as_str().unwrap())).unwrap();
                let b64 = secret["data"][r["key"].as_str().unwrap()].as_str().unwrap();
                let value = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                (name, String::from_utf8(value).unwrap())
            } else {
                (name, e["value"].as_str().unwrap_or_default().to_owned())
            }
        })
        .collect()
}

/// Runs a script from the cluster locally, with the paths of the pod replaced by local ones.
fn run_script(
    script: &str,
    env: &[(String, String)],
    replacements: &[(String, String)],
    work: &Path,
    mount: &Path,
    log: &Path,
) -> LocalMount {
    let mut local = script.to_owned();
    for (from, to) in replacements {
        local = local.replace(from.as_str(), to.as_str());
    }
    let file = work.join(format!(
        "{}.sh",
        mount.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::write(&file, &local).unwrap();
    let out = std::fs::File::create(log).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg(&file)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    LocalMount {
        child,
        path: mount.to_owned(),
    }
}

async fn wait_mounted(m: &mut LocalMount, log: &Path) {
    let start = Instant::now();
    while !is_mountpoint(&m.path) {
        if let Ok(Some(status)) = m.child.try_wait() {
            panic!(
                "the mount script exited ({status}) before mounting:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not mounted after 60 s:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The data path: the rendered commands, run with the real juicefs client.
async fn data_path(ns: &str) -> Vec<(String, Duration)> {
    let mut times = vec![];
    let Some(jfs) = juicefs_binary() else {
        panic!("the juicefs client is not installed: run scripts/install-test-deps");
    };
    let skip = fuse_unavailable();
    let work = tempfile::Builder::new()
        .prefix("jfs-e2e-")
        .tempdir_in("/tmp")
        .unwrap();
    let w = work.path().to_str().unwrap().to_owned();
    let started = Instant::now();
    let manifests = format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: jfs-local
type: Opaque
stringData:
  metaurl: sqlite3://{w}/meta.db
  access-key: local-access-key-value
  secret-key: local-secret-key-value
---
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: jfslocal
spec:
  accessModes: [ReadWriteMany]
  mounts:
    - name: jfslocal
      mountPoint: juicefs:///data
      options:
        storage: file
        bucket: {w}/bucket/
      encryptOptions:
        - name: metaurl
          valueFrom: {{secretKeyRef: {{name: jfs-local, key: metaurl}}}}
        - name: access-key
          valueFrom: {{secretKeyRef: {{name: jfs-local, key: access-key}}}}
        - name: secret-key
          valueFrom: {{secretKeyRef: {{name: jfs-local, key: secret-key}}}}
---
apiVersion: data.fluid.io/v1alpha1
kind: JuiceFSRuntime
metadata:
  name: jfslocal
spec:
  replicas: 1
  tieredstore:
    levels:
      - mediumtype: SSD
        path: {w}/cache
        quota: 1Gi
        low: \"0.1\"
"
    );
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&manifests)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    apply(ns, &docs);
    wait_bound(ns, "jfslocal").await;
    times.push((
        "local runtime applied -> Bound".to_owned(),
        started.elapsed(),
    ));

    if let Some(why) = skip {
        eprintln!("SKIPPED the local data path: FUSE mounts are impossible here: {why}");
    } else {
        let t = Instant::now();
        let sts = get(ns, "statefulset/jfslocal-worker").unwrap();
        let ds = get(ns, "daemonset/jfslocal-fuse").unwrap();
        let worker_c = &sts["spec"]["template"]["spec"]["containers"][0];
        let fuse_c = &ds["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            worker_c["command"],
            serde_json::json!(["sh", "/root/script/script.sh"])
        );
        assert_eq!(
            fuse_c["command"],
            serde_json::json!(["sh", "/root/script/script.sh"])
        );
        let worker_script = get(ns, "configmap/jfslocal-worker-script").unwrap()["data"]
            ["script.sh"]
            .as_str()
            .unwrap()
            .to_owned();
        let fuse_script = get(ns, "configmap/jfslocal-fuse-script").unwrap()["data"]["script.sh"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(fuse_script.contains("${METAURL}"), "{fuse_script}");
        assert!(!fuse_script.contains("sqlite3://"), "{fuse_script}");

        let bin = work.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(&jfs, bin.join("mount.juicefs")).unwrap();
        let pod_path = format!("/runtime-mnt/juicefs/{ns}/jfslocal/juicefs-fuse");
        let worker_mnt = work.path().join("worker-mnt");
        let fuse_mnt = work.path().join("fuse-mnt");
        let metrics_of = |script: &str| {
            let i = script.find("metrics=0.0.0.0:").expect("a metrics option");
            let rest = &script[i..];
            rest[..rest.find([',', '\'', '\n']).unwrap_or(rest.len())].to_owned()
        };
        let fuse_port = free_port();
        let common = |mnt: &Path, metrics: String, port: u16| {
            vec![
                (pod_path.clone(), mnt.to_str().unwrap().to_owned()),
                (
                    "/usr/local/bin/juicefs".to_owned(),
                    jfs.to_str().unwrap().to_owned(),
                ),
                (
                    "/bin/mount.juicefs".to_owned(),
                    bin.join("mount.juicefs").to_str().unwrap().to_owned(),
                ),
                (metrics, format!("metrics=127.0.0.1:{port}")),
            ]
        };
        let worker_log = work.path().join("worker.log");
        let mut worker = run_script(
            &worker_script,
            &resolve_env(ns, worker_c),
            &common(&worker_mnt, metrics_of(&worker_script), free_port()),
            work.path(),
            &worker_mnt,
            &worker_log,
        );
        wait_mounted(&mut worker, &worker_log).await;
        let payload = format!("written through the worker mount of {ns}\n");
        std::fs::write(worker_mnt.join("hello.txt"), &payload).unwrap();
        assert_eq!(
            std::fs::read_to_string(worker_mnt.join("hello.txt")).unwrap(),
            payload
        );

        let fuse_log = work.path().join("fuse.log");
        let mut fuse = run_script(
            &fuse_script,
            &resolve_env(ns, fuse_c),
            &common(&fuse_mnt, metrics_of(&fuse_script), fuse_port),
            work.path(),
            &fuse_mnt,
            &fuse_log,
        );
        wait_mounted(&mut fuse, &fuse_log).await;
        assert_eq!(
            std::fs::read_to_string(fuse_mnt.join("hello.txt")).unwrap(),
            payload,
            "the fuse mount reads what the worker wrote"
        );

        // What juicefs reports: the file in the Dataset's sub-directory, its length, objects
        // in the bucket, and block-cache traffic in the mount's .stats and metrics.
        let info = Command::new(&jfs)
            .arg("info")
            .arg(fuse_mnt.join("hello.txt"))
            .output()
            .unwrap();
        let info = String::from_utf8_lossy(&info.stdout).to_string();
        assert!(
            info.contains(&format!("length: {} Bytes", payload.len())),
            "{info}"
        );
        assert!(info.contains("path: /hello.txt"), "{info}");
        let objects = Command::new("find")
            .arg(work.path().join("bucket"))
            .args(["-type", "f", "-path", "*/chunks/*"])
            .output()
            .unwrap();
        assert!(
            !objects.stdout.is_empty(),
            "no object written to the bucket"
        );
        let stats = std::fs::read_to_string(fuse_mnt.join(".stats")).unwrap();
        assert!(stats.contains("juicefs_blockcache_"), "{stats}");
        let metrics = Command::new("python3")
            .args([
                "-c",
                &format!("import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:{fuse_port}/metrics').read().decode())"),
            ])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&metrics.stdout).contains("juicefs_blockcache_bytes"),
            "the fuse mount's metrics endpoint does not answer"
        );
        // The cache directory of the tier is the one in use.
        assert!(
            std::fs::read_dir(work.path().join("cache"))
                .unwrap()
                .next()
                .is_some(),
            "nothing in the tier's cache directory"
        );
        drop(fuse);
        drop(worker);
        times.push((
            "local format + 2 mounts + write/read".to_owned(),
            t.elapsed(),
        ));
    }

    let t = Instant::now();
    kubectl([
        "delete",
        "juicefsruntime/jfslocal",
        "-n",
        ns,
        "--wait=false",
    ])
    .unwrap();
    wait_gone(ns, "jfslocal").await;
    times.push(("delete local runtime -> gone".to_owned(), t.elapsed()));
    times
}

/// A missing Secret is a field error naming the option, the Secret and the key; a field
/// JuiceFS ignores is a Warning Event; creating the Secret lets the runtime proceed.
async fn missing_secret(ns: &str) -> Vec<(String, Duration)> {
    let t = Instant::now();
    let mut docs: Vec<Value> = sample()
        .into_iter()
        .filter(|d| d["kind"] != "Secret")
        .collect();
    let secret = sample()
        .into_iter()
        .find(|d| d["kind"] == "Secret")
        .unwrap();
    for d in &mut docs {
        if d["kind"] == "JuiceFSRuntime" {
            d["spec"]["disablePrometheus"] = true.into();
        }
    }
    apply(ns, &docs);
    let c = wait_until("the Validated condition", WAIT, || async {
        let rt = get(ns, "juicefsruntime/jfsdemo").ok_or("no runtime")?;
        rt["status"]["conditions"]
            .as_array()
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c["type"] == "Validated" && c["status"] == "False")
                    .cloned()
            })
            .ok_or(format!("status {}", rt["status"]))
    })
    .await
    .unwrap();
    let message = c["message"].as_str().unwrap();
    assert!(
        message.contains("spec.mounts[0].encryptOptions[metaurl]: secret jfs-secret not found"),
        "{message}"
    );
    assert!(get(ns, "statefulset/jfsdemo-worker").is_none());
    apply(ns, &[secret]);
    // The controller does not watch Secrets and does not requeue a runtime refused by
    // validation (it waits for a change of the runtime or its Dataset; Fluid retries every
    // 20 s): nudge the runtime, as a user editing it would.
    kubectl([
        "annotate",
        "juicefsruntime/jfsdemo",
        "-n",
        ns,
        "e2e.fluid-rs.io/secret-created=true",
    ])
    .unwrap();
    wait_bound(ns, "jfsdemo").await;
    let events = kubectl(["get", "events", "-n", ns, "-o", "json"]).unwrap();
    let events: Value = serde_json::from_str(&events).unwrap();
    let ignored = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "RuntimeFieldsIgnored")
        .expect("a RuntimeFieldsIgnored event");
    assert_eq!(ignored["type"], "Warning");
    assert!(
        ignored["message"]
            .as_str()
            .unwrap()
            .contains("spec.disablePrometheus"),
        "{ignored}"
    );
    let times = vec![(
        "missing Secret -> refused -> Secret -> Bound".to_owned(),
        t.elapsed(),
    )];
    kubectl([
        "delete",
        "juicefsruntime/jfsdemo",
        "-n",
        ns,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap();
    times
}

#[tokio::test(flavor = "multi_thread")]
async fn juicefs_runtimes_reach_bound_scale_roll_mount_and_go() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(common::juicefs_plugin(), plugins.path().join("juicefs.so")).unwrap();
    common::controller::install_crds(plugins.path());
    let logs = tempfile::tempdir().unwrap();
    let controller = Controller::start(plugins.path(), logs.path().join("controller.log"));
    let (a, b, c) = (
        TestNamespace::create("e2e-jfs").await.unwrap(),
        TestNamespace::create("e2e-jfs-data").await.unwrap(),
        TestNamespace::create("e2e-jfs-invalid").await.unwrap(),
    );
    let (na, nb, nc) = (
        a.name().to_owned(),
        b.name().to_owned(),
        c.name().to_owned(),
    );
    let outcome = tokio::spawn(async move {
        let (x, y, z) = tokio::join!(community_sample(&na), data_path(&nb), missing_secret(&nc));
        [x, y, z].concat()
    })
    .await;
    match outcome {
        Ok(times) => {
            for (what, d) in times {
                eprintln!("e2e_juicefs: {what}: {:.1} s", d.as_secs_f64());
            }
        }
        Err(e) => panic!("{e}\n--- controller log ---\n{}", controller.log_tail()),
    }
    drop(controller);
    // What went wrong on the way, even when the test passes (retries, refused hooks).
    let log = std::fs::read_to_string(logs.path().join("controller.log")).unwrap_or_default();
    if let Some(keep) = std::env::var_os("FLUID_RS_E2E_LOG_DIR") {
        let _ = std::fs::write(Path::new(&keep).join("e2e_juicefs-controller.log"), &log);
    }
    for line in log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
    {
        eprintln!("e2e_juicefs: controller: {line}");
    }
    for ns in [a, b, c] {
        let _ = ns.cleanup().await;
    }
}
