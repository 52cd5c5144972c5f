//! Parsers of the command outputs the engine reads, as Alluxio 2.9 prints them (the fixtures
//! under `src/fixtures/` are real outputs, captured by the data-path test's commands; that test
//! also feeds live output to these functions). Pure: text in, figures out; `None` or an empty
//! answer when the text is not what they expect.

use std::collections::BTreeMap;

/// One line of `alluxio fs mount`: `<ufs>  on  <path>  (<type>, ..., read-only, shared, properties={k=v, ...})`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountEntry {
    /// The under file system's URI.
    pub ufs: String,
    /// Where it is mounted in the Alluxio namespace.
    pub path: String,
    /// The UFS type (`local`, `s3`, `hdfs`, ...).
    pub ufs_type: String,
    /// Mounted `--readonly`.
    pub read_only: bool,
    /// Mounted `--shared`.
    pub shared: bool,
    /// The mount's options (`--option k=v`).
    pub properties: BTreeMap<String, String>,
}

/// The mount table from `alluxio fs mount` (no arguments).
pub fn mounts(out: &str) -> Vec<MountEntry> {
    out.lines().filter_map(mount_line).collect()
}

fn mount_line(line: &str) -> Option<MountEntry> {
    let (ufs, rest) = line.trim().split_once("  on  ")?;
    let (path, details) = rest.trim_start().split_once("  (")?;
    let details = details.trim_end().strip_suffix(')')?;
    let (flags, properties) = match details.split_once("properties={") {
        Some((f, p)) => (f, p.strip_suffix('}').unwrap_or(p)),
        None => (details, ""),
    };
    let flags: Vec<&str> = flags.split(", ").map(str::trim).collect();
    Some(MountEntry {
        ufs: ufs.trim().to_owned(),
        path: path.trim().to_owned(),
        ufs_type: flags
            .first()
            .map(|t| t.trim_end_matches(',').to_owned())
            .unwrap_or_default(),
        read_only: flags.contains(&"read-only"),
        shared: flags.contains(&"shared"),
        properties: properties
            .split(", ")
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
    })
}

/// A size as Alluxio prints it (`64.00MB`, `2929.71KB`, `0B`; binary units), in bytes.
pub fn alluxio_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.trim().replace(',', "").parse().ok()?;
    let exp = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "KB" => 1,
        "MB" => 2,
        "GB" => 3,
        "TB" => 4,
        "PB" => 5,
        _ => return None,
    };
    Some((n * 1024f64.powi(exp)).round() as u64)
}

/// What `alluxio fsadmin report summary` (or plain `report`) says about the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Workers registered and alive.
    pub live_workers: u64,
    /// Workers lost.
    pub lost_workers: u64,
    /// The cache capacity of all workers, bytes.
    pub total_capacity: u64,
    /// Bytes cached.
    pub used_capacity: u64,
    /// Whether the master is still in safe mode (not serving yet).
    pub safe_mode: bool,
    /// The master's version.
    pub version: String,
}

/// The summary report; `None` unless it has the capacity lines (the master answered).
pub fn summary(out: &str) -> Option<Summary> {
    let mut s = Summary::default();
    let (mut total, mut used) = (None, None);
    for line in out.lines() {
        let Some((k, v)) = line.trim().split_once(": ") else {
            continue;
        };
        match k.trim() {
            "Live Workers" => s.live_workers = v.trim().parse().ok()?,
            "Lost Workers" => s.lost_workers = v.trim().parse().ok()?,
            "Total Capacity" => total = alluxio_bytes(v),
            "Used Capacity" => used = alluxio_bytes(v),
            "Safe Mode" => s.safe_mode = v.trim() == "true",
            "Version" => s.version = v.trim().to_owned(),
            _ => {}
        }
    }
    s.total_capacity = total?;
    s.used_capacity = used?;
    Some(s)
}

