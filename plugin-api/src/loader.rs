//! Opening plugin libraries: the checks a file passes before the host runs its code, and the
//! host's handle on a loaded engine.
//!
//! Each file is opened with `lib_header_from_path(..).init_root_module()`: abi_stable's
//! `load_from_*` helpers cache one module per process, so a second engine would silently be
//! the first one again. Libraries are never unloaded (their code may still be referenced by
//! the engine object and by thread-locals).

use crate::abi::{EngineBox, PluginModRef};
use crate::elf;
use crate::host::{with_host_ffi, ServiceHandler};
use crate::protocol::{
    FailureKind, HookFailure, HookRequest, HookResponse, PluginInfo, ProtocolVersion,
};
use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::std_types::{RResult, RStr};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Why a file was not loaded. The message names the path and the reason, ready for one log
/// line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("refusing plugin {path}: cannot read it: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Anyone on the machine may rewrite the file, hence the code the controller runs.
    #[error("refusing plugin {path}: it is world-writable (mode {mode:o}); fix with chmod o-w")]
    WorldWritable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Someone in the file's group may rewrite it, hence the code the controller runs.
    #[error("refusing plugin {path}: it is group-writable (mode {mode:o}); fix with chmod g-w")]
    GroupWritable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file belongs to a user who may rewrite it and is neither root nor the controller's.
    #[error(
        "refusing plugin {path}: it is owned by uid {owner}, neither root nor the user this \
         controller runs as (uid {euid})"
    )]
    ForeignOwner {
        /// The file.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// The controller's effective user.
        euid: u32,
    },
    /// Others than root or the controller's user may add or replace files in the directory
    /// holding the plugin.
    #[error(
        "refusing plugin {path}: its directory {dir} {reason}, so others may replace the \
         plugin; deliver plugins into a directory that only root or the controller's user can \
         write (e.g. mode 0755)"
    )]
    UnsafeDirectory {
        /// The file.
        path: PathBuf,
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file's headers describe ranges outside the file (a partial copy, a full disk):
    /// mapping it would crash the controller.
    #[error("refusing plugin {path}: the library file is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// The file is not a loadable shared library.
    #[error("refusing plugin {path}: not a shared library: {reason}")]
    NotSharedLibrary {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A shared library without a fluid-rs root module.
    #[error("refusing plugin {path}: not a fluid-rs plugin: {reason}")]
    NotAPlugin {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Built against a binary interface this host cannot use.
    #[error("refusing plugin {path}: built against an incompatible plugin ABI: {reason}")]
    IncompatibleAbi {
        /// The file.
        path: PathBuf,
        /// What abi_stable found.
        reason: String,
    },
    /// Speaks another major version of the JSON protocol.
    #[error(
        "refusing plugin {path}: it speaks plugin protocol {found}, this controller speaks \
         {supported} (the majors must match)"
    )]
    UnsupportedProtocol {
        /// The file.
        path: PathBuf,
        /// The plugin's protocol version.
        found: ProtocolVersion,
        /// The host's protocol version.
        supported: ProtocolVersion,
    },
    /// The plugin's own entries failed (unreadable info, engine constructor error).
    #[error("refusing plugin {path}: {reason}")]
    Broken {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl LoadError {
    /// The refused file.
    pub fn path(&self) -> &Path {
        match self {
            LoadError::Unreadable { path, .. }
            | LoadError::WorldWritable { path, .. }
            | LoadError::GroupWritable { path, .. }
            | LoadError::ForeignOwner { path, .. }
            | LoadError::UnsafeDirectory { path, .. }
            | LoadError::Damaged { path, .. }
            | LoadError::NotSharedLibrary { path, .. }
            | LoadError::NotAPlugin { path, .. }
            | LoadError::IncompatibleAbi { path, .. }
            | LoadError::UnsupportedProtocol { path, .. }
            | LoadError::Broken { path, .. } => path,
        }
    }
}

/// Why a hook call did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The engine failed or panicked; the failure names the hook.
    #[error("{0}")]
    Hook(HookFailure),
    /// The plugin answered something that is not a protocol message.
    #[error("plugin {plugin}: unreadable answer to hook {hook}: {reason}")]
    Protocol {
        /// The plugin's name.
        plugin: String,
        /// The hook called.
        hook: String,
        /// Why the answer could not be read.
        reason: String,
    },
}

/// A loaded plugin: its info, CRD, chart and engine.
pub struct Plugin {
    path: PathBuf,
    info: PluginInfo,
    module: PluginModRef,
    engine: EngineBox,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Checks and opens one plugin file, and creates its engine.
    ///
    /// Before any of its code is mapped: only root or the controller's user may change the
    /// file or the directory holding it, and the file must be a whole shared library.
    pub fn open(path: &Path) -> Result<Plugin, LoadError> {
        check_file(path)?;
        let path = path.to_path_buf();
        let header = lib_header_from_path(&path).map_err(|e| classify(&path, e))?;
        let module = header
            .init_root_module::<PluginModRef>()
            .map_err(|e| classify(&path, e))?;

        let info = read_info(&path, &module)?;
        if info.protocol.major != ProtocolVersion::CURRENT.major {
            return Err(LoadError::UnsupportedProtocol {
                path,
                found: info.protocol,
                supported: ProtocolVersion::CURRENT,
            });
        }
        let engine = match call_entry(|| (module.new_engine())()) {
            Ok(RResult::ROk(engine)) => engine,
            Ok(RResult::RErr(e)) => {
                return Err(LoadError::Broken {
                    path,
                    reason: e.into(),
                })
            }
            Err(reason) => return Err(LoadError::Broken { path, reason }),
        };
        Ok(Plugin {
            path,
            info,
            module,
            engine,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The runtime kind's CustomResourceDefinition.
    pub fn crd(&self) -> Result<serde_json::Value, LoadError> {
        let broken = |reason: String| LoadError::Broken {
            path: self.path.clone(),
            reason: format!("its CRD: {reason}"),
        };
        match call_entry(|| (self.module.crd())()).map_err(broken)? {
            RResult::ROk(json) => {
                serde_json::from_str(json.as_str()).map_err(|e| broken(e.to_string()))
            }
            RResult::RErr(e) => Err(broken(e.into())),
        }
    }

    /// The engine's chart (gzipped tarball; empty when it has none).
    pub fn chart(&self) -> &'static [u8] {
        (self.module.chart())().as_slice()
    }

    /// Runs one hook. `services` answers the engine's calls back into the host.
    pub fn call(
        &self,
        hook: &str,
        request: &HookRequest,
        services: &dyn ServiceHandler,
    ) -> Result<HookResponse, CallError> {
        let protocol = |reason: String| CallError::Protocol {
            plugin: self.info.name.clone(),
            hook: hook.to_owned(),
            reason,
        };
        let body = serde_json::to_string(request).map_err(|e| protocol(e.to_string()))?;
        let answer = with_host_ffi(services, |host| {
            self.engine
                .call(RStr::from_str(hook), RStr::from_str(&body), host)
        });
        match answer {
            RResult::ROk(json) => {
                serde_json::from_str(json.as_str()).map_err(|e| protocol(e.to_string()))
            }
            RResult::RErr(json) => Err(match serde_json::from_str(json.as_str()) {
                Ok(failure) => CallError::Hook(failure),
                Err(_) => CallError::Hook(HookFailure {
                    hook: hook.to_owned(),
                    kind: FailureKind::Failed,
                    message: json.into(),
                }),
            }),
        }
    }
}

/// Runs a root-module entry. Entries built by the SDK catch their own panics; this guards
/// against hand-written ones. (A panic that crosses `extern "C"` aborts regardless; this
/// catches what unwinds on the host's side of the shim.)
fn call_entry<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|p| format!("panicked: {}", crate::export::panic_message(p.as_ref())))
}

fn read_info(path: &Path, module: &PluginModRef) -> Result<PluginInfo, LoadError> {
    let broken = |reason: String| LoadError::Broken {
        path: path.to_path_buf(),
        reason: format!("its info: {reason}"),
    };
    match call_entry(|| (module.info())()).map_err(broken)? {
        RResult::ROk(json) => {
            serde_json::from_str(json.as_str()).map_err(|e| broken(e.to_string()))
        }
        RResult::RErr(e) => Err(broken(e.into())),
    }
}

/// The checks a file passes before any of its code is mapped.
fn check_file(path: &Path) -> Result<(), LoadError> {
    let path = path.to_path_buf();
    let unreadable = |source| LoadError::Unreadable {
        path: path.clone(),
        source,
    };
    let meta = std::fs::metadata(&path).map_err(unreadable)?;
    let euid = effective_uid();
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(LoadError::WorldWritable { path, mode });
    }
    if mode & 0o020 != 0 {
        return Err(LoadError::GroupWritable { path, mode });
    }
    if !trusted_owner(meta.uid(), euid) {
        return Err(LoadError::ForeignOwner {
            path,
            owner: meta.uid(),
            euid,
        });
    }
    if !meta.is_file() {
        return Err(LoadError::NotSharedLibrary {
            path,
            reason: "not a regular file".into(),
        });
    }
    for dir in holding_directories(&path) {
        let dir_meta = std::fs::metadata(&dir).map_err(unreadable)?;
        if let Some(reason) = unsafe_directory(dir_meta.permissions().mode(), dir_meta.uid(), euid)
        {
            return Err(LoadError::UnsafeDirectory { path, dir, reason });
        }
    }
    let file = std::fs::File::open(&path).map_err(unreadable)?;
    match elf::check(&file) {
        Ok(()) => {}
        Err(elf::Problem::NotLoadable(reason)) => {
            return Err(LoadError::NotSharedLibrary { path, reason })
        }
        Err(elf::Problem::Damaged(reason)) => return Err(LoadError::Damaged { path, reason }),
    }
    Ok(())
}

