//! Metadata backups (DataBackup) and the restore of a Dataset from one
//! (`spec.dataRestoreLocation`), Fluid's layout: a backup is the file
//! `metadata-backup-<dataset>-<namespace>.gz` (the master's journal backup) beside
//! `<dataset>-<namespace>.yaml` (its UFS size and file count), in a directory given as
//! `pvc://<claim>/<subpath>` or `local://<path>` (on a node).
//!
//! The master writes a backup on its own file system; a DataBackup's pod on the master's node
//! collects it through the host directory every master mounts ([`backup_volume`]). A master
//! restoring starts with `<p>.master.journal.init.from.backup` naming the backup file in the
//! claim or host directory it mounts.

use crate::flavor::Flavor;
use fluid_plugin_api::kit::Problem;
use fluid_plugin_api::types::Dataset;
use serde_json::{json, Value};

/// A backup's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// `pvc://<claim>/<path>`: `path` inside the claim.
    Pvc {
        /// The PersistentVolumeClaim.
        claim: String,
        /// The directory inside it, with a leading and a trailing `/`.
        path: String,
    },
    /// `local://<path>`: a directory of a node.
    Local {
        /// The directory, with a leading and a trailing `/`.
        path: String,
    },
}

/// Reads `pvc://claim/subpath` or `local://path` (Fluid's forms); the directory gets a leading
/// and a trailing `/`.
pub fn location(uri: &str) -> Result<Location, String> {
    let dir = |p: &str| {
        let p = p.trim_matches('/');
        if p.is_empty() {
            "/".to_owned()
        } else {
            format!("/{p}/")
        }
    };
    let check = |p: &str| {
        if p.split('/').any(|s| s == "..") {
            Err(format!("{uri:?}: the path may not contain `..`"))
        } else {
            Ok(())
        }
    };
    if let Some(rest) = uri.strip_prefix("pvc://") {
        let (claim, path) = rest.split_once('/').unwrap_or((rest, ""));
        if claim.is_empty() {
            return Err(format!("{uri:?}: no claim name (pvc://<claim>/<path>)"));
        }
        check(path)?;
        Ok(Location::Pvc {
            claim: claim.to_owned(),
            path: dir(path),
        })
    } else if let Some(path) = uri.strip_prefix("local://") {
        check(path)?;
        Ok(Location::Local { path: dir(path) })
    } else {
        Err(format!(
            "{uri:?}: expected pvc://<claim>/<path> or local://<path>"
        ))
    }
}

/// The backup file of a Dataset (Fluid's name).
pub fn metadata_file(dataset: &str, namespace: &str) -> String {
    format!("metadata-backup-{dataset}-{namespace}.gz")
}

/// The file beside it holding the UFS size and file count (Fluid's name).
pub fn metainfo_file(dataset: &str, namespace: &str) -> String {
    format!("{dataset}-{namespace}.yaml")
}

/// Where a pod mounts a `pvc://` location's claim, and a `local://` location's directory.
pub const PVC_MOUNT: &str = "/pvc";
/// See [`PVC_MOUNT`].
pub const HOST_MOUNT: &str = "/host";

/// A location as a volume, and the directory of the backup inside the pod that mounts it at
/// [`PVC_MOUNT`] or [`HOST_MOUNT`].
pub fn location_volume(name: &str, location: &Location) -> (Value, Value, String) {
    match location {
        Location::Pvc { claim, path } => (
            json!({"name": name, "persistentVolumeClaim": {"claimName": claim}}),
            json!({"name": name, "mountPath": PVC_MOUNT}),
            format!("{PVC_MOUNT}{path}"),
        ),
        Location::Local { path } => (
            json!({"name": name, "hostPath": {"path": path, "type": "DirectoryOrCreate"}}),
            json!({"name": name, "mountPath": HOST_MOUNT}),
            format!("{HOST_MOUNT}/"),
        ),
    }
}

/// The host directory where a runtime's masters write backups (Fluid's
/// `$FLUID_WORKDIR/alluxio-backup/<namespace>/<name>`, FLUID_WORKDIR being `/tmp`).
pub fn backup_host_dir(f: &Flavor, namespace: &str, name: &str) -> String {
    format!("/tmp/{}-backup/{namespace}/{name}", f.engine)
}

/// Where the masters and the backup pods mount [`backup_host_dir`].
pub fn backup_mount(f: &Flavor) -> String {
    format!("/{}_backups", f.engine)
}

