//! Parsers of what the real juicefs client prints: the mount's `.stats` file, its Prometheus
//! endpoint, `juicefs status`, and the `df`/file count the metadata sync runs. Tested on
//! output captured from juicefs itself (`tests/fixtures/regenerate`).

use std::collections::BTreeMap;

/// `name value` lines of `<mount>/.stats` (community: `juicefs_blockcache_bytes 123`;
/// enterprise: `blockcache.bytes 123`).
pub fn stats(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next()?;
            let value = parts.next()?.parse::<f64>().ok()?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// Prometheus text exposition: each metric name (labels dropped) with the sum of its series.
/// Histogram buckets are skipped.
pub fn metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, rest) = match line.find('{') {
            Some(i) => {
                let close = line[i..].find('}').map(|j| i + j + 1).unwrap_or(line.len());
                (&line[..i], &line[close..])
            }
            None => line.split_once(' ').unwrap_or((line, "")),
        };
        if name.ends_with("_bucket") {
            continue;
        }
        if let Some(v) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *out.entry(name.to_owned()).or_insert(0.0) += v;
        }
    }
    out
}

/// The block-cache counters of one client.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockCache {
    /// Bytes in the cache.
    pub bytes: f64,
    /// Reads served from the cache.
    pub hits: f64,
    /// Reads that missed it.
    pub misses: f64,
    /// Bytes read from the cache.
    pub hit_bytes: f64,
    /// Bytes read past it.
    pub miss_bytes: f64,
}

impl BlockCache {
    /// The counters from parsed `.stats` or metrics, in either edition's names; `None` when
    /// the text has no block-cache figures at all.
    pub fn from_figures(f: &BTreeMap<String, f64>) -> Option<BlockCache> {
        let get = |ce: &str, ee: &str| f.get(ce).or_else(|| f.get(ee)).copied();
        let bytes = get("juicefs_blockcache_bytes", "blockcache.bytes")?;
        Some(BlockCache {
            bytes,
            hits: get("juicefs_blockcache_hits", "blockcache.hits").unwrap_or(0.0),
            misses: get("juicefs_blockcache_miss", "blockcache.miss").unwrap_or(0.0),
            hit_bytes: get("juicefs_blockcache_hit_bytes", "blockcache.hitBytes").unwrap_or(0.0),
            miss_bytes: get("juicefs_blockcache_miss_bytes", "blockcache.missBytes").unwrap_or(0.0),
        })
    }

    /// Adds another client's counters.
    pub fn add(&mut self, o: &BlockCache) {
        self.bytes += o.bytes;
        self.hits += o.hits;
        self.misses += o.misses;
        self.hit_bytes += o.hit_bytes;
        self.miss_bytes += o.miss_bytes;
    }
}

/// The volume's UUID from `juicefs status <metaurl>` (JSON).
pub fn status_uuid(text: &str) -> Option<String> {
    let start = text.find('{')?;
    let v: serde_json::Value = serde_json::from_str(&text[start..]).ok()?;
    v["Setting"]["UUID"].as_str().map(str::to_owned)
}

/// The bytes used, from `df --block-size=1 <mount>`: the `Used` column of the last line
/// (Fluid's `UsedStorageBytes`).
pub fn df_used(text: &str) -> Option<u64> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let cols: Vec<&str> = line.split_whitespace().collect();
    // Filesystem, 1B-blocks, Used, Available, Use%, Mounted on
    if cols.len() < 6 {
        return None;
    }
    cols[2].parse().ok()
}

/// What the metadata job prints: `df --block-size=1` of the mount, then `files <n>`.
pub fn metadata(text: &str) -> Option<(u64, u64)> {
    let (df, files) = text.rsplit_once("files ")?;
    Some((df_used(df)?, files.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = include_str!("../tests/fixtures/stats.txt");
    const STATS_EMPTY: &str = include_str!("../tests/fixtures/stats-empty.txt");
    const METRICS: &str = include_str!("../tests/fixtures/metrics.txt");
    const STATUS: &str = include_str!("../tests/fixtures/status.json");
    const DF: &str = include_str!("../tests/fixtures/df.txt");
    const COUNT: &str = include_str!("../tests/fixtures/count.txt");

    /// The fixture wrote 3 MiB + 1 MiB + 20 bytes and read them back twice.
    const WRITTEN: f64 = (4 * 1024 * 1024 + 20) as f64;

    #[test]
    fn stats_of_a_real_mount_give_the_block_cache() {
        let f = stats(STATS);
        assert!(f.len() > 50, "{} figures", f.len());
        let c = BlockCache::from_figures(&f).unwrap();
        // The cache holds what was written (rounded to blocks' metadata), and reads hit it.
        assert!(c.bytes >= WRITTEN && c.bytes < WRITTEN + 65536.0, "{c:?}");
        assert!(c.hits > 0.0, "{c:?}");
        assert!(c.hit_bytes >= WRITTEN, "{c:?}");
        assert_eq!(c.misses, 0.0);
    }

    #[test]
    fn a_fresh_mount_has_an_empty_cache() {
        let c = BlockCache::from_figures(&stats(STATS_EMPTY)).unwrap();
        assert_eq!((c.bytes, c.hits), (0.0, 0.0));
    }

    #[test]
    fn metrics_and_stats_of_the_same_mount_agree() {
        let m = BlockCache::from_figures(&metrics(METRICS)).unwrap();
        let s = BlockCache::from_figures(&stats(STATS)).unwrap();
        assert_eq!(m.bytes, s.bytes);
        assert_eq!(m.hit_bytes, s.hit_bytes);
        assert!(metrics(METRICS).len() > 50);
    }

    #[test]
    fn text_without_cache_figures_gives_none() {
        assert_eq!(
            BlockCache::from_figures(&stats("error: no such file\n")),
            None
        );
    }

    #[test]
    fn the_uuid_comes_from_juicefs_status() {
        let uuid = status_uuid(STATUS).unwrap();
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(status_uuid("not json"), None);
    }

    #[test]
    fn df_gives_the_used_bytes_and_the_count_job_the_files() {
        let used = df_used(DF).unwrap();
        assert!(used as f64 >= WRITTEN, "{used}");
        let job = format!("{DF}files {COUNT}");
        assert_eq!(metadata(&job), Some((used, 3)));
        assert_eq!(metadata("df: /x: No such file or directory\n"), None);
    }
}
