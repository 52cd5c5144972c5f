//! Helm releases through the `helm` binary. Values go to helm on its standard input, so they
//! are never written to disk; only the chart (no secrets in it) is written, once per content.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
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

/// Runs helm.
#[derive(Clone, Debug)]
pub struct Helm {
    binary: PathBuf,
    charts_dir: PathBuf,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Helm {
    /// `binary` is the helm executable; charts are unpacked under `charts_dir`.
    pub fn new(binary: PathBuf, charts_dir: PathBuf) -> Self {
        Self {
            binary,
            charts_dir,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_HELM)),
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

    /// `helm upgrade --install` (or `upgrade` alone when `install` is false) with `values`
    /// passed on stdin and `labels` on the release records.
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
