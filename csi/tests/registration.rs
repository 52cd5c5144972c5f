//! Registration with the kubelet, played by `kubelet-registration` (tests/kubelet-registration,
//! Go): the kubelet's own generated client, dialled exactly as the kubelet's plugin manager
//! dials (the socket path as the target, so grpc-go sends it as `:authority`).

mod common;

use common::{test_tool, Plugin};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn kubelet(socket: &Path, verdict: &[&str]) -> Value {
    let out = Command::new(test_tool("kubelet-registration"))
        .arg("--socket")
        .arg(socket)
        .args(verdict)
        .output()
        .expect("run kubelet-registration");
    assert!(
        out.status.success(),
        "kubelet-registration: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("GetInfo as JSON")
}

async fn plugin(dir: &Path, driver: &str) -> Plugin {
    let kubelet = dir.join("kubelet");
    let endpoint = kubelet.join(format!("plugins/{driver}/csi.sock"));
    let registry = kubelet.join("plugins_registry");
    Plugin::start_at(
        &endpoint,
        dir,
        "registration-node",
        &[
            "--driver-name",
            driver,
            "--kubelet-dir",
            kubelet.to_str().unwrap(),
            "--registration-dir",
            registry.to_str().unwrap(),
            "--recovery-period-seconds",
            "0",
        ],
    )
    .await
}

#[tokio::test]
async fn the_kubelet_registers_the_driver_and_a_refusal_ends_the_plugin() {
    for driver in ["fuse.csi.fluid.io", "fuse.csi.fluid-rs.io"] {
        let dir = tempfile::tempdir().unwrap();
        let mut plugin = plugin(dir.path(), driver).await;
        let registry = dir.path().join("kubelet/plugins_registry");
        let socket = registry.join(format!("{driver}-reg.sock"));

        let info = kubelet(&socket, &[]);
        assert_eq!(info["type"], "CSIPlugin");
        assert_eq!(info["name"], driver);
        assert_eq!(info["endpoint"], plugin.socket.display().to_string());
        assert_eq!(info["supportedVersions"], serde_json::json!(["1.0.0"]));
        assert!(
            plugin.wait_exit(Duration::from_millis(500)).await.is_none(),
            "registered: the plugin serves on"
        );

        // The kubelet refuses (e.g. another plugin has the name): the plugin ends, so its pod
        // restarts and registers again.
        kubelet(
            &socket,
            &["--registered=false", "--error", "driver name taken"],
        );
        let status = plugin
            .wait_exit(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("the plugin did not exit:\n{}", plugin.logs()));
        assert!(!status.success());
        assert!(
            plugin.logs().contains("driver name taken"),
            "{}",
            plugin.logs()
        );
    }
}
