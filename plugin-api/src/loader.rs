//! Opening plugin libraries: the checks a file passes before the host runs its code, and the
//! host's handle on a loaded engine.
//!
//! Each file is opened with `lib_header_from_path(..).init_root_module()`: abi_stable's
//! `load_from_*` helpers cache one module per process, so a second engine would silently be
//! the first one again. Libraries are never unloaded (their code may still be referenced by
//! the engine object and by thread-locals).

use crate::abi::{EngineBox, PluginModRef};
use crate::host::{with_host_ffi, ServiceHandler};
use crate::protocol::{
    FailureKind, HookFailure, HookRequest, HookResponse, PluginInfo, ProtocolVersion,
};
use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::std_types::{RResult, RStr};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
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

const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];

impl Plugin {
    /// Checks and opens one plugin file, and creates its engine.
    pub fn open(path: &Path) -> Result<Plugin, LoadError> {
        let path = path.to_path_buf();
        let unreadable = |source| LoadError::Unreadable {
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(&path).map_err(unreadable)?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o002 != 0 {
            return Err(LoadError::WorldWritable { path, mode });
        }
        if !meta.is_file() {
            return Err(LoadError::NotSharedLibrary {
                path,
                reason: "not a regular file".into(),
            });
        }
        // dlopen's message for a text file is cryptic ("invalid ELF header" at best); the
        // magic number gives a clear one before any code is mapped.
        let mut magic = [0u8; 4];
        let read = std::fs::File::open(&path)
            .and_then(|mut f| f.read(&mut magic))
            .map_err(unreadable)?;
        if read < 4 || magic != ELF_MAGIC {
            return Err(LoadError::NotSharedLibrary {
                path,
                reason: "the file does not start with the ELF magic number".into(),
            });
        }

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
