//! The cache tiers: `spec.tieredstore.levels` to the worker's tier properties
//! (`<p>.worker.tieredstore.level<i>.*`) and the volumes backing each directory.

use super::Problem;
use crate::flavor::Flavor;
use fluid_plugin_api::types::size::quantity_bytes;
use fluid_plugin_api::types::{Level, MediumType, VolumeType};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The tiers of a runtime, ready for the properties and the pods.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tiers {
    /// `<p>.worker.tieredstore.*` properties.
    pub properties: BTreeMap<String, String>,
    /// The pod volumes of the tier directories.
    pub volumes: Vec<Value>,
    /// The containers' mounts of those volumes.
    pub volume_mounts: Vec<Value>,
    /// The cache capacity of one worker, in bytes (the sum of the quotas).
    pub capacity_bytes: u64,
    /// The part of it in memory (the MEM tier), which the workers' pods hold.
    pub memory_bytes: u64,
    /// Whether a tier lives on an emptyDir (short-circuit reads are then off, as in Fluid).
    pub any_empty_dir: bool,
    /// Tiers and directories: one tier of one directory allows direct memory I/O.
    pub single_directory: bool,
}

/// Fluid's order of tiers: memory first.
fn rank(m: MediumType) -> usize {
    match m {
        MediumType::Mem => 0,
        MediumType::Ssd => 1,
        MediumType::Hdd => 2,
    }
}

fn alias(m: MediumType) -> &'static str {
    match m {
        MediumType::Mem => "MEM",
        MediumType::Ssd => "SSD",
        MediumType::Hdd => "HDD",
    }
}

/// A size as Alluxio reads it (binary units: `2GB` is 2 GiB), exact.
pub fn alluxio_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024 && v.is_multiple_of(1024) && unit < UNITS.len() - 1 {
        v /= 1024;
        unit += 1;
    }
    format!("{v}{}", UNITS[unit])
}