/// The metrics of `alluxio fsadmin report metrics`: name to value, as printed
/// (`Cluster.BytesReadLocal  (Type: COUNTER, Value: 2929.71KB)`).
pub fn metrics(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once("  (Type: ")?;
            let value = rest.split_once("Value: ")?.1.strip_suffix(')')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// A metric as a number: a size (`2929.71KB`, `1464.85KB/MIN`) in bytes, or a count with
/// thousands separators (`64,108,845`).
pub fn metric_number(metrics: &BTreeMap<String, String>, name: &str) -> Option<u64> {
    let v = metrics.get(name)?;
    alluxio_bytes(v.trim_end_matches("/MIN"))
}

/// The cluster's reads, from the master's metrics: bytes read from local workers, remote
/// workers and the UFS (counters since the master started), and their per-minute throughputs
/// (gauges).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// `Cluster.BytesReadLocal`.
    pub local: u64,
    /// `Cluster.BytesReadRemote`.
    pub remote: u64,
    /// `Cluster.BytesReadUfsAll`.
    pub ufs: u64,
    /// `Cluster.BytesReadLocalThroughput`.
    pub local_throughput: u64,
    /// `Cluster.BytesReadRemoteThroughput`.
    pub remote_throughput: u64,
    /// `Cluster.BytesReadUfsThroughput`.
    pub ufs_throughput: u64,
}

/// The reads in a metrics report (a missing metric reads as 0).
pub fn reads(metrics: &BTreeMap<String, String>) -> Reads {
    let n = |name: &str| metric_number(metrics, name).unwrap_or(0);
    Reads {
        local: n("Cluster.BytesReadLocal"),
        remote: n("Cluster.BytesReadRemote"),
        ufs: n("Cluster.BytesReadUfsAll"),
        local_throughput: n("Cluster.BytesReadLocalThroughput"),
        remote_throughput: n("Cluster.BytesReadRemoteThroughput"),
        ufs_throughput: n("Cluster.BytesReadUfsThroughput"),
    }
}

/// Fluid's hit and throughput ratios (`12.5%`), as Fluid computes them: the hit ratios over
/// the bytes read since `last` (the previous sync's reads), the throughput ratios from the
/// gauges; `None` without a previous sync (Fluid leaves them empty then). Counters lower than
/// last time mean the master restarted: the reads since then are counted.
pub fn hit_ratios(now: &Reads, last: Option<&Reads>) -> Option<BTreeMap<&'static str, String>> {
    use fluid_plugin_api::types::cache_state as cs;
    let last = last?;
    let restarted = now.local < last.local || now.remote < last.remote || now.ufs < last.ufs;
    let since = if restarted { Reads::default() } else { *last };
    let ratio = |part: u64, total: u64| {
        if total == 0 {
            "0.0%".to_owned()
        } else {
            format!("{:.1}%", part as f64 * 100.0 / total as f64)
        }
    };
    let (local, remote, ufs) = (
        now.local - since.local,
        now.remote - since.remote,
        now.ufs - since.ufs,
    );
    let total = local + remote + ufs;
    let (lt, rt, ut) = (
        now.local_throughput,
        now.remote_throughput,
        now.ufs_throughput,
    );
    let throughput = lt + rt + ut;
    Some(BTreeMap::from([
        (cs::LOCAL_HIT_RATIO, ratio(local, total)),
        (cs::REMOTE_HIT_RATIO, ratio(remote, total)),
        (cs::CACHE_HIT_RATIO, ratio(local + remote, total)),
        (cs::LOCAL_THROUGHPUT_RATIO, ratio(lt, throughput)),
        (cs::REMOTE_THROUGHPUT_RATIO, ratio(rt, throughput)),
        (cs::CACHE_THROUGHPUT_RATIO, ratio(lt + rt, throughput)),
    ]))
}

