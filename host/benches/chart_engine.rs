//! The two chart engines side by side on the local control plane: one `helm` process per call
//! (`--chart-engine=helm`) and the resident `fluid-helm-engine` (`--chart-engine=resident`),
//! each driven through the controller's own `Helm` (so an install is the render check plus the
//! upgrade, as for a runtime), on the reference engine's chart (`charts/reference`: a worker StatefulSet and a fuse
//! DaemonSet, the chart `apply_to_bound` installs).
//! Figures per op: wall time (median and p90 of one op at a time), CPU of this process (the
//! controller's side) and of the chart engine (helm children, or the engine process), and the
//! chart engine's peak RSS; then a burst of releases installed at once. Prints figures and
//! asserts nothing about time.
//!
//! `cargo bench -p fluid-host --bench chart_engine`. Knobs: `FLUID_RS_BENCH_RELEASES` (per
//! round, default 20), `FLUID_RS_BENCH_ROUNDS` (rounds per engine, alternating, default 2).
//! Without `--bench` (`cargo test --benches`) it does nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use common::procs::{mb, proc_stats, ChildPeak};
use fluid_host::services::{Chart, Cluster, Helm, ResidentEngine};
use fluid_test_support::{kubeconfig_path, tool_path, TestNamespace};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("chart_engine: skipped (run it with `cargo bench`)");
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(bench());
}

