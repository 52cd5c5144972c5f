//! One `helm` process per call (`--chart-engine=helm`): values go to helm on its standard
//! input, so they are never written to disk; the chart (no secrets in it) is written once per
//! content.

use super::helm::{Chart, HelmError, ReleaseStatus, HELM_DRIVER};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How many helm processes run at once: each is ~15-18 MB and ~0.3 s of CPU, and a burst of
/// new runtimes must not exhaust the controller's memory limit.
const MAX_CONCURRENT_HELM: usize = 4;

/// Runs `helm`.
#[derive(Clone, Debug)]
pub struct HelmProcesses {
    binary: PathBuf,
    charts_dir: PathBuf,
    permits: Arc<tokio::sync::Semaphore>,
}

impl HelmProcesses {
    /// `binary` is the helm executable; charts are written under `charts_dir`.
    pub fn new(binary: PathBuf, charts_dir: PathBuf) -> Self {
        HelmProcesses {
            binary,
            charts_dir,
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_HELM)),
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

    /// Writes a chart tarball (content-addressed) for `helm` processes and returns its path.
    fn chart_file(&self, chart: Chart<'_>) -> Result<PathBuf, HelmError> {
        let (name, tgz) = (chart.name, chart.tgz);
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

    /// Runs one `helm` process.
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

    /// `helm template --include-crds --skip-tests` with `values` on stdin.
    pub async fn template(
        &self,
        namespace: &str,
        release: &str,
        chart: Chart<'_>,
        values: &Value,
    ) -> Result<String, HelmError> {
        let file = self.chart_file(chart)?;
        let file = file.to_string_lossy();
        let args = [
            "template",
            release,
            &file,
            "--namespace",
            namespace,
            "--values",
            "-",
            "--include-crds",
            "--skip-tests",
        ];
        let body = serde_json::to_vec(values).unwrap_or_default();
        let (ok, stdout, stderr) = self.run(&args, Some(&body)).await?;
        if ok {
            Ok(stdout)
        } else {
            Err(HelmError::Failed {
                command: format!("template {release}"),
                stderr,
            })
        }
    }

    /// `helm upgrade [--install] --labels L --force-conflicts --output json` with `values` on
    /// stdin.
    pub async fn upgrade(
        &self,
        namespace: &str,
        release: &str,
        chart: Chart<'_>,
        values: &Value,
        install: bool,
        labels: &[(&str, &str)],
    ) -> Result<ReleaseStatus, HelmError> {
        let file = self.chart_file(chart)?;
        let chart = file.to_string_lossy();
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
            "--force-conflicts",
        ]);
        let body = serde_json::to_vec(values).unwrap_or_default();
        let (ok, stdout, stderr) = self.run(&args, Some(&body)).await?;
        if ok {
            Ok(parse_release(&stdout))
        } else {
            Err(HelmError::Failed {
                command: format!("upgrade {release}"),
                stderr,
            })
        }
    }

    /// `helm status`; `None` when there is no such release.
    pub async fn status(
        &self,
        namespace: &str,
        release: &str,
    ) -> Result<Option<ReleaseStatus>, HelmError> {
        let args = [
            "status",
            release,
            "--namespace",
            namespace,
            "--output",
            "json",
        ];
        let (ok, stdout, stderr) = self.run(&args, None).await?;
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

    /// `helm rollback` to the previous revision.
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

    /// `helm uninstall --wait=false`; `false` when there was no such release.
    pub async fn uninstall(&self, namespace: &str, release: &str) -> Result<bool, HelmError> {
        let args = [
            "uninstall",
            release,
            "--namespace",
            namespace,
            "--wait=false",
        ];
        let (ok, _, stderr) = self.run(&args, None).await?;
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
