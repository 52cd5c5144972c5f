//! Runs `fluid-controller run` against the test cluster for end-to-end tests.

use fluid_test_support::{kubeconfig_path, tool_path};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The controller binary under test: this build's, or `FLUID_RS_CONTROLLER_BIN` (to run the
/// same tests against another build, e.g. to show a test failing before a fix).
pub fn controller_binary() -> PathBuf {
    std::env::var_os("FLUID_RS_CONTROLLER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_fluid-controller")))
}

/// A running `fluid-controller run`, killed on drop; its log goes to a file.
pub struct Controller {
    child: Child,
    log: PathBuf,
}

impl Controller {
    /// Starts the controller on `plugin_dir`, appending its log to `log`.
    pub fn start(plugin_dir: &Path, log: PathBuf) -> Controller {
        Controller::start_as(plugin_dir, log, &kubeconfig_path().unwrap(), &[])
    }

    /// Starts the controller with extra environment variables (settings engines read, such
    /// as `JINDO_ENGINE_TYPE`).
    pub fn start_with_env(plugin_dir: &Path, log: PathBuf, env: &[(&str, &str)]) -> Controller {
        Controller::spawn(plugin_dir, log, &kubeconfig_path().unwrap(), &[], env)
    }

    /// Starts the controller with another kubeconfig (another identity) and extra arguments.
    pub fn start_as(
        plugin_dir: &Path,
        log: PathBuf,
        kubeconfig: &Path,
        args: &[&str],
    ) -> Controller {
        Controller::spawn(plugin_dir, log, kubeconfig, args, &[])
    }

    fn spawn(
        plugin_dir: &Path,
        log: PathBuf,
        kubeconfig: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Controller {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(controller_binary())
            .args(["run", "--plugin-dir"])
            .arg(plugin_dir)
            .args([
                "--http-addr",
                &format!("127.0.0.1:{port}"),
                "--sync-period-seconds",
                "5",
            ])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("FLUID_HELM", tool_path("helm").unwrap())
            .env("FLUID_HELM_ENGINE", tool_path("fluid-helm-engine").unwrap())
            .env("RUST_LOG", "info,fluid_host=debug")
            .envs(env.iter().copied())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start fluid-controller");
        Controller { child, log }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last 40 lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Installs the CRDs as a user does: `fluid-controller crds --plugin-dir DIR | kubectl apply`,
/// then waits until every one of them is Established.
pub fn install_crds(plugin_dir: &Path) {
    let crds = Command::new(env!("CARGO_BIN_EXE_fluid-controller"))
        .args(["crds", "--plugin-dir"])
        .arg(plugin_dir)
        .output()
        .expect("run fluid-controller crds");
    assert!(
        crds.status.success(),
        "{}",
        String::from_utf8_lossy(&crds.stderr)
    );
    let bundle = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(bundle.path(), &crds.stdout).expect("write the bundle");
    let file = bundle.path().to_str().expect("utf-8 temp path");
    // Other tests and the demo apply the same CRDs: the newest wins.
    fluid_test_support::kubectl(["apply", "--server-side", "--force-conflicts", "-f", file])
        .expect("apply the CRDs");
    // A CRD created a moment ago may have no conditions yet, which `kubectl wait` reports as
    // an error at once ("status.conditions accessor error") rather than waiting: asked again.
    let mut attempts = 0;
    loop {
        let waited = fluid_test_support::kubectl([
            "wait",
            "--for=condition=Established",
            "-f",
            file,
            "--timeout=60s",
        ]);
        match waited {
            Ok(_) => break,
            Err(e) if attempts < 20 && e.to_string().contains("accessor error") => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Err(e) => panic!("CRDs Established: {e}"),
        }
    }
}