/// The tiers of `levels` for the runtime `ns/name`: each directory becomes `<dir>/<ns>/<name>`
/// so runtimes sharing a node directory do not share a cache.
pub fn tiers(
    flavor: &Flavor,
    levels: &[Level],
    ns: &str,
    name: &str,
) -> Result<Tiers, Vec<Problem>> {
    let mut problems = vec![];
    let mut order: Vec<(usize, &Level)> = levels.iter().enumerate().collect();
    order.sort_by_key(|(_, l)| rank(l.medium_type));
    for pair in order.windows(2) {
        if pair[0].1.medium_type == pair[1].1.medium_type {
            problems.push(Problem::new(
                format!("spec.tieredstore.levels[{}].mediumtype", pair[1].0),
                format!("{} is given twice", alias(pair[1].1.medium_type)),
            ));
        }
    }
    let mut out = Tiers {
        single_directory: levels.len() == 1,
        ..Default::default()
    };
    let mut volume_number = 0;
    for (tier, (i, level)) in order.iter().enumerate() {
        let field = |f: &str| format!("spec.tieredstore.levels[{i}].{f}");
        let dirs: Vec<&str> = level
            .path
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if dirs.is_empty() {
            problems.push(Problem::new(
                field("path"),
                "a tier needs at least one directory",
            ));
            continue;
        }
        if let Some(d) = dirs.iter().find(|d| !d.starts_with('/')) {
            problems.push(Problem::new(
                field("path"),
                format!("{d:?} is not an absolute path"),
            ));
            continue;
        }
        out.single_directory &= dirs.len() == 1;
        let quotas: Vec<u64> = if let Some(list) = level.quota_list.as_deref() {
            let q: Vec<Option<u64>> = list.split(',').map(|q| quantity_bytes(q.trim())).collect();
            if q.len() != dirs.len() || q.iter().any(Option::is_none) {
                problems.push(Problem::new(
                    field("quotaList"),
                    format!(
                        "{list:?} needs one quantity per directory of path ({})",
                        dirs.len()
                    ),
                ));
                continue;
            }
            q.into_iter().flatten().collect()
        } else if let Some(q) = &level.quota {
            let Some(total) = quantity_bytes(&q.0) else {
                problems.push(Problem::new(
                    field("quota"),
                    format!("{:?} is not a quantity", q.0),
                ));
                continue;
            };
            // Fluid splits the tier's quota evenly between its directories.
            vec![total / dirs.len() as u64; dirs.len()]
        } else {
            problems.push(Problem::new(
                field("quota"),
                "a tier needs quota or quotaList",
            ));
            continue;
        };
        for (f, ratio) in [("high", &level.high), ("low", &level.low)] {
            if let Some(r) = ratio.as_deref().filter(|r| !r.is_empty()) {
                if !r.parse::<f64>().is_ok_and(|v| (0.0..=1.0).contains(&v)) {
                    problems.push(Problem::new(
                        field(f),
                        format!("{r:?} is not a ratio between 0 and 1"),
                    ));
                }
            }
        }
        let paths: Vec<String> = dirs
            .iter()
            .map(|d| format!("{}/{ns}/{name}", d.trim_end_matches('/')))
            .collect();
        let alias = alias(level.medium_type);
        let key = |k: &str| flavor.key(&format!("worker.tieredstore.level{tier}.{k}"));
        out.properties.insert(key("alias"), alias.into());
        out.properties.insert(key("dirs.path"), paths.join(","));
        out.properties
            .insert(key("dirs.mediumtype"), vec![alias; paths.len()].join(","));
        out.properties.insert(
            key("dirs.quota"),
            quotas
                .iter()
                .map(|q| alluxio_size(*q))
                .collect::<Vec<_>>()
                .join(","),
        );
        if let Some(h) = level.high.as_deref().filter(|h| !h.is_empty()) {
            out.properties.insert(key("watermark.high.ratio"), h.into());
        }
        if let Some(l) = level.low.as_deref().filter(|l| !l.is_empty()) {
            out.properties.insert(key("watermark.low.ratio"), l.into());
        }
        out.capacity_bytes += quotas.iter().sum::<u64>();
        if level.medium_type == MediumType::Mem {
            out.memory_bytes += quotas.iter().sum::<u64>();
        }
        let volume_type = level.volume_type.unwrap_or_default();
        out.any_empty_dir |= volume_type == VolumeType::EmptyDir;
        for path in paths {
            volume_number += 1;
            let vname = format!("tier-{volume_number}");
            out.volumes.push(match volume_type {
                VolumeType::HostPath => {
                    json!({"name": vname, "hostPath": {"path": path, "type": "DirectoryOrCreate"}})
                }
                VolumeType::EmptyDir => {
                    let source = level
                        .volume_source
                        .as_ref()
                        .and_then(|s| serde_json::to_value(s).ok())
                        .and_then(|s| s.get("emptyDir").cloned())
                        .unwrap_or_else(|| json!({}));
                    json!({"name": vname, "emptyDir": source})
                }
            });
            out.volume_mounts
                .push(json!({"name": vname, "mountPath": path}));
        }
    }
    if !levels.is_empty() {
        out.properties.insert(
            flavor.key("worker.tieredstore.levels"),
            levels.len().to_string(),
        );
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(v: Value) -> Vec<Level> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn tiers_are_ordered_memory_first_with_per_runtime_directories_and_quotas() {
        let t = tiers(
            &Flavor::ALLUXIO,
            &levels(json!([
                {"mediumtype": "SSD", "path": "/mnt/ssd1,/mnt/ssd2", "quotaList": "100Gi,50Gi",
                 "high": "0.95", "low": "0.7"},
                {"mediumtype": "MEM", "path": "/dev/shm", "quota": "2Gi",
                 "volumeType": "emptyDir", "volumeSource": {"emptyDir": {"medium": "Memory"}}}
            ])),
            "ns",
            "demo",
        )
        .unwrap();
        let p = &t.properties;
        assert_eq!(p["alluxio.worker.tieredstore.levels"], "2");
        assert_eq!(p["alluxio.worker.tieredstore.level0.alias"], "MEM");
        assert_eq!(
            p["alluxio.worker.tieredstore.level0.dirs.path"],
            "/dev/shm/ns/demo"
        );
        assert_eq!(p["alluxio.worker.tieredstore.level0.dirs.quota"], "2GB");
        assert_eq!(p["alluxio.worker.tieredstore.level1.alias"], "SSD");
        assert_eq!(
            p["alluxio.worker.tieredstore.level1.dirs.path"],
            "/mnt/ssd1/ns/demo,/mnt/ssd2/ns/demo"
        );
        assert_eq!(
            p["alluxio.worker.tieredstore.level1.dirs.mediumtype"],
            "SSD,SSD"
        );
        assert_eq!(
            p["alluxio.worker.tieredstore.level1.dirs.quota"],
            "100GB,50GB"
        );
        assert_eq!(
            p["alluxio.worker.tieredstore.level1.watermark.high.ratio"],
            "0.95"
        );
        assert_eq!(
            p["alluxio.worker.tieredstore.level1.watermark.low.ratio"],
            "0.7"
        );
        assert_eq!(t.capacity_bytes, (152u64) << 30);
        assert_eq!(t.memory_bytes, 2 << 30);
        assert!(t.any_empty_dir);
        assert_eq!(
            t.volumes,
            [
                json!({"name": "tier-1", "emptyDir": {"medium": "Memory"}}),
                json!({"name": "tier-2", "hostPath": {"path": "/mnt/ssd1/ns/demo", "type": "DirectoryOrCreate"}}),
                json!({"name": "tier-3", "hostPath": {"path": "/mnt/ssd2/ns/demo", "type": "DirectoryOrCreate"}}),
            ]
        );
        assert_eq!(
            t.volume_mounts[0],
            json!({"name": "tier-1", "mountPath": "/dev/shm/ns/demo"})
        );
    }

    #[test]
    fn a_quota_is_split_between_the_directories() {
        let t = tiers(
            &Flavor::ALLUXIO,
            &levels(json!([{"mediumtype": "HDD", "path": "/a,/b", "quota": "3Gi"}])),
            "ns",
            "n",
        )
        .unwrap();
        assert_eq!(
            t.properties["alluxio.worker.tieredstore.level0.dirs.quota"],
            "1536MB,1536MB"
        );
        assert!(!t.single_directory);
    }

    #[test]
    fn bad_tiers_name_their_fields() {
        let e = tiers(
            &Flavor::ALLUXIO,
            &levels(json!([
                {"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi"},
                {"mediumtype": "SSD", "path": "relative", "quota": "1Gi"},
                {"mediumtype": "HDD", "path": "/a,/b", "quotaList": "1Gi"},
                {"mediumtype": "MEM", "path": "/x", "quota": "1Gi", "high": "3"}
            ])),
            "ns",
            "n",
        )
        .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|p| p.field.as_str()).collect();
        assert!(
            fields.contains(&"spec.tieredstore.levels[3].mediumtype"),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"spec.tieredstore.levels[1].path"),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"spec.tieredstore.levels[2].quotaList"),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"spec.tieredstore.levels[3].high"),
            "{fields:?}"
        );
    }

    #[test]
    fn sizes_are_written_in_alluxio_units() {
        assert_eq!(alluxio_size(2 << 30), "2GB");
        assert_eq!(alluxio_size(1536 << 20), "1536MB");
        assert_eq!(alluxio_size(1000), "1000B");
    }
}
