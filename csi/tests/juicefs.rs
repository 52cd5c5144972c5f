//! The data path end to end, with the real juicefs client (`scripts/install-test-deps`), real
//! FUSE and bind mounts, and the test cluster's API server:
//!
//! * a JuiceFS volume (SQLite metadata, a directory as object storage) is mounted by
//!   `juicefs mount` at the volume's `fluid_path`, as the engine's fuse pod does;
//! * fluid-csi stages it (the Node gets the fuse label) and publishes it into kubelet-shaped
//!   target directories (read-write, read-only, a sub path); a file reads back through them;
//! * the whole fuse is killed (SIGKILL to juicefs's process group, as when its container dies)
//!   and mounted again, three times, once across a restart of the plugin: the recovery loop
//!   makes the same targets readable again without a new publish, the read-only target stays
//!   read-only, the stacked binds stay within their bound, and Events land on the Dataset;
//! * unstage refuses to release the node while a target is mounted; unpublish leaves no mount
//!   and no directory; unstage (clean policy OnDemand) removes the node label.
//!
//! The plugin authenticates as the chart's ServiceAccount with the chart's ClusterRole, so the
//! RBAC is proven sufficient by use.
//!
//! Needs root and FUSE; without them the test says why and passes without running.

mod common;

use common::{ChartRbac, Plugin};
use fluid_csi::csi::node_client::NodeClient;
use fluid_csi::csi::volume_capability::access_mode::Mode;
use fluid_csi::csi::volume_capability::{AccessMode, AccessType, MountVolume};
use fluid_csi::csi::*;
use fluid_csi::mountinfo::MountTable;
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const MAX_STACKED: usize = 3;
const PAYLOAD: &str = "read through fluid-csi\n";

/// A JuiceFS file system on local storage and its `juicefs mount` process.
struct JuiceFs {
    bin: PathBuf,
    meta: String,
    dir: PathBuf,
    mountpoint: PathBuf,
    child: Option<Child>,
    mounts: u32,
    dev: Option<String>,
}

