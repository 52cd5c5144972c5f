//! The CSI conformance suite, `csi-sanity` (Go module github.com/kubernetes-csi/csi-test/v5,
//! installed by scripts/install-test-deps), against the `fluid-csi` socket, with the test
//! cluster's API server behind the plugin.
//!
//! A few specs create their volume through the Controller's CreateVolume, which a driver of
//! static PVs does not offer; they are skipped by name (`SKIPPED`, also in docs/csi.md) and what
//! they check is checked here against a real PV instead.

mod common;

use common::{test_tool, Plugin};
use fluid_csi::csi::controller_client::ControllerClient;
use fluid_csi::csi::volume_capability::access_mode::Mode;
use fluid_csi::csi::volume_capability::{AccessMode, AccessType, BlockVolume, MountVolume};
use fluid_csi::csi::{NodeStageVolumeRequest, ValidateVolumeCapabilitiesRequest, VolumeCapability};
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::{Api, DeleteParams, PostParams};
use std::collections::HashMap;
use std::process::Command;
use std::time::Instant;

/// csi-sanity specs that need CreateVolume, and so cannot run against static volumes.
const SKIPPED: &[&str] = &[
    "Node Service NodeUnpublishVolume should remove target path",
    "Node Service NodeStageVolume should fail when no volume capability is provided",
    "ValidateVolumeCapabilities should fail when no volume capabilities are provided",
    "ValidateVolumeCapabilities should return appropriate values \\(no optional values added\\)",
];

/// `N Passed | N Failed | N Pending | N Skipped` of ginkgo's summary.
fn counts(output: &str) -> Option<[u32; 4]> {
    let line = output.lines().rev().find(|l| l.contains(" Passed |"))?;
    let mut out = [0; 4];
    for (i, word) in ["Passed", "Failed", "Pending", "Skipped"]
        .iter()
        .enumerate()
    {
        let before = line.split(&format!(" {word}")).next()?;
        out[i] = before
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
    }
    Some(out)
}

#[tokio::test]
async fn csi_sanity_passes() {
    let sanity = test_tool("csi-sanity");
    let dir = tempfile::tempdir().unwrap();
    let plugin = Plugin::start(
        dir.path(),
        "sanity-node",
        &[
            "--kubelet-dir",
            dir.path().join("kubelet").to_str().unwrap(),
            "--recovery-period-seconds",
            "0",
        ],
    )
    .await;
    let skip = SKIPPED.join("|");
    let start = Instant::now();
    let out = Command::new(&sanity)
        .arg(format!("--csi.endpoint=unix://{}", plugin.socket.display()))
        .arg(format!(
            "--csi.mountdir={}",
            dir.path().join("mnt").display()
        ))
        .arg(format!(
            "--csi.stagingdir={}",
            dir.path().join("staging").display()
        ))
        .arg(format!("--ginkgo.skip={skip}"))
        .arg("--ginkgo.no-color")
        .output()
        .expect("run csi-sanity");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "csi-sanity failed:\n{text}\nplugin log:\n{}",
        plugin.logs()
    );
    let [passed, failed, pending, skipped] = counts(&text).expect("csi-sanity summary line");
    eprintln!(
        "csi-sanity: {passed} passed, {failed} failed, {pending} pending, {skipped} skipped \
         ({} skipped by name) in {:?}",
        SKIPPED.len(),
        start.elapsed()
    );
    assert_eq!(failed, 0);
    assert!(passed >= 15, "too few specs ran:\n{text}");
}

fn mount_capability(mode: Mode) -> VolumeCapability {
    VolumeCapability {
        access_mode: Some(AccessMode { mode: mode as i32 }),
        access_type: Some(AccessType::Mount(MountVolume::default())),
    }
}

/// What the skipped specs check, against a real static PV.
#[tokio::test]
async fn what_the_skipped_specs_check_holds_for_static_volumes() {
    let client = fluid_test_support::client().await.unwrap();
    let pvs: Api<PersistentVolume> = Api::all(client);
    let name = fluid_test_support::unique_name("csi-validate");
    let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
        "metadata": { "name": name },
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "capacity": { "storage": "1Gi" },
            "storageClassName": "fluid",
            "csi": {
                "driver": "fuse.csi.fluid.io",
                "volumeHandle": name,
                "volumeAttributes": { "fluid_path": "/runtime-mnt/x/ns/ds/x-fuse", "mount_type": "X" }
            }
        }
    }))
    .unwrap();
    pvs.create(&PostParams::default(), &pv).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let kubelet = dir.path().join("kubelet");
    let plugin = Plugin::start(
        dir.path(),
        "validate-node",
        &[
            "--kubelet-dir",
            kubelet.to_str().unwrap(),
            "--recovery-period-seconds",
            "0",
        ],
    )
    .await;
    let mut controller = ControllerClient::new(common::connect(&plugin.socket).await.unwrap());
    let request = |caps: Vec<VolumeCapability>| ValidateVolumeCapabilitiesRequest {
        volume_id: name.clone(),
        volume_capabilities: caps,
        ..Default::default()
    };

    let confirmed = controller
        .validate_volume_capabilities(request(vec![mount_capability(Mode::MultiNodeMultiWriter)]))
        .await
        .unwrap()
        .into_inner();
    assert!(confirmed.confirmed.is_some(), "{confirmed:?}");
    let none = controller
        .validate_volume_capabilities(request(vec![]))
        .await
        .unwrap_err();
    assert_eq!(none.code(), tonic::Code::InvalidArgument);
    let block = VolumeCapability {
        access_mode: Some(AccessMode {
            mode: Mode::SingleNodeWriter as i32,
        }),
        access_type: Some(AccessType::Block(BlockVolume {})),
    };
    let refused = controller
        .validate_volume_capabilities(request(vec![block]))
        .await
        .unwrap()
        .into_inner();
    assert!(
        refused.confirmed.is_none() && refused.message.contains("block"),
        "{refused:?}"
    );
    let mut missing = request(vec![mount_capability(Mode::MultiNodeMultiWriter)]);
    missing.volume_id = format!("{name}-absent");
    let gone = controller
        .validate_volume_capabilities(missing)
        .await
        .unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);

    // NodeStageVolume with everything but the capability.
    let context: HashMap<String, String> = [
        ("fluid_path", "/runtime-mnt/x/ns/ds/x-fuse"),
        ("mount_type", "X"),
        ("mount_pod_node_selector_key", "fluid.io/f-ns-ds"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let stage = plugin
        .node()
        .await
        .node_stage_volume(NodeStageVolumeRequest {
            volume_id: name.clone(),
            staging_target_path: dir.path().join("staging").display().to_string(),
            volume_capability: None,
            volume_context: context,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stage.code(), tonic::Code::InvalidArgument);
    assert!(stage.message().contains("volume_capability"), "{stage:?}");

    pvs.delete(&name, &DeleteParams::default()).await.unwrap();
}

#[test]
fn reads_ginkgos_summary() {
    let out = "Ran 17 of 103 Specs in 0.506 seconds\nSUCCESS! -- 17 Passed | 0 Failed | 1 Pending | 85 Skipped\n";
    assert_eq!(counts(out), Some([17, 0, 1, 85]));
}