/// The volume of [`backup_host_dir`] and its mount at [`backup_mount`].
pub fn backup_volume(f: &Flavor, namespace: &str, name: &str) -> (Value, Value) {
    (
        json!({"name": "backups", "hostPath": {"path": backup_host_dir(f, namespace, name), "type": "DirectoryOrCreate"}}),
        json!({"name": "backups", "mountPath": backup_mount(f)}),
    )
}

/// What a master restoring from a backup needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Restore {
    /// The backup's directory as a volume.
    pub volume: Value,
    /// Its mount in the master.
    pub mount: Value,
    /// `(<p>.master.journal.init.from.backup, the backup file)`.
    pub property: (String, String),
    /// The node holding a `local://` backup: the masters run there.
    pub node: Option<String>,
}

/// The restore the Dataset asks for (`spec.dataRestoreLocation`), if any.
pub fn restore(
    f: &Flavor,
    dataset: &Dataset,
    name: &str,
    namespace: &str,
) -> Result<Option<Restore>, Problem> {
    let Some(at) = dataset.spec.data_restore_location.as_ref() else {
        return Ok(None);
    };
    let Some(path) = at.path.as_deref().filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let field = "spec.dataRestoreLocation.path";
    let location = location(path).map_err(|m| Problem::new(field, m))?;
    let node = match (&location, at.node_name.as_deref().filter(|n| !n.is_empty())) {
        (Location::Local { .. }, None) => {
            return Err(Problem::new(
                "spec.dataRestoreLocation.nodeName",
                "a local:// backup is on one node: name it",
            ))
        }
        (Location::Local { .. }, Some(n)) => Some(n.to_owned()),
        (Location::Pvc { .. }, _) => None,
    };
    let (volume, mount, dir) = location_volume("restore", &location);
    Ok(Some(Restore {
        volume,
        mount,
        property: (
            f.key("master.journal.init.from.backup"),
            format!("{dir}{}", metadata_file(name, namespace)),
        ),
        node,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_as_fluid_reads_them() {
        assert_eq!(
            location("pvc://backups/alluxio/demo").unwrap(),
            Location::Pvc {
                claim: "backups".into(),
                path: "/alluxio/demo/".into()
            }
        );
        assert_eq!(
            location("pvc://backups").unwrap(),
            Location::Pvc {
                claim: "backups".into(),
                path: "/".into()
            }
        );
        assert_eq!(
            location("local:///data/backup").unwrap(),
            Location::Local {
                path: "/data/backup/".into()
            }
        );
        assert!(location("s3://bucket/x")
            .unwrap_err()
            .contains("expected pvc://"));
        assert!(location("pvc:///x").unwrap_err().contains("no claim"));
        assert!(location("local:///a/../etc").unwrap_err().contains(".."));
    }

    fn dataset(at: serde_json::Value) -> Dataset {
        serde_json::from_value(json!({
            "metadata": {"name": "demo", "namespace": "ns"},
            "spec": {"mounts": [{"mountPoint": "local:///srv"}], "dataRestoreLocation": at}
        }))
        .unwrap()
    }

    #[test]
    fn a_restore_mounts_the_backup_and_names_its_file() {
        let f = Flavor::ALLUXIO;
        let r = restore(
            &f,
            &dataset(json!({"path": "pvc://backups/demo"})),
            "demo",
            "ns",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            r.property,
            (
                "alluxio.master.journal.init.from.backup".into(),
                "/pvc/demo/metadata-backup-demo-ns.gz".into()
            )
        );
        assert_eq!(r.volume["persistentVolumeClaim"]["claimName"], "backups");
        assert_eq!(r.node, None);
        let r = restore(
            &f,
            &dataset(json!({"path": "local:///var/backup", "nodeName": "node-1"})),
            "demo",
            "ns",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.property.1, "/host/metadata-backup-demo-ns.gz");
        assert_eq!(r.volume["hostPath"]["path"], "/var/backup/");
        assert_eq!(r.node.as_deref(), Some("node-1"));
        let e = restore(
            &f,
            &dataset(json!({"path": "local:///var/backup"})),
            "demo",
            "ns",
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.dataRestoreLocation.nodeName");
        let e = restore(&f, &dataset(json!({"path": "nfs://x"})), "demo", "ns").unwrap_err();
        assert_eq!(e.field, "spec.dataRestoreLocation.path");
        assert_eq!(
            restore(&f, &dataset(json!({})), "demo", "ns").unwrap(),
            None
        );
    }
}