/// The user this process runs as.
fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Root and the controller's own user may own plugin files and their directories: any other
/// owner could change them (an owner can always chmod).
fn trusted_owner(owner: u32, euid: u32) -> bool {
    owner == 0 || owner == euid
}

/// Why a directory lets others than root or the controller's user add or replace files in it,
/// if it does. The sticky bit does not help: anyone may still add a new plugin.
fn unsafe_directory(mode: u32, owner: u32, euid: u32) -> Option<String> {
    let mode = mode & 0o7777;
    if mode & 0o002 != 0 {
        Some(format!("is world-writable (mode {mode:o})"))
    } else if mode & 0o020 != 0 {
        Some(format!("is group-writable (mode {mode:o})"))
    } else if !trusted_owner(owner, euid) {
        Some(format!(
            "is owned by uid {owner}, neither root nor the controller's user (uid {euid})"
        ))
    } else {
        None
    }
}

/// The directory holding `path`, and the one holding the file it resolves to when that is
/// another (a symlink into another directory).
fn holding_directories(path: &Path) -> Vec<PathBuf> {
    let parent = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut dirs = vec![parent(path)];
    if let Ok(real) = std::fs::canonicalize(path) {
        let real_dir = parent(&real);
        if std::fs::canonicalize(&dirs[0]).ok().as_ref() != Some(&real_dir) {
            dirs.push(real_dir);
        }
    }
    dirs
}

