//! Helm releases through the `helm` binary. Values go to helm on its standard input, so they
//! are never written to disk; only the chart (no secrets in it) is written, once per content.
//! Every chart is rendered and checked against its engine's scope before it is applied.

use super::chart_scope;
use super::cluster::Cluster;
use fluid_plugin_api::protocol::GroupKind;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// A failed helm command.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    /// helm could not be started.
    #[error("running {binary}: {source}")]
    Spawn {
        /// The helm binary.
        binary: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// helm exited non-zero.
    #[error("helm {command} failed: {stderr}")]
    Failed {
        /// The subcommand.
        command: String,
        /// What helm printed.
        stderr: String,
    },
    /// The helm binary is missing, does not run, or is not helm 4.
    #[error(
        "helm is not usable at {binary}: {reason}; install helm 4 there, or point --helm (or \
         FLUID_HELM) at it"
    )]
    Unusable {
        /// The binary as configured.
        binary: PathBuf,
        /// Why.
        reason: String,
    },
    /// The rendered chart would create objects outside the runtime's scope; nothing was
    /// applied.
    #[error(
        "refusing to install release {release}: its chart would create objects outside \
         namespace {namespace}: {}; nothing was applied",
        objects.join("; ")
    )]
    OutOfScope {
        /// The release.
        release: String,
        /// The runtime's namespace.
        namespace: String,
        /// Each object refused, with the reason.
        objects: Vec<String>,
    },
    /// This Helm has no engine to check charts against (a controller bug: every upgrade is
    /// made for an engine, through `Helm::for_engine`).
    #[error("refusing to install release {release}: no engine scope to check its chart against")]
    Unscoped {
        /// The release.
        release: String,
    },
    /// The chart could not be written.
    #[error("writing the chart {path}: {source}")]
    Chart {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The state of a release, from helm's JSON output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleaseStatus {
    /// Helm's status word (`deployed`, `failed`, ...).
    pub status: String,
    /// The revision.
    pub revision: u64,
    /// The rendered manifest (empty from `helm status`).
    pub manifest: String,
}

/// Where helm keeps release records: ConfigMaps, as Fluid's controllers do, so the controller
/// needs no write access to Secrets and reads release state from a metadata watch.
pub const HELM_DRIVER: &str = "configmap";

/// How many helm processes run at once: each is ~15-18 MB and ~0.3 s of CPU, and a burst of
/// new runtimes must not exhaust the controller's memory limit.
const MAX_CONCURRENT_HELM: usize = 4;

/// What one engine's charts may create (see [`chart_scope`]).
struct EngineScope {
    engine: String,
    cluster_kinds: Vec<GroupKind>,
    /// Discovery: which kinds are namespaced.
    cluster: Arc<Cluster>,
}

/// Runs helm.
#[derive(Clone)]
pub struct Helm {
    binary: PathBuf,
    charts_dir: PathBuf,
    permits: Arc<tokio::sync::Semaphore>,
    scope: Option<Arc<EngineScope>>,
}

impl std::fmt::Debug for Helm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helm")
            .field("binary", &self.binary)
            .field("engine", &self.scope.as_ref().map(|s| &s.engine))
            .finish_non_exhaustive()
    }
}