/// Samples the children of this process every 10 ms: their largest count and summed RSS.
struct Sampler {
    peak: Arc<Mutex<ChildPeak>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start() -> Sampler {
        let peak = Arc::new(Mutex::new(ChildPeak::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut sample = ChildPeak::default();
                sample.sample(std::process::id());
                if let Ok(mut peak) = p.lock() {
                    peak.count = peak.count.max(sample.count);
                    peak.rss_kb = peak.rss_kb.max(sample.rss_kb);
                    peak.anon_kb = peak.anon_kb.max(sample.anon_kb);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Sampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> ChildPeak {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let peak = *self.peak.lock().unwrap();
        peak
    }
}

/// What one kind of op cost in one round.
#[derive(Default)]
struct OpCost {
    walls: Vec<Duration>,
    controller_cpu: Duration,
    engine_cpu: Duration,
    peak: ChildPeak,
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

impl OpCost {
    fn print(&mut self, op: &str) {
        self.walls.sort();
        let n = self.walls.len().max(1) as u32;
        println!(
            "    {op:<9} wall p50 {} p90 {} | CPU per op: controller {}, chart engine {} | chart engine RSS peak {} ({} processes at once)",
            secs(percentile(&self.walls, 50.0)),
            secs(percentile(&self.walls, 90.0)),
            secs(self.controller_cpu / n),
            secs(self.engine_cpu / n),
            mb(self.peak.rss_kb),
            self.peak.count,
        );
    }
}

/// Runs `op` on every release one at a time and measures it.
async fn measure<F, Fut>(releases: &[String], mut op: F) -> OpCost
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let me = std::process::id();
    let sampler = Sampler::start();
    let before = proc_stats(me);
    let mut cost = OpCost::default();
    for r in releases {
        let t = Instant::now();
        op(r.clone()).await;
        cost.walls.push(t.elapsed());
    }
    let after = proc_stats(me);
    cost.controller_cpu = after.cpu.saturating_sub(before.cpu);
    cost.engine_cpu = after.children_cpu.saturating_sub(before.children_cpu);
    cost.peak = sampler.finish();
    cost
}

async fn round(label: &str, helm: &Helm, chart: Chart<'_>, ns: &str, releases: &[String]) {
    println!("  {label}:");
    let labels = [("fluid.io/runtime-uid", "bench")];
    let values = |r: &str, replicas: u32| {
        json!({"fullnameOverride": r, "ownerDatasetId": format!("{ns}-{r}"),
            "fuseNodeSelectorKey": format!("fluid.io/f-{ns}-{r}"),
            "runtimeIdentity": {"namespace": ns, "name": r}, "worker": {"replicas": replicas}})
    };
    let mut install = measure(releases, |r| async move {
        let s = helm
            .upgrade(ns, &r, chart, &values(&r, 1), true, &labels)
            .await
            .expect("install");
        assert_eq!(s.revision, 1, "{r}");
    })
    .await;
    install.print("install");
    let mut upgrade = measure(releases, |r| async move {
        let s = helm
            .upgrade(ns, &r, chart, &values(&r, 2), true, &labels)
            .await
            .expect("upgrade");
        assert_eq!(s.revision, 2, "{r}");
    })
    .await;
    upgrade.print("upgrade");
    let mut status = measure(releases, |r| async move {
        let s = helm.status(ns, &r).await.expect("status");
        assert_eq!(s.map(|s| s.revision), Some(2), "{r}");
    })
    .await;
    status.print("status");
    let mut uninstall = measure(releases, |r| async move {
        assert!(helm.uninstall(ns, &r).await.expect("uninstall"), "{r}");
    })
    .await;
    uninstall.print("uninstall");

    // A burst: every release installed at once (as after a `kubectl apply` of many runtimes).
    let me = std::process::id();
    let sampler = Sampler::start();
    let before = proc_stats(me);
    let t = Instant::now();
    let installs = releases.iter().map(|r| async move {
        helm.upgrade(ns, r, chart, &values(r, 1), true, &labels)
            .await
            .expect("burst install");
    });
    futures::future::join_all(installs).await;
    let wall = t.elapsed();
    let after = proc_stats(me);
    let peak = sampler.finish();
    let n = releases.len() as u32;
    println!(
        "    burst of {n} installs at once: {} wall | CPU per install: controller {}, chart engine {} | chart engine RSS peak {} ({} processes at once)",
        secs(wall),
        secs(after.cpu.saturating_sub(before.cpu) / n),
        secs(after.children_cpu.saturating_sub(before.children_cpu) / n),
        mb(peak.rss_kb),
        peak.count,
    );
    let removals = releases.iter().map(|r| async move {
        helm.uninstall(ns, r).await.expect("burst uninstall");
    });
    futures::future::join_all(removals).await;
}

async fn bench() {
    let releases = env_num("FLUID_RS_BENCH_RELEASES", 20) as usize;
    let rounds = env_num("FLUID_RS_BENCH_ROUNDS", 2) as usize;
    // The engines find the cluster as the controller's children do.
    std::env::set_var("KUBECONFIG", kubeconfig_path().unwrap());
    let dir = tempfile::tempdir().unwrap();
    fluid_test_support::helm([
        "package",
        common::workspace_root()
            .join("charts/reference")
            .to_str()
            .unwrap(),
        "-d",
        dir.path().to_str().unwrap(),
    ])
    .unwrap();
    let tgz = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "tgz"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .expect("the packed chart");
    let chart = Chart {
        name: "reference",
        tgz: &tgz,
    };
    let ns = TestNamespace::create("bench-engine").await.unwrap();
    let cluster = Arc::new(Cluster::new(ns.client(), None));
    let processes = Helm::new(tool_path("helm").unwrap(), dir.path().join("charts")).for_engine(
        "reference",
        &[],
        cluster.clone(),
    );
    println!(
        "chart_engine: namespace {}, {releases} releases per round, {rounds} rounds per engine, {} cores",
        ns.name(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let names: Vec<String> = (0..releases).map(|i| format!("bench-{i:03}")).collect();
    for n in 0..rounds {
        println!("round {n}:");
        round("helm processes", &processes, chart, ns.name(), &names).await;
        // An engine per round, so that none idles beside the helm processes measured.
        let engine = Arc::new(ResidentEngine::new(tool_path("fluid-helm-engine").unwrap()));
        let start = Instant::now();
        let version = engine.start().await.unwrap();
        println!(
            "  resident engine (helm {version}) started in {}",
            secs(start.elapsed())
        );
        let resident = Helm::resident(engine).for_engine("reference", &[], cluster.clone());
        round("resident engine", &resident, chart, ns.name(), &names).await;
    }
    let engine_rss = proc_stats(std::process::id());
    println!(
        "bench process at end: RSS {}, peak {}",
        mb(engine_rss.rss_kb),
        mb(engine_rss.hwm_kb)
    );
    ns.cleanup().await.unwrap();
}
