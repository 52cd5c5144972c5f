//! What the hooks compute from the cluster: cache states, UFS metadata, health. The I/O goes
//! through the host (exec, get, list); the arithmetic is pure and tested here.

use crate::parse::BlockCache;
use fluid_plugin_api::types::cache_state;
use std::collections::BTreeMap;

/// The container of the worker pods and of the fuse pods.
pub const WORKER_CONTAINER: &str = "juicefs-worker";
/// The container of the fuse pods.
pub const FUSE_CONTAINER: &str = "juicefs-fuse";

pub use fluid_plugin_api::types::size::{human_bytes, parse_human_bytes};

fn percent(part: f64, whole: f64) -> String {
    if whole <= 0.0 {
        "0.0%".into()
    } else {
        format!("{:.1}%", 100.0 * part / whole)
    }
}

/// What the cache figures are computed from.
#[derive(Clone, Debug, Default)]
pub struct CacheInput {
    /// One entry per client whose `.stats` could be read.
    pub clients: Vec<BlockCache>,
    /// Community edition: the cached bytes are the mean over fuse clients (each caches what
    /// it read); enterprise: the sum over the workers of the cache group.
    pub average: bool,
    /// One worker's cache capacity in bytes (tier quota or `cache-size` MiB), if known.
    pub capacity_per_worker: Option<u64>,
    /// Ready workers.
    pub ready_workers: u64,
    /// The UFS size in bytes, if known.
    pub ufs_bytes: Option<u64>,
}

/// Fluid's cache states: always the five keys Fluid's JuiceFS engine writes (`cacheCapacity`,
/// `cached`, `cachedPercentage`, `cacheHitRatio`, `cacheThroughputRatio`), a figure that cannot
/// be known yet left empty, as Fluid leaves it.
pub fn cache_states(input: &CacheInput) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = [
        cache_state::CACHE_CAPACITY,
        cache_state::CACHED,
        cache_state::CACHED_PERCENTAGE,
        cache_state::CACHE_HIT_RATIO,
        cache_state::CACHE_THROUGHPUT_RATIO,
    ]
    .into_iter()
    .map(|k| (k.to_owned(), String::new()))
    .collect();
    if let Some(c) = input.capacity_per_worker {
        out.insert(
            cache_state::CACHE_CAPACITY.to_owned(),
            human_bytes(c.saturating_mul(input.ready_workers)),
        );
    }
    if input.clients.is_empty() {
        return out;
    }
    let mut total = BlockCache::default();
    for c in &input.clients {
        total.add(c);
    }
    let cached = if input.average {
        total.bytes / input.clients.len() as f64
    } else {
        total.bytes
    };
    out.insert(cache_state::CACHED.to_owned(), human_bytes(cached as u64));
    if let Some(ufs) = input.ufs_bytes {
        out.insert(
            cache_state::CACHED_PERCENTAGE.to_owned(),
            percent(cached, ufs as f64),
        );
    }
    out.insert(
        cache_state::CACHE_HIT_RATIO.to_owned(),
        percent(total.hits, total.hits + total.misses),
    );
    out.insert(
        cache_state::CACHE_THROUGHPUT_RATIO.to_owned(),
        percent(total.hit_bytes, total.hit_bytes + total.miss_bytes),
    );
    out
}

/// The files the metadata count skips: JuiceFS' virtual entries in the mount's root.
const VIRTUAL: [&str; 5] = [".trash", ".stats", ".config", ".accesslog", ".control"];

/// The shell job computing the UFS size and file count in a worker, in the background: the
/// first call starts it and answers exit code 3 ("calculating"); once it finished, calls
/// print its result (`df` then `files <n>`) with exit code 0. A failed job is forgotten so
/// that the next call starts it again. Nothing waits on it: the exec returns at once.
pub fn metadata_job(mount_path: &str) -> String {
    let m = crate::transform::options::sh_quote(mount_path);
    let prune = VIRTUAL
        .iter()
        .map(|v| format!("-path {m}/{v}"))
        .collect::<Vec<_>>()
        .join(" -o ");
    format!(
        "R=/tmp/fluid-rs-metadata; \
         if [ -s $R.out ]; then cat $R.out; exit 0; fi; \
         if [ ! -e $R.started ]; then touch $R.started; \
         ( (df --block-size=1 {m} && printf 'files ' && find {m} \\( {prune} \\) -prune -o -type f -print | wc -l) > $R.tmp \
           && mv $R.tmp $R.out || rm -f $R.started $R.tmp ) </dev/null >/dev/null 2>&1 & \
         fi; exit 3"
    )
}

