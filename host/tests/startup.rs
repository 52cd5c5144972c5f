//! `fluid-controller run` refuses to start without what every runtime needs.

use fluid_host::services::{Helm, HelmError};
use fluid_test_support::{kubeconfig_path, tool_path};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the controller with `args` and returns its stderr once it exited (failing if it still
/// runs after 30 s).
fn start_up_failure(args: &[&str]) -> String {
    let plugins = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fluid-controller"))
        .args(["run", "--plugin-dir"])
        .arg(plugins.path())
        .args(["--http-addr", "127.0.0.1:0"])
        .args(args)
        .env("KUBECONFIG", kubeconfig_path().unwrap())
        .env_remove("FLUID_HELM")
        .env_remove("FLUID_HELM_ENGINE")
        .env_remove("FLUID_CHART_ENGINE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fluid-controller is still running after 30s with {args:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    stderr
}

/// Without a helm binary the controller used to start, and then fail every runtime at its
/// first install. Now it stops at start-up naming the path and how to set it. (Before: this
/// test found it still running after 30 s, serving a live cluster.)
#[test]
fn run_without_helm_stops_at_start_up_naming_the_path_and_the_flag() {
    let stderr = start_up_failure(&["--chart-engine", "helm", "--helm", "/opt/nowhere/helm"]);
    assert!(
        stderr.contains(
            "helm is not usable at /opt/nowhere/helm: no such file; install helm 4 there, or \
             point --helm (or FLUID_HELM) at it"
        ),
        "{stderr}"
    );
}

/// The same for the resident chart engine (the default): a missing engine, or a program that
/// is not one, stops the controller at start-up with the path and the reason.
#[test]
fn run_without_the_resident_engine_stops_at_start_up_naming_the_path() {
    let stderr = start_up_failure(&["--helm-engine", "/opt/nowhere/fluid-helm-engine"]);
    assert!(
        stderr
            .contains("chart engine /opt/nowhere/fluid-helm-engine: cannot start it: No such file"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("not-an-engine");
    std::fs::write(&fake, "#!/bin/sh\necho hello\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let stderr = start_up_failure(&[
        "--chart-engine",
        "resident",
        "--helm-engine",
        fake.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains(&format!(
            "chart engine {}: its first line is not a hello",
            fake.display()
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_helm_check_accepts_helm_4_and_names_what_is_wrong_otherwise() {
    let helm = tool_path("helm").unwrap();
    let version = Helm::check_binary(&helm).await.unwrap();
    assert!(version.starts_with("v4."), "{version}");

    let dir = tempfile::tempdir().unwrap();
    let script = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path
    };
    let reason = |e: HelmError| match e {
        HelmError::Unusable { reason, .. } => reason,
        other => panic!("expected Unusable, got {other}"),
    };
    let old = script("helm3", "echo v3.16.2");
    assert_eq!(
        reason(Helm::check_binary(&old).await.unwrap_err()),
        "it is helm v3.16.2; the controller needs helm 4"
    );
    let broken = script("broken", "echo 'exec format error' >&2; exit 2");
    let r = reason(Helm::check_binary(&broken).await.unwrap_err());
    assert!(
        r.contains("version` failed (exit status: 2): exec format error"),
        "{r}"
    );
    let other = script("other", "echo usage: other");
    let r = reason(Helm::check_binary(&other).await.unwrap_err());
    assert!(r.contains("not a helm version"), "{r}");
    let r = reason(
        Helm::check_binary(Path::new("fluid-no-such-helm"))
            .await
            .unwrap_err(),
    );
    assert!(r.starts_with("not found on PATH ("), "{r}");
}
