//! The data path with a real Alluxio: a master and a worker of Alluxio 2.9.4 (the jars Maven
//! Central serves, fetched by `scripts/install-alluxio`) started on this machine with the
//! properties our chart renders for a runtime, then the command lines the engine execs in the
//! master, run as they are through `tests/bin/alluxio` (the jars carry no launcher): the UFS
//! mounts (twice: the second time changes nothing), the metadata job, the reports, a file read
//! through Alluxio, the cache freed; every output goes through the engine's parsers. The data
//! operations' scripts (a DataLoad's load, a DataBackup's metadata backup) run as the engine
//! renders them for their Jobs. Then the
//! fuse, with the arguments the chart gives it, where /dev/fuse allows.
//!
//! Skipped, saying so, only when Java is absent. Run: `cargo test -p fluid-alluxio --test
//! real_alluxio -- --nocapture`.

use fluid_alluxio::{Alluxio, AlluxioRuntime};
use fluid_alluxio_family::transform::{self, Input, Settings};
use fluid_alluxio_family::{commands, engine::cache_states, operate, parse, Family};
use fluid_plugin_api::testing::{Chart, HookContextBuilder};
use fluid_plugin_api::types::{DataRestoreLocation, Dataset};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHART: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz"));
const VERSION: &str = "2.9.4";

/// Processes started by the test, killed when it ends (also when it fails), after the fuse
/// mount (if any) is detached.
struct Processes(Vec<(String, Child)>, Option<PathBuf>);

impl Drop for Processes {
    fn drop(&mut self) {
        if let Some(mount) = &self.1 {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(mount)
                .stderr(Stdio::null())
                .status();
        }
        for (name, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("stopped {name}");
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The class path of the fetched jars, fetching them first when needed.
fn classpath() -> String {
    let cache = std::env::var_os("FLUID_RS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/fluid-rs")
        });
    let file = cache.join("alluxio").join(VERSION).join("classpath");
    if !file.is_file() {
        let status = Command::new(repo().join("scripts/install-alluxio"))
            .env("ALLUXIO_VERSION", VERSION)
            .status()
            .expect("running scripts/install-alluxio");
        assert!(status.success(), "scripts/install-alluxio failed");
    }
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/install-alluxio needs mvn)",
                file.display()
            )
        })
        .trim()
        .to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Env {
    dir: PathBuf,
    path: String,
    classpath: String,
}

impl Env {
    /// A command line as the engine execs it in the master (`alluxio` is our launcher here).
    fn run(&self, command: &[String]) -> (i32, String) {
        let out = Command::new(&command[0])
            .args(&command[1..])
            .env("PATH", &self.path)
            .env("ALLUXIO_CLASSPATH", &self.classpath)
            .env("ALLUXIO_CONF_DIR", self.dir.join("conf"))
            .env("ALLUXIO_LOGS_DIR", self.dir.join("logs"))
            .env("ALLUXIO_JAVA_OPTS", "-Xmx256m -XX:+UseSerialGC")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!(
            "$ {}  -> exit {}",
            command.join(" "),
            out.status.code().unwrap_or(-1)
        );
        (out.status.code().unwrap_or(-1), stdout)
    }

    fn start(&self, name: &str, args: &[&str], java_opts: &str) -> Child {
        let log = std::fs::File::create(self.dir.join("logs").join(format!("{name}.out"))).unwrap();
        Command::new(self.dir.join("bin/alluxio"))
            .args(args)
            .env("ALLUXIO_CLASSPATH", &self.classpath)
            .env("ALLUXIO_CONF_DIR", self.dir.join("conf"))
            .env("ALLUXIO_LOGS_DIR", self.dir.join("logs"))
            .env("ALLUXIO_JAVA_OPTS", java_opts)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"))
    }

    fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.join("logs").join(format!("{name}.out")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// Kubernetes' `$(VAR)` expansion of a container's env, for the roles' JVM options.
fn expand(opts: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(opts.to_owned(), |o, (k, v)| {
        o.replace(&format!("$({k})"), v)
    })
}

fn site_of(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn a_real_alluxio_serves_the_mounts_reports_and_reads_our_engine_runs() {
    if Command::new("java").arg("-version").output().is_err() {
        eprintln!("SKIPPED: java is not installed; the real Alluxio data-path test needs a JDK (17 works)");
        return;
    }
    let classpath = classpath();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    for sub in [
        "conf",
        "logs",
        "bin",
        "journal",
        "metastore",
        "underFSStorage/data/sub",
        "extra",
        "mem",
        "fuse",
        "backups",
    ] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(
        repo().join("plugins/alluxio/tests/bin/alluxio"),
        d.join("bin/alluxio"),
    )
    .unwrap();
    // The UFS: what the chart mounts at /underFSStorage/data (local://), and a directory the
    // engine mounts with `alluxio fs mount` (file://).
    std::fs::write(
        d.join("underFSStorage/data/hello.txt"),
        "hello through alluxio\n",
    )
    .unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(d.join("underFSStorage/data/sub/big.bin"), &big).unwrap();
    std::fs::write(d.join("extra/notes.txt"), "from the exec mount\n").unwrap();

    // The runtime and Dataset a user writes; the properties our chart renders for them.
    let runtime: AlluxioRuntime = serde_json::from_value(json!({
        "apiVersion": "data.fluid.io/v1alpha1", "kind": "AlluxioRuntime",
        "metadata": {"name": "demo", "namespace": "ns", "uid": "1"},
        "spec": {"replicas": 1,
            "master": {"jvmOptions": ["-Xmx512m", "-XX:+UseSerialGC"]},
            "worker": {"jvmOptions": ["-Xmx384m", "-XX:MaxDirectMemorySize=256m", "-XX:+UseSerialGC"]},
            "fuse": {"jvmOptions": ["-Xmx256m", "-XX:+UseSerialGC"]},
            "tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "64Mi"}]}}
    }))
    .unwrap();
    let dataset: Dataset = serde_json::from_value(json!({
        "apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
        "metadata": {"name": "demo", "namespace": "ns", "uid": "2"},
        "spec": {"mounts": [
            {"mountPoint": "local:///srv/data", "name": "data"},
            {"mountPoint": format!("file://{}", d.join("extra").display()), "name": "extra", "readOnly": true,
             "options": {"alluxio.underfs.local.skip.broken.symlinks": "true"}}
        ]}
    }))
    .unwrap();
    let view = Alluxio::view(&serde_json::to_value(&runtime).unwrap()).unwrap();
    let input = Input {
        flavor: &Alluxio::FLAVOR,
        name: "demo",
        namespace: "ns",
        spec: &view.spec,
        version: view.version.as_ref(),
        dataset: &dataset,
    };
    let sample = HookContextBuilder::new("alluxio", &runtime)
        .mount_type("fuse.alluxio-fuse")
        .dataset(&dataset);
    let conventions = sample.conventions();
    let values = transform::values(&input, &Settings::default(), &conventions).unwrap();
    let site_text = match Chart::new(CHART).render(&sample, &values) {
        Ok(r) => {
            eprintln!("properties: as helm rendered the chart's ConfigMap");
            r.get("ConfigMap", "demo-config").unwrap()["data"]["site.properties"]
                .as_str()
                .unwrap()
                .to_owned()
        }
        Err(e) => {
            eprintln!("properties: the transform's siteProperties (helm unavailable: {e})");
            values["siteProperties"].as_str().unwrap().to_owned()
        }
    };
    let mut site = site_of(&site_text);
    assert_eq!(
        site["alluxio.master.mount.table.root.ufs"],
        "/underFSStorage"
    );
    // What differs between a pod and this machine: paths, addresses and ports.
    let (master_rpc, master_web, worker_rpc, worker_web) =
        (free_port(), free_port(), free_port(), free_port());
    let local: [(&str, String); 11] = [
        (
            "alluxio.master.mount.table.root.ufs",
            d.join("underFSStorage").display().to_string(),
        ),
        ("alluxio.master.hostname", "localhost".into()),
        (
            "alluxio.master.journal.folder",
            d.join("journal").display().to_string(),
        ),
        (
            "alluxio.master.metastore.dir",
            d.join("metastore").display().to_string(),
        ),
        ("alluxio.work.dir", d.display().to_string()),
        (
            "alluxio.worker.tieredstore.level0.dirs.path",
            d.join("mem").display().to_string(),
        ),
        ("alluxio.master.rpc.port", master_rpc.to_string()),
        ("alluxio.master.web.port", master_web.to_string()),
        ("alluxio.worker.rpc.port", worker_rpc.to_string()),
        ("alluxio.worker.web.port", worker_web.to_string()),
        ("alluxio.job.master.rpc.port", free_port().to_string()),
    ];
    for (k, v) in local {
        assert!(
            site.contains_key(k) || k.ends_with("metastore.dir") || k.ends_with("work.dir"),
            "{k} not rendered"
        );
        site.insert(k.to_owned(), v);
    }
    let conf: String = site.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(d.join("conf/alluxio-site.properties"), conf).unwrap();
    std::fs::write(
        d.join("conf/log4j.properties"),
        "log4j.rootLogger=INFO, out\nlog4j.appender.out=org.apache.log4j.ConsoleAppender\n\
         log4j.appender.out.Target=System.err\nlog4j.appender.out.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.out.layout.ConversionPattern=%d{ISO8601} %-5p %c{1} - %m%n\n",
    )
    .unwrap();
    let env = Env {
        path: format!(
            "{}:{}",
            d.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        ),
        dir: d.clone(),
        classpath,
    };

    // The roles' JVM options as the containers get them (kubelet expands $(VAR)).
    let master_opts = expand(
        values["master"]["javaOpts"].as_str().unwrap(),
        &[("ALLUXIO_MASTER_HOSTNAME", "localhost")],
    );
    let worker_opts = expand(
        values["worker"]["javaOpts"].as_str().unwrap(),
        &[("ALLUXIO_WORKER_HOSTNAME", "localhost")],
    );
    assert_eq!(
        master_opts,
        "-Xmx512m -XX:+UseSerialGC -Dalluxio.master.hostname=localhost"
    );
    let mut processes = Processes(vec![], None);
    let started = Instant::now();
    processes.0.push((
        "master".into(),
        env.start("master", &["process", "master"], &master_opts),
    ));
    processes.0.push((
        "worker".into(),
        env.start("worker", &["process", "worker"], &worker_opts),
    ));

    // Ready: the summary the engine reads says one live worker.
    let summary = loop {
        let (code, out) = env.run(&commands::report_summary(&Alluxio::FLAVOR));
        if code == 0 {
            if let Some(s) = parse::summary(&out).filter(|s| s.live_workers == 1) {
                break s;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "Alluxio did not come up in 240 s\nmaster:\n{}\nworker:\n{}",
            env.log_tail("master"),
            env.log_tail("worker")
        );
        std::thread::sleep(Duration::from_secs(3));
    };
    eprintln!("master and worker serving after {:?}", started.elapsed());
    assert_eq!(summary.version, VERSION);
    assert_eq!(
        summary.total_capacity,
        64 << 20,
        "the tier's quota, as rendered"
    );

    // PrepareUFS: the mount table, the actions, the mounts; then again, which changes nothing.
    let plan = fluid_alluxio_family::transform::ufs::plan(&dataset).unwrap();
    let (_, table) = env.run(&commands::mount_table(&Alluxio::FLAVOR));
    let entries = parse::mounts(&table);
    assert_eq!(entries.len(), 1, "{table}");
    assert_eq!(entries[0].path, "/");
    let (unmount, mount) = commands::mount_actions(&plan.mounts, &entries);
    assert!(unmount.is_empty());
    assert_eq!(mount.len(), 1);
    for m in mount {
        let (code, out) = env.run(&commands::mount(&Alluxio::FLAVOR, m));
        assert_eq!(code, 0, "{out}");
    }
    let (_, table) = env.run(&commands::mount_table(&Alluxio::FLAVOR));
    let entries = parse::mounts(&table);
    let extra = entries
        .iter()
        .find(|e| e.path == "/extra")
        .unwrap_or_else(|| panic!("{table}"));
    assert!(extra.read_only);
    assert_eq!(
        extra.properties["alluxio.underfs.local.skip.broken.symlinks"],
        "true"
    );
    let (unmount, mount) = commands::mount_actions(&plan.mounts, &entries);
    assert!(
        unmount.is_empty() && mount.is_empty(),
        "mounted once: nothing more to do"
    );

    // Metadata: the background job, until it has counted.
    let state = d.join("metadata").display().to_string();
    let job = commands::metadata_job(&Alluxio::FLAVOR, &state);
    let (files, folders, bytes) = loop {
        let (code, out) = env.run(&job);
        if code == 0 {
            break parse::count(&out).unwrap_or_else(|| panic!("count output: {out}"));
        }
        assert_eq!(code, 3, "the job answers 3 while calculating");
        assert!(
            started.elapsed() < Duration::from_secs(480),
            "the metadata job did not finish"
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(files, 3, "hello.txt, big.bin, notes.txt");
    assert!(folders >= 3);
    assert_eq!(bytes, 22 + 3_000_000 + 20);

    data_load(&env);
    data_backup(&env, &d, bytes);
    // The restore: the properties the transform renders for the Dataset restored from that
    // backup (`dataRestoreLocation`), the backup's claim being the directory above.
    let mut restored = dataset.clone();
    restored.spec.data_restore_location = Some(DataRestoreLocation {
        path: Some("pvc://backups/alluxio".into()),
        node_name: None,
    });
    let restored_values = transform::values(
        &Input {
            dataset: &restored,
            ..input
        },
        &Settings::default(),
        &conventions,
    )
    .unwrap();
    let restored_site = site_of(restored_values["siteProperties"].as_str().unwrap());
    restore(&env, &site, &restored_site, &master_opts, &mut processes);

    // A read through Alluxio: from the UFS, cached by the worker.
    let (code, out) = env.run(&[
        "alluxio".into(),
        "fs".into(),
        "cat".into(),
        "/data/hello.txt".into(),
    ]);
    assert_eq!((code, out.as_str()), (0, "hello through alluxio\n"));
    let (code, out) = env.run(&[
        "alluxio".into(),
        "fs".into(),
        "cat".into(),
        "/extra/notes.txt".into(),
    ]);
    assert_eq!((code, out.as_str()), (0, "from the exec mount\n"));
    let (code, _) = env.run(&[
        "alluxio".into(),
        "fs".into(),
        "load".into(),
        "/data/sub/big.bin".into(),
    ]);
    assert_eq!(code, 0);

    // Cache states from the reports.
    let (_, out) = env.run(&commands::report_summary(&Alluxio::FLAVOR));
    let summary = parse::summary(&out).unwrap();
    assert!(summary.used_capacity >= 3_000_000, "cached: {summary:?}");
    let (_, out) = env.run(&commands::report_metrics(&Alluxio::FLAVOR));
    let metrics = parse::metrics(&out);
    assert!(
        parse::metric_number(&metrics, "Cluster.BytesReadUfsAll").unwrap_or(0) > 0,
        "{out}"
    );
    // Every read so far counts as since the last sync (none before).
    let hits = parse::hit_ratios(&parse::reads(&metrics), Some(&parse::Reads::default()));
    let states = cache_states(Some(&summary), hits.as_ref(), Some(bytes));
    eprintln!("cache states: {states:?}");
    assert_eq!(states["cacheCapacity"], "64.00MiB");
    let pct: f64 = states["cachedPercentage"]
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(pct > 90.0, "{states:?}");

    fuse(&env, &values, &mut processes);

    // Shutdown: free the cache.
    let (code, out) = env.run(&commands::free(&Alluxio::FLAVOR));
    assert_eq!(code, 0, "{out}");
    let freed = loop {
        let (_, out) = env.run(&commands::report_summary(&Alluxio::FLAVOR));
        let s = parse::summary(&out).unwrap();
        if s.used_capacity == 0 || started.elapsed() > Duration::from_secs(600) {
            break s;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(freed.used_capacity, 0, "fs free -f / empties the cache");
    eprintln!("data path done in {:?}", started.elapsed());
}

/// The cache's used bytes, from the summary the engine reads.
fn used(env: &Env) -> u64 {
    let (_, out) = env.run(&commands::report_summary(&Alluxio::FLAVOR));
    parse::summary(&out)
        .unwrap_or_else(|| panic!("summary: {out}"))
        .used_capacity
}

/// A DataLoad: the script the engine renders for the Job (`operate::load_script`), with
/// `loadMetadata`, run as it is; the target's bytes land in the worker's cache, the rest not.
/// Alluxio 2.9.4 has no `distributedLoad` any more: the script takes its other branch, the
/// master's load job (`fs load --submit`, then `--progress` until it succeeded).
fn data_load(env: &Env) {
    let targets = [operate::Target {
        path: "/data/sub".into(),
        replicas: 1,
    }];
    let script = operate::load_script(&Alluxio::FLAVOR, &targets, true);
    let before = used(env);
    let (code, out) = env.run(&["sh".into(), "-c".into(), script]);
    assert_eq!(code, 0, "the DataLoad script failed: {out}");
    eprintln!("{out}");
    assert!(
        out.contains("loading /data/sub"),
        "the script ran to the load: {out}"
    );
    let after = used(env);
    eprintln!("DataLoad of /data/sub: cached bytes {before} -> {after}");
    assert!(
        after >= before + 3_000_000,
        "big.bin (3,000,000 bytes) is cached: {before} -> {after}"
    );
    assert!(
        after < before + 3_000_000 + (1 << 20),
        "only the target is loaded: {before} -> {after}"
    );
}

/// A DataBackup: the script the engine renders (`operate::backup_script`), the master's
/// backup directory being this machine's (the host directory the pod shares with the master
/// in the cluster), the destination a directory standing for the claim.
fn data_backup(env: &Env, d: &Path, ufs_bytes: u64) {
    let dest = format!("{}/", d.join("pvc/alluxio").display());
    let written = d.join("backups").display().to_string();
    let script = operate::backup_script(&Alluxio::FLAVOR, &written, &dest, "demo", "ns");
    let (code, out) = env.run(&["sh".into(), "-c".into(), script]);
    assert_eq!(code, 0, "the DataBackup script failed: {out}");
    eprintln!("{out}");
    let file = d.join("pvc/alluxio/metadata-backup-demo-ns.gz");
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(bytes[..2], [0x1f, 0x8b], "a gzip file");
    eprintln!("DataBackup: {} ({} bytes)", file.display(), bytes.len());
    let info = std::fs::read_to_string(d.join("pvc/alluxio/demo-ns.yaml")).unwrap();
    assert!(info.contains("dataset: demo\nnamespace: ns\n"), "{info}");
    assert!(info.contains(&format!("ufstotal: {ufs_bytes}\n")), "{info}");
    assert!(info.contains("filenum: 3\n"), "{info}");
    let left: Vec<String> = std::fs::read_dir(d.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    eprintln!("left in the master's backup directory: {left:?}");
    assert!(
        left.is_empty(),
        "the backup (and Alluxio's `.complete` mark) left the master's directory: {left:?}"
    );
}

/// A second master, its journal empty, started with the restore property the transform
/// rendered (the claim's path `/pvc` made this machine's): its mount table and tree are the
/// backed-up master's, the `/extra` mount made by exec included, without any mount command.
fn restore(
    env: &Env,
    site: &BTreeMap<String, String>,
    rendered: &BTreeMap<String, String>,
    master_opts: &str,
    processes: &mut Processes,
) {
    let key = "alluxio.master.journal.init.from.backup";
    assert_eq!(rendered[key], "/pvc/alluxio/metadata-backup-demo-ns.gz");
    let d = env.dir.join("restored");
    for sub in ["conf", "logs", "bin", "journal", "metastore"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(env.dir.join("bin/alluxio"), d.join("bin/alluxio")).unwrap();
    std::fs::copy(
        env.dir.join("conf/log4j.properties"),
        d.join("conf/log4j.properties"),
    )
    .unwrap();
    let mut site = site.clone();
    let local: [(&str, String); 5] = [
        (
            key,
            rendered[key].replacen("/pvc", &env.dir.join("pvc").display().to_string(), 1),
        ),
        (
            "alluxio.master.journal.folder",
            d.join("journal").display().to_string(),
        ),
        (
            "alluxio.master.metastore.dir",
            d.join("metastore").display().to_string(),
        ),
        ("alluxio.master.rpc.port", free_port().to_string()),
        ("alluxio.master.web.port", free_port().to_string()),
    ];
    for (k, v) in local {
        site.insert(k.to_owned(), v);
    }
    let conf: String = site.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(d.join("conf/alluxio-site.properties"), conf).unwrap();
    let restored = Env {
        dir: d,
        path: env.path.clone(),
        classpath: env.classpath.clone(),
    };
    processes.0.push((
        "restored master".into(),
        restored.start("master", &["process", "master"], master_opts),
    ));
    let started = Instant::now();
    let table = loop {
        let (code, out) = restored.run(&commands::mount_table(&Alluxio::FLAVOR));
        if code == 0 {
            break out;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the restored master did not serve in 180 s:\n{}",
            restored.log_tail("master")
        );
        std::thread::sleep(Duration::from_secs(3));
    };
    let entries = parse::mounts(&table);
    assert!(
        entries.iter().any(|e| e.path == "/extra" && e.read_only),
        "the exec'd mount came back from the backup: {table}"
    );
    let (code, out) = restored.run(&[
        "alluxio".into(),
        "fs".into(),
        "ls".into(),
        "/data/sub".into(),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("big.bin"), "{out}");
    eprintln!(
        "restore: a fresh master served the backed-up tree and mounts after {:?}",
        started.elapsed()
    );
    if let Some((_, mut child)) = processes.0.pop() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The fuse with the chart's arguments (jnifuse, libfuse 3), where this machine has
/// /dev/fuse; its mount must be of type fuse.alluxio-fuse and show the data.
fn fuse(env: &Env, values: &Value, processes: &mut Processes) {
    if !Path::new("/dev/fuse").exists() {
        eprintln!("SKIPPED (fuse): /dev/fuse does not exist here");
        return;
    }
    let mount = env.dir.join("fuse");
    let mut args: Vec<String> = values["fuse"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let n = args.len();
    args[n - 2] = mount.display().to_string(); // the node's path, here a temporary directory
    let opts = expand(
        values["fuse"]["javaOpts"].as_str().unwrap(),
        &[("ALLUXIO_CLIENT_HOSTNAME", "localhost")],
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    processes
        .0
        .push(("fuse".into(), env.start("fuse", &refs, &opts)));
    let started = Instant::now();
    let fstype = loop {
        let out = Command::new("findmnt")
            .args(["-n", "-o", "FSTYPE"])
            .arg(&mount)
            .output();
        if let Some(o) = out.ok().filter(|o| o.status.success()) {
            break String::from_utf8_lossy(&o.stdout).trim().to_owned();
        }
        if started.elapsed() > Duration::from_secs(90) {
            panic!("the fuse did not mount in 90 s:\n{}", env.log_tail("fuse"));
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(fstype, Alluxio::FLAVOR.mount_type, "the PV's mount_type");
    let text = std::fs::read_to_string(mount.join("data/hello.txt")).unwrap();
    assert_eq!(text, "hello through alluxio\n");
    let _ = Command::new("umount").arg(&mount).status();
    eprintln!("fuse: mounted as {fstype} and read through it");
}
