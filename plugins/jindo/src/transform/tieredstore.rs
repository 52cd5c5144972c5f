//! The cache: Jindo caches in the first level of `spec.tieredstore` (Fluid reads no other).
//! Its directories become the storage service's data dirs, its quotas their capacities (in
//! Jindo's units), its watermarks the eviction ratios; the first directory also holds the
//! namespace service's metadata.

use super::Problem;
use crate::flavor::Flavor;
use fluid_plugin_api::types::{Level, MediumType, VolumeType};
use serde_json::{json, Value};

/// The cache of a runtime, ready for the properties and the pods.
#[derive(Clone, Debug, PartialEq)]
pub struct Cache {
    /// The medium of the level (MEM when there is none: `/dev/shm`).
    pub medium: MediumType,
    /// The data dirs, `<dir>/<ns>/<name>/<leaf>`, comma-separated
    /// (`storage.data-dirs`).
    pub data_dirs: String,
    /// The first of them: the namespace service's metadata lives under it.
    pub meta_path: String,
    /// The capacities in Jindo's units (`1g` or `1g,2g`: `storage.data-dirs.capacities`).
    pub capacities: String,
    /// `storage.watermark.high.ratio`.
    pub high: String,
    /// `storage.watermark.low.ratio`.
    pub low: String,
    /// The master's volume (the metadata directory) and its mount.
    pub master_volumes: (Vec<Value>, Vec<Value>),
    /// The workers' and clients' volumes (each node directory) and their mounts.
    pub worker_volumes: (Vec<Value>, Vec<Value>),
}

/// A Kubernetes quantity in Jindo's units, as Fluid writes it: `Gi` as `g`, `Mi` as `m`.
pub fn jindo_unit(quantity: &str) -> String {
    let q = quantity.trim();
    if let Some(n) = q.strip_suffix("Gi") {
        format!("{n}g")
    } else if let Some(n) = q.strip_suffix("Mi") {
        format!("{n}m")
    } else {
        q.to_owned()
    }
}

fn valid_quantity(q: &str) -> bool {
    fluid_plugin_api::types::size::quantity_bytes(q).is_some()
}

fn volume(name: String, path: &str, level: Option<&Level>, medium: MediumType) -> Value {
    let empty_dir = level.is_some_and(|l| l.volume_type == Some(VolumeType::EmptyDir));
    if empty_dir {
        let source = level
            .and_then(|l| l.volume_source.as_ref())
            .and_then(|s| s.0.empty_dir.clone())
            .map(|e| serde_json::to_value(e).unwrap_or_default())
            .unwrap_or_else(|| match medium {
                MediumType::Mem => json!({"medium": "Memory"}),
                _ => json!({}),
            });
        json!({"name": name, "emptyDir": source})
    } else {
        json!({"name": name, "hostPath": {"path": path, "type": "DirectoryOrCreate"}})
    }
}