/// `alluxio fs count <path>`: (files, folders, bytes).
pub fn count(out: &str) -> Option<(u64, u64, u64)> {
    let mut lines = out.lines().map(str::trim).filter(|l| !l.is_empty());
    let header = lines.next()?;
    if !header.starts_with("File Count") {
        return None;
    }
    let figures: Vec<u64> = lines
        .next()?
        .split_whitespace()
        .map(|f| f.replace(',', "").parse().ok())
        .collect::<Option<_>>()?;
    match figures[..] {
        [files, folders, bytes] => Some((files, folders, bytes)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = include_str!("fixtures/mount.txt");
    const MOUNT_ROOT: &str = include_str!("fixtures/mount-root.txt");
    const SUMMARY: &str = include_str!("fixtures/summary.txt");
    const METRICS: &str = include_str!("fixtures/metrics.txt");
    const COUNT: &str = include_str!("fixtures/count.txt");

    #[test]
    fn the_mount_table_lists_paths_flags_and_options() {
        let m = mounts(MOUNTS);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].ufs, "/tmp/ax/local2");
        assert_eq!(m[0].path, "/data2");
        assert_eq!(m[0].ufs_type, "local");
        assert!(m[0].read_only);
        assert!(!m[0].shared);
        assert_eq!(
            m[0].properties,
            BTreeMap::from([(
                "alluxio.underfs.local.skip.broken.symlinks".into(),
                "true".into()
            )])
        );
        assert_eq!(m[1].path, "/");
        assert!(!m[1].read_only);
        assert!(m[1].properties.is_empty());
        assert_eq!(mounts(MOUNT_ROOT).len(), 1);
        assert!(mounts("Usage: alluxio fs mount\n").is_empty());
    }

    #[test]
    fn the_summary_gives_workers_and_capacity() {
        let s = summary(SUMMARY).unwrap();
        assert_eq!(s.live_workers, 1);
        assert_eq!(s.lost_workers, 0);
        assert_eq!(s.total_capacity, 64 << 20);
        assert_eq!(s.used_capacity, alluxio_bytes("2929.71KB").unwrap());
        assert!(!s.safe_mode);
        assert_eq!(s.version, "2.9.4");
        assert_eq!(summary("Error: connection refused"), None);
    }

    #[test]
    fn metrics_give_the_counters_and_ratios() {
        let m = metrics(METRICS);
        assert_eq!(m["Master.FilesCompleted"], "3");
        assert_eq!(metric_number(&m, "Cluster.CapacityTotal"), Some(67_108_864));
        assert_eq!(
            metric_number(&m, "Cluster.BytesReadUfsAll"),
            alluxio_bytes("2929.71KB")
        );
        let now = reads(&m);
        assert_eq!(now.remote, alluxio_bytes("2929.71KB").unwrap());
        assert_eq!(hit_ratios(&now, None), None, "no previous sync: no ratios");
        // The capture read 2.9 MB through a remote worker from the UFS, nothing locally.
        let r = hit_ratios(&now, Some(&Reads::default())).unwrap();
        assert_eq!(r["localHitRatio"], "0.0%");
        assert_eq!(r["remoteHitRatio"], "50.0%");
        assert_eq!(r["cacheHitRatio"], "50.0%");
        assert_eq!(r["cacheThroughputRatio"], "50.0%");
    }

    #[test]
    fn hit_ratios_count_the_reads_since_the_last_sync() {
        let last = Reads {
            local: 100,
            remote: 100,
            ufs: 800,
            ..Default::default()
        };
        // Since then: 300 local, 100 from the UFS: a 75% hit ratio, where the counters since
        // the master started would say 29%.
        let now = Reads {
            local: 400,
            ufs: 900,
            ..last
        };
        let r = hit_ratios(&now, Some(&last)).unwrap();
        assert_eq!(r["cacheHitRatio"], "75.0%");
        assert_eq!(r["localHitRatio"], "75.0%");
        assert_eq!(r["remoteHitRatio"], "0.0%");
        assert_eq!(r["cacheThroughputRatio"], "0.0%", "no throughput");
        let idle = hit_ratios(&now, Some(&now)).unwrap();
        assert_eq!(idle["cacheHitRatio"], "0.0%", "nothing read since");
        // The master restarted: its counters began again, all of them count.
        let restarted = Reads {
            local: 10,
            remote: 0,
            ufs: 30,
            ..Default::default()
        };
        let r = hit_ratios(&restarted, Some(&now)).unwrap();
        assert_eq!(r["cacheHitRatio"], "25.0%");
    }

    #[test]
    fn count_gives_files_folders_and_bytes() {
        assert_eq!(count(COUNT), Some((3, 2, 3_000_021)));
        assert_eq!(count("nothing"), None);
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(alluxio_bytes("0B"), Some(0));
        assert_eq!(alluxio_bytes("64.00MB"), Some(64 << 20));
        assert_eq!(alluxio_bytes("1.50GB"), Some(3 << 29));
        assert_eq!(alluxio_bytes("64,108,845"), Some(64_108_845));
        assert_eq!(alluxio_bytes("12XB"), None);
    }
}
