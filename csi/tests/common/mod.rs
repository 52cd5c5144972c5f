//! Shared by the fluid-csi tests: the plugin binary run as a process on a socket, and a CSI
//! client for it.

#![allow(dead_code)] // each test binary uses its part

use fluid_csi::csi::identity_client::IdentityClient;
use fluid_csi::csi::node_client::NodeClient;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

/// A running `fluid-csi`, stopped on drop.
pub struct Plugin {
    child: Child,
    /// Its CSI socket.
    pub socket: PathBuf,
    /// Its stderr.
    pub log: PathBuf,
}

impl Plugin {
    /// Starts `fluid-csi` on `<dir>/csi.sock` for node `node` with the test cluster's admin
    /// kubeconfig, plus `extra` arguments; waits until its socket answers.
    pub async fn start(dir: &Path, node: &str, extra: &[&str]) -> Self {
        let admin = fluid_test_support::kubeconfig_path().expect("test cluster kubeconfig");
        Self::start_as(dir, node, extra, &admin).await
    }

    /// [`Plugin::start`] with another kubeconfig (a ServiceAccount's).
    pub async fn start_as(dir: &Path, node: &str, extra: &[&str], kubeconfig: &Path) -> Self {
        Self::launch(&dir.join("csi.sock"), dir, node, extra, kubeconfig).await
    }

    /// [`Plugin::start`] with the CSI socket at `socket`.
    pub async fn start_at(socket: &Path, dir: &Path, node: &str, extra: &[&str]) -> Self {
        let admin = fluid_test_support::kubeconfig_path().expect("test cluster kubeconfig");
        Self::launch(socket, dir, node, extra, &admin).await
    }

    async fn launch(
        socket: &Path,
        dir: &Path,
        node: &str,
        extra: &[&str],
        kubeconfig: &Path,
    ) -> Self {
        let socket = socket.to_owned();
        let log = dir.join(format!(
            "fluid-csi-{}.log",
            fluid_test_support::unique_name("run")
        ));
        let out = std::fs::File::create(&log).expect("plugin log file");
        let child = Command::new(env!("CARGO_BIN_EXE_fluid-csi"))
            .arg("--endpoint")
            .arg(format!("unix://{}", socket.display()))
            .args(["--node-id", node])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("start fluid-csi");
        let mut plugin = Self { child, socket, log };
        plugin.wait_serving().await;
        plugin
    }

    async fn wait_serving(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("plugin status") {
                panic!("fluid-csi exited ({status}):\n{}", self.logs());
            }
            if self.socket.exists() {
                if let Ok(channel) = connect(&self.socket).await {
                    let probe = IdentityClient::new(channel)
                        .probe(fluid_csi::csi::ProbeRequest {})
                        .await;
                    if probe.is_ok() {
                        return;
                    }
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "fluid-csi not serving after 30 s:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to `timeout` for the plugin to exit by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// What the plugin logged.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A Node service client.
    pub async fn node(&self) -> NodeClient<Channel> {
        NodeClient::new(connect(&self.socket).await.expect("connect to the plugin"))
    }

    /// Stops the plugin (SIGTERM, as the kubelet would) and waits for it.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A gRPC channel over a Unix socket (the address in the URI is not used).
pub async fn connect(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let socket = socket.to_owned();
    Endpoint::try_from("http://[::]:50051")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            tokio::net::UnixStream::connect(socket.clone())
        }))
        .await
}

/// A test tool that `scripts/install-test-deps` builds into the tools directory
/// (`csi-sanity`, `kubelet-registration`).
pub fn test_tool(name: &str) -> PathBuf {
    let path = fluid_test_support::cache_dir()
        .expect("cache dir")
        .join("tools/bin")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/install-test-deps (scripts/test does)",
        path.display()
    );
    path
}

/// The chart's RBAC for fluid-csi, installed for a test; removed on drop.
pub struct ChartRbac {
    manifest: tempfile::NamedTempFile,
    /// A kubeconfig authenticating as the chart's ServiceAccount for fluid-csi.
    pub kubeconfig: PathBuf,
}

impl ChartRbac {
    /// Renders `charts/fluid-rs`'s CSI RBAC into namespace `ns`, applies it and writes a
    /// kubeconfig with a token of its ServiceAccount into `dir`.
    pub fn install(ns: &str, dir: &Path) -> Self {
        let release = fluid_test_support::unique_name("fluid-rs-csitest");
        let chart = fluid_test_support::repo_root().join("charts/fluid-rs");
        let rendered = fluid_test_support::helm([
            "template",
            release.as_str(),
            chart.to_str().unwrap(),
            "--namespace",
            ns,
            "--show-only",
            "templates/rbac_csi.yaml",
        ])
        .expect("render the CSI RBAC");
        let manifest = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(manifest.path(), rendered).unwrap();
        let file = manifest.path().to_str().unwrap();
        fluid_test_support::kubectl(["apply", "-n", ns, "-f", file]).expect("apply the CSI RBAC");
        let account = format!("{release}-csi");
        let token = fluid_test_support::kubectl([
            "create",
            "token",
            account.as_str(),
            "-n",
            ns,
            "--duration=2h",
        ])
        .expect("a token of the CSI ServiceAccount");
        let admin =
            fluid_test_support::kubectl(["config", "view", "--raw", "--minify", "-o", "json"])
                .unwrap();
        let admin: serde_json::Value = serde_json::from_str(&admin).unwrap();
        let kubeconfig = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": admin["clusters"][0]["cluster"]}],
            "users": [{"name": account, "user": {"token": token.trim()}}],
            "contexts": [{"name": "csi", "context": {"cluster": "test", "user": account}}],
            "current-context": "csi",
        });
        let path = dir.join("csi-serviceaccount.kubeconfig");
        std::fs::write(&path, serde_json::to_vec(&kubeconfig).unwrap()).unwrap();
        Self {
            manifest,
            kubeconfig: path,
        }
    }
}

impl Drop for ChartRbac {
    fn drop(&mut self) {
        let file = self.manifest.path().to_str().unwrap_or_default().to_owned();
        let _ = fluid_test_support::kubectl([
            "delete",
            "--ignore-not-found",
            "--wait=false",
            "-f",
            file.as_str(),
        ]);
    }
}