impl JuiceFs {
    fn format(bin: &Path, dir: &Path, mountpoint: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let meta = format!("sqlite3://{}", dir.join("meta.db").display());
        let out = Command::new(bin)
            .args(["format", "--storage", "file", "--bucket"])
            .arg(format!("{}/", dir.join("bucket").display()))
            .args([meta.as_str(), "csivol"])
            .output()
            .expect("juicefs format");
        assert!(
            out.status.success(),
            "juicefs format: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::create_dir_all(mountpoint).unwrap();
        Self {
            bin: bin.to_owned(),
            meta,
            dir: dir.to_owned(),
            mountpoint: mountpoint.to_owned(),
            child: None,
            mounts: 0,
            dev: None,
        }
    }

    /// Mounts (in the foreground, its own process group) and waits until the mount answers.
    async fn mount(&mut self) -> Duration {
        self.mounts += 1;
        let log =
            std::fs::File::create(self.dir.join(format!("mount-{}.log", self.mounts))).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let start = Instant::now();
        let child = Command::new(&self.bin)
            .args(["mount", "--no-usage-report", "--no-bgjob", "--metrics"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .arg(&self.meta)
            .arg(&self.mountpoint)
            .env("JFS_NO_AGENT", "1")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("juicefs mount");
        self.child = Some(child);
        // Mounted means: a new JuiceFS file system (a new device number) at the mount point,
        // answering statfs (a stat may be answered from the kernel's cache of the dead one).
        loop {
            let top = MountTable::read().unwrap().top(&self.mountpoint).cloned();
            let fresh =
                top.is_some_and(|m| m.has_type("JuiceFS") && Some(&m.dev) != self.dev.as_ref());
            if fresh && nix::sys::statvfs::statvfs(&self.mountpoint).is_ok() {
                self.dev = MountTable::read()
                    .unwrap()
                    .top(&self.mountpoint)
                    .map(|m| m.dev.clone());
                return start.elapsed();
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("juicefs mount exited ({status}) before mounting");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "juicefs not mounted after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the fuse the way a dying container does: every process, no unmount.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

impl Drop for JuiceFs {
    fn drop(&mut self) {
        self.kill();
        let _ = nix::mount::umount2(&self.mountpoint, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn capability(mode: Mode) -> VolumeCapability {
    VolumeCapability {
        access_mode: Some(AccessMode { mode: mode as i32 }),
        access_type: Some(AccessType::Mount(MountVolume::default())),
    }
}

fn errno(e: &std::io::Error) -> Option<nix::errno::Errno> {
    e.raw_os_error().map(nix::errno::Errno::from_raw)
}

/// Polls until `path` reads `want`; returns how long it took.
async fn wait_reads(path: &Path, want: &str, timeout: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let got = std::fs::read_to_string(path);
        match &got {
            Ok(text) if text == want => return Ok(start.elapsed()),
            _ if start.elapsed() > timeout => return Err(format!("{}: {got:?}", path.display())),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn stacked(path: &Path) -> usize {
    MountTable::read().unwrap().stack(path).len()
}

/// Detaches every mount under a directory when dropped, so a failing test leaves none.
struct MountsUnder(PathBuf);

impl Drop for MountsUnder {
    fn drop(&mut self) {
        let prefix = format!("{}/", self.0.display());
        for _ in 0..10 {
            let Ok(table) = MountTable::read() else {
                return;
            };
            let mut left: Vec<&str> = table
                .mounts()
                .iter()
                .map(|m| m.mount_point.as_str())
                .filter(|p| p.starts_with(&prefix))
                .collect();
            if left.is_empty() {
                return;
            }
            left.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for point in left {
                let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

/// Cluster-scoped objects of the test, deleted even when it fails.
struct ClusterScoped(Vec<String>);

impl Drop for ClusterScoped {
    fn drop(&mut self) {
        let mut args = vec!["delete", "--ignore-not-found", "--wait=false"];
        args.extend(self.0.iter().map(String::as_str));
        let _ = fluid_test_support::kubectl(args);
    }
}

struct Volume {
    id: String,
    context: HashMap<String, String>,
}

async fn publish(
    node: &mut NodeClient<Channel>,
    v: &Volume,
    target: &Path,
    mode: Mode,
    ctx: &HashMap<String, String>,
) {
    let started = Instant::now();
    node.node_publish_volume(NodePublishVolumeRequest {
        volume_id: v.id.clone(),
        staging_target_path: String::new(),
        target_path: target.display().to_string(),
        volume_capability: Some(capability(mode)),
        readonly: false,
        volume_context: ctx.clone(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("publish {}: {e}", target.display()));
    eprintln!(
        "publish {}: {:?}",
        target.file_name().unwrap_or_default().to_string_lossy(),
        started.elapsed()
    );
}

async fn unpublish(node: &mut NodeClient<Channel>, v: &Volume, target: &Path) {
    node.node_unpublish_volume(NodeUnpublishVolumeRequest {
        volume_id: v.id.clone(),
        target_path: target.display().to_string(),
    })
    .await
    .unwrap_or_else(|e| panic!("unpublish {}: {e}", target.display()));
}

async fn node_label(nodes: &Api<Node>, node: &str, key: &str) -> Option<String> {
    let n = nodes.get(node).await.unwrap();
    n.metadata.labels.unwrap_or_default().get(key).cloned()
}

#[tokio::test]
async fn juicefs_volume_is_published_recovered_and_released() {
    if let Some(why) = fluid_test_support::fuse_unavailable() {
        eprintln!("SKIPPED: FUSE mounts are impossible here: {why}");
        return;
    }
    let jfs_bin = fluid_test_support::juicefs_binary()
        .expect("the juicefs client is not installed: run scripts/install-test-deps");
    let test_start = Instant::now();

    // The cluster side: a Dataset (Events), a Node to label, the PV as the controller writes it.
    let ns = fluid_test_support::TestNamespace::create("csi-jfs")
        .await
        .unwrap();
    let crds = fluid_test_support::repo_root().join("charts/fluid-rs/crds/fluid-rs.yaml");
    let crds = crds.to_str().unwrap();
    fluid_test_support::kubectl(["apply", "--server-side", "--force-conflicts", "-f", crds])
        .unwrap();
    fluid_test_support::kubectl([
        "wait",
        "--for=condition=Established",
        "-f",
        crds,
        "--timeout=60s",
    ])
    .unwrap();
    let dataset = format!(
        "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {{name: jfs, namespace: {}}}\n\
         spec: {{mounts: [{{name: jfs, mountPoint: 'juicefs:///'}}]}}\n",
        ns.name()
    );
    let ds_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ds_file.path(), dataset).unwrap();
    fluid_test_support::kubectl(["apply", "-f", ds_file.path().to_str().unwrap()]).unwrap();

    let client = ns.client();
    let nodes: Api<Node> = Api::all(client.clone());
    let node_name = fluid_test_support::unique_name("csi-node");
    let node: Node =
        serde_json::from_value(serde_json::json!({"metadata": {"name": node_name}})).unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let mut cluster_scoped = ClusterScoped(vec![format!("node/{node_name}")]);

    let work = tempfile::Builder::new()
        .prefix("fluid-csi-jfs-")
        .tempdir_in("/tmp")
        .unwrap();
    let root = work.path();
    let _unmount = MountsUnder(root.to_owned());
    let kubelet = root.join("kubelet");
    let fluid_path = root.join(format!(
        "runtime-mnt/juicefs/{}/jfs/juicefs-fuse",
        ns.name()
    ));
    let label_key = format!("fluid.io/f-{}-jfs", ns.name());
    let pv_name = format!("{}-jfs", ns.name());
    let context: HashMap<String, String> = [
        ("fluid_path", fluid_path.display().to_string()),
        ("mount_type", "JuiceFS".to_owned()),
        ("runtime_namespace", ns.name().to_owned()),
        ("runtime_name", "jfs".to_owned()),
        ("mount_pod_node_selector_key", label_key.clone()),
        ("fuse_clean_policy", "OnDemand".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
        "metadata": { "name": pv_name, "labels": { "fuse.runtime.fluid.io/generation": "1" } },
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "capacity": { "storage": "100Pi" },
            "storageClassName": "fluid",
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": { "namespace": ns.name(), "name": "jfs" },
            "csi": { "driver": "fuse.csi.fluid.io", "volumeHandle": pv_name, "volumeAttributes": context }
        }
    }))
    .unwrap();
    pvs.create(&PostParams::default(), &pv).await.unwrap();
    cluster_scoped.0.push(format!("pv/{pv_name}"));
    let volume = Volume {
        id: pv_name.clone(),
        context: context.clone(),
    };

    // The engine's fuse mounts the volume; something is in it.
    let mut jfs = JuiceFs::format(&jfs_bin, &root.join("jfs"), &fluid_path);
    let first_mount = jfs.mount().await;
    eprintln!("juicefs mount: {first_mount:?}");
    std::fs::write(fluid_path.join("hello.txt"), PAYLOAD).unwrap();
    std::fs::create_dir_all(fluid_path.join("data")).unwrap();
    std::fs::write(fluid_path.join("data/part-0"), "sub path\n").unwrap();

    let plugin_args = |state: &Path| -> Vec<String> {
        [
            "--kubelet-dir",
            kubelet.to_str().unwrap(),
            "--state-file",
            state.to_str().unwrap(),
            "--recovery-period-seconds",
            "1",
            "--max-stacked-mounts",
            &MAX_STACKED.to_string(),
            "--mount-wait-seconds",
            "20",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let state = root.join("state/state.json");
    let args = plugin_args(&state);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The plugin runs with the chart's RBAC: what it is granted is enough, and used.
    let rbac = ChartRbac::install(ns.name(), root);
    let plugin = Plugin::start_as(root, &node_name, &args, &rbac.kubeconfig).await;
    let mut node = plugin.node().await;

    // Stage: the node is labelled for the fuse.
    let staging = kubelet.join(format!(
        "plugins/kubernetes.io/csi/fuse.csi.fluid.io/{pv_name}/globalmount"
    ));
    let stage = NodeStageVolumeRequest {
        volume_id: volume.id.clone(),
        staging_target_path: staging.display().to_string(),
        volume_capability: Some(capability(Mode::MultiNodeMultiWriter)),
        volume_context: volume.context.clone(),
        ..Default::default()
    };
    node.node_stage_volume(stage.clone()).await.unwrap();
    assert_eq!(
        node_label(&nodes, &node_name, &label_key).await.as_deref(),
        Some("true")
    );

    // Publish into three pods' targets: read-write, read-only, a sub path.
    let target = |pod: &str| {
        kubelet.join(format!(
            "pods/{pod}/volumes/kubernetes.io~csi/{pv_name}/mount"
        ))
    };
    let (rw, ro, sub) = (target("pod-rw"), target("pod-ro"), target("pod-sub"));
    for t in [&rw, &ro, &sub] {
        std::fs::create_dir_all(t.parent().unwrap()).unwrap();
    }
    let mut sub_ctx = volume.context.clone();
    sub_ctx.insert("fluid_sub_path".into(), "data".into());
    let publications = [
        (&rw, Mode::MultiNodeMultiWriter, &volume.context),
        (&ro, Mode::MultiNodeReaderOnly, &volume.context),
        (&sub, Mode::MultiNodeMultiWriter, &sub_ctx),
    ];
    for (target, mode, ctx) in publications {
        publish(&mut node, &volume, target, mode, ctx).await;
    }
    // What each target shows.
    let reads = [
        (&rw, "hello.txt", PAYLOAD),
        (&ro, "hello.txt", PAYLOAD),
        (&sub, "part-0", "sub path\n"),
    ];
    for (target, file, want) in reads {
        assert_eq!(std::fs::read_to_string(target.join(file)).unwrap(), want);
    }
    let refused = std::fs::write(ro.join("x"), "no").unwrap_err();
    assert_eq!(errno(&refused), Some(nix::errno::Errno::EROFS), "{refused}");
    // Idempotent: publishing again changes nothing.
    let (target, mode, ctx) = publications[0];
    publish(&mut node, &volume, target, mode, ctx).await;
    assert_eq!(stacked(&rw), 1);

    // Unstage while pods use the volume: refused, the label stays.
    let unstage = NodeUnstageVolumeRequest {
        volume_id: volume.id.clone(),
        staging_target_path: staging.display().to_string(),
    };
    let busy = node.node_unstage_volume(unstage.clone()).await.unwrap_err();
    assert_eq!(busy.code(), tonic::Code::FailedPrecondition, "{busy:?}");
    assert_eq!(
        node_label(&nodes, &node_name, &label_key).await.as_deref(),
        Some("true")
    );

    // The fuse dies and comes back, three times; the second time across a plugin restart and
    // with a NodeStage of a new pod in between (which clears the dead mount point).
    let mut plugin = Some(plugin);
    let mut recoveries = vec![];
    for round in 1..=3 {
        jfs.kill();
        let start = Instant::now();
        loop {
            let read = std::fs::read_to_string(rw.join("hello.txt"));
            match read {
                Err(e) if errno(&e) == Some(nix::errno::Errno::ENOTCONN) => break,
                other => assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "round {round}: the dead fuse still answers: {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if round == 2 {
            drop(plugin.take());
            plugin = Some(Plugin::start_as(root, &node_name, &args, &rbac.kubeconfig).await);
            node = plugin.as_ref().unwrap().node().await;
            node.node_stage_volume(stage.clone()).await.unwrap();
            assert!(
                !MountTable::read().unwrap().is_mount_point(&fluid_path),
                "stage detaches the dead fuse mount"
            );
        }
        let remount = jfs.mount().await;
        let mut took = vec![];
        for (t, file, want) in reads {
            let waited = wait_reads(&t.join(file), want, Duration::from_secs(30))
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "round {round}: not recovered: {e}\nplugin log:\n{}",
                        plugin.as_ref().unwrap().logs()
                    )
                });
            took.push(waited);
        }
        let worst = took.into_iter().max().unwrap_or_default();
        eprintln!("round {round}: juicefs remounted in {remount:?}; targets readable {worst:?} after that");
        recoveries.push(worst);
        for t in [&rw, &ro, &sub] {
            let n = stacked(t);
            assert!(
                (1..=MAX_STACKED).contains(&n),
                "round {round}: {n} mounts at {}",
                t.display()
            );
        }
        let refused = std::fs::write(ro.join("x"), "no").unwrap_err();
        assert_eq!(
            errno(&refused),
            Some(nix::errno::Errno::EROFS),
            "round {round}: the read-only target is recovered read-only"
        );
        std::fs::write(rw.join(format!("round-{round}")), "written after recovery").unwrap();
        assert!(fluid_path.join(format!("round-{round}")).exists());
    }

    // Events on the Dataset, linked by its uid.
    let events: Api<Event> = Api::namespaced(client.clone(), ns.name());
    let listed = events
        .list(&ListParams::default().fields("involvedObject.kind=Dataset,involvedObject.name=jfs"))
        .await
        .unwrap();
    let reasons: Vec<String> = listed
        .items
        .iter()
        .filter_map(|e| e.reason.clone())
        .collect();
    assert!(
        reasons.iter().any(|r| r == "FuseRecoverSucceed"),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r == "UnmountDuplicateMountpoint"),
        "{reasons:?}"
    );
    assert!(
        listed.items.iter().all(|e| e.involved_object.uid.is_some()),
        "events carry the Dataset's uid"
    );

    // Unpublish: no mount, no directory; then unstage releases the node.
    for t in [&rw, &ro, &sub] {
        unpublish(&mut node, &volume, t).await;
        assert!(!t.exists(), "{} is removed", t.display());
        unpublish(&mut node, &volume, t).await; // idempotent
    }
    node.node_unstage_volume(unstage).await.unwrap();
    assert_eq!(node_label(&nodes, &node_name, &label_key).await, None);
    let kubelet_str = kubelet.display().to_string();
    let left: Vec<String> = MountTable::read()
        .unwrap()
        .mounts()
        .iter()
        .filter(|m| m.mount_point.starts_with(&kubelet_str))
        .map(|m| m.mount_point.clone())
        .collect();
    assert!(left.is_empty(), "mounts left behind: {left:?}");

    drop(plugin);
    drop(jfs);
    drop(rbac);
    pvs.delete(&pv_name, &DeleteParams::default())
        .await
        .unwrap();
    nodes
        .delete(&node_name, &DeleteParams::default())
        .await
        .unwrap();
    ns.cleanup().await.unwrap();
    eprintln!(
        "recovery after remount: {:?}; whole test {:?}",
        recoveries,
        test_start.elapsed()
    );
}
