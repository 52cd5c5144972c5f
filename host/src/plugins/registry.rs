//! Loading every plugin of a directory. A bad file is refused with one log line naming it and
//! the reason; the other plugins still load.

use fluid_plugin_api::loader::Plugin;
use fluid_plugin_api::protocol::RuntimeKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The directory itself could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the plugin directory {dir}: {source}")]
pub struct RegistryError {
    dir: PathBuf,
    source: std::io::Error,
}

/// A file that was not loaded, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// The file.
    pub path: PathBuf,
    /// The full message: `refusing plugin PATH: REASON`.
    pub message: String,
}

/// The plugins loaded at start-up, one per runtime kind and one per engine name.
#[derive(Debug, Default)]
pub struct Registry {
    plugins: Vec<Arc<Plugin>>,
    refused: Vec<Refusal>,
}

impl Registry {
    /// Loads every `*.so` file of `dir` and of its direct subdirectories, in path order (so
    /// which of two plugins claiming the same kind or engine name wins does not depend on the
    /// file system). Refusals are logged and kept.
    pub fn load_dir(dir: &Path) -> Result<Registry, RegistryError> {
        let read_err = |source| RegistryError {
            dir: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for path in std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
        {
            if is_candidate(&path) {
                files.push(path);
            } else if path.is_dir() && !is_hidden(&path) {
                // One level down: plugins mounted as image volumes, one directory each.
                if let Ok(entries) = std::fs::read_dir(&path) {
                    files.extend(
                        entries
                            .filter_map(|e| e.ok().map(|e| e.path()))
                            .filter(|p| is_candidate(p)),
                    );
                }
            }
        }
        files.sort();
        let mut registry = Registry::default();
        for path in files {
            registry.add_file(&path);
        }
        Ok(registry)
    }

    /// Loads one file into the registry, or records (and logs) why not.
    pub fn add_file(&mut self, path: &Path) {
        match Plugin::open(path) {
            Ok(plugin) => {
                if let Some(owner) = self.serving(&plugin.info().runtime) {
                    let message = format!(
                        "refusing plugin {}: runtime kind {} is already served by plugin {} ({})",
                        path.display(),
                        plugin.info().runtime,
                        owner.info().name,
                        owner.path().display()
                    );
                    self.refuse(path, message);
                    return;
                }
                // The engine's name is its identity in Dataset claims, finalizers, release
                // values and the PV's mount type: two engines of one name would take each
                // other's Datasets.
                if let Some(owner) = self.named(&plugin.info().name) {
                    let message = format!(
                        "refusing plugin {}: engine name {} is already used by plugin file {}",
                        path.display(),
                        plugin.info().name,
                        owner.path().display()
                    );
                    self.refuse(path, message);
                    return;
                }
                tracing::info!(
                    path = %path.display(),
                    plugin = %plugin.info().name,
                    version = %plugin.info().version,
                    kind = %plugin.info().runtime,
                    "loaded plugin"
                );
                self.plugins.push(Arc::new(plugin));
            }
            Err(e) => self.refuse(path, e.to_string()),
        }
    }

    fn refuse(&mut self, path: &Path, message: String) {
        tracing::error!(path = %path.display(), "{message}");
        self.refused.push(Refusal {
            path: path.to_path_buf(),
            message,
        });
    }

    /// The plugin serving a kind (matched on group and kind; versions belong to one CRD).
    pub fn serving(&self, kind: &RuntimeKind) -> Option<&Arc<Plugin>> {
        self.plugins.iter().find(|p| {
            let k = &p.info().runtime;
            k.group == kind.group && k.kind == kind.kind
        })
    }

    /// The plugin of an engine name.
    pub fn named(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.iter().find(|p| p.info().name == name)
    }

    /// The loaded plugins, in load order.
    pub fn plugins(&self) -> &[Arc<Plugin>] {
        &self.plugins
    }

    /// The refused files, in scan order.
    pub fn refused(&self) -> &[Refusal] {
        &self.refused
    }
}

/// Only `*.so` files are plugins; anything else in the directory (a README, a hidden file
/// left by a volume mount) is not ours to judge.
fn is_candidate(path: &Path) -> bool {
    !is_hidden(path) && path.extension().is_some_and(|e| e == "so") && !path.is_dir()
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_so_files_are_candidates() {
        assert!(is_candidate(Path::new("/plugins/libfluid_juicefs.so")));
        assert!(!is_candidate(Path::new("/plugins/README.md")));
        assert!(!is_candidate(Path::new("/plugins/..2026_11_25.so")));
        assert!(!is_candidate(Path::new("/plugins/libx.so.1")));
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let err = Registry::load_dir(Path::new("/no/such/dir")).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir"), "{err}");
    }
}
