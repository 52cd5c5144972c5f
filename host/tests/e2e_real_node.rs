//! End to end on the real node of the local cluster (`FLUID_RS_REAL_NODE=1 tests/cluster/up`:
//! kubelet + containerd): what fluid-rs ships runs as real pods.
//!
//! * `scripts/images` builds the controller, JuiceFS plugin and JuiceFS runtime images from
//!   `docker/` and imports them into the node's containerd;
//! * `helm install charts/fluid-rs -f tests/real-node-values.yaml`: the controller pod runs on
//!   the real node with the JuiceFS plugin copied out of the plugin image by the chart's init
//!   container; its log says it loaded the plugin and leads, it holds the Lease, `kubectl exec`
//!   and `kubectl logs` reach it through the kubelet, and its `/metrics` (through the API
//!   server's pod proxy) count JuiceFSRuntime reconciles;
//! * the chart's CSI node plugin (`fluid-csi`, `csi/`) runs on the real node and the kubelet
//!   registers its driver (the node's CSINode lists `fuse.csi.fluid.io`);
//! * the JuiceFS community sample (`samples/juicefs/community.yaml`), its metadata in a Redis
//!   and its MinIO bucket served by `juicefs gateway` (an S3 server; both run by the test on
//!   this machine at the node's address, which pods reach through the bridge), placed on the
//!   real node: Bound, with the worker pod really running juicefs (its log shows the volume
//!   mounted with its disk cache; `kubectl exec` stats the mount);
//! * a DataLoad of the Dataset runs its Job's pod on the real node: `juicefs warmup` puts the
//!   file's blocks into the worker's disk cache on the host (/cache/<UUID>/raw grows);
//! * an application pod mounts the Dataset's PVC: our plugin's NodeStage labels the node
//!   `fluid.io/f-<ns>-jfsdemo=true`, the fuse DaemonSet pod runs there and its FUSE mount is
//!   live in the host's /proc/mounts under /runtime-mnt/juicefs/<ns>/jfsdemo; NodePublish binds
//!   it into the pod, which reads the file the test wrote into the volume beforehand;
//! * deleting the pod unpublishes (its bind leaves the host); deleting the runtime and the
//!   Dataset removes the pods, the mount and the node label.
//!
//! Without a real node in the cluster the test says so and passes, unless
//! `FLUID_RS_REAL_NODE=1` is set (scripts/test, CI): then a missing node fails it.

mod common;

use common::objects::{apply, get, wait_bound, WAIT};
use fluid_test_support::{helm, kubectl, wait_until, TestNamespace};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// The real node's label and taint key (tests/cluster/node.bash).
const REAL_NODE: &str = "fluid-rs.io/real-node";
const SAMPLE: &str = "jfsdemo";

struct RealNode {
    name: String,
    ip: String,
}

/// The real node of the cluster, if it has one.
fn real_node() -> Option<RealNode> {
    let out = kubectl([
        "get",
        "nodes",
        "-l",
        &format!("{REAL_NODE}=true"),
        "-o",
        "json",
    ])
    .expect("kubectl get nodes");
    let list: Value = serde_json::from_str(&out).expect("node list JSON");
    let node = list["items"].as_array()?.first()?.clone();
    let ip = node["status"]["addresses"]
        .as_array()?
        .iter()
        .find(|a| a["type"] == "InternalIP")?["address"]
        .as_str()?
        .to_owned();
    Some(RealNode {
        name: node["metadata"]["name"].as_str()?.to_owned(),
        ip,
    })
}

/// A process the test runs on this machine, killed when dropped.
struct Background {
    child: Child,
    log: PathBuf,
}

