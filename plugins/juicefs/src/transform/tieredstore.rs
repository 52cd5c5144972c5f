//! The cache: `tieredstore.levels[0]` becomes JuiceFS' cache options (`cache-dir`,
//! `cache-size`, `free-space-ratio`) and one volume per cache directory, mounted into the
//! workers and the fuse clients.

use fluid_plugin_api::types::{Level, MediumType, VolumeType};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// JuiceFS' cache directory when the runtime has no tiered store.
pub const DEFAULT_CACHE_DIR: &str = "/var/jfsCache";

/// One cache directory and the volume backing it.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheDir {
    /// The volume name, `cache-dir-<n>` (n from 0, as Fluid names the pods' cache volumes).
    pub name: String,
    /// The directory inside the containers (and on the node for hostPath).
    pub path: String,
    /// `hostPath` (DirectoryOrCreate) or `emptyDir`.
    pub volume_type: VolumeType,
    /// The emptyDir source given by the tier, if any.
    pub volume_source: Option<Value>,
}

impl CacheDir {
    /// The pod volume.
    pub fn volume(&self) -> Value {
        match self.volume_type {
            VolumeType::HostPath => {
                json!({"name": self.name, "hostPath": {"path": self.path, "type": "DirectoryOrCreate"}})
            }
            VolumeType::EmptyDir => {
                let source = self
                    .volume_source
                    .as_ref()
                    .and_then(|s| s.get("emptyDir").cloned())
                    .unwrap_or_else(|| json!({}));
                json!({"name": self.name, "emptyDir": source})
            }
        }
    }

    /// The container's mount of the volume.
    pub fn volume_mount(&self) -> Value {
        json!({"name": self.name, "mountPath": self.path})
    }
}

/// A tier that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierError {
    /// The field, e.g. `spec.tieredstore.levels[0].quota`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The cache of a runtime: its directories and the JuiceFS options describing it.
#[derive(Clone, Debug, PartialEq)]
pub struct Cache {
    /// The cache directories, in order.
    pub dirs: Vec<CacheDir>,
    /// `cache-dir`, `cache-size` (MiB), `free-space-ratio`.
    pub options: BTreeMap<String, String>,
    /// The tier's quota in bytes (capacity of one worker's cache), when given.
    pub quota_bytes: Option<u64>,
    /// Whether the tier is memory.
    pub memory: bool,
}

/// The cache described by the first tier (Fluid's JuiceFS engine reads only `levels[0]`).
pub fn cache(levels: &[Level]) -> Result<Cache, TierError> {
    let level = levels.first();
    let path = level
        .and_then(|l| l.path.clone())
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_CACHE_DIR.to_owned());
    let volume_type = level
        .and_then(|l| l.volume_type)
        .unwrap_or(VolumeType::HostPath);
    let volume_source = level
        .and_then(|l| l.volume_source.as_ref())
        .and_then(|s| serde_json::to_value(s).ok());
    let dirs: Vec<CacheDir> = path
        .split(':')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
        .map(|(i, p)| CacheDir {
            name: format!("cache-dir-{i}"),
            path: p.to_owned(),
            volume_type,
            volume_source: volume_source.clone(),
        })
        .collect();
    for d in &dirs {
        if !d.path.starts_with('/') {
            return Err(TierError {
                field: "spec.tieredstore.levels[0].path".into(),
                message: format!("cache directory {:?} is not an absolute path", d.path),
            });
        }
    }
    let mut options = BTreeMap::new();
    options.insert(
        "cache-dir".to_owned(),
        dirs.iter()
            .map(|d| d.path.as_str())
            .collect::<Vec<_>>()
            .join(":"),
    );
    let mut quota_bytes = None;
    if let Some(q) = level.and_then(|l| l.quota.as_ref()) {
        let bytes = quantity_bytes(&q.0).ok_or_else(|| TierError {
            field: "spec.tieredstore.levels[0].quota".into(),
            message: format!("{:?} is not a quantity", q.0),
        })?;
        options.insert("cache-size".to_owned(), (bytes >> 20).to_string());
        quota_bytes = Some(bytes);
    }
    if let Some(low) = level
        .and_then(|l| l.low.as_deref())
        .filter(|l| !l.is_empty())
    {
        match low.parse::<f64>() {
            Ok(r) if (0.0..1.0).contains(&r) => {
                options.insert("free-space-ratio".to_owned(), low.to_owned());
            }
            _ => {
                return Err(TierError {
                    field: "spec.tieredstore.levels[0].low".into(),
                    message: format!("{low:?} is not a ratio between 0 and 1"),
                })
            }
        }
    }
    Ok(Cache {
        dirs,
        options,
        quota_bytes,
        memory: level.is_some_and(|l| l.medium_type == MediumType::Mem),
    })
}

pub use fluid_plugin_api::types::size::quantity_bytes;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn levels(v: Value) -> Vec<Level> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn no_tier_means_the_default_host_directory() {
        let c = cache(&[]).unwrap();
        assert_eq!(c.options["cache-dir"], "/var/jfsCache");
        assert!(!c.options.contains_key("cache-size"));
        assert_eq!(
            c.dirs[0].volume(),
            json!({"name": "cache-dir-0", "hostPath": {"path": "/var/jfsCache", "type": "DirectoryOrCreate"}})
        );
    }

    #[test]
    fn several_colon_separated_paths_quota_in_mib_and_low_as_free_space_ratio() {
        let c = cache(&levels(json!([{"mediumtype": "SSD", "path": "/mnt/ssd1:/mnt/ssd2",
            "quota": "40Gi", "low": "0.1"}, {"mediumtype": "HDD", "path": "/ignored", "quota": "1Ti"}])))
        .unwrap();
        assert_eq!(c.options["cache-dir"], "/mnt/ssd1:/mnt/ssd2");
        assert_eq!(c.options["cache-size"], "40960");
        assert_eq!(c.options["free-space-ratio"], "0.1");
        assert_eq!(c.quota_bytes, Some(40 << 30));
        let mounts: Vec<Value> = c.dirs.iter().map(CacheDir::volume_mount).collect();
        assert_eq!(
            mounts,
            [
                json!({"name": "cache-dir-0", "mountPath": "/mnt/ssd1"}),
                json!({"name": "cache-dir-1", "mountPath": "/mnt/ssd2"})
            ]
        );
    }

    #[test]
    fn a_memory_tier_on_empty_dir_keeps_its_volume_source() {
        let c = cache(&levels(
            json!([{"mediumtype": "MEM", "volumeType": "emptyDir",
            "volumeSource": {"emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
            "path": "/dev/shm/jfs", "quota": "2Gi"}]),
        ))
        .unwrap();
        assert!(c.memory);
        assert_eq!(
            c.dirs[0].volume(),
            json!({"name": "cache-dir-0", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}})
        );
        assert_eq!(c.options["cache-size"], "2048");
    }

    #[test]
    fn bad_tiers_name_their_field() {
        let e = cache(&levels(
            json!([{"mediumtype": "SSD", "path": "/a", "low": "2"}]),
        ))
        .unwrap_err();
        assert_eq!(e.field, "spec.tieredstore.levels[0].low");
        let e = cache(&levels(json!([{"mediumtype": "SSD", "path": "relative"}]))).unwrap_err();
        assert_eq!(e.field, "spec.tieredstore.levels[0].path");
    }
}