fn classify(path: &Path, e: LibraryError) -> LoadError {
    let path = path.to_path_buf();
    let reason = e.to_string();
    match e {
        LibraryError::OpenError { .. } => LoadError::NotSharedLibrary { path, reason },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin {
            path,
            reason: "it exports no fluid-rs root module".into(),
        },
        LibraryError::RootModule { .. } => LoadError::Broken { path, reason },
        _ => LoadError::IncompatibleAbi { path, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_or_the_controllers_user_may_be_able_to_change_a_plugin_directory() {
        assert_eq!(unsafe_directory(0o40755, 0, 65532), None);
        assert_eq!(unsafe_directory(0o42755, 65532, 65532), None);
        assert_eq!(
            unsafe_directory(0o41777, 0, 65532).as_deref(),
            Some("is world-writable (mode 1777)")
        );
        assert_eq!(
            unsafe_directory(0o2775, 0, 0).as_deref(),
            Some("is group-writable (mode 2775)")
        );
        assert_eq!(
            unsafe_directory(0o755, 1000, 65532).as_deref(),
            Some("is owned by uid 1000, neither root nor the controller's user (uid 65532)")
        );
    }

    #[test]
    fn a_symlink_into_another_directory_has_both_directories_checked() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(b.path().join("real.so"), b"x").unwrap();
        std::os::unix::fs::symlink(b.path().join("real.so"), a.path().join("link.so")).unwrap();
        let dirs = holding_directories(&a.path().join("link.so"));
        assert_eq!(dirs.len(), 2, "{dirs:?}");
        assert_eq!(dirs[0], a.path());
        assert_eq!(dirs[1], std::fs::canonicalize(b.path()).unwrap());
        assert_eq!(holding_directories(&b.path().join("real.so")).len(), 1);
        assert_eq!(holding_directories(Path::new("x.so")), [PathBuf::from(".")]);
    }
}