/// Cache directories under which the worker of a volume keeps its blocks, for clean-up at
/// shutdown: `<dir>/<uuid>/raw/chunks` (community: the volume's UUID; enterprise: its name).
pub fn cache_chunk_dirs(cache_dirs: &[String], volume_id: &str) -> Vec<String> {
    if volume_id.is_empty() || volume_id.contains('/') || volume_id.starts_with('.') {
        return vec![];
    }
    cache_dirs
        .iter()
        .filter(|d| d.starts_with('/') && !d.contains(".."))
        .map(|d| format!("{}/{volume_id}/raw/chunks", d.trim_end_matches('/')))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn sizes_round_trip() {
        assert_eq!(human_bytes(1536 * 1024 * 1024), "1.50GiB");
        assert_eq!(parse_human_bytes("1.50GiB"), Some(1536 * 1024 * 1024));
        assert_eq!(parse_human_bytes("512B"), Some(512));
        assert_eq!(parse_human_bytes("[Calculating]"), None);
    }

    #[test]
    fn cache_states_from_a_real_stats_file() {
        let c =
            BlockCache::from_figures(&parse::stats(include_str!("../tests/fixtures/stats.txt")))
                .unwrap();
        let used = parse::df_used(include_str!("../tests/fixtures/df.txt")).unwrap();
        let states = cache_states(&CacheInput {
            clients: vec![c, c],
            average: true,
            capacity_per_worker: Some(40 << 30),
            ready_workers: 2,
            ufs_bytes: Some(used),
        });
        assert_eq!(states["cacheCapacity"], "80.00GiB");
        assert_eq!(states["cached"], "4.01MiB");
        assert_eq!(states["cachedPercentage"], "100.0%");
        assert_eq!(states["cacheHitRatio"], "100.0%");
        assert_eq!(states["cacheThroughputRatio"], "100.0%");
        let summed = cache_states(&CacheInput {
            clients: vec![c, c],
            ..Default::default()
        });
        assert_eq!(summed["cached"], "8.02MiB");
        assert_eq!(
            (
                summed["cacheCapacity"].as_str(),
                summed["cachedPercentage"].as_str()
            ),
            ("", "")
        );
    }

    #[test]
    fn without_readable_clients_only_the_capacity_is_known() {
        let states = cache_states(&CacheInput {
            capacity_per_worker: Some(1 << 30),
            ready_workers: 3,
            ..Default::default()
        });
        assert_eq!(states["cacheCapacity"], "3.00GiB");
        // Fluid's keys are always there, empty until known (`kubectl get dataset` columns).
        for k in [
            "cached",
            "cachedPercentage",
            "cacheHitRatio",
            "cacheThroughputRatio",
        ] {
            assert_eq!(states[k], "", "{k}");
        }
        assert_eq!(states.len(), 5);
    }

    #[test]
    fn the_metadata_job_runs_in_the_background_and_skips_virtual_files() {
        let job = metadata_job("/runtime-mnt/juicefs/ns/n/juicefs-fuse");
        assert!(
            job.contains("-path /runtime-mnt/juicefs/ns/n/juicefs-fuse/.stats"),
            "{job}"
        );
        assert!(job.contains(") </dev/null >/dev/null 2>&1 &"), "{job}");
        assert!(job.ends_with("exit 3"), "{job}");
    }

    #[test]
    fn only_chunk_directories_are_cleaned() {
        assert_eq!(
            cache_chunk_dirs(&["/cache/".into(), "relative".into()], "d1d4ffb1-786f"),
            ["/cache/d1d4ffb1-786f/raw/chunks"]
        );
        assert!(cache_chunk_dirs(&["/cache".into()], "../x").is_empty());
        assert!(cache_chunk_dirs(&["/cache".into()], "").is_empty());
    }
}
