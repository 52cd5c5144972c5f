//! `/proc` figures of a process and its children (the controller and its chart engine: helm
//! processes, or the resident engine), for the benchmarks.

use std::process::Command;
use std::time::Duration;

/// `/proc/<pid>` figures of the controller.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStats {
    pub rss_kb: u64,
    pub hwm_kb: u64,
    /// utime + stime.
    pub cpu: Duration,
    /// Children: cutime + cstime of the waited-for ones (helm processes) plus utime + stime of
    /// the live ones (the resident chart engine).
    pub children_cpu: Duration,
}

pub fn clock_ticks() -> u64 {
    // Asked once: a `getconf` child would count among the children sampled.
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

pub fn proc_stats(pid: u32) -> ProcStats {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15, cutime 16, cstime 17.
    let rest: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .unwrap_or_default()
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |n: usize| rest.get(n - 3).copied().unwrap_or(0);
    let tick = |t: u64| Duration::from_millis(t * 1000 / clock_ticks());
    ProcStats {
        rss_kb: kb("VmRSS:"),
        hwm_kb: kb("VmHWM:"),
        cpu: tick(field(14) + field(15)),
        children_cpu: tick(field(16) + field(17)) + live_children_cpu(pid),
    }
}

/// The `(ppid, utime + stime)` of a process, from `/proc/<pid>/stat`.
fn parent_and_cpu(stat: &str) -> Option<(u32, u64)> {
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some((field(4)? as u32, field(14)? + field(15)?))
}

/// CPU of the children of `parent` still running (the resident chart engine).
pub fn live_children_cpu(parent: u32) -> Duration {
    let ticks: u64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|stat| parent_and_cpu(&stat))
        .filter(|(ppid, _)| *ppid == parent)
        .map(|(_, cpu)| cpu)
        .sum();
    Duration::from_millis(ticks * 1000 / clock_ticks())
}

/// The most child processes (helm, or the resident engine) of the controller seen at once, and their largest summed RSS
/// and anonymous (private) RSS: what a memory limit on the controller's container must hold.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChildPeak {
    pub count: usize,
    pub rss_kb: u64,
    pub anon_kb: u64,
}

impl ChildPeak {
    pub fn sample(&mut self, parent: u32) {
        let (mut count, mut rss, mut anon) = (0, 0, 0);
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
                continue;
            };
            // Field 4, the parent pid, is the second after the command name.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid != Some(parent) {
                continue;
            }
            count += 1;
            let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
            let kb = |key: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            rss += kb("VmRSS:");
            anon += kb("RssAnon:");
        }
        self.count = self.count.max(count);
        self.rss_kb = self.rss_kb.max(rss);
        self.anon_kb = self.anon_kb.max(anon);
    }
}

pub fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}
