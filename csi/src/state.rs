//! What the plugin remembers across its own restarts, in one JSON file on the node (under the
//! kubelet's plugin directory, so it outlives the container):
//! * the publications (target path -> what was bound there), which the fuse-recovery loop
//!   repairs when the fuse under them is remounted;
//! * for volumes with the `OnFuseChanged` clean policy, the fuse generation the volume had when
//!   this node was staged for it.

use crate::attributes::DatasetRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A volume published at a target path by this plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// The CSI volume id (the PV's name).
    pub volume_id: String,
    /// Where it is published.
    pub target: PathBuf,
    /// The fuse mount point it comes from.
    pub fluid_path: PathBuf,
    /// The directory of the volume that is published, if not its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<PathBuf>,
    /// The type checked in mountinfo, if the check applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_type: Option<String>,
    /// Bound read-only.
    pub read_only: bool,
    /// Where Events about it go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetRef>,
}

impl Publication {
    /// The path bound at the target.
    pub fn source(&self) -> PathBuf {
        match &self.sub_path {
            Some(sub) => self.fluid_path.join(sub),
            None => self.fluid_path.clone(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    #[serde(default)]
    publications: BTreeMap<PathBuf, Publication>,
    #[serde(default)]
    stage_generations: BTreeMap<String, String>,
}

/// The state file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing the state file {path}: {source}")]
pub struct StateError {
    /// The file.
    pub path: PathBuf,
    /// The failure.
    pub source: std::io::Error,
}

/// The plugin's state, kept in memory and written through to its file.
#[derive(Debug)]
pub struct State {
    path: PathBuf,
    file: Mutex<StateFile>,
}

impl State {
    /// Loads the state file; a missing file is an empty state. A file that cannot be parsed is
    /// set aside as `<file>.corrupt` (the mounts themselves are on the node, not in it) so the
    /// plugin starts; the loss is logged.
    pub fn load(path: &Path) -> Result<Self, StateError> {
        let io = |source| StateError {
            path: path.to_owned(),
            source,
        };
        let file = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(file) => file,
                Err(e) => {
                    let aside = path.with_extension("corrupt");
                    tracing::error!(path = %path.display(), error = %e, moved_to = %aside.display(),
                        "the state file cannot be parsed: starting without remembered publications");
                    std::fs::rename(path, &aside).map_err(io)?;
                    StateFile::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile::default(),
            Err(e) => return Err(io(e)),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    fn update(&self, change: impl FnOnce(&mut StateFile) -> bool) -> Result<(), StateError> {
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !change(&mut file) {
            return Ok(());
        }
        let io = |source| StateError {
            path: self.path.clone(),
            source,
        };
        // Written whole and renamed over the old file: a crash leaves the old or the new one.
        let bytes = serde_json::to_vec_pretty(&*file).map_err(|e| io(e.into()))?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    /// Every remembered publication.
    pub fn publications(&self) -> Vec<Publication> {
        let file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.publications.values().cloned().collect()
    }

    /// The publication at a target, if any.
    pub fn publication(&self, target: &Path) -> Option<Publication> {
        let file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.publications.get(target).cloned()
    }

    /// Remembers a publication (replacing one at the same target).
    pub fn put_publication(&self, p: Publication) -> Result<(), StateError> {
        self.update(|f| f.publications.insert(p.target.clone(), p.clone()).as_ref() != Some(&p))
    }

    /// Forgets the publication at a target.
    pub fn remove_publication(&self, target: &Path) -> Result<(), StateError> {
        self.update(|f| f.publications.remove(target).is_some())
    }

    /// The fuse generation remembered when this node was staged for a volume.
    pub fn stage_generation(&self, volume_id: &str) -> Option<String> {
        let file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.stage_generations.get(volume_id).cloned()
    }

    /// Remembers the fuse generation of a volume at stage time.
    pub fn set_stage_generation(
        &self,
        volume_id: &str,
        generation: &str,
    ) -> Result<(), StateError> {
        self.update(|f| {
            f.stage_generations
                .insert(volume_id.to_owned(), generation.to_owned())
                .as_deref()
                != Some(generation)
        })
    }

    /// Forgets the stage generation of a volume.
    pub fn remove_stage_generation(&self, volume_id: &str) -> Result<(), StateError> {
        self.update(|f| f.stage_generations.remove(volume_id).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication(target: &str) -> Publication {
        Publication {
            volume_id: "ns-ds".into(),
            target: target.into(),
            fluid_path: "/runtime-mnt/x/ns/ds/x-fuse".into(),
            sub_path: Some("a/b".into()),
            mount_type: Some("X".into()),
            read_only: true,
            dataset: Some(DatasetRef {
                namespace: "ns".into(),
                name: "ds".into(),
            }),
        }
    }

    #[test]
    fn survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        let s = State::load(&path).unwrap();
        s.put_publication(publication("/t1")).unwrap();
        s.put_publication(publication("/t2")).unwrap();
        s.remove_publication(Path::new("/t1")).unwrap();
        s.set_stage_generation("ns-ds", "3").unwrap();
        let again = State::load(&path).unwrap();
        assert_eq!(again.publications(), vec![publication("/t2")]);
        assert_eq!(
            again.publication(Path::new("/t2")).unwrap().source(),
            Path::new("/runtime-mnt/x/ns/ds/x-fuse/a/b")
        );
        assert_eq!(again.stage_generation("ns-ds").as_deref(), Some("3"));
        again.remove_stage_generation("ns-ds").unwrap();
        assert_eq!(State::load(&path).unwrap().stage_generation("ns-ds"), None);
    }

    #[test]
    fn a_corrupt_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{not json").unwrap();
        let s = State::load(&path).unwrap();
        assert!(s.publications().is_empty());
        assert!(dir.path().join("state.corrupt").exists());
    }
}