impl Background {
    fn start(mut cmd: Command, log: PathBuf) -> Background {
        let file = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        Background { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `addr` accepts TCP connections (or the process exited).
async fn wait_listening(what: &str, addr: &str, process: &mut Background) {
    wait_until(&format!("{what} listening on {addr}"), WAIT, || {
        let exited = process.child.try_wait().ok().flatten();
        let log = process.log();
        async move {
            if let Some(status) = exited {
                return Err(format!("it exited ({status}):\n{log}"));
            }
            std::net::TcpStream::connect(addr)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await
    .unwrap();
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .expect("a free port on the node's address")
        .local_addr()
        .expect("local address")
        .port()
}

/// The juicefs client `scripts/install-test-deps` installs (its path is the last line).
fn juicefs_binary() -> PathBuf {
    let out = Command::new(common::workspace_root().join("scripts/install-test-deps"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running scripts/install-test-deps");
    assert!(out.status.success(), "scripts/install-test-deps failed");
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("install-test-deps printed the juicefs path")
            .trim(),
    )
}

/// Metadata (Redis) and object storage (`juicefs gateway`, MinIO's S3 API over a local
/// JuiceFS volume whose name, `test`, is the sample's bucket) at the node's address.
struct Storage {
    /// The juicefs client on this machine.
    jfs: PathBuf,
    metaurl: String,
    bucket: String,
    /// What the volume's /demo/hello.txt holds.
    greeting: String,
    _redis: Background,
    _gateway: Background,
    _dir: tempfile::TempDir,
}

async fn start_storage(ip: &str, jfs: &Path) -> Storage {
    let dir = tempfile::Builder::new()
        .prefix("real-node-storage-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let redis_port = free_port(ip);
    let mut redis_cmd = Command::new("redis-server");
    redis_cmd
        .args(["--bind", ip, "--port", &redis_port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .current_dir(dir.path());
    let mut redis = Background::start(redis_cmd, dir.path().join("redis.log"));
    let redis_addr = format!("{ip}:{redis_port}");
    wait_listening("redis", &redis_addr, &mut redis).await;

    let gateway_meta = format!("redis://{redis_addr}/2");
    let out = Command::new(jfs)
        .args(["format", "--storage", "file", "--bucket"])
        .arg(dir.path().join("objects/"))
        .args([&gateway_meta, "test"])
        .output()
        .expect("juicefs format");
    assert!(
        out.status.success(),
        "juicefs format of the gateway's volume: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gateway_addr = format!("{ip}:{}", free_port(ip));
    let mut gw_cmd = Command::new(jfs);
    gw_cmd
        .args(["gateway", &gateway_meta, &gateway_addr, "--no-usage-report"])
        // The sample's access and secret keys.
        .env("MINIO_ROOT_USER", "minioadmin")
        .env("MINIO_ROOT_PASSWORD", "minioadmin");
    let mut gateway = Background::start(gw_cmd, dir.path().join("gateway.log"));
    wait_listening("juicefs gateway", &gateway_addr, &mut gateway).await;
    let metaurl = format!("redis://{redis_addr}/1");
    let bucket = format!("http://{gateway_addr}/minio/test");

    // The sample mounts the volume's /demo (`juicefs:///demo`) read-only: as a user's volume
    // would, it exists and holds data (a read-only mount cannot create it). Formatted as the
    // worker formats it (the worker's format then finds it), filled through a mount here.
    let greeting = format!(
        "hello from {} at {:?}",
        dir.path().display(),
        Instant::now()
    );
    let juicefs = |args: &[&str]| {
        let out = Command::new(jfs)
            .args(args)
            .output()
            .expect("running juicefs");
        assert!(
            out.status.success(),
            "juicefs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    juicefs(&[
        "format",
        "--access-key=minioadmin",
        "--secret-key=minioadmin",
        "--storage=minio",
        &format!("--bucket={bucket}"),
        &metaurl,
        "minio",
    ]);
    let fill = dir.path().join("fill");
    let fill_path = fill.to_str().expect("utf-8 path");
    juicefs(&[
        "mount",
        "--background",
        "--no-usage-report",
        &metaurl,
        fill_path,
    ]);
    std::fs::create_dir_all(fill.join("demo")).expect("mkdir /demo in the volume");
    std::fs::write(fill.join("demo/hello.txt"), &greeting).expect("writing /demo/hello.txt");
    juicefs(&["umount", fill_path]);

    Storage {
        jfs: jfs.to_path_buf(),
        metaurl,
        bucket,
        greeting,
        _redis: redis,
        _gateway: gateway,
        _dir: dir,
    }
}

/// The community sample with this machine's Redis and bucket, placed on the real node: the
/// Dataset's tolerations reach the workers (as in Fluid), the runtime pins them to the node.
fn sample(storage: &Storage) -> String {
    let text =
        std::fs::read_to_string(common::workspace_root().join("samples/juicefs/community.yaml"))
            .expect("the community sample");
    let mut docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| Option::<Value>::deserialize(d).ok().flatten())
        .collect();
    for d in &mut docs {
        match d["kind"].as_str() {
            Some("Secret") => d["stringData"]["metaurl"] = storage.metaurl.clone().into(),
            Some("Dataset") => {
                d["spec"]["mounts"][0]["options"]["bucket"] = storage.bucket.clone().into();
                d["spec"]["tolerations"] =
                    json!([{"key": REAL_NODE, "operator": "Exists", "effect": "NoSchedule"}]);
            }
            Some("JuiceFSRuntime") => {
                d["spec"]["worker"]["nodeSelector"] = json!({REAL_NODE: "true"});
            }
            _ => {}
        }
    }
    docs.iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).expect("YAML")))
        .collect()
}

/// The pods matching `selector`, as JSON.
fn pods(ns: &str, selector: &str) -> Vec<Value> {
    let out = kubectl(["get", "pods", "-n", ns, "-l", selector, "-o", "json"]).unwrap_or_default();
    serde_json::from_str::<Value>(&out)
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}

fn condition_time(pod: &Value, kind: &str) -> Option<String> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_owned))
}

/// Waits for the one pod matching `selector` to be Ready on `node`; returns its name and the
/// seconds from its creation to Ready (the API's timestamps have second resolution).
async fn wait_pod_ready(ns: &str, selector: &str, node: &str) -> (String, i64) {
    let pod = wait_until(
        &format!("a Ready pod {selector} on {node}"),
        WAIT,
        || async {
            let pods = pods(ns, selector);
            let pod = pods.first().ok_or("no pod yet")?;
            let phase = pod["status"]["phase"].as_str().unwrap_or_default();
            let waiting: Vec<String> = pod["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .chain(pod["status"]["initContainerStatuses"].as_array())
                .flatten()
                .filter_map(|c| c["state"]["waiting"]["reason"].as_str().map(str::to_owned))
                .collect();
            match condition_time(pod, "Ready") {
                Some(_) => Ok(pod.clone()),
                None => Err(format!("phase {phase}, waiting: {waiting:?}")),
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(
        pod["spec"]["nodeName"], node,
        "the pod runs on the real node"
    );
    let created = pod["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or_default();
    let ready = condition_time(&pod, "Ready").unwrap_or_default();
    let seconds = seconds_between(created, &ready);
    (
        pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        seconds,
    )
}

/// Seconds between two RFC 3339 timestamps of the API (`2026-11-26T03:00:00Z`).
fn seconds_between(from: &str, to: &str) -> i64 {
    let secs = |t: &str| -> i64 {
        let t = t.trim_end_matches('Z');
        let (date, time) = t.split_once('T').unwrap_or_default();
        let d: Vec<i64> = date.split('-').filter_map(|x| x.parse().ok()).collect();
        let h: Vec<i64> = time.split(':').filter_map(|x| x.parse().ok()).collect();
        if d.len() != 3 || h.len() != 3 {
            return 0;
        }
        // Days from the civil date (Howard Hinnant's algorithm), enough for differences.
        let (y, m) = if d[1] <= 2 {
            (d[0] - 1, d[1] + 9)
        } else {
            (d[0], d[1] - 3)
        };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5 + d[2] - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        (era * 146097 + doe) * 86400 + h[0] * 3600 + h[1] * 60 + h[2]
    };
    secs(to) - secs(from)
}

/// Seconds since `t`, as the test prints its figures.
fn took(t: Instant) -> String {
    format!("{:.1} s", t.elapsed().as_secs_f64())
}

/// Waits until `kubectl logs` of `pod` (`args` pick the container) holds every one of
/// `needles`; returns the log.
async fn wait_log(ns: &str, pod: &str, args: &[&str], needles: &[&str]) -> String {
    wait_until(
        &format!("the log of {pod} to show {needles:?}"),
        WAIT,
        || async {
            let mut cmd = vec!["logs", "-n", ns, pod];
            cmd.extend_from_slice(args);
            let log = kubectl(cmd).map_err(|e| e.to_string())?;
            if needles.iter().all(|n| log.contains(n)) {
                Ok(log)
            } else {
                Err(format!("log so far:\n{log}"))
            }
        },
    )
    .await
    .unwrap()
}

/// The FUSE mounts of this machine under `prefix` (mount point, file system type).
fn host_mounts(prefix: &str) -> Vec<(String, String)> {
    std::fs::read_to_string("/proc/mounts")
        .expect("/proc/mounts")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[1].starts_with(prefix)).then(|| (f[1].to_owned(), f[2].to_owned()))
        })
        .collect()
}

/// What went on in the namespace, for a failing step.
fn diagnose(ns: &str) -> String {
    let mut out = String::new();
    for args in [
        vec!["get", "pods", "-n", ns, "-o", "wide"],
        vec!["describe", "pods", "-n", ns],
        vec!["get", "events", "-n", ns, "--sort-by=.lastTimestamp"],
        vec![
            "logs",
            "-n",
            ns,
            "-l",
            "app.kubernetes.io/name=fluid-rs",
            "--tail=60",
            "--all-containers",
        ],
        vec!["logs", "-n", ns, "-l", "app=juicefs", "--tail=40"],
    ] {
        out.push_str(&format!("--- kubectl {}\n", args.join(" ")));
        match kubectl(args) {
            Ok(s) => out.push_str(&s),
            Err(e) => out.push_str(&e.to_string()),
        }
    }
    out
}

/// Undoes what the test did to the cluster, also when it fails half-way.
struct Cleanup {
    ns: String,
    release: String,
    node: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // The application pod first, while the CSI plugin still runs to unpublish it.
        let _ = kubectl([
            "delete",
            "pod",
            "real-node-reader",
            "-n",
            &self.ns,
            "--ignore-not-found",
            "--timeout=60s",
        ]);
        let label = format!("fluid.io/f-{}-{SAMPLE}-", self.ns);
        let _ = kubectl(["label", "node", &self.node, &label]);
        let _ = kubectl([
            "delete",
            "juicefsruntime,dataset",
            "--all",
            "-n",
            &self.ns,
            "--wait=false",
        ]);
        let _ = helm(["uninstall", &self.release, "-n", &self.ns, "--wait"]);
    }
}

/// The volume's disk cache on the host (the sample's tiered store is the hostPath /cache;
/// juicefs keeps each volume under /cache/<UUID>).
fn cache_dir(jfs: &Path, metaurl: &str) -> Option<PathBuf> {
    let out = Command::new(jfs).args(["status", metaurl]).output().ok()?;
    let status: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let uuid = status["Setting"]["UUID"]
        .as_str()
        .filter(|u| !u.is_empty())?;
    Some(Path::new("/cache").join(uuid))
}

/// The bytes of the blocks in the volume's disk cache (its `raw` directory).
fn cached_bytes(jfs: &Path, metaurl: &str) -> u64 {
    fn size(p: &Path) -> u64 {
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| size(&e.path()))
                .sum(),
            Ok(m) => m.len(),
            Err(_) => 0,
        }
    }
    cache_dir(jfs, metaurl).map_or(0, |d| size(&d.join("raw")))
}

/// Removes the volume's disk cache the workers left on the host.
fn remove_cache(jfs: &Path, metaurl: &str) {
    if let Some(dir) = cache_dir(jfs, metaurl) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A DataLoad of the whole Dataset, with its metadata, tolerating the real node's taint (the
/// pod goes where the worker is).
fn dataload(ns: &str) -> String {
    serde_yaml::to_string(&json!({
        "apiVersion": "data.fluid.io/v1alpha1",
        "kind": "DataLoad",
        "metadata": {"name": "jfsdemo-warmup"},
        "spec": {
            "dataset": {"name": SAMPLE, "namespace": ns},
            "loadMetadata": true,
            "target": [{"path": "/"}],
            "tolerations": [{"key": REAL_NODE, "operator": "Exists", "effect": "NoSchedule"}],
        },
    }))
    .expect("YAML")
}

/// The references `scripts/images` printed, by what they are.
struct Images {
    /// The JuiceFS runtime image (the engine's default name).
    juicefs: String,
}

impl Images {
    fn from_refs(refs: &[String]) -> Images {
        let find = |part: &str| {
            refs.iter()
                .find(|r| r.contains(part))
                .unwrap_or_else(|| panic!("scripts/images printed no {part} image: {refs:?}"))
                .clone()
        };
        for part in ["fluid-controller", "plugin-juicefs", "fluid-csi"] {
            find(part);
        }
        Images {
            juicefs: find("juicedata/mount"),
        }
    }
}

/// Builds the images and imports them into the node: their references.
fn build_images() -> Vec<String> {
    let out = Command::new(common::workspace_root().join("scripts/images"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running scripts/images");
    assert!(out.status.success(), "scripts/images failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chart_and_the_juicefs_sample_run_on_the_real_node() {
    let Some(node) = real_node() else {
        assert_ne!(
            std::env::var("FLUID_RS_REAL_NODE").as_deref(),
            Ok("1"),
            "FLUID_RS_REAL_NODE=1 but the cluster has no node labelled {REAL_NODE}=true"
        );
        eprintln!(
            "e2e_real_node: skipped: the cluster has no real node (FLUID_RS_REAL_NODE=1 tests/cluster/up)"
        );
        return;
    };
    let mut times: Vec<(String, String)> = vec![];
    let t = Instant::now();
    let refs = build_images();
    times.push(("scripts/images".into(), took(t)));
    let images = Images::from_refs(&refs);

    let jfs = juicefs_binary();
    let storage = start_storage(&node.ip, &jfs).await;
    let namespace = TestNamespace::create("real-node").await.unwrap();
    let ns = namespace.name().to_owned();
    let release = ns.clone();
    let _cleanup = Cleanup {
        ns: ns.clone(),
        release: release.clone(),
        node: node.name.clone(),
    };
    let outcome = tokio::spawn({
        let ns = ns.clone();
        async move {
            let times = run(&ns, &release, &node, &storage, &images).await;
            (times, storage)
        }
    })
    .await;
    let storage = match outcome {
        Ok((more, storage)) => {
            times.extend(more);
            storage
        }
        Err(e) => panic!("{e}\n{}", diagnose(&ns)),
    };
    for (what, figure) in times {
        eprintln!("e2e_real_node: {what}: {figure}");
    }
    drop(_cleanup);
    remove_cache(&jfs, &storage.metaurl);
    drop(storage);
    namespace.cleanup().await.unwrap();
}

async fn run(
    ns: &str,
    release: &str,
    node: &RealNode,
    storage: &Storage,
    images: &Images,
) -> Vec<(String, String)> {
    let mut times = vec![];
    let root = common::workspace_root();

    // The chart, with the plugin delivered by its init container.
    let t = Instant::now();
    helm([
        "install",
        release,
        root.join("charts/fluid-rs").to_str().unwrap(),
        "-n",
        ns,
        "-f",
        root.join("tests/real-node-values.yaml").to_str().unwrap(),
    ])
    .unwrap();
    // The controller's pods (the CSI plugin's carry a component label).
    let selector = format!(
        "app.kubernetes.io/name=fluid-rs,app.kubernetes.io/instance={release},!app.kubernetes.io/component"
    );
    let (controller, start) = wait_pod_ready(ns, &selector, &node.name).await;
    times.push(("helm install -> controller pod Ready".into(), took(t)));
    times.push((
        "controller pod created -> Ready (API timestamps)".into(),
        format!("{start} s"),
    ));

    let fullname = format!("{release}-fluid-rs");
    let log = wait_log(
        ns,
        &controller,
        &["-c", "controller"],
        &["loaded plugin", "juicefs", "became leader"],
    )
    .await;
    assert!(
        log.contains("JuiceFSRuntime"),
        "the plugin's kind is in the log:\n{log}"
    );
    let lease = get(ns, &format!("lease/{fullname}")).expect("the leader Lease");
    assert_eq!(
        lease["spec"]["holderIdentity"],
        controller.as_str(),
        "{lease}"
    );
    let plugins = kubectl([
        "exec",
        "-n",
        ns,
        &controller,
        "-c",
        "controller",
        "--",
        "/usr/local/bin/busybox",
        "ls",
        "/plugins/juicefs",
    ])
    .unwrap();
    assert!(
        plugins.contains("libfluid_juicefs.so"),
        "exec: ls /plugins/juicefs: {plugins}"
    );

    // The CSI node plugin runs on the real node and registered itself with the kubelet.
    let csi_selector =
        format!("app.kubernetes.io/instance={release},app.kubernetes.io/component=csi-nodeplugin");
    let (_csi, csi_start) = wait_pod_ready(ns, &csi_selector, &node.name).await;
    times.push((
        "CSI plugin pod created -> Ready (API timestamps)".into(),
        format!("{csi_start} s"),
    ));
    wait_until(
        "the kubelet to register fuse.csi.fluid.io",
        WAIT,
        || async {
            let csinode = get("", &format!("csinode/{}", node.name)).ok_or("no CSINode yet")?;
            let drivers = csinode["spec"]["drivers"].clone();
            drivers
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["name"] == "fuse.csi.fluid.io" && d["nodeID"] == node.name.as_str())
                .then_some(())
                .ok_or(format!("CSINode drivers: {drivers}"))
        },
    )
    .await
    .unwrap();

    // The community sample on the real node.
    let t = Instant::now();
    apply(ns, &sample(storage));
    wait_bound(ns, SAMPLE).await.unwrap();
    times.push(("sample applied -> Bound".into(), took(t)));
    let worker_selector = format!("app=juicefs,release={SAMPLE},role=juicefs-worker");
    let (worker, worker_start) = wait_pod_ready(ns, &worker_selector, &node.name).await;
    times.push((
        "worker pod created -> Ready (API timestamps)".into(),
        format!("{worker_start} s"),
    ));
    let mount_path = format!("/runtime-mnt/juicefs/{ns}/{SAMPLE}/juicefs-fuse");
    let worker_log = wait_log(ns, &worker, &[], &["is ready at"]).await;
    assert!(
        worker_log.contains(&mount_path),
        "the mount point:\n{worker_log}"
    );
    assert!(
        worker_log.contains("Disk cache (/cache/"),
        "the cache:\n{worker_log}"
    );
    let inode = kubectl([
        "exec",
        "-n",
        ns,
        &worker,
        "--",
        "stat",
        "-c",
        "%i",
        &mount_path,
    ])
    .unwrap();
    assert_eq!(inode.trim(), "1", "the worker's mount is the volume's root");

    let metrics = kubectl([
        "get",
        "--raw",
        &format!("/api/v1/namespaces/{ns}/pods/{controller}:8080/proxy/metrics"),
    ])
    .unwrap();
    assert!(
        metrics.contains(r#"fluid_reconciles_total{kind="JuiceFSRuntime"}"#),
        "the controller's /metrics count JuiceFSRuntime reconciles:\n{metrics}"
    );

    // A DataLoad of the Dataset runs as a real pod on the node: `juicefs warmup` puts the
    // file's blocks into the disk cache the worker serves from (the hostPath /cache).
    let t = Instant::now();
    let before = cached_bytes(&storage.jfs, &storage.metaurl);
    apply(ns, &dataload(ns));
    let load = wait_until("DataLoad jfsdemo-warmup Complete", WAIT, || async {
        let o = get(ns, "dataload/jfsdemo-warmup").ok_or("no DataLoad")?;
        match o["status"]["phase"].as_str() {
            Some("Complete") => Ok(o),
            Some("Failed") => panic!("the DataLoad failed: {:#}", o["status"]),
            _ => Err(format!("status {}", o["status"])),
        }
    })
    .await
    .unwrap();
    times.push(("DataLoad applied -> Complete".into(), took(t)));
    let load_pods = pods(ns, "job-name=jfsdemo-warmup-load");
    let load_pod = load_pods
        .iter()
        .find(|p| p["status"]["phase"] == "Succeeded")
        .unwrap_or_else(|| {
            panic!("no Succeeded pod of the DataLoad's Job: {load_pods:#?}\n{load:#}")
        });
    assert_eq!(
        load_pod["spec"]["nodeName"],
        node.name.as_str(),
        "the DataLoad's pod ran on the real node"
    );
    let load_log = kubectl([
        "logs",
        "-n",
        ns,
        load_pod["metadata"]["name"].as_str().unwrap_or_default(),
    ])
    .unwrap_or_default();
    let after = cached_bytes(&storage.jfs, &storage.metaurl);
    assert!(
        after >= before + storage.greeting.len() as u64,
        "the warmup cached the file's {} bytes: {before} -> {after} bytes in the cache\n{load_log}",
        storage.greeting.len()
    );
    times.push((
        "DataLoad: bytes in the worker's disk cache".into(),
        format!("{before} -> {after}"),
    ));

    // An application pod mounts the Dataset's PVC: the kubelet calls our CSI plugin, whose
    // NodeStage labels the node, so the engine's fuse DaemonSet starts there; NodePublish binds
    // the fuse's mount into the pod once it is live.
    let t = Instant::now();
    apply(ns, &app_pod(&images.juicefs));
    let (_app, app_start) = wait_pod_ready(ns, "app=real-node-reader", &node.name).await;
    times.push((
        "application pod applied -> Ready (stage, fuse pod, publish)".into(),
        took(t),
    ));
    times.push((
        "application pod created -> Ready (API timestamps)".into(),
        format!("{app_start} s"),
    ));
    let label = format!("fluid.io/f-{ns}-{SAMPLE}");
    let labels = get("", &format!("node/{}", node.name)).expect("the real node")["metadata"]
        ["labels"]
        .clone();
    assert_eq!(
        labels[&label], "true",
        "NodeStage labelled the node: {labels}"
    );
    let fuse_selector = format!("app=juicefs,release={SAMPLE},role=juicefs-fuse");
    let (fuse, fuse_start) = wait_pod_ready(ns, &fuse_selector, &node.name).await;
    times.push((
        "fuse pod created -> Ready (API timestamps)".into(),
        format!("{fuse_start} s"),
    ));
    let mounts = host_mounts(&mount_path);
    assert!(
        mounts
            .iter()
            .any(|(p, fstype)| *p == mount_path && fstype == "fuse.juicefs"),
        "the fuse pod's FUSE mount is in the host's /proc/mounts: {mounts:?}"
    );
    // The mount is live: the volume's data, and juicefs's statistics file, read on the host.
    let hello = std::fs::read_to_string(Path::new(&mount_path).join("hello.txt"))
        .expect("reading hello.txt through the fuse pod's mount");
    assert_eq!(hello, storage.greeting);
    let stats = std::fs::read_to_string(Path::new(&mount_path).join(".stats"))
        .expect("reading .stats through the FUSE mount");
    assert!(stats.contains("juicefs_"), "{stats}");
    let fuse_log = kubectl(["logs", "-n", ns, &fuse]).unwrap_or_default();
    assert!(
        fuse_log.contains("is ready at"),
        "the fuse pod's juicefs mounted the volume:\n{fuse_log}"
    );
    // The application reads the file through the PVC (its log and an exec), on a bind our
    // plugin made under the kubelet's pod directory.
    let app_log = wait_log(ns, "real-node-reader", &[], &[&storage.greeting]).await;
    assert!(app_log.contains(&storage.greeting), "{app_log}");
    let seen = kubectl([
        "exec",
        "-n",
        ns,
        "real-node-reader",
        "--",
        "cat",
        "/data/hello.txt",
    ])
    .unwrap();
    assert_eq!(
        seen.trim_end(),
        storage.greeting,
        "the application pod reads the file"
    );
    let app_uid = get(ns, "pod/real-node-reader").expect("the application pod")["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let pod_volumes = format!("/var/lib/kubelet/pods/{app_uid}/volumes/kubernetes.io~csi/");
    let binds = host_mounts(&pod_volumes);
    assert!(
        binds.iter().any(|(_, fstype)| fstype == "fuse.juicefs"),
        "NodePublish bound the fuse mount into the pod's volume: {binds:?}"
    );
    let seen = kubectl([
        "exec",
        "-n",
        ns,
        &worker,
        "--",
        "cat",
        &format!("{mount_path}/hello.txt"),
    ])
    .unwrap();
    assert_eq!(seen, storage.greeting, "the worker pod reads the same file");

    // Deleting the application pod unpublishes: its bind is gone from the host.
    let t = Instant::now();
    kubectl(["delete", "pod", "real-node-reader", "-n", ns, "--wait=true"]).unwrap();
    wait_until(
        "the application pod's bind to be unmounted",
        WAIT,
        || async {
            let binds = host_mounts(&pod_volumes);
            if binds.is_empty() {
                Ok(())
            } else {
                Err(format!("still mounted: {binds:?}"))
            }
        },
    )
    .await
    .unwrap();
    times.push(("application pod deleted -> unpublished".into(), took(t)));

    // Deleting the runtime and the Dataset removes the pods, the mount and the node label.
    let t = Instant::now();
    kubectl(["delete", "juicefsruntime", SAMPLE, "-n", ns, "--wait=false"]).unwrap();
    kubectl(["delete", "dataset", SAMPLE, "-n", ns, "--wait=false"]).unwrap();
    let prefix = format!("/runtime-mnt/juicefs/{ns}/");
    wait_until(
        "the JuiceFS pods, the mount and the node label to be gone",
        WAIT,
        || async {
            let left = pods(ns, &format!("app=juicefs,release={SAMPLE}"));
            let mounts = host_mounts(&prefix);
            let labelled = get("", &format!("node/{}", node.name))
                .map(|n| !n["metadata"]["labels"][&label].is_null())
                .unwrap_or(true);
            if left.is_empty()
                && mounts.is_empty()
                && !labelled
                && get(ns, &format!("dataset/{SAMPLE}")).is_none()
            {
                Ok(())
            } else {
                Err(format!(
                    "{} pods, mounts {mounts:?}, node labelled: {labelled}",
                    left.len()
                ))
            }
        },
    )
    .await
    .unwrap();
    times.push(("delete -> pods, mount and label gone".into(), took(t)));
    times
}

/// A pod on the real node that mounts the Dataset's PVC and prints the file the test wrote
/// into the volume (then stays, for `kubectl exec`). Its image is the JuiceFS runtime's (a
/// Debian with coreutils, imported by scripts/images).
fn app_pod(image: &str) -> String {
    serde_yaml::to_string(&json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "real-node-reader", "labels": {"app": "real-node-reader"}},
        "spec": {
            "nodeSelector": {REAL_NODE: "true"},
            "tolerations": [{"key": REAL_NODE, "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "reader",
                "image": image,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", "cat /data/hello.txt && echo && exec sleep infinity"],
                "volumeMounts": [{"name": "data", "mountPath": "/data",
                                  "mountPropagation": "HostToContainer"}],
            }],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": SAMPLE}}],
        },
    }))
    .expect("YAML")
}