impl Helm {
    /// `binary` is the helm executable; charts are unpacked under `charts_dir`. It installs
    /// nothing until given an engine ([`Helm::for_engine`]).
    pub fn new(binary: PathBuf, charts_dir: PathBuf) -> Self {
        Self {
            binary,
            charts_dir,
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_HELM)),
            scope: None,
        }
    }

    /// The same helm (sharing its process limit) for `engine`'s releases: each chart is
    /// rendered first and refused when it would create an object outside the release's
    /// namespace, or a cluster-scoped object of a kind not in `cluster_kinds`. `cluster`
    /// answers which kinds are namespaced.
    pub fn for_engine(
        &self,
        engine: &str,
        cluster_kinds: &[GroupKind],
        cluster: Arc<Cluster>,
    ) -> Helm {
        Helm {
            scope: Some(Arc::new(EngineScope {
                engine: engine.to_owned(),
                cluster_kinds: cluster_kinds.to_vec(),
                cluster,
            })),
            ..self.clone()
        }
    }

    /// Checks at start-up that `binary` (a path, or a name looked up on `PATH`) runs and is
    /// helm 4 (the controller's upgrades use its server-side apply flags), so a missing helm
    /// stops the controller with the reason instead of failing every runtime later. Returns
    /// helm's version.
    pub async fn check_binary(binary: &Path) -> Result<String, HelmError> {
        let unusable = |reason: String| HelmError::Unusable {
            binary: binary.to_path_buf(),
            reason,
        };
        let resolved =
            resolve_binary(binary, std::env::var_os("PATH").as_deref()).map_err(unusable)?;
        let run = Command::new(&resolved)
            .args(["version", "--template", "{{.Version}}"])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(std::time::Duration::from_secs(30), run)
            .await
            .map_err(|_| {
                unusable(format!(
                    "`{} version` did not answer in 30s",
                    resolved.display()
                ))
            })?
            .map_err(|e| unusable(format!("cannot run {}: {e}", resolved.display())))?;
        let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() {
            return Err(unusable(format!(
                "`{} version` failed ({}): {}",
                resolved.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        match helm_major(&printed) {
            Some(major) if major >= 4 => {
                tracing::info!(helm = %resolved.display(), version = %printed, "using helm");
                Ok(printed)
            }
            Some(_) => Err(unusable(format!(
                "it is helm {printed}; the controller needs helm 4"
            ))),
            None => Err(unusable(format!(
                "`{} version` printed {printed:?}, not a helm version",
                resolved.display()
            ))),
        }
    }

    /// Writes a chart tarball (content-addressed) and returns its path.
    pub fn chart_file(&self, name: &str, tgz: &[u8]) -> Result<PathBuf, HelmError> {
        let path = self
            .charts_dir
            .join(format!("{name}-{:016x}.tgz", fnv1a(tgz)));
        if !path.exists() {
            let err = |source| HelmError::Chart {
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(&self.charts_dir).map_err(err)?;
            // Unique per writer: concurrent first installs of one chart must not share it.
            let tmp = path.with_extension(
                format!(
                    "{}.{:?}.tmp",
                    std::process::id(),
                    std::thread::current().id()
                )
                .replace(['(', ')'], ""),
            );
            std::fs::write(&tmp, tgz).map_err(err)?;
            std::fs::rename(&tmp, &path).map_err(err)?;
        }
        Ok(path)
    }

    async fn run(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<(bool, String, String), HelmError> {
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = self.permits.acquire().await.ok();
        let mut child = Command::new(&self.binary)
            .args(args)
            .env("HELM_DRIVER", HELM_DRIVER)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| HelmError::Spawn {
                binary: self.binary.clone(),
                source,
            })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input)
                .await
                .map_err(|source| HelmError::Spawn {
                    binary: self.binary.clone(),
                    source,
                })?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|source| HelmError::Spawn {
                binary: self.binary.clone(),
                source,
            })?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }

    /// Renders the chart as the upgrade would (`helm template`, same values on stdin, CRDs
    /// included) and checks every object against the engine's scope.
    ///
    /// `helm template` rather than `helm upgrade --dry-run=server`: measured on the reference
    /// chart, 0.15 s and 0.07 s of CPU against 0.4 s and 0.25 s (the install itself: ~0.5 s).
    /// What it cannot see (`lookup`, `.Release.IsUpgrade`) does not move objects to other
    /// namespaces in a chart not written to evade the check, and a plugin is trusted code
    /// anyway (docs/architecture.md).
    async fn check_chart(
        &self,
        namespace: &str,
        release: &str,
        chart: &str,
        values: &[u8],
    ) -> Result<(), HelmError> {
        let Some(scope) = &self.scope else {
            return Err(HelmError::Unscoped {
                release: release.to_owned(),
            });
        };
        let args = [
            "template",
            release,
            chart,
            "--namespace",
            namespace,
            "--values",
            "-",
            "--include-crds",
            // Test hooks run only on `helm test`, which the controller never calls.
            "--skip-tests",
        ];
        let (ok, stdout, stderr) = self.run(&args, Some(values)).await?;
        if !ok {
            return Err(HelmError::Failed {
                command: format!("template {release}"),
                stderr,
            });
        }
        let out_of_scope = |objects| HelmError::OutOfScope {
            release: release.to_owned(),
            namespace: namespace.to_owned(),
            objects,
        };
        let objects = chart_scope::parse_manifest(&stdout).map_err(|e| out_of_scope(vec![e]))?;
        let mut scopes = chart_scope::Scopes::new();
        for object in &objects {
            if let std::collections::hash_map::Entry::Vacant(entry) =
                scopes.entry(object.type_key())
            {
                let namespaced = scope
                    .cluster
                    .resource(&object.api_version, &object.kind)
                    .await
                    .map(|(_, namespaced)| namespaced)
                    .map_err(|e| e.to_string());
                entry.insert(namespaced);
            }
        }
        let refused = chart_scope::violations(
            &objects,
            namespace,
            &scope.engine,
            &scope.cluster_kinds,
            &scopes,
        );
        if refused.is_empty() {
            Ok(())
        } else {
            Err(out_of_scope(refused))
        }
    }

    /// `helm upgrade --install` (or `upgrade` alone when `install` is false) with `values`
    /// passed on stdin and `labels` on the release records, once the rendered chart passed
    /// the engine's scope check.
    pub async fn upgrade(
        &self,
        namespace: &str,
        release: &str,
        chart: &Path,
        values: &Value,
        install: bool,
        labels: &[(&str, &str)],
    ) -> Result<ReleaseStatus, HelmError> {
        let chart = chart.to_string_lossy();
        let labels = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut args = vec!["upgrade"];
        if install {
            args.push("--install");
        }
        if !labels.is_empty() {
            args.extend(["--labels", &labels]);
        }
        args.extend([
            release,
            &chart,
            "--namespace",
            namespace,
            "--values",
            "-",
            "--output",
            "json",
            // helm 4 applies server-side; the scale subresource and users also write fields
            // of the chart's objects, and the values are the engine's intent: they win.
            "--force-conflicts",
        ]);
        let body = serde_json::to_vec(values).unwrap_or_default();
        self.check_chart(namespace, release, &chart, &body).await?;
        let (ok, stdout, stderr) = self.run(&args, Some(&body)).await?;
        if !ok {
            return Err(HelmError::Failed {
                command: format!("upgrade {release}"),
                stderr,
            });
        }
        Ok(parse_release(&stdout))
    }

    /// `helm status`; `None` when there is no such release.
    pub async fn status(
        &self,
        namespace: &str,
        release: &str,
    ) -> Result<Option<ReleaseStatus>, HelmError> {
        let (ok, stdout, stderr) = self
            .run(
                &[
                    "status",
                    release,
                    "--namespace",
                    namespace,
                    "--output",
                    "json",
                ],
                None,
            )
            .await?;
        if ok {
            Ok(Some(parse_release(&stdout)))
        } else if stderr.contains("not found") {
            Ok(None)
        } else {
            Err(HelmError::Failed {
                command: format!("status {release}"),
                stderr,
            })
        }
    }

    /// `helm rollback` to the previous revision (after an interrupted upgrade).
    pub async fn rollback(&self, namespace: &str, release: &str) -> Result<(), HelmError> {
        let (ok, _, stderr) = self
            .run(&["rollback", release, "--namespace", namespace], None)
            .await?;
        if ok {
            Ok(())
        } else {
            Err(HelmError::Failed {
                command: format!("rollback {release}"),
                stderr,
            })
        }
    }

    /// `helm uninstall`; `false` when there was no such release.
    pub async fn uninstall(&self, namespace: &str, release: &str) -> Result<bool, HelmError> {
        let (ok, _, stderr) = self
            .run(
                &[
                    "uninstall",
                    release,
                    "--namespace",
                    namespace,
                    "--wait=false",
                ],
                None,
            )
            .await?;
        if ok {
            Ok(true)
        } else if stderr.contains("not found") {
            Ok(false)
        } else {
            Err(HelmError::Failed {
                command: format!("uninstall {release}"),
                stderr,
            })
        }
    }
}

/// The executable `binary` names: itself when it holds a `/`, else the first executable file
/// of that name in `path` (the `PATH` variable), as a shell finds it.
fn resolve_binary(binary: &Path, path: Option<&std::ffi::OsStr>) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if binary.as_os_str().to_string_lossy().contains('/') {
        return if executable(binary) {
            Ok(binary.to_path_buf())
        } else if binary.exists() {
            Err("it is not an executable file".into())
        } else {
            Err("no such file".into())
        };
    }
    let dirs = path.unwrap_or_default();
    std::env::split_paths(dirs)
        .map(|dir| dir.join(binary))
        .find(|candidate| executable(candidate))
        .ok_or_else(|| format!("not found on PATH ({})", dirs.to_string_lossy()))
}

/// The major version of `v4.1.4` (helm's `{{.Version}}`).
fn helm_major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

fn parse_release(json: &str) -> ReleaseStatus {
    let v: Value = serde_json::from_str(json).unwrap_or_default();
    ReleaseStatus {
        status: v["info"]["status"].as_str().unwrap_or_default().to_owned(),
        revision: v["version"].as_u64().unwrap_or_default(),
        manifest: v["manifest"].as_str().unwrap_or_default().to_owned(),
    }
}

/// A stable content hash for file names (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helm_binary_is_found_as_a_shell_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let helm = dir.path().join("helm");
        std::fs::write(&helm, "#!/bin/sh\n").unwrap();
        let path = std::env::join_paths(["/no/such/dir", dir.path().to_str().unwrap()]).unwrap();
        assert_eq!(
            resolve_binary(Path::new("helm"), Some(&path)),
            Err(format!("not found on PATH ({})", path.to_string_lossy())),
            "a file without execute permission is not a candidate"
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            resolve_binary(Path::new("helm"), Some(&path)),
            Ok(helm.clone())
        );
        assert_eq!(resolve_binary(&helm, None), Ok(helm.clone()));
        assert_eq!(
            resolve_binary(Path::new("/no/such/helm"), Some(&path)),
            Err("no such file".into())
        );
        assert_eq!(
            resolve_binary(dir.path(), None),
            Err("it is not an executable file".into())
        );
    }

    #[test]
    fn helm_versions_are_read_for_their_major() {
        assert_eq!(helm_major("v4.1.4"), Some(4));
        assert_eq!(helm_major("v3.16.2"), Some(3));
        assert_eq!(helm_major(""), None);
        assert_eq!(helm_major("Usage: foo"), None);
    }

    #[test]
    fn release_status_is_read_from_helms_json() {
        let s = parse_release(r#"{"name":"x","info":{"status":"deployed"},"version":3}"#);
        assert_eq!(
            s,
            ReleaseStatus {
                status: "deployed".into(),
                revision: 3,
                manifest: String::new(),
            }
        );
    }
}