/// The cache of the runtime `ns/name` from its levels.
pub fn cache(
    flavor: &Flavor,
    levels: &[Level],
    namespace: &str,
    name: &str,
) -> Result<Cache, Vec<Problem>> {
    let level = levels.first();
    let field = "spec.tieredstore.levels[0]";
    let mut problems = vec![];
    let dirs: Vec<String> = level
        .and_then(|l| l.path.as_deref())
        .unwrap_or("/dev/shm/")
        .split(',')
        .map(|d| d.trim().trim_end_matches('/').to_owned())
        .collect();
    if dirs.iter().any(|d| !d.starts_with('/')) {
        problems.push(Problem::new(
            format!("{field}.path"),
            "each directory must be an absolute path",
        ));
    }
    let cache_dirs: Vec<String> = dirs
        .iter()
        .map(|d| format!("{d}/{namespace}/{name}/{}", flavor.cache_leaf))
        .collect();
    let capacities = match (level, level.and_then(|l| l.quota_list.as_deref())) {
        (None, _) => "1g".to_owned(),
        (Some(_), Some(list)) if !list.is_empty() => {
            let quotas: Vec<&str> = list.split(',').map(str::trim).collect();
            if quotas.len() != dirs.len() {
                problems.push(Problem::new(
                    format!("{field}.quotaList"),
                    format!(
                        "{} quotas for {} directories: give one per directory of path",
                        quotas.len(),
                        dirs.len()
                    ),
                ));
            }
            if let Some(bad) = quotas.iter().find(|q| !valid_quantity(q)) {
                problems.push(Problem::new(
                    format!("{field}.quotaList"),
                    format!("{bad:?} is not a quantity (e.g. 10Gi)"),
                ));
            }
            quotas
                .iter()
                .map(|q| jindo_unit(q))
                .collect::<Vec<_>>()
                .join(",")
        }
        (Some(l), _) => match &l.quota {
            Some(q) => jindo_unit(&q.0),
            None => {
                problems.push(Problem::new(
                    format!("{field}.quota"),
                    "the cache level needs a quota (or a quotaList)",
                ));
                String::new()
            }
        },
    };
    let mut ratio = |v: Option<&str>, default: &str, key: &str| -> String {
        match v.map(str::trim).filter(|v| !v.is_empty()) {
            None => default.to_owned(),
            Some(v) => {
                if !v.parse::<f64>().is_ok_and(|r| (0.0..=1.0).contains(&r)) {
                    problems.push(Problem::new(
                        format!("{field}.{key}"),
                        format!("{v:?} is not a ratio between 0 and 1"),
                    ));
                }
                v.to_owned()
            }
        }
    };
    let high = ratio(level.and_then(|l| l.high.as_deref()), "0.8", "high");
    let low = ratio(level.and_then(|l| l.low.as_deref()), "0.6", "low");
    if !problems.is_empty() {
        return Err(problems);
    }
    let medium = level.map(|l| l.medium_type).unwrap_or(MediumType::Mem);
    let meta_path = cache_dirs[0].clone();
    let master_volumes = (
        vec![volume("cache-meta".into(), &meta_path, level, medium)],
        vec![json!({"name": "cache-meta", "mountPath": meta_path})],
    );
    let (mut vols, mut mounts) = (vec![], vec![]);
    for (i, d) in dirs.iter().enumerate() {
        vols.push(volume(format!("cache-dir-{i}"), d, level, medium));
        mounts.push(json!({"name": format!("cache-dir-{i}"), "mountPath": d}));
    }
    Ok(Cache {
        medium,
        data_dirs: cache_dirs.join(","),
        meta_path,
        capacities,
        high,
        low,
        master_volumes,
        worker_volumes: (vols, mounts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(v: Value) -> Vec<Level> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn no_level_is_one_gibibyte_of_shared_memory() {
        let c = cache(&Flavor::JINDOCACHE, &[], "ns", "demo").unwrap();
        assert_eq!(c.data_dirs, "/dev/shm/ns/demo/jindocache");
        assert_eq!(c.meta_path, "/dev/shm/ns/demo/jindocache");
        assert_eq!(
            (c.capacities.as_str(), c.high.as_str(), c.low.as_str()),
            ("1g", "0.8", "0.6")
        );
        assert_eq!(c.medium, MediumType::Mem);
        assert_eq!(
            c.worker_volumes.0[0],
            json!({"name": "cache-dir-0", "hostPath": {"path": "/dev/shm", "type": "DirectoryOrCreate"}})
        );
    }

    #[test]
    fn directories_quotas_and_watermarks_become_jindos() {
        let l = levels(json!([{"mediumtype": "SSD", "path": "/mnt/a/,/mnt/b",
            "quotaList": "100Gi,512Mi", "high": "0.9", "low": "0.5"}]));
        let c = cache(&Flavor::JINDO, &l, "ns", "demo").unwrap();
        assert_eq!(c.data_dirs, "/mnt/a/ns/demo/bigboot,/mnt/b/ns/demo/bigboot");
        assert_eq!(c.capacities, "100g,512m");
        assert_eq!((c.high.as_str(), c.low.as_str()), ("0.9", "0.5"));
        assert_eq!(
            c.worker_volumes.1[1],
            json!({"name": "cache-dir-1", "mountPath": "/mnt/b"})
        );
        let l = levels(
            json!([{"mediumtype": "MEM", "path": "/dev/shm", "quota": "2Gi",
            "volumeType": "emptyDir"}]),
        );
        let c = cache(&Flavor::JINDOFSX, &l, "ns", "demo").unwrap();
        assert_eq!(c.capacities, "2g");
        assert_eq!(
            c.master_volumes.0[0],
            json!({"name": "cache-meta", "emptyDir": {"medium": "Memory"}})
        );
    }

    #[test]
    fn mismatched_quotas_and_bad_ratios_name_their_field() {
        let l = levels(
            json!([{"mediumtype": "HDD", "path": "/a,/b", "quotaList": "1Gi",
            "high": "2"}]),
        );
        let p = cache(&Flavor::JINDOCACHE, &l, "ns", "demo").unwrap_err();
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.tieredstore.levels[0].quotaList",
                "spec.tieredstore.levels[0].high"
            ]
        );
    }
}
